"""The LLMTrainingJob resource: metadata, spec and status, and its YAML form."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Literal, Unpack

import yaml
from pydantic import ConfigDict, Field, ValidationError

from llmtrain import builders
from llmtrain.api.base import ApiModel, validate_partially
from llmtrain.api.errors import from_validation_error
from llmtrain.api.rules import NAME_RULES
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

    rules = NAME_RULES

    api_version: Literal["llmtrain.dev/v1alpha1"] = "llmtrain.dev/v1alpha1"
    """llmtrain.dev/v1alpha1."""
    kind: Literal["LLMTrainingJob"] = "LLMTrainingJob"
    """LLMTrainingJob."""
    metadata: ObjectMeta
    """Name, namespace, labels and annotations."""
    spec: LLMTrainingJobSpec
    """What to run."""
    status: LLMTrainingJobStatus | None = None
    """What the operator observed."""

    @classmethod
    def from_dict(cls, data: Any) -> LLMTrainingJob:
        """Validate a resource given as a dictionary; raises InvalidJobError naming each bad field.

        Every problem is reported at once: each field that is missing or wrong, and each
        cross-field rule that can be judged from the fields that are valid (a rule that
        reads a bad field waits until that field is fixed).
        """
        try:
            return cls.model_validate(data)
        except ValidationError as error:
            raise from_validation_error(error, also=validate_partially(cls, data), model=cls) from None

    @classmethod
    def from_yaml(cls, text: str) -> LLMTrainingJob:
        """Validate a resource given as YAML (one document)."""
        return cls.from_dict(yaml.safe_load(text))

    @classmethod
    def pretrain(
        cls,
        name: str,
        *,
        data: str | Sequence[str],
        model: str = "llama-1b",
        nodes: int = 1,
        gpus: int = 8,
        **options: Unpack[builders.TrainerOptions],
    ) -> LLMTrainingJob:
        """Pretrain `model` (a preset such as llama-1b, or a Hugging Face directory's architecture) on `data`.

        With gpus=0 the job runs on CPUs (fp32, DDP over gloo, no torch.compile).
        """
        return cls.from_dict(builders.pretrain(name, data=data, model=model, nodes=nodes, gpus=gpus, options=options))

    @classmethod
    def finetune(
        cls,
        name: str,
        *,
        model: str,
        data: str | Sequence[str],
        nodes: int = 1,
        gpus: int = 8,
        **options: Unpack[builders.TrainerOptions],
    ) -> LLMTrainingJob:
        """Fine-tune `model` (a Hugging Face directory or a preset) on `data`: SFT for prompt/response .jsonl files."""
        return cls.from_dict(builders.finetune(name, model=model, data=data, nodes=nodes, gpus=gpus, options=options))

    @classmethod
    def custom(
        cls,
        name: str,
        image: str,
        command: Sequence[str],
        *,
        nodes: int = 1,
        gpus: int = 8,
        **options: Unpack[builders.CustomOptions],
    ) -> LLMTrainingJob:
        """Run your own script from your own image as `torchrun <command...>` on every node."""
        return cls.from_dict(builders.custom(name, image=image, command=command, nodes=nodes, gpus=gpus, options=options))
