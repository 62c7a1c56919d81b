# End to end: `make demo` (the main job on the local cluster) and `make e2e-kind` (a real
# kind cluster, for workstations with Docker). Included by the root Makefile.

DEMO := PYTHONPATH=tests $(PY) -m e2e.demo
KEEP ?=

.PHONY: demo demo-down e2e e2e-kind

demo: install testenv $(NODE_KIND_TARGETS) ## the main job end to end on the local cluster (NODES=agent|containers; KEEP=1 leaves the cluster up)
	$(DEMO) --node-kind=$(NODES) $(if $(filter 1 yes true,$(KEEP)),--keep)

demo-down: ## stop the operator and the local cluster that `make demo KEEP=1` left running
	$(DEMO) down

e2e: install testenv ## run only the end-to-end tests (the demo included) on the local cluster
	$(PY) -m pytest tests/e2e $(PYTEST_ARGS)

e2e-kind: ## on a machine with Docker: kind cluster, images, helm install, the tiny CPU job, clean up
	tests/e2e/kind/run.sh
