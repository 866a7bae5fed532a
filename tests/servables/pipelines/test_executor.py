"""Pipelines run end to end in-process: real OpenVINO models behind ``infer``, real C libraries."""

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from builders import affine_model, fixed_batch_model
from pipeline_builders import InProcessModels, add_model, no_leak, relu_batched_model, square_model
from pipeline_configs import connect, node

from ovms_cli.errors import Aborted, InternalError, InvalidInput
from ovms_cli.servables.pipelines.custom_node_library import CustomNodeLibrary
from ovms_cli.servables.pipelines.definition import parse_pipeline
from ovms_cli.servables.pipelines.pipeline import Pipeline, build_pipeline

X = np.arange(12, dtype=np.float32).reshape(3, 4) - 5


@pytest.fixture(scope="module")
def models() -> InProcessModels:
    return InProcessModels(
        {
            "affine": affine_model(),
            "square": square_model(),
            "add": add_model(),
            "relu": fixed_batch_model(),
            "relu_batched": relu_batched_model(),
        }
    )


@pytest.fixture
def pool() -> Iterator[ThreadPoolExecutor]:
    with ThreadPoolExecutor(4) as executor:
        yield executor


@pytest.fixture
def libraries(c_nodes: dict[str, Path]) -> dict[str, CustomNodeLibrary]:
    return {name: CustomNodeLibrary(name, path) for name, path in c_nodes.items()}


def pipeline(
    nodes: list[dict[str, Any]], outputs: dict[str, str], inputs: tuple[str, ...] = ("in",), **extra: Any
) -> dict[str, Any]:
    return {"name": "p", "inputs": list(inputs), "nodes": nodes, "outputs": connect(**outputs)} | extra


@pytest.fixture
def build(
    models: InProcessModels, libraries: dict[str, CustomNodeLibrary], pool: ThreadPoolExecutor
) -> Iterator[Any]:
    built: list[Pipeline] = []

    def make(config: dict[str, Any], coalesce: tuple[str, ...] = ()) -> Pipeline:
        definition, problems = parse_pipeline(config, "pipeline_config_list[0]")
        assert problems == []
        assert definition is not None
        made, problems = build_pipeline(
            definition, models.catalog(), models.infer, libraries, pool, coalesce_models=coalesce
        )
        assert [str(p) for p in problems] == []
        assert made is not None
        built.append(made)
        return made

    yield make
    for made in built:
        made.close()


async def test_two_model_chain_equals_the_models_chained_by_hand(build: Any, models: InProcessModels) -> None:
    chain = build(
        pipeline(
            [
                node(
                    "a", "DL model", {"input": "request.in"}, {"scaled": "s", "total": "t"}, target="affine"
                ),
                node("b", "DL model", {"x": "a.s"}, {"y": "sq"}, target="square"),
            ],
            {"result": "b.sq", "total": "a.t"},
        )
    )
    outputs = await chain.infer({"in": X})
    by_hand = models.run("affine", {"input": X})
    expected = models.run("square", {"x": by_hand["scaled"]})["y"]
    assert sorted(outputs) == ["result", "total"]
    np.testing.assert_array_equal(outputs["result"], expected)
    np.testing.assert_array_equal(outputs["total"], by_hand["total"])


async def test_parallel_branches_run_concurrently(build: Any, models: InProcessModels) -> None:
    # Each Rendezvous node waits for the other inside ``execute``: run one after the other they
    # would time out, so success proves both branches were running at the same time.
    group = {"group": "parallel-branches", "parties": "2"}
    diamond = build(
        pipeline(
            [
                node(
                    "left",
                    "python",
                    {"x": "request.in"},
                    {"y": "l"},
                    target="pipeline_python_nodes:Rendezvous",
                    params=group,
                ),
                node(
                    "right",
                    "python",
                    {"x": "request.in"},
                    {"y": "r"},
                    target="pipeline_python_nodes:Rendezvous",
                    params=group,
                ),
                node("sq", "DL model", {"x": "left.l"}, {"y": "sq"}, target="square"),
                node("sum", "DL model", {"a": "sq.sq", "b": "right.r"}, {"sum": "out"}, target="add"),
            ],
            {"out": "sum.out"},
        )
    )
    outputs = await diamond.infer({"in": X})
    expected = models.run("add", {"a": models.run("square", {"x": X})["y"], "b": X})["sum"]
    np.testing.assert_array_equal(outputs["out"], expected)


