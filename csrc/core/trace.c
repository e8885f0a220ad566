/*
 * trace.c - CP's TRACE EXT: every external interrupt as CP queues it.
 *
 * While at least one tracer is attached (the header's trace_on), the
 * queueing funnel (shmcp_queue_locked) writes one record per interrupt to
 * a ring in the segment (a region of its own after the header).  It
 * writes under the control lock, so the ring's order is the order the
 * interrupts were queued in, and there is one writer at a time.  Tracers read without the lock: a record is a seqlock
 * (its slot's seq is 0 while written, the record's number once whole), so
 * a tracer that fell a whole ring behind sees its records overwritten,
 * counts them as missed and goes on; no producer ever waits for a tracer.
 *
 * With nobody tracing, a post pays one load of trace_on, from a header
 * line every wait reads too (for the system's state) and nothing writes
 * but shutdown and a tracer coming or going: a cache hit.
 */
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "facility.h"

#define RING SHMCP_TRACE_RING

/* Who caused an interrupt for @slot: what its facility can tell (a path's
 * partner), else the VM of the process posting it (none for a command
 * such as `shmcp smsg`).  Lock held. */
static void note_from(shmcp_sys *sys, int32_t slot, int f, const uint8_t *data,
		      struct shmcp_trace_rec *r)
{
	memset(r->from, ' ', sizeof r->from);
	const struct shmcp_facility *fac = shmcp_facilities[f];
	r->from_slot = fac->origin ? fac->origin(sys, slot, data, r->from) : SHMCP_FROM_NONE;
	if (r->from_slot != SHMCP_FROM_NONE)
		return;
	int32_t me = (int32_t)getpid();
	for (uint32_t v = 0; v < sys->max_vms; v++)
		if (sys->vms[v].pid == me && atomic_load(&sys->vms[v].state) == SHMCP_VM_ACTIVE) {
			r->from_slot = (int32_t)v;
			memcpy(r->from, sys->vms[v].userid, sizeof r->from);
			return;
		}
}

/**
 * shmcp_trace_note - write the interrupt just queued for facility @f of VM
 * @slot to the trace ring.  Control lock held (the ring's one writer).
 */
void shmcp_trace_note(shmcp_sys *sys, int32_t slot, int f, int priority,
		      const uint8_t *data, uint32_t ext_len)
{
	struct shmcp_trace *tr = shmcp_trace_of(sys);
	uint64_t n = atomic_load_explicit(&tr->head, memory_order_relaxed) + 1;
	struct shmcp_trace_slot *s = &tr->slot[(n - 1) % RING];
	atomic_store_explicit(&s->seq, 0, memory_order_relaxed);
	atomic_thread_fence(memory_order_release);  /* readers see 0 before the new bytes */
	struct shmcp_trace_rec *r = &s->rec;
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	r->seq = n;
	r->time_ns = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
	memcpy(r->to, sys->vms[slot].userid, sizeof r->to);
	r->to_slot = slot;
	note_from(sys, slot, f, data, r);
	r->facility = f;
	r->priority = priority != 0;
	r->ext_len = ext_len;
	memcpy(r->data, data, SHMCP_RECORD_LEN);
	atomic_store_explicit(&s->seq, n, memory_order_release);
	atomic_store_explicit(&tr->head, n, memory_order_release);
}

/* Whether tracer @t is attached and its process lives (pid and /proc
 * start time: a VM's process is known the same way). */
static int tracer_live(const struct shmcp_tracer *t)
{
	return t->pid && shmcp_proc_alive(t->pid, t->starttime);
}

/* Forget tracers whose process is gone (killed without detaching); set
 * trace_on to how many remain.  Lock held. */
static void tracers_count(shmcp_sys *sys)
{
	struct shmcp_trace *tr = shmcp_trace_of(sys);
	uint32_t n = 0;
	for (int i = 0; i < SHMCP_TRACERS_MAX; i++) {
		struct shmcp_tracer *t = &tr->tracer[i];
		if (t->pid && !tracer_live(t))
			t->pid = 0;
		n += t->pid != 0;
	}
	atomic_store(&sys->hdr->trace_on, n);
}

/**
 * shmcp_trace_live - how many tracers are attached and alive, the dead
 * ones not forgotten (a snapshot changes nothing).  Lock held.
 */
uint32_t shmcp_trace_live(shmcp_sys *sys)
{
	if (!atomic_load(&sys->hdr->trace_on))
		return 0;
	struct shmcp_trace *tr = shmcp_trace_of(sys);
	uint32_t n = 0;
	for (int i = 0; i < SHMCP_TRACERS_MAX; i++)
		n += tracer_live(&tr->tracer[i]) != 0;
	return n;
}

