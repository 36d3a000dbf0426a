"""values.schema.json rejects bad values before anything renders, naming the key and the reason."""

from __future__ import annotations

from typing import Any

import helm_python as helm
import pytest

from tests.helm.chart import CHART_DIR, example_values, render

BAD_VALUES: list[tuple[str, dict[str, Any], str]] = [
    (
        "string GPU count",
        {"resources": {"gpu": {"count": "2"}}},
        "at '/resources/gpu/count': got string, want null or integer",
    ),
    (
        "negative GPU count",
        {"resources": {"gpu": {"count": -1}}},
        "at '/resources/gpu/count': minimum: got -1, want 0",
    ),
    (
        "inline HF token",
        {"hfToken": {"value": "hf_secret"}},
        "at '/hfToken': additional properties 'value' not allowed",
    ),
    (
        "inline API key",
        {"serve": {"apiKey": "sk-123"}},
        "at '/serve/apiKey': got string, want object",
    ),
    (
        "zero tensor parallelism",
        {"serve": {"tensorParallelSize": 0}},
        "at '/serve/tensorParallelSize': minimum: got 0, want 1",
    ),
    (
        "unknown KV-cache dtype",
        {"serve": {"kvCacheDtype": "int3"}},
        "at '/serve/kvCacheDtype': value must be one of 'auto'",
    ),
    (
        "unknown effort level",
        {"serve": {"thinking": {"effortBudgets": {"extreme": 100000}}}},
        "at '/serve/thinking/effortBudgets': additional properties 'extreme' not allowed",
    ),
    (
        "unknown quantization scheme",
        {"quantize": {"enabled": True, "scheme": "w2a2"}},
        "at '/quantize/scheme': 'w2a2' does not match pattern",
    ),
    (
        "autoscaler kind",
        {"autoscaling": {"enabled": True, "kind": "vpa"}},
        "at '/autoscaling/kind': value must be one of 'hpa', 'keda'",
    ),
    (
        "misspelled top-level key",
        {"replicas": 3},
        "additional properties 'replicas' not allowed",
    ),
    (
        "GPU utilization above 1",
        {"serve": {"gpuMemoryUtilization": 1.5}},
        "at '/serve/gpuMemoryUtilization': maximum: got 1.5, want 1",
    ),
    (
        "quantity that is not one",
        {"shm": {"sizeLimit": "lots"}},
        "at '/shm/sizeLimit': 'lots' does not match pattern",
    ),
]


@pytest.mark.parametrize(
    ("values", "message"), [case[1:] for case in BAD_VALUES], ids=[c[0] for c in BAD_VALUES]
)
def test_bad_values_are_rejected_with_a_clear_message(values: dict[str, Any], message: str) -> None:
    with helm.Chart.load(CHART_DIR) as chart, pytest.raises(helm.HelmValuesError) as excinfo:
        chart.validate_schema(values)
    assert message in str(excinfo.value)
    # `helm install` / `helm template` stop on the same message before rendering anything.
    with pytest.raises(helm.HelmValuesError, match="quantreason:"):
        render(values)


@pytest.mark.parametrize(
    "example",
    [
        "cpu-smoke",
        "single-gpu",
        "tensor-parallel",
        "tp2-w4a16-32b",
        "quantize",
        "autoscaling-hpa",
        "autoscaling-keda",
    ],
)
def test_the_examples_satisfy_the_schema(example: str) -> None:
    with helm.Chart.load(CHART_DIR) as chart:
        chart.validate_schema(example_values(example))


def test_more_shards_than_gpus_fails_with_a_clear_message() -> None:
    """The schema cannot compare two keys: the template does, before Kubernetes would schedule it."""
    values = {
        "resources": {"gpu": {"count": 2}},
        "serve": {"tensorParallelSize": 2, "pipelineParallelSize": 2},
    }
    with pytest.raises(helm.HelmRenderError) as excinfo:
        render(values)
    assert (
        "serve.tensorParallelSize x pipelineParallelSize x dataParallelSize (4) needs that many GPUs per "
        "replica, but resources.gpu.count is 2" in str(excinfo.value)
    )


def test_quantize_without_a_volume_fails_with_a_clear_message() -> None:
    with pytest.raises(helm.HelmRenderError, match=r"quantize\.enabled needs storage\.enabled"):
        render({"quantize": {"enabled": True}, "storage": {"enabled": False}})
