"""The one exception of the benchmark: a run that cannot start, with a message for the user."""

from __future__ import annotations


class BenchError(Exception):
    """The server, the model or the options make a run impossible; ``str()`` says why."""
