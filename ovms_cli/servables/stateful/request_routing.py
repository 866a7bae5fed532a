"""Where a request's sequence goes: into the sequence store of a stateful version, or nowhere (issue 14).

The codecs set aside the special inputs ``sequence_id`` / ``sequence_control_input`` of every request
(``InferenceRequest.special_inputs``) and keep KServe's request parameters. A stateful version gets them as one
:class:`SequenceRequest` (``sequence_parameters.sequence_request``); any other servable gets the special inputs
back as ordinary inputs (OVMS: extra inputs, "Invalid number of inputs", unless the model has inputs so named),
and Triton's sequence parameters are refused rather than ignored.
"""

from __future__ import annotations

from ovms_cli.errors import InvalidInput
from ovms_cli.servables.model_version import ModelVersion
from ovms_cli.servables.servable import Servable
from ovms_cli.servables.stateful.sequence_parameters import (
    NOT_STATEFUL,
    SEQUENCE_PARAMETERS,
    has_sequence_parameters,
    sequence_request,
)
from ovms_cli.types import Array, InferenceRequest


async def infer_servable(served: Servable, request: InferenceRequest) -> dict[str, Array]:
    """``served.infer`` with the request's sequence handled as the module docstring says. Raises what
    ``sequence_request`` and ``served.infer`` raise, and ``InvalidInput`` for sequence parameters sent to a
    servable that is not stateful."""
    if isinstance(served, ModelVersion) and served.stateful:
        sequence = sequence_request(request.special_inputs, request.parameters)
        return await served.infer(request.inputs, request.requested_outputs, sequence)
    if has_sequence_parameters(request.parameters):
        given = sorted(SEQUENCE_PARAMETERS.intersection(request.parameters))
        raise InvalidInput(NOT_STATEFUL, f"parameters: {', '.join(given)}; model: {request.model_name}")
    inputs = request.inputs
    if request.special_inputs:
        inputs = {**inputs, **{name: special.as_array() for name, special in request.special_inputs.items()}}
    return await served.infer(inputs, request.requested_outputs)
