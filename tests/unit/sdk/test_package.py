"""The `llmtrain` package: every exported name resolves, and importing one part of it (the
trainer its config models, the CLI one command) does not load the others."""

from __future__ import annotations

import subprocess
import sys

import pytest

import llmtrain
from llmtrain.api.errors import InvalidJobError
from llmtrain.api.job import LLMTrainingJob
from llmtrain.client import TrainingClient


def test_every_exported_name_is_the_object_of_its_module() -> None:
    assert {name: getattr(llmtrain, name).__name__ for name in llmtrain.__all__} == {
        name: name for name in llmtrain.__all__
    }
    assert (llmtrain.LLMTrainingJob, llmtrain.TrainingClient, llmtrain.InvalidJobError) == (
        LLMTrainingJob,
        TrainingClient,
        InvalidJobError,
    )
    assert set(llmtrain.__all__) <= set(dir(llmtrain))


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="'llmtrain' has no attribute 'Nope'"):
        _ = llmtrain.Nope  # type: ignore[attr-defined]


def loaded_after(statement: str, *modules: str) -> list[str]:
    """Which of `modules` a fresh interpreter has loaded after running `statement`."""
    probe = f"import sys\n{statement}\nprint(' '.join(m for m in {modules!r} if m in sys.modules))"
    return subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout.split()


def test_the_config_models_load_without_the_client_or_the_job_models() -> None:
    heavy = ("kubernetes", "llmtrain.client", "llmtrain.api.job")
    assert loaded_after("import llmtrain.api.trainer, llmtrain.api.contract", *heavy) == []
    assert loaded_after("from llmtrain import TrainingClient", *heavy) == list(heavy)
