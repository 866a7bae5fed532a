import logging
from collections.abc import Sequence
from pathlib import Path

import pytest

from ovms_cli.repository.versions import (
    RepositoryError,
    discover_versions,
    find_model_file,
    version_directories,
)


def make_tree(root: Path, dirs: Sequence[str] = (), files: Sequence[str] = ()) -> Path:
    for name in dirs:
        (root / name).mkdir(parents=True)
    for name in files:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).touch()
    return root


def test_versions_are_numeric_subdirectories_sorted(tmp_path: Path) -> None:
    make_tree(tmp_path, dirs=["10", "2", "1"])
    assert discover_versions(tmp_path) == [1, 2, 10]


@pytest.mark.parametrize(
    ("dirs", "files", "expected"),
    [
        (["1abc"], [], [1]),
        (["abc", "v2", "_3"], [], []),
        (["0", "-1", "-0"], [], []),
        (["+4"], [], [4]),
        (["99999999999999999999"], [], []),
        (["9223372036854775807"], [], [9223372036854775807]),
        ([], ["3", "4.txt"], []),
        (["1", "1abc"], [], [1]),
    ],
)
def test_folder_names_read_like_stoll(
    tmp_path: Path, dirs: list[str], files: list[str], expected: list[int]
) -> None:
    make_tree(tmp_path, dirs=dirs, files=files)
    assert discover_versions(tmp_path) == expected


def test_canonical_spelling_wins_when_two_folders_read_the_same(tmp_path: Path) -> None:
    make_tree(tmp_path, dirs=["01", "1", "1abc", "2x", "2y"])
    assert version_directories(tmp_path) == {1: tmp_path / "1", 2: tmp_path / "2x"}


def test_warnings_for_non_numeric_and_empty(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    make_tree(tmp_path, dirs=["latest"])
    with caplog.at_level(logging.WARNING, logger="ovms.repository"):
        assert discover_versions(tmp_path) == []
    assert caplog.messages == [
        "Expected version directory name to be in number format. Got: latest",
        f"No version found for model in path: {tmp_path}",
    ]


@pytest.mark.parametrize("make", ["missing", "file"])
def test_invalid_base_path(tmp_path: Path, make: str) -> None:
    base = tmp_path / "model"
    if make == "file":
        base.touch()
    with pytest.raises(RepositoryError) as raised:
        discover_versions(base)
    assert raised.value.message == f"The provided base path is invalid or doesn't exists: {base}"
    assert str(raised.value) == raised.value.message


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        (["model.xml", "model.bin"], "model.xml"),
        (["b.xml", "b.bin", "a.xml", "a.bin"], "a.xml"),
        (["a.xml", "b.bin", "c.onnx"], "c.onnx"),
        (["a.xml", "a.bin", "m.onnx"], "a.xml"),
        (["z.onnx", "y.onnx", "m.pdmodel", "m.pdiparams"], "y.onnx"),
        (["m.pdmodel", "m.pdiparams", "saved_model.pb"], "m.pdmodel"),
        (["m.pdmodel", "n.pdiparams", "frozen.pb"], "frozen.pb"),
        (["saved_model.pb", "variables/variables.index", "a.pb"], "."),
        (["b.pb", "a.pb", "m.tflite"], "a.pb"),
        (["m.tflite", "mapping_config.json"], "m.tflite"),
    ],
)
def test_find_model_file_by_format_priority(tmp_path: Path, files: list[str], expected: str) -> None:
    make_tree(tmp_path, files=files)
    assert find_model_file(tmp_path) == tmp_path / expected


def test_find_model_file_ignores_directories_named_like_models(tmp_path: Path) -> None:
    make_tree(tmp_path, dirs=["fake.onnx"], files=["real.tflite"])
    assert find_model_file(tmp_path) == tmp_path / "real.tflite"


@pytest.mark.parametrize("files", [[], ["model.xml"], ["model.bin", "notes.txt"], ["m.pdiparams"]])
def test_find_model_file_nothing_usable(tmp_path: Path, files: list[str]) -> None:
    make_tree(tmp_path, files=files)
    with pytest.raises(RepositoryError, match=r"^File not found or cannot open: ") as raised:
        find_model_file(tmp_path)
    assert raised.value.message == f"File not found or cannot open: {tmp_path}"


def test_find_model_file_missing_version_folder(tmp_path: Path) -> None:
    with pytest.raises(RepositoryError) as raised:
        find_model_file(tmp_path / "3")
    assert raised.value.message == f"The provided base path is invalid or doesn't exists: {tmp_path / '3'}"
