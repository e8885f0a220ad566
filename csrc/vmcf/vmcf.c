/*
 * vmcf.c - the Virtual Machine Communication Facility: DIAGNOSE X'68' and
 * its external interrupts (docs/design.md, "VMCF"), plus CP's side of SMSG.
 *
 * The VMCF region of the segment holds, per VM slot, an authorization
 * block and a table of the SHMCP_VMCF_MSG_LIMIT messages it may have
 * active as a source.  A message lives in its source's table from the
 * SEND-type request until the source takes its final RESPONSE interrupt
 * (or a CANCEL, UNAUTHORIZE or LOGOFF ends it).  Zero-filled memory is
 * the empty state: nobody authorized, every entry free.
 *
 * The table is the truth; the interrupt queue only announces.  Every VMCF
 * record carries a tag naming its message entry and the entry's sequence
 * number: SEND and RESPONSE records in their word (shmcp_queue_word: no
 * pool block per interrupt), SENDX and SMSG records as the head of their
 * trailing data.  The consumer asks shmcp_vmcf_present() before showing
 * a record, so an interrupt whose message was cancelled or purged
 * meanwhile is dropped, as CP dequeues it.  That is also the moment a
 * SEND interrupt counts as "given" (RC 13 before it), a SENDX's data lands
 * and its RESPONSE is queued, and REPLY data reaches the source.
 *
 * Data: SEND and SEND/RECV data is staged in the pool at SEND time (held
 * by the message entry, never by a VM) and copied out by the sink's
 * RECEIVE; REPLY data is staged at REPLY (the entry's too) and copied into the source's
 * REPLY buffer in the source's own process at presentation; SENDX and
 * SMSG data travel as the record's trailing data.  The only process-local
 * addresses kept here are those of the source's SEND data and REPLY
 * buffer: compared, never dereferenced, for the destructive-overlap check
 * of a VM that talks to itself.
 *
 * Everything below runs with the control lock held, except where a
 * function's comment says it takes it.
 */
#include <signal.h>
#include <string.h>
#include <time.h>

#include "../core/facility.h"
#include "../core/image.h"
#include "../include/shmcp_vmcf.h"

#define MAXMSG SHMCP_VMCF_MSG_LIMIT
#define HDR SHMCP_VMCF_HDR_LEN
#define TAG_MAGIC ((uint32_t)SHMCP_VMCF_TAG_MAGIC)

/* A RESPONSE always has room in its source's queue, so a REPLY (REJECT,
 * RECEIVE of a SEND) is never refused for it: SEND-type records stop
 * SHMCP_QUEUE_RESERVE slots short of a full ring, and a source is owed at
 * most MAXMSG RESPONSEs, one per message entry. */
_Static_assert(SHMCP_QUEUE_RESERVE >= SHMCP_VMCF_MSG_LIMIT, "room for every RESPONSE owed");

/* message states, as IBM's VMCF moves a message from SEND to its RESPONSE */
enum { M_FREE = 0, M_QUEUED, M_NOTIFIED, M_RECEIVED, M_DONE };
/* record tags */
enum { T_SEND = 1, T_RESP = 2, T_SMSG = 3 };

struct vmcf_hdr {
	uint64_t seq;            /* message sequence numbers, ever */
	uint32_t smsg_mid;       /* last SMSG message id */
	uint8_t _pad[52];
};

struct vmcf_auth {
	uint32_t gen;            /* logon the authorization belongs to */
	uint8_t on;
	uint8_t flags;           /* VMCPAUTS | VMCPPRTY | VMCPSMSG */
	uint8_t quiesced;
	uint8_t _pad;
	uint32_t lena;           /* external interrupt buffer length */
	uint32_t _pad2;
	char partner[SHMCP_USERID_LEN];
	uint64_t epoch;          /* bumped at UNAUTHORIZE: SMSG tags */
	uint32_t hi;             /* its own entries in use lie below (at most MAXMSG) */
	uint8_t _pad3[28];
};

struct vmcf_msg {
	uint8_t state, func, prio, _pad;
	uint32_t mid;
	int32_t sink;
	uint32_t sink_gen;
	uint32_t src_gen;
	uint32_t data_len;       /* SEND data length (staged at data_off) */
	uint64_t data_off;       /* pool offset or SHMCP_POOL_NIL */
	uint32_t lenb;           /* source's REPLY buffer length */
	uint32_t reply_len;      /* REPLY data staged at reply_off */
	uint64_t reply_off;
	uint64_t seq;
	uint64_t data_addr;      /* source's process-local addresses, for */
	uint64_t reply_addr;     /* the overlap check only */
	char sink_user[SHMCP_USERID_LEN];  /* the sink's userid: duplicates are per
					    * userid, across its logons */
};

struct vmcf_tag {
	uint32_t magic, kind, index, _pad;
	uint64_t seq;
};
_Static_assert(sizeof(struct vmcf_tag) == SHMCP_VMCF_TAG_LEN, "tag size");

/* A tag in a record's word: a mark (never 0), the kind, the entry's index
 * and the low WORD_SEQ bits of its sequence number.  A record whose entry
 * was reused is told apart unless 2**40 messages were sent while it
 * waited.  T_SEND and T_RESP only (their records carry no data). */
#define WORD_MARK 0xAULL
#define WORD_SEQ 40
#define WORD_INDEX 18
#define SEQ_MASK ((1ULL << WORD_SEQ) - 1)
_Static_assert((uint64_t)SHMCP_MAX_VMS_LIMIT * MAXMSG <= 1ULL << WORD_INDEX, "index fits");

static uint64_t word_of(uint32_t kind, uint32_t index, uint64_t seq)
{
	return WORD_MARK << 60 | (uint64_t)kind << 58 | (uint64_t)index << WORD_SEQ |
	       (seq & SEQ_MASK);
}

/* The tag in record word @w into @tag: 1, or 0 if it is none. */
static int word_tag(uint64_t w, struct vmcf_tag *tag)
{
	uint32_t kind = (uint32_t)(w >> 58) & 3;
	if (w >> 60 != WORD_MARK || (kind != T_SEND && kind != T_RESP))
		return 0;
	*tag = (struct vmcf_tag){ TAG_MAGIC, kind,
				  (uint32_t)(w >> WORD_SEQ) & ((1u << WORD_INDEX) - 1), 0,
				  w & SEQ_MASK };
	return 1;
}

/* Does sequence number @seq match @tag's (its low WORD_SEQ bits: a
 * tag's word keeps no more)? */
static int seq_is(uint64_t seq, const struct vmcf_tag *tag)
{
	return ((seq ^ tag->seq) & SEQ_MASK) == 0;
}

/**
 * shmcp_vmcf_region_size - bytes of VMCF tables for limits @lim: a small
 * header, one authorization block per VM and MSG_LIMIT message entries
 * per VM (each VM's outgoing messages).
 */
static uint64_t shmcp_vmcf_region_size(const struct shmcp_limits *lim)
{
	return sizeof(struct vmcf_hdr) +
	       (uint64_t)lim->max_vms * (sizeof(struct vmcf_auth) +
					 MAXMSG * sizeof(struct vmcf_msg));
}

static struct vmcf_hdr *vhdr(shmcp_sys *sys)
{
	return (struct vmcf_hdr *)sys->region[SHMCP_VMCF];
}

