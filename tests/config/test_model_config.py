import logging
from pathlib import Path
from typing import Any

import pytest

from ovms_cli.config.model_config import ModelConfig, model_config_from_cli, model_config_from_dict
from ovms_cli.config.problems import ConfigError
from ovms_cli.inference.shapes import Dim
from ovms_cli.repository.version_policy import AllPolicy, LatestPolicy, SpecificPolicy

AT = "model_config_list[0].config"
CONFIG_DIR = Path("/etc/ovms")
SHAPE_EXPECTED = 'expected "auto" or a tuple like (1,3,224,224) with dims N, -1 or min:max'
LAYOUT_EXPECTED = (
    'expected letters N, C, H, W, D, "?" and at most one "...", optionally TARGET:SOURCE like NHWC:NCHW'
)


def from_dict(**keys: Any) -> ModelConfig:
    return model_config_from_dict({"name": "m", "base_path": "/models/m", **keys}, CONFIG_DIR, AT)


def problems_of(**keys: Any) -> list[str]:
    with pytest.raises(ConfigError) as raised:
        from_dict(**keys)
    return [str(p) for p in raised.value.problems]


def test_defaults() -> None:
    config = from_dict()
    assert config == ModelConfig(name="m", base_path="/models/m")
    assert config.batch_size is None
    assert config.shape is None
    assert config.layout is None
    assert config.version_policy == LatestPolicy(1)
    assert config.nireq == 0
    assert config.target_device == "CPU"
    assert config.plugin_config == {}
    assert (config.allow_cache, config.stateful) == (False, False)
    assert (config.idle_sequence_cleanup, config.low_latency_transformation) == (True, False)
    assert config.max_sequence_number == 500
    assert not config.is_remote


def test_every_key_parsed() -> None:
    config = from_dict(
        batch_size="1:8",
        layout={"in": "nhwc:nchw"},
        model_version_policy={"specific": {"versions": [2, 1]}},
        nireq=4,
        target_device="GPU",
        plugin_config={"NUM_STREAMS": 2},
        allow_cache=True,
        stateful=True,
        idle_sequence_cleanup=False,
        low_latency_transformation=True,
        max_sequence_number=10,
    )
    assert config == ModelConfig(
        name="m",
        base_path="/models/m",
        batch_size=Dim(1, 8),
        layout={"in": "NHWC:NCHW"},
        version_policy=SpecificPolicy((1, 2)),
        nireq=4,
        target_device="GPU",
        plugin_config={"NUM_STREAMS": "2"},
        allow_cache=True,
        stateful=True,
        idle_sequence_cleanup=False,
        low_latency_transformation=True,
        max_sequence_number=10,
    )


@pytest.mark.parametrize(
    ("shape", "expected"),
    [
        ("(1,3,-1,-1)", (Dim.fixed(1), Dim.fixed(3), Dim.any(), Dim.any())),
        ("auto", "auto"),
        ({"a": "(2)", "b": "auto"}, {"a": (Dim.fixed(2),), "b": "auto"}),
    ],
)
def test_shape(shape: Any, expected: object) -> None:
    assert from_dict(shape=shape).shape == expected


@pytest.mark.parametrize(
    ("base_path", "expected"),
    [
        ("models/m", "/etc/ovms/models/m"),
        ("./m/", "/etc/ovms/m"),
        ("/abs/m", "/abs/m"),
        ("s3://bucket/m", "s3://bucket/m"),
        ("gs://b/m", "gs://b/m"),
        ("az://c/m", "az://c/m"),
        ("azfs://s/m", "azfs://s/m"),
        ("azure://c/m", "azure://c/m"),
    ],
)
def test_base_path_resolution(base_path: str, expected: str) -> None:
    config = from_dict(base_path=base_path)
    assert config.base_path == expected
    assert config.is_remote == ("://" in base_path)


