import logging
from typing import Any

import pytest

from ovms_cli.config.grammar import (
    GrammarError,
    parse_batch_size,
    parse_layout,
    parse_layout_config,
    parse_plugin_config,
    parse_shape,
    parse_shape_config,
    parse_version_policy,
)
from ovms_cli.inference.shapes import Dim
from ovms_cli.repository.version_policy import AllPolicy, LatestPolicy, SpecificPolicy

ANY = Dim.any()
SHAPE_EXPECTED = 'expected "auto" or a tuple like (1,3,224,224) with dims N, -1 or min:max'


def fixed(*sizes: int) -> tuple[Dim, ...]:
    return tuple(Dim.fixed(s) for s in sizes)


# shape


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("auto", "auto"),
        (" auto ", "auto"),
        ("(1,3,224,224)", fixed(1, 3, 224, 224)),
        (" ( 1 , 3 ,224, 224 ) ", fixed(1, 3, 224, 224)),
        ("(1,3,-1,-1)", (*fixed(1, 3), ANY, ANY)),
        ("(1:8,3,200:500,0:0)", (Dim(1, 8), Dim.fixed(3), Dim(200, 500), Dim(0, 0))),
        ("(0)", fixed(0)),
        ("()", ()),
    ],
)
def test_parse_shape(text: str, expected: object) -> None:
    assert parse_shape(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "(1,x)",
        "1,3",
        "(1,3",
        "1,3)",
        "[1,3,224,224]",
        "(1,,3)",
        "(1,-2)",
        "(1:2:3)",
        "(:4)",
        "((1))",
        "",
        "AUTO",
    ],
)
def test_parse_shape_rejects(text: str) -> None:
    with pytest.raises(GrammarError) as raised:
        parse_shape(text)
    assert str(raised.value) == f'shape: {SHAPE_EXPECTED}, got "{text}"'
    assert raised.value.option == "shape"
    assert raised.value.where == ()


def test_parse_shape_rejects_inverted_range() -> None:
    with pytest.raises(GrammarError, match=r'^shape: range 8:1 has min > max in "\(8:1,3\)"$'):
        parse_shape("(8:1,3)")


def test_grammar_error_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="shape"):
        parse_shape("nope")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("(1,2)", fixed(1, 2)),
        ("auto", "auto"),
        ('{"in1": "(1,2)", "in2": "auto"}', {"in1": fixed(1, 2), "in2": "auto"}),
        (' {"a": "(-1)"}', {"a": (ANY,)}),
        ({"in1": "(1,2)"}, {"in1": fixed(1, 2)}),
        ({}, {}),
    ],
)
def test_parse_shape_config(value: Any, expected: object) -> None:
    assert parse_shape_config(value) == expected


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"in1": "(1,x)"}, f'shape.in1: {SHAPE_EXPECTED}, got "(1,x)"'),
        ({"input:0": "bad"}, f'shape["input:0"]: {SHAPE_EXPECTED}, got "bad"'),
        ({"in1": 5}, "shape.in1: expected a string, got 5"),
        (
            '{"in1": ',
            "shape: expected a JSON object, got invalid JSON (Expecting value: line 1 column 9 (char 8))",
        ),
        ('{"in1": [1]}', "shape.in1: expected a string, got [1]"),
    ],
)
def test_parse_shape_config_rejects(value: Any, message: str) -> None:
    with pytest.raises(GrammarError) as raised:
        parse_shape_config(value)
    assert str(raised.value) == message


def test_parse_shape_config_locates_the_input() -> None:
    with pytest.raises(GrammarError) as raised:
        parse_shape_config({"ok": "(1)", "bad": "(1,x)"})
    assert raised.value.where == ("bad",)
    assert raised.value.reason == f'{SHAPE_EXPECTED}, got "(1,x)"'


# batch size


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (4, Dim.fixed(4)),
        ("4", Dim.fixed(4)),
        (" 16 ", Dim.fixed(16)),
        (-1, ANY),
        ("-1", ANY),
        ("1:8", Dim(1, 8)),
        ("auto", "auto"),
        (0, None),
        ("0", None),
    ],
)
def test_parse_batch_size(value: int | str, expected: object) -> None:
    assert parse_batch_size(value) == expected


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("x", 'batch_size: expected an integer, -1, min:max or "auto", got "x"'),
        (-2, 'batch_size: expected an integer, -1, min:max or "auto", got -2'),
        ("1.5", 'batch_size: expected an integer, -1, min:max or "auto", got "1.5"'),
        ("8:1", "batch_size: range 8:1 has min > max"),
        (True, "batch_size: expected an integer or a string, got true"),
        (1.5, "batch_size: expected an integer or a string, got 1.5"),
    ],
)
def test_parse_batch_size_rejects(value: Any, message: str) -> None:
    with pytest.raises(GrammarError) as raised:
        parse_batch_size(value)
    assert str(raised.value) == message


