"""Kubernetes resource quantities ("500m", "4Gi", "1e3") as exact fractions."""

from __future__ import annotations

import math
import re
from fractions import Fraction

_SUFFIXES = {
    "n": Fraction(1, 10**9), "u": Fraction(1, 10**6), "m": Fraction(1, 1000), "": Fraction(1),
    "k": Fraction(10**3), "M": Fraction(10**6), "G": Fraction(10**9), "T": Fraction(10**12),
    "P": Fraction(10**15), "E": Fraction(10**18),
    "Ki": Fraction(2**10), "Mi": Fraction(2**20), "Gi": Fraction(2**30), "Ti": Fraction(2**40),
    "Pi": Fraction(2**50), "Ei": Fraction(2**60),
}  # fmt: skip
_PATTERN = re.compile(r"^([+-]?[0-9.]+(?:[eE][+-]?[0-9]+)?)([a-zA-Z]*)$")


def parse(quantity: str | int | float) -> Fraction:
    """The value of a quantity, e.g. parse("1500m") == Fraction(3, 2)."""
    match = _PATTERN.match(str(quantity).strip())
    if not match or match.group(2) not in _SUFFIXES:
        raise ValueError(f"not a quantity: {quantity!r}")
    return Fraction(match.group(1)) * _SUFFIXES[match.group(2)]


def divide_up(quantity: str, divisor: str | None) -> str:
    """`quantity / divisor` rounded up, as the downward API reports resources (the API
    server defaults an unset divisor to "0", which means 1)."""
    return str(math.ceil(parse(quantity) / (parse(divisor or "1") or 1)))
