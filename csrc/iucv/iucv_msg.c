/*
 * iucv_msg.c - IUCV messages: MSGBLOKs on IUCV's three queues
 * (the target's send and receive queues, the source's reply
 * queue) and the functions that move them: SEND, RECEIVE, REPLY, REJECT,
 * PURGE, DESCRIBE, TEST COMPLETION, TEST MESSAGE.  Data is staged in the
 * pool at SEND and REPLY (docs/decisions.md).  Lock held throughout.
 */
#include <stdlib.h>
#include <string.h>

#include "iucv.h"

#define CC2 (256 + 2)
#define CC3 (256 + 3)
#define Q_TAKEN 4              /* TEST COMPLETION took it; the reply is copied next */
/* Input bits no message function defines in VM/SP: buffer lists (X'40'
 * IPBUFLST, X'08' IPANSLST) are later releases'.  The other bits are either
 * inputs or outputs a reissued DESCRIBE/RECEIVE plist carries: accepted. */
#define UNDEFINED_MSG_FLAGS (SHMCP_IPBUFLST | SHMCP_IPANSLST)

/* Blocks above the high-water mark were never used: zero, not in use.  Not
 * read here: the header's line changes at every SEND (msgid, free list). */
static struct shmcp_msgblok *msg_at(struct shmcp_iucv *t, uint32_t idx1)
{
	if (!idx1 || idx1 > t->nmsgs)
		return NULL;
	struct shmcp_msgblok *m = &t->msg[idx1 - 1];
	return m->in_use ? m : NULL;
}

static uint32_t idx1_of(struct shmcp_iucv *t, struct shmcp_msgblok *m)
{
	return (uint32_t)(m - t->msg) + 1;
}

/* The message's path, NULL if it has none -- or if the words naming it
 * (path index, source end, the ends' slots) are out of range. */
static struct shmcp_path *path_at(struct shmcp_iucv *t, struct shmcp_msgblok *m)
{
	if (!m->path || m->path > t->npaths || m->src > 1)
		return NULL;
	struct shmcp_path *p = &t->path[m->path - 1];
	if (!p->in_use || !end_slot_ok(t, p->e[0].slot) || !end_slot_ok(t, p->e[1].slot))
		return NULL;
	return p;
}

/* Whether the pending-message interrupt of @m was presented: its shown
 * word holds the message id then (written without the lock, so a late
 * write into a block freed and reused meanwhile names another message). */
static int msg_shown(const struct shmcp_msgblok *m)
{
	return __atomic_load_n(&m->shown, __ATOMIC_RELAXED) == m->msgid;
}

static struct shmcp_msgblok *msg_alloc(struct shmcp_iucv *t)
{
	uint32_t i;
	struct shmcp_msgblok *m = msg_at(t, 0);
	if (t->hdr->free_msgs && t->hdr->free_msgs <= t->nmsgs &&
	    t->hdr->free_msgs <= t->hdr->msgs_used) {
		i = t->hdr->free_msgs - 1;
		t->hdr->free_msgs = t->msg[i].next;
	} else if (t->hdr->msgs_used < t->nmsgs) {
		i = t->hdr->msgs_used++;
	} else {
		return NULL;
	}
	m = &t->msg[i];
	memset(m, 0, sizeof *m);
	m->data_off = NO_OFF;
	m->reply_off = NO_OFF;
	m->qslot = -1;
	/* in use last: a block the repair finds in use never names offset 0 */
	atomic_signal_fence(memory_order_seq_cst);
	m->in_use = 1;
	return m;
}

/* ---- queues --------------------------------------------------------------- */

static struct shmcp_qhead *qhead(struct shmcp_iucv *t, struct shmcp_msgblok *m)
{
	return &t->vm[m->qslot].q[m->q];
}

/* The message link @idx1 names on queue @q of VM @slot; NULL at the end
 * (0).  A link a corrupt segment left -- to a block not in use or not on
 * that queue, or one link more than there are MSGBLOKs (a loop) -- is
 * NULL too, with *@bad set.  @steps counts the walk's links. */
static struct shmcp_msgblok *q_link(struct shmcp_iucv *t, int32_t slot, int q, uint32_t idx1,
				    uint32_t *steps, int *bad)
{
	if (!idx1)
		return NULL;
	struct shmcp_msgblok *m = msg_at(t, idx1);
	if (!m || m->q != q || m->qslot != slot || ++*steps > t->nmsgs) {
		*bad = 1;
		return NULL;
	}
	return m;
}

static int is_prio(struct shmcp_msgblok *m)
{
	return m->q == Q_REPLY ? m->cprio : (m->flags & SHMCP_IPPRTY) != 0;
}

static void q_remove(struct shmcp_iucv *t, struct shmcp_msgblok *m)
{
	if (m->q == Q_NONE || m->q == Q_TAKEN || m->q > Q_REPLY || m->qslot < 0 ||
	    (uint32_t)m->qslot >= t->max_vms) {  /* on no queue, or words out of range */
		m->next = m->prev = 0;
		m->q = Q_NONE;
		m->qslot = -1;
		return;
	}
	if (m->q == Q_SEND ? !msg_shown(m) : m->q == Q_REPLY)
		t->unshown = 1;
	struct shmcp_qhead *h = qhead(t, m);
	struct shmcp_msgblok *prev = msg_at(t, m->prev), *next = msg_at(t, m->next);
	if (prev)
		prev->next = m->next;
	else
		h->head = m->next;
	if (next)
		next->prev = m->prev;
	else
		h->tail = m->prev;
	m->next = m->prev = 0;
	m->q = Q_NONE;
	m->qslot = -1;
}

/* Queue @m on queue @q of VM @slot: priority ones after the last priority
 * one, the rest at the end (IBM's order: priority first, FIFO in each). */
static void q_insert(struct shmcp_iucv *t, int32_t slot, int q, struct shmcp_msgblok *m)
{
	/* release: what SEND wrote first (the message id) is there for a
	 * presenter that finds the message queued (pending_at) */
	__atomic_store_n(&m->q, (uint8_t)q, __ATOMIC_RELEASE);
	__atomic_store_n(&m->qslot, slot, __ATOMIC_RELEASE);
	struct shmcp_qhead *h = qhead(t, m);
	uint32_t me = idx1_of(t, m), steps = 0;
	int bad = 0;
	struct shmcp_msgblok *after = q_link(t, slot, q, h->tail, &steps, &bad);
	if (q != Q_RECV && is_prio(m)) {
		after = NULL;
		for (struct shmcp_msgblok *c = q_link(t, slot, q, h->head, &steps, &bad);
		     c && is_prio(c); c = q_link(t, slot, q, c->next, &steps, &bad))
			after = c;
	}
	struct shmcp_msgblok *before = after ? q_link(t, slot, q, after->next, &steps, &bad)
					     : q_link(t, slot, q, h->head, &steps, &bad);
	if (bad)  /* a corrupt queue: it starts afresh with @m */
		after = before = NULL;
	m->prev = after ? idx1_of(t, after) : 0;
	m->next = before ? idx1_of(t, before) : 0;
	if (after)
		after->next = me;
	else
		h->head = me;
	if (before)
		before->prev = me;
	else
		h->tail = me;
}

/* The message's staged data and reply, freed as its own (the MSGBLOK
 * holds them, not the VM that staged them): each offset is cleared before
 * its free, so a kill between leaves a block nobody names, which the
 * lock's repair frees (shmcp_pool_sweep), never one named twice. */
static void msg_free_data(shmcp_sys *sys, struct shmcp_msgblok *m, uint32_t idx1)
{
	uint64_t data = m->data_off, reply = m->reply_off;
	m->data_off = NO_OFF;
	m->reply_off = NO_OFF;
	atomic_signal_fence(memory_order_seq_cst);
	if (data != NO_OFF)
		shmcp_pool_free(&sys->pool, data, SHMCP_POOL_OWNER_WIDE(idx1));
	if (reply != NO_OFF && reply != data)  /* never one block freed twice */
		shmcp_pool_free(&sys->pool, reply, SHMCP_POOL_OWNER_WIDE(idx1));
}

