"""Run untrusted code (model-written programs) in a contained subprocess.

``run_sandboxed(command, files=..., stdin=..., limits=...)`` copies ``files`` into a throwaway
directory, runs ``command`` there and returns what it printed, how it ended and which isolation held.

Isolation, strongest first (``isolation()`` says which one this machine gives; it is probed once):

- ``namespaces``: fresh user, network, mount and PID namespaces (unprivileged ``unshare(2)``, as
  ``unshare -rnmp`` does). No network at all (only a downed loopback); every mount is remounted
  read-only and the throwaway directory becomes a size-capped tmpfs, and the mounts are then locked by a
  second user namespace so the code cannot remount them; credential files under the home directory
  (``~/.ssh``, ``~/.cache/huggingface``, ...) are covered by empty ones; the code sees only its own
  processes and all of them die with it. The environment is always reduced to PATH, HOME, TMPDIR, LANG.
- ``rlimits``: the fallback where user namespaces are not allowed: resource limits, a new session that
  is killed as a group, the throwaway directory as cwd. No network or filesystem isolation: say so
  wherever results are reported.

Both add: wall-clock timeout (the whole process tree is killed), ``RLIMIT_CPU``, ``RLIMIT_AS`` (memory),
``RLIMIT_FSIZE``, ``RLIMIT_NOFILE``; where this process may create child cgroups (its own cgroup, so
accounting stays inside it): a ``pids`` cgroup capping the process count (else ``RLIMIT_NPROC``, which
Linux does not enforce for root) and a ``memory`` cgroup capping the whole tree's memory (else only
per-process ``RLIMIT_AS``). ``SandboxResult`` says which caps held.

The child side (namespaces, mounts, limits, exec) is ``sandbox_entry.py``, run as a script with
``python -I -S`` and minimal imports, since it starts once per sandboxed run.
"""

from __future__ import annotations

import contextlib
import functools
import os
import pwd
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from evalclient.errors import EvalclientError
from evalclient.sandbox_entry import HIDE_ENV, SETUP_FAILED

Isolation = Literal["namespaces", "rlimits"]

CGROUP_MOUNT = Path("/sys/fs/cgroup")
ENTRY = Path(__file__).resolve().with_name("sandbox_entry.py")  # the child side, run as a script


@dataclass(frozen=True)
class SandboxLimits:
    wall_s: float = 30.0  # whole run, wall clock
    cpu_s: int = 30  # RLIMIT_CPU, per process
    memory_bytes: int = 2 << 30  # RLIMIT_AS, per process
    stack_bytes: int = 256 << 20  # RLIMIT_STACK: deep recursion in solutions, as judges allow
    max_processes: int = 32  # pids cgroup (or RLIMIT_NPROC)
    max_file_bytes: int = 64 << 20  # RLIMIT_FSIZE: largest file (or stdout file) the code may write
    max_disk_bytes: int = 256 << 20  # namespaces mode: the work directory is a tmpfs of this size
    max_open_files: int = 256
    max_output_bytes: int = 16 << 20  # stdout/stderr kept by the caller


@dataclass(frozen=True)
class SandboxResult:
    returncode: int | None  # None when killed for the wall-clock limit; negative = killed by signal
    stdout: bytes
    stderr: bytes
    timed_out: bool
    wall_s: float
    isolation: Isolation
    process_cap: str  # "cgroup", "rlimit" or "none"
    memory_cap: str  # "cgroup" (the whole tree) or "per-process" (RLIMIT_AS only)
    memory_peak_bytes: int | None = None  # the whole tree's peak, when a memory cgroup measured it


class SandboxError(EvalclientError, RuntimeError):
    """The sandbox itself could not be set up (not the code's fault)."""


# ---------------------------------------------------------------- parent side


@functools.cache
def isolation() -> Isolation:
    """The strongest isolation this machine allows, probed once per process by a real sandboxed run."""
    try:
        result = _run(
            ["/bin/sh", "-c", "exit 0"], {}, b"", SandboxLimits(wall_s=20), "namespaces", default_hidden()
        )
    except (OSError, SandboxError):
        return "rlimits"
    return "namespaces" if result.returncode == 0 else "rlimits"


