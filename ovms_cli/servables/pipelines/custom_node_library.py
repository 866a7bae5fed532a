"""Custom node libraries: a ``.so`` loaded with ctypes and called exactly as OVMS calls it (spec §2.7, §8.5).

``CustomNodeLibrary`` is one ``custom_node_library_config_list`` entry (dlopen + the six symbols);
``CustomNode`` is one pipeline node using it: ``initialize`` with the node's params at load, then
``inputs_info``/``outputs_info`` for validation and metadata and ``execute`` per request, and
``deinitialize`` once no request uses it. The manager pointer from ``initialize`` is shared by
every concurrent ``execute`` (OVMS's contract: the library makes it thread-safe).

Memory: inputs are passed as views of the numpy buffers (no copy when C-contiguous). Outputs are
copied once into numpy arrays and everything the library allocated — each output's ``data`` and
``dims``, the outputs array, each info's ``dims`` and the infos array — goes back through
``release`` before the call returns, also when the outputs are malformed.

Blocking calls: run ``execute`` in a thread (the executor does), never on the event loop.
"""

from __future__ import annotations

import ctypes
import math
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from ovms_cli.errors import InternalError, InvalidInput, NotReady
from ovms_cli.servables.pipelines.custom_node_abi import (
    PRECISION_OF,
    PRECISIONS,
    SIGNATURES,
    CustomNodeParam,
    CustomNodeTensor,
    CustomNodeTensorInfo,
)
from ovms_cli.servables.pipelines.signatures import ANY_DIM, NodeSignature
from ovms_cli.types import DType, TensorMetadata, from_numpy


class CustomNodeLibrary:
    """A loaded library (OVMS: ``NODE_LIBRARY_LOAD_FAILED_OPEN`` / ``..._SYM`` → ``InternalError``)."""

    def __init__(self, name: str, path: Path) -> None:
        self.name = name
        self.path = path
        try:
            self._dll = ctypes.CDLL(str(path), mode=ctypes.RTLD_LOCAL)
        except OSError as error:
            raise InternalError("Custom node library failed to open", f"library: {name}; {error}") from error
        self.functions: dict[str, Callable[..., int]] = {}
        for symbol, argtypes in SIGNATURES.items():
            try:
                function = getattr(self._dll, symbol)
            except AttributeError as error:
                details = f"library: {name}; symbol: {symbol}"
                raise InternalError("Custom node library failed to load symbol", details) from error
            function.argtypes = argtypes
            function.restype = ctypes.c_int
            self.functions[symbol] = function

    def initialize(self, node_name: str, params: Mapping[str, str]) -> CustomNode:
        """Calls ``initialize`` for one pipeline node (OVMS: ``NODE_LIBRARY_INITIALIZE_FAILED``)."""
        return CustomNode(self, node_name, params)


class _Params:
    """A ``CustomNodeParam`` array whose strings live as long as this object."""

    def __init__(self, params: Mapping[str, str]) -> None:
        self._strings = [(k.encode(), v.encode()) for k, v in params.items()]
        self.array = (CustomNodeParam * max(len(self._strings), 1))(
            *(CustomNodeParam(k, v) for k, v in self._strings)
        )
        self.count = len(self._strings)


