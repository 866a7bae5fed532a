"""Each of OVMS's load-time rules (spec §8.3, §8.6) with its message and JSON path."""

import copy
from typing import Any

import pytest
from pipeline_configs import CONTEXT, FP32, I32, MODELS, chain, demux, dl, sig

from ovms_cli.servables.pipelines.definition import parse_pipeline
from ovms_cli.servables.pipelines.validation import Validated, ValidationContext, validate


def check(config: dict[str, Any], context: ValidationContext = CONTEXT) -> Validated:
    definition, problems = parse_pipeline(config, "pipeline_config_list[0]")
    assert problems == []
    assert definition is not None
    return validate(definition, context)


def problems(config: dict[str, Any], context: ValidationContext = CONTEXT) -> list[str]:
    return [str(p) for p in check(config, context).problems]


P = "pipeline_config_list[0]"


def test_valid_chain_and_demultiplexing_pipelines() -> None:
    assert check(chain()).problems == []
    validated = check(demux())
    assert validated.problems == []
    assert validated.levels is not None
    assert validated.levels.outputs == {
        "request": (),
        "detect": ("detect",),
        "r": ("detect",),
        "g": (),
        "response": (),
    }


def test_name_occupied_by_a_model() -> None:
    config = chain() | {"name": "affine"}
    assert problems(config) == [f"{P}.name: Pipeline has the same name as model - name: affine"]


def test_unknown_library() -> None:
    config = chain()
    config["nodes"][1] = {
        "name": "b",
        "type": "custom",
        "library_name": "nope",
        "inputs": [{"x": {"node_name": "a", "data_item": "s"}}],
        "outputs": [{"data_item": "y", "alias": "out"}],
    }
    assert problems(config) == [
        f"{P}.nodes[1].library_name: Pipeline refers to incorrect library - node: b; library: nope"
    ]


@pytest.mark.parametrize("name", ["a", "request", "response"])
def test_duplicate_node_names_including_the_implicit_ones(name: str) -> None:
    config = chain()
    config["nodes"][1]["name"] = name
    config["outputs"][0]["result"]["node_name"] = name
    found = problems(config)
    assert (
        found[0]
        == f"{P}.nodes[1].name: Pipeline definition has multiple nodes with the same name - node: {name}"
    )


def test_missing_model_and_missing_version() -> None:
    config = chain()
    config["nodes"][0]["model_name"] = "ghost"
    config["nodes"][1]["version"] = 2
    assert problems(config) == [
        f"{P}.nodes[0].model_name: Pipeline definition has reference to missing model - node: a; model: ghost",
        f"{P}.nodes[1].model_name: Pipeline definition has reference to missing model - node: b; model: square; version: 2",
    ]


def test_model_with_auto_batch_or_shape_is_forbidden() -> None:
    config = chain()
    config["nodes"][1]["model_name"] = "auto"
    assert problems(config) == [
        f"{P}.nodes[1].model_name: Value of provided parameter is forbidden - node: b; model auto uses auto batch size or shape"
    ]


def test_reference_to_missing_node() -> None:
    config = chain()
    config["nodes"][1]["inputs"][0]["x"]["node_name"] = "ghost"
    assert problems(config) == [
        f"{P}.nodes[1].inputs[0]: Pipeline definition has reference to missing node - node: b; input: x; source: ghost.s"
    ]


def test_response_used_as_dependency() -> None:
    config = chain()
    config["nodes"][1]["inputs"][0]["x"]["node_name"] = "response"
    assert problems(config) == [
        f"{P}.nodes[1].inputs[0]: Pipeline definition has response node used as dependency node - node: b; input: x; source: response.s"
    ]


def test_missing_data_source_from_node_from_request_and_at_response() -> None:
    config = chain()
    config["nodes"][0]["inputs"][0]["input"]["data_item"] = "nope"
    config["nodes"][1]["inputs"][0]["x"]["data_item"] = "scaled"  # the data_item, not its alias
    config["outputs"][0]["result"]["data_item"] = "y"
    assert problems(config) == [
        f"{P}.nodes[0].inputs[0]: Pipeline definition has reference to missing data source - node: a; input: input; source: request.nope",
        f"{P}.nodes[1].inputs[0]: Pipeline definition has reference to missing data source - node: b; input: x; source: a.scaled",
        f"{P}.outputs[0]: Pipeline definition has reference to missing data source - node: response; input: result; source: b.y",
    ]


