"""Validation errors that name the field path on the wire, e.g.
`spec.trainer.parallelism.tensorParallel: 3 does not divide nodes x procsPerNode = 16`."""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import ValidationError
from pydantic_core import ErrorDetails, PydanticCustomError

CROSS_FIELD = "cross_field"


@dataclass(frozen=True)
class Violation:
    """One broken rule: where, and what is allowed."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class InvalidJobError(ValueError):
    """A job that the SDK (and the API server) would refuse, with every reason."""

    def __init__(self, violations: list[Violation]) -> None:
        self.violations = violations
        super().__init__("\n".join(str(v) for v in violations))


def cross_field_error(violations: list[tuple[str, str]]) -> PydanticCustomError:
    """A pydantic error carrying rules broken below the model being validated.

    Pydantic puts a model validator's error on the model itself; the relative paths
    travel in the context so that `from_validation_error` can name the exact field.
    """
    return PydanticCustomError(
        CROSS_FIELD,
        "; ".join(f"{path}: {message}" if path else message for path, message in violations),
        {"violations": violations},
    )


def _join(location: tuple[int | str, ...]) -> str:
    path = ""
    for part in location:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path


def _violations(error: ErrorDetails, prefix: tuple[int | str, ...]) -> list[Violation]:
    location = prefix + tuple(error["loc"])
    if error["type"] == CROSS_FIELD:
        return [
            Violation(_join(location + tuple(path.split("."))) if path else _join(location), message)
            for path, message in (error.get("ctx") or {})["violations"]
        ]
    if error["type"] == "extra_forbidden":
        return [Violation(_join(location), "unknown field; check its spelling and place in the spec reference")]
    message = error["msg"].removeprefix("Value error, ")
    return [Violation(_join(location), message)]


def from_validation_error(error: ValidationError, prefix: tuple[int | str, ...] = ()) -> InvalidJobError:
    """The pydantic error as violations named by their camelCase paths."""
    violations: list[Violation] = []
    for detail in error.errors():
        violations.extend(_violations(detail, prefix))
    return InvalidJobError(violations)
