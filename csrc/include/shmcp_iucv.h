/*
 * shmcp_iucv.h - the public interface of IUCV (csrc/iucv/): the IPARML's
 * field offsets, function codes, flags, interrupt types and return codes,
 * the directory, and the *MSG CP system service.  Read by cffi after
 * shmcp.h (see there).
 */
#ifndef SHMCP_API_IUCV_H
#define SHMCP_API_IUCV_H
#include "shmcp.h"

/* IUCV's facility number: its records, queues, doorbell (SIGUSR1) */
#define SHMCP_IUCV 0

/* IUCV's limits in struct shmcp_limits: defaults and the ranges ipl() accepts */
#define SHMCP_MAX_CONN_DEFAULT 64
#define SHMCP_MAX_CONN_LIMIT 65535
#define SHMCP_MAX_MSGS_DEFAULT 32768
#define SHMCP_MAX_MSGS_LIMIT 16777216

/* The 40-byte IPARML, big-endian, at IBM's offsets (docs/reference.md). */
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

/* IPRCODEs (what each means: docs/reference.md, "4. IUCV, faithful") */
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
int shmcp_iucv_receive_many(shmcp_sys *sys, int32_t slot, uint32_t gen, int n,
			    uint8_t *const *plists, uint8_t *const *bufs, int *ccs);
int shmcp_iucv_present(shmcp_sys *sys, int32_t slot, uint32_t gen, const uint8_t *rec);
int shmcp_iucv_take_reply(shmcp_sys *sys, int32_t slot, uint32_t gen, const uint8_t *rec);
int shmcp_iucv_maxconn(shmcp_sys *sys, int32_t slot, uint32_t gen);
int shmcp_iucv_waiting(shmcp_sys *sys, int32_t slot, uint32_t gen);
/* The *MSG CP system service (docs/design.md, "*MSG"; msg.c).
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
