"""PhaseTimes with phases nested in one thread and running at once in two (the demo's pipeline)."""

from __future__ import annotations

import threading
import time

from rich.console import Console

from demo.study_step import PhaseTimes


def test_nested_phases_count_for_themselves_and_threads_do_not_mix() -> None:
    times = PhaseTimes()
    inner_started = threading.Event()

    def worker() -> None:
        with times.phase("quantize", "w4a16"):
            inner_started.set()
            time.sleep(0.4)

    thread = threading.Thread(target=worker)
    with times.phase("serve", "bf16"):
        thread.start()
        inner_started.wait()
        with times.phase("evaluate", "bf16"):
            time.sleep(0.3)
        thread.join()
    seconds = {entry.phase: entry.seconds for entry in times.entries}
    # serve excludes only its own thread's nested evaluate, not the other thread's quantize
    assert 0.3 <= seconds["evaluate"] < 0.6
    assert 0.35 <= seconds["quantize"] < 0.7
    assert seconds["serve"] < 0.35

    console = Console(record=True, width=200)
    times.show(console)
    text = console.export_text()
    assert "phases overlap" in text and "wall time in all" in text


def test_sequential_phases_say_nothing_of_overlap() -> None:
    times = PhaseTimes()
    with times.phase("compare"):
        time.sleep(0.05)
    console = Console(record=True, width=200)
    times.show(console)
    assert "overlap" not in console.export_text()
