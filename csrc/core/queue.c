/*
 * queue.c - per-VM interrupt queues.
 *
 * Each VM has, per facility, two bounded rings: priority and non-priority.
 * The consumer (the VM's own process) takes priority records first and
 * keeps FIFO order within each class.  A ring is Vyukov's bounded queue:
 * producers claim a ticket with a CAS on `tail`, write the slot, then
 * publish it with a release store of the slot's sequence word; the single
 * consumer reads the sequence with acquire, copies the record and frees
 * the slot with a release store.  The stored sequence is kept relative to
 * the slot's index, so zero-filled memory is an empty ring and IPL need
 * not touch the rings at all.
 *
 * A producer killed between claiming and publishing would stall the
 * consumer at that slot; producers post under the control lock, so the
 * lock's EOWNERDEAD repair (shmcp_ring_repair) finds such slots and
 * publishes them as void records.
 */
#include <sched.h>
#include <string.h>

#include "facility.h"

#define REL memory_order_release
#define ACQ memory_order_acquire
#define RLX memory_order_relaxed

/* effective sequence of slot @i, stored relative to its index */
static inline uint64_t seq_get(struct shmcp_slot *s, uint64_t i, memory_order mo)
{
	return atomic_load_explicit(&s->seq, mo) + i;
}

static inline void seq_set(struct shmcp_slot *s, uint64_t i, uint64_t v)
{
	atomic_store_explicit(&s->seq, v - i, REL);
}

/**
 * shmcp_ring_push - append one record to ring @cls of facility @f of VM
 * @slot.  Lock-free and safe for concurrent producers.
 * Returns 0, SHMCP_E_QFULL when every slot holds an unconsumed record, or
 * SHMCP_E_CORRUPT for a slot ahead of the ring's tail.
 */
int shmcp_ring_push(shmcp_sys *sys, int32_t slot, int f, int cls,
		    const uint8_t *data, uint32_t ext_len, uint64_t ext_off)
{
	struct shmcp_ring *r = &sys->vms[slot].fq[f].ring[cls];
	struct shmcp_slot *slots = shmcp_ring_slots(sys, slot, f, cls);
	uint64_t mask = sys->qsize - 1;
	uint64_t pos = atomic_load_explicit(&r->tail, RLX);
	struct shmcp_slot *s;
	for (;;) {
		s = &slots[pos & mask];
		int64_t dif = (int64_t)(seq_get(s, pos & mask, ACQ) - pos);
		if (dif == 0) {
			if (atomic_compare_exchange_weak_explicit(&r->tail, &pos, pos + 1,
								  RLX, RLX))
				break;
		} else if (dif < 0) {
			return SHMCP_E_QFULL;
		} else {
			/* another producer claimed pos: the tail moved on.  If it
			 * did not, the slot's sequence is ahead of the ring (a
			 * corrupt segment), and waiting for it would never end */
			uint64_t now = atomic_load_explicit(&r->tail, RLX);
			if (now == pos)
				return SHMCP_E_CORRUPT;
			pos = now;
		}
	}
	shmcp_fault("post");  /* tests: die holding a claimed, unpublished slot */
	s->kind = SHMCP_REC_INTERRUPT;
	s->ext_len = ext_len;
	s->ext_off = ext_off;
	memcpy(s->data, data, SHMCP_RECORD_LEN);
	seq_set(s, pos & mask, pos + 1);
	return 0;
}

/* The first published record of one ring (consumer only), or NULL. */
static struct shmcp_slot *ring_head(shmcp_sys *sys, int32_t slot, int f, int cls)
{
	struct shmcp_ring *r = &sys->vms[slot].fq[f].ring[cls];
	uint64_t pos = atomic_load_explicit(&r->head, RLX), i = pos & (sys->qsize - 1);
	struct shmcp_slot *s = &shmcp_ring_slots(sys, slot, f, cls)[i];
	return seq_get(s, i, ACQ) == pos + 1 ? s : NULL;
}

