"""Helpers shared by the tests: job manifests and waiting on their status, the operator
running under the chart's RBAC, the chart's rules, the CRD install, the validation table
and the runnable snippets of the docs."""
