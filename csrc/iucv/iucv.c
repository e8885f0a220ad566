/*
 * iucv.c - IUCV: the directory, path ends, and the functions that make and
 * end connections (CONNECT, ACCEPT, SEVER, QUIESCE, RESUME, DECLARE BUFFER,
 * RETRIEVE BUFFER, SET MASK, SET CONTROL MASK), plus shmcp_iucv_call, the
 * one entry point for the IUCV instruction, and IUCV's facility entry.
 * Message functions are in iucv_msg.c, the region's tables in region.c.
 * See docs/design.md, "IUCV", and docs/decisions.md, "IUCV (issue 3)".
 */
#include <signal.h>
#include <string.h>

#include "iucv.h"

/* The IPFLAGS1 options IBM gives CONNECT and ACCEPT; any other bit is a
 * specification exception. */
#define PATH_OPTIONS (SHMCP_IPRMDATA | SHMCP_IPQUSCE | SHMCP_IPPRTY)

/* IUCV's limits in struct shmcp_limits are in range. */
static int limits_ok(const struct shmcp_limits *lim)
{
	return lim->max_conn >= 1 && lim->max_conn <= SHMCP_MAX_CONN_LIMIT &&
	       lim->max_msgs >= 1 && lim->max_msgs <= SHMCP_MAX_MSGS_LIMIT;
}

/* ---- the directory ------------------------------------------------------ */

static const struct shmcp_dir_entry builtin_default = {
	"        ", SHMCP_DIR_ANY | SHMCP_DIR_PRIORITY | SHMCP_DIR_DEFAULT,
	SHMCP_DIR_MSGLIMIT_DEFAULT, SHMCP_MAXCONN_DEFAULT, 0, 0
};

/* What a directory the segment no longer holds whole grants: nothing. */
static const struct shmcp_dir_entry closed = { "        ", 0, 1, 1, 0, 0 };

/* The directory's entries, NULL if there is none; &closed if the words
 * naming it do not name a block CP holds of its size (a corrupt segment). */
static const struct shmcp_dir_entry *dir_entries(shmcp_sys *sys, struct shmcp_iucv *t)
{
	uint64_t n = t->hdr->dir_n;
	if (!n)
		return NULL;
	uint64_t bytes = n * sizeof(struct shmcp_dir_entry) + (uint64_t)t->hdr->dir_ntargets * 8;
	if (n > UINT32_MAX / sizeof(struct shmcp_dir_entry) ||
	    !shmcp_pool_held_by(&sys->pool, t->hdr->dir_off, bytes, SHMCP_POOL_OWNER_CP))
		return &closed;
	return (const struct shmcp_dir_entry *)(sys->pool.base + t->hdr->dir_off);
}

/* The directory entry of @userid: its own, the [default] one, or the
 * embedded default. */
static const struct shmcp_dir_entry *dir_lookup(shmcp_sys *sys, struct shmcp_iucv *t,
						const char *userid)
{
	const struct shmcp_dir_entry *e = dir_entries(sys, t), *dflt = &builtin_default;
	if (e == &closed)
		return e;
	for (uint32_t i = 0; e && i < t->hdr->dir_n; i++) {
		if (e[i].flags & SHMCP_DIR_DEFAULT)
			dflt = &e[i];
		else if (memcmp(e[i].userid, userid, 8) == 0)
			return &e[i];
	}
	return dflt;
}

static int dir_authorized(shmcp_sys *sys, struct shmcp_iucv *t, const char *from, const char *to)
{
	const struct shmcp_dir_entry *a = dir_lookup(sys, t, from), *b = dir_lookup(sys, t, to);
	if ((a->flags & SHMCP_DIR_ANY) || (b->flags & SHMCP_DIR_ALLOW))
		return 1;
	const struct shmcp_dir_entry *base = dir_entries(sys, t);
	if (!base || base == &closed ||
	    (uint64_t)a->first_target + a->ntargets > t->hdr->dir_ntargets)
		return 0;
	const char *names = (const char *)(base + t->hdr->dir_n);
	for (uint32_t i = 0; i < a->ntargets; i++)
		if (memcmp(names + 8 * (size_t)(a->first_target + i), to, 8) == 0)
			return 1;
	return 0;
}

/**
 * shmcp_iucv_set_directory - install the directory (entries and the
 * target names they index) in the pool of a freshly IPLed system.  Every
 * index is checked here, once.  Takes the control lock.
 * Returns 0, SHMCP_E_DIRECTORY, SHMCP_E_NOSTORAGE.
 */
