"""The core's request and response: names and numpy arrays, nothing of any wire format."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

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
