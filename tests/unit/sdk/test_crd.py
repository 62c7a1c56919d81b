"""The generated CRD: committed copies up to date, and a schema the API server accepts."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from llmtrain.api import crd
from llmtrain.api.base import ApiModel, cel_guard
from llmtrain.api.job import LLMTrainingJob
from llmtrain.api.spec import SPEC_RULES, Elastic, LLMTrainingJobSpec

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
        typed = (
            "type" in node or node.get("x-kubernetes-int-or-string") or node.get("x-kubernetes-preserve-unknown-fields")
        )
        assert typed, f"{path} has no type"
        if "anyOf" in node:
            assert node.get("x-kubernetes-int-or-string"), f"{path}: anyOf only for int-or-string"


def test_unknown_fields_are_kept_only_inside_kubernetes_types() -> None:
    kept = [path for path, node in _nodes(_schema()) if node.get("x-kubernetes-preserve-unknown-fields")]
    assert kept, "the ephemeral volume template's managedFields are free-form in Kubernetes too"
    assert all(path.endswith("fieldsV1") for path in kept), kept


def test_every_spec_rule_is_in_the_crd() -> None:
    rules = [entry["rule"] for entry in _schema()["properties"]["spec"]["x-kubernetes-validations"]]
    assert rules == [
        f"!({cel_guard(LLMTrainingJobSpec, rule.reads)}) || ({rule.cel.rule})" if rule.reads else rule.cel.rule
        for rule in SPEC_RULES
    ]


def _api_models() -> list[type[ApiModel]]:
    found: list[type[ApiModel]] = []
    queue: list[Any] = [LLMTrainingJob]
    while queue:
        annotation = queue.pop()
        if isinstance(annotation, type) and issubclass(annotation, ApiModel):
            if annotation in found:
                continue
            found.append(annotation)
            queue.extend(field.annotation for field in annotation.model_fields.values())
        queue.extend(getattr(annotation, "__args__", ()))
    return found


def test_every_rule_of_every_model_is_in_the_crd_with_its_message() -> None:
    entries = [entry for _, node in _nodes(_schema()) for entry in node.get("x-kubernetes-validations", [])]
    models = [model for model in _api_models() if model.rules]
    assert len(models) >= 7, models
    for model in models:
        for rule in model.rules:
            matching = [
                entry
                for entry in entries
                if entry["rule"].endswith(f"({rule.cel.rule})") or entry["rule"] == rule.cel.rule
            ]
            assert len(matching) == 1, (model.__name__, rule.cel.rule)
            assert matching[0]["message"] == rule.cel.message


def test_a_rule_is_guarded_by_the_bounds_of_what_it_reads() -> None:
    assert cel_guard(Elastic, ("minNodes",)) == "(has(self.minNodes) && self.minNodes >= 1 && self.minNodes <= 4096)"
    assert cel_guard(LLMTrainingJobSpec, ("trainer.data.format", "elastic")) == (
        "(!has(self.trainer) || (has(self.trainer.data) && (!has(self.trainer.data.format) || "
        "self.trainer.data.format in ['tokens', 'text', 'sft'])))"
    )
    assert cel_guard(LLMTrainingJobSpec, ("image",)) == "true"


def _own_sections(schema: dict[str, Any], path: str = "spec") -> Iterator[tuple[str, dict[str, Any]]]:
    """The nodes of the spec outside Kubernetes' own types (those have no descriptions in the CRD)."""
    yield path, schema
    for name, child in schema.get("properties", {}).items():
        if "description" in child:
            yield from _own_sections(child, f"{path}.{name}")


def test_required_fields_and_enums_of_the_spec_do_not_block_the_rules() -> None:
    # The API server skips every CEL rule once the schema reports Required or NotSupported:
    # the spec's own sections check both with CEL instead.
    spec = _schema()["properties"]["spec"]
    sections = dict(_own_sections(spec))
    assert "spec.trainer.data" in sections and "spec.elastic" in sections
    for path, node in sections.items():
        assert "required" not in node and "enum" not in node, path
    data = sections["spec.trainer.data"]
    assert {
        "rule": "has(self.paths)",
        "message": "Field required",
        "fieldPath": ".paths",
        "reason": "FieldValueRequired",
    } in (data["x-kubernetes-validations"])
    assert data["properties"]["paths"]["description"].endswith("Required.")
    strategy = sections["spec.trainer.parallelism.strategy"]
    assert strategy["x-kubernetes-validations"] == [
        {"rule": "self in ['ddp', 'fsdp', 'hsdp']", "message": "Input should be 'ddp', 'fsdp' or 'hsdp'"}
    ]
    assert "One of: uint16, uint32." in sections["spec.trainer.data.tokenDtype"]["description"]
    # Kubernetes' own types keep their required fields (their lists cannot be costed for CEL).
    assert spec["properties"]["env"]["items"]["required"] == ["name"]
    # Status is written by the operator alone and keeps its schema as it is.
    assert "enum" in _schema()["properties"]["status"]["properties"]["phase"]


def test_quantities_refuse_negative_values_for_integers_and_strings() -> None:
    resources = _schema()["properties"]["spec"]["properties"]["resources"]["properties"]
    for name in ("cpu", "memory"):
        node = resources[name]
        assert node["x-kubernetes-int-or-string"] is True
        assert node["maxLength"] == 64
        assert node["x-kubernetes-validations"][0]["rule"] == (
            "!isQuantity(string(self)) || quantity(string(self)).compareTo(quantity('0')) >= 0"
        )
    assert resources["memory"]["x-kubernetes-validations"][1]["rule"].endswith(".compareTo(quantity('0')) != 0")
    assert len(resources["cpu"]["x-kubernetes-validations"]) == 1, "zero CPU is allowed"
    assert resources["extra"]["maxProperties"] == 16


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
    assert "| `tensorParallel` | int (>= 1) | `1` |" in page.read_text()
    assert "| `nodes` | int (1 to 4096) | `1` |" in page.read_text()
    assert "| `memory` | quantity (a size above zero, e.g. `400Gi`) |" in page.read_text()
    assert "| `volumes` | list of Kubernetes Volume |" in page.read_text()
