"""Readiness: /health says ready only after a real request went through the real path, and stays
503 (with the reason) when that request fails. The path is broken honestly: the model's own chat
template raises, as a bad template shipped with a checkpoint does, so every chat request fails."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import httpx
import pytest

from launcher import SMALL_KV_CACHE, ServerProcess
from tests.conftest import API_KEY

pytestmark = pytest.mark.server

BROKEN_TEMPLATE = "{{ raise_exception('this template is broken on purpose') }}"


def _with_broken_chat_template(model: Path, target: Path) -> Path:
    shutil.copytree(model, target)
    config_path = target / "tokenizer_config.json"
    config = json.loads(config_path.read_text())
    config.pop("chat_template", None)
    config_path.write_text(json.dumps(config))
    (target / "chat_template.jinja").write_text(BROKEN_TEMPLATE)
    return target


def test_health_stays_503_when_the_self_test_fails(
    server: ServerProcess, tiny_model_dir: Path, tmp_path: Path
) -> None:
    # The healthy session server passed the same self-test before its /health said 200.
    assert httpx.get(f"{server.url}/health").status_code == 200
    broken = ServerProcess(
        _with_broken_chat_template(tiny_model_dir, tmp_path / "broken"),
        "--enforce-eager",
        *SMALL_KV_CACHE,
        "--max-model-len",
        "256",
        api_key=API_KEY,
        log_path=tmp_path / "serve.log",
    )
    broken.launch()  # not start(): it waits for a 200 that never comes
    try:
        response = None
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and broken.running:
            try:
                response = httpx.get(f"{broken.url}/health", timeout=5)
                break
            except httpx.TransportError:
                time.sleep(0.5)
        assert response is not None, (tmp_path / "serve.log").read_text()[-3000:]
        assert response.status_code == 503
        error = response.json()["error"]
        assert "startup self-test: a chat completion request failed" in error["message"]
        assert "broken on purpose" in error["message"]
        # Not a transient state: the server keeps saying so while it runs.
        time.sleep(2)
        assert httpx.get(f"{broken.url}/health", timeout=5).status_code == 503
        # Text completions do not use the template; the server itself is up, only not ready.
        completion = httpx.post(
            f"{broken.base_url}/completions",
            json={"model": str(tmp_path / "broken"), "prompt": "Hi", "max_tokens": 2},
            headers={"Authorization": f"Bearer {API_KEY}"},
            timeout=60,
        )
        assert completion.status_code == 200, completion.text
    finally:
        broken.stop()
