from pathlib import Path
from typing import Any

import pytest

from ovms_cli.config.grammar import GrammarError
from ovms_cli.config.model_config import model_config_from_cli, model_config_from_dict
from ovms_cli.config.preprocessing import (
    ColorFormat,
    Precision,
    Preprocessing,
    parse_color_format,
    parse_mean,
    parse_precision,
    parse_scale,
)
from ovms_cli.config.problems import ConfigError

# mean and scale: OVMS's modelconfig_test.cpp cases, and config.json's JSON forms


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("[123.675,116.28,103.53]", (123.675, 116.28, 103.53)),
        ("  [   0.0 , 255.0 ,128.5  ] ", (0.0, 255.0, 128.5)),
        ("1.0", 1.0),
        ("(123.675,116.28,103.53)", (123.675, 116.28, 103.53)),
        ("-2", -2.0),
        ("1e2", 100.0),
        ("[.5]", (0.5,)),
        (127.5, 127.5),
        (3, 3.0),
        ([1, 2.5, 3], (1.0, 2.5, 3.0)),
    ],
)
def test_mean_takes_a_number_or_one_per_channel(given: Any, expected: Any) -> None:
    assert parse_mean(given) == expected


@pytest.mark.parametrize(
    "given",
    [
        "[123.675;116.28;103.53]",
        "[123.675,abc,103.53]",
        "one.point.zero",
        "{123.675,116.28,103.53}",
        "123.675,116.28,103.53",
        "[]",
        "[1,,2]",
        "",
        "nan",
        "[1e999]",
        [],
        ["1"],
        True,
        {"r": 1},
    ],
)
def test_mean_refuses_what_ovms_refuses_and_json_that_is_not_numbers(given: Any) -> None:
    with pytest.raises(GrammarError, match=r"expected a number or one per channel|must be finite") as error:
        parse_mean(given)
    assert error.value.option == "mean"


@pytest.mark.parametrize("given", ["0", "[1,0,1]", "(0.0)", 0, [58.0, 0.0, 57.0], "-0.0"])
def test_a_zero_scale_is_refused_since_the_input_is_divided_by_it(given: Any) -> None:
    with pytest.raises(GrammarError, match="must not be 0"):
        parse_scale(given)


def test_scale_takes_the_demos_values() -> None:
    assert parse_scale("[58.395,57.12,57.375]") == (58.395, 57.12, 57.375)
    assert parse_scale("255") == 255.0


# color_format: MODEL:TENSOR as OVMS applies it


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("BGR:RGB", ColorFormat(model="BGR", tensor="RGB")),
        ("RGB:BGR", ColorFormat(model="RGB", tensor="BGR")),
        ("rgb:nv12", ColorFormat(model="RGB", tensor="NV12")),
        (" BGR : I420 ", ColorFormat(model="BGR", tensor="I420")),
        ("GRAY:BGR", ColorFormat(model="GRAY", tensor="BGR")),
        ("gray:nv12", ColorFormat(model="GRAY", tensor="NV12")),
        ("GRAY:GRAY", ColorFormat(model="GRAY", tensor="GRAY")),
    ],
)
def test_color_format_names_the_models_format_then_the_clients(given: str, expected: ColorFormat) -> None:
    assert parse_color_format(given) == expected


@pytest.mark.parametrize(
    ("given", "reason"),
    [
        ("INVALID_FORMAT", "expected MODEL:TENSOR"),
        ("RGB", "expected MODEL:TENSOR"),
        ("RGB:BGR:RGB", "expected MODEL:TENSOR"),
        ("RGB::BGR", "expected MODEL:TENSOR"),
        (":RGB", "expected MODEL:TENSOR"),
        ("BGR:", "expected MODEL:TENSOR"),
        ("BGR:YUV", "expected MODEL:TENSOR"),
        ("NV12:BGR", "NV12 is a client-side format only"),
        ("I420:I420_3", "I420 is a client-side format only"),
        ("BGR:GRAY", "cannot convert GRAY to BGR"),
        ("BGR:NV12_2", "two planes"),
        ("RGB:I420_3", "three planes"),
    ],
)
def test_color_format_refuses_unknown_and_unconvertible_formats(given: str, reason: str) -> None:
    with pytest.raises(GrammarError, match=reason) as error:
        parse_color_format(given)
    assert error.value.option == "color_format"


