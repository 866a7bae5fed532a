"""Fold ``mean``/``scale``/``color_format``/``precision`` into the model with OpenVINO's PrePostProcessor.

Done once at load time, so the compiled model does the work, not Python per request. The steps
follow OVMS's ``applyPreprocessingConfiguration`` (``modelinstance.cpp``), after the layout:
``tensor().set_color_format(TENSOR)`` + ``convert_color(MODEL)``, then
``tensor().set_element_type(TENSOR)`` + ``convert_element_type(MODEL)``, then ``mean``, then
``scale``. Per-channel values therefore follow the channel order the model receives, and with a
layout ``NHWC:NCHW`` clients send NHWC tensors (or images) of the tensor precision.
"""

from __future__ import annotations

import openvino as ov

from ovms_cli.config.preprocessing import ColorFormat, MeanOrScale, Precision, Preprocessing

_COLOR = {
    "RGB": ov.preprocess.ColorFormat.RGB,
    "BGR": ov.preprocess.ColorFormat.BGR,
    "GRAY": ov.preprocess.ColorFormat.GRAY,
    "NV12": ov.preprocess.ColorFormat.NV12_SINGLE_PLANE,
    "I420": ov.preprocess.ColorFormat.I420_SINGLE_PLANE,
}
_ELEMENT = {
    "BF16": ov.Type.bf16,
    "FP64": ov.Type.f64,
    "FP32": ov.Type.f32,
    "FP16": ov.Type.f16,
    "INT64": ov.Type.i64,
    "INT32": ov.Type.i32,
    "INT16": ov.Type.i16,
    "INT8": ov.Type.i8,
    "INT4": ov.Type.i4,
    "UINT64": ov.Type.u64,
    "UINT32": ov.Type.u32,
    "UINT16": ov.Type.u16,
    "UINT8": ov.Type.u8,
    "UINT4": ov.Type.u4,
    "UINT1": ov.Type.u1,
}


class PreprocessingError(ValueError):
    """Options that cannot apply to this model (input count, channel count)."""


def check_input(
    preprocessing: Preprocessing, input_name: str, element_type: ov.Type, channels: int | None, layout: str
) -> None:
    """The options must fit the model's own input before OpenVINO is asked to build them.

    Per-channel options give one value per channel; ``channels`` is the static C dimension of the
    input (``None`` when unknown: no C in ``layout``, or a dynamic one). The model's side of
    ``precision`` must be the input's element type: OpenVINO would otherwise add a silent,
    possibly lossy, conversion back to it (OVMS lets that pass). Raises ``PreprocessingError``.
    """
    precision = preprocessing.precision
    if precision is not None and _ELEMENT[precision.model] != element_type:
        raise PreprocessingError(
            f"precision {precision.tensor.lower()}:{precision.model.lower()} names {precision.model.lower()} "
            f"as the model's precision, but input {input_name} is {element_type.get_type_name()}"
        )
    counts = preprocessing.per_channel_counts()
    if not counts:
        return
    if channels is None:
        if set(counts) != {"color_format"}:
            raise PreprocessingError(
                f"per-channel {' and '.join(o for o in counts if o != 'color_format')} need(s) a layout with C "
                f"and a static channel count; input {input_name} has layout {layout or 'none'} "
                f"(set e.g. --layout NHWC:NCHW)"
            )
        return
    for option, count in counts.items():
        if count != channels:
            raise PreprocessingError(
                f"{option} implies {count} channel(s) but input {input_name} has {channels} "
                f"(dimension C of layout {layout})"
            )


def add_preprocessing(port: ov.preprocess.InputInfo, preprocessing: Preprocessing) -> None:
    """Add OVMS's steps to one input of a PrePostProcessor; ``build()`` is the caller's."""
    if preprocessing.color_format is not None:
        _add_color(port, preprocessing.color_format)
    if preprocessing.precision is not None:
        _add_precision(port, preprocessing.precision)
    steps = port.preprocess()
    if preprocessing.mean is not None:
        steps.mean(_values(preprocessing.mean))
    if preprocessing.scale is not None:
        steps.scale(_values(preprocessing.scale))


def _add_color(port: ov.preprocess.InputInfo, color: ColorFormat) -> None:
    port.tensor().set_color_format(_COLOR[color.tensor])
    port.preprocess().convert_color(_COLOR[color.model])


def _add_precision(port: ov.preprocess.InputInfo, precision: Precision) -> None:
    port.tensor().set_element_type(_ELEMENT[precision.tensor])
    port.preprocess().convert_element_type(_ELEMENT[precision.model])


def _values(values: MeanOrScale) -> float | list[float]:
    return list(values) if isinstance(values, tuple) else values
