"""HTTP content codings on every REST endpoint (RFC 9110 §8.4, §12.5.3), as ASGI middleware.

Requests: a body sent with ``Content-Encoding: gzip`` or ``deflate`` (zlib format, RFC 9110
§8.4.1.2; ``x-gzip`` is gzip), or a list of them (``gzip, gzip``: listed in the order applied, undone
last first), is decoded as it streams in. A ``deflate`` body without the zlib header is read as raw
deflate (RFC 1951), which some clients send and browsers accept too. The decoded
bytes are held to ``--max_request_size``: a small body that inflates past the limit fails with 413
as soon as it crosses it, so a "zip bomb" never costs more than the limit in memory. Any other
coding is refused with 415 before the endpoint runs. ``tritonclient.http`` sends such bodies when
given ``request_compression_algorithm``.

Responses: when ``Accept-Encoding`` asks for ``gzip`` or ``deflate`` (``tritonclient.http``'s
``response_compression_algorithm``, ``curl --compressed``), a body of at least ``MINIMUM_SIZE``
bytes is sent compressed with the preferred one (by q-value, gzip on a tie).
"""

from __future__ import annotations

import zlib
from collections.abc import Callable

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ovms_cli.errors import InvalidInput, ResourceExhausted, UnsupportedMediaType
from ovms_cli.transports.errors import error_response, log_error
from ovms_cli.transports.limits import RequestBodyMiddleware

_WBITS = {"gzip": 31, "x-gzip": 31, "deflate": 15}  # zlib's window bits: 16+15 gzip, 15 zlib
_RAW_DEFLATE_WBITS = -15
_IDENTITY = "identity"
_ALIASES = {"x-gzip": "gzip"}
MINIMUM_SIZE = 500  # smaller bodies gain little and may grow
RESPONSE_LEVEL = 1  # tensors compress little better at higher levels, and the cost is per request


class ContentDecoding(RequestBodyMiddleware):
    """Decode request bodies; ``max_bytes`` bounds the decoded size (None: no bound)."""

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        codings = request_codings(Headers(scope=scope).getlist("content-encoding"))
        if not codings:
            await self.app(scope, receive, send)
            return
        unsupported = [c for c in codings if c not in _WBITS]
        if unsupported:
            error = UnsupportedMediaType(
                "Unsupported Content-Encoding",
                f"{', '.join(unsupported)}; supported: gzip, deflate, identity",
            )
            log_error(error, f"REST {scope['method']} {scope['path']}")
            await error_response(error.message, error.http_status)(scope, receive, send)
            return
        decoded = dict(scope, headers=_without(scope["headers"], (b"content-encoding", b"content-length")))
        await self.app(decoded, _decoding(receive, codings, self.max_bytes), send)


def request_codings(values: list[str]) -> list[str]:
    """The codings applied to a body, in the order they were applied, ``identity`` left out."""
    codings = [c.strip().lower() for value in values for c in value.split(",")]
    return [c for c in codings if c and c != _IDENTITY]


def _without(headers: list[tuple[bytes, bytes]], names: tuple[bytes, ...]) -> list[tuple[bytes, bytes]]:
    return [(key, value) for key, value in headers if key not in names]


def _decoding(receive: Receive, codings: list[str], limit: int | None) -> Receive:
    """``receive`` with each body chunk decoded, the last applied coding undone first."""
    decoders = [_decoder(c) for c in reversed(codings)]
    produced = 0

    async def decoded() -> Message:
        nonlocal produced
        message = await receive()
        if message["type"] != "http.request":
            return message
        data, more = message.get("body", b""), message.get("more_body", False)
        for coding, decoder in zip(reversed(codings), decoders, strict=True):
            data = _inflate(decoder, data, coding, limit, produced)
            if not more and not decoder.eof:
                raise InvalidInput("Invalid request body", f"the {coding} body is truncated")
        produced += len(data)
        return {"type": "http.request", "body": data, "more_body": more}

    return decoded


def _decoder(coding: str) -> zlib._Decompress | _Deflate:
    return _Deflate() if coding == "deflate" else zlib.decompressobj(_WBITS[coding])


