"""The chart's values map onto the real flags of `serve` and `quantize`, and its scripts really work.

The rendered container args go through `serve`'s own argument parser and ServerConfig; the quantize Job's
and the init container's shell scripts run here under `sh`, with a stand-in `quantize` that records its
argv for `quantize`'s own parser.
"""

from __future__ import annotations

import ast
import importlib.util
import json
import os
import re
import subprocess
import typing
from pathlib import Path
from typing import Any

import pytest
import yaml

from quantize.cli import build_parser as quantize_parser
from quantize.environment import PYTHON_ENV_VAR, SERVE_PYTHON_ENV_VAR
from reasoning_formats import THINK_FORMATS
from server.cli import build_parser as serve_parser
from server.config import ServerConfig
from server.thinking import DEFAULT_EFFORT_BUDGETS
from tests.helm.chart import CHART_DIR, container, env_of, example_values, only, render

SCHEMA = json.loads((CHART_DIR / "values.schema.json").read_text())
DEFAULTS = yaml.safe_load((CHART_DIR / "values.yaml").read_text())
SERVE_SCHEMA = SCHEMA["properties"]["serve"]["properties"]
EXAMPLES = [
    "defaults",
    "cpu-smoke",
    "single-gpu",
    "tensor-parallel",
    "tp2-w4a16-32b",
    "quantize",
    "autoscaling-hpa",
]
# values.yaml key (under serve / serve.thinking) -> the `serve` option it becomes.
SERVE_FLAGS = {
    "port": "port",
    "tensorParallelSize": "tensor_parallel_size",
    "pipelineParallelSize": "pipeline_parallel_size",
    "dataParallelSize": "data_parallel_size",
    "maxModelLen": "max_model_len",
    "kvCacheDtype": "kv_cache_dtype",
    "dtype": "dtype",
    "gpuMemoryUtilization": "gpu_memory_utilization",
    "kvCacheMemoryBytes": "kv_cache_memory_bytes",
    "enforceEager": "enforce_eager",
    "w4a16Kernel": "w4a16_kernel",
    "compilationConfig": "compilation_config",
    "thinkFormat": "think_format",
    "toolCallParser": "tool_call_parser",
    "maxPendingRequests": "max_pending_requests",
    "drainTimeout": "drain_timeout",
    "logLevel": "log_level",
}
THINKING_FLAGS = {
    "budget": "thinking_budget",
    "minTokens": "min_thinking_tokens",
    "maxExtensions": "max_thinking_extensions",
    "extensionText": "thinking_extension_text",
    "wrapupText": "thinking_wrapup_text",
    "answerReserveTokens": "answer_reserve_tokens",
    "effortBudgets": "effort_budgets",
}


