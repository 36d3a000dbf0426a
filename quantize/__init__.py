"""``quantize``: W4A16 / W8A8 / FP8-KV artifacts with llm-compressor, in an environment of its own.

llm-compressor and vLLM pin incompatible compressed-tensors and transformers versions, so this
package runs in the quantize environment (``make setup`` makes ``.venv-quantize``); the
``quantize`` command of the serving environment hands itself over to that environment.
"""
