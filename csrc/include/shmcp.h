/*
 * shmcp.h - the public interface of shmcp's C core.
 *
 * cffi's cdef reads the public headers of csrc/include/ -- this one, then
 * each facility's (shmcp_iucv.h, shmcp_vmcf.h) -- dropping the lines that
 * start with '#' other than integer #defines, so they hold only integer
 * constants, plain structs and prototypes.  Every size, limit, offset and
 * code the Python layer needs is defined in them once and read from `lib`.
 */
#ifndef SHMCP_H
#define SHMCP_H
#include <stdint.h>

/* Layout of the system segment; bump on any change of the layout. */
#define SHMCP_LAYOUT_VERSION 17  /* 2: IUCV and VMCF regions; 3: answer areas; 4: running VMs; 5: IUCV lines apart; 6: lock_taken; 7: pool tags name holders; 8: trace ring; 9: thread doorbell; 10: answer seal; 11: watch bell; 12: futex doorbell counts armings; 13: a MSGBLOK shown holds its message id; 14: a facility word in a record; 15: a VMCF message names its sink's userid; 16: producers keep a head seen; 17: a path keeps its ends' userids */
#define SHMCP_USERID_LEN 8
#define SHMCP_SYSNAME_MAX 48
#define SHMCP_RECORD_LEN 40          /* an IPARML / VMCMHDR image */

/* Facilities: each has its own interrupt queues, doorbell and signal, and
 * its number (SHMCP_IUCV, SHMCP_VMCF) in its own header. */
#define SHMCP_NFAC 2

/* Limits: defaults and the ranges ipl() accepts (IUCV's own: shmcp_iucv.h). */
#define SHMCP_MAX_VMS_DEFAULT 64
#define SHMCP_MAX_VMS_LIMIT 4096
#define SHMCP_QUEUE_DEFAULT 4096      /* records per queue class */
#define SHMCP_QUEUE_MIN 256
#define SHMCP_QUEUE_LIMIT 1048576
#define SHMCP_QUEUE_RESERVE 128       /* slots kept for must-deliver records */
#define SHMCP_STORAGE_DEFAULT 67108864 /* 64 MiB of message storage */
#define SHMCP_STORAGE_MIN 4096
#define SHMCP_STORAGE_LIMIT 68719476736 /* 64 GiB */
#define SHMCP_SPIN_NS_DEFAULT 50000   /* spin before sleeping: 50 us */
#define SHMCP_SPIN_NS_LIMIT 100000000

/* Return codes of the core: 0 ok, negative errors.  shmcp_strerror()
 * gives the text. */
#define SHMCP_OK 0
#define SHMCP_E_CORRUPT -1     /* segment header or table fails a check */
#define SHMCP_E_QFULL -2       /* target's interrupt queue is full */
#define SHMCP_E_NOTLOGGED -3   /* no such VM logged on */
#define SHMCP_E_ALREADY -4     /* userid held by a live process */
#define SHMCP_E_TABLEFULL -5   /* VM table full */
#define SHMCP_E_NOSTORAGE -6   /* storage pool exhausted */
#define SHMCP_E_LOCK -7        /* control lock unusable */
#define SHMCP_E_SYS -8         /* system call failed: see errno */
#define SHMCP_E_DOWN -9        /* the system was shut down */
#define SHMCP_E_BADARG -10     /* argument out of range */
#define SHMCP_E_STALE -11      /* the VM handle was logged off */
#define SHMCP_E_OWNER -12      /* segment belongs to another user */
#define SHMCP_E_VERSION -13    /* segment written by another layout */
#define SHMCP_E_NOTEMPTY -14   /* live VMs still logged on */
#define SHMCP_E_PCSPEC -20     /* program check: specification exception */
#define SHMCP_E_PCOPER -21     /* program check: operation exception */
#define SHMCP_E_NOTFOUND -22   /* no such message (withdrawn interrupt) */
#define SHMCP_E_DIRECTORY -23  /* directory blob fails its checks */
#define SHMCP_E_NOMSGPATH -24  /* *MSG: the target has no path to *MSG */
#define SHMCP_E_MSGQUIESCED -25 /* *MSG: the target quiesced its *MSG path */

