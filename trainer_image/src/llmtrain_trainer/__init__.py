"""llmtrain's trainer: what `torchrun -m llmtrain_trainer --config config.json` runs in every pod."""
