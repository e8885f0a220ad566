"""What the asyncio rows share: a client on its own event loop whose round
trips all run in one coroutine on that loop, each timed around its
``await`` (as an asyncio program awaits: one loop, running), and the echo
server loop counting STOPs."""
from __future__ import annotations

import asyncio
import time
from typing import Any, Awaitable, Callable

from . import Tally, is_stop


class LoopClient:
    """A client on its own event loop: ``round_trip(data)`` is the
    coroutine the subclass provides."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.reply: Any = None

    def run(self, coro: Awaitable[Any]) -> Any:
        return self.loop.run_until_complete(coro)

    def round_trip(self, data: bytes) -> Awaitable[Any]:
        raise NotImplementedError

    def round_trips(self, msg: bytes, count: int, deadline: int) -> tuple[list[int], int, Any]:
        """The worker's timed round trips (bench/worker.py's round_trips),
        all in one coroutine: the loop runs once, not once per round trip."""
        return self.run(self._round_trips(msg, count, deadline))

    async def _round_trips(self, msg: bytes, count: int,
                           deadline: int) -> tuple[list[int], int, Any]:
        clock = time.perf_counter_ns
        round_trip = self.round_trip
        tally = Tally(msg, deadline)
        for _ in range(count):
            t0 = clock()
            back = await round_trip(msg)
            if tally.add(t0, clock(), back):
                break
        return tally.outcome()

    def send(self, data: bytes) -> None:
        self.reply = self.run(self.round_trip(data))

    def recv(self) -> Any:
        return self.reply

    def close(self) -> None:
        self.loop.close()


def serving(main: Callable[[Any, int, Any], Awaitable[None]]) -> Callable[[Any, int, Any], None]:
    """A transport's ``serve(spec, nclients, ready)``: the asyncio echo
    server ``main`` run to its end on a loop of its own."""
    def serve(spec: Any, nclients: int, ready: Any) -> None:
        asyncio.run(main(spec, nclients, ready))
    return serve


def unsupported(workload: str, size: int, opts: Any) -> str | None:
    """The asyncio rows measure round trips: rtt and fan-in."""
    return None if workload in ("rtt", "fanin") else "round trips only"


def stopped(data: bytes, stops: list[int], nclients: int) -> bool:
    """Count a STOP; True once every client sent one."""
    if data[1] == 0xFF and is_stop(data):
        stops[0] += 1
    return stops[0] >= nclients
