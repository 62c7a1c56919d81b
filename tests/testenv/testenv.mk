# Builds the real Kubernetes control plane, etcd, kubectl and helm from their Go modules
# into bin/, plus the pod network shim of the node agent (tests/testenv/podnet.c)
# (`make testenv`); and, for real nodes only, kubelet, kube-proxy and CoreDNS
# (`make testenv-nodes`, separate so that the node agent's users do not build them).
# Versions are pinned by tests/testenv/go.mod (Kubernetes, etcd; kubelet and kube-proxy
# too), tests/testenv/helm/go.mod (helm) and tests/testenv/coredns/go.mod (CoreDNS, with
# only the plugins a test cluster uses: coredns/main.go); the binaries are rebuilt only
# when those change. Included by the root Makefile.

TESTENV_DIR := tests/testenv
TESTENV_BIN := bin
# Stamp the versions the release builds carry: clients (helm, kubectl, the SDK) compare them.
go_version = $(shell cd $(TESTENV_DIR)/$(1) && go list -f '{{.Version}}' -m $(2))
KUBE_VERSION = $(call go_version,,k8s.io/kubernetes)
KUBE_VERSION_FLAGS = $(foreach pkg,k8s.io/component-base/version k8s.io/client-go/pkg/version,\
	-X $(pkg).gitVersion=$(KUBE_VERSION) -X $(pkg).gitMajor=1 \
	-X $(pkg).gitMinor=$(word 2,$(subst ., ,$(KUBE_VERSION))) -X $(pkg).gitTreeState=clean)
HELM_KUBE_MINOR = $(word 2,$(subst ., ,$(call go_version,helm,k8s.io/client-go)))
HELM_VERSION_FLAGS = -X helm.sh/helm/v3/internal/version.version=$(call go_version,helm,helm.sh/helm/v3) \
	$(foreach pkg,helm.sh/helm/v3/pkg/chartutil helm.sh/helm/v3/pkg/lint/rules,\
	-X $(pkg).k8sVersionMajor=1 -X $(pkg).k8sVersionMinor=$(HELM_KUBE_MINOR))
TESTENV_CLI := PYTHONPATH=tests .venv/bin/python -m testenv
KUBE_BINARIES := $(addprefix $(TESTENV_BIN)/,etcd kube-apiserver kube-controller-manager kube-scheduler kubectl)
PODNET_SHIM := $(TESTENV_BIN)/libtestenv-podnet.so
TESTENV_BINARIES := $(KUBE_BINARIES) $(TESTENV_BIN)/helm $(PODNET_SHIM)
NODE_BINARIES := $(addprefix $(TESTENV_BIN)/,kubelet kube-proxy)
COREDNS := $(TESTENV_BIN)/coredns
COREDNS_VERSION_FLAGS = -X github.com/coredns/coredns/coremain.GitCommit=$(call go_version,coredns,github.com/coredns/coredns)
TESTENV_NODE_BINARIES := $(NODE_BINARIES) $(COREDNS)

.PHONY: testenv testenv-nodes real-nodes cluster-up cluster-down cluster-status

testenv: $(TESTENV_BINARIES) ## build etcd, the Kubernetes control plane, kubectl and helm into bin/

testenv-nodes: $(TESTENV_NODE_BINARIES) ## build a real node's kubelet, kube-proxy and CoreDNS into bin/

# One `go build` for all five shares the compilation of their common dependencies.
# etcd's main package is go.etcd.io/etcd/server/v3, which go names "server".
$(KUBE_BINARIES) &: $(TESTENV_DIR)/go.mod $(TESTENV_DIR)/go.sum
	@echo ">> building etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kubectl into $(TESTENV_BIN)/ (versions: $(TESTENV_DIR)/go.mod; a cold build takes a while)"
	@mkdir -p $(TESTENV_BIN)
	cd $(TESTENV_DIR) && go build -trimpath -ldflags='-s -w $(KUBE_VERSION_FLAGS)' -o $(abspath $(TESTENV_BIN))/ \
		go.etcd.io/etcd/server/v3 \
		k8s.io/kubernetes/cmd/kube-apiserver \
		k8s.io/kubernetes/cmd/kube-controller-manager \
		k8s.io/kubernetes/cmd/kube-scheduler \
		k8s.io/kubernetes/cmd/kubectl
	mv -f $(TESTENV_BIN)/server $(TESTENV_BIN)/etcd
	@touch $(KUBE_BINARIES)