@pytest.mark.parametrize("base_path", ["../m", "/models/../m", "models/..", "s3://b/../m"])
def test_base_path_escape_rejected(base_path: str) -> None:
    assert problems_of(base_path=base_path) == [
        f'{AT}.base_path: must not contain ".." segments, got "{base_path}"'
    ]


@pytest.mark.parametrize(
    ("keys", "expected"),
    [
        ({"name": ""}, [f"{AT}.name: must not be empty"]),
        ({"base_path": ""}, [f"{AT}.base_path: must not be empty"]),
        ({"nireq": 100_001}, [f"{AT}.nireq: must be <= 100000"]),
        (
            {"stateful": True, "max_sequence_number": 2**32},
            [f"{AT}.max_sequence_number: must be <= 4294967295"],
        ),
        ({"batch_size": "x"}, [f'{AT}.batch_size: expected an integer, -1, min:max or "auto", got "x"']),
        (
            {"shape": {"in": "(1,x)"}},
            [f'{AT}.shape.in: {SHAPE_EXPECTED}, got "(1,x)"'],
        ),
        (
            {"layout": "NXC"},
            [f'{AT}.layout: {LAYOUT_EXPECTED}, got "NXC"'],
        ),
        (
            {"plugin_config": {"CPU_BIND_THREAD": "X"}},
            [f'{AT}.plugin_config.CPU_BIND_THREAD: expected "YES" or "NO", got "X"'],
        ),
        (
            {"stateful": True, "batch_size": "auto"},
            [f'{AT}.batch_size: "auto" is not allowed for stateful models'],
        ),
        (
            {"stateful": True, "shape": {"a": "auto"}},
            [f'{AT}.shape: "auto" is not allowed for stateful models'],
        ),
        ({"idle_sequence_cleanup": True}, [f"{AT}.idle_sequence_cleanup: only allowed for stateful models"]),
        (
            {"stateful": False, "low_latency_transformation": False, "max_sequence_number": 5},
            [
                f"{AT}.low_latency_transformation: only allowed for stateful models",
                f"{AT}.max_sequence_number: only allowed for stateful models",
            ],
        ),
    ],
)
def test_problems(keys: dict[str, Any], expected: list[str]) -> None:
    assert problems_of(**keys) == expected


def test_schema_problems_come_first_and_stop_parsing() -> None:
    assert problems_of(nireq="2", shape="(1,x)") == [f"{AT}.nireq: expected integer"]


def test_every_grammar_problem_is_reported() -> None:
    found = problems_of(
        shape="(x)", layout="Q", model_version_policy={"all": {}}, plugin_config={"A": "b"}, batch_size="?"
    )
    assert [p.split(":")[0] for p in found] == [f"{AT}.batch_size", f"{AT}.shape", f"{AT}.layout"]


def test_unknown_policy_key_is_a_problem() -> None:
    """OVMS only warns and keeps the default policy; we report it."""
    assert problems_of(model_version_policy={"latest": {"num_versions": 0}}) == [
        f"{AT}.model_version_policy.latest.num_versions: must be >= 1"
    ]


def test_batch_size_ignored_when_shape_given(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="ovms.config"):
        config = from_dict(batch_size=4, shape="(1,3)")
    assert config.batch_size is None
    assert config.shape == (Dim.fixed(1), Dim.fixed(3))
    assert caplog.messages == [
        "Both shape and batch size have been defined. Batch size parameter will be ignored."
    ]


def test_auto_is_deprecated(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="ovms.config"):
        assert from_dict(batch_size="auto").batch_size == "auto"
    assert caplog.messages == ['Model m: shape/batch_size "auto" is deprecated']


def test_zero_batch_size_keeps_model_batch() -> None:
    assert from_dict(batch_size=0).batch_size is None


# command line


def from_cli(tmp_path: Path, **options: Any) -> ModelConfig:
    return model_config_from_cli(
        name=options.pop("name", "m"), path=options.pop("path", "m"), cwd=tmp_path, **options
    )


