"""JPEG and PNG images through both APIs and all four clients, against OpenVINO in-process on the same pixels."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import ovmsclient
import pytest
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
from builders import run_in_process
from e2e.conftest import ServerProcess
from tritonclient.utils import InferenceServerException

RNG = np.random.default_rng(11)


def _image(height: int, width: int, channels: int = 3) -> np.ndarray:
    pixels = RNG.integers(0, 256, (height, width, channels), dtype=np.uint8)
    return cv2.GaussianBlur(pixels, (3, 3), 1)


def _encode(pixels: np.ndarray, ext: str) -> bytes:
    ok, data = cv2.imencode(ext, pixels)
    assert ok
    return data.tobytes()


def _decoded(images: list[bytes]) -> np.ndarray:
    """What OVMS feeds the model: OpenCV's own decoding, BGR, cast to float."""
    return np.stack([cv2.imdecode(np.frombuffer(i, np.uint8), cv2.IMREAD_UNCHANGED) for i in images]).astype(
        np.float32
    )


def _expected_nchw(repository: Path, images: list[bytes]) -> dict[str, np.ndarray]:
    nchw = np.ascontiguousarray(_decoded(images).transpose(0, 3, 1, 2))
    return run_in_process(repository / "image_nchw" / "1", {"image": nchw})


def _expected_nhwc_resized(repository: Path, images: list[bytes]) -> dict[str, np.ndarray]:
    decoded = [cv2.imdecode(np.frombuffer(i, np.uint8), cv2.IMREAD_UNCHANGED) for i in images]
    resized = np.stack([cv2.resize(d.astype(np.float32), (16, 16)) for d in decoded])  # cast, then resize
    return run_in_process(repository / "image_nhwc" / "1", {"image": resized})


def _bytes_tensor(images: list[bytes]) -> np.ndarray:
    out = np.empty(len(images), dtype=object)
    out[:] = images
    return out


JPEGS = [_encode(_image(8, 8), ".jpg"), _encode(_image(8, 8), ".jpg")]
PNGS = [_encode(_image(8, 8), ".png"), _encode(_image(8, 8), ".png")]
BIG = [_encode(_image(20, 24), ".jpg")]


@pytest.mark.parametrize("images", [JPEGS, PNGS, JPEGS[:1]], ids=["jpeg", "png", "one"])
def test_tritonclient_grpc_sends_images_to_an_nchw_model(
    server: ServerProcess, repository: Path, images: list[bytes]
) -> None:
    client = grpcclient.InferenceServerClient(server.grpc_url)
    data = grpcclient.InferInput("image", [len(images)], "BYTES")
    data.set_data_from_numpy(_bytes_tensor(images))
    result = client.infer("image_nchw", [data])
    expected = _expected_nchw(repository, images)
    np.testing.assert_allclose(result.as_numpy("mixed"), expected["mixed"], rtol=1e-5)
    np.testing.assert_allclose(result.as_numpy("mean"), expected["mean"], rtol=1e-5)


@pytest.mark.parametrize("images", [JPEGS, PNGS], ids=["jpeg", "png"])
def test_tritonclient_http_sends_images_with_the_binary_extension(
    server: ServerProcess, repository: Path, images: list[bytes]
) -> None:
    client = httpclient.InferenceServerClient(server.rest_url)
    data = httpclient.InferInput("image", [len(images)], "BYTES")
    data.set_data_from_numpy(_bytes_tensor(images), binary_data=True)
    result = client.infer("image_nchw", [data])
    expected = _expected_nchw(repository, images)
    np.testing.assert_allclose(result.as_numpy("mixed"), expected["mixed"], rtol=1e-5)


@pytest.mark.parametrize("images", [JPEGS, PNGS], ids=["jpeg", "png"])
def test_ovmsclient_grpc_and_http_send_images(
    server: ServerProcess, repository: Path, images: list[bytes]
) -> None:
    expected = _expected_nchw(repository, images)
    for client in (
        ovmsclient.make_grpc_client(server.grpc_url),
        ovmsclient.make_http_client(server.rest_url),
    ):
        result = client.predict({"image": images}, "image_nchw")
        np.testing.assert_allclose(result["mixed"], expected["mixed"], rtol=1e-5)
        np.testing.assert_allclose(result["mean"], expected["mean"], rtol=1e-5)


def test_images_are_resized_for_a_fixed_nhwc_model(server: ServerProcess, repository: Path) -> None:
    expected = _expected_nhwc_resized(repository, BIG)["channel_sums"]
    grpc_result = ovmsclient.make_grpc_client(server.grpc_url).predict({"image": BIG}, "image_nhwc")
    np.testing.assert_allclose(grpc_result, expected, rtol=1e-5)
    client = grpcclient.InferenceServerClient(server.grpc_url)
    data = grpcclient.InferInput("image", [1], "BYTES")
    data.set_data_from_numpy(_bytes_tensor(BIG))
    np.testing.assert_allclose(
        client.infer("image_nhwc", [data]).as_numpy("channel_sums"), expected, rtol=1e-5
    )


@pytest.mark.parametrize(
    ("images", "message"),
    [
        ([b"\xff\xd8 this is not a jpeg"], "Image parsing failed"),
        ([_encode(_image(8, 8, 1), ".png")], "Invalid number of channels"),
        ([JPEGS[0], _encode(_image(9, 9), ".jpg")], "same resolution"),
        ([b""], "Bytes contents is empty"),
    ],
    ids=["corrupt", "gray", "mixed-sizes", "empty"],
)
def test_bad_images_are_invalid_argument_on_every_client(
    server: ServerProcess, images: list[bytes], message: str
) -> None:
    client = grpcclient.InferenceServerClient(server.grpc_url)
    data = grpcclient.InferInput("image", [len(images)], "BYTES")
    data.set_data_from_numpy(_bytes_tensor(images))
    with pytest.raises(InferenceServerException, match=message) as raised:
        client.infer("image_nchw", [data])
    assert raised.value.status() == "StatusCode.INVALID_ARGUMENT"

    http = httpclient.InferenceServerClient(server.rest_url)
    body = httpclient.InferInput("image", [len(images)], "BYTES")
    body.set_data_from_numpy(_bytes_tensor(images), binary_data=True)
    with pytest.raises(InferenceServerException, match=message) as raised:
        http.infer("image_nchw", [body])
    assert raised.value.status() == "400"

    with pytest.raises(ovmsclient.tfs_compat.base.errors.InvalidInputError, match=message):
        ovmsclient.make_grpc_client(server.grpc_url).predict({"image": images}, "image_nchw")
    with pytest.raises(ovmsclient.tfs_compat.base.errors.InvalidInputError, match=message):
        ovmsclient.make_http_client(server.rest_url).predict({"image": images}, "image_nchw")

    result = client.infer("image_nchw", [_grpc_images(JPEGS[:1])])
    assert result.as_numpy("mean").shape == (1,)


def _grpc_images(images: list[bytes]) -> grpcclient.InferInput:
    data = grpcclient.InferInput("image", [len(images)], "BYTES")
    data.set_data_from_numpy(_bytes_tensor(images))
    return data


def test_images_to_a_model_that_is_not_nhwc_are_refused(server: ServerProcess) -> None:
    client = grpcclient.InferenceServerClient(server.grpc_url)
    data = grpcclient.InferInput("input", [1], "BYTES")
    data.set_data_from_numpy(_bytes_tensor(JPEGS[:1]))
    with pytest.raises(InferenceServerException, match="Invalid input precision") as raised:
        client.infer("affine", [data])
    assert raised.value.status() == "StatusCode.INVALID_ARGUMENT"
