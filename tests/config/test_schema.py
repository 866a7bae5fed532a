"""The schema of spec §2.11 and how its violations read."""

from typing import Any

import pytest
from jsonschema import Draft4Validator

from ovms_cli.config.problems import Problem, json_path, schema_problems
from ovms_cli.config.schema import CONFIG_SCHEMA, MODEL_CONFIG_SCHEMA

SPEC_EXAMPLE: dict[str, Any] = {
    "model_config_list": [
        {
            "config": {
                "name": "resnet",
                "base_path": "models/resnet",
                "layout": "NHWC:NCHW",
                "plugin_config": {"PERFORMANCE_HINT": "THROUGHPUT"},
                "nireq": 8,
            }
        },
        {
            "config": {
                "name": "det",
                "base_path": "s3://bucket/det",
                "shape": {"data": "(1,3,-1,-1)"},
                "model_version_policy": {"latest": {"num_versions": 2}},
            }
        },
        {"config": {"name": "lstm", "base_path": "/m/lstm", "stateful": True, "max_sequence_number": 100}},
    ],
    "custom_node_library_config_list": [{"name": "crop", "base_path": "/libs/libcrop.so"}],
    "pipeline_config_list": [
        {
            "name": "detect_classify",
            "inputs": ["image"],
            "nodes": [
                {
                    "name": "d",
                    "type": "DL model",
                    "model_name": "det",
                    "inputs": [{"data": {"node_name": "request", "data_item": "image"}}],
                    "outputs": [{"data_item": "detection_out", "alias": "boxes"}],
                },
                {
                    "name": "c",
                    "type": "custom",
                    "library_name": "crop",
                    "params": {"max": "10"},
                    "demultiply_count": -1,
                    "inputs": [
                        {"image": {"node_name": "request", "data_item": "image"}},
                        {"boxes": {"node_name": "d", "data_item": "boxes"}},
                    ],
                    "outputs": [{"data_item": "crops", "alias": "crops"}],
                },
            ],
            "outputs": [{"probs": {"node_name": "c", "data_item": "crops"}}],
        }
    ],
    "monitoring": {"metrics": {"enable": True}},
}


def problems(doc: Any) -> list[str]:
    return [str(p) for p in schema_problems(doc, CONFIG_SCHEMA)]


def models(*configs: dict[str, Any]) -> dict[str, Any]:
    return {"model_config_list": [{"config": c} for c in configs]}


def model(**extra: Any) -> dict[str, Any]:
    return {"name": "m", "base_path": "/m", **extra}


def test_schemas_are_valid_draft4() -> None:
    Draft4Validator.check_schema(CONFIG_SCHEMA)
    Draft4Validator.check_schema(MODEL_CONFIG_SCHEMA)


@pytest.mark.parametrize(
    "doc",
    [
        SPEC_EXAMPLE,
        {"model_config_list": []},
        models(
            model(
                batch_size="auto",
                shape="auto",
                layout={"in": "NCHW"},
                model_version_policy={"all": {}},
                nireq=0,
                target_device="GPU",
                allow_cache=True,
                plugin_config={"A": "x", "B": 1, "C": 0.5, "D": True},
                stateful=True,
                idle_sequence_cleanup=False,
                low_latency_transformation=True,
                max_sequence_number=0,
                custom_loader_options={"loader_name": "l", "x": "y"},
            ),
            model(batch_size=4, model_version_policy={"specific": {"versions": [1, 2]}}),
        ),
        {"model_config_list": [{"config": model(), "comment": "extra keys beside config are accepted"}]},
        {
            "model_config_list": [],
            "custom_loader_config_list": [{"config": {"loader_name": "l", "library_path": "/l.so"}}],
            "mediapipe_config_list": [
                {"name": "g", "base_path": "/g", "graph_path": "g.pbtxt", "subconfig": "s"}
            ],
            "monitoring": {"metrics": {"enable": False, "metrics_list": ["ovms_requests_success"]}, "x": 1},
        },
    ],
)
def test_valid_documents(doc: Any) -> None:
    assert problems(doc) == []


