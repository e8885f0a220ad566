/*
 * internal.h - the system segment's layout and the helpers the core's C
 * files share.  Not read by cffi.
 *
 * The segment (CP's storage), in order, every region 4 KiB aligned:
 *
 *   header   magic, layout version, limits, region offsets, the control
 *            lock, counters, pool bookkeeping
 *   trace    the trace ring (trace.c), a fixed size
 *   vm table max_vms entries: state, userid, process identity, and per
 *            facility the doorbell words and two ring headers
 *   regions  one per facility, by number (IUCV's, VMCF's), of the size it
 *            asks (core/facility.h)
 *   rings    max_vms x NFAC x 2 classes x queue_size slots of 64 bytes
 *   tags     the pool's block tags (pool.h)
 *   pool     message storage
 *
 * Nothing in it is a pointer; every offset and index read from it is
 * checked against the layout recomputed from the limits.
 */
#ifndef SHMCP_INTERNAL_H
#define SHMCP_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "../include/shmcp.h"
#include "pool.h"
#include "prefetch.h"

#define SHMCP_MAGIC 0x53595350434d4853ULL   /* "SHMCPSYS" little-endian */
#define SHMCP_ALIGN 4096
#define SHMCP_CACHELINE 64
#define SHMCP_PRIO 0            /* ring class index: priority first */
#define SHMCP_NORMAL 1

#define SHMCP_STATE_UP 1
#define SHMCP_STATE_DOWN 2

/* A queue slot: Vyukov's bounded queue, one sequence word per slot. */
struct shmcp_slot {
	_Atomic uint64_t seq;
	uint8_t kind;
	uint8_t _pad[3];
	uint32_t ext_len;
	uint64_t ext_off;
	uint8_t data[SHMCP_RECORD_LEN];
};
_Static_assert(sizeof(struct shmcp_slot) == 64, "slot is one cache line");

/* Ring header: producers' ticket counter and the consumer's on their own
 * cache lines.  head_seen, beside the tail, is a head the producers read
 * earlier (written under the control lock): the ring holds at most
 * tail - head_seen records, so a producer reads the consumer's line only
 * when that bound leaves too little room. */
struct shmcp_ring {
	_Alignas(SHMCP_CACHELINE) _Atomic uint64_t tail;
	_Atomic uint64_t head_seen;
	_Alignas(SHMCP_CACHELINE) _Atomic uint64_t head;
};

/* Per-facility interrupt queue of one VM. */
struct shmcp_fq {
	_Alignas(SHMCP_CACHELINE) _Atomic uint32_t want; /* SHMCP_WANT_*: ring the bell */
	_Atomic uint32_t bell;   /* a doorbell signal is in flight */
	_Atomic uint64_t seq;    /* records posted, ever */
	struct shmcp_ring ring[2];
};

struct shmcp_vm {
	_Atomic uint32_t state;  /* SHMCP_VM_* */
	uint32_t gen;            /* bumped at each logon of the slot */
	char userid[SHMCP_USERID_LEN];
	int32_t pid;
	uint32_t hooked_gen;     /* logon whose logoff hook has completed */
	uint64_t starttime;      /* /proc/PID/stat field 22: pid + this = identity */
	/* the futex doorbell of the VM's handler-free sleepers (doorbell.c):
	 * bit 0 rung since the last arming, the bits above count armings */
	_Atomic uint32_t thread_bell;
	struct shmcp_fq fq[SHMCP_NFAC];
};

/* The trace ring (trace.c): written under the control lock, one record
 * per interrupt queued while trace_on; read by tracers without it. */
struct shmcp_trace_slot {
	_Atomic uint64_t seq;    /* the record's seq once whole; 0 while written */
	struct shmcp_trace_rec rec;
};
struct shmcp_tracer {
	int32_t pid;             /* 0: free */
	uint32_t _pad;
	uint64_t starttime;
};
struct shmcp_trace {
	_Alignas(SHMCP_CACHELINE) _Atomic uint64_t head;  /* records written, ever */
	struct shmcp_tracer tracer[SHMCP_TRACERS_MAX];
	_Alignas(SHMCP_CACHELINE) struct shmcp_trace_slot slot[SHMCP_TRACE_RING];
};