static struct vmcf_auth *auth_of(shmcp_sys *sys, int32_t slot)
{
	return (struct vmcf_auth *)(sys->region[SHMCP_VMCF] + sizeof(struct vmcf_hdr)) + slot;
}

static struct vmcf_msg *msg_at(shmcp_sys *sys, uint32_t idx)
{
	struct vmcf_msg *m = (struct vmcf_msg *)(sys->region[SHMCP_VMCF] + sizeof(struct vmcf_hdr) +
						 sys->max_vms * sizeof(struct vmcf_auth));
	return m + idx;
}

static uint32_t nmsgs(shmcp_sys *sys)
{
	return sys->max_vms * MAXMSG;
}

static int live(shmcp_sys *sys, int32_t slot)
{
	return atomic_load(&sys->vms[slot].state) == SHMCP_VM_ACTIVE;
}

/* Is the VM in @slot logged on and authorized for VMCF? */
static int authorized(shmcp_sys *sys, int32_t slot)
{
	struct vmcf_auth *a = auth_of(sys, slot);
	return live(sys, slot) && a->on && a->gen == sys->vms[slot].gen;
}

/* The slots this thread found last, by userid: a hint, checked against
 * the table (at most one live VM has a userid: logon makes sure), so that
 * each message does not scan every VM slot. */
#define USER_HINTS 4
static __thread struct {
	const shmcp_sys *sys;
	int32_t slot;
	uint8_t userid[SHMCP_USERID_LEN];
} user_hint[USER_HINTS];
static __thread unsigned user_hint_next;

/* Is @userid logged on in @slot? */
static int user_at(shmcp_sys *sys, int32_t slot, const uint8_t *userid)
{
	return live(sys, slot) && memcmp(sys->vms[slot].userid, userid, SHMCP_USERID_LEN) == 0;
}

/* The slot of logged-on @userid, or -1. */
static int32_t find_user(shmcp_sys *sys, const uint8_t *userid)
{
	for (int k = 0; k < USER_HINTS; k++) {
		int32_t s = user_hint[k].slot;
		if (user_hint[k].sys == sys && (uint32_t)s < sys->max_vms &&
		    memcmp(user_hint[k].userid, userid, SHMCP_USERID_LEN) == 0 &&
		    user_at(sys, s, userid))
			return s;
	}
	for (uint32_t i = 0; i < sys->max_vms; i++)
		if (user_at(sys, (int32_t)i, userid)) {
			unsigned k = user_hint_next++ % USER_HINTS;
			user_hint[k].sys = sys;
			user_hint[k].slot = (int32_t)i;
			memcpy(user_hint[k].userid, userid, SHMCP_USERID_LEN);
			return (int32_t)i;
		}
	return -1;
}

/* Index of entry @m in the message table. */
static uint32_t msg_index(shmcp_sys *sys, struct vmcf_msg *m)
{
	return (uint32_t)(m - msg_at(sys, 0));
}

/* Free the block entry @m holds at *@off: the offset is cleared first, so
 * a kill between leaves a block nobody names (the lock's repair frees it),
 * never one named after its free. */
static void free_off(shmcp_sys *sys, struct vmcf_msg *m, uint64_t *off)
{
	uint64_t was = *off;
	*off = SHMCP_POOL_NIL;
	atomic_signal_fence(memory_order_seq_cst);
	if (was != SHMCP_POOL_NIL)
		shmcp_pool_free(&sys->pool, was, SHMCP_POOL_OWNER_NARROW(msg_index(sys, m)));
}

/*
 * How far into source @src's table its entries in use reach: the tables
 * are searched only that far, an entry being taken first-free (a source
 * with one message in flight searches one entry, not MAXMSG).  The bound
 * is raised before an entry is taken and lowered after one is freed, so
 * a kill between leaves it too high, never too low; the repair makes it
 * exact again.
 */
static uint32_t used_of(shmcp_sys *sys, int32_t src)
{
	uint32_t hi = auth_of(sys, src)->hi;
	return hi < MAXMSG ? hi : MAXMSG;
}

/* Lower @src's bound past the free entries at its end. */
static void used_shrink(shmcp_sys *sys, int32_t src)
{
	struct vmcf_auth *a = auth_of(sys, src);
	uint32_t hi = used_of(sys, src);
	while (hi && msg_at(sys, (uint32_t)src * MAXMSG + hi - 1)->state == M_FREE)
		hi--;
	a->hi = hi;
}

/* Free entry @m and the storage it holds: free first, so a kill before
 * its blocks are freed leaves blocks no entry names (the repair frees
 * them), never an entry half cleared. */
static void msg_free(shmcp_sys *sys, struct vmcf_msg *m)
{
	m->state = M_FREE;
	atomic_signal_fence(memory_order_seq_cst);
	free_off(sys, m, &m->data_off);
	free_off(sys, m, &m->reply_off);
	memset(m, 0, sizeof *m);
	used_shrink(sys, (int32_t)(msg_index(sys, m) / MAXMSG));
}

/* Queue a VMCF record @hdr for @slot with its tag: in its word, or,
 * with @data, before the data behind it. */
static int queue_tagged(shmcp_sys *sys, int32_t slot, int prio, int must,
			const uint8_t *hdr, uint32_t kind, uint32_t index,
			uint64_t seq, const uint8_t *data, uint32_t len,
			struct shmcp_bells *bells)
{
	SHMCP_LOCK_HELD(sys);
	if (!len && kind != T_SMSG)
		return shmcp_queue_word(sys, slot, SHMCP_VMCF, prio, must, hdr,
					word_of(kind, index, seq), bells);
	uint8_t small[SHMCP_VMCF_TAG_LEN + 256];
	uint64_t total = (uint64_t)SHMCP_VMCF_TAG_LEN + len;
	if (total > UINT32_MAX)
		return SHMCP_E_NOSTORAGE;
	struct vmcf_tag tag = { TAG_MAGIC, kind, index, 0, seq };
	uint8_t *ext = small;
	uint64_t tmp = SHMCP_POOL_NIL;
	if (total > sizeof small) {
		/* stage through the pool rather than a big stack or heap copy */
		tmp = shmcp_pool_alloc(&sys->pool, total, SHMCP_POOL_OWNER_CP);
		if (tmp == SHMCP_POOL_NIL)
			return SHMCP_E_NOSTORAGE;
		ext = sys->pool.base + tmp;
	}
	memcpy(ext, &tag, sizeof tag);
	if (len)
		memcpy(ext + sizeof tag, data, len);
	int rc = shmcp_queue_locked(sys, slot, SHMCP_VMCF, prio, must, hdr, ext,
				    (uint32_t)total, bells);
	if (tmp != SHMCP_POOL_NIL)
		shmcp_pool_free(&sys->pool, tmp, SHMCP_POOL_OWNER_CP);
	return rc;
}

/*
 * End message @m: queue the source's final RESPONSE interrupt (data
 * transfer error @eflg, extra status @stat, the sink's doubleword @use,
 * residual counts @resa / @resb) and mark it DONE until the source takes
 * it.  IDENTIFY has no RESPONSE; a source that is gone gets none.  If the
 * RESPONSE cannot be queued the error is returned and the message is left
 * as it was (QueueFull: nothing changed); the caller decides its fate.
 */