/* Free the head slot @s ring_head gave, for producers. */
static void ring_advance(shmcp_sys *sys, int32_t slot, int f, int cls, struct shmcp_slot *s)
{
	struct shmcp_ring *r = &sys->vms[slot].fq[f].ring[cls];
	uint64_t pos = atomic_load_explicit(&r->head, RLX);
	atomic_store_explicit(&r->head, pos + 1, RLX);
	shmcp_fault("queue.take");  /* tests: a record taken, its slot not freed */
	seq_set(s, pos & (sys->qsize - 1), pos + sys->qsize);
}

/* Take the next published record of one ring; 1 if one was taken. */
static int ring_take(shmcp_sys *sys, int32_t slot, int f, int cls,
		     struct shmcp_record *out, uint8_t *kind)
{
	struct shmcp_slot *s = ring_head(sys, slot, f, cls);
	if (!s)
		return 0;
	*kind = s->kind;
	out->facility = f;
	out->priority = cls == SHMCP_PRIO;
	out->ext_len = s->ext_len;
	out->ext_off = s->ext_off;
	memcpy(out->data, s->data, SHMCP_RECORD_LEN);
	ring_advance(sys, slot, f, cls, s);
	return 1;
}

static uint64_t ring_count(shmcp_sys *sys, int32_t slot, int f, int cls)
{
	struct shmcp_ring *r = &sys->vms[slot].fq[f].ring[cls];
	uint64_t t = atomic_load_explicit(&r->tail, ACQ);
	uint64_t h = atomic_load_explicit(&r->head, RLX);
	return t - h > sys->qsize ? sys->qsize : t - h;
}

/* Whether ring @cls of facility @f of VM @slot has @reserve slots or
 * fewer free (lock held).  By the head producers saw last while that
 * leaves room: the consumer's head only grows, so tail - head_seen is
 * never less than what the ring holds, and its line -- written at every
 * record the consumer takes, on its core -- is read once per many
 * records, not at each.  A stale head_seen (one a dead holder of the
 * lock never updated) only makes the ring look fuller: then it is read. */
static int room_short(shmcp_sys *sys, int32_t slot, int f, int cls, uint64_t reserve)
{
	SHMCP_LOCK_HELD(sys);
	struct shmcp_ring *r = &sys->vms[slot].fq[f].ring[cls];
	uint64_t t = atomic_load_explicit(&r->tail, RLX);
	uint64_t held = t - atomic_load_explicit(&r->head_seen, RLX);  /* at most */
	if (held < sys->qsize && held + reserve < sys->qsize)
		return 0;
	uint64_t h = atomic_load_explicit(&r->head, ACQ);
	atomic_store_explicit(&r->head_seen, h, RLX);
	uint64_t n = t - h > sys->qsize ? sys->qsize : t - h;
	return n + reserve >= sys->qsize;
}

/* shmcp_queue_locked's, with @word in the record when it has no
 * trailing data. */
static int queue_one(shmcp_sys *sys, int32_t slot, int f, int priority, int must,
		     const uint8_t *data, const uint8_t *ext, uint32_t ext_len, uint64_t word,
		     struct shmcp_bells *bells)
{
	SHMCP_LOCK_HELD(sys);
	struct shmcp_vm *vm = &sys->vms[slot];
	int cls = priority ? SHMCP_PRIO : SHMCP_NORMAL;
	uint64_t off = word;
	if (room_short(sys, slot, f, cls, must ? 0 : SHMCP_QUEUE_RESERVE))
		return SHMCP_E_QFULL;
	if (ext_len) {
		off = shmcp_pool_alloc(&sys->pool, ext_len, SHMCP_POOL_OWNER_VM(slot));
		if (off == SHMCP_POOL_NIL)
			return SHMCP_E_NOSTORAGE;
		shmcp_fault("pool.alloc");  /* tests: a block no record names yet */
		memcpy(sys->pool.base + off, ext, ext_len);
	}
	int rc = shmcp_ring_push(sys, slot, f, cls, data, ext_len, off);
	if (rc) {
		if (ext_len)
			shmcp_pool_free(&sys->pool, off, SHMCP_POOL_OWNER_VM(slot));
		return rc;
	}
	/* producers hold the lock: no locked add (the readers are snapshots) */
	atomic_store_explicit(&vm->fq[f].seq, atomic_load_explicit(&vm->fq[f].seq, RLX) + 1, RLX);
	if (__builtin_expect(atomic_load_explicit(&sys->hdr->trace_on, RLX) != 0, 0))
		shmcp_trace_note(sys, slot, f, priority, data, ext_len);
	for (int i = 0; i < bells->n; i++)
		if (bells->b[i].slot == slot && bells->b[i].f == f)
			return 0;
	if (bells->n < SHMCP_BELLS_MAX)
		bells->b[bells->n++] = (typeof(bells->b[0])){ slot, vm->gen, f };
	else
		bells->overflow = 1;
	return 0;
}