static void msg_destroy(shmcp_sys *sys, struct shmcp_iucv *t, struct shmcp_msgblok *m)
{
	SHMCP_LOCK_HELD(sys);
	q_remove(t, m);
	struct shmcp_path *p = path_at(t, m);
	if (p && p->outstanding[m->src])
		p->outstanding[m->src]--;
	uint32_t i = idx1_of(t, m);
	shmcp_fault("iucv.destroy");  /* tests: off its queue, not yet freed */
	msg_free_data(sys, m, i);
	m->in_use = 0;  /* first: the repair never sees half a block in use */
	atomic_signal_fence(memory_order_seq_cst);
	memset(m, 0, sizeof *m);
	m->next = t->hdr->free_msgs;
	t->hdr->free_msgs = i;
}

/* ---- interrupts ------------------------------------------------------------- */

/* The pending-message image (type 08/09 interrupt, DESCRIBE output). */
static void pending_image(struct shmcp_path *p, struct shmcp_msgblok *m, uint8_t *rec)
{
	memset(rec, 0, SHMCP_RECORD_LEN);
	put16(rec, SHMCP_IP_PATHID, p->e[1 - m->src].pathid);
	rec[SHMCP_IP_FLAGS1] = m->flags & (SHMCP_IPRMDATA | SHMCP_IPPRTY | SHMCP_IPNORPY);
	rec[SHMCP_IP_RCODE] = (m->flags & SHMCP_IPPRTY) ? SHMCP_IPTYPE_PRIORITY_MESSAGE_PENDING
							 : SHMCP_IPTYPE_NONPRIORITY_MESSAGE_PENDING;
	put32(rec, SHMCP_IP_MSGID, m->msgid);
	put32(rec, SHMCP_IP_TRGCLS, m->trgcls);
	if (m->flags & SHMCP_IPRMDATA)
		memcpy(rec + SHMCP_IP_RMMSG, m->prm, 8);
	else
		put32(rec, SHMCP_IP_BFLN1F, m->data_len - m->received);
	put32(rec, SHMCP_IP_BFLN2F, m->ans_len);
}

/* The message-complete image (type 06/07 interrupt, TEST COMPLETION). */
static void complete_image(struct shmcp_path *p, struct shmcp_msgblok *m, uint8_t *rec)
{
	memset(rec, 0, SHMCP_RECORD_LEN);
	put16(rec, SHMCP_IP_PATHID, p ? p->e[m->src].pathid : 0);
	rec[SHMCP_IP_FLAGS1] = (uint8_t)((m->rflags & SHMCP_IPRMDATA) |
					 (m->cprio ? SHMCP_IPPRTY : 0) |
					 (m->flags & SHMCP_IPNORPY));
	rec[SHMCP_IP_RCODE] = m->cprio ? SHMCP_IPTYPE_PRIORITY_MESSAGE_COMPLETE
				       : SHMCP_IPTYPE_NONPRIORITY_MESSAGE_COMPLETE;
	put32(rec, SHMCP_IP_MSGID, m->msgid);
	put16(rec, SHMCP_IP_AUDIT, m->audit);
	if (m->rflags & SHMCP_IPRMDATA)
		memcpy(rec + SHMCP_IP_RMMSG, m->rprm, 8);
	put32(rec, SHMCP_IP_SRCCLS, m->srccls);
	put32(rec, SHMCP_IP_MSGTAG, m->msgtag);
	put32(rec, SHMCP_IP_BFLN2F, m->residual);
}

/* The message is complete: to the source's reply queue, with its
 * message-complete interrupt; destroyed if the source end is gone. */
static void complete(shmcp_sys *sys, struct shmcp_iucv *t, struct shmcp_msgblok *m,
		     struct shmcp_bells *bells)
{
	SHMCP_LOCK_HELD(sys);
	struct shmcp_path *p = path_at(t, m);
	m->completing = 1;  /* a kill off every queue: the repair completes it */
	q_remove(t, m);
	if (!p || p->e[m->src].slot == CP_SLOT ||  /* *MSG: nobody to tell */
	    (p->e[m->src].state != END_ACTIVE && p->e[m->src].state != END_PARTNER_SEVERED)) {
		msg_destroy(sys, t, m);
		return;
	}
	q_insert(t, p->e[m->src].slot, Q_REPLY, m);
	m->completing = 0;
	shmcp_fault("iucv.complete");  /* tests: completed, its 06/07 not queued */
	uint8_t rec[SHMCP_RECORD_LEN];
	complete_image(p, m, rec);
	put32(rec, HINT_OFF, idx1_of(t, m));
	/* completion must not fail: it may use the queue's reserve; if even
	 * that is full, TEST COMPLETION still finds the message */
	shmcp_queue_locked(sys, p->e[m->src].slot, SHMCP_IUCV, m->cprio, 1, rec, NULL, 0, bells);
}

/* ---- selection ---------------------------------------------------------------- */

/* Find a message on queue @q of @slot by the selectors of @pl (RECEIVE,
 * TEST COMPLETION): IPFGPID path id, IPFGMID message id, IPFGMCL class
 * (@cls_off: target or source class).  *rc: 0, IPRCODE 1 or 8, CC2. */
static struct shmcp_msgblok *select_msg(struct shmcp_iucv *t, int32_t slot, int q,
					const uint8_t *pl, int cls_off, int mine, int *rc)
{
	uint8_t f = pl[SHMCP_IP_FLAGS1];
	uint16_t pathid = ip16(pl, SHMCP_IP_PATHID);
	uint32_t msgid = ip32(pl, SHMCP_IP_MSGID), cls = ip32(pl, cls_off);
	int end;
	struct shmcp_path *want = NULL;
	*rc = 0;
	if (f & SHMCP_IPFGPID) {
		want = shmcp_iucv_path_of(t, slot, pathid, &end);
		if (!want) {
			*rc = SHMCP_IPRC_INVALID_PATHID;
			return NULL;
		}
	}
	uint32_t steps = 0;
	int bad = 0;
	for (struct shmcp_msgblok *m = q_link(t, slot, q, t->vm[slot].q[q].head, &steps, &bad); m;
	     m = q_link(t, slot, q, m->next, &steps, &bad)) {
		struct shmcp_path *p = path_at(t, m);
		if (!p) {  /* every queued message has a path */
			*rc = SHMCP_E_CORRUPT;
			return NULL;
		}
		int path_ok = !want || (p == want && (mine ? m->src == end : m->src != end));
		uint32_t mcls = cls_off == SHMCP_IP_TRGCLS ? m->trgcls : m->srccls;
		int cls_ok = !(f & SHMCP_IPFGMCL) || mcls == cls;
		if (f & SHMCP_IPFGMID) {
			if (m->msgid != msgid)
				continue;
			if (!path_ok || !cls_ok)
				*rc = SHMCP_IPRC_MSGID_MISMATCH;
			return *rc ? NULL : m;
		}
		if (path_ok && cls_ok && !(q == Q_SEND && m->partial))
			return m;
	}
	*rc = bad ? SHMCP_E_CORRUPT : CC2;
	return NULL;
}

/* Find a message by all three of path id, message id and target class
 * (REPLY, REJECT) on the queues in @qmask of @slot. */