static int complete(shmcp_sys *sys, struct vmcf_msg *m, uint8_t eflg, uint8_t stat,
		    const uint8_t *use, uint32_t resa, uint32_t resb,
		    struct shmcp_bells *bells)
{
	SHMCP_LOCK_HELD(sys);
	uint32_t idx = msg_index(sys, m);
	int32_t src = (int32_t)(idx / MAXMSG);
	if (m->func == SHMCP_VMCPIDEN || !live(sys, src) ||
	    sys->vms[src].gen != m->src_gen || !shmcp_slot_ok(sys, m->sink)) {
		msg_free(sys, m);
		return 0;
	}
	uint8_t h[HDR] = { 0 };
	h[SHMCP_VMCF_HDR_STAT] = (uint8_t)(SHMCP_VMCMRESP | stat | (m->prio ? SHMCP_VMCMPRTY : 0));
	h[SHMCP_VMCF_HDR_EFLG] = eflg;
	put16(h, SHMCP_VMCF_PARM_FUNC, m->func);
	put32(h, SHMCP_VMCF_PARM_MID, m->mid);
	memcpy(h + SHMCP_VMCF_PARM_USER, sys->vms[m->sink].userid, SHMCP_USERID_LEN);
	put32(h, SHMCP_VMCF_PARM_LENA, resa);
	put32(h, SHMCP_VMCF_PARM_LENB, resb);
	if (use)
		memcpy(h + SHMCP_VMCF_PARM_USE, use, 8);
	/* DONE first: a kill before the RESPONSE is queued leaves one the
	 * lock's repair sees is owed.  A RESPONSE must be deliverable: at
	 * most MAXMSG per source exist */
	uint8_t was = m->state;
	m->state = M_DONE;
	shmcp_fault("vmcf.complete");  /* tests: DONE, its RESPONSE not queued */
	int rc = queue_tagged(sys, src, m->prio, 1, h, T_RESP, idx, m->seq, NULL, 0, bells);
	if (rc) {
		m->state = was;
		return rc;
	}
	free_off(sys, m, &m->data_off);
	return 0;
}

/* Is entry @m a SEND-type message @mid still active for the sink userid
 * @user (any logon of it: its RESPONSE not yet taken)?  Error code 8 for
 * a new one.  Per userid, not per logon: the source's REPLY buffer is
 * known by (userid, mid) until that RESPONSE is shown. */
static int dup_msg(const struct vmcf_msg *m, const char *user, uint32_t mid)
{
	return m->state != M_FREE && m->func != SHMCP_VMCPIDEN && m->mid == mid &&
	       memcmp(m->sink_user, user, SHMCP_USERID_LEN) == 0;
}

/* Is entry @m the SEND-type message @mid to @sink (logon @sink_gen)? */
static int names_msg(const struct vmcf_msg *m, int32_t sink, uint32_t sink_gen, uint32_t mid)
{
	return m->state != M_FREE && m->func != SHMCP_VMCPIDEN && m->sink == sink &&
	       m->sink_gen == sink_gen && m->mid == mid;
}

/* The SEND-type entry @mid from @src to @sink (any state), or NULL. */
static struct vmcf_msg *lookup(shmcp_sys *sys, int32_t src, int32_t sink, uint32_t mid)
{
	for (uint32_t i = 0, n = used_of(sys, src); i < n; i++) {
		struct vmcf_msg *m = msg_at(sys, (uint32_t)src * MAXMSG + (uint32_t)i);
		if (names_msg(m, sink, sys->vms[sink].gen, mid))
			return m;
	}
	return NULL;
}

/* Messages to @slot still waiting for it: answered with error code 5
 * (IDENTIFY: dropped).  @keep_from, if >= 0, is a source spared (a
 * SPECIFIC partner). */
static void answer_waiting(shmcp_sys *sys, int32_t slot, int32_t keep_from,
			   struct shmcp_bells *bells)
{
	SHMCP_LOCK_HELD(sys);
	uint32_t gen = sys->vms[slot].gen;
	for (uint32_t i = 0; i < nmsgs(sys); i++) {
		struct vmcf_msg *m = msg_at(sys, i);
		if (m->state == M_FREE || m->state == M_DONE || m->sink != slot ||
		    m->sink_gen != gen || (int32_t)(i / MAXMSG) == keep_from)
			continue;
		uint32_t resa = m->state == M_RECEIVED ? 0 : m->data_len;
		uint32_t resb = m->func == SHMCP_VMCPSENR ? m->lenb : 0;
		/* the sink is going: a source whose queue is full of must-deliver
		 * records (never VMCF's own: stale RESPONSEs are purged) loses
		 * the notice, but not its message slot */
		if (complete(sys, m, SHMCP_VMCF_RC_USER_NOT_AVAILABLE, 0, NULL, resa, resb, bells))
			msg_free(sys, m);
	}
}

/* Drop every message @slot originated, without interrupts. */
static void purge_own(shmcp_sys *sys, int32_t slot)
{
	for (int i = 0; i < MAXMSG; i++) {
		struct vmcf_msg *m = msg_at(sys, (uint32_t)slot * MAXMSG + (uint32_t)i);
		if (m->state != M_FREE)
			msg_free(sys, m);
	}
}

/* The tag of a VMCF record's trailing data @ext (@ext_len bytes), or of
 * its word (@ext_len 8: the word's bytes), into @tag: 1, or 0 if it
 * carries none (not a VMCF-tagged record). */
static int tag_of(const uint8_t *ext, uint32_t ext_len, struct vmcf_tag *tag)
{
	if (ext && ext_len == sizeof(uint64_t)) {
		uint64_t w;
		memcpy(&w, ext, sizeof w);
		return word_tag(w, tag);
	}
	if (!ext || ext_len < sizeof *tag)
		return 0;
	memcpy(tag, ext, sizeof *tag);
	return tag->magic == TAG_MAGIC && tag->kind >= T_SEND && tag->kind <= T_SMSG;
}

/* After UNAUTHORIZE, every record queued for @slot that carries a VMCF
 * tag is dead: its own messages are purged, those it was sent are
 * answered, its SMSG epoch moved on (shmcp_queue_purge). */
static int tagged(shmcp_sys *sys, int32_t slot, const struct shmcp_record *rec)
{
	struct vmcf_tag tag;
	if (!rec->ext_len)
		return word_tag(rec->ext_off, &tag);
	return rec->ext_len >= sizeof tag &&
	       shmcp_pool_held_by(&sys->pool, rec->ext_off, sizeof tag, SHMCP_POOL_OWNER_VM(slot)) &&
	       tag_of(sys->pool.base + rec->ext_off, sizeof tag, &tag);
}

/* UNAUTHORIZE, also LOGOFF's VMCF part. */
static void unauthorize(shmcp_sys *sys, int32_t slot, struct shmcp_bells *bells)
{
	SHMCP_LOCK_HELD(sys);
	struct vmcf_auth *a = auth_of(sys, slot);
	if (a->on && a->gen == sys->vms[slot].gen)
		answer_waiting(sys, slot, -1, bells);
	purge_own(sys, slot);
	uint64_t epoch = a->epoch + 1;
	memset(a, 0, sizeof *a);
	a->epoch = epoch;
}

