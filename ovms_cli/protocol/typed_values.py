"""Values sent one by one (JSON arrays, typed protobuf fields) as an array of a tensor's own type.

Nothing a client sent is silently changed on the way: booleans only for BOOL, integers only for
integer types (1.5 is not truncated into INT32, ``true`` is not taken as 1), numbers only for numeric
types, integers within their type's range (300 does not wrap into UINT8), and a finite number too
large for FP32 or FP16 does not become infinity. JSON integers are valid floats. A refused value is
reported with its index, as ``InvalidInput`` (400 / INVALID_ARGUMENT).

The checks are vectorised: numpy types the values once, and only the values that could hide a
boolean (those equal to 0 or 1) have their Python types looked at (issue 12, kind 7).
"""

from __future__ import annotations

from collections.abc import Collection
from itertools import chain
from operator import itemgetter
from typing import cast

import numpy as np

from ovms_cli.errors import InvalidInput
from ovms_cli.types import Array, DType

INVALID_CONTENT = "Could not parse input content. Not valid ndarray detected"

# numpy kinds of parsed values each target kind accepts.
_ACCEPTED_KINDS = {"f": "iuf", "i": "iu", "u": "iu", "b": "b"}
# Python types of single values each target kind accepts (bool is not an int here).
_ACCEPTED_TYPES: dict[str, tuple[type, ...]] = {"f": (int, float), "i": (int,), "u": (int,), "b": (bool,)}
_KIND_NAMES = {"f": "numbers", "i": "integers", "u": "integers", "b": "booleans"}


def array_of(name: str, dtype: DType, values: Collection[object], error: str = INVALID_CONTENT) -> Array:
    """``values`` (nested lists, or a flat typed protobuf field) as an array of ``dtype.numpy``.

    The array keeps the nesting's shape. ``dtype`` is numeric or BOOL; ``error`` is the message
    ``InvalidInput`` is raised with (the API's own text), its details naming the value and its index.
    """
    try:
        parsed = np.asarray(values)
    except (ValueError, TypeError, OverflowError) as failure:
        raise InvalidInput(error, f"{failure}; input name: {name}") from None
    if parsed.size == 0:
        return parsed.astype(dtype.numpy)
    kind = dtype.numpy.kind
    if parsed.dtype.kind == "O" or (kind in "iu" and parsed.dtype.kind == "f"):
        # numpy gives floats for integers beyond int64 among others; they are kept exact here
        parsed = _from_objects(name, dtype, values, np.asarray(values, dtype=np.object_), error)
    if parsed.dtype.kind not in _ACCEPTED_KINDS[kind]:
        raise _type_error(name, dtype, values, parsed, error)
    if isinstance(values, list) and parsed.dtype.kind != "b":
        _reject_booleans(name, dtype, values, parsed, error)
    if kind in "iu":
        check_range(name, dtype.kserve, dtype.numpy, parsed, error)
    with np.errstate(over="ignore"):
        out = parsed.astype(dtype.numpy, copy=False)
    if kind == "f" and out.dtype.itemsize < parsed.dtype.itemsize:
        _check_finite_kept(name, dtype, parsed, out, error)
    return out


def check_range(name: str, label: str, target: np.dtype[np.generic], parsed: Array, error: str) -> None:
    """Refuse integers ``parsed`` holds that ``target`` (an integer type called ``label``) cannot."""
    info = np.iinfo(target.name)
    low, high = int(parsed.min()), int(parsed.max())
    if low >= info.min and high <= info.max:
        return
    bad = int(np.argmax(np.less(parsed, info.min) | np.greater(parsed, info.max)))
    value = parsed.ravel()[bad]
    raise InvalidInput(
        error,
        f"value {value} at index {_index(parsed, bad)} is out of range for {label} [{info.min}, {info.max}]; "
        f"input name: {name}",
    )


def _from_objects(name: str, dtype: DType, values: Collection[object], parsed: Array, error: str) -> Array:
    """Values numpy could only type as objects: integers beyond int64 among others, or no numbers."""
    flat = parsed.ravel().tolist()
    accepted = _ACCEPTED_TYPES[dtype.numpy.kind]
    if not all(type(value) in accepted for value in flat):
        raise _type_error(name, dtype, values, parsed, error)
    if dtype.numpy.kind in "iu":
        as_ints = np.array(flat, dtype=object).reshape(parsed.shape)
        check_range(name, dtype.kserve, dtype.numpy, as_ints, error)
        return np.array(flat, dtype=dtype.numpy).reshape(parsed.shape)
    try:
        return np.array(flat, dtype=np.float64).reshape(parsed.shape)
    except OverflowError as failure:
        raise InvalidInput(error, f"{failure}; input name: {name}") from None


def _type_error(
    name: str, dtype: DType, values: Collection[object], parsed: Array, error: str
) -> InvalidInput:
    flat = _flat(values, parsed)
    accepted = _ACCEPTED_TYPES[dtype.numpy.kind]
    bad = next((i for i, value in enumerate(flat) if type(value) not in accepted), 0)
    return InvalidInput(
        error,
        f"{dtype.kserve} data must be {_KIND_NAMES[dtype.numpy.kind]}, got {flat[bad]!r} "
        f"at index {_index(parsed, bad)}; input name: {name}",
    )


def _reject_booleans(name: str, dtype: DType, values: list[object], parsed: Array, error: str) -> None:
    """numpy takes ``true`` as 1 among numbers; only values equal to 0 or 1 can be such a boolean,
    so only those are looked up in the values the client sent (at C speed, by ``itemgetter``)."""
    candidates = np.flatnonzero((parsed == 0) | (parsed == 1)).tolist()
    if not candidates:
        return
    picked = itemgetter(*candidates)(_flat(values, parsed))
    if bool in (set(map(type, picked)) if len(candidates) > 1 else {type(picked)}):
        raise _type_error(name, dtype, values, parsed, error)


def _flat(values: Collection[object], parsed: Array) -> list[object]:
    """The values as the client sent them, in C order (``parsed`` is their rectangular array)."""
    flat = list(values)
    for _ in range(parsed.ndim - 1):
        flat = list(chain.from_iterable(cast("list[list[object]]", flat)))
    return flat


def _check_finite_kept(name: str, dtype: DType, parsed: Array, out: Array, error: str) -> None:
    overflow = np.isinf(out)
    if not overflow.any():
        return
    overflow &= np.isfinite(parsed)
    if overflow.any():
        bad = int(np.argmax(overflow))
        raise InvalidInput(
            error,
            f"value {parsed.ravel()[bad]} at index {_index(parsed, bad)} is out of range for {dtype.kserve}; "
            f"input name: {name}",
        )


def _index(parsed: Array, flat_index: int) -> str:
    """A value's position as the client wrote it: ``3`` in a flat list, ``[1, 0]`` in nested ones."""
    if parsed.ndim <= 1:
        return str(flat_index)
    return str([int(i) for i in np.unravel_index(flat_index, parsed.shape)])
