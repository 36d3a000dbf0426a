"""The shipped Grafana dashboard only queries metrics the server really exports."""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx
import pytest

from launcher import ServerProcess

pytestmark = pytest.mark.server

DASHBOARD = Path(__file__).parents[2] / "docs" / "grafana" / "quantreason-dashboard.json"


def test_every_dashboard_query_names_an_exported_metric(server: ServerProcess) -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    exprs = [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]
    queried = {name for expr in exprs for name in re.findall(r"(?:vllm|quantreason):[a-z_]+", expr)}
    exported = set(
        re.findall(r"^((?:vllm|quantreason):[a-z_]+)", httpx.get(f"{server.url}/metrics").text, re.M)
    )
    assert len(queried) >= 10
    assert queried <= exported, f"not exported: {sorted(queried - exported)}"
    assert {"quantreason:requests_total", "quantreason:forced_thinking_ends_total"} <= queried
