"""OpenVINO's element types onto the server's table (``ovms_cli.types``)."""

from __future__ import annotations

import openvino as ov

from ovms_cli.types import BY_OV_NAME, DType


def from_ov(element_type: ov.Type) -> DType | None:
    """The DType of an OpenVINO element type, or None where no API can carry it (bf16, i4, ...)."""
    return BY_OV_NAME.get(element_type.get_type_name())
