"""Pipeline definitions and model signatures shared by the validation and metadata tests."""

from typing import Any

from ovms_cli import types
from ovms_cli.servables.pipelines.signatures import NodeSignature, StaticModelCatalog
from ovms_cli.servables.pipelines.validation import ValidationContext
from ovms_cli.types import DType, TensorMetadata

Spec = tuple[str, DType, tuple[int, ...]]


def sig(inputs: list[Spec], outputs: list[Spec], forbidden_dynamic: bool = False) -> NodeSignature:
    return NodeSignature.of(
        [TensorMetadata(*t) for t in inputs], [TensorMetadata(*t) for t in outputs], forbidden_dynamic
    )


FP32, I32 = types.FP32, types.I32
MODELS = StaticModelCatalog(
    {
        "affine": {1: sig([("input", FP32, (-1, 4))], [("scaled", FP32, (-1, 4)), ("total", FP32, (-1,))])},
        "square": {1: sig([("x", FP32, (-1, 4))], [("y", FP32, (-1, 4))])},
        "add": {1: sig([("a", FP32, (-1, 4)), ("b", FP32, (-1, 4))], [("sum", FP32, (-1, 4))])},
        "ints": {1: sig([("x", I32, (-1, 4))], [("y", I32, (-1, 4))])},
        "fixed3": {1: sig([("x", FP32, (1, 3))], [("y", FP32, (1, 3))])},
        "pair": {1: sig([("x", FP32, (2, 4))], [("y", FP32, (2, 4))])},
        "auto": {1: sig([("x", FP32, (-1, 4))], [("y", FP32, (-1, 4))], forbidden_dynamic=True)},
        "detect": {
            1: sig(
                [("image", FP32, (1, 3, 8, 8))],
                [("rois", FP32, (-1, 1, 3, 2, 2)), ("five", FP32, (5, 1, 3, 2, 2)), ("flat", FP32, (4, 2))],
            )
        },
        "roi": {1: sig([("roi", FP32, (1, 3, 2, 2))], [("score", FP32, (1, 3, 2, 2))])},
        "pool": {1: sig([("x", FP32, (-1, 1, 3, 2, 2))], [("m", FP32, (-1, 3))])},
    }
)
CONTEXT = ValidationContext(MODELS, library_names=["lib"])


def connect(**inputs: str) -> list[dict[str, dict[str, str]]]:
    """``target="node.alias"`` → OVMS's one-key connection objects."""
    return [{k: dict(zip(("node_name", "data_item"), v.split("."), strict=True))} for k, v in inputs.items()]


def node(
    name: str, kind: str, inputs: dict[str, str], outputs: dict[str, str], **extra: Any
) -> dict[str, Any]:
    """A node of ``kind`` calling ``extra["target"]`` (model, library or handler); ``inputs``: node
    input → "node.alias"; ``outputs``: data_item → alias; the rest of ``extra``: more keys."""
    key = {"DL model": "model_name", "custom": "library_name", "python": "handler"}[kind]
    target = extra.pop("target")
    return {
        "name": name,
        "type": kind,
        key: target,
        "inputs": connect(**inputs),
        "outputs": [{"data_item": k, "alias": v} for k, v in outputs.items()],
    } | extra


def dl(
    name: str, model: str, inputs: dict[str, str], outputs: dict[str, str], **extra: Any
) -> dict[str, Any]:
    """A DL-model node; ``inputs``: model input → "node.alias"; ``outputs``: data_item → alias."""
    return node(name, "DL model", inputs, outputs, target=model, **extra)


def chain() -> dict[str, Any]:
    """request.in → a (affine) → b (square) → response.result: valid."""
    return {
        "name": "chain",
        "inputs": ["in"],
        "nodes": [
            dl("a", "affine", {"input": "request.in"}, {"scaled": "s"}),
            dl("b", "square", {"x": "a.s"}, {"y": "out"}),
        ],
        "outputs": [{"result": {"node_name": "b", "data_item": "out"}}],
    }


def square_then_add() -> dict[str, Any]:
    """``chain``: request.x → sq (square) → plus (add, with request.x) → response.result = x*x + x,
    on pipeline_builders' ``square_model`` and ``add_model``."""
    return {
        "name": "chain",
        "inputs": ["x"],
        "nodes": [
            dl("sq", "square", {"x": "request.x"}, {"y": "squared"}),
            dl("plus", "add", {"a": "sq.squared", "b": "request.x"}, {"sum": "total"}),
        ],
        "outputs": connect(result="plus.total"),
    }


MISSING_MODEL = "Pipeline definition has reference to missing model"
WITHOUT_ADD = f"pipeline_config_list[0].nodes[1].model_name: {MISSING_MODEL} - node: plus; model: add"
"""``square_then_add``'s reason while ``add`` is not served (config.json's first pipeline)."""


def demux() -> dict[str, Any]:
    """request.image → detect (demultiply -1 rois) → r (roi, per shard) → g (pool, gathers detect)."""
    return {
        "name": "demux",
        "inputs": ["image"],
        "nodes": [
            dl("detect", "detect", {"image": "request.image"}, {"rois": "rois"}, demultiply_count=-1),
            dl("r", "roi", {"roi": "detect.rois"}, {"score": "score"}),
            dl("g", "pool", {"x": "r.score"}, {"m": "m"}, gather_from_node="detect"),
        ],
        "outputs": [{"m": {"node_name": "g", "data_item": "m"}}],
    }