class _Deflate:
    """A ``deflate`` decoder that reads the zlib format, or raw deflate when the first two bytes are
    no zlib header (RFC 1950 §2.2: compression method 8, and a multiple of 31 as a big-endian
    number). The ``zlib.decompressobj`` interface ``_inflate`` uses: ``decompress``, ``eof``,
    ``unused_data``."""

    def __init__(self) -> None:
        self._head = b""
        self._decoder: zlib._Decompress | None = None

    @property
    def eof(self) -> bool:
        return self._decoder is not None and self._decoder.eof

    @property
    def unused_data(self) -> bytes:
        return b"" if self._decoder is None else self._decoder.unused_data

    def decompress(self, data: bytes, max_length: int = 0) -> bytes:
        if self._decoder is None:
            self._head += data
            if len(self._head) < 2:
                return b""
            data, self._head = self._head, b""
            zlib_header = data[0] & 0x0F == zlib.DEFLATED and int.from_bytes(data[:2], "big") % 31 == 0
            self._decoder = zlib.decompressobj(_WBITS["deflate"] if zlib_header else _RAW_DEFLATE_WBITS)
        return self._decoder.decompress(data, max_length)


def _inflate(
    decoder: zlib._Decompress | _Deflate, data: bytes, coding: str, limit: int | None, produced: int
) -> bytes:
    """Decode ``data``; 413 once the decoded body would pass ``limit`` (``produced`` so far)."""
    room = None if limit is None else limit - produced
    if decoder.eof and data:
        raise InvalidInput("Invalid request body", f"data after the end of the {coding} stream")
    try:
        out = decoder.decompress(data, 0 if room is None else room + 1)
    except zlib.error as error:
        raise InvalidInput("Invalid request body", f"not valid {coding} data: {error}") from None
    if room is not None and len(out) > room:
        raise ResourceExhausted(
            "Request is too large",
            f"the {coding}-decoded body exceeds the limit of {limit} bytes set by --max_request_size",
        )
    if decoder.unused_data:
        raise InvalidInput("Invalid request body", f"data after the end of the {coding} stream")
    return out


class ResponseEncoding:
    """Compress response bodies for clients that ask for it in ``Accept-Encoding``."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        coding = None
        if scope["type"] == "http" and scope["method"] != "HEAD":
            coding = preferred_coding(Headers(scope=scope).get("accept-encoding", ""))
        if coding is None:
            await self.app(scope, receive, send)
            return
        await self.app(scope, receive, _compressing(send, coding))


def preferred_coding(accept_encoding: str) -> str | None:
    """``gzip`` or ``deflate`` as ``Accept-Encoding`` ranks them (q > 0), else None."""
    explicit: dict[str, float] = {}
    wildcard = 0.0
    for item in accept_encoding.split(","):
        name, _, params = item.strip().lower().partition(";")
        key, _, value = params.strip().partition("=")
        quality = _quality(value) if key.strip() == "q" else 1.0
        name = _ALIASES.get(name.strip(), name.strip())
        if name == "*":
            wildcard = quality
        elif name in _COMPRESSORS:
            explicit[name] = quality
    ranked = {coding: explicit.get(coding, wildcard) for coding in _COMPRESSORS}
    usable = [(q, c == "gzip", c) for c, q in ranked.items() if q > 0]
    return max(usable)[2] if usable else None


def _quality(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return 0.0


def _compressing(send: Send, coding: str) -> Send:
    """``send`` holding the response back until its body is whole, then compressing it if it is
    large enough and not already encoded. Server-sent events pass as they come: a stream's reader
    needs each event when it is written."""
    start: Message | None = None
    chunks: list[bytes] = []
    streaming = False

    async def compressed(message: Message) -> None:
        nonlocal start, streaming
        if streaming:
            await send(message)
            return
        if message["type"] == "http.response.start":
            if Headers(raw=message["headers"]).get("content-type", "").startswith(EVENT_STREAM):
                streaming = True
                await send(message)
                return
            start = message
            return
        if message["type"] != "http.response.body" or start is None:
            await send(message)
            return
        chunks.append(message.get("body", b""))
        if message.get("more_body", False):
            return
        body = b"".join(chunks)
        headers = MutableHeaders(raw=list(start["headers"]))
        if len(body) >= MINIMUM_SIZE and "content-encoding" not in headers:
            body = _COMPRESSORS[coding](body)
            headers["content-encoding"] = coding
            headers["content-length"] = str(len(body))
            headers.add_vary_header("Accept-Encoding")
        await send({**start, "headers": headers.raw})
        await send({"type": "http.response.body", "body": body})

    return compressed


def _gzip(body: bytes) -> bytes:
    encoder = zlib.compressobj(RESPONSE_LEVEL, zlib.DEFLATED, 31)
    return encoder.compress(body) + encoder.flush()


def _deflate(body: bytes) -> bytes:
    return zlib.compress(body, RESPONSE_LEVEL)


EVENT_STREAM = "text/event-stream"
_COMPRESSORS: dict[str, Callable[[bytes], bytes]] = {"gzip": _gzip, "deflate": _deflate}
