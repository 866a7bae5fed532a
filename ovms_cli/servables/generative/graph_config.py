"""What a generative servable is configured with, read from OVMS's ``graph.pbtxt`` or the CLI.

OVMS serves generative models as MediaPipe graphs: a folder holds the model files and a
``graph.pbtxt`` with one calculator node (``HttpLLMCalculator``, ``EmbeddingsCalculatorOV`` or
``RerankCalculatorOV``) whose ``node_options`` carry the settings (genai-spec §6.2, §6.3). This
module reads those options (scalars only; an option this server does not implement is refused,
never ignored) into a ``GenerativeConfig``; ``--source_model/--task`` build the same in memory.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

from ovms_cli.servables.generative.pbtxt import Message, TextFormatError, parse


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
_GRAPH_FIELDS = {  # mediapipe.CalculatorGraphConfig
    "node", "packet_factory", "packet_generator", "num_threads", "status_handler", "input_stream",
    "output_stream", "input_side_packet", "output_side_packet", "max_queue_size", "report_deadlock",
    "input_stream_handler", "output_stream_handler", "executor", "profiler_config", "package", "type",
    "options", "graph_options",
}  # fmt: skip
_NODE_FIELDS = {  # mediapipe.CalculatorGraphConfig.Node
    "name", "calculator", "input_stream", "output_stream", "input_side_packet", "output_side_packet",
    "options", "node_options", "source_layer", "buffer_size_hint", "input_stream_handler",
    "output_stream_handler", "input_stream_info", "executor", "profile_config", "max_in_flight",
    "option_value", "external_input", "graph_options",
}  # fmt: skip


def read_graph(name: str, graph: Path) -> GenerativeConfig:
    """The servable a ``graph.pbtxt`` describes; ``models_path`` is relative to the graph's folder.

    Raises GraphConfigError (unreadable file, text protobuf would not parse, a field a graph or node
    does not have, no known calculator, an unsupported, repeated or nested option or a wrong value).
    """
    try:
        document = parse(graph.read_text())
    except OSError as error:
        raise GraphConfigError(f"cannot read {graph}: {error.strerror or error}") from error
    except TextFormatError as error:
        raise GraphConfigError(f"{graph}: {error}") from error
    _check_fields(document, _GRAPH_FIELDS, "the graph", graph)
    nodes = [entry.value for entry in document if entry.name == "node" and isinstance(entry.value, tuple)]
    for node in nodes:
        _check_fields(node, _NODE_FIELDS, "a node", graph)
    served = [(node, _scalar(str(_first(node, "calculator")))) for node in nodes]
    served = [(node, calculator) for node, calculator in served if calculator in CALCULATORS]
    if len(served) != 1:
        known = ", ".join(CALCULATORS)
        raise GraphConfigError(f"{graph}: expected exactly one node with calculator {known}")
    node, calculator = served[0]
    task, options_type = CALCULATORS[calculator]
    body = _options_of(node, options_type)
    if body is None:
        raise GraphConfigError(f"{graph}: the {calculator} node has no {options_type}")
    return config_from_options(name, task, _options(body, options_type, graph), graph.parent, str(graph))


def _check_fields(message: Message, allowed: set[str], what: str, graph: Path) -> None:
    for entry in message:
        if entry.name not in allowed:
            raise GraphConfigError(f"{graph}: line {entry.line}: {what} has no field {entry.name}")


def _first(message: Message, name: str) -> str | Message:
    return next((entry.value for entry in message if entry.name == name), "")


def _options_of(node: Message, options_type: str) -> Message | None:
    extension = f"[type.googleapis.com/mediapipe.{options_type}]"
    for entry in node:
        if entry.name == "node_options" and isinstance(entry.value, tuple):
            body = _first(entry.value, extension)
            if isinstance(body, tuple):
                return body
    return None


def _options(body: Message, options_type: str, graph: Path) -> dict[str, Any]:
    options: dict[str, Any] = {}
    for entry in body:
        where = f"{graph}: line {entry.line}: {options_type}"
        if isinstance(entry.value, tuple):
            raise GraphConfigError(f"{where}: {entry.name}: nested options are not supported")
        if entry.name in options:
            raise GraphConfigError(f"{where}: {entry.name} is set twice (it is not a repeated field)")
        options[entry.name] = _scalar(entry.value)
    return options


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
