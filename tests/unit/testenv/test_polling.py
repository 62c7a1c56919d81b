"""The one polling loop of the tests: what it returns, and what it says when it gives up."""

from __future__ import annotations

import itertools

import pytest

from testenv.netutil import wait_until
from testenv.polling import eventually


def test_the_first_truthy_value_is_returned() -> None:
    values = iter([None, 0, "", "ready", "later"])
    assert eventually(lambda: next(values), timeout=5, interval=0) == "ready"


def test_until_decides_which_value_is_awaited() -> None:
    counter = itertools.count()
    assert eventually(lambda: next(counter), timeout=5, interval=0, until=lambda n: n >= 3) == 3


def test_giving_up_names_what_was_awaited_and_the_last_value_seen() -> None:
    with pytest.raises(AssertionError) as raised:
        eventually(lambda: {"phase": "Pending"}, timeout=0.05, interval=0.01, until=lambda s: False, what="Running")
    assert str(raised.value).startswith("timed out after 0.05s waiting for Running; last value seen: {")
    assert '"phase": "Pending"' in str(raised.value)


def test_without_what_the_message_quotes_the_check() -> None:
    with pytest.raises(AssertionError, match=r"waiting for .*lambda: None or \[\]"):
        eventually(lambda: None or [], timeout=0.01, interval=0.01)


def test_wait_until_raises_timeout_error() -> None:
    with pytest.raises(TimeoutError, match=r"^timed out after 0\.01s waiting for the moon$"):
        wait_until(lambda: False, 0.01, "the moon", interval=0.01)


def test_what_the_check_raises_goes_through() -> None:
    def broken() -> None:
        raise KeyError("status")

    with pytest.raises(KeyError):
        eventually(broken, timeout=5)
