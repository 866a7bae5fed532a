"""Every manifest under deploy/ against its schema, the chart rendered by Helm's own engine, and the
cross-references a schema cannot see (probes, ports, selectors, grace period against --shutdown_timeout).

Kubernetes' kinds: kubernetes-validate's bundled schemas, strict (unknown fields refused), for
K8S_VERSION. CRD kinds (ServingRuntime, InferenceService, ServiceMonitor): tests/deploy/crd_schemas/,
whose core types are kubernetes-validate's own definitions.
"""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path
from typing import Any

import helm_python as helm
import jsonschema
import kubernetes_validate
import pytest
import yaml
from deploy.chart import CHART, render
from deploy.readme import deploy_commands
from referencing import Registry, Resource

from ovms_cli.config.server_config import load_config

ROOT = Path(__file__).resolve().parents[2]
MANIFEST_FILES = sorted(
    [*(ROOT / "deploy" / "kubernetes").glob("*.yaml"), *(ROOT / "deploy" / "kserve").glob("*.yaml")]
)
K8S_VERSION = "1.30"  # the oldest release still in the clouds' extended support; newer ones accept it
CRD_SCHEMAS = {
    "ServingRuntime": "servingruntime.json",
    "InferenceService": "inferenceservice.json",
    "ServiceMonitor": "servicemonitor.json",
}
GRACE_MARGIN_SECONDS = 10  # values.yaml's termination_grace_margin_seconds


def documents(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def _crd_validator(kind: str) -> jsonschema.Draft202012Validator:
    folder = Path(kubernetes_validate.__file__).parent / "kubernetes-json-schema"
    strict = sorted(folder.glob(f"v{K8S_VERSION}.*-local-strict"))[-1]
    definitions = json.loads((strict / "_definitions.json").read_text())
    schema = json.loads((Path(__file__).parent / "crd_schemas" / CRD_SCHEMAS[kind]).read_text())
    registry: Registry[Any] = Registry().with_resource(
        "/api/_definitions.json", Resource.from_contents(definitions)
    )
    return jsonschema.Draft202012Validator(schema, registry=registry)


def validate(doc: dict[str, Any]) -> None:
    """Raise (kubernetes_validate's or jsonschema's ValidationError) unless DOC fits its kind's schema."""
    if doc["kind"] in CRD_SCHEMAS:
        _crd_validator(doc["kind"]).validate(doc)
    else:
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)


# A value set the committed manifests do not cover: Azure credentials and models on a node folder.
AZURE_HOST_PATH = {
    "model_name": "resnet",
    "model_path": "az://models/resnet",
    "azure_creds_secret_name": "azure-creds",
    "http_proxy": "http://proxy:3128",
    "https_proxy": "http://proxy:3128",
    "models_host_path": "/srv/models",
}

ALL_DOCUMENTS = [
    pytest.param(doc, id=f"{path.relative_to(ROOT)}:{doc['kind']}")
    for path in MANIFEST_FILES
    for doc in documents(path)
]


def test_every_manifest_folder_has_manifests() -> None:
    kinds = {doc.values[0]["kind"] for doc in ALL_DOCUMENTS}  # type: ignore[index]
    assert {"Deployment", "Service", "ConfigMap", "HorizontalPodAutoscaler", "ServiceMonitor"} <= kinds
    assert {"ServingRuntime", "InferenceService"} <= kinds


@pytest.mark.parametrize("doc", ALL_DOCUMENTS)
def test_manifest_fits_its_schema(doc: dict[str, Any]) -> None:
    validate(doc)


