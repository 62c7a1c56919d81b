"""Shared pytest configuration: the real control plane and node agent fixtures of
tests/testenv (see testenv/pytest_plugin.py), and the operator running against them
(see operator_fixture.py)."""

pytest_plugins = ("testenv.pytest_plugin", "support.operator_fixture", "support.curves")
