"""Validation errors that name the field path on the wire, e.g.
`spec.trainer.parallelism.tensorParallel: 3 does not divide nodes x procsPerNode = 16`."""

from __future__ import annotations

import types
import typing
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError
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


def _unwrap(annotation: Any) -> Any:
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
        elif origin in (typing.Union, types.UnionType):
            args = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
            if len(args) != 1:
                return None
            annotation = args[0]
        else:
            return annotation


def _below(annotation: Any, part: int | str) -> tuple[bool, Any]:
    """Whether `part` is a map key below a value of type `annotation`, and the type it leads to."""
    annotation = _unwrap(annotation)
    origin = typing.get_origin(annotation)
    if origin is dict:
        return True, typing.get_args(annotation)[1]
    if origin in (list, tuple):
        return False, typing.get_args(annotation)[0] if typing.get_args(annotation) else None
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        for name, field in annotation.model_fields.items():
            if part in (field.alias, name):
                return False, field.annotation
    return False, None


def join_path(location: tuple[int | str, ...], model: type[BaseModel] | None = None) -> str:
    """`("spec", "env", 0, "name")` as `spec.env[0].name`; with the `model` the location
    starts at, map keys are written as Kubernetes writes them: `spec.resources.extra[rdma/ib]`."""
    path = ""
    annotation: Any = model
    for part in location:
        key, annotation = _below(annotation, part) if annotation is not None else (False, None)
        if isinstance(part, int) or key:
            path += f"[{part}]"
        else:
            path += f".{part}" if path else str(part)
    return path


def _violations(error: ErrorDetails, prefix: tuple[int | str, ...], model: type[BaseModel] | None) -> list[Violation]:
    location = prefix + tuple(error["loc"])
    if error["type"] == CROSS_FIELD:
        return [
            Violation(
                join_path(location + tuple(path.split(".")), model) if path else join_path(location, model), message
            )
            for path, message in (error.get("ctx") or {})["violations"]
        ]
    if error["type"] == "extra_forbidden":
        return [
            Violation(join_path(location, model), "unknown field; check its spelling and place in the spec reference")
        ]
    message = error["msg"].removeprefix("Value error, ")
    return [Violation(join_path(location, model), message)]


def from_validation_error(
    error: ValidationError,
    prefix: tuple[int | str, ...] = (),
    also: Iterable[Violation] = (),
    model: type[BaseModel] | None = None,
) -> InvalidJobError:
    """The pydantic error as violations named by their camelCase paths, followed by the
    violations in `also` that it does not hold already (rules judged over the valid part).
    `model` is the model validated (with no `prefix`), for naming map keys."""
    violations: list[Violation] = []
    for detail in error.errors():
        violations.extend(_violations(detail, prefix, model if not prefix else None))
    for violation in also:
        if prefix:
            violation = Violation(
                join_path((*prefix, violation.path)) if violation.path else join_path(prefix), violation.message
            )
        violations.append(violation)
    return InvalidJobError(list(dict.fromkeys(violations)))


def one_line(error: ValidationError, model: type[BaseModel] | None = None) -> str:
    """The pydantic error as one line for a status message or a log: `path: message; ...`,
    with the same camelCase paths and messages as `from_validation_error`."""
    return "; ".join(str(violation) for violation in from_validation_error(error, model=model).violations)
