"""The asyncio DAG executor: each node instance starts as soon as its inputs are ready (spec §8.2, §8.3).

A node *instance* is a node in one branch: its key is the tuple of shard indices of the
demultiplexers open at its inputs (after gathering). Completing an instance stores its outputs
under their aliases, splits them into shards if the node demultiplexes, and starts every consumer
instance that became ready. Parallel branches run concurrently: DL-model nodes through the injected
``infer`` coroutine, custom and Python nodes in a thread pool. Tensors pass between nodes as the
same numpy arrays (shards are views); only gathering copies.

Errors name the node: a failing node cancels the rest of the request and its error is raised.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from concurrent.futures import Executor
from dataclasses import dataclass

import numpy as np

from ovms_cli.errors import InternalError, InvalidInput, ServingError
from ovms_cli.servables.pipelines.definition import ENTRY, EXIT, NodeDefinition, NodeKind, PipelineDefinition
from ovms_cli.servables.pipelines.demultiplexing import gather, split
from ovms_cli.servables.pipelines.topology import Levels

log = logging.getLogger("ovms.pipelines")  # under "ovms": --log_level applies

Tensors = dict[str, np.ndarray]
Infer = Callable[[str, int | None, Tensors], Awaitable[Tensors]]
"""``infer(model_name, version or None for the default, inputs) -> outputs``: the registry's infer path."""
NodeFunction = Callable[[Tensors], Awaitable[Tensors]]
Key = tuple[int, ...]


def model_node(infer: Infer, model_name: str, version: int | None) -> NodeFunction:
    """A DL-model node: inputs by model input name → outputs by model output name."""

    async def call(inputs: Tensors) -> Tensors:
        return await infer(model_name, version, inputs)

    return call


def threaded_node(pool: Executor, execute: Callable[[Tensors], Tensors]) -> NodeFunction:
    """A blocking node (custom library, Python class) run off the event loop in ``pool``."""

    async def call(inputs: Tensors) -> Tensors:
        return await asyncio.get_running_loop().run_in_executor(pool, execute, inputs)

    return call


@dataclass(frozen=True, slots=True)
class _Binding:
    target: str  # consumer input name (or response output name)
    producer: str
    alias: str


@dataclass(frozen=True, slots=True)
class _Node:
    """What the executor needs of a node, computed once at load."""

    name: str
    kind: str
    bindings: tuple[_Binding, ...]
    producers: tuple[str, ...]
    aliases: tuple[tuple[str, str], ...]  # (data_item, alias)
    demultiply_count: int | None
    gather_from: str | None
    function: NodeFunction | None  # None for the entry node


class PipelineExecutor:
    """Runs one validated pipeline definition; safe to share between concurrent requests."""

    def __init__(
        self, pipeline: PipelineDefinition, levels: Levels, functions: Mapping[str, NodeFunction]
    ) -> None:
        """``levels`` come from ``validate``; ``functions`` has one entry per node (see ``model_node``
        and ``threaded_node``)."""
        self.pipeline = pipeline
        self.levels = levels
        self.nodes: dict[str, _Node] = {ENTRY: _entry(pipeline)}
        for definition in pipeline.nodes:
            self.nodes[definition.name] = _compile(definition, functions[definition.name])
        self.outputs = tuple(_Binding(c.target, c.node_name, c.data_item) for c in pipeline.outputs)
        self.consumers: dict[str, list[_Node]] = {name: [] for name in self.nodes}
        for node in self.nodes.values():
            for producer in node.producers:
                self.consumers[producer].append(node)

    async def run(self, inputs: Mapping[str, np.ndarray]) -> Tensors:
        """Pipeline inputs by name → pipeline outputs by name (exactly the ``outputs`` names).

        Raises ``InvalidInput`` for a missing input, the failing node's ``ServingError`` (its
        message names the node) or ``InternalError`` naming the node for anything else.
        """
        missing = [name for name in self.pipeline.inputs if name not in inputs]
        if missing:
            raise InvalidInput(
                "Missing input with specific name",
                f"pipeline: {self.pipeline.name}; inputs: {', '.join(missing)}",
            )
        run = _Run(self)
        finished: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        pending: set[asyncio.Task[Tensors]] = set()

        def start(ready: list[tuple[_Node, Key]]) -> None:
            for node, key in ready:
                task = asyncio.ensure_future(_timed(node, run.inputs_of(node, key)))
                pending.add(task)
                task.add_done_callback(functools.partial(done, node, key))

        def done(node: _Node, key: Key, task: asyncio.Task[Tensors]) -> None:
            # Completion callbacks schedule successors at once: no polling loop per request.
            pending.discard(task)
            if finished.done():
                return
            try:
                start(run.complete(node, key, _result(task, node)))
            except BaseException as error:
                finished.set_exception(error)
                return
            if not pending:
                finished.set_result(None)

        start(run.complete(self.nodes[ENTRY], (), {name: inputs[name] for name in self.pipeline.inputs}))
        if not pending:
            finished.set_result(None)
        try:
            await finished
        finally:
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.gather(*pending, return_exceptions=True)
        return {binding.target: run.collect(binding) for binding in self.outputs}


