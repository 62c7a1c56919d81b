"""The training loop: build everything from the config, resume, train, evaluate, save.

The loss of a step is the sum of the token losses of the whole global batch divided by
the global number of target tokens, counted with one all-reduce before the forward
passes. Each rank back-propagates its share of that sum and gradients are summed, so the
update is the same whatever the number of processes, the parallelism or the gradient
accumulation, and SFT examples weigh by their response tokens.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

import torch
from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict
from torch.distributed.checkpoint.stateful import Stateful
from torch.distributed.fsdp import FSDPModule
from torch.distributed.tensor import DTensor
from torch.nn.parallel import DistributedDataParallel

from llmtrain.api.contract import HF_EXPORT_DIR
from llmtrain.api.trainer import TrainerConfig
from llmtrain_trainer.checkpoint import (
    Checkpointer,
    ModelAndOptimizer,
    ModelWeights,
    RngState,
    is_checkpoint,
    load_newest_intact,
    load_state,
    rng_key,
    step_dirs,
)
from llmtrain_trainer.config import RunEnv
from llmtrain_trainer.data import Sample, build_data, eval_batches, train_batches
from llmtrain_trainer.data.tokenizer import load_tokenizer
from llmtrain_trainer.distributed import ParallelDims, Runtime, all_reduce_sum, barrier, build_mesh, dp_coordinates
from llmtrain_trainer.errors import NoLoadableCheckpointError, TrainerError
from llmtrain_trainer.loss import cross_entropy_sum, target_tokens
from llmtrain_trainer.metrics import (
    MetricsFile,
    PrometheusExporter,
    StepMetrics,
    Throughput,
    device_name,
    log_line,
    memory_peak_bytes,
    peak_flops,
)
from llmtrain_trainer.models import BuiltModel, build_model, logits
from llmtrain_trainer.optim import WarmupDecay, build_optimizer, set_learning_rate
from llmtrain_trainer.parallelize import parallelize
from llmtrain_trainer.restarts import rendezvous_store, take_restart
from llmtrain_trainer.stragglers import ForwardClock, RankTimes, one_slot

log = logging.getLogger("llmtrain_trainer")

DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}
EXIT_TERMINATED = 143


@dataclass
class Progress(Stateful):
    """Where the run stands: optimizer steps done and global samples consumed."""

    step: int = 0
    consumed_samples: int = 0

    def state_dict(self) -> dict[str, Any]:
        return {"step": self.step, "consumed_samples": self.consumed_samples}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.step = int(state_dict["step"])
        self.consumed_samples = int(state_dict["consumed_samples"])


def accumulation_steps(config: TrainerConfig, dp: int) -> int:
    """Micro-batches per optimizer step on each rank."""
    batch = config.batch
    if batch.global_batch_size is None:
        return batch.gradient_accumulation_steps or 1
    per_pass = batch.micro_batch_size * dp
    if batch.global_batch_size % per_pass:
        raise TrainerError(
            f"globalBatchSize {batch.global_batch_size} is not a multiple of microBatchSize x data-parallel "
            f"size = {batch.micro_batch_size} x {dp}"
        )
    return batch.global_batch_size // per_pass


class Trainer:
    """One training run on this process."""

    def __init__(self, config: TrainerConfig, env: RunEnv, runtime: Runtime) -> None:
        self.config = config
        self.env = env
        self.runtime = runtime
        self.device = runtime.device
        self.dims = ParallelDims.from_config(config.parallelism, runtime.world_size, runtime.local_world_size)
        self.mesh = build_mesh(self.dims, self.device)
        self.dp_rank, self.dp_size = dp_coordinates(self.mesh)
        self.accumulation = accumulation_steps(config, self.dims.dp)
        self.micro_batch = config.batch.micro_batch_size
        self.global_batch = self.micro_batch * self.accumulation * self.dims.dp
        self.seq_len = config.data.seq_len

        # Same seed on every rank, so every rank builds the same initial weights.
        torch.manual_seed(config.seed)
        self.built: BuiltModel = build_model(config.model)
        self.compute_dtype = DTYPES[config.precision]
        self.model = parallelize(self.built, config.parallelism, self.dims, self.mesh, self.compute_dtype, self.device)
        # FSDP casts through its mixed-precision policy; DDP and single process autocast.
        self.autocast = config.precision != "fp32" and not isinstance(self.model, FSDPModule)
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=config.precision == "fp16")
        self.optimizer = build_optimizer(self.model, config.optimizer, self.device)
        self.schedule = WarmupDecay(config.schedule)

        self.data = build_data(config.data)
        self.progress = Progress()
        self.checkpointer = (
            Checkpointer(env.checkpoint_dir, config.checkpoint.keep, config.checkpoint.async_save, runtime.rank)
            if env.checkpoint_dir is not None
            else None
        )
        self.checkpoint_step = 0
        self.stop_requested = False

        name = device_name(self.device)
        self.device_label = name
        peak = peak_flops(name, config.logging.peak_flops)
        self.throughput = Throughput(self.built.flops_per_token(self.seq_len), runtime.world_size, peak)
        self.exporter = PrometheusExporter() if runtime.is_main else None
        self.forward_clock = ForwardClock(self.device)
        self.rank_times = RankTimes(runtime.world_size) if runtime.is_main else None
        self.metrics_file = (
            MetricsFile(Path(config.logging.metrics_file)) if runtime.is_main and config.logging.metrics_file else None
        )

    def checkpoint_state(self) -> dict[str, Any]:
        return {
            "app": ModelAndOptimizer(self.model, self.optimizer),
            "progress": self.progress,
            rng_key(self.runtime.rank): RngState(),
        }

    def resume(self) -> None:
        """Load the job's newest intact checkpoint, else checkpoint.resumeFrom, else start fresh."""
        policy = self.config.checkpoint
        if self.checkpointer is not None and policy.resume:
            own = self.checkpointer.checkpoints()
            if own:
                path, skipped = load_newest_intact(own, self._load_everything, self.runtime.rank)
                if path is None:
                    raise NoLoadableCheckpointError(
                        f"none of the {len(own)} checkpoints in {self.checkpointer.directory} loads "
                        f"({'; '.join(skipped)}): delete them to start over"
                    )
                self._resumed(path, skipped)
                return
        if policy.resume_from is not None:
            self._start_from(Path(policy.resume_from), policy.resume_weights_only)

    def _start_from(self, source: Path, weights_only: bool) -> None:
        """checkpoint.resumeFrom: a step directory, or a job's directory (its newest intact step)."""
        candidates = [source] if is_checkpoint(source) else [path for _, path in step_dirs(source)]
        if not candidates:
            raise TrainerError(
                f"checkpoint.resumeFrom: {source} is neither a checkpoint (a step-N directory) nor a directory of them"
            )
        load = self._load_weights if weights_only else self._load_everything
        path, skipped = load_newest_intact(candidates, load, self.runtime.rank, manifest_required=False)
        if path is None:
            raise NoLoadableCheckpointError(f"checkpoint.resumeFrom: nothing in {source} loads ({'; '.join(skipped)})")
        if weights_only:
            log.info("starting at step 0 from the model weights of %s", path)
        else:
            self._resumed(path, skipped)

    def _load_everything(self, path: Path) -> None:
        load_state(path, self.checkpoint_state(), self.runtime.rank)

    def _load_weights(self, path: Path) -> None:
        load_state(path, {"app": ModelWeights(self.model)}, self.runtime.rank)

    def _resumed(self, path: Path, skipped: list[str]) -> None:
        self.checkpoint_step = self.progress.step
        if self.exporter is not None:
            self.exporter.checkpoint_step.set(self.checkpoint_step)
        log.info(
            "resumed from %s at step %d (%d samples consumed)%s",
            path,
            self.progress.step,
            self.progress.consumed_samples,
            f"; skipped {', '.join(skipped)}" if skipped else "",
        )

    def save(self) -> None:
        if self.checkpointer is None:
            return
        self.checkpointer.save(self.progress.step, self.checkpoint_state())
        self.checkpoint_step = self.progress.step
        if self.exporter is not None and not self.config.checkpoint.async_save:
            self.exporter.checkpoint_step.set(self.checkpoint_step)

    def run(self) -> int:
        """Train to the configured number of steps; the process exit code."""
        if self.checkpointer is not None:
            self.checkpointer.claim(self.env.owner)
        self.resume()
        if self.exporter is not None:
            self._count_restarts()
            self._serve_metrics()
        previous = signal.signal(signal.SIGTERM, self._on_sigterm)
        try:
            return self._loop()
        finally:
            signal.signal(signal.SIGTERM, previous)

    def _loop(self) -> int:
        config = self.config
        total = config.schedule.steps
        batches = train_batches(
            self.data,
            config.data,
            seed=config.seed,
            start=self.progress.consumed_samples,
            micro_batch=self.micro_batch,
            accumulation=self.accumulation,
            dp_rank=self.dp_rank,
            dp_size=self.dp_size,
            pin_memory=self.device.type == "cuda",
        )
        log.info(
            "training %s steps %d..%d: world %d (dp_replicate %d, dp_shard %d, tp %d), global batch %d x %d tokens,"
            " micro batch %d, accumulation %d, %.1fM params, %s",
            self.env.job_name,
            self.progress.step,
            total,
            self.dims.world_size,
            self.dims.dp_replicate,
            self.dims.dp_shard,
            self.dims.tp,
            self.global_batch,
            self.seq_len,
            self.micro_batch,
            self.accumulation,
            sum(p.numel() for p in self.model.parameters()) / 1e6,
            config.precision,
        )
        self.model.train()
        while self.progress.step < total:
            stop = self._train_step(batches)
            step = self.progress.step
            if stop:
                self.save()
                self._finish_saves()
                log.error("stopped by SIGTERM at step %d; checkpoint saved", step)
                return EXIT_TERMINATED
            if step % config.checkpoint.interval == 0 and step < total:
                self.save()
            if self.data.validation is not None and (step % config.eval.interval == 0 or step == total):
                self._evaluate()
        self.save()
        self._finish_saves()
        if config.checkpoint.export_hugging_face:
            self._export()
        log.info("finished %d steps", total)
        return 0

    def _train_step(self, batches: Iterator[Sample]) -> bool:
        """One optimizer step; whether a SIGTERM asks every rank to stop after it."""
        started = time.perf_counter()
        micro_batches = [
            (x.to(self.device, non_blocking=True), y.to(self.device, non_blocking=True))
            for x, y in (next(batches) for _ in range(self.accumulation))
        ]
        data_seconds = time.perf_counter() - started
        local_tokens = sum(target_tokens(labels) for _, labels in micro_batches)
        # One all-reduce: the global token count, whether any rank was asked to stop, and
        # every rank's forward seconds of the last step (each rank fills its own slot).
        forward = one_slot(self.forward_clock.take(), self.runtime.rank, self.runtime.world_size)
        counts: list[float] = all_reduce_sum(
            torch.tensor([local_tokens, float(self.stop_requested), *forward], dtype=torch.float64, device=self.device)
        ).tolist()
        # Tensor-parallel peers read the same batch, so the world sum counts it tp times.
        global_tokens = max(counts[0] / self.dims.tp, 1.0)
        stop = counts[1] > 0
        if self.rank_times is not None and any(counts[2:]):  # none before the first step
            self.rank_times.add(counts[2:])

        step = self.progress.step
        lr = set_learning_rate(self.optimizer, self.schedule, self.config.optimizer.lr, step)
        loss_sum = torch.zeros((), device=self.device)
        for index, (inputs, labels) in enumerate(micro_batches):
            last = index == len(micro_batches) - 1
            with self._gradient_sync(last), self._autocast(), self.forward_clock.measure():
                out = logits(self.model, inputs)
                loss = cross_entropy_sum(out, labels)
            torch.autograd.backward(self.scaler.scale(loss / global_tokens))
            loss_sum += loss.detach()

        self.scaler.unscale_(self.optimizer)
        grad_norm = self._clip_gradients()
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.optimizer.zero_grad(set_to_none=True)

        self.progress.step = step + 1
        self.progress.consumed_samples += self.global_batch
        self.throughput.add(self.global_batch * self.seq_len, data_seconds)
        if self.progress.step % self.config.logging.interval == 0 or self.progress.step == self.config.schedule.steps:
            loss_value = all_reduce_sum(loss_sum).item() / self.dims.tp / global_tokens
            self._report(loss_value, lr, grad_norm)
        return stop

    def _clip_gradients(self) -> float:
        params = [p for p in self.model.parameters() if p.grad is not None]
        max_norm = self.config.optimizer.grad_clip or float("inf")
        norm = torch.nn.utils.clip_grad_norm_(params, max_norm, foreach=True)
        if isinstance(norm, DTensor):
            norm = norm.full_tensor()
        return float(norm)

    def _gradient_sync(self, sync: bool) -> contextlib.AbstractContextManager[None]:
        """Skip gradient communication on all but the last micro-batch of a step."""
        if isinstance(self.model, DistributedDataParallel) and not sync:
            return self.model.no_sync()
        if isinstance(self.model, FSDPModule):
            self.model.set_requires_gradient_sync(sync)
        return contextlib.nullcontext()

    def _autocast(self) -> contextlib.AbstractContextManager[Any]:
        if not self.autocast:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.compute_dtype)

    def _report(self, loss: float, lr: float, grad_norm: float) -> None:
        per_second, per_device, mfu, share = self.throughput.report()
        metrics = StepMetrics(
            step=self.progress.step,
            total_steps=self.config.schedule.steps,
            loss=loss,
            learning_rate=lr,
            grad_norm=grad_norm,
            tokens_per_second=per_second,
            tokens_per_second_per_device=per_device,
            tokens_total=self.progress.consumed_samples * self.seq_len,
            mfu=mfu,
            memory_peak_bytes=memory_peak_bytes(self.device),
            data_loading_share=share,
        )
        if self.exporter is not None:
            self.exporter.update(metrics)
            if self.rank_times is not None:
                self.exporter.rank_forward_seconds(self.rank_times.medians())
        if self.metrics_file is not None:
            self.metrics_file.write_step(metrics)
        if self.runtime.is_main:
            log.info(log_line(metrics, self.device_label))

    def _evaluate(self) -> None:
        """Mean loss and perplexity over the same validation batches every time."""
        assert self.data.validation is not None
        self.model.eval()
        sums = torch.zeros(2, dtype=torch.float64, device=self.device)
        with torch.no_grad():
            for inputs, labels in eval_batches(
                self.data.validation,
                steps=self.config.eval.steps,
                micro_batch=self.micro_batch,
                dp_rank=self.dp_rank,
                dp_size=self.dp_size,
            ):
                inputs, labels = inputs.to(self.device), labels.to(self.device)
                with self._autocast():
                    out = logits(self.model, inputs)
                sums[0] += cross_entropy_sum(out, labels).double()
                sums[1] += target_tokens(labels)
        self.model.train()
        loss_sum, tokens = all_reduce_sum(sums).tolist()
        loss = loss_sum / max(tokens, 1.0)
        if self.runtime.is_main:
            perplexity = float(torch.tensor(loss).exp())
            log.info("eval step %d | loss %.4f | perplexity %.2f", self.progress.step, loss, perplexity)
            if self.metrics_file is not None:
                self.metrics_file.write(
                    {"kind": "eval", "step": self.progress.step, "loss": loss, "perplexity": perplexity}
                )

    def _finish_saves(self) -> None:
        if self.checkpointer is not None:
            self.checkpointer.wait()
            if self.exporter is not None:
                self.exporter.checkpoint_step.set(self.checkpoint_step)

    def _export(self) -> None:
        """Write the model as a Hugging Face directory next to the checkpoints."""
        if self.env.checkpoint_dir is None:
            log.warning("no checkpoint directory; skipping the Hugging Face export")
            return
        gathered = get_model_state_dict(self.model, options=StateDictOptions(full_state_dict=True, cpu_offload=True))
        if self.runtime.is_main:
            state = {name: value for name, value in gathered.items() if isinstance(value, torch.Tensor)}
            directory = self.env.checkpoint_dir / HF_EXPORT_DIR
            self.built.export(state, directory)
            if self.config.data.tokenizer is not None:
                load_tokenizer(self.config.data.tokenizer).save_pretrained(directory)
            log.info("exported the model to %s", directory)
        barrier()

    def _count_restarts(self) -> None:
        """Rank 0: the restarts in place so far, and why this round began, for the operator."""
        assert self.exporter is not None
        store = rendezvous_store()
        if store is None:
            return
        count, cause = take_restart(store)
        total = self.env.restarts_in_place + count
        if cause is None:
            self.exporter.restarted(total, None, "", "")
            return
        self.exporter.restarted(total, cause.node_rank, cause.reason, cause.summary)
        log.info("restarted in place (restart %d of the job): %s: %s", total, cause.reason, cause.summary)

    def _serve_metrics(self) -> None:
        assert self.exporter is not None
        try:
            port = self.exporter.serve(self.env.metrics_port, self.env.metrics_address)
            log.info("serving metrics on http://%s:%d/metrics", self.env.metrics_address, port)
        except OSError as e:
            # Metrics are for watching the run; losing them must not lose the run.
            log.warning("cannot serve metrics on %s:%d: %s", self.env.metrics_address, self.env.metrics_port, e)

    def _on_sigterm(self, signum: int, frame: FrameType | None) -> None:
        log.warning("SIGTERM: saving a checkpoint after the current step")
        self.stop_requested = True
