"""llmtrain: the Python SDK and CLI of LLMTrainingJob."""

__version__ = "0.1.0"