def test_alias_of_a_missing_model_output() -> None:
    config = chain()
    config["nodes"][0]["outputs"][0]["data_item"] = "scaledd"
    assert problems(config) == [
        f"{P}.nodes[1].inputs[0]: Pipeline definition has reference to missing model output - node: b; input: x; source: a.s; output: scaledd"
    ]


def test_connection_to_missing_model_input() -> None:
    config = chain()
    config["nodes"][1]["inputs"].append({"z": {"node_name": "a", "data_item": "s"}})
    assert problems(config) == [
        f"{P}.nodes[1].inputs[1]: Pipeline definition has connection to non existing model input - node: b; input: z; source: a.s"
    ]


def test_input_connected_twice() -> None:
    config = chain()
    config["nodes"][1]["inputs"].append({"x": {"node_name": "request", "data_item": "in"}})
    assert problems(config) == [
        f"{P}.nodes[1].inputs[1]: Pipeline definition has multiple connections to the same input of underlying model - node: b; input: x; source: request.in"
    ]


def test_not_all_inputs_connected() -> None:
    config = chain()
    config["nodes"][1] = dl("b", "add", {"a": "a.s"}, {"sum": "out"})
    assert problems(config) == [
        f"{P}.nodes[1].inputs: Pipeline definition does not have connections for all inputs of underlying models - node: b; not connected: b"
    ]


def test_shape_mismatch_between_connected_nodes() -> None:
    config = chain()
    config["nodes"][1]["model_name"] = "fixed3"
    assert problems(config) == [
        f"{P}.nodes[1].inputs[0]: Invalid input shape - node: b; input: x; source: a.s; produced: [-1, 4]; expected: [1, 3]"
    ]


def test_precision_mismatch_is_not_converted() -> None:
    config = chain()
    config["nodes"][1]["model_name"] = "ints"
    assert problems(config) == [
        f"{P}.nodes[1].inputs[0]: Invalid input precision - node: b; input: x; source: a.s; produced: FP32; expected: I32"
    ]


def test_cycle() -> None:
    config = chain()
    config["nodes"][0] = dl("a", "add", {"a": "request.in", "b": "b.out"}, {"sum": "s"})
    assert problems(config) == [f"{P}: Pipeline definition contains a cycle - a -> b -> a"]


def test_unconnected_node() -> None:
    config = chain()
    config["nodes"].append(dl("c", "square", {"x": "a.s"}, {"y": "unused"}))
    assert problems(config) == [f"{P}.nodes[2]: Pipeline definition has unconnected nodes - node: c"]


def test_gather_from_missing_node_from_non_demultiplexer_and_from_entry() -> None:
    for source, message in [
        ("ghost", "Gather node refers to not existing node - node: g; gather from: ghost"),
        ("r", "Gather node refers to node that isn't demultiplexer - node: g; gather from: r"),
        ("request", "Gathering from entry node is not allowed - node: g"),
    ]:
        config = demux()
        config["nodes"][2]["gather_from_node"] = source
        assert problems(config) == [f"{P}.nodes[2].gather_from_node: {message}"]


def test_gathers_must_close_demultiplexers_in_lifo_order() -> None:
    config = demux()
    config["nodes"][0]["demultiply_count"] = 5  # fixed: only one dynamic demultiplexer is allowed
    config["nodes"][0]["outputs"] = [{"data_item": "five", "alias": "rois"}]
    inner = {
        "name": "inner",
        "type": "python",
        "handler": "m:C",
        "inputs": [{"x": {"node_name": "r", "data_item": "score"}}],
        "outputs": [{"data_item": "y", "alias": "y"}],
        "demultiply_count": 2,
    }
    config["nodes"].insert(2, inner)
    config["nodes"][3]["inputs"] = [{"x": {"node_name": "inner", "data_item": "y"}}]
    assert problems(config) == [  # g gathers detect while inner, opened later, is still open
        f"{P}.nodes[3].gather_from_node: Demultiplexer and gather nodes are not in LIFO order - node: g; open demultiplexers: ['detect', 'inner']"
    ]
    config["nodes"][3]["gather_from_node"] = "inner"
    assert problems(config) == []


