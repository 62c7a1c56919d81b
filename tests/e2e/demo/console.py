"""What the demo prints: a numbered banner per step and indented detail lines."""

from __future__ import annotations

import time

TOTAL_STEPS = 7
_STARTED = time.monotonic()


def step(number: int, text: str) -> None:
    """Announce step `number` of TOTAL_STEPS, with the time since the demo began."""
    elapsed = time.monotonic() - _STARTED
    print(f"\n==> [{number}/{TOTAL_STEPS}] {text}   (t+{elapsed:.0f}s)", flush=True)


def detail(text: str) -> None:
    """A line of detail under the current step."""
    for line in text.splitlines() or [""]:
        print(f"    {line}", flush=True)


def elapsed() -> float:
    """Seconds since the demo began."""
    return time.monotonic() - _STARTED
