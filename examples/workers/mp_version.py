"""A worker pool with multiprocessing: a dispatcher hands 20 jobs to 3
workers; one worker is killed -9 in the middle of a job, the dispatcher sees
its pipe end and gives that job to another worker.  Every job completes."""
import multiprocessing as mp
import os
import queue
import signal
import sys
import threading
import time

WORKERS, JOBS, DOOMED = 3, 20, "worker1"


def worker(conn, name):
    for job in iter(conn.recv, None):           # until the dispatcher says None
        if name == DOOMED:
            os.kill(os.getpid(), signal.SIGKILL)   # dies holding its first job
        time.sleep(0.01)                         # the work
        conn.send(job * job)


def feed(conn, name, jobs, results):
    """One dispatcher thread per worker: jobs out, results back."""
    while len(results) < JOBS:
        try:
            job = jobs.get(timeout=0.05)
        except queue.Empty:
            continue
        try:
            conn.send(job)
            results[job] = conn.recv()
        except (EOFError, ConnectionError):      # the worker's end closed: it died
            print(f"dispatch: {name.upper()} died during job {job}; the job goes back")
            jobs.put(job)
            return
    conn.send(None)


if __name__ == "__main__":
    # spawn: with fork every worker would inherit the others' pipe ends, and a
    # dead worker's pipe would never report its end
    ctx = mp.get_context("spawn")
    pipes = [ctx.Pipe() for _ in range(WORKERS)]
    procs = [ctx.Process(target=worker, args=(theirs, f"worker{i}"))
             for i, (_, theirs) in enumerate(pipes)]
    for p in procs:
        p.start()
    for _, theirs in pipes:
        theirs.close()                           # else the end never shows here either
    jobs, results = queue.Queue(), {}
    for job in range(JOBS):
        jobs.put(job)
    threads = [threading.Thread(target=feed, args=(ours, f"worker{i}", jobs, results))
               for i, (ours, _) in enumerate(pipes)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for p in procs:
        p.join()
    ok = results == {job: job * job for job in range(JOBS)}
    print(f"dispatch: {len(results)} of {JOBS} jobs done, {'all right' if ok else 'WRONG'}")
    sys.exit(0 if ok else 1)
