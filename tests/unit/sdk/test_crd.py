"""The generated CRD: committed copies up to date, and a schema the API server accepts."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from llmtrain.api import crd
from llmtrain.api.rules import SPEC_RULES

ROOT = Path(__file__).parents[3]
COMMITTED = [ROOT / "manifests" / "crd.yaml", ROOT / "charts" / "llmtrain-operator" / "crds" / "llmtrainingjobs.yaml"]


@pytest.mark.parametrize("path", COMMITTED, ids=lambda path: str(path.relative_to(ROOT)))
def test_committed_crd_matches_the_generator(path: Path) -> None:
    assert path.read_text() == crd.render(), "the CRD is stale: run `make crd`"


def test_check_mode_reports_a_stale_file(tmp_path: Path) -> None:
    stale = tmp_path / "crd.yaml"
    stale.write_text("stale\n")
    assert crd.main(["--check", str(stale)]) == 1
    assert crd.main(["--write", str(stale)]) == 0
    assert crd.main(["--check", str(stale)]) == 0


def _nodes(schema: dict[str, Any], path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    yield path, schema
    for name, child in schema.get("properties", {}).items():
        yield from _nodes(child, f"{path}.{name}")
    if "items" in schema:
        yield from _nodes(schema["items"], f"{path}[]")
    if isinstance(schema.get("additionalProperties"), dict):
        yield from _nodes(schema["additionalProperties"], f"{path}{{}}")


def _schema() -> dict[str, Any]:
    document = yaml.safe_load(crd.render())
    schema: dict[str, Any] = document["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    return schema


def test_schema_is_structural() -> None:
    for path, node in _nodes(_schema()):
        assert "$ref" not in node and "$defs" not in node, path
        assert node.get("additionalProperties") is not False, path
        assert "title" not in node and "default" not in node, path
        typed = "type" in node or node.get("x-kubernetes-int-or-string") or node.get("x-kubernetes-preserve-unknown-fields")
        assert typed, f"{path} has no type"
        if "anyOf" in node:
            assert node.get("x-kubernetes-int-or-string"), f"{path}: anyOf only for int-or-string"


def test_unknown_fields_are_kept_only_inside_kubernetes_types() -> None:
    kept = [path for path, node in _nodes(_schema()) if node.get("x-kubernetes-preserve-unknown-fields")]
    assert kept, "the ephemeral volume template's managedFields are free-form in Kubernetes too"
    assert all(path.endswith("fieldsV1") for path in kept), kept


def test_every_spec_rule_is_in_the_crd() -> None:
    rules = [entry["rule"] for entry in _schema()["properties"]["spec"]["x-kubernetes-validations"]]
    assert rules == [rule.cel.rule for rule in SPEC_RULES]


def test_resource_names_and_columns() -> None:
    document = yaml.safe_load(crd.render())
    names = document["spec"]["names"]
    assert (names["kind"], names["plural"], names["shortNames"], names["categories"]) == (
        "LLMTrainingJob",
        "llmtrainingjobs",
        ["ltj"],
        ["llmtrain"],
    )
    version = document["spec"]["versions"][0]
    assert version["subresources"] == {"status": {}}
    columns = [column["name"] for column in version["additionalPrinterColumns"] if "priority" not in column]
    assert columns == ["Phase", "Nodes", "Step", "Loss", "Age"]


def test_client_side_apply_can_store_the_crd() -> None:
    # kubectl apply keeps the whole object in an annotation limited to 256 KiB.
    assert len(crd.render().encode()) < 256 * 1024


def test_committed_spec_reference_matches_the_models() -> None:
    from llmtrain.api import reference

    page = ROOT / "docs" / "spec-reference.md"
    assert page.read_text() == reference.render(), "docs/spec-reference.md is stale: run `make crd`"
    assert "| `tensorParallel` | int | `1` |" in page.read_text()
    assert "| `volumes` | list of Kubernetes Volume |" in page.read_text()