# The same module and flags as the control plane: kubelet and kube-proxy report v1.x.y too.
$(NODE_BINARIES) &: $(TESTENV_DIR)/go.mod $(TESTENV_DIR)/go.sum
	@echo ">> building kubelet, kube-proxy into $(TESTENV_BIN)/ (versions: $(TESTENV_DIR)/go.mod; a cold build takes a while)"
	@mkdir -p $(TESTENV_BIN)
	cd $(TESTENV_DIR) && go build -trimpath -ldflags='-s -w $(KUBE_VERSION_FLAGS)' -o $(abspath $(TESTENV_BIN))/ \
		k8s.io/kubernetes/cmd/kubelet \
		k8s.io/kubernetes/cmd/kube-proxy
	@touch $(NODE_BINARIES)

# CoreDNS's own main package links every plugin; coredns/main.go links only the ones a
# test cluster's Corefile uses. `coredns -version` shows the module version as the commit.
$(COREDNS): $(addprefix $(TESTENV_DIR)/coredns/,go.mod go.sum main.go)
	@echo ">> building coredns into $(TESTENV_BIN)/ (version: $(TESTENV_DIR)/coredns/go.mod)"
	@mkdir -p $(TESTENV_BIN)
	cd $(TESTENV_DIR)/coredns && go build -trimpath -ldflags='-s -w $(COREDNS_VERSION_FLAGS)' -o $(abspath $@) .

$(TESTENV_BIN)/helm: $(TESTENV_DIR)/helm/go.mod $(TESTENV_DIR)/helm/go.sum
	@echo ">> building helm into $(TESTENV_BIN)/ (version: $(TESTENV_DIR)/helm/go.mod)"
	@mkdir -p $(TESTENV_BIN)
	cd $(TESTENV_DIR)/helm && go build -trimpath -ldflags='-s -w $(HELM_VERSION_FLAGS)' -o $(abspath $@) helm.sh/helm/v3/cmd/helm

$(PODNET_SHIM): $(TESTENV_DIR)/podnet.c
	@echo ">> compiling the node agent's pod network shim"
	@mkdir -p $(TESTENV_BIN)
	gcc -O2 -Wall -Wextra -shared -fPIC -o $@ $< -ldl

# NODES=agent (the default): the node agent runs pods as local processes. NODES=containers:
# real kubelets on containerd run the images of our Dockerfiles (root; see real-nodes).
NODES ?= agent
NODE_KIND_TARGETS := $(if $(filter containers,$(NODES)),real-nodes)

cluster-up: install testenv $(NODE_KIND_TARGETS) ## start a local cluster in the background (NODES=agent|containers; kubeconfig: .localcluster/kubeconfig)
	$(TESTENV_CLI) up --node-kind=$(NODES)

# Real nodes need root, a few Debian packages, cgroup v1, kubelet and friends, and the images.
# The root check comes first so that a machine without it hears why before anything builds.
real-nodes: ## check this machine can run real nodes, then build what they need (packages, kubelet, kube-proxy, CoreDNS, images)
	@if [ "$$(id -u)" != 0 ]; then \
		echo "real nodes (kubelets on containerd) need root: run as root, or leave them out with REAL_NODES=0 (make test REAL_NODES=0)" >&2; \
		exit 1; fi
	@$(MAKE) --no-print-directory node-packages install
	@PYTHONPATH=tests $(PY) -c 'from testenv.containers.cluster import check_host; check_host()' \
		|| { echo "leave real nodes out with REAL_NODES=0 (make test REAL_NODES=0)" >&2; exit 1; }
	@$(MAKE) --no-print-directory testenv-nodes images

cluster-down: ## stop the local cluster
	$(TESTENV_CLI) down

cluster-status: ## show whether the local cluster is running
	$(TESTENV_CLI) status
