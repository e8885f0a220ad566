"""Request/reply with shmcp: a server and four clients, ten requests each."""
import multiprocessing as mp
import sys

import shmcp

CLIENTS, REQUESTS = 4, 10


def client(n):
    with shmcp.logon(f"client{n}") as vm, vm.connect("server", timeout=30, wait=True) as path:
        asked = range(n * 100, n * 100 + REQUESTS)
        answers = [int(path.send(b"%d" % x, timeout=30)) for x in asked]
    ok = answers == [x * x for x in asked]
    sys.stdout.write(f"client{n}: {len(answers)} answers, {'all right' if ok else 'WRONG'}\n")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    with shmcp.ipl("reqrep", unique=True), shmcp.logon("server") as vm:  # own system; serves
        clients = [mp.Process(target=client, args=(n,)) for n in range(CLIENTS)]
        for c in clients:
            c.start()
        vm.accept_all()                          # every client's CONNECT completes
        for served, msg in zip(range(1, CLIENTS * REQUESTS + 1), vm.messages(timeout=30)):
            msg.reply(b"%d" % int(msg.data) ** 2)
        sys.stdout.write(f"server: answered {served} requests\n")  # one write: shared stdout
        for c in clients:                        # they sever, having their answers
            c.join()
    sys.exit(max(c.exitcode for c in clients))
