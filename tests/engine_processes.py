"""Finding a process's OpenVINO GenAI engine processes through /proc (no psutil)."""

from __future__ import annotations

from pathlib import Path

ENGINE_MODULE = b"ovms_cli.servables.generative.engine_process"


def descendants(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            found += [int(child), *descendants(int(child))]
    return found


def alive(pid: int) -> bool:
    """Running: a zombie (exited, not yet reaped) is not."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state not in ("Z", "X")


def engines(pid: int) -> list[int]:
    """The running engine processes among ``pid``'s descendants."""
    found = []
    for child in descendants(pid):
        try:
            if alive(child) and ENGINE_MODULE in Path(f"/proc/{child}/cmdline").read_bytes():
                found.append(child)
        except FileNotFoundError:
            continue
    return found


def parent(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[2])
