#!/usr/bin/env bash
# `make e2e-kind`: the tiny CPU job on a real Kubernetes cluster, on a workstation with Docker.
#
#   1. builds the operator and trainer images (operator/Dockerfile, trainer_image/Dockerfile)
#   2. creates the kind cluster of tests/e2e/kind/kind-config.yaml and loads both images
#   3. helm installs charts/llmtrain-operator with those images
#   4. fills the claim tiny-data with a one-off pod (tests/e2e/manifests/tiny-data.yaml runs
#      tests/e2e/demo/prepare_data.py from a ConfigMap, in the trainer image)
#   5. applies manifests/examples/tiny-cpu.yaml, waits for Succeeded, prints both ranks' logs
#   6. deletes the cluster (KEEP=1 keeps it)
#
# Needs: docker, kind, kubectl and helm on PATH (bin/kubectl and bin/helm of `make testenv`
# are used when present). The trainer image is built on the CUDA PyTorch image (several GB);
# it runs on CPU as well, which is what the tiny job does (gloo).
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)"
cd "$REPO_ROOT"

VERSION="$(tr -d '[:space:]' < VERSION)"
CLUSTER_NAME=llmtrain-e2e
KIND_CONFIG=tests/e2e/kind/kind-config.yaml
OPERATOR_REPOSITORY=llmtrain/operator
TRAINER_REPOSITORY=llmtrain/trainer
OPERATOR_IMAGE="${OPERATOR_REPOSITORY}:${VERSION}"
TRAINER_IMAGE="${TRAINER_REPOSITORY}:${VERSION}"
RELEASE=llmtrain-operator
OPERATOR_NAMESPACE=llmtrain-system
CHART=charts/llmtrain-operator
JOB_FILE=manifests/examples/tiny-cpu.yaml
JOB_NAME=tiny-cpu
DATA_MANIFEST=tests/e2e/manifests/tiny-data.yaml
DATA_SCRIPT=tests/e2e/demo/prepare_data.py
DATA_CONFIGMAP=tiny-data-script
DATA_POD=tiny-data-prep
JOB_TIMEOUT_SECONDS="${JOB_TIMEOUT_SECONDS:-1800}"

step() { printf '\n==> %s\n' "$*"; }
tool() {  # the repository's build of a tool when there is one, else the one on PATH
  if [[ -x "bin/$1" ]]; then echo "$REPO_ROOT/bin/$1"; else command -v "$1" || { echo "missing: $1" >&2; exit 2; }; fi
}
for needed in docker kind; do command -v "$needed" >/dev/null || { echo "make e2e-kind needs $needed on PATH" >&2; exit 2; }; done
KUBECTL="$(tool kubectl)"
HELM="$(tool helm)"
KUBECONFIG_FILE="$(mktemp -t llmtrain-kind-kubeconfig.XXXXXX)"
export KUBECONFIG="$KUBECONFIG_FILE"
kubectl() { "$KUBECTL" "$@"; }

cleanup() {
  local code=$?
  if [[ $code -ne 0 ]]; then
    step "failed (exit $code); what the cluster says"
    kubectl get llmtrainingjobs,pods,pvc -A -o wide || true
    kubectl describe llmtrainingjob "$JOB_NAME" || true
    kubectl -n "$OPERATOR_NAMESPACE" logs "deployment/$RELEASE" --tail=60 || true
  fi
  if [[ "${KEEP:-}" == 1 ]]; then
    step "keeping the kind cluster $CLUSTER_NAME: kubectl --kubeconfig=$KUBECONFIG_FILE get ltj,pods"
    echo "    delete it with: kind delete cluster --name $CLUSTER_NAME"
  else
    step "deleting the kind cluster $CLUSTER_NAME"
    kind delete cluster --name "$CLUSTER_NAME" || true
    rm -f "$KUBECONFIG_FILE"
  fi
  exit $code
}

step "building $OPERATOR_IMAGE and $TRAINER_IMAGE"
docker build -f operator/Dockerfile -t "$OPERATOR_IMAGE" .
docker build -f trainer_image/Dockerfile -t "$TRAINER_IMAGE" .

step "creating the kind cluster $CLUSTER_NAME"
kind delete cluster --name "$CLUSTER_NAME" >/dev/null 2>&1 || true
trap cleanup EXIT
kind create cluster --name "$CLUSTER_NAME" --config "$KIND_CONFIG" --kubeconfig "$KUBECONFIG_FILE" --wait 180s

step "loading the images into the cluster"
kind load docker-image "$OPERATOR_IMAGE" "$TRAINER_IMAGE" --name "$CLUSTER_NAME"

step "helm install $RELEASE ($CHART) into $OPERATOR_NAMESPACE"
"$HELM" install "$RELEASE" "$CHART" --namespace "$OPERATOR_NAMESPACE" --create-namespace \
  --set image.repository="$OPERATOR_REPOSITORY" --set image.tag="$VERSION" \
  --set trainer.image.repository="$TRAINER_REPOSITORY" --set trainer.image.tag="$VERSION" \
  --wait --timeout 5m
kubectl -n "$OPERATOR_NAMESPACE" rollout status "deployment/$RELEASE" --timeout=120s

step "writing the corpus and tokenizer into the claim tiny-data (pod $DATA_POD)"
kubectl create configmap "$DATA_CONFIGMAP" --from-file="$DATA_SCRIPT" --dry-run=client -o yaml | kubectl apply -f -
kubectl apply -f "$DATA_MANIFEST"
kubectl wait --for=jsonpath='{.status.phase}'=Succeeded "pod/$DATA_POD" --timeout=600s
kubectl logs "$DATA_POD"

step "applying $JOB_FILE and waiting for it to succeed"
kubectl apply -f "$JOB_FILE"
deadline=$((SECONDS + JOB_TIMEOUT_SECONDS))
phase=""
while (( SECONDS < deadline )); do
  phase="$(kubectl get llmtrainingjob "$JOB_NAME" -o jsonpath='{.status.phase}')"
  progress="$(kubectl get llmtrainingjob "$JOB_NAME" -o jsonpath='{.status.progress.step}/{.status.progress.totalSteps} loss {.status.progress.loss}')"
  echo "    $(date +%T) ${phase:-Pending} step $progress"
  [[ "$phase" == Succeeded || "$phase" == Failed ]] && break
  sleep 10
done

step "logs of $JOB_NAME"
for rank in 0 1; do
  echo "--- $JOB_NAME-node-$rank"
  kubectl logs "$JOB_NAME-node-$rank" || true
done
kubectl get llmtrainingjob "$JOB_NAME"
if [[ "$phase" != Succeeded ]]; then
  echo "the job ended ${phase:-without a phase} (timeout ${JOB_TIMEOUT_SECONDS}s)" >&2
  exit 1
fi
step "$JOB_NAME Succeeded on kind"
