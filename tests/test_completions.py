"""The committed completion scripts are what the generator writes, and they complete for real."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

import gen_completions  # noqa: E402


@pytest.mark.parametrize(("filename", "text"), sorted(gen_completions.scripts().items()))
def test_committed_scripts_are_up_to_date(filename: str, text: str) -> None:
    committed = (ROOT / "completions" / filename).read_text()
    assert committed == text.rstrip("\n") + "\n", (
        f"run python scripts/gen_completions.py ({filename} is stale)"
    )


def _complete(words: str, cword: int) -> list[str]:
    env = {**os.environ, "_OVMS_COMPLETE": "complete_bash", "COMP_WORDS": words, "COMP_CWORD": str(cword)}
    done = subprocess.run(
        [sys.executable, "-m", "ovms_cli"], env=env, capture_output=True, text=True, check=True, timeout=60
    )
    return done.stdout.split()


def test_bash_completion_offers_commands_and_ovms_spelled_options() -> None:
    assert "validate-config" in _complete("ovms va", 1)
    assert {"--rest_port", "--rest_bind_address"} <= set(_complete("ovms serve --rest", 2))


@pytest.mark.skipif(shutil.which("bash") is None, reason="bash is not installed")
def test_the_bash_script_registers_a_completion_function() -> None:
    script = ROOT / "completions" / "ovms.bash"
    done = subprocess.run(
        ["bash", "-c", f"source {script} && complete -p ovms"], capture_output=True, text=True, check=True
    )
    assert "_ovms_completion" in done.stdout