int shmcp_iucv_set_directory(shmcp_sys *sys, const struct shmcp_dir_entry *entries,
			     uint32_t nentries, const char *targets, uint32_t ntargets)
{
	for (uint32_t i = 0; i < nentries; i++) {
		const struct shmcp_dir_entry *e = &entries[i];
		if ((uint64_t)e->first_target + e->ntargets > ntargets ||
		    e->maxconn == 0 || e->maxconn > sys->lim.max_conn ||
		    e->msglimit == 0 || e->msglimit > SHMCP_MSGLIM_MAX)
			return SHMCP_E_DIRECTORY;
	}
	uint64_t bytes = (uint64_t)nentries * sizeof *entries + (uint64_t)ntargets * 8;
	int rc = shmcp_lock(sys);
	if (rc)
		return rc;
	struct shmcp_iucv t;
	shmcp_iucv_tables(sys, &t);
	if (t.hdr->dir_n) {
		t.hdr->dir_n = 0;  /* first: a kill before the free leaves it to repair */
		atomic_signal_fence(memory_order_seq_cst);
		shmcp_pool_free(&sys->pool, t.hdr->dir_off, SHMCP_POOL_OWNER_CP);
	}
	if (nentries) {
		uint64_t off = shmcp_pool_alloc(&sys->pool, bytes, SHMCP_POOL_OWNER_CP);
		if (off == SHMCP_POOL_NIL) {
			rc = SHMCP_E_NOSTORAGE;
		} else {
			memcpy(sys->pool.base + off, entries, (size_t)nentries * sizeof *entries);
			memcpy(sys->pool.base + off + (size_t)nentries * sizeof *entries, targets,
			       (size_t)ntargets * 8);
			t.hdr->dir_off = off;
			t.hdr->dir_ntargets = ntargets;
			t.hdr->dir_n = nentries;
		}
	}
	shmcp_unlock(sys);
	return rc;
}

/**
 * shmcp_iucv_holds_directory - is pool block @off the directory's?  (The
 * only lasting block CP holds for itself; lock held.)
 */
int shmcp_iucv_holds_directory(shmcp_sys *sys, uint64_t off)
{
	struct shmcp_iucv t;
	shmcp_iucv_tables(sys, &t);
	return t.hdr->dir_n && t.hdr->dir_off == off;
}

/* ---- path ends -------------------------------------------------------- */

int shmcp_iucv_declared(shmcp_sys *sys, struct shmcp_iucv *t, int32_t slot, uint32_t gen)
{
	return atomic_load(&sys->vms[slot].state) == SHMCP_VM_ACTIVE && sys->vms[slot].gen == gen &&
	       t->vm[slot].declared_gen == gen && gen != 0;
}

static int alloc_pathid(struct shmcp_iucv *t, int32_t slot, uint16_t maxconn, uint32_t pidx,
			int end)
{
	uint32_t *map = &t->pathmap[(size_t)slot * t->max_conn];
	for (uint32_t id = 0; id < maxconn && id < t->max_conn; id++)
		if (!map[id]) {
			map[id] = (pidx + 1) << 1 | (uint32_t)end;
			t->vm[slot].npaths++;
			return (int)id;
		}
	return -1;
}

static void free_end(struct shmcp_iucv *t, struct shmcp_path *p, int end)
{
	struct shmcp_path_end *e = &p->e[end];
	if (e->state == END_NONE)
		return;
	if (e->slot != CP_SLOT && e->pathid < t->max_conn) {
		uint32_t *slotmap = &t->pathmap[(size_t)e->slot * t->max_conn];
		if (slotmap[e->pathid]) {
			slotmap[e->pathid] = 0;
			t->vm[e->slot].npaths--;
		}
	}
	e->state = END_NONE;
}

static struct shmcp_path *alloc_path(struct shmcp_iucv *t, uint32_t *idx)
{
	uint32_t i;
	if (t->hdr->free_paths && t->hdr->free_paths <= t->npaths) {
		i = t->hdr->free_paths - 1;
		t->hdr->free_paths = t->path[i].next_free;
	} else if (t->hdr->paths_used < t->npaths) {
		i = t->hdr->paths_used++;
	} else {
		return NULL;
	}
	struct shmcp_path *p = &t->path[i];
	memset(p, 0, sizeof *p);
	atomic_signal_fence(memory_order_seq_cst);
	p->in_use = 1;
	*idx = i;
	return p;
}

static void release_path(shmcp_sys *sys, struct shmcp_iucv *t, struct shmcp_path *p)
{
	shmcp_iucv_destroy_path_messages(sys, t, p);
	uint32_t i = (uint32_t)(p - t->path);
	p->in_use = 0;  /* first: the repair never sees half a path in use */
	atomic_signal_fence(memory_order_seq_cst);
	memset(p, 0, sizeof *p);
	p->next_free = t->hdr->free_paths;
	t->hdr->free_paths = i + 1;
}

/* Undo a path CONNECT was making when its interrupt could not be queued. */
static void abandon_path(shmcp_sys *sys, struct shmcp_iucv *t, struct shmcp_path *p)
{
	free_end(t, p, 0);
	free_end(t, p, 1);
	release_path(sys, t, p);
}

