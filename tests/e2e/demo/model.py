"""The trained model: where its checkpoint and Hugging Face export are (in the pods, and on
this machine, where the local cluster keeps the claim), and a few tokens generated from the
export with `transformers`, to show that it is a real, loadable model."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from e2e.demo.cluster import Cluster
from e2e.demo.data import CHECKPOINT_CLAIM, claim_host_path
from llmtrain import LLMTrainingJob
from llmtrain.api.contract import HF_EXPORT_DIR, job_checkpoint_dir

PROMPT = "the little bird"
NEW_TOKENS = 16


@dataclass(frozen=True)
class TrainedModel:
    """The job's final checkpoint and exported model, inside the pods and on this machine."""

    step: int
    checkpoint_in_pod: PurePosixPath
    checkpoint_on_host: Path
    export_in_pod: PurePosixPath
    export_on_host: Path


def locate(cluster: Cluster, namespace: str, name: str) -> TrainedModel:
    """The newest checkpoint and the export in the job's checkpoint claim, inside the pods
    (under spec.checkpoint.path) and on this machine (the claim's hostPath volume)."""
    job = LLMTrainingJob.model_validate(cluster.kubectl_json("-n", namespace, "get", "llmtrainingjob", name))
    # Each job keeps its checkpoints in <checkpoint.path>/<namespace>/<job> of the claim.
    mount = PurePosixPath(job_checkpoint_dir(job.spec.checkpoint.path, namespace, name))
    host_root = Path(job_checkpoint_dir(str(claim_host_path(cluster, namespace, CHECKPOINT_CLAIM)), namespace, name))
    # The directory, not status.checkpoint: the status holds the last checkpoint the operator
    # scraped from rank 0, and the final one is written moments before the pods exit.
    # Complete ones only: a checkpoint being written is a `.tmp` directory until it is renamed.
    checkpoints = sorted(p for p in host_root.glob("step-*") if p.name.removeprefix("step-").isdigit())
    if not checkpoints:
        raise RuntimeError(f"no checkpoint in {host_root}")
    newest = checkpoints[-1]
    # The trainer writes the export next to its checkpoints (LLMTRAIN_CHECKPOINT_DIR/hf).
    return TrainedModel(
        step=int(newest.name.removeprefix("step-")),
        checkpoint_in_pod=mount / newest.name,
        checkpoint_on_host=newest,
        export_in_pod=mount / HF_EXPORT_DIR,
        export_on_host=host_root / HF_EXPORT_DIR,
    )


def generate(export: Path, prompt: str = PROMPT, new_tokens: int = NEW_TOKENS) -> str:
    """Greedy continuation of `prompt` by the exported model, loaded as any HF model is."""
    # Imported here: transformers takes seconds to import, and only this step needs it.
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]

    tokenizer = AutoTokenizer.from_pretrained(export, local_files_only=True)
    model = AutoModelForCausalLM.from_pretrained(export, local_files_only=True)
    model.eval()  # type: ignore[no-untyped-call]
    inputs = tokenizer(prompt, return_tensors="pt")
    with torch.no_grad():
        output = model.generate(  # type: ignore[misc]
            **inputs, max_new_tokens=new_tokens, do_sample=False, pad_token_id=tokenizer.eos_token_id
        )
    return str(tokenizer.decode(output[0], skip_special_tokens=True))
