"""Splitting a node's outputs into branches and stacking branches back (spec §8.3).

Shards are views of the demultiplexed tensors (no copy); gathering stacks them along a new
leading dimension in shard order (one copy, as OVMS does).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from ovms_cli.errors import Aborted, InvalidInput
from ovms_cli.servables.pipelines.definition import DYNAMIC, MAX_DEMULTIPLY_COUNT

MIN_RANK = 3  # OVMS: PIPELINE_WRONG_NUMBER_OF_DIMENSIONS_TO_DEMULTIPLY below this


def split(node: str, outputs: Mapping[str, np.ndarray], count: int) -> list[dict[str, np.ndarray]]:
    """``outputs`` (each ``[K, ...]``) → K dicts of ``[...]`` views; ``count`` -1 means K = dim 0.

    Raises ``InvalidInput`` (rank < 3, dim 0 ≠ a fixed count or differing between outputs,
    K > 10000) or ``Aborted`` (dynamic K = 0), each naming ``node``.
    """
    shard_count: int | None = None
    for name, tensor in outputs.items():
        where = f"node: {node}; output: {name}; shape: {list(tensor.shape)}"
        if tensor.ndim < MIN_RANK:
            raise InvalidInput("Wrong number of dimensions in a tensor to be sharded", where)
        if count == DYNAMIC and tensor.shape[0] > MAX_DEMULTIPLY_COUNT:
            raise InvalidInput("Too large dynamic demultiplication requested.", where)
        expected = count if count != DYNAMIC else shard_count
        if expected is not None and tensor.shape[0] != expected:
            raise InvalidInput(
                "Wrong dimension size. Should match demultiply count", f"{where}; count: {expected}"
            )
        shard_count = tensor.shape[0]
    if not shard_count:
        raise Aborted("Pipeline execution aborted due to no content from custom node", f"node: {node}")
    return [{name: tensor[i] for name, tensor in outputs.items()} for i in range(shard_count)]


def gather(node: str, name: str, shards: Sequence[np.ndarray]) -> np.ndarray:
    """Stacks shards of one tensor along a new dim 0; all must share shape and dtype."""
    first = shards[0]
    for shard in shards[1:]:
        if shard.shape != first.shape or shard.dtype != first.dtype:
            details = f"node: {node}; input: {name}; {list(first.shape)} {first.dtype} vs {list(shard.shape)} {shard.dtype}"
            raise InvalidInput("Gathered tensor shards dimensions are different", details)
    return np.stack(shards)