static int do_authorize(shmcp_sys *sys, int32_t slot, const uint8_t *p,
			struct shmcp_bells *bells)
{
	SHMCP_LOCK_HELD(sys);
	struct vmcf_auth *a = auth_of(sys, slot);
	uint32_t lena = ip32(p, SHMCP_VMCF_PARM_LENA);
	if (lena < HDR)
		return SHMCP_VMCF_RC_INVALID_ADDRESS;
	uint8_t flags = p[SHMCP_VMCF_PARM_FLG1] & (SHMCP_VMCPAUTS | SHMCP_VMCPPRTY | SHMCP_VMCPSMSG);
	int was = authorized(sys, slot);
	if (was && (flags & SHMCP_VMCPAUTS)) {
		/* waiting messages from others than the new partner: error 5 */
		int32_t keep = find_user(sys, p + SHMCP_VMCF_PARM_USER);
		answer_waiting(sys, slot, keep, bells);
	}
	if (!was) {
		a->quiesced = 0;
		a->gen = sys->vms[slot].gen;
	}
	a->flags = flags;
	a->lena = lena;
	if (flags & SHMCP_VMCPAUTS)
		memcpy(a->partner, p + SHMCP_VMCF_PARM_USER, SHMCP_USERID_LEN);
	else
		memset(a->partner, 0, SHMCP_USERID_LEN);
	a->on = 1;
	return 0;
}

/* Can @src address @sink?  0 or the return code. */
static int sink_check(shmcp_sys *sys, int32_t src, int32_t sink, int prio)
{
	if (sink < 0 || !authorized(sys, sink))
		return SHMCP_VMCF_RC_USER_NOT_AVAILABLE;
	struct vmcf_auth *a = auth_of(sys, sink);
	if ((a->flags & SHMCP_VMCPAUTS) &&
	    memcmp(a->partner, sys->vms[src].userid, SHMCP_USERID_LEN) != 0)
		return SHMCP_VMCF_RC_USER_NOT_AVAILABLE;
	if (prio && !(a->flags & SHMCP_VMCPPRTY))
		return SHMCP_VMCF_RC_PRIORITY_NOT_AUTHORIZED;
	if (a->quiesced)
		return SHMCP_VMCF_RC_QUIESCED;
	return 0;
}

/* SEND, SEND/RECV, SENDX, IDENTIFY. */
static int do_send(shmcp_sys *sys, int32_t slot, const uint8_t *p, uint8_t func,
		   const uint8_t *data, uint64_t reply_addr, struct shmcp_bells *bells)
{
	SHMCP_LOCK_HELD(sys);
	int prio = (p[SHMCP_VMCF_PARM_FLG1] & SHMCP_VMCPPRTY) != 0;
	uint32_t mid = ip32(p, SHMCP_VMCF_PARM_MID), lena = ip32(p, SHMCP_VMCF_PARM_LENA),
		 lenb = ip32(p, SHMCP_VMCF_PARM_LENB);
	int32_t sink = find_user(sys, p + SHMCP_VMCF_PARM_USER);
	int rc = sink_check(sys, slot, sink, prio);
	if (rc)
		return rc;
	if (func == SHMCP_VMCPSENX && (uint64_t)lena + HDR > auth_of(sys, sink)->lena)
		return SHMCP_VMCF_RC_SENDX_TOO_LARGE;
	/* one pass over the source's entries in use: a duplicate (dup_msg;
	 * not for IDENTIFY) and the first free entry, else the one after them */
	struct vmcf_msg *m = NULL;
	const char *sink_user = sys->vms[sink].userid;
	uint32_t used = used_of(sys, slot);
	for (uint32_t i = 0; i < used; i++) {
		struct vmcf_msg *e = msg_at(sys, (uint32_t)slot * MAXMSG + i);
		if (e->state == M_FREE) {
			if (!m)
				m = e;
		} else if (func != SHMCP_VMCPIDEN && dup_msg(e, sink_user, mid)) {
			return SHMCP_VMCF_RC_DUPLICATE_MESSAGE;
		}
	}
	if (!m && used < MAXMSG)
		m = msg_at(sys, (uint32_t)slot * MAXMSG + used);
	if (!m || m->state != M_FREE)  /* (a bound gone wrong: the limit, never a clash) */
		return SHMCP_VMCF_RC_MESSAGE_LIMIT;
	int moves = func == SHMCP_VMCPSEND || func == SHMCP_VMCPSENR;
	if ((func != SHMCP_VMCPIDEN && lena && !data))
		return SHMCP_E_BADARG;
	uint64_t off = SHMCP_POOL_NIL;
	if (moves && lena) {
		off = shmcp_pool_alloc(&sys->pool, lena, SHMCP_POOL_OWNER_NARROW(msg_index(sys, m)));
		if (off == SHMCP_POOL_NIL)
			return SHMCP_E_NOSTORAGE;
		memcpy(sys->pool.base + off, data, lena);
		shmcp_fault("vmcf.send.staged");  /* tests: data no entry names */
	}
	/* the SEND interrupt: mostly a copy of the VMCPARM, userid switched */
	uint8_t h[HDR];
	memcpy(h, p, HDR);
	h[SHMCP_VMCF_HDR_STAT] = (uint8_t)((prio ? SHMCP_VMCMPRTY : 0) |
			 (func == SHMCP_VMCPIDEN ? SHMCP_VMCMRESP : 0));
	h[SHMCP_VMCF_HDR_EFLG] = 0;
	memcpy(h + SHMCP_VMCF_PARM_USER, sys->vms[slot].userid, SHMCP_USERID_LEN);
	uint64_t seq = ++vhdr(sys)->seq;
	uint32_t idx = msg_index(sys, m);
	if (idx % MAXMSG >= used)  /* before the entry is in use: never too low */
		auth_of(sys, slot)->hi = idx % MAXMSG + 1;
	rc = queue_tagged(sys, sink, prio, 0, h, T_SEND, idx, seq,
			  func == SHMCP_VMCPSENX ? data : NULL,
			  func == SHMCP_VMCPSENX ? lena : 0, bells);
	if (rc) {
		free_off(sys, m, &off);
		return rc;
	}
	shmcp_fault("vmcf.send.queued");  /* tests: its SEND queued, it is not */
	m->func = func;
	m->prio = (uint8_t)prio;
	m->mid = mid;
	m->sink = sink;
	m->sink_gen = sys->vms[sink].gen;
	memcpy(m->sink_user, sys->vms[sink].userid, SHMCP_USERID_LEN);
	m->src_gen = sys->vms[slot].gen;
	m->data_len = moves || func == SHMCP_VMCPSENX ? lena : 0;
	m->data_off = off;
	m->lenb = func == SHMCP_VMCPSENR ? lenb : 0;
	m->reply_off = SHMCP_POOL_NIL;
	m->seq = seq;
	m->data_addr = moves ? (uint64_t)(uintptr_t)data : 0;
	m->reply_addr = func == SHMCP_VMCPSENR ? reply_addr : 0;
	m->state = M_QUEUED;
	return 0;
}

static int overlap(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
	return a && b && alen && blen && a < b + blen && b < a + alen;
}

