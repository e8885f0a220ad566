/*
 * shmcp.h - the public interface of shmcp's C core.
 *
 * This is the one header cffi's cdef reads (the build drops the lines that
 * start with '#' other than integer #defines), so it holds only integer
 * constants, plain structs and prototypes.  Every size, limit and code the
 * Python layer needs is defined here once and read from `lib`.
 */
#ifndef SHMCP_H
#define SHMCP_H
#include <stdint.h>

/* Layout of the system segment; bump on any change of the layout. */
#define SHMCP_LAYOUT_VERSION 7   /* 2: IUCV and VMCF regions; 3: answer areas; 4: running VMs; 5: IUCV lines apart; 6: lock_taken; 7: pool tags name holders */
#define SHMCP_USERID_LEN 8
#define SHMCP_SYSNAME_MAX 48
#define SHMCP_RECORD_LEN 40          /* an IPARML / VMCMHDR image */

/* Facilities: each has its own interrupt queues, doorbell and signal. */
#define SHMCP_IUCV 0
#define SHMCP_VMCF 1
#define SHMCP_NFAC 2

/* Limits: defaults and the ranges ipl() accepts. */
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
#define SHMCP_MAX_CONN_DEFAULT 64
#define SHMCP_MAX_CONN_LIMIT 65535
#define SHMCP_MAX_MSGS_DEFAULT 32768
#define SHMCP_MAX_MSGS_LIMIT 16777216

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
#define SHMCP_WAIT_PRESENTED 4 /* shmcp_next: an IUCV message interrupt, presented */

/* Why a consumer wants its doorbell rung (fq.want bits). */
#define SHMCP_WANT_SLEEPING 1  /* asleep in shmcp_wait */
#define SHMCP_WANT_ASYNC 2     /* an unblocked handler waits to be interrupted */

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
	uint32_t ext_len;        /* trailing data (VMCF SENDX, SMSG) */
	uint32_t presented;      /* shmcp_next presented it (IUCV 06-09) */
	uint64_t ext_off;        /* its place in the pool, taken by shmcp_take_ext */
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

/* present.c */
int shmcp_next(shmcp_sys *sys, int32_t slot, uint32_t gen, int fmask, uint32_t present_types,
	       int64_t timeout_ns, int64_t spin_ns, struct shmcp_record *out);

/* pool use, for storage accounting and tests */
uint64_t shmcp_storage_free(shmcp_sys *sys);
uint64_t shmcp_storage_size(shmcp_sys *sys);

/* watchdog.c */
int shmcp_watchdog_start(shmcp_sys *sys, uint32_t interval_ms);
void shmcp_watchdog_stop(shmcp_sys *sys);

/* ---- IUCV (iucv.c, iucv_msg.c) ----------------------------------------
 * The 40-byte IPARML, big-endian, at the offsets of IUCV.md section 3. */
#define SHMCP_IP_PATHID 0      /* 2 */
#define SHMCP_IP_MASK 0        /* 1: SET MASK / SET CONTROL MASK */
#define SHMCP_IP_FLAGS1 2      /* 1 */
#define SHMCP_IP_RCODE 3       /* 1: IPTYPE in interrupts */
#define SHMCP_IP_MSGLIM 4      /* 2 */
#define SHMCP_IP_FCNCD 6       /* 1 */
#define SHMCP_IP_MSGID 4       /* 4 */
#define SHMCP_IP_VMID 8        /* 8 */
#define SHMCP_IP_TRGCLS 8      /* 4 */
#define SHMCP_IP_AUDIT 8       /* 2 used (VM/SP) */
#define SHMCP_IP_BFADR1 12     /* 4 */
#define SHMCP_IP_RMMSG 12      /* 8: parameter-list data */
#define SHMCP_IP_BFLN1F 16     /* 4 */
#define SHMCP_IP_USER 16       /* 16: pgm (8) + user (8) */
#define SHMCP_IP_SRCCLS 20     /* 4 */
#define SHMCP_IP_MSGTAG 24     /* 4 */
#define SHMCP_IP_BFADR2 28     /* 4 */
#define SHMCP_IP_BFLN2F 32     /* 4 */

