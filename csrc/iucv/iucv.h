/*
 * iucv.h - the IUCV facility's tables in the system segment (internal).
 *
 * Region layout (all indexes, never pointers; index 0 means "none", so a
 * zero-filled region is empty):
 *
 *   struct shmcp_iucv_hdr
 *   struct shmcp_iucv_vm      [max_vms]           declared?, queues
 *   uint32_t pathmap          [max_vms][max_conn] path id -> path end
 *   struct shmcp_path         [npaths]            both ends of a path
 *   struct shmcp_msgblok      [max_msgs]          MSGBLOKs
 *
 * Everything here is read and written with the control lock held.
 */
#ifndef SHMCP_IUCV_H
#define SHMCP_IUCV_H

#include "../core/facility.h"
#include "../core/image.h"
#include "../include/shmcp_iucv.h"

/* path end states, one per end (shmcp.h's SHMCP_PATH_* show them) */
#define END_NONE 0
#define END_OUT_PENDING 1     /* originator, CONNECT done, not accepted */
#define END_IN_PENDING 2      /* target, pending connection */
#define END_ACTIVE 3
#define END_PARTNER_SEVERED 4 /* partner severed; this end must too */

/* The *MSG service's end of a path is CP's: slot CP_SLOT, no path id in
 * any map, never an interrupt to it (msg.c, docs/decisions.md). */
#define CP_SLOT (-1)
#define MSG_SERVICE "*MSG    "

/* message queues */
#define Q_NONE 0
#define Q_SEND 1              /* target's send queue */
#define Q_RECV 2              /* target's receive queue */
#define Q_REPLY 3             /* source's reply queue */

/* A message queue: msgblok index + 1 of its ends.  Its head and tail on
 * lines of their own: a SEND appends to the target's send queue while the
 * target's RECEIVE takes from its head, and the other way round for the
 * source's reply queue. */
struct shmcp_qhead {
	_Alignas(SHMCP_CACHELINE) uint32_t head;
	_Alignas(SHMCP_CACHELINE) uint32_t tail;
};

struct shmcp_iucv_hdr {
	uint32_t msgid;       /* last message id assigned */
	uint32_t free_msgs;   /* free list of MSGBLOKs: index + 1 */
	uint32_t msgs_used;   /* high-water mark: blocks above are untouched */
	uint32_t paths_used;
	uint32_t free_paths;
	uint32_t dir_n, dir_ntargets;
	uint32_t _pad;
	uint64_t dir_off;     /* directory entries + names in the pool */
};

/* A VM's IUCV state: what each of its calls reads on a line of its own,
 * apart from its queues, which its partners' SENDs and RECEIVEs write. */
struct shmcp_iucv_vm {
	_Alignas(SHMCP_CACHELINE) uint32_t declared_gen;  /* logon that did DECLARE BUFFER, or 0 */
	uint16_t maxconn;       /* from the directory at DECLARE BUFFER */
	uint16_t npaths;        /* path ids in use */
	struct shmcp_qhead q[4];  /* by Q_SEND, Q_RECV, Q_REPLY */
};

struct shmcp_path_end {
	int32_t slot;
	uint32_t gen;
	uint16_t pathid;
	uint8_t state;          /* END_* */
	uint8_t flags;          /* options at CONNECT/ACCEPT: IPRMDATA, IPPRTY, IPQUSCE */
	uint8_t quiesced;       /* the partner quiesced this end: no SEND */
	uint8_t _pad;
	uint16_t sever_sent;    /* PARTNER_SEVERED: its type 03 is queued (repair) */
	uint16_t msglim_asked;  /* the limit this end asked for (0 = default) */
	uint16_t dir_msglimit;  /* its directory ceiling */
	uint8_t dir_priority;   /* its directory permits priority */
	uint8_t _pad2[3];
};

struct shmcp_path {
	uint32_t in_use;
	uint32_t next_free;     /* free list: index + 1 */
	uint16_t msglim;        /* in force, after ACCEPT */
	uint8_t priority;       /* priority messages allowed */
	uint8_t _pad[5];
	struct shmcp_path_end e[2];  /* 0: originator, 1: target */
	/* messages each end sent, not yet destroyed: written by a source at
	 * every SEND and completion, so on a line of its own -- the rest of
	 * the path is read by the target's every RECEIVE */
	_Alignas(SHMCP_CACHELINE) uint16_t outstanding[2];
	/* each end's userid at CONNECT, for the operator's view: a partner
	 * gone keeps its name after its slot is someone else's (read there
	 * only, written once: no cost to the line's writers) */
	char userid[2][8];
};

struct shmcp_msgblok {
	_Alignas(SHMCP_CACHELINE) uint32_t in_use;
	uint32_t msgid;
	uint32_t path;          /* index + 1 */
	uint8_t src;            /* which end of the path sent it */
	uint8_t q;              /* Q_* */
	uint8_t flags;          /* IPNORPY, IPPRTY, IPRMDATA of the message */
	uint8_t rflags;         /* IPRMDATA, IPPRTY of the reply; done marks */
	int32_t qslot;          /* VM whose queue holds it */
	uint32_t next, prev;    /* queue links: index + 1 */
	uint32_t trgcls, srccls, msgtag;
	uint16_t audit;
	uint8_t cprio;          /* completion is priority (06) */
	uint8_t partial;        /* partly received */
	uint8_t prm[8];         /* parameter-list data */
	uint8_t rprm[8];        /* parameter-list reply */
	uint64_t data_off;      /* staged message data in the pool */
	uint32_t data_len, received;
	uint32_t ans_len;       /* size of the source's answer area */
	uint32_t residual;      /* answer residual, for completion */
	uint64_t reply_off;     /* staged reply in the pool */
	uint32_t reply_len;
	uint32_t shown;         /* its pending-message interrupt was presented: the
				 * message id then (set without the lock, msg_shown) */
	uint64_t answer;        /* the answer area: an address in the source VM's own
				 * process, written only there (shmcp_iucv_take_reply) */
	uint64_t answer_seal;   /* answer ^ that process's sys->seal: a corrupt
				 * address is never written to */
	uint8_t completing;     /* complete() has it in hand (the lock's repair) */
};

