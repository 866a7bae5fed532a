"""cors_settings: parsing OVMS's comma-separated CORS options."""

from __future__ import annotations

import pytest

from ovms_cli.transports.cors import CorsError, CorsSettings, cors_settings


def test_ovms_defaults_allow_everything_without_credentials() -> None:
    assert cors_settings("*", "*", "*", False) == CorsSettings(("*",), ("*",), ("*",), False)


def test_lists_are_split_stripped_and_methods_upper_cased() -> None:
    settings = cors_settings(
        "https://a.example, http://b.example:8080", "get, POST", "Authorization,X-Id", True
    )
    assert settings == CorsSettings(
        ("https://a.example", "http://b.example:8080"), ("GET", "POST"), ("Authorization", "X-Id"), True
    )


@pytest.mark.parametrize(
    ("origins", "methods", "headers", "message"),
    [
        ("https://a.example,", "*", "*", "allowed_origins: empty item"),
        ("a.example", "*", "*", "allowed_origins: 'a.example' is not an origin"),
        ("https://a.example/path", "*", "*", "is not an origin"),
        ("*", "GET,FETCH", "*", "allowed_methods: 'FETCH' is not an HTTP method"),
        ("*", "", "*", "allowed_methods: empty item"),
        ("*", "*", "X Id", "allowed_headers: 'X Id' is not a header name"),
    ],
)
def test_malformed_items_are_refused(origins: str, methods: str, headers: str, message: str) -> None:
    with pytest.raises(CorsError, match=message):
        cors_settings(origins, methods, headers, False)
