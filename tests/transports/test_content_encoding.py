import zlib
from collections.abc import Callable

import pytest

from ovms_cli.transports.content_encoding import _Deflate, preferred_coding, request_codings

BODY = b'{"inputs": []}' * 50


def _raw_deflate(body: bytes) -> bytes:
    encoder = zlib.compressobj(6, zlib.DEFLATED, -15)
    return encoder.compress(body) + encoder.flush()


@pytest.mark.parametrize("pack", [zlib.compress, _raw_deflate], ids=["zlib", "raw"])
def test_deflate_reads_the_zlib_format_or_raw_deflate_fed_a_byte_at_a_time(
    pack: Callable[[bytes], bytes],
) -> None:
    packed = pack(BODY)
    decoder = _Deflate()
    out = b"".join(decoder.decompress(packed[i : i + 1]) for i in range(len(packed)))
    assert (out, decoder.eof, decoder.unused_data) == (BODY, True, b"")


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([], []),
        (["identity"], []),
        (["GZIP"], ["gzip"]),
        (["deflate, gzip"], ["deflate", "gzip"]),
        (["gzip", "identity, br"], ["gzip", "br"]),
    ],
)
def test_request_codings_in_the_order_applied(values: list[str], expected: list[str]) -> None:
    assert request_codings(values) == expected


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        ("", None),
        ("identity", None),
        ("gzip", "gzip"),
        ("x-gzip", "gzip"),
        ("deflate", "deflate"),
        ("gzip, deflate", "gzip"),
        ("gzip;q=0.2, deflate;q=0.8", "deflate"),
        ("*", "gzip"),
        ("*;q=0.5, gzip;q=0", "deflate"),
        ("gzip;q=0, deflate;q=0", None),
        ("gzip;q=nonsense", None),
        ("br, zstd", None),
    ],
)
def test_preferred_coding_follows_q_values(accept: str, expected: str | None) -> None:
    assert preferred_coding(accept) == expected
