"""Durations typed on the command line and shown in tables."""

from __future__ import annotations

import click
import pytest

from llmtrain.api.status import format_duration
from llmtrain.cli.durations import Duration


@pytest.mark.parametrize(("text", "seconds"), [("90", 90), ("90s", 90), ("1.5m", 90), ("2h", 7200), ("1d", 86400)])
def test_durations_parse(text: str, seconds: float) -> None:
    assert Duration().convert(text, None, None) == seconds


def test_a_bad_duration_is_a_usage_error() -> None:
    with pytest.raises(click.BadParameter, match="not a duration"):
        Duration().convert("soon", None, None)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(5, "5s"), (119, "119s"), (150, "2m30s"), (300, "5m"), (4000, "1h6m"), (4 * 3600, "4h"), (50 * 3600, "2d2h")],
)
def test_ages_are_as_compact_as_kubectls(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text
