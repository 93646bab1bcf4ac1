from __future__ import annotations

import asyncio

import pytest

from core import catalogue
from core.errors import LLMError
from edge_server.admission import Admission


def test_runs_waits_then_refuses_with_retry_after() -> None:
    async def main() -> None:
        adm = Admission(max_concurrency=1, queue_size=1)
        await adm.acquire()
        waiter = asyncio.ensure_future(adm.acquire())
        await asyncio.sleep(0)
        assert (adm.active, adm.waiting) == (1, 1)
        with pytest.raises(LLMError) as info:
            await adm.acquire()
        assert info.value.code == catalogue.RATE_QUEUE_FULL.code and info.value.http_status == 429
        assert info.value.retry_after is not None and info.value.retry_after >= 1
        adm.release(0.5)  # the slot passes to the waiter
        await waiter
        assert (adm.active, adm.waiting, adm.rejected) == (1, 0, 1)
        adm.release(0.5)
        assert adm.active == 0 and adm.pressure == 0

    asyncio.run(main())


def test_a_cancelled_waiter_does_not_leak_a_slot() -> None:
    async def main() -> None:
        adm = Admission(max_concurrency=1, queue_size=5)
        await adm.acquire()
        w1 = asyncio.ensure_future(adm.acquire())
        w2 = asyncio.ensure_future(adm.acquire())
        await asyncio.sleep(0)
        w1.cancel()
        await asyncio.sleep(0)
        adm.release(0.1)
        await w2
        assert (adm.active, adm.waiting) == (1, 0)
        adm.release(0.1)
        assert adm.active == 0

    asyncio.run(main())


def test_slot_context_manager() -> None:
    async def main() -> None:
        adm = Admission(2, 0)
        async with adm.slot(), adm.slot():
            assert adm.active == 2 and adm.pressure == 1
            with pytest.raises(LLMError):
                await adm.acquire()
        assert adm.active == 0

    asyncio.run(main())
