"""Starting vLLM's async engine in this process, with defaults that suit the host."""

from __future__ import annotations

import os
from typing import Any

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
    # vLLM is imported here, not at module level, so `serve --help` answers at once.
    from vllm.engine.arg_utils import AsyncEngineArgs
    from vllm.platforms import current_platform
    from vllm.v1.engine.async_llm import AsyncLLM

    from server.vllm_compat import structured_outputs_config

    memory = config.gpu_memory_utilization
    if memory is None:
        memory = CPU_MEMORY_UTILIZATION if current_platform.is_cpu() else GPU_MEMORY_UTILIZATION
    args = AsyncEngineArgs(
        model=config.model,
        served_model_name=[config.model_name],
        max_model_len=config.max_model_len,
        tensor_parallel_size=config.tensor_parallel_size,
        pipeline_parallel_size=config.pipeline_parallel_size,
        data_parallel_size=config.data_parallel_size,
        kv_cache_dtype=config.kv_cache_dtype,
        dtype=config.dtype,
        gpu_memory_utilization=memory,
        seed=config.seed,
        enforce_eager=config.enforce_eager,
        # Budget forcing continues a choice in a new request on the same prefix: never re-prefill it.
        enable_prefix_caching=True,
        structured_outputs_config=structured_outputs_config(),
    )
    return AsyncLLM.from_engine_args(args)
