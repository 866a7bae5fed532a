"""What validation and metadata derivation need to know about the things a node calls.

The registry provides a ``ModelCatalog`` (model name + version → inputs/outputs); custom node
libraries provide theirs through ``getInputsInfo``/``getOutputsInfo`` once initialized with the
node's params. Nothing here depends on ``ModelVersion``.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import openvino as ov

from ovms_cli.types import DType, TensorMetadata

ANY_DIM = -1

# OVMS reports a pipeline input wired straight to ``response`` with no precision (DT_INVALID) and
# no shape (§8.4); it is not in the dtype table because no client can send it.
UNSPECIFIED = DType("INVALID", "INVALID", 0, np.dtype(np.void), ov.Type.dynamic)


@dataclass(frozen=True, slots=True)
class NodeSignature:
    """Inputs and outputs of a model version, custom node or Python node, keyed by name.

    Shapes use -1 for a dimension that is not fixed. ``forbidden_dynamic`` marks models loaded with
    ``auto`` batch size or shape, which OVMS refuses in pipelines (§8.1).
    """

    inputs: Mapping[str, TensorMetadata]
    outputs: Mapping[str, TensorMetadata]
    forbidden_dynamic: bool = False

    @staticmethod
    def of(
        inputs: Collection[TensorMetadata],
        outputs: Collection[TensorMetadata],
        forbidden_dynamic: bool = False,
    ) -> NodeSignature:
        return NodeSignature({t.name: t for t in inputs}, {t.name: t for t in outputs}, forbidden_dynamic)


class ModelCatalog(Protocol):
    """The registry's view for pipelines: which models exist and what a version looks like."""

    def model_names(self) -> Collection[str]:
        """Every model name in the configuration (a pipeline may not take one: §8.6)."""
        ...

    def signature(self, name: str, version: int | None) -> NodeSignature | None:
        """The version's signature (None = default version), or None if it is not available."""
        ...


@dataclass(frozen=True, slots=True)
class StaticModelCatalog:
    """A ``ModelCatalog`` over a fixed table: model name → version → signature."""

    models: Mapping[str, Mapping[int, NodeSignature]] = field(default_factory=dict)

    def model_names(self) -> Collection[str]:
        return self.models.keys()

    def signature(self, name: str, version: int | None) -> NodeSignature | None:
        versions = self.models.get(name, {})
        if version is None:
            return versions[max(versions)] if versions else None
        return versions.get(version)


def dims_compatible(a: tuple[int, ...], b: tuple[int, ...]) -> bool:
    """Same rank and every dimension equal or not fixed (-1) on one side."""
    return len(a) == len(b) and all(x == y or ANY_DIM in (x, y) for x, y in zip(a, b, strict=True))


def intersect_dims(a: tuple[int, ...], b: tuple[int, ...]) -> tuple[int, ...]:
    """The most specific shape satisfying both (call only when ``dims_compatible``)."""
    return tuple(y if x == ANY_DIM else x for x, y in zip(a, b, strict=True))
