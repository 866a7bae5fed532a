import numpy as np
import pytest

from ovms_cli.errors import InvalidInput
from ovms_cli.inference.strings import strings_to_u8_2d, u8_2d_to_strings


def test_strings_pad_to_the_longest_plus_one_and_come_back() -> None:
    strings = np.array([b"ab", b"", b"hello"], dtype=object)
    packed = strings_to_u8_2d(strings, "text")
    assert packed.shape == (3, 6)
    assert packed[0].tobytes() == b"ab\0\0\0\0"
    assert u8_2d_to_strings(packed, "text").tolist() == [b"ab", b"", b"hello"]


def test_an_empty_batch_is_refused() -> None:
    with pytest.raises(InvalidInput, match="Invalid input batch size"):
        strings_to_u8_2d(np.array([], dtype=object), "text")


def test_rows_of_no_bytes_are_empty_strings() -> None:
    assert u8_2d_to_strings(np.zeros((3, 0), np.uint8), "out").tolist() == [b"", b"", b""]


@pytest.mark.parametrize("rows", [2**27 + 1, 2**40, 2**62])
def test_more_strings_than_1gb_of_objects(rows: int) -> None:
    with pytest.raises(InvalidInput) as info:
        u8_2d_to_strings(np.zeros((rows, 0), np.uint8), "out")
    assert info.value.message == (
        f"Maximum 2D array after string conversion exceeded 1GB - {rows} strings; output name: out"
    )
