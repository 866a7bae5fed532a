import numpy as np
import pytest

from ovms_cli.errors import InvalidInput
from ovms_cli.inference.strings import strings_to_u8_2d, u8_2d_to_strings


def test_strings_pad_to_the_longest_plus_one_and_come_back() -> None:
    strings = np.array([b"ab", b"", b"hello"], dtype=object)
    packed = strings_to_u8_2d(strings, "text")
    assert packed.shape == (3, 6)
    assert packed[0].tobytes() == b"ab\0\0\0\0"
    assert u8_2d_to_strings(packed).tolist() == [b"ab", b"", b"hello"]


def test_an_empty_batch_is_refused() -> None:
    with pytest.raises(InvalidInput, match="Invalid input batch size"):
        strings_to_u8_2d(np.array([], dtype=object), "text")
