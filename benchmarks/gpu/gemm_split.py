"""Where a decode step's time goes: the GEMMs of one step of a model shape, timed alone per kernel
(bf16 cuBLAS, W4A16 Machete, W4A16 Marlin) at the batch sizes of the study, with CUDA graphs.

The rest of a step (attention, norms, rotary, sampling, the scheduler and the server) is the measured
inter-token latency minus this. Packed weights are random bits: the kernels' speed does not depend on
their values. Needs a CUDA GPU and vLLM (its kernels); prints and writes one JSON document.

    python benchmarks/gpu/gemm_split.py --shape 7b --out gemm-split.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from random_model import SHAPES

GROUP = 128


def layer_gemms(shape: str) -> list[tuple[str, int, int, int]]:
    """(name, K, N, count per step) of every GEMM of one decode step; lm_head stays bf16 in every scheme."""
    d = SHAPES[shape]
    hidden, inter, layers = d["hidden_size"], d["intermediate_size"], d["num_hidden_layers"]
    head = hidden // d["num_attention_heads"]
    qkv = hidden + 2 * d["num_key_value_heads"] * head
    return [
        ("qkv_proj", hidden, qkv, layers),
        ("o_proj", hidden, hidden, layers),
        ("gate_up_proj", hidden, 2 * inter, layers),
        ("down_proj", inter, hidden, layers),
    ]


def time_graph(fn: Any, iterations: int = 50) -> float:
    """Seconds per call of ``fn``, replayed from a CUDA graph (as vLLM runs decode)."""
    import torch

    stream = torch.cuda.Stream()
    stream.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(stream):
        for _ in range(3):
            fn()
    torch.cuda.current_stream().wait_stream(stream)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        for _ in range(iterations):
            fn()
    for _ in range(2):
        graph.replay()
    torch.cuda.synchronize()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    for _ in range(5):
        graph.replay()
    end.record()
    torch.cuda.synchronize()
    return start.elapsed_time(end) / 1000 / (5 * iterations)


def kernels(k: int, n: int) -> dict[str, Any]:
    """Callables (given an activation) for each kernel at one GEMM shape."""
    import torch
    from vllm import _custom_ops as ops
    from vllm.model_executor.layers.quantization.utils import marlin_utils
    from vllm.scalar_type import scalar_types

    weight = torch.randn(n, k, dtype=torch.bfloat16, device="cuda") * 0.02
    packed = torch.randint(-(2**31), 2**31 - 1, (k // 8, n), dtype=torch.int32, device="cuda")
    scales = torch.rand(k // GROUP, n, dtype=torch.bfloat16, device="cuda") * 0.01
    wtype = scalar_types.uint4b8
    found: dict[str, Any] = {"bf16": lambda x: torch.nn.functional.linear(x, weight)}
    try:
        machete_w = ops.machete_prepack_B(packed.t().contiguous().t(), torch.bfloat16, wtype, torch.bfloat16)
        found["machete"] = lambda x: ops.machete_mm(
            a=x, b_q=machete_w, b_type=wtype, b_group_scales=scales, b_group_size=GROUP
        )
    except Exception as exc:
        found["machete_error"] = repr(exc)
    try:
        perm = torch.empty(0, dtype=torch.int, device="cuda")
        marlin_w = ops.gptq_marlin_repack(packed, perm, k, n, 4)
        marlin_s = marlin_utils.marlin_permute_scales(scales, k, n, GROUP)
        workspace = marlin_utils.marlin_make_workspace_new(torch.device("cuda"))
        empty = marlin_utils.marlin_make_empty_g_idx(torch.device("cuda"))
        found["marlin"] = lambda x: marlin_utils.apply_gptq_marlin_linear(
            x, marlin_w, marlin_s, empty, empty, empty, workspace, wtype, n, k, is_k_full=True
        )
    except Exception as exc:
        found["marlin_error"] = repr(exc)
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", default="7b", choices=sorted(SHAPES))
    parser.add_argument("--batches", default="1,16,64,256")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    import torch

    batches = [int(b) for b in args.batches.split(",")]
    d = SHAPES[args.shape]
    result: dict[str, Any] = {"shape": args.shape, "gpu": torch.cuda.get_device_name(0), "per_step_ms": {}}
    errors: dict[str, str] = {}
    per_gemm: dict[str, dict[str, dict[int, float]]] = {}
    for name, k, n, count in layer_gemms(args.shape):
        found = kernels(k, n)
        errors.update({f"{name}:{key}": value for key, value in found.items() if key.endswith("_error")})
        for kernel, fn in found.items():
            if kernel.endswith("_error"):
                continue
            for m in batches:
                x = torch.randn(m, k, dtype=torch.bfloat16, device="cuda")
                try:
                    seconds = time_graph(lambda fn=fn, x=x: fn(x))
                except Exception as exc:
                    errors[f"{name}:{kernel}:{m}"] = repr(exc)
                    continue
                per_gemm.setdefault(kernel, {}).setdefault(name, {})[m] = seconds * 1000
                step = result["per_step_ms"].setdefault(kernel, {})
                step[m] = step.get(m, 0.0) + seconds * 1000 * count
    lm_weight = torch.randn(d["vocab_size"], d["hidden_size"], dtype=torch.bfloat16, device="cuda")
    result["lm_head_ms"] = {}
    for m in batches:
        x = torch.randn(m, d["hidden_size"], dtype=torch.bfloat16, device="cuda")
        result["lm_head_ms"][m] = time_graph(lambda x=x: torch.nn.functional.linear(x, lm_weight)) * 1000
    result["per_gemm_ms"] = per_gemm
    result["errors"] = errors
    text = json.dumps(result, indent=1)
    print(text)
    if args.out:
        args.out.write_text(text)


if __name__ == "__main__":
    main()
