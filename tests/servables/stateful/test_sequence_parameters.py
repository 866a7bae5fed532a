import numpy as np
import pytest

from ovms_cli.errors import InvalidInput
from ovms_cli.servables.stateful.sequence_parameters import (
    BOTH_FORMS,
    has_sequence_parameters,
    sequence_request,
)
from ovms_cli.servables.stateful.special_inputs import SequenceControl, SequenceRequest
from ovms_cli.types import SpecialInput

START, NONE, END = SequenceControl.START, SequenceControl.NONE, SequenceControl.END


def special(values: list[int], dtype: type[np.generic]) -> SpecialInput:
    return SpecialInput.from_array(np.array(values, dtype))


@pytest.mark.parametrize(
    ("parameters", "expected"),
    [
        ({"sequence_id": 5, "sequence_start": True}, SequenceRequest(5, START)),
        ({"sequence_id": 5}, SequenceRequest(5, NONE)),
        ({"sequence_id": 5, "sequence_start": False, "sequence_end": False}, SequenceRequest(5, NONE)),
        ({"sequence_id": 5, "sequence_end": True}, SequenceRequest(5, END)),
        (
            {"sequence_id": 5, "sequence_start": True, "sequence_end": True},
            SequenceRequest(5, START, also_end=True),
        ),
        ({"sequence_id": "abc", "sequence_start": True}, SequenceRequest("abc", START)),
        ({"sequence_id": 2**64 - 1}, SequenceRequest(2**64 - 1, NONE)),
        ({"sequence_start": True}, SequenceRequest(0, START)),
        ({"sequence_id": "", "sequence_start": True}, SequenceRequest(0, START)),
    ],
)
def test_triton_parameters_name_the_sequence(
    parameters: dict[str, object], expected: SequenceRequest
) -> None:
    assert sequence_request({}, parameters) == expected  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("parameters", "message"),
    [
        ({"sequence_id": -1}, "sequence_id must be an integer from 0 to 18446744073709551615 or a string"),
        ({"sequence_id": 2**64}, "sequence_id must be an integer"),
        ({"sequence_id": True}, "sequence_id must be an integer"),
        ({"sequence_id": 5, "sequence_start": 1}, "sequence_start must be a boolean, got 1"),
        ({"sequence_id": 5, "sequence_end": "yes"}, "sequence_end must be a boolean"),
        ({"sequence_id": 0}, "Sequence ID has not been provided in request inputs"),
        ({"sequence_end": True}, "Sequence ID has not been provided in request inputs"),
    ],
)
def test_bad_parameters_are_refused(parameters: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        sequence_request({}, parameters)  # type: ignore[arg-type]


def test_special_inputs_alone_are_ovms_form() -> None:
    inputs = {"sequence_id": special([9], np.uint64), "sequence_control_input": special([2], np.uint32)}
    assert sequence_request(inputs, {"priority": 1}) == SequenceRequest(9, END)
    with pytest.raises(InvalidInput, match="Sequence ID has not been provided"):
        sequence_request({}, {})


def test_both_forms_in_one_request_are_refused() -> None:
    with pytest.raises(InvalidInput) as raised:
        sequence_request({"sequence_id": special([9], np.uint64)}, {"sequence_start": True})
    assert raised.value.message == BOTH_FORMS


def test_has_sequence_parameters() -> None:
    assert has_sequence_parameters({"sequence_end": False})
    assert not has_sequence_parameters({"priority": 3, "binary_data_output": True})
