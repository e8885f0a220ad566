/*
 * test_core.c - the C core's own tests, run under AddressSanitizer and
 * UndefinedBehaviorSanitizer by `make csrc-test`: segment checks, the MPSC
 * ring under concurrent producers, repair after a dead producer, LOGON /
 * LOGOFF / reap with process identity.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../core/internal.h"
#include "../include/shmcp_iucv.h"
#include "../include/shmcp_vmcf.h"

#include "check.h"

static struct shmcp_limits small(void)
{
	struct shmcp_limits l = { .max_vms = 8, .queue_size = 1024,
				  .storage = 1 << 20, .spin_ns = 0,
				  .max_conn = 8, .max_msgs = 64 };
	return l;
}

static int new_system(const struct shmcp_limits *l)
{
	int fd = memfd_create("shmcp-test", MFD_CLOEXEC);
	CHECK(fd >= 0);
	CHECK(shmcp_format(fd, l, "T") == 0);
	return fd;
}

static void test_segment(void)
{
	struct shmcp_limits l = small();
	int fd = new_system(&l);
	int rc;
	shmcp_sys *sys = shmcp_attach(fd, "T", &rc);
	CHECK(sys && rc == 0);
	CHECK(shmcp_attach(fd, "OTHER", &rc) == NULL && rc == SHMCP_E_CORRUPT);
	struct shmcp_limits got;
	shmcp_read_limits(sys, &got);
	CHECK(got.max_vms == 8 && got.queue_size == 1024);
	shmcp_detach(sys);

	/* corrupt each header field in turn: attach refuses, never crashes */
	uint8_t *base = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	struct shmcp_header *h = (struct shmcp_header *)base;
	struct shmcp_header saved = *h;
	h->magic ^= 1;
	CHECK(shmcp_attach(fd, "T", &rc) == NULL && rc == SHMCP_E_CORRUPT);
	*h = saved;
	h->layout_version = 99;
	CHECK(shmcp_attach(fd, "T", &rc) == NULL && rc == SHMCP_E_VERSION);
	*h = saved;
	h->ring_off += 64;
	CHECK(shmcp_attach(fd, "T", &rc) == NULL && rc == SHMCP_E_CORRUPT);
	*h = saved;
	h->limits.queue_size = 1000; /* not a power of two */
	CHECK(shmcp_attach(fd, "T", &rc) == NULL && rc == SHMCP_E_CORRUPT);
	*h = saved;
	h->pool.free_head[0] = 12345; /* misaligned free list */
	CHECK(shmcp_attach(fd, "T", &rc) == NULL && rc == SHMCP_E_CORRUPT);
	*h = saved;
	memset(h->name, 'x', sizeof h->name); /* unterminated name */
	CHECK(shmcp_attach(fd, "T", &rc) == NULL && rc == SHMCP_E_CORRUPT);
	*h = saved;
	sys = shmcp_attach(fd, "T", &rc);
	CHECK(sys != NULL);
	shmcp_detach(sys);
	munmap(base, 4096);

	/* bad limits are refused before anything is written */
	struct shmcp_limits bad = small();
	bad.max_vms = 0;
	CHECK(shmcp_format(fd, &bad, "T") == SHMCP_E_BADARG);
	bad = small();
	bad.storage = 3000;
	CHECK(shmcp_format(fd, &bad, "T") == SHMCP_E_BADARG);
	close(fd);
}

struct prod {
	shmcp_sys *sys;
	int id;
	int n;
};

static void *producer(void *arg)
{
	struct prod *p = arg;
	uint8_t rec[40] = { 0 };
	for (int i = 0; i < p->n; i++) {
		memcpy(rec, &p->id, 4);
		memcpy(rec + 4, &i, 4);
		while (shmcp_ring_push(p->sys, 0, SHMCP_IUCV, SHMCP_NORMAL, rec, 0, 0) ==
		       SHMCP_E_QFULL)
			sched_yield();
	}
	return NULL;
}

static void test_ring_concurrent(void)
{
	struct shmcp_limits l = small();
	int fd = new_system(&l), rc;
	shmcp_sys *sys = shmcp_attach(fd, "T", &rc);
	enum { P = 4, N = 200000 };
	pthread_t t[P];
	struct prod ps[P];
	for (int i = 0; i < P; i++) {
		ps[i] = (struct prod){ sys, i, N };
		pthread_create(&t[i], NULL, producer, &ps[i]);
	}
	int next[P] = { 0 }, bad = 0;
	long got = 0;
	struct shmcp_record r;
	while (got < (long)P * N) {
		if (shmcp_pop(sys, 0, 1, &r) != 1) {
			sched_yield();
			continue;
		}
		int id, seq;
		memcpy(&id, r.data, 4);
		memcpy(&seq, r.data + 4, 4);
		if (id < 0 || id >= P || seq != next[id])
			bad++;
		else
			next[id]++;
		got++;
	}
	for (int i = 0; i < P; i++)
		pthread_join(t[i], NULL);
	CHECK(bad == 0);
	CHECK(shmcp_pop(sys, 0, 1, &r) == 0);
	shmcp_detach(sys);
	close(fd);
}

