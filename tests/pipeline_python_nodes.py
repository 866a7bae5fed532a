"""Python node handler classes used by the pipeline tests (loaded by import path)."""

from __future__ import annotations

import threading

import numpy as np


class Scale:
    """``scaled = x * factor`` (param ``factor``); counts its lifecycle calls."""

    finalized = 0

    def initialize(self, params: dict[str, str]) -> None:
        self.factor = np.float32(params.get("factor", "1"))

    def execute(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return {"scaled": inputs["x"] * self.factor}

    def finalize(self) -> None:
        Scale.finalized += 1


class Rendezvous:
    """Waits until ``parties`` instances run ``execute`` at the same time (raises if they never do),
    then passes ``x`` through as ``y``: a pipeline only succeeds if its branches run concurrently."""

    barriers: dict[str, threading.Barrier] = {}

    def initialize(self, params: dict[str, str]) -> None:
        key = params["group"]
        self.barrier = Rendezvous.barriers.setdefault(
            key, threading.Barrier(int(params["parties"]), timeout=20)
        )

    def execute(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        self.barrier.wait()
        return {"y": inputs["x"]}

    def finalize(self) -> None:
        pass


class ReturnsList:
    def initialize(self, params: dict[str, str]) -> None:
        pass

    def execute(self, inputs: dict[str, np.ndarray]) -> object:
        return [inputs["x"]]

    def finalize(self) -> None:
        pass


class ReturnsScalar:
    def initialize(self, params: dict[str, str]) -> None:
        pass

    def execute(self, inputs: dict[str, np.ndarray]) -> dict[str, object]:
        return {"y": 3.0}

    def finalize(self) -> None:
        pass


class Raises:
    def initialize(self, params: dict[str, str]) -> None:
        pass

    def execute(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        raise ValueError("bad luck")

    def finalize(self) -> None:
        pass


class Exits:
    def initialize(self, params: dict[str, str]) -> None:
        if params.get("when") == "initialize":
            raise SystemExit(2)

    def execute(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        raise SystemExit(3)

    def finalize(self) -> None:
        pass


class WritesInPlace:
    def initialize(self, params: dict[str, str]) -> None:
        pass

    def execute(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        inputs["x"] *= 0
        return {"y": inputs["x"]}

    def finalize(self) -> None:
        pass


class ReturnsObjects:
    def initialize(self, params: dict[str, str]) -> None:
        pass

    def execute(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return {"y": np.array([object()])}

    def finalize(self) -> None:
        pass


class NoExecute:
    def initialize(self, params: dict[str, str]) -> None:
        pass

    def finalize(self) -> None:
        pass


class Gate:
    """Passes ``x`` through as ``y`` once ``Gate.open`` is set; counts finalize calls (lifecycle tests)."""

    open = threading.Event()
    finalized = 0

    def initialize(self, params: dict[str, str]) -> None:
        self.tag = np.float32(params.get("tag", "0"))

    def execute(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        if not Gate.open.wait(timeout=20):
            raise TimeoutError("the gate was never opened")
        return {"y": inputs["x"] + self.tag}

    def finalize(self) -> None:
        Gate.finalized += 1