/**
 * shmcp_queue_locked - with the control lock held, queue one interrupt
 * @data (40 bytes) for facility @f of the active VM in @slot, with @ext_len
 * bytes of trailing data staged in the pool, and note its doorbell in
 * @bells (rung after the unlock by shmcp_bells_ring).  A non-@must record
 * leaves SHMCP_QUEUE_RESERVE slots free for must-deliver ones (severs).
 * Returns 0, SHMCP_E_QFULL or SHMCP_E_NOSTORAGE; nothing is queued then.
 */
int shmcp_queue_locked(shmcp_sys *sys, int32_t slot, int f, int priority, int must,
		       const uint8_t *data, const uint8_t *ext, uint32_t ext_len,
		       struct shmcp_bells *bells)
{
	return queue_one(sys, slot, f, priority, must, data, ext, ext_len, 0, bells);
}

/**
 * shmcp_queue_word - shmcp_queue_locked for a record with no trailing data
 * but its facility's own @word (in the record's ext_off; never 0), which
 * names what the record is about without a pool block to allocate, copy
 * and free per interrupt.  Its consumer reads it there; no core code
 * frees it.  Returns as shmcp_queue_locked.
 */
int shmcp_queue_word(shmcp_sys *sys, int32_t slot, int f, int priority, int must,
		     const uint8_t *data, uint64_t word, struct shmcp_bells *bells)
{
	return queue_one(sys, slot, f, priority, must, data, NULL, 0, word, bells);
}

/**
 * shmcp_bells_ring - ring the doorbells noted in @bells (lock not held).
 * On overflow every active VM's bells are rung: a spurious doorbell costs
 * a look at an empty queue, a missing one a lost wake-up.
 */
void shmcp_bells_ring(shmcp_sys *sys, struct shmcp_bells *bells)
{
	for (int i = 0; i < bells->n; i++)
		shmcp_ring_bell(sys, bells->b[i].slot, bells->b[i].gen, bells->b[i].f);
	if (bells->overflow)
		for (uint32_t v = 0; v < sys->max_vms; v++)
			if (atomic_load(&sys->vms[v].state) == SHMCP_VM_ACTIVE)
				for (int f = 0; f < SHMCP_NFAC; f++)
					shmcp_ring_bell(sys, (int32_t)v, sys->vms[v].gen, f);
	bells->n = 0;
	bells->overflow = 0;
}

/**
 * shmcp_post - the core's queueing call: queue one interrupt for facility
 * @f of the VM in @slot, which must still be logon generation @gen, then
 * ring its doorbell if it needs one.  Takes the control lock.  Returns 0,
 * SHMCP_E_QFULL, _NOTLOGGED, _NOSTORAGE, _DOWN, _BADARG or _LOCK.  A full
 * queue is reported, never dropped silently.
 */
int shmcp_post(shmcp_sys *sys, int32_t slot, uint32_t gen, int f, int priority,
	       int must, const uint8_t *data, const uint8_t *ext, uint32_t ext_len)
{
	if (!shmcp_slot_ok(sys, slot) || f < 0 || f >= SHMCP_NFAC || !data ||
	    (ext_len && !ext))
		return SHMCP_E_BADARG;
	struct shmcp_bells bells = { .n = 0, .overflow = 0 };
	int rc = shmcp_lock(sys);
	if (rc)
		return rc;
	struct shmcp_vm *vm = &sys->vms[slot];
	if (shmcp_is_down(sys))
		rc = SHMCP_E_DOWN;
	else if (atomic_load(&vm->state) != SHMCP_VM_ACTIVE || vm->gen != gen)
		rc = SHMCP_E_NOTLOGGED;
	else
		rc = shmcp_queue_locked(sys, slot, f, priority, must, data, ext, ext_len, &bells);
	shmcp_unlock(sys);
	shmcp_bells_ring(sys, &bells);
	return rc;
}

