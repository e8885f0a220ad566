"""example-asyncio, the server: a small key-value service on asyncio.

KVSERVER accepts every path and takes every message with ``async for msg in
vm.amessages()``; each request is answered by a task of its own, so a slow
one (WAIT) does not hold up the others that arrive meanwhile.  Requests:
``SET key value``, ``GET key``, ``WAIT seconds``, one-way ``NOTE text``,
and ``STOP`` (answered, then the server ends, cancelling what is
still in progress)."""
from __future__ import annotations

import asyncio

import shmcp


async def handle(msg: shmcp.Message, store: dict[bytes, bytes]) -> None:
    """Answer one request."""
    verb, _, rest = msg.data.partition(b" ")
    if verb == b"NOTE":  # one-way: nothing to answer
        print(f"KVSERVER: note from {msg.path.partner}: {rest.decode()}", flush=True)
    elif verb == b"SET":
        key, _, value = rest.partition(b" ")
        store[key] = value
        msg.reply(b"OK")
    elif verb == b"GET":
        msg.reply(store.get(rest, b"(none)"))
    elif verb == b"WAIT":
        await asyncio.sleep(float(rest))
        msg.reply(b"WAITED " + rest)
    else:
        msg.reject()  # the sender's asend raises MessageRejected


async def main() -> None:
    store: dict[bytes, bytes] = {}
    tasks: set[asyncio.Task] = set()
    with shmcp.logon("kvserver") as vm:
        vm.accept_all()
        print("KVSERVER: ready", flush=True)
        served = 0
        async for msg in vm.amessages():
            served += 1
            if msg.data == b"STOP":
                msg.reply(b"BYE")
                break
            task = asyncio.ensure_future(handle(msg, store))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        for task in tasks:  # e.g. a WAIT whose sender gave up: nobody to answer
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        print(f"KVSERVER: stopped after {served} messages, {len(store)} keys", flush=True)


if __name__ == "__main__":
    asyncio.run(main())