# layout

LAYOUT_EXPECTED = (
    'expected letters N, C, H, W, D, "?" and at most one "...", optionally TARGET:SOURCE like NHWC:NCHW'
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("NCHW", "NCHW"),
        ("nhwc:nchw", "NHWC:NCHW"),
        (" N H W C : N C H W ", "NHWC:NCHW"),
        ("CN", "CN"),
        ("N??", "N??"),
        ("N...", "N..."),
        ("...C", "...C"),
        ("NCDHW", "NCDHW"),
    ],
)
def test_parse_layout(text: str, expected: str) -> None:
    assert parse_layout(text) == expected


@pytest.mark.parametrize("text", ["NXHW", "", "NCHW:", ":NCHW", "A:B:C", "N..", "N.", "NC-HW"])
def test_parse_layout_rejects_letters(text: str) -> None:
    with pytest.raises(GrammarError) as raised:
        parse_layout(text)
    assert str(raised.value) == f'layout: {LAYOUT_EXPECTED}, got "{text}"'


@pytest.mark.parametrize(("text", "token"), [("NHWN", "N"), ("N......", "..."), ("NC:CC", "C")])
def test_parse_layout_rejects_repeated_dimension(text: str, token: str) -> None:
    with pytest.raises(GrammarError) as raised:
        parse_layout(text)
    assert str(raised.value) == f'layout: "{token}" appears more than once in "{text}"'


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("NHWC:NCHW", "NHWC:NCHW"),
        ('{"in1": "nhwc:nchw", "out1": "CN:NC"}', {"in1": "NHWC:NCHW", "out1": "CN:NC"}),
        ({"in1": "NC"}, {"in1": "NC"}),
    ],
)
def test_parse_layout_config(value: Any, expected: object) -> None:
    assert parse_layout_config(value) == expected


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"in1": "NXC"}, f'layout.in1: {LAYOUT_EXPECTED}, got "NXC"'),
        ('{"in1": 3}', "layout.in1: expected a string, got 3"),
        ("{", "layout: expected a JSON object, got invalid JSON "),
    ],
)
def test_parse_layout_config_rejects(value: Any, message: str) -> None:
    with pytest.raises(GrammarError) as raised:
        parse_layout_config(value)
    assert str(raised.value).startswith(message)


# model version policy


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({"all": {}}, AllPolicy()),
        ('{"all": {}}', AllPolicy()),
        ({"latest": {"num_versions": 3}}, LatestPolicy(3)),
        ('{"latest": {"num_versions": 1}}', LatestPolicy(1)),
        ({"specific": {"versions": [3, 1]}}, SpecificPolicy((1, 3))),
        ({"specific": {"versions": []}}, SpecificPolicy(())),
    ],
)
def test_parse_version_policy(value: Any, expected: object) -> None:
    assert parse_version_policy(value) == expected


def test_non_positive_specific_versions_are_dropped_with_warning(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="ovms.config"):
        assert parse_version_policy({"specific": {"versions": [0, 2, -1]}}) == SpecificPolicy((2,))
    assert caplog.messages == ["Model version policy: non-positive versions [0, -1] are ignored"]


