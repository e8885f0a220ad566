/*
 * reply_leg.c - what the reply leg of a large round trip costs, by where the
 * reply is staged (bench/NOTES.md, "Large messages: whose cache a block is
 * in").  No shmcp: two processes (fork), the source pinned to CPU 0 and the
 * replier to CPU 1, handing the turn over by busy-spin on a shared word.
 * Each round trip: the source reads its answer area (as a program looks at
 * its last reply) and copies its request into shared block A (SEND); the
 * replier copies A into its buffer (RECEIVE) and then, timed, stages its
 * reply (REPLY); the source, timed, copies the staged reply into its answer
 * area.  Where the reply is staged:
 *
 *   own      a shared block of its own (B): what shmcp did before
 *   message  block A, which RECEIVE just read: what shmcp does now
 *   direct   no staging: process_vm_writev straight into the source's
 *            private answer area (needs ptrace permission over the source)
 *
 * usage: reply_leg SIZE own|message|direct    (SIZE at most 1 MiB)
 * Prints the p50 of each side's copy, in microseconds.
 */
#define _GNU_SOURCE
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define ROUNDS 20000
#define MAXSIZE (1 << 20)

struct shared {
	_Atomic uint32_t turn;
	uint64_t replier_ns[ROUNDS], source_ns[ROUNDS];
	_Alignas(4096) uint8_t a[MAXSIZE];
	_Alignas(4096) uint8_t b[MAXSIZE];
};

static uint64_t now_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

static void pin(int cpu)
{
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	sched_setaffinity(0, sizeof set, &set);
}

static int cmp(const void *x, const void *y)
{
	uint64_t a = *(const uint64_t *)x, b = *(const uint64_t *)y;
	return a < b ? -1 : a > b;
}

static void *buffer(size_t size, int fill)
{
	void *p = aligned_alloc(4096, size);
	if (!p) {
		perror("aligned_alloc");
		exit(2);
	}
	memset(p, fill, size);
	return p;
}

int main(int argc, char **argv)
{
	size_t size = argc == 3 ? strtoul(argv[1], NULL, 10) : 0;
	const char *mode = argc == 3 ? argv[2] : "";
	int own = !strcmp(mode, "own"), direct = !strcmp(mode, "direct");
	if (!size || size > MAXSIZE || (!own && !direct && strcmp(mode, "message"))) {
		fprintf(stderr, "usage: reply_leg SIZE own|message|direct (SIZE 1..%d)\n", MAXSIZE);
		return 2;
	}
	struct shared *sh = mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE,
				 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (sh == MAP_FAILED) {
		perror("mmap");
		return 2;
	}
	uint8_t *answer = buffer(size, 1), *request = buffer(size, 3);
	uint8_t *staged = own ? sh->b : sh->a;
	pid_t source = getpid(), replier = fork();
	if (replier < 0) {
		perror("fork");
		return 2;
	}
	if (replier == 0) {
		uint8_t *received = buffer(size, 0), *reply = buffer(size, 2);
		pin(1);
		for (uint32_t i = 0; i < ROUNDS; i++) {
			while (atomic_load(&sh->turn) != 2 * i + 1)
				;
			memcpy(received, sh->a, size);  /* RECEIVE */
			memcpy(reply, received, size);
			uint64_t t0 = now_ns();
			if (direct) {
				struct iovec from = { reply, size }, to = { answer, size };
				if (process_vm_writev(source, &from, 1, &to, 1, 0) != (ssize_t)size) {
					perror("process_vm_writev");
					_exit(1);
				}
			} else {
				memcpy(staged, reply, size);  /* REPLY */
			}
			sh->replier_ns[i] = now_ns() - t0;
			atomic_store(&sh->turn, 2 * i + 2);
		}
		_exit(0);
	}
	pin(0);
	volatile uint64_t sum = 0;
	for (uint32_t i = 0; i < ROUNDS; i++) {
		for (size_t k = 0; k < size; k += 64)
			sum += answer[k];  /* the last reply, looked at */
		memcpy(sh->a, request, size);  /* SEND */
		atomic_store(&sh->turn, 2 * i + 1);
		while (atomic_load(&sh->turn) != 2 * i + 2)
			;
		uint64_t t0 = now_ns();
		if (!direct)
			memcpy(answer, staged, size);  /* the completion, in the source's process */
		sh->source_ns[i] = now_ns() - t0;
	}
	int status;
	waitpid(replier, &status, 0);
	if (!WIFEXITED(status) || WEXITSTATUS(status))
		return 1;
	qsort(sh->replier_ns, ROUNDS, sizeof sh->replier_ns[0], cmp);
	qsort(sh->source_ns, ROUNDS, sizeof sh->source_ns[0], cmp);
	double r = sh->replier_ns[ROUNDS / 2] / 1e3, s = sh->source_ns[ROUNDS / 2] / 1e3;
	printf("%zu B, staged %s: replier %.2f us, source %.2f us, together %.2f us (p50)\n",
	       size, mode, r, s, r + s);
	return 0;
}
