"""OVMS's own command line, rewritten into this CLI's subcommand form before parsing.

OVMS has no subcommands: ``ovms --config_path c.json --port 9000`` serves, ``ovms --version``
prints versions and the config directives of OVMS 2025 (``--list_models``, ``--add_to_config``,
``--remove_from_config``) select a one-shot mode. Documents, Helm charts and scripts written for
OVMS call it that way, so such a command line becomes ``ovms serve ...``, ``ovms version``,
``ovms list-models ...``, ``ovms add-to-config ...`` or ``ovms remove-from-config ...``.

``--add_to_config`` and ``--remove_from_config`` took the config file (or its folder) as their value
in OVMS 2025.0/2025.1 and are flags with ``--config_path`` since 2025.2; both spellings work.
"""

from __future__ import annotations

DIRECTIVES = {
    "--list_models": "list-models",
    "--add_to_config": "add-to-config",
    "--remove_from_config": "remove-from-config",
}
HELP_FLAGS = ("--help", "-h", "--install-completion", "--show-completion")


class ArgvError(Exception):
    """Directives that exclude each other; the message is OVMS's."""


def subcommand_form(argv: list[str]) -> list[str]:
    """``argv`` (without the program name) in subcommand form; other command lines unchanged.

    Raises ``ArgvError`` when two directives are combined (OVMS: exit 64).
    """
    if not argv or not argv[0].startswith("-") or argv[0] in HELP_FLAGS:
        return argv
    if "--version" in argv:  # OVMS prints its versions whatever else is given
        return ["version"]
    given = [flag for flag in DIRECTIVES if flag in argv]
    if len(given) > 1:
        first, second = sorted(given, key=_directive_order)
        raise ArgvError(f"error parsing options - {first} cannot be used with {second}")
    if not given:
        return ["serve", *argv]
    return [DIRECTIVES[given[0]], *_directive_value_as_config_path(argv, given[0])]


def _directive_order(flag: str) -> int:
    """OVMS names --list_models first, then --add_to_config's or --remove_from_config's conflict."""
    return 0 if flag == "--list_models" else 1


def _directive_value_as_config_path(argv: list[str], flag: str) -> list[str]:
    """Drop the directive; a value after it (OVMS 2025.0/2025.1) becomes ``--config_path VALUE``."""
    index = argv.index(flag)
    rest = argv[:index] + argv[index + 1 :]
    has_value = flag != "--list_models" and index + 1 < len(argv) and not argv[index + 1].startswith("-")
    if not has_value:
        return rest
    value = rest.pop(index)
    return [*rest, "--config_path", value]
