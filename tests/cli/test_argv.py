"""OVMS's command lines in subcommand form (cli.argv)."""

import pytest

from ovms_cli.cli.argv import ArgvError, subcommand_form


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (
            ["--config_path", "c.json", "--port", "9000"],
            ["serve", "--config_path", "c.json", "--port", "9000"],
        ),
        (["--model_name", "m", "--model_path", "p"], ["serve", "--model_name", "m", "--model_path", "p"]),
        (["--version"], ["version"]),
        (["--help"], ["--help"]),
        (["serve", "--config_path", "c.json"], ["serve", "--config_path", "c.json"]),
        (["validate-config", "c.json"], ["validate-config", "c.json"]),
        (["--list_models", "--model_repository_path", "r"], ["list-models", "--model_repository_path", "r"]),
        (
            ["--add_to_config", "--config_path", "c.json", "--model_name", "m"],
            ["add-to-config", "--config_path", "c.json", "--model_name", "m"],
        ),
        (  # OVMS 2025.0/2025.1: the directive's value is the config
            ["--model_name", "m", "--add_to_config", "models", "--model_path", "p"],
            ["add-to-config", "--model_name", "m", "--model_path", "p", "--config_path", "models"],
        ),
        (
            ["--remove_from_config", "c.json", "--model_name", "m"],
            ["remove-from-config", "--model_name", "m", "--config_path", "c.json"],
        ),
        (["--model_name", "m", "--remove_from_config"], ["remove-from-config", "--model_name", "m"]),
    ],
)
def test_subcommand_form(argv: list[str], expected: list[str]) -> None:
    assert subcommand_form(argv) == expected


def test_the_version_flag_wins_over_other_options_as_in_ovms() -> None:
    assert subcommand_form(["--config_path", "c", "--version"]) == ["version"]
    assert subcommand_form(["bench", "--version", "2"]) == ["bench", "--version", "2"]  # bench's own


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["--add_to_config", "--list_models"],
            "error parsing options - --list_models cannot be used with --add_to_config",
        ),
        (
            ["--remove_from_config", "c", "--add_to_config"],
            "error parsing options - --add_to_config cannot be used with --remove_from_config",
        ),
    ],
)
def test_two_directives_are_refused(argv: list[str], message: str) -> None:
    with pytest.raises(ArgvError) as raised:
        subcommand_form(argv)
    assert str(raised.value) == message
