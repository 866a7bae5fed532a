from __future__ import annotations

import math

import numpy as np
import orjson
import pytest
import rapidjson

from ovms_cli.protocol import json_numbers


def test_finite_documents_take_the_fast_path() -> None:
    assert json_numbers.loads(b'{"a": [1, 2.5, "NaN"]}') == {"a": [1, 2.5, "NaN"]}


def test_non_finite_tokens_are_read() -> None:
    doc = json_numbers.loads('{"zażółć": [NaN, Infinity, -Infinity, 1.5]}'.encode())
    values = doc["zażółć"]
    assert [math.isnan(values[0]), *values[1:]] == [True, math.inf, -math.inf, 1.5]


@pytest.mark.parametrize(
    "body",
    [
        b"[NaN, 1e999]",  # overflows a double
        b"[nan]",
        b"[-inf]",
        b'[NaN, "\\ud800"]',  # a lone surrogate, which orjson refuses
        b"[NaN, ]",
        b"\xff[NaN]",
        b"[Infinity" + b"]" * 3,
    ],
)
def test_what_orjson_refuses_stays_refused(body: bytes) -> None:
    with pytest.raises(orjson.JSONDecodeError):
        json_numbers.loads(body)


def test_finite_arrays_are_written_by_orjson() -> None:
    arr = np.array([0.1, 2.0], np.float32)
    assert json_numbers.dumps({"y": arr}, [arr]) == b'{"y":[0.1,2.0]}'


def test_non_finite_arrays_keep_their_difference() -> None:
    arr = np.array([np.nan, np.inf, -np.inf, 0.5], np.float32)
    text = json_numbers.dumps({"y": arr, "s": [arr[3]], "shape": arr.shape}, [arr])
    assert text == b'{"y":[NaN,Infinity,-Infinity,0.5],"s":[0.5],"shape":[4]}'
    assert np.array_equal(np.array(rapidjson.loads(text)["y"], np.float32), arr, equal_nan=True)