/* function codes (register 0) */
#define SHMCP_IUCV_QUERY 0
#define SHMCP_IUCV_TESTMSG 1
#define SHMCP_IUCV_RTRVBFR 2
#define SHMCP_IUCV_DESCRIBE 3
#define SHMCP_IUCV_SEND 4
#define SHMCP_IUCV_RECEIVE 5
#define SHMCP_IUCV_REPLY 6
#define SHMCP_IUCV_TESTCMPL 7
#define SHMCP_IUCV_REJECT 8
#define SHMCP_IUCV_PURGE 9
#define SHMCP_IUCV_ACCEPT 10
#define SHMCP_IUCV_CONNECT 11
#define SHMCP_IUCV_DCLBFR 12
#define SHMCP_IUCV_QUIESCE 13
#define SHMCP_IUCV_RESUME 14
#define SHMCP_IUCV_SEVER 15
#define SHMCP_IUCV_SETMASK 16
#define SHMCP_IUCV_SETCMASK 17

/* IPFLAGS1 */
#define SHMCP_IPRMDATA 128
#define SHMCP_IPALL 128
#define SHMCP_IPQUSCE 64
#define SHMCP_IPBUFLST 64
#define SHMCP_IPPRTY 32
#define SHMCP_IPNORPY 16
#define SHMCP_IPANSLST 8
#define SHMCP_IPFGMID 4
#define SHMCP_IPFGPID 2
#define SHMCP_IPFGMCL 1

/* interrupt types (IPTYPE) */
#define SHMCP_IPTYPE_PENDING_CONNECTION 1
#define SHMCP_IPTYPE_CONNECTION_COMPLETE 2
#define SHMCP_IPTYPE_PATH_SEVERED 3
#define SHMCP_IPTYPE_PATH_QUIESCED 4
#define SHMCP_IPTYPE_PATH_RESUMED 5
#define SHMCP_IPTYPE_PRIORITY_MESSAGE_COMPLETE 6
#define SHMCP_IPTYPE_NONPRIORITY_MESSAGE_COMPLETE 7
#define SHMCP_IPTYPE_PRIORITY_MESSAGE_PENDING 8
#define SHMCP_IPTYPE_NONPRIORITY_MESSAGE_PENDING 9

/* IPRCODEs (IUCV.md section 6) */
#define SHMCP_IPRC_INVALID_PATHID 1
#define SHMCP_IPRC_QUIESCED 2
#define SHMCP_IPRC_MSGLIM_EXCEEDED 3
#define SHMCP_IPRC_PRIORITY_NOT_ALLOWED 4
#define SHMCP_IPRC_BUFFER_TOO_SHORT 5
#define SHMCP_IPRC_NEGATIVE_LENGTH 10
#define SHMCP_IPRC_MSGID_MISMATCH 8
#define SHMCP_IPRC_NOT_LOGGED_ON 11
#define SHMCP_IPRC_NOT_DECLARED 12
#define SHMCP_IPRC_MAXCONN_SELF 13
#define SHMCP_IPRC_MAXCONN_TARGET 14
#define SHMCP_IPRC_NOT_AUTHORIZED 15
#define SHMCP_IPRC_INVALID_SERVICE 16
#define SHMCP_IPRC_INVALID_FCNCD 17
#define SHMCP_IPRC_MSGLIM_TOO_BIG 18
#define SHMCP_IPRC_ALREADY_DECLARED 19
#define SHMCP_IPRC_ORIGINATOR_SEVERED 20
#define SHMCP_IPRC_PRMDATA_NOT_ALLOWED 21

/* IPAUDIT (high halfword) */
#define SHMCP_IPADRPLE 32768
#define SHMCP_IPADSNPX 16384
#define SHMCP_IPADSNAX 8192
#define SHMCP_IPADANPX 4096
#define SHMCP_IPADANAX 2048
#define SHMCP_IPADRJCT 1024
#define SHMCP_IPADPRMD 512
#define SHMCP_IPADRCPX 128
#define SHMCP_IPADRCAX 64
#define SHMCP_IPADRPPX 32
#define SHMCP_IPADRPAX 16
#define SHMCP_IPADSVRD 8

