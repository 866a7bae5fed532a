import numpy as np
import openvino as ov
import pytest
from builders import reshape_by_input_model

from ovms_cli.inference import openvino_messages


def test_only_what_openvino_says_is_kept_in_order() -> None:
    request = ov.Core().compile_model(reshape_by_input_model(), "CPU").create_infer_request()
    with pytest.raises(RuntimeError) as raised:
        request.infer({0: np.ones(6, np.float32), 1: np.array([4, 4], np.int64)})
    said = openvino_messages.said(raised.value)
    assert said and said[-1].startswith("[cpu]reshape: the shape of input data (6) conflicts")
    assert not any(line.startswith(("Exception from ", "Caught exception")) or not line for line in said)


def test_a_message_of_trails_only_says_nothing() -> None:
    assert openvino_messages.said(RuntimeError("Exception from src/a.cpp:1:\n\n")) == []


def test_inputs_that_do_not_fit_fail_in_shape_inference() -> None:
    request = ov.Core().compile_model(reshape_by_input_model(), "CPU").create_infer_request()
    with pytest.raises(RuntimeError) as raised:
        request.infer({0: np.ones(6, np.float32), 1: np.array([4, 4], np.int64)})
    assert openvino_messages.is_shape_inference_failure(raised.value)


def test_other_failures_are_not_shape_inference() -> None:
    error = RuntimeError("Exception from src/inference/src/cpp/infer_request.cpp:224:\nout of memory\n")
    assert not openvino_messages.is_shape_inference_failure(error)