def cli_problems(tmp_path: Path, **options: Any) -> list[str]:
    with pytest.raises(ConfigError) as raised:
        from_cli(tmp_path, **options)
    return [str(p) for p in raised.value.problems]


def test_cli_defaults_and_relative_path(tmp_path: Path) -> None:
    assert from_cli(tmp_path) == ModelConfig(name="m", base_path=str(tmp_path / "m"))


def test_cli_every_option(tmp_path: Path) -> None:
    config = from_cli(
        tmp_path,
        path="gs://bucket/m",
        batch_size="4",
        layout="NHWC:NCHW",
        model_version_policy='{"all": {}}',
        nireq=2,
        target_device="AUTO",
        plugin_config='{"PERFORMANCE_HINT": "THROUGHPUT", "ENABLE_CPU_PINNING": true}',
        stateful=True,
        idle_sequence_cleanup=False,
        low_latency_transformation=True,
        max_sequence_number=7,
    )
    assert config == ModelConfig(
        name="m",
        base_path="gs://bucket/m",
        batch_size=Dim.fixed(4),
        layout="NHWC:NCHW",
        version_policy=AllPolicy(),
        nireq=2,
        target_device="AUTO",
        plugin_config={"PERFORMANCE_HINT": "THROUGHPUT", "ENABLE_CPU_PINNING": True},
        stateful=True,
        idle_sequence_cleanup=False,
        low_latency_transformation=True,
        max_sequence_number=7,
    )


def test_cli_shape_as_json_object(tmp_path: Path) -> None:
    assert from_cli(tmp_path, shape='{"in": "(1,2)"}').shape == {"in": (Dim.fixed(1), Dim.fixed(2))}


def test_cli_stateful_false_is_not_a_stateful_option(tmp_path: Path) -> None:
    assert from_cli(tmp_path, stateful=False).stateful is False


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({"name": ""}, ["--model_name: must not be empty"]),
        ({"path": ""}, ["--model_path: must not be empty"]),
        ({"path": "../m"}, ['--model_path: must not contain ".." segments, got "../m"']),
        ({"batch_size": "big"}, ['--batch_size: expected an integer, -1, min:max or "auto", got "big"']),
        (
            {"shape": '{"in": "x"}'},
            [f'--shape.in: {SHAPE_EXPECTED}, got "x"'],
        ),
        (
            {"model_version_policy": '{"latest": {}}'},
            ['--model_version_policy.latest: required key "num_versions" is missing'],
        ),
        ({"nireq": -1}, ["--nireq: must be >= 0"]),
        ({"nireq": 100_001}, ["--nireq: must be <= 100000"]),
        ({"plugin_config": "[]"}, ["--plugin_config: expected a JSON object, got []"]),
        ({"max_sequence_number": 3}, ["--max_sequence_number: only allowed for stateful models"]),
        (
            {"stateful": True, "max_sequence_number": -3},
            ["--max_sequence_number: must be >= 1 (with 0 no sequence could ever start)"],
        ),
        (
            {"stateful": True, "max_sequence_number": 0},
            ["--max_sequence_number: must be >= 1 (with 0 no sequence could ever start)"],
        ),
        (
            {"idle_sequence_cleanup": True, "low_latency_transformation": True},
            [
                "--idle_sequence_cleanup: only allowed for stateful models",
                "--low_latency_transformation: only allowed for stateful models",
            ],
        ),
        ({"stateful": True, "shape": "auto"}, ['--shape: "auto" is not allowed for stateful models']),
    ],
)
def test_cli_problems_name_the_option(tmp_path: Path, options: dict[str, Any], expected: list[str]) -> None:
    assert cli_problems(tmp_path, **options) == expected


def test_config_error_message_lists_every_problem(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as raised:
        from_cli(tmp_path, nireq=-1, layout="Z")
    assert str(raised.value).splitlines() == [
        f'--layout: {LAYOUT_EXPECTED}, got "Z"',
        "--nireq: must be >= 0",
    ]
