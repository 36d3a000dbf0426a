"""README commands 1 and 2 on a fresh clone: what the Makefile would run, read from make itself.

``make --dry-run`` in a copy that has no environments prints the real targets' recipes without running
them: both environments must be built before the demo and before the tests."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def dry_run(target: str, tmp_path: Path) -> list[str]:
    if shutil.which("make") is None:
        pytest.fail("make is missing: the README's commands need it")
    for name in ("Makefile", "pyproject.toml"):
        shutil.copy(ROOT / name, tmp_path / name)
    done = subprocess.run(
        ["make", "--dry-run", target], cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()


def first(lines: list[str], fragment: str) -> int:
    found = [number for number, line in enumerate(lines) if fragment in line]
    assert found, f"{fragment!r} is not run:\n" + "\n".join(lines)
    return found[0]


@pytest.mark.parametrize("target", ["demo", "test"])
def test_a_fresh_clone_builds_both_environments_first(target: str, tmp_path: Path) -> None:
    lines = dry_run(target, tmp_path)
    serve_ready = first(lines, "touch .venv/.installed")
    quantize_ready = first(lines, "touch .venv-quantize/.installed")
    if target == "demo":
        assert max(serve_ready, quantize_ready) < first(lines, "-m demo")
    else:
        # Before any suite starts: the sessions run side by side, and the serving suite's demo test
        # quantizes through the quantize environment (a half-built one fails it: ModuleNotFoundError).
        assert max(serve_ready, quantize_ready) < first(lines, "/bin/python -m pytest")


def test_setup_installs_with_uv_and_keeps_torch_on_its_cpu_build(tmp_path: Path) -> None:
    lines = dry_run("setup", tmp_path)
    installs = [line for line in lines if "uv pip install" in line]
    assert len(installs) == 2, lines
    # Where PYTHONDONTWRITEBYTECODE is set, an environment without .pyc files compiles vLLM and torch
    # again in every process: twice the CPU of the whole test suite (CONTRIBUTING.md).
    assert all("--compile-bytecode" in line for line in installs), installs
    if shutil.which("nvidia-smi") is None:  # PyPI's torch is the CUDA build: a CPU host's is not from there
        assert all("--torch-backend cpu" in line or "--find-links" in line for line in installs), installs


def test_the_demo_says_once_what_to_run_when_quantize_cannot(tmp_path: Path) -> None:
    if sys.prefix.endswith("-quantize"):
        pytest.skip("runs in the serving environment, where quantize hands itself over")
    result = subprocess.run(
        [sys.executable, "-m", "demo", "--workdir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "QUANTREASON_QUANTIZE_PYTHON": str(tmp_path / "no-such-python"), "COLUMNS": "200"},
        check=False,
    )
    assert result.returncode == 1
    output = result.stdout + result.stderr
    assert output.count("llm-compressor is not installed") == 1, output
    assert "make setup-quantize" in output
