"""Benchmark data: the copies this project carries, and where a user keeps their own.

Every tool finds benchmark files the same way: its ``--data-dir`` flag where it has one, else
``$QUANTREASON_DATA_DIR``, else this folder, which holds MATH-500, the GSM8K test split and AIME 2024
byte for byte as published (``README.md`` here: sources, licences, checksums). ``quantize`` reads its
default calibration prompts from it, ``evalclient`` its benchmarks (the hub for those not carried) and
``loadtest`` its benchmark-named datasets.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["CARRIED_DIR", "DATA_DIR_ENV", "chosen_data_dir", "data_dir"]

DATA_DIR_ENV = "QUANTREASON_DATA_DIR"
CARRIED_DIR = Path(__file__).resolve().parent


def chosen_data_dir(flag: Path | None = None) -> Path | None:
    """The folder the user chose: ``flag`` (a ``--data-dir``), else ``$QUANTREASON_DATA_DIR``; else None."""
    if flag is not None:
        return flag
    configured = os.environ.get(DATA_DIR_ENV)
    return Path(configured) if configured else None


def data_dir(flag: Path | None = None) -> Path:
    """The folder to read benchmark files from: the user's choice, else the carried copies."""
    return chosen_data_dir(flag) or CARRIED_DIR
