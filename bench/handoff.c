/* The cores' handoff latency, probed by `make bench` before and after each
 * job: two threads pinned to CPUs 0 and 1 pass one cache line back and
 * forth.  Prints one JSON object: "ns", a one-way handoff in nanoseconds,
 * the best of BURSTS bursts (a burst in which either thread lost its CPU
 * reads high; the best is the hardware's), or null and "why".
 * usage: handoff [HANDOFFS_PER_BURST]
 * On a virtual machine the host places the virtual CPUs, and where it puts
 * them sets what every cross-core handoff costs, a lot and for seconds at
 * a time (bench/NOTES.md): a run's rows are read against this figure.
 * Every wait is bounded: a partner that stops answering ends the probe. */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define BURSTS 5
#define GIVE_UP_NS 2e9   /* a partner silent this long: no figure */

static _Alignas(64) _Atomic long word;
static _Atomic int gave_up;
static long per_burst = 20000;

static double now_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1e9 + t.tv_nsec;
}

static int pin(int cpu)
{
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	return sched_setaffinity(0, sizeof set, &set);
}

/* Wait until the word reads @want; 0, or -1 when the partner went silent
 * or gave up itself. */
static int await(long want)
{
	for (unsigned n = 1;; n++) {
		if (atomic_load_explicit(&word, memory_order_acquire) == want)
			return 0;
		if (!(n & 0xffff)) {
			static _Thread_local double since;
			double t = now_ns();
			if (n == 0x10000)
				since = t;
			if (atomic_load(&gave_up) || t - since > GIVE_UP_NS) {
				int none = 0;
				atomic_compare_exchange_strong(&gave_up, &none, 1);
				return -1;
			}
		}
	}
}

static void *partner(void *arg)
{
	(void)arg;
	if (pin(1)) {
		atomic_store(&gave_up, 2);
		return NULL;
	}
	for (long i = 0; i < per_burst * BURSTS; i++) {
		if (await(2 * i + 1))
			return NULL;
		atomic_store_explicit(&word, 2 * i + 2, memory_order_release);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	if (argc > 1)
		per_burst = atol(argv[1]);
	if (per_burst < 1) {
		fprintf(stderr, "usage: handoff [HANDOFFS_PER_BURST > 0]\n");
		return 2;
	}
	pthread_t t;
	if (pin(0) || pthread_create(&t, NULL, partner, NULL)) {
		printf("{\"ns\": null, \"why\": \"CPUs 0 and 1 are not both usable\"}\n");
		return 0;
	}
	double best = -1;
	long i = 0;
	for (int b = 0; b < BURSTS; b++) {
		double start = now_ns();
		for (long k = 0; k < per_burst; k++, i++) {
			atomic_store_explicit(&word, 2 * i + 1, memory_order_release);
			if (await(2 * i + 2))
				goto out;
		}
		double ns = (now_ns() - start) / per_burst / 2;  /* two handoffs a round */
		if (best < 0 || ns < best)
			best = ns;
	}
out:
	pthread_join(t, NULL);
	int why = atomic_load(&gave_up);
	if (why)
		printf("{\"ns\": null, \"why\": \"%s\"}\n",
		       why == 2 ? "CPU 1 is not usable" : "the thread on CPU 1 did not answer");
	else
		printf("{\"ns\": %.1f}\n", best);
	return 0;
}