def test_inputs_from_different_demultiplexing_levels() -> None:
    config = demux()
    config["nodes"][1] = dl("r", "add", {"a": "detect.rois", "b": "request.image"}, {"sum": "score"})
    config["nodes"][1]["type"] = "python"  # no signature: only the levels are checked
    config["nodes"][1]["handler"] = "m:C"
    del config["nodes"][1]["model_name"]
    assert problems(config) == [
        f"{P}.nodes[1]: Demultiplexer and gather nodes are not in LIFO order - node: r; inputs come from different demultiplexing levels"
    ]


def test_dynamic_demultiplexer_must_be_the_only_one() -> None:
    config = demux()
    config["demultiply_count"] = 2
    assert (
        f"{P}: Not implemented - a dynamic demultiplexer must be the only demultiplexer of a pipeline"
        in problems(config)
    )


def test_demultiplied_output_needs_three_dimensions() -> None:
    config = demux()
    config["nodes"][0]["outputs"] = [{"data_item": "flat", "alias": "rois"}]
    assert (
        f"{P}.nodes[0].demultiply_count: Pipeline has not enough shape dimensions to demultiply - node: detect; output: flat; shape: [4, 2]"
    ) in problems(config)


def test_fixed_demultiply_count_must_match_dim_0() -> None:
    config = demux()
    config["nodes"][0]["outputs"] = [{"data_item": "five", "alias": "rois"}]
    config["nodes"][0]["demultiply_count"] = 3
    assert problems(config) == [
        f"{P}.nodes[0].demultiply_count: Demultiplication count does not match tensor first dimension - node: detect; output: five; shape: [5, 1, 3, 2, 2]; demultiply_count: 3"
    ]
    config["nodes"][0]["demultiply_count"] = 5
    assert problems(config) == []


def test_shapes_are_checked_across_demultiplexing_and_gathering() -> None:
    config = demux()
    config["nodes"][0]["demultiply_count"] = None
    del config["nodes"][0]["demultiply_count"]
    del config["nodes"][2]["gather_from_node"]
    found = problems(config)
    # without demultiplexing, roi gets [-1, 1, 3, 2, 2] where it expects [1, 3, 2, 2]
    assert found[0] == (
        f"{P}.nodes[1].inputs[0]: Invalid input shape - node: r; input: roi; source: detect.rois; produced: [-1, 1, 3, 2, 2]; expected: [1, 3, 2, 2]"
    )


def test_every_problem_is_reported_not_just_the_first() -> None:
    config = chain() | {"name": "affine"}
    config["nodes"][0]["model_name"] = "ghost"
    config["nodes"][1]["model_name"] = "add"
    assert [p.code.name for p in check(config).problems] == [
        "PIPELINE_NAME_OCCUPIED",
        "PIPELINE_NODE_REFERING_TO_MISSING_MODEL",
        "PIPELINE_CONNECTION_TO_MISSING_MODEL_INPUT",
        "PIPELINE_NOT_ALL_INPUTS_CONNECTED",
        "PIPELINE_NODE_REFERING_TO_MISSING_MODEL_OUTPUT",  # the response reads b's "y"; add has "sum"
    ]


def test_custom_node_signatures_take_part_when_known() -> None:
    config = chain()
    config["nodes"][1] = {
        "name": "b",
        "type": "custom",
        "library_name": "lib",
        "inputs": [{"a": {"node_name": "a", "data_item": "s"}}],
        "outputs": [{"data_item": "result", "alias": "out"}],
    }
    assert problems(config) == []  # unknown signature: nothing to compare
    known = ValidationContext(MODELS, ["lib"], {"b": sig([("a", I32, (-1, 4))], [("result", FP32, (-1, 4))])})
    assert problems(config, known) == [
        f"{P}.nodes[1].inputs[0]: Invalid input precision - node: b; input: a; source: a.s; produced: FP32; expected: I32"
    ]


def test_validation_does_not_change_the_definition() -> None:
    config = chain()
    before = copy.deepcopy(config)
    check(config)
    assert config == before
