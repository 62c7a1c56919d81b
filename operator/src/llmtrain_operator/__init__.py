"""llmtrain_operator: the kopf operator that runs each LLMTrainingJob as a gang of torchrun pods."""

__version__ = "0.1.0"
