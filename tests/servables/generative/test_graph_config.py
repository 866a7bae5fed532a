"""OVMS's graph.pbtxt as this server reads it: the options it implements, the rest refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from ovms_cli.servables.generative.graph_config import (
    GenerativeConfig,
    GraphConfigError,
    Task,
    config_from_options,
    graph_text,
    read_graph,
)
from ovms_cli.servables.generative.host import configs_from_file

OVMS_LLM_GRAPH = """
input_stream: "HTTP_REQUEST_PAYLOAD:input"
output_stream: "HTTP_RESPONSE_PAYLOAD:output"
node: {
  name: "LLMExecutor"
  calculator: "HttpLLMCalculator"   # as OVMS's demos write it
  input_stream: "LOOPBACK:loopback"
  input_stream: "HTTP_REQUEST_PAYLOAD:input"
  input_side_packet: "LLM_NODE_RESOURCES:llm"
  output_stream: "LOOPBACK:loopback"
  output_stream: "HTTP_RESPONSE_PAYLOAD:output"
  input_stream_info: { tag_index: 'LOOPBACK:0', back_edge: true }
  node_options: {
      [type.googleapis.com/mediapipe.LLMCalculatorOptions]: {
          models_path: "./model",
          plugin_config: '{"KV_CACHE_PRECISION": "u8"}',
          enable_prefix_caching: true,
          cache_size: 2,
          max_num_seqs: 16
      }
  }
  input_stream_handler {
    input_stream_handler: "SyncSetInputStreamHandler",
    options { [mediapipe.SyncSetInputStreamHandlerOptions.ext] { sync_set { tag_index: "LOOPBACK:0" } } }
  }
}
"""


def test_reads_an_ovms_llm_graph(tmp_path: Path) -> None:
    graph = tmp_path / "graph.pbtxt"
    graph.write_text(OVMS_LLM_GRAPH)
    config = read_graph("llm", graph)
    assert config.task is Task.TEXT_GENERATION
    assert config.models_path == (tmp_path / "model").resolve()
    assert (config.cache_size, config.max_num_seqs, config.enable_prefix_caching) == (2, 16, True)
    assert (config.max_num_batched_tokens, config.dynamic_split_fuse) == (256, True)  # OVMS's defaults
    assert config.plugin_properties == {"KV_CACHE_PRECISION": "u8"}


@pytest.mark.parametrize("task", list(Task))
def test_written_graphs_read_back(task: Task, tmp_path: Path) -> None:
    written = GenerativeConfig(name="x", task=task, models_path=tmp_path, max_num_seqs=7, pooling="MEAN")
    (tmp_path / "graph.pbtxt").write_text(graph_text(written))
    read = read_graph("x", tmp_path / "graph.pbtxt")
    assert read.task is task
    assert read.models_path == tmp_path.resolve()
    if task is Task.TEXT_GENERATION:
        assert read.max_num_seqs == 7
    if task is Task.EMBEDDINGS:
        assert read.pooling == "MEAN"


@pytest.mark.parametrize(
    ("task", "options", "message"),
    [
        (
            Task.TEXT_GENERATION,
            {"models_path": ".", "draft_models_path": "d"},
            "option draft_models_path is not supported",
        ),
        (
            Task.TEXT_GENERATION,
            {"models_path": ".", "cache_size": -1},
            "cache_size must be an unsigned integer",
        ),
        (Task.TEXT_GENERATION, {"models_path": ".", "max_num_seqs": 0}, "max_num_seqs must be at least 1"),
        (
            Task.TEXT_GENERATION,
            {"models_path": ".", "dynamic_split_fuse": 1},
            "dynamic_split_fuse must be true or false",
        ),
        (Task.TEXT_GENERATION, {}, "models_path is required"),
        (
            Task.TEXT_GENERATION,
            {"models_path": ".", "best_of_limit": "many"},
            "best_of_limit must be an unsigned integer",
        ),
        (Task.EMBEDDINGS, {"models_path": ".", "pooling": "MAX"}, "pooling must be one of CLS, MEAN, LAST"),
        (
            Task.EMBEDDINGS,
            {"models_path": ".", "cache_size": 1},
            "option cache_size is not supported for embeddings",
        ),
        (Task.RERANK, {"models_path": ".", "plugin_config": "[1]"}, "plugin_config must be a JSON object"),
        (Task.RERANK, {"models_path": ".", "plugin_config": "{"}, "plugin_config is not valid JSON"),
    ],
)
def test_refused_options(task: Task, options: dict[str, object], message: str, tmp_path: Path) -> None:
    with pytest.raises(GraphConfigError, match=message):
        config_from_options("x", task, options, tmp_path, "graph")


def test_a_graph_without_a_generative_calculator_is_refused(tmp_path: Path) -> None:
    graph = tmp_path / "graph.pbtxt"
    graph.write_text('node { calculator: "ImageTransformationCalculator" }')
    with pytest.raises(GraphConfigError, match="expected exactly one node with calculator"):
        read_graph("x", graph)
    with pytest.raises(GraphConfigError, match="cannot read"):
        read_graph("x", tmp_path / "missing.pbtxt")


def _llm_folder(tmp_path: Path) -> Path:
    """``tmp_path/llm`` holding an LLM graph.pbtxt (no model files: nothing loads here)."""
    folder = tmp_path / "llm"
    folder.mkdir()
    (folder / "graph.pbtxt").write_text(
        graph_text(GenerativeConfig(name="llm", task=Task.TEXT_GENERATION, models_path=folder))
    )
    return folder


def test_config_entries_map_to_graphs(tmp_path: Path) -> None:
    folder = _llm_folder(tmp_path)
    raw = {
        "model_config_list": [],
        "mediapipe_config_list": [
            {"name": "llm", "base_path": "llm"},
            {"name": "sub", "base_path": "llm", "subconfig": "x.json"},
            {"name": "missing", "base_path": "nowhere"},
        ],
    }
    configs, problems = configs_from_file(raw, tmp_path)
    assert [c.name for c in configs] == ["llm"]
    assert configs[0].models_path == folder.resolve()
    assert problems["sub"] == "subconfig is not supported"
    assert "cannot read" in problems["missing"]


def test_best_of_limit_is_an_llm_graph_option(tmp_path: Path) -> None:
    assert (
        config_from_options("x", Task.TEXT_GENERATION, {"models_path": "."}, tmp_path, "g").best_of_limit
        == 20
    )
    options = {"models_path": ".", "best_of_limit": 4}
    assert config_from_options("x", Task.TEXT_GENERATION, options, tmp_path, "g").best_of_limit == 4
    with pytest.raises(GraphConfigError, match="option best_of_limit is not supported for embeddings"):
        config_from_options("x", Task.EMBEDDINGS, options, tmp_path, "g")


def test_a_name_taken_by_a_model_pipeline_or_earlier_entry_is_refused(tmp_path: Path) -> None:
    folder = _llm_folder(tmp_path)
    raw = {
        "model_config_list": [{"config": {"name": "resnet", "base_path": "resnet"}}],
        "pipeline_config_list": [{"name": "dag"}],
        "mediapipe_config_list": [
            {"name": "llm", "base_path": "llm"},
            {"name": "resnet", "base_path": "llm"},
            {"name": "dag", "base_path": "llm"},
            {"name": "llm", "base_path": "elsewhere"},
        ],
    }
    configs, problems = configs_from_file(raw, tmp_path)
    assert [c.name for c in configs] == ["llm"]
    assert configs[0].models_path == folder.resolve()  # the first entry of a name serves
    assert problems == {
        "resnet": "the name is taken by a model (MODEL_NAME_OCCUPIED)",
        "dag": "the name is taken by a pipeline (MODEL_NAME_OCCUPIED)",
        "llm": "the name is taken by an earlier mediapipe_config_list entry (MODEL_NAME_OCCUPIED)",
    }


LLM_NODE = (
    'node {\n  calculator: "HttpLLMCalculator"\n  node_options: {\n'
    '    [type.googleapis.com/mediapipe.LLMCalculatorOptions]: {\n      models_path: "./"\n%s    }\n  }\n}\n'
)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (LLM_NODE % "" + "node {{{ broken", r"line 9: expected a field name, not '\{'"),
        (LLM_NODE % "" + "node { name: 'x'", r"line 9: unbalanced braces: '\}' missing at the end"),
        (LLM_NODE % "" + "}}}}", r"line 9: unbalanced braces: '\}' closes nothing"),
        (LLM_NODE % "" + "foo: 1", "line 9: the graph has no field foo"),
        (LLM_NODE.replace("node {\n", "node {\n  colour: 1\n") % "", "line 2: a node has no field colour"),
        (LLM_NODE % "      extra { a: 1 }\n", "line 6: LLMCalculatorOptions: extra: nested options are not"),
        (LLM_NODE % "      cache_size: 1\n      cache_size: 2\n", "line 7: .*cache_size is set twice"),
        (LLM_NODE % "      cache_size 1\n", "line 6: expected ':' or '\\{' after cache_size"),
        (LLM_NODE % "      cache_size: }\n", "line 6: expected a value"),
    ],
)
def test_text_protobuf_would_not_parse_is_refused(text: str, message: str, tmp_path: Path) -> None:
    graph = tmp_path / "graph.pbtxt"
    graph.write_text(text)
    with pytest.raises(GraphConfigError, match=message):
        read_graph("x", graph)


def test_text_format_details_read(tmp_path: Path) -> None:
    graph = tmp_path / "graph.pbtxt"
    body = '      cache_size: 3; device: "C#P{U}"  # a } in a comment\n'
    graph.write_text('input_stream: ["a", "b"]\n' + LLM_NODE % body)
    config = read_graph("x", graph)
    assert (config.cache_size, config.device) == (3, "C#P{U}")