/**
 * shmcp_trace_reap - forget the tracers whose process died without
 * detaching, so posting stops writing the ring for nobody: the dead VMs'
 * reap (shmcp_reap, the watchdog's timed one too) runs it.  While nobody
 * traces, one load; else it looks without the lock and takes it only for
 * a tracer found dead (tracers_count looks again under it).  Returns 0 or
 * SHMCP_E_LOCK.
 */
int shmcp_trace_reap(shmcp_sys *sys)
{
	if (!atomic_load(&sys->hdr->trace_on))
		return 0;
	struct shmcp_trace *tr = shmcp_trace_of(sys);
	int dead = 0;
	for (int i = 0; i < SHMCP_TRACERS_MAX && !dead; i++)
		dead = tr->tracer[i].pid && !tracer_live(&tr->tracer[i]);
	if (!dead)
		return 0;
	int rc = shmcp_lock(sys);
	if (rc)
		return rc;
	tracers_count(sys);
	shmcp_unlock(sys);
	return 0;
}

/**
 * shmcp_trace_attach - register the process @pid (with /proc start time
 * @starttime) as a tracer; *@cursor is set to the next record to be
 * written, so it reads only what is queued from now on.  Takes the lock.
 * Returns the tracer's number, SHMCP_E_TABLEFULL (SHMCP_TRACERS_MAX live
 * tracers), SHMCP_E_BADARG or SHMCP_E_LOCK.
 */
int shmcp_trace_attach(shmcp_sys *sys, int32_t pid, uint64_t starttime, uint64_t *cursor)
{
	if (pid <= 0 || !cursor)
		return SHMCP_E_BADARG;
	int rc = shmcp_lock(sys);
	if (rc)
		return rc;
	struct shmcp_trace *tr = shmcp_trace_of(sys);
	tracers_count(sys);
	rc = SHMCP_E_TABLEFULL;
	for (int i = 0; i < SHMCP_TRACERS_MAX; i++)
		if (!tr->tracer[i].pid) {
			tr->tracer[i].pid = pid;
			tr->tracer[i].starttime = starttime;
			rc = i;
			break;
		}
	tracers_count(sys);
	*cursor = atomic_load(&tr->head);
	shmcp_unlock(sys);
	return rc;
}

/**
 * shmcp_trace_detach - end tracer @tracer; with no tracer left, posting
 * stops writing the ring.  Takes the lock.  Returns 0, _BADARG or _LOCK.
 */
int shmcp_trace_detach(shmcp_sys *sys, int tracer)
{
	if (tracer < 0 || tracer >= SHMCP_TRACERS_MAX)
		return SHMCP_E_BADARG;
	int rc = shmcp_lock(sys);
	if (rc)
		return rc;
	shmcp_trace_of(sys)->tracer[tracer].pid = 0;
	tracers_count(sys);
	shmcp_unlock(sys);
	return 0;
}

/**
 * shmcp_trace_read - copy up to @max records from *@cursor on into @out,
 * in order, advancing *@cursor.  Records overwritten before they were read
 * (the tracer fell more than a ring behind) are skipped and added to
 * *@missed.  No lock: never delays a producer.  Returns the count copied.
 */
int shmcp_trace_read(shmcp_sys *sys, uint64_t *cursor, struct shmcp_trace_rec *out,
		     uint32_t max, uint64_t *missed)
{
	if (!cursor || !out || !missed)
		return SHMCP_E_BADARG;
	struct shmcp_trace *tr = shmcp_trace_of(sys);
	uint64_t head = atomic_load_explicit(&tr->head, memory_order_acquire);
	uint64_t c = *cursor;
	uint32_t n = 0;
	if (c > head)  /* a cursor from before a re-IPL */
		c = head;
	while (c < head && n < max) {
		if (head - c > RING) {  /* overwritten already: lost */
			*missed += head - RING - c;
			c = head - RING;
			continue;
		}
		struct shmcp_trace_slot *s = &tr->slot[c % RING];
		uint64_t before = atomic_load_explicit(&s->seq, memory_order_acquire);
		if (before == c + 1) {
			memcpy(&out[n], &s->rec, sizeof out[n]);
			atomic_thread_fence(memory_order_acquire);
			if (atomic_load_explicit(&s->seq, memory_order_relaxed) == before) {
				n++;
				c++;
				continue;
			}
		}
		/* overwritten under our feet */
		head = atomic_load_explicit(&tr->head, memory_order_acquire);
		*missed += 1;
		c++;
	}
	*cursor = c;
	return (int)n;
}
