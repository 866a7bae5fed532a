"""Tiny stateful models built with OpenVINO's opset API: variables read with ReadValue, written with Assign."""

from __future__ import annotations

import numpy as np
import openvino as ov
import openvino.opset13 as ops
from openvino.op.util import Variable, VariableInfo

from ovms_cli.servables.stateful.runner import StatefulRunner
from ovms_cli.servables.stateful.sequence_store import SequenceStore
from ovms_cli.servables.stateful.state_queue import StateQueue

RUNNING_SUM_WIDTH = 4
CELL_WIDTH = 8


def running_sum_model(width: int = RUNNING_SUM_WIDTH) -> ov.Model:
    """``state += x; sum = state`` on ``x: FP32[1, width]``; one variable ``sum_state`` starting at zeros."""
    x = ops.parameter([1, width], ov.Type.f32, name="x")
    variable = _variable("sum_state", [1, width])
    total = ops.add(ops.read_value(ops.constant(np.zeros((1, width), np.float32)), variable), x)
    total.output(0).get_tensor().set_names({"sum"})
    return ov.Model(
        results=[ops.result(total)], sinks=[ops.assign(total, variable)], parameters=[x], name="running_sum"
    )


def recurrent_cell_model(width: int = CELL_WIDTH, *, stateful: bool = True, seed: int = 0) -> ov.Model:
    """An LSTM-like cell on ``x: FP32[1, width]`` with output ``h: FP32[1, width]`` and fixed random weights.

    ``stateful``: ``h`` and ``c`` are the variables ``h_state`` and ``c_state`` (zeros at start), written back
    after each step. Otherwise the same computation without variables: ``h`` and ``c`` of the previous step
    come in as inputs ``h_in`` and ``c_in`` (FP32[1, width]) and nothing is kept, the reference the benchmark
    measures the cost of state against.
    """
    rng = np.random.default_rng(seed)
    w_x = ops.constant((rng.standard_normal((width, 4 * width)) / np.sqrt(width)).astype(np.float32))
    w_h = ops.constant((rng.standard_normal((width, 4 * width)) / np.sqrt(width)).astype(np.float32))
    bias = ops.constant(rng.standard_normal((1, 4 * width)).astype(np.float32))
    zeros = ops.constant(np.zeros((1, width), np.float32))
    x = ops.parameter([1, width], ov.Type.f32, name="x")
    h_variable, c_variable = _variable("h_state", [1, width]), _variable("c_state", [1, width])
    if stateful:
        h_prev, c_prev = ops.read_value(zeros, h_variable), ops.read_value(zeros, c_variable)
        parameters = [x]
    else:
        h_prev = ops.parameter([1, width], ov.Type.f32, name="h_in")
        c_prev = ops.parameter([1, width], ov.Type.f32, name="c_in")
        parameters = [x, h_prev, c_prev]
    gates = ops.add(ops.add(ops.matmul(x, w_x, False, False), ops.matmul(h_prev, w_h, False, False)), bias)
    i, f, g, o = ops.split(gates, ops.constant(np.int64(1)), 4).outputs()
    c = ops.add(ops.multiply(ops.sigmoid(f), c_prev), ops.multiply(ops.sigmoid(i), ops.tanh(g)))
    h = ops.multiply(ops.sigmoid(o), ops.tanh(c))
    h.output(0).get_tensor().set_names({"h"})
    sinks = [ops.assign(h, h_variable), ops.assign(c, c_variable)] if stateful else []
    return ov.Model(results=[ops.result(h)], sinks=sinks, parameters=parameters, name="recurrent_cell")


def tensor_iterator_rnn_model(steps: int, width: int = RUNNING_SUM_WIDTH, seed: int = 0) -> ov.Model:
    """``h = tanh(x_t W + h U)`` over ``steps`` time steps of ``x: FP32[1, steps, width]`` in a TensorIterator,
    from ``h0: FP32[1, width]``; output ``h``: the last step's. No variables: LowLatency2 makes ``h`` one."""
    rng = np.random.default_rng(seed)
    w = ops.constant(rng.standard_normal((width, width)).astype(np.float32))
    u = ops.constant(rng.standard_normal((width, width)).astype(np.float32))
    x_t = ops.parameter([1, 1, width], ov.Type.f32, name="x_t")
    h_prev = ops.parameter([1, width], ov.Type.f32, name="h_prev")
    step = ops.squeeze(x_t, ops.constant(np.array([1], np.int64)))
    h_next = ops.result(
        ops.tanh(ops.add(ops.matmul(step, w, False, False), ops.matmul(h_prev, u, False, False)))
    )
    x = ops.parameter([1, steps, width], ov.Type.f32, name="x")
    h0 = ops.parameter([1, width], ov.Type.f32, name="h0")
    loop = ov.op.tensor_iterator()
    loop.set_body(ov.Model([h_next], [x_t, h_prev], "step"))
    loop.set_sliced_input(x_t, x.output(0), 0, 1, 1, -1, 1)
    loop.set_merged_input(h_prev, h0.output(0), h_next.output(0))
    last = ops.result(loop.get_iter_value(h_next.output(0), -1))
    last.output(0).get_tensor().set_names({"h"})
    return ov.Model([last], [x, h0], "tensor_iterator_rnn")


def simple_sequence_model() -> ov.Model:
    """Triton's ``simple_sequence`` as Triton's sequence example clients expect it to answer:
    ``INPUT: INT32[1, 1]`` → ``OUTPUT: INT32[1, 1]``, ``INPUT + 1`` on a sequence's first request and ``INPUT``
    after it. One INT32 variable ``first``: 1 from START, 0 once a request of the sequence ran."""
    x = ops.parameter([1, 1], ov.Type.i32, name="INPUT")
    variable = _variable("first", [1, 1], ov.Type.i32)
    first = ops.read_value(ops.constant(np.ones((1, 1), np.int32)), variable)
    output = ops.add(x, first)
    output.output(0).get_tensor().set_names({"OUTPUT"})
    ran = ops.assign(ops.multiply(first, ops.constant(np.zeros((1, 1), np.int32))), variable)
    return ov.Model(results=[ops.result(output)], sinks=[ran], parameters=[x], name="simple_sequence")


def make_runner(compiled: ov.CompiledModel, nireq: int = 2, max_sequence_number: int = 500) -> StatefulRunner:
    """A stateful runner on ``compiled`` as a model version would hold it."""
    names = [output.get_any_name() for output in compiled.outputs]
    return StatefulRunner(SequenceStore(max_sequence_number), StateQueue(compiled, nireq, names))


def cell_inputs(steps: int, seed: int) -> list[np.ndarray]:
    """``steps`` random inputs ``FP32[1, CELL_WIDTH]`` for the recurrent cell."""
    rng = np.random.default_rng(seed)
    return [rng.standard_normal((1, CELL_WIDTH)).astype(np.float32) for _ in range(steps)]


def _variable(name: str, shape: list[int], element_type: ov.Type = ov.Type.f32) -> Variable:
    info = VariableInfo()
    info.data_shape = ov.PartialShape(shape)
    info.data_type = element_type
    info.variable_id = name
    return Variable(info)