/* Queue a control interrupt (types 01-05) for end @end of path @p. */
static int control(shmcp_sys *sys, struct shmcp_path *p, int end, int type, uint8_t flags,
		   uint16_t msglim, const uint8_t *vmid, const uint8_t *user,
		   struct shmcp_bells *bells)
{
	uint8_t rec[SHMCP_RECORD_LEN] = { 0 };
	put16(rec, SHMCP_IP_PATHID, p->e[end].pathid);
	rec[SHMCP_IP_FLAGS1] = flags;
	rec[SHMCP_IP_RCODE] = (uint8_t)type;
	if (type <= SHMCP_IPTYPE_CONNECTION_COMPLETE)
		put16(rec, SHMCP_IP_MSGLIM, msglim);
	if (vmid)
		memcpy(rec + SHMCP_IP_VMID, vmid, 8);
	if (user)
		memcpy(rec + SHMCP_IP_USER, user, 16);
	/* severs must arrive: they may use the queue's reserve */
	return shmcp_queue_locked(sys, p->e[end].slot, SHMCP_IUCV, 0,
				  type == SHMCP_IPTYPE_PATH_SEVERED, rec, NULL, 0, bells);
}

/**
 * shmcp_iucv_sever_end - SEVER end @end of path @p (lock held): the
 * partner gets a type 03 with @user (16 bytes) and must sever too; the
 * messages follow docs/decisions.md.  When both ends are severed the path
 * and every message left on it are destroyed.
 */
void shmcp_iucv_sever_end(shmcp_sys *sys, struct shmcp_iucv *t, struct shmcp_path *p, int end,
			  const uint8_t *user, struct shmcp_bells *bells)
{
	SHMCP_LOCK_HELD(sys);
	struct shmcp_path_end *me = &p->e[end], *other = &p->e[1 - end];
	if (me->state == END_NONE)
		return;
	if (other->slot == CP_SLOT) {  /* *MSG: CP severs its end at once, silently */
		free_end(t, p, 1 - end);  /* CP's first: a repeated hook still finds the path */
		free_end(t, p, end);
		release_path(sys, t, p);
		return;
	}
	if (other->state == END_OUT_PENDING || other->state == END_IN_PENDING ||
	    other->state == END_ACTIVE) {
		if (me->state == END_ACTIVE)
			shmcp_iucv_sever_messages(sys, t, p, end, bells);
		if (other->state == END_IN_PENDING)
			other->_pad = 1;  /* its ACCEPT will get rc 20 */
		other->sever_sent = 0;
		other->state = END_PARTNER_SEVERED;
		shmcp_fault("iucv.sever");  /* tests: severed, its 03 not queued */
		control(sys, p, 1 - end, SHMCP_IPTYPE_PATH_SEVERED, 0, 0, NULL, user, bells);
		other->sever_sent = 1;
	}
	free_end(t, p, end);
	shmcp_fault("iucv.sever.freed");  /* tests: one end gone, the path not */
	if (other->state == END_NONE)
		release_path(sys, t, p);
}

/* With IPALL or one path id: apply @fn to each path end of @slot. */
static int for_paths(struct shmcp_iucv *t, int32_t slot, uint8_t *pl,
		     int (*fn)(void *ctx, struct shmcp_path *p, int end), void *ctx)
{
	if (pl[SHMCP_IP_FLAGS1] & SHMCP_IPALL) {
		for (uint32_t id = 0; id < t->max_conn; id++) {
			int end;
			struct shmcp_path *p = shmcp_iucv_path_of(t, slot, (uint16_t)id, &end);
			if (p)
				fn(ctx, p, end);
		}
		return 0;
	}
	int end;
	struct shmcp_path *p = shmcp_iucv_path_of(t, slot, ip16(pl, SHMCP_IP_PATHID), &end);
	if (!p)
		return SHMCP_IPRC_INVALID_PATHID;
	return fn(ctx, p, end);
}

struct ctx {
	shmcp_sys *sys;
	struct shmcp_iucv *t;
	const uint8_t *user;
	int type;
	struct shmcp_bells *bells;
};

static int sever_one(void *c, struct shmcp_path *p, int end)
{
	struct ctx *x = c;
	shmcp_iucv_sever_end(x->sys, x->t, p, end, x->user, x->bells);
	return 0;
}

static int quiesce_one(void *c, struct shmcp_path *p, int end)
{
	struct ctx *x = c;
	if (p->e[end].state != END_ACTIVE)
		return SHMCP_IPRC_INVALID_PATHID;
	int rc = p->e[1 - end].slot == CP_SLOT ? 0  /* CP takes no interrupts */
		 : control(x->sys, p, 1 - end, x->type, 0, 0, NULL, x->user, x->bells);
	if (rc)
		return rc;
	p->e[1 - end].quiesced = x->type == SHMCP_IPTYPE_PATH_QUIESCED;
	return 0;
}

static uint16_t effective_limit(uint16_t asked, uint16_t ceiling)
{
	uint16_t v = asked ? asked : SHMCP_MSGLIM_DEFAULT;
	return v < ceiling ? v : ceiling;
}

/**
 * shmcp_iucv_msg_path - the path VM @slot has to *MSG (its end in *end),
 * or NULL.  Lock held.
 */
struct shmcp_path *shmcp_iucv_msg_path(struct shmcp_iucv *t, int32_t slot, int *end)
{
	for (uint32_t id = 0; id < t->max_conn; id++) {
		struct shmcp_path *p = shmcp_iucv_path_of(t, slot, (uint16_t)id, end);
		if (p && p->e[1 - *end].slot == CP_SLOT)
			return p;
	}
	return NULL;
}

