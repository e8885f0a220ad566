/*
 * snapshot.c - the operator's view: a consistent copy of the control
 * tables (VMs, storage, counters, and through the facility table each
 * facility's own: IUCV's paths and queued messages, VMCF's messages),
 * taken under the control lock into the caller's arrays.
 *
 * It only reads: nothing a VM would see is consumed or changed (no dead
 * VM is reaped, no interrupt taken).  The lock is held for the copy alone;
 * the caller turns the rows into objects after it is released.
 */
#include <string.h>

#include "facility.h"

/* The VM table (each facility adds its own state to the rows). */
static void copy_vms(shmcp_sys *sys, struct shmcp_snapshot *s)
{
	s->nvm = 0;
	for (uint32_t v = 0; v < sys->max_vms; v++) {
		struct shmcp_vm *vm = &sys->vms[v];
		uint32_t state = atomic_load(&vm->state);
		if (state == SHMCP_VM_FREE)
			continue;
		if (s->nvm++ >= s->vm_cap)
			continue;
		struct shmcp_snap_vm *o = &s->vm[s->nvm - 1];
		memset(o, 0, sizeof *o);
		o->slot = (int32_t)v;
		o->state = state;
		o->gen = vm->gen;
		o->pid = vm->pid;
		o->starttime = vm->starttime;
		memcpy(o->userid, vm->userid, sizeof o->userid);
		for (int f = 0; f < SHMCP_NFAC; f++) {
			o->queued[f] = (uint64_t)shmcp_pending(sys, (int32_t)v, 1 << f);
			o->posted[f] = atomic_load_explicit(&vm->fq[f].seq, memory_order_relaxed);
		}
		o->running = (atomic_load(&sys->hdr->running[v / 64]) >> (v % 64)) & 1;
	}
}

/* A block's owner as a snapshot shows it: a message's blocks count as their
 * facility's (SHMCP_SNAP_OWNER_MESSAGES + its number), not one row each. */
static uint32_t holder_of(uint16_t owner)
{
	int cls = SHMCP_POOL_OWNER_IS_WIDE(owner) ? SHMCP_HOLDER_WIDE
		: SHMCP_POOL_OWNER_IS_NARROW(owner) ? SHMCP_HOLDER_NARROW : SHMCP_HOLDER_NONE;
	if (cls != SHMCP_HOLDER_NONE)
		for (int f = 0; f < SHMCP_NFAC; f++)
			if (shmcp_facilities[f]->holder_class == cls)
				return SHMCP_SNAP_OWNER_MESSAGES + (uint32_t)f;
	return owner;
}

static uint64_t block_size(unsigned order)
{
	return (uint64_t)1 << (order + SHMCP_POOL_MIN_SHIFT);
}

/* Storage: free, the largest free block, and what each owner holds (a
 * walk of the pool's block tags).  Returns 0 or SHMCP_E_CORRUPT. */
static int copy_storage(shmcp_sys *sys, struct shmcp_snapshot *s)
{
	struct shmcp_pool *pool = &sys->pool;
	struct shmcp_pool_hdr *h = pool->hdr;
	s->storage_size = pool->size;
	s->storage_free = h->free_bytes;
	s->storage_largest = 0;
	s->nowner = 0;
	if (shmcp_pool_check(pool, pool->size))  /* the walk's bounds: size, orders */
		return SHMCP_E_CORRUPT;
	for (uint64_t off = 0; off < h->size;) {
		struct shmcp_pool_tag *tg = &pool->tags[off >> SHMCP_POOL_MIN_SHIFT];
		if (tg->order >= h->orders || (off & (block_size(tg->order) - 1)) ||
		    (tg->state != SHMCP_POOL_FREE && tg->state != SHMCP_POOL_USED))
			return SHMCP_E_CORRUPT;
		uint64_t len = block_size(tg->order);
		if (tg->state == SHMCP_POOL_FREE) {
			if (len > s->storage_largest)
				s->storage_largest = len;
		} else {
			/* a message's blocks are counted by facility, not by message */
			uint32_t who = holder_of(tg->owner);
			uint32_t i = 0;
			while (i < s->nowner && i < s->owner_cap && s->owner[i].owner != who)
				i++;
			if (i == s->nowner) {
				s->nowner++;
				if (i < s->owner_cap)
					s->owner[i] = (struct shmcp_snap_owner){ who, 0, 0 };
			}
			if (i < s->owner_cap) {
				s->owner[i].blocks++;
				s->owner[i].bytes += len;
			}
		}
		off += len;
	}
	return 0;
}

/**
 * shmcp_snapshot - copy the system's tables into the arrays @s names,
 * under the control lock, waiting at most @timeout_ns for it (negative:
 * as long as it takes).  Fills the counts even where the rows did not fit
 * their capacity.  Changes nothing in the segment.  Returns 0,
 * SHMCP_E_BUSY (the lock stayed held: see shmcp_lock_holder),
 * SHMCP_E_CORRUPT, SHMCP_E_LOCK or SHMCP_E_BADARG.
 */
int shmcp_snapshot(shmcp_sys *sys, struct shmcp_snapshot *s, int64_t timeout_ns)
{
	if (!s || (s->vm_cap && !s->vm) || (s->path_cap && !s->path) ||
	    (s->msg_cap && !s->msg) || (s->vmcf_msg_cap && !s->vmcf_msg) ||
	    (s->owner_cap && !s->owner))
		return SHMCP_E_BADARG;
	int rc = timeout_ns < 0 ? shmcp_lock(sys) : shmcp_lock_within(sys, timeout_ns);
	if (rc)
		return rc;
	copy_vms(sys, s);
	for (int f = 0; f < SHMCP_NFAC; f++)
		if (shmcp_facilities[f]->snap)
			shmcp_facilities[f]->snap(sys, s);
	rc = copy_storage(sys, s);
	s->logoffs = atomic_load(&sys->hdr->logoffs);
	s->lock_repairs = atomic_load(&sys->hdr->lock_repairs);
	s->lock_taken = atomic_load(&sys->hdr->lock_taken);
	s->trace_records = atomic_load(&shmcp_trace_of(sys)->head);
	s->tracers = shmcp_trace_live(sys);  /* a killed one is not counted */
	s->down = shmcp_is_down(sys);
	shmcp_unlock(sys);
	return rc;
}

/**
 * shmcp_lock_holder - the thread id holding the control lock, or 0 if it
 * is free.  Read without taking it (a robust mutex's futex word holds its
 * owner's tid: the kernel's robust-futex ABI), so it answers even while
 * the holder is stopped.
 */
int32_t shmcp_lock_holder(shmcp_sys *sys)
{
#ifdef __GLIBC__
	int v = __atomic_load_n(&sys->hdr->lock.__data.__lock, __ATOMIC_RELAXED);
	return (int32_t)(v & 0x3fffffff);  /* FUTEX_TID_MASK */
#else
	(void)sys;
	return 0;
#endif
}
