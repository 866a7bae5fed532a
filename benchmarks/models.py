"""Real topologies with random (seeded) weights, built with OpenVINO's opset API and saved as IR.

- ``resnet50``: bottleneck blocks [3, 4, 6, 3], FP32 ``input[-1, 3, 224, 224]`` → ``probabilities[-1, 1000]``
- ``mobilenet_v2``: inverted residuals with depthwise (group) convolutions, same input and output
- ``bert_small``: a 4-layer encoder, hidden 256, 4 heads, INT64 ``input_ids`` and ``attention_mask``
  ``[-1, 128]`` → ``logits[-1, 2]``
- ``overhead_probe``: MobileNet-V2's input and output and almost no computation, for measuring
  what a request costs besides its inference (``python benchmarks/models.py overhead_probe``)

Batch normalisation is folded into convolution biases, as it is in deployed models. Weights are
He-scaled so activations stay finite; IR is saved with FP16-compressed weights.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TypeAlias

import numpy as np
import openvino as ov
import openvino.opset13 as ops

IMAGE_SHAPE = [-1, 3, 224, 224]
CLASSES = 1000
RESIDUAL_GAIN = 0.2
Node: TypeAlias = "ov.Node | ov.Output"


class Weights:
    """Seeded random constants."""

    def __init__(self, seed: int) -> None:
        self._rng = np.random.default_rng(seed)

    def he(self, shape: tuple[int, ...], fan_in: int, gain: float = 1.0) -> ov.Node:
        values = self._rng.standard_normal(shape, dtype=np.float32) * np.float32(gain * np.sqrt(2.0 / fan_in))
        return ops.constant(values)

    def small(self, shape: tuple[int, ...], scale: float = 0.02) -> ov.Node:
        return ops.constant(self._rng.standard_normal(shape, dtype=np.float32) * np.float32(scale))

    def ones(self, shape: tuple[int, ...]) -> ov.Node:
        return ops.constant(np.ones(shape, np.float32))


def _out(node: Node) -> ov.Output:
    return node.output(0) if isinstance(node, ov.Node) else node


def _channels(x: Node) -> int:
    return int(_out(x).get_partial_shape()[1].get_length())


def _named(node: Node, name: str) -> Node:
    _out(node).get_tensor().set_names({name})
    return node


def _image_input() -> ov.Node:
    return _named(ops.parameter(IMAGE_SHAPE, ov.Type.f32, name="input"), "input")


def _conv(
    w: Weights, x: Node, out_c: int, kernel: int, stride: int = 1, groups: int = 1, gain: float = 1.0
) -> Node:
    """Convolution + bias (a folded batch norm); ``gain`` < 1 keeps residual sums from growing."""
    in_c = _channels(x)
    pad = kernel // 2
    if groups == 1:
        filters = w.he((out_c, in_c, kernel, kernel), in_c * kernel * kernel, gain)
        y = ops.convolution(x, filters, [stride, stride], [pad, pad], [pad, pad], [1, 1])
    else:
        filters = w.he(
            (groups, out_c // groups, in_c // groups, kernel, kernel),
            (in_c // groups) * kernel * kernel,
            gain,
        )
        y = ops.group_convolution(x, filters, [stride, stride], [pad, pad], [pad, pad], [1, 1])
    return ops.add(y, w.small((1, out_c, 1, 1)))


def _classifier(w: Weights, x: Node, channels: int) -> ov.Model:
    pooled = ops.reduce_mean(x, ops.constant(np.array([2, 3], np.int64)), False)
    logits = ops.add(
        ops.matmul(pooled, w.he((channels, CLASSES), channels), False, False), w.small((CLASSES,))
    )
    return _named(ops.softmax(logits, 1), "probabilities")


# --- ResNet-50 ---


def _bottleneck(w: Weights, x: Node, mid: int, stride: int) -> Node:
    out = mid * 4
    y = ops.relu(_conv(w, x, mid, 1))
    y = ops.relu(_conv(w, y, mid, 3, stride))
    y = _conv(w, y, out, 1, gain=RESIDUAL_GAIN)
    in_c = _channels(x)
    shortcut = x if stride == 1 and in_c == out else _conv(w, x, out, 1, stride)
    return ops.relu(ops.add(y, shortcut))


def resnet50(seed: int = 0) -> ov.Model:
    w = Weights(seed)
    image = _image_input()
    x = ops.relu(_conv(w, image, 64, 7, 2))
    x = ops.max_pool(x, [2, 2], [1, 1], [1, 1], [1, 1], [3, 3]).output(0)
    for stage, (blocks, mid) in enumerate(zip((3, 4, 6, 3), (64, 128, 256, 512), strict=True)):
        for block in range(blocks):
            x = _bottleneck(w, x, mid, 2 if block == 0 and stage > 0 else 1)
    return ov.Model([_classifier(w, x, 2048)], [image], "resnet50")


# --- MobileNet-V2 ---

# (expansion t, output channels c, repeats n, first stride s), as in the paper
MOBILENET_V2_STAGES = (
    (1, 16, 1, 1),
    (6, 24, 2, 2),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
)


def _relu6(x: Node) -> Node:
    return ops.clamp(x, 0.0, 6.0)


def _inverted_residual(w: Weights, x: Node, expansion: int, out_c: int, stride: int) -> Node:
    in_c = _channels(x)
    hidden = in_c * expansion
    y = _relu6(_conv(w, x, hidden, 1)) if expansion != 1 else x
    y = _relu6(_conv(w, y, hidden, 3, stride, groups=hidden))
    y = _conv(w, y, out_c, 1, gain=RESIDUAL_GAIN)
    return ops.add(y, x) if stride == 1 and in_c == out_c else y


def mobilenet_v2(seed: int = 0) -> ov.Model:
    w = Weights(seed)
    image = _image_input()
    x = _relu6(_conv(w, image, 32, 3, 2))
    for expansion, out_c, repeats, stride in MOBILENET_V2_STAGES:
        for index in range(repeats):
            x = _inverted_residual(w, x, expansion, out_c, stride if index == 0 else 1)
    x = _relu6(_conv(w, x, 1280, 1))
    return ov.Model([_classifier(w, x, 1280)], [image], "mobilenet_v2")


# --- BERT-small-like encoder ---

VOCAB, SEQ, HIDDEN, HEADS, LAYERS, FFN = 30522, 128, 256, 4, 4, 1024


def _layer_norm(w: Weights, x: Node) -> Node:
    normed = ops.mvn(x, ops.constant(np.array([-1], np.int64)), True, 1e-12, "inside_sqrt")
    return ops.add(ops.multiply(normed, w.ones((HIDDEN,))), w.small((HIDDEN,)))


def _dense(w: Weights, x: Node, in_f: int, out_f: int) -> Node:
    return ops.add(ops.matmul(x, w.small((in_f, out_f)), False, False), w.small((out_f,)))


def _heads(x: Node) -> Node:
    """[B, S, HIDDEN] → [B, HEADS, S, HIDDEN / HEADS]."""
    split = ops.reshape(x, ops.constant(np.array([0, 0, HEADS, HIDDEN // HEADS], np.int64)), True)
    return ops.transpose(split, ops.constant(np.array([0, 2, 1, 3], np.int64)))


def _attention(w: Weights, x: Node, mask_bias: Node) -> Node:
    q, k, v = (_heads(_dense(w, x, HIDDEN, HIDDEN)) for _ in range(3))
    scores = ops.multiply(
        ops.matmul(q, k, False, True), ops.constant(np.float32(1 / np.sqrt(HIDDEN // HEADS)))
    )
    probs = ops.softmax(ops.add(scores, mask_bias), -1)
    context = ops.transpose(
        ops.matmul(probs, v, False, False), ops.constant(np.array([0, 2, 1, 3], np.int64))
    )
    merged = ops.reshape(context, ops.constant(np.array([0, 0, HIDDEN], np.int64)), True)
    return _dense(w, merged, HIDDEN, HIDDEN)


def _encoder_layer(w: Weights, x: Node, mask_bias: Node) -> Node:
    x = _layer_norm(w, ops.add(x, _attention(w, x, mask_bias)))
    ffn = _dense(w, ops.gelu(_dense(w, x, HIDDEN, FFN), "erf"), FFN, HIDDEN)
    return _layer_norm(w, ops.add(x, ffn))


def bert_small(seed: int = 0) -> ov.Model:
    w = Weights(seed)
    ids = _named(ops.parameter([-1, SEQ], ov.Type.i64, name="input_ids"), "input_ids")
    mask = _named(ops.parameter([-1, SEQ], ov.Type.i64, name="attention_mask"), "attention_mask")
    words = ops.gather(w.small((VOCAB, HIDDEN)), ids, ops.constant(np.int64(0)))
    x = _layer_norm(w, ops.add(words, w.small((SEQ, HIDDEN))))
    keep = ops.convert(mask, ov.Type.f32)
    bias = ops.multiply(ops.subtract(ops.constant(np.float32(1)), keep), ops.constant(np.float32(-10000)))
    mask_bias = ops.unsqueeze(bias, ops.constant(np.array([1, 2], np.int64)))  # [B, 1, 1, S]
    for _ in range(LAYERS):
        x = _encoder_layer(w, x, mask_bias)
    first = ops.squeeze(
        ops.gather(x, ops.constant(np.array([0], np.int64)), ops.constant(np.int64(1))),
        ops.constant(np.array([1], np.int64)),
    )
    pooled = ops.tanh(_dense(w, first, HIDDEN, HIDDEN))
    logits = _named(_dense(w, pooled, HIDDEN, 2), "logits")
    return ov.Model([logits], [ids, mask], "bert_small")


def overhead_probe() -> ov.Model:
    """MobileNet-V2's input and output with almost no computation: what a request costs besides inference."""
    x = ops.parameter(IMAGE_SHAPE, ov.Type.f32, name="input")
    means = ops.reduce_mean(x, ops.constant(np.array([2, 3], np.int64)), False)
    scores = ops.matmul(means, ops.constant(np.ones((3, CLASSES), np.float32)), False, False)
    return ov.Model([_named(scores, "probabilities")], [x], "overhead_probe")


BUILDERS: dict[str, Callable[[], ov.Model]] = {
    "resnet50": resnet50,
    "mobilenet_v2": mobilenet_v2,
    "bert_small": bert_small,
}
PROBES: dict[str, Callable[[], ov.Model]] = {"overhead_probe": overhead_probe}  # not in the default matrix


def write_model(name: str, base: Path) -> Path:
    """Build ``name`` into ``base/1/model.xml`` (an OVMS model base path) unless it is there; return ``base``."""
    xml = base / "1" / "model.xml"
    if not xml.is_file():
        xml.parent.mkdir(parents=True, exist_ok=True)
        ov.save_model({**BUILDERS, **PROBES}[name](), str(xml), compress_to_fp16=True)
    return base


if __name__ == "__main__":
    import sys

    for name in sys.argv[1:]:
        print(write_model(name, Path(__file__).resolve().parent / "out" / "models" / name))
