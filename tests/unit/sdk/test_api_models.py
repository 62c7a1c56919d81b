"""The API models: validation with field paths, examples, and YAML round trips."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import pytest
import yaml

from llmtrain.api.base import validate_partially
from llmtrain.api.errors import InvalidJobError
from llmtrain.api.job import LLMTrainingJob
from llmtrain.api.quantity import is_whole_number, quantity_value
from support.validation_cases import BAD, GOOD, Case, base_job

EXAMPLES = sorted((Path(__file__).parents[3] / "manifests" / "examples").glob("*.yaml"))


@pytest.mark.parametrize("case", GOOD, ids=lambda case: case.id)
def test_good_jobs_validate(case: Case) -> None:
    LLMTrainingJob.from_dict(case.job())


@pytest.mark.parametrize("case", BAD, ids=lambda case: case.id)
def test_bad_jobs_name_the_field(case: Case) -> None:
    with pytest.raises(InvalidJobError) as raised:
        LLMTrainingJob.from_dict(case.job())
    paths = [violation.path for violation in raised.value.violations]
    for path, message in case.errors:
        assert path in paths, str(raised.value)
        if message is not None:
            assert f"{path}: {message}" in str(raised.value).splitlines()
    for text in case.absent:
        assert text not in str(raised.value)
    assert len(set(raised.value.violations)) == len(raised.value.violations), "a violation is reported twice"


def test_a_rule_is_judged_where_the_fields_it_reads_are_valid() -> None:
    # A bad env entry makes env unreadable, not the volumes: the volume rule still speaks.
    job = GOOD[0].job()
    job["spec"]["env"] = [{"value": "no name"}]
    job["spec"]["volumes"] = [{"name": "llmtrain-x", "emptyDir": {}}]
    job["spec"]["trainer"]["batch"] = {"microBatchSize": "eight", "globalBatchSize": 64, "gradientAccumulationSteps": 2}
    with pytest.raises(InvalidJobError) as raised:
        LLMTrainingJob.from_dict(job)
    assert [str(v) for v in raised.value.violations] == [
        "spec.trainer.batch.microBatchSize: Input should be a valid integer, unable to parse string as an integer",
        "spec.env[0].name: Field required",
        "spec.trainer.batch: set at most one of globalBatchSize and gradientAccumulationSteps",
        "spec.volumes: volume names starting with llmtrain- are reserved for the operator; rename the volume",
    ]


def test_a_bad_value_is_never_replaced_by_its_default_to_judge_a_rule() -> None:
    # With nodes left out, the default 1 would be outside 3..4; nodes "two" is not left out.
    job = GOOD[0].job()
    job["spec"]["nodes"] = "two"
    job["spec"]["elastic"] = {"minNodes": 3, "maxNodes": 4}
    job["metadata"]["name"] = "a" * 58
    with pytest.raises(InvalidJobError) as raised:
        LLMTrainingJob.from_dict(job)
    # The name rule reads nodes too (when elastic is valid, as the CEL guard does): it waits.
    assert [v.path for v in raised.value.violations] == ["spec.nodes"]
    # With the inputs valid, both name rules are judged, each on its own.
    del job["spec"]["elastic"]
    job["spec"]["nodes"] = 2
    job["metadata"]["name"] = "Bad_" + "a" * 60
    assert [str(v) for v in validate_partially(LLMTrainingJob, job)] == [
        "metadata.name: metadata.name must be a DNS label: lower-case letters, digits and '-', "
        "starting with a letter and ending with a letter or digit",
        f"metadata.name: metadata.name may have at most 56 characters so that Bad_{'a' * 60}-node-1 fits in 63; "
        "it has 64",
    ]


def test_partial_validation_of_a_valid_job_finds_nothing() -> None:
    for case in GOOD:
        assert validate_partially(LLMTrainingJob, case.job()) == [], case.id
    assert validate_partially(LLMTrainingJob, ["not", "a", "job"]) == []


def test_model_validate_still_refuses_what_from_dict_refuses() -> None:
    job = GOOD[0].job()
    job["spec"]["trainer"]["parallelism"] = {"tensorParallel": 3}
    with pytest.raises(ValueError, match="3 does not divide nodes x procsPerNode = 8"):
        LLMTrainingJob.model_validate(job)
    valid = LLMTrainingJob.from_dict(GOOD[0].job())
    assert valid.spec.trainer is not None
    valid.spec.trainer.parallelism.tensor_parallel = 3  # re-validates the parallelism section alone
    with pytest.raises(ValueError, match="3 does not divide nodes x procsPerNode = 8"):
        valid.spec.nodes = 2  # assigning a spec field re-runs the spec's rules


def test_infinite_and_nan_floats_are_refused() -> None:
    for value in (float("inf"), float("nan")):
        job = GOOD[0].job()
        job["spec"]["trainer"]["optimizer"] = {"lr": value, "weightDecay": value, "eps": value}
        with pytest.raises(InvalidJobError) as raised:
            LLMTrainingJob.from_dict(job)
        assert [v.path for v in raised.value.violations] == [
            "spec.trainer.optimizer.lr",
            "spec.trainer.optimizer.weightDecay",
            "spec.trainer.optimizer.eps",
        ], value


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("1536Mi", 1536 * 2**20),
        ("500m", Fraction(1, 2)),
        ("1e3", 1000),
        ("+.5", Fraction(1, 2)),
        ("-2k", -2000),
        ("12E-1", Fraction(6, 5)),
        ("3", 3),
        ("2Ei", 2 * 2**60),
        ("7n", Fraction(7, 10**9)),
    ],
)
def test_quantity_values(text: str, value: Fraction) -> None:
    assert quantity_value(text) == value


def test_whole_numbers_are_what_kubernetes_takes_for_extended_resources() -> None:
    assert [is_whole_number(text) for text in ("2k", "1e3", "0", "1500m", "500m", "1e-3", "8Ei")] == [
        True,
        True,
        True,
        False,
        False,
        False,
        False,
    ]


def test_quantities_that_are_not_negative_or_zero_keep_their_spelling() -> None:
    job = base_job()
    job["spec"]["resources"].update({"cpu": "+500m", "memory": 1024, "extra": {"x.io/y": "2k"}})
    job["spec"]["shmSize"] = "0.5Gi"
    parsed = LLMTrainingJob.from_dict(job).spec
    assert (parsed.resources.cpu, parsed.resources.memory, parsed.resources.extra, parsed.shm_size) == (
        "+500m",
        "1024",
        {"x.io/y": "2k"},
        "0.5Gi",
    )


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