async def test_tensors_pass_between_nodes_without_copies(build: Any) -> None:
    passthrough = build(
        pipeline(
            [
                node(
                    "same",
                    "python",
                    {"x": "request.in"},
                    {"y": "y"},
                    target="pipeline_python_nodes:Rendezvous",
                    params={"group": "single", "parties": "1"},
                )
            ],
            {"out": "same.y"},
        )
    )
    outputs = await passthrough.infer({"in": X})
    assert np.shares_memory(outputs["out"], X)  # a read-only view of the request's own array, not a copy


async def test_c_custom_node_between_models(build: Any, models: InProcessModels) -> None:
    mixed = build(
        pipeline(
            [
                node("a", "DL model", {"input": "request.in"}, {"scaled": "s"}, target="affine"),
                node(
                    "c",
                    "custom",
                    {"a": "a.s"},
                    {"result": "r"},
                    target="add_mul",
                    params={"add": "1", "multiply": "0.5"},
                ),
                node("b", "DL model", {"x": "c.r"}, {"y": "y"}, target="square"),
            ],
            {"out": "b.y"},
        )
    )
    outputs = await mixed.infer({"in": X})
    scaled = models.run("affine", {"input": X})["scaled"]
    np.testing.assert_array_equal(
        outputs["out"], models.run("square", {"x": (scaled + 1) * np.float32(0.5)})["y"]
    )


async def test_ovms_add_one_sample_in_a_pipeline(build: Any) -> None:
    add_one = build(
        pipeline(
            [
                node(
                    "one",
                    "custom",
                    {"input_numbers": "request.in"},
                    {"output_numbers": "o"},
                    target="add_one",
                )
            ],
            {"out": "one.o"},
        )
    )
    numbers = np.arange(10, dtype=np.float32).reshape(1, 10)
    np.testing.assert_array_equal((await add_one.infer({"in": numbers}))["out"], numbers + 1)
    assert [(t.name, t.dtype.ovms, t.shape) for t in add_one.metadata.inputs] == [("in", "FP32", (1, 10))]


def crops_pipeline(**crops_extra: Any) -> dict[str, Any]:
    """image + boxes → crops (C, demultiplexes) → relu per crop → response gathers."""
    return pipeline(
        [
            node(
                "crop",
                "custom",
                {"image": "request.image", "boxes": "request.boxes"},
                {"crops": "crop", "origins": "xy"},
                target="crops",
                params={"width": "2", "height": "2"},
                **({"demultiply_count": -1} | crops_extra),
            ),
            node("relu", "DL model", {"input": "crop.crop"}, {"out": "out"}, target="relu"),
        ],
        {"relu": "relu.out", "origins": "crop.xy"},
        inputs=("image", "boxes"),
    )


IMAGE = (np.arange(3 * 5 * 6, dtype=np.float32).reshape(1, 3, 5, 6) - 40) / 7


async def test_demultiply_model_gather(
    build: Any, models: InProcessModels, libraries: dict[str, CustomNodeLibrary]
) -> None:
    crops_library = libraries["crops"]
    crops = build(crops_pipeline())
    boxes = np.array([[0, 0], [4, 3], [2, 1]], np.int32)
    with no_leak(crops_library) as handed:
        outputs = await crops.infer({"image": IMAGE, "boxes": boxes})
    assert handed == [5]
    assert outputs["relu"].shape == (3, 1, 3, 2, 2)
    for k, (x, y) in enumerate(boxes):
        expected = models.run("relu", {"input": IMAGE[:, :, y : y + 2, x : x + 2].copy()})["out"]
        np.testing.assert_array_equal(outputs["relu"][k], expected)
    np.testing.assert_array_equal(outputs["origins"], boxes.reshape(3, 1, 2))
    assert [(t.name, t.dtype.ovms, t.shape) for t in crops.metadata.outputs] == [
        ("relu", "FP32", (-1, 1, 3, 2, 2)),
        ("origins", "I32", (-1, 1, 2)),
    ]


