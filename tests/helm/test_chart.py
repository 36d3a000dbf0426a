"""The chart lints, renders for every example values file, and every object validates; key fields hold."""

from __future__ import annotations

import copy
import json

import helm_python as helm
import pytest

from tests.helm.chart import (
    CHART_DIR,
    EXAMPLES_DIR,
    KUBE_VERSIONS,
    NAMESPACE,
    REPO,
    container,
    env_of,
    example_values,
    find,
    only,
    render,
    render_templates,
    validation_errors,
)

EXAMPLES = sorted(path.stem.removeprefix("values-") for path in EXAMPLES_DIR.glob("values-*.yaml"))
GPU = "nvidia.com/gpu"


def serve_container(manifests: list[dict]) -> dict:
    return container(only(manifests, "Deployment")["spec"]["template"]["spec"], "serve")


def test_the_examples_cover_the_deployments_the_guide_describes() -> None:
    assert set(EXAMPLES) >= {
        "cpu-smoke",
        "single-gpu",
        "tensor-parallel",
        "quantize",
        "autoscaling-hpa",
        "autoscaling-keda",
    }


@pytest.mark.parametrize("example", ["defaults", *EXAMPLES])
def test_helm_lint_is_clean(example: str) -> None:
    values = {} if example == "defaults" else example_values(example)
    report = helm.lint(CHART_DIR, values, strict=True, namespace=NAMESPACE)
    # Severity 1 is informational ("icon is recommended"); warnings and errors fail.
    problems = [m for m in report["messages"] if m["severity"] >= 2] + report["errors"]
    assert report["total_charts_linted"] == 1
    assert not problems, problems


@pytest.mark.parametrize("kube_version", KUBE_VERSIONS)
@pytest.mark.parametrize("example", ["defaults", *EXAMPLES])
def test_every_rendered_object_validates(example: str, kube_version: str) -> None:
    manifests = render({} if example == "defaults" else example_values(example))
    assert find(manifests, "Deployment") and find(manifests, "Service")
    errors = [error for manifest in manifests for error in validation_errors(manifest, kube_version)]
    assert not errors, "\n".join(errors)


def test_the_validation_catches_broken_objects() -> None:
    """The schemas are really applied: a wrong type, an unknown field, a bad CRD field each fail."""
    manifests = render(example_values("autoscaling-keda"))
    deployment = copy.deepcopy(only(manifests, "Deployment"))
    serve = container(deployment["spec"]["template"]["spec"], "serve")
    serve["startupProbe"]["failureThreshold"] = "many"
    serve["shmSize"] = "16Gi"
    errors = list(validation_errors(deployment, KUBE_VERSIONS[-1]))
    assert any("failureThreshold" in e and "'many' is not of type 'integer'" in e for e in errors), errors
    assert any("'shmSize' was unexpected" in e for e in errors), errors

    monitor = copy.deepcopy(only(manifests, "ServiceMonitor"))
    monitor["spec"]["endpoints"][0]["interval"] = "15 seconds"
    assert any("interval" in e for e in validation_errors(monitor, KUBE_VERSIONS[-1]))

    scaled = copy.deepcopy(only(manifests, "ScaledObject"))
    scaled["spec"]["triggers"][0]["metadata"]["threshold"] = 4  # KEDA wants strings here
    assert any("threshold" in e and "not of type 'string'" in e for e in validation_errors(scaled, "1.37.0"))


