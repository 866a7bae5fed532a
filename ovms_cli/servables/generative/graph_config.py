"""What a generative servable is configured with, read from OVMS's ``graph.pbtxt`` or the CLI.

OVMS serves generative models as MediaPipe graphs: a folder holds the model files and a
``graph.pbtxt`` with one calculator node (``HttpLLMCalculator``, ``EmbeddingsCalculatorOV`` or
``RerankCalculatorOV``) whose ``node_options`` carry the settings (genai-spec §6.2, §6.3). This
module reads those options (scalars only; an option this server does not implement is refused,
never ignored) into a ``GenerativeConfig``; ``--source_model/--task`` build the same in memory.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any


class Task(str, Enum):
    TEXT_GENERATION = "text_generation"
    EMBEDDINGS = "embeddings"
    RERANK = "rerank"


class GraphConfigError(ValueError):
    """A graph.pbtxt or a set of options this server cannot serve; the message names the option."""


CALCULATORS = {
    "HttpLLMCalculator": (Task.TEXT_GENERATION, "LLMCalculatorOptions"),
    "EmbeddingsCalculatorOV": (Task.EMBEDDINGS, "EmbeddingsCalculatorOVOptions"),
    "RerankCalculatorOV": (Task.RERANK, "RerankCalculatorOVOptions"),
}
POOLING = ("CLS", "MEAN", "LAST")


@dataclass(frozen=True, slots=True)
class GenerativeConfig:
    """One generative servable. Defaults are OVMS's graph defaults (genai-spec §6.2, §6.3).

    ``cache_size`` is the KV cache in GB (0: grows on demand); ``max_tokens_limit`` None: no limit.
    """

    name: str
    task: Task
    models_path: Path
    device: str = "CPU"
    plugin_config: tuple[tuple[str, Any], ...] = ()
    cache_size: int = 0
    max_num_seqs: int = 256
    max_num_batched_tokens: int = 256
    enable_prefix_caching: bool = False
    dynamic_split_fuse: bool = True
    max_tokens_limit: int | None = None
    best_of_limit: int = 20  # a request's best_of must be below it (genai-spec §2.1)
    normalize_embeddings: bool = True
    pooling: str = "CLS"
    truncate: bool = False
    source: str = field(default="", compare=False)  # where it was read, for messages

    @property
    def plugin_properties(self) -> dict[str, Any]:
        return dict(self.plugin_config)


_UNSIGNED = ("cache_size", "max_num_seqs", "max_num_batched_tokens", "max_tokens_limit", "best_of_limit")
_BOOLEANS = ("enable_prefix_caching", "dynamic_split_fuse", "normalize_embeddings", "truncate")
TASK_OPTIONS = {  # beyond models_path, the device and plugin_config; also the CLI's flags
    Task.TEXT_GENERATION: (
        "cache_size",
        "max_num_seqs",
        "max_num_batched_tokens",
        "enable_prefix_caching",
        "dynamic_split_fuse",
        "max_tokens_limit",
        "best_of_limit",
    ),
    Task.EMBEDDINGS: ("normalize_embeddings", "pooling", "truncate"),
    Task.RERANK: (),
}
_OPTIONS = {
    task: {
        "models_path",
        "device" if task is Task.TEXT_GENERATION else "target_device",
        "plugin_config",
        *names,
    }
    for task, names in TASK_OPTIONS.items()
}
_CALCULATOR = re.compile(r'calculator\s*:\s*"(\w+)"')
_OPTIONS_START = re.compile(r"\[type\.googleapis\.com/mediapipe\.(\w+)\]\s*:?\s*\{")
_STRING = r""""(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'"""  # text format strings: double or single quotes
_FIELD = re.compile(rf"""(\w+)\s*:\s*({_STRING}|[^\s"',{{}}]+)""")
_BLOCK_TOKEN = re.compile(rf"{_STRING}|[{{}}]")


def read_graph(name: str, graph: Path) -> GenerativeConfig:
    """The servable a ``graph.pbtxt`` describes; ``models_path`` is relative to the graph's folder.

    Raises GraphConfigError (unreadable file, no known calculator, an unsupported option or value).
    """
    try:
        text = graph.read_text()
    except OSError as error:
        raise GraphConfigError(f"cannot read {graph}: {error.strerror or error}") from error
    text = re.sub(r"#[^\n]*", "", text)
    calculators = [c for c in _CALCULATOR.findall(text) if c in CALCULATORS]
    if len(calculators) != 1:
        known = ", ".join(CALCULATORS)
        raise GraphConfigError(f"{graph}: expected exactly one node with calculator {known}")
    task, options_type = CALCULATORS[calculators[0]]
    start = next((m for m in _OPTIONS_START.finditer(text) if m.group(1) == options_type), None)
    if start is None:
        raise GraphConfigError(f"{graph}: the {calculators[0]} node has no {options_type}")
    body = _block_body(text, start.end(), graph)
    if "{" in _FIELD.sub("", body):
        raise GraphConfigError(f"{graph}: {options_type}: nested options are not supported")
    options = {key: _scalar(value) for key, value in _FIELD.findall(body)}
    return config_from_options(name, task, options, graph.parent, str(graph))