#define NO_OFF UINT64_MAX
#define HINT_OFF 36       /* reserved word of 06-09 images: the MSGBLOK index + 1 */

struct shmcp_iucv {
	struct shmcp_iucv_hdr *hdr;
	struct shmcp_iucv_vm *vm;
	uint32_t *pathmap;
	struct shmcp_path *path;
	struct shmcp_msgblok *msg;
	uint32_t max_vms, max_conn, npaths, nmsgs;
	/* this call took a message off a queue with its interrupt unpresented:
	 * the caller's withdrawn interrupts are dropped before the unlock */
	int unshown;
};

/* A path end's slot, read from the segment, is CP's or a VM table index:
 * every user of a path follows both ends' slots. */
static inline int end_slot_ok(const struct shmcp_iucv *t, int32_t slot)
{
	return slot == CP_SLOT || (slot >= 0 && (uint32_t)slot < t->max_vms);
}

/* region.c: the bottom of IUCV, using no other IUCV file */
uint64_t shmcp_iucv_region_size(const struct shmcp_limits *lim);
void shmcp_iucv_tables(shmcp_sys *sys, struct shmcp_iucv *t);
struct shmcp_path *shmcp_iucv_path_of(struct shmcp_iucv *t, int32_t slot, uint16_t pathid,
				      int *end);

/* iucv.c: uses region.c and iucv_msg.c */
extern const struct shmcp_facility shmcp_iucv_facility;

/* view.c: the operator's view of IUCV (facility hooks; lock held) */
void shmcp_iucv_snap(shmcp_sys *sys, struct shmcp_snapshot *s);
int32_t shmcp_iucv_origin(shmcp_sys *sys, int32_t slot, const uint8_t *rec, char from[8]);
int shmcp_iucv_holds_directory(shmcp_sys *sys, uint64_t off);
void shmcp_iucv_logoff(shmcp_sys *sys, int32_t slot, struct shmcp_bells *bells);
int shmcp_iucv_declared(shmcp_sys *sys, struct shmcp_iucv *t, int32_t slot, uint32_t gen);
void shmcp_iucv_put_user(uint8_t *rec, const uint8_t *user);
int shmcp_iucv_connection(shmcp_sys *sys, struct shmcp_iucv *t, int32_t slot, int func,
			  uint8_t *pl, struct shmcp_bells *bells);
void shmcp_iucv_sever_end(shmcp_sys *sys, struct shmcp_iucv *t, struct shmcp_path *p, int end,
			  const uint8_t *user, struct shmcp_bells *bells);
struct shmcp_path *shmcp_iucv_msg_path(struct shmcp_iucv *t, int32_t slot, int *end);

/* iucv_msg.c: uses region.c only */
int shmcp_iucv_message(shmcp_sys *sys, struct shmcp_iucv *t, int32_t slot, int func,
		       uint8_t *pl, const uint8_t *in, uint8_t *out, struct shmcp_bells *bells);
void shmcp_iucv_sever_messages(shmcp_sys *sys, struct shmcp_iucv *t, struct shmcp_path *p,
			       int end, struct shmcp_bells *bells);
int shmcp_iucv_cp_send(shmcp_sys *sys, struct shmcp_iucv *t, struct shmcp_path *p, int vmend,
		       uint32_t trgcls, const uint8_t *prefix, uint32_t plen, const uint8_t *text,
		       uint32_t len, struct shmcp_bells *bells);
void shmcp_iucv_destroy_path_messages(shmcp_sys *sys, struct shmcp_iucv *t,
				      struct shmcp_path *p);
void shmcp_iucv_drop_withdrawn(shmcp_sys *sys, int32_t slot, uint32_t gen);
int shmcp_iucv_show(shmcp_sys *sys, int32_t slot, uint32_t gen, uint32_t present_types,
		    struct shmcp_record *rec);
int shmcp_iucv_withdrawn(shmcp_sys *sys, int32_t slot, uint32_t gen, const uint8_t *rec);
int shmcp_iucv_holds(shmcp_sys *sys, uint16_t owner, uint64_t off);
void shmcp_iucv_repair_messages(shmcp_sys *sys, struct shmcp_iucv *t,
				struct shmcp_bells *bells);
void shmcp_iucv_prefetch(shmcp_sys *sys, struct shmcp_iucv *t, int32_t slot, const uint8_t *pl);
void shmcp_iucv_prefetch_send(struct shmcp_iucv *t, int32_t slot, const uint8_t *pl);

/* Interrupt types 06-09: a message's, presented only while its message
 * is where the interrupt says. */
static inline int message_interrupt(int type)
{
	return type >= SHMCP_IPTYPE_PRIORITY_MESSAGE_COMPLETE &&
	       type <= SHMCP_IPTYPE_NONPRIORITY_MESSAGE_PENDING;
}

#endif