def test_single_gpu_deployment() -> None:
    manifests = render(example_values("single-gpu"))
    pod = only(manifests, "Deployment")["spec"]["template"]["spec"]
    serve = serve_container(manifests)

    assert serve["resources"]["limits"][GPU] == 1 and serve["resources"]["requests"][GPU] == 1
    assert pod["nodeSelector"] == {"nvidia.com/gpu.product": "NVIDIA-L40S"}
    assert pod["runtimeClassName"] == "nvidia"
    assert {"key": GPU, "operator": "Exists", "effect": "NoSchedule"} in pod["tolerations"]

    # Secrets are referenced, never rendered: no Secret object, no literal value in any env entry.
    assert not find(manifests, "Secret")
    env = env_of(serve)
    assert env["HF_TOKEN"]["valueFrom"]["secretKeyRef"] == {"name": "hf-token", "key": "token"}
    assert env["QUANTREASON_API_KEY"]["valueFrom"]["secretKeyRef"] == {
        "name": "quantreason-api-key",
        "key": "api-key",
    }
    assert "--api-key=$(QUANTREASON_API_KEY)" in serve["args"]
    assert env["HF_HOME"]["value"] == "/data/hf-cache"

    # Large models load for minutes: the startup probe allows long, then liveness and readiness take over.
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        assert serve[probe]["httpGet"] == {"path": "/health", "port": "http"}
    startup = serve["startupProbe"]
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 20 * 60

    volumes = {volume["name"]: volume for volume in pod["volumes"]}
    assert volumes["shm"]["emptyDir"]["medium"] == "Memory"
    mounts = {mount["name"]: mount["mountPath"] for mount in serve["volumeMounts"]}
    assert mounts == {"shm": "/dev/shm", "data": "/data"}
    claim = only(manifests, "PersistentVolumeClaim")
    assert volumes["data"]["persistentVolumeClaim"]["claimName"] == claim["metadata"]["name"]
    assert claim["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"

    assert pod["securityContext"]["runAsNonRoot"] is True
    assert serve["securityContext"]["allowPrivilegeEscalation"] is False
    assert pod["automountServiceAccountToken"] is False

    service = only(manifests, "Service")
    assert service["spec"]["ports"][0]["targetPort"] == "http"
    monitor = only(manifests, "ServiceMonitor")
    assert monitor["spec"]["endpoints"][0]["port"] == "http"
    assert monitor["spec"]["endpoints"][0]["path"] == "/metrics"
    assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    assert monitor["spec"]["selector"]["matchLabels"] == service["spec"]["selector"]


def test_grafana_dashboard_configmap_ships_the_servers_dashboard() -> None:
    manifests = render(example_values("single-gpu"))
    configmap = only(manifests, "ConfigMap")
    assert configmap["metadata"]["labels"]["grafana_dashboard"] == "1"
    shipped = json.loads(configmap["data"]["quantreason-dashboard.json"])
    assert shipped == json.loads((REPO / "docs/grafana/quantreason-dashboard.json").read_text())


def test_the_charts_dashboard_copy_equals_the_servers_dashboard() -> None:
    """Helm reads files only inside the chart: the copy there must not drift from docs/grafana/."""
    copy_in_chart = (CHART_DIR / "dashboards/quantreason-dashboard.json").read_bytes()
    assert copy_in_chart == (REPO / "docs/grafana/quantreason-dashboard.json").read_bytes(), (
        "cp docs/grafana/quantreason-dashboard.json helm/dashboards/"
    )


def test_cpu_smoke_requests_no_gpu_and_no_volume() -> None:
    manifests = render(example_values("cpu-smoke"))
    pod = only(manifests, "Deployment")["spec"]["template"]["spec"]
    serve = serve_container(manifests)
    assert GPU not in serve["resources"]["limits"] and GPU not in serve["resources"]["requests"]
    assert "tolerations" not in pod and "nodeSelector" not in pod
    assert not find(manifests, "PersistentVolumeClaim")
    assert [mount["mountPath"] for mount in serve["volumeMounts"]] == ["/dev/shm"]
    assert {"--enforce-eager", "--gpu-memory-utilization=0.2", "--thinking-budget=256"} <= set(serve["args"])
    assert "HF_TOKEN" not in env_of(serve)


def test_tensor_parallel_gets_as_many_gpus_as_shards() -> None:
    manifests = render(example_values("tensor-parallel"))
    pod = only(manifests, "Deployment")["spec"]["template"]["spec"]
    serve = serve_container(manifests)
    assert "--tensor-parallel-size=4" in serve["args"]
    assert serve["resources"]["limits"][GPU] == 4
    assert pod["nodeSelector"]["nvidia.com/gpu.product"] == "NVIDIA-H100-80GB-HBM3"
    terms = pod["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    assert terms["nodeSelectorTerms"][0]["matchExpressions"][0]["key"] == "nvidia.com/gpu.count"
    shm = next(v for v in pod["volumes"] if v["name"] == "shm")
    assert shm["emptyDir"] == {"medium": "Memory", "sizeLimit": "32Gi"}


def test_parallelism_sets_the_gpus_and_shm_a_replica_gets() -> None:
    """resources.gpu.count and shm.sizeLimit left null follow tensor x pipeline x data parallelism."""
    defaults = only(render({}), "Deployment")["spec"]["template"]["spec"]
    assert container(defaults, "serve")["resources"]["limits"][GPU] == 1
    assert next(v for v in defaults["volumes"] if v["name"] == "shm")["emptyDir"]["sizeLimit"] == "8Gi"

    manifests = render(example_values("tp2-w4a16-32b"))
    pod = only(manifests, "Deployment")["spec"]["template"]["spec"]
    serve = serve_container(manifests)
    assert "--tensor-parallel-size=2" in serve["args"]
    assert serve["resources"]["limits"][GPU] == serve["resources"]["requests"][GPU] == 2
    assert next(v for v in pod["volumes"] if v["name"] == "shm")["emptyDir"]["sizeLimit"] == "16Gi"
    assert "--model=/data/artifacts/deepseek-ai--deepseek-r1-distill-qwen-32b-w4a16" in serve["args"]

    shards = {"serve": {"tensorParallelSize": 2, "pipelineParallelSize": 2, "dataParallelSize": 2}}
    assert serve_container(render(shards))["resources"]["limits"][GPU] == 8


def test_nvlink_multicast_is_off_in_every_gpu_container() -> None:
    manifests = render(example_values("tp2-w4a16-32b"))
    job = only(manifests, "Job")["spec"]["template"]["spec"]["containers"][0]
    for env in (env_of(serve_container(manifests)), env_of(job)):
        assert env["NCCL_NVLS_ENABLE"]["value"] == "0"
        assert env["TORCH_SYMM_MEM_DISABLE_MULTICAST"]["value"] == "1"
        assert env["NVSHMEM_DISABLE_NVLS"]["value"] == "1"


def test_a_custom_gpu_resource_name_is_used_everywhere() -> None:
    values = example_values("quantize", overrides={"resources": {"gpu": {"resourceName": "amd.com/gpu"}}})
    manifests = render(values)
    assert serve_container(manifests)["resources"]["limits"]["amd.com/gpu"] == 1
    job_container = only(manifests, "Job")["spec"]["template"]["spec"]["containers"][0]
    assert job_container["resources"]["limits"]["amd.com/gpu"] == 1
    assert GPU not in json.dumps([serve_container(manifests)["resources"], job_container["resources"]])


def test_quantize_job_feeds_the_server_through_the_volume() -> None:
    manifests = render(example_values("quantize"))
    job = only(manifests, "Job")
    job_pod = job["spec"]["template"]["spec"]
    quantize = job_pod["containers"][0]
    deployment_pod = only(manifests, "Deployment")["spec"]["template"]["spec"]
    serve = container(deployment_pod, "serve")
    wait = container(deployment_pod, "wait-for-artifact", init=True)

    artifact = env_of(quantize)["ARTIFACT"]["value"]
    assert artifact == "/data/artifacts/deepseek-ai--deepseek-r1-distill-qwen-14b-w4a16"
    assert env_of(wait)["ARTIFACT"]["value"] == artifact
    assert env_of(wait)["QUANTIZE_JOB"]["value"] == job["metadata"]["name"]
    assert "quantreason.json" in wait["args"][0]
    assert f"--model={artifact}" in serve["args"]
    assert "--served-model-name=r1-distill-qwen-14b-w4a16" in serve["args"]

    assert quantize["image"] == "quantreason:0.1.0-quantize"
    assert quantize["resources"]["limits"][GPU] == 1
    assert env_of(quantize)["SCHEME"]["value"] == "w4a16"
    assert env_of(quantize)["HF_TOKEN"]["valueFrom"]["secretKeyRef"]["name"] == "hf-token"
    assert job_pod["restartPolicy"] == "Never"
    assert job["spec"]["activeDeadlineSeconds"] == 14400
    claim = only(manifests, "PersistentVolumeClaim")["metadata"]["name"]
    for pod in (job_pod, deployment_pod):
        data = next(v for v in pod["volumes"] if v["name"] == "data")
        assert data["persistentVolumeClaim"]["claimName"] == claim


def test_quantize_job_name_follows_its_configuration() -> None:
    """A Job's template is immutable: a changed quantization must be a new Job, an unchanged one not."""

    def job_name(**quantize: object) -> str:
        return only(render(example_values("quantize", overrides={"quantize": quantize})), "Job")["metadata"][
            "name"
        ]

    assert job_name() == job_name(waitTimeoutSeconds=60)
    assert job_name() != job_name(scheme="w8a8-int8")
    assert job_name() != job_name(numSamples=128)
    assert len(job_name()) <= 63


def test_existing_claim_is_used_and_not_created() -> None:
    manifests = render(example_values("quantize", overrides={"storage": {"existingClaim": "models"}}))
    assert not find(manifests, "PersistentVolumeClaim")
    job_pod = only(manifests, "Job")["spec"]["template"]["spec"]
    assert {"name": "data", "persistentVolumeClaim": {"claimName": "models"}} in job_pod["volumes"]


def test_hpa_scales_on_requests_waiting() -> None:
    manifests = render(example_values("autoscaling-hpa"))
    deployment = only(manifests, "Deployment")
    assert "replicas" not in deployment["spec"], "the autoscaler owns the replica count"
    hpa = only(manifests, "HorizontalPodAutoscaler")
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": deployment["metadata"]["name"],
    }
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (2, 8)
    metric = hpa["spec"]["metrics"][0]["pods"]
    assert metric["metric"]["name"] == "vllm_num_requests_waiting"
    assert metric["target"] == {"type": "AverageValue", "averageValue": "4"}
    assert not find(manifests, "ScaledObject")
    pdb = only(manifests, "PodDisruptionBudget")
    assert pdb["spec"]["selector"]["matchLabels"] == only(manifests, "Service")["spec"]["selector"]


def test_keda_scales_on_requests_waiting() -> None:
    manifests = render(example_values("autoscaling-keda"))
    scaled = only(manifests, "ScaledObject")
    assert "replicas" not in only(manifests, "Deployment")["spec"]
    assert not find(manifests, "HorizontalPodAutoscaler")
    trigger = scaled["spec"]["triggers"][0]
    assert trigger["type"] == "prometheus" and trigger["metricType"] == "AverageValue"
    assert trigger["metadata"] == {
        "serverAddress": "http://prometheus-operated.monitoring.svc:9090",
        "query": 'sum(vllm:num_requests_waiting{namespace="llm",service="demo-quantreason"})',
        "threshold": "4",
    }
    assert (scaled["spec"]["minReplicaCount"], scaled["spec"]["maxReplicaCount"]) == (1, 8)


def test_keda_without_a_prometheus_address_fails_with_a_clear_message() -> None:
    values = example_values("autoscaling-keda", overrides={"autoscaling": {"keda": {"serverAddress": ""}}})
    with pytest.raises(helm.HelmRenderError, match=r"autoscaling.keda.serverAddress: the Prometheus URL"):
        render(values)


def test_notes_tell_how_to_call_the_server() -> None:
    notes = render_templates(example_values("single-gpu"))["quantreason/templates/NOTES.txt"]
    assert "kubectl --namespace llm port-forward service/demo-quantreason 8000:8000" in notes
    assert "get secret quantreason-api-key" in notes
    assert '"model": "r1-distill-qwen-7b"' in notes
    assert "/v1/chat/completions" in notes