/* What shmcp_wait() and shmcp_pop() report. */
#define SHMCP_WAIT_READY 1     /* a record is queued */
#define SHMCP_WAIT_TIMEOUT 0
#define SHMCP_WAIT_INTR 2      /* another signal interrupted the wait */
#define SHMCP_WAIT_DOWN 3      /* the system was shut down / VM forced off */
#define SHMCP_WAIT_PRESENTED 4 /* shmcp_next: its facility presented the interrupt */
#define SHMCP_WAIT_SLICE 5     /* a sleep slice ended (shmcp_wait_slices): wait again */

/* Why a consumer wants its doorbell rung (fq.want bits). */
#define SHMCP_WANT_SLEEPING 1  /* main thread asleep in shmcp_wait's sigtimedwait */
#define SHMCP_WANT_ASYNC 2     /* an unblocked handler waits to be interrupted */
#define SHMCP_WANT_THREAD 256  /* one per thread asleep on the VM's futex doorbell */

/* Slot states in the VM table. */
#define SHMCP_VM_FREE 0
#define SHMCP_VM_ACTIVE 1
#define SHMCP_VM_CLOSING 2

/* Record kinds. */
#define SHMCP_REC_VOID 0       /* filler left by the repair of a dead producer */
#define SHMCP_REC_INTERRUPT 1

struct shmcp_limits {
	uint32_t max_vms;
	uint32_t queue_size;     /* power of two */
	uint64_t storage;        /* bytes; rounded up to a power of two */
	uint64_t spin_ns;
	uint32_t max_conn;       /* IUCV: ceiling of any VM's maxconn (path ids) */
	uint32_t max_msgs;       /* IUCV: message blocks in the system */
};

/* One interrupt as the consumer receives it. */
struct shmcp_record {
	int32_t facility;
	int32_t priority;
	uint32_t ext_len;        /* trailing data (a facility's, e.g. VMCF SENDX) */
	uint32_t presented;      /* shmcp_next had its facility present it */
	uint64_t ext_off;        /* its place in the pool, taken by shmcp_take_ext;
				  * with no trailing data, its facility's own word
				  * (0: none; VMCF names its message there) */
	uint8_t data[40];
};

/* A snapshot of one VM table entry, for queries. */
struct shmcp_vminfo {
	int32_t slot;
	uint32_t state;
	uint32_t gen;
	int32_t pid;
	uint64_t starttime;
	char userid[8];
	uint64_t queued[2];      /* records waiting, per facility */
};

/* Process-local handle on an attached system (opaque to Python). */
struct shmcp_sys;
typedef struct shmcp_sys shmcp_sys;

const char *shmcp_version(void);
const char *shmcp_strerror(int rc);

/* segment.c */
int shmcp_layout_size(const struct shmcp_limits *lim, uint64_t *size);
int shmcp_format(int fd, const struct shmcp_limits *lim, const char *name);
shmcp_sys *shmcp_attach(int fd, const char *name, int *rc);
void shmcp_detach(shmcp_sys *sys);
int shmcp_read_limits(shmcp_sys *sys, struct shmcp_limits *lim);
int shmcp_is_down(shmcp_sys *sys);
int shmcp_mark_down(shmcp_sys *sys);
uint64_t shmcp_lock_repairs(shmcp_sys *sys);
/* For tests that corrupt the segment region by region: where each region
 * starts, in the segment's order (header, trace ring, VM table, IUCV's,
 * VMCF's, rings, tags, pool) and, last, the segment's end (9 words); and
 * where the control lock lies in the header (2 words: offset, length). */
#define SHMCP_NREGIONS 8
int shmcp_regions(shmcp_sys *sys, uint64_t *bounds, uint64_t *lock);

/* vm.c */
int shmcp_logon(shmcp_sys *sys, const char *userid, int32_t pid,
		uint64_t starttime, int32_t *slot, uint32_t *gen);
int shmcp_logoff(shmcp_sys *sys, int32_t slot, uint32_t gen);
int shmcp_find(shmcp_sys *sys, const char *userid, int32_t *slot, uint32_t *gen);
int shmcp_vm_alive(shmcp_sys *sys, int32_t slot, uint32_t gen);
int shmcp_reap(shmcp_sys *sys);
int shmcp_live_count(shmcp_sys *sys);
int shmcp_vminfo(shmcp_sys *sys, int32_t slot, struct shmcp_vminfo *out);
uint64_t shmcp_logoff_count(shmcp_sys *sys);
uint64_t shmcp_proc_starttime(int32_t pid);
int shmcp_proc_alive(int32_t pid, uint64_t starttime);