def kubelet_expand(args: list[str], env: dict[str, str]) -> list[str]:
    """What the kubelet does to container args: $(VAR) becomes the value of the container's env VAR."""
    return [re.sub(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)", lambda m: env[m.group(1)], arg) for arg in args]


def serve_config_of(args: list[str]) -> tuple[ServerConfig, dict[str, Any]]:
    """What `serve ARGS` starts with: its ServerConfig, and the options that are not part of it."""
    options = vars(serve_parser().parse_args(args))
    log_level = options.pop("log_level")
    return ServerConfig(**options), {"log_level": log_level}


def serve_config(values: dict[str, Any], env: dict[str, str]) -> tuple[ServerConfig, dict[str, Any]]:
    serve = container(only(render(values), "Deployment")["spec"]["template"]["spec"], "serve")
    assert serve["command"] == ["serve"]
    return serve_config_of(kubelet_expand(serve["args"], env))


@pytest.mark.parametrize("example", EXAMPLES)
def test_rendered_args_are_real_serve_flags(example: str) -> None:
    values = {} if example == "defaults" else example_values(example)
    config, _ = serve_config(values, env={"QUANTREASON_API_KEY": "key-from-secret"})
    assert config.host == "0.0.0.0" and config.port == 8000
    assert config.effort_budgets.keys() == DEFAULT_EFFORT_BUDGETS.keys()


def test_values_reach_the_server_as_set() -> None:
    config, extra = serve_config(example_values("single-gpu"), env={"QUANTREASON_API_KEY": "key-from-secret"})
    assert config.api_key == "key-from-secret"
    assert config.model == "deepseek-ai/DeepSeek-R1-Distill-Qwen-7B"
    assert config.served_model_name == "r1-distill-qwen-7b"
    assert (config.max_model_len, config.kv_cache_dtype, config.thinking_budget) == (16384, "fp8", 8192)
    assert config.effort_budgets == {"none": 0, "minimal": 256, "low": 1024, "medium": 4096, "high": 12288}
    assert extra == {"log_level": "info"}

    tp, _ = serve_config(example_values("tensor-parallel"), env={})
    assert (tp.tensor_parallel_size, tp.think_format, tp.api_key) == (4, "qwq", None)
    parallel = {"serve": {"tensorParallelSize": 2, "pipelineParallelSize": 2, "dataParallelSize": 2}}
    sharded, _ = serve_config(parallel, env={})
    assert sharded.tensor_parallel_size == sharded.pipeline_parallel_size == sharded.data_parallel_size == 2

    engine = {
        "serve": {
            "kvCacheMemoryBytes": 8 * 2**30,
            "w4a16Kernel": "marlin",
            "compilationConfig": {"cudagraph_mode": "FULL", "max_cudagraph_capture_size": 64},
            "toolCallParser": "hermes",
        }
    }
    tuned, _ = serve_config(engine, env={})
    assert (tuned.kv_cache_memory_bytes, tuned.w4a16_kernel, tuned.tool_call_parser) == (
        8 * 2**30,
        "marlin",
        "hermes",
    )
    assert tuned.compilation_config == {"cudagraph_mode": "FULL", "max_cudagraph_capture_size": 64}

    texts = {"serve": {"thinking": {"extensionText": "Hmm, wait: let me check", "wrapupText": " Time's up."}}}
    custom, _ = serve_config(texts, env={})
    assert custom.thinking_extension_text == "Hmm, wait: let me check"
    assert custom.thinking_wrapup_text == " Time's up."


def test_chart_defaults_are_the_servers_defaults() -> None:
    """values.yaml says 'null: the server's default'; every other default equals the server's own, which
    is ServerConfig's: `serve` with no flags is ServerConfig with no fields."""
    bare, bare_extra = serve_config_of(["--model", "m"])
    assert bare == ServerConfig(model="m")
    server_defaults = bare.model_dump() | bare_extra
    chart_defaults = {flag: DEFAULTS["serve"][key] for key, flag in SERVE_FLAGS.items()}
    chart_defaults |= {flag: DEFAULTS["serve"]["thinking"][key] for key, flag in THINKING_FLAGS.items()}
    assert chart_defaults == {flag: server_defaults[flag] for flag in chart_defaults}


def _literal_names(module_file: Path, name: str) -> list[str]:
    """The strings of ``NAME = Literal[...]`` in a source file (read, not imported: no torch here)."""
    for node in ast.walk(ast.parse(module_file.read_text())):
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == name for t in node.targets):
            assert isinstance(node.value, ast.Subscript)
            return [ast.literal_eval(element) for element in node.value.slice.elts]  # type: ignore[attr-defined]
    raise LookupError(f"{name} not in {module_file}")


def test_schema_choices_are_the_servers_choices() -> None:
    spec = importlib.util.find_spec("vllm")
    assert spec is not None and spec.submodule_search_locations
    vllm_dir = Path(next(iter(spec.submodule_search_locations)))
    assert SERVE_SCHEMA["kvCacheDtype"]["enum"] == _literal_names(vllm_dir / "config/cache.py", "CacheDType")
    assert tuple(SERVE_SCHEMA["w4a16Kernel"]["enum"]) == typing.get_args(
        ServerConfig.model_fields["w4a16_kernel"].annotation
    )
    assert SERVE_SCHEMA["dtype"]["enum"] == _literal_names(vllm_dir / "config/model.py", "ModelDType")
    assert SERVE_SCHEMA["thinkFormat"]["enum"] == ["auto", "none", *THINK_FORMATS]
    effort = SERVE_SCHEMA["thinking"]["properties"]["effortBudgets"]["properties"]
    assert list(effort) == list(DEFAULT_EFFORT_BUDGETS)
    log_levels = next(a for a in serve_parser()._actions if a.dest == "log_level").choices
    assert SERVE_SCHEMA["logLevel"]["enum"] == log_levels


