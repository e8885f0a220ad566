/*
 * segment.c - the system segment: its layout, formatting a new one,
 * attaching to an existing one (with every check a corrupt or foreign
 * segment must fail), and the robust control lock.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "facility.h"

#ifndef SHMCP_BUILD_VERSION
#error "the build passes SHMCP_BUILD_VERSION (the package version)"
#endif

/**
 * shmcp_version - the package version this core was compiled for.
 * The Python side compares it with its own at import.
 */
const char *shmcp_version(void)
{
	return SHMCP_BUILD_VERSION;
}

static const char *const messages[] = {
	[0] = "ok",
	[1] = "the system segment is corrupt",
	[2] = "the target's interrupt queue is full",
	[3] = "no such virtual machine is logged on",
	[4] = "that userid is logged on by a live process",
	[5] = "the VM table is full",
	[6] = "not enough free storage in the system",
	[7] = "the control lock cannot be recovered",
	[8] = "a system call failed",
	[9] = "the system has been shut down",
	[10] = "an argument is out of range",
	[11] = "this virtual machine has been logged off",
	[12] = "the segment belongs to another user",
	[13] = "the segment was written by an incompatible shmcp layout",
	[14] = "virtual machines are still logged on",
	[24] = "the target has no path to *MSG",
	[25] = "the target quiesced its *MSG path",
	[26] = "the control lock stayed held (its holder may be stopped)",
};

/**
 * shmcp_strerror - text for a core return code.
 */
const char *shmcp_strerror(int rc)
{
	int i = -rc;
	if (i < 0 || i >= (int)(sizeof messages / sizeof messages[0]) || !messages[i])
		return "unknown error";
	return messages[i];
}

static uint64_t round_up(uint64_t v, uint64_t a)
{
	return (v + a - 1) / a * a;
}

static int limits_ok(const struct shmcp_limits *lim)
{
	return lim->max_vms >= 1 && lim->max_vms <= SHMCP_MAX_VMS_LIMIT &&
	       lim->queue_size >= SHMCP_QUEUE_MIN &&
	       lim->queue_size <= SHMCP_QUEUE_LIMIT &&
	       (lim->queue_size & (lim->queue_size - 1)) == 0 &&
	       lim->storage >= SHMCP_STORAGE_MIN &&
	       lim->storage <= SHMCP_STORAGE_LIMIT &&
	       (lim->storage & (lim->storage - 1)) == 0 &&
	       lim->spin_ns <= SHMCP_SPIN_NS_LIMIT;
}

/* The core's limits and each facility's. */
static int all_limits_ok(const struct shmcp_limits *lim)
{
	if (!limits_ok(lim))
		return 0;
	for (int f = 0; f < SHMCP_NFAC; f++)
		if (shmcp_facilities[f]->limits_ok && !shmcp_facilities[f]->limits_ok(lim))
			return 0;
	return 1;
}

/**
 * shmcp_compute_layout - where each region of a segment with limits @lim
 * starts.  The limits must already be normalised (powers of two).
 * Returns 0, or SHMCP_E_BADARG for limits out of range.
 */
int shmcp_compute_layout(const struct shmcp_limits *lim, struct shmcp_layout *out)
{
	if (!all_limits_ok(lim))
		return SHMCP_E_BADARG;
	uint64_t off = SHMCP_TRACE_END;  /* the header, then the trace ring */
	out->vm_off = off;
	off += round_up((uint64_t)lim->max_vms * sizeof(struct shmcp_vm), SHMCP_ALIGN);
	for (int f = 0; f < SHMCP_NFAC; f++) {
		out->region_off[f] = off;
		off += round_up(shmcp_facilities[f]->region_size(lim), SHMCP_ALIGN);
	}
	out->ring_off = off;
	off += round_up((uint64_t)lim->max_vms * SHMCP_NFAC * 2 * lim->queue_size *
				sizeof(struct shmcp_slot), SHMCP_ALIGN);
	out->tag_off = off;
	out->pool_size = lim->storage;
	off += round_up(shmcp_pool_tag_bytes(lim->storage), SHMCP_ALIGN);
	out->pool_off = off;
	out->total = off + lim->storage;
	return 0;
}

/**
 * shmcp_layout_size - total bytes of a segment with limits @lim.
 */
int shmcp_layout_size(const struct shmcp_limits *lim, uint64_t *size)
{
	struct shmcp_layout l;
	int rc = shmcp_compute_layout(lim, &l);
	if (rc == 0)
		*size = l.total;
	return rc;
}

