"""The main job, end to end on the project's own tiny model (README command 1).

Today: build the tiny model, start ``serve`` on it, ask it a question through the official
OpenAI SDK, print the reply, shut the server down. Later issues grow it into
quantize -> serve -> evaluate -> report.
"""
