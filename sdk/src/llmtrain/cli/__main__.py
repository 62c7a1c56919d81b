"""`python -m llmtrain.cli` runs the `llmtrain` command."""

from llmtrain.cli.app import main

main()
