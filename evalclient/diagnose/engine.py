"""Judge every target once, append its row to ``diagnosis.jsonl`` (flushed per sample), resume.

``N`` worker coroutines pull targets from one queue (``--concurrency``). A rerun with the same ``--out``
skips every target that already has a row, except ``judge_error`` rows, which are judged again; the last
line per target wins. A judge that fails gives a ``judge_error`` row with the reason: never skipped,
never scored.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

from pydantic import ValidationError

from evalclient.diagnose.judges import Case, Judge, JudgeFailedError, rules_verdict
from evalclient.diagnose.rows import DiagnoseConfig, DiagnosisRow, RowKey
from evalclient.diagnose.runs import Target
from evalclient.diagnose.steps import split_response
from evalclient.diagnose.taxonomy import JUDGE_ERROR
from evalclient.errors import EvalclientError
from evalclient.records import SampleRecord
from evalclient.rundir import write_atomically

DIAGNOSIS_FILE = "diagnosis.jsonl"
CONFIG_FILE = "diagnose.json"
STEP_TEXT_CHARS = 160


class DiagnosisDirectoryError(EvalclientError):
    """``--out`` holds another diagnosis, or cannot be used."""


def load_rows(out_dir: Path) -> list[DiagnosisRow]:
    """Every intact row; a torn line (killed mid-write) is dropped from the file."""
    path = out_dir / DIAGNOSIS_FILE
    if not path.exists():
        return []
    rows, intact, torn = [], [], False
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        try:
            rows.append(DiagnosisRow.model_validate_json(line))
            intact.append(line)
        except ValidationError:
            torn = True
    if torn:
        write_atomically(path, "".join(f"{line}\n" for line in intact))
    return rows


def _identity(config: DiagnoseConfig) -> dict[str, object]:
    """What must match for a resume: the judge's endpoint may move (a restarted server), its model may not."""
    data = config.model_dump()
    data["judge"].pop("endpoint", None)
    return data


def prepare_out_dir(out_dir: Path, config: DiagnoseConfig) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / CONFIG_FILE
    if path.exists():
        try:
            previous = DiagnoseConfig.model_validate_json(path.read_text(encoding="utf-8"))
        except ValidationError:
            raise DiagnosisDirectoryError(f"{path} is not an evalclient diagnosis configuration") from None
        old, new = _identity(previous), _identity(config)
        differences = [name for name in new if old.get(name) != new[name]]
        if differences:
            raise DiagnosisDirectoryError(
                f"{out_dir} holds another diagnosis (differs: {', '.join(differences)}); pass another --out"
            )
    write_atomically(path, config.model_dump_json(indent=2) + "\n")


def case_of(target: Target) -> Case:
    record = target.record
    steps = split_response(record.benchmark, record.reasoning, record.answer)
    return Case(record.benchmark, target.problem, steps, record.answer)


def was_truncated(record: SampleRecord) -> bool:
    forced = bool(record.budget_forcing and record.budget_forcing.get("forced_end"))
    return forced or record.finish_reason == "length"


async def diagnose_one(target: Target, judge: Judge) -> DiagnosisRow:
    case = case_of(target)
    record = target.record
    reference = rules_verdict(case) if judge.name != "rules" else None
    row = DiagnosisRow(
        id=record.problem_id,
        sample=target.sample,
        role=target.role,
        run=target.run.label,
        benchmark=record.benchmark,
        thinking_budget=record.thinking_budget,
        seed=record.seed,
        sample_index=record.sample_index,
        meta=dict(record.meta),
        steps=len(case.steps),
        first_faulty_step=None,
        category=JUDGE_ERROR,
        judge=judge.name,
        rationale="",
        flip=target.flip,
        truncated=was_truncated(record),
        reference=reference,
        response_digest=target.digest,
    )
    try:
        judgement = await judge.judge(case)
    except JudgeFailedError as exc:
        return row.model_copy(update={"rationale": str(exc), "attempts": exc.attempts})
    verdict = judgement.verdict
    index = verdict.first_faulty_step
    return row.model_copy(
        update={
            "first_faulty_step": index,
            "category": verdict.category,
            "rationale": verdict.rationale,
            "faulty_step_text": case.steps.texts[index][:STEP_TEXT_CHARS] if index >= 0 else None,
            "attempts": judgement.attempts,
        }
    )


def _current(target: Target, row: DiagnosisRow | None) -> bool:
    """The row judged this very response (not an older one under the same key) and gave a verdict."""
    return row is not None and row.category != JUDGE_ERROR and row.response_digest == target.digest


def pending(targets: list[Target], done: dict[RowKey, DiagnosisRow]) -> list[Target]:
    return [t for t in targets if not _current(t, done.get(t.key))]


async def run_diagnosis(
    targets: list[Target],
    judge: Judge,
    out_dir: Path,
    concurrency: int,
    on_row: Callable[[DiagnosisRow], None] | None = None,
) -> None:
    queue: asyncio.Queue[Target] = asyncio.Queue()
    for target in targets:
        queue.put_nowait(target)
    with (out_dir / DIAGNOSIS_FILE).open("a", encoding="utf-8") as sink:

        async def worker() -> None:
            while True:
                try:
                    target = queue.get_nowait()
                except asyncio.QueueEmpty:
                    return
                row = await diagnose_one(target, judge)
                sink.write(row.model_dump_json() + "\n")
                sink.flush()
                if on_row is not None:
                    on_row(row)

        await asyncio.gather(*(worker() for _ in range(max(1, min(concurrency, len(targets))))))


def final_rows(targets: list[Target], out_dir: Path) -> list[DiagnosisRow]:
    """The last row of every target, in target order."""
    latest = {row.key: row for row in load_rows(out_dir)}
    return [latest[t.key] for t in targets if t.key in latest and latest[t.key].response_digest == t.digest]
