"""`make e2e-kind` cannot run here (no container engine), so this checks that its inputs
agree with the chart they deploy: image names and tags, ports, user, entrypoint, the
files the Dockerfiles copy, the kind cluster's shape and the tiny job's storage. The chart
is rendered by the real helm with its default values, as `helm install` renders it."""

from __future__ import annotations

import re
import shlex
import subprocess
from pathlib import Path
from typing import Any

import yaml

from e2e.demo.data import CHECKPOINT_CLAIM, DATA_CLAIM, PREP_POD, SCRIPT_CONFIGMAP
from support.chart_rbac import CHART_DIR, find, render
from testenv.paths import REPO_ROOT

KIND_DIR = REPO_ROOT / "tests" / "e2e" / "kind"
RUN_SCRIPT = KIND_DIR / "run.sh"
OPERATOR_DOCKERFILE = REPO_ROOT / "operator" / "Dockerfile"
TRAINER_DOCKERFILE = REPO_ROOT / "trainer_image" / "Dockerfile"
VERSION = (REPO_ROOT / "VERSION").read_text().strip()


def script_variables() -> dict[str, str]:
    """The plain `NAME=value` assignments at the top level of run.sh."""
    found = {}
    for line in RUN_SCRIPT.read_text().splitlines():
        match = re.fullmatch(r"([A-Z_]+)=([^$`(\s]+)", line.strip())
        if match:
            found[match.group(1)] = match.group(2)
    return found


def dockerfile_instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of a Dockerfile, continuation lines joined."""
    text = re.sub(r"\\\n", " ", path.read_text())
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith("#")]
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1] if " " in line else "") for line in lines]


def operator_container() -> dict[str, Any]:
    deployment = find(render(), "Deployment")[0]
    container: dict[str, Any] = deployment["spec"]["template"]["spec"]["containers"][0]
    container["podSecurityContext"] = deployment["spec"]["template"]["spec"]["securityContext"]
    return container


def test_the_images_kind_loads_are_the_ones_the_chart_runs() -> None:
    chart = yaml.safe_load((CHART_DIR / "Chart.yaml").read_text())
    assert chart["appVersion"] == VERSION, "the chart's default image tag is the version run.sh builds"
    variables = script_variables()
    container = operator_container()
    assert container["image"] == f"{variables['OPERATOR_REPOSITORY']}:{VERSION}"
    env = {e["name"]: e.get("value") for e in container["env"]}
    trainer_image = f"{variables['TRAINER_REPOSITORY']}:{VERSION}"
    assert env["LLMTRAIN_DEFAULT_IMAGE"] == trainer_image, "jobs without spec.image run the image kind loaded"
    # The data pod runs in the trainer image too, and both are loaded, never pulled.
    data_pod = next(
        d for d in yaml.safe_load_all((REPO_ROOT / variables["DATA_MANIFEST"]).read_text()) if d["kind"] == "Pod"
    )
    assert data_pod["spec"]["containers"][0]["image"] == trainer_image
    assert container["imagePullPolicy"] == data_pod["spec"]["containers"][0]["imagePullPolicy"] == "IfNotPresent"


def test_the_operator_image_matches_the_deployment() -> None:
    instructions = dockerfile_instructions(OPERATOR_DOCKERFILE)
    container = operator_container()
    exposed = {int(port) for kind, args in instructions if kind == "EXPOSE" for port in args.split()}
    assert exposed == {port["containerPort"] for port in container["ports"]} == {8080, 8081}
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert {int(env["LLMTRAIN_METRICS_PORT"]), int(env["LLMTRAIN_HEALTH_PORT"])} == exposed
    user = next(args for kind, args in instructions if kind == "USER")
    security = container["podSecurityContext"]
    assert user == f"{security['runAsUser']}:{security['runAsGroup']}" == "65532:65532"
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert "PYTHONDONTWRITEBYTECODE=1" in " ".join(args for kind, args in instructions if kind == "ENV")
    entrypoint = next(args for kind, args in instructions if kind == "ENTRYPOINT")
    assert yaml.safe_load(entrypoint) == container["command"] == ["python", "-m", "llmtrain_operator"]
    installs = re.findall(r"pip install ([^&]+)", " ".join(args for kind, args in instructions if kind == "RUN"))
    assert [spec.split() for spec in installs] == [["/src/sdk", "/src/operator"]], "the SDK and the operator, no torch"


def test_the_dockerfiles_copy_what_exists_and_what_the_build_context_keeps() -> None:
    ignored = [line for line in (REPO_ROOT / ".dockerignore").read_text().splitlines() if line and line[0] != "#"]
    for dockerfile, packages in (
        (OPERATOR_DOCKERFILE, {"sdk", "operator"}),
        (TRAINER_DOCKERFILE, {"sdk", "trainer_image"}),
    ):
        sources = [shlex.split(args)[0] for kind, args in dockerfile_instructions(dockerfile) if kind == "COPY"]
        assert {source.split("/")[0] for source in sources} == packages, dockerfile
        for source in sources:
            assert (REPO_ROOT / source).exists(), f"{dockerfile} copies {source}, which does not exist"
            assert f"!{source}" in ignored, f".dockerignore leaves {source} out of the build context"


def test_the_kind_cluster_and_the_tiny_job_fit_together() -> None:
    config = yaml.safe_load((KIND_DIR / "kind-config.yaml").read_text())
    variables = script_variables()
    assert config["name"] == variables["CLUSTER_NAME"]
    # ReadWriteOnce local-path claims: every pod must land on the one node.
    assert [node["role"] for node in config["nodes"]] == ["control-plane"]
    job = yaml.safe_load((REPO_ROOT / variables["JOB_FILE"]).read_text())
    assert job["metadata"]["name"] == variables["JOB_NAME"]
    claims = {v["persistentVolumeClaim"]["claimName"] for v in job["spec"]["volumes"] if "persistentVolumeClaim" in v}
    claims.add(job["spec"]["checkpoint"]["volume"]["persistentVolumeClaim"]["claimName"])
    documents = list(yaml.safe_load_all((REPO_ROOT / variables["DATA_MANIFEST"]).read_text()))
    assert claims == {d["metadata"]["name"] for d in documents if d["kind"] == "PersistentVolumeClaim"}
    assert claims == {DATA_CLAIM, CHECKPOINT_CLAIM}
    pod = next(d for d in documents if d["kind"] == "Pod")
    assert pod["metadata"]["name"] == variables["DATA_POD"] == PREP_POD
    assert variables["DATA_CONFIGMAP"] == SCRIPT_CONFIGMAP
    assert {v["configMap"]["name"] for v in pod["spec"]["volumes"] if "configMap" in v} == {SCRIPT_CONFIGMAP}
    # The pod writes the files the job reads.
    data = job["spec"]["trainer"]["data"]
    mount = next(m["mountPath"] for m in pod["spec"]["containers"][0]["volumeMounts"] if m["name"] == "data")
    assert pod["spec"]["containers"][0]["command"][-1] == mount == "/data"
    assert data["paths"] == [f"{mount}/corpus.txt"] and data["tokenizer"] == f"{mount}/tokenizer.json"


def test_the_script_is_valid_bash_and_the_make_target_runs_it() -> None:
    subprocess.run(["bash", "-n", str(RUN_SCRIPT)], check=True)
    assert RUN_SCRIPT.stat().st_mode & 0o111, "run.sh is executable"
    makefile = (REPO_ROOT / "tests" / "e2e" / "e2e.mk").read_text()
    assert re.search(r"^e2e-kind:.*\n\ttests/e2e/kind/run\.sh$", makefile, re.MULTILINE)
