/*
 * view.c - what the operator's view reads of IUCV (the facility's snap and
 * origin, core/facility.h): each VM's IUCV state, every path end, the
 * messages on each VM's three queues, and who caused an interrupt.
 * Lock held throughout; nothing is changed.
 */
#include <string.h>

#include "iucv.h"

_Static_assert(SHMCP_PATH_OUT_PENDING == END_OUT_PENDING &&
	       SHMCP_PATH_IN_PENDING == END_IN_PENDING && SHMCP_PATH_ACTIVE == END_ACTIVE &&
	       SHMCP_PATH_SEVERED == END_PARTNER_SEVERED, "path states");
_Static_assert(SHMCP_QUEUE_SEND == Q_SEND && SHMCP_QUEUE_RECEIVE == Q_RECV &&
	       SHMCP_QUEUE_REPLY == Q_REPLY, "queue numbers");
_Static_assert(SHMCP_PARTNER_CP == CP_SLOT, "CP's slot");

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
			else  /* as at CONNECT: the slot may be another VM's now */
				memcpy(r->partner, p->userid[1 - end], sizeof r->partner);
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

/**
 * shmcp_iucv_snap - IUCV's part of a snapshot: the VM rows' IUCV state,
 * the path ends, the queued messages and the message ids given.
 */
void shmcp_iucv_snap(shmcp_sys *sys, struct shmcp_snapshot *s)
{
	SHMCP_LOCK_HELD(sys);
	struct shmcp_iucv t;
	shmcp_iucv_tables(sys, &t);
	uint32_t nvm = s->nvm < s->vm_cap ? s->nvm : s->vm_cap;
	for (uint32_t i = 0; i < nvm; i++) {
		struct shmcp_snap_vm *o = &s->vm[i];
		o->iucv_declared = shmcp_iucv_declared(sys, &t, o->slot, o->gen);
		o->maxconn = t.vm[o->slot].maxconn;
		o->npaths = t.vm[o->slot].npaths;
	}
	copy_paths(sys, &t, s);
	copy_messages(sys, &t, s);
	s->iucv_msgids = t.hdr->msgid;
}

/**
 * shmcp_iucv_origin - who caused IUCV interrupt @rec for VM @slot: for a
 * path interrupt (01-09), the partner on the path (SHMCP_FROM_CP for
 * *MSG), with its userid in @from; else SHMCP_FROM_NONE.
 */
int32_t shmcp_iucv_origin(shmcp_sys *sys, int32_t slot, const uint8_t *rec, char from[8])
{
	SHMCP_LOCK_HELD(sys);
	uint8_t type = rec[SHMCP_IP_RCODE];
	if (type < SHMCP_IPTYPE_PENDING_CONNECTION || type > SHMCP_IPTYPE_NONPRIORITY_MESSAGE_PENDING)
		return SHMCP_FROM_NONE;
	struct shmcp_iucv t;
	int end;
	shmcp_iucv_tables(sys, &t);
	struct shmcp_path *p = shmcp_iucv_path_of(&t, slot, ip16(rec, SHMCP_IP_PATHID), &end);
	if (!p)
		return SHMCP_FROM_NONE;
	int32_t other = p->e[1 - end].slot;
	if (other == CP_SLOT) {
		memcpy(from, MSG_SERVICE, 8);
		return SHMCP_FROM_CP;
	}
	if (!shmcp_slot_ok(sys, other))
		return SHMCP_FROM_NONE;
	memcpy(from, p->userid[1 - end], 8);  /* as at CONNECT, as the view shows it */
	return other;
}