class CustomNode:
    """One node's use of a library: its params and the manager ``initialize`` returned."""

    def __init__(self, library: CustomNodeLibrary, node_name: str, params: Mapping[str, str]) -> None:
        self.library = library
        self.node_name = node_name
        self._fn = library.functions
        self._params = _Params(params)
        self._manager = ctypes.c_void_p()
        self._in_flight = 0
        self._closed = False
        self._cond = threading.Condition()
        code = self._fn["initialize"](ctypes.byref(self._manager), self._params.array, self._params.count)
        if code != 0:
            raise InternalError("Failure during custom node library initialization", self._where(code))

    def _where(self, code: int | None = None) -> str:
        where = f"node: {self.node_name}; library: {self.library.name}"
        return where if code is None else f"{where}; code: {code}"

    def signature(self) -> NodeSignature:
        """``getInputsInfo`` and ``getOutputsInfo`` for this node's params (dim 0 → -1)."""
        return NodeSignature.of(self._infos("getInputsInfo"), self._infos("getOutputsInfo"))

    def _infos(self, symbol: str) -> list[TensorMetadata]:
        infos = ctypes.POINTER(CustomNodeTensorInfo)()
        count = ctypes.c_int(0)
        with self._using():
            code = self._fn[symbol](
                ctypes.byref(infos),
                ctypes.byref(count),
                self._params.array,
                self._params.count,
                self._manager,
            )
            if code != 0:
                raise InternalError(
                    "Custom node failed on metadata call", f"{self._where(code)}; call: {symbol}"
                )
            try:
                return self._read_infos(infos, count.value, symbol)
            finally:
                self._release_infos(infos, count.value)

    def _read_infos(self, infos: Any, count: int, symbol: str) -> list[TensorMetadata]:
        where = f"{self._where()}; call: {symbol}"
        _check_array(infos, count, where)
        out = []
        for i in range(count):
            name, dtype, dims = _header(infos[i], i, where)
            out.append(TensorMetadata(name, dtype, tuple(d or ANY_DIM for d in dims)))
        return out

    def _release_infos(self, infos: Any, count: int) -> None:
        self._release_array(infos, count, ("dims",))

    def _release_array(self, array: Any, count: int, fields: tuple[str, ...]) -> None:
        """Releases each item's ``fields`` pointers, then the array itself (OVMS's order)."""
        if not array:
            return
        for i in range(max(count, 0)):
            for pointer in (getattr(array[i], f) for f in fields):
                if pointer:
                    self._release(pointer)
        self._release(array)

    def _release(self, pointer: Any) -> None:
        self._fn["release"](ctypes.cast(pointer, ctypes.c_void_p), self._manager)

    def execute(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Runs ``execute`` (blocking; call from a worker thread) → outputs by name.

        Raises ``InvalidInput`` for an input precision the ABI cannot carry, ``InternalError`` naming
        the node for a non-zero code (``Custom node failed during execution``) or malformed outputs.
        """
        arrays = {name: np.ascontiguousarray(value) for name, value in inputs.items()}
        tensors, keep_alive = self._input_tensors(arrays)
        outputs = ctypes.POINTER(CustomNodeTensor)()
        count = ctypes.c_int(0)
        with self._using():
            code = self._fn["execute"](
                tensors,
                len(arrays),
                ctypes.byref(outputs),
                ctypes.byref(count),
                self._params.array,
                self._params.count,
                self._manager,
            )
            del keep_alive
            if code != 0:  # OVMS: the library has freed its own memory
                raise InternalError("Custom node failed during execution", self._where(code))
            try:
                return self._read_outputs(outputs, count.value)
            finally:
                self._release_outputs(outputs, count.value)

    def _input_tensors(self, arrays: Mapping[str, np.ndarray]) -> tuple[Any, list[object]]:
        tensors = (CustomNodeTensor * max(len(arrays), 1))()
        keep_alive: list[object] = []
        for i, (name, array) in enumerate(arrays.items()):
            dtype = from_numpy(array.dtype)
            precision = PRECISION_OF.get(dtype) if dtype else None
            if precision is None:
                raise InvalidInput(
                    "Invalid input precision", f"{self._where()}; input: {name}; dtype: {array.dtype}"
                )
            dims = (ctypes.c_uint64 * max(array.ndim, 1))(*array.shape)
            encoded = name.encode()
            keep_alive += [dims, encoded, array]
            tensors[i] = CustomNodeTensor(
                encoded,
                array.ctypes.data_as(ctypes.POINTER(ctypes.c_uint8)),
                array.nbytes,
                dims,
                array.ndim,
                precision,
            )
        return tensors, keep_alive

    def _read_outputs(self, outputs: Any, count: int) -> dict[str, np.ndarray]:
        where = self._where()
        _check_array(outputs, count, where)
        result = {}
        for i in range(count):
            tensor = outputs[i]
            name, dtype, shape = _header(tensor, i, where)
            expected = math.prod(shape) * dtype.itemsize
            if tensor.dataBytes != expected or (expected and not tensor.data):
                details = f"{where}; output: {name}; dims: {list(shape)}; dataBytes: {tensor.dataBytes}; expected: {expected}"
                raise InternalError("Custom node output has invalid content size", details)
            array = np.empty(shape, dtype.numpy)
            if expected:
                ctypes.memmove(array.ctypes.data, tensor.data, expected)
            result[name] = array
        return result

    def _release_outputs(self, outputs: Any, count: int) -> None:
        self._release_array(outputs, count, ("data", "dims"))

    @contextmanager
    def _using(self) -> Iterator[None]:
        with self._cond:
            if self._closed:
                raise NotReady("Custom node library is deinitialized", self._where())
            self._in_flight += 1
        try:
            yield
        finally:
            with self._cond:
                self._in_flight -= 1
                self._cond.notify_all()

    def deinitialize(self) -> None:
        """Waits for running calls, then calls ``deinitialize`` once; later calls are refused."""
        with self._cond:
            if self._closed:
                return
            self._closed = True
            self._cond.wait_for(lambda: self._in_flight == 0)
        self._fn["deinitialize"](self._manager)


def _check_array(array: Any, count: int, where: str) -> None:
    """OVMS's checks of a returned array: ``NODE_LIBRARY_OUTPUTS_CORRUPTED`` / ``..._COUNT``."""
    if not array:
        raise InternalError("Custom node library has returned corrupted outputs handle", where)
    if count <= 0:
        raise InternalError(
            "Custom node library has produced corrupted number of outputs", f"{where}; count: {count}"
        )


def _header(item: Any, index: int, where: str) -> tuple[str, DType, tuple[int, ...]]:
    """Name, precision and dims of a returned ``CustomNodeTensor`` or ``CustomNodeTensorInfo``."""
    if not item.name:
        raise InternalError("Custom node output is missing name", f"{where}; index: {index}")
    name = str(item.name.decode())
    dtype = PRECISIONS.get(item.precision)
    if dtype is None:
        details = f"{where}; output: {name}; precision: {item.precision}"
        raise InternalError("Custom node has produced tensor with unspecified precision", details)
    if item.dimsCount and not item.dims:
        raise InternalError(
            "Custom node library has returned corrupted outputs handle", f"{where}; dims of {name!r}"
        )
    return name, dtype, tuple(int(item.dims[d]) for d in range(item.dimsCount))
