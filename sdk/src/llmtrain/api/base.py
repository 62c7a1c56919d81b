"""The base class of every API model.

Fields are snake_case in Python and camelCase on the wire, unknown fields are errors (a
typo must not silently drop a setting), and the docstring under each field becomes its
description in the generated CRD and docs.
"""

from __future__ import annotations

from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, JsonValue
from pydantic.alias_generators import to_camel


class ApiModel(BaseModel):
    """A section of the LLMTrainingJob resource."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        use_attribute_docstrings=True,
        validate_assignment=True,
    )

    def to_wire(self, *, defaults: bool = False) -> dict[str, Any]:
        """The camelCase dictionary the API server takes.

        Without `defaults` only the fields that were set are written, so a file read and
        written again keeps its own shape; with it every default is spelled out, which is
        what the operator and the trainer act on.
        """
        return self.model_dump(
            mode="json", by_alias=True, exclude_none=True, exclude_unset=not defaults
        )

    def to_yaml(self, *, defaults: bool = False) -> str:
        """The resource as YAML, for `kubectl apply -f -`."""
        return yaml.safe_dump(self.to_wire(defaults=defaults), sort_keys=False)


class CelRule(BaseModel):
    """A cross-field rule that the API server checks with CEL and Python checks too.

    The message is written once here and raised by the Python check, so `llmtrain
    validate` and the API server say the same thing.
    """

    model_config = ConfigDict(frozen=True)

    rule: str
    message: str
    field_path: str | None = None
    message_expression: str | None = None

    def to_schema(self) -> dict[str, str]:
        """The `x-kubernetes-validations` entry."""
        entry = {"rule": self.rule, "message": self.message}
        if self.field_path is not None:
            entry["fieldPath"] = self.field_path
        if self.message_expression is not None:
            entry["messageExpression"] = self.message_expression
        return entry


def cel_rules(*rules: CelRule) -> ConfigDict:
    """Model settings that attach the rules to the model's schema in the CRD."""
    entries: list[JsonValue] = [dict(rule.to_schema()) for rule in rules]
    return ConfigDict(json_schema_extra={"x-kubernetes-validations": entries})