def test_a_value_set_beyond_the_committed_ones_renders_valid_manifests() -> None:
    docs = render(AZURE_HOST_PATH)
    for doc in docs:
        validate(doc)
    pod = _one(docs, "Deployment")["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert container["envFrom"] == [{"secretRef": {"name": "azure-creds"}}]
    assert {"hostPath": {"path": "/srv/models", "type": "Directory"}, "name": "models"} in pod["volumes"]


@pytest.mark.parametrize(
    ("kind", "breakage"),
    [
        ("Deployment", lambda d: d["spec"]["template"]["spec"]["containers"][0].update(containerPorts=[])),
        ("Service", lambda d: d["spec"]["ports"][0].update(port="9000")),
        ("ServingRuntime", lambda d: d["spec"].update(protocolVersions=["v3"])),
        ("ServingRuntime", lambda d: d["spec"]["containers"][0].update(arg=["--port=9000"])),
        ("InferenceService", lambda d: d["spec"]["predictor"]["model"].pop("modelFormat")),
        ("ServiceMonitor", lambda d: d["spec"]["endpoints"][0].update(interval="30 seconds")),
    ],
)
def test_the_validation_refuses_a_broken_manifest(kind: str, breakage: Any) -> None:
    doc = copy.deepcopy(next(p.values[0] for p in ALL_DOCUMENTS if p.values[0]["kind"] == kind))  # type: ignore[index]
    breakage(doc)
    with pytest.raises((jsonschema.ValidationError, kubernetes_validate.ValidationError)):
        validate(doc)


@pytest.mark.parametrize("values_file", sorted((CHART / "ci").glob("*-values.yaml")), ids=lambda p: p.name)
def test_helm_lint_passes_strict(values_file: Path) -> None:
    report = helm.lint(CHART, yaml.safe_load(values_file.read_text()), strict=True)
    problems = [m for m in report["messages"] if m["severity"] >= 2]
    assert (problems, report["errors"]) == ([], [])


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({}, "set model_name and model_path, or config_configmap_name / config_json"),
        (
            {"model_name": "m", "model_path": "/models/m", "config_configmap_name": "c"},
            "set either model_name and model_path, or config_configmap_name / config_json, not both",
        ),
        (
            {"model_name": "m", "model_path": "s3://b/m", "aws_secret_access_key": "x"},
            "aws_secret_access_key is not taken as a value: put the credential in a Secret and set aws_creds_secret_name",
        ),
        (
            {"model_name": "m", "model_path": "az://c/m", "azure_storage_connection_string": "x"},
            "put the credential in a Secret and set azure_creds_secret_name",
        ),
        (
            {"config_json": "{}", "nireq": 2},
            "nireq is a single-model option: in config mode set it in config.json",
        ),
        ({"config_configmap_name": "c", "shape": "auto"}, "shape is a single-model option"),
        ({"model_name": "m", "model_path": "/models/m", "rest_port": 0}, "rest_port must be set"),
        (
            {"model_name": "m", "model_path": "/models/m", "service_monitor": {"enabled": True}},
            "service_monitor.enabled needs metrics_enable",
        ),
    ],
)
def test_the_chart_refuses_values_it_cannot_honour(values: dict[str, Any], message: str) -> None:
    with pytest.raises(helm.HelmError) as refused:
        render(values)
    assert message in str(refused.value)