/* SET MASK, SET CONTROL MASK */
#define SHMCP_IPSNDN 128
#define SHMCP_IPSNDP 64
#define SHMCP_IPRPYN 32
#define SHMCP_IPRPYP 16
#define SHMCP_IPCTRL 8
#define SHMCP_IPCLPC 128
#define SHMCP_IPCLCC 64
#define SHMCP_IPCLPS 32
#define SHMCP_IPCLPQ 16
#define SHMCP_IPCLPR 8
#define SHMCP_IUCV_MASK_DEFAULT 248

#define SHMCP_IUCV_BUFFER_SIZE 40   /* QUERY register 0 */
#define SHMCP_MSGLIM_MAX 255
#define SHMCP_MSGLIM_DEFAULT 10
#define SHMCP_MAXCONN_DEFAULT 64
#define SHMCP_DIR_MSGLIMIT_DEFAULT 255

/* the directory as the core keeps it (built by shmcp/directory.py) */
#define SHMCP_DIR_ANY 1        /* IUCV ANY */
#define SHMCP_DIR_ALLOW 2      /* IUCV ALLOW */
#define SHMCP_DIR_PRIORITY 4   /* priority messages permitted */
#define SHMCP_DIR_DEFAULT 8    /* the entry for userids not listed */
struct shmcp_dir_entry {
	char userid[8];
	uint16_t flags;
	uint16_t msglimit;
	uint16_t maxconn;
	uint16_t ntargets;
	uint32_t first_target;   /* index into the target names */
};

int shmcp_iucv_set_directory(shmcp_sys *sys, const struct shmcp_dir_entry *entries,
			     uint32_t nentries, const char *targets, uint32_t ntargets);
int shmcp_iucv_call(shmcp_sys *sys, int32_t slot, uint32_t gen, int func,
		    uint8_t *plist, const uint8_t *in, uint8_t *out);
int shmcp_iucv_present(shmcp_sys *sys, int32_t slot, uint32_t gen, const uint8_t *rec);
int shmcp_iucv_take_reply(shmcp_sys *sys, int32_t slot, uint32_t gen, const uint8_t *rec);
int shmcp_iucv_maxconn(shmcp_sys *sys, int32_t slot, uint32_t gen);
int shmcp_iucv_waiting(shmcp_sys *sys, int32_t slot, uint32_t gen);
/* --- VMCF (VMCF.md): DIAGNOSE X'68', external interrupt X'4001' --------- */
#define SHMCP_VMCF_PARM_LEN 40        /* VMCPARM */
#define SHMCP_VMCF_HDR_LEN 40         /* VMCMHDR, data follows at +40 */
#define SHMCP_VMCF_MSG_LIMIT 50       /* active messages per source */
#define SHMCP_VMCF_TAG_LEN 24         /* core's tag before an interrupt's data */
#define SHMCP_VMCF_TAG_MAGIC 1447904070 /* its first word, native order: "VMCF" */
/* VMCPFUNC subfunction codes */
#define SHMCP_VMCPAUTH 0
#define SHMCP_VMCPUAUT 1
#define SHMCP_VMCPSEND 2
#define SHMCP_VMCPSENR 3
#define SHMCP_VMCPSENX 4
#define SHMCP_VMCPRECV 5
#define SHMCP_VMCPCANC 6
#define SHMCP_VMCPREPL 7
#define SHMCP_VMCPQUIE 8
#define SHMCP_VMCPRESM 9
#define SHMCP_VMCPIDEN 10
#define SHMCP_VMCPRJCT 11
/* VMCPFLG1 bits */
#define SHMCP_VMCPAUTS 128
#define SHMCP_VMCPPRTY 64
#define SHMCP_VMCPSMSG 32
/* VMCMSTAT bits */
#define SHMCP_VMCMRESP 128
#define SHMCP_VMCMRJCT 64
#define SHMCP_VMCMPRTY 32
/* DIAGNOSE X'68' return codes; data transfer error codes (VMCMEFLG) use
 * the same numbers */
