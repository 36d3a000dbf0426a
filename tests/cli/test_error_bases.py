"""Each package has one base exception, whose message is the CLI's one line; every error it defines
derives from it, so a CLI catches one type (private control-flow exceptions aside)."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import pytest

BASES = {
    "evalclient": ("evalclient.errors", "EvalclientError"),
    "loadtest": ("loadtest.errors", "LoadtestError"),
    "quantize": ("quantize.errors", "QuantizeError"),
    "server": ("server.errors", "ServerError"),
}
# Not errors a CLI reports: raised inside a sandboxed child to stop a test case.
EXEMPT = {"evalclient.benchmarks.livecodebench_harness.TestTimeout"}


@pytest.mark.parametrize("package", sorted(BASES))
def test_every_error_derives_from_the_package_base(package: str) -> None:
    module_name, base_name = BASES[package]
    base = getattr(importlib.import_module(module_name), base_name)
    root = importlib.import_module(package)
    strays = []
    for info in pkgutil.walk_packages(root.__path__, f"{package}."):
        if info.name.endswith(("__main__", "sandbox_entry")):
            continue
        module = importlib.import_module(info.name)
        for name, cls in inspect.getmembers(module, inspect.isclass):
            qualified = f"{module.__name__}.{name}"
            if (
                cls.__module__ == module.__name__
                and issubclass(cls, BaseException)
                and not name.startswith("_")
                and qualified not in EXEMPT
                and not issubclass(cls, base)
            ):
                strays.append(qualified)
    assert not strays, f"not derived from {base_name}: {strays}"
