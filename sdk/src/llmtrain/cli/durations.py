"""Durations on the command line (`90`, `90s`, `10m`, `2h`) and ages in tables (`5m`, `3h12m`)."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import click

from llmtrain.api.status import format_duration

UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


class Duration(click.ParamType[float]):
    """Seconds, written with an optional unit: s, m, h or d."""

    name = "duration"

    def convert(self, value: object, param: click.Parameter | None, ctx: click.Context | None) -> float:
        if isinstance(value, (int, float)):
            return float(value)
        match = re.fullmatch(r"(\d+(?:\.\d+)?)([smhd]?)", str(value).strip())
        if match is None:
            self.fail(f"{value!r} is not a duration like 90s, 10m or 2h", param, ctx)
        return float(match.group(1)) * UNITS[match.group(2) or "s"]


def age(since: datetime | None, now: datetime | None = None) -> str:
    """How long ago `since` was, or <unknown>."""
    if since is None:
        return "<unknown>"
    now = now or datetime.now(UTC)
    return format_duration((now - since).total_seconds())
