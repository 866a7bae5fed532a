"""JSON bodies with NaN and infinities, for both REST APIs (issue 12, kind 1).

JSON itself has no NaN or infinity. TF Serving's REST API reads and writes the bare tokens ``NaN``,
``Infinity`` and ``-Infinity``, and so do python-rapidjson's defaults, which ``tritonclient.http``
uses for both its requests (a NaN input is sent as ``NaN``) and its responses; so the KServe REST
API takes and writes the same tokens. orjson, the fast path, refuses those tokens and would write
every non-finite float as ``null``, losing NaN from -Inf.

So a body is parsed by orjson; only one that orjson stops at such a token is parsed again by the
standard library, which knows the tokens. A number that overflows a double (``1e999``) stays an
error, and the result must still be valid UTF-8 text, as orjson requires. Responses whose arrays
are all finite are written by orjson; the others by the standard library, which writes the tokens
(float32 values then appear as the doubles they widen to; they read back as the same float32).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from typing import Any

import numpy as np
import orjson

from ovms_cli.types import Array

_TOKENS = ("NaN", "Infinity")  # where orjson stops; "-Infinity" stops it after the sign


def loads(data: bytes | memoryview) -> Any:
    """The JSON value in ``data``; raises ``orjson.JSONDecodeError`` (a ``ValueError``) as orjson words it."""
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as error:
        document = _with_non_finite_tokens(bytes(data), error)
        if document is None:
            raise
        return document


def _with_non_finite_tokens(data: bytes, error: orjson.JSONDecodeError) -> Any:
    """``data`` parsed again when orjson stopped at a NaN or Infinity token; None when it was not that."""
    try:
        text = data.decode()
    except UnicodeDecodeError:
        return None
    if not text.startswith(_TOKENS, error.pos):
        return None
    try:
        document = json.loads(text, parse_float=_finite_float)
        orjson.dumps(document)  # what orjson refuses in strings (lone surrogates) is refused here too
    except (ValueError, RecursionError, TypeError, orjson.JSONEncodeError):
        return None
    return document


def _finite_float(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise ValueError(f"number is infinity when parsed as double: {text}")
    return value


def dumps(document: object, arrays: Iterable[Array], option: int = 0) -> bytes:
    """``document`` as JSON; ``arrays`` are the numpy arrays in it, whose NaN and infinities are kept."""
    if all(_is_finite(array) for array in arrays):
        return orjson.dumps(document, option=option | orjson.OPT_SERIALIZE_NUMPY)
    return json.dumps(document, default=_plain, separators=(",", ":")).encode()


def _is_finite(array: Array) -> bool:
    return array.dtype.kind != "f" or bool(np.isfinite(array).all())


def _plain(value: object) -> object:
    """numpy arrays and scalars as the Python values the standard library writes."""
    if isinstance(value, (np.ndarray, np.generic)):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")
