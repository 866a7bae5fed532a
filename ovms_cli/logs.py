"""Log format and sinks: ``[time][thread][logger][level] message``, as OVMS prints (spec §1.6)."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

LEVELS = {
    "TRACE": 5,
    "DEBUG": logging.DEBUG,
    "INFO": logging.INFO,
    "WARNING": logging.WARNING,
    "ERROR": logging.ERROR,
}
FORMAT = "[%(asctime)s.%(msecs)03d][%(thread)d][%(name)s][%(levelname)s] %(message)s"


def configure(level: str = "INFO", path: Path | None = None) -> None:
    logging.addLevelName(LEVELS["TRACE"], "TRACE")
    formatter = logging.Formatter(FORMAT, datefmt="%Y-%m-%d %H:%M:%S")
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stdout)]
    if path is not None:
        handlers.append(logging.FileHandler(path))
    root = logging.getLogger("ovms")
    root.handlers.clear()
    for handler in handlers:
        handler.setFormatter(formatter)
        root.addHandler(handler)
    root.setLevel(LEVELS[level])
    root.propagate = False
