"""`make demo`: the main job end to end on the local cluster.

Run as `PYTHONPATH=tests .venv/bin/python -m e2e.demo [--keep] [--dir DIR]`. The steps,
one module each:

- `cluster`: start the local cluster (tests/testenv) or reuse a running one; kubectl on it.
- `operator_process`: the CRD and the chart's ServiceAccount and RBAC (rendered by the real
  helm), then the operator as a process authenticating as that ServiceAccount.
- `data`: the claims of `manifests/examples/tiny-cpu.yaml`, filled by a one-off pod that runs
  `prepare_data.py` (corpus + tokenizer) from a ConfigMap, as on a real cluster.
- `submit`: `llmtrain submit manifests/examples/tiny-cpu.yaml --wait` (the live progress bar).
- `model`: where the checkpoint and the exported Hugging Face model are, and a few tokens
  generated from that model with `transformers`.
- `run`: the sequence, the step banners, clean-up or `--keep`.
"""
