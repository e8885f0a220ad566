"""A worker pool with shmcp: a dispatcher hands 20 jobs to 3 workers; one
worker is killed -9 in the middle of a job, the dispatcher sees PathSevered
and gives that job to another worker.  Every job completes."""
import multiprocessing as mp
import os
import queue
import signal
import sys
import threading
import time

import shmcp

WORKERS, JOBS, DOOMED = 3, 20, "worker1"


def worker(name):
    with shmcp.logon(name) as vm, vm.connect("dispatch", timeout=30, wait=True) as path:
        for msg in path:                         # until the dispatcher severs
            if name == DOOMED:
                os.kill(os.getpid(), signal.SIGKILL)   # dies holding its first job
            time.sleep(0.01)                     # the work
            msg.reply(b"%d" % int(msg.data) ** 2)


def feed(path, jobs, results):
    """One dispatcher thread per worker: jobs out, results back."""
    while len(results) < JOBS:
        try:
            job = jobs.get(timeout=0.05)
        except queue.Empty:
            continue
        try:
            results[job] = int(path.send(b"%d" % job, timeout=30))
        except shmcp.PathSevered:
            print(f"dispatch: {path.partner} died during job {job}; the job goes back")
            jobs.put(job)
            return


if __name__ == "__main__":
    with shmcp.ipl("workers", unique=True):      # a system of its own, shut down on leaving
        procs = [mp.Process(target=worker, args=(f"worker{i}",)) for i in range(WORKERS)]
        for p in procs:
            p.start()
        with shmcp.logon("dispatch") as vm:
            paths = [vm.accept(timeout=30) for _ in procs]
            jobs, results = queue.Queue(), {}
            for job in range(JOBS):
                jobs.put(job)
            threads = [threading.Thread(target=feed, args=(path, jobs, results)) for path in paths]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
        for p in procs:                          # LOGOFF severed their paths: they end
            p.join()
    ok = results == {job: job * job for job in range(JOBS)}
    print(f"dispatch: {len(results)} of {JOBS} jobs done, {'all right' if ok else 'WRONG'}")
    sys.exit(0 if ok else 1)