struct shmcp_header {
	uint64_t magic;
	uint32_t layout_version;
	uint32_t header_size;
	uint64_t total_size;
	uint32_t owner_uid;
	_Atomic uint32_t state;  /* SHMCP_STATE_* */
	/* tracers attached (trace.c): beside `state`, on a line every wait
	 * reads and only shutdown and a tracer's coming or going write */
	_Atomic uint32_t trace_on;
	char name[SHMCP_SYSNAME_MAX];
	struct shmcp_limits limits;
	uint64_t vm_off, region_off[SHMCP_NFAC], ring_off, tag_off, pool_off;
	_Atomic uint64_t logoffs;      /* logoff hooks run, ever */
	_Atomic uint64_t lock_repairs; /* EOWNERDEAD recoveries */
	/* the watchdogs' bell (watchdog.c): a futex word, bumped and woken
	 * at every LOGON so each watchdog pins the new VM's process at once */
	_Atomic uint32_t watch_bell;
	struct shmcp_pool_hdr pool;
	_Alignas(SHMCP_CACHELINE) pthread_mutex_t lock;
	/* acquisitions of the lock, ever (wrapping): on the lock's own line,
	 * written by each holder, read by a waiter between its tries */
	_Atomic uint32_t lock_taken;
	/* the spin policy's view of demand for the cores: bit @slot set while
	 * VM @slot is running (not asleep in shmcp_wait) or was just woken by
	 * a doorbell.  One bit per VM, set and cleared by one atomic each, so
	 * nothing can be left half-counted; LOGOFF clears it (doorbell.c) */
	_Alignas(SHMCP_CACHELINE) _Atomic uint64_t running[SHMCP_MAX_VMS_LIMIT / 64];
};

/* The trace ring's region: right after the header, before the VM table. */
#define SHMCP_TRACE_OFF (((sizeof(struct shmcp_header) + SHMCP_ALIGN - 1) / SHMCP_ALIGN) * SHMCP_ALIGN)
#define SHMCP_TRACE_END (SHMCP_TRACE_OFF + ((sizeof(struct shmcp_trace) + SHMCP_ALIGN - 1) / SHMCP_ALIGN) * SHMCP_ALIGN)

/* The process-local handle. */
struct shmcp_sys {
	uint8_t *base;
	uint64_t size;
	struct shmcp_header *hdr;
	struct shmcp_vm *vms;
	struct shmcp_slot *slots;
	struct shmcp_pool pool;
	uint8_t *region[SHMCP_NFAC];  /* the facilities' regions, by number */
	uint32_t max_vms, qsize;
	/* the limits as attach checked them: every table's bounds come from
	 * this copy, never from the header a stray write could change */
	struct shmcp_limits lim;
	/* random, drawn at attach: an address this process keeps in the
	 * segment (an IUCV answer area) is stored beside itself ^ seal, and
	 * used only while the two agree */
	uint64_t seal;
	/* pidfd cache, by slot: valid while pidfd_gen matches the slot's gen */
	int *pidfd;
	uint32_t *pidfd_gen;
	pthread_mutex_t cache_lock;
	/* the VM's own process takes records off its rings (the single
	 * consumer) one thread at a time: wait() in one thread, RECEIVE's
	 * dropping of withdrawn records in another (shmcp_drop_withdrawn).  A
	 * spin flag, not a mutex: its release is a plain store, and a mutex's
	 * locked release after the ring's stores cost ~0.2 us per message */
	atomic_int consuming;
	/* set by shmcp_leave: this process is letting go of the handle, so
	 * every wait on it ends (SHMCP_WAIT_DOWN) and none sleeps again */
	atomic_int leaving;
	/* watchdog thread */
	pthread_t watchdog;
	int watchdog_on;
	_Atomic int watchdog_stop;
	uint32_t watchdog_ms;
	/* its listener, asleep on watch_bell, and the eventfd by which it
	 * wakes the watchdog's poll(); open exactly while the listener runs
	 * (-1: none, the watchdog looks every 50 ms) */
	pthread_t listener;
	int watch_kick;
	char name[SHMCP_SYSNAME_MAX];
};

struct shmcp_layout {
	uint64_t vm_off, region_off[SHMCP_NFAC], ring_off, tag_off, pool_off, total, pool_size;
};

/* Doorbells to ring once the control lock is released (kill() costs ~20 us:
 * never under the lock).  A facility function collects them while it
 * queues interrupts and rings them after shmcp_unlock(). */
#define SHMCP_BELLS_MAX 16
struct shmcp_bells {
	int n;
	int overflow;            /* more than fit: ring every VM's bell */
	struct { int32_t slot; uint32_t gen; int f; } b[SHMCP_BELLS_MAX];
};

/* segment.c */
int shmcp_compute_layout(const struct shmcp_limits *lim, struct shmcp_layout *out);
int shmcp_lock(shmcp_sys *sys);
void shmcp_unlock(shmcp_sys *sys);
/* shmcp_fault(point): a named fault point.  The tests' SHMCP_FAULT
 * ("POINT" or "POINT@N") makes the process kill itself there; otherwise it
 * costs one load and a branch never taken (shmcp_faults_armed is set once,
 * when the library is loaded, only if the variable is). */
