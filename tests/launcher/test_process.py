"""ServerProcess's start in two parts (``launch``, then ``wait_ready``), without an engine: a stand-in for
the serving environment's Python that never becomes healthy shows every way a wait ends short of one.
(The real server's start through the same calls: ``tests/lifeline/test_orphans.py``.)"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from launcher import ServerProcess, ServerStartError, free_port, wait_for_health


def _fake_python(tmp_path: Path, body: str) -> Path:
    """An executable taking ``serve``'s command line in place of Python and doing ``body`` instead."""
    script = tmp_path / "python"
    script.write_text(f"#!/bin/sh\n{body}\n")
    script.chmod(0o755)
    return script


def test_launch_returns_at_once_and_wait_ready_reports_an_exit(tmp_path: Path) -> None:
    python = _fake_python(tmp_path, "sleep 1; exit 3")
    server = ServerProcess("model", python=python, log_path=tmp_path / "log")
    started = time.monotonic()
    server.launch()
    assert time.monotonic() - started < 1.0 and server.running
    with pytest.raises(RuntimeError, match="launched already"):
        server.launch()
    with pytest.raises(ServerStartError, match="exited with code 3"):
        server.wait_ready()
    assert server.stop() == 3


def test_a_stop_from_another_thread_ends_the_wait(tmp_path: Path) -> None:
    server = ServerProcess("model", python=_fake_python(tmp_path, "exec sleep 60"))
    server.launch()
    stopper = threading.Timer(1.0, server.stop)
    stopper.start()
    started = time.monotonic()
    with pytest.raises(ServerStartError):
        server.wait_ready()
    stopper.join()
    assert time.monotonic() - started < 30 and not server.running


def test_the_start_timeout_counts_from_the_launch_and_stops_the_server(tmp_path: Path) -> None:
    server = ServerProcess("model", python=_fake_python(tmp_path, "exec sleep 60"), start_timeout=1.0)
    server.launch()
    time.sleep(1.5)  # the deadline has passed before the wait begins
    with pytest.raises(ServerStartError, match="did not become healthy in 1 s"):
        server.wait_ready()
    assert server.stop() is None  # stopped already


HEALTH_SERVER = """
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer
class Health(BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200 if self.path == "/health" else 404)
        self.end_headers()
HTTPServer(("127.0.0.1", int(sys.argv[1])), Health).serve_forever()
"""


def test_wait_for_health_takes_any_server_and_reports_an_exit_or_a_timeout() -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    healthy = subprocess.Popen([sys.executable, "-c", HEALTH_SERVER, str(port)])
    try:
        assert wait_for_health(healthy, url, timeout=30, name="stub") < 30
    finally:
        healthy.kill()
        healthy.wait()
    with pytest.raises(ServerStartError, match="stub exited with code 3"):
        wait_for_health(subprocess.Popen(["sh", "-c", "exit 3"]), url, timeout=30, name="stub")
    silent = subprocess.Popen(["sleep", "30"])
    try:
        with pytest.raises(ServerStartError, match="stub was not healthy after 1 s"):
            wait_for_health(silent, url, timeout=1, name="stub")
    finally:
        silent.kill()
        silent.wait()
