"""``validate-config`` on pipelines: OVMS's rules (spec §8.6) against models read from their folders."""

import io
import json
from pathlib import Path
from typing import Any

import openvino as ov
import openvino.opset13 as ops
from builders import write_ir
from pipeline_builders import add_model, square_model
from pipeline_configs import dl
from rich.console import Console

from ovms_cli.cli.validate_config import validate_config_command, validation_document


def four_by_three() -> ov.Model:
    """``y = x`` on ``x: FP32[-1, 3]``: its output cannot feed ``square``'s ``[-1, 4]``."""
    x = ops.parameter([-1, 3], ov.Type.f32, name="x")
    y = ops.relu(x)
    y.output(0).get_tensor().set_names({"y"})
    return ov.Model([y], [x], "three")


def write(tmp_path: Path, pipelines: list[dict[str, Any]], **extra: Any) -> Path:
    write_ir(square_model(), tmp_path / "square")
    write_ir(add_model(), tmp_path / "add")
    write_ir(four_by_three(), tmp_path / "three")
    models = [
        {"name": "square", "base_path": "square"},
        {"name": "add", "base_path": "add"},
        {"name": "three", "base_path": "three"},
        {"name": "remote", "base_path": "s3://bucket/remote"},
        {"name": "lstm", "base_path": "square", "stateful": True},
        {"name": "automatic", "base_path": "square", "shape": "auto"},
    ]
    config = {"model_config_list": [{"config": m} for m in models], "pipeline_config_list": pipelines} | extra
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    return path


def problems(path: Path) -> list[str]:
    document = validation_document(path)
    return [f"{p['path']}: {p['message']}" for p in document["problems"]]


CHAIN = {
    "name": "chain",
    "inputs": ["x"],
    "nodes": [
        dl("sq", "square", {"x": "request.x"}, {"y": "squared"}),
        dl("plus", "add", {"a": "sq.squared", "b": "request.x"}, {"sum": "total"}),
    ],
    "outputs": [{"result": {"node_name": "plus", "data_item": "total"}}],
}
P = "pipeline_config_list[0]"


def test_a_valid_pipeline_is_counted_and_listed(tmp_path: Path) -> None:
    path = write(tmp_path, [CHAIN])
    console = Console(file=io.StringIO(), record=True, width=200)
    assert validate_config_command(path, console) == 0
    assert console.export_text().splitlines()[-1] == f"{path}: valid, 6 models, 1 pipeline"
    assert validation_document(path)["pipelines"] == [
        {"name": "chain", "inputs": ["x"], "outputs": ["result"], "nodes": ["sq", "plus"]}
    ]


def test_every_problem_is_reported_with_its_json_path(tmp_path: Path) -> None:
    bad = {
        "name": "add",  # taken by a model
        "inputs": ["x"],
        "nodes": [
            dl("sq", "three", {"x": "request.x"}, {"y": "y"}),
            dl("plus", "add", {"a": "sq.y", "b": "request.nope"}, {"sum": "total"}),
            dl("ghost", "no_such_model", {"x": "request.x"}, {"y": "y"}),
        ],
        "outputs": [{"result": {"node_name": "plus", "data_item": "total"}}],
    }
    assert problems(write(tmp_path, [bad])) == [
        f"{P}.name: Pipeline has the same name as model - name: add",
        f"{P}.nodes[1].inputs[0]: Invalid input shape - node: plus; input: a; source: sq.y; produced: [-1, 3]; "
        "expected: [-1, 4]",
        f"{P}.nodes[1].inputs[1]: Pipeline definition has reference to missing data source - node: plus; "
        "input: b; source: request.nope",
        f"{P}.nodes[2].model_name: Pipeline definition has reference to missing model - node: ghost; "
        "model: no_such_model",
        f"{P}.nodes[2]: Pipeline definition has unconnected nodes - node: ghost",
    ]