/* The consumer role of this process (struct shmcp_sys.consuming). */
static int consumer_try(shmcp_sys *sys)
{
	return !atomic_exchange_explicit(&sys->consuming, 1, ACQ);
}

static void consumer_take(shmcp_sys *sys)
{
	for (unsigned n = 1; !consumer_try(sys); n++)
		if (n % 64)
			cpu_relax();
		else
			sched_yield();  /* its holder may be off the CPU */
}

static void consumer_give(shmcp_sys *sys)
{
	atomic_store_explicit(&sys->consuming, 0, REL);
}

/**
 * shmcp_pop - take the next interrupt of VM @slot for the facilities in
 * @fmask (bit 1 << facility): priority records of any facility first,
 * then non-priority, FIFO within each.  Only the VM's own process calls
 * this (single consumer, its threads one at a time); it takes no control
 * lock.  Returns 1 with *out filled, 0 if nothing is queued, SHMCP_E_BADARG.
 */
int shmcp_pop(shmcp_sys *sys, int32_t slot, int fmask, struct shmcp_record *out)
{
	if (!shmcp_slot_ok(sys, slot))
		return SHMCP_E_BADARG;
	consumer_take(sys);
	int got = 0;
	for (int cls = SHMCP_PRIO; cls <= SHMCP_NORMAL && !got; cls++)
		for (int f = 0; f < SHMCP_NFAC && !got; f++) {
			if (!(fmask & (1 << f)))
				continue;
			uint8_t kind;
			while (ring_take(sys, slot, f, cls, out, &kind)) {
				if (kind == SHMCP_REC_INTERRUPT) {
					got = 1;
					break;
				}
				/* a void record: its producer died; skip it */
			}
		}
	consumer_give(sys);
	return got;
}

/**
 * shmcp_drop_withdrawn - drop from the head of VM @slot's (logon @gen)
 * rings of facility @f the records nobody will be shown: void ones, and
 * those the facility's withdrawn() test says are withdrawn (they carry no
 * trailing data), up to the first that may still be shown.  A program
 * that takes its messages by RECEIVE or TEST COMPLETION instead of by
 * their interrupts would otherwise fill its queue with withdrawn ones.  In
 * the VM's own process, which may hold the control lock; while another of
 * its threads is taking records, does nothing unless the queue is half
 * full, and then waits for that thread.
 */
void shmcp_drop_withdrawn(shmcp_sys *sys, int32_t slot, uint32_t gen, int f)
{
	int (*withdrawn)(shmcp_sys *, int32_t, uint32_t, const uint8_t *) =
		shmcp_facilities[f]->withdrawn;
	if (!shmcp_slot_ok(sys, slot) || !withdrawn)
		return;
	if (!consumer_try(sys)) {
		/* Another thread of ours is taking records: a later call drops
		 * these, unless that thread is off the CPU while the queue
		 * fills; then wait for the role rather than refuse the next
		 * post.  The role's holder takes no lock, so waiting for it
		 * under the control lock cannot deadlock. */
		if (2 * (ring_count(sys, slot, f, SHMCP_PRIO) +
			 ring_count(sys, slot, f, SHMCP_NORMAL)) < sys->qsize)
			return;
		consumer_take(sys);
	}
	for (int cls = SHMCP_PRIO; cls <= SHMCP_NORMAL; cls++)
		for (struct shmcp_slot *s; (s = ring_head(sys, slot, f, cls));) {
			if (s->kind == SHMCP_REC_INTERRUPT &&
			    (s->ext_len || !withdrawn(sys, slot, gen, s->data)))
				break;
			ring_advance(sys, slot, f, cls, s);
		}
	consumer_give(sys);
}

