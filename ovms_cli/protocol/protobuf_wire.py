"""Hand-written protobuf wire pieces for the replies that append tensor bytes without copies.

Protobuf copies every ``bytes`` field on its way into and out of a message; the inference
replies serialize their small header with protobuf and append each tensor as a
length-delimited field by hand (field tag, varint length, data), which is valid protobuf.
"""

from __future__ import annotations

_LENGTH_DELIMITED = 2


def tag(field_number: int) -> bytes:
    """The key of a length-delimited field (bytes, string, message) with a small field number."""
    return varint(field_number << 3 | _LENGTH_DELIMITED)


def varint(value: int) -> bytes:
    out = bytearray()
    while value > 0x7F:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)
