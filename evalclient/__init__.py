"""``evalclient``: scores reasoning benchmarks against any OpenAI-compatible endpoint."""
