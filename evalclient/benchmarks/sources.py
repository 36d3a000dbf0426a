"""Where benchmark rows come from: a local directory, the copies the project carries, or the hub.

A directory the user chose (``--data-dir`` / ``$QUANTREASON_DATA_DIR``, see ``benchmark_data``) holds JSON
Lines named as the carried copies are (``math500.jsonl``, ...). Without one, a benchmark the project
carries is read from its copy and the others from the Hugging Face hub through ``huggingface_hub`` (a
dataset repository's JSONL or Parquet file); offline, the error names the repository to download and
the local file name the data directory must hold.
"""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from benchmark_data import CARRIED_DIR, DATA_DIR_ENV
from evalclient.benchmarks.base import DataUnavailableError


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    rows = []
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise DataUnavailableError(f"{path}:{number}: not valid JSON ({exc.msg})") from None
    return rows


def local_rows(data_dir: Path, filename: str, hub_repo: str) -> list[dict[str, Any]]:
    path = data_dir / filename
    if not path.is_file():
        raise DataUnavailableError(
            f"{path} does not exist: put the JSONL copy of {hub_repo} there, or drop --data-dir to load it"
            " from the hub"
        )
    return read_jsonl(path)


def _unreachable(endpoint: str) -> str | None:
    """Why the hub cannot be reached, found in seconds (huggingface_hub itself retries for ~25 s)."""
    url = urlsplit(endpoint)
    try:
        socket.create_connection((url.hostname or "", url.port or 443), timeout=5).close()
    except OSError as exc:
        return f"{url.hostname} unreachable: {exc.strerror or exc}"
    return None


def hub_rows(
    repo_id: str, local_name: str, *, split: str = "test", config: str | None = None
) -> list[dict[str, Any]]:
    """The rows of ``split`` of a hub dataset, from its JSONL or Parquet file."""
    hint = (
        f"cannot load {repo_id} from the Hugging Face hub ({{reason}}); download it as JSONL to"
        f" DIR/{local_name} and pass --data-dir DIR (or set {DATA_DIR_ENV})"
    )
    try:
        from huggingface_hub import HfApi, constants, hf_hub_download
    except ImportError:
        raise DataUnavailableError(hint.format(reason="huggingface_hub is not installed")) from None
    if constants.HF_HUB_OFFLINE:
        raise DataUnavailableError(hint.format(reason="HF_HUB_OFFLINE is set"))
    unreachable = _unreachable(constants.ENDPOINT)
    if unreachable:
        raise DataUnavailableError(hint.format(reason=unreachable))
    try:
        files = HfApi().list_repo_files(repo_id, repo_type="dataset")
        candidates = [
            name
            for name in files
            if name.endswith((".jsonl", ".parquet", ".json"))
            and (config is None or config in name)
            and (
                split in Path(name).name or len([f for f in files if f.endswith((".jsonl", ".parquet"))]) == 1
            )
        ]
        if not candidates:
            raise DataUnavailableError(hint.format(reason=f"no {split} data file among {len(files)} files"))
        path = Path(hf_hub_download(repo_id, sorted(candidates)[0], repo_type="dataset"))
    except DataUnavailableError:
        raise
    except Exception as exc:  # network, auth, gated repository: all end the same way for the user
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise DataUnavailableError(hint.format(reason=reason[:200])) from None
    if path.suffix == ".parquet":
        try:
            import pyarrow.parquet as pq
        except ImportError:
            raise DataUnavailableError(
                hint.format(reason="reading Parquet needs `pip install pyarrow`")
            ) from None
        return pq.read_table(path).to_pylist()
    if path.suffix == ".json":
        data = json.loads(path.read_text(encoding="utf-8"))
        return data if isinstance(data, list) else next(iter(data.values()))
    return read_jsonl(path)


def rows(
    data_dir: Path | None, filename: str, hub_repo: str, *, split: str = "test", config: str | None = None
) -> list[dict[str, Any]]:
    """Local rows when ``data_dir`` is given, else the carried copy's, else the hub's."""
    if data_dir is not None:
        return local_rows(data_dir, filename, hub_repo)
    if (CARRIED_DIR / filename).is_file():
        return read_jsonl(CARRIED_DIR / filename)
    return hub_rows(hub_repo, filename, split=split, config=config)
