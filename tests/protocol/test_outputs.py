"""Which outputs a request asks for (protocol.outputs)."""

import pytest

from ovms_cli.errors import InvalidInput
from ovms_cli.protocol.outputs import requested_outputs


def test_requested_outputs_keep_request_order() -> None:
    assert requested_outputs(["b", "a"]) == ("b", "a")
    assert requested_outputs([]) == ()


def test_an_output_asked_twice_is_refused_as_an_input_given_twice_is() -> None:
    with pytest.raises(InvalidInput) as info:
        requested_outputs(["y", "z", "y"])
    assert info.value.message == "Duplicate output in request - output name: y"
    assert info.value.http_status == 400