static struct shmcp_msgblok *identify(struct shmcp_iucv *t, int32_t slot, int qmask,
				      const uint8_t *pl, int *rc)
{
	int end;
	struct shmcp_path *want = shmcp_iucv_path_of(t, slot, ip16(pl, SHMCP_IP_PATHID), &end);
	*rc = 0;
	if (!want) {
		*rc = SHMCP_IPRC_INVALID_PATHID;
		return NULL;
	}
	uint32_t msgid = ip32(pl, SHMCP_IP_MSGID), cls = ip32(pl, SHMCP_IP_TRGCLS);
	uint32_t steps = 0;
	int bad = 0;
	for (int q = Q_SEND; q <= Q_RECV; q++) {
		if (!(qmask & (1 << q)))
			continue;
		steps = 0;
		for (struct shmcp_msgblok *m = q_link(t, slot, q, t->vm[slot].q[q].head, &steps, &bad);
		     m; m = q_link(t, slot, q, m->next, &steps, &bad))
			if (m->msgid == msgid) {
				if (path_at(t, m) != want || m->src == end || m->trgcls != cls) {
					*rc = SHMCP_IPRC_MSGID_MISMATCH;
					return NULL;
				}
				return m;
			}
	}
	*rc = bad ? SHMCP_E_CORRUPT : CC2;
	return NULL;
}

/* ---- the functions ---------------------------------------------------------------- */

static int do_send(shmcp_sys *sys, struct shmcp_iucv *t, int32_t slot, uint8_t *pl,
		   const uint8_t *in, uint8_t *answer, struct shmcp_bells *bells)
{
	uint8_t f = pl[SHMCP_IP_FLAGS1];
	if (f & ~(SHMCP_IPRMDATA | SHMCP_IPPRTY | SHMCP_IPNORPY))
		return SHMCP_E_PCSPEC;  /* buffer lists, IPSYNC: later releases */
	int end;
	struct shmcp_path *p = shmcp_iucv_path_of(t, slot, ip16(pl, SHMCP_IP_PATHID), &end);
	if (!p || p->e[end].state != END_ACTIVE)
		return SHMCP_IPRC_INVALID_PATHID;
	struct shmcp_path_end *me = &p->e[end], *other = &p->e[1 - end];
	if (me->quiesced || other->slot == CP_SLOT)  /* *MSG takes no messages */
		return SHMCP_IPRC_QUIESCED;
	if (p->outstanding[end] >= p->msglim)
		return SHMCP_IPRC_MSGLIM_EXCEEDED;
	if ((f & SHMCP_IPPRTY) && !p->priority)
		return SHMCP_IPRC_PRIORITY_NOT_ALLOWED;
	int32_t len = (f & SHMCP_IPRMDATA) ? 0 : (int32_t)ip32(pl, SHMCP_IP_BFLN1F);
	int32_t ans = (f & SHMCP_IPNORPY) ? 0 : (int32_t)ip32(pl, SHMCP_IP_BFLN2F);
	if (len < 0 || ans < 0)
		return SHMCP_IPRC_NEGATIVE_LENGTH;
	if ((f & SHMCP_IPRMDATA) && !(other->flags & SHMCP_IPRMDATA))
		return SHMCP_IPRC_PRMDATA_NOT_ALLOWED;
	struct shmcp_msgblok *m = msg_alloc(t);
	if (!m)
		return SHMCP_E_NOSTORAGE;
	if (len > 0) {
		m->data_off = shmcp_pool_alloc(&sys->pool, (uint64_t)len,
					       SHMCP_POOL_OWNER_WIDE(idx1_of(t, m)));
		if (m->data_off == SHMCP_POOL_NIL) {
			m->data_off = NO_OFF;
			msg_destroy(sys, t, m);
			return SHMCP_E_NOSTORAGE;
		}
		memcpy(sys->pool.base + m->data_off, in, (size_t)len);
	}
	shmcp_fault("iucv.send.staged");  /* tests: a MSGBLOK on no queue */
	m->msgid = ++t->hdr->msgid ? t->hdr->msgid : ++t->hdr->msgid;
	m->path = (uint32_t)(p - t->path) + 1;
	m->src = (uint8_t)end;
	m->flags = f;
	m->trgcls = ip32(pl, SHMCP_IP_TRGCLS);
	m->srccls = ip32(pl, SHMCP_IP_SRCCLS);
	m->msgtag = ip32(pl, SHMCP_IP_MSGTAG);
	if (f & SHMCP_IPRMDATA)
		memcpy(m->prm, pl + SHMCP_IP_RMMSG, 8);
	m->data_len = (uint32_t)len;
	m->ans_len = (uint32_t)ans;
	m->answer = ans ? (uint64_t)(uintptr_t)answer : 0;
	m->answer_seal = m->answer ^ sys->seal;
	uint8_t rec[SHMCP_RECORD_LEN];
	pending_image(p, m, rec);
	put32(rec, HINT_OFF, idx1_of(t, m));
	p->outstanding[end]++;  /* first: msg_destroy gives it back */
	/* on the send queue before its 08/09 is: the target presents that
	 * without the lock, by where the message is (present()) */
	q_insert(t, other->slot, Q_SEND, m);
	shmcp_fault("iucv.send.queued");  /* tests: queued, its 08/09 not */
	int rc = shmcp_queue_locked(sys, other->slot, SHMCP_IUCV, (f & SHMCP_IPPRTY) != 0, 0, rec,
				    NULL, 0, bells);
	if (rc) {
		msg_destroy(sys, t, m);  /* off the queue again */
		return rc;
	}
	put32(pl, SHMCP_IP_MSGID, m->msgid);
	return 0;
}

/**
 * shmcp_iucv_cp_send - CP sends on path @p to its VM end @vmend (lock
 * held): a one-way message of target class @trgcls whose data is @prefix
 * (@plen bytes) then @text (@len bytes), staged in the pool as the
 * message's; the
 * VM gets a 09.  Does not count against the path's limit; destroyed when
 * received (nobody takes its completion).  Returns 0, SHMCP_E_MSGQUIESCED
 * (the VM quiesced the path), _NOSTORAGE or _QFULL; nothing is left then.
 */
int shmcp_iucv_cp_send(shmcp_sys *sys, struct shmcp_iucv *t, struct shmcp_path *p, int vmend,
		       uint32_t trgcls, const uint8_t *prefix, uint32_t plen, const uint8_t *text,
		       uint32_t len, struct shmcp_bells *bells)
{
	SHMCP_LOCK_HELD(sys);
	struct shmcp_path_end *vm = &p->e[vmend];
	if (p->e[1 - vmend].quiesced)
		return SHMCP_E_MSGQUIESCED;
	struct shmcp_msgblok *m = msg_alloc(t);
	if (!m)
		return SHMCP_E_NOSTORAGE;
	m->data_off = shmcp_pool_alloc(&sys->pool, (uint64_t)plen + len,
				       SHMCP_POOL_OWNER_WIDE(idx1_of(t, m)));
	if (m->data_off == SHMCP_POOL_NIL) {
		m->data_off = NO_OFF;
		msg_destroy(sys, t, m);
		return SHMCP_E_NOSTORAGE;
	}
	if (plen)
		memcpy(sys->pool.base + m->data_off, prefix, plen);
	if (len)
		memcpy(sys->pool.base + m->data_off + plen, text, len);
	m->msgid = ++t->hdr->msgid ? t->hdr->msgid : ++t->hdr->msgid;
	m->path = (uint32_t)(p - t->path) + 1;
	m->src = (uint8_t)(1 - vmend);
	m->flags = SHMCP_IPNORPY;
	m->trgcls = trgcls;
	m->data_len = plen + len;
	uint8_t rec[SHMCP_RECORD_LEN];
	pending_image(p, m, rec);
	put32(rec, HINT_OFF, idx1_of(t, m));
	q_insert(t, vm->slot, Q_SEND, m);  /* before its 09, as in SEND */
	int rc = shmcp_queue_locked(sys, vm->slot, SHMCP_IUCV, 0, 0, rec, NULL, 0, bells);
	if (rc) {
		msg_destroy(sys, t, m);
		return rc;
	}
	return 0;
}

/* A queue's two ends, to be written: its head and tail lines. */
static void prefetch_queue_ends(struct shmcp_qhead *h)
{
	shmcp_prefetch_write(&h->head, sizeof h->head);
	shmcp_prefetch_write(&h->tail, sizeof h->tail);
}