def _one(docs: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    (found,) = [doc for doc in docs if doc["kind"] == kind]
    return found


def _args(container: dict[str, Any]) -> dict[str, str]:
    return dict(arg.removeprefix("--").partition("=")[::2] for arg in container["args"])


@pytest.mark.parametrize(
    "path", sorted((ROOT / "deploy" / "kubernetes").glob("*.yaml")), ids=lambda p: p.name
)
def test_the_pod_probes_ports_and_grace_period_match_the_server_command_line(path: Path) -> None:
    docs = documents(path)
    deployment, service = _one(docs, "Deployment"), _one(docs, "Service")
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    args = _args(container)
    ports = {port["name"]: port["containerPort"] for port in container["ports"]}
    assert ports == {"grpc": int(args["port"]), "http": int(args["rest_port"])}
    probes = {
        name: container[name]["httpGet"] for name in ("startupProbe", "livenessProbe", "readinessProbe")
    }
    assert probes == {
        "startupProbe": {"path": "/v2/health/ready", "port": "http"},
        "livenessProbe": {"path": "/v2/health/live", "port": "http"},
        "readinessProbe": {"path": "/v2/health/ready", "port": "http"},
    }
    shutdown = float(args["shutdown_timeout"])
    assert pod["terminationGracePeriodSeconds"] == math.ceil(shutdown) + GRACE_MARGIN_SECONDS
    assert deployment["spec"]["selector"]["matchLabels"] == service["spec"]["selector"]
    assert service["spec"]["selector"].items() <= deployment["spec"]["template"]["metadata"]["labels"].items()
    assert {p["targetPort"] for p in service["spec"]["ports"]} <= set(ports)


def test_the_service_monitor_scrapes_the_metrics_the_server_serves() -> None:
    docs = documents(ROOT / "deploy" / "kubernetes" / "single-model.yaml")
    monitor, service = _one(docs, "ServiceMonitor"), _one(docs, "Service")
    container = _one(docs, "Deployment")["spec"]["template"]["spec"]["containers"][0]
    assert "--metrics_enable" in container["args"]
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    assert monitor["spec"]["endpoints"] == [{"port": "http", "path": "/metrics", "interval": "30s"}]
    assert "http" in {port["name"] for port in service["spec"]["ports"]}


def test_the_autoscaler_owns_the_replica_count() -> None:
    docs = documents(ROOT / "deploy" / "kubernetes" / "single-model.yaml")
    hpa, deployment = _one(docs, "HorizontalPodAutoscaler"), _one(docs, "Deployment")
    target = hpa["spec"]["scaleTargetRef"]
    assert (target["apiVersion"], target["kind"], target["name"]) == (
        "apps/v1",
        "Deployment",
        deployment["metadata"]["name"],
    )
    assert "replicas" not in deployment["spec"]


def test_a_config_map_holds_a_config_json_the_server_takes(tmp_path: Path) -> None:
    docs = documents(ROOT / "deploy" / "kubernetes" / "config.yaml")
    config = tmp_path / "config.json"
    config.write_text(_one(docs, "ConfigMap")["data"]["config.json"])
    loaded = load_config(config, check_paths=False)
    assert [(m.name, str(m.base_path)) for m in loaded.models] == [
        ("resnet", "/models/resnet"),
        ("bert", "/models/bert"),
    ]
    container = _one(docs, "Deployment")["spec"]["template"]["spec"]["containers"][0]
    assert _args(container)["config_path"] == "/config/config.json"


def test_the_serving_runtime_and_the_inference_service_fit_together() -> None:
    runtime = documents(ROOT / "deploy" / "kserve" / "servingruntime.yaml")[0]
    service = documents(ROOT / "deploy" / "kserve" / "inferenceservice.yaml")[0]
    model = service["spec"]["predictor"]["model"]
    assert model["runtime"] == runtime["metadata"]["name"]
    assert model["modelFormat"]["name"] in {f["name"] for f in runtime["spec"]["supportedModelFormats"]}
    assert {f["name"] for f in runtime["spec"]["supportedModelFormats"]} == {"openvino_ir", "onnx"}
    assert model["protocolVersion"] in runtime["spec"]["protocolVersions"]
    assert runtime["spec"]["protocolVersions"] == ["v2"]
    (container,) = runtime["spec"]["containers"]
    args = _args(container)
    assert (args["model_path"], args["model_name"]) == ("/mnt/models", "{{.Name}}")
    assert runtime["spec"]["annotations"]["prometheus.kserve.io/port"] == args["rest_port"]
    assert "metrics_enable" in args


# KServe's protocol versions and the port kind (Knative's port name) each needs.
PROTOCOL_PORT_NAMES = {"v1": "http1", "v2": "http1", "grpc-v1": "h2c", "grpc-v2": "h2c"}
PORT_ARGUMENTS = {"http1": "rest_port", "h2c": "port"}


def protocol_port_problems(runtime: dict[str, Any]) -> list[str]:
    """Where a ServingRuntime declares a protocol without a port of its kind, or a port the server
    does not listen on. Knative routes exactly one port per container, 8080 http1 when none is
    declared, so every protocol must share that one port's kind."""
    (container,) = runtime["spec"]["containers"]
    ports = container.get("ports") or [{"name": "http1", "containerPort": 8080}]
    args = _args(container)
    problems = [f"{len(ports)} ports: Knative routes one"] if len(ports) != 1 else []
    for port in ports:
        argument = PORT_ARGUMENTS.get(port.get("name", "http1"))
        if argument is None or args.get(argument) != str(port["containerPort"]):
            problems.append(f"port {port} is not the server's --{argument}")
    names = {port.get("name", "http1") for port in ports}
    for protocol in runtime["spec"]["protocolVersions"]:
        if PROTOCOL_PORT_NAMES[protocol] not in names:
            problems.append(
                f"{protocol} needs a {PROTOCOL_PORT_NAMES[protocol]} port; declared: {sorted(names)}"
            )
    return problems


def test_the_serving_runtime_declares_a_port_for_every_protocol() -> None:
    runtime = documents(ROOT / "deploy" / "kserve" / "servingruntime.yaml")[0]
    assert protocol_port_problems(runtime) == []


def test_the_protocol_port_check_finds_the_mismatches() -> None:
    runtime = documents(ROOT / "deploy" / "kserve" / "servingruntime.yaml")[0]
    grpc_on_rest = copy.deepcopy(runtime)
    grpc_on_rest["spec"]["protocolVersions"] = ["v2", "grpc-v2"]
    assert protocol_port_problems(grpc_on_rest) == ["grpc-v2 needs a h2c port; declared: ['http1']"]
    wrong_port = copy.deepcopy(runtime)
    wrong_port["spec"]["containers"][0]["ports"][0]["containerPort"] = 9000
    assert len(protocol_port_problems(wrong_port)) == 1
    grpc_only = copy.deepcopy(runtime)
    grpc_only["spec"]["containers"][0]["ports"] = [{"name": "h2c", "containerPort": 9000}]
    grpc_only["spec"]["protocolVersions"] = ["grpc-v2"]
    assert protocol_port_problems(grpc_only) == []


@pytest.mark.parametrize("command", deploy_commands("helm", "install"), ids=lambda c: c[-1][:60])
def test_the_readme_helm_install_lines_render_valid_manifests(command: list[str]) -> None:
    _release, chart = command[2:4]
    assert ROOT / chart == CHART
    values = helm.parse_set_string(command[command.index("--set") + 1])
    docs = render(values)
    for doc in docs:
        validate(doc)
    args = _args(_one(docs, "Deployment")["spec"]["template"]["spec"]["containers"][0])
    assert (args["model_name"], args["model_path"]) == (values["model_name"], values["model_path"])


def test_the_readme_gcs_secret_is_where_the_chart_reads_it() -> None:
    ((*_, secret, _from_file, key_file),) = deploy_commands("kubectl", "create")
    (gcs,) = [c for c in deploy_commands("helm", "install") if "gcp_creds_secret_name" in c[-1]]
    pod = _one(render(helm.parse_set_string(gcs[-1])), "Deployment")["spec"]["template"]["spec"]
    env = {e["name"]: e["value"] for e in pod["containers"][0]["env"]}
    mount = next(m for m in pod["containers"][0]["volumeMounts"] if m["name"] == "gcp-creds")
    assert env["GOOGLE_APPLICATION_CREDENTIALS"] == f"{mount['mountPath']}/{key_file}"
    assert {"name": "gcp-creds", "secret": {"secretName": secret}} in pod["volumes"]


def test_the_readme_kubectl_apply_lines_name_validated_manifests() -> None:
    applied = [ROOT / command[-1] for command in deploy_commands("kubectl", "apply")]
    assert applied
    assert set(applied) <= set(MANIFEST_FILES)
