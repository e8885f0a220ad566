/*
 * shmcp_vmcf.h - the public interface of VMCF (csrc/vmcf/): DIAGNOSE X'68'
 * and external interrupt X'4001' (docs/reference.md, "5. VMCF, faithful").
 * Read by cffi after shmcp.h
 * (see there).
 */
#ifndef SHMCP_API_VMCF_H
#define SHMCP_API_VMCF_H
#include "shmcp.h"

/* VMCF's facility number: its records, queues, doorbell (SIGUSR2) */
#define SHMCP_VMCF 1

#define SHMCP_VMCF_PARM_LEN 40        /* VMCPARM */
#define SHMCP_VMCF_HDR_LEN 40         /* VMCMHDR, data follows at +40 */
/* VMCPARM's fields, big-endian, at the offsets IBM gives them */
#define SHMCP_VMCF_PARM_FLG1 0        /* 1: VMCPFLG1 */
#define SHMCP_VMCF_PARM_FLG2 1        /* 1: VMCPFLG2, reserved */
#define SHMCP_VMCF_PARM_FUNC 2        /* 2: VMCPFUNC */
#define SHMCP_VMCF_PARM_MID 4         /* 4: VMCPMID */
#define SHMCP_VMCF_PARM_USER 8        /* 8: VMCPUSER */
#define SHMCP_VMCF_PARM_VADA 16       /* 4: VMCPVADA */
#define SHMCP_VMCF_PARM_LENA 20       /* 4: VMCPLENA */
#define SHMCP_VMCF_PARM_VADB 24       /* 4: VMCPVADB */
#define SHMCP_VMCF_PARM_LENB 28       /* 4: VMCPLENB */
#define SHMCP_VMCF_PARM_USE 32        /* 8: VMCPUSE */
/* VMCMHDR (section 5) copies VMCPARM's fields, at the same offsets, but
 * for its first two bytes; its data follows it */
#define SHMCP_VMCF_HDR_STAT 0         /* 1: VMCMSTAT */
#define SHMCP_VMCF_HDR_EFLG 1         /* 1: VMCMEFLG */
#define SHMCP_VMCF_HDR_BUF 40         /* VMCMBUF: SENDX / SMSG data */
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
/* shmcp_next's present_types bit (bit 31, above IUCV's types): present
 * VMCF's tag-only interrupts in the core; the record comes back with
 * presented set and no trailing data, any REPLY data already in the
 * REPLY buffer the SEND/RECV named */
#define SHMCP_VMCF_PRESENT_BIT 2147483648

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

#endif
