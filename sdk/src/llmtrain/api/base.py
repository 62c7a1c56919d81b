"""The base class of every API model, and the cross-field rules the models carry.

Fields are snake_case in Python and camelCase on the wire, unknown fields are errors (a
typo must not silently drop a setting), and the docstring under each field becomes its
description in the generated CRD and docs.

A cross-field rule is written twice on purpose: as CEL for the API server and as Python
for the SDK, with one message. Both sides judge a rule only when the fields it reads are
themselves valid (the CEL rule carries a guard generated from the fields' bounds, the
Python check is skipped when it reads a field that failed), so that a job with a missing
field, a bad value and a broken rule gets all three reported at once, and by both sides
alike (`validate_partially`).
"""

from __future__ import annotations

import types
import typing
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Annotated, Any, ClassVar, Literal, Self

import annotated_types
import yaml
from pydantic import BaseModel, ConfigDict, JsonValue, TypeAdapter, ValidationError, model_validator
from pydantic.alias_generators import to_camel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticCustomError

from llmtrain.api.errors import CROSS_FIELD, Violation, cross_field_error, join_path


class CelRule(BaseModel):
    """A rule that the API server checks with CEL (`x-kubernetes-validations`).

    The message is written once here and raised by the Python twin (a `Rule`), so
    `llmtrain validate` and the API server say the same thing.
    """

    model_config = ConfigDict(frozen=True)

    rule: str
    message: str
    field_path: str | None = None
    message_expression: str | None = None
    reason: Literal["FieldValueRequired", "FieldValueForbidden", "FieldValueInvalid"] | None = None

    def to_schema(self, guard: str | None = None) -> dict[str, str]:
        """The `x-kubernetes-validations` entry; `guard` limits the rule to valid inputs."""
        rule = self.rule if guard is None else f"!({guard}) || ({self.rule})"
        entry = {"rule": rule, "message": self.message}
        if self.field_path is not None:
            entry["fieldPath"] = self.field_path
        if self.message_expression is not None:
            entry["messageExpression"] = self.message_expression
        if self.reason is not None:
            entry["reason"] = self.reason
        return entry


@dataclass(frozen=True)
class Rule:
    """A cross-field rule of one model: its CEL form and the Python check that mirrors it.

    `check` returns the error message when the rule is broken and None when it holds;
    `path` is the field the error names, relative to the model ("" for the model itself);
    `reads` are the wire paths (relative to the model) of the fields the rule reads: it
    is judged only when each of them is absent with a default, or present and valid.
    """

    cel: CelRule
    check: Callable[[Any], str | None]
    path: str = ""
    reads: tuple[str, ...] = ()

    @classmethod
    def holds(
        cls, cel: CelRule, predicate: Callable[[Any], bool], *, path: str = "", reads: tuple[str, ...] = ()
    ) -> Rule:
        """A rule whose message is always `cel.message`."""
        return cls(cel, lambda model: None if predicate(model) else cel.message, path, reads)


_PARTIAL: ContextVar[bool] = ContextVar("llmtrain_partial_validation", default=False)
"""True while rules are judged over a partly valid job, whose bad fields are missing."""


def _add_rules_to_schema(schema: dict[str, JsonValue], model: type[Any]) -> None:
    entries: list[JsonValue] = [
        dict(rule.cel.to_schema(cel_guard(model, rule.reads) if rule.reads else None)) for rule in model.rules
    ]
    if entries:
        schema["x-kubernetes-validations"] = entries


class ApiModel(BaseModel):
    """A section of the LLMTrainingJob resource."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        use_attribute_docstrings=True,
        validate_assignment=True,
        json_schema_extra=_add_rules_to_schema,
    )

    rules: ClassVar[tuple[Rule, ...]] = ()
    """The model's cross-field rules; the CRD gets their CEL, validation runs their checks."""

    @model_validator(mode="after")
    def _rules_hold(self) -> Self:
        broken = broken_rules(self)
        if broken:
            raise cross_field_error(broken)
        return self

    def to_wire(self, *, defaults: bool = False) -> dict[str, Any]:
        """The camelCase dictionary the API server takes.

        Without `defaults` only the fields that were set are written, so a file read and
        written again keeps its own shape; with it every default is spelled out, which is
        what the operator and the trainer act on.
        """
        return self.model_dump(mode="json", by_alias=True, exclude_none=True, exclude_unset=not defaults)

    def to_yaml(self, *, defaults: bool = False) -> str:
        """The resource as YAML, for `kubectl apply -f -`."""
        return yaml.safe_dump(self.to_wire(defaults=defaults), sort_keys=False)


