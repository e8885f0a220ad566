/*
 * test_trace.c - the trace ring and the snapshot under AddressSanitizer and
 * UBSan: nothing is written while nobody traces; a reader thread racing a
 * producer gets whole records, in order, and accounts for every one it
 * missed; a snapshot sees the queued records and consumes none; a tracer
 * killed without detaching is counted out and forgotten; the bounded lock
 * wait gives up on a held lock.
 */
#include <pthread.h>
#include <string.h>
#include <sys/wait.h>

#include "fixture.h"

#define TOTAL (3 * SHMCP_TRACE_RING + 123)

struct reader {
	shmcp_sys *sys;
	uint64_t cursor, first_seq, got, missed, bad;
	_Atomic int stop;
};

/* Read until told to stop and the ring is drained: every record whole
 * (its data carries its own number), in increasing order; what was not
 * read was counted as missed. */
static void *read_all(void *arg)
{
	struct reader *r = arg;
	static struct shmcp_trace_rec buf[64];
	uint64_t last = 0;
	for (;;) {
		/* seen before the read: a stop seen after it could follow
		 * records the read just missed */
		int stopping = atomic_load(&r->stop);
		int n = shmcp_trace_read(r->sys, &r->cursor, buf, 64, &r->missed);
		for (int i = 0; i < n; i++) {
			uint32_t k;
			memcpy(&k, buf[i].data + 8, sizeof k);
			if (buf[i].seq <= last || k != buf[i].seq - r->first_seq)
				r->bad++;
			last = buf[i].seq;
		}
		r->got += (uint64_t)n;
		if (n == 0 && stopping)
			break;
	}
	return NULL;
}

int main(void)
{
	int32_t a, b;
	uint32_t ga, gb;
	shmcp_sys *sys = system_with_a_and_b("shmcp-trace", &a, &ga, &b, &gb);
	uint8_t rec[40] = { 0 };
	struct shmcp_record out;

	/* nobody traces: posting writes nothing to the ring */
	CHECK(shmcp_post(sys, a, ga, SHMCP_IUCV, 0, 0, rec, NULL, 0) == 0);
	CHECK(shmcp_pop(sys, a, 1, &out) == 1);
	CHECK(atomic_load(&shmcp_trace_of(sys)->head) == 0);

	/* a tracer reading in a thread while this one posts many ring-fulls */
	struct reader r = { .sys = sys };
	int t = shmcp_trace_attach(sys, getpid(), shmcp_proc_starttime(getpid()), &r.cursor);
	CHECK(t >= 0 && sys->hdr->trace_on == 1);
	r.first_seq = r.cursor + 1;
	pthread_t th;
	CHECK(pthread_create(&th, NULL, read_all, &r) == 0);
	for (uint32_t i = 0; i < TOTAL; i++) {
		memcpy(rec + 8, &i, sizeof i);
		CHECK(shmcp_post(sys, b, gb, SHMCP_IUCV, 0, 0, rec, NULL, 0) == 0);
		CHECK(shmcp_pop(sys, b, 1, &out) == 1);
	}
	atomic_store(&r.stop, 1);
	pthread_join(th, NULL);
	CHECK(r.bad == 0);
	CHECK(r.got + r.missed == TOTAL);
	CHECK(r.got > 0);

	/* one a ring behind is told exactly how many it lost */
	uint64_t cursor = atomic_load(&shmcp_trace_of(sys)->head), missed = 0;
	for (uint32_t i = 0; i < SHMCP_TRACE_RING + 10; i++) {
		CHECK(shmcp_post(sys, b, gb, SHMCP_IUCV, 0, 0, rec, NULL, 0) == 0);
		CHECK(shmcp_pop(sys, b, 1, &out) == 1);
	}
	static struct shmcp_trace_rec all[SHMCP_TRACE_RING];
	CHECK(shmcp_trace_read(sys, &cursor, all, SHMCP_TRACE_RING, &missed) == SHMCP_TRACE_RING);
	CHECK(missed == 10);
	CHECK(memcmp(all[0].to, "B       ", 8) == 0 && memcmp(all[0].from, "A       ", 8) == 0);
	CHECK(shmcp_trace_detach(sys, t) == 0 && sys->hdr->trace_on == 0);

	/* a snapshot sees what is queued and takes nothing */
	CHECK(shmcp_post(sys, b, gb, SHMCP_IUCV, 0, 0, rec, NULL, 0) == 0);
	struct shmcp_snap_vm vms[4];
	struct shmcp_snap_owner owners[5];
	struct shmcp_snapshot s = { .vm = vms, .vm_cap = 4, .owner = owners, .owner_cap = 5 };
	CHECK(shmcp_snapshot(sys, &s, -1) == 0);
	CHECK(s.nvm == 2 && vms[1].slot == b && vms[1].queued[SHMCP_IUCV] == 1);
	CHECK(s.storage_size == 1 << 20 && s.storage_free <= s.storage_size);
	CHECK(s.npath == 0 && s.nmsg == 0 && s.tracers == 0);
	CHECK(shmcp_pending(sys, b, 1) == 1);
	struct shmcp_snapshot small = { .vm = vms, .vm_cap = 1 };
	CHECK(shmcp_snapshot(sys, &small, -1) == 0 && small.nvm == 2);  /* counted past the cap */
	struct shmcp_snapshot bad = { .vm = NULL, .vm_cap = 1 };
	CHECK(shmcp_snapshot(sys, &bad, -1) == SHMCP_E_BADARG);

	/* a tracer killed without detaching: the snapshot counts it out at
	 * once (changing nothing), the reap of dead VMs forgets it, and
	 * posting stops writing the ring */
	pid_t child = fork();
	CHECK(child >= 0);
	if (child == 0) {
		pause();
		_exit(0);
	}
	uint64_t c2;
	int dead = shmcp_trace_attach(sys, child, shmcp_proc_starttime(child), &c2);
	CHECK(dead >= 0 && sys->hdr->trace_on == 1);
	CHECK(shmcp_snapshot(sys, &s, -1) == 0 && s.tracers == 1);
	CHECK(shmcp_reap(sys) == 0 && sys->hdr->trace_on == 1);  /* alive: kept */
	kill(child, SIGKILL);
	CHECK(waitpid(child, NULL, 0) == child);
	CHECK(shmcp_snapshot(sys, &s, -1) == 0 && s.tracers == 0 && sys->hdr->trace_on == 1);
	CHECK(shmcp_reap(sys) == 0 && sys->hdr->trace_on == 0);
	uint64_t head = atomic_load(&shmcp_trace_of(sys)->head);
	CHECK(shmcp_pop(sys, b, 1, &out) == 1);
	CHECK(shmcp_post(sys, b, gb, SHMCP_IUCV, 0, 0, rec, NULL, 0) == 0);
	CHECK(shmcp_pop(sys, b, 1, &out) == 1);
	CHECK(atomic_load(&shmcp_trace_of(sys)->head) == head);
	CHECK(shmcp_trace_detach(sys, dead) == 0 && sys->hdr->trace_on == 0);

	/* a held lock: the bounded wait gives up, the holder is named */
	CHECK(shmcp_lock_holder(sys) == 0);
	CHECK(shmcp_lock(sys) == 0);
	CHECK(shmcp_lock_holder(sys) == gettid());
	CHECK(shmcp_snapshot(sys, &s, 1000000) == SHMCP_E_BUSY);
	shmcp_unlock(sys);
	CHECK(shmcp_snapshot(sys, &s, 1000000) == 0);

	shmcp_detach(sys);
	return report("test_trace");
}
