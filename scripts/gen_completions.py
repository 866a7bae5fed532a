"""Write bash, zsh and fish completion scripts for `ovms` into completions/.

Run after changing the CLI:  python scripts/gen_completions.py
tests/test_completions.py fails when the committed scripts differ from what this writes.
"""

from __future__ import annotations

from pathlib import Path

from typer._completion_shared import get_completion_script

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "completions"
SHELLS = {"bash": "ovms.bash", "zsh": "_ovms", "fish": "ovms.fish"}


def scripts() -> dict[str, str]:
    return {
        filename: get_completion_script(prog_name="ovms", complete_var="_OVMS_COMPLETE", shell=shell)
        for shell, filename in SHELLS.items()
    }


def main() -> None:
    OUT.mkdir(exist_ok=True)
    for filename, text in scripts().items():
        (OUT / filename).write_text(text.rstrip("\n") + "\n")


if __name__ == "__main__":
    main()
