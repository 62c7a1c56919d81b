# The container images of the test cluster's real nodes (tests/testenv/images.py): a Debian
# base with a Python venv, the pause image and the operator and trainer (CPU) images of the
# repository's Dockerfiles, built offline with buildah into docker-archives under
# bin/images/, each rebuilt only when its inputs change. Included by the root Makefile.

# What the real-node cluster and the image builds need from Debian (installed as root).
NODE_PACKAGES := containerd runc containernetworking-plugins buildah mmdebstrap iptables conntrack socat

.PHONY: node-packages images

node-packages: ## apt-get install what real nodes and `make images` need (containerd, runc, buildah, mmdebstrap, ...), once
	@missing=$$(for p in $(NODE_PACKAGES); do \
		[ "$$(dpkg-query -W -f='$${db:Status-Status}' $$p 2>/dev/null)" = installed ] || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo ">> installing" $$missing; \
		apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $$missing; \
	fi

images: install node-packages ## build the pause, operator and trainer (CPU) images into bin/images/ (cached; REBUILD=1 forces)
	PYTHONPATH=tests $(PY) -m testenv.images $(if $(filter 1 yes true,$(REBUILD)),--rebuild)
