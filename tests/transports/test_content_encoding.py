import pytest

from ovms_cli.transports.content_encoding import preferred_coding, request_codings


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
