/*
 * test_vmcf.c - the VMCF core under AddressSanitizer and UBSan: a
 * SEND/RECV round trip between two VMs of this process, presentation (by
 * the layer, and inside shmcp_next), a corrupt tag, SMSG, LOGOFF answering with error code 5, and the storage
 * all given back.
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "../core/internal.h"

#include "fixture.h"

static void parm(uint8_t *p, uint8_t flg1, uint16_t func, uint32_t mid,
		 const char *user, uint32_t lena, uint32_t lenb)
{
	memset(p, 0, 40);
	p[0] = flg1;
	p[2] = (uint8_t)(func >> 8);
	p[3] = (uint8_t)func;
	p[4] = (uint8_t)(mid >> 24); p[5] = (uint8_t)(mid >> 16);
	p[6] = (uint8_t)(mid >> 8); p[7] = (uint8_t)mid;
	memcpy(p + 8, user, 8);
	p[0x14] = (uint8_t)(lena >> 24); p[0x15] = (uint8_t)(lena >> 16);
	p[0x16] = (uint8_t)(lena >> 8); p[0x17] = (uint8_t)lena;
	p[0x1c] = (uint8_t)(lenb >> 24); p[0x1d] = (uint8_t)(lenb >> 16);
	p[0x1e] = (uint8_t)(lenb >> 8); p[0x1f] = (uint8_t)lenb;
}

/* take the next VMCF record of @slot and present it as the layer does
 * (its trailing data, or its word's bytes); returns the decision */
static int take(shmcp_sys *sys, int32_t slot, uint32_t gen, struct shmcp_record *r,
		uint8_t *reply, uint32_t rlen)
{
	uint8_t ext[512];
	if (shmcp_pop(sys, slot, 1 << SHMCP_VMCF, r) != 1)
		return -100;
	if (r->ext_len > sizeof ext)
		return -101;
	uint32_t len = r->ext_len;
	if (!len) {  /* a SEND or RESPONSE: its tag is its word */
		memcpy(ext, &r->ext_off, sizeof r->ext_off);
		len = sizeof r->ext_off;
	} else if (shmcp_take_ext(sys, slot, r->ext_off, len, ext)) {
		return -102;
	}
	return shmcp_vmcf_present(sys, slot, gen, ext, len, reply, rlen);
}

