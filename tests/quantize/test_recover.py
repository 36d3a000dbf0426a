"""``quantize recover``: a tiny artifact retrained end to end (same scheme, same bits, manifest record,
deterministic per seed); bad input answers in one line and leaves nothing; an interrupted or killed
recovery leaves no artifact at --out."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from safetensors import safe_open

from quantize.cli import main
from quantize.manifest import combined_hash, mismatched_weights, read_manifest
from tests.quantize.conftest import quantize_tiny
from tinymodel import REASONER_DIR

pytestmark = [pytest.mark.quantize_env, pytest.mark.timeout(1800)]
ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = 16
STEPS = 3


def worked_examples(count: int, seed: int = 11) -> list[dict[str, str]]:
    import random

    from tinymodel.reasoner.problems import training_problem

    rng = random.Random(seed)
    problems = [training_problem(rng) for _ in range(count)]
    return [{"problem": p.text, "solution": p.completion, "answer": str(p.answer)} for p in problems]


@pytest.fixture(scope="module")
def examples_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("examples") / "examples.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in worked_examples(EXAMPLES + 8)))
    return path


@pytest.fixture(scope="module")
def base(recover_base: Path) -> Path:
    return recover_base


def recover_args(artifact: Path, out: Path, data: Path | str, *extra: str) -> list[str]:
    return [
        "recover", str(artifact), "--out", str(out), "--data", str(data), "--examples", str(EXAMPLES),
        "--steps", str(STEPS), "--batch-size", "8", "--learning-rate", "1e-3", "--threads", "1", *extra,
    ]  # fmt: skip


@pytest.fixture(scope="module")
def recovered(base: Path, examples_file: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("recovered") / "w4a16-recovered"
    main(recover_args(base, out, examples_file))
    return out


def run_cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    """``quantize ARGV`` in this process; the one line it exits with (its message or its stderr)."""
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code not in (0, None)
    err = capsys.readouterr().err
    assert "Traceback" not in err
    message = exited.value.code if isinstance(exited.value.code, str) else err.strip().splitlines()[-1]
    assert "\n" not in message
    return message


def test_recovered_artifact_keeps_the_scheme_and_its_bits(base: Path, recovered: Path) -> None:
    base_config = json.loads((base / "config.json").read_text())["quantization_config"]
    config = json.loads((recovered / "config.json").read_text())["quantization_config"]
    for name, group in config["config_groups"].items():
        weights, base_weights = group["weights"], base_config["config_groups"][name]["weights"]
        for key in ("num_bits", "type", "group_size", "strategy", "symmetric"):
            assert weights[key] == base_weights[key], key
    assert config["format"] == base_config["format"] == "pack-quantized"
    assert config["ignore"] == base_config["ignore"]
    # Every quantized layer is stored as packed 4-bit codes with scales; no float weight left for them.
    with safe_open(str(recovered / "model.safetensors"), "pt") as tensors:
        names = set(tensors.keys())
    packed = {n.removesuffix(".weight_packed") for n in names if n.endswith(".weight_packed")}
    assert len(packed) == 3 * 7  # the tiny reasoner's 3 layers x q, k, v, o, gate, up, down
    assert all(f"{layer}.weight_scale" in names and f"{layer}.weight" not in names for layer in packed)
    assert "lm_head.weight" in names


def test_manifest_records_the_recovery(base: Path, recovered: Path, examples_file: Path) -> None:
    manifest, base_manifest = read_manifest(recovered), read_manifest(base)
    assert manifest.scheme == "w4a16" and manifest.source == base_manifest.source
    assert mismatched_weights(recovered, manifest) == []
    record = manifest.recovery
    assert record is not None
    assert record.method == "qat" and record.base_scheme == "w4a16"
    assert record.base_artifact == str(base.resolve())
    assert record.base_artifact_sha256 == combined_hash(base_manifest.weights_sha256)
    assert record.data_source == f"file:{examples_file}" and len(record.data_sha256) == 64
    assert record.examples == EXAMPLES and record.excluded_examples == 0
    assert record.steps == record.planned_steps == STEPS and not record.stopped_by_time_limit
    assert record.training_wall_time_s > 0 and manifest.wall_time_s >= record.training_wall_time_s
    assert record.training_tokens > EXAMPLES * 30 and record.first_loss > 0
    # The re-quantization stored exactly the codes the training's fake quantization computed.
    assert record.codes_matching_training == 1.0
    assert manifest.recipe[0]["type"] == "QuantizationModifier"
    # The examples trained on, the loss per step and its curve travel with the artifact.
    kept = [json.loads(line) for line in (recovered / "recovery" / "examples.jsonl").read_text().splitlines()]
    given = [json.loads(line) for line in examples_file.read_text().splitlines()][:EXAMPLES]
    assert [k["prompt"] for k in kept] == [g["problem"] for g in given]
    assert all(k["content"] == f"\\boxed{{{g['answer']}}}" for k, g in zip(kept, given, strict=True))
    losses = [json.loads(line) for line in (recovered / "recovery" / "training.jsonl").open()]
    assert [s["step"] for s in losses] == list(range(1, STEPS + 1))
    assert losses[0]["loss"] == pytest.approx(record.first_loss)
    assert (recovered / "recovery" / "training_curve.png").stat().st_size > 1000
    assert (recovered / "calibration" / "heldout.jsonl").read_text() == (
        base / "calibration" / "heldout.jsonl"
    ).read_text()


def test_deterministic_for_a_seed_and_excluded_problems_dropped(
    base: Path, recovered: Path, examples_file: Path, tmp_path: Path
) -> None:
    again = tmp_path / "again"
    main(recover_args(base, again, examples_file))
    assert read_manifest(again).weights_sha256 == read_manifest(recovered).weights_sha256
    benchmark = tmp_path / "bench.jsonl"
    first = [json.loads(line) for line in examples_file.read_text().splitlines()][:4]
    benchmark.write_text(
        "".join(json.dumps({"problem": r["problem"], "answer": r["answer"]}) + "\n" for r in first)
    )
    other = tmp_path / "other"
    main([*recover_args(base, other, examples_file), "--exclude", str(benchmark), "--seed", "1"])
    record = read_manifest(other).recovery
    assert record is not None and record.excluded_examples == 4 and record.examples == EXAMPLES
    prompts = [json.loads(line)["prompt"] for line in (other / "recovery" / "examples.jsonl").open()]
    assert not {r["problem"] for r in first} & set(prompts)
    assert read_manifest(other).weights_sha256 != read_manifest(recovered).weights_sha256


def _nothing_written(tmp_path: Path, keep: set[str]) -> None:
    assert {p.name for p in tmp_path.iterdir()} == keep


def test_a_bf16_artifact_is_refused(
    traces_file: Path, examples_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bf16 = quantize_tiny("bf16", tmp_path / "bf16", traces_file)
    message = run_cli(recover_args(bf16, tmp_path / "out", examples_file), capsys)
    assert (
        message == f"quantize recover: {bf16} is a bf16 artifact: nothing was quantized, nothing to recover"
    )
    _nothing_written(tmp_path, {"bf16"})


def test_not_an_artifact(examples_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    message = run_cli(recover_args(REASONER_DIR, tmp_path / "out", examples_file), capsys)
    assert message == f"quantize recover: {REASONER_DIR} is not a quantize artifact (no quantreason.json)"
    _nothing_written(tmp_path, set())


def test_missing_source_model_for_reasoning_data(
    base: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    moved = tmp_path / "moved"
    shutil.copytree(base, moved)
    manifest = json.loads((moved / "quantreason.json").read_text())
    manifest["source"]["path"] = manifest["source_model"] = str(tmp_path / "gone")
    (moved / "quantreason.json").write_text(json.dumps(manifest))
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text(
        json.dumps({"problem": "Ann has 12 coins, gets 30 more. How many now?", "answer": "42"})
    )
    message = run_cli(recover_args(moved, tmp_path / "out", "reasoning", "--prompts", str(prompts)), capsys)
    assert message.startswith(f"quantize recover: source model {tmp_path / 'gone'} of {moved} not found")
    assert "--data reasoning asks it for traces" in message and "--source PATH" in message
    _nothing_written(tmp_path, {"moved", "prompts.jsonl"})


def test_reasoning_data_needs_prompts_with_answers(
    base: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    message = run_cli(recover_args(base, tmp_path / "out", "reasoning"), capsys)
    assert "--data reasoning needs --prompts FILE.jsonl" in message
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text(json.dumps({"problem": "Ann has 12 coins. How many now?"}) + "\n")
    message = run_cli(recover_args(base, tmp_path / "out", "reasoning", "--prompts", str(prompts)), capsys)
    assert message.startswith(f"quantize recover: {prompts}:1: ") and "'answer'" in message
    _nothing_written(tmp_path, {"prompts.jsonl"})


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("", "holds no records"),
        ("\n\n", "holds no records"),
        ('{"problem": "a", "solution": "b</think>\\\\boxed{1}"}\nnot json\n', ":2: not JSON"),
        ('{"problem": "a", "solution": "b</think>x"}\n\n{"problem": "c"}\n', ":3: no worked solution"),
        ('{"solution": "b</think>x"}\n', ":1: no problem text"),
        ("[1, 2]\n", ":1: expected a JSON object"),
        ('{"problem": "a", "solution": "working, no answer"}\n', ":1: a solution without </think> needs"),
    ],
)
def test_bad_data_file(
    base: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str, expected: str
) -> None:
    data = tmp_path / "data.jsonl"
    data.write_text(content)
    message = run_cli(recover_args(base, tmp_path / "out", data), capsys)
    assert message.startswith(f"quantize recover: {data}") and expected in message, message
    _nothing_written(tmp_path, {"data.jsonl"})


def test_missing_data_file(base: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    message = run_cli(recover_args(base, tmp_path / "out", tmp_path / "none.jsonl"), capsys)
    assert message == f"quantize recover: training data file not found: {tmp_path / 'none.jsonl'}"


@pytest.mark.parametrize("flag", ["--examples", "--steps", "--batch-size"])
def test_zero_counts_are_refused(
    base: Path, examples_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], flag: str
) -> None:
    message = run_cli([*recover_args(base, tmp_path / "out", examples_file), flag, "0"], capsys)
    assert message == f"quantize recover: {flag} must be at least 1"
    _nothing_written(tmp_path, set())


def test_existing_out_needs_force(
    base: Path, recovered: Path, examples_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = (recovered / "quantreason.json").read_text()
    message = run_cli(recover_args(base, recovered, examples_file), capsys)
    assert message == f"quantize recover: {recovered} exists; pass --force to replace it"
    assert (recovered / "quantreason.json").read_text() == before


def _start_training(base: Path, out: Path, examples: Path) -> tuple[subprocess.Popen[bytes], Path]:
    """A long recovery in a child process, returned once its training has logged a step."""
    args = recover_args(base, out, examples)
    args[args.index("--steps") + 1] = "100000"
    process = subprocess.Popen(
        [sys.executable, "-m", "quantize", *args], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    log = out.parent / f".{out.name}.partial-{process.pid}" / "recovery" / "training.jsonl"
    deadline = time.monotonic() + 600
    while not (log.exists() and log.stat().st_size):
        assert process.poll() is None, process.stderr.read().decode() if process.stderr else ""
        assert time.monotonic() < deadline, "training never started"
        time.sleep(0.5)
    return process, log.parents[1]


@pytest.mark.slow
def test_interrupted_or_killed_training_leaves_no_artifact(
    base: Path, examples_file: Path, tmp_path: Path
) -> None:
    out = tmp_path / "recovered"
    process, staging = _start_training(base, out, examples_file)
    process.send_signal(signal.SIGINT)  # Ctrl-C
    assert process.wait(120) != 0
    stderr = process.stderr.read().decode() if process.stderr else ""
    assert "quantize recover: interrupted; no artifact written" in stderr and "Traceback" not in stderr
    assert not out.exists() and not staging.exists()
    process, staging = _start_training(base, out, examples_file)
    os.kill(process.pid, signal.SIGKILL)
    process.wait(60)
    assert not out.exists()  # only the hidden staging directory, which the next run for --out removes
    main(recover_args(base, out, examples_file))
    assert read_manifest(out).recovery is not None and not staging.exists()