/**
 * shmcp_queue_purge - with the lock held, in VM @slot's own process: drop
 * from its rings of facility @f every record @stale says is dead (its
 * message ended: UNAUTHORIZE purges its interrupts), freeing their
 * trailing data; the rest keep their order.  Withdrawn records are dropped
 * at presentation anyway; this gives their slots back, so stale ones never
 * fill the queue and refuse a must-deliver record.  Each record is taken
 * off the head and a kept one pushed back at the tail (no producer runs
 * under the lock): a kill between loses that one record, never duplicates
 * one, and a stale one's data waits for the VM's LOGOFF.
 */
void shmcp_queue_purge(shmcp_sys *sys, int32_t slot, int f,
		       int (*stale)(shmcp_sys *sys, int32_t slot, const struct shmcp_record *rec))
{
	SHMCP_LOCK_HELD(sys);
	if (!shmcp_slot_ok(sys, slot) || !stale)
		return;
	consumer_take(sys);
	for (int cls = SHMCP_PRIO; cls <= SHMCP_NORMAL; cls++) {
		struct shmcp_record rec;
		uint8_t kind;
		for (uint64_t n = ring_count(sys, slot, f, cls); n; n--) {
			if (!ring_take(sys, slot, f, cls, &rec, &kind))
				break;
			if (kind != SHMCP_REC_INTERRUPT)
				continue;  /* a void record: nothing to keep */
			shmcp_fault("queue.purge");  /* tests: a record off its ring */
			if (!stale(sys, slot, &rec)) {
				shmcp_ring_push(sys, slot, f, cls, rec.data, rec.ext_len, rec.ext_off);
				continue;
			}
			if (rec.ext_len)
				shmcp_pool_free(&sys->pool, rec.ext_off, SHMCP_POOL_OWNER_VM(slot));
		}
	}
	consumer_give(sys);
}

/**
 * shmcp_queue_find - with the lock held: 1 if a record queued for VM @slot
 * in facility @f satisfies @match (called with @ctx), else 0.  For the
 * lock's repair, which asks whether an interrupt a facility owes is
 * already queued: no producer runs, and a slot the consumer frees
 * meanwhile keeps its contents until the next post.
 */
int shmcp_queue_find(shmcp_sys *sys, int32_t slot, int f,
		     int (*match)(shmcp_sys *sys, const struct shmcp_record *rec, const void *ctx),
		     const void *ctx)
{
	SHMCP_LOCK_HELD(sys);
	uint64_t mask = sys->qsize - 1;
	for (int cls = SHMCP_PRIO; cls <= SHMCP_NORMAL; cls++) {
		struct shmcp_ring *r = &sys->vms[slot].fq[f].ring[cls];
		struct shmcp_slot *slots = shmcp_ring_slots(sys, slot, f, cls);
		uint64_t t = atomic_load_explicit(&r->tail, ACQ);
		uint64_t h = atomic_load_explicit(&r->head, ACQ);
		if (t - h > sys->qsize)
			h = t - sys->qsize;
		for (uint64_t p = h; p != t; p++) {
			struct shmcp_slot *s = &slots[p & mask];
			if (s->kind != SHMCP_REC_INTERRUPT)
				continue;
			struct shmcp_record rec = { .facility = f, .priority = cls == SHMCP_PRIO,
						    .ext_len = s->ext_len, .ext_off = s->ext_off };
			memcpy(rec.data, s->data, SHMCP_RECORD_LEN);
			if (match(sys, &rec, ctx))
				return 1;
		}
	}
	return 0;
}

/**
 * shmcp_pending - how many records wait for VM @slot in the facilities of
 * @fmask (void fillers included; exact when no producer is active).
 */
int shmcp_pending(shmcp_sys *sys, int32_t slot, int fmask)
{
	if (!shmcp_slot_ok(sys, slot))
		return SHMCP_E_BADARG;
	uint64_t n = 0;
	for (int f = 0; f < SHMCP_NFAC; f++)
		if (fmask & (1 << f))
			n += ring_count(sys, slot, f, SHMCP_PRIO) +
			     ring_count(sys, slot, f, SHMCP_NORMAL);
	return n > INT32_MAX ? INT32_MAX : (int)n;
}