async def test_explicit_gather_from_node(build: Any) -> None:
    config = crops_pipeline()
    config["nodes"].append(
        node(
            "scale",
            "python",
            {"x": "relu.out"},
            {"scaled": "s"},
            target="pipeline_python_nodes:Scale",
            params={"factor": "2"},
            gather_from_node="crop",
        )
    )
    config["outputs"] = connect(scaled="scale.s")
    gathered = build(config)
    boxes = np.array([[0, 0], [1, 1]], np.int32)
    outputs = await gathered.infer({"image": IMAGE, "boxes": boxes})
    assert outputs["scaled"].shape == (2, 1, 3, 2, 2)
    np.testing.assert_array_equal(outputs["scaled"][1, 0], np.maximum(IMAGE[0, :, 1:3, 1:3], 0) * 2)


async def test_dynamic_demultiplexing_with_no_branches_aborts(build: Any) -> None:
    crops = build(crops_pipeline())
    with pytest.raises(Aborted) as caught:
        await crops.infer({"image": IMAGE, "boxes": np.zeros((0, 2), np.int32)})
    assert (
        caught.value.message == "Pipeline execution aborted due to no content from custom node - node: crop"
    )
    assert (caught.value.http_status, caught.value.grpc_code.name) == (204, "ABORTED")


async def test_fixed_demultiply_count_checked_at_run_time(build: Any) -> None:
    crops = build(crops_pipeline(demultiply_count=2))
    with pytest.raises(InvalidInput) as caught:
        await crops.infer({"image": IMAGE, "boxes": np.zeros((3, 2), np.int32)})
    assert caught.value.message == (
        "Wrong dimension size. Should match demultiply count - node: crop; output: crop; shape: [3, 1, 3, 2, 2]; count: 2"
    )


async def test_entry_demultiplexing(build: Any, models: InProcessModels) -> None:
    batched = build(
        pipeline(
            [node("a", "DL model", {"input": "request.in"}, {"scaled": "s"}, target="affine")],
            {"out": "a.s"},
            demultiply_count=-1,
        )
    )
    requests = np.stack([X, X * 2, X - 1])
    outputs = await batched.infer({"in": requests})
    assert outputs["out"].shape == (3, 3, 4)
    for k in range(3):
        np.testing.assert_array_equal(
            outputs["out"][k], models.run("affine", {"input": requests[k]})["scaled"]
        )
    assert [(t.name, t.shape) for t in batched.metadata.inputs] == [("in", (-1, -1, 4))]
    assert [(t.name, t.shape) for t in batched.metadata.outputs] == [("out", (-1, -1, 4))]


async def test_python_node_from_a_file(build: Any, tmp_path: Path) -> None:
    handler = tmp_path / "negate.py"
    handler.write_text(
        "class Negate:\n"
        "    def initialize(self, params):\n        self.offset = float(params['offset'])\n"
        "    def execute(self, inputs):\n        return {'neg': -inputs['x'] + self.offset}\n"
        "    def finalize(self):\n        pass\n"
    )
    negate = build(
        pipeline(
            [
                node(
                    "n",
                    "python",
                    {"x": "request.in"},
                    {"neg": "neg"},
                    target=f"{handler}:Negate",
                    params={"offset": "0.5"},
                )
            ],
            {"out": "n.neg"},
        )
    )
    np.testing.assert_array_equal((await negate.infer({"in": X}))["out"], -X + 0.5)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"fail": "execute"}, "Custom node failed during execution - node: bad; library: add_mul; code: 7"),
        (
            {"malform": "size"},
            "Custom node output has invalid content size - node: bad; library: add_mul; output: result; dims: [3, 4]; dataBytes: 44; expected: 48",
        ),
    ],
)
async def test_failing_custom_node_names_the_node_and_leaks_nothing(
    build: Any, libraries: dict[str, CustomNodeLibrary], params: dict[str, str], message: str
) -> None:
    broken = build(
        pipeline(
            [
                node("a", "DL model", {"input": "request.in"}, {"scaled": "s"}, target="affine"),
                node("bad", "custom", {"a": "a.s"}, {"result": "r"}, target="add_mul", params=params),
            ],
            {"out": "bad.r"},
        )
    )
    with no_leak(libraries["add_mul"]):
        for _ in range(3):  # the pipeline stays usable after a failing request
            with pytest.raises(InternalError) as caught:
                await broken.infer({"in": X})
            assert caught.value.message == message


