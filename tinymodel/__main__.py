"""``python -m tinymodel OUT``: build the random-weight tiny model into OUT."""

from __future__ import annotations

import argparse
import sys

from tinymodel import TinyModelSpec, build_tiny_model


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m tinymodel",
        description="Build a random-weight tiny Qwen2 reasoning-format model (seconds, CPU).",
    )
    parser.add_argument("out", help="directory to write the HF model into")
    parser.add_argument("--seed", type=int, default=0, help="weight seed (default: %(default)s)")
    parser.add_argument("--force", action="store_true", help="replace an existing directory")
    args = parser.parse_args(argv)
    try:
        path = build_tiny_model(args.out, TinyModelSpec(seed=args.seed), force=args.force)
    except (FileExistsError, ValueError) as exc:
        sys.exit(f"tinymodel: {exc}")
    print(path)


if __name__ == "__main__":
    main()
