"""What the real API server refuses comes back from the client as errors that name the problem."""

from __future__ import annotations

import pytest
from kubernetes.client import CustomObjectsApi
from kubernetes.client.exceptions import ApiException
from kubernetes.config import new_client_from_config

from integration.sdk.jobs import python_job
from llmtrain import CRDNotInstalled, JobExists, JobNotFound, JobRejected, PermissionDenied, TrainingClient
from llmtrain.api.errors import InvalidJobError
from llmtrain.api.job import LLMTrainingJob
from llmtrain.client.errors import from_api_exception
from testenv.controlplane import ControlPlane


def test_server_side_validation_names_the_field_with_the_sdks_message(client: TrainingClient) -> None:
    job = LLMTrainingJob.pretrain("split", model="test", data="/data/tokens.bin", nodes=2, gpus=0)
    assert job.spec.trainer is not None
    # Assignment validates the field alone, not the rules across the spec: the server must catch it.
    job.spec.trainer.parallelism.tensor_parallel = 3
    with pytest.raises(JobRejected) as raised:
        client.create(job)
    with pytest.raises(InvalidJobError) as offline:
        LLMTrainingJob.from_dict(job.to_wire())
    assert (
        [str(v) for v in raised.value.violations]
        == [str(v) for v in offline.value.violations]
        == ["spec.trainer.parallelism.tensorParallel: 3 does not divide nodes x procsPerNode = 2"]
    )
    assert client.list() == []


def test_a_missing_job_is_not_found_for_every_call(client: TrainingClient) -> None:
    for call in (client.get, client.delete, client.suspend, client.resume, client.wait, lambda n: list(client.logs(n))):
        with pytest.raises(JobNotFound) as raised:
            call("ghost")
        assert raised.value.message == f'Job "ghost" not found in namespace "{client.namespace}".'


def test_a_taken_name_is_job_exists(client: TrainingClient) -> None:
    job = python_job("twice", "import time; time.sleep(60)")
    job.spec.run_policy.suspend = True
    client.create(job)
    with pytest.raises(JobExists, match='"twice" already exists'):
        client.create(job)


def test_a_user_without_rbac_is_denied(client: TrainingClient, control_plane: ControlPlane, namespace: str) -> None:
    kubeconfig = control_plane.service_account_kubeconfig(namespace, "no-rights")
    with TrainingClient(kubeconfig=kubeconfig) as denied:
        assert denied.namespace == namespace
        with pytest.raises(PermissionDenied) as raised:
            denied.list()
    assert (
        f'User "system:serviceaccount:{namespace}:no-rights" cannot list resource "llmtrainingjobs"'
        in raised.value.message
    )


def test_suspend_and_resume_set_the_run_policy(client: TrainingClient) -> None:
    client.create(python_job("pausable", "import time; time.sleep(60)"))
    assert client.suspend("pausable").spec.run_policy.suspend is True
    assert client.get("pausable").spec.run_policy.suspend is True
    assert client.resume("pausable").spec.run_policy.suspend is False


def test_the_servers_answer_for_a_resource_it_does_not_serve_reads_as_no_crd(
    control_plane: ControlPlane, namespace: str
) -> None:
    # The session's cluster has the CRD, so ask for a group it does not serve: the API
    # server answers that the way it answers for llmtrain.dev without the CRD.
    api = CustomObjectsApi(new_client_from_config(str(control_plane.kubeconfig_path)))  # type: ignore[no-untyped-call]
    with pytest.raises(ApiException) as raised:
        api.list_namespaced_custom_object("missing.llmtrain.dev", "v1alpha1", namespace, "llmtrainingjobs")
    translated = from_api_exception(raised.value, job="gpt", namespace=namespace)
    assert isinstance(translated, CRDNotInstalled)
    assert "kubectl apply -f manifests/crd.yaml" in translated.hint
