/*
 * snapshot.c - the operator's view: a consistent copy of the control
 * tables (VMs, IUCV paths and queued messages, VMCF, storage, counters),
 * taken under the control lock into the caller's arrays.
 *
 * It only reads: nothing a VM would see is consumed or changed (no dead
 * VM is reaped, no interrupt taken).  The lock is held for the copy alone;
 * the caller turns the rows into objects after it is released.
 */
#include <string.h>

#include "iucv/iucv.h"

_Static_assert(SHMCP_PATH_OUT_PENDING == END_OUT_PENDING &&
	       SHMCP_PATH_IN_PENDING == END_IN_PENDING && SHMCP_PATH_ACTIVE == END_ACTIVE &&
	       SHMCP_PATH_SEVERED == END_PARTNER_SEVERED, "path states");
_Static_assert(SHMCP_QUEUE_SEND == Q_SEND && SHMCP_QUEUE_RECEIVE == Q_RECV &&
	       SHMCP_QUEUE_REPLY == Q_REPLY, "queue numbers");
_Static_assert(SHMCP_PARTNER_CP == CP_SLOT, "CP's slot");

/* The VM table, with each VM's IUCV state. */
static void copy_vms(shmcp_sys *sys, struct shmcp_iucv *t, struct shmcp_snapshot *s)
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
		o->iucv_declared = shmcp_iucv_declared(sys, t, (int32_t)v, vm->gen);
		o->maxconn = t->vm[v].maxconn;
		o->npaths = t->vm[v].npaths;
	}
}

/* Each end of each path in use that a VM holds (CP's *MSG ends are shown
 * as the partner of theirs). */
static void copy_paths(shmcp_sys *sys, struct shmcp_iucv *t, struct shmcp_snapshot *s)
{
	s->npath = 0;
	for (uint32_t i = 0; i < t->npaths; i++) {
		struct shmcp_path *p = &t->path[i];
		if (!p->in_use)
			continue;
		for (int end = 0; end < 2; end++) {
			struct shmcp_path_end *e = &p->e[end], *o = &p->e[1 - end];
			if (e->state == END_NONE || e->slot == CP_SLOT || !shmcp_slot_ok(sys, e->slot))
				continue;
			if (s->npath++ >= s->path_cap)
				continue;
			struct shmcp_snap_path *r = &s->path[s->npath - 1];
			memset(r, 0, sizeof *r);
			r->index = i + 1;
			r->slot = e->slot;
			r->pathid = e->pathid;
			r->state = e->state;
			r->partner_slot = o->slot;
			if (o->slot == CP_SLOT)
				memcpy(r->partner, MSG_SERVICE, sizeof r->partner);
			else if (shmcp_slot_ok(sys, o->slot))
				memcpy(r->partner, sys->vms[o->slot].userid, sizeof r->partner);
			r->partner_pathid = o->state == END_NONE ? UINT32_MAX : o->pathid;
			r->msglim = p->msglim;
			r->outstanding = p->outstanding[end];
			r->quiesced = e->quiesced;
			r->priority = p->priority;
			r->flags = e->flags;
		}
	}
}

/* The messages on each VM's three queues, in queue order. */
static void copy_messages(shmcp_sys *sys, struct shmcp_iucv *t, struct shmcp_snapshot *s)
{
	s->nmsg = 0;
	for (uint32_t v = 0; v < sys->max_vms; v++)
		for (int q = Q_SEND; q <= Q_REPLY; q++) {
			uint32_t idx = t->vm[v].q[q].head;
			/* at most nmsgs links: a corrupt list cannot loop us */
			for (uint32_t k = 0; idx && idx <= t->nmsgs && k < t->nmsgs; k++) {
				struct shmcp_msgblok *m = &t->msg[idx - 1];
				idx = m->next;
				if (!m->in_use || m->q != q || m->qslot != (int32_t)v)
					break;
				if (s->nmsg++ >= s->msg_cap)
					continue;
				struct shmcp_snap_msg *r = &s->msg[s->nmsg - 1];
				memset(r, 0, sizeof *r);
				r->slot = (int32_t)v;
				r->queue = (uint32_t)q;
				r->msgid = m->msgid;
				if (m->path && m->path <= t->npaths) {
					struct shmcp_path *p = &t->path[m->path - 1];
					int end = q == Q_REPLY ? m->src : 1 - m->src;
					r->pathid = p->e[end & 1].pathid;
				}
				r->trgcls = m->trgcls;
				r->length = m->data_len;
				r->reply_len = m->reply_len;
				r->priority = q == Q_REPLY ? m->cprio : (m->flags & SHMCP_IPPRTY) != 0;
				r->oneway = (m->flags & SHMCP_IPNORPY) != 0;
				r->prmdata = (m->flags & SHMCP_IPRMDATA) != 0;
			}
		}
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
			uint32_t who = SHMCP_POOL_OWNER_IS_IUCV(tg->owner) ? SHMCP_SNAP_OWNER_IUCV
				     : SHMCP_POOL_OWNER_IS_VMCF(tg->owner) ? SHMCP_SNAP_OWNER_VMCF
				     : tg->owner;
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
	struct shmcp_iucv t;
	shmcp_iucv_tables(sys, &t);
	copy_vms(sys, &t, s);
	copy_paths(sys, &t, s);
	copy_messages(sys, &t, s);
	shmcp_vmcf_snap(sys, s);
	rc = copy_storage(sys, s);
	s->logoffs = atomic_load(&sys->hdr->logoffs);
	s->lock_repairs = atomic_load(&sys->hdr->lock_repairs);
	s->lock_taken = atomic_load(&sys->hdr->lock_taken);
	s->iucv_msgids = t.hdr->msgid;
	s->trace_records = atomic_load(&shmcp_trace_of(sys)->head);
	s->tracers = atomic_load(&sys->hdr->trace_on);
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
