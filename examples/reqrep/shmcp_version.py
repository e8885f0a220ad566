"""Request/reply with shmcp: a server and four clients, ten requests each."""
import multiprocessing as mp
import os
import sys

import shmcp

CLIENTS, REQUESTS = 4, 10


def client(system, n):
    with shmcp.logon(f"client{n}", system=system) as vm:
        with vm.connect("server", timeout=30, wait=True) as path:
            asked = range(n * 100, n * 100 + REQUESTS)
            answers = [int(path.send(b"%d" % x, timeout=30)) for x in asked]
    ok = answers == [x * x for x in asked]
    sys.stdout.write(f"client{n}: {len(answers)} answers, {'all right' if ok else 'WRONG'}\n")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    system = f"reqrep-{os.getpid()}"             # a system of its own
    shmcp.ipl(system)
    try:
        clients = [mp.Process(target=client, args=(system, n)) for n in range(CLIENTS)]
        for c in clients:
            c.start()
        with shmcp.logon("server", system=system) as vm:   # this process serves
            vm.accept_all()                      # every client's CONNECT completes
            for served, msg in enumerate(vm.messages(timeout=30), start=1):
                msg.reply(b"%d" % int(msg.data) ** 2)
                if served == CLIENTS * REQUESTS:
                    break
            sys.stdout.write(f"server: answered {served} requests\n")  # one write: shared stdout
            for c in clients:                    # they sever, having their answers
                c.join()
    finally:
        shmcp.shutdown(system)                   # nothing left in /dev/shm
    sys.exit(max(c.exitcode for c in clients))