/* queue.c */
int shmcp_post(shmcp_sys *sys, int32_t slot, uint32_t gen, int facility,
	       int priority, int must, const uint8_t *data,
	       const uint8_t *ext, uint32_t ext_len);
int shmcp_pop(shmcp_sys *sys, int32_t slot, int fmask, struct shmcp_record *out);
int shmcp_pending(shmcp_sys *sys, int32_t slot, int fmask);
int shmcp_take_ext(shmcp_sys *sys, int32_t slot, uint64_t off, uint32_t len,
		   uint8_t *buf);

/* doorbell.c */
int shmcp_bell_clear(shmcp_sys *sys, int32_t slot, int facility);
int shmcp_set_async(shmcp_sys *sys, int32_t slot, int facility, int on);
int shmcp_wait(shmcp_sys *sys, int32_t slot, uint32_t gen, int fmask,
	       int64_t timeout_ns, int64_t spin_ns);
int shmcp_signal_of(int facility);
void shmcp_wait_slices(int64_t slice_ns, int main_returns);

/* leave.c */
int shmcp_leave(shmcp_sys *sys, int32_t slot, uint32_t gen);

/* present.c */
int shmcp_next(shmcp_sys *sys, int32_t slot, uint32_t gen, int fmask, uint32_t present_types,
	       int64_t timeout_ns, int64_t spin_ns, struct shmcp_record *out);

/* pool use, for storage accounting and tests */
uint64_t shmcp_storage_free(shmcp_sys *sys);
uint64_t shmcp_storage_size(shmcp_sys *sys);

/* watchdog.c */
int shmcp_watchdog_start(shmcp_sys *sys, uint32_t interval_ms);
void shmcp_watchdog_stop(shmcp_sys *sys);

/* --- the operator's view: snapshot.c, trace.c --------------------------- */
#define SHMCP_E_BUSY -26              /* the control lock stayed held past a timeout */

/* Path end states (IUCV's path states, per end), as a snapshot shows them. */
#define SHMCP_PATH_OUT_PENDING 1      /* originator: CONNECT done, not accepted */
#define SHMCP_PATH_IN_PENDING 2       /* target: pending connection */
#define SHMCP_PATH_ACTIVE 3
#define SHMCP_PATH_SEVERED 4          /* the partner severed; this end must too */
#define SHMCP_PARTNER_CP -1           /* partner_slot of a path to *MSG */

/* IUCV's three message queues, as a snapshot shows them. */
#define SHMCP_QUEUE_SEND 1            /* the target's: sent, not yet received */
#define SHMCP_QUEUE_RECEIVE 2         /* the target's: received, awaiting REPLY */
#define SHMCP_QUEUE_REPLY 3           /* the source's: complete, awaiting its 06/07 */

/* One VM table entry with its facilities' state. */
struct shmcp_snap_vm {
	int32_t slot;
	uint32_t state;          /* SHMCP_VM_* */
	uint32_t gen;
	int32_t pid;
	uint64_t starttime;
	char userid[8];
	uint64_t queued[2];      /* interrupts waiting, per facility */
	uint64_t posted[2];      /* interrupts queued for it ever, per facility */
	int32_t running;         /* not asleep in a wait */
	int32_t iucv_declared;   /* DECLARE BUFFER done */
	uint32_t maxconn;
	uint32_t npaths;
	int32_t vmcf_authorized;
	uint32_t vmcf_flags;     /* VMCPFLG1 options in effect */
	uint32_t vmcf_lena;
	int32_t vmcf_quiesced;
	char vmcf_partner[8];    /* SPECIFIC userid */
	uint32_t vmcf_active_out, vmcf_active_in;
};

/* One end of an IUCV path, as its VM sees it. */
struct shmcp_snap_path {
	uint32_t index;          /* the path; its two ends share it */
	int32_t slot;            /* this end's VM */
	uint32_t pathid;
	uint32_t state;          /* SHMCP_PATH_* */
	int32_t partner_slot;    /* SHMCP_PARTNER_CP for *MSG */
	char partner[8];
	uint32_t partner_pathid;
	uint32_t msglim;
	uint32_t outstanding;    /* messages this end sent, not yet complete */
	uint32_t quiesced;       /* the partner quiesced it: this end cannot SEND */
	uint32_t priority;       /* priority messages allowed on the path */
	uint32_t flags;          /* this end's options: IPRMDATA, IPPRTY, IPQUSCE */
};

