/*
 * test_spin.c - the spin policy's count of running VMs (doorbell.c), run
 * by `make csrc-test`.  A VM counts from its first wait, not while asleep
 * in shmcp_wait, and again as soon as a doorbell wakes it; a waiter may
 * spin only while the running VMs are no more than the cores.  LOGOFF,
 * and the reaping of a VM whose process was killed while it counted
 * (running or spinning), take it off again: a dead process must not stop
 * every other VM's spin for good.  Nothing here asserts a duration; the
 * loops that wait for a child give up after a few seconds and fail.
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fixture.h"

static long cores;

static int logon(shmcp_sys *sys, const char *userid, int32_t *slot, uint32_t *gen)
{
	pid_t me = getpid();
	return shmcp_logon(sys, userid, me, shmcp_proc_starttime(me), slot, gen);
}

static int counted(shmcp_sys *sys, int32_t slot)
{
	return (atomic_load(&sys->hdr->running[slot / 64]) >> (slot % 64)) & 1;
}

/* Asleep in shmcp_wait: on the futex (a handler-free main thread, as
 * here) or in sigtimedwait, and not counted. */
static int sleeping(shmcp_sys *sys, int32_t slot)
{
	uint32_t want = atomic_load(&sys->vms[slot].fq[SHMCP_IUCV].want);
	return (want & SHMCP_WANT_SLEEPING) || want >= SHMCP_WANT_THREAD;
}

static int asleep(shmcp_sys *sys, int32_t slot)
{
	return sleeping(sys, slot) && !counted(sys, slot);
}

/* Poll @cond (an expression of @sys and @slot) for up to ~10 s. */
#define EVENTUALLY(cond)                                          \
	do {                                                      \
		for (int i_ = 0; i_ < 100000 && !(cond); i_++)    \
			usleep(100);                              \
		CHECK(cond);                                      \
	} while (0)

/* One process, cores + 1 VMs: each counts once it has waited; one more
 * running VM than cores stops the spin; LOGOFF, a VM falling asleep and a
 * doorbell move the count as they should. */
static void test_policy(void)
{
	if (cores + 2 > 64) {
		printf("test_spin: %ld cores, policy test skipped\n", cores);
		return;
	}
	shmcp_sys *sys = small_system("shmcp-spin-test", (uint32_t)cores + 2);
	int n = (int)cores + 1;
	int32_t slot[64];
	uint32_t gen[64];
	char userid[16];
	for (int i = 0; i < n; i++) {
		snprintf(userid, sizeof userid, "V%-7d", i % 1000);
		CHECK(logon(sys, userid, &slot[i], &gen[i]) == 0);
	}
	CHECK(!shmcp_running_at_least(sys, 1)); /* logged on, never waited */
	CHECK(shmcp_spin_allowed(sys) == (cores > 1));
	for (int i = 0; i < n; i++) {
		/* a wait that times out at once leaves the VM running */
		CHECK(shmcp_wait(sys, slot[i], gen[i], 1, 0, 0) == SHMCP_WAIT_TIMEOUT);
		CHECK(counted(sys, slot[i]));
		CHECK(shmcp_running_at_least(sys, i + 1) && !shmcp_running_at_least(sys, i + 2));
		CHECK(shmcp_spin_allowed(sys) == (cores > 1 && i + 1 <= cores));
	}
	CHECK(!shmcp_spin_allowed(sys)); /* oversubscribed */

	/* V0 asleep in a wait: the spin is allowed again; a doorbell that
	 * wakes it counts it before it has run */
	atomic_fetch_or(&sys->vms[slot[0]].fq[SHMCP_IUCV].want, SHMCP_WANT_SLEEPING);
	shmcp_running_set(sys, slot[0], 0);
	CHECK(shmcp_spin_allowed(sys) == (cores > 1));
	uint8_t rec[40] = { 0 };
	CHECK(shmcp_post(sys, slot[0], gen[0], SHMCP_IUCV, 0, 0, rec, NULL, 0) == 0);
	CHECK(counted(sys, slot[0]));
	CHECK(!shmcp_spin_allowed(sys));
	atomic_fetch_and(&sys->vms[slot[0]].fq[SHMCP_IUCV].want, ~(uint32_t)SHMCP_WANT_SLEEPING);
	struct shmcp_record r;
	CHECK(shmcp_pop(sys, slot[0], 1, &r) == 1);

	/* the same for a sleeper on the futex doorbell, which is also rung:
	 * bit 0 of the word set, once however many records come */
	atomic_fetch_add(&sys->vms[slot[0]].fq[SHMCP_IUCV].want, SHMCP_WANT_THREAD);
	atomic_store(&sys->vms[slot[0]].thread_bell, 4);  /* armed twice, not rung */
	shmcp_running_set(sys, slot[0], 0);
	CHECK(shmcp_spin_allowed(sys) == (cores > 1));
	CHECK(shmcp_post(sys, slot[0], gen[0], SHMCP_IUCV, 0, 0, rec, NULL, 0) == 0);
	CHECK(counted(sys, slot[0]));
	CHECK(atomic_load(&sys->vms[slot[0]].thread_bell) == 5);
	CHECK(shmcp_post(sys, slot[0], gen[0], SHMCP_IUCV, 0, 0, rec, NULL, 0) == 0);
	CHECK(atomic_load(&sys->vms[slot[0]].thread_bell) == 5);
	atomic_fetch_sub(&sys->vms[slot[0]].fq[SHMCP_IUCV].want, SHMCP_WANT_THREAD);
	CHECK(shmcp_pop(sys, slot[0], 1, &r) == 1);
	CHECK(shmcp_pop(sys, slot[0], 1, &r) == 1);

	/* a record for a VM that is not asleep rings nothing and counts nothing */
	shmcp_running_set(sys, slot[1], 0);
	CHECK(shmcp_post(sys, slot[1], gen[1], SHMCP_IUCV, 0, 0, rec, NULL, 0) == 0);
	CHECK(!counted(sys, slot[1]));
	CHECK(shmcp_wait(sys, slot[1], gen[1], 1, -1, 0) == SHMCP_WAIT_READY);
	CHECK(counted(sys, slot[1]));
	CHECK(shmcp_pop(sys, slot[1], 1, &r) == 1);

	/* LOGOFF takes a running VM off */
	CHECK(shmcp_logoff(sys, slot[n - 1], gen[n - 1]) == 0);
	CHECK(!counted(sys, slot[n - 1]));
	CHECK(shmcp_spin_allowed(sys) == (cores > 1));
	for (int i = 0; i < n - 1; i++)
		CHECK(shmcp_logoff(sys, slot[i], gen[i]) == 0);
	CHECK(!shmcp_running_at_least(sys, 1));
	shmcp_detach(sys);
}