def cel_rules(*rules: CelRule) -> ConfigDict:
    """Model settings for CEL rules without a Python twin (prefer `rules = (Rule(...), ...)`)."""

    def add(schema: dict[str, JsonValue], model: type[Any]) -> None:
        _add_rules_to_schema(schema, model)
        entries = schema.setdefault("x-kubernetes-validations", [])
        assert isinstance(entries, list)
        entries.extend(dict(rule.to_schema()) for rule in rules)

    return ConfigDict(json_schema_extra=add)


# --- judging rules --------------------------------------------------------------------


def _field(model: type[BaseModel], wire_name: str) -> tuple[str, FieldInfo]:
    for name, field in model.model_fields.items():
        if (field.alias or name) == wire_name:
            return name, field
    raise KeyError(f"{model.__name__} has no field {wire_name!r}")


def _read(model: BaseModel, path: str) -> None:
    """Read the field at the wire `path`; AttributeError when it (or a section on the way) is unusable."""
    node: Any = model
    for part in path.split("."):
        if node is None:
            return  # an optional section left out: its defaults apply
        name, _ = _field(type(node), part)
        node = getattr(node, name)


def broken_rules(model: BaseModel) -> list[tuple[str, str]]:
    """(path, message) of each rule of the model that is broken.

    While a partly valid job is judged (`validate_partially`), a rule that reads a field
    that failed validation, or a required field that is missing, is skipped: nothing can
    be said about it until that field is fixed.
    """
    broken = []
    for rule in type(model).rules if isinstance(model, ApiModel) else ():
        try:
            for path in rule.reads:
                _read(model, path)
            message = rule.check(model)
        except AttributeError:
            if not _PARTIAL.get():
                raise
            continue
        if message is not None:
            broken.append((rule.path, message))
    return broken


@contextmanager
def _partially() -> Iterator[None]:
    token = _PARTIAL.set(True)
    try:
        yield
    finally:
        _PARTIAL.reset(token)


_ADAPTERS: dict[tuple[type[BaseModel], str], TypeAdapter[Any]] = {}


def _adapter(model: type[BaseModel], name: str) -> TypeAdapter[Any]:
    key = (model, name)
    if key not in _ADAPTERS:
        field = model.model_fields[name]
        annotation: Any = field.annotation
        _ADAPTERS[key] = TypeAdapter(Annotated[annotation, *field.metadata] if field.metadata else annotation)
    return _ADAPTERS[key]


def _section_model(annotation: Any) -> type[ApiModel] | None:
    """The ApiModel of a field typed `Model` or `Model | None`."""
    if isinstance(annotation, type) and issubclass(annotation, ApiModel):
        return annotation
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        models = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
        if len(models) == 1:
            return _section_model(models[0])
    return None


def _partial(
    model: type[BaseModel], data: Mapping[str, Any], location: tuple[int | str, ...]
) -> tuple[BaseModel, list[Violation]]:
    """An instance holding the valid fields of `data` (bad and missing required ones left
    out, so reading them raises AttributeError), and the rules broken in it and below."""
    values: dict[str, Any] = {}
    unusable: list[str] = []
    violations: list[Violation] = []
    for name, field in model.model_fields.items():
        wire = field.alias or name
        if wire in data:
            raw = data[wire]
        elif name in data:
            raw = data[name]
        else:
            if field.is_required():
                unusable.append(name)
            continue
        section = _section_model(field.annotation)
        if section is not None and isinstance(raw, Mapping):
            values[name], below = _partial(section, raw, (*location, wire))
            violations.extend(below)
            continue
        try:
            values[name] = _adapter(model, name).validate_python(raw)
        except ValidationError:
            unusable.append(name)
    instance = model.model_construct(**values)
    for name in unusable:
        instance.__dict__.pop(name, None)
    violations.extend(_judge(instance, location))
    return instance, violations