def run_sandboxed(
    command: Sequence[str],
    *,
    files: Mapping[str, bytes] | None = None,
    stdin: bytes = b"",
    limits: SandboxLimits | None = None,
    hidden: Sequence[str | Path] | None = None,
) -> SandboxResult:
    """Run ``command`` in a fresh throwaway directory holding ``files`` (relative names), contained.

    ``command`` runs with that directory as cwd and ``HOME``; relative paths in it resolve there.
    ``hidden`` (default: the usual credential files under the user's home) are covered by empty ones
    in namespaces mode: readable secrets could otherwise leave through the code's output.
    """
    paths = default_hidden() if hidden is None else [str(path) for path in hidden]
    return _run(command, files or {}, stdin, limits or SandboxLimits(), isolation(), paths)


CREDENTIAL_PATHS = (
    ".ssh",
    ".aws",
    ".azure",
    ".config",
    ".docker",
    ".gnupg",
    ".kube",
    ".netrc",
    ".git-credentials",
    ".pypirc",
    ".huggingface",
    ".cache/huggingface",
)


@functools.cache
def default_hidden() -> list[str]:
    home = Path(pwd.getpwuid(os.getuid()).pw_dir)
    return [str(home / name) for name in CREDENTIAL_PATHS if (home / name).exists()]


def _run(
    command: Sequence[str],
    files: Mapping[str, bytes],
    stdin: bytes,
    limits: SandboxLimits,
    mode: Isolation,
    hidden: Sequence[str] = (),
) -> SandboxResult:
    workdir = Path(tempfile.mkdtemp(prefix="evalclient-sandbox-"))
    cgroups = _make_cgroups(limits)
    try:
        for name, content in files.items():
            path = (workdir / name).resolve()
            if workdir not in path.parents:
                raise SandboxError(f"file name {name!r} leaves the sandbox directory")
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(content)
        limits_text = ",".join(
            f"{name}={int(value)}"
            for name, value in asdict(limits).items()
            if name not in ("wall_s", "max_output_bytes")
        )
        argv = [
            sys.executable,
            "-I",
            "-S",
            str(ENTRY),
            str(workdir),
            mode,
            ",".join(str(path) for path in cgroups.values()) or "-",
            limits_text,
            "--",
        ]
        env = {
            "PATH": "/usr/local/bin:/usr/bin:/bin",
            "HOME": str(workdir),
            "TMPDIR": str(workdir),
            "LANG": "C.UTF-8",
            "PYTHONDONTWRITEBYTECODE": "1",
            "OMP_NUM_THREADS": "1",
            HIDE_ENV: "\n".join(hidden),  # read (and removed) by the entry
        }
        started = time.monotonic()
        with (
            tempfile.TemporaryFile() as in_file,
            tempfile.TemporaryFile() as out_file,
            tempfile.TemporaryFile() as err_file,
        ):
            # Files, not pipes: a child that floods its output cannot block on a full pipe (RLIMIT_FSIZE,
            # set in the child, caps how much it can write), and one that never reads its input is fine.
            in_file.write(stdin)
            in_file.seek(0)
            process = subprocess.Popen(
                [*argv, *command],
                cwd=workdir,
                env=env,
                stdin=in_file,
                stdout=out_file,
                stderr=err_file,
                start_new_session=True,
            )
            timed_out = not _wait(process, limits.wall_s)
            _kill_tree(process, list(cgroups.values()))
            wall = time.monotonic() - started
            peak = _memory_peak(cgroups.get("memory"))
            stdout = _read_capped(out_file, limits.max_output_bytes)
            stderr = _read_capped(err_file, limits.max_output_bytes)
        code = None if timed_out else process.returncode
        if code == SETUP_FAILED:
            lines = stderr.decode(errors="replace").strip().splitlines()
            raise SandboxError(lines[-1] if lines else "sandbox setup failed")
        return SandboxResult(
            returncode=code,
            stdout=stdout,
            stderr=stderr,
            timed_out=timed_out,
            wall_s=wall,
            isolation=mode,
            process_cap="cgroup" if "pids" in cgroups else ("rlimit" if os.getuid() != 0 else "none"),
            memory_cap="cgroup" if "memory" in cgroups else "per-process",
            memory_peak_bytes=peak,
        )
    finally:
        for path in cgroups.values():
            _remove_cgroup(path)
        shutil.rmtree(workdir, ignore_errors=True)