/* Start bringing in @len bytes of message data at pool offset @off, which
 * its source wrote on another core, so that RECEIVE's copy under the lock
 * finds them here (a 4 KiB message's copy under the lock was most of the
 * time the other end waited for it, bench/NOTES.md).  @off and @len may be
 * stale (read without the lock): they only ever become addresses to
 * prefetch, inside the pool.  Not a long message's: the copy of one streams
 * its lines in by itself, and prefetching them first cost a 64 KiB round
 * trip ~1 us (bench/NOTES.md). */
#define PREFETCH_DATA_MAX (16 * 1024)
static void prefetch_data(shmcp_sys *sys, uint64_t off, uint64_t len)
{
	uint64_t size = sys->pool.size;
	if (len <= PREFETCH_DATA_MAX && off < size && len <= size - off) {  /* else none, or torn */
		shmcp_prefetch_read(sys->pool.base + off, len);
		/* its tag too: RECEIVE checks the message holds the block */
		shmcp_prefetch_read(&sys->pool.tags[off >> SHMCP_POOL_MIN_SHIFT],
				    sizeof sys->pool.tags[0]);
	}
}

/**
 * shmcp_iucv_prefetch - before RECEIVE takes the lock: prefetch the data of
 * the message it will likely take, the first on VM @slot's send queue if
 * @pl names no other (read without the lock).
 */
void shmcp_iucv_prefetch(shmcp_sys *sys, struct shmcp_iucv *t, int32_t slot, const uint8_t *pl)
{
	uint32_t idx1 = __atomic_load_n(&t->vm[slot].q[Q_SEND].head, __ATOMIC_RELAXED);
	if (!idx1 || idx1 > t->nmsgs)
		return;
	struct shmcp_msgblok *m = &t->msg[idx1 - 1];
	if ((pl[SHMCP_IP_FLAGS1] & SHMCP_IPFGMID) &&
	    __atomic_load_n(&m->msgid, __ATOMIC_RELAXED) != ip32(pl, SHMCP_IP_MSGID))
		return;
	prefetch_data(sys, __atomic_load_n(&m->data_off, __ATOMIC_RELAXED),
		      __atomic_load_n(&m->data_len, __ATOMIC_RELAXED));
	/* what RECEIVE writes that the source wrote last: the next message's
	 * link back to this one, and -- a one-way message completes at once
	 * -- the ends of the source's reply queue.  Not the source's interrupt
	 * ring: the source polls its tail, and taking that line for writing
	 * early only moved it once more (bench/NOTES.md) */
	uint32_t next = __atomic_load_n(&m->next, __ATOMIC_RELAXED);
	if (next && next <= t->nmsgs)
		shmcp_prefetch_write(&t->msg[next - 1], sizeof t->msg[0]);
	uint32_t path = __atomic_load_n(&m->path, __ATOMIC_RELAXED);
	uint8_t src = __atomic_load_n(&m->src, __ATOMIC_RELAXED);
	if (!(__atomic_load_n(&m->flags, __ATOMIC_RELAXED) & SHMCP_IPNORPY) || !path ||
	    path > t->npaths || src > 1)
		return;
	int32_t source = __atomic_load_n(&t->path[path - 1].e[src].slot, __ATOMIC_RELAXED);
	if (source < 0 || (uint32_t)source >= t->max_vms)
		return;
	prefetch_queue_ends(&t->vm[source].q[Q_REPLY]);
}

/**
 * shmcp_iucv_prefetch_send - before SEND takes the lock: the ends of the
 * target's send queue, which its RECEIVEs write (read without the lock:
 * only ever addresses to prefetch).
 */
void shmcp_iucv_prefetch_send(struct shmcp_iucv *t, int32_t slot, const uint8_t *pl)
{
	int end;
	struct shmcp_path *p = shmcp_iucv_path_of(t, slot, ip16(pl, SHMCP_IP_PATHID), &end);
	if (!p)
		return;
	int32_t target = __atomic_load_n(&p->e[1 - end].slot, __ATOMIC_RELAXED);
	if (target < 0 || (uint32_t)target >= t->max_vms)
		return;
	prefetch_queue_ends(&t->vm[target].q[Q_SEND]);
}

static int do_receive(shmcp_sys *sys, struct shmcp_iucv *t, int32_t slot, uint8_t *pl,
		      uint8_t *out, struct shmcp_bells *bells)
{
	uint8_t f = pl[SHMCP_IP_FLAGS1];
	if ((f & SHMCP_IPFGMID) && (f & (SHMCP_IPFGPID | SHMCP_IPFGMCL)) !=
				       (SHMCP_IPFGPID | SHMCP_IPFGMCL))
		return SHMCP_E_PCSPEC;
	int32_t buflen = (int32_t)ip32(pl, SHMCP_IP_BFLN1F);
	int rc;
	struct shmcp_msgblok *m = select_msg(t, slot, Q_SEND, pl, SHMCP_IP_TRGCLS, 0, &rc);
	if (!m)
		return rc;
	struct shmcp_path *p = path_at(t, m);
	if (!(m->flags & SHMCP_IPRMDATA) && buflen < 0)
		return SHMCP_IPRC_NEGATIVE_LENGTH;
	uint8_t oflags = m->flags & (SHMCP_IPRMDATA | SHMCP_IPPRTY | SHMCP_IPNORPY);
	put16(pl, SHMCP_IP_PATHID, p->e[1 - m->src].pathid);
	put32(pl, SHMCP_IP_MSGID, m->msgid);
	put32(pl, SHMCP_IP_TRGCLS, m->trgcls);
	put32(pl, SHMCP_IP_BFLN2F, m->ans_len);
	rc = 0;
	if (m->flags & SHMCP_IPRMDATA) {
		memcpy(pl + SHMCP_IP_RMMSG, m->prm, 8);
	} else {
		if (m->received > m->data_len)
			return SHMCP_E_CORRUPT;
		uint32_t rem = m->data_len - m->received;
		uint32_t n = rem < (uint32_t)buflen ? rem : (uint32_t)buflen;
		if (n && !shmcp_pool_held_by(&sys->pool, m->data_off, m->data_len,
					     SHMCP_POOL_OWNER_WIDE(idx1_of(t, m))))
			return SHMCP_E_CORRUPT;  /* never another's data */
		if (n)
			memcpy(out, sys->pool.base + m->data_off + m->received, n);
		m->received += n;
		if ((uint32_t)buflen >= rem) {
			put32(pl, SHMCP_IP_BFLN1F, (uint32_t)buflen - rem);
		} else {
			put32(pl, SHMCP_IP_BFLN1F, rem - (uint32_t)buflen);
			m->partial = 1;
			oflags |= SHMCP_IPFGMID | SHMCP_IPFGPID | SHMCP_IPFGMCL;
			rc = SHMCP_IPRC_BUFFER_TOO_SHORT;
		}
	}
	pl[SHMCP_IP_FLAGS1] = oflags;
	if (rc)
		return rc;
	shmcp_fault("iucv.receive");  /* tests: data copied, still queued */
	q_remove(t, m);
	shmcp_fault("iucv.receive.unlinked");  /* tests: on no queue */
	if (m->flags & SHMCP_IPNORPY) {
		m->residual = 0;
		m->cprio = (m->flags & SHMCP_IPPRTY) != 0;
		complete(sys, t, m, bells);
	} else {
		q_insert(t, slot, Q_RECV, m);
	}
	return 0;
}

/* REPLY stages its data in the block that held the message, when it fits:
 * the target's RECEIVE just read that block, so its lines are in the
 * replier's cache and the copy into them waits for no other core; and the
 * source, reading the reply, takes them back for its next SEND (the block
 * comes back from the allocator).  A block of its own would be one the
 * source last read: each store would wait for the other core (bench/
 * NOTES.md, "Large messages: whose cache a block is in").  The data is not
 * needed any more: a message on the receive queue is fully received.  The
 * block changes hands data_off -> reply_off, never named by both (a kill
 * between leaves it named by neither: the lock's repair frees it). */
