"""Request/reply with multiprocessing: a server and four clients, ten requests each."""
import multiprocessing as mp
import sys

CLIENTS, REQUESTS = 4, 10


def client(n, requests, replies):
    asked = range(n * 100, n * 100 + REQUESTS)
    answers = []
    for x in asked:
        requests.put((n, x))                     # one queue in: who asks, and what
        answers.append(replies.get(timeout=30))  # one queue out per client
    ok = answers == [x * x for x in asked]
    sys.stdout.write(f"client{n}: {len(answers)} answers, {'all right' if ok else 'WRONG'}\n")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    requests = mp.Queue()
    replies = [mp.Queue() for _ in range(CLIENTS)]
    clients = [mp.Process(target=client, args=(n, requests, replies[n])) for n in range(CLIENTS)]
    for c in clients:
        c.start()
    for served in range(1, CLIENTS * REQUESTS + 1):  # this process serves
        n, x = requests.get(timeout=30)
        replies[n].put(x * x)
    sys.stdout.write(f"server: answered {served} requests\n")  # one write: shared stdout
    for c in clients:
        c.join()
    sys.exit(max(c.exitcode for c in clients))
