"""Which servable names every API can reach: the rule for model, pipeline and MediaPipe graph names.

A name is served over gRPC and over both REST APIs, so it must fit the narrowest URL grammar:

* no ``/``: the name is one path segment of ``/v2/models/{name}`` and ``/v1/models/{name}``, and OVMS
  routes it with ``[^/:]+`` (spec §4.1). Percent-encoding does not help: ``tritonclient.http`` quotes
  names with ``urllib.parse.quote``, which leaves ``/`` as is, and ASGI servers decode ``%2F`` before
  routing, so ``org/add`` would need a URL no client sends.
* no ``:``: ``/v1/models/{name}:predict`` ends the name at ``:`` (spec §4.1 ``[^/:]+``).
* no ``?`` or ``#``: ``ovmsclient``'s HTTP client puts the name into the URL without
  percent-encoding it, so the query or fragment would start there (``POST /v1/models`` with
  ``a?b``); where OVMS and a client disagree, the client wins.
* not ``.`` or ``..``: clients remove dot segments from URLs (RFC 3986 §5.2.4) and OVMS refuses
  an escaping path (spec §4.1); not empty.

Every other character is reachable: the clients send it (percent-encoded by tritonclient) and the
server decodes it.
Version numbers need no rule here: folders are read as integers of 1 to 2**63-1 (spec §3.2),
which ``/versions/(\\d+)`` reaches.
"""

from __future__ import annotations

FORBIDDEN_CHARACTERS = "/:?#"
DOT_SEGMENTS = (".", "..")


def name_problem(name: str) -> str | None:
    """Why ``name`` cannot be a servable name, or None when every API reaches it."""
    if not name:
        return "must not be empty"
    if name in DOT_SEGMENTS:
        return f'must not be "{name}": URLs drop it as a dot segment, so no REST URL reaches it'
    found = sorted({c for c in name if c in FORBIDDEN_CHARACTERS})
    if found:
        shown = " or ".join(f'"{c}"' for c in found)
        return (
            f"must not contain {shown}: no REST URL reaches the name {name!r} (a name is one URL path "
            'segment, TFS REST ends it at ":", and ovmsclient sends "?" and "#" unencoded)'
        )
    return None
