"""A one-way stream of 100,000 records with shmcp; the receiver checks that
none is lost and none is out of order."""
import multiprocessing as mp
import os
import sys

import shmcp

RECORDS = 100_000


def sender(system):
    with shmcp.logon("sender", system=system) as vm:
        with vm.connect("receiver", timeout=30, wait=True) as path:
            for seq in range(RECORDS):           # waits at the message limit, never drops
                path.send(b"record %d" % seq, one_way=True)
        # the sever reaches the receiver after its last record: none is lost


def receiver(system):
    with shmcp.logon("receiver", system=system) as vm:
        path = vm.accept(timeout=30)
        count = 0
        for msg in path:                         # until the sender severs
            if msg.data == b"record %d" % count:
                count += 1
            else:
                sys.exit(f"receiver: record {count} is {msg.data!r}")
    ok = count == RECORDS
    print(f"receiver: {count} records, in order, {'none lost' if ok else 'SOME LOST'}")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    system = f"stream-{os.getpid()}"             # a system of its own
    shmcp.ipl(system)
    try:
        procs = [mp.Process(target=f, args=(system,)) for f in (receiver, sender)]
        for p in procs:
            p.start()
        for p in procs:
            p.join()
    finally:
        shmcp.shutdown(system)                   # nothing left in /dev/shm
    sys.exit(max(p.exitcode for p in procs))
