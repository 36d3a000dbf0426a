"""A local streaming stub (``loadtest.stub``) in a child process: an endpoint whose timings are known."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from launcher import free_port

# The stub sends a token every INTERVAL_MS, the first after FIRST_TOKEN_MS; REASONING of them are thinking.
INTERVAL_MS = 5.0
FIRST_TOKEN_MS = 20.0
REASONING = 4


@dataclass(frozen=True)
class Stub:
    base_url: str
    url: str


def _start_stub(*flags: str) -> Iterator[Stub]:
    port = free_port()
    command = [sys.executable, "-m", "loadtest.stub", "--port", str(port), "--interval-ms", str(INTERVAL_MS)]
    command += ["--first-token-ms", str(FIRST_TOKEN_MS), "--reasoning", str(REASONING), *flags]
    process = subprocess.Popen(command)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"http://127.0.0.1:{port}/v1/models", timeout=1)
                break
            except httpx.TransportError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the loadtest stub did not start") from None
                time.sleep(0.1)
        yield Stub(base_url=f"http://127.0.0.1:{port}/v1", url=f"http://127.0.0.1:{port}")
    finally:
        process.terminate()
        process.wait(10)


@pytest.fixture(scope="session")
def stub() -> Iterator[Stub]:
    """Separates reasoning (``delta.reasoning_content``) like serve does."""
    yield from _start_stub("--keep-stamps")


@pytest.fixture(scope="session")
def inline_think_stub() -> Iterator[Stub]:
    """Leaves the thinking in the content, ended by ``</think>``, like vLLM without a reasoning parser."""
    yield from _start_stub("--inline-think")