POLICY_KEYS = '"all", "specific", "latest"'


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("latest", "model_version_policy: expected a JSON object, got invalid JSON "),
        ("[1]", "model_version_policy: expected a JSON object, got [1]"),
        ({}, f"model_version_policy: expected an object with exactly one of {POLICY_KEYS}, got {{}}"),
        (
            {"all": {}, "latest": {"num_versions": 1}},
            f"model_version_policy: expected an object with exactly one of {POLICY_KEYS}, got ",
        ),
        ({"newest": {}}, f'model_version_policy: unsupported key "newest", expected one of {POLICY_KEYS}'),
        ({"all": []}, "model_version_policy.all: expected an object, got []"),
        ({"all": {"x": 1}}, 'model_version_policy.all: unknown key "x"'),
        ({"latest": {}}, 'model_version_policy.latest: required key "num_versions" is missing'),
        (
            {"latest": {"num_versions": 0}},
            "model_version_policy.latest.num_versions: expected an integer >= 1, got 0",
        ),
        (
            {"latest": {"num_versions": "2"}},
            'model_version_policy.latest.num_versions: expected an integer >= 1, got "2"',
        ),
        (
            {"latest": {"num_versions": True}},
            "model_version_policy.latest.num_versions: expected an integer >= 1, got true",
        ),
        ({"specific": {}}, 'model_version_policy.specific: required key "versions" is missing'),
        (
            {"specific": {"versions": 1}},
            "model_version_policy.specific.versions: expected an array of integers, got 1",
        ),
        (
            {"specific": {"versions": [1, "2"]}},
            'model_version_policy.specific.versions[1]: expected an integer, got "2"',
        ),
        ({"specific": {"versions": [1], "n": 2}}, 'model_version_policy.specific: unknown key "n"'),
    ],
)
def test_parse_version_policy_rejects(value: Any, message: str) -> None:
    with pytest.raises(GrammarError) as raised:
        parse_version_policy(value)
    assert str(raised.value).startswith(message)


# plugin config


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({}, {}),
        ({"NUM_STREAMS": "2"}, {"NUM_STREAMS": "2"}),
        ({"NUM_STREAMS": 2}, {"NUM_STREAMS": "2"}),
        ({"X": 0.5}, {"X": "0.500000"}),
        ({"ENABLE_CPU_PINNING": False}, {"ENABLE_CPU_PINNING": False}),
        ('{"PERFORMANCE_HINT": "LATENCY"}', {"PERFORMANCE_HINT": "LATENCY"}),
        ({"CPU_THROUGHPUT_STREAMS": "CPU_THROUGHPUT_AUTO"}, {"PERFORMANCE_HINT": "THROUGHPUT"}),
        ({"GPU_THROUGHPUT_STREAMS": "GPU_THROUGHPUT_AUTO"}, {"PERFORMANCE_HINT": "THROUGHPUT"}),
        ({"CPU_THROUGHPUT_STREAMS": 4}, {"NUM_STREAMS": "4"}),
        ({"GPU_THROUGHPUT_STREAMS": "2"}, {"NUM_STREAMS": "2"}),
        ({"CPU_BIND_THREAD": "YES"}, {"AFFINITY": "CORE"}),
        ({"CPU_BIND_THREAD": "NO"}, {"AFFINITY": "NONE"}),
        ({"CPU_THREADS_NUM": 8}, {"INFERENCE_NUM_THREADS": "8"}),
    ],
)
def test_parse_plugin_config(value: Any, expected: dict[str, str | bool]) -> None:
    assert parse_plugin_config(value) == expected


def test_legacy_keys_log_a_deprecation(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="ovms.config"):
        parse_plugin_config({"CPU_THREADS_NUM": "4"})
    assert caplog.messages == [
        "Plugin config key CPU_THREADS_NUM is deprecated, using INFERENCE_NUM_THREADS: 4 instead"
    ]


def test_default_hint_is_not_injected() -> None:
    assert "PERFORMANCE_HINT" not in parse_plugin_config({"NUM_STREAMS": "1"})


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("[1]", "plugin_config: expected a JSON object, got [1]"),
        ("{", "plugin_config: expected a JSON object, got invalid JSON "),
        ({"A": [1]}, "plugin_config.A: expected a string, number or boolean, got [1]"),
        ({"A": None}, "plugin_config.A: expected a string, number or boolean, got null"),
        ({"CPU_BIND_THREAD": "MAYBE"}, 'plugin_config.CPU_BIND_THREAD: expected "YES" or "NO", got "MAYBE"'),
        ({"CPU_BIND_THREAD": True}, 'plugin_config.CPU_BIND_THREAD: expected "YES" or "NO", got true'),
        (
            {"CPU_THREADS_NUM": 2, "INFERENCE_NUM_THREADS": 2},
            'plugin_config.CPU_THREADS_NUM: "CPU_THREADS_NUM" means "INFERENCE_NUM_THREADS", '
            "which is also given",
        ),
        (
            {"NUM_STREAMS": 2, "CPU_THROUGHPUT_STREAMS": 2},
            'plugin_config.CPU_THROUGHPUT_STREAMS: "CPU_THROUGHPUT_STREAMS" means "NUM_STREAMS", '
            "which is also given",
        ),
    ],
)
def test_parse_plugin_config_rejects(value: Any, message: str) -> None:
    with pytest.raises(GrammarError) as raised:
        parse_plugin_config(value)
    assert str(raised.value).startswith(message)