# precision: TENSOR:MODEL


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("uint8:fp32", Precision(tensor="UINT8", model="FP32")),
        ("FP32:FP64", Precision(tensor="FP32", model="FP64")),
        ("Int16:UInt16", Precision(tensor="INT16", model="UINT16")),
        ("UINT8:INT8", Precision(tensor="UINT8", model="INT8")),
        ("fp16:bf16", Precision(tensor="FP16", model="BF16")),
    ],
)
def test_precision_names_the_clients_precision_then_the_models(given: str, expected: Precision) -> None:
    assert parse_precision(given) == expected


@pytest.mark.parametrize(
    ("given", "reason"),
    [
        ("FLOAT32", "expected TENSOR:MODEL"),
        ("int8", "expected TENSOR:MODEL"),
        ("FP32-FP64", "expected TENSOR:MODEL"),
        ("FP32::FP64", "expected TENSOR:MODEL"),
        ("FP32:", "expected TENSOR:MODEL"),
        (":FP64", "expected TENSOR:MODEL"),
        ("FP32:FP16:INT8", "expected TENSOR:MODEL"),
        ("uint1:fp32", "clients cannot send uint1"),
        ("bf16:fp32", "clients cannot send bf16"),
        ("int4:fp32", "clients cannot send int4"),
    ],
)
def test_precision_refuses_unknown_names_and_tensors_no_api_carries(given: str, reason: str) -> None:
    with pytest.raises(GrammarError, match=reason):
        parse_precision(given)


# in a model's configuration


def test_config_json_keys_reach_the_model_config(tmp_path: Path) -> None:
    config = model_config_from_dict(
        {
            "name": "resnet",
            "base_path": "resnet",
            "layout": "NHWC:NCHW",
            "mean": "[123.675,116.28,103.53]",
            "scale": [58.395, 57.12, 57.375],
            "color_format": "BGR:RGB",
            "precision": "uint8:fp32",
        },
        tmp_path,
        "model_config_list[0].config",
    )
    assert config.preprocessing == Preprocessing(
        mean=(123.675, 116.28, 103.53),
        scale=(58.395, 57.12, 57.375),
        color_format=ColorFormat("BGR", "RGB"),
        precision=Precision("UINT8", "FP32"),
    )


def test_config_json_problems_are_located_and_all_reported(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as error:
        model_config_from_dict(
            {"name": "m", "base_path": "m", "mean": "[1;2]", "scale": 0, "color_format": "XYZ:RGB"},
            tmp_path,
            "model_config_list[0].config",
        )
    paths = [p.path for p in error.value.problems]
    assert paths == [
        "model_config_list[0].config.mean",
        "model_config_list[0].config.scale",
        "model_config_list[0].config.color_format",
    ]


def test_config_json_schema_refuses_a_non_string_color_format(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="color_format"):
        model_config_from_dict({"name": "m", "base_path": "m", "color_format": 3}, tmp_path, "c")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"mean": "[1,2,3]", "scale": "[1,2]"}, "channel counts disagree: mean 3, scale 2"),
        ({"mean": "[1,2,3]", "color_format": "GRAY:BGR"}, "channel counts disagree: mean 3, color_format 1"),
    ],
)
def test_options_that_disagree_on_the_channel_count_are_refused(
    tmp_path: Path, options: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        model_config_from_cli(name="m", path="m", layout="NHWC:NCHW", cwd=tmp_path, **options)


def test_the_cli_options_are_located_by_option_name(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="--precision: expected TENSOR:MODEL"):
        model_config_from_cli(name="m", path="m", layout="NHWC", precision="u8", cwd=tmp_path)


def test_describe_shows_the_options_in_their_own_grammar() -> None:
    preprocessing = Preprocessing(
        mean=(0.0, 1.0, 2.5),
        scale=255.0,
        color_format=ColorFormat("BGR", "RGB"),
        precision=Precision("UINT8", "FP32"),
    )
    assert preprocessing.describe() == "mean [0,1,2.5] scale 255 color BGR:RGB precision uint8:fp32"
