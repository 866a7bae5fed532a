"""The core's request and response: names and numpy arrays, nothing of any wire format."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from ovms_cli.errors import InvalidInput

Parameter = bool | int | str
Array = npt.NDArray[np.generic]


@dataclass(slots=True)
class InferenceRequest:
    model_name: str
    model_version: int | None  # None: the model's default (highest available) version
    inputs: dict[str, Array]
    requested_outputs: tuple[str, ...] = ()  # empty: every output
    id: str = ""
    parameters: dict[str, Parameter] = field(default_factory=dict)


@dataclass(slots=True)
class InferenceResponse:
    model_name: str
    model_version: int
    outputs: dict[str, Array]
    id: str = ""
    parameters: dict[str, Parameter] = field(default_factory=dict)


def requested_outputs(names: Iterable[str]) -> tuple[str, ...]:
    """The outputs a request asks for (KServe ``outputs``, TFS ``output_filter``) in request order;
    empty means every output. Raises ``InvalidInput`` for a name asked twice, as for inputs."""
    chosen: dict[str, None] = {}
    for name in names:
        if name in chosen:
            raise InvalidInput("Duplicate output in request", f"output name: {name}")
        chosen[name] = None
    return tuple(chosen)
