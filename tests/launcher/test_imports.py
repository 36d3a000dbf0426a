"""The launcher is a small shared module: starting ``serve`` needs neither the server package nor FastAPI."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.parametrize("module", ["launcher", "quantize.traces", "quantize.verify", "demo.quantize_step"])
def test_starting_serve_imports_no_server_code(module: str) -> None:
    check = (
        f"import sys, {module}; "
        "leaked = sorted(m for m in sys.modules if m.split('.')[0] in ('server', 'fastapi', 'vllm')); "
        "print(leaked); sys.exit(1 if leaked else 0)"
    )
    result = subprocess.run(
        [sys.executable, "-c", check],
        capture_output=True, text=True, timeout=120, cwd=Path(__file__).resolve().parents[2],
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_old_import_path_still_works_and_says_where_it_went() -> None:
    with pytest.warns(DeprecationWarning, match="from launcher import"):
        sys.modules.pop("server.launcher", None)
        from server.launcher import ServerProcess
    from launcher import ServerProcess as moved

    assert ServerProcess is moved


def test_quantize_never_imports_the_server_package() -> None:
    """quantize runs in its own environment: it talks to serve over HTTP, started through the launcher."""
    import ast

    root = Path(__file__).resolve().parents[2] / "quantize"
    offenders = []
    for path in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            offenders += [f"{path.name}: {name}" for name in names if name.split(".")[0] == "server"]
    assert not offenders