/* CONNECT to *MSG: CP accepts at once.  The VM's end is quiesced (*MSG
 * takes no messages: SEND gets rc 2); the type 02 shows that with IPQUSCE,
 * no priority, no parameter-list data, and the limit the VM asked for
 * (default 10, capped by its directory MSGLIMIT).  One *MSG path per VM:
 * a second CONNECT gets rc 14.  See docs/decisions.md. */
static int connect_msg(shmcp_sys *sys, struct shmcp_iucv *t, int32_t slot, uint8_t *pl,
		       struct shmcp_bells *bells)
{
	SHMCP_LOCK_HELD(sys);
	static const uint8_t zeros[16];
	uint8_t flags = pl[SHMCP_IP_FLAGS1];
	const char *me = sys->vms[slot].userid;
	if (!dir_authorized(sys, t, me, MSG_SERVICE))
		return SHMCP_IPRC_NOT_AUTHORIZED;
	struct shmcp_iucv_vm *a = &t->vm[slot];
	if (a->npaths + 1 > a->maxconn)
		return SHMCP_IPRC_MAXCONN_SELF;
	int dummy;
	if (shmcp_iucv_msg_path(t, slot, &dummy))
		return SHMCP_IPRC_MAXCONN_TARGET;
	uint32_t pidx;
	struct shmcp_path *p = alloc_path(t, &pidx);
	if (!p)
		return SHMCP_IPRC_MAXCONN_TARGET;
	const struct shmcp_dir_entry *da = dir_lookup(sys, t, me);
	uint16_t msglim = ip16(pl, SHMCP_IP_MSGLIM);
	uint16_t lim = effective_limit(msglim, da->msglimit);
	int id = alloc_pathid(t, slot, a->maxconn, pidx, 0);
	p->e[0] = (struct shmcp_path_end){ .slot = slot, .gen = sys->vms[slot].gen,
					   .pathid = (uint16_t)id, .state = END_ACTIVE,
					   .flags = flags, .quiesced = 1, .msglim_asked = msglim,
					   .dir_msglimit = da->msglimit };
	p->e[1] = (struct shmcp_path_end){ .slot = CP_SLOT, .state = END_ACTIVE,
					   .quiesced = !!(flags & SHMCP_IPQUSCE),
					   .dir_msglimit = SHMCP_MSGLIM_MAX };
	p->msglim = lim;
	p->priority = 0;
	int rc = control(sys, p, 0, SHMCP_IPTYPE_CONNECTION_COMPLETE, SHMCP_IPQUSCE, lim, NULL,
			 zeros, bells);
	if (rc) {
		abandon_path(sys, t, p);
		return rc;
	}
	put16(pl, SHMCP_IP_PATHID, (uint16_t)id);
	return 0;
}

static int do_connect(shmcp_sys *sys, struct shmcp_iucv *t, int32_t slot, uint8_t *pl,
		      struct shmcp_bells *bells)
{
	uint8_t flags = pl[SHMCP_IP_FLAGS1];
	if (flags & ~PATH_OPTIONS)
		return SHMCP_E_PCSPEC;
	const char *vmid = (const char *)pl + SHMCP_IP_VMID;
	uint16_t msglim = ip16(pl, SHMCP_IP_MSGLIM);
	if (msglim > SHMCP_MSGLIM_MAX)
		return SHMCP_IPRC_MSGLIM_TOO_BIG;
	if (vmid[0] == '*' && memcmp(vmid, MSG_SERVICE, 8) != 0)
		return SHMCP_IPRC_INVALID_SERVICE;  /* *MSG is the one CP service */
	if (pl[SHMCP_IP_FCNCD])
		return SHMCP_IPRC_INVALID_FCNCD;  /* *MSG takes none either */
	if (vmid[0] == '*')
		return connect_msg(sys, t, slot, pl, bells);
	int32_t target;
	uint32_t tgen;
	if (shmcp_find(sys, vmid, &target, &tgen))
		return SHMCP_IPRC_NOT_LOGGED_ON;
	if (!shmcp_iucv_declared(sys, t, target, tgen))
		return SHMCP_IPRC_NOT_DECLARED;
	const char *me = sys->vms[slot].userid;
	if (!dir_authorized(sys, t, me, vmid))
		return SHMCP_IPRC_NOT_AUTHORIZED;
	struct shmcp_iucv_vm *a = &t->vm[slot], *b = &t->vm[target];
	if (a->npaths + 1 + (target == slot) > a->maxconn)
		return SHMCP_IPRC_MAXCONN_SELF;
	if (b->npaths + 1 > b->maxconn)
		return SHMCP_IPRC_MAXCONN_TARGET;
	uint32_t pidx;
	struct shmcp_path *p = alloc_path(t, &pidx);
	if (!p)
		return SHMCP_IPRC_MAXCONN_TARGET;
	const struct shmcp_dir_entry *da = dir_lookup(sys, t, me), *db = dir_lookup(sys, t, vmid);
	int ida = alloc_pathid(t, slot, a->maxconn, pidx, 0);
	shmcp_fault("iucv.connect");  /* tests: a path half built */
	int idb = alloc_pathid(t, target, b->maxconn, pidx, 1);
	p->e[0] = (struct shmcp_path_end){ .slot = slot, .gen = sys->vms[slot].gen,
					   .pathid = (uint16_t)ida, .state = END_OUT_PENDING,
					   .flags = flags, .msglim_asked = msglim,
					   .dir_msglimit = da->msglimit,
					   .dir_priority = !!(da->flags & SHMCP_DIR_PRIORITY) };
	p->e[1] = (struct shmcp_path_end){ .slot = target, .gen = tgen, .pathid = (uint16_t)idb,
					   .state = END_IN_PENDING, .dir_msglimit = db->msglimit,
					   .dir_priority = !!(db->flags & SHMCP_DIR_PRIORITY) };
	memcpy(p->userid[0], me, sizeof p->userid[0]);
	memcpy(p->userid[1], sys->vms[target].userid, sizeof p->userid[1]);
	int rc = control(sys, p, 1, SHMCP_IPTYPE_PENDING_CONNECTION, flags,
			 effective_limit(msglim, da->msglimit), (const uint8_t *)me,
			 pl + SHMCP_IP_USER, bells);
	if (rc) {
		abandon_path(sys, t, p);
		return rc;
	}
	put16(pl, SHMCP_IP_PATHID, (uint16_t)ida);
	return 0;
}

