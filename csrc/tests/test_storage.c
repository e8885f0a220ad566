/*
 * test_storage.c - a message's staged data is its own (issue 13), under
 * AddressSanitizer and UBSan: a MSGBLOK that names a block another message
 * holds (a stale offset, as a freed-then-reused block would leave) gets
 * SHMCP_E_CORRUPT and never copies nor frees the other's data; the
 * sender's LOGOFF leaves its queued messages intact; storage comes back.
 */
#include <stdio.h>
#include <string.h>

#include "fixture.h"
#include "../iucv/iucv.h"

static void one_way(uint8_t *pl, uint16_t pathid, uint32_t len)
{
	memset(pl, 0, 40);
	pl[0] = (uint8_t)(pathid >> 8);
	pl[1] = (uint8_t)pathid;
	pl[SHMCP_IP_FLAGS1] = SHMCP_IPNORPY;
	pl[SHMCP_IP_BFLN1F + 3] = (uint8_t)len;
}

static struct shmcp_msgblok *msgblok(shmcp_sys *sys, const uint8_t *pl)
{
	struct shmcp_iucv t;
	shmcp_iucv_tables(sys, &t);
	uint32_t id = (uint32_t)pl[SHMCP_IP_MSGID] << 24 | (uint32_t)pl[SHMCP_IP_MSGID + 1] << 16 |
		      (uint32_t)pl[SHMCP_IP_MSGID + 2] << 8 | pl[SHMCP_IP_MSGID + 3];
	for (uint32_t i = 0; i < t.nmsgs; i++)
		if (t.msg[i].in_use && t.msg[i].msgid == id)
			return &t.msg[i];
	return NULL;
}

/* A takes its message-complete interrupts: the messages end there. */
static void take_completions(shmcp_sys *sys, int32_t a, uint32_t ga)
{
	struct shmcp_record r;
	int rc;
	do
		rc = shmcp_next(sys, a, ga, 1 << SHMCP_IUCV, 0xFu << 6, 0, 0, &r);
	while (rc == SHMCP_WAIT_PRESENTED || rc == SHMCP_WAIT_READY);  /* 02 too */
	CHECK(rc == SHMCP_WAIT_TIMEOUT);
}

static int receive(shmcp_sys *sys, int32_t b, uint32_t gb, uint8_t *buf, uint32_t len)
{
	uint8_t pl[40] = { 0 };
	pl[SHMCP_IP_BFLN1F + 3] = (uint8_t)len;
	return iucv_call(sys, b, gb, SHMCP_IUCV_RECEIVE, pl, NULL, buf);
}

