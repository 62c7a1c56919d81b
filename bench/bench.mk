# Benchmarks. Included from the top-level Makefile.
#
# The Hugging Face Trainer baseline needs `accelerate`, a test dependency of trainer_image
# (the trainer itself does not use it), so `install` brings it.

BENCH_ARGS ?=

.PHONY: bench

bench: install ## CPU benchmark: our trainer vs the Hugging Face Trainer on the test preset (BENCH_ARGS="--out r.json")
	$(PY) bench/trainer_cpu.py $(BENCH_ARGS)
