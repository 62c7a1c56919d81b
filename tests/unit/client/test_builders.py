"""The job builders: short calls give valid jobs that say what the caller asked, and YAML round-trips."""

from __future__ import annotations

import pytest

from llmtrain import InvalidJobError, LLMTrainingJob


def test_pretrain_reads_as_the_job_it_builds() -> None:
    job = LLMTrainingJob.pretrain(
        "gpt-small",
        model="llama-1b",
        data="/data/tokens/*.bin",
        nodes=4,
        gpus=8,
        steps=20_000,
        lr=6e-4,
        mounts={"/data": "fineweb"},
        checkpoint_pvc="gpt-ckpt",
        namespace="ml",
    )
    spec = job.spec
    assert (job.metadata.name, job.metadata.namespace) == ("gpt-small", "ml")
    assert (spec.nodes, spec.resources.gpus, spec.world_size) == (4, 8, 32)
    assert spec.trainer is not None
    assert spec.trainer.model.preset == "llama-1b"
    assert spec.trainer.data.format == "tokens"
    assert spec.trainer.data.paths == ["/data/tokens/*.bin"]
    assert (spec.trainer.schedule.steps, spec.trainer.optimizer.lr) == (20_000, 6e-4)
    assert spec.volumes is not None and spec.volumes[0].persistent_volume_claim is not None
    assert spec.volumes[0].persistent_volume_claim.claim_name == "fineweb"
    assert spec.volume_mounts is not None and spec.volume_mounts[0].mount_path == "/data"
    assert spec.volume_mounts[0].name == spec.volumes[0].name
    assert spec.checkpoint.volume is not None and spec.checkpoint.volume.persistent_volume_claim is not None
    assert spec.checkpoint.volume.persistent_volume_claim.claim_name == "gpt-ckpt"


def test_pretrain_from_a_model_directory_starts_from_fresh_weights() -> None:
    job = LLMTrainingJob.pretrain("arch", model="/models/Llama-3.2-1B", data="/data/a.bin")
    assert job.spec.trainer is not None
    assert job.spec.trainer.model.path == "/models/Llama-3.2-1B"
    assert job.spec.trainer.model.pretrained_weights is False


def test_a_cpu_job_gets_settings_that_run_on_gloo_unless_overridden() -> None:
    job = LLMTrainingJob.pretrain("tiny", model="test", data="/data/t.bin", gpus=0, nodes=2, strategy="fsdp")
    trainer = job.spec.trainer
    assert trainer is not None
    assert (trainer.precision, trainer.parallelism.compile, trainer.optimizer.fused) == ("fp32", False, False)
    assert trainer.parallelism.strategy == "fsdp"
    assert job.spec.effective_procs_per_node == 1


@pytest.mark.parametrize(
    ("path", "fmt"), [("/d/train.jsonl", "sft"), ("/d/corpus.txt", "text"), ("/d/shard-*.bin", "tokens")]
)
def test_the_data_format_follows_the_file_names(path: str, fmt: str) -> None:
    job = LLMTrainingJob.pretrain("p", data=path, tokenizer="/tok")
    assert job.spec.trainer is not None and job.spec.trainer.data.format == fmt


def test_finetune_defaults_to_sft_with_the_models_own_tokenizer() -> None:
    job = LLMTrainingJob.finetune("sft", model="/models/Llama-3.2-1B", data="/datasets/chat.jsonl", gpus=8)
    trainer = job.spec.trainer
    assert trainer is not None
    assert (trainer.objective, trainer.data.format) == ("sft", "sft")
    assert trainer.data.tokenizer == "/models/Llama-3.2-1B"
    assert trainer.model.pretrained_weights is True
    assert trainer.optimizer.lr == 2e-5


def test_custom_runs_the_command_under_torchrun_from_your_image() -> None:
    job = LLMTrainingJob.custom(
        "my-script",
        "registry.example.com/team/trainer:1",
        ["train.py", "--lr", "3e-4"],
        nodes=4,
        env={"NCCL_DEBUG": "WARN"},
        backoff_limit=2,
    )
    assert job.spec.image == "registry.example.com/team/trainer:1"
    assert job.spec.command == ["train.py", "--lr", "3e-4"]
    assert job.spec.trainer is None
    assert job.spec.env is not None and (job.spec.env[0].name, job.spec.env[0].value) == ("NCCL_DEBUG", "WARN")
    assert job.spec.run_policy.backoff_limit == 2


def test_spec_overrides_are_merged_last_and_win() -> None:
    job = LLMTrainingJob.pretrain(
        "gpt",
        data="/d/a.bin",
        backoff_limit=2,
        spec={"runPolicy": {"ttlSecondsAfterFinished": 60}, "trainer": {"eval": {"interval": 7}}},
    )
    assert job.spec.run_policy.backoff_limit == 2
    assert job.spec.run_policy.ttl_seconds_after_finished == 60
    assert job.spec.trainer is not None and job.spec.trainer.eval.interval == 7
    assert job.spec.trainer.model.preset == "llama-1b"


def test_builders_refuse_what_the_api_server_would_refuse() -> None:
    with pytest.raises(InvalidJobError) as raised:
        LLMTrainingJob.pretrain("gpt", data="/d/a.bin", nodes=1, gpus=8, tensor_parallel=3)
    assert "spec.trainer.parallelism.tensorParallel: 3 does not divide nodes x procsPerNode = 8" in str(raised.value)


def test_yaml_round_trips_exactly() -> None:
    job = LLMTrainingJob.finetune("sft", model="/m", data="/d/x.jsonl", mounts={"/m": "models", "/d": "data"})
    text = job.to_yaml()
    again = LLMTrainingJob.from_yaml(text)
    assert again == job
    assert again.to_yaml() == text
    assert "status" not in text


def test_finetune_on_plain_text_continues_pretraining() -> None:
    job = LLMTrainingJob.finetune("more", model="/models/m", data="/d/books.txt")
    trainer = job.spec.trainer
    assert trainer is not None
    assert (trainer.objective, trainer.data.format, trainer.data.tokenizer) == ("causal-lm", "text", "/models/m")
