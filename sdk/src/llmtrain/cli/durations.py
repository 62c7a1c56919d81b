"""Durations on the command line (`90`, `90s`, `10m`, `2h`) and in tables (`5m`, `3h12m`)."""

from __future__ import annotations

import re
from datetime import datetime, timezone

import click

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


def short(seconds: float) -> str:
    """kubectl's compact form: 45s, 5m, 3h12m, 2d4h."""
    seconds = max(0, int(seconds))
    if seconds < 120:
        return f"{seconds}s"
    minutes, hours, days = seconds // 60, seconds // 3600, seconds // 86400
    if seconds < 600:
        return f"{minutes}m{seconds % 60}s" if seconds % 60 else f"{minutes}m"
    if hours < 3:
        return f"{hours}h{minutes % 60}m" if hours else f"{minutes}m"
    if days < 2:
        return f"{hours}h"
    return f"{days}d{hours % 24}h" if hours % 24 else f"{days}d"


def age(since: datetime | None, now: datetime | None = None) -> str:
    """How long ago `since` was, or <unknown>."""
    if since is None:
        return "<unknown>"
    now = now or datetime.now(timezone.utc)
    return short((now - since).total_seconds())