#define SHMCP_VMCF_RC_OK 0
#define SHMCP_VMCF_RC_INVALID_ADDRESS 1
#define SHMCP_VMCF_RC_INVALID_SUBFUNCTION 2
#define SHMCP_VMCF_RC_PROTOCOL_VIOLATION 3
#define SHMCP_VMCF_RC_NOT_AUTHORIZED 4
#define SHMCP_VMCF_RC_USER_NOT_AVAILABLE 5
#define SHMCP_VMCF_RC_PROTECTION 6
#define SHMCP_VMCF_RC_SENDX_TOO_LARGE 7
#define SHMCP_VMCF_RC_DUPLICATE_MESSAGE 8
#define SHMCP_VMCF_RC_QUIESCED 9
#define SHMCP_VMCF_RC_MESSAGE_LIMIT 10
#define SHMCP_VMCF_RC_REPLY_CANCELED 11
#define SHMCP_VMCF_RC_MESSAGE_NOT_FOUND 12
#define SHMCP_VMCF_RC_SYNC_ERROR 13
#define SHMCP_VMCF_RC_CANCEL_TOO_LATE 14
#define SHMCP_VMCF_RC_PAGING_ERROR 15
#define SHMCP_VMCF_RC_INCORRECT_LENGTH 16
#define SHMCP_VMCF_RC_DESTRUCTIVE_OVERLAP 17
#define SHMCP_VMCF_RC_PRIORITY_NOT_AUTHORIZED 18
#define SHMCP_VMCF_RC_REPLY_FAILED 19
#define SHMCP_VMCF_RC_CANCEL_TRANSIENT 20
/* The special message facility */
#define SHMCP_VMCF_SMSG_TEXT_MAX 129
#define SHMCP_VMCF_SMSG_BUFFER 169
/* What shmcp_vmcf_present() decides for a taken VMCF record */
#define SHMCP_VMCF_DROP 0             /* withdrawn meanwhile: not presented */
#define SHMCP_VMCF_PRESENT 1
#define SHMCP_VMCF_FOREIGN 2          /* not a VMCF interrupt: shown as is */

/* One VM's VMCF status, for queries and tests. */
struct shmcp_vmcf_info {
	int32_t authorized;
	uint32_t flags;          /* VMCPFLG1 options in effect */
	uint32_t lena;           /* external interrupt buffer length */
	int32_t quiesced;
	char partner[8];         /* SPECIFIC userid */
	uint32_t active_out;     /* active messages this VM originated */
	uint32_t active_in;      /* active messages addressed to it */
};

/* vmcf.c */
int shmcp_vmcf_diag68(shmcp_sys *sys, int32_t slot, uint32_t gen,
		      const uint8_t *parm, uint8_t *data, uint64_t reply_addr);
int shmcp_vmcf_present(shmcp_sys *sys, int32_t slot, uint32_t gen,
		       const uint8_t *ext, uint32_t ext_len,
		       uint8_t *reply_buf, uint32_t reply_len);
int shmcp_vmcf_smsg(shmcp_sys *sys, const char *target, const char *issuer,
		    const uint8_t *text, uint32_t len);
int shmcp_vmcf_info(shmcp_sys *sys, int32_t slot, struct shmcp_vmcf_info *out);

/* --- the *MSG CP system service (IUCV.md section 13; msg.c) ------------
 * A VM CONNECTs to *MSG; CP then sends it one-way IUCV messages whose
 * target class says what kind of message it is and whose text starts
 * with the sender's 8-byte userid. */
#define SHMCP_MSG_CLASS_MSG 1         /* MESSAGE / MSGNOH */
#define SHMCP_MSG_CLASS_WNG 2         /* WARNING */
#define SHMCP_MSG_CLASS_SMSG 4        /* SMSG */
#define SHMCP_MSG_CLASS_MAX 8         /* classes are 1-8 */
#define SHMCP_MSG_TEXT_MAX 129        /* text after the userid, as SMSG's */
int shmcp_msg_deliver(shmcp_sys *sys, const char *from_userid8, const char *to_userid8,
		      uint32_t msgclass, const uint8_t *text, uint32_t len);

#endif
