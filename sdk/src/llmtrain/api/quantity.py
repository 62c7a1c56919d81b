"""Kubernetes resource quantities ("32", "400Gi", 8) as a validated field type."""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import BeforeValidator, WithJsonSchema

# The grammar of k8s.io/apimachinery's resource.Quantity, as CRD generators publish it.
QUANTITY_PATTERN = (
    r"^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|"
    r"([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$"
)
_QUANTITY = re.compile(QUANTITY_PATTERN)


def _parse_quantity(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValueError(f"expected a quantity such as 32, 500m or 400Gi, got {value!r}")
    text = str(value)
    if not _QUANTITY.match(text):
        raise ValueError(f"{text!r} is not a quantity; use a number with an optional suffix such as 500m, 16Gi or 2")
    return text


Quantity = Annotated[
    str,
    BeforeValidator(_parse_quantity),
    WithJsonSchema(
        {
            "anyOf": [{"type": "integer"}, {"type": "string"}],
            "pattern": QUANTITY_PATTERN,
            "x-kubernetes-int-or-string": True,
        }
    ),
]
"""A resource quantity; written as the string Kubernetes would print."""
