"""A one-way stream of 100,000 records with multiprocessing; the receiver
checks that none is lost and none is out of order."""
import multiprocessing as mp
import sys

RECORDS = 100_000


def sender(conn):
    for seq in range(RECORDS):
        conn.send_bytes(b"record %d" % seq)
    conn.send_bytes(b"")                         # the end of the stream, by convention
    conn.close()


def receiver(conn):
    count = 0
    while (data := conn.recv_bytes()) != b"":
        if data != b"record %d" % count:
            sys.exit(f"receiver: record {count} is {data!r}")
        count += 1
    ok = count == RECORDS
    print(f"receiver: {count} records, in order, {'none lost' if ok else 'SOME LOST'}")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    receiving, sending = mp.Pipe(duplex=False)
    procs = [mp.Process(target=receiver, args=(receiving,)),
             mp.Process(target=sender, args=(sending,))]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    sys.exit(max(p.exitcode for p in procs))
