import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from pipeline_builders import no_leak

from ovms_cli import types
from ovms_cli.errors import InternalError, InvalidInput, NotReady
from ovms_cli.servables.pipelines.custom_node_library import CustomNodeLibrary
from ovms_cli.types import TensorMetadata

X = np.arange(8, dtype=np.float32).reshape(2, 4)


@pytest.fixture
def add_mul(c_nodes: dict[str, Path]) -> CustomNodeLibrary:
    return CustomNodeLibrary("add_mul", c_nodes["add_mul"])


def test_execute_applies_params_and_releases_everything(add_mul: CustomNodeLibrary) -> None:
    node = add_mul.initialize("scale", {"add": "1.5", "multiply": "-2"})
    with no_leak(add_mul) as handed:
        outputs = node.execute({"a": X})
    assert list(outputs) == ["result"]
    np.testing.assert_array_equal(outputs["result"], (X + 1.5) * -2)
    assert outputs["result"].dtype == np.float32
    assert handed == [3]  # the outputs array, the data, the dims


def test_signature_reports_dynamic_dims_as_minus_one(add_mul: CustomNodeLibrary) -> None:
    node = add_mul.initialize("scale", {})
    with no_leak(add_mul) as handed:
        signature = node.signature()
    assert dict(signature.inputs) == {"a": TensorMetadata("a", types.FP32, (-1, 4))}
    assert dict(signature.outputs) == {"result": TensorMetadata("result", types.FP32, (-1, 4))}
    assert handed == [4]  # per call: the infos array and one dims array


def test_inputs_are_passed_without_copy_even_when_not_contiguous(add_mul: CustomNodeLibrary) -> None:
    node = add_mul.initialize("scale", {"add": "1"})
    strided = np.arange(16, dtype=np.float32).reshape(2, 8)[:, ::2]
    np.testing.assert_array_equal(node.execute({"a": strided})["result"], strided + 1)


def test_failing_initialize_names_node_library_and_code(add_mul: CustomNodeLibrary) -> None:
    with pytest.raises(InternalError) as caught:
        add_mul.initialize("broken", {"fail": "initialize"})
    assert caught.value.message == (
        "Failure during custom node library initialization - node: broken; library: add_mul; code: 3"
    )


def test_failing_execute_is_a_clear_error_and_releases_nothing_it_did_not_get(
    add_mul: CustomNodeLibrary,
) -> None:
    node = add_mul.initialize("broken", {"fail": "execute"})
    with no_leak(add_mul) as handed, pytest.raises(InternalError) as caught:
        node.execute({"a": X})
    assert (
        caught.value.message
        == "Custom node failed during execution - node: broken; library: add_mul; code: 7"
    )
    assert caught.value.http_status == 500
    assert handed == [0]


def test_failing_metadata_call(add_mul: CustomNodeLibrary) -> None:
    node = add_mul.initialize("broken", {"fail": "metadata"})
    with no_leak(add_mul), pytest.raises(InternalError) as caught:
        node.signature()
    assert caught.value.message == (
        "Custom node failed on metadata call - node: broken; library: add_mul; code: 5; call: getOutputsInfo"
    )


@pytest.mark.parametrize(
    ("malform", "message", "handed_out"),
    [
        (
            "precision",
            "Custom node has produced tensor with unspecified precision - node: bad; library: add_mul; output: result; precision: 0",
            3,
        ),
        (
            "size",
            "Custom node output has invalid content size - node: bad; library: add_mul; output: result; dims: [2, 4]; dataBytes: 28; expected: 32",
            3,
        ),
        ("name", "Custom node output is missing name - node: bad; library: add_mul; index: 0", 3),
        (
            "null",
            "Custom node library has returned corrupted outputs handle - node: bad; library: add_mul",
            0,
        ),
        (
            "count",
            "Custom node library has produced corrupted number of outputs - node: bad; library: add_mul; count: 0",
            1,
        ),
    ],
)
def test_malformed_outputs_are_refused_and_released(
    add_mul: CustomNodeLibrary, malform: str, message: str, handed_out: int
) -> None:
    node = add_mul.initialize("bad", {"malform": malform})
    with no_leak(add_mul) as handed, pytest.raises(InternalError) as caught:
        node.execute({"a": X})
    assert caught.value.message == message
    assert handed == [handed_out]


