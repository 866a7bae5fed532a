import cv2
import numpy as np
import pytest

from ovms_cli import types
from ovms_cli.errors import InvalidInput
from ovms_cli.inference.images import accepts_images, decode_images, resizes
from ovms_cli.inference.shapes import Dim
from ovms_cli.inference.tensor_spec import TensorSpec


def _encode(image: np.ndarray, ext: str = ".png") -> bytes:
    ok, buffer = cv2.imencode(ext, image)
    assert ok
    return buffer.tobytes()


def _batch(*items: bytes) -> np.ndarray:
    out = np.empty(len(items), dtype=object)
    out[:] = items
    return out


def _spec(shape: tuple[Dim, ...], layout: str = "NHWC", dtype: types.DType = types.FP32) -> TensorSpec:
    return TensorSpec("image", 0, dtype, shape, 0, layout)


F = Dim.fixed
RNG = np.random.default_rng(7)
PIXELS = RNG.integers(0, 256, (6, 5, 3), dtype=np.uint8)


def test_png_decodes_to_bgr_pixels_cast_without_scaling() -> None:
    out = decode_images(
        _batch(_encode(PIXELS), _encode(PIXELS[::-1].copy())), _spec((Dim.any(), F(6), F(5), F(3)))
    )
    assert out.dtype == np.float32
    assert out.shape == (2, 6, 5, 3)
    np.testing.assert_array_equal(out[0], PIXELS.astype(np.float32))
    np.testing.assert_array_equal(out[1], PIXELS[::-1].astype(np.float32))


def test_jpeg_is_resized_to_a_fixed_nhwc_shape() -> None:
    big = cv2.resize(PIXELS, (50, 40))
    out = decode_images(_batch(_encode(big, ".jpg")), _spec((F(1), F(8), F(10), F(3)), dtype=types.U8))
    expected = cv2.resize(
        cv2.imdecode(np.frombuffer(_encode(big, ".jpg"), np.uint8), cv2.IMREAD_UNCHANGED), (10, 8)
    )
    np.testing.assert_array_equal(out[0], expected)


def test_unbounded_dims_take_the_image_size() -> None:
    out = decode_images(_batch(_encode(PIXELS)), _spec((Dim.any(), Dim.any(), Dim.any(), F(3))))
    assert out.shape == (1, 6, 5, 3)


def test_grayscale_gets_a_channel_axis() -> None:
    gray = PIXELS[:, :, 0].copy()
    out = decode_images(_batch(_encode(gray)), _spec((F(1), F(6), F(5), F(1)), dtype=types.U8))
    np.testing.assert_array_equal(out[0, :, :, 0], gray)


@pytest.mark.parametrize(
    ("images", "spec", "message"),
    [
        (_batch(b"not an image"), _spec((F(1), F(6), F(5), F(3))), "Image parsing failed"),
        (_batch(b""), _spec((F(1), F(6), F(5), F(3))), "Bytes contents is empty"),
        (
            _batch(_encode(PIXELS[:, :, 0].copy())),
            _spec((F(1), F(6), F(5), F(3))),
            "Invalid number of channels in binary input - Expected: 3; Actual: 1",
        ),
        (
            _batch(_encode(PIXELS)),
            _spec((F(1), F(3), F(6), F(5)), layout="NCHW"),
            "not configured to accept NHWC",
        ),
        (
            _batch(_encode(PIXELS), _encode(cv2.resize(PIXELS, (7, 7)))),
            _spec((Dim.any(), Dim.any(), Dim.any(), F(3))),
            "required to have the same resolution",
        ),
        (
            _batch(_encode(PIXELS)).reshape(1, 1),
            _spec((F(1), F(6), F(5), F(3))),
            "Expected number of binary input shape dimensions: 1; Actual: 2",
        ),
        (
            _batch(_encode(PIXELS)),
            _spec((F(1), F(6), F(5), F(3)), dtype=types.BOOL),
            "Invalid input precision",
        ),
    ],
)
def test_bad_images_are_clear_client_errors(images: np.ndarray, spec: TensorSpec, message: str) -> None:
    with pytest.raises(InvalidInput, match=message) as raised:
        decode_images(images, spec)
    assert raised.value.http_status == 400


def test_which_layouts_take_images_and_which_resize() -> None:
    fixed = (F(1), F(6), F(5), F(3))
    assert accepts_images(_spec(fixed, "NHWC")) and resizes(_spec(fixed, "NHWC"))
    assert accepts_images(_spec(fixed, "")) and not resizes(_spec(fixed, ""))
    assert not accepts_images(_spec(fixed, "NCHW"))
    assert not resizes(_spec((Dim.any(), F(6), F(5), F(3)), "NHWC"))


def _sample_jpeg() -> bytes:
    """A 13x11 gradient with a disc: enough detail that bilinear weights fall between pixels."""
    rows, cols = np.mgrid[0:13, 0:11]
    image = np.stack([rows * 19, cols * 23, (rows * cols) % 256], axis=-1).astype(np.uint8)
    cv2.circle(image, (5, 6), 3, (250, 10, 120), -1)
    return _encode(image, ".jpg")


def test_images_are_cast_to_the_precision_before_they_are_resized() -> None:
    """OVMS's order (tensor_conversion.hpp): convertTo, then cv::resize; an FP32 [1,8,8,3] input
    therefore gets interpolated, non-integer values, not rounded uint8 ones."""
    jpeg = _sample_jpeg()
    decoded = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_UNCHANGED)
    ovms_rule = cv2.resize(decoded.astype(np.float32), (8, 8))
    out = decode_images(_batch(jpeg), _spec((F(1), F(8), F(8), F(3))))
    np.testing.assert_array_equal(out[0], ovms_rule)
    resized_first = cv2.resize(decoded, (8, 8)).astype(np.float32)
    assert np.abs(out[0] - resized_first).max() > 0.25  # the other order is measurably different
    assert not np.array_equal(out[0], np.rint(out[0]))


def test_uint8_inputs_are_resized_in_uint8() -> None:
    jpeg = _sample_jpeg()
    decoded = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_UNCHANGED)
    out = decode_images(_batch(jpeg), _spec((F(1), F(8), F(8), F(3)), dtype=types.U8))
    np.testing.assert_array_equal(out[0], cv2.resize(decoded, (8, 8)))


def test_casts_saturate_as_opencv_convert_to_does() -> None:
    bright = np.full((6, 5, 3), 200, np.uint8)
    out = decode_images(_batch(_encode(bright)), _spec((F(1), F(6), F(5), F(3)), dtype=types.I8))
    assert out.dtype == np.int8
    np.testing.assert_array_equal(out[0], np.full((6, 5, 3), 127, np.int8))


@pytest.mark.parametrize("dtype", [types.I8, types.I32, types.FP16])
def test_precisions_opencv_cannot_interpolate_are_resized_through_float(dtype: types.DType) -> None:
    jpeg = _sample_jpeg()
    decoded = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_UNCHANGED)
    cast = np.clip(decoded, -128, 127) if dtype is types.I8 else decoded
    through_float = cv2.resize(cast.astype(np.float64), (8, 8))
    out = decode_images(_batch(jpeg), _spec((F(1), F(8), F(8), F(3)), dtype=dtype))
    assert out.dtype == dtype.numpy
    expected = through_float if dtype is types.FP16 else np.rint(through_float)
    np.testing.assert_allclose(out[0].astype(np.float64), expected, atol=0.1 if dtype is types.FP16 else 1.0)
