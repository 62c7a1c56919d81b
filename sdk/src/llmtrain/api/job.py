"""The LLMTrainingJob resource: metadata, spec and status, the rules on its name, and its YAML form."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Literal, Unpack

import yaml
from pydantic import ConfigDict, Field, ValidationError

from llmtrain import builders
from llmtrain.api.base import ApiModel, CelRule, Rule, validate_partially
from llmtrain.api.errors import from_validation_error
from llmtrain.api.names import DNS_1035_LABEL, DNS_LABEL_MAX, POD_NAME_SUFFIX
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


# Rules on the whole object: only there can CEL see metadata.name.
_HIGHEST_RANK = (
    "((has(self.spec.elastic) ? self.spec.elastic.maxNodes : (has(self.spec.nodes) ? self.spec.nodes : 1)) - 1)"
)
_NAME_BUDGET = f"({DNS_LABEL_MAX} - {len(POD_NAME_SUFFIX)} - string({_HIGHEST_RANK}).size())"

NAME_IS_DNS_LABEL = CelRule(
    rule=f"self.metadata.name.matches('{DNS_1035_LABEL}')",
    field_path=".metadata.name",
    message=(
        "metadata.name must be a DNS label: lower-case letters, digits and '-', "
        "starting with a letter and ending with a letter or digit"
    ),
)
NAME_LEAVES_ROOM = CelRule(
    rule=f"self.metadata.name.size() <= {_NAME_BUDGET}",
    field_path=".metadata.name",
    message=(
        f"metadata.name is too long for the pod names <name>{POD_NAME_SUFFIX}<rank> "
        f"(at most {DNS_LABEL_MAX} characters)"
    ),
    message_expression=(
        f"'metadata.name may have at most %d characters so that %s{POD_NAME_SUFFIX}%d fits in {DNS_LABEL_MAX}; "
        f"it has %d'.format([{_NAME_BUDGET}, self.metadata.name, {_HIGHEST_RANK}, self.metadata.name.size()])"
    ),
)


def _name_is_dns_label(job: LLMTrainingJob) -> str | None:
    return None if re.match(DNS_1035_LABEL, job.metadata.name) else NAME_IS_DNS_LABEL.message


def _name_leaves_room(job: LLMTrainingJob) -> str | None:
    name, spec = job.metadata.name, job.spec
    highest_rank = (spec.elastic.max_nodes if spec.elastic else spec.nodes) - 1
    budget = DNS_LABEL_MAX - len(POD_NAME_SUFFIX) - len(str(highest_rank))
    if len(name) > budget:
        return (
            f"metadata.name may have at most {budget} characters so that "
            f"{name}{POD_NAME_SUFFIX}{highest_rank} fits in {DNS_LABEL_MAX}; it has {len(name)}"
        )
    return None


NAME_RULES: tuple[Rule, ...] = (
    Rule(NAME_IS_DNS_LABEL, _name_is_dns_label, path="metadata.name"),
    Rule(NAME_LEAVES_ROOM, _name_leaves_room, path="metadata.name", reads=("spec.nodes", "spec.elastic.maxNodes")),
)
"""The rules on the whole object (only there can CEL see metadata.name), judged separately:
a bad name is reported even when the spec has errors, and the other way round."""


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
        return cls.from_dict(
            builders.custom(name, image=image, command=command, nodes=nodes, gpus=gpus, options=options)
        )
