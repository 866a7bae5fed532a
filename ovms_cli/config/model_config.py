"""One model's configuration, from a ``model_config_list[].config`` object or from the CLI options.

Deliberate difference from OVMS: where OVMS only logs a warning and falls back to the model's
defaults (an unparsable ``shape``, ``batch_size`` or ``model_version_policy`` in config.json, an
unparsable ``--batch_size``), we report an error, so that a typo never silently serves a model
in a shape nobody asked for.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal, TypeVar

from ovms_cli.config.grammar import (
    GrammarError,
    ShapeSpec,
    parse_batch_size,
    parse_layout_config,
    parse_plugin_config,
    parse_shape_config,
    parse_version_policy,
)
from ovms_cli.config.names import name_problem
from ovms_cli.config.preprocessing import (
    Preprocessing,
    parse_color_format,
    parse_mean,
    parse_precision,
    parse_scale,
)
from ovms_cli.config.problems import ConfigError, Problem, json_path, schema_problems
from ovms_cli.config.schema import MODEL_CONFIG_SCHEMA
from ovms_cli.inference.shapes import Dim
from ovms_cli.repository.source import is_remote
from ovms_cli.repository.version_policy import LatestPolicy, VersionPolicy

logger = logging.getLogger("ovms.config")

MAX_NIREQ = 100_000
MAX_SEQUENCE_NUMBER = 2**32 - 1
DEFAULT_VERSION_POLICY: VersionPolicy = LatestPolicy(1)
STATEFUL_ONLY_KEYS = ("idle_sequence_cleanup", "low_latency_transformation", "max_sequence_number")

_CLI_OPTIONS = {"name": "--model_name", "base_path": "--model_path"}

_T = TypeVar("_T")


@dataclass(frozen=True)
class DynamicBatching:
    """Coalesce concurrent requests into one inference of up to ``max_batch_size`` rows."""

    max_batch_size: int
    max_batch_delay_us: int = 0


@dataclass(frozen=True)
class ModelConfig:
    name: str
    base_path: str  # absolute local path, or a cloud URI left as given
    batch_size: Dim | Literal["auto"] | None = None
    shape: ShapeSpec | dict[str, ShapeSpec] | None = None  # a bare ShapeSpec is for the single input
    layout: str | dict[str, str] | None = None
    version_policy: VersionPolicy = DEFAULT_VERSION_POLICY
    nireq: int = 0
    target_device: str = "CPU"
    plugin_config: Mapping[str, str | bool] = field(default_factory=dict)
    allow_cache: bool = False
    stateful: bool = False
    idle_sequence_cleanup: bool = True
    low_latency_transformation: bool = False
    max_sequence_number: int = 500
    dynamic_batching: DynamicBatching | None = None
    preprocessing: Preprocessing = field(default_factory=Preprocessing)  # of the single input, at load time

    @property
    def is_remote(self) -> bool:
        return is_remote(self.base_path)


def model_config_from_dict(obj: Mapping[str, Any], config_dir: Path, json_path: str) -> ModelConfig:
    """Parse a ``model_config_list[].config`` object found at ``json_path``.

    Relative ``base_path`` values resolve against ``config_dir``. Raises ``ConfigError`` with every
    problem found.
    """
    problems = schema_problems(obj, MODEL_CONFIG_SCHEMA, json_path)
    if problems:
        raise ConfigError(problems)
    return _parse(obj, config_dir, lambda key: _config_path(json_path, key))


def model_config_from_cli(*, cwd: Path, **options: Any) -> ModelConfig:
    """The single-model-mode configuration from ``cli_model_options``'s keyword arguments.

    Problems are located by option name (``--shape: ...``). Raises ``ConfigError``.
    """
    return _parse(cli_model_options(**options), cwd, _cli_option)


def cli_model_options(
    *,
    name: str,
    path: str,
    batch_size: str | None = None,
    shape: str | None = None,
    layout: str | None = None,
    model_version_policy: str | None = None,
    nireq: int | None = None,
    target_device: str | None = None,
    plugin_config: str | None = None,
    stateful: bool | None = None,
    idle_sequence_cleanup: bool | None = None,
    low_latency_transformation: bool | None = None,
    max_sequence_number: int | None = None,
    max_batch_size: int | None = None,
    max_batch_delay_us: int | None = None,
    mean: str | None = None,
    scale: str | None = None,
    color_format: str | None = None,
    precision: str | None = None,
) -> dict[str, Any]:
    """The model options given on the command line (``None``: not given) under their config.json keys.

    Values keep their command-line spelling: ``shape`` ``"(1,3)"``, ``plugin_config`` a JSON text.
    """
    given = {
        "name": name,
        "base_path": path,
        "batch_size": batch_size,
        "shape": shape,
        "layout": layout,
        "model_version_policy": model_version_policy,
        "nireq": nireq,
        "target_device": target_device,
        "plugin_config": plugin_config,
        "stateful": stateful,
        "idle_sequence_cleanup": idle_sequence_cleanup,
        "low_latency_transformation": low_latency_transformation,
        "max_sequence_number": max_sequence_number,
        "dynamic_batching": _batching_options(max_batch_size, max_batch_delay_us),
        "mean": mean,
        "scale": scale,
        "color_format": color_format,
        "precision": precision,
    }
    return {k: v for k, v in given.items() if v is not None}


def _batching_options(max_batch_size: int | None, max_delay_us: int | None) -> dict[str, int] | None:
    if max_batch_size is None and max_delay_us is None:
        return None
    options = {"max_batch_size": max_batch_size if max_batch_size is not None else 0}
    if max_delay_us is not None:
        options["max_batch_delay_us"] = max_delay_us
    return options


def _parse_batching(parser: _Parser) -> DynamicBatching | None:
    raw = parser.raw.get("dynamic_batching")
    if raw is None:
        return None
    size, delay = raw.get("max_batch_size", 0), raw.get("max_batch_delay_us", 0)
    if size < 1:
        parser.report("dynamic_batching", "max_batch_size must be >= 1 (--max_batch_size)")
    if delay < 0:
        parser.report("dynamic_batching", "max_batch_delay_us must be >= 0")
    return DynamicBatching(size, delay)


def _config_path(prefix: str, key: str) -> str:
    return json_path(prefix, [key])


def _cli_option(key: str) -> str:
    return _CLI_OPTIONS.get(key, f"--{key}")


class _Parser:
    """Collects every problem of one model's options instead of stopping at the first."""

    def __init__(self, raw: Mapping[str, Any], locate: Callable[[str], str]) -> None:
        self.raw = raw
        self.locate = locate
        self.problems: list[Problem] = []

    def report(self, key: str, message: str) -> None:
        self.problems.append(Problem(self.locate(key), message))

    def grammar(self, key: str, parse: Callable[[Any], _T]) -> _T | None:
        if key not in self.raw:
            return None
        try:
            return parse(self.raw[key])
        except GrammarError as error:
            self.problems.append(Problem(json_path(self.locate(key), error.where), error.reason))
            return None

    def bounded(self, key: str, default: int, maximum: int, minimum: int = 0, why: str = "") -> int:
        value: int = self.raw.get(key, default)
        if value < minimum:
            self.report(key, f"must be >= {minimum}{why}")
        elif value > maximum:
            self.report(key, f"must be <= {maximum}")
        return value


