"""Typed, immutable pipeline definitions parsed from ``pipeline_config_list`` and
``custom_node_library_config_list`` entries (spec §2.6, §2.7).

Parsing checks the shape of each entry (keys, types, node kinds) and reports problems with their
JSON path; graph rules (§8.6) are ``validation``'s job.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any

from ovms_cli.servables.pipelines.problems import Code, Problem

ENTRY = "request"
EXIT = "response"
MAX_DEMULTIPLY_COUNT = 10000
DYNAMIC = -1


class NodeKind(Enum):
    DL_MODEL = "DL model"
    CUSTOM = "custom"
    PYTHON = "python"  # beyond OVMS: a Python class, see ``python_node``


@dataclass(frozen=True, slots=True)
class Connection:
    """A node input (or pipeline output) bound to output alias ``data_item`` of node ``node_name``."""

    target: str  # the node input name (model input, library input) or the pipeline output name
    node_name: str
    data_item: str


@dataclass(frozen=True, slots=True)
class OutputAlias:
    data_item: str  # the model / library / Python node output name
    alias: str  # the name consumers use


@dataclass(frozen=True, slots=True)
class NodeDefinition:
    name: str
    kind: NodeKind
    inputs: tuple[Connection, ...]
    outputs: tuple[OutputAlias, ...]
    model_name: str | None = None
    version: int | None = None
    library_name: str | None = None
    handler: str | None = None  # Python nodes: "package.module:Class" or "/path/file.py:Class"
    params: tuple[tuple[str, str], ...] = ()
    demultiply_count: int | None = None  # None: not a demultiplexer; -1: dynamic
    gather_from_node: str | None = None
    path: str = ""  # JSON path of the node entry

    @property
    def params_dict(self) -> dict[str, str]:
        return dict(self.params)

    def alias_source(self, alias: str) -> str | None:
        """The output (data_item) exposed under ``alias``, or None."""
        return next((o.data_item for o in self.outputs if o.alias == alias), None)


@dataclass(frozen=True, slots=True)
class PipelineDefinition:
    name: str
    inputs: tuple[str, ...]
    nodes: tuple[NodeDefinition, ...]
    outputs: tuple[Connection, ...]  # target = response name
    demultiply_count: int | None = None  # entry demultiplexing (§8.3)
    path: str = ""

    def node(self, name: str) -> NodeDefinition | None:
        return next((n for n in self.nodes if n.name == name), None)


@dataclass(frozen=True, slots=True)
class CustomNodeLibraryConfig:
    name: str
    base_path: str
    path: str = ""


_NODE_KEYS = frozenset(
    {
        "name",
        "type",
        "model_name",
        "version",
        "library_name",
        "handler",
        "params",
        "inputs",
        "outputs",
        "demultiply_count",
        "gather_from_node",
    }
)
_PIPELINE_KEYS = frozenset({"name", "inputs", "nodes", "outputs", "demultiply_count"})
_KIND_KEYS: dict[NodeKind, tuple[str, frozenset[str]]] = {
    # required key, keys forbidden for that kind
    NodeKind.DL_MODEL: ("model_name", frozenset({"library_name", "handler", "params"})),
    NodeKind.CUSTOM: ("library_name", frozenset({"model_name", "version", "handler"})),
    NodeKind.PYTHON: ("handler", frozenset({"model_name", "version", "library_name"})),
}


class _Entry:
    """Reads one JSON object, recording a problem for every key that is missing or ill-typed."""

    def __init__(self, obj: object, path: str, problems: list[Problem]) -> None:
        self.path = path
        self.problems = problems
        self.obj: Mapping[str, Any] = obj if isinstance(obj, Mapping) else {}
        if not isinstance(obj, Mapping):
            self.fail("", "must be a JSON object")

    def fail(self, key: str, why: str) -> None:
        where = f"{self.path}.{key}" if key else self.path
        self.problems.append(Problem(where, Code.CONFIG_ENTRY_INVALID, f"{key or 'entry'} {why}".strip()))

    def closed(self, allowed: frozenset[str]) -> None:
        for key in sorted(set(self.obj) - allowed):
            self.fail(key, "is not a known key")

    def string(self, key: str, required: bool = True) -> str | None:
        value = self.obj.get(key)
        if value is None:
            if required:
                self.fail(key, "is required")
            return None
        if not isinstance(value, str) or not value:
            self.fail(key, "must be a non-empty string")
            return None
        return value

    def array(self, key: str) -> Sequence[Any]:
        value = self.obj.get(key)
        if not isinstance(value, list):
            self.fail(key, "is required and must be an array")
            return []
        return value

    def demultiply_count(self) -> int | None:
        value = self.obj.get("demultiply_count")
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or not -1 <= value <= MAX_DEMULTIPLY_COUNT:
            self.fail("demultiply_count", f"must be an integer from -1 to {MAX_DEMULTIPLY_COUNT}")
            return None
        return DYNAMIC if value == 0 else value  # OVMS: 0 is deprecated and means -1


def _connections(items: Sequence[Any], path: str, problems: list[Problem]) -> tuple[Connection, ...]:
    out = []
    for i, item in enumerate(items):
        where = f"{path}[{i}]"
        if not isinstance(item, Mapping) or len(item) != 1:
            problems.append(Problem(where, Code.CONFIG_ENTRY_INVALID, "must be an object with one key"))
            continue
        ((target, source),) = item.items()
        entry = _Entry(source, f"{where}.{target}", problems)
        entry.closed(frozenset({"node_name", "data_item"}))
        node_name, data_item = entry.string("node_name"), entry.string("data_item")
        if node_name is not None and data_item is not None:
            out.append(Connection(str(target), node_name, data_item))
    return tuple(out)


def _aliases(items: Sequence[Any], path: str, problems: list[Problem]) -> tuple[OutputAlias, ...]:
    out = []
    for i, item in enumerate(items):
        entry = _Entry(item, f"{path}[{i}]", problems)
        entry.closed(frozenset({"data_item", "alias"}))
        data_item, alias = entry.string("data_item"), entry.string("alias")
        if data_item is not None and alias is not None:
            out.append(OutputAlias(data_item, alias))
    return tuple(out)


def _params(entry: _Entry) -> tuple[tuple[str, str], ...]:
    value = entry.obj.get("params", {})
    if not isinstance(value, Mapping) or not all(isinstance(v, str) for v in value.values()):
        entry.fail("params", "must be an object of string values")
        return ()
    return tuple((str(k), v) for k, v in value.items())


def _version(entry: _Entry) -> int | None:
    value = entry.obj.get("version")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        entry.fail("version", "must be an integer >= 1")
        return None
    return value


def _node(obj: object, path: str, problems: list[Problem]) -> NodeDefinition | None:
    entry = _Entry(obj, path, problems)
    entry.closed(_NODE_KEYS)
    before = len(problems)
    name, type_name = entry.string("name"), entry.string("type")
    kind = next((k for k in NodeKind if k.value == type_name), None)
    if type_name is not None and kind is None:
        problems.append(Problem(f"{path}.type", Code.PIPELINE_NODE_WRONG_KIND_CONFIGURATION, repr(type_name)))
    if kind is not None:
        required, forbidden = _KIND_KEYS[kind]
        entry.string(required)
        for key in sorted(forbidden & set(entry.obj)):
            entry.fail(key, f'is not allowed for a "{kind.value}" node')
    inputs = _connections(entry.array("inputs"), f"{path}.inputs", problems)
    outputs = _aliases(entry.array("outputs"), f"{path}.outputs", problems)
    node = NodeDefinition(
        name=name or "",
        kind=kind or NodeKind.CUSTOM,
        inputs=inputs,
        outputs=outputs,
        model_name=entry.string("model_name", required=False),
        version=_version(entry),
        library_name=entry.string("library_name", required=False),
        handler=entry.string("handler", required=False),
        params=_params(entry),
        demultiply_count=entry.demultiply_count(),
        gather_from_node=entry.string("gather_from_node", required=False),
        path=path,
    )
    return node if len(problems) == before else None


def parse_pipeline(obj: object, path: str) -> tuple[PipelineDefinition | None, list[Problem]]:
    """One ``pipeline_config_list`` entry → its definition, or None and the problems found.

    ``path`` is the entry's JSON path, e.g. ``pipeline_config_list[0]``.
    """
    problems: list[Problem] = []
    entry = _Entry(obj, path, problems)
    entry.closed(_PIPELINE_KEYS)
    name = entry.string("name")
    raw_inputs = entry.array("inputs")
    if not all(isinstance(i, str) and i for i in raw_inputs):
        entry.fail("inputs", "must be an array of non-empty strings")
    nodes = [_node(n, f"{path}.nodes[{i}]", problems) for i, n in enumerate(entry.array("nodes"))]
    outputs = _connections(entry.array("outputs"), f"{path}.outputs", problems)
    demultiply_count = entry.demultiply_count()
    if problems or name is None:
        return None, problems
    definition = PipelineDefinition(
        name=name,
        inputs=tuple(raw_inputs),
        nodes=tuple(n for n in nodes if n is not None),
        outputs=outputs,
        demultiply_count=demultiply_count,
        path=path,
    )
    return definition, problems


def parse_library(obj: object, path: str) -> tuple[CustomNodeLibraryConfig | None, list[Problem]]:
    """One ``custom_node_library_config_list`` entry → its config, or None and the problems found."""
    problems: list[Problem] = []
    entry = _Entry(obj, path, problems)
    entry.closed(frozenset({"name", "base_path"}))
    name, base_path = entry.string("name"), entry.string("base_path")
    if name is None or base_path is None:
        return None, problems
    return CustomNodeLibraryConfig(name, base_path, path), problems


def parse_config(
    config: Mapping[str, Any],
) -> tuple[list[PipelineDefinition], list[CustomNodeLibraryConfig], list[Problem]]:
    """Every pipeline and library of a whole ``config.json`` object; duplicates: first wins (§2.6)."""
    problems: list[Problem] = []
    libraries: list[CustomNodeLibraryConfig] = []
    for i, obj in enumerate(config.get("custom_node_library_config_list", [])):
        library, found = parse_library(obj, f"custom_node_library_config_list[{i}]")
        problems += found
        if library is not None:
            libraries.append(library)
    pipelines: list[PipelineDefinition] = []
    for i, obj in enumerate(config.get("pipeline_config_list", [])):
        pipeline, found = parse_pipeline(obj, f"pipeline_config_list[{i}]")
        problems += found
        if pipeline is None:
            continue
        if any(p.name == pipeline.name for p in pipelines):
            problems.append(Problem(pipeline.path, Code.PIPELINE_DEFINITION_ALREADY_EXIST, pipeline.name))
            continue
        pipelines.append(pipeline)
    return pipelines, libraries, problems