def _judge(instance: BaseModel, location: tuple[int | str, ...]) -> list[Violation]:
    """Run every after-validator of a partly valid model, skipping those that read a bad field."""
    violations = []
    for decorator in type(instance).__pydantic_decorators__.model_validators.values():
        if decorator.info.mode != "after":
            continue
        try:
            getattr(instance, decorator.cls_var_name)()
        except PydanticCustomError as error:
            if error.type == CROSS_FIELD:
                for path, message in (error.context or {})["violations"]:
                    violations.append(
                        Violation(
                            join_path(location + tuple(path.split("."))) if path else join_path(location), message
                        )
                    )
            else:
                violations.append(Violation(join_path(location), error.message()))
        except AttributeError:
            continue  # it reads a field that is bad or missing
        except (ValueError, AssertionError) as error:
            violations.append(Violation(join_path(location), str(error)))
    return violations


def validate_partially(model: type[BaseModel], data: Any) -> list[Violation]:
    """The cross-field rules broken in `data`, judged wherever the fields they read are valid.

    Pydantic runs a model's rules only when every field of it is valid; this runs them
    over what is valid, so that one pass reports every problem that can be known.
    """
    if not isinstance(data, Mapping):
        return []
    with _partially():
        return _partial(model, data, ())[1]


# --- CEL guards -----------------------------------------------------------------------


def _cel_literal(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, str):
        return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
    if isinstance(value, float):
        return repr(value) if "." in repr(value) or "e" in repr(value) else f"{value}.0"
    return str(value)


def _unwrap(annotation: Any) -> tuple[Any, list[Any]]:
    """The type without None and Annotated, and the Annotated metadata met on the way."""
    metadata: list[Any] = []
    while True:
        origin = typing.get_origin(annotation)
        if origin is Annotated:
            metadata.extend(annotation.__metadata__)
            annotation = typing.get_args(annotation)[0]
        elif origin in (typing.Union, types.UnionType):
            args = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
            if len(args) != 1:
                return annotation, metadata
            annotation = args[0]
        else:
            return annotation, metadata


def _constraints(field: FieldInfo, value: str) -> list[str]:
    """CEL conditions that hold when `value` (a present field) passes the field's own checks."""
    annotation, metadata = _unwrap(field.annotation)
    conditions = []
    floating = annotation is float
    for item in [*field.metadata, *metadata]:
        for attribute, operator in (("ge", ">="), ("gt", ">"), ("le", "<="), ("lt", "<")):
            bound = getattr(item, attribute, None)
            if (
                isinstance(item, (annotated_types.Ge, annotated_types.Gt, annotated_types.Le, annotated_types.Lt))
                and bound is not None
            ):
                conditions.append(f"{value} {operator} {_cel_literal(float(bound) if floating else bound)}")
        if isinstance(item, annotated_types.MinLen):
            conditions.append(f"size({value}) >= {item.min_length}")
        elif isinstance(item, annotated_types.MaxLen):
            conditions.append(f"size({value}) <= {item.max_length}")
        pattern = getattr(item, "pattern", None)
        if isinstance(pattern, str):
            conditions.append(f"{value}.matches({_cel_literal(pattern)})")
    if typing.get_origin(annotation) is Literal:
        choices = ", ".join(_cel_literal(choice) for choice in typing.get_args(annotation))
        conditions.append(f"{value} in [{choices}]")
    return conditions


def _path_guard(model: type[BaseModel], parts: Sequence[str], parent: str) -> str:
    _name, field = _field(model, parts[0])
    value = f"{parent}.{parts[0]}"
    conditions = _constraints(field, value)
    if len(parts) > 1:
        section = _section_model(field.annotation)
        if section is None:
            raise TypeError(f"{model.__name__}.{parts[0]} is not a section; a rule cannot read below it")
        below = _path_guard(section, parts[1:], value)
        if below != "true":
            conditions.append(below)
    body = " && ".join(conditions)
    if field.is_required():
        return f"(has({value}) && {body})" if body else f"has({value})"
    return f"(!has({value}) || {body})" if body else "true"


def cel_guard(model: type[BaseModel], reads: Sequence[str]) -> str:
    """CEL that is true when every field at `reads` (wire paths relative to `model`) is
    absent with a default, or present and within its own bounds: the inputs a rule may judge.

    The API server runs CEL rules even where a minimum or a pattern failed, and a missing
    required field makes a rule fail to evaluate; the guard keeps each rule to what the
    Python check sees (`broken_rules`).
    """
    guards = [_path_guard(model, path.split("."), "self") for path in reads]
    return " && ".join(guard for guard in guards if guard != "true") or "true"
