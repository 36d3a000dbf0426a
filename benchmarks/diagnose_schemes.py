"""Where each scheme's reasoning goes wrong on toy-arith: ``evalclient diagnose`` (rules judge) of every
scheme's run against the bf16 run, as one markdown table (kind shares per scheme, flips).

    python benchmarks/diagnose_schemes.py RUNS_DIR [--baseline bf16] [--out DIR]   # e.g. the demo's runs/

RUNS_DIR holds one evalclient run directory per scheme (what the demo writes under WORKDIR/runs).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

KINDS = ("comprehension", "planning", "computation", "answer")


def _accuracy(run: Path) -> str:
    summary = json.loads((run / "summary.json").read_text())
    cells = []
    for result in summary["results"]:
        budget = result["thinking_budget"]
        cells.append(f"{100 * result['overall']['accuracy']:.1f}% @{'unl.' if budget is None else budget}")
    return ", ".join(cells)


def _shares(group: dict[str, Any]) -> list[str]:
    judged = group["total"] - group["counts"].get("judge_error", 0)
    return [f"{100 * group['counts'].get(k, 0) / judged:.0f}%" if judged else "-" for k in KINDS]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", type=Path)
    parser.add_argument("--baseline", default="bf16")
    parser.add_argument("--out", type=Path, help="diagnoses go to OUT/SCHEME (default: RUNS-diagnoses)")
    args = parser.parse_args()
    out = args.out or args.runs.parent / f"{args.runs.name}-diagnoses"
    baseline = args.runs / args.baseline
    header = ["scheme", "accuracy", "failures", *KINDS, "flips", "flips: computation", "cut short"]
    lines = ["| " + " | ".join(header) + " |", "|---" * len(header) + "|"]
    schemes = sorted(p.name for p in args.runs.iterdir() if (p / "samples.jsonl").is_file())
    for scheme in [args.baseline] + [s for s in schemes if s != args.baseline]:
        command = [sys.executable, "-m", "evalclient", "diagnose", str(args.runs / scheme),
                   "--judge", "rules", "--out", str(out / scheme), "--quiet"]  # fmt: skip
        if scheme != args.baseline:
            command += ["--baseline", str(baseline)]
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
        summary = json.loads((out / scheme / "diagnosis_summary.json").read_text())
        run = summary["runs"][0]
        flips = run["flips"]
        flip_cells = [str(flips["total"]), _shares(flips)[2]] if flips else ["-", "-"]
        lines.append(
            f"| {scheme} | {_accuracy(args.runs / scheme)} | {run['overall']['total']} | "
            + " | ".join(_shares(run["overall"]))
            + f" | {' | '.join(flip_cells)} | {run['truncated']} |"
        )
    print("\n".join(lines))


if __name__ == "__main__":
    main()
