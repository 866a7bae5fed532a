"""``low_latency_transformation: true`` (spec §9.1, §9.3): OpenVINO's LowLatency2 pass before compiling.

LowLatency2 turns each TensorIterator / Loop back edge of a model into a variable (ReadValue/Assign), so a
recurrent network iterated over a whole sequence in one request becomes one that keeps its hidden state
between requests. ``use_const_initializer=True`` (OpenVINO's and OVMS's default): a variable starts from
zeros, not from the initial-state input, which stays an input of the model.
"""

from __future__ import annotations

import openvino as ov
from openvino._offline_transformations import apply_low_latency_transformation


def apply_low_latency(model: ov.Model) -> None:
    """Apply LowLatency2 to ``model`` in place; blocking (load time, a worker thread)."""
    apply_low_latency_transformation(model, use_const_initializer=True)
