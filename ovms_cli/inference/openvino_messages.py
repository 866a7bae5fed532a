"""What an OpenVINO exception says, without the source locations its message is wrapped in."""

from __future__ import annotations

_WRAPPERS = ("Exception from ", "Caught exception")  # ``<file>:<line>:`` trails; Python's callback wrapper


def said(error: BaseException) -> list[str]:
    """The lines of ``error``'s message that say something, in order."""
    lines = (line.strip() for line in str(error).splitlines())
    return [line for line in lines if line and not line.startswith(_WRAPPERS)]
