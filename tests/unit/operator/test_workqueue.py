"""The work queue hands each key to one worker at a time, once however often it was added."""

from __future__ import annotations

import asyncio

import pytest

from llmtrain_operator.workqueue import WorkQueue


def test_a_key_added_many_times_is_handed_out_once() -> None:
    async def scenario() -> list[str]:
        queue: WorkQueue[str] = WorkQueue()
        for key in ["a", "b", "a", "a", "b"]:
            queue.add(key)
        got = [await queue.get(), await queue.get()]
        assert len(queue) == 0
        return got

    assert asyncio.run(scenario()) == ["a", "b"]


def test_a_key_added_while_held_comes_back_once_after_done() -> None:
    async def scenario() -> None:
        queue: WorkQueue[str] = WorkQueue()
        queue.add("a")
        held = await queue.get()
        queue.add("a")
        queue.add("a")
        assert len(queue) == 0, "a held key must not reach a second worker"
        queue.done(held)
        assert len(queue) == 1
        assert await queue.get() == "a"
        queue.done("a")
        assert len(queue) == 0

    asyncio.run(scenario())


def test_a_waiting_worker_wakes_when_a_key_arrives() -> None:
    async def scenario() -> str:
        queue: WorkQueue[str] = WorkQueue()
        getter = asyncio.create_task(queue.get())
        await asyncio.sleep(0)
        assert not getter.done()
        queue.add("job")
        return await asyncio.wait_for(getter, 5)

    assert asyncio.run(scenario()) == "job"


def test_delayed_adds_coalesce_and_keep_the_soonest() -> None:
    async def scenario() -> None:
        queue: WorkQueue[str] = WorkQueue()
        queue.add_after("a", 0.2)
        queue.add_after("a", 30)
        queue.add_after("a", 0.1)
        assert len(queue) == 0
        assert await asyncio.wait_for(queue.get(), 5) == "a"
        queue.done("a")
        await asyncio.sleep(0.3)
        assert len(queue) == 0, "the later adds were merged into the first"

    asyncio.run(scenario())


def test_a_delayed_add_of_a_queued_key_changes_nothing() -> None:
    async def scenario() -> None:
        queue: WorkQueue[str] = WorkQueue()
        queue.add("a")
        queue.add_after("a", 0.05)
        assert await queue.get() == "a"
        queue.done("a")
        await asyncio.sleep(0.2)
        assert len(queue) == 0

    asyncio.run(scenario())


def test_failures_back_off_exponentially_until_forgotten() -> None:
    async def scenario() -> list[float]:
        queue: WorkQueue[str] = WorkQueue(base_retry=0.01, max_retry=0.04)
        delays = [queue.add_rate_limited("a") for _ in range(4)]
        assert queue.backing_off("a")
        queue.forget("a")
        delays.append(queue.add_rate_limited("a"))
        queue.add("a")
        assert not queue.backing_off("a"), "queued now: no longer waiting on its timer"
        queue.close()
        return delays

    assert asyncio.run(scenario()) == pytest.approx([0.01, 0.02, 0.04, 0.04, 0.01])


def test_discard_drops_a_queued_key_and_its_timer() -> None:
    async def scenario() -> None:
        queue: WorkQueue[str] = WorkQueue()
        queue.add("gone")
        queue.add_after("timer", 0.05)
        queue.discard("gone")
        queue.discard("timer")
        queue.add("other")
        assert await queue.get() == "other"
        await asyncio.sleep(0.1)
        assert len(queue) == 0

    asyncio.run(scenario())