async def test_failing_python_node_and_model_errors_name_the_node(build: Any) -> None:
    raising = build(
        pipeline(
            [node("py", "python", {"x": "request.in"}, {"y": "y"}, target="pipeline_python_nodes:Raises")],
            {"out": "py.y"},
        )
    )
    with pytest.raises(InternalError) as caught:
        await raising.infer({"in": X})
    assert caught.value.message == "Python node failed during execution - node: py; ValueError('bad luck')"
    chain = build(
        pipeline(
            [node("a", "DL model", {"input": "request.in"}, {"scaled": "s"}, target="affine")], {"out": "a.s"}
        )
    )
    with pytest.raises(Exception) as model_error:  # whatever the infer path raises, it names the node
        await chain.infer({"in": np.zeros((2, 5), np.float32)})
    assert "node: a" in str(model_error.value)


async def test_missing_pipeline_input(build: Any) -> None:
    chain = build(
        pipeline(
            [node("a", "DL model", {"input": "request.in"}, {"scaled": "s"}, target="affine")], {"out": "a.s"}
        )
    )
    with pytest.raises(InvalidInput) as caught:
        await chain.infer({"other": X})
    assert caught.value.message == "Missing input with specific name - pipeline: p; inputs: in"


def test_build_reports_initialize_failures_and_invalid_graphs(
    models: InProcessModels, libraries: dict[str, CustomNodeLibrary], pool: ThreadPoolExecutor
) -> None:
    config = pipeline(
        [
            node(
                "c",
                "custom",
                {"a": "request.in"},
                {"result": "r"},
                target="add_mul",
                params={"fail": "initialize"},
            ),
            node("py", "python", {"x": "request.in"}, {"y": "y"}, target="pipeline_python_nodes:NoExecute"),
            node("sq", "DL model", {"x": "request.in"}, {"y": "y"}, target="square"),
        ],
        {"out": "sq.y", "r": "c.r", "y": "py.y"},
    )
    definition, _ = parse_pipeline(config, "pipeline_config_list[0]")
    assert definition is not None
    made, problems = build_pipeline(definition, models.catalog(), models.infer, libraries, pool)
    assert made is None
    assert [str(p) for p in problems] == [
        "pipeline_config_list[0].nodes[0]: Pipeline node could not be loaded - Failure during custom node library initialization - node: c; library: add_mul; code: 3",
        "pipeline_config_list[0].nodes[1]: Pipeline node could not be loaded - Python node handler is invalid - handler: pipeline_python_nodes:NoExecute; missing: execute",
    ]


async def test_demultiplexed_branches_to_one_model_are_coalesced(build: Any, models: InProcessModels) -> None:
    config = crops_pipeline()
    config["nodes"][1]["model_name"] = "relu_batched"
    boxes = np.array([[0, 0], [4, 3], [2, 1], [1, 2]], np.int32)
    separate = await build(config).infer({"image": IMAGE, "boxes": boxes})
    models.calls.clear()
    coalesced = await build(config, coalesce=("relu_batched",)).infer({"image": IMAGE, "boxes": boxes})
    assert models.calls == [("relu_batched", {"input": (4, 3, 2, 2)})]
    np.testing.assert_array_equal(coalesced["relu"], separate["relu"])
    assert coalesced["relu"].shape == (4, 1, 3, 2, 2)
    np.testing.assert_array_equal(coalesced["relu"][1, 0], np.maximum(IMAGE[0, :, 3:5, 4:6], 0))


async def test_declared_output_the_node_did_not_produce(build: Any) -> None:
    scale = build(
        pipeline(
            [
                node(
                    "s",
                    "python",
                    {"x": "request.in"},
                    {"missing": "m"},
                    target="pipeline_python_nodes:Scale",
                    params={"factor": "2"},
                )
            ],
            {"out": "s.m"},
        )
    )
    with pytest.raises(InternalError) as caught:
        await scale.infer({"in": X})
    assert caught.value.message == "Custom node output is missing - node: s; output: missing"