/* A bit left on a free slot (a doorbell rung as its VM was logged off) is
 * not counted, and the next LOGON of the slot clears it. */
static void test_stale_bit(void)
{
	shmcp_sys *sys = small_system("shmcp-spin-test", 4);
	int32_t s;
	uint32_t g;
	shmcp_running_set(sys, 2, 1);
	CHECK(!shmcp_running_at_least(sys, 1));
	CHECK(shmcp_spin_allowed(sys) == (cores > 1));
	for (int i = 0; i < 3; i++) {
		char userid[16];
		snprintf(userid, sizeof userid, "S%-7d", i % 1000);
		CHECK(logon(sys, userid, &s, &g) == 0);
	}
	CHECK(s == 2 && !counted(sys, 2));
	shmcp_detach(sys);
}

/* A child VM sleeps in shmcp_wait (not counted), is woken by a record
 * (counted), then blocks elsewhere (still counted) and is killed: it
 * counts until it is reaped, and not after. */
static void test_killed_while_counted(void)
{
	shmcp_sys *sys = small_system("shmcp-spin-test", 4);
	int32_t a, c;
	uint32_t ga, gc;
	CHECK(logon(sys, "PARENT  ", &a, &ga) == 0);
	pid_t child = fork();
	if (child == 0) {
		int32_t s;
		uint32_t g;
		if (logon(sys, "CHILD   ", &s, &g) != 0)
			_exit(1);
		if (shmcp_wait(sys, s, g, 1, -1, 0) != SHMCP_WAIT_READY)
			_exit(2);
		for (;;)
			pause();
	}
	CHECK(child > 0);
	EVENTUALLY(shmcp_find(sys, "CHILD   ", &c, &gc) == 0);
	EVENTUALLY(asleep(sys, c));
	CHECK(!shmcp_running_at_least(sys, 1));
	uint8_t rec[40] = { 0 };
	CHECK(shmcp_post(sys, c, gc, SHMCP_IUCV, 0, 0, rec, NULL, 0) == 0);
	EVENTUALLY(!sleeping(sys, c) && counted(sys, c));
	kill(child, SIGKILL);
	waitpid(child, NULL, 0);
	CHECK(counted(sys, c) && shmcp_running_at_least(sys, 1)); /* dead, not reaped */
	CHECK(shmcp_reap(sys) == 1);
	CHECK(!shmcp_running_at_least(sys, 1));
	CHECK(shmcp_spin_allowed(sys) == (cores > 1));
	CHECK(shmcp_logoff(sys, a, ga) == 0);
	shmcp_detach(sys);
}

/* A child VM killed inside a long spin: it counts until it is reaped. */
static void test_killed_while_spinning(void)
{
	if (cores < 2)
		return;  /* one core: nobody spins */
	shmcp_sys *sys = small_system("shmcp-spin-test", 4);
	int32_t c;
	uint32_t gc;
	pid_t child = fork();
	if (child == 0) {
		int32_t s;
		uint32_t g;
		if (logon(sys, "SPINNER ", &s, &g) != 0)
			_exit(1);
		for (;;)  /* spins 100 ms, sleeps 100 ms, again */
			shmcp_wait(sys, s, g, 1, 2 * SHMCP_SPIN_NS_LIMIT, SHMCP_SPIN_NS_LIMIT);
	}
	CHECK(child > 0);
	EVENTUALLY(shmcp_find(sys, "SPINNER ", &c, &gc) == 0);
	EVENTUALLY(counted(sys, c));
	kill(child, SIGKILL);
	waitpid(child, NULL, 0);
	CHECK(shmcp_reap(sys) == 1);
	CHECK(!counted(sys, c) && !shmcp_running_at_least(sys, 1));
	CHECK(shmcp_spin_allowed(sys) == (cores > 1));
	shmcp_detach(sys);
}

int main(void)
{
	signal(SIGUSR1, SIG_IGN); /* the doorbells of the VMs this test plays */
	signal(SIGUSR2, SIG_IGN);
	cores = sysconf(_SC_NPROCESSORS_ONLN);
	test_policy();
	test_stale_bit();
	test_killed_while_counted();
	test_killed_while_spinning();
	return report("test_spin");
}
