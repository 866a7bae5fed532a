from pipeline_configs import CONTEXT, MODELS, chain, demux

from ovms_cli.servables.pipelines.definition import parse_pipeline
from ovms_cli.servables.pipelines.pipeline_metadata import derive_metadata
from ovms_cli.servables.pipelines.validation import validate


def derive(
    config: dict[str, object],
) -> tuple[list[tuple[str, str, tuple[int, ...]]], list[tuple[str, str, tuple[int, ...]]], list[str]]:
    definition, _ = parse_pipeline(config, "pipeline_config_list[0]")
    assert definition is not None
    validated = validate(definition, CONTEXT)
    assert validated.levels is not None
    metadata, problems = derive_metadata(definition, validated.levels, CONTEXT.signature)
    if metadata is None:
        return [], [], [str(p) for p in problems]
    inputs = [(t.name, t.dtype.ovms, t.shape) for t in metadata.inputs]
    outputs = [(t.name, t.dtype.ovms, t.shape) for t in metadata.outputs]
    return inputs, outputs, []


def test_chain_takes_the_first_model_input_and_the_last_output() -> None:
    assert derive(chain()) == ([("in", "FP32", (-1, 4))], [("result", "FP32", (-1, 4))], [])


def test_inputs_feeding_several_nodes_are_intersected() -> None:
    config = chain()
    config["nodes"][1]["inputs"][0]["x"] = {"node_name": "request", "data_item": "in"}
    config["nodes"][1]["model_name"] = "roi"
    config["nodes"][1]["inputs"] = [{"roi": {"node_name": "request", "data_item": "in"}}]
    config["nodes"][1]["outputs"] = [{"data_item": "score", "alias": "out"}]
    config["outputs"].append({"s": {"node_name": "a", "data_item": "s"}})
    # affine wants [-1, 4], roi wants [1, 3, 2, 2]: ambiguous
    assert derive(config)[2] == [
        "pipeline_config_list[0].inputs: Multiple nodes connected to the same pipeline input require different tensor metadata - input: in; [-1, 4] FP32 vs [1, 3, 2, 2] FP32 at node b"
    ]
    config["nodes"][1]["model_name"] = "pair"
    config["nodes"][1]["inputs"] = [{"x": {"node_name": "request", "data_item": "in"}}]
    config["nodes"][1]["outputs"] = [{"data_item": "y", "alias": "out"}]
    assert derive(config)[0] == [("in", "FP32", (2, 4))]  # [-1, 4] and [2, 4] → [2, 4]
    config["nodes"][1]["model_name"] = "square"
    config["nodes"][1]["inputs"] = [{"x": {"node_name": "request", "data_item": "in"}}]
    config["nodes"][1]["outputs"] = [{"data_item": "y", "alias": "out"}]
    assert derive(config)[0] == [("in", "FP32", (-1, 4))]


def test_gathered_output_and_response_gathering_prepend_dimensions() -> None:
    assert derive(demux()) == ([("image", "FP32", (1, 3, 8, 8))], [("m", "FP32", (-1, 3))], [])
    config = demux()
    del config["nodes"][2]  # no explicit gather: the response gathers
    config["outputs"] = [{"scores": {"node_name": "r", "data_item": "score"}}]
    assert derive(config)[1] == [("scores", "FP32", (-1, 1, 3, 2, 2))]


def test_entry_demultiplexing_prepends_its_count() -> None:
    config = chain() | {"demultiply_count": 5}
    assert derive(config)[:2] == ([("in", "FP32", (5, -1, 4))], [("result", "FP32", (5, -1, 4))])


def test_pass_through_input_is_unspecified_as_in_ovms() -> None:
    config = chain()
    config["outputs"].append({"echo": {"node_name": "request", "data_item": "in"}})
    assert derive(config)[1] == [("result", "FP32", (-1, 4)), ("echo", "INVALID", ())]
    assert MODELS.signature("affine", None) is not None
