"""Real nodes for the local cluster: kubelets on containerd, in a network namespace of the
cluster's own (see `testenv.containers.cluster`)."""
