"""Shared pytest configuration: the real control plane and node agent fixtures of
tests/testenv (see testenv/pytest_plugin.py)."""

pytest_plugins = ("testenv.pytest_plugin",)
