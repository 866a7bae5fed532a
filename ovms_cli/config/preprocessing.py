"""Input preprocessing options of OVMS 2026: ``mean``, ``scale``, ``color_format``, ``precision``.

Grammars as OVMS parses them (``modelconfig.cpp``, ``color_format_configuration.cpp``,
``precision_configuration.cpp``), checked here without OpenVINO so that ``validate-config`` knows
them; ``inference/preprocessing.py`` applies them to the model at load time.

- ``mean`` / ``scale``: a number (``"1.0"``) or one per channel, ``"[123.675,116.28,103.53]"``
  or ``"(...)"``; spaces ignored. config.json also takes a JSON number or array of numbers.
- ``color_format``: ``MODEL:TENSOR`` as OVMS applies it: the second format is what clients send
  (``tensor().set_color_format``), the first what the model receives (``convert_color``).
- ``precision``: ``TENSOR:MODEL``, e.g. ``uint8:fp32``: clients send uint8, the model converts
  (``tensor().set_element_type``, then ``convert_element_type``).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from ovms_cli.config.grammar import GrammarError
from ovms_cli.config.problems import quote

MeanOrScale = float | tuple[float, ...]

# OVMS's names (color_format_configuration.cpp): channels of the image a model receives
COLOR_FORMATS = ("RGB", "BGR", "GRAY", "NV12", "NV12_2", "I420", "I420_3")
MODEL_COLOR_CHANNELS = {"RGB": 3, "BGR": 3, "GRAY": 1}
_MULTI_PLANE = {"NV12_2": ("NV12", "two"), "I420_3": ("I420", "three")}
# OVMS's names (precision_configuration.cpp) with the numpy/KServe dtype a client sends
PRECISIONS = (
    "BF16",
    "FP64",
    "FP32",
    "FP16",
    "INT64",
    "INT32",
    "INT16",
    "INT8",
    "INT4",
    "UINT64",
    "UINT32",
    "UINT16",
    "UINT8",
    "UINT4",
    "UINT1",
)
# element types that no API can carry: OVMS accepts them on the model side only
_MODEL_ONLY_PRECISIONS = ("BF16", "INT4", "UINT4", "UINT1")
_FLOAT = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")
_VALUES_EXPECTED = "expected a number or one per channel like [123.675,116.28,103.53]"


@dataclass(frozen=True, slots=True)
class ColorFormat:
    model: str  # what the model receives (OVMS's "target"), one of MODEL_COLOR_CHANNELS
    tensor: str  # what clients send (OVMS's "source")


@dataclass(frozen=True, slots=True)
class Precision:
    tensor: str  # what clients send, e.g. UINT8
    model: str  # what the model computes in, e.g. FP32


@dataclass(frozen=True, slots=True)
class Preprocessing:
    """One input's preprocessing, applied in OVMS's order: color, precision, mean, scale."""

    mean: MeanOrScale | None = None
    scale: MeanOrScale | None = None
    color_format: ColorFormat | None = None
    precision: Precision | None = None

    @property
    def configured(self) -> bool:
        return any(v is not None for v in (self.mean, self.scale, self.color_format, self.precision))

    def per_channel_counts(self) -> dict[str, int]:
        """The channel count each option implies: ``{"mean": 3, "color_format": 1, ...}``."""
        counts = {
            option: len(values)
            for option, values in (("mean", self.mean), ("scale", self.scale))
            if isinstance(values, tuple)
        }
        if self.color_format is not None:
            counts["color_format"] = MODEL_COLOR_CHANNELS[self.color_format.model]
        return counts

    def describe(self) -> str:
        """``mean [1,2,3] scale 58 BGR:RGB uint8:fp32`` in the options' own grammar."""
        parts = [
            f"{name} {_values_text(v)}"
            for name, v in (("mean", self.mean), ("scale", self.scale))
            if v is not None
        ]
        if self.color_format is not None:
            parts.append(f"color {self.color_format.model}:{self.color_format.tensor}")
        if self.precision is not None:
            parts.append(f"precision {self.precision.tensor}:{self.precision.model}".lower())
        return " ".join(parts)


