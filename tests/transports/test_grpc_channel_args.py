"""--grpc_channel_arguments: OVMS's key=value grammar (grpc_channel_args)."""

import pytest

from ovms_cli.transports.grpc_channel_args import ChannelArgumentsError, merged, parse_channel_arguments


def test_integers_are_ints_and_other_values_strings() -> None:
    assert parse_channel_arguments(
        "grpc.max_connection_age_ms=2000, grpc.primary_user_agent = ovms/1 ,grpc.x=-3"
    ) == (
        ("grpc.max_connection_age_ms", 2000),
        ("grpc.primary_user_agent", "ovms/1"),
        ("grpc.x", -3),
    )


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "'' is not key=value"),
        ("grpc.a=1,", "'' is not key=value"),
        ("grpc.a", "'grpc.a' is not key=value"),
        ("grpc.a=", "'grpc.a=' is not key=value"),
        ("=1", "'=1' is not key=value"),
        (
            "max_connection_age_ms=1",
            "'max_connection_age_ms' is not a gRPC channel argument (they are named grpc.*)",
        ),
        ("grpc.a=1,grpc.a=2", "'grpc.a' is given twice"),
        (
            "grpc.max_receive_message_length=abc",
            "'grpc.max_receive_message_length' must be an integer, not 'abc'",
        ),
        ("grpc.keepalive_time_ms=1.5", "'grpc.keepalive_time_ms' must be an integer, not '1.5'"),
    ],
)
def test_malformed_text_is_refused_with_ovms_words(text: str, reason: str) -> None:
    with pytest.raises(ChannelArgumentsError) as raised:
        parse_channel_arguments(text)
    assert str(raised.value) == f"Grpc channel arguments passed in wrong format: {reason}"


def test_string_valued_keys_of_grpc_core_take_text() -> None:
    assert parse_channel_arguments("grpc.lb_policy_name=round_robin,grpc.default_authority=ovms") == (
        ("grpc.lb_policy_name", "round_robin"),
        ("grpc.default_authority", "ovms"),
    )


def test_given_arguments_replace_defaults_of_the_same_key_and_add_the_others() -> None:
    defaults: list[tuple[str, int | str]] = [("grpc.a", 1), ("grpc.b", 2)]
    assert merged(defaults, (("grpc.b", 20), ("grpc.c", 30))) == [
        ("grpc.a", 1),
        ("grpc.b", 20),
        ("grpc.c", 30),
    ]
