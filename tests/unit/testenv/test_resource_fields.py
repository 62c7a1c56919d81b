"""The node agent reports a container's resources through the downward API as the kubelet does."""

from __future__ import annotations

import pytest

from testenv.agent.podenv import divide_up, resource_value


@pytest.mark.parametrize(
    ("quantity", "divisor", "value"),
    [
        ("1500m", None, "2"),  # rounded up
        ("2", "0", "2"),  # the API server's default divisor "0" means 1
        ("500m", "1m", "500"),
        ("4Gi", "1Mi", "4096"),
        ("128974848", "1Mi", "123"),
        ("1e3", None, "1000"),
        ("+500m", "1", "1"),
    ],
)
def test_a_quantity_divided_by_the_divisor_is_rounded_up(quantity: str, divisor: str | None, value: str) -> None:
    assert divide_up(quantity, divisor) == value


def test_an_unset_limit_reads_as_the_nodes_allocatable() -> None:
    pod = {"spec": {"containers": [{"name": "main", "resources": {"requests": {"cpu": "250m"}}}]}}
    allocatable = {"cpu": "4", "memory": "8Gi"}
    assert resource_value(pod, {"resource": "requests.cpu", "divisor": "1m"}, "main", allocatable) == "250"
    assert resource_value(pod, {"resource": "limits.cpu"}, "main", allocatable) == "4"
    assert resource_value(pod, {"resource": "limits.memory", "divisor": "1Gi"}, "main", allocatable) == "8"
    assert resource_value(pod, {"resource": "requests.memory"}, "main", allocatable) == "0"
