"""`llmtrain validate`, `generate` and `--help`: the commands that need no cluster."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from llmtrain import LLMTrainingJob
from llmtrain.cli import cli
from llmtrain.cli.exitcodes import Exit

EXAMPLES = sorted((Path(__file__).parents[3] / "manifests" / "examples").glob("*.yaml"))
COMMANDS = [
    [],
    ["submit"],
    ["get"],
    ["list"],
    ["describe"],
    ["wait"],
    ["delete"],
    ["suspend"],
    ["resume"],
    ["logs"],
    ["validate"],
    ["generate"],
    ["generate", "pretrain"],
    ["generate", "finetune"],
    ["generate", "custom"],
]


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "llmtrain")
def test_every_command_explains_itself_with_an_example(runner: CliRunner, command: list[str]) -> None:
    result = runner.invoke(cli, [*command, "--help"])
    assert result.exit_code == 0, result.output
    assert "Example" in result.output
    assert result.output.startswith(f"Usage: cli {' '.join(command)}".rstrip())


def test_the_exit_codes_are_documented(runner: CliRunner) -> None:
    output = runner.invoke(cli, ["--help"]).output
    for code in Exit:
        assert f"  {code.value} " in output


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
def test_the_examples_are_valid(runner: CliRunner, example: Path) -> None:
    result = runner.invoke(cli, ["validate", str(example)])
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"{yaml.safe_load(example.read_text())['metadata']['name']}: valid")


def test_an_invalid_file_exits_2_naming_every_bad_field(runner: CliRunner, tmp_path: Path) -> None:
    job = yaml.safe_load(EXAMPLES[0].read_text())
    job["spec"]["nodes"] = 3
    job["spec"]["procsPerNode"] = 1
    job["spec"].setdefault("trainer", {"model": {"preset": "test"}, "data": {"paths": ["/d"]}})
    job["spec"]["trainer"]["parallelism"] = {"tensorParallel": 2}
    job["spec"]["runPolicy"] = {"restartPolicy": "Sometimes"}
    job["spec"].pop("command", None)
    job["spec"].pop("image", None)
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(job))
    result = runner.invoke(cli, ["validate", str(bad)])
    assert result.exit_code == Exit.INVALID
    assert f"error: {bad} is not a valid LLMTrainingJob:" in result.stderr
    assert "  spec.runPolicy.restartPolicy: Input should be 'OnFailure', 'Never' or 'ExitCode'" in result.stderr
    assert "Traceback" not in result.stderr


def test_cross_field_messages_are_the_ones_the_api_server_gives(runner: CliRunner) -> None:
    job = LLMTrainingJob.pretrain("gpt", data="/d/a.bin", nodes=1, gpus=8).to_wire()
    job["spec"]["procsPerNode"] = 6
    job["spec"]["trainer"]["parallelism"] = {"tensorParallel": 4}
    result = runner.invoke(cli, ["validate", "-"], input=yaml.safe_dump(job))
    assert result.exit_code == Exit.INVALID, result.output
    assert (
        "  spec.trainer.parallelism.tensorParallel: 4 does not divide nodes x procsPerNode = 6"
        in result.stderr.splitlines()
    )


def test_a_file_that_is_not_yaml_exits_2(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["validate", "-"], input="a: [\n")
    assert result.exit_code == Exit.INVALID
    assert result.stderr.startswith("error: standard input is not one YAML document")


def test_a_missing_file_is_a_usage_error(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(cli, ["validate", str(tmp_path / "nope.yaml")])
    assert result.exit_code == Exit.INVALID
    assert "nope.yaml" in result.stderr


def test_generate_pretrain_prints_the_job_the_options_describe(runner: CliRunner) -> None:
    result = runner.invoke(
        cli,
        [
            "generate",
            "pretrain",
            "tiny",
            "--model",
            "test",
            "--gpus",
            "0",
            "--nodes",
            "2",
            "--steps",
            "20",
            "--data",
            "/data/tokens.bin",
            "--mount",
            "/data=tiny-data",
            "--env",
            "HF_HOME=/tmp/hf",
            "--label",
            "team=nlp",
            "--set",
            "runPolicy.backoffLimit=1",
            "--set",
            "trainer.logging.interval=2",
            "-n",
            "ml",
        ],
    )
    assert result.exit_code == 0, result.output
    job = LLMTrainingJob.from_yaml(result.output)
    assert (job.metadata.name, job.metadata.namespace, job.metadata.labels) == ("tiny", "ml", {"team": "nlp"})
    assert (job.spec.nodes, job.spec.resources.gpus, job.spec.run_policy.backoff_limit) == (2, 0, 1)
    assert job.spec.trainer is not None
    assert (job.spec.trainer.schedule.steps, job.spec.trainer.logging.interval) == (20, 2)
    assert job.spec.env is not None and job.spec.env[0].name == "HF_HOME"
    assert job == LLMTrainingJob.pretrain(
        "tiny",
        model="test",
        gpus=0,
        nodes=2,
        steps=20,
        data=["/data/tokens.bin"],
        mounts={"/data": "tiny-data"},
        env={"HF_HOME": "/tmp/hf"},
        labels={"team": "nlp"},
        namespace="ml",
        spec={"runPolicy": {"backoffLimit": 1}, "trainer": {"logging": {"interval": 2}}},
    )


def test_generate_output_validates(runner: CliRunner) -> None:
    generated = runner.invoke(
        cli, ["generate", "finetune", "sft", "--model", "/models/m", "--data", "/d/chat.jsonl", "-o", "json"]
    )
    assert generated.exit_code == 0, generated.output
    checked = runner.invoke(cli, ["validate", "-"], input=generated.output)
    assert checked.exit_code == 0, checked.output
    assert "sft of /models/m on sft data" in checked.output


def test_generate_custom_passes_the_command_through(runner: CliRunner) -> None:
    result = runner.invoke(
        cli, ["generate", "custom", "s", "--image", "img:1", "--gpus", "0", "--", "train.py", "--lr", "3e-4"]
    )
    assert result.exit_code == 0, result.output
    assert LLMTrainingJob.from_yaml(result.output).spec.command == ["train.py", "--lr", "3e-4"]


def test_generate_refuses_an_impossible_job(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["generate", "pretrain", "x", "--data", "/d", "--tensor-parallel", "3"])
    assert result.exit_code == Exit.INVALID
    assert "spec.trainer.parallelism.tensorParallel: 3 does not divide nodes x procsPerNode = 8" in result.stderr


def test_a_bad_set_is_a_usage_error(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["generate", "pretrain", "x", "--data", "/d", "--set", "nodes"])
    assert result.exit_code == Exit.INVALID
    assert "'nodes' is not KEY=VALUE" in result.stderr


def test_validate_reports_problems_of_every_kind_in_one_pass(runner: CliRunner, tmp_path: Path) -> None:
    # A bad name, a negative size and a broken cross-field rule: three kinds, one run.
    job = yaml.safe_load((Path(__file__).parents[3] / "manifests" / "examples" / "tiny-cpu.yaml").read_text())
    job["metadata"]["name"] = "Broken_Name"
    job["spec"]["resources"]["memory"] = "-1Gi"
    job["spec"]["trainer"]["parallelism"] = {**job["spec"]["trainer"].get("parallelism", {}), "tensorParallel": 3}
    bad = tmp_path / "three.yaml"
    bad.write_text(yaml.safe_dump(job))
    result = runner.invoke(cli, ["validate", str(bad)])
    assert result.exit_code == Exit.INVALID == 2, result.output
    world = job["spec"]["nodes"] * job["spec"].get("procsPerNode", 1)
    assert result.stderr.splitlines()[:4] == [
        f"error: {bad} is not a valid LLMTrainingJob:",
        '  spec.resources.memory: "-1Gi" is negative; use a size such as 16Gi',
        f"  spec.trainer.parallelism.tensorParallel: 3 does not divide nodes x procsPerNode = {world}",
        "  metadata.name: metadata.name must be a DNS label: lower-case letters, digits and '-', "
        "starting with a letter and ending with a letter or digit",
    ]
    assert result.stdout == ""