static int do_accept(shmcp_sys *sys, struct shmcp_iucv *t, int32_t slot, uint8_t *pl,
		     struct shmcp_bells *bells)
{
	uint8_t flags = pl[SHMCP_IP_FLAGS1];
	if (flags & ~PATH_OPTIONS)
		return SHMCP_E_PCSPEC;
	int end;
	struct shmcp_path *p = shmcp_iucv_path_of(t, slot, ip16(pl, SHMCP_IP_PATHID), &end);
	if (!p || end != 1)
		return SHMCP_IPRC_INVALID_PATHID;
	struct shmcp_path_end *o = &p->e[0], *me = &p->e[1];
	int refused = me->state == END_PARTNER_SEVERED && me->_pad;
	if (me->state != END_IN_PENDING && !refused)
		return SHMCP_IPRC_INVALID_PATHID;
	uint16_t msglim = ip16(pl, SHMCP_IP_MSGLIM);
	if (msglim > SHMCP_MSGLIM_MAX)
		return SHMCP_IPRC_MSGLIM_TOO_BIG;
	if (refused)
		return SHMCP_IPRC_ORIGINATOR_SEVERED;
	uint16_t lim = effective_limit(o->msglim_asked, o->dir_msglimit);
	if (msglim && msglim < lim)
		lim = msglim;
	if (me->dir_msglimit < lim)
		lim = me->dir_msglimit;
	int prio = (o->flags & SHMCP_IPPRTY) && (flags & SHMCP_IPPRTY) && o->dir_priority &&
		   me->dir_priority;
	uint8_t shown = (uint8_t)((flags & (SHMCP_IPRMDATA | SHMCP_IPQUSCE)) |
				  (prio ? SHMCP_IPPRTY : 0));
	int rc = control(sys, p, 0, SHMCP_IPTYPE_CONNECTION_COMPLETE, shown, lim, NULL,
			 pl + SHMCP_IP_USER, bells);
	if (rc)
		return rc;
	p->msglim = lim;
	p->priority = (uint8_t)prio;
	me->flags = flags;
	me->quiesced = !!(o->flags & SHMCP_IPQUSCE);  /* the originator quiesced us */
	o->quiesced = !!(flags & SHMCP_IPQUSCE);
	o->state = END_ACTIVE;
	me->state = END_ACTIVE;
	put16(pl, SHMCP_IP_MSGLIM, lim);
	pl[SHMCP_IP_FLAGS1] = (uint8_t)((flags & ~SHMCP_IPPRTY) | (prio ? SHMCP_IPPRTY : 0));
	return 0;
}

/* RETRIEVE BUFFER, and LOGOFF's IUCV part: sever everything, undeclare. */
static void retrieve(shmcp_sys *sys, struct shmcp_iucv *t, int32_t slot,
		     struct shmcp_bells *bells)
{
	static const uint8_t zeros[16];
	uint8_t all[SHMCP_RECORD_LEN] = { 0 };
	all[SHMCP_IP_FLAGS1] = SHMCP_IPALL;
	struct ctx x = { sys, t, zeros, 0, bells };
	for_paths(t, slot, all, sever_one, &x);
	t->vm[slot].declared_gen = 0;
}

/**
 * shmcp_iucv_connection - the path functions of @func for VM @slot
 * (lock held, VM declared).  Returns the IPRCODE (0: CC0), or a negative
 * SHMCP_E_* (program check, queue full).
 */
