"""Writing an artifact directory atomically: build it in a hidden sibling, rename it into place at the end.

An interrupted run (Ctrl-C, SIGTERM, an error) removes its staging directory; a killed one (SIGKILL, power)
leaves only a hidden ``.NAME.partial-PID`` that the next run for the same ``--out`` removes. ``--out`` itself
either does not exist or holds a whole artifact.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
from collections.abc import Iterator
from pathlib import Path
from types import FrameType

from quantize.errors import QuantizeError


class ArtifactExistsError(QuantizeError, FileExistsError):
    pass


def staging_dir(out: Path) -> Path:
    return out.parent / f".{out.name}.partial-{os.getpid()}"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_staging(out: Path) -> None:
    """Staging directories of earlier runs for ``out`` whose process is gone (killed mid-run)."""
    for path in out.parent.glob(f".{out.name}.partial-*"):
        pid = path.name.rsplit("-", 1)[-1]
        if pid.isdigit() and not _pid_alive(int(pid)):
            shutil.rmtree(path, ignore_errors=True)


def check_destination(out: Path, force: bool) -> None:
    if out.exists() and not force:
        raise ArtifactExistsError(f"{out} exists; pass --force to replace it")


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


@contextlib.contextmanager
def atomic_directory(out: Path, force: bool) -> Iterator[Path]:
    """Yield an empty staging directory; on success it becomes ``out`` (replacing it only with ``force``)."""
    check_destination(out, force)
    out.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_staging(out)
    staging = staging_dir(out)
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    # SIGTERM (a job scheduler, `kill`) must clean up like Ctrl-C does.
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        yield staging
        check_destination(out, force)  # someone else may have written it meanwhile
        if out.exists():
            retired = out.parent / f".{out.name}.replaced-{os.getpid()}"
            out.rename(retired)
            staging.rename(out)
            shutil.rmtree(retired, ignore_errors=True)
        else:
            staging.rename(out)
    finally:
        signal.signal(signal.SIGTERM, previous)
        shutil.rmtree(staging, ignore_errors=True)
