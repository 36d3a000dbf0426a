#!/usr/bin/env bash
# Run on the lent GPU machine, from the repository root, in each device call (benchmarks/gpu/README.md):
# stash the vLLM bundle part carried with this call; once all parts are there, unpack them, set the
# environment and run "$@" (e.g. python3 benchmarks/gpu/study.py run ...). Before that, "$@" runs only
# if it needs no vLLM (BEFORE_VLLM=1: building the random model needs torch and transformers alone).
set -euo pipefail
# NVLink multicast can take a shared host's GPUs out of service: off in every process started here.
export NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1 PYTHONUNBUFFERED=1
# Idempotent; also unpacks llm-compressor's site (q.tar.xz) whenever that comes with a call.
[ -f .gpubundle/unpack-on-device.sh ] && bash .gpubundle/unpack-on-device.sh
if [ -d .gpubundle/extra ] && [ -d /tmp/site/vllm ] && [ ! -e /tmp/site/.extra ]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site .gpubundle/extra/*.whl
  touch /tmp/site/.extra
fi
export HF_HUB_OFFLINE=1 VLLM_NO_USAGE_STATS=1 VLLM_USE_FLASHINFER_SAMPLER=0
if [ ! -d /tmp/site/vllm ]; then
  [ "${BEFORE_VLLM:-0}" = 1 ] && [ $# -gt 0 ] && PYTHONPATH=$PWD "$@"
  exit 0
fi
export PYTHONPATH=/tmp/site:$PWD
# `quantize` hands itself over to an interpreter with llm-compressor: python3 with its own site first.
cat > /tmp/quantize-python <<WRAP
#!/bin/sh
PYTHONPATH=/tmp/site-q:/tmp/site:$PWD exec python3 "\$@"
WRAP
chmod +x /tmp/quantize-python
export QUANTREASON_QUANTIZE_PYTHON=/tmp/quantize-python QUANTREASON_SERVE_PYTHON=$(command -v python3)
[ $# -gt 0 ] && "$@"
