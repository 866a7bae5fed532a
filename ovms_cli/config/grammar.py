"""Value grammars of model options (spec §2.3): shape, batch size, layout, version policy, plugin config.

Each parser takes the value as found in config.json or on the command line and raises
``GrammarError`` naming what was expected and what was given.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Mapping
from typing import Any, Literal, TypeVar

from ovms_cli.config.problems import json_path, quote
from ovms_cli.inference.shapes import Dim
from ovms_cli.repository.version_policy import AllPolicy, LatestPolicy, SpecificPolicy, VersionPolicy

logger = logging.getLogger("ovms.config")

ShapeSpec = Literal["auto"] | tuple[Dim, ...]

_T = TypeVar("_T")

_SHAPE_EXPECTED = 'expected "auto" or a tuple like (1,3,224,224) with dims N, -1 or min:max'
_NUMBER = re.compile(r"\d+")
_RANGE = re.compile(r"(\d+):(\d+)")
_LAYOUT_LETTERS = "NCHWD"
_LAYOUT_EXPECTED = (
    'expected letters N, C, H, W, D, "?" and at most one "...", optionally TARGET:SOURCE like NHWC:NCHW'
)
_POLICY_KEYS = ("all", "specific", "latest")
_LEGACY_STREAMS = {
    "CPU_THROUGHPUT_STREAMS": "CPU_THROUGHPUT_AUTO",
    "GPU_THROUGHPUT_STREAMS": "GPU_THROUGHPUT_AUTO",
}
_BIND_THREAD_AFFINITY = {"YES": "CORE", "NO": "NONE"}


class GrammarError(ValueError):
    """An option value that does not follow its grammar; ``where`` locates it inside the option."""

    def __init__(self, option: str, reason: str, where: tuple[str | int, ...] = ()) -> None:
        self.option = option
        self.reason = reason
        self.where = where
        super().__init__(f"{json_path(option, where)}: {reason}")


# shape


def parse_shape(value: str) -> ShapeSpec:
    """``auto`` or a tuple ``(1,3,224,224)``; dims ``N``, ``-1`` (any) or ``min:max``; spaces ignored."""
    text = "".join(value.split())
    if text == "auto":
        return "auto"
    if len(text) < 2 or text[0] != "(" or text[-1] != ")":
        raise GrammarError("shape", f"{_SHAPE_EXPECTED}, got {quote(value)}")
    inner = text[1:-1]
    if not inner:
        return ()
    return tuple(_parse_dim(token, value) for token in inner.split(","))


def _parse_dim(token: str, whole: str) -> Dim:
    if _NUMBER.fullmatch(token):
        return Dim.fixed(int(token))
    if token == "-1":
        return Dim.any()
    bounds = _RANGE.fullmatch(token)
    if bounds is None:
        raise GrammarError("shape", f"{_SHAPE_EXPECTED}, got {quote(whole)}")
    low, high = int(bounds.group(1)), int(bounds.group(2))
    if low > high:
        raise GrammarError("shape", f"range {token} has min > max in {quote(whole)}")
    return Dim(low, high)


def parse_shape_config(value: str | Mapping[str, str]) -> ShapeSpec | dict[str, ShapeSpec]:
    """One shape for the single input, or per input name (a JSON object, also given as a string)."""
    return _per_name_or_single("shape", value, parse_shape)


# batch size


def parse_batch_size(value: int | str) -> Dim | Literal["auto"] | None:
    """An integer, ``-1`` (any), ``min:max`` or ``auto``; ``0`` keeps the model's own batch (``None``)."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise GrammarError("batch_size", f"expected an integer or a string, got {_show(value)}")
    text = "".join(str(value).split())
    if text == "auto":
        return "auto"
    if _NUMBER.fullmatch(text):
        size = int(text)
        return Dim.fixed(size) if size > 0 else None
    if text == "-1":
        return Dim.any()
    bounds = _RANGE.fullmatch(text)
    if bounds is None:
        raise GrammarError("batch_size", f'expected an integer, -1, min:max or "auto", got {quote(value)}')
    low, high = int(bounds.group(1)), int(bounds.group(2))
    if low > high:
        raise GrammarError("batch_size", f"range {text} has min > max")
    return Dim(low, high)


# layout


def parse_layout(value: str) -> str:
    """``NCHW`` or ``TARGET:SOURCE`` like ``NHWC:NCHW``, upper-cased with spaces removed."""
    text = "".join(value.split()).upper()
    sides = text.split(":")
    if len(sides) > 2:
        raise GrammarError("layout", f"{_LAYOUT_EXPECTED}, got {quote(value)}")
    for side in sides:
        _check_layout(side, value)
    return text


def _check_layout(layout: str, whole: str) -> None:
    seen: set[str] = set()
    rest = layout
    if not rest:
        raise GrammarError("layout", f"{_LAYOUT_EXPECTED}, got {quote(whole)}")
    while rest:
        token = "..." if rest.startswith("...") else rest[0]
        if token not in (*_LAYOUT_LETTERS, "?", "..."):
            raise GrammarError("layout", f"{_LAYOUT_EXPECTED}, got {quote(whole)}")
        if token in seen and token != "?":
            raise GrammarError("layout", f'"{token}" appears more than once in {quote(whole)}')
        seen.add(token)
        rest = rest[len(token) :]


def parse_layout_config(value: str | Mapping[str, str]) -> str | dict[str, str]:
    """One layout for the single input, or per input/output name (a JSON object, also given as a string)."""
    return _per_name_or_single("layout", value, parse_layout)


# model version policy