/* RECEIVE, REPLY, REJECT: the sink acts on a message from VMCPUSER. */
static int do_sink(shmcp_sys *sys, int32_t slot, const uint8_t *p, uint8_t func,
		   uint8_t *data, struct shmcp_bells *bells)
{
	SHMCP_LOCK_HELD(sys);
	uint32_t mid = ip32(p, SHMCP_VMCF_PARM_MID), lena = ip32(p, SHMCP_VMCF_PARM_LENA);
	const uint8_t *use = p + SHMCP_VMCF_PARM_USE;
	int32_t src = find_user(sys, p + SHMCP_VMCF_PARM_USER);
	if (src < 0 || !authorized(sys, src))
		return func == SHMCP_VMCPRJCT ? SHMCP_VMCF_RC_MESSAGE_NOT_FOUND
					      : SHMCP_VMCF_RC_USER_NOT_AVAILABLE;
	struct vmcf_msg *m = lookup(sys, src, slot, mid);
	if (!m)
		return SHMCP_VMCF_RC_MESSAGE_NOT_FOUND;
	if (m->state == M_QUEUED)
		return SHMCP_VMCF_RC_SYNC_ERROR;
	if (lena && !data)
		return SHMCP_E_BADARG;
	int sr = m->func == SHMCP_VMCPSENR;
	const uint8_t *srcuse = sr ? use : NULL;
	int rc;
	switch (func) {
	case SHMCP_VMCPRECV: {
		if (m->func == SHMCP_VMCPSENX || m->state != M_NOTIFIED)
			return SHMCP_VMCF_RC_PROTOCOL_VIOLATION;
		if (src == slot && overlap((uintptr_t)data, lena, m->data_addr, m->data_len)) {
			rc = complete(sys, m, SHMCP_VMCF_RC_DESTRUCTIVE_OVERLAP, 0, srcuse,
				      m->data_len, m->lenb, bells);
			return rc ? rc : SHMCP_VMCF_RC_DESTRUCTIVE_OVERLAP;
		}
		uint32_t n = lena < m->data_len ? lena : m->data_len;
		if (n && !shmcp_pool_held_by(&sys->pool, m->data_off, n,
					     SHMCP_POOL_OWNER_NARROW(msg_index(sys, m))))
			return SHMCP_E_CORRUPT;  /* never another's data */
		if (n)
			memcpy(data, sys->pool.base + m->data_off, n);
		shmcp_fault("vmcf.receive");  /* tests: copied, not yet RECEIVED */
		if (lena < m->data_len) {
			rc = complete(sys, m, SHMCP_VMCF_RC_INCORRECT_LENGTH, 0, srcuse,
				      m->data_len - n, m->lenb, bells);
			return rc ? rc : SHMCP_VMCF_RC_INCORRECT_LENGTH;
		}
		if (!sr)
			return complete(sys, m, 0, 0, NULL, 0, 0, bells);
		/* the data block stays the entry's when any reply fits in it:
		 * REPLY stages its data there (its lines are this process's
		 * now), rather than a free here and an allocation there */
		if (!m->lenb || !shmcp_pool_held_by(&sys->pool, m->data_off, m->lenb,
						     SHMCP_POOL_OWNER_NARROW(msg_index(sys, m))))
			free_off(sys, m, &m->data_off);
		m->data_len = 0;
		m->state = M_RECEIVED;
		return 0;
	}
	case SHMCP_VMCPREPL: {
		if (!sr)
			return SHMCP_VMCF_RC_PROTOCOL_VIOLATION;
		if (m->state == M_DONE)
			return SHMCP_VMCF_RC_MESSAGE_NOT_FOUND;
		uint32_t resa = m->state == M_RECEIVED ? 0 : m->data_len;
		if (src == slot && overlap((uintptr_t)data, lena, m->reply_addr, m->lenb)) {
			rc = complete(sys, m, SHMCP_VMCF_RC_DESTRUCTIVE_OVERLAP, 0, use,
				      resa, m->lenb, bells);
			return rc ? rc : SHMCP_VMCF_RC_DESTRUCTIVE_OVERLAP;
		}
		uint32_t n = lena < m->lenb ? lena : m->lenb;
		uint16_t owner = SHMCP_POOL_OWNER_NARROW(msg_index(sys, m));
		if (n && m->state == M_RECEIVED && shmcp_pool_held_by(&sys->pool, m->data_off, n, owner)) {
			/* the block RECEIVE kept (never named twice: a kill
			 * between leaves it named by none, for the repair) */
			uint64_t off = m->data_off;
			m->data_off = SHMCP_POOL_NIL;
			atomic_signal_fence(memory_order_seq_cst);
			memcpy(sys->pool.base + off, data, n);
			m->reply_off = off;
			m->reply_len = n;
		} else if (n) {
			uint64_t off = shmcp_pool_alloc(&sys->pool, n, owner);
			if (off == SHMCP_POOL_NIL)
				return SHMCP_E_NOSTORAGE;
			memcpy(sys->pool.base + off, data, n);
			m->reply_off = off;
			m->reply_len = n;
		}
		shmcp_fault("vmcf.reply");  /* tests: the reply staged, no RESPONSE */
		int eflg = lena > m->lenb ? SHMCP_VMCF_RC_INCORRECT_LENGTH : 0;
		rc = complete(sys, m, (uint8_t)eflg, 0, use, resa, m->lenb - n, bells);
		if (rc) {  /* not queued: the message stays unreplied */
			free_off(sys, m, &m->reply_off);
			m->reply_len = 0;
		}
		return rc ? rc : eflg;
	}
	default: /* REJECT */
		if (m->func == SHMCP_VMCPSENX)
			return SHMCP_VMCF_RC_PROTOCOL_VIOLATION;
		if (m->state == M_DONE)
			return SHMCP_VMCF_RC_MESSAGE_NOT_FOUND;
		return complete(sys, m, 0, SHMCP_VMCMRJCT, srcuse,
				m->state == M_RECEIVED ? 0 : m->data_len, m->lenb, bells);
	}
}

static int do_cancel(shmcp_sys *sys, int32_t slot, const uint8_t *p)
{
	SHMCP_LOCK_HELD(sys);
	uint32_t mid = ip32(p, SHMCP_VMCF_PARM_MID);
	int32_t sink = find_user(sys, p + SHMCP_VMCF_PARM_USER);
	struct vmcf_msg *m = sink >= 0 ? lookup(sys, slot, sink, mid) : NULL;
	if (!m) {
		if (sink >= 0 && lookup(sys, sink, slot, mid))
			return SHMCP_VMCF_RC_PROTOCOL_VIOLATION;  /* not the originator */
		if (sink < 0 || !authorized(sys, sink))
			return SHMCP_VMCF_RC_USER_NOT_AVAILABLE;
		return SHMCP_VMCF_RC_MESSAGE_NOT_FOUND;
	}
	switch (m->state) {
	case M_QUEUED:
	case M_NOTIFIED:  /* (a SENDX is never NOTIFIED: DONE when given) */
		msg_free(sys, m);
		return 0;
	case M_RECEIVED:  /* only the reply part is left: cancelled */
		msg_free(sys, m);
		return SHMCP_VMCF_RC_REPLY_CANCELED;
	default:
		return SHMCP_VMCF_RC_CANCEL_TOO_LATE;
	}
}

