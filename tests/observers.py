"""Test doubles for the core's observer hooks (the ones metrics implement)."""

from __future__ import annotations


class InferenceCounter:
    """An ``InferObserver`` that counts the inferences an infer queue runs."""

    def __init__(self) -> None:
        self.inferences = 0

    def request_started(self) -> None: ...

    def request_finished(self) -> None: ...

    def waited(self, seconds: float) -> None: ...

    def inferred(self, seconds: float) -> None:
        self.inferences += 1
