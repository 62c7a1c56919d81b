"""Kubernetes resource quantities ("32", "400Gi", 8) as validated field types.

The grammar is k8s.io/apimachinery's resource.Quantity; on top of it each kind of amount
refuses what a pod would be refused for (or what would silently mean something else):
no amount is negative, and a memory size is never zero (a zero limit or sizeLimit means
"no limit" to the kubelet). The API server checks the same with CEL rules written here
next to the Python checks, with the same messages.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction
from typing import Annotated, Any

from pydantic import BeforeValidator, WithJsonSchema

# The grammar of k8s.io/apimachinery's resource.Quantity, as CRD generators publish it.
# The sign stays in the grammar so that "-1Gi" is refused by the rule that explains why.
QUANTITY_PATTERN = (
    r"^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|"
    r"([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$"
)
_QUANTITY = re.compile(QUANTITY_PATTERN)
QUANTITY_MAX_LENGTH = 64
"""Longer strings are no quantity anyone means; the bound also lets the API server cost the rules."""
INT64_MAX = 2**63 - 1

_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL = {
    "n": Fraction(1, 10**9),
    "u": Fraction(1, 10**6),
    "m": Fraction(1, 1000),
    "": Fraction(1),
    "k": Fraction(10**3),
    "M": Fraction(10**6),
    "G": Fraction(10**9),
    "T": Fraction(10**12),
    "P": Fraction(10**15),
    "E": Fraction(10**18),
}
_PARTS = re.compile(r"^([+-]?)([0-9]*\.?[0-9]*)(.*)$")


def quantity_value(text: str) -> Fraction:
    """The exact value of a quantity that matches the grammar, e.g. 1536Mi -> 1610612736."""
    match = _PARTS.match(text)
    assert match is not None and _QUANTITY.match(text), text
    sign, number, suffix = match.groups()
    value = Fraction(number)
    if suffix in _BINARY:
        value *= _BINARY[suffix]
    elif suffix in _DECIMAL:
        value *= _DECIMAL[suffix]
    else:  # an exponent: e3, E-2
        value *= Fraction(10) ** int(suffix[1:])
    return -value if sign == "-" else value


def is_whole_number(text: str) -> bool:
    """What the API server's quantity(...).isInteger() says: a whole number that fits int64."""
    value = quantity_value(text)
    return value.denominator == 1 and abs(value) <= INT64_MAX


@dataclass(frozen=True)
class QuantityKind:
    """One kind of amount: what an example of it looks like, and whether zero is allowed."""

    example: str
    """Completes "use ...", e.g. "a size such as 16Gi"."""
    allow_zero: bool = True
    zero_hint: str = ""

    def negative_message(self, text: str) -> str:
        return f'"{text}" is negative; use {self.example}'

    def zero_message(self, text: str) -> str:
        return f'"{text}" is zero{self.zero_hint}; use {self.example}, or leave the field out'

    def cel_rules(self) -> list[dict[str, str]]:
        """The `x-kubernetes-validations` of a field of this kind (self is an int or a string)."""
        # compareTo rather than sign(): the library declares sign as a global function,
        # though its documentation writes it as a method.
        value = "quantity(string(self)).compareTo(quantity('0'))"
        rules = [
            {
                "rule": f"!isQuantity(string(self)) || {value} >= 0",
                "message": f"must not be negative; use {self.example}",
                "messageExpression": f"'{_cel_quote(self.negative_message('%s'))}'.format([string(self)])",
            }
        ]
        if not self.allow_zero:
            rules.append(
                {
                    "rule": f"!isQuantity(string(self)) || {value} != 0",
                    "message": f"must not be zero; use {self.example}",
                    "messageExpression": f"'{_cel_quote(self.zero_message('%s'))}'.format([string(self)])",
                }
            )
        return rules

    def parse(self, value: Any) -> str:
        """The quantity as the string Kubernetes would print, or ValueError saying what is allowed."""
        if isinstance(value, float) and value.is_integer():
            value = int(value)  # 2.0 in YAML: the API server takes it as the integer 2
        if isinstance(value, bool) or not isinstance(value, (int, str)):
            raise ValueError(f"expected a quantity as a string or an integer, e.g. 32, 500m or 400Gi, got {value!r}")
        text = str(value)
        if len(text) > QUANTITY_MAX_LENGTH:
            raise ValueError(f"a quantity has at most {QUANTITY_MAX_LENGTH} characters; use {self.example}")
        if not _QUANTITY.match(text):
            raise ValueError(
                f"{text!r} is not a quantity; use a number with an optional suffix such as 500m, 16Gi or 2"
            )
        amount = quantity_value(text)
        if amount < 0:
            raise ValueError(self.negative_message(text))
        if amount == 0 and not self.allow_zero:
            raise ValueError(self.zero_message(text))
        return text

    def annotated(self) -> Any:
        """The field type: a string after validation, an int or a string on the wire."""
        return Annotated[
            str,
            BeforeValidator(self.parse),
            WithJsonSchema(
                {
                    "anyOf": [{"type": "integer"}, {"type": "string"}],
                    "pattern": QUANTITY_PATTERN,
                    "maxLength": QUANTITY_MAX_LENGTH,
                    "x-kubernetes-int-or-string": True,
                    "x-kubernetes-validations": list(self.cel_rules()),
                }
            ),
        ]


def _cel_quote(text: str) -> str:
    """Text for a single-quoted CEL string literal."""
    return text.replace("\\", "\\\\").replace("'", "\\'")


CPU = QuantityKind("a number of cores such as 4 or 500m")
SIZE = QuantityKind(
    "a size such as 16Gi",
    allow_zero=False,
    zero_hint=", which Kubernetes takes as no limit",
)
COUNT = QuantityKind("a count such as 1")

CpuQuantity = CPU.annotated()
"""CPU per pod: 0 or more cores, e.g. "32" or 500m."""
SizeQuantity = SIZE.annotated()
"""A memory size: more than zero, e.g. 400Gi."""
CountQuantity = COUNT.annotated()
"""An amount of an extended or other resource: 0 or more."""
Quantity = CountQuantity
"""Any non-negative quantity."""

QUANTITY_TYPES = (CpuQuantity, SizeQuantity, CountQuantity)
"""Every quantity field type, for the reference page."""
