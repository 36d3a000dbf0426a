"""Demo steps of the study (issue 13): emulate what this CPU cannot execute, compare every scheme, say where
the time went.

- ``emulation_for``: ``quantize emulate`` on an artifact whose kernel vLLM-CPU lacks (w4a16, w3a16, w2a16...),
  so its weights can be served and evaluated here; the served model card says "emulated, weights only".
- ``compare_step``: ``evalclient compare`` over the schemes' run directories (bf16 first): the paper-style
  table (accuracy, paired difference with interval and exact p, per difficulty, reasoning length, per budget)
  and its PNGs, as a user would run it.
- ``PhaseTimes``: wall time per phase, printed at the end (the demo's 10-minute target on 2 cores); phases
  run in several threads at once, and the table says how much they overlapped.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.table import Table

# The bit-width axis of the seed paper, as far as this CPU serves it (real where vLLM-CPU has the kernel,
# emulated otherwise): near-lossless W8A8 and W4A16, harmful W3, and W2 below it. docs/tiny-reasoner.md says
# what each does to the reasoner (and w3a16-rtn, which hurts more than GPTQ's w3a16: --schemes adds it).
STUDY_SCHEMES = ("bf16", "w8a8-int8", "w4a16", "w3a16", "w2a16")
EMULATED_SUFFIX = "-emulated"


@dataclass(frozen=True)
class PhaseEntry:
    phase: str
    scheme: str
    seconds: float  # without the phases nested in it
    started: float  # time.monotonic()
    ended: float


class PhaseTimes:
    """Wall time per (phase, scheme), in the order phases ended; phases may run in several threads at once
    (the demo prepares the next scheme while it evaluates one). A phase inside another of the same thread
    counts only for itself: each phase's time excludes the phases nested in it."""

    def __init__(self) -> None:
        self.entries: list[PhaseEntry] = []
        self.started = time.monotonic()
        self._lock = threading.Lock()
        self._threads = threading.local()

    @contextlib.contextmanager
    def phase(self, phase: str, scheme: str = "") -> Iterator[None]:
        nested = self._open_phases()
        started = time.monotonic()
        nested.append(0.0)
        try:
            yield
        finally:
            ended = time.monotonic()
            inner = nested.pop()
            with self._lock:
                self.entries.append(PhaseEntry(phase, scheme, ended - started - inner, started, ended))
            if nested:
                nested[-1] += ended - started

    def _open_phases(self) -> list[float]:
        """This thread's open phases, innermost last: per phase, the seconds spent in phases inside it."""
        if not hasattr(self._threads, "nested"):
            self._threads.nested = []
        nested: list[float] = self._threads.nested
        return nested

    def _covered(self) -> float:
        """Seconds during which at least one phase ran (overlapping phases counted once)."""
        covered, reach = 0.0, self.started
        for entry in sorted(self.entries, key=lambda e: e.started):
            if entry.ended > reach:
                covered += entry.ended - max(entry.started, reach)
                reach = entry.ended
        return covered

    def show(self, console: Console) -> None:
        total = time.monotonic() - self.started
        totals: dict[str, float] = {}
        counts: dict[str, int] = {}
        for entry in self.entries:
            totals[entry.phase] = totals.get(entry.phase, 0.0) + entry.seconds
            counts[entry.phase] = counts.get(entry.phase, 0) + 1
        in_phases = sum(totals.values())
        covered = self._covered()
        # Phases of different threads overlap: their seconds then add up to more than the time they covered
        # (nested phases of one thread add up to exactly their outer phase's time).
        overlapped = in_phases > covered + 0.01
        title = f"where the time went: {total:.0f} s wall time in all"
        caption = (
            f"phases overlap (the next scheme is prepared while one is evaluated): {in_phases:.0f} s of "
            f"phases in {covered:.0f} s; shares are of the wall time, so they add up to more than 100%"
            if overlapped
            else None
        )
        table = Table(title=title, caption=caption)
        for column in ("phase", "times", "seconds", "share", "slowest"):
            table.add_column(column, justify="left" if column in ("phase", "slowest") else "right")
        for phase, seconds in sorted(totals.items(), key=lambda item: -item[1]):
            slowest = max((e for e in self.entries if e.phase == phase), key=lambda e: e.seconds)
            table.add_row(
                phase,
                str(counts[phase]),
                f"{seconds:.0f}",
                f"{100 * seconds / total:.0f}%" if total else "-",
                f"{slowest.scheme or '-'} ({slowest.seconds:.0f} s)",
            )
        idle = total - covered
        share = f"{100 * idle / total:.0f}%" if total else "-"
        table.add_row("no phase running (imports, tables, plots)", "", f"{idle:.0f}", share, "")
        console.print(table)


def emulation_for(artifact: Path, log: Path) -> tuple[Path | None, str | None]:
    """The artifact's emulation (made now unless a newer one exists): (directory, None) or (None, error)."""
    out = artifact.with_name(artifact.name + EMULATED_SUFFIX)
    manifest, source = out / "quantreason.json", artifact / "quantreason.json"
    if manifest.is_file() and manifest.stat().st_mtime > source.stat().st_mtime:
        return out, None
    command = [sys.executable, "-m", "quantize", "emulate", str(artifact), "--out", str(out), "--force"]
    with log.open("a") as sink:
        done = subprocess.run(command, stdout=sink, stderr=subprocess.PIPE, text=True, check=False)
        sink.write(done.stderr)
    if done.returncode != 0:
        return None, (done.stderr.strip().splitlines() or ["quantize emulate failed"])[-1]
    return out, None


def compare_step(console: Console, runs: Sequence[Path], out: Path) -> bool:
    """``evalclient compare RUN...`` (the first is the baseline); its table goes straight to the terminal."""
    console.rule(f"evalclient compare: {', '.join(run.name for run in runs)} (baseline {runs[0].name})")
    command = [sys.executable, "-m", "evalclient", "compare", *map(str, runs), "--out", str(out)]
    done = subprocess.run(command, check=False)
    if done.returncode != 0:
        console.print(f"[red]evalclient compare exited with {done.returncode}[/]")
        return False
    console.print(
        f"comparison: {out / 'report.md'}; plots: {out / 'accuracy_vs_weight_bits.png'}, "
        f"{out / 'accuracy_vs_budget.png'}"
    )
    return True
