"""The one exception type whose message is the run's one-line failure reason."""


class TrainerError(Exception):
    """A failure the user can act on: a bad config, missing data, an unsupported combination."""
