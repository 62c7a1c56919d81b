"""metav1.Conditions that change their transition time only when their truth changes."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from llmtrain.api.status import Condition, ConditionType


def set_condition(
    conditions: list[Condition],
    type_: ConditionType,
    status: Literal["True", "False", "Unknown"],
    reason: str,
    message: str,
    now: datetime,
    generation: int | None,
) -> bool:
    """Put one condition in place; True when it is new or its status, reason or message changed.

    lastTransitionTime moves only when the status flips.
    """
    for index, existing in enumerate(conditions):
        if existing.type != type_:
            continue
        flipped = existing.status != status
        conditions[index] = Condition(
            type=type_,
            status=status,
            reason=reason,
            message=message,
            last_transition_time=now if flipped else existing.last_transition_time,
            observed_generation=generation,
        )
        return flipped or (existing.reason, existing.message) != (reason, message)
    conditions.append(
        Condition(
            type=type_,
            status=status,
            reason=reason,
            message=message,
            last_transition_time=now,
            observed_generation=generation,
        )
    )
    return True