int shmcp_iucv_connection(shmcp_sys *sys, struct shmcp_iucv *t, int32_t slot, int func,
			  uint8_t *pl, struct shmcp_bells *bells)
{
	SHMCP_LOCK_HELD(sys);
	struct ctx x = { sys, t, pl + SHMCP_IP_USER, 0, bells };
	switch (func) {
	case SHMCP_IUCV_CONNECT:
		return do_connect(sys, t, slot, pl, bells);
	case SHMCP_IUCV_ACCEPT:
		return do_accept(sys, t, slot, pl, bells);
	case SHMCP_IUCV_SEVER:
	case SHMCP_IUCV_QUIESCE:
	case SHMCP_IUCV_RESUME:
		if (pl[SHMCP_IP_FLAGS1] & ~SHMCP_IPALL)
			return SHMCP_E_PCSPEC;  /* IPALL is their only flag */
		if (func == SHMCP_IUCV_SEVER)
			return for_paths(t, slot, pl, sever_one, &x);
		x.type = func == SHMCP_IUCV_QUIESCE ? SHMCP_IPTYPE_PATH_QUIESCED
						    : SHMCP_IPTYPE_PATH_RESUMED;
		return for_paths(t, slot, pl, quiesce_one, &x);
	case SHMCP_IUCV_RTRVBFR:
		retrieve(sys, t, slot, bells);
		return 0;
	case SHMCP_IUCV_SETMASK:
	case SHMCP_IUCV_SETCMASK:
		return (pl[SHMCP_IP_MASK] & 7) ? SHMCP_E_PCSPEC : 0;
	}
	return SHMCP_E_BADARG;
}

/* What the instruction returns for a facility's outcome @rc, with
 * IPRCODE set in @plist: CC0; an IPRCODE is CC1; 256 + cc is CC2 / CC3;
 * a negative SHMCP_E_* stays itself. */
static int condition_code(int rc, uint8_t *plist)
{
	if (rc >= 256)
		return rc - 256;
	if (rc > 0) {
		plist[SHMCP_IP_RCODE] = (uint8_t)rc;
		return 1;
	}
	if (rc == 0)
		plist[SHMCP_IP_RCODE] = 0;
	return rc;
}

/**
 * shmcp_iucv_call - the IUCV instruction: function @func for VM @slot
 * (logon @gen) with the 40-byte IPARML @plist (updated in place).  @in is
 * the data a SEND or REPLY moves (IPBFLN1F / IPBFLN2F bytes), @out the
 * RECEIVE buffer (IPBFLN1F bytes); the caller checked they are that long.
 * Takes the control lock; doorbells are rung after it.
 * Returns the condition code 0-3 (IPRCODE in plist[3] for CC1), or
 * SHMCP_E_PCSPEC / _PCOPER (program checks), _NOSTORAGE, _QFULL,
 * _NOTLOGGED, _BADARG, _LOCK; nothing is changed then.  SHMCP_E_CORRUPT
 * if the message's storage was not its own (a double free refused).
 */
int shmcp_iucv_call(shmcp_sys *sys, int32_t slot, uint32_t gen, int func, uint8_t *plist,
		    const uint8_t *in, uint8_t *out)
{
	if (!shmcp_slot_ok(sys, slot) || !plist || func < 0 || func > SHMCP_IUCV_SETCMASK)
		return SHMCP_E_BADARG;
	/* not an initializer: that would zero all SHMCP_BELLS_MAX entries (a
	 * 200-byte memset per call, ~3 % of a one-way message's CPU) */
	struct shmcp_bells bells;
	bells.n = bells.overflow = 0;
	struct shmcp_iucv t;
	shmcp_iucv_tables(sys, &t);
	if (func == SHMCP_IUCV_RECEIVE)
		shmcp_iucv_prefetch(sys, &t, slot, plist);
	else if (func == SHMCP_IUCV_SEND) {
		if (!(plist[SHMCP_IP_FLAGS1] & SHMCP_IPRMDATA))
			shmcp_pool_prefetch_alloc(&sys->pool, ip32(plist, SHMCP_IP_BFLN1F));
		shmcp_iucv_prefetch_send(&t, slot, plist);
	}
	int rc = shmcp_lock(sys);
	if (rc)
		return rc;
	uint32_t refused = sys->pool.refused;
	if (atomic_load(&sys->vms[slot].state) != SHMCP_VM_ACTIVE || sys->vms[slot].gen != gen) {
		rc = SHMCP_E_NOTLOGGED;
	} else if (func == SHMCP_IUCV_DCLBFR) {
		if (t.vm[slot].declared_gen == gen) {
			rc = SHMCP_IPRC_ALREADY_DECLARED;
		} else {
			const struct shmcp_dir_entry *d = dir_lookup(sys, &t, sys->vms[slot].userid);
			t.vm[slot].declared_gen = gen;
			t.vm[slot].maxconn = d->maxconn;
			rc = 0;
		}
	} else if (func == SHMCP_IUCV_RTRVBFR) {
		retrieve(sys, &t, slot, &bells);
	} else if (func == SHMCP_IUCV_QUERY) {
		rc = 0;
	} else if (!shmcp_iucv_declared(sys, &t, slot, gen)) {
		rc = SHMCP_E_PCOPER;
	} else if (func >= SHMCP_IUCV_ACCEPT || func == SHMCP_IUCV_RTRVBFR) {
		rc = shmcp_iucv_connection(sys, &t, slot, func, plist, &bells);
	} else {
		rc = shmcp_iucv_message(sys, &t, slot, func, plist, in, out, &bells);
	}
	if (t.unshown)  /* not on the path of a program that takes its interrupts */
		shmcp_iucv_drop_withdrawn(sys, slot, gen);
	if (sys->pool.refused != refused)
		rc = SHMCP_E_CORRUPT;
	shmcp_unlock(sys);
	shmcp_bells_ring(sys, &bells);
	return condition_code(rc, plist);
}