/* Lock, check the caller's VM is (still) logon @gen of @slot. */
static int enter(shmcp_sys *sys, int32_t slot, uint32_t gen)
{
	if (!shmcp_slot_ok(sys, slot))
		return SHMCP_E_BADARG;
	int rc = shmcp_lock(sys);
	if (rc)
		return rc;
	if (shmcp_is_down(sys))
		rc = SHMCP_E_DOWN;
	else if (!live(sys, slot) || sys->vms[slot].gen != gen)
		rc = SHMCP_E_STALE;
	if (rc)
		shmcp_unlock(sys);
	return rc;
}

/* Unlock after enter(): @rc, or SHMCP_E_CORRUPT if the pool refused
 * a message's storage since @refused was read; then ring @bells. */
static int leave(shmcp_sys *sys, uint32_t refused, int rc, struct shmcp_bells *bells)
{
	if (sys->pool.refused != refused)
		rc = SHMCP_E_CORRUPT;  /* a message's storage was not its own */
	shmcp_unlock(sys);
	shmcp_bells_ring(sys, bells);
	return rc;
}

/**
 * shmcp_vmcf_diag68 - DIAGNOSE X'68' for the VM in @slot (logon @gen):
 * perform the subfunction of the 40-byte VMCPARM image @parm.  @data is
 * the caller's VMCPVADA area of VMCPLENA bytes: the data to send (SEND,
 * SEND/RECV, SENDX, REPLY) or the buffer to fill (RECEIVE); NULL when the
 * length is 0.  @reply_addr is the caller's REPLY buffer address
 * (SEND/RECV), kept for the overlap check only.  Buffer validity (RC 1,
 * RC 6) is the caller's to check: only it knows its storage.
 * Takes the control lock; rings the doorbells of the interrupts it queued
 * after releasing it.
 * Returns the DIAGNOSE return code (0..20), or a negative core error
 * (SHMCP_E_DOWN, _STALE, _LOCK, _BADARG, _QFULL, _NOSTORAGE) with nothing
 * changed; SHMCP_E_CORRUPT if a message's storage was not its own.
 */
int shmcp_vmcf_diag68(shmcp_sys *sys, int32_t slot, uint32_t gen,
		      const uint8_t *parm, uint8_t *data, uint64_t reply_addr)
{
	if (!parm)
		return SHMCP_E_BADARG;
	int rc = enter(sys, slot, gen);
	if (rc)
		return rc;
	struct shmcp_bells bells = { .n = 0, .overflow = 0 };
	uint32_t refused = sys->pool.refused;
	uint16_t func = ip16(parm, SHMCP_VMCF_PARM_FUNC);
	if (func > SHMCP_VMCPRJCT)
		rc = SHMCP_VMCF_RC_INVALID_SUBFUNCTION;
	else if (func != SHMCP_VMCPAUTH && !authorized(sys, slot))
		rc = SHMCP_VMCF_RC_NOT_AUTHORIZED;
	else
		switch (func) {
		case SHMCP_VMCPAUTH:
			rc = do_authorize(sys, slot, parm, &bells);
			break;
		case SHMCP_VMCPUAUT:
			unauthorize(sys, slot, &bells);
			/* its pending interrupts are purged (IBM's UNAUTHORIZE does):
			 * presentation would drop them, and their slots are free
			 * again, so they never fill the queue a RESPONSE needs */
			shmcp_queue_purge(sys, slot, SHMCP_VMCF, tagged);
			break;
		case SHMCP_VMCPSEND:
		case SHMCP_VMCPSENR:
		case SHMCP_VMCPSENX:
		case SHMCP_VMCPIDEN:
			rc = do_send(sys, slot, parm, (uint8_t)func, data, reply_addr, &bells);
			break;
		case SHMCP_VMCPRECV:
		case SHMCP_VMCPREPL:
		case SHMCP_VMCPRJCT:
			rc = do_sink(sys, slot, parm, (uint8_t)func, data, &bells);
			break;
		case SHMCP_VMCPCANC:
			rc = do_cancel(sys, slot, parm);
			break;
		case SHMCP_VMCPQUIE:
			auth_of(sys, slot)->quiesced = 1;
			break;
		case SHMCP_VMCPRESM:
			auth_of(sys, slot)->quiesced = 0;
			break;
		}
	return leave(sys, refused, rc, &bells);
}

/*
 * The presentation of VMCF record @tag (@dlen bytes of data behind it) to
 * the VM in @slot (logon @gen), lock held: see shmcp_vmcf_present.  A
 * RESPONSE's REPLY data goes into @reply_buf (@reply_len bytes); with
 * @own_reply, into the REPLY buffer the source named at SEND/RECV
 * (m->reply_addr, m->lenb: this runs in the source's own process, whose
 * layer keeps that buffer from moving until the RESPONSE is presented).
 */
static int present_tag(shmcp_sys *sys, int32_t slot, uint32_t gen, const struct vmcf_tag *tag,
		       uint32_t dlen, uint8_t *reply_buf, uint32_t reply_len, int own_reply,
		       struct shmcp_bells *bells)
{
	SHMCP_LOCK_HELD(sys);
	struct vmcf_auth *a = auth_of(sys, slot);
	int rc = SHMCP_VMCF_DROP;
	if (tag->kind == T_SMSG) {
		if (tag->index == (uint32_t)slot && tag->seq == a->epoch && authorized(sys, slot) &&
		    (a->flags & SHMCP_VMCPSMSG) && (uint64_t)dlen + HDR <= a->lena)
			rc = SHMCP_VMCF_PRESENT;
	} else if (tag->index < nmsgs(sys)) {
		struct vmcf_msg *m = msg_at(sys, tag->index);
		int32_t src = (int32_t)(tag->index / MAXMSG);
		if (tag->kind == T_SEND && m->state == M_QUEUED && seq_is(m->seq, tag) &&
		    m->sink == slot && m->sink_gen == gen) {
			if (m->func == SHMCP_VMCPIDEN) {
				msg_free(sys, m);
				rc = SHMCP_VMCF_PRESENT;
			} else if (m->func == SHMCP_VMCPSENX) {
				int fits = (uint64_t)m->data_len + HDR <= a->lena;
				int r = complete(sys, m, fits ? 0 : SHMCP_VMCF_RC_SENDX_TOO_LARGE, 0,
						 NULL, fits ? 0 : m->data_len, 0, bells);
				if (r)  /* its SEND record is taken: nothing can end it later */
					msg_free(sys, m);
				rc = r ? r : fits ? SHMCP_VMCF_PRESENT : SHMCP_VMCF_DROP;
			} else {
				m->state = M_NOTIFIED;
				rc = SHMCP_VMCF_PRESENT;
			}
		} else if (tag->kind == T_RESP && m->state == M_DONE && seq_is(m->seq, tag) &&
			   src == slot && m->src_gen == gen) {
			if (own_reply) {
				reply_buf = (uint8_t *)(uintptr_t)m->reply_addr;
				reply_len = m->lenb;
			}
			uint32_t n = m->reply_len < reply_len ? m->reply_len : reply_len;
			if (n && reply_buf &&
			    shmcp_pool_held_by(&sys->pool, m->reply_off, n,
					       SHMCP_POOL_OWNER_NARROW(tag->index)))
				memcpy(reply_buf, sys->pool.base + m->reply_off, n);
			msg_free(sys, m);
			rc = SHMCP_VMCF_PRESENT;
		}
	}
	return rc;
}

