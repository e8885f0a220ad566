/* The mechanism floors of `make bench`: a shared-memory ping-pong between two
 * processes (fork) in C, with the waiting done three ways:
 *   spin    both sides busy-poll a sequence word (holds both cores)
 *   futex   FUTEX_WAIT on the sequence word, FUTEX_WAKE after each store
 *   signal  kill(SIGUSR1) as the doorbell, sigwaitinfo with it blocked
 * usage: floors MODE SIZE ROUNDTRIPS WARMUP
 * FLOORS_PIN=split puts the two processes on CPUs 0 and 1, =same both on 0.
 * prints one JSON object: round-trip percentiles in microseconds.
 * Every wait is bounded: a peer that stops answering for 10 s ends the run. */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <linux/futex.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAXSIZE 65536

struct shared {
	_Atomic uint32_t req, rep;   /* sequence words: the last message posted */
	pid_t server, client;
	unsigned char req_buf[MAXSIZE], rep_buf[MAXSIZE];
};

enum mode { SPIN, FUTEX, SIGNAL };
static enum mode mode;
static sigset_t usr1;

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void die(const char *what)
{
	fprintf(stderr, "floors: %s\n", what);
	exit(2);
}

/* Wait until *word == want, the way the mode says. */
static void await(_Atomic uint32_t *word, uint32_t want)
{
	uint64_t deadline = now_ns() + 10000000000u;
	unsigned spins = 0;
	for (;;) {
		uint32_t cur = atomic_load_explicit(word, memory_order_acquire);
		if (cur == want)
			return;
		if (mode == FUTEX) {
			struct timespec ts = { 1, 0 };
			syscall(SYS_futex, word, FUTEX_WAIT, cur, &ts, NULL, 0);
		} else if (mode == SIGNAL) {
			struct timespec ts = { 1, 0 };
			sigtimedwait(&usr1, NULL, &ts);
		}
		if ((++spins & 0xfffff) == 0 || mode != SPIN)
			if (now_ns() > deadline)
				die("peer stopped answering");
	}
}

static void post(_Atomic uint32_t *word, uint32_t seq, pid_t to)
{
	atomic_store_explicit(word, seq, memory_order_release);
	if (mode == FUTEX)
		syscall(SYS_futex, word, FUTEX_WAKE, 1, NULL, NULL, 0);
	else if (mode == SIGNAL)
		kill(to, SIGUSR1);
}

static void pin(int cpu)
{
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	sched_setaffinity(0, sizeof set, &set);
}

static int cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	if (argc != 5)
		die("usage: floors spin|futex|signal SIZE ROUNDTRIPS WARMUP");
	mode = !strcmp(argv[1], "spin") ? SPIN : !strcmp(argv[1], "futex") ? FUTEX
	     : !strcmp(argv[1], "signal") ? SIGNAL : (die("unknown mode"), SPIN);
	size_t size = strtoul(argv[2], NULL, 10);
	long n = strtol(argv[3], NULL, 10), warm = strtol(argv[4], NULL, 10);
	if (size < 1 || size > MAXSIZE || n < 1 || warm < 0)
		die("size must be 1..65536, round trips >= 1");
	struct shared *sh = mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE,
				 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (sh == MAP_FAILED)
		die("mmap");
	sigemptyset(&usr1);
	sigaddset(&usr1, SIGUSR1);
	sigprocmask(SIG_BLOCK, &usr1, NULL);   /* before fork: both inherit it */
	sh->client = getpid();
	pid_t child = fork();
	if (child < 0)
		die("fork");
	const char *how = getenv("FLOORS_PIN");
	int split = how && !strcmp(how, "split"), same = how && !strcmp(how, "same");
	if (child == 0) {   /* the echo server */
		if (split || same)
			pin(split ? 1 : 0);
		for (uint32_t i = 1; i <= (uint32_t)(n + warm); i++) {
			await(&sh->req, i);
			memcpy(sh->rep_buf, sh->req_buf, size);
			post(&sh->rep, i, sh->client);
		}
		_exit(0);
	}
	sh->server = child;
	if (split || same)
		pin(0);
	uint64_t *t = malloc(sizeof *t * (size_t)n);
	unsigned char *msg = calloc(1, size), *back = malloc(size);
	if (!t || !msg || !back)
		die("out of memory");
	for (uint32_t i = 1; i <= (uint32_t)(n + warm); i++) {
		uint64_t t0 = now_ns();
		memcpy(sh->req_buf, msg, size);
		post(&sh->req, i, child);
		await(&sh->rep, i);
		memcpy(back, sh->rep_buf, size);
		if (i > (uint32_t)warm)
			t[i - warm - 1] = now_ns() - t0;
	}
	int status;
	waitpid(child, &status, 0);
	qsort(t, (size_t)n, sizeof *t, cmp);
	double sum = 0;
	for (long i = 0; i < n; i++)
		sum += (double)t[i];
#define PCT(q) (t[(long)((q) * (double)n) < n ? (long)((q) * (double)n) : n - 1] / 1000.0)
	printf("{\"n\": %ld, \"p50\": %.3f, \"p99\": %.3f, \"p999\": %.3f, \"mean\": %.3f}\n",
	       n, PCT(0.5), PCT(0.99), PCT(0.999), sum / (double)n / 1000.0);
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : 1;
}