/**
 * shmcp_iucv_receive_many - RECEIVE, for VM @slot (logon @gen), each of
 * the @n messages the parameter lists @plists name, into @bufs[i]
 * (IPBFLN1F bytes each), in order and in one lock round: a stream's
 * receiver pays one lock round per batch, not one per message, and its
 * completions' doorbells are rung once.  Each list is updated as RECEIVE
 * updates it and @ccs[i] is what shmcp_iucv_call would have returned for
 * it.  An item that is gone (CC1, CC2) does not stop the rest; one that
 * meets a core error (SHMCP_E_CORRUPT: the message's storage or queue not
 * its own, a free refused) ends the batch there, the items after it left
 * untouched: a program told of the corruption as it takes that message
 * has had nothing after it RECEIVEd, as with one RECEIVE per message.
 * Returns how many items were RECEIVEd or tried (@n unless one met a core
 * error), or SHMCP_E_NOTLOGGED / _PCOPER / _BADARG / _LOCK with nothing
 * received.
 */
int shmcp_iucv_receive_many(shmcp_sys *sys, int32_t slot, uint32_t gen, int n,
			    uint8_t *const *plists, uint8_t *const *bufs, int *ccs)
{
	if (!shmcp_slot_ok(sys, slot) || n < 0 || (n && (!plists || !bufs || !ccs)))
		return SHMCP_E_BADARG;
	struct shmcp_bells bells = { .n = 0, .overflow = 0 };
	struct shmcp_iucv t;
	shmcp_iucv_tables(sys, &t);
	if (n)
		shmcp_iucv_prefetch(sys, &t, slot, plists[0]);
	int rc = shmcp_lock(sys);
	if (rc)
		return rc;
	if (atomic_load(&sys->vms[slot].state) != SHMCP_VM_ACTIVE || sys->vms[slot].gen != gen)
		rc = SHMCP_E_NOTLOGGED;
	else if (!shmcp_iucv_declared(sys, &t, slot, gen))
		rc = SHMCP_E_PCOPER;
	int done = 0;
	while (!rc && done < n) {
		uint32_t refused = sys->pool.refused;
		int r = shmcp_iucv_message(sys, &t, slot, SHMCP_IUCV_RECEIVE, plists[done], NULL,
					   bufs[done], &bells);
		if (sys->pool.refused != refused)
			r = SHMCP_E_CORRUPT;
		ccs[done] = condition_code(r, plists[done]);
		done++;
		if (r < 0)
			break;
	}
	if (t.unshown)
		shmcp_iucv_drop_withdrawn(sys, slot, gen);
	shmcp_unlock(sys);
	shmcp_bells_ring(sys, &bells);
	return rc ? rc : done;
}

/**
 * shmcp_iucv_maxconn - QUERY's register 1 for VM @slot: its maxconn
 * (from the directory).
 */
int shmcp_iucv_maxconn(shmcp_sys *sys, int32_t slot, uint32_t gen)
{
	if (!shmcp_slot_ok(sys, slot))
		return SHMCP_E_BADARG;
	struct shmcp_iucv t;
	int rc = shmcp_lock(sys);
	if (rc)
		return rc;
	shmcp_iucv_tables(sys, &t);
	if (sys->vms[slot].gen != gen)
		rc = SHMCP_E_NOTLOGGED;
	else
		rc = dir_lookup(sys, &t, sys->vms[slot].userid)->maxconn;
	shmcp_unlock(sys);
	return rc;
}

/**
 * shmcp_iucv_logoff - LOGOFF's IUCV part for VM @slot (lock held): sever
 * every path and pending connection, undeclare.  Idempotent.
 */
void shmcp_iucv_logoff(shmcp_sys *sys, int32_t slot, struct shmcp_bells *bells)
{
	SHMCP_LOCK_HELD(sys);
	struct shmcp_iucv t;
	shmcp_iucv_tables(sys, &t);
	retrieve(sys, &t, slot, bells);
}

/* IUCV's answer to the lock's repair (shmcp_pool_sweep): does it still
 * name pool block @off, held as @owner?  CP's own lasting block is the
 * directory; a MSGBLOK's are its data and reply.  -1: not an IUCV owner. */
