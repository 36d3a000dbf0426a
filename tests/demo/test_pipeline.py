"""The demo's pipeline without engines or llm-compressor: ``quantize`` is replaced by a stand-in that writes a
manifest (or fails), and ``serve`` by a static HTTP server whose ``/health`` answers 200, so what is tested
is the order of things: the next scheme is made and its server started while one is served, the first
calibrated scheme asks the bf16 server for its traces, failures stay with their scheme, every server
stops. (The real path is the main-job test.)"""

from __future__ import annotations

import json
import sys
import threading
import time
from pathlib import Path

import pytest
from rich.console import Console

from demo import quantize_step as step
from launcher import ServerProcess


def _registry() -> dict[str, step.SchemeInfo]:
    def info(name: str, runs_here: bool, bits: int = 16) -> step.SchemeInfo:
        return step.SchemeInfo(
            name=name, summary="", serving="gpu", runs_on_vllm_cpu=runs_here, weight_bits=bits
        )

    return {
        "bf16": info("bf16", True),
        "w8a8-int8": info("w8a8-int8", True, 8),
        "w4a16": info("w4a16", False, 4),
        "fp8-kv": info("fp8-kv", False),
    }


class Recorder:
    """Stands in for ``quantize`` and ``serve``, and keeps what they were asked."""

    def __init__(self, tmp_path: Path, failing: dict[str, str] | None = None) -> None:
        self.failing = failing or {}
        self.made: dict[str, list[str]] = {}
        self.running_while_made: dict[str, list[str]] = {}  # schemes whose server ran during each make
        self.servers: dict[str, ServerProcess] = {}
        self.fake_python = tmp_path / "python"
        # serve's command line: PYTHON -m server --model DIR --port PORT ...; a static server on that port
        self.fake_python.write_text(
            f'#!/bin/sh\nexec {sys.executable} -m http.server "$6" --bind 127.0.0.1 --directory "$4"\n'
        )
        self.fake_python.chmod(0o755)

    def make(self, scheme: str, out: Path, calib_args: list[str], log: Path) -> str | None:
        self.made[scheme] = calib_args
        self.running_while_made[scheme] = [s for s, server in self.servers.items() if server.running]
        if scheme in self.failing:
            return self.failing[scheme]
        out.mkdir(parents=True, exist_ok=True)
        (out / "health").write_text("ok")  # what the static server answers /health with
        if scheme != "bf16":
            (out / "calibration").mkdir(exist_ok=True)
            (out / "calibration" / "traces.jsonl").write_text("{}\n")
        manifest = {"scheme": scheme, "wall_time_s": 1.0, "size_bytes": 100}
        (out / "quantreason.json").write_text(json.dumps(manifest))
        return None

    def server_for(self, served_dir: Path, scheme: str, log: Path) -> ServerProcess:
        server = ServerProcess(served_dir, python=self.fake_python, log_path=log, start_timeout=60)
        self.servers[scheme] = server
        return server


@pytest.fixture
def recorder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Recorder:
    recorder = Recorder(tmp_path)
    monkeypatch.setattr(step, "missing_environment", lambda: None)
    monkeypatch.setattr(step, "scheme_registry", _registry)
    monkeypatch.setattr(step, "_make", recorder.make)
    monkeypatch.setattr(step, "_server_for", recorder.server_for)
    monkeypatch.setattr(step, "_ask_question", lambda console, server, scheme: ("q", "r", "a", "a"))
    return recorder


def test_the_next_scheme_is_prepared_while_one_is_served(recorder: Recorder, tmp_path: Path) -> None:
    threads_before = threading.active_count()
    served: list[tuple[str, bool]] = []

    def evaluate(scheme: str, server: ServerProcess) -> None:
        served.append((scheme, server.running))
        if scheme == "bf16":  # the lookahead makes w8a8-int8 meanwhile: a sequential loop would wait here
            deadline = time.monotonic() + 30
            while "w8a8-int8" not in recorder.made:
                assert time.monotonic() < deadline, "w8a8-int8 was not made while bf16 was evaluated"
                time.sleep(0.05)

    results = step.quantize_step(
        Console(quiet=True), tmp_path / "wd", ("bf16", "w8a8-int8", "w4a16"), evaluate
    )
    assert [(r.scheme, r.served, r.error) for r in results] == [
        ("bf16", True, None),
        ("w8a8-int8", True, None),
        ("w4a16", False, None),  # needs a GPU (no emulation asked for)
    ]
    assert served == [("bf16", True), ("w8a8-int8", True)]
    # w8a8-int8 was made while bf16 was served, and asked bf16's server for its traces; w4a16 reused them.
    assert recorder.running_while_made["w8a8-int8"] == ["bf16"]
    calib = recorder.made["w8a8-int8"]
    trace_server = calib[calib.index("--trace-server") + 1]
    assert trace_server == recorder.servers["bf16"].url
    assert calib[calib.index("--trace-model") + 1] == "bf16"
    assert "--trace-server" not in recorder.made["w4a16"] and "--traces" in recorder.made["w4a16"]
    assert not any(server.running for server in recorder.servers.values())
    assert threading.active_count() == threads_before


def test_failures_stay_with_their_scheme(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    recorder = Recorder(tmp_path, failing={"w8a8-int8": "quantize: no room", "w4a16": "quantize: no room"})
    monkeypatch.setattr(step, "missing_environment", lambda: None)
    monkeypatch.setattr(step, "scheme_registry", _registry)
    monkeypatch.setattr(step, "_make", recorder.make)

    def exits_at_once(served_dir: Path, scheme: str, log: Path) -> ServerProcess:
        python = tmp_path / "exits"
        python.write_text("#!/bin/sh\nexit 3\n")
        python.chmod(0o755)
        return ServerProcess(served_dir, python=python, log_path=log)

    monkeypatch.setattr(step, "_server_for", exits_at_once)
    console = Console(record=True, width=200)
    results = step.quantize_step(console, tmp_path / "wd", ("bf16", "w8a8-int8", "w4a16"))
    assert not any(r.served for r in results)
    assert (results[0].error or "").startswith("serve failed: serve exited with code 3")
    assert results[1].error == results[2].error == "quantize: no room"
    text = console.export_text()
    assert "w4a16: failed as w8a8-int8 did" in text
    # No bf16 server came up, so w8a8-int8's quantize gathered its traces with a serve of its own.
    assert "--trace-server" not in recorder.made["w8a8-int8"]


def test_an_evaluation_that_fails_stops_every_server(recorder: Recorder, tmp_path: Path) -> None:
    def evaluate(scheme: str, server: ServerProcess) -> None:
        raise RuntimeError("evalclient exited with 1")

    with pytest.raises(RuntimeError, match="evalclient"):
        step.quantize_step(Console(quiet=True), tmp_path / "wd", ("bf16", "w8a8-int8"), evaluate)
    assert set(recorder.servers) <= {"bf16", "w8a8-int8"}
    assert not any(server.running for server in recorder.servers.values())
