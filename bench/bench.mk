# Benchmarks. Included from the top-level Makefile (`include bench/bench.mk`).
#
# The Hugging Face Trainer needs `accelerate`, which none of our packages depends on (the
# trainer image does not use it), so the benchmark installs it into the venv on first use.

BENCH_INSTALLED := $(VENV)/.bench-installed
BENCH_ARGS ?=

.PHONY: bench

$(BENCH_INSTALLED): $(PIP_INSTALLED)
	@echo ">> installing accelerate for the Hugging Face Trainer baseline"
	$(PY) -m pip install --quiet 'accelerate>=1.1.0'
	@touch $@

bench: $(BENCH_INSTALLED) ## CPU benchmark: our trainer vs the Hugging Face Trainer on the test preset (BENCH_ARGS="--out r.json")
	$(PY) bench/trainer_cpu.py $(BENCH_ARGS)