def _parse(raw: Mapping[str, Any], base_dir: Path, locate: Callable[[str], str]) -> ModelConfig:
    parser = _Parser(raw, locate)
    name: str = raw["name"]
    problem = name_problem(name)
    if problem is not None:
        parser.report("name", problem)
    base_path = _resolve_base_path(parser, raw["base_path"], base_dir)
    batch_size = parser.grammar("batch_size", parse_batch_size)
    shape = parser.grammar("shape", parse_shape_config)
    policy = parser.grammar("model_version_policy", parse_version_policy)
    stateful: bool = raw.get("stateful", False)
    config = ModelConfig(
        name=name,
        base_path=base_path,
        batch_size=batch_size,
        shape=shape,
        layout=parser.grammar("layout", parse_layout_config),
        version_policy=policy if policy is not None else DEFAULT_VERSION_POLICY,
        nireq=parser.bounded("nireq", 0, MAX_NIREQ),
        target_device=raw.get("target_device", "CPU"),
        plugin_config=parser.grammar("plugin_config", parse_plugin_config) or {},
        allow_cache=raw.get("allow_cache", False),
        stateful=stateful,
        idle_sequence_cleanup=raw.get("idle_sequence_cleanup", True),
        low_latency_transformation=raw.get("low_latency_transformation", False),
        max_sequence_number=parser.bounded(
            "max_sequence_number", 500, MAX_SEQUENCE_NUMBER, 1, " (with 0 no sequence could ever start)"
        ),
        dynamic_batching=_parse_batching(parser),
        preprocessing=_parse_preprocessing(parser),
    )
    _check_combinations(parser, config)
    if parser.problems:
        raise ConfigError(parser.problems)
    return _without_ignored_batch(config)


def _parse_preprocessing(parser: _Parser) -> Preprocessing:
    preprocessing = Preprocessing(
        mean=parser.grammar("mean", parse_mean),
        scale=parser.grammar("scale", parse_scale),
        color_format=parser.grammar("color_format", parse_color_format),
        precision=parser.grammar("precision", parse_precision),
    )
    counts = preprocessing.per_channel_counts()
    if len(set(counts.values())) > 1:
        implied = ", ".join(f"{option} {count}" for option, count in counts.items())
        parser.report(next(iter(counts)), f"channel counts disagree: {implied}")
    return preprocessing


def _resolve_base_path(parser: _Parser, value: str, base_dir: Path) -> str:
    if not value:
        parser.report("base_path", "must not be empty")
        return value
    if ".." in value.replace("\\", "/").split("/"):
        parser.report("base_path", f'must not contain ".." segments, got "{value}"')
    if is_remote(value):
        return value
    return str(base_dir.absolute() / value)


def _check_combinations(parser: _Parser, config: ModelConfig) -> None:
    if not config.stateful:
        for key in STATEFUL_ONLY_KEYS:
            if key in parser.raw:
                parser.report(key, "only allowed for stateful models")
        return
    if config.batch_size == "auto":
        parser.report("batch_size", '"auto" is not allowed for stateful models')
    if config.dynamic_batching is not None:
        parser.report(
            "dynamic_batching", "is not allowed for stateful models (requests of a sequence run in order)"
        )
    if _has_auto_shape(config.shape):
        parser.report("shape", '"auto" is not allowed for stateful models')


def _has_auto_shape(shape: ShapeSpec | dict[str, ShapeSpec] | None) -> bool:
    if isinstance(shape, dict):
        return "auto" in shape.values()
    return shape == "auto"


def _without_ignored_batch(config: ModelConfig) -> ModelConfig:
    if config.batch_size == "auto" or _has_auto_shape(config.shape):
        logger.warning('Model %s: shape/batch_size "auto" is deprecated', config.name)
    if config.batch_size is None or config.shape is None:
        return config
    logger.warning("Both shape and batch size have been defined. Batch size parameter will be ignored.")
    return replace(config, batch_size=None)