def _run_script(args: list[str], env: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """``sh -c SCRIPT [$0 ARGS...]``, as the container's command and args run it."""
    return subprocess.run(
        ["sh", "-c", *args],
        env={"PATH": f"{tmp_path / 'bin'}:{os.environ['PATH']}", **env},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def test_quantize_job_runs_quantize_with_its_real_flags_once(tmp_path: Path) -> None:
    values = example_values("quantize", overrides={"quantize": {"extraArgs": ["--data-dir=/data/datasets"]}})
    job = only(render(values), "Job")
    quantize = job["spec"]["template"]["spec"]["containers"][0]
    assert quantize["command"] == ["sh", "-c"]
    env = {name: entry["value"] for name, entry in env_of(quantize).items() if "value" in entry}
    env["ARTIFACT"] = str(tmp_path / "data/artifacts" / Path(env["ARTIFACT"]).name)
    argv_file = tmp_path / "argv"
    (tmp_path / "bin").mkdir()
    stub = tmp_path / "bin/quantize"
    stub.write_text(f"#!/bin/sh\nprintf '%s\\n' \"$@\" > {argv_file}\n")
    stub.chmod(0o755)

    first = _run_script(quantize["args"], env, tmp_path)
    assert first.returncode == 0, first.stderr
    args = quantize_parser().parse_args(argv_file.read_text().splitlines())
    assert (args.model, args.scheme, Path(args.out)) == (
        "deepseek-ai/DeepSeek-R1-Distill-Qwen-14B",
        "w4a16",
        Path(env["ARTIFACT"]),
    )
    assert (args.calib, args.num_samples, args.max_seq_len, args.force) == ("reasoning", 512, 4096, False)
    assert Path(args.data_dir) == Path("/data/datasets"), "quantize.extraArgs reach quantize as flags"
    assert Path(env["ARTIFACT"]).parent.is_dir(), "the Job makes the artifacts directory"

    # A finished artifact (its manifest in place) is kept: a re-created Job does not quantize again.
    argv_file.unlink()
    Path(env["ARTIFACT"]).mkdir()
    (Path(env["ARTIFACT"]) / "quantreason.json").write_text("{}")
    again = _run_script(quantize["args"], env, tmp_path)
    assert again.returncode == 0 and "already exists; nothing to do" in again.stdout
    assert not argv_file.exists()


def test_server_waits_for_the_artifacts_manifest(tmp_path: Path) -> None:
    pod = only(render(example_values("quantize")), "Deployment")["spec"]["template"]["spec"]
    wait = container(pod, "wait-for-artifact", init=True)
    env = {name: entry["value"] for name, entry in env_of(wait).items()}
    artifact = tmp_path / "artifacts/model-w4a16"
    (tmp_path / "bin").mkdir()

    # Not there yet (a half-written temporary directory does not count), and out of time: a clear failure.
    artifact.mkdir(parents=True)
    timed_out = _run_script(
        wait["args"], env | {"ARTIFACT": str(artifact), "WAIT_TIMEOUT_SECONDS": "0"}, tmp_path
    )
    assert timed_out.returncode == 1
    assert (
        f"no {artifact}/quantreason.json after 0s: see kubectl logs job/{env['QUANTIZE_JOB']}"
        in timed_out.stderr
    )

    (artifact / "quantreason.json").write_text("{}")
    ready = _run_script(wait["args"], env | {"ARTIFACT": str(artifact)}, tmp_path)
    assert ready.returncode == 0 and f"artifact ready: {artifact}" in ready.stdout


def test_schema_accepts_every_scheme_quantize_knows() -> None:
    schemes = pytest.importorskip("quantize.schemes")
    pattern = re.compile(SCHEMA["properties"]["quantize"]["properties"]["scheme"]["pattern"])
    names = list(schemes.SCHEMES)
    names += [f"{weight}+fp8-kv" for weight in names if weight != "fp8-kv"]
    accepted = {name for name in names if _resolves(schemes, name)}
    assert accepted, "quantize knows no scheme"
    assert all(pattern.fullmatch(name) for name in accepted), sorted(
        n for n in accepted if not pattern.fullmatch(n)
    )
    # ...and nothing else: the pattern is the registry's (update it from quantize.schemes.SCHEMES).
    assert pattern.pattern == f"^({'|'.join(schemes.SCHEMES)})(\\+fp8-kv)?$"


def _resolves(schemes: Any, name: str) -> bool:
    try:
        schemes.resolve_scheme(name)
    except ValueError:
        return False
    return True


def test_the_image_hands_quantize_over_to_its_quantize_environment() -> None:
    dockerfile = (CHART_DIR.parent / "Dockerfile").read_text()
    assert f"ENV {PYTHON_ENV_VAR}=/opt/quantize-venv/bin/python" in dockerfile
    # ...and quantize finds the image's vLLM Python to start `serve` for calibration traces and verify.
    assert f"{SERVE_PYTHON_ENV_VAR}=/usr/bin/python3" in dockerfile


def test_the_charts_gpu_env_is_the_servers_multicast_default() -> None:
    """NVLink multicast is off both ways: the chart's gpuEnv and the defaults `serve` sets itself."""
    from server.engine import MULTICAST_OFF

    assert DEFAULTS["gpuEnv"] == MULTICAST_OFF