def parse_version_policy(value: str | Mapping[str, Any]) -> VersionPolicy:
    """``{"all": {}}``, ``{"specific": {"versions": [1, 3]}}`` or ``{"latest": {"num_versions": 2}}``.

    A string is read as JSON. Non-positive specific versions are dropped with a warning, as OVMS does.
    """
    option = "model_version_policy"
    policy = _json_object(option, value) if isinstance(value, str) else value
    if not isinstance(policy, Mapping) or len(policy) != 1:
        raise GrammarError(
            option, f"expected an object with exactly one of {_quoted(_POLICY_KEYS)}, got {_show(policy)}"
        )
    [(kind, options)] = policy.items()
    if kind not in _POLICY_KEYS:
        raise GrammarError(option, f"unsupported key {quote(kind)}, expected one of {_quoted(_POLICY_KEYS)}")
    if not isinstance(options, Mapping):
        raise GrammarError(option, f"expected an object, got {_show(options)}", (kind,))
    if kind == "all":
        _only_keys(option, kind, options, ())
        return AllPolicy()
    if kind == "specific":
        _only_keys(option, kind, options, ("versions",))
        return SpecificPolicy(_specific_versions(option, options))
    _only_keys(option, kind, options, ("num_versions",))
    count = options["num_versions"]
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise GrammarError(option, f"expected an integer >= 1, got {_show(count)}", (kind, "num_versions"))
    return LatestPolicy(count)


def _only_keys(option: str, kind: str, options: Mapping[str, Any], keys: tuple[str, ...]) -> None:
    for key in options:
        if key not in keys:
            raise GrammarError(option, f"unknown key {quote(key)}", (kind,))
    for key in keys:
        if key not in options:
            raise GrammarError(option, f"required key {quote(key)} is missing", (kind,))


def _specific_versions(option: str, options: Mapping[str, Any]) -> tuple[int, ...]:
    versions = options["versions"]
    where: tuple[str | int, ...] = ("specific", "versions")
    if not isinstance(versions, list):
        raise GrammarError(option, f"expected an array of integers, got {_show(versions)}", where)
    for index, version in enumerate(versions):
        if isinstance(version, bool) or not isinstance(version, int):
            raise GrammarError(option, f"expected an integer, got {_show(version)}", (*where, index))
    dropped = [v for v in versions if v < 1]
    if dropped:
        logger.warning("Model version policy: non-positive versions %s are ignored", dropped)
    return tuple(v for v in versions if v >= 1)


# plugin config


def parse_plugin_config(value: str | Mapping[str, Any]) -> dict[str, str | bool]:
    """Device properties with values as OpenVINO takes them, legacy keys translated (spec §2.3.4).

    Strings stay, integers become decimal strings, floats six-decimal strings, booleans stay booleans.
    """
    option = "plugin_config"
    given = _json_object(option, value) if isinstance(value, str) else value
    if not isinstance(given, Mapping):
        raise GrammarError(option, f"expected an object, got {_show(given)}")
    result: dict[str, str | bool] = {}
    for key, raw in given.items():
        new_key, new_value = _translate_legacy(key, _property_value(key, raw))
        if new_key in result or (new_key != key and new_key in given):
            raise GrammarError(option, f"{quote(key)} means {quote(new_key)}, which is also given", (key,))
        result[new_key] = new_value
    return result


def _property_value(key: str, value: Any) -> str | bool:
    if isinstance(value, bool | str):
        return value
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return f"{value:.6f}"
    raise GrammarError("plugin_config", f"expected a string, number or boolean, got {_show(value)}", (key,))


def _translate_legacy(key: str, value: str | bool) -> tuple[str, str | bool]:
    if key in _LEGACY_STREAMS:
        translated = (
            ("PERFORMANCE_HINT", "THROUGHPUT") if value == _LEGACY_STREAMS[key] else ("NUM_STREAMS", value)
        )
    elif key == "CPU_BIND_THREAD":
        if not isinstance(value, str) or value not in _BIND_THREAD_AFFINITY:
            raise GrammarError("plugin_config", f'expected "YES" or "NO", got {_show(value)}', (key,))
        translated = ("AFFINITY", _BIND_THREAD_AFFINITY[value])
    elif key == "CPU_THREADS_NUM":
        translated = ("INFERENCE_NUM_THREADS", value)
    else:
        return key, value
    logger.warning("Plugin config key %s is deprecated, using %s: %s instead", key, *translated)
    return translated


# shared helpers


def _per_name_or_single(
    option: str, value: str | Mapping[str, str], parse: Callable[[str], _T]
) -> _T | dict[str, _T]:
    if isinstance(value, str) and not value.strip().startswith("{"):
        return parse(value)
    per_name = _json_object(option, value) if isinstance(value, str) else value
    if not isinstance(per_name, Mapping):
        raise GrammarError(option, f"expected a string or an object, got {_show(per_name)}")
    result: dict[str, _T] = {}
    for name, item in per_name.items():
        if not isinstance(item, str):
            raise GrammarError(option, f"expected a string, got {_show(item)}", (name,))
        try:
            result[name] = parse(item)
        except GrammarError as error:
            raise GrammarError(option, error.reason, (name,)) from None
    return result


def _json_object(option: str, text: str) -> Any:
    try:
        parsed = json.loads(text)
    except json.JSONDecodeError as error:
        raise GrammarError(option, f"expected a JSON object, got invalid JSON ({error})") from None
    except RecursionError:
        raise GrammarError(option, "expected a JSON object, got JSON nested too deeply") from None
    if not isinstance(parsed, dict):
        raise GrammarError(option, f"expected a JSON object, got {_show(parsed)}")
    return parsed


def _show(value: Any) -> str:
    try:
        return quote(value)
    except (TypeError, ValueError):
        return repr(value)


def _quoted(words: tuple[str, ...]) -> str:
    return ", ".join(quote(w) for w in words)
