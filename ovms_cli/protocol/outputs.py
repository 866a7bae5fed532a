"""Which outputs a request asks for: one rule for KServe ``outputs`` and TFS ``output_filter``."""

from __future__ import annotations

from collections.abc import Iterable

from ovms_cli.errors import InvalidInput


def requested_outputs(names: Iterable[str]) -> tuple[str, ...]:
    """The outputs a request asks for, in request order; empty means every output.

    Raises ``InvalidInput`` for a name asked twice, as for inputs: nothing a client sent is
    silently merged.
    """
    chosen: dict[str, None] = {}
    for name in names:
        if name in chosen:
            raise InvalidInput("Duplicate output in request", f"output name: {name}")
        chosen[name] = None
    return tuple(chosen)
