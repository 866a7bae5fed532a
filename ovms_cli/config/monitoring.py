"""Which metric families to serve: ``--metrics_enable``/``--metrics_list`` or config.json's
``monitoring.metrics`` (spec §2.8, §10.1), never both."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ovms_cli.metrics import MetricsConfigError, parse_families


class MonitoringError(ValueError):
    """The metrics settings cannot be used: the server does not start (exit 1)."""


def metrics_families(
    raw: Mapping[str, Any] | None, cli_enable: bool, cli_list: str, rest_port: int
) -> tuple[str, ...] | None:
    """The enabled families, or None when metrics are off.

    ``raw`` is the config file (already schema-checked), None in single-model mode.
    """
    section = None if raw is None else raw.get("monitoring")
    if section is not None and cli_enable:
        raise MonitoringError(
            "Configuration file is not in valid configuration format - "
            "monitoring is set both in the config file and by --metrics_enable"
        )
    if section is None:
        enable, names = cli_enable, cli_list.split(",")
    else:
        enable, names = bool(section["metrics"]["enable"]), list(section["metrics"].get("metrics_list", []))
    if not enable:
        return None
    if rest_port == 0:
        raise MonitoringError("rest_port setting is missing, metrics are enabled on rest port")
    try:
        return parse_families(names)
    except MetricsConfigError as error:
        raise MonitoringError(str(error)) from error