extern int shmcp_faults_armed;
void shmcp_fault_at(const char *point);
#define shmcp_fault(point)                                    \
	do {                                                  \
		if (__builtin_expect(shmcp_faults_armed, 0))  \
			shmcp_fault_at(point);                \
	} while (0)

/* SHMCP_LOCK_HELD(sys): a function that must run with the control lock
 * held says so with this.  The debug build (-DSHMCP_DEBUG: the sanitizer
 * tests') checks that this thread holds it and aborts, naming the
 * function, if not; the release build compiles it to nothing. */
#ifdef SHMCP_DEBUG
extern _Thread_local const pthread_mutex_t *shmcp_lock_mine;  /* segment.c */
void shmcp_lock_missing(const char *fn);
#define SHMCP_LOCK_HELD(sys)                                  \
	do {                                                  \
		if (shmcp_lock_mine != &(sys)->hdr->lock)     \
			shmcp_lock_missing(__func__);         \
	} while (0)
#else
#define SHMCP_LOCK_HELD(sys) ((void)0)
#endif

/* ring access: the slots of ring @cls of facility @f of VM @slot */
/* CLOCK_MONOTONIC in nanoseconds: deadlines of waits */
static inline int64_t shmcp_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static inline struct shmcp_trace *shmcp_trace_of(shmcp_sys *sys)
{
	return (struct shmcp_trace *)(sys->base + SHMCP_TRACE_OFF);
}

static inline struct shmcp_slot *shmcp_ring_slots(shmcp_sys *sys, int32_t slot,
						  int f, int cls)
{
	size_t idx = ((size_t)slot * SHMCP_NFAC + (size_t)f) * 2 + (size_t)cls;
	return sys->slots + idx * sys->qsize;
}

/* queue.c */
int shmcp_queue_locked(shmcp_sys *sys, int32_t slot, int f, int priority, int must,
		       const uint8_t *data, const uint8_t *ext, uint32_t ext_len,
		       struct shmcp_bells *bells);
int shmcp_queue_word(shmcp_sys *sys, int32_t slot, int f, int priority, int must,
		     const uint8_t *data, uint64_t word, struct shmcp_bells *bells);
void shmcp_bells_ring(shmcp_sys *sys, struct shmcp_bells *bells);
int shmcp_ring_push(shmcp_sys *sys, int32_t slot, int f, int cls,
		    const uint8_t *data, uint32_t ext_len, uint64_t ext_off);
void shmcp_ring_repair(shmcp_sys *sys);
void shmcp_queue_drain(shmcp_sys *sys, int32_t slot);
void shmcp_drop_withdrawn(shmcp_sys *sys, int32_t slot, uint32_t gen, int f);
int shmcp_queue_find(shmcp_sys *sys, int32_t slot, int f,
		     int (*match)(shmcp_sys *sys, const struct shmcp_record *rec, const void *ctx),
		     const void *ctx);
void shmcp_queue_purge(shmcp_sys *sys, int32_t slot, int f,
		       int (*stale)(shmcp_sys *sys, int32_t slot, const struct shmcp_record *rec));

/* vm.c */
int shmcp_slot_ok(shmcp_sys *sys, int32_t slot);

/* logoff.c */
void shmcp_logoff_hook(shmcp_sys *sys, int32_t slot, struct shmcp_bells *bells);

/* storage.c: whether a pool block's holder names it, for the lock's repair
 * (shmcp_pool_sweep; @ctx is the shmcp_sys).  The facilities answer for
 * their messages and CP's blocks (core/facility.h holds); lock held. */
int shmcp_storage_held(void *ctx, uint64_t off, uint16_t owner);

/* doorbell.c */
void shmcp_ring_bell(shmcp_sys *sys, int32_t slot, uint32_t gen, int f);
void shmcp_pidfd_forget(shmcp_sys *sys, int32_t slot);
void shmcp_watch_ring(shmcp_sys *sys);
void shmcp_running_set(shmcp_sys *sys, int32_t slot, int on);
int shmcp_running_at_least(shmcp_sys *sys, int n);
int shmcp_spin_allowed(shmcp_sys *sys);

/* segment.c: the control lock, waiting at most @timeout_ns (SHMCP_E_BUSY) */
int shmcp_lock_within(shmcp_sys *sys, int64_t timeout_ns);

/* trace.c: the tracers alive (lock held; nothing changed), and the dead
 * ones forgotten (takes the lock if one is found: 0 or SHMCP_E_LOCK) */
uint32_t shmcp_trace_live(shmcp_sys *sys);
int shmcp_trace_reap(shmcp_sys *sys);

/* trace.c: note one interrupt just queued (lock held, trace_on set) */
void shmcp_trace_note(shmcp_sys *sys, int32_t slot, int f, int priority,
		      const uint8_t *data, uint32_t ext_len);

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield");
#endif
}

#endif
