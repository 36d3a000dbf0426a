"""A tool killed with SIGKILL leaves no process behind: its children notice and die (lifeline).

Each test starts the tool in its own process, waits until it has the children it makes (evalclient:
scoring workers and multiprocessing's resource tracker; a ``serve`` launcher: the server and vLLM's
engine processes), kills it with SIGKILL and then watches the process table until all of them are gone.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from evalclient.stub import StubReply, StubThread
from launcher import free_port

# Generous bounds on waiting for processes (not timings under test): a busy 2-core host is slow.
START_S = 600.0
EXIT_S = 90.0
REPO = Path(__file__).resolve().parents[2]


def _parents() -> dict[int, int]:
    table = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError):
                stat = Path(f"/proc/{entry}/stat").read_text()
                # The command name may hold spaces and parentheses: fields follow the last ")".
                table[int(entry)] = int(stat.rsplit(")", 1)[1].split()[1])
    return table


def descendants(pid: int) -> set[int]:
    table = _parents()
    found: set[int] = set()
    frontier = {pid}
    while frontier:
        frontier = {child for child, parent in table.items() if parent in frontier} - found
        found |= frontier
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"  # a zombie has exited; only its (dead) parent's reaper is missing


def _command(pid: int) -> str:
    with contextlib.suppress(OSError):
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    return "?"


def _wait_for(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.2)


def kill_and_check_no_orphans(parent: subprocess.Popen[bytes], children: set[int]) -> None:
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    try:
        _wait_for(lambda: not any(_alive(pid) for pid in children), EXIT_S, "the children to exit")
    except AssertionError:
        left = {pid: _command(pid) for pid in children if _alive(pid)}
        for pid in left:  # do not leave them to the next test
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        raise AssertionError(f"orphans left behind: {left}") from None


def test_evalclient_leaves_no_scoring_worker_or_resource_tracker(tmp_path: Path) -> None:
    answered = []

    def first_at_once_then_never(message: str) -> StubReply:
        # The first answer is one the client cannot score itself (not an integer): the scoring pool
        # starts for it. No other answer comes: the run stays busy, its workers alive.
        answered.append(message)
        if len(answered) == 1:
            return StubReply("<think>\nhalf\n</think>\n\n\\boxed{\\frac{1}{2}}")
        return StubReply("", delay_s=600)

    stub = StubThread(free_port(), responder=first_at_once_then_never)
    command = [sys.executable, "-m", "evalclient", "--endpoint", stub.base_url, "--model", "stub"]
    command += ["--benchmark", "toy-arith", "--scoring-workers", "2", "--quiet", "--max-retries", "0"]
    command += ["--out", str(tmp_path / "run")]
    evalclient = subprocess.Popen(command, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:

        def started() -> bool:
            commands = [_command(pid) for pid in descendants(evalclient.pid)]
            workers = [c for c in commands if "spawn_main" in c]
            tracker = [c for c in commands if "resource_tracker" in c]
            return len(workers) >= 2 and len(tracker) == 1

        _wait_for(started, START_S, "evalclient's scoring workers")
        children = descendants(evalclient.pid)
        kill_and_check_no_orphans(evalclient, children)
    finally:
        if evalclient.poll() is None:
            evalclient.kill()


LAUNCHER = textwrap.dedent(
    """
    import sys, time
    from concurrent.futures import ThreadPoolExecutor
    from launcher import SMALL_KV_CACHE, ServerProcess
    server = ServerProcess(sys.argv[1], "--enforce-eager", *SMALL_KV_CACHE,
                           "--max-model-len", "256", start_timeout=float(sys.argv[2]), log_path=sys.argv[3])
    # As the demo starts its engines: launched by a long-lived worker thread, waited for elsewhere.
    ThreadPoolExecutor(max_workers=1).submit(server.launch).result()
    server.wait_ready()
    print("healthy", flush=True)
    time.sleep(3600)
    """
)


@pytest.mark.server
@pytest.mark.slow
def test_serve_launched_by_a_killed_process_stops(tiny_model_dir: Path, tmp_path: Path) -> None:
    """quantize verify, the demo and scripts start ``serve`` through the launcher package."""
    log = tmp_path / "serve.log"
    parent = subprocess.Popen(
        [sys.executable, "-c", LAUNCHER, str(tiny_model_dir), str(START_S), str(log)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert parent.stdout is not None
        assert parent.stdout.readline().strip() == b"healthy", log.read_text()[-2000:]
        children = descendants(parent.pid)
        assert any("-m server" in _command(pid) for pid in children)
        assert len(children) >= 2  # serve and vLLM's engine core, at least
        kill_and_check_no_orphans(parent, children)
    finally:
        if parent.poll() is None:
            parent.kill()