static int reply_in_data_block(shmcp_sys *sys, struct shmcp_iucv *t, struct shmcp_msgblok *m,
			       uint32_t stored)
{
	uint64_t off = m->data_off;
	if (off == NO_OFF || m->reply_off != NO_OFF || m->received != m->data_len ||
	    !shmcp_pool_held_by(&sys->pool, off, stored, SHMCP_POOL_OWNER_WIDE(idx1_of(t, m))))
		return 0;
	m->data_off = NO_OFF;
	atomic_signal_fence(memory_order_seq_cst);
	shmcp_fault("iucv.reply.moved");  /* tests: the block named by neither */
	m->reply_off = off;
	return 1;
}

static int do_reply(shmcp_sys *sys, struct shmcp_iucv *t, int32_t slot, uint8_t *pl,
		    const uint8_t *in, struct shmcp_bells *bells)
{
	uint8_t f = pl[SHMCP_IP_FLAGS1];
	int rc;
	struct shmcp_msgblok *m = identify(t, slot, 1 << Q_RECV, pl, &rc);
	if (!m)
		return rc;
	struct shmcp_path *p = path_at(t, m);
	int32_t len = (f & SHMCP_IPRMDATA) ? 8 : (int32_t)ip32(pl, SHMCP_IP_BFLN2F);
	if (len < 0)
		return SHMCP_IPRC_NEGATIVE_LENGTH;
	if (p->e[m->src].state != END_ACTIVE) {  /* the source severed: nobody to tell */
		msg_destroy(sys, t, m);
		return 0;
	}
	rc = 0;
	if (f & SHMCP_IPRMDATA) {
		if (p->e[m->src].flags & SHMCP_IPRMDATA) {
			memcpy(m->rprm, pl + SHMCP_IP_RMMSG, 8);
			m->rflags |= SHMCP_IPRMDATA;
		} else {
			m->audit |= SHMCP_IPADPRMD;
		}
		m->residual = m->ans_len;
	} else {
		uint32_t stored = (uint32_t)len < m->ans_len ? (uint32_t)len : m->ans_len;
		if (stored) {
			if (!reply_in_data_block(sys, t, m, stored)) {
				m->reply_off = shmcp_pool_alloc(&sys->pool, stored,
								SHMCP_POOL_OWNER_WIDE(idx1_of(t, m)));
				if (m->reply_off == SHMCP_POOL_NIL) {
					m->reply_off = NO_OFF;
					return SHMCP_E_NOSTORAGE;
				}
			}
			memcpy(sys->pool.base + m->reply_off, in, stored);
		}
		m->reply_len = stored;
		if ((uint32_t)len > m->ans_len) {
			m->audit |= SHMCP_IPADRPLE;
			m->residual = (uint32_t)len - m->ans_len;
			rc = SHMCP_IPRC_BUFFER_TOO_SHORT;
		} else {
			m->residual = m->ans_len - (uint32_t)len;
		}
		put32(pl, SHMCP_IP_BFLN2F, m->residual);
	}
	m->cprio = ((f & SHMCP_IPPRTY) && p->priority) || (m->flags & SHMCP_IPPRTY);
	shmcp_fault("iucv.reply");  /* tests: the reply staged, not completed */
	complete(sys, t, m, bells);
	return rc;
}

static int do_reject(shmcp_sys *sys, struct shmcp_iucv *t, int32_t slot, uint8_t *pl,
		     struct shmcp_bells *bells)
{
	int rc;
	struct shmcp_msgblok *m = identify(t, slot, 1 << Q_SEND | 1 << Q_RECV, pl, &rc);
	if (!m)
		return rc;
	m->audit |= SHMCP_IPADRJCT;
	m->residual = m->ans_len;
	m->cprio = (m->flags & SHMCP_IPPRTY) != 0;
	shmcp_fault("iucv.reject");  /* tests: marked rejected, not completed */
	complete(sys, t, m, bells);
	return 0;
}

/* The source's own messages, oldest first, for PURGE. */
static struct shmcp_msgblok *find_own(struct shmcp_iucv *t, int32_t slot, const uint8_t *pl,
				      int *rc)
{
	uint8_t f = pl[SHMCP_IP_FLAGS1];
	int end;
	struct shmcp_path *want = NULL;
	*rc = 0;
	if (f & SHMCP_IPFGPID) {
		want = shmcp_iucv_path_of(t, slot, ip16(pl, SHMCP_IP_PATHID), &end);
		if (!want) {
			*rc = SHMCP_IPRC_INVALID_PATHID;
			return NULL;
		}
	}
	uint32_t msgid = ip32(pl, SHMCP_IP_MSGID), cls = ip32(pl, SHMCP_IP_SRCCLS);
	struct shmcp_msgblok *best = NULL;
	for (uint32_t i = 1; i <= t->hdr->msgs_used && i <= t->nmsgs; i++) {
		struct shmcp_msgblok *m = msg_at(t, i);
		struct shmcp_path *p = m ? path_at(t, m) : NULL;
		if (!p || p->e[m->src].slot != slot || p->e[m->src].state == END_NONE ||
		    m->q == Q_TAKEN)
			continue;
		int path_ok = !want || (p == want && m->src == end);
		int cls_ok = !(f & SHMCP_IPFGMCL) || m->srccls == cls;
		if (f & SHMCP_IPFGMID) {
			if (m->msgid != msgid)
				continue;
			if (!path_ok || !cls_ok) {
				*rc = SHMCP_IPRC_MSGID_MISMATCH;
				return NULL;
			}
			return m;
		}
		if (path_ok && cls_ok && (!best || m->msgid < best->msgid))
			best = m;
	}
	if (!best)
		*rc = CC2;
	return best;
}

static int do_purge(shmcp_sys *sys, struct shmcp_iucv *t, int32_t slot, uint8_t *pl)
{
	uint8_t f = pl[SHMCP_IP_FLAGS1];
	if ((f & SHMCP_IPFGMID) && !(f & SHMCP_IPFGPID))
		return SHMCP_E_PCSPEC;
	int rc;
	struct shmcp_msgblok *m = find_own(t, slot, pl, &rc);
	if (!m)
		return rc;
	struct shmcp_path *p = path_at(t, m);
	put16(pl, SHMCP_IP_PATHID, p->e[m->src].pathid);
	pl[SHMCP_IP_FLAGS1] = m->flags & (SHMCP_IPNORPY | SHMCP_IPPRTY);
	put32(pl, SHMCP_IP_MSGID, m->msgid);
	memset(pl + SHMCP_IP_AUDIT, 0, 4);
	put16(pl, SHMCP_IP_AUDIT, m->audit);
	put32(pl, SHMCP_IP_SRCCLS, m->srccls);
	put32(pl, SHMCP_IP_MSGTAG, m->msgtag);
	msg_destroy(sys, t, m);
	return 0;
}

static int do_testcmpl(struct shmcp_iucv *t, int32_t slot, uint8_t *pl)
{
	uint8_t f = pl[SHMCP_IP_FLAGS1];
	if ((f & SHMCP_IPFGMID) && (f & (SHMCP_IPFGPID | SHMCP_IPFGMCL)) !=
				       (SHMCP_IPFGPID | SHMCP_IPFGMCL))
		return SHMCP_E_PCSPEC;
	int rc;
	struct shmcp_msgblok *m = select_msg(t, slot, Q_REPLY, pl, SHMCP_IP_SRCCLS, 1, &rc);
	if (!m)
		return rc;
	complete_image(path_at(t, m), m, pl);
	pl[SHMCP_IP_RCODE] = 0;  /* a plist: IPRCODE, not the interrupt type */
	put32(pl, HINT_OFF, idx1_of(t, m));  /* for shmcp_iucv_take_reply */
	m->completing = 1;  /* a kill between: back to the reply queue */
	q_remove(t, m);
	m->q = Q_TAKEN;
	m->qslot = slot;
	m->completing = 0;
	return m->audit ? CC3 : 0;
}

