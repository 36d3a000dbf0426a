"""``loadtest``: reasoning-aware latency, throughput and goodput of any OpenAI-compatible endpoint."""
