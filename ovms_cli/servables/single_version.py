"""The status side of a servable that has exactly one version: a pipeline or a generative model.

OVMS gives DAG pipelines and MediaPipe graphs the one version 1 whatever version a request names
(spec §8.2); requests to one that is not AVAILABLE get ``<kind> is not loaded yet`` (503 /
UNAVAILABLE, with why when it failed) or, once retired, ``<kind> is retired`` (404 / NOT_FOUND).
"""

from __future__ import annotations

from typing import ClassVar

from ovms_cli.errors import NotFound, NotReady
from ovms_cli.types import State, VersionStatus


class SingleVersion:
    """Mixed into a ``Servable``; the subclass sets ``name`` and keeps ``_status`` current."""

    kind: ClassVar[str]  # how messages name it: "Pipeline", "Mediapipe graph"
    name: str
    _status: VersionStatus

    @property
    def version(self) -> int:
        return self._status.version

    @property
    def state(self) -> State:
        return self._status.state

    @property
    def status(self) -> VersionStatus:
        return self._status

    def unavailable_error(self) -> NotFound | NotReady:
        if self.state >= State.UNLOADING:
            return NotFound(f"{self.kind} is retired", f"name: {self.name}")
        why = f"; {self._status.reason}" if self._status.reason else ""
        return NotReady(f"{self.kind} is not loaded yet", f"name: {self.name}{why}")