def _block_body(text: str, begin: int, graph: Path) -> str:
    """The text from ``begin`` to the brace closing the one just before it (braces in strings skipped)."""
    depth = 1
    for token in _BLOCK_TOKEN.finditer(text, begin):
        if token.group() == "{":
            depth += 1
        elif token.group() == "}":
            depth -= 1
            if depth == 0:
                return text[begin : token.start()]
    raise GraphConfigError(f"{graph}: unbalanced braces")


def config_from_options(
    name: str, task: Task, options: dict[str, Any], base: Path, source: str
) -> GenerativeConfig:
    """Validate OVMS's option names and values for ``task``. Raises GraphConfigError naming the option."""
    unknown = sorted(set(options) - _OPTIONS[task])
    if unknown:
        allowed = ", ".join(sorted(_OPTIONS[task]))
        raise GraphConfigError(
            f"{source}: option {unknown[0]} is not supported for {task.value} (supported: {allowed})"
        )
    if "models_path" not in options:
        raise GraphConfigError(f"{source}: models_path is required")
    values: dict[str, Any] = {}
    for key, value in options.items():
        if key in _UNSIGNED:
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise GraphConfigError(f"{source}: {key} must be an unsigned integer, not {value!r}")
            values[key] = value
        elif key in _BOOLEANS:
            if not isinstance(value, bool):
                raise GraphConfigError(f"{source}: {key} must be true or false, not {value!r}")
            values[key] = value
    if task is Task.TEXT_GENERATION and values.get("max_num_seqs") == 0:
        raise GraphConfigError(f"{source}: max_num_seqs must be at least 1")
    pooling = options.get("pooling", "CLS")
    if pooling not in POOLING:
        raise GraphConfigError(f"{source}: pooling must be one of {', '.join(POOLING)}, not {pooling!r}")
    device = options.get("device", options.get("target_device", "CPU"))
    if not isinstance(device, str) or not device:
        raise GraphConfigError(f"{source}: device must be a string")
    return GenerativeConfig(
        name=name,
        task=task,
        models_path=(base / str(options["models_path"])).resolve(),
        device=device,
        plugin_config=_plugin_config(options.get("plugin_config", ""), source),
        pooling=pooling,
        source=source,
        **values,
    )


def _plugin_config(text: Any, source: str) -> tuple[tuple[str, Any], ...]:
    if text in ("", None):
        return ()
    try:
        parsed = json.loads(text) if isinstance(text, str) else None
    except ValueError as error:
        raise GraphConfigError(f"{source}: plugin_config is not valid JSON: {error}") from error
    if not isinstance(parsed, dict):
        raise GraphConfigError(f"{source}: plugin_config must be a JSON object")
    return tuple(sorted(parsed.items()))


def _scalar(token: str) -> Any:
    if token.startswith('"'):
        return json.loads(token)
    if token.startswith("'"):
        return json.loads('"' + token[1:-1].replace("\\'", "'").replace('"', '\\"') + '"')
    if token in ("true", "false"):
        return token == "true"
    try:
        return int(token)
    except ValueError:
        pass
    try:
        return float(token)
    except ValueError:
        return token  # an enum value such as CLS


def graph_text(config: GenerativeConfig, models_path: str = "./") -> str:
    """OVMS's ``graph.pbtxt`` for ``config`` (``ovms demo`` writes it beside the model files)."""
    calculator = next(c for c, (task, _) in CALCULATORS.items() if task is config.task)
    options_type = CALCULATORS[calculator][1]
    lines = [f'models_path: "{models_path}"']
    if config.task is Task.TEXT_GENERATION:
        lines += [
            f'device: "{config.device}"',
            f"cache_size: {config.cache_size}",
            f"max_num_seqs: {config.max_num_seqs}",
            f"max_num_batched_tokens: {config.max_num_batched_tokens}",
            f"enable_prefix_caching: {str(config.enable_prefix_caching).lower()}",
            f"dynamic_split_fuse: {str(config.dynamic_split_fuse).lower()}",
        ]
        streams = ("HTTP_REQUEST_PAYLOAD:input", "HTTP_RESPONSE_PAYLOAD:output", "LLM_NODE_RESOURCES:llm")
    else:
        lines.append(f'target_device: "{config.device}"')
        if config.task is Task.EMBEDDINGS:
            lines += [
                f"pooling: {config.pooling}",
                f"normalize_embeddings: {str(config.normalize_embeddings).lower()}",
            ]
            streams = (
                "REQUEST_PAYLOAD:input",
                "RESPONSE_PAYLOAD:output",
                "EMBEDDINGS_NODE_RESOURCES:embeddings_servable",
            )
        else:
            streams = (
                "REQUEST_PAYLOAD:input",
                "RESPONSE_PAYLOAD:output",
                "RERANK_NODE_RESOURCES:rerank_servable",
            )
    body = "\n".join(f"      {line}" for line in lines)
    return (
        f'input_stream: "{streams[0]}"\n'
        f'output_stream: "{streams[1]}"\n'
        "node {\n"
        f'  name: "{config.task.value}"\n'
        f'  calculator: "{calculator}"\n'
        f'  input_side_packet: "{streams[2]}"\n'
        f'  input_stream: "{streams[0]}"\n'
        f'  output_stream: "{streams[1]}"\n'
        "  node_options: {\n"
        f"    [type.googleapis.com/mediapipe.{options_type}]: {{\n{body}\n    }}\n"
        "  }\n"
        "}\n"
    )
