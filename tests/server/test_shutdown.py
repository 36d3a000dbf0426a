"""Server lifecycle: SIGTERM drains (in-flight requests finish, new ones are refused, exit 0), and a
dead engine turns /health and requests into 503s.

Each test starts a server of its own (the session's must stay up), so they are marked slow."""

from __future__ import annotations

import json
import signal
import threading
import time
from pathlib import Path

import httpx
import pytest

from launcher import SMALL_KV_CACHE, ServerProcess

pytestmark = [pytest.mark.server, pytest.mark.slow]
SERVE_ARGS = ("--served-model-name", "tiny", "--enforce-eager", *SMALL_KV_CACHE, "--max-model-len", "1024")


def test_sigterm_lets_in_flight_requests_finish(tiny_model_dir: Path, tmp_path: Path) -> None:
    server = ServerProcess(tiny_model_dir, *SERVE_ARGS, log_path=tmp_path / "serve.log")
    server.start()
    events: list[dict] = []
    try:
        with (
            httpx.Client(timeout=120) as http,
            http.stream(
                "POST",
                f"{server.base_url}/chat/completions",
                json={
                    "model": "tiny",
                    "messages": [{"role": "user", "content": "go"}],
                    "max_tokens": 600,
                    "ignore_eos": True,
                    "stream": True,
                    "stream_options": {"include_usage": True},
                },
            ) as response,
        ):
            lines = response.iter_lines()
            first = next(lines)  # the request is in flight
            assert first.startswith("data: ")
            server._process.send_signal(signal.SIGTERM)  # type: ignore[union-attr]
            refused = threading.Event()

            def try_new_request() -> None:
                time.sleep(0.5)
                try:
                    httpx.get(f"{server.url}/health", timeout=5)
                except httpx.TransportError:
                    refused.set()

            prober = threading.Thread(target=try_new_request)
            prober.start()
            for line in lines:
                if line.startswith("data: {"):
                    events.append(json.loads(line.removeprefix("data: ")))
            prober.join()
        assert events[-1]["usage"]["completion_tokens"] == 600, "the in-flight request was cut short"
        assert refused.is_set(), "a new connection was accepted while draining"
        assert server._process.wait(timeout=60) == 0  # type: ignore[union-attr]
    finally:
        server.stop()


def test_dead_engine_is_503(tiny_model_dir: Path, tmp_path: Path) -> None:
    import psutil

    with ServerProcess(tiny_model_dir, *SERVE_ARGS, log_path=tmp_path / "serve.log") as server:
        assert server._process is not None
        children = psutil.Process(server._process.pid).children(recursive=True)
        engines = [child for child in children if "EngineCore" in " ".join([*child.cmdline(), child.name()])]
        assert engines, [child.cmdline() for child in children]
        for engine in engines:
            engine.kill()
        deadline = time.monotonic() + 60
        while httpx.get(f"{server.url}/health", timeout=5).status_code != 503:
            assert time.monotonic() < deadline, "/health still 200 with a dead engine"
            time.sleep(0.5)
        response = httpx.post(
            f"{server.base_url}/chat/completions",
            json={"model": "tiny", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 4},
            timeout=30,
        )
        assert response.status_code == 503, response.text
        assert response.json()["error"]["type"] == "service_unavailable"