int main(void)
{
	int32_t a, b;
	uint32_t ga, gb;
	shmcp_sys *sys = system_with_a_and_b("shmcp-vmcf", &a, &ga, &b, &gb);
	uint64_t free0 = shmcp_storage_free(sys);
	uint8_t p[40], data[16] = "request", buf[16], reply[8];
	struct shmcp_record r;
	struct shmcp_vmcf_info info;

	parm(p, 0, SHMCP_VMCPSEND, 1, "B       ", 0, 0);
	CHECK(shmcp_vmcf_diag68(sys, a, ga, p, NULL, 0) == SHMCP_VMCF_RC_NOT_AUTHORIZED);
	parm(p, SHMCP_VMCPSMSG, SHMCP_VMCPAUTH, 0, "        ", 39, 0);
	CHECK(shmcp_vmcf_diag68(sys, a, ga, p, NULL, 0) == SHMCP_VMCF_RC_INVALID_ADDRESS);
	parm(p, SHMCP_VMCPSMSG, SHMCP_VMCPAUTH, 0, "        ", 169, 0);
	CHECK(shmcp_vmcf_diag68(sys, a, ga, p, NULL, 0) == 0);
	CHECK(shmcp_vmcf_diag68(sys, b, gb, p, NULL, 0) == 0);
	parm(p, 0, 77, 0, "        ", 0, 0);
	CHECK(shmcp_vmcf_diag68(sys, a, ga, p, NULL, 0) == SHMCP_VMCF_RC_INVALID_SUBFUNCTION);

	/* SEND/RECV: RECEIVE before the interrupt is RC 13, then the round trip */
	parm(p, 0, SHMCP_VMCPSENR, 5, "B       ", 7, sizeof reply);
	CHECK(shmcp_vmcf_diag68(sys, a, ga, p, data, (uint64_t)(uintptr_t)reply) == 0);
	CHECK(shmcp_vmcf_diag68(sys, a, ga, p, data, 0) == SHMCP_VMCF_RC_DUPLICATE_MESSAGE);
	parm(p, 0, SHMCP_VMCPRECV, 5, "A       ", sizeof buf, 0);
	CHECK(shmcp_vmcf_diag68(sys, b, gb, p, buf, 0) == SHMCP_VMCF_RC_SYNC_ERROR);
	CHECK(take(sys, b, gb, &r, NULL, 0) == SHMCP_VMCF_PRESENT);
	CHECK(r.data[3] == SHMCP_VMCPSENR && r.data[0x17] == 7);
	CHECK(shmcp_vmcf_diag68(sys, b, gb, p, buf, 0) == 0 && memcmp(buf, "request", 7) == 0);
	parm(p, 0, SHMCP_VMCPREPL, 5, "A       ", 5, 0);
	CHECK(shmcp_vmcf_diag68(sys, b, gb, p, (uint8_t *)"reply", 0) == 0);
	memset(reply, 0, sizeof reply);
	CHECK(take(sys, a, ga, &r, reply, sizeof reply) == SHMCP_VMCF_PRESENT);
	CHECK(r.data[0] == SHMCP_VMCMRESP && r.data[0x1f] == 3 && memcmp(reply, "reply", 5) == 0);

	/* the same through shmcp_next, which presents with the VMCF bit: one
	 * call per interrupt, the tag taken, the REPLY written where the
	 * SEND/RECV said; without the bit the record comes back as is */
	parm(p, 0, SHMCP_VMCPSENR, 7, "B       ", 7, sizeof reply);
	CHECK(shmcp_vmcf_diag68(sys, a, ga, p, data, (uint64_t)(uintptr_t)reply) == 0);
	CHECK(shmcp_next(sys, b, gb, 1 << SHMCP_VMCF, SHMCP_VMCF_PRESENT_BIT, 0, 0, &r) ==
	      SHMCP_WAIT_PRESENTED);
	CHECK(r.presented && r.ext_len == 0 && r.data[3] == SHMCP_VMCPSENR && r.data[7] == 7);
	parm(p, 0, SHMCP_VMCPRECV, 7, "A       ", sizeof buf, 0);
	CHECK(shmcp_vmcf_diag68(sys, b, gb, p, buf, 0) == 0);
	parm(p, 0, SHMCP_VMCPREPL, 7, "A       ", 4, 0);
	CHECK(shmcp_vmcf_diag68(sys, b, gb, p, (uint8_t *)"pong", 0) == 0);
	memset(reply, 0, sizeof reply);
	uint64_t free1 = shmcp_storage_free(sys);  /* a record's tag takes no storage */
	CHECK(shmcp_next(sys, a, ga, 1 << SHMCP_VMCF, 0, 0, 0, &r) == SHMCP_WAIT_READY);
	CHECK(!r.presented && r.ext_len == 0 && r.ext_off != 0);  /* as is: the layer's */
	uint8_t tag[sizeof r.ext_off];
	memcpy(tag, &r.ext_off, sizeof tag);
	CHECK(shmcp_vmcf_present(sys, a, ga, tag, sizeof tag - 1, reply, sizeof reply) ==
	      SHMCP_VMCF_FOREIGN);
	CHECK(shmcp_vmcf_present(sys, a, ga, tag, sizeof tag, reply, sizeof reply) == SHMCP_VMCF_PRESENT);
	CHECK(memcmp(reply, "pong", 4) == 0);
	CHECK(shmcp_vmcf_present(sys, a, ga, tag, sizeof tag, reply, sizeof reply) == SHMCP_VMCF_DROP);
	CHECK(shmcp_storage_free(sys) > free1);  /* the REPLY staged is freed, nothing else */
	parm(p, 0, SHMCP_VMCPSENR, 8, "B       ", 7, sizeof reply);
	CHECK(shmcp_vmcf_diag68(sys, a, ga, p, data, (uint64_t)(uintptr_t)reply) == 0);
	CHECK(shmcp_next(sys, b, gb, 1 << SHMCP_VMCF, SHMCP_VMCF_PRESENT_BIT, 0, 0, &r) ==
	      SHMCP_WAIT_PRESENTED);
	parm(p, 0, SHMCP_VMCPREPL, 8, "A       ", 3, 0);
	CHECK(shmcp_vmcf_diag68(sys, b, gb, p, (uint8_t *)"abc", 0) == 0);
	memset(reply, 0, sizeof reply);
	CHECK(shmcp_next(sys, a, ga, 1 << SHMCP_VMCF, SHMCP_VMCF_PRESENT_BIT, 0, 0, &r) ==
	      SHMCP_WAIT_PRESENTED);
	CHECK(r.data[0] == SHMCP_VMCMRESP && r.data[0x1f] == sizeof reply - 3 &&
	      memcmp(reply, "abc", 4) == 0);
	/* a cancelled message's SEND is withdrawn inside shmcp_next */
	parm(p, 0, SHMCP_VMCPSEND, 9, "B       ", 7, 0);
	CHECK(shmcp_vmcf_diag68(sys, a, ga, p, data, 0) == 0);
	parm(p, 0, SHMCP_VMCPCANC, 9, "B       ", 0, 0);
	CHECK(shmcp_vmcf_diag68(sys, a, ga, p, NULL, 0) == 0);
	CHECK(shmcp_next(sys, b, gb, 1 << SHMCP_VMCF, SHMCP_VMCF_PRESENT_BIT, 0, 0, &r) ==
	      SHMCP_WAIT_TIMEOUT);

	/* the table is searched only as far as entries are in use: a
	 * duplicate behind a freed entry is still found, a freed entry is
	 * taken again, and the limit is the limit */
	for (uint32_t mid = 20; mid < 23; mid++) {
		parm(p, 0, SHMCP_VMCPSEND, mid, "B       ", 0, 0);
		CHECK(shmcp_vmcf_diag68(sys, a, ga, p, NULL, 0) == 0);
	}
	parm(p, 0, SHMCP_VMCPCANC, 20, "B       ", 0, 0);
	CHECK(shmcp_vmcf_diag68(sys, a, ga, p, NULL, 0) == 0);
	parm(p, 0, SHMCP_VMCPSEND, 22, "B       ", 0, 0);
	CHECK(shmcp_vmcf_diag68(sys, a, ga, p, NULL, 0) == SHMCP_VMCF_RC_DUPLICATE_MESSAGE);
	for (uint32_t mid = 30; mid < 30 + SHMCP_VMCF_MSG_LIMIT - 2; mid++) {
		parm(p, 0, SHMCP_VMCPSEND, mid, "B       ", 0, 0);
		CHECK(shmcp_vmcf_diag68(sys, a, ga, p, NULL, 0) == 0);
	}
	parm(p, 0, SHMCP_VMCPSEND, 99, "B       ", 0, 0);
	CHECK(shmcp_vmcf_diag68(sys, a, ga, p, NULL, 0) == SHMCP_VMCF_RC_MESSAGE_LIMIT);
	CHECK(shmcp_vmcf_info(sys, a, &info) == 0 && info.active_out == SHMCP_VMCF_MSG_LIMIT);
	for (uint32_t mid = 21; mid < 30 + SHMCP_VMCF_MSG_LIMIT - 2; mid = mid == 22 ? 30 : mid + 1) {
		parm(p, 0, SHMCP_VMCPCANC, mid, "B       ", 0, 0);
		CHECK(shmcp_vmcf_diag68(sys, a, ga, p, NULL, 0) == 0);
	}
	CHECK(shmcp_vmcf_info(sys, a, &info) == 0 && info.active_out == 0);
	CHECK(shmcp_next(sys, b, gb, 1 << SHMCP_VMCF, SHMCP_VMCF_PRESENT_BIT, 0, 0, &r) ==
	      SHMCP_WAIT_TIMEOUT);  /* every one withdrawn */

	/* a tag naming an entry out of range is dropped, never followed; a
	 * word without VMCF's mark is none of its */
	uint8_t bad[SHMCP_VMCF_TAG_LEN] = { 0 };
	uint32_t w[3] = { SHMCP_VMCF_TAG_MAGIC, 1, 0x7fffffff };
	memcpy(bad, w, sizeof w);
	CHECK(shmcp_vmcf_present(sys, a, ga, bad, sizeof bad, NULL, 0) == SHMCP_VMCF_DROP);
	uint64_t far = 0xAULL << 60 | 1ULL << 58 | 0x3ffffULL << 40, unmarked = 1ULL << 58;
	CHECK(shmcp_vmcf_present(sys, a, ga, (uint8_t *)&far, 8, NULL, 0) == SHMCP_VMCF_DROP);
	CHECK(shmcp_vmcf_present(sys, a, ga, (uint8_t *)&unmarked, 8, NULL, 0) == SHMCP_VMCF_FOREIGN);
	CHECK(shmcp_vmcf_present(sys, a, ga, (uint8_t *)"junk", 4, NULL, 0) == SHMCP_VMCF_FOREIGN);

	/* SMSG to A; a SEND to B that B's LOGOFF answers with error code 5 */
	CHECK(shmcp_vmcf_smsg(sys, "A       ", "B       ", (const uint8_t *)"hi", 2) == 0);
	CHECK(shmcp_vmcf_smsg(sys, "NOBODY  ", "B       ", (const uint8_t *)"hi", 2) == SHMCP_E_NOTLOGGED);
	CHECK(take(sys, a, ga, &r, NULL, 0) == SHMCP_VMCF_PRESENT && r.ext_len == SHMCP_VMCF_TAG_LEN + 2);
	parm(p, 0, SHMCP_VMCPSEND, 6, "B       ", 9, 0);
	CHECK(shmcp_vmcf_diag68(sys, a, ga, p, data, 0) == 0);
	CHECK(shmcp_logoff(sys, b, gb) == 0);
	CHECK(take(sys, a, ga, &r, NULL, 0) == SHMCP_VMCF_PRESENT);
	CHECK(r.data[0] == SHMCP_VMCMRESP && r.data[1] == SHMCP_VMCF_RC_USER_NOT_AVAILABLE);
	CHECK(shmcp_vmcf_info(sys, a, &info) == 0 && info.authorized && info.active_out == 0);
	CHECK(shmcp_logoff(sys, a, ga) == 0);
	CHECK(shmcp_storage_free(sys) == free0);
	shmcp_detach(sys);
	return report("test_vmcf");
}
