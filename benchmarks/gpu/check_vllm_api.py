"""Check vLLM releases' source against what the server relies on (server/vllm_compat.py), without
installing them: a release serve cannot run on (no GPU of its torch here, say) is still read.

    python benchmarks/gpu/check_vllm_api.py vllm-0.26.0.whl /path/to/vllm-0.33-source ...

Each argument is a wheel or a directory holding ``vllm/``. Prints one line per release and check;
exits non-zero if any release in the declared range lacks something.
"""

from __future__ import annotations

import argparse
import re
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from server.vllm_compat import _CLIENT_ERROR_NAMES, VLLM_API_SURFACE  # noqa: E402

# (what, file under vllm/, regex): the calls and fields the server makes beyond plain imports.
CALLS = (
    (
        "AsyncLLM.generate(prompt, params, request_id)",
        "v1/engine/async_llm.py",
        r"async def generate\(\s*self,\s*prompt",
    ),
    ("AsyncLLM.check_health", "v1/engine/async_llm.py", r"async def check_health\(self\)"),
    ("AsyncLLM.shutdown", "v1/engine/async_llm.py", r"def shutdown\(self"),
    (
        "AsyncLLM.from_engine_args(usage_context=)",
        "v1/engine/async_llm.py",
        r"usage_context: UsageContext = ",
    ),
    ("renderer.render_cmpl_async", "renderers/base.py", r"async def render_cmpl_async\("),
    ("UsageContext.OPENAI_API_SERVER", "usage/usage_lib.py", r"OPENAI_API_SERVER = "),
    ("VLLM_DISABLED_KERNELS", "envs.py", r'"VLLM_DISABLED_KERNELS"'),
    ("SamplingParams.clone", "sampling_params.py", r"def clone\(self\)"),
    ("RequestOutputKind.DELTA", "sampling_params.py", r"DELTA = "),
    *(
        (f"AsyncEngineArgs.{name}", "engine/arg_utils.py", rf"^    {name}: ")
        for name in (
            "model",
            "served_model_name",
            "pipeline_parallel_size",
            "data_parallel_size",
            "max_model_len",
            "tensor_parallel_size",
            "kv_cache_dtype",
            "dtype",
            "gpu_memory_utilization",
            "seed",
            "enforce_eager",
            "enable_prefix_caching",
        )
    ),
    # The kernels --w4a16-kernel chooses between, in this order in vLLM's CUDA list.
    (
        "W4A16 kernels Machete before Marlin",
        "model_executor/kernels/linear/__init__.py",
        r"PlatformEnum\.CUDA: \[[^\]]*MacheteLinearKernel,[^\]]*MarlinLinearKernel",
    ),
    # The metrics the Grafana dashboard and the Helm autoscalers read.
    *(
        (f"metric {name}", "v1/metrics/loggers.py", rf'"{name}"')
        for name in (
            "vllm:num_requests_running",
            "vllm:num_requests_waiting",
            "vllm:kv_cache_usage_perc",
            "vllm:time_to_first_token_seconds",
            "vllm:e2e_request_latency_seconds",
        )
    ),
)


class Source:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._zip = zipfile.ZipFile(path) if path.suffix == ".whl" else None

    def read(self, relative: str) -> str | None:
        name = f"vllm/{relative}"
        try:
            if self._zip is not None:
                return self._zip.read(name).decode()
            return (self.path / name).read_text()
        except (KeyError, FileNotFoundError):
            return None

    def module_text(self, module: str) -> str | None:
        parts = module.split(".")[1:]
        base = "/".join(parts)
        return self.read(f"{base}/__init__.py" if base else "__init__.py") or self.read(f"{base}.py")

    def version(self) -> str:
        text = self.read("_version.py") or ""
        match = re.search(r"__version__ = version = '([^']+)'", text) or re.search(
            r"version = '([^']+)'", text
        )
        return match.group(1) if match else "?"


def check(source: Source) -> list[tuple[str, bool]]:
    results = []
    for module, name in VLLM_API_SURFACE:
        text = source.module_text(module) or ""
        results.append((f"{module}.{name}", bool(re.search(rf"\b{name}\b", text))))
    errors = source.read("exceptions.py") or ""
    known = [names for names in _CLIENT_ERROR_NAMES if any(f"class {n}(" in errors for n in names)]
    results.append((f"request errors ({' / '.join(known[0]) if known else 'none known'})", bool(known)))
    for what, relative, pattern in CALLS:
        text = source.read(relative) or ""
        results.append((what, bool(re.search(pattern, text, re.M))))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sources", nargs="+", type=Path, help="vLLM wheels or directories holding vllm/")
    args = parser.parse_args()
    failed = False
    for path in args.sources:
        source = Source(path)
        results = check(source)
        missing = [what for what, ok in results if not ok]
        failed |= bool(missing)
        print(
            f"vLLM {source.version()}: {len(results) - len(missing)}/{len(results)} checks pass", flush=True
        )
        for what in missing:
            print(f"  MISSING {what}")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