def _entry(pipeline: PipelineDefinition) -> _Node:
    aliases = tuple((name, name) for name in pipeline.inputs)
    return _Node(ENTRY, "entry", (), (), aliases, pipeline.demultiply_count, None, None)


def _compile(node: NodeDefinition, function: NodeFunction) -> _Node:
    bindings = tuple(_Binding(c.target, c.node_name, c.data_item) for c in node.inputs)
    producers = tuple(dict.fromkeys(b.producer for b in bindings))
    aliases = tuple((o.data_item, o.alias) for o in node.outputs)
    kind = node.kind.value if node.kind is not NodeKind.DL_MODEL else f"DL model {node.model_name}"
    return _Node(
        node.name, kind, bindings, producers, aliases, node.demultiply_count, node.gather_from_node, function
    )


async def _timed(node: _Node, inputs: Tensors) -> Tensors:
    assert node.function is not None
    started = time.perf_counter()
    outputs = await node.function(inputs)
    if log.isEnabledFor(logging.DEBUG):
        log.debug(
            "pipeline node %s (%s) took %.1f µs", node.name, node.kind, (time.perf_counter() - started) * 1e6
        )
    return outputs


def _result(task: asyncio.Task[Tensors], node: _Node) -> Tensors:
    try:
        return task.result()
    except ServingError as error:
        if f"node: {node.name}" not in error.message:
            error.message = (
                f"{error.message}; node: {node.name}"
                if " - " in error.message
                else f"{error.message} - node: {node.name}"
            )
            error.args = (error.message,)
        raise
    except Exception as error:
        raise InternalError("Pipeline node failed", f"node: {node.name}; {error!r}") from error


class _Run:
    """The state of one request: node outputs per branch and shard counts per demultiplexer."""

    def __init__(self, executor: PipelineExecutor) -> None:
        self.executor = executor
        self.store: dict[tuple[str, Key], Tensors] = {}
        self.counts: dict[tuple[str, Key], int] = {}
        self.started: set[tuple[str, Key]] = set()

    def complete(self, node: _Node, key: Key, outputs: Tensors) -> list[tuple[_Node, Key]]:
        """Stores ``outputs`` of an instance and returns the consumer instances now ready."""
        aliased = _aliased(node, outputs)
        if node.demultiply_count is None:
            self.store[(node.name, key)] = aliased
            keys = [key]
        else:
            shards = split(node.name, aliased, node.demultiply_count)
            self.counts[(node.name, key)] = len(shards)
            keys = [(*key, i) for i in range(len(shards))]
            for shard_key, shard in zip(keys, shards, strict=True):
                self.store[(node.name, shard_key)] = shard
        ready = []
        for consumer in self.executor.consumers[node.name]:
            for k in keys:
                instance = (consumer.name, k[:-1] if consumer.gather_from else k)
                if instance not in self.started and self._ready(consumer, instance[1]):
                    self.started.add(instance)
                    ready.append((consumer, instance[1]))
        return ready

    def _shard_keys(self, node: _Node, key: Key) -> list[Key] | None:
        if node.gather_from is None:
            return [key]
        count = self.counts.get((node.gather_from, key))
        return None if count is None else [(*key, i) for i in range(count)]

    def _ready(self, node: _Node, key: Key) -> bool:
        keys = self._shard_keys(node, key)
        return keys is not None and all((p, k) in self.store for p in node.producers for k in keys)

    def inputs_of(self, node: _Node, key: Key) -> Tensors:
        keys = self._shard_keys(node, key)
        assert keys is not None
        if node.gather_from is None:
            return {b.target: self.store[(b.producer, key)][b.alias] for b in node.bindings}
        return {
            b.target: gather(node.name, b.target, [self.store[(b.producer, k)][b.alias] for k in keys])
            for b in node.bindings
        }

    def collect(self, binding: _Binding) -> np.ndarray:
        """A response output: the producer's tensor with every open demultiplexer gathered."""
        open_levels = self.executor.levels.outputs[binding.producer]

        def at(key: Key, depth: int) -> np.ndarray:
            if depth == len(open_levels):
                return self.store[(binding.producer, key)][binding.alias]
            count = self.counts[(open_levels[depth], key)]
            return gather(EXIT, binding.target, [at((*key, i), depth + 1) for i in range(count)])

        return at((), 0)


def _aliased(node: _Node, outputs: Tensors) -> Tensors:
    aliased = {}
    for data_item, alias in node.aliases:
        tensor = outputs.get(data_item)
        if tensor is None:
            raise InternalError("Custom node output is missing", f"node: {node.name}; output: {data_item}")
        aliased[alias] = tensor
    return aliased
