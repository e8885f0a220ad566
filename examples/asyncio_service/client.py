"""example-asyncio, the client: many requests in flight on one path.

KVCLIENT connects to KVSERVER (waiting for it to log on), then sends a slow
request and, while it is in flight, ten SETs at once with
``asyncio.gather`` -- every ``await path.asend`` gets its own reply -- then
reads the values back, sends a one-way note, shows a rejected request and
a timeout, and stops the server."""
from __future__ import annotations

import asyncio

import shmcp


async def main() -> None:
    with shmcp.logon("kvclient") as vm:
        path = await vm.aconnect("kvserver", wait=True, timeout=30)
        print(f"KVCLIENT: connected to {path.partner}", flush=True)
        slow = asyncio.ensure_future(path.asend(b"WAIT 0.2"))
        sets = await asyncio.gather(*(path.asend(b"SET k%d v%d" % (i, i * i)) for i in range(10)))
        print(f"KVCLIENT: 10 SETs answered {set(sets)} while WAIT was in flight: "
              f"{not slow.done()}", flush=True)
        values = await asyncio.gather(*(path.asend(b"GET k%d" % i) for i in range(10)))
        print("KVCLIENT: values " + " ".join(v.decode() for v in values), flush=True)
        print(f"KVCLIENT: {(await slow).decode()}", flush=True)
        await path.asend(b"NOTE hello from asyncio", one_way=True)
        try:
            await path.asend(b"FROB")
        except shmcp.MessageRejected:
            print("KVCLIENT: FROB was rejected", flush=True)
        try:
            await path.asend(b"WAIT 5", timeout=0.1)
        except TimeoutError:
            print("KVCLIENT: WAIT 5 timed out (withdrawn)", flush=True)
        print(f"KVCLIENT: {(await path.asend(b'STOP')).decode()}", flush=True)


if __name__ == "__main__":
    asyncio.run(main())
