"""Session fixtures: the tiny model is built once, and one real server (real vLLM engine) serves it."""

from __future__ import annotations

import atexit
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tinymodel import REASONER_DIR, build_tiny_model

if TYPE_CHECKING:
    from launcher import ServerProcess

SERVED_MODEL_NAME = "tiny"
REASONER_MODEL_NAME = "tiny-reasoner"
API_KEY = "test-key"
# Inserted before every forced end of thinking that has room for it (6 characters, 6 tokens).
WRAPUP = " Done."
MAX_PENDING_REQUESTS = 12
MAX_REQUEST_BYTES = 64 * 1024
# Small effort budgets, so tests can see each level hold.
EFFORT_BUDGETS = {"none": 0, "minimal": 6, "low": 12, "medium": 24, "high": 48}


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    """Keep pytest's summary the last thing printed. torch 2.13 loads triton's extension, whose bundled
    nanobind lists every object still alive at interpreter exit on stderr ("nanobind: leaked N
    functions!", 30 lines); the library does not export nanobind's set_leak_warnings, so the only switch
    is to close stderr once pytest has said everything. At exit, not now: pytest's capture, stopped
    after this hook, puts the original stderr back."""
    if any(name.startswith("triton") for name in sys.modules):
        atexit.register(_close_stderr)


def _close_stderr() -> None:
    sys.stderr.flush()
    os.dup2(os.open(os.devnull, os.O_WRONLY), 2)


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("models") / "tiny-random")


def _serve(model: Path, served_name: str, log_path: Path, *extra_args: str) -> ServerProcess:
    """``serve`` with the flags every test server shares, then ``extra_args``."""
    from launcher import SMALL_KV_CACHE, ServerProcess

    return ServerProcess(
        model,
        "--served-model-name",
        served_name,
        "--enforce-eager",
        # The tiny models need little KV cache; a small reservation lets several test sessions share a host.
        *SMALL_KV_CACHE,
        "--max-model-len",
        "1024",
        "--max-pending-requests",
        str(MAX_PENDING_REQUESTS),
        "--max-request-bytes",
        str(MAX_REQUEST_BYTES),
        "--thinking-wrapup-text",
        WRAPUP,
        "--effort-budgets",
        ",".join(f"{level}={tokens}" for level, tokens in EFFORT_BUDGETS.items()),
        # vLLM's Hermes parser finds tool calls in answers where tool_choice is "auto".
        "--tool-call-parser",
        "hermes",
        *extra_args,
        api_key=API_KEY,
        log_path=log_path,
        # ~40 s alone; minutes on a host shared with other engines.
        start_timeout=900,
    )


@pytest.fixture(scope="session")
def server(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """``serve`` on the tiny model, started once per session (~30 s on 2 CPU cores)."""
    log_path = tmp_path_factory.mktemp("logs") / "serve.log"
    with _serve(tiny_model_dir, SERVED_MODEL_NAME, log_path) as process:
        yield process


@pytest.fixture(scope="session")
def reasoner_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """``serve`` on the trained tiny reasoner (issue #3), for tests where answer quality matters.
    Started only by tests that ask for it: a second engine costs another ~30 s."""
    log_path = tmp_path_factory.mktemp("logs") / "serve-reasoner.log"
    with _serve(REASONER_DIR, REASONER_MODEL_NAME, log_path) as process:
        yield process
