"""CORS for the REST API, as OVMS 2025 has it: ``--allowed_origins``, ``--allowed_methods``,
``--allowed_headers`` (comma-separated lists, each ``*`` by default) and ``--allow_credentials``
(off by default), answered by Starlette's ``CORSMiddleware``.

The middleware is the outermost one (rest.py), so a preflight (``OPTIONS`` with ``Origin`` and
``Access-Control-Request-Method``) is answered before the API-key check and never needs a key,
and refusals such as 401 still carry the CORS headers a browser needs to read them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware

ANY = "*"
HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"})
HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")  # RFC 9110 token


class CorsError(ValueError):
    """A CORS option holds an empty item, an unknown method or a malformed header name."""


@dataclass(frozen=True, slots=True)
class CorsSettings:
    allowed_origins: tuple[str, ...] = (ANY,)
    allowed_methods: tuple[str, ...] = (ANY,)
    allowed_headers: tuple[str, ...] = (ANY,)
    allow_credentials: bool = False

    def middleware(self) -> Middleware:
        return Middleware(
            CORSMiddleware,
            allow_origins=list(self.allowed_origins),
            allow_methods=list(self.allowed_methods),
            allow_headers=list(self.allowed_headers),
            allow_credentials=self.allow_credentials,
        )


def cors_settings(origins: str, methods: str, headers: str, allow_credentials: bool) -> CorsSettings:
    """The settings of the four options; raise ``CorsError`` naming the option and the bad item."""
    methods_list = tuple(m.upper() for m in _items("allowed_methods", methods))
    for method in methods_list:
        if method != ANY and method not in HTTP_METHODS:
            raise CorsError(f"allowed_methods: {method!r} is not an HTTP method")
    headers_list = _items("allowed_headers", headers)
    for header in headers_list:
        if not HEADER_NAME.match(header):
            raise CorsError(f"allowed_headers: {header!r} is not a header name")
    origins_list = _items("allowed_origins", origins)
    for origin in origins_list:
        if origin != ANY and not re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*://[^/\s]+$", origin):
            raise CorsError(f"allowed_origins: {origin!r} is not an origin (scheme://host[:port])")
    return CorsSettings(origins_list, methods_list, headers_list, allow_credentials)


def _items(option: str, value: str) -> tuple[str, ...]:
    items = tuple(item.strip() for item in value.split(","))
    if not all(items):
        raise CorsError(f"{option}: empty item in {value!r} (a comma-separated list)")
    return items
