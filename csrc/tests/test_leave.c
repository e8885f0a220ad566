/*
 * test_leave.c - waits end when their VM ends or its process lets go of
 * the system (leave.c), run by `make csrc-test` (address and undefined
 * behaviour sanitizers).  A thread asleep in shmcp_wait returns
 * SHMCP_WAIT_DOWN when another thread calls shmcp_leave (on the futex, or
 * as the main thread in sigtimedwait); after
 * shmcp_leave no wait sleeps; the handle is detached once they are all
 * out.  The waits' own limit (30 s) is there only to fail rather than
 * hang: an outcome of SHMCP_WAIT_TIMEOUT is the failure.
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <unistd.h>

#include "fixture.h"

#define LONG_NS (30LL * 1000000000LL)

struct waiter {
	shmcp_sys *sys;
	int32_t slot;
	uint32_t gen;
	int rc;
};

static void *wait_long(void *arg)
{
	struct waiter *w = arg;
	w->rc = shmcp_wait(w->sys, w->slot, w->gen, 1 << SHMCP_IUCV, LONG_NS, 0);
	return NULL;
}

/* Until @n threads sleep on @slot's futex (want counts them). */
static void until_asleep(shmcp_sys *sys, int32_t slot, uint32_t n)
{
	for (int i = 0; i < 100000; i++) {
		if (atomic_load(&sys->vms[slot].fq[SHMCP_IUCV].want) >= n * SHMCP_WANT_THREAD)
			return;
		usleep(100);
	}
	CHECK(!"the waiters fell asleep");
}

/* @n threads in a long wait of VM @slot, until all sleep on its futex. */
static void asleep_in_wait(shmcp_sys *sys, int32_t slot, uint32_t gen, int n,
			   struct waiter *w, pthread_t *t)
{
	for (int i = 0; i < n; i++) {
		w[i] = (struct waiter){ sys, slot, gen, 0 };
		CHECK(pthread_create(&t[i], NULL, wait_long, &w[i]) == 0);
	}
	until_asleep(sys, slot, (uint32_t)n);
}

/* Each of the @n waiters ended, with SHMCP_WAIT_DOWN. */
static void all_down(int n, struct waiter *w, pthread_t *t)
{
	for (int i = 0; i < n; i++) {
		pthread_join(t[i], NULL);
		CHECK(w[i].rc == SHMCP_WAIT_DOWN);
	}
}

/* Three threads asleep on A's futex: shmcp_leave ends every wait, a new
 * wait does not sleep, and the handle is detached after the joins. */
static void test_leave_wakes_the_futex_sleepers(void)
{
	int32_t a, b;
	uint32_t ga, gb;
	shmcp_sys *sys = system_with_a_and_b("leave1", &a, &ga, &b, &gb);
	struct waiter w[3];
	pthread_t t[3];
	asleep_in_wait(sys, a, ga, 3, w, t);
	CHECK(shmcp_leave(sys, a, ga) == 0);
	all_down(3, w, t);
	/* from now on no wait on the handle sleeps, B's included */
	CHECK(shmcp_wait(sys, b, gb, 1 << SHMCP_IUCV, LONG_NS, 0) == SHMCP_WAIT_DOWN);
	CHECK(shmcp_leave(sys, -1, 0) == SHMCP_E_BADARG);
	CHECK(shmcp_logoff(sys, a, ga) == 0);
	CHECK(shmcp_logoff(sys, b, gb) == 0);
	shmcp_detach(sys);
}

/* (a struct waiter: the VM to let go of once its main thread sleeps) */
static void *leave_once_asleep(void *arg)
{
	struct waiter *l = arg;
	for (int i = 0; i < 100000; i++) {
		if (atomic_load(&l->sys->vms[l->slot].fq[SHMCP_IUCV].want) & SHMCP_WANT_SLEEPING)
			break;
		usleep(100);
	}
	shmcp_leave(l->sys, l->slot, l->gen);
	return NULL;
}

/* The main thread of a VM with a handler sleeps in sigtimedwait: another
 * thread's shmcp_leave signals it, and its wait ends. */
static void test_leave_rings_the_main_thread(void)
{
	int32_t a, b;
	uint32_t ga, gb;
	shmcp_sys *sys = system_with_a_and_b("leave3", &a, &ga, &b, &gb);
	CHECK(shmcp_set_async(sys, a, SHMCP_IUCV, 1) == 0);  /* as a handler does */
	struct waiter l = { sys, a, ga, 0 };
	pthread_t t;
	CHECK(pthread_create(&t, NULL, leave_once_asleep, &l) == 0);
	CHECK(shmcp_wait(sys, a, ga, 1 << SHMCP_IUCV, LONG_NS, 0) == SHMCP_WAIT_DOWN);
	pthread_join(t, NULL);
	CHECK(shmcp_logoff(sys, a, ga) == 0);
	CHECK(shmcp_logoff(sys, b, gb) == 0);
	shmcp_detach(sys);
}

int main(void)
{
	shmcp_wait_slices(60LL * 1000000000LL, 0);  /* a slice's end never ends a wait here */
	test_leave_wakes_the_futex_sleepers();
	test_leave_rings_the_main_thread();
	return report("test_leave");
}
