"""Finding the quantize environment from the serving one, and handing the command over to it."""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

PYTHON_ENV_VAR = "QUANTREASON_QUANTIZE_PYTHON"
_HANDED_OVER = "QUANTREASON_QUANTIZE_HANDED_OVER"
# `make setup` creates it here, beside the project's source (an editable install).
DEFAULT_ENV_DIR = Path(__file__).resolve().parents[1] / ".venv-quantize"


def llmcompressor_available() -> bool:
    return importlib.util.find_spec("llmcompressor") is not None


def quantize_python() -> Path | None:
    """The quantize environment's interpreter, if one is configured or installed by setup."""
    configured = os.environ.get(PYTHON_ENV_VAR)
    candidate = Path(configured) if configured else DEFAULT_ENV_DIR / "bin" / "python"
    return candidate if candidate.exists() else None


def missing_environment() -> str | None:
    """Why ``quantize`` cannot run from this environment, and what to run; None when it can."""
    if llmcompressor_available() or quantize_python() is not None:
        return None
    return (
        "llm-compressor is not installed in this environment and no quantize environment was found "
        f"(looked for {os.environ.get(PYTHON_ENV_VAR) or DEFAULT_ENV_DIR}). Run `make setup-quantize`, "
        f"or set {PYTHON_ENV_VAR} to a Python that has llmcompressor."
    )


def handover(argv: list[str]) -> None:
    """Re-run ``quantize ARGV`` in the quantize environment; never returns."""
    python = quantize_python()
    if python is None:
        sys.exit(f"quantize: {missing_environment()}")
    if os.environ.get(_HANDED_OVER):  # that interpreter lacks llm-compressor too: do not loop
        sys.exit(f"quantize: {python} (the quantize environment) cannot import llmcompressor either")
    os.environ[_HANDED_OVER] = "1"
    os.execv(python, [str(python), "-m", "quantize", *argv])


SERVE_PYTHON_ENV_VAR = "QUANTREASON_SERVE_PYTHON"
DEFAULT_SERVE_ENV_DIR = Path(__file__).resolve().parents[1] / ".venv"


def serve_python() -> Path | None:
    """The serving environment's interpreter (vLLM), for starting ``serve`` from the quantize environment."""
    if importlib.util.find_spec("vllm") is not None:
        return Path(sys.executable)
    configured = os.environ.get(SERVE_PYTHON_ENV_VAR)
    candidate = Path(configured) if configured else DEFAULT_SERVE_ENV_DIR / "bin" / "python"
    return candidate if candidate.exists() else None
