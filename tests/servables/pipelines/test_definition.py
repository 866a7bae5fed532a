from ovms_cli.servables.pipelines.definition import (
    Connection,
    NodeKind,
    OutputAlias,
    parse_config,
    parse_pipeline,
)


def node(**overrides: object) -> dict[str, object]:
    return {
        "name": "a",
        "type": "DL model",
        "model_name": "affine",
        "inputs": [{"input": {"node_name": "request", "data_item": "in"}}],
        "outputs": [{"data_item": "scaled", "alias": "s"}],
    } | overrides


def pipeline(*nodes: dict[str, object], **overrides: object) -> dict[str, object]:
    return {
        "name": "p",
        "inputs": ["in"],
        "nodes": list(nodes) or [node()],
        "outputs": [{"out": {"node_name": "a", "data_item": "s"}}],
    } | overrides


def messages(obj: object) -> list[str]:
    return [str(p) for p in parse_pipeline(obj, "pipeline_config_list[0]")[1]]


def test_parses_every_ovms_key_into_typed_objects() -> None:
    custom = {
        "name": "c",
        "type": "custom",
        "library_name": "lib",
        "params": {"k": "v"},
        "inputs": [{"x": {"node_name": "a", "data_item": "s"}}],
        "outputs": [{"data_item": "y", "alias": "yy"}],
        "demultiply_count": 0,
    }
    gather = node(
        name="g", version=2, gather_from_node="c", inputs=[{"input": {"node_name": "c", "data_item": "yy"}}]
    )
    definition, problems = parse_pipeline(
        pipeline(node(), custom, gather, demultiply_count=4), "pipeline_config_list[0]"
    )
    assert problems == []
    assert definition is not None
    assert definition.demultiply_count == 4
    a, c, g = definition.nodes
    assert a.kind is NodeKind.DL_MODEL
    assert a.inputs == (Connection("input", "request", "in"),)
    assert a.outputs == (OutputAlias("scaled", "s"),)
    assert c.kind is NodeKind.CUSTOM
    assert c.params_dict == {"k": "v"}
    assert c.demultiply_count == -1  # OVMS: 0 is the deprecated spelling of -1
    assert (g.version, g.gather_from_node, g.path) == (2, "c", "pipeline_config_list[0].nodes[2]")
    assert definition.outputs == (Connection("out", "a", "s"),)


def test_python_node_takes_a_handler() -> None:
    python = node(name="py", type="python", handler="pkg.mod:Cls", params={"f": "2"})
    del python["model_name"]
    definition, problems = parse_pipeline(pipeline(python), "p")
    assert problems == []
    assert definition is not None
    assert (definition.nodes[0].kind, definition.nodes[0].handler) == (NodeKind.PYTHON, "pkg.mod:Cls")


def test_unsupported_node_type() -> None:
    assert messages(pipeline(node(type="tensorflow"))) == [
        "pipeline_config_list[0].nodes[0].type: Unsupported node type - 'tensorflow'"
    ]


def test_keys_are_checked_not_ignored() -> None:
    assert messages(pipeline(node(library_name="lib", colour="red"), extra=1)) == [
        "pipeline_config_list[0].extra: Pipeline configuration entry is invalid - extra is not a known key",
        "pipeline_config_list[0].nodes[0].colour: Pipeline configuration entry is invalid - colour is not a known key",
        'pipeline_config_list[0].nodes[0].library_name: Pipeline configuration entry is invalid - library_name is not allowed for a "DL model" node',
    ]


def test_missing_and_ill_typed_values() -> None:
    bad = node(demultiply_count=10001, version=0, params={"k": 1}, outputs=[{"data_item": "x"}])
    del bad["model_name"]
    assert messages(pipeline(bad, inputs="in")) == [
        "pipeline_config_list[0].inputs: Pipeline configuration entry is invalid - inputs is required and must be an array",
        "pipeline_config_list[0].nodes[0].model_name: Pipeline configuration entry is invalid - model_name is required",
        'pipeline_config_list[0].nodes[0].params: Pipeline configuration entry is invalid - params is not allowed for a "DL model" node',
        "pipeline_config_list[0].nodes[0].outputs[0].alias: Pipeline configuration entry is invalid - alias is required",
        "pipeline_config_list[0].nodes[0].version: Pipeline configuration entry is invalid - version must be an integer >= 1",
        "pipeline_config_list[0].nodes[0].params: Pipeline configuration entry is invalid - params must be an object of string values",
        "pipeline_config_list[0].nodes[0].demultiply_count: Pipeline configuration entry is invalid - demultiply_count must be an integer from -1 to 10000",
    ]


def test_whole_config_first_pipeline_of_a_name_wins() -> None:
    config = {
        "custom_node_library_config_list": [{"name": "lib", "base_path": "/x/lib.so"}, {"name": "broken"}],
        "pipeline_config_list": [pipeline(), pipeline(inputs=["other"])],
    }
    pipelines, libraries, problems = parse_config(config)
    assert [p.inputs for p in pipelines] == [("in",)]
    assert [(lib.name, lib.base_path) for lib in libraries] == [("lib", "/x/lib.so")]
    assert [str(p) for p in problems] == [
        "custom_node_library_config_list[1].base_path: Pipeline configuration entry is invalid - base_path is required",
        "pipeline_config_list[1]: Pipeline definition with the same name already exists - p",
    ]
