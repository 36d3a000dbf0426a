"""The console scripts, run as a user runs them: as processes from the serving environment."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / args[0]), *args[1:]],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
    )


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        ("serve", "--max-model-len"),
        ("quantize", "--scheme"),
        ("evalclient", "--benchmark"),
        ("loadtest", "--profile"),
    ],
)
def test_help(command: str, expected: str) -> None:
    result = run(command, "--help")
    assert result.returncode == 0, result.stderr
    assert f"usage: {command}" in result.stdout
    assert expected in result.stdout


@pytest.mark.parametrize("package", ["server", "quantize", "evalclient", "loadtest"])
def test_python_dash_m(package: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", package, "--help"], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert "usage:" in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--model", "/no/such/dir"], "serve: model directory /no/such/dir does not exist"),
        (["--model", "/tmp", "--port", "70000"], "serve: --port:"),
        (["--model", "/tmp", "--think-start", "<r>"], "serve: --think-start and --think-end go together"),
        (["--model", "/tmp", "--compilation-config", "{cudagraph"], "serve: --compilation-config: not JSON"),
        (["--model", "/tmp", "--compilation-config", "3"], "serve: --compilation-config: expected a JSON"),
    ],
)
def test_serve_bad_input_is_one_line_and_non_zero(args: list[str], message: str) -> None:
    result = run("serve", *args)
    assert result.returncode != 0
    assert result.stderr.strip().splitlines() == [result.stderr.strip()]
    assert result.stderr.startswith(message)


def test_serve_on_a_taken_port_says_so_before_starting_the_engine(tiny_model_dir: Path) -> None:
    """The port is bound first: a taken one is a one-line error in seconds, not after the engine start."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run("serve", "--model", str(tiny_model_dir), "--port", str(port))
    assert result.returncode != 0
    assert result.stderr.strip().splitlines()[-1] == (
        f"serve: --host 127.0.0.1 --port {port}: Address already in use"
    )
    assert "EngineCore" not in result.stderr  # it stopped before starting the engine


def test_serve_rejects_a_directory_that_is_not_a_model(tmp_path: Path) -> None:
    result = run("serve", "--model", str(tmp_path))
    assert result.returncode != 0
    assert "has no config.json" in result.stderr


def test_quantize_without_an_environment_says_what_to_run() -> None:
    result = run(
        "quantize",
        "--model",
        "m",
        "--scheme",
        "w8a8-int8",
        "--out",
        "o",
        env={"QUANTREASON_QUANTIZE_PYTHON": "/no/such/python"},
    )
    assert result.returncode != 0
    assert "make setup-quantize" in result.stderr
    assert "QUANTREASON_QUANTIZE_PYTHON" in result.stderr


def test_quantize_hands_over_to_the_quantize_environment() -> None:
    from quantize.environment import llmcompressor_available, quantize_python

    assert not llmcompressor_available(), "the serving environment must not carry llm-compressor"
    assert quantize_python() is not None, "run `make setup` to create the quantize environment"
    result = run("quantize", "--model", "m", "--scheme", "w8a8-int8", "--out", "o")
    # Only the quantize environment (llm-compressor importable) gets as far as the job, which looks
    # for the model; the serving environment only parses and hands over.
    assert result.returncode != 0
    assert result.stderr.strip() == "quantize: model not found: m"


def test_list_schemes_json_gives_the_bit_width_axis_and_serving_facts() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "quantize", "--list-schemes", "--json"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    import json

    schemes = {entry["name"]: entry for entry in map(json.loads, result.stdout.splitlines())}
    w2 = schemes["w2a16"]
    assert (w2["weight_bits"], w2["activation_bits"], w2["kv_cache_bits"]) == (2, 16, 16)
    assert not w2["runs_on_vllm_cpu"] and not w2["runs_on_vllm_gpu"]
    assert w2["serving"].startswith("emulated only")
    w4a4 = schemes["w4a4"]
    assert (w4a4["weight_bits"], w4a4["activation_bits"]) == (4, 4) and "not its int4 activations" in w4a4[
        "serving"
    ]
    assert schemes["w8a8-int8"]["runs_on_vllm_cpu"] and schemes["w8a8-int8"]["activation_bits"] == 8
    assert schemes["fp8-kv"]["kv_cache_bits"] == 8 and schemes["bf16"]["weight_bits"] == 16
