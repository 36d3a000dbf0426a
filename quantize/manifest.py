"""``quantreason.json``: how an artifact was made, written next to it so every number can be traced."""

from __future__ import annotations

import hashlib
from importlib import metadata
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

MANIFEST_NAME = "quantreason.json"
MANIFEST_VERSION = 1
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt")
LIBRARIES = ("llmcompressor", "compressed-tensors", "transformers", "torch", "quantreason")


class SourceModel(BaseModel):
    path: str
    # The hub revision for hub ids; for a local directory, a hash over its weight files' hashes.
    revision: str
    size_bytes: int


class CalibrationRecord(BaseModel):
    source: str
    num_samples: int
    sha256: str | None
    max_seq_len: int
    tokens: int
    truncated_samples: int
    heldout_samples: int


class RecoveryRecord(BaseModel):
    """How ``quantize recover`` retrained an artifact (absent from artifacts ``quantize`` made)."""

    method: str
    base_artifact: str
    # sha256 over the base artifact's weight hashes (``combined_hash``), like a local source's revision.
    base_artifact_sha256: str
    base_scheme: str
    data_source: str
    data_sha256: str
    examples: int
    excluded_examples: int
    steps: int
    planned_steps: int
    stopped_by_time_limit: bool
    batch_size: int
    learning_rate: float
    seed: int
    threads: int
    training_tokens: int
    first_loss: float
    final_loss: float
    training_wall_time_s: float
    # Share of quantized weight codes in the artifact equal to the fake-quantized weights training ended on.
    codes_matching_training: float


class Emulation(BaseModel):
    """What an emulated checkpoint (``quantize emulate``) reproduces of its scheme."""

    weights: bool
    activations: bool
    kv_cache: bool
    dtype: str
    summary: str  # e.g. "weights only: 4-bit weights dequantized to bfloat16"
    not_emulated: list[str]
    artifact: str = ""  # the artifact it was made from
    artifact_weights: str = ""  # sha256 over that artifact's weight hashes


class Manifest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    manifest_version: int = MANIFEST_VERSION
    scheme: str
    recipe: list[dict[str, Any]]
    # What serve's /v1/models reports (server/model_info.py reads these two top-level keys).
    source_model: str
    source: SourceModel
    calibration: CalibrationRecord | None
    libraries: dict[str, str]
    device: str
    wall_time_s: float
    peak_memory_bytes: dict[str, int]
    size_bytes: int
    weights_sha256: dict[str, str]
    recovery: RecoveryRecord | None = None
    # Set on an emulated checkpoint: the scheme whose quantized weights it holds, dequantized.
    emulates: str | None = None
    emulation: Emulation | None = None


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def weight_files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.iterdir() if p.is_file() and p.suffix in WEIGHT_SUFFIXES)


def hash_weights(directory: Path) -> dict[str, str]:
    return {path.name: sha256_file(path) for path in weight_files(directory)}


def directory_size(directory: Path) -> int:
    return sum(p.stat().st_size for p in directory.rglob("*") if p.is_file())


def weights_size(directory: Path) -> int:
    return sum(p.stat().st_size for p in weight_files(directory))


def combined_hash(hashes: dict[str, str]) -> str:
    return hashlib.sha256(
        "".join(f"{name}:{digest}\n" for name, digest in sorted(hashes.items())).encode()
    ).hexdigest()


def library_versions() -> dict[str, str]:
    versions = {}
    for name in LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def read_manifest(directory: Path) -> Manifest:
    return Manifest.model_validate_json((directory / MANIFEST_NAME).read_text())


def mismatched_weights(directory: Path, manifest: Manifest) -> list[str]:
    """Weight files whose sha256 differs from the manifest, or that are missing or unlisted."""
    actual = hash_weights(directory)
    names = set(actual) | set(manifest.weights_sha256)
    return sorted(name for name in names if actual.get(name) != manifest.weights_sha256.get(name))
