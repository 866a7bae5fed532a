"""The commands of README.md's "Deploy" section, so the tests run the README's own lines."""

from __future__ import annotations

import shlex
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"


def deploy_commands(program: str, subcommand: str) -> list[list[str]]:
    """Every `PROGRAM SUBCOMMAND ...` line of the Deploy section's code blocks, split as a shell would."""
    section = README.read_text().split("\n## Deploy\n", 1)[1].split("\n## ", 1)[0]
    blocks = section.split("```bash\n")[1:]
    lines = [line for block in blocks for line in block.split("```", 1)[0].splitlines()]
    words = [shlex.split(line, comments=True) for line in lines]
    return [w for w in words if w[:2] == [program, subcommand]]