def _wait(process: subprocess.Popen[bytes], timeout_s: float) -> bool:
    """Wait for exit, woken by the kernel (pidfd) rather than polling; False on timeout."""
    try:
        descriptor = os.pidfd_open(process.pid)
    except (AttributeError, OSError):  # no pidfd (old kernel): Popen's polling wait
        try:
            process.wait(timeout=timeout_s)
            return True
        except subprocess.TimeoutExpired:
            return False
    try:
        ready, _, _ = select.select([descriptor], [], [], timeout_s)
    finally:
        os.close(descriptor)
    if not ready:
        return False
    process.wait()
    return True


def _read_capped(handle: Any, cap: int) -> bytes:
    handle.seek(0)
    return handle.read(cap)


def _kill_tree(process: subprocess.Popen[bytes], cgroups: list[Path]) -> None:
    """Kill the session and everything in its cgroups; in namespaces mode the PID namespace's init dies
    with the entry (PDEATHSIG), and every process in the namespace with its init."""
    for _ in range(50):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
        for pid in {pid for cgroup in cgroups for pid in _cgroup_pids(cgroup)}:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        if process.poll() is None:
            try:
                process.wait(timeout=0.1)
            except subprocess.TimeoutExpired:
                continue
        if not any(_cgroup_pids(cgroup) for cgroup in cgroups):
            return
        time.sleep(0.02)


def _own_cgroup(controller: str) -> Path | None:
    """This process's cgroup directory for ``controller`` (cgroup v1, or v2 where it is delegated)."""
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        _, controllers, path = line.split(":", 2)
        if controller in controllers.split(","):
            directory = CGROUP_MOUNT / controllers / path.lstrip("/")
            return directory if directory.is_dir() else None
    for line in lines:
        if line.startswith("0::"):
            directory = CGROUP_MOUNT / line[3:].lstrip("/")
            try:
                delegated = controller in (directory / "cgroup.subtree_control").read_text().split()
            except OSError:
                return None
            return directory if delegated else None
    return None


def _make_cgroup(controller: str, settings: Sequence[tuple[str, str]]) -> Path | None:
    """A child of this process's own cgroup (so all accounting stays inside it) with ``settings``
    written (the first of each alternative name that exists), or None where that is not allowed."""
    parent = _own_cgroup(controller)
    if parent is None:
        return None
    path = parent / f"evalclient-sandbox-{uuid.uuid4().hex[:12]}"
    try:
        path.mkdir()
    except OSError:
        return None
    try:
        for names, value in settings:
            name = next((name for name in names.split("|") if (path / name).exists()), None)
            if name is not None:
                (path / name).write_text(value)
            elif "?" not in names:
                raise OSError(f"no {names} in {path}")
        return path
    except OSError:
        path.rmdir()
        return None


def _make_cgroups(limits: SandboxLimits) -> dict[str, Path]:
    """The pids and memory cgroups this machine lets us create (each optional)."""
    memory = str(limits.memory_bytes)
    made = {
        "pids": _make_cgroup("pids", [("pids.max", str(limits.max_processes))]),
        "memory": _make_cgroup(
            "memory",
            [
                ("memory.limit_in_bytes|memory.max", memory),  # v1 | v2
                ("memory.memsw.limit_in_bytes|?", memory),  # v1: memory + swap = memory (no swap)
                ("memory.swap.max|?", "0"),  # v2
            ],
        ),
    }
    return {name: path for name, path in made.items() if path is not None}


def _memory_peak(cgroup: Path | None) -> int | None:
    for name in ("memory.max_usage_in_bytes", "memory.peak"):  # v1, v2
        try:
            return int((cgroup / name).read_text()) if cgroup else None
        except (OSError, ValueError):
            continue
    return None


def _cgroup_pids(cgroup: Path) -> list[int]:
    try:
        return [int(pid) for pid in (cgroup / "cgroup.procs").read_text().split()]
    except OSError:
        return []


def _remove_cgroup(cgroup: Path) -> None:
    for _ in range(100):
        try:
            cgroup.rmdir()
            return
        except FileNotFoundError:
            return
        except OSError:  # still busy: its last processes are being reaped
            time.sleep(0.02)
