"""The special inputs of a stateful model's request, checked and split from the model's inputs (spec §9.2).

A request to a stateful model may carry, besides the model's own inputs:

* ``sequence_id``: UINT64, shape ``[1]``; 0 (or absent) means "not provided";
* ``sequence_control_input``: UINT32, shape ``[1]``; 0 none, 1 ``SEQUENCE_START``, 2 ``SEQUENCE_END``.

Every response carries the output ``sequence_id`` (UINT64, shape ``[1]``): :func:`sequence_id_output`.

How each API carries them (the codecs decode, this module judges):

* TFS gRPC: ``TensorProto`` with ``dtype`` ``DT_UINT64`` / ``DT_UINT32``, ``tensor_shape`` ``[1]`` and the value in
  ``uint64_val`` / ``uint32_val``. The codec passes a :class:`SpecialInput`: the declared shape (``None`` when the
  proto has no ``tensor_shape``) and the values of the field they were found in, typed by that field
  (``uint64_val`` → ``np.uint64``, ``int64_val`` → ``np.int64`` ...), so a value in the wrong field is a wrong dtype.
* TFS REST (row and column): ``"sequence_id": [7]``, ``"sequence_control_input": [1]``: 1-D arrays of non-negative
  integers, which the codec decodes as ``np.uint64`` / ``np.uint32`` arrays (spec §4.5).
* KServe (gRPC and REST): inputs named ``sequence_id`` (datatype ``UINT64``) and ``sequence_control_input``
  (datatype ``UINT32``), shape ``[1]``, in ``uint64_contents`` / ``uint_contents``, raw bytes or JSON ``data``.
  OVMS 2023 only tolerated them there (§9.3); we serve sequences on KServe as on TFS, with the same rules, and the
  response carries a ``sequence_id`` output of datatype ``UINT64``, shape ``[1]``.

Errors are OVMS's (spec §9.2, Appendix A), all ``InvalidInput`` (400 / INVALID_ARGUMENT), checked in OVMS's order:
shape present, rank 1, size 1, dtype (field) and exactly one value, control value in {0, 1, 2}; then an id is
required unless the control is START.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from ovms_cli.errors import InvalidInput
from ovms_cli.types import SEQUENCE_CONTROL_INPUT as SEQUENCE_CONTROL_INPUT
from ovms_cli.types import SEQUENCE_ID as SEQUENCE_ID
from ovms_cli.types import SPECIAL_INPUTS as SPECIAL_INPUTS
from ovms_cli.types import Array
from ovms_cli.types import SpecialInput as SpecialInput

NO_SEQUENCE_ID = 0

NO_TENSOR_SHAPE = "Special input proto does not contain tensor shape information"
SEQUENCE_ID_BAD_TYPE = "Could not find sequence id in expected tensor proto field uint64_val"
CONTROL_BAD_TYPE = "Could not find sequence control input in expected tensor proto field uint32_val"
INVALID_CONTROL = "Unexpected value of sequence control input"
ID_NOT_PROVIDED = "Sequence ID has not been provided in request inputs"


class SequenceControl(enum.IntEnum):
    """Values of ``sequence_control_input`` (spec §9.2)."""

    NONE = 0
    START = 1
    END = 2


@dataclass(frozen=True, slots=True)
class SequenceRequest:
    """What a request asks of the sequence store: ``id`` 0 means none was given.

    ``id`` is a string only for Triton's string correlation ids (KServe ``sequence_id`` parameter): those
    are sequences of their own, apart from the integer ids. ``also_end``: a START that is also the
    sequence's END (Triton's ``sequence_start`` and ``sequence_end`` both true): it runs from the initial
    state and leaves nothing behind.
    """

    id: int | str
    control: SequenceControl
    also_end: bool = False

    @property
    def ends(self) -> bool:
        """Whether the sequence is gone after this request."""
        return self.control is SequenceControl.END or self.also_end


@dataclass(frozen=True, slots=True)
class _Rule:
    name: str
    dtype: np.dtype[np.generic]
    bad_type: str


_ID_RULE = _Rule(SEQUENCE_ID, np.dtype(np.uint64), SEQUENCE_ID_BAD_TYPE)
_CONTROL_RULE = _Rule(SEQUENCE_CONTROL_INPUT, np.dtype(np.uint32), CONTROL_BAD_TYPE)


def split_special_inputs(
    inputs: Mapping[str, Array | SpecialInput],
) -> tuple[SequenceRequest, dict[str, Array | SpecialInput]]:
    """Check the special inputs of ``inputs`` and return them as a :class:`SequenceRequest`, with the
    remaining (model) inputs unchanged.

    Raises ``InvalidInput`` with OVMS's messages (spec §9.2) for a missing shape, a rank or size other than
    ``[1]``, a dtype other than UINT64 / UINT32 (OVMS: a value outside ``uint64_val`` / ``uint32_val``), a
    control value outside {0, 1, 2}, or no (or a 0) ``sequence_id`` with a control other than START.
    """
    sequence_id = NO_SEQUENCE_ID
    control = SequenceControl.NONE
    model_inputs: dict[str, Array | SpecialInput] = {}
    for name, value in inputs.items():
        if name == SEQUENCE_ID:
            sequence_id = _scalar(value, _ID_RULE)
        elif name == SEQUENCE_CONTROL_INPUT:
            control = _control(_scalar(value, _CONTROL_RULE))
        else:
            model_inputs[name] = value
    if sequence_id == NO_SEQUENCE_ID and control is not SequenceControl.START:
        raise InvalidInput(ID_NOT_PROVIDED)
    return SequenceRequest(sequence_id, control), model_inputs


def sequence_id_output(sequence_id: int | str) -> Array:
    """The output ``sequence_id`` every response of a stateful model carries: UINT64, shape ``[1]``
    (BYTES for a Triton string id)."""
    if isinstance(sequence_id, str):
        out = np.empty(1, dtype=np.object_)
        out[0] = sequence_id.encode()
        return out
    return np.array([sequence_id], dtype=np.uint64)


def _scalar(value: Array | SpecialInput, rule: _Rule) -> int:
    special = value if isinstance(value, SpecialInput) else SpecialInput.from_array(value)
    required = f"Required shape for {rule.name} is: (1)"
    if special.shape is None:
        raise InvalidInput(NO_TENSOR_SHAPE)
    if len(special.shape) != 1:
        raise InvalidInput("Invalid number of shape dimensions", required)
    if special.shape[0] != 1:
        raise InvalidInput("Invalid input shape", required)
    if special.values.dtype != rule.dtype or special.values.size != 1:
        raise InvalidInput(rule.bad_type)
    return int(special.values[0])


def _control(value: int) -> SequenceControl:
    try:
        return SequenceControl(value)
    except ValueError:
        raise InvalidInput(INVALID_CONTROL) from None
