# Benchmarks. Included from the top-level Makefile.
#
# The Hugging Face Trainer baseline needs `accelerate`, a test dependency of trainer_image
# (the trainer itself does not use it), so `install` brings it.

BENCH_ARGS ?=

.PHONY: bench

bench: install ## CPU benchmark: our trainer vs the Hugging Face Trainer on the test preset (BENCH_ARGS="--out r.json")
	$(PY) bench/trainer_cpu.py $(BENCH_ARGS)

include bench/kubeflow.mk

.PHONY: bench-operator-scale

bench-operator-scale: install testenv kubeflow-operator ## our operator vs Kubeflow's on the local control plane, N jobs of 8 pods (BENCH_ARGS="--jobs 200 --hog 2 --out r.json")
	PYTHONPATH=tests $(PY) bench/operator_scale.py $(BENCH_ARGS)

.PHONY: bench-recovery

bench-recovery: install testenv ## recovery in place vs of the whole gang on the local cluster: a killed worker, a deleted pod, a hang (BENCH_ARGS="--out r.json")
	PYTHONPATH=tests $(PY) bench/recovery.py $(BENCH_ARGS)
