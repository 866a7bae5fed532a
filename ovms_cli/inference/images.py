"""Encoded images (JPEG, PNG, anything OpenCV reads) into a model's NHWC input (spec §7.2).

Pixels keep OpenCV's channel order (BGR, BGRA) and bit depth and are cast to the input's
precision without scaling, as OVMS does. In OVMS's order (``tensor_conversion.hpp``): the cast
comes first (``Mat::convertTo``, saturating), then ``cv::resize`` with its default bilinear
interpolation, so a float model sees interpolated, not rounded, pixels. Images are resized only
where OVMS resizes: the input layout is exactly NHWC and no dimension is unbounded. Decoding is
CPU work: call ``decode_images`` from a worker thread.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from ovms_cli import types
from ovms_cli.errors import InvalidInput
from ovms_cli.inference.shapes import Dim
from ovms_cli.inference.tensor_spec import TensorSpec
from ovms_cli.types import Array, as_bytes

IMAGE_PRECISIONS = frozenset(
    d.kserve
    for d in (types.FP32, types.FP64, types.FP16, types.I32, types.I16, types.U16, types.I8, types.U8)
)
_NHWC = ("N", "H", "W", "C")
_RESIZE_CARRIERS: dict[type[np.generic], type[np.generic]] = {
    np.int8: np.float32,
    np.float16: np.float32,
    np.int32: np.float64,
}


def accepts_images(spec: TensorSpec) -> bool:
    """Rank 4 with a layout that can be read as NHWC: OVMS's IMAGE processing hint."""
    if spec.shape is None or len(spec.shape) != 4:
        return False
    if not spec.layout or "..." in spec.layout:
        return True
    return len(spec.layout) == 4 and all(
        have in (want, "?") for have, want in zip(spec.layout, _NHWC, strict=True)
    )


def resizes(spec: TensorSpec) -> bool:
    assert spec.shape is not None
    bounded = all(d.max >= 0 for d in spec.shape)
    return spec.layout == "NHWC" and bounded


def decode_images(images: Array, spec: TensorSpec) -> Array:
    """``images``: a 1-D object array of encoded images. Returns ``[N, H, W, C]`` in the input's precision."""
    _check_request(images, spec)
    assert spec.shape is not None
    decoded = [_decode(as_bytes(item), index, spec.name) for index, item in enumerate(images.tolist())]
    _check_channels(decoded, spec.shape[3], spec.name)
    height = _target(spec.shape[1], decoded[0].shape[0])
    width = _target(spec.shape[2], decoded[0].shape[1])
    converted = [convert_precision(image, spec.dtype.numpy) for image in decoded]
    return np.stack(_sized(converted, height, width, resizes(spec), spec.name))


def convert_precision(image: Array, dtype: np.dtype[np.generic]) -> Array:
    """OpenCV's ``Mat::convertTo`` without scaling: integers saturate (200 → 127 in int8, not -56)
    and floats round to the nearest integer."""
    if image.dtype == dtype:
        return image
    if dtype.kind not in "iu":
        return image.astype(dtype)
    limits = np.iinfo(dtype.type)  # type: ignore[type-var]
    wide = np.rint(image.astype(np.float64)) if image.dtype.kind == "f" else image.astype(np.int64)
    clipped: Array = np.clip(wide, limits.min, limits.max).astype(dtype)
    return clipped


def _check_request(images: Array, spec: TensorSpec) -> None:
    if images.ndim != 1:
        raise InvalidInput(
            "Invalid number of shape dimensions",
            f"Expected number of binary input shape dimensions: 1; Actual: {images.ndim}; input name: {spec.name}",
        )
    if not accepts_images(spec):
        raise InvalidInput(
            "Received binary image input but resource not configured to accept NHWC layout",
            f"input name: {spec.name}; layout: {spec.layout or 'N...'} (configure e.g. layout NHWC:NCHW)",
        )
    if spec.dtype.kserve not in IMAGE_PRECISIONS:
        raise InvalidInput(
            "Invalid input precision",
            f"Expected one of {sorted(IMAGE_PRECISIONS)} for images; model input {spec.name} is {spec.dtype.kserve}",
        )
    if images.size == 0:
        raise InvalidInput("Invalid input batch size", f"no images; input name: {spec.name}")


def _decode(data: bytes, index: int, name: str) -> Array:
    if not data:
        raise InvalidInput("Bytes contents is empty", f"image {index}; input name: {name}")
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if image is None:
        raise InvalidInput(
            "Image parsing failed", f"image {index} is not a readable image; input name: {name}"
        )
    return image[:, :, np.newaxis] if image.ndim == 2 else image


def _check_channels(images: Sequence[Array], channels: Dim, name: str) -> None:
    expected = channels.min if channels.is_static else images[0].shape[2]
    for index, image in enumerate(images):
        if image.shape[2] != expected or not channels.accepts(image.shape[2]):
            raise InvalidInput(
                "Invalid number of channels in binary input",
                f"Expected: {channels}; Actual: {image.shape[2]} (image {index}); input name: {name}",
            )


def _target(dim: Dim, size: int) -> int:
    if dim.is_static:
        return dim.min
    if dim.max < 0:
        return max(size, dim.min)
    return min(max(size, dim.min), dim.max)


def resize(image: Array, height: int, width: int) -> Array:
    """``cv::resize``, bilinear, in the image's own precision as OVMS does.

    OpenCV cannot interpolate int8, int32 or float16 (OVMS fails there); those go through the
    float type that holds them exactly and are cast back as ``convert_precision`` casts.
    """
    carrier = _RESIZE_CARRIERS.get(image.dtype.type)
    if carrier is None:
        resized: Array = cv2.resize(image, (width, height))  # type: ignore[arg-type]
        return resized
    wide: Array = cv2.resize(image.astype(carrier), (width, height))  # type: ignore[arg-type]
    return convert_precision(wide, image.dtype)


def _sized(images: Sequence[Array], height: int, width: int, may_resize: bool, name: str) -> list[Array]:
    out = []
    for index, image in enumerate(images):
        if image.shape[:2] == (height, width):
            out.append(image)
        elif may_resize:
            resized = resize(image, height, width)
            out.append(resized[:, :, np.newaxis] if resized.ndim == 2 else resized)
        else:
            raise InvalidInput(
                "Binary input images for this endpoint are required to have the same resolution",
                f"Expected: {height}x{width}; Actual: {image.shape[0]}x{image.shape[1]} (image {index}); "
                f"input name: {name} (resizing needs layout NHWC and no -1 dimension)",
            )
    return out
