"""Where an asyncio round trip's time goes (bench/NOTES.md, "asyncio"):
the client's share and the server's apart.

One client process times 64 B round trips in interleaved blocks:
``path.send`` and ``await path.asend`` (all of a block in one coroutine
on one loop), first against a sync server (``vm.messages()``), then
against an asyncio one (``async for msg in vm.amessages()``).  asend -
send against the same server is what the coroutine twin costs the
client; the asyncio server - the sync one, for the same client call, is
what it costs the server.  Prints the p50s (µs).

    python -m bench.profile_aio [N_PER_BLOCK] [BLOCKS]
"""
from __future__ import annotations

import asyncio
import multiprocessing as mp
import os
import sys
import time

import shmcp
from bench.worker import percentiles

MSG = bytes(64)
STOP = b"stop"


def _serve(system: str, kind: str, ready) -> None:
    vm = shmcp.logon("SERVER", system=system)
    vm.accept_all()
    ready.set()
    try:
        if kind == "sync":
            for msg in vm.messages():
                msg.reply(msg.data)
                if msg.data == STOP:
                    return
        else:
            async def main() -> None:
                async for msg in vm.amessages():
                    msg.reply(msg.data)
                    if msg.data == STOP:
                        return
            asyncio.run(main())
    finally:
        vm.logoff()


def against(system: str, kind: str, n: int, blocks: int) -> tuple[float, float]:
    """(send p50, asend p50) against a ``kind`` server ("sync" / "asyncio")."""
    ctx = mp.get_context("spawn")
    ready = ctx.Event()
    server = ctx.Process(target=_serve, args=(system, kind, ready), daemon=True)
    server.start()
    if not ready.wait(60):
        raise RuntimeError("the server did not start")
    clock = time.perf_counter_ns
    sync: list[int] = []
    aio: list[int] = []
    with shmcp.logon("CLIENT", system=system) as vm:
        path = vm.connect("SERVER", wait=True, timeout=60)

        async def async_block(out: list[int]) -> None:
            for _ in range(n):
                t0 = clock()
                await path.asend(MSG)
                out.append(clock() - t0)
        loop = asyncio.new_event_loop()
        loop.run_until_complete(async_block([]))  # warm-up
        for _ in range(n):
            path.send(MSG)
        for _ in range(blocks):
            for _ in range(n):
                t0 = clock()
                path.send(MSG)
                sync.append(clock() - t0)
            loop.run_until_complete(async_block(aio))
        loop.close()
        path.send(STOP)
    server.join(30)
    return percentiles(sync)["p50"], percentiles(aio)["p50"]


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    blocks = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    system = f"bench-aio-{os.getpid()}"
    shmcp.ipl(system)
    try:
        for kind in ("sync", "asyncio"):
            send, asend = against(system, kind, n, blocks)
            print(f"{kind:7} server: path.send p50 {send:6.1f} us   await path.asend p50 "
                  f"{asend:6.1f} us   (asend - send {asend - send:+.1f})")
    finally:
        shmcp.shutdown(system)


if __name__ == "__main__":
    main()
