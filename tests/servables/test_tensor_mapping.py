import json
from pathlib import Path

import pytest

from ovms_cli.servables.tensor_mapping import MappingError, public_names, read_mapping


def test_public_names_rename_and_keep_the_others() -> None:
    assert public_names(["y", "z"], {"y": "w"}, "output") == ["w", "z"]


@pytest.mark.parametrize(
    ("renames", "expected"),
    [
        ({"y": "w", "z": "w"}, 'outputs "y" and "z" would both be named "w"'),
        ({"y": "z"}, 'outputs "y" and "z" would both be named "z"'),
        ({"z": "y"}, 'outputs "y" and "z" would both be named "y"'),
        ({"y": "z", "z": "v"}, 'renames output "y" to "z", the original name of output "z" (renamed to "v")'),
        ({"y": "z", "z": "y"}, 'renames output "y" to "z", the original name of output "z" (renamed to "y")'),
    ],
)
def test_a_mapping_that_gives_two_tensors_one_name_names_both(renames: dict[str, str], expected: str) -> None:
    with pytest.raises(MappingError) as raised:
        public_names(["y", "z"], renames, "output")
    assert expected in str(raised.value)


def test_no_file_is_an_empty_mapping(tmp_path: Path) -> None:
    assert read_mapping(tmp_path) == {"inputs": {}, "outputs": {}}


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("{not json", "not a readable JSON file"),
        ("[]", 'expected an object with "inputs" and/or "outputs"'),
        ('{"inputs": {}, "extra": {}}', "unknown keys ['extra']"),
        ('{"outputs": {"y": 3}}', '"outputs" must map tensor names to public name strings'),
    ],
)
def test_an_unusable_file_fails_instead_of_being_ignored(tmp_path: Path, content: str, expected: str) -> None:
    (tmp_path / "mapping_config.json").write_text(content)
    with pytest.raises(MappingError) as raised:
        read_mapping(tmp_path)
    assert expected in str(raised.value)


def test_both_sections_are_read(tmp_path: Path) -> None:
    mapping = {"inputs": {"x": "features"}, "outputs": {"y": "w"}}
    (tmp_path / "mapping_config.json").write_text(json.dumps(mapping))
    assert read_mapping(tmp_path) == mapping
