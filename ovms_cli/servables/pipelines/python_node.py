"""Python nodes (beyond OVMS): ``"type": "python"`` with ``"handler": "package.module:Class"`` or
``"handler": "/path/to/file.py:Class"`` (relative file paths resolve against the config directory).

The class is built without arguments, then ``initialize(params: dict[str, str])`` runs once at load,
``execute(inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]`` per request (in a worker
thread, possibly several at once: the instance is shared like a custom node's manager), and
``finalize()`` once when the node is retired.
"""

from __future__ import annotations

import importlib
import importlib.util
import itertools
import threading
from collections.abc import Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from ovms_cli.errors import InternalError

_module_ids = itertools.count()
_file_modules: dict[tuple[str, int, int], ModuleType] = {}
_file_modules_lock = threading.Lock()


def _file_module(path: Path) -> ModuleType:
    """The module of a handler file, imported once per content version (path, mtime, size): nodes
    naming the same file share its module state, as they would a module imported by name; an edited
    file is imported afresh on the next reload."""
    stat = path.stat()
    key = (str(path.resolve()), stat.st_mtime_ns, stat.st_size)
    with _file_modules_lock:
        module = _file_modules.get(key)
        if module is None:
            spec = importlib.util.spec_from_file_location(f"ovms_python_node_{next(_module_ids)}", path)
            if spec is None or spec.loader is None:
                raise ImportError(f"cannot load {path}")
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            _file_modules[key] = module
        return module


def handler_file(handler: str, base_dir: Path | None = None) -> Path | None:
    """The file a ``file.py:Class`` handler names (relative paths resolve against ``base_dir``, the
    config's folder); None for a ``package.module:Class`` handler."""
    location = handler.rpartition(":")[0]
    if not location.endswith(".py"):
        return None
    path = Path(location)
    if not path.is_absolute() and base_dir is not None:
        path = base_dir / path
    return path


def load_handler_class(handler: str, base_dir: Path | None = None) -> type[Any]:
    """The class named by ``handler`` (raises ``InternalError`` if it cannot be imported)."""
    location, _, class_name = handler.rpartition(":")
    if not location or not class_name:
        raise InternalError(
            "Python node handler is invalid", f"handler: {handler}; expected module:Class or file.py:Class"
        )
    try:
        path = handler_file(handler, base_dir)
        module = _file_module(path) if path is not None else importlib.import_module(location)
        cls = getattr(module, class_name)
    except BaseException as error:  # import runs user code: any failure, sys.exit() too, is a load failure
        raise InternalError("Python node handler failed to load", f"handler: {handler}; {error!r}") from error
    missing = [m for m in ("initialize", "execute", "finalize") if not callable(getattr(cls, m, None))]
    if missing:
        raise InternalError(
            "Python node handler is invalid", f"handler: {handler}; missing: {', '.join(missing)}"
        )
    if not isinstance(cls, type):
        raise InternalError("Python node handler is invalid", f"handler: {handler}; not a class")
    return cls


class PythonNode:
    """One pipeline node's instance of a handler class."""

    def __init__(
        self, node_name: str, handler: str, params: Mapping[str, str], base_dir: Path | None = None
    ) -> None:
        self.node_name = node_name
        cls = load_handler_class(handler, base_dir)
        try:
            self.instance = cls()
            self.instance.initialize(dict(params))
        except (
            BaseException
        ) as error:  # user code: its sys.exit() or KeyboardInterrupt must not stop the server
            raise InternalError(
                "Python node failed to initialize", f"node: {node_name}; {error!r}"
            ) from error

    def execute(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Runs the handler (blocking) and checks it returned a dict of str → numpy array.

        The handler gets read-only views: the arrays may be the request's own buffers (or a client's
        shared memory) and other nodes' inputs, so writing into them would corrupt those.
        Raises InternalError naming the node for any exception the handler raises (``SystemExit`` too).
        """
        try:
            outputs = self.instance.execute({name: _read_only(array) for name, array in inputs.items()})
        except (
            BaseException
        ) as error:  # user code: its sys.exit() or KeyboardInterrupt must not stop the server
            raise InternalError(
                "Python node failed during execution", f"node: {self.node_name}; {error!r}"
            ) from error
        if not isinstance(outputs, Mapping):
            details = f"node: {self.node_name}; returned {type(outputs).__name__}, expected dict[str, numpy.ndarray]"
            raise InternalError("Python node returned invalid outputs", details)
        bad = [
            repr(k)
            for k, v in outputs.items()
            if not isinstance(k, str) or not isinstance(v, np.ndarray) or v.dtype.hasobject
        ]
        if bad:
            details = (
                f"node: {self.node_name}; not a numpy array of numbers or strings (or not named by a string): "
                f"{', '.join(bad)}"
            )
            raise InternalError("Python node returned invalid outputs", details)
        return dict(outputs)

    def finalize(self) -> None:
        try:
            self.instance.finalize()
        except BaseException as error:  # user code, as in execute
            raise InternalError(
                "Python node failed to finalize", f"node: {self.node_name}; {error!r}"
            ) from error


def _read_only(array: np.ndarray) -> np.ndarray:
    view = array.view()
    view.flags.writeable = False
    return view