static void test_priority_and_repair(void)
{
	struct shmcp_limits l = small();
	int fd = new_system(&l), rc;
	shmcp_sys *sys = shmcp_attach(fd, "T", &rc);
	uint8_t rec[40] = { 0 };
	rec[0] = 1;
	shmcp_ring_push(sys, 1, SHMCP_IUCV, SHMCP_NORMAL, rec, 0, 0);
	/* a producer that claimed a slot and died before publishing */
	struct shmcp_ring *ring = &sys->vms[1].fq[SHMCP_IUCV].ring[SHMCP_NORMAL];
	atomic_fetch_add(&ring->tail, 1);
	rec[0] = 3;
	shmcp_ring_push(sys, 1, SHMCP_IUCV, SHMCP_NORMAL, rec, 0, 0);
	rec[0] = 2;
	shmcp_ring_push(sys, 1, SHMCP_IUCV, SHMCP_PRIO, rec, 0, 0);
	struct shmcp_record r;
	CHECK(shmcp_pop(sys, 1, 1, &r) == 1 && r.data[0] == 2 && r.priority);
	CHECK(shmcp_pop(sys, 1, 1, &r) == 1 && r.data[0] == 1 && !r.priority);
	CHECK(shmcp_pop(sys, 1, 1, &r) == 0); /* stalled at the claimed slot */
	CHECK(shmcp_lock(sys) == 0);  /* the repair runs under the lock */
	shmcp_ring_repair(sys);
	shmcp_unlock(sys);
	CHECK(shmcp_pop(sys, 1, 1, &r) == 1 && r.data[0] == 3); /* void skipped */
	CHECK(shmcp_pop(sys, 1, 1, &r) == 0);
	CHECK(shmcp_pending(sys, 1, 1) == 0);
	shmcp_detach(sys);
	close(fd);
}

static void test_vm_table(void)
{
	struct shmcp_limits l = small();
	int fd = new_system(&l), rc;
	shmcp_sys *sys = shmcp_attach(fd, "T", &rc);
	int32_t slot, slot2;
	uint32_t gen, gen2;
	pid_t me = getpid();
	uint64_t start = shmcp_proc_starttime(me);
	CHECK(start > 0);
	CHECK(shmcp_proc_alive(me, start) == 1);
	CHECK(shmcp_proc_alive(me, start + 1) == 0); /* same pid, other process */
	CHECK(shmcp_logon(sys, "ALICE   ", me, start, &slot, &gen) == 0);
	CHECK(shmcp_logon(sys, "ALICE   ", me, start, &slot2, &gen2) == SHMCP_E_ALREADY);
	CHECK(shmcp_logon(sys, "alice   ", me, start, &slot2, &gen2) == SHMCP_E_BADARG);
	CHECK(shmcp_logon(sys, "A B     ", me, start, &slot2, &gen2) == SHMCP_E_BADARG);
	CHECK(shmcp_logon(sys, "        ", me, start, &slot2, &gen2) == SHMCP_E_BADARG);

	/* a VM whose process exited is reaped once, its data freed */
	pid_t child = fork();
	if (child == 0)
		_exit(0);
	uint64_t cstart = shmcp_proc_starttime(child);
	CHECK(shmcp_logon(sys, "BOB     ", child, cstart, &slot2, &gen2) == 0);
	uint64_t free0 = shmcp_storage_free(sys);
	uint8_t rec[40] = { 0 };
	CHECK(shmcp_post(sys, slot2, gen2, SHMCP_VMCF, 0, 0, rec, (const uint8_t *)"hello", 5) == 0);
	CHECK(shmcp_storage_free(sys) < free0);
	waitpid(child, NULL, 0);
	uint64_t before = shmcp_logoff_count(sys);
	CHECK(shmcp_reap(sys) == 1);
	CHECK(shmcp_reap(sys) == 0);
	CHECK(shmcp_logoff_count(sys) == before + 1);
	CHECK(shmcp_storage_free(sys) == free0);
	CHECK(shmcp_post(sys, slot2, gen2, SHMCP_IUCV, 0, 0, rec, NULL, 0) == SHMCP_E_NOTLOGGED);
	CHECK(shmcp_find(sys, "BOB     ", &slot2, &gen2) == SHMCP_E_NOTLOGGED);
	CHECK(shmcp_live_count(sys) == 1);

	/* stale handles, bad slots */
	CHECK(shmcp_logoff(sys, slot, gen + 1) == SHMCP_E_STALE);
	CHECK(shmcp_logoff(sys, 99, gen) == SHMCP_E_BADARG);
	CHECK(shmcp_post(sys, -1, 0, SHMCP_IUCV, 0, 0, rec, NULL, 0) == SHMCP_E_BADARG);
	CHECK(shmcp_post(sys, slot, gen, 7, 0, 0, rec, NULL, 0) == SHMCP_E_BADARG);
	CHECK(shmcp_logoff(sys, slot, gen) == 0);
	CHECK(shmcp_logoff(sys, slot, gen) == SHMCP_E_STALE);
	CHECK(shmcp_take_ext(sys, 0, 12345, 5, rec) == SHMCP_E_CORRUPT);

	/* wait: timeout, and ready */
	CHECK(shmcp_logon(sys, "CAROL   ", me, start, &slot, &gen) == 0);
	CHECK(shmcp_wait(sys, slot, gen, 1, 1000000, 0) == SHMCP_WAIT_TIMEOUT);
	CHECK(shmcp_post(sys, slot, gen, SHMCP_IUCV, 0, 0, rec, NULL, 0) == 0);
	CHECK(shmcp_wait(sys, slot, gen, 1, -1, 1000) == SHMCP_WAIT_READY);
	CHECK(shmcp_mark_down(sys) == 0);
	CHECK(shmcp_post(sys, slot, gen, SHMCP_IUCV, 0, 0, rec, NULL, 0) == SHMCP_E_DOWN);
	shmcp_detach(sys);
	close(fd);
}

int main(void)
{
	signal(SIGUSR1, SIG_IGN); /* the doorbell of the VMs this test plays */
	signal(SIGUSR2, SIG_IGN);
	test_segment();
	test_ring_concurrent();
	test_priority_and_repair();
	test_vm_table();
	return report("test_core");
}