/**
 * shmcp_take_ext - copy the trailing data of a popped record into @buf
 * and free its storage.  @off/@len come from the record and are checked
 * against the pool: a block that is not allocated, too short or not held
 * by VM @slot gives SHMCP_E_CORRUPT (a corrupt record).  Takes the
 * control lock.
 */
int shmcp_take_ext(shmcp_sys *sys, int32_t slot, uint64_t off, uint32_t len,
		   uint8_t *buf)
{
	if (!shmcp_slot_ok(sys, slot) || (len && !buf))
		return SHMCP_E_BADARG;
	int rc = shmcp_lock(sys);
	if (rc)
		return rc;
	if (!shmcp_pool_held_by(&sys->pool, off, len, SHMCP_POOL_OWNER_VM(slot))) {
		rc = SHMCP_E_CORRUPT;  /* not this VM's: another's data, never shown */
	} else {
		memcpy(buf, sys->pool.base + off, len);
		shmcp_pool_free(&sys->pool, off, SHMCP_POOL_OWNER_VM(slot));
	}
	shmcp_unlock(sys);
	return rc;
}

/**
 * shmcp_ring_repair - with the lock held after its holder died, publish
 * every claimed but unpublished slot as a void record.  Producers only
 * claim under the lock, so none is active while this runs.
 */
void shmcp_ring_repair(shmcp_sys *sys)
{
	SHMCP_LOCK_HELD(sys);
	uint64_t mask = sys->qsize - 1;
	for (uint32_t v = 0; v < sys->max_vms; v++)
		for (int f = 0; f < SHMCP_NFAC; f++)
			for (int cls = 0; cls < 2; cls++) {
				struct shmcp_ring *r = &sys->vms[v].fq[f].ring[cls];
				struct shmcp_slot *slots = shmcp_ring_slots(sys, (int32_t)v, f, cls);
				uint64_t h = atomic_load(&r->head), t = atomic_load(&r->tail);
				if (t - h > sys->qsize)  /* corrupt counters: start afresh */
					h = t - sys->qsize;
				for (uint64_t p = h; p != t; p++) {
					struct shmcp_slot *s = &slots[p & mask];
					if (seq_get(s, p & mask, ACQ) == p) {
						s->kind = SHMCP_REC_VOID;
						s->ext_len = 0;
						seq_set(s, p & mask, p + 1);
					}
				}
			}
}

/* Free the slot just behind the head if its record was taken but the slot
 * never freed: a consumer killed inside ring_advance, between the head's
 * store and the slot's.  A lap later producers would stop at that slot
 * (its sequence says untaken), for every later logon of the VM's slot.
 * Only that slot can be so: the consumer is gone and the lock held; a
 * LOGOFF killed in its own takes runs again in the lock's repair. */
static void ring_free_behind(shmcp_sys *sys, int32_t slot, int f, int cls)
{
	struct shmcp_ring *r = &sys->vms[slot].fq[f].ring[cls];
	uint64_t h = atomic_load_explicit(&r->head, RLX), i = (h - 1) & (sys->qsize - 1);
	struct shmcp_slot *s = &shmcp_ring_slots(sys, slot, f, cls)[i];
	if (h && seq_get(s, i, ACQ) == h)  /* published at h - 1, not freed */
		seq_set(s, i, h - 1 + sys->qsize);
}

/**
 * shmcp_queue_drain - with the lock held, discard every record queued for
 * VM @slot and free their trailing data: the slot is being logged off and
 * its process no longer consumes.  A slot a dead consumer left taken but
 * not freed is freed first (ring_free_behind): the rings are whole for
 * the slot's next logon.
 */
void shmcp_queue_drain(shmcp_sys *sys, int32_t slot)
{
	SHMCP_LOCK_HELD(sys);
	struct shmcp_record rec;
	uint8_t kind;
	for (int f = 0; f < SHMCP_NFAC; f++)
		for (int cls = 0; cls < 2; cls++) {
			ring_free_behind(sys, slot, f, cls);
			while (ring_take(sys, slot, f, cls, &rec, &kind))
				if (kind == SHMCP_REC_INTERRUPT && rec.ext_len)
					shmcp_pool_free(&sys->pool, rec.ext_off,
							SHMCP_POOL_OWNER_VM(slot));
		}
}