/* One IUCV message on a queue, in queue order. */
struct shmcp_snap_msg {
	int32_t slot;            /* whose queue */
	uint32_t queue;          /* SHMCP_QUEUE_* */
	uint32_t msgid;
	uint32_t pathid;         /* the queue owner's path id */
	uint32_t trgcls;
	uint32_t length;
	uint32_t reply_len;
	uint32_t priority;
	uint32_t oneway;
	uint32_t prmdata;
};

/* One active VMCF message (in its source's table). */
struct shmcp_snap_vmcf_msg {
	uint32_t mid;
	int32_t source, sink;    /* slots */
	uint32_t func;           /* VMCPSEND, VMCPSENR, VMCPSENX */
	uint32_t state;          /* 1 queued, 2 notified, 3 received, 4 done */
	uint32_t priority;
	uint32_t length;
	uint32_t reply_len;
};

/* Storage in use by one owner: 0 CP, slot + 1 a VM (trailing data queued
 * to it), or SHMCP_SNAP_OWNER_MESSAGES + f: the data of facility f's
 * messages (SHMCP_IUCV, SHMCP_VMCF). */
#define SHMCP_SNAP_OWNER_MESSAGES 0x10000   /* + a facility's number */
struct shmcp_snap_owner {
	uint32_t owner;
	uint32_t blocks;
	uint64_t bytes;
};

/* What shmcp_snapshot() fills: the caller gives each array and its
 * capacity; the counts say how many rows there were (more than the
 * capacity: only the first ones copied, call again with more room). */
struct shmcp_snapshot {
	struct shmcp_snap_vm *vm;
	uint32_t vm_cap, nvm;
	struct shmcp_snap_path *path;
	uint32_t path_cap, npath;
	struct shmcp_snap_msg *msg;
	uint32_t msg_cap, nmsg;
	struct shmcp_snap_vmcf_msg *vmcf_msg;
	uint32_t vmcf_msg_cap, nvmcf_msg;
	struct shmcp_snap_owner *owner;
	uint32_t owner_cap, nowner;
	uint64_t storage_size, storage_free, storage_largest;
	uint64_t logoffs, lock_repairs, lock_taken;
	uint64_t iucv_msgids;    /* IUCV message ids given, ever */
	uint64_t vmcf_msgs;      /* VMCF messages sent, ever */
	uint64_t trace_records;  /* interrupts traced, ever */
	uint32_t tracers;
	uint32_t down;
};

int shmcp_snapshot(shmcp_sys *sys, struct shmcp_snapshot *s, int64_t timeout_ns);
int32_t shmcp_lock_holder(shmcp_sys *sys);

/* The trace: while a tracer is attached, each interrupt CP queues is also
 * written to a ring in the segment, in queueing order; tracers read it
 * without the lock and count what they missed when they fall behind. */
#define SHMCP_TRACE_RING 4096         /* records the ring keeps */
#define SHMCP_TRACERS_MAX 8
#define SHMCP_FROM_NONE -1            /* from_slot: not a VM (a command) */
#define SHMCP_FROM_CP -2              /* from_slot: CP's *MSG service */

struct shmcp_trace_rec {
	uint64_t seq;            /* 1, 2, ... in queueing order */
	uint64_t time_ns;        /* CLOCK_REALTIME when queued */
	char to[8];
	char from[8];            /* the path's partner, else the posting VM */
	int32_t to_slot, from_slot;
	int32_t facility, priority;
	uint32_t ext_len;
	uint32_t _pad;
	uint8_t data[40];        /* the interrupt's IPARML / VMCMHDR image */
};

int shmcp_trace_attach(shmcp_sys *sys, int32_t pid, uint64_t starttime, uint64_t *cursor);
int shmcp_trace_detach(shmcp_sys *sys, int tracer);
int shmcp_trace_read(shmcp_sys *sys, uint64_t *cursor, struct shmcp_trace_rec *out,
		     uint32_t max, uint64_t *missed);


#endif