int main(void)
{
	int32_t a, b;
	uint32_t ga, gb;
	shmcp_sys *sys = system_with_a_and_b("shmcp-storage", &a, &ga, &b, &gb);
	uint8_t pl[40] = { 0 }, p1[40], p2[40], buf[64];

	CHECK(iucv_call(sys, a, ga, SHMCP_IUCV_DCLBFR, pl, NULL, NULL) == 0);
	CHECK(iucv_call(sys, b, gb, SHMCP_IUCV_DCLBFR, pl, NULL, NULL) == 0);
	memcpy(pl + SHMCP_IP_VMID, "B       ", 8);
	CHECK(iucv_call(sys, a, ga, SHMCP_IUCV_CONNECT, pl, NULL, NULL) == 0);
	uint16_t apath = (uint16_t)(pl[0] << 8 | pl[1]);
	struct shmcp_record r;
	CHECK(shmcp_pop(sys, b, 1 << SHMCP_IUCV, &r) == 1);
	memset(pl, 0, sizeof pl);
	memcpy(pl, r.data, 2);
	CHECK(iucv_call(sys, b, gb, SHMCP_IUCV_ACCEPT, pl, NULL, NULL) == 0);
	uint64_t free0 = shmcp_storage_free(sys);

	/* a stale offset: M1 names the block M2 holds */
	one_way(p1, apath, 5);
	CHECK(iucv_call(sys, a, ga, SHMCP_IUCV_SEND, p1, (const uint8_t *)"first", NULL) == 0);
	one_way(p2, apath, 6);
	CHECK(iucv_call(sys, a, ga, SHMCP_IUCV_SEND, p2, (const uint8_t *)"second", NULL) == 0);
	struct shmcp_msgblok *m1 = msgblok(sys, p1), *m2 = msgblok(sys, p2);
	CHECK(m1 && m2 && m1->data_off != m2->data_off);
	uint64_t own = m1->data_off;
	m1->data_off = m2->data_off;
	memset(buf, 0, sizeof buf);
	CHECK(receive(sys, b, gb, buf, sizeof buf) == SHMCP_E_CORRUPT);
	CHECK(buf[0] == 0);                     /* nothing of M2's copied */
	m1->data_off = own;
	CHECK(receive(sys, b, gb, buf, sizeof buf) == 0 && memcmp(buf, "first", 5) == 0);
	CHECK(receive(sys, b, gb, buf, sizeof buf) == 0 && memcmp(buf, "second", 6) == 0);

	/* a double free: a destroyed message's offset (free, or reused by
	 * another message meanwhile) put back, then PURGE */
	one_way(p1, apath, 5);
	CHECK(iucv_call(sys, a, ga, SHMCP_IUCV_SEND, p1, (const uint8_t *)"third", NULL) == 0);
	m1 = msgblok(sys, p1);
	CHECK(m1 != NULL);
	own = m1->data_off;
	CHECK(receive(sys, b, gb, buf, sizeof buf) == 0 && memcmp(buf, "third", 5) == 0);
	take_completions(sys, a, ga);
	one_way(p2, apath, 6);
	CHECK(iucv_call(sys, a, ga, SHMCP_IUCV_SEND, p2, (const uint8_t *)"fourth", NULL) == 0);
	m2 = msgblok(sys, p2);
	CHECK(m2 != NULL);                      /* may have reused the block */
	one_way(p1, apath, 5);
	CHECK(iucv_call(sys, a, ga, SHMCP_IUCV_SEND, p1, (const uint8_t *)"fifth", NULL) == 0);
	m1 = msgblok(sys, p1);
	CHECK(m1 != NULL);
	uint64_t fifth = m1->data_off;
	m1->data_off = own;                     /* stale: M2's now */
	memcpy(pl, p1, 40);
	pl[SHMCP_IP_FLAGS1] = SHMCP_IPFGMID | SHMCP_IPFGPID;
	CHECK(iucv_call(sys, a, ga, SHMCP_IUCV_PURGE, pl, NULL, NULL) == SHMCP_E_CORRUPT);
	CHECK(receive(sys, b, gb, buf, sizeof buf) == 0 && memcmp(buf, "fourth", 6) == 0);
	/* the refused free left "fifth"'s block allocated and unnamed: repair's */
	CHECK(shmcp_pool_block_len(&sys->pool, fifth) == 64);
	CHECK(shmcp_pool_sweep(&sys->pool, shmcp_storage_held, sys) == 1);
	take_completions(sys, a, ga);
	CHECK(shmcp_storage_free(sys) == free0);

	/* the sender's LOGOFF leaves its queued message intact */
	one_way(p1, apath, 5);
	CHECK(iucv_call(sys, a, ga, SHMCP_IUCV_SEND, p1, (const uint8_t *)"sixth", NULL) == 0);
	CHECK(shmcp_logoff(sys, a, ga) == 0);
	memset(buf, 0, sizeof buf);
	int rc = receive(sys, b, gb, buf, sizeof buf);
	CHECK(rc == 0 && memcmp(buf, "sixth", 5) == 0);
	if (rc)
		printf("  receive after the sender's logoff: %d\n", rc);
	CHECK(shmcp_pool_sweep(&sys->pool, shmcp_storage_held, sys) == 0);
	shmcp_detach(sys);

	if (failures) {
		printf("test_storage: %d check(s) FAILED\n", failures);
		return 1;
	}
	printf("test_storage: all passed\n");
	return 0;
}
