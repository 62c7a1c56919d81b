"""The LLMTrainingJob resource: metadata, spec and status, and its YAML form."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

import yaml
from pydantic import ConfigDict, Field, ValidationError, model_validator

from llmtrain.api.base import ApiModel
from llmtrain.api.errors import cross_field_error, from_validation_error
from llmtrain.api.rules import name_errors
from llmtrain.api.spec import LLMTrainingJobSpec
from llmtrain.api.status import LLMTrainingJobStatus

GROUP = "llmtrain.dev"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
KIND = "LLMTrainingJob"
PLURAL = "llmtrainingjobs"
SINGULAR = "llmtrainingjob"
SHORT_NAMES = ("ltj",)
CATEGORIES = ("llmtrain",)


class ObjectMeta(ApiModel):
    """The object metadata the SDK reads and writes; the server's other fields pass through."""

    model_config = ConfigDict(extra="allow")

    name: str = Field(min_length=1)
    """Job name; pods are named <name>-node-<rank>."""
    namespace: str | None = None
    """Namespace; the client's current namespace when unset."""
    labels: dict[str, str] | None = None
    """Labels of the job."""
    annotations: dict[str, str] | None = None
    """Annotations of the job."""
    uid: str | None = None
    """Set by the server."""
    resource_version: str | None = None
    """Set by the server."""
    generation: int | None = None
    """Set by the server."""
    creation_timestamp: datetime | None = None
    """Set by the server."""


class LLMTrainingJob(ApiModel):
    """A distributed training job: a gang of pods running torchrun, owned by the operator."""

    api_version: Literal["llmtrain.dev/v1alpha1"] = API_VERSION
    """llmtrain.dev/v1alpha1."""
    kind: Literal["LLMTrainingJob"] = KIND
    """LLMTrainingJob."""
    metadata: ObjectMeta
    """Name, namespace, labels and annotations."""
    spec: LLMTrainingJobSpec
    """What to run."""
    status: LLMTrainingJobStatus | None = None
    """What the operator observed."""

    @model_validator(mode="after")
    def _name_fits(self) -> LLMTrainingJob:
        errors = name_errors(self.metadata.name, self.spec)
        if errors:
            raise cross_field_error([("metadata.name", message) for message in errors])
        return self

    @classmethod
    def from_dict(cls, data: Any) -> LLMTrainingJob:
        """Validate a resource given as a dictionary; raises InvalidJobError naming each bad field."""
        try:
            return cls.model_validate(data)
        except ValidationError as error:
            raise from_validation_error(error) from None

    @classmethod
    def from_yaml(cls, text: str) -> LLMTrainingJob:
        """Validate a resource given as YAML (one document)."""
        return cls.from_dict(yaml.safe_load(text))
