"""The demo's optional recover step (``python -m demo --recover``): repair the broken low-bit artifact.

``quantize recover`` retrains the tiny reasoner's w2a16 artifact on 545 worked examples drawn from its
problem generator, none of them a toy-arith problem (and ``--exclude`` checks it again), onto the same
scheme; the result is emulated like the broken one (this CPU has no 2-bit kernel), served and evaluated
beside the others, so ``evalclient compare`` shows bf16, broken and recovered side by side.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from rich.console import Console

from demo.quantize_step import PROMPTS, WhileServed, _ask
from demo.study_step import PhaseTimes, emulation_for
from tinymodel.reasoner.examples import write_worked_examples

RECOVER_SCHEME = "w2a16"
RECOVERED_NAME = f"{RECOVER_SCHEME}-recovered"
EXAMPLES = 545
# The reasoner was trained at 3e-3 from scratch; a third of that moves weights across the 2-bit grid.
LEARNING_RATE = "1e-3"
STEPS = "200"  # the measured setting (docs/quantize-recover.md): about 8 minutes on 2 loaded cores


def _recovered_is_current(out: Path, base: Path) -> bool:
    """An earlier recovery of exactly this base artifact (its weights hash) is reused."""
    try:
        recovery = json.loads((out / "quantreason.json").read_text()).get("recovery") or {}
        base_hashes = json.loads((base / "quantreason.json").read_text())["weights_sha256"]
    except (OSError, ValueError, KeyError):
        return False
    from quantize.manifest import combined_hash

    return recovery.get("base_artifact_sha256") == combined_hash(base_hashes)


def recover_step(console: Console, workdir: Path, while_served: WhileServed, times: PhaseTimes) -> str | None:
    """Recover, emulate, serve (``while_served`` sees the name ``w2a16-recovered``); an error or None."""
    artifacts = workdir / "artifacts"
    base = artifacts / f"tiny-reasoner-{RECOVER_SCHEME}"
    if not (base / "quantreason.json").is_file():
        return f"no {RECOVER_SCHEME} artifact at {base} to recover (the quantize step makes it)"
    out = artifacts / f"tiny-reasoner-{RECOVERED_NAME}"
    log = workdir / "logs" / "demo-recover.log"
    if not _recovered_is_current(out, base):
        examples = workdir / "recover-examples.jsonl"
        write_worked_examples(examples, EXAMPLES)
        command = [
            sys.executable, "-m", "quantize", "recover", str(base), "--out", str(out),
            "--data", str(examples), "--examples", str(EXAMPLES), "--exclude", str(PROMPTS),
            "--learning-rate", LEARNING_RATE, "--steps", STEPS, "--force",
        ]  # fmt: skip
        console.print(f"[bold]quantize recover[/] {RECOVER_SCHEME} on {EXAMPLES} examples (log: {log})")
        with times.phase("recover", RECOVER_SCHEME), log.open("a") as sink:
            # Its progress (loss per step) and llm-compressor's chatter go to the log; the summary comes here.
            done = subprocess.run(command, stdout=sink, stderr=subprocess.PIPE, text=True, check=False)
            sink.write(done.stderr)
        if done.returncode != 0:
            return (done.stderr.strip().splitlines() or ["quantize recover failed"])[-1]
    record = json.loads((out / "quantreason.json").read_text())["recovery"]
    console.print(
        f"[green]recovered[/] {RECOVER_SCHEME}: loss {record['first_loss']:.4f} -> "
        f"{record['final_loss']:.4f} in {record['steps']} steps, "
        f"{record['training_wall_time_s']:.0f} s of training; curve: {out / 'recovery/training_curve.png'}"
    )
    with times.phase("emulate", RECOVERED_NAME):
        served, error = emulation_for(out, log)
    if served is None:
        return error
    log = workdir / "logs" / f"demo-serve-{RECOVERED_NAME}.log"
    _ask(console, served, RECOVERED_NAME, log, while_served, times)
    return None
