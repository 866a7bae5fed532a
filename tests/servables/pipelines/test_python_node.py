from pathlib import Path

import numpy as np
import pytest
from pipeline_python_nodes import Scale

from ovms_cli.errors import InternalError
from ovms_cli.servables.pipelines.python_node import PythonNode, load_handler_class


def test_lifecycle_by_import_path() -> None:
    node = PythonNode("s", "pipeline_python_nodes:Scale", {"factor": "3"})
    x = np.ones((2, 2), np.float32)
    np.testing.assert_array_equal(node.execute({"x": x})["scaled"], x * 3)
    before = Scale.finalized
    node.finalize()
    assert Scale.finalized == before + 1


def test_relative_file_path_resolves_against_base_dir(tmp_path: Path) -> None:
    (tmp_path / "h.py").write_text("class H:\n    initialize = execute = finalize = lambda *a: None\n")
    assert load_handler_class("h.py:H", tmp_path).__name__ == "H"


@pytest.mark.parametrize(
    ("handler", "message"),
    [
        (
            "no_colon",
            "Python node handler is invalid - handler: no_colon; expected module:Class or file.py:Class",
        ),
        (
            "pipeline_python_nodes:Missing",
            "Python node handler failed to load - handler: pipeline_python_nodes:Missing; AttributeError(\"module 'pipeline_python_nodes' has no attribute 'Missing'\")",
        ),
        (
            "pipeline_python_nodes:NoExecute",
            "Python node handler is invalid - handler: pipeline_python_nodes:NoExecute; missing: execute",
        ),
    ],
)
def test_bad_handlers(handler: str, message: str) -> None:
    with pytest.raises(InternalError) as caught:
        load_handler_class(handler)
    assert caught.value.message == message


@pytest.mark.parametrize(
    ("handler", "message"),
    [
        (
            "ReturnsList",
            "Python node returned invalid outputs - node: n; returned list, expected dict[str, numpy.ndarray]",
        ),
        (
            "ReturnsScalar",
            "Python node returned invalid outputs - node: n; not a numpy array of numbers or strings "
            "(or not named by a string): 'y'",
        ),
        ("Raises", "Python node failed during execution - node: n; ValueError('bad luck')"),
        ("Exits", "Python node failed during execution - node: n; SystemExit(3)"),
        (
            "WritesInPlace",
            "Python node failed during execution - node: n; ValueError('output array is read-only')",
        ),
        (
            "ReturnsObjects",
            "Python node returned invalid outputs - node: n; not a numpy array of numbers or strings "
            "(or not named by a string): 'y'",
        ),
    ],
)
def test_outputs_must_be_a_dict_of_arrays(handler: str, message: str) -> None:
    node = PythonNode("n", f"pipeline_python_nodes:{handler}", {})
    with pytest.raises(InternalError) as caught:
        node.execute({"x": np.zeros(3)})
    assert caught.value.message == message


def test_inputs_are_left_as_they_came() -> None:
    x = np.arange(3, dtype=np.float32)
    with pytest.raises(InternalError):
        PythonNode("n", "pipeline_python_nodes:WritesInPlace", {}).execute({"x": x})
    np.testing.assert_array_equal(x, np.arange(3, dtype=np.float32))
    assert x.flags.writeable  # the caller's array keeps its own flags


def test_sys_exit_in_initialize_is_a_load_failure_naming_the_node() -> None:
    with pytest.raises(InternalError) as caught:
        PythonNode("n", "pipeline_python_nodes:Exits", {"when": "initialize"})
    assert caught.value.message == "Python node failed to initialize - node: n; SystemExit(2)"