static int do_describe(struct shmcp_iucv *t, int32_t slot, uint8_t *pl)
{
	uint32_t steps = 0;
	int bad = 0;
	struct shmcp_msgblok *m = q_link(t, slot, Q_SEND, t->vm[slot].q[Q_SEND].head, &steps, &bad);
	struct shmcp_path *p = m ? path_at(t, m) : NULL;
	if (bad || (m && !p))
		return SHMCP_E_CORRUPT;
	if (!m)
		return CC2;
	pending_image(p, m, pl);
	pl[SHMCP_IP_RCODE] = 0;
	pl[SHMCP_IP_FLAGS1] |= SHMCP_IPFGMID | SHMCP_IPFGPID | SHMCP_IPFGMCL;
	return 0;
}

/**
 * shmcp_iucv_message - the message functions of @func for VM @slot (lock
 * held, VM declared).  Returns the IPRCODE (0: CC0), 256 + CC for CC2/CC3,
 * or a negative SHMCP_E_* code.
 */
int shmcp_iucv_message(shmcp_sys *sys, struct shmcp_iucv *t, int32_t slot, int func,
		       uint8_t *pl, const uint8_t *in, uint8_t *out, struct shmcp_bells *bells)
{
	SHMCP_LOCK_HELD(sys);
	if (func != SHMCP_IUCV_SEND && func != SHMCP_IUCV_DESCRIBE &&
	    func != SHMCP_IUCV_TESTMSG && (pl[SHMCP_IP_FLAGS1] & UNDEFINED_MSG_FLAGS))
		return SHMCP_E_PCSPEC;
	switch (func) {
	case SHMCP_IUCV_SEND:
		return do_send(sys, t, slot, pl, in, out, bells);
	case SHMCP_IUCV_RECEIVE:
		return do_receive(sys, t, slot, pl, out, bells);
	case SHMCP_IUCV_REPLY:
		return do_reply(sys, t, slot, pl, in, bells);
	case SHMCP_IUCV_REJECT:
		return do_reject(sys, t, slot, pl, bells);
	case SHMCP_IUCV_PURGE:
		return do_purge(sys, t, slot, pl);
	case SHMCP_IUCV_TESTCMPL:
		return do_testcmpl(t, slot, pl);
	case SHMCP_IUCV_DESCRIBE:
		return do_describe(t, slot, pl);
	case SHMCP_IUCV_TESTMSG: {
		int s = t->vm[slot].q[Q_SEND].head != 0, r = t->vm[slot].q[Q_REPLY].head != 0;
		return s || r ? 256 + (s | r << 1) : 0;
	}
	}
	return SHMCP_E_BADARG;
}

/**
 * shmcp_iucv_sever_messages - end @end of path @p severs (lock held):
 * its partner's uncompleted messages to it come back to the partner
 * completed with IPADSVRD; its own completions not yet taken are
 * destroyed; its own messages still queued at the partner stay there.
 */
void shmcp_iucv_sever_messages(shmcp_sys *sys, struct shmcp_iucv *t, struct shmcp_path *p,
			       int end, struct shmcp_bells *bells)
{
	SHMCP_LOCK_HELD(sys);
	uint32_t pidx = (uint32_t)(p - t->path) + 1;
	/* the partner's messages come back in the order it sent them (message
	 * id), whatever MSGBLOKs they occupy */
	uint32_t last = 0;
	for (;;) {
		struct shmcp_msgblok *next = NULL;
		for (uint32_t i = 1; i <= t->hdr->msgs_used && i <= t->nmsgs; i++) {
			struct shmcp_msgblok *m = msg_at(t, i);
			if (!m || m->path != pidx)
				continue;
			if (m->src == end) {
				if (m->q == Q_REPLY || m->q == Q_TAKEN)
					msg_destroy(sys, t, m);
			} else if ((m->q == Q_SEND || m->q == Q_RECV) && m->msgid > last &&
				   (!next || m->msgid < next->msgid)) {
				next = m;
			}
		}
		if (!next)
			break;
		last = next->msgid;
		next->audit |= SHMCP_IPADSVRD;
		next->residual = next->ans_len;
		next->cprio = (next->flags & SHMCP_IPPRTY) != 0;
		complete(sys, t, next, bells);
		shmcp_fault("iucv.sever.returned");  /* tests: some returned, not all */
	}
}

/**
 * shmcp_iucv_destroy_path_messages - both ends severed: destroy every
 * message left on path @p (lock held).
 */
void shmcp_iucv_destroy_path_messages(shmcp_sys *sys, struct shmcp_iucv *t,
				      struct shmcp_path *p)
{
	SHMCP_LOCK_HELD(sys);
	uint32_t pidx = (uint32_t)(p - t->path) + 1;
	for (uint32_t i = 1; i <= t->hdr->msgs_used && i <= t->nmsgs; i++) {
		struct shmcp_msgblok *m = msg_at(t, i);
		if (m && m->path == pidx)
			msg_destroy(sys, t, m);
	}
}

/* The MSGBLOK an interrupt or TEST COMPLETION output names, checked. */
static struct shmcp_msgblok *hinted(struct shmcp_iucv *t, const uint8_t *rec)
{
	struct shmcp_msgblok *m = msg_at(t, ip32(rec, HINT_OFF));
	return m && m->msgid == ip32(rec, SHMCP_IP_MSGID) ? m : NULL;
}

/* The message the pending-message interrupt @rec of VM @slot (logon @gen)
 * names, if it still waits on the VM's send queue (lock held). */
static struct shmcp_msgblok *still_pending(shmcp_sys *sys, struct shmcp_iucv *t, int32_t slot,
					   uint32_t gen, const uint8_t *rec)
{
	SHMCP_LOCK_HELD(sys);
	struct shmcp_msgblok *m = hinted(t, rec);
	/* a shown one's is a second copy the lock's repair queued */
	return sys->vms[slot].gen == gen && m && m->q == Q_SEND && m->qslot == slot && !msg_shown(m)
		       ? m : NULL;
}

/* The source VM @slot takes completed message @m (lock held): the reply
 * into the answer area its SEND named -- an address in this process,
 * since only the source's own process presents its completions -- then
 * the message is destroyed. */
static void take_reply(shmcp_sys *sys, struct shmcp_iucv *t, struct shmcp_msgblok *m)
{
	SHMCP_LOCK_HELD(sys);
	uint32_t n = m->reply_len < m->ans_len ? m->reply_len : m->ans_len;
	if (n && m->answer && (m->answer ^ sys->seal) == m->answer_seal && m->reply_off != NO_OFF &&
	    shmcp_pool_held_by(&sys->pool, m->reply_off, n, SHMCP_POOL_OWNER_WIDE(idx1_of(t, m))))
		memcpy((uint8_t *)(uintptr_t)m->answer, sys->pool.base + m->reply_off, n);
	msg_destroy(sys, t, m);
}

/* The source VM @slot (logon @gen) takes the completed message @rec names
 * (lock held); 0 if it is gone. */
static int take_completed(shmcp_sys *sys, struct shmcp_iucv *t, int32_t slot, uint32_t gen,
			  const uint8_t *rec)
{
	SHMCP_LOCK_HELD(sys);
	struct shmcp_msgblok *m = hinted(t, rec);
	if (sys->vms[slot].gen != gen || !m || m->qslot != slot ||
	    (m->q != Q_REPLY && m->q != Q_TAKEN))
		return 0;
	take_reply(sys, t, m);
	return 1;
}

