"""Timestamps in the formats of the Kubernetes API."""

from __future__ import annotations

from datetime import UTC, datetime


def now() -> str:
    """metav1.Time: seconds precision, UTC."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def micro_now() -> str:
    """metav1.MicroTime, as Leases use."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
