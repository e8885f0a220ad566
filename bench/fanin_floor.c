/*
 * fanin_floor.c - fan-in 8 -> 1 in C, nothing but the sleep and the wake-up:
 * which doorbell costs less when every client sleeps once per round trip
 * (bench/NOTES.md, "The futex doorbell").  Each client posts a sequence
 * number in shared memory and sleeps until the server echoes it; the
 * server scans the clients and wakes each one it answered, sleeping only
 * when none asked.  futex: a futex word per client (FUTEX_WAKE is not a
 * synchronous wake-up); pipe: a pipe per client (a pipe write is).
 *
 *   cc -O2 bench/fanin_floor.c -o /tmp/fanin_floor
 *   /tmp/fanin_floor futex|pipe [ROUND_TRIPS_PER_CLIENT]
 */
#define _GNU_SOURCE
#include <linux/futex.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <limits.h>
#define N 8
struct cl { _Atomic uint32_t req, rep; char pad[56]; };
struct sh { struct cl c[N]; _Atomic uint32_t srv_sleep, srv_bell; _Atomic uint32_t done; };
static int pipe_mode;
static int cp[N][2], sp[2];
static void fwait(_Atomic uint32_t *w, uint32_t v) { syscall(SYS_futex, w, FUTEX_WAIT, v, NULL, NULL, 0); }
static void fwake(_Atomic uint32_t *w) { syscall(SYS_futex, w, FUTEX_WAKE, INT_MAX, NULL, NULL, 0); }
static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec / 1e9; }
int main(int argc, char **argv)
{
	pipe_mode = argc > 1 && !strcmp(argv[1], "pipe");
	long n = argc > 2 ? atol(argv[2]) : 20000;
	struct sh *s = mmap(NULL, sizeof *s, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	for (int i = 0; i < N; i++) pipe(cp[i]);
	pipe(sp);
	pid_t srv = fork();
	if (srv == 0) {
		char b[64];
		for (;;) {
			int any = 0;
			for (int i = 0; i < N; i++) {
				uint32_t r = atomic_load(&s->c[i].req);
				if (r != atomic_load(&s->c[i].rep)) {
					any = 1;
					atomic_store(&s->c[i].rep, r);
					if (pipe_mode) write(cp[i][1], "x", 1); else fwake(&s->c[i].rep);
				}
			}
			if (atomic_load(&s->done) == N) _exit(0);
			if (!any) {
				atomic_store(&s->srv_bell, 0);
				atomic_store(&s->srv_sleep, 1);
				atomic_thread_fence(memory_order_seq_cst);
				int found = 0;
				for (int i = 0; i < N; i++) found |= atomic_load(&s->c[i].req) != atomic_load(&s->c[i].rep);
				if (!found && atomic_load(&s->done) != N) {
					if (pipe_mode) read(sp[0], b, sizeof b); else fwait(&s->srv_bell, 0);
				}
				atomic_store(&s->srv_sleep, 0);
			}
		}
	}
	double t0 = now();
	for (int i = 0; i < N; i++) if (fork() == 0) {
		char b[8];
		for (uint32_t k = 1; k <= (uint32_t)n; k++) {
			atomic_store(&s->c[i].req, k);
			atomic_thread_fence(memory_order_seq_cst);
			if (atomic_load(&s->srv_sleep) && !atomic_exchange(&s->srv_bell, 1)) {
				if (pipe_mode) write(sp[1], "x", 1); else fwake(&s->srv_bell);
			}
			while (atomic_load(&s->c[i].rep) != k) {
				if (pipe_mode) read(cp[i][0], b, 1); else fwait(&s->c[i].rep, k - 1);
			}
		}
		atomic_fetch_add(&s->done, 1);
		if (pipe_mode) write(sp[1], "x", 1); else { atomic_store(&s->srv_bell, 1); fwake(&s->srv_bell); }
		_exit(0);
	}
	for (int i = 0; i < N + 1; i++) wait(NULL);
	double el = now() - t0;
	struct rusage ru; getrusage(RUSAGE_CHILDREN, &ru);
	double cpu = ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
	double sys = ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
	printf("%s: %.0f rt/s, CPU %.2f us/rt (kernel %.2f)\n", pipe_mode ? "pipe " : "futex", N * n / el, cpu / (N * n) * 1e6, sys / (N * n) * 1e6);
	return 0;
}
