"""The graph of a pipeline definition: dependencies, cycles, reachability and demultiplexing levels.

A *level* is the stack of demultiplexers whose branches a tensor belongs to, outermost first
(§8.3); the entry node counts as demultiplexer ``request`` when the pipeline has
``demultiply_count``. Gathering pops the innermost level, and must name it (LIFO order).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from ovms_cli.servables.pipelines.definition import ENTRY, EXIT, NodeDefinition, PipelineDefinition
from ovms_cli.servables.pipelines.problems import Code, Problem

Level = tuple[str, ...]


def producers(node_inputs: tuple[str, ...]) -> list[str]:
    """Distinct producer names in first-seen order."""
    return list(dict.fromkeys(node_inputs))


def dependencies(pipeline: PipelineDefinition) -> dict[str, list[str]]:
    """Node name → names of the nodes it reads from (``response`` included, ``request`` has none)."""
    deps: dict[str, list[str]] = {ENTRY: []} | {
        n.name: producers(tuple(c.node_name for c in n.inputs)) for n in pipeline.nodes
    }
    deps[EXIT] = producers(tuple(c.node_name for c in pipeline.outputs))
    return deps


def find_cycle(deps: dict[str, list[str]]) -> list[str] | None:
    """One cycle as a list of node names, or None (depth-first search, three colours)."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(name: str) -> list[str] | None:
        state[name] = 1
        stack.append(name)
        for dep in deps.get(name, []):
            if state.get(dep) == 1:
                return [*stack[stack.index(dep) :], dep]
            if dep in deps and dep not in state and (cycle := visit(dep)):
                return cycle
        state[name] = 2
        stack.pop()
        return None

    for name in deps:
        if name not in state and (cycle := visit(name)):
            return cycle
    return None


def unreachable_from_exit(deps: dict[str, list[str]]) -> list[str]:
    """Nodes the response does not depend on, directly or not (OVMS: unconnected nodes)."""
    seen: set[str] = set()
    todo = [EXIT]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        todo.extend(d for d in deps.get(name, []) if d in deps)
    return [name for name in deps if name not in seen]


def topological_order(deps: dict[str, list[str]]) -> Iterator[str]:
    """Every node after its dependencies (call only on an acyclic graph)."""
    done: set[str] = set()

    def visit(name: str) -> Iterator[str]:
        done.add(name)
        for dep in deps.get(name, []):
            if dep in deps and dep not in done:
                yield from visit(dep)
        yield name

    for name in deps:
        if name not in done:
            yield from visit(name)


@dataclass(frozen=True, slots=True)
class Levels:
    """Demultiplexing levels per node: of its inputs (before gathering) and of its outputs."""

    inputs: dict[str, Level]
    outputs: dict[str, Level]


def compute_levels(pipeline: PipelineDefinition, problems: list[Problem]) -> Levels:
    """Levels of an acyclic pipeline whose references all exist; records order problems (§8.3)."""
    deps = dependencies(pipeline)
    nodes = {n.name: n for n in pipeline.nodes}
    in_levels: dict[str, Level] = {ENTRY: ()}
    out_levels: dict[str, Level] = {ENTRY: (ENTRY,) if pipeline.demultiply_count is not None else ()}
    for name in topological_order(deps):
        if name == ENTRY:
            continue
        node = nodes.get(name)
        path = node.path if node else f"{pipeline.path}.outputs"
        seen = {out_levels[d] for d in deps[name] if d in out_levels}
        if len(seen) > 1:
            problems.append(
                Problem(
                    path,
                    Code.PIPELINE_WRONG_DEMULTIPLEXER_GATHER_NODES_ORDER,
                    f"node: {name}; inputs come from different demultiplexing levels",
                )
            )
        level = max(seen, key=len) if seen else ()
        in_levels[name] = level
        out_levels[name] = _output_level(node, level, path, problems) if node else ()
    return Levels(in_levels, out_levels)


def _output_level(node: NodeDefinition, level: Level, path: str, problems: list[Problem]) -> Level:
    gather = node.gather_from_node
    if gather is not None:
        if not level or level[-1] != gather:
            problems.append(
                Problem(
                    f"{path}.gather_from_node",
                    Code.PIPELINE_WRONG_DEMULTIPLEXER_GATHER_NODES_ORDER,
                    f"node: {node.name}; open demultiplexers: {list(level)}",
                )
            )
            level = tuple(d for d in level if d != gather)
        else:
            level = level[:-1]
    return (*level, node.name) if node.demultiply_count is not None else level