/* Whether message @msgid is on VM @slot's send queue in block @m, read
 * without the lock: its queue first, its id last.  An id read after the
 * queue is of the message that was on it (SEND sets the id before it
 * queues the message, q_insert's release; a message leaves its queue
 * before its block is freed); the other order could take the id of a
 * message gone meanwhile and the queue of the block's next one. */
static int pending_at(struct shmcp_msgblok *m, uint32_t msgid, int32_t slot)
{
	return __atomic_load_n(&m->q, __ATOMIC_ACQUIRE) == Q_SEND &&
	       __atomic_load_n(&m->qslot, __ATOMIC_ACQUIRE) == slot &&
	       __atomic_load_n(&m->msgid, __ATOMIC_ACQUIRE) == msgid;
}

/* The pending-message interrupt @rec of VM @slot (logon @gen) is presented
 * if its message still waits on the VM's send queue and it is the first
 * copy presented (the lock's repair may have queued a second): 1, its
 * message marked shown; 0 withdrawn.  Without the lock: the target's
 * every message would otherwise take it once more than its RECEIVE does,
 * from the core the source last took it on (bench/NOTES.md).  SEND puts
 * a message on the send queue before its 08/09 is queued, and only the
 * lock's holders move it off; the mark is a compare-exchange (a full
 * barrier) between two looks at where the message is, so a message that
 * left before the second look is withdrawn and one that leaves after it
 * was presented first, as if the lock had been taken.  The mark is the
 * message id: written into a block freed and reused meanwhile, it names
 * no message there (msg_shown). */
static int present_pending(shmcp_sys *sys, struct shmcp_iucv *t, int32_t slot, uint32_t gen,
			   const uint8_t *rec)
{
	struct shmcp_msgblok *m = msg_at(t, ip32(rec, HINT_OFF));
	uint32_t msgid = ip32(rec, SHMCP_IP_MSGID);
	if (!m || !msgid || sys->vms[slot].gen != gen)
		return 0;
	/* the mark replaces only a word read before a look that found the
	 * message: never the mark of the block's next message, which a plain
	 * exchange by a presenter stopped here would take away (the lock's
	 * repair would then queue that one's 09 again) */
	uint32_t seen = __atomic_load_n(&m->shown, __ATOMIC_ACQUIRE);
	do {
		if (seen == msgid || !pending_at(m, msgid, slot))
			return 0;
	} while (!__atomic_compare_exchange_n(&m->shown, &seen, msgid, 0, __ATOMIC_SEQ_CST,
					      __ATOMIC_ACQUIRE));
	if (!pending_at(m, msgid, slot))
		return 0;
	/* the program's RECEIVE comes next: its data streams in meanwhile
	 * (read without the lock: only ever an address to prefetch) */
	if (!(__atomic_load_n(&m->flags, __ATOMIC_RELAXED) & SHMCP_IPRMDATA)) {
		uint64_t off = __atomic_load_n(&m->data_off, __ATOMIC_RELAXED);
		uint32_t len = __atomic_load_n(&m->data_len, __ATOMIC_RELAXED);
		uint32_t got = __atomic_load_n(&m->received, __ATOMIC_RELAXED);
		if (off != NO_OFF && got <= len)
			prefetch_data(sys, off + got, len - got);
	}
	return 1;
}

/* shmcp_iucv_present's work, inline also in shmcp_iucv_show: the facility
 * table's indirect call is then the one call per presented message. */
static inline __attribute__((always_inline)) int present(shmcp_sys *sys, int32_t slot,
							 uint32_t gen, const uint8_t *rec)
{
	int type = rec[SHMCP_IP_RCODE];
	if (!message_interrupt(type))
		return 1;
	if (!shmcp_slot_ok(sys, slot))
		return 0;
	struct shmcp_iucv t;
	shmcp_iucv_tables(sys, &t);
	uint32_t idx1 = ip32(rec, HINT_OFF);  /* its MSGBLOK, last written by the partner */
	if (idx1 && idx1 <= t.nmsgs)
		shmcp_prefetch_write(&t.msg[idx1 - 1], sizeof t.msg[0]);
	if (type >= SHMCP_IPTYPE_PRIORITY_MESSAGE_PENDING)
		return present_pending(sys, &t, slot, gen, rec);
	/* taking it unlinks it from the reply queue its partner appended to */
	prefetch_queue_ends(&t.vm[slot].q[Q_REPLY]);
	if (shmcp_lock(sys))
		return 0;
	int ok = take_completed(sys, &t, slot, gen, rec);
	shmcp_unlock(sys);
	return ok;
}

/**
 * shmcp_iucv_present - present the interrupt @rec to VM @slot, in the VM's
 * own process: a message-pending interrupt only while its message waits on
 * the send queue (docs/decisions.md); a message-complete interrupt takes
 * its message, the reply written into the answer area.  Returns 1, or 0
 * when the interrupt is withdrawn (received, purged, taken by TEST
 * COMPLETION meanwhile).  Takes the lock.
 */
int shmcp_iucv_present(shmcp_sys *sys, int32_t slot, uint32_t gen, const uint8_t *rec)
{
	return present(sys, slot, gen, rec);
}

/**
 * shmcp_iucv_show - IUCV's presentation in shmcp_next (core/facility.h):
 * a message interrupt (06-09) of a type in @present_types (bit n: type n)
 * is presented (shmcp_iucv_present) and its hint cleared; any other record
 * goes back as is.  Returns SHMCP_SHOW_*.
 */
int shmcp_iucv_show(shmcp_sys *sys, int32_t slot, uint32_t gen, uint32_t present_types,
		    struct shmcp_record *rec)
{
	int type = rec->data[SHMCP_IP_RCODE];
	if (!message_interrupt(type) || !(present_types >> type & 1))
		return SHMCP_SHOW_AS_IS;
	if (!present(sys, slot, gen, rec->data))
		return SHMCP_SHOW_WITHDRAWN;
	memset(rec->data + HINT_OFF, 0, 4);
	return SHMCP_SHOW_PRESENTED;
}

/**
 * shmcp_iucv_withdrawn - a message interrupt no one will be shown
 * (shmcp_drop_withdrawn; lock held): a pending-message one whose message
 * left the send queue, a message-complete one whose message is gone (taken
 * by TEST COMPLETION, purged).
 */
int shmcp_iucv_withdrawn(shmcp_sys *sys, int32_t slot, uint32_t gen, const uint8_t *rec)
{
	SHMCP_LOCK_HELD(sys);
	int type = rec[SHMCP_IP_RCODE];
	if (!message_interrupt(type))
		return 0;
	struct shmcp_iucv t;
	shmcp_iucv_tables(sys, &t);
	if (type >= SHMCP_IPTYPE_PRIORITY_MESSAGE_PENDING)
		return still_pending(sys, &t, slot, gen, rec) == NULL;
	return !hinted(&t, rec);
}

/**
 * shmcp_iucv_drop_withdrawn - VM @slot (logon @gen) took messages without
 * their interrupts (RECEIVE, REJECT or PURGE of an unpresented message, TEST
 * COMPLETION): drop the interrupts that became withdrawn from the head of
 * its queue (lock held, in the VM's own process).
 */
void shmcp_iucv_drop_withdrawn(shmcp_sys *sys, int32_t slot, uint32_t gen)
{
	shmcp_drop_withdrawn(sys, slot, gen, SHMCP_IUCV);
}

/**
 * shmcp_iucv_take_reply - the source VM @slot takes the message TEST
 * COMPLETION just took (@rec = its output): the reply into the answer area,
 * then the message is destroyed.  Returns 0, or SHMCP_E_NOTFOUND.
 */
int shmcp_iucv_take_reply(shmcp_sys *sys, int32_t slot, uint32_t gen, const uint8_t *rec)
{
	if (!shmcp_slot_ok(sys, slot) || !rec)
		return SHMCP_E_BADARG;
	int rc = shmcp_lock(sys);
	if (rc)
		return rc;
	struct shmcp_iucv t;
	shmcp_iucv_tables(sys, &t);
	rc = take_completed(sys, &t, slot, gen, rec) ? 0 : SHMCP_E_NOTFOUND;
	shmcp_iucv_drop_withdrawn(sys, slot, gen);
	shmcp_unlock(sys);
	return rc;
}