@pytest.mark.parametrize(
    ("doc", "expected"),
    [
        ([], ["$: expected object"]),
        ({}, ['$: required key "model_config_list" is missing']),
        ({"model_config_list": [], "foo": 1, "bar": 2}, ['$: unknown key "foo"', '$: unknown key "bar"']),
        ({"model_config_list": {}}, ["model_config_list: expected array"]),
        ({"model_config_list": [{}]}, ['model_config_list[0]: required key "config" is missing']),
        ({"model_config_list": [{"config": []}]}, ["model_config_list[0].config: expected object"]),
        (
            models({}),
            [
                'model_config_list[0].config: required key "name" is missing',
                'model_config_list[0].config: required key "base_path" is missing',
            ],
        ),
        (models({"name": "m", "base_path": 5}), ["model_config_list[0].config.base_path: expected string"]),
        (models(model(foo=1)), ['model_config_list[0].config: unknown key "foo"']),
        (models(model(version=1)), ['model_config_list[0].config: unknown key "version"']),
        (models(model(nireq="4")), ["model_config_list[0].config.nireq: expected integer"]),
        (models(model(nireq=1.5)), ["model_config_list[0].config.nireq: expected integer"]),
        (models(model(nireq=-1)), ["model_config_list[0].config.nireq: must be >= 0"]),
        (
            models(model(max_sequence_number=-1)),
            ["model_config_list[0].config.max_sequence_number: must be >= 0"],
        ),
        (models(model(batch_size=-1)), ["model_config_list[0].config.batch_size: must be >= 0"]),
        (
            models(model(batch_size=[1])),
            ["model_config_list[0].config.batch_size: expected integer or string"],
        ),
        (models(model(shape=1)), ["model_config_list[0].config.shape: expected string or object"]),
        (models(model(shape={"in": 1})), ["model_config_list[0].config.shape.in: expected string"]),
        (models(model(layout={"in:0": []})), ['model_config_list[0].config.layout["in:0"]: expected string']),
        (models(model(stateful="yes")), ["model_config_list[0].config.stateful: expected boolean"]),
        (
            models(model(plugin_config={"A": [1]})),
            ["model_config_list[0].config.plugin_config.A: expected string, boolean or number"],
        ),
        (
            models(model(custom_loader_options={})),
            [
                'model_config_list[0].config.custom_loader_options: required key "loader_name" is missing',
                "model_config_list[0].config.custom_loader_options: must have at least 1 key",
            ],
        ),
        (
            models(model(name=1), model(nireq="x")),
            [
                "model_config_list[0].config.name: expected string",
                "model_config_list[1].config.nireq: expected integer",
            ],
        ),
    ],
)
def test_problems_name_path_and_reason(doc: Any, expected: list[str]) -> None:
    assert problems(doc) == expected


POLICY = "model_config_list[0].config.model_version_policy"
POLICY_SHAPES = (
    'expected exactly one of {"all": {}}, {"specific": {"versions": [1, 2]}} '
    'or {"latest": {"num_versions": 1}}'
)


@pytest.mark.parametrize(
    ("policy", "expected"),
    [
        ({}, [f"{POLICY}: {POLICY_SHAPES}"]),
        ("latest", [f"{POLICY}: {POLICY_SHAPES}"]),
        ({"newest": {}}, [f"{POLICY}: {POLICY_SHAPES}"]),
        ({"all": {}, "latest": {"num_versions": 1}}, [f"{POLICY}: {POLICY_SHAPES}"]),
        ({"all": {"x": 1}}, [f'{POLICY}.all: unknown key "x"']),
        ({"all": []}, [f"{POLICY}.all: expected object"]),
        ({"latest": {}}, [f'{POLICY}.latest: required key "num_versions" is missing']),
        ({"latest": {"num_versions": 0}}, [f"{POLICY}.latest.num_versions: must be >= 1"]),
        ({"latest": {"num_versions": 1, "n": 2}}, [f'{POLICY}.latest: unknown key "n"']),
        ({"specific": {"versions": [1, 0]}}, [f"{POLICY}.specific.versions[1]: must be >= 1"]),
        ({"specific": {"versions": "1"}}, [f"{POLICY}.specific.versions: expected array"]),
    ],
)
def test_version_policy_problems(policy: Any, expected: list[str]) -> None:
    assert problems(models(model(model_version_policy=policy))) == expected


NODE = "pipeline_config_list[0].nodes[0]"
NODE_KINDS = (
    'expected type "DL model" with model_name, type "custom" with library_name, or type "python" '
    "with handler (exactly one of the three)"
)


def pipeline(**node: Any) -> dict[str, Any]:
    full_node = {"name": "n", "inputs": [], "outputs": [], **node}
    return {
        "model_config_list": [],
        "pipeline_config_list": [{"name": "p", "inputs": [], "outputs": [], "nodes": [full_node]}],
    }


