# The Kubeflow Training Operator, the baseline of bench/operator_scale.py (issue 15). Built
# from its Go module once into bin/ (ignored by git); rebuilt only when the binary is missing.
# Its CRDs and RBAC are read by the benchmark from the Go module cache (`go env GOMODCACHE`).

KUBEFLOW_VERSION := v1.8.1
KUBEFLOW_DIR := bin/kubeflow-$(KUBEFLOW_VERSION)
KUBEFLOW_OPERATOR := $(KUBEFLOW_DIR)/training-operator.v1

.PHONY: kubeflow-operator

$(KUBEFLOW_OPERATOR):
	@echo ">> building the Kubeflow Training Operator $(KUBEFLOW_VERSION) into $(KUBEFLOW_DIR) (a few minutes cold)"
	GOBIN=$(CURDIR)/$(KUBEFLOW_DIR) GOFLAGS=-buildvcs=false go install -trimpath -ldflags='-s -w' \
		github.com/kubeflow/training-operator/cmd/training-operator.v1@$(KUBEFLOW_VERSION)

kubeflow-operator: $(KUBEFLOW_OPERATOR) ## build the Kubeflow Training Operator v1.8.1 into bin/ (the operator benchmark's baseline)
