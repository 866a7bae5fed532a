import numpy as np
import pytest

from ovms_cli.errors import InvalidInput
from ovms_cli.servables.stateful.special_inputs import (
    SequenceControl,
    SequenceRequest,
    SpecialInput,
    sequence_id_output,
    split_special_inputs,
)

X = np.ones((1, 4), np.float32)


def ids(value: int) -> np.ndarray:
    return np.array([value], np.uint64)


def control(value: int) -> np.ndarray:
    return np.array([value], np.uint32)


def test_special_inputs_are_split_from_the_model_inputs() -> None:
    request, model_inputs = split_special_inputs(
        {"x": X, "sequence_id": ids(7), "sequence_control_input": control(2)}
    )
    assert request == SequenceRequest(7, SequenceControl.END)
    assert list(model_inputs) == ["x"]
    assert model_inputs["x"] is X


def test_no_control_means_continue() -> None:
    request, _ = split_special_inputs({"x": X, "sequence_id": ids(3)})
    assert request == SequenceRequest(3, SequenceControl.NONE)


@pytest.mark.parametrize("given", [{}, {"sequence_id": ids(0)}])
def test_start_without_id_asks_the_server_for_one(given: dict[str, np.ndarray]) -> None:
    request, _ = split_special_inputs({"x": X, "sequence_control_input": control(1), **given})
    assert request == SequenceRequest(0, SequenceControl.START)


def test_the_largest_uint64_id_survives() -> None:
    request, _ = split_special_inputs({"sequence_id": ids(2**64 - 1)})
    assert request.id == 2**64 - 1


@pytest.mark.parametrize(
    "inputs",
    [
        {"x": X},
        {"sequence_id": ids(0)},
        {"sequence_control_input": control(2)},
        {"sequence_control_input": control(0)},
    ],
)
def test_an_id_is_required_unless_start(inputs: dict[str, np.ndarray]) -> None:
    with pytest.raises(InvalidInput) as raised:
        split_special_inputs(inputs)
    assert raised.value.message == "Sequence ID has not been provided in request inputs"


def test_control_values_other_than_0_1_2_are_refused() -> None:
    with pytest.raises(InvalidInput) as raised:
        split_special_inputs({"sequence_id": ids(1), "sequence_control_input": control(3)})
    assert raised.value.message == "Unexpected value of sequence control input"


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        (
            "sequence_id",
            np.array([[1]], np.uint64),
            "Invalid number of shape dimensions - Required shape for sequence_id is: (1)",
        ),
        (
            "sequence_id",
            np.array(1, np.uint64),
            "Invalid number of shape dimensions - Required shape for sequence_id is: (1)",
        ),
        (
            "sequence_id",
            np.array([1, 2], np.uint64),
            "Invalid input shape - Required shape for sequence_id is: (1)",
        ),
        (
            "sequence_id",
            np.array([], np.uint64),
            "Invalid input shape - Required shape for sequence_id is: (1)",
        ),
        (
            "sequence_id",
            np.array([1], np.int64),
            "Could not find sequence id in expected tensor proto field uint64_val",
        ),
        (
            "sequence_id",
            np.array([1], np.uint32),
            "Could not find sequence id in expected tensor proto field uint64_val",
        ),
        (
            "sequence_control_input",
            np.array([[1]], np.uint32),
            "Invalid number of shape dimensions - Required shape for sequence_control_input is: (1)",
        ),
        (
            "sequence_control_input",
            np.array([1, 1], np.uint32),
            "Invalid input shape - Required shape for sequence_control_input is: (1)",
        ),
        (
            "sequence_control_input",
            np.array([1], np.int32),
            "Could not find sequence control input in expected tensor proto field uint32_val",
        ),
        (
            "sequence_control_input",
            np.array([1], np.uint64),
            "Could not find sequence control input in expected tensor proto field uint32_val",
        ),
    ],
)
def test_malformed_special_inputs_get_ovms_messages(name: str, value: np.ndarray, message: str) -> None:
    with pytest.raises(InvalidInput) as raised:
        split_special_inputs({"x": X, name: value})
    assert raised.value.message == message
    assert raised.value.http_status == 400


def test_a_proto_without_shape_is_refused() -> None:
    with pytest.raises(InvalidInput) as raised:
        split_special_inputs({"sequence_id": SpecialInput(None, np.array([1], np.uint64))})
    assert raised.value.message == "Special input proto does not contain tensor shape information"


def test_a_declared_shape_of_1_with_no_value_in_the_field_is_a_bad_type() -> None:
    """TFS: shape [1] declared but ``uint64_val`` empty (the value sent in ``int64_val``, say)."""
    with pytest.raises(InvalidInput) as raised:
        split_special_inputs({"sequence_id": SpecialInput((1,), np.array([], np.uint64))})
    assert raised.value.message == "Could not find sequence id in expected tensor proto field uint64_val"


def test_a_wire_special_input_with_its_value_in_the_right_field_is_read() -> None:
    request, _ = split_special_inputs(
        {"sequence_id": SpecialInput((1,), np.array([9], np.uint64)), "sequence_control_input": control(0)}
    )
    assert request == SequenceRequest(9, SequenceControl.NONE)


def test_the_sequence_id_output_is_uint64_of_shape_1() -> None:
    output = sequence_id_output(2**64 - 1)
    assert output.dtype == np.uint64
    assert output.shape == (1,)
    assert int(output[0]) == 2**64 - 1
