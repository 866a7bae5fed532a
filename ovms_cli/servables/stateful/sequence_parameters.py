"""Triton's KServe sequence parameters, mapped onto the sequence store of a stateful model (issues 14, 18).

Triton's sequence batcher reads three request parameters, which ``tritonclient``'s ``infer(sequence_id=...,
sequence_start=..., sequence_end=...)`` sends over gRPC and HTTP:

* ``sequence_id``: the correlation id, an unsigned integer (gRPC ``int64_param`` or ``uint64_param``; a JSON
  number over HTTP) or a string (``string_param``; a JSON string). String ids name sequences of their own, apart
  from the integer ids (Triton's ``CorrelationID`` is one or the other); an empty string, like 0, is no id;
* ``sequence_start``, ``sequence_end``: booleans, default false. Start alone is OVMS's ``SEQUENCE_START``, end
  alone its ``SEQUENCE_END``, neither continues the sequence, and both run a one-request sequence.

How the two KServe forms combine (our decision, README "Stateful models"): a request uses one of them. The special
inputs ``sequence_id`` / ``sequence_control_input`` (OVMS's form, on every API) or these parameters (Triton's form,
KServe only); a request with both is refused rather than one form silently winning. The sequence store, its rules
and its errors are the same whichever form (and API) a request comes in.

Errors: ``InvalidInput`` (400 / INVALID_ARGUMENT) for a parameter of the wrong type or range, for both forms in one
request, and (OVMS's ``SEQUENCE_ID_NOT_PROVIDED``) for no id without a start.
"""

from __future__ import annotations

from collections.abc import Mapping

from ovms_cli.errors import InvalidInput
from ovms_cli.servables.stateful.sequence_store import MAX_SEQUENCE_ID
from ovms_cli.servables.stateful.special_inputs import (
    ID_NOT_PROVIDED,
    NO_SEQUENCE_ID,
    SequenceControl,
    SequenceRequest,
    split_special_inputs,
)
from ovms_cli.types import Parameter, SpecialInput

SEQUENCE_ID_PARAMETER = "sequence_id"
SEQUENCE_START = "sequence_start"
SEQUENCE_END = "sequence_end"
SEQUENCE_PARAMETERS = frozenset({SEQUENCE_ID_PARAMETER, SEQUENCE_START, SEQUENCE_END})

BOTH_FORMS = (
    "Sequence given twice: use either the sequence_id / sequence_control_input inputs or the "
    "sequence_id / sequence_start / sequence_end parameters"
)
INVALID_SEQUENCE_PARAMETER = "Invalid sequence parameter"
NOT_STATEFUL = "Sequence parameters and inputs are only accepted by stateful models"


def has_sequence_parameters(parameters: Mapping[str, Parameter]) -> bool:
    return not SEQUENCE_PARAMETERS.isdisjoint(parameters)


def sequence_request(
    special_inputs: Mapping[str, SpecialInput], parameters: Mapping[str, Parameter]
) -> SequenceRequest:
    """The sequence a request to a stateful model names, from its special inputs or Triton's parameters.

    Raises ``InvalidInput``: the special inputs' errors (spec §9.2), a parameter of the wrong type or range, both
    forms in one request, or no id without a start.
    """
    if not has_sequence_parameters(parameters):
        request, _ = split_special_inputs(special_inputs)
        return request
    if special_inputs:
        raise InvalidInput(BOTH_FORMS)
    sequence_id = _sequence_id(parameters.get(SEQUENCE_ID_PARAMETER, NO_SEQUENCE_ID))
    start = _flag(parameters, SEQUENCE_START)
    end = _flag(parameters, SEQUENCE_END)
    if sequence_id == NO_SEQUENCE_ID and not start:
        raise InvalidInput(ID_NOT_PROVIDED)
    if start:
        return SequenceRequest(sequence_id, SequenceControl.START, also_end=end)
    return SequenceRequest(sequence_id, SequenceControl.END if end else SequenceControl.NONE)


def _sequence_id(value: Parameter) -> int | str:
    if isinstance(value, str):
        return value or NO_SEQUENCE_ID
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_SEQUENCE_ID:
        return value
    raise InvalidInput(
        INVALID_SEQUENCE_PARAMETER,
        f"{SEQUENCE_ID_PARAMETER} must be an integer from 0 to {MAX_SEQUENCE_ID} or a string, got {value!r}",
    )


def _flag(parameters: Mapping[str, Parameter], name: str) -> bool:
    value = parameters.get(name, False)
    if not isinstance(value, bool):
        raise InvalidInput(INVALID_SEQUENCE_PARAMETER, f"{name} must be a boolean, got {value!r}")
    return value
