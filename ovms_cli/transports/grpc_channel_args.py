"""``--grpc_channel_arguments``: gRPC server channel arguments in OVMS's grammar (spec §1.2).

``key=value,key=value``, e.g. ``grpc.max_connection_age_ms=2000,grpc.max_receive_message_length=1000``.
A value that reads as an integer is passed as an int. Only the string-valued keys of gRPC core
(``STRING_VALUED``, from grpc/impl/channel_arg_names.h) take other text: gRPC reads an integer key
given a string as unset and falls back to its default (``grpc.max_receive_message_length=abc``
would leave the 4 MB limit in place), so such a value is refused. Keys must be
gRPC core's (``grpc.``-prefixed): gRPC ignores keys it does not know, so a typo would otherwise be
dropped without a word. The arguments are given to ``grpc.aio.server`` after the server's own, and
override those of the same key.
"""

from __future__ import annotations

import re

ChannelArgument = tuple[str, int | str]

WRONG_FORMAT = "Grpc channel arguments passed in wrong format"
_INTEGER = re.compile(r"[+-]?\d+")
_KEY = re.compile(r"grpc\.[A-Za-z0-9_.\-]+")

# The keys gRPC core documents as string valued (grpc/impl/channel_arg_names.h); every other key
# is an integer (or boolean 0/1) or a pointer that cannot be given as text.
STRING_VALUED = frozenset(
    {
        "grpc.address_http_proxy",
        "grpc.address_http_proxy_enabled_addresses",
        "grpc.channel_pooling_domain",
        "grpc.default_authority",
        "grpc.http2_scheme",
        "grpc.http_proxy",
        "grpc.lb_policy_name",
        "grpc.optimization_target",
        "grpc.primary_user_agent",
        "grpc.secondary_user_agent",
        "grpc.service_config",
        "grpc.ssl_target_name_override",
    }
)


class ChannelArgumentsError(ValueError):
    """The option's text does not follow the grammar; the message starts with OVMS's."""


def parse_channel_arguments(text: str) -> tuple[ChannelArgument, ...]:
    """``(key, int | str)`` pairs in the order given. Raises ``ChannelArgumentsError``."""
    arguments: dict[str, int | str] = {}
    for item in text.split(","):
        key, separator, value = (part.strip() for part in item.partition("="))
        if not separator or not key or not value:
            raise ChannelArgumentsError(f"{WRONG_FORMAT}: {item.strip()!r} is not key=value")
        if not _KEY.fullmatch(key):
            raise ChannelArgumentsError(
                f"{WRONG_FORMAT}: {key!r} is not a gRPC channel argument (they are named grpc.*)"
            )
        if key in arguments:
            raise ChannelArgumentsError(f"{WRONG_FORMAT}: {key!r} is given twice")
        arguments[key] = _typed(key, value)
    return tuple(arguments.items())


def merged(defaults: list[ChannelArgument], given: tuple[ChannelArgument, ...]) -> list[ChannelArgument]:
    """``defaults`` with the ``given`` arguments replacing those of the same key, then the others."""
    chosen = dict(given)
    return [(key, chosen.pop(key, value)) for key, value in defaults] + list(chosen.items())


def _typed(key: str, value: str) -> int | str:
    if _INTEGER.fullmatch(value):
        return int(value)
    if key in STRING_VALUED:
        return value
    raise ChannelArgumentsError(f"{WRONG_FORMAT}: {key!r} must be an integer, not {value!r}")
