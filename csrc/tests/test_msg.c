/*
 * test_msg.c - the *MSG CP system service under AddressSanitizer and
 * UBSan: CONNECT *MSG, MSG and SMSG delivered as one-way IUCV messages and
 * received, QUIESCE, SEVER and LOGOFF with messages still queued, every
 * MSGBLOK and byte of storage given back.
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "../core/internal.h"

#include "fixture.h"

#define call iucv_call

static int connect_msg(shmcp_sys *sys, int32_t slot, uint32_t gen, uint8_t fcncd)
{
	uint8_t pl[40] = { 0 };
	memcpy(pl + SHMCP_IP_VMID, "*MSG    ", 8);
	pl[SHMCP_IP_FCNCD] = fcncd;
	int rc = call(sys, slot, gen, SHMCP_IUCV_CONNECT, pl, NULL, NULL);
	return rc ? rc : -(pl[0] << 8 | pl[1]) - 1;  /* path id as -(id + 1) */
}

/* pop one IUCV record of @slot: its type, or -1 */
static int pop(shmcp_sys *sys, int32_t slot, struct shmcp_record *r)
{
	return shmcp_pop(sys, slot, 1 << SHMCP_IUCV, r) == 1 ? r->data[3] : -1;
}

int main(void)
{
	int32_t a, b;
	uint32_t ga, gb;
	shmcp_sys *sys = system_with_a_and_b("shmcp-msg", &a, &ga, &b, &gb);
	uint64_t free0 = shmcp_storage_free(sys);
	uint8_t pl[40] = { 0 }, buf[200];
	struct shmcp_record r;
	const uint8_t *hi = (const uint8_t *)"hello";

	CHECK(call(sys, a, ga, SHMCP_IUCV_DCLBFR, pl, NULL, NULL) == 0);
	CHECK(shmcp_msg_deliver(sys, "B       ", "A       ", 1, hi, 5) == SHMCP_E_NOMSGPATH);
	CHECK(shmcp_msg_deliver(sys, "B       ", "NOBODY  ", 1, hi, 5) == SHMCP_E_NOTLOGGED);
	CHECK(shmcp_msg_deliver(sys, "B       ", "A       ", 0, hi, 5) == SHMCP_E_BADARG);
	CHECK(shmcp_msg_deliver(sys, "B       ", "A       ", 1, hi, SHMCP_MSG_TEXT_MAX + 1) ==
	      SHMCP_E_BADARG);
	CHECK(connect_msg(sys, a, ga, 1) == 1000 + SHMCP_IPRC_INVALID_FCNCD);
	CHECK(connect_msg(sys, a, ga, 0) == -1);  /* path id 0 */
	CHECK(connect_msg(sys, a, ga, 0) == 1000 + SHMCP_IPRC_MAXCONN_TARGET);
	CHECK(pop(sys, a, &r) == SHMCP_IPTYPE_CONNECTION_COMPLETE && r.data[4] == 0 &&
	      r.data[5] == SHMCP_MSGLIM_DEFAULT);

	/* MSG then SMSG: 09s, received in order, destroyed at once */
	CHECK(shmcp_msg_deliver(sys, "B       ", "A       ", SHMCP_MSG_CLASS_MSG, hi, 5) == 0);
	CHECK(shmcp_msg_deliver(sys, "B       ", "A       ", SHMCP_MSG_CLASS_SMSG, NULL, 0) == 0);
	CHECK(pop(sys, a, &r) == SHMCP_IPTYPE_NONPRIORITY_MESSAGE_PENDING && r.data[11] == 1 &&
	      r.data[19] == 13 && r.data[2] == SHMCP_IPNORPY);
	CHECK(shmcp_iucv_present(sys, a, ga, r.data) == 1);
	memset(pl, 0, sizeof pl);
	pl[SHMCP_IP_BFLN1F + 3] = sizeof buf;
	CHECK(call(sys, a, ga, SHMCP_IUCV_RECEIVE, pl, NULL, buf) == 0);
	CHECK(pl[SHMCP_IP_TRGCLS + 3] == 1 && memcmp(buf, "B       hello", 13) == 0);
	CHECK(shmcp_iucv_present(sys, a, ga, r.data) == 0);
	CHECK(pop(sys, a, &r) == SHMCP_IPTYPE_NONPRIORITY_MESSAGE_PENDING && r.data[11] == 4);
	memset(pl, 0, sizeof pl);
	pl[SHMCP_IP_BFLN1F + 3] = 4;  /* too short: rc 5, then the rest */
	CHECK(call(sys, a, ga, SHMCP_IUCV_RECEIVE, pl, NULL, buf) == 1000 + 5);
	pl[SHMCP_IP_BFLN1F + 3] = sizeof buf;
	CHECK(call(sys, a, ga, SHMCP_IUCV_RECEIVE, pl, NULL, buf + 4) == 0);
	CHECK(memcmp(buf, "B       ", 8) == 0);
	CHECK(call(sys, a, ga, SHMCP_IUCV_TESTMSG, pl, NULL, NULL) == 0);
	CHECK(pop(sys, a, &r) == -1);

	/* QUIESCE stops CP, RESUME lets it on; SEND on *MSG is rc 2 */
	memset(pl, 0, sizeof pl);
	CHECK(call(sys, a, ga, SHMCP_IUCV_QUIESCE, pl, NULL, NULL) == 0);
	CHECK(shmcp_msg_deliver(sys, "B       ", "A       ", 1, hi, 5) == SHMCP_E_MSGQUIESCED);
	CHECK(call(sys, a, ga, SHMCP_IUCV_RESUME, pl, NULL, NULL) == 0);
	CHECK(pop(sys, a, &r) == -1);
	pl[SHMCP_IP_FLAGS1] = SHMCP_IPNORPY;
	CHECK(call(sys, a, ga, SHMCP_IUCV_SEND, pl, hi, NULL) == 1000 + SHMCP_IPRC_QUIESCED);

	/* SEVER with messages queued: all gone, the 09s withdrawn (and
	 * dropped from A's queue by the SEVER: A's own process made it) */
	CHECK(shmcp_msg_deliver(sys, "B       ", "A       ", 1, hi, 5) == 0);
	CHECK(shmcp_msg_deliver(sys, "B       ", "A       ", 4, hi, 5) == 0);
	memset(pl, 0, sizeof pl);
	CHECK(call(sys, a, ga, SHMCP_IUCV_SEVER, pl, NULL, NULL) == 0);
	CHECK(pop(sys, a, &r) == -1);
	CHECK(shmcp_msg_deliver(sys, "B       ", "A       ", 1, hi, 5) == SHMCP_E_NOMSGPATH);
	CHECK(shmcp_storage_free(sys) == free0);

	/* LOGOFF with messages queued, and a path to B alongside */
	CHECK(call(sys, b, gb, SHMCP_IUCV_DCLBFR, pl, NULL, NULL) == 0);
	CHECK(connect_msg(sys, a, ga, 0) == -1);
	CHECK(connect_msg(sys, b, gb, 0) == -1);
	memset(pl, 0, sizeof pl);
	memcpy(pl + SHMCP_IP_VMID, "B       ", 8);
	CHECK(call(sys, a, ga, SHMCP_IUCV_CONNECT, pl, NULL, NULL) == 0 && pl[1] == 1);
	for (int i = 0; i < 10; i++)
		CHECK(shmcp_msg_deliver(sys, "B       ", "A       ", 1, hi, 5) == 0);
	CHECK(shmcp_msg_deliver(sys, "A       ", "B       ", 4, hi, 5) == 0);
	CHECK(shmcp_logoff(sys, a, ga) == 0);
	CHECK(shmcp_msg_deliver(sys, "B       ", "A       ", 1, hi, 5) == SHMCP_E_NOTLOGGED);
	CHECK(shmcp_logoff(sys, b, gb) == 0);
	CHECK(shmcp_storage_free(sys) == free0);
	shmcp_detach(sys);
	return report("test_msg");
}
