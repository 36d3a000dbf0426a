"""Command line: train the tiny reasoner, check a reproduction, write the benchmark."""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import torch
from safetensors.torch import load_file
from tqdm import tqdm

from tinymodel.reasoner.problems import STEPS_BY_DIFFICULTY, random_problem
from tinymodel.reasoner.train import TrainConfig, greedy_accuracy, save_model, train

WEIGHTS_DIR = Path(__file__).resolve().parents[1] / "weights" / "tiny-reasoner"
QUICK_CHECK_SEED = 7  # a few held-out problems for the greedy accuracy printed after training


def _train_to(out: Path, config: TrainConfig, device: str) -> Path:
    progress = tqdm(total=config.steps, desc="training", unit="step")

    def on_step(step: int, loss: float) -> None:
        progress.update(1)
        if step % 10 == 0:
            progress.set_postfix(loss=f"{loss:.3f}")

    start = time.perf_counter()
    model, tokenizer = train(config, device=device, on_step=on_step)
    progress.close()
    seconds = time.perf_counter() - start
    rng = random.Random(QUICK_CHECK_SEED)
    held_out = [random_problem(rng, steps) for steps in STEPS_BY_DIFFICULTY.values() for _ in range(20)]
    accuracy = greedy_accuracy(model, tokenizer, held_out, device=device)
    meta = {"train_seconds": round(seconds, 1), "device": device, "torch": torch.__version__}
    save_model(model, tokenizer, config, out, meta)
    print(f"trained {config.steps} steps in {seconds:.0f} s on {device}; greedy accuracy on 60 held-out: "
          f"{accuracy:.0%}; wrote {out}")  # fmt: skip
    return out


def _compare(reference: Path, reproduced: Path) -> int:
    expected, actual = load_file(reference / "model.safetensors"), load_file(reproduced / "model.safetensors")
    if expected.keys() != actual.keys():
        print("reproduction differs: different tensors")
        return 1
    worst = max((expected[k].float() - actual[k].float()).abs().max().item() for k in expected)
    if worst == 0.0:
        print(f"reproduction matches {reference} bit for bit")
        return 0
    print(f"reproduction differs from {reference}: max abs weight difference {worst:g}")
    return 1


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tinymodel.reasoner", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    train_cmd = commands.add_parser("train", help="train the tiny reasoner and save it as an HF directory")
    train_cmd.add_argument("--out", type=Path, default=WEIGHTS_DIR, help="default: %(default)s")
    train_cmd.add_argument("--steps", type=int, default=TrainConfig.steps, help="default: %(default)s")
    train_cmd.add_argument("--device", default="cpu", help="cpu (the reproduction) or cuda (exploration)")
    verify_cmd = commands.add_parser("verify", help="retrain on CPU and check the weights match a directory")
    verify_cmd.add_argument("--reference", type=Path, default=WEIGHTS_DIR, help="default: %(default)s")
    bench_cmd = commands.add_parser("benchmark", help="write the toy-arith benchmark JSONL")
    bench_cmd.add_argument("--out", type=Path, default=None, help="default: evalclient/data/toy-arith.jsonl")
    args = parser.parse_args(argv)

    if args.command == "train":
        if args.steps < 1:
            sys.exit("tinymodel.reasoner: --steps must be >= 1")
        if args.device.startswith("cuda") and not torch.cuda.is_available():
            sys.exit("tinymodel.reasoner: --device cuda but no GPU is available")
        _train_to(args.out, replace(TrainConfig(), steps=args.steps), args.device)
    elif args.command == "verify":
        if not (args.reference / "model.safetensors").exists():
            sys.exit(f"tinymodel.reasoner: no model.safetensors in {args.reference}")
        import json

        recorded = json.loads((args.reference / "tiny_reasoner.json").read_text())["train_config"]
        config = replace(TrainConfig(), steps=recorded["steps"])
        with tempfile.TemporaryDirectory() as scratch:
            reproduced = _train_to(Path(scratch) / "reproduced", config, "cpu")
            sys.exit(_compare(args.reference, reproduced))
    else:
        # Imported here: pydantic is not needed to train (the GPU exploration image lacks it).
        from tinymodel.reasoner.benchmark import DEFAULT_PATH, benchmark_problems, write_benchmark

        print(f"wrote {write_benchmark(args.out or DEFAULT_PATH)} ({len(benchmark_problems())} problems)")


if __name__ == "__main__":
    main()
