"""What an OpenVINO exception says, without the source locations its message is wrapped in."""

from __future__ import annotations

_WRAPPERS = ("Exception from ", "Caught exception")  # ``<file>:<line>:`` trails; Python's callback wrapper
# Where OpenVINO's checks live that fail when the shapes (or shape-giving values) a request brought
# do not fit the model: its core's and its plugins' shape inference (src/.../shape_inference/...).
_SHAPE_INFERENCE = "/shape_inference/"


def said(error: BaseException) -> list[str]:
    """The lines of ``error``'s message that say something, in order."""
    lines = (line.strip() for line in str(error).splitlines())
    return [line for line in lines if line and not line.startswith(_WRAPPERS)]


def is_shape_inference_failure(error: BaseException) -> bool:
    """Whether an inference failed in OpenVINO's shape inference: the inputs did not fit the model.

    A model that compiled fails there only for the shapes or values a request brought, such as two
    inputs of a dynamic batch with different batch sizes (Eltwise) or a reshape pattern its data
    does not fill; every other failure stays the server's.
    """
    return _SHAPE_INFERENCE in str(error)
