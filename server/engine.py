"""Starting vLLM's async engine in this process, with defaults that suit the host."""

from __future__ import annotations

import os
from typing import Any

from server import vllm_compat
from server.config import ServerConfig

CPU_MEMORY_UTILIZATION = 0.2
GPU_MEMORY_UTILIZATION = 0.9
# NVLink multicast (NVLS) stays off unless the operator turns it on: a program that uses it can put a
# host's shared GPUs out of service, and vLLM's all-reduce does not need it.
MULTICAST_OFF = {
    "NCCL_NVLS_ENABLE": "0",
    "TORCH_SYMM_MEM_DISABLE_MULTICAST": "1",
    "NVSHMEM_DISABLE_NVLS": "1",
}


def start_engine(config: ServerConfig) -> Any:  # vllm.v1.engine.async_llm.AsyncLLM
    """Start the engine; takes from seconds (tiny model on CPU) to minutes (large GPU models)."""
    os.environ.setdefault("VLLM_NO_USAGE_STATS", "1")
    for name, value in MULTICAST_OFF.items():
        os.environ.setdefault(name, value)  # before vLLM starts its workers, which inherit it
    # Before the engine starts its processes, which read it from the environment.
    vllm_compat.select_w4a16_kernel(config.w4a16_kernel)
    return vllm_compat.start_async_engine(**engine_arguments(config))


def engine_arguments(config: ServerConfig) -> dict[str, Any]:
    """vLLM engine arguments for ``config``; vLLM's own defaults wherever serve has no reason to differ."""
    memory = config.gpu_memory_utilization
    if memory is None:
        memory = CPU_MEMORY_UTILIZATION if vllm_compat.is_cpu_platform() else GPU_MEMORY_UTILIZATION
    arguments: dict[str, Any] = dict(
        model=config.model,
        served_model_name=[config.model_name],
        max_model_len=config.max_model_len,
        tensor_parallel_size=config.tensor_parallel_size,
        pipeline_parallel_size=config.pipeline_parallel_size,
        data_parallel_size=config.data_parallel_size,
        kv_cache_dtype=config.kv_cache_dtype,
        dtype=config.dtype,
        gpu_memory_utilization=memory,
        kv_cache_memory_bytes=config.kv_cache_memory_bytes,
        seed=config.seed,
        enforce_eager=config.enforce_eager,
        # Budget forcing continues a choice in a new request on the same prefix: never re-prefill it.
        enable_prefix_caching=True,
        structured_outputs_config=vllm_compat.structured_outputs_config(),
    )
    if config.compilation_config is not None:
        arguments["compilation_config"] = dict(config.compilation_config)
    return arguments