def test_models_the_server_refuses_in_pipelines(tmp_path: Path) -> None:
    stateful = {**CHAIN, "nodes": [dl("sq", "lstm", {"x": "request.x"}, {"y": "squared"}), CHAIN["nodes"][1]]}
    automatic = {
        **CHAIN,
        "name": "auto",
        "nodes": [dl("sq", "automatic", {"x": "request.x"}, {"y": "squared"}), CHAIN["nodes"][1]],
    }
    assert problems(write(tmp_path, [stateful, automatic])) == [
        f"{P}.nodes[0].model_name: Stateful model cannot be subscribed to pipeline - node: sq; model: lstm; "
        "stateful models cannot be used in pipelines",
        "pipeline_config_list[1].nodes[0].model_name: Value of provided parameter is forbidden - node: sq; "
        "model automatic uses auto batch size or shape",
    ]


def test_a_remote_model_is_left_to_the_server_and_a_missing_library_file_is_reported(tmp_path: Path) -> None:
    remote = {**CHAIN, "nodes": [dl("sq", "remote", {"x": "request.x"}, {"y": "squared"}), CHAIN["nodes"][1]]}
    custom = {
        "name": "custom",
        "inputs": ["x"],
        "nodes": [
            {
                "name": "c",
                "type": "custom",
                "library_name": "lib",
                "inputs": [{"a": {"node_name": "request", "data_item": "x"}}],
                "outputs": [{"data_item": "result", "alias": "r"}],
            },
            {
                "name": "d",
                "type": "custom",
                "library_name": "unknown_lib",
                "inputs": [{"a": {"node_name": "c", "data_item": "r"}}],
                "outputs": [{"data_item": "result", "alias": "r"}],
            },
        ],
        "outputs": [{"y": {"node_name": "d", "data_item": "r"}}],
    }
    libraries = [{"name": "lib", "base_path": "libs/missing.so"}]
    found = problems(write(tmp_path, [remote, custom], custom_node_library_config_list=libraries))
    assert found == [
        f"custom_node_library_config_list[0].base_path: Custom node library failed to open - no file "
        f"{tmp_path / 'libs' / 'missing.so'}",
        "pipeline_config_list[1].nodes[1].library_name: Pipeline refers to incorrect library - node: d; "
        "library: unknown_lib",
    ]


def test_a_cycle_and_an_unconnected_node(tmp_path: Path) -> None:
    cycle = {
        "name": "cycle",
        "inputs": ["x"],
        "nodes": [
            dl("a", "square", {"x": "b.y"}, {"y": "y"}),
            dl("b", "square", {"x": "a.y"}, {"y": "y"}),
        ],
        "outputs": [{"result": {"node_name": "a", "data_item": "y"}}],
    }
    unconnected = {
        **CHAIN,
        "name": "unconnected",
        "nodes": [*CHAIN["nodes"], dl("extra", "square", {"x": "request.x"}, {"y": "y"})],
    }
    assert problems(write(tmp_path, [cycle, unconnected])) == [
        f"{P}: Pipeline definition contains a cycle - a -> b -> a",
        "pipeline_config_list[1].nodes[2]: Pipeline definition has unconnected nodes - node: extra",
    ]


def test_a_python_node_whose_handler_file_is_missing_is_reported_and_a_present_one_is_not(
    tmp_path: Path,
) -> None:
    def python_node(name: str, handler: str, source: str) -> dict[str, Any]:
        return {
            "name": name,
            "type": "python",
            "handler": handler,
            "inputs": [{"x": {"node_name": source, "data_item": "x" if source == "request" else "y"}}],
            "outputs": [{"data_item": "y", "alias": "y"}],
        }

    (tmp_path / "nodes").mkdir()
    (tmp_path / "nodes" / "present.py").write_text("class Node: ...\n")
    pipeline = {
        "name": "py",
        "inputs": ["x"],
        "nodes": [
            python_node("here", "nodes/present.py:Node", "request"),
            python_node("gone", "nodes/missing.py:Node", "here"),
            python_node("by_module", "some_package.some_module:Node", "gone"),
        ],
        "outputs": [{"y": {"node_name": "by_module", "data_item": "y"}}],
    }

    found = problems(write(tmp_path, [pipeline]))

    assert found == [
        f"pipeline_config_list[0].nodes[1].handler: Python node handler failed to load - no file "
        f"{tmp_path / 'nodes' / 'missing.py'}"
    ]