/**
 * shmcp_vmcf_present - the VM in @slot (logon @gen) has taken a VMCF
 * record whose trailing data is @ext (@ext_len bytes; a record without
 * any: its word's 8 bytes, native order): may it be shown?
 * A SEND interrupt becomes "given" (sink actions allowed); a SENDX's
 * RESPONSE is queued, or, if the sink's buffer shrank below the data,
 * the source gets error code 7 and the record is dropped; an IDENTIFY
 * ends; a RESPONSE copies the staged REPLY data into @reply_buf (the
 * source's REPLY buffer, @reply_len bytes, may be NULL) and frees the
 * message.  Records whose message is gone are dropped.
 * Takes the control lock.
 * Returns SHMCP_VMCF_PRESENT, _DROP, _FOREIGN (not a VMCF-tagged record:
 * show it unchanged), or a negative core error (SHMCP_E_CORRUPT: a
 * message's storage was not its own).
 */
int shmcp_vmcf_present(shmcp_sys *sys, int32_t slot, uint32_t gen,
		       const uint8_t *ext, uint32_t ext_len,
		       uint8_t *reply_buf, uint32_t reply_len)
{
	struct vmcf_tag tag;
	if (!tag_of(ext, ext_len, &tag))
		return SHMCP_VMCF_FOREIGN;
	int rc = enter(sys, slot, gen);
	if (rc)
		return rc;
	struct shmcp_bells bells = { .n = 0, .overflow = 0 };
	uint32_t refused = sys->pool.refused;
	rc = present_tag(sys, slot, gen, &tag, ext_len - (uint32_t)sizeof tag, reply_buf,
			 reply_len, 0, &bells);
	return leave(sys, refused, rc, &bells);
}

/*
 * The facility's present (core/facility.h): shmcp_next took @rec for the
 * VM in @slot, in its own process.  When @present_types has
 * SHMCP_VMCF_PRESENT_BIT and the record's word is its tag (SEND,
 * SEND/RECV, IDENTIFY, RESPONSE: no SENDX or SMSG data to show), the
 * record is presented here under one lock, the REPLY data written into
 * the REPLY buffer the source named: one core call per interrupt, no pool
 * block.  Its word is then spent (0).  Anything else, or an error (then
 * nothing is changed), goes back as is, for the layer's shmcp_take_ext
 * and shmcp_vmcf_present.
 */
static int present_hook(shmcp_sys *sys, int32_t slot, uint32_t gen, uint32_t present_types,
			struct shmcp_record *rec)
{
	struct vmcf_tag tag;
	if (!(present_types & SHMCP_VMCF_PRESENT_BIT) || rec->ext_len ||
	    !word_tag(rec->ext_off, &tag))
		return SHMCP_SHOW_AS_IS;
	if (enter(sys, slot, gen))
		return SHMCP_SHOW_AS_IS;
	struct shmcp_bells bells = { .n = 0, .overflow = 0 };
	uint32_t refused = sys->pool.refused;
	int rc = present_tag(sys, slot, gen, &tag, 0, NULL, 0, 1, &bells);
	if (sys->pool.refused != refused)
		rc = SHMCP_E_CORRUPT;
	if (rc >= 0)
		rec->ext_off = 0;  /* its word is spent */
	shmcp_unlock(sys);
	shmcp_bells_ring(sys, &bells);
	if (rc < 0)
		return SHMCP_SHOW_AS_IS;
	return rc == SHMCP_VMCF_PRESENT ? SHMCP_SHOW_PRESENTED : SHMCP_SHOW_WITHDRAWN;
}

/**
 * shmcp_vmcf_smsg - CP's SMSG: send @text (@len bytes, at most
 * SHMCP_VMCF_SMSG_TEXT_MAX) from @issuer (8-byte userid) to logged-on
 * @target as a SENDX from user SYSTEM.  Takes the control lock.
 * Returns 0; SHMCP_E_NOTLOGGED; SHMCP_VMCF_RC_USER_NOT_AVAILABLE (not
 * authorized for SMSG), _QUIESCED or _SENDX_TOO_LARGE (buffer too small):
 * "not receiving"; _BADARG, _QFULL, _NOSTORAGE, _DOWN, _LOCK.
 */
