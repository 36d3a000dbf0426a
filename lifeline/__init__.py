"""Child processes that die with their parent, however the parent dies (SIGKILL included).

A process killed with SIGKILL runs no cleanup, so its children must notice by themselves. On Linux the
kernel does it: ``prctl(PR_SET_PDEATHSIG)`` sends the child a signal when its parent exits. Elsewhere a
daemon thread polls the parent's pid. evalclient's scoring workers, the sandboxes they start and the
``serve`` that ``launcher`` starts (quantize verify, the demo, the tests) all use this, so a
killed run leaves nothing behind (``tests/lifeline/test_orphans.py``).
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import threading
import time

__all__ = ["PARENT_ENV", "die_with_parent", "die_with_parent_from_env"]

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
# Set by a launcher to its own pid: the child calls ``die_with_parent_from_env`` first thing.
PARENT_ENV = "QUANTREASON_DIE_WITH_PARENT"
_POLL_S = 1.0


def die_with_parent(parent_pid: int, sig: int = signal.SIGKILL) -> None:
    """Call in the child: it gets ``sig`` when ``parent_pid`` (the process that started it) exits.

    On Linux the signal follows the death of the parent's *thread* that started this process, so
    start children from a long-lived thread (the main one, an event loop's)."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
    else:
        threading.Thread(target=_watch, args=(parent_pid, sig), daemon=True, name="lifeline").start()
    if os.getppid() != parent_pid:  # the parent died before the signal was armed
        os.kill(os.getpid(), sig)


def die_with_parent_from_env(sig: int = signal.SIGTERM) -> None:
    """``die_with_parent`` for a child whose launcher set ``PARENT_ENV`` (and nothing otherwise)."""
    value = os.environ.pop(PARENT_ENV, "")
    if value.isdigit():
        die_with_parent(int(value), sig)


def _watch(parent_pid: int, sig: int) -> None:
    while os.getppid() == parent_pid:
        time.sleep(_POLL_S)
    os.kill(os.getpid(), sig)