static int init_lock(pthread_mutex_t *m)
{
	pthread_mutexattr_t a;
	int rc = -1;
	if (pthread_mutexattr_init(&a))
		return -1;
	if (!pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED) &&
	    !pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST) &&
	    !pthread_mutex_init(m, &a))
		rc = 0;
	pthread_mutexattr_destroy(&a);
	return rc;
}

/**
 * shmcp_format - size the fresh, empty shared-memory object @fd for limits
 * @lim and write a new system into it.  The object must be new (zero
 * filled): the rings, VM table and pool tags rely on zero being their
 * empty state, so IPL touches only the header.
 * Returns 0 or a negative SHMCP_E_* code (errno kept for SHMCP_E_SYS).
 */
int shmcp_format(int fd, const struct shmcp_limits *lim, const char *name)
{
	struct shmcp_layout l;
	int rc = shmcp_compute_layout(lim, &l);
	if (rc)
		return rc;
	if (!name || strlen(name) >= SHMCP_SYSNAME_MAX)
		return SHMCP_E_BADARG;
	if (ftruncate(fd, (off_t)l.total))
		return SHMCP_E_SYS;
	uint8_t *base = mmap(NULL, l.total, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (base == MAP_FAILED)
		return SHMCP_E_SYS;
	struct shmcp_header *h = (struct shmcp_header *)base;
	h->layout_version = SHMCP_LAYOUT_VERSION;
	h->header_size = sizeof *h;
	h->total_size = l.total;
	h->owner_uid = (uint32_t)geteuid();
	strncpy(h->name, name, SHMCP_SYSNAME_MAX - 1);
	h->limits = *lim;
	h->vm_off = l.vm_off;
	memcpy(h->region_off, l.region_off, sizeof h->region_off);
	h->ring_off = l.ring_off;
	h->tag_off = l.tag_off;
	h->pool_off = l.pool_off;
	struct shmcp_pool p = { &h->pool, (struct shmcp_pool_tag *)(base + l.tag_off),
				base + l.pool_off, l.pool_size, 0 };
	shmcp_pool_format(&p, l.pool_size);
	rc = init_lock(&h->lock) ? SHMCP_E_LOCK : 0;
	if (rc == 0) {
		atomic_store(&h->state, SHMCP_STATE_UP);
		/* the magic goes last: a half-written segment is never valid */
		atomic_thread_fence(memory_order_release);
		h->magic = SHMCP_MAGIC;
		if (msync(base, SHMCP_ALIGN, MS_SYNC))
			rc = SHMCP_E_SYS;
	}
	munmap(base, l.total);
	return rc;
}

static int header_ok(const struct shmcp_header *h, uint64_t size, const char *name,
		     int *rc)
{
	struct shmcp_layout l;
	*rc = SHMCP_E_CORRUPT;
	if (size < sizeof *h || h->magic != SHMCP_MAGIC)
		return 0;
	if (h->layout_version != SHMCP_LAYOUT_VERSION) {
		*rc = SHMCP_E_VERSION;
		return 0;
	}
	if (h->header_size != sizeof *h || h->total_size != size)
		return 0;
	if (h->owner_uid != (uint32_t)geteuid()) {
		*rc = SHMCP_E_OWNER;
		return 0;
	}
	if (memchr(h->name, 0, SHMCP_SYSNAME_MAX) == NULL || strcmp(h->name, name))
		return 0;
	if (shmcp_compute_layout(&h->limits, &l) || l.total != size ||
	    l.vm_off != h->vm_off ||
	    memcmp(l.region_off, h->region_off, sizeof l.region_off) ||
	    l.ring_off != h->ring_off ||
	    l.tag_off != h->tag_off || l.pool_off != h->pool_off)
		return 0;
	uint32_t st = atomic_load(&h->state);
	if (st != SHMCP_STATE_UP && st != SHMCP_STATE_DOWN)
		return 0;
	*rc = 0;
	return 1;
}

/**
 * shmcp_attach - map the system in @fd (named @name) and check it.
 * The object must belong to this user and carry a header consistent with
 * its size and the layout its limits imply.  Returns the handle, or NULL
 * with *rc = SHMCP_E_CORRUPT / _VERSION / _OWNER / _SYS.
 */
shmcp_sys *shmcp_attach(int fd, const char *name, int *rc)
{
	struct stat st;
	if (fstat(fd, &st)) {
		*rc = SHMCP_E_SYS;
		return NULL;
	}
	if (st.st_uid != geteuid()) {
		*rc = SHMCP_E_OWNER;
		return NULL;
	}
	if (st.st_size < (off_t)sizeof(struct shmcp_header)) {
		*rc = SHMCP_E_CORRUPT;
		return NULL;
	}
	uint64_t size = (uint64_t)st.st_size;
	uint8_t *base = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (base == MAP_FAILED) {
		*rc = SHMCP_E_SYS;
		return NULL;
	}
	struct shmcp_header *h = (struct shmcp_header *)base;
	shmcp_sys *sys = NULL;
	if (!header_ok(h, size, name, rc))
		goto fail;
	struct shmcp_pool p = { &h->pool, (struct shmcp_pool_tag *)(base + h->tag_off),
				base + h->pool_off, h->limits.storage, 0 };
	if (shmcp_pool_check(&p, h->limits.storage)) {
		*rc = SHMCP_E_CORRUPT;
		goto fail;
	}
	sys = calloc(1, sizeof *sys);
	if (!sys)
		goto nomem;
	sys->base = base;
	sys->size = size;
	sys->hdr = h;
	sys->vms = (struct shmcp_vm *)(base + h->vm_off);
	sys->slots = (struct shmcp_slot *)(base + h->ring_off);
	for (int f = 0; f < SHMCP_NFAC; f++)
		sys->region[f] = base + h->region_off[f];
	sys->pool = p;
	sys->lim = h->limits;
	if (getrandom(&sys->seal, sizeof sys->seal, 0) != sizeof sys->seal)
		sys->seal = (uint64_t)(uintptr_t)sys ^ (uint64_t)shmcp_now_ns() * 0x9e3779b97f4a7c15ULL;
	sys->max_vms = h->limits.max_vms;
	sys->qsize = h->limits.queue_size;
	strcpy(sys->name, name);
	sys->pidfd = malloc(sys->max_vms * sizeof *sys->pidfd);
	sys->pidfd_gen = calloc(sys->max_vms, sizeof *sys->pidfd_gen);
	if (!sys->pidfd || !sys->pidfd_gen || pthread_mutex_init(&sys->cache_lock, NULL))
		goto nomem;
	for (uint32_t i = 0; i < sys->max_vms; i++)
		sys->pidfd[i] = -1;
	*rc = 0;
	return sys;
nomem:
	errno = ENOMEM;
	*rc = SHMCP_E_SYS;
	if (sys) {
		free(sys->pidfd);
		free(sys->pidfd_gen);
		free(sys);
	}
fail:
	munmap(base, size);
	return NULL;
}

/**
 * shmcp_detach - stop this process's watchdog for the system, close its
 * cached pidfds and unmap it.  The segment itself is untouched.
 */
void shmcp_detach(shmcp_sys *sys)
{
	if (!sys)
		return;
	shmcp_watchdog_stop(sys);
	for (uint32_t i = 0; i < sys->max_vms; i++)
		if (sys->pidfd[i] >= 0)
			close(sys->pidfd[i]);
	pthread_mutex_destroy(&sys->cache_lock);
	munmap(sys->base, sys->size);
	free(sys->pidfd);
	free(sys->pidfd_gen);
	free(sys);
}

/**
 * shmcp_read_limits - the limits the system was IPLed with.
 */
int shmcp_read_limits(shmcp_sys *sys, struct shmcp_limits *lim)
{
	*lim = sys->lim;
	return 0;
}

int shmcp_is_down(shmcp_sys *sys)
{
	return atomic_load(&sys->hdr->state) != SHMCP_STATE_UP;
}

/**
 * shmcp_mark_down - mark the system shut down (under the lock), so that
 * every waiter and every later call sees SHMCP_E_DOWN.
 */
int shmcp_mark_down(shmcp_sys *sys)
{
	int rc = shmcp_lock(sys);
	if (rc)
		return rc;
	atomic_store(&sys->hdr->state, SHMCP_STATE_DOWN);
	shmcp_unlock(sys);
	return 0;
}

uint64_t shmcp_lock_repairs(shmcp_sys *sys)
{
	return atomic_load(&sys->hdr->lock_repairs);
}

_Static_assert(SHMCP_NREGIONS == 6 + SHMCP_NFAC, "the regions shmcp_regions names");

/**
 * shmcp_regions - the offsets of the segment's regions, then its end, in
 * @bounds (SHMCP_NREGIONS + 1 words), and the control lock's offset and
 * length in @lock (2 words): from this process's mapping, never from the
 * header a test may have overwritten.  Returns 0.
 */
int shmcp_regions(shmcp_sys *sys, uint64_t *bounds, uint64_t *lock)
{
	int n = 0;
	bounds[n++] = 0;
	bounds[n++] = SHMCP_TRACE_OFF;
	bounds[n++] = (uint64_t)((uint8_t *)sys->vms - sys->base);
	for (int f = 0; f < SHMCP_NFAC; f++)
		bounds[n++] = (uint64_t)(sys->region[f] - sys->base);
	bounds[n++] = (uint64_t)((uint8_t *)sys->slots - sys->base);
	bounds[n++] = (uint64_t)((uint8_t *)sys->pool.tags - sys->base);
	bounds[n++] = (uint64_t)(sys->pool.base - sys->base);
	bounds[n] = sys->size;
	lock[0] = offsetof(struct shmcp_header, lock);
	lock[1] = sizeof(pthread_mutex_t);
	return 0;
}

/* Put the control tables right after a holder of the lock died: publish
 * claimed-but-unfinished queue slots as void records, rebuild the pool's
 * free lists from its tags, free the blocks it allocated or let go that
 * no holder names, let each facility repair its own tables (and queue the
 * interrupts owed), and finish interrupted logoffs. */
static void repair(shmcp_sys *sys, struct shmcp_bells *bells)
{
	SHMCP_LOCK_HELD(sys);
	shmcp_ring_repair(sys);
	if (shmcp_pool_rebuild(&sys->pool) == 0)
		shmcp_pool_sweep(&sys->pool, shmcp_storage_held, sys);
	/* each facility's own tables, with the rings and the pool whole
	 * again: they may free blocks and queue the interrupts owed */
	for (int f = 0; f < SHMCP_NFAC; f++)
		if (shmcp_facilities[f]->repair)
			shmcp_facilities[f]->repair(sys, bells);
	for (uint32_t i = 0; i < sys->max_vms; i++)
		if (atomic_load(&sys->vms[i].state) == SHMCP_VM_CLOSING) {
			shmcp_logoff_hook(sys, (int32_t)i, bells);
			atomic_store(&sys->vms[i].state, SHMCP_VM_FREE);
		}
	atomic_fetch_add(&sys->hdr->lock_repairs, 1);
}

/* How long a held lock is tried before sleeping on it, in pauses (~11 ns
 * here): ~6 us.  Its holders keep it for well under a microsecond, and a
 * contended robust mutex goes straight to a futex sleep and wake-up: the two
 * ends of a one-way stream took turns sleeping on it about once per message
 * (bench/NOTES.md).  Only while a core is spare for the holder, as for the
 * wait's spin.
 *
 * Each try takes the lock's line from its holder, so tries are spaced; how
 * far depends on what the holder does.  A program between its calls (a
 * Python one: ~0.2 us or more) releases the lock and leaves it: the waiter
 * should try again soon after the one hold it saw.  Calls back to back (a C
 * program, the core's own loops) take it again at once from their own
 * cache, and a waiter's frequent tries would only slow each of those holds:
 * it should stay away and let them run.  So the gap starts short and
 * doubles each time lock_taken shows the lock was released and taken again
 * between two tries (bench/NOTES.md, "The lock's tries, by what the holder
 * does"). */
#define LOCK_SPIN_PAUSES 512
#define LOCK_GAP_MIN 8
#define LOCK_GAP_MAX 64

#ifdef SHMCP_DEBUG
/* the control lock this thread holds (SHMCP_LOCK_HELD), or NULL */
_Thread_local const pthread_mutex_t *shmcp_lock_mine;

void shmcp_lock_missing(const char *fn)
{
	fprintf(stderr, "shmcp: %s needs the control lock, and this thread does not hold it\n",
		fn);
	abort();
}
#define MINE(m) (shmcp_lock_mine = (m))
#else
#define MINE(m) ((void)0)
#endif

/* After a try that returned @rc: if the lock is now ours, count the
 * acquisition (only the holder writes lock_taken) and note it as held. */
static int took(shmcp_sys *sys, int rc)
{
	if (rc == 0 || rc == EOWNERDEAD) {
		_Atomic uint32_t *taken = &sys->hdr->lock_taken;
		atomic_store_explicit(taken, atomic_load_explicit(taken, memory_order_relaxed) + 1,
				      memory_order_relaxed);
		MINE(&sys->hdr->lock);
	}
	return rc;
}

static int lock(shmcp_sys *sys)
{
	pthread_mutex_t *m = &sys->hdr->lock;
	_Atomic uint32_t *taken = &sys->hdr->lock_taken;
	int rc = pthread_mutex_trylock(m);  /* a free lock: nothing else to read */
	if (rc == EBUSY) {
		uint32_t seen = atomic_load_explicit(taken, memory_order_relaxed);
		int gap = LOCK_GAP_MIN;
		for (int spent = 0; rc == EBUSY; spent += gap) {
			if (spent >= LOCK_SPIN_PAUSES || !shmcp_spin_allowed(sys)) {
				rc = pthread_mutex_lock(m);
				break;
			}
			for (int k = 0; k < gap; k++)
				cpu_relax();
			/* a holder seen in the lock word is not tried: a try (a
			 * compare-exchange, even a failing one) takes the line
			 * from the holder, whose own writes to the mutex (its
			 * robust list, the unlock) then wait for it to come back;
			 * a look only shares it.  A dead holder is not seen. */
			rc = shmcp_lock_holder(sys) ? EBUSY : pthread_mutex_trylock(m);
			uint32_t now = atomic_load_explicit(taken, memory_order_relaxed);
			if (rc == EBUSY && now != seen && gap < LOCK_GAP_MAX)
				gap *= 2;
			seen = now;
		}
	}
	return took(sys, rc);
}

/**
 * shmcp_lock - take the control lock.  If its previous holder died inside
 * it (EOWNERDEAD), repair the tables and mark the lock consistent, so a
 * kill -9 at any point leaves nothing stuck.
 * Returns 0 or SHMCP_E_LOCK.
 */
/* After EOWNERDEAD (the lock is ours): repair.  Returns 0 holding the lock,
 * 1 having released it to ring bells (take it again), or an errno. */
static int recover(shmcp_sys *sys)
{
	/* partners of a VM whose LOGOFF is finished here are told at
	 * once: ring every bell after the lock (rare path) */
	struct shmcp_bells bells = { .n = 0, .overflow = 0 };
	repair(sys, &bells);
	int rc = pthread_mutex_consistent(&sys->hdr->lock);
	if (rc == 0 && (bells.n || bells.overflow)) {
		MINE(NULL);
		pthread_mutex_unlock(&sys->hdr->lock);
		shmcp_bells_ring(sys, &bells);
		return 1;
	}
	return rc;
}

int shmcp_lock(shmcp_sys *sys)
{
	int rc = lock(sys);
	if (rc == EOWNERDEAD && (rc = recover(sys)) == 1)
		return shmcp_lock(sys);
	return rc ? SHMCP_E_LOCK : 0;
}

/**
 * shmcp_lock_within - take the control lock as shmcp_lock() does, but give
 * up after @timeout_ns: for the operator's commands, which must not hang
 * behind a holder that was stopped (SIGSTOP) inside it.  Tries at growing
 * intervals up to 1 ms.  Returns 0, SHMCP_E_BUSY or SHMCP_E_LOCK.
 */
int shmcp_lock_within(shmcp_sys *sys, int64_t timeout_ns)
{
	int64_t end = shmcp_now_ns() + timeout_ns;
	long gap = 20000;
	for (;;) {
		int rc = took(sys, pthread_mutex_trylock(&sys->hdr->lock));
		if (rc == EOWNERDEAD && (rc = recover(sys)) == 1)
			continue;
		if (rc != EBUSY)
			return rc ? SHMCP_E_LOCK : 0;
		int64_t left = end - shmcp_now_ns();
		if (left <= 0)
			return SHMCP_E_BUSY;
		struct timespec ts = { 0, left < gap ? left : gap };
		nanosleep(&ts, NULL);
		if (gap < 1000000)
			gap *= 2;
	}
}

void shmcp_unlock(shmcp_sys *sys)
{
	MINE(NULL);
	pthread_mutex_unlock(&sys->hdr->lock);
}

/* Test-only fault injection (shmcp_fault in internal.h): the point
 * SHMCP_FAULT names, and from which time it is reached on it kills. */
int shmcp_faults_armed;
static const char *fault_want;
static size_t fault_len;
static unsigned long fault_nth, fault_seen;

__attribute__((constructor)) static void fault_arm(void)
{
	fault_want = getenv("SHMCP_FAULT");
	if (!fault_want || !*fault_want)
		return;
	const char *at = strchr(fault_want, '@');
	fault_len = at ? (size_t)(at - fault_want) : strlen(fault_want);
	fault_nth = at ? strtoul(at + 1, NULL, 10) : 1;
	shmcp_faults_armed = 1;
}

/**
 * shmcp_fault_at - fault point @point was reached while SHMCP_FAULT is
 * set: if it names @point, the process kills itself with SIGKILL here;
 * "POINT@N" waits for the Nth time the point is reached (e.g. post@2: the
 * SEND after a CONNECT).
 */
void shmcp_fault_at(const char *point)
{
	if (strncmp(fault_want, point, fault_len) == 0 && point[fault_len] == '\0' &&
	    ++fault_seen >= fault_nth)
		raise(SIGKILL);
}