def test_input_precision_the_abi_cannot_carry(add_mul: CustomNodeLibrary) -> None:
    node = add_mul.initialize("scale", {})
    with pytest.raises(InvalidInput) as caught:
        node.execute({"a": np.zeros((1, 4), np.bool_)})
    assert (
        caught.value.message
        == "Invalid input precision - node: scale; library: add_mul; input: a; dtype: bool"
    )


def test_shared_manager_serves_concurrent_calls(add_mul: CustomNodeLibrary) -> None:
    node = add_mul.initialize("scale", {"add": "2"})
    inputs = [np.full((3, 4), i, np.float32) for i in range(64)]
    with no_leak(add_mul), ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda a: node.execute({"a": a})["result"], inputs))
    for i, result in enumerate(results):
        np.testing.assert_array_equal(result, np.full((3, 4), i + 2, np.float32))


def test_deinitialized_node_refuses_calls(add_mul: CustomNodeLibrary) -> None:
    node = add_mul.initialize("scale", {})
    node.deinitialize()
    node.deinitialize()  # once only
    with pytest.raises(NotReady) as caught:
        node.execute({"a": X})
    assert caught.value.message == "Custom node library is deinitialized - node: scale; library: add_mul"


def test_missing_file_and_missing_symbol(tmp_path: Path, c_nodes: dict[str, Path]) -> None:
    # c_nodes: skips this test too when gcc is absent
    with pytest.raises(InternalError) as caught:
        CustomNodeLibrary("gone", tmp_path / "libgone.so")
    assert caught.value.message.startswith("Custom node library failed to open - library: gone; ")
    source = tmp_path / "half.c"
    source.write_text(
        "int initialize(void** m, const void* p, int c) { (void)p; (void)c; *m = 0; return 0; }\n"
    )
    subprocess.run(["gcc", "-shared", "-fPIC", "-o", str(tmp_path / "libhalf.so"), str(source)], check=True)
    with pytest.raises(InternalError) as caught:
        CustomNodeLibrary("half", tmp_path / "libhalf.so")
    assert (
        caught.value.message
        == "Custom node library failed to load symbol - library: half; symbol: deinitialize"
    )


def test_crop_node_output_shape_depends_on_the_request(c_nodes: dict[str, Path]) -> None:
    library = CustomNodeLibrary("crops", c_nodes["crops"])
    node = library.initialize("crop", {"width": "2", "height": "3"})
    image = np.arange(2 * 5 * 6, dtype=np.float32).reshape(1, 2, 5, 6)
    boxes = np.array([[0, 0], [4, 2], [1, 1]], np.int32)
    with no_leak(library) as handed:
        outputs = node.execute({"image": image, "boxes": boxes})
    assert outputs["crops"].shape == (3, 1, 2, 3, 2)
    for k, (x, y) in enumerate(boxes):
        np.testing.assert_array_equal(outputs["crops"][k, 0], image[0, :, y : y + 3, x : x + 2])
    np.testing.assert_array_equal(outputs["origins"], boxes.reshape(3, 1, 2))
    assert handed == [5]
    assert dict(node.signature().outputs)["crops"].shape == (-1, 1, -1, 3, 2)


def test_ovms_add_one_sample_behaviour(c_nodes: dict[str, Path]) -> None:
    library = CustomNodeLibrary("add_one", c_nodes["add_one"])
    numbers = np.linspace(-1, 1, 10, dtype=np.float32).reshape(1, 10)
    default = library.initialize("add_one", {})
    np.testing.assert_array_equal(default.execute({"input_numbers": numbers})["output_numbers"], numbers + 1)
    tuned = library.initialize("add_one", {"add_number": "5", "sub_number": "2"})
    np.testing.assert_array_equal(
        tuned.execute({"input_numbers": numbers})["output_numbers"], numbers + 5 - 2
    )
    with pytest.raises(InternalError) as caught:
        tuned.execute({"input_numbers": np.zeros((1, 9), np.float32)})
    assert (
        caught.value.message
        == "Custom node failed during execution - node: add_one; library: add_one; code: 1"
    )