/**
 * shmcp_iucv_waiting - TEST MESSAGE's answer for VM @slot: bit 0 messages
 * on the send queue, bit 1 completions on the reply queue.
 */
int shmcp_iucv_waiting(shmcp_sys *sys, int32_t slot, uint32_t gen)
{
	if (!shmcp_slot_ok(sys, slot))
		return SHMCP_E_BADARG;
	int rc = shmcp_lock(sys);
	if (rc)
		return rc;
	struct shmcp_iucv t;
	shmcp_iucv_tables(sys, &t);
	rc = sys->vms[slot].gen != gen ? SHMCP_E_NOTLOGGED
				       : (t.vm[slot].q[Q_SEND].head != 0) |
						 (t.vm[slot].q[Q_REPLY].head != 0) << 1;
	shmcp_unlock(sys);
	return rc;
}

/**
 * shmcp_iucv_holds - does a MSGBLOK whose index folds to @owner
 * (SHMCP_POOL_OWNER_WIDE) name pool block @off as its data or reply?
 * For the lock's repair (shmcp_pool_sweep); lock held.
 */
int shmcp_iucv_holds(shmcp_sys *sys, uint16_t owner, uint64_t off)
{
	struct shmcp_iucv t;
	shmcp_iucv_tables(sys, &t);
	for (uint32_t i = owner & 0x7fff; i <= t.nmsgs; i += 0x8000) {
		struct shmcp_msgblok *m = msg_at(&t, i);
		if (m && SHMCP_POOL_OWNER_WIDE(i) == owner &&
		    (m->data_off == off || m->reply_off == off))
			return 1;
	}
	return 0;
}

/* ---- the lock's repair ---------------------------------------------------- */

/* Does record @rec name MSGBLOK @ctx's message with an interrupt of its
 * kind (06/07 on a reply queue, 08/09 on a send queue)? */
static int names_msg(shmcp_sys *sys, const struct shmcp_record *rec, const void *ctx)
{
	const uint32_t *want = ctx;  /* index + 1, message id, first type */
	(void)sys;
	int type = rec->data[SHMCP_IP_RCODE];
	return !rec->ext_len && (type == (int)want[2] || type == (int)want[2] + 1) &&
	       ip32(rec->data, HINT_OFF) == want[0] && ip32(rec->data, SHMCP_IP_MSGID) == want[1];
}

/* Walk queue @q of VM @slot from its head, keeping the blocks that really
 * are on it (in use, saying so, seen once), and set its back links and
 * tail from them: a kill inside q_insert or q_remove leaves the forward
 * chain right up to one link. */
static void relink(struct shmcp_iucv *t, int32_t slot, int q, uint8_t *seen)
{
	struct shmcp_qhead *h = &t->vm[slot].q[q];
	uint32_t prev = 0, *link = &h->head;
	for (uint32_t i = *link; i; i = *link) {
		struct shmcp_msgblok *m = msg_at(t, i);
		if (!m || seen[i - 1] || m->q != q || m->qslot != slot)
			break;
		seen[i - 1] = 1;
		m->completing = 0;  /* still where it was: whatever had it undone */
		m->prev = prev;
		prev = i;
		link = &m->next;
	}
	*link = 0;
	h->tail = prev;
}

/**
 * shmcp_iucv_repair_messages - the MSGBLOKs after a holder of the lock
 * died (lock held, rings and pool whole): every block in use is on exactly
 * one queue (or taken by TEST COMPLETION), every queue a well-linked list,
 * every free block on the free list, each path's outstanding count right;
 * a block the kill left on no queue is finished (complete() had it: to its
 * source's reply queue; else back on its target's send queue, where a
 * dead receiver's LOGOFF returns it with IPADSVRD); a message on a send or
 * reply queue whose 08/09 or 06/07 is neither shown nor queued gets it
 * (a second copy, should the VM hold one already, is withdrawn).
 */
void shmcp_iucv_repair_messages(shmcp_sys *sys, struct shmcp_iucv *t, struct shmcp_bells *bells)
{
	SHMCP_LOCK_HELD(sys);
	if (t->hdr->msgs_used > t->nmsgs)
		t->hdr->msgs_used = t->nmsgs;
	uint32_t n = t->hdr->msgs_used;
	uint8_t *seen = calloc(n ? n : 1, 1);
	if (!seen)
		return;
	for (uint32_t v = 0; v < t->max_vms; v++)
		for (int q = Q_SEND; q <= Q_REPLY; q++)
			relink(t, (int32_t)v, q, seen);
	for (uint32_t i = 1; i <= n; i++) {
		struct shmcp_msgblok *m = msg_at(t, i);
		if (!m || seen[i - 1] || m->q == Q_TAKEN)
			continue;
		m->next = m->prev = 0;
		struct shmcp_path *p = path_at(t, m);
		int q = m->q;
		int32_t slot = m->qslot;
		m->q = Q_NONE;
		m->qslot = -1;
		if (m->completing) {
			complete(sys, t, m, bells);
		} else if (q >= Q_SEND && q <= Q_REPLY && slot >= 0 && (uint32_t)slot < t->max_vms) {
			q_insert(t, slot, q, m);  /* a link the kill did not write */
		} else if (p && p->e[1 - m->src].state == END_ACTIVE &&
			   p->e[1 - m->src].slot != CP_SLOT) {
			m->shown = 0;
			q_insert(t, p->e[1 - m->src].slot, Q_SEND, m);
		} else {
			complete(sys, t, m, bells);
		}
	}
	free(seen);
	/* the free list, from scratch; outstanding counts, from the blocks */
	t->hdr->free_msgs = 0;
	for (uint32_t i = n; i >= 1; i--)
		if (!t->msg[i - 1].in_use) {
			t->msg[i - 1].next = t->hdr->free_msgs;
			t->hdr->free_msgs = i;
		}
	for (uint32_t i = 0; i < t->npaths; i++)
		t->path[i].outstanding[0] = t->path[i].outstanding[1] = 0;
	for (uint32_t i = 1; i <= n; i++) {
		struct shmcp_msgblok *m = msg_at(t, i);
		struct shmcp_path *p = m ? path_at(t, m) : NULL;
		if (p && p->e[m->src].slot != CP_SLOT)  /* CP's do not count */
			p->outstanding[m->src]++;
	}
	/* the interrupts owed */
	for (uint32_t i = 1; i <= n; i++) {
		struct shmcp_msgblok *m = msg_at(t, i);
		struct shmcp_path *p = m ? path_at(t, m) : NULL;
		m = p ? m : NULL;
		if (!m || !(m->q == Q_REPLY || (m->q == Q_SEND && !msg_shown(m))) ||
		    atomic_load(&sys->vms[m->qslot].state) != SHMCP_VM_ACTIVE)
			continue;
		m->completing = 0;
		uint32_t want[3] = { i, m->msgid, m->q == Q_REPLY
					  ? SHMCP_IPTYPE_PRIORITY_MESSAGE_COMPLETE
					  : SHMCP_IPTYPE_PRIORITY_MESSAGE_PENDING };
		if (shmcp_queue_find(sys, m->qslot, SHMCP_IUCV, names_msg, want))
			continue;
		uint8_t rec[SHMCP_RECORD_LEN];
		int prio;
		if (m->q == Q_REPLY) {
			complete_image(p, m, rec);
			prio = m->cprio;
		} else {
			pending_image(p, m, rec);
			prio = (m->flags & SHMCP_IPPRTY) != 0;
		}
		put32(rec, HINT_OFF, i);
		shmcp_queue_locked(sys, m->qslot, SHMCP_IUCV, prio, 1, rec, NULL, 0, bells);
	}
}
