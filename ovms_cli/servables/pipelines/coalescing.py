"""Coalescing demultiplexed branches into one inference (beyond OVMS; issue 13).

When a demultiplexer splits a tensor into K shards, K instances of the next DL-model node start in
the same event-loop turn. ``coalescing_model_node`` gathers the calls made in one turn, concatenates
the ones with matching input names, dtypes and trailing shapes along dim 0, makes one ``infer``
call and splits the outputs back by each caller's dim 0 (views, no copy). Use it only for models
whose dim 0 is a batch dimension that is not fixed (the registry knows which).
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Hashable

import numpy as np

from ovms_cli.errors import InternalError
from ovms_cli.servables.pipelines.executor import Infer, NodeFunction, Tensors

_Call = tuple[Tensors, "asyncio.Future[Tensors]"]


def coalescing_model_node(infer: Infer, model_name: str, version: int | None) -> NodeFunction:
    """A DL-model node function whose concurrent calls share inferences (see the module doc)."""
    return _Coalescer(infer, model_name, version).call


class _Coalescer:
    def __init__(self, infer: Infer, model_name: str, version: int | None) -> None:
        self.infer = infer
        self.model_name = model_name
        self.version = version
        self.pending: list[_Call] = []
        self.running: set[asyncio.Task[None]] = set()

    async def call(self, inputs: Tensors) -> Tensors:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Tensors] = loop.create_future()
        self.pending.append((inputs, future))
        if len(self.pending) == 1:
            loop.call_soon(self._flush)
        return await future

    def _flush(self) -> None:
        calls, self.pending = self.pending, []
        groups: dict[Hashable, list[_Call]] = defaultdict(list)
        for call in calls:
            inputs = call[0]
            groups[tuple(sorted((k, v.dtype.str, v.shape[1:]) for k, v in inputs.items()))].append(call)
        for group in groups.values():
            task = asyncio.ensure_future(self._run(group))
            self.running.add(task)
            task.add_done_callback(self.running.discard)

    async def _run(self, group: list[_Call]) -> None:
        try:
            if len(group) == 1:
                results = [await self.infer(self.model_name, self.version, group[0][0])]
            else:
                results = await self._batched([inputs for inputs, _ in group])
        except BaseException as error:
            for _, future in group:
                if not future.done():
                    future.set_exception(error)
            return
        for (_, future), result in zip(group, results, strict=True):
            if not future.done():
                future.set_result(result)

    async def _batched(self, calls: list[Tensors]) -> list[Tensors]:
        names = list(calls[0])
        sizes = [next(iter(c.values())).shape[0] if c else 0 for c in calls]
        batch = {name: np.concatenate([c[name] for c in calls]) for name in names}
        outputs = await self.infer(self.model_name, self.version, batch)
        total = sum(sizes)
        for name, tensor in outputs.items():
            if tensor.ndim == 0 or tensor.shape[0] != total:
                details = (
                    f"model: {self.model_name}; output: {name}; shape: {list(tensor.shape)}; batch: {total}"
                )
                raise InternalError(
                    "Coalesced inference returned an output without the batch dimension", details
                )
        cuts = np.cumsum(sizes)[:-1]
        split = {name: np.split(tensor, cuts) for name, tensor in outputs.items()}
        return [{name: parts[i] for name, parts in split.items()} for i in range(len(calls))]