int shmcp_vmcf_smsg(shmcp_sys *sys, const char *target, const char *issuer,
		    const uint8_t *text, uint32_t len)
{
	if (!target || !issuer || (len && !text) || len > SHMCP_VMCF_SMSG_TEXT_MAX)
		return SHMCP_E_BADARG;
	int rc = shmcp_lock(sys);
	if (rc)
		return rc;
	struct shmcp_bells bells = { .n = 0, .overflow = 0 };
	int32_t sink = find_user(sys, (const uint8_t *)target);
	struct vmcf_auth *a = sink >= 0 ? auth_of(sys, sink) : NULL;
	if (shmcp_is_down(sys))
		rc = SHMCP_E_DOWN;
	else if (sink < 0)
		rc = SHMCP_E_NOTLOGGED;
	else if (!authorized(sys, sink) || !(a->flags & SHMCP_VMCPSMSG))
		rc = SHMCP_VMCF_RC_USER_NOT_AVAILABLE;
	else if (a->quiesced)
		rc = SHMCP_VMCF_RC_QUIESCED;
	else if ((uint64_t)len + HDR > a->lena)
		rc = SHMCP_VMCF_RC_SENDX_TOO_LARGE;
	else {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		uint32_t mid = (uint32_t)((uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000);
		struct vmcf_hdr *vh = vhdr(sys);
		if (mid <= vh->smsg_mid && vh->smsg_mid - mid < 0x80000000u)
			mid = vh->smsg_mid + 1;  /* unique, like the TOD clock */
		uint8_t h[HDR] = { 0 };
		put16(h, SHMCP_VMCF_PARM_FUNC, SHMCP_VMCPSENX);
		put32(h, SHMCP_VMCF_PARM_MID, mid);
		memcpy(h + SHMCP_VMCF_PARM_USER, "SYSTEM  ", SHMCP_USERID_LEN);
		put32(h, SHMCP_VMCF_PARM_LENA, len);
		memcpy(h + SHMCP_VMCF_PARM_USE, issuer, SHMCP_USERID_LEN);
		rc = queue_tagged(sys, sink, 0, 0, h, T_SMSG, (uint32_t)sink, a->epoch,
				  text, len, &bells);
		if (rc == 0)
			vh->smsg_mid = mid;
	}
	shmcp_unlock(sys);
	shmcp_bells_ring(sys, &bells);
	return rc;
}

/**
 * shmcp_vmcf_info - VMCF status of the VM in @slot.  Takes the lock.
 * Returns 0, SHMCP_E_BADARG or _LOCK.
 */
int shmcp_vmcf_info(shmcp_sys *sys, int32_t slot, struct shmcp_vmcf_info *out)
{
	if (!shmcp_slot_ok(sys, slot) || !out)
		return SHMCP_E_BADARG;
	int rc = shmcp_lock(sys);
	if (rc)
		return rc;
	struct vmcf_auth *a = auth_of(sys, slot);
	memset(out, 0, sizeof *out);
	out->authorized = authorized(sys, slot);
	if (out->authorized) {
		out->flags = a->flags;
		out->lena = a->lena;
		out->quiesced = a->quiesced;
		memcpy(out->partner, a->partner, SHMCP_USERID_LEN);
	}
	for (uint32_t i = 0; i < nmsgs(sys); i++) {
		struct vmcf_msg *m = msg_at(sys, i);
		if (m->state == M_FREE)
			continue;
		if (i / MAXMSG == (uint32_t)slot)
			out->active_out++;
		if (m->sink == slot && m->sink_gen == sys->vms[slot].gen && m->state != M_DONE)
			out->active_in++;
	}
	shmcp_unlock(sys);
	return 0;
}

/**
 * shmcp_vmcf_logoff - LOGOFF's VMCF part for VM @slot (lock held): answer
 * its waiting sources (error code 5), drop its own messages and its
 * authorization; the sources' doorbells go into @bells.  Idempotent.
 */
static void shmcp_vmcf_logoff(shmcp_sys *sys, int32_t slot, struct shmcp_bells *bells)
{
	unauthorize(sys, slot, bells);
}

/* VMCF's part of a snapshot (the facility's snap; lock held, reads only):
 * each listed VM's authorization and message counts, and every active
 * message. */
static void snap(shmcp_sys *sys, struct shmcp_snapshot *s)
{
	SHMCP_LOCK_HELD(sys);
	uint32_t nvm = s->nvm < s->vm_cap ? s->nvm : s->vm_cap;
	for (uint32_t i = 0; i < nvm; i++) {
		struct shmcp_snap_vm *o = &s->vm[i];
		struct vmcf_auth *a = auth_of(sys, o->slot);
		o->vmcf_authorized = authorized(sys, o->slot);
		if (o->vmcf_authorized) {
			o->vmcf_flags = a->flags;
			o->vmcf_lena = a->lena;
			o->vmcf_quiesced = a->quiesced;
			memcpy(o->vmcf_partner, a->partner, SHMCP_USERID_LEN);
		}
	}
	s->nvmcf_msg = 0;
	for (uint32_t i = 0; i < nmsgs(sys); i++) {
		struct vmcf_msg *m = msg_at(sys, i);
		if (m->state == M_FREE)
			continue;
		int32_t src = (int32_t)(i / MAXMSG);
		for (uint32_t k = 0; k < nvm; k++) {
			if (s->vm[k].slot == src)
				s->vm[k].vmcf_active_out++;
			if (s->vm[k].slot == m->sink && m->sink_gen == sys->vms[m->sink].gen &&
			    m->state != M_DONE)
				s->vm[k].vmcf_active_in++;
		}
		if (s->nvmcf_msg++ >= s->vmcf_msg_cap)
			continue;
		s->vmcf_msg[s->nvmcf_msg - 1] = (struct shmcp_snap_vmcf_msg){
			m->mid, src, m->sink, m->func, m->state, m->prio, m->data_len, m->reply_len };
	}
	s->vmcf_msgs = vhdr(sys)->seq;
}

/* VMCF's answer to the lock's repair (shmcp_pool_sweep, core/facility.h):
 * does an active message entry whose index folds to @owner name pool block
 * @off as its data or reply?  -1: @owner is not a VMCF message's. */
static int holds(shmcp_sys *sys, uint16_t owner, uint64_t off)
{
	SHMCP_LOCK_HELD(sys);
	if (!SHMCP_POOL_OWNER_IS_NARROW(owner))
		return -1;
	for (uint32_t i = owner & 0x3fff; i < nmsgs(sys); i += 0x4000) {
		struct vmcf_msg *m = msg_at(sys, i);
		if (m->state != M_FREE && SHMCP_POOL_OWNER_NARROW(i) == owner &&
		    (m->data_off == off || m->reply_off == off))
			return 1;
	}
	return 0;
}

/* Is @rec the RESPONSE of entry @ctx (index, sequence number)? */
static int is_response(shmcp_sys *sys, const struct shmcp_record *rec, const void *ctx)
{
	(void)sys;
	const uint64_t *want = ctx;
	struct vmcf_tag tag;
	return !rec->ext_len && word_tag(rec->ext_off, &tag) && tag.kind == T_RESP &&
	       tag.index == want[0] && seq_is(want[1], &tag);
}

/* VMCF's part of the lock's repair (core/facility.h): each source's bound
 * of its entries in use made exact (a kill leaves it too high at worst),
 * and a message DONE whose RESPONSE the kill kept from its source's queue
 * gets it (should the source hold a copy already, the second is dropped:
 * the entry is gone by then).  The rest is safe at every store: an entry
 * is named QUEUED only once its SEND is queued, and the sweep frees a
 * block a FREE entry still names. */
static void repair(shmcp_sys *sys, struct shmcp_bells *bells)
{
	SHMCP_LOCK_HELD(sys);
	for (uint32_t v = 0; v < sys->max_vms; v++) {  /* each bound exact again */
		auth_of(sys, (int32_t)v)->hi = MAXMSG;
		used_shrink(sys, (int32_t)v);
	}
	for (uint32_t i = 0; i < nmsgs(sys); i++) {
		struct vmcf_msg *m = msg_at(sys, i);
		int32_t src = (int32_t)(i / MAXMSG);
		if (m->state != M_DONE || m->func == SHMCP_VMCPIDEN || !live(sys, src) ||
		    sys->vms[src].gen != m->src_gen || !shmcp_slot_ok(sys, m->sink))
			continue;
		uint64_t want[2] = { i, m->seq };
		if (shmcp_queue_find(sys, src, SHMCP_VMCF, is_response, want))
			continue;
		uint8_t h[HDR] = { 0 };
		h[SHMCP_VMCF_HDR_STAT] = (uint8_t)(SHMCP_VMCMRESP | (m->prio ? SHMCP_VMCMPRTY : 0));
		h[SHMCP_VMCF_HDR_EFLG] = SHMCP_VMCF_RC_USER_NOT_AVAILABLE;
		put16(h, SHMCP_VMCF_PARM_FUNC, m->func);
		put32(h, SHMCP_VMCF_PARM_MID, m->mid);
		memcpy(h + SHMCP_VMCF_PARM_USER, sys->vms[m->sink].userid, SHMCP_USERID_LEN);
		queue_tagged(sys, src, m->prio, 1, h, T_RESP, i, m->seq, NULL, 0, bells);
	}
}

/* What VMCF gives the core (core/facility.h): its interrupts are presented
 * in the VM's process (shmcp_vmcf_present, with the REPLY buffer), and
 * carry their tags, so none is dropped as withdrawn at the head. */
const struct shmcp_facility shmcp_vmcf_facility = {
	.name = "VMCF",
	.signal = SIGUSR2,
	.region_size = shmcp_vmcf_region_size,
	.logoff = shmcp_vmcf_logoff,
	.present = present_hook,
	.holds = holds,
	.holder_class = SHMCP_HOLDER_NARROW,
	.snap = snap,
	.repair = repair,
};
