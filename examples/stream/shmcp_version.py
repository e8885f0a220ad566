"""A one-way stream of 100,000 records with shmcp; the receiver checks that
none is lost and none is out of order."""
import multiprocessing as mp
import sys

import shmcp

RECORDS = 100_000


def sender():
    with shmcp.logon("sender") as vm, vm.connect("receiver", timeout=30, wait=True) as path:
        for seq in range(RECORDS):               # waits at the message limit, never drops
            path.send(b"record %d" % seq, one_way=True)


def receiver():
    with shmcp.logon("receiver") as vm:
        count = 0
        for msg in vm.accept(timeout=30):        # until the sender severs: after its last record
            if msg.data != b"record %d" % count:
                sys.exit(f"receiver: record {count} is {msg.data!r}")
            count += 1
    ok = count == RECORDS
    print(f"receiver: {count} records, in order, {'none lost' if ok else 'SOME LOST'}")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    with shmcp.ipl("stream", unique=True):       # a system of its own, shut down on leaving
        procs = [mp.Process(target=f) for f in (receiver, sender)]
        for p in procs:
            p.start()
        for p in procs:
            p.join()
    sys.exit(max(p.exitcode for p in procs))