def parse_mean(value: Any) -> MeanOrScale:
    """``"1.0"``, ``"[123.675,116.28,103.53]"``, ``"(…)"``, or in config.json a number or array."""
    return _values("mean", value)


def parse_scale(value: Any) -> MeanOrScale:
    """As ``parse_mean``; every value must be non-zero, since the input is divided by it."""
    values = _values("scale", value)
    if 0.0 in (values if isinstance(values, tuple) else (values,)):
        raise GrammarError("scale", f"values divide the input and must not be 0, got {quote(value)}")
    return values


def parse_color_format(value: str) -> ColorFormat:
    """``BGR:RGB``: the model's color format, then the clients' (OVMS order), case-insensitive."""
    sides = "".join(value.split()).upper().split(":")
    if len(sides) != 2 or not all(s in COLOR_FORMATS for s in sides):
        raise GrammarError(
            "color_format",
            f"expected MODEL:TENSOR, each one of {', '.join(COLOR_FORMATS)}, got {quote(value)}",
        )
    model, tensor = sides
    if model not in MODEL_COLOR_CHANNELS:
        raise GrammarError(
            "color_format",
            f"the model's side (first) must be RGB, BGR or GRAY; {model} is a client-side format only, "
            f"e.g. BGR:{model}, got {quote(value)}",
        )
    if tensor in _MULTI_PLANE:
        single, planes = _MULTI_PLANE[tensor]
        raise GrammarError(
            "color_format",
            f"{tensor} sends the image as {planes} planes, separate inputs this server does not serve yet; "
            f"send single-plane {single} instead ({model}:{single}), got {quote(value)}",
        )
    if tensor == "GRAY" and model != "GRAY":
        raise GrammarError("color_format", f"OpenVINO cannot convert GRAY to {model}, got {quote(value)}")
    return ColorFormat(model, tensor)


def parse_precision(value: str) -> Precision:
    """``uint8:fp32``: the clients' precision, then the model's (OVMS order), case-insensitive."""
    sides = "".join(value.split()).upper().split(":")
    if len(sides) != 2 or not all(s in PRECISIONS for s in sides):
        raise GrammarError(
            "precision",
            f"expected TENSOR:MODEL like uint8:fp32, each one of {', '.join(p.lower() for p in PRECISIONS)}, "
            f"got {quote(value)}",
        )
    tensor, model = sides
    if tensor in _MODEL_ONLY_PRECISIONS:
        raise GrammarError(
            "precision", f"clients cannot send {tensor.lower()} tensors (no API datatype), got {quote(value)}"
        )
    return Precision(tensor, model)


def _values(option: str, value: Any) -> MeanOrScale:
    if isinstance(value, bool):
        raise GrammarError(option, f"{_VALUES_EXPECTED}, got {quote(value)}")
    if isinstance(value, int | float):
        return _finite(option, float(value), value)
    if isinstance(value, list):
        if not value or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in value):
            raise GrammarError(option, f"{_VALUES_EXPECTED}, got {quote(value)}")
        return tuple(_finite(option, float(v), value) for v in value)
    if not isinstance(value, str):
        raise GrammarError(option, f"{_VALUES_EXPECTED}, got {quote(value)}")
    text = "".join(value.split())
    if len(text) >= 2 and (text[0], text[-1]) in (("[", "]"), ("(", ")")):
        tokens = text[1:-1].split(",")
        if not all(_FLOAT.fullmatch(t) for t in tokens):
            raise GrammarError(option, f"{_VALUES_EXPECTED}, got {quote(value)}")
        return tuple(_finite(option, float(t), value) for t in tokens)
    if not _FLOAT.fullmatch(text):
        raise GrammarError(option, f"{_VALUES_EXPECTED}, got {quote(value)}")
    return _finite(option, float(text), value)


def _finite(option: str, number: float, whole: Any) -> float:
    if not math.isfinite(number):
        raise GrammarError(option, f"values must be finite, got {quote(whole)}")
    return number


def _values_text(values: MeanOrScale) -> str:
    if isinstance(values, tuple):
        return "[" + ",".join(f"{v:g}" for v in values) + "]"
    return f"{values:g}"
