"""Model version states and error codes, numbered as in TensorFlow Serving's protos (spec §3.5)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum


class State(IntEnum):
    START = 10
    LOADING = 20
    AVAILABLE = 30
    UNLOADING = 40
    END = 50


class ErrorCode(IntEnum):
    OK = 0
    UNKNOWN = 2
    FAILED_PRECONDITION = 9


@dataclass(frozen=True, slots=True)
class VersionStatus:
    version: int
    state: State
    error_code: ErrorCode = ErrorCode.OK
    reason: str = ""  # why a load failed; empty otherwise
