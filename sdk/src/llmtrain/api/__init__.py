"""The LLMTrainingJob resource (llmtrain.dev/v1alpha1) as typed models."""
