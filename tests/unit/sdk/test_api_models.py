"""The API models: validation with field paths, examples, and YAML round trips."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from validation_cases import BAD, GOOD, Case

from llmtrain.api.errors import InvalidJobError
from llmtrain.api.job import LLMTrainingJob

EXAMPLES = sorted((Path(__file__).parents[3] / "manifests" / "examples").glob("*.yaml"))


@pytest.mark.parametrize("case", GOOD, ids=lambda case: case.id)
def test_good_jobs_validate(case: Case) -> None:
    LLMTrainingJob.from_dict(case.job())


@pytest.mark.parametrize("case", BAD, ids=lambda case: case.id)
def test_bad_jobs_name_the_field(case: Case) -> None:
    with pytest.raises(InvalidJobError) as raised:
        LLMTrainingJob.from_dict(case.job())
    paths = [violation.path for violation in raised.value.violations]
    assert case.path in paths, str(raised.value)
    if case.message is not None:
        assert f"{case.path}: {case.message}" in str(raised.value).splitlines()


def test_every_broken_rule_is_reported_at_once() -> None:
    job = GOOD[0].job()
    job["spec"]["trainer"]["parallelism"] = {"tensorParallel": 3}
    job["spec"]["env"] = [{"name": "LLMTRAIN_ATTEMPT", "value": "7"}]
    with pytest.raises(InvalidJobError) as raised:
        LLMTrainingJob.from_dict(job)
    assert [v.path for v in raised.value.violations] == ["spec.trainer.parallelism.tensorParallel", "spec.env"]


def test_unknown_fields_are_errors_not_dropped() -> None:
    job = GOOD[0].job()
    job["spec"]["trainer"]["optimiser"] = {"lr": 1e-3}
    with pytest.raises(InvalidJobError, match=r"spec\.trainer\.optimiser: unknown field"):
        LLMTrainingJob.from_dict(job)


def test_kubernetes_pass_through_types_keep_their_schema() -> None:
    job = GOOD[0].job()
    job["spec"]["env"] = [{"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}}]
    job["spec"]["scheduling"] = {"tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists"}]}
    parsed = LLMTrainingJob.from_dict(job)
    assert parsed.to_wire()["spec"]["env"] == job["spec"]["env"]
    job["spec"]["env"] = [{"name": "X", "valueFrom": {"fieldRef": {"path": "status.podIP"}}}]
    with pytest.raises(InvalidJobError, match=r"spec\.env\[0\]\.valueFrom\.fieldRef\.path: unknown field"):
        LLMTrainingJob.from_dict(job)


def test_defaults_are_spelled_out_for_the_operator() -> None:
    job = LLMTrainingJob.from_dict(GOOD[0].job())
    wire = job.to_wire(defaults=True)
    assert wire["spec"]["trainer"]["parallelism"]["strategy"] == "fsdp"
    assert wire["spec"]["networking"]["masterPort"] == 29500
    assert job.spec.effective_procs_per_node == 4
    assert job.spec.world_size == 8


def test_procs_per_node_defaults_to_one_without_gpus() -> None:
    job = GOOD[0].job()
    job["spec"]["resources"] = {"cpu": "2"}
    assert LLMTrainingJob.from_dict(job).spec.effective_procs_per_node == 1


def test_examples_exist_for_each_kind_of_job() -> None:
    assert {path.stem for path in EXAMPLES} >= {"pretrain-fsdp", "finetune-sft", "custom-command", "tiny-cpu"}


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda path: path.stem)
def test_examples_round_trip_without_loss(path: Path) -> None:
    text = path.read_text()
    job = LLMTrainingJob.from_yaml(text)
    assert job.to_wire() == yaml.safe_load(text)
    assert LLMTrainingJob.from_yaml(job.to_yaml()) == job


def test_quantities_are_normalised_to_strings() -> None:
    job = LLMTrainingJob.from_dict(GOOD[7].job())
    assert job.spec.resources.cpu == "32"
    assert job.spec.resources.extra == {"rdma/ib": "1"}
