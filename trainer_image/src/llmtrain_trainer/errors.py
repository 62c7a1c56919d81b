"""The exceptions whose message is the run's one-line failure reason, and their reason words."""

from llmtrain.api.contract import CHECKPOINT_OWNED_BY_ANOTHER_JOB, INVALID_CONFIG, NO_LOADABLE_CHECKPOINT


class TrainerError(Exception):
    """A failure the user can act on: a bad config, missing data, an unsupported combination.

    No retry can fix it, so the operator fails the job at once with `reason`.
    """

    reason = INVALID_CONFIG


class CheckpointOwnedError(TrainerError):
    """The job's checkpoint directory belongs to another job."""

    reason = CHECKPOINT_OWNED_BY_ANOTHER_JOB


class NoLoadableCheckpointError(TrainerError):
    """Checkpoints exist, and none of them loads."""

    reason = NO_LOADABLE_CHECKPOINT