static int holds_block(shmcp_sys *sys, uint16_t owner, uint64_t off)
{
	if (owner == SHMCP_POOL_OWNER_CP)
		return shmcp_iucv_holds_directory(sys, off);
	if (!SHMCP_POOL_OWNER_IS_WIDE(owner))
		return -1;
	return shmcp_iucv_holds(sys, owner, off);
}

/* Does @rec tell path id *@ctx that its partner severed? */
static int severs(shmcp_sys *sys, const struct shmcp_record *rec, const void *ctx)
{
	(void)sys;
	return !rec->ext_len && rec->data[SHMCP_IP_RCODE] == SHMCP_IPTYPE_PATH_SEVERED &&
	       ip16(rec->data, SHMCP_IP_PATHID) == *(const uint16_t *)ctx;
}

/* Is map entry @v of VM @slot's path id @id backed by its path's end? */
static int map_ok(struct shmcp_iucv *t, uint32_t slot, uint32_t id, uint32_t v)
{
	if ((v >> 1) < 1 || (v >> 1) > t->npaths)
		return 0;
	const struct shmcp_path *p = &t->path[(v >> 1) - 1];
	const struct shmcp_path_end *e = &p->e[v & 1];
	return p->in_use && e->state != END_NONE && e->slot == (int32_t)slot && e->pathid == id;
}

/*
 * IUCV's part of the lock's repair (core/facility.h): whatever store the
 * dead holder's kill interrupted, a path with no end left is released,
 * each VM's path-id map holds exactly its path ends (and counts them), the
 * free list holds exactly the paths not in use, the MSGBLOKs are put right
 * (shmcp_iucv_repair_messages), and an end marked severed whose type 03
 * the kill kept from its queue gets it.  Idempotent.
 */
static void repair(shmcp_sys *sys, struct shmcp_bells *bells)
{
	SHMCP_LOCK_HELD(sys);
	static const uint8_t zeros[16];
	struct shmcp_iucv t;
	shmcp_iucv_tables(sys, &t);
	if (t.hdr->paths_used > t.npaths)
		t.hdr->paths_used = t.npaths;
	uint32_t used = t.hdr->paths_used;
	for (uint32_t i = 0; i < used; i++) {
		struct shmcp_path *p = &t.path[i];
		if (p->in_use && p->e[0].state == END_NONE && p->e[1].state == END_NONE)
			release_path(sys, &t, p);
	}
	for (uint32_t v = 0; v < t.max_vms; v++) {
		uint32_t *map = &t.pathmap[(size_t)v * t.max_conn];
		uint16_t n = 0;
		for (uint32_t id = 0; id < t.max_conn; id++) {
			if (map[id] && !map_ok(&t, v, id, map[id]))
				map[id] = 0;
			n += map[id] != 0;
		}
		t.vm[v].npaths = n;
	}
	for (uint32_t i = 0; i < used; i++)
		for (int end = 0; end < 2 && t.path[i].in_use; end++) {
			struct shmcp_path_end *e = &t.path[i].e[end];
			if (e->state == END_NONE || e->slot < 0 || (uint32_t)e->slot >= t.max_vms ||
			    e->pathid >= t.max_conn)
				continue;
			uint32_t *entry = &t.pathmap[(size_t)e->slot * t.max_conn + e->pathid];
			if (!*entry) {  /* its map entry was not written yet */
				*entry = (i + 1) << 1 | (uint32_t)end;
				t.vm[e->slot].npaths++;
			}
		}
	t.hdr->free_paths = 0;
	for (uint32_t i = used; i >= 1; i--)
		if (!t.path[i - 1].in_use) {
			t.path[i - 1].next_free = t.hdr->free_paths;
			t.hdr->free_paths = i;
		}
	shmcp_iucv_repair_messages(sys, &t, bells);
	for (uint32_t i = 0; i < used; i++)
		for (int end = 0; end < 2 && t.path[i].in_use; end++) {
			struct shmcp_path *p = &t.path[i];
			struct shmcp_path_end *e = &p->e[end];
			if (e->state != END_PARTNER_SEVERED || e->sever_sent || e->slot < 0 ||
			    (uint32_t)e->slot >= t.max_vms ||
			    atomic_load(&sys->vms[e->slot].state) != SHMCP_VM_ACTIVE ||
			    sys->vms[e->slot].gen != e->gen)
				continue;
			if (!shmcp_queue_find(sys, e->slot, SHMCP_IUCV, severs, &e->pathid))
				control(sys, p, end, SHMCP_IPTYPE_PATH_SEVERED, 0, 0, NULL, zeros, bells);
			e->sever_sent = 1;
		}
}

/* What IUCV gives the core (core/facility.h). */
const struct shmcp_facility shmcp_iucv_facility = {
	.name = "IUCV",
	.signal = SIGUSR1,
	.limits_ok = limits_ok,
	.region_size = shmcp_iucv_region_size,
	.logoff = shmcp_iucv_logoff,
	.present = shmcp_iucv_show,
	.withdrawn = shmcp_iucv_withdrawn,
	.holds = holds_block,
	.holder_class = SHMCP_HOLDER_WIDE,
	.snap = shmcp_iucv_snap,
	.origin = shmcp_iucv_origin,
	.repair = repair,
};