@pytest.mark.parametrize(
    ("node", "expected"),
    [
        ({"type": "DL model", "model_name": "m"}, []),
        ({"type": "custom", "library_name": "l"}, []),
        ({"type": "DL model"}, [f"{NODE}: {NODE_KINDS}"]),
        ({"type": "DL model", "library_name": "l"}, [f"{NODE}: {NODE_KINDS}"]),
        ({"type": "custom", "library_name": "l", "model_name": "m"}, [f"{NODE}: {NODE_KINDS}"]),
        ({"type": "python", "handler": "package.module:Class"}, []),
        ({"type": "python", "model_name": "m"}, [f"{NODE}: {NODE_KINDS}"]),
        ({"type": "python", "handler": "m:C", "library_name": "l"}, [f"{NODE}: {NODE_KINDS}"]),
        ({"type": "custom", "library_name": "l", "handler": "m:C"}, [f"{NODE}: {NODE_KINDS}"]),
        (
            {"type": "tensorflow", "model_name": "m"},
            [f'{NODE}.type: expected one of "DL model", "custom", "python"', f"{NODE}: {NODE_KINDS}"],
        ),
        ({"type": "DL model", "model_name": "m", "version": 0}, [f"{NODE}.version: must be >= 1"]),
        (
            {"type": "DL model", "model_name": "m", "demultiply_count": -2},
            [f"{NODE}.demultiply_count: must be >= -1"],
        ),
        (
            {"type": "DL model", "model_name": "m", "demultiply_count": 10001},
            [f"{NODE}.demultiply_count: must be <= 10000"],
        ),
        ({"type": "DL model", "model_name": "m", "params": {"a": 1}}, [f"{NODE}.params.a: expected string"]),
        ({"type": "DL model", "model_name": "m", "foo": 1}, [f'{NODE}: unknown key "foo"']),
        (
            {"type": "DL model", "model_name": "m", "inputs": [{}]},
            [f"{NODE}.inputs[0]: must have at least 1 key"],
        ),
        (
            {
                "type": "DL model",
                "model_name": "m",
                "inputs": [{"a": {"node_name": "x", "data_item": "y"}, "b": {}}],
            },
            [
                f'{NODE}.inputs[0].b: required key "node_name" is missing',
                f'{NODE}.inputs[0].b: required key "data_item" is missing',
                f"{NODE}.inputs[0]: must have at most 1 key",
            ],
        ),
        (
            {"type": "DL model", "model_name": "m", "outputs": [{"data_item": "a"}]},
            [f'{NODE}.outputs[0]: required key "alias" is missing'],
        ),
    ],
)
def test_node_problems(node: dict[str, Any], expected: list[str]) -> None:
    assert sorted(problems(pipeline(**node))) == sorted(expected)


@pytest.mark.parametrize(
    ("doc", "expected"),
    [
        (
            {"model_config_list": [], "pipeline_config_list": [{"name": "p"}]},
            [
                'pipeline_config_list[0]: required key "nodes" is missing',
                'pipeline_config_list[0]: required key "inputs" is missing',
                'pipeline_config_list[0]: required key "outputs" is missing',
            ],
        ),
        (
            {"model_config_list": [], "custom_node_library_config_list": [{"name": "l", "path": "/x"}]},
            [
                'custom_node_library_config_list[0]: required key "base_path" is missing',
                'custom_node_library_config_list[0]: unknown key "path"',
            ],
        ),
        ({"model_config_list": [], "monitoring": {}}, ['monitoring: required key "metrics" is missing']),
        (
            {"model_config_list": [], "monitoring": {"metrics": {"enable": 1, "endpoint_path": "/m"}}},
            [
                "monitoring.metrics.enable: expected boolean",
                'monitoring.metrics: unknown key "endpoint_path"',
            ],
        ),
        (
            {"model_config_list": [], "mediapipe_config_list": [{"graph_path": 1}]},
            [
                'mediapipe_config_list[0]: required key "name" is missing',
                "mediapipe_config_list[0].graph_path: expected string",
            ],
        ),
        (
            {
                "model_config_list": [],
                "custom_loader_config_list": [{"config": {"loader_name": "l", "x": 1}}],
            },
            [
                'custom_loader_config_list[0].config: required key "library_path" is missing',
                'custom_loader_config_list[0].config: unknown key "x"',
            ],
        ),
    ],
)
def test_other_sections(doc: Any, expected: list[str]) -> None:
    assert sorted(problems(doc)) == sorted(expected)


def test_model_config_schema_alone_with_prefix() -> None:
    found = schema_problems({"name": "m"}, MODEL_CONFIG_SCHEMA, "model_config_list[3].config")
    assert found == [Problem("model_config_list[3].config", 'required key "base_path" is missing')]


@pytest.mark.parametrize(
    ("prefix", "parts", "expected"),
    [
        ("", [], "$"),
        ("", ["a", 0, "b"], "a[0].b"),
        ("x", ["in:0", "é"], 'x["in:0"]["é"]'),
        ("--shape", ["in"], "--shape.in"),
        ("", [0], "[0]"),
    ],
)
def test_json_path(prefix: str, parts: list[str | int], expected: str) -> None:
    assert json_path(prefix, parts) == expected


def test_problem_str() -> None:
    assert str(Problem("model_config_list[0].config.base_path", "expected string")) == (
        "model_config_list[0].config.base_path: expected string"
    )
