/*
 * test_next.c - shmcp_next, the consumer's one call per interrupt, under
 * AddressSanitizer and UBSan: message interrupts presented in the core
 * (hint cleared, the reply written into the answer area SEND named),
 * withdrawn ones skipped, masked types handed back unpresented, the
 * timeout, and every byte of storage given back.
 */
#include <stdio.h>
#include <string.h>

#include "fixture.h"

#define MESSAGES (0xFu << 6)  /* types 06-09 */
#define HINT 36

static void msg_plist(uint8_t *pl, uint16_t pathid, const char *data, uint32_t answer_len)
{
	memset(pl, 0, 40);
	pl[0] = (uint8_t)(pathid >> 8);
	pl[1] = (uint8_t)pathid;
	pl[SHMCP_IP_BFLN1F + 3] = (uint8_t)strlen(data);
	pl[SHMCP_IP_BFLN2F + 3] = (uint8_t)answer_len;
}

static int zero_hint(const struct shmcp_record *r)
{
	return !r->data[HINT] && !r->data[HINT + 1] && !r->data[HINT + 2] && !r->data[HINT + 3];
}

int main(void)
{
	int32_t a, b;
	uint32_t ga, gb;
	shmcp_sys *sys = system_with_a_and_b("shmcp-next", &a, &ga, &b, &gb);
	uint8_t pl[40] = { 0 }, answer[16], buf[16];
	struct shmcp_record r;

	CHECK(iucv_call(sys, a, ga, SHMCP_IUCV_DCLBFR, pl, NULL, NULL) == 0);
	CHECK(iucv_call(sys, b, gb, SHMCP_IUCV_DCLBFR, pl, NULL, NULL) == 0);
	memcpy(pl + SHMCP_IP_VMID, "B       ", 8);
	CHECK(iucv_call(sys, a, ga, SHMCP_IUCV_CONNECT, pl, NULL, NULL) == 0);
	uint16_t apath = (uint16_t)(pl[0] << 8 | pl[1]);
	/* not a message type: handed back as it is, never presented */
	CHECK(shmcp_next(sys, b, gb, 1 << SHMCP_IUCV, MESSAGES, 0, 0, &r) == SHMCP_WAIT_READY);
	CHECK(r.data[3] == SHMCP_IPTYPE_PENDING_CONNECTION && !r.presented);
	memset(pl, 0, sizeof pl);
	memcpy(pl, r.data, 2);
	CHECK(iucv_call(sys, b, gb, SHMCP_IUCV_ACCEPT, pl, NULL, NULL) == 0);
	CHECK(shmcp_next(sys, a, ga, 1 << SHMCP_IUCV, MESSAGES, 0, 0, &r) == SHMCP_WAIT_READY &&
	      r.data[3] == SHMCP_IPTYPE_CONNECTION_COMPLETE);
	uint64_t free0 = shmcp_storage_free(sys);

	/* a two-way exchange: the 09 and the 07 presented in the core */
	msg_plist(pl, apath, "ping", sizeof answer);
	memset(answer, '.', sizeof answer);
	CHECK(iucv_call(sys, a, ga, SHMCP_IUCV_SEND, pl, (const uint8_t *)"ping", answer) == 0);
	CHECK(shmcp_next(sys, b, gb, 1 << SHMCP_IUCV, MESSAGES, 0, 0, &r) == SHMCP_WAIT_PRESENTED);
	CHECK(r.data[3] == SHMCP_IPTYPE_NONPRIORITY_MESSAGE_PENDING && r.presented && zero_hint(&r));
	memcpy(pl, r.data, 40);
	pl[SHMCP_IP_FLAGS1] = SHMCP_IPFGPID | SHMCP_IPFGMID | SHMCP_IPFGMCL;
	pl[SHMCP_IP_BFLN1F + 3] = sizeof buf;
	CHECK(iucv_call(sys, b, gb, SHMCP_IUCV_RECEIVE, pl, NULL, buf) == 0 &&
	      memcmp(buf, "ping", 4) == 0);
	pl[SHMCP_IP_FLAGS1] = 0;
	pl[SHMCP_IP_BFLN2F + 3] = 4;
	CHECK(iucv_call(sys, b, gb, SHMCP_IUCV_REPLY, pl, (const uint8_t *)"pong", NULL) == 0);
	CHECK(memcmp(answer, "................", sizeof answer) == 0);  /* not before presentation */
	CHECK(shmcp_next(sys, a, ga, 1 << SHMCP_IUCV, MESSAGES, 0, 0, &r) == SHMCP_WAIT_PRESENTED);
	CHECK(r.data[3] == SHMCP_IPTYPE_NONPRIORITY_MESSAGE_COMPLETE && r.presented && zero_hint(&r));
	CHECK(memcmp(answer, "pong....", 8) == 0);
	CHECK(shmcp_storage_free(sys) == free0);

	/* withdrawn: a 09 whose message was received first is skipped */
	const char *words[3] = { "one", "two", "six" };
	uint8_t ids[3][4];
	for (int i = 0; i < 3; i++) {
		msg_plist(pl, apath, words[i], 0);
		pl[SHMCP_IP_FLAGS1] = SHMCP_IPNORPY;
		CHECK(iucv_call(sys, a, ga, SHMCP_IUCV_SEND, pl, (const uint8_t *)words[i], NULL) == 0);
		memcpy(ids[i], pl + SHMCP_IP_MSGID, 4);
	}
	memset(pl, 0, sizeof pl);
	pl[SHMCP_IP_BFLN1F + 3] = sizeof buf;
	CHECK(iucv_call(sys, b, gb, SHMCP_IUCV_RECEIVE, pl, NULL, buf) == 0 &&
	      memcmp(buf, "one", 3) == 0);
	CHECK(shmcp_next(sys, b, gb, 1 << SHMCP_IUCV, MESSAGES, 0, 0, &r) == SHMCP_WAIT_PRESENTED);
	CHECK(r.presented && memcmp(r.data + SHMCP_IP_MSGID, ids[1], 4) == 0);
	/* masked (not in present_types): handed back unpresented, hint kept */
	CHECK(shmcp_next(sys, b, gb, 1 << SHMCP_IUCV, 0, 0, 0, &r) == SHMCP_WAIT_READY);
	CHECK(!r.presented && memcmp(r.data + SHMCP_IP_MSGID, ids[2], 4) == 0 && !zero_hint(&r));
	for (int i = 1; i < 3; i++) {
		memset(pl, 0, sizeof pl);
		pl[SHMCP_IP_BFLN1F + 3] = sizeof buf;
		CHECK(iucv_call(sys, b, gb, SHMCP_IUCV_RECEIVE, pl, NULL, buf) == 0 &&
		      memcmp(buf, words[i], 3) == 0);
	}
	/* the three one-way completions, presented; then nothing: the timeout */
	for (int i = 0; i < 3; i++)
		CHECK(shmcp_next(sys, a, ga, 1 << SHMCP_IUCV, MESSAGES, 0, 0, &r) ==
			      SHMCP_WAIT_PRESENTED && r.presented && memcmp(r.data + SHMCP_IP_MSGID, ids[i], 4) == 0);
	CHECK(shmcp_next(sys, a, ga, 1 << SHMCP_IUCV, MESSAGES, 1000000, 0, &r) == SHMCP_WAIT_TIMEOUT);
	CHECK(shmcp_next(sys, b, gb, 1 << SHMCP_IUCV, MESSAGES, 0, 0, &r) == SHMCP_WAIT_TIMEOUT);
	CHECK(shmcp_storage_free(sys) == free0);

	/* a completion PURGE took meanwhile is withdrawn */
	msg_plist(pl, apath, "ping", sizeof answer);
	CHECK(iucv_call(sys, a, ga, SHMCP_IUCV_SEND, pl, (const uint8_t *)"ping", answer) == 0);
	uint8_t msgid[4];
	memcpy(msgid, pl + SHMCP_IP_MSGID, 4);
	memset(pl, 0, sizeof pl);
	pl[SHMCP_IP_BFLN1F + 3] = sizeof buf;
	CHECK(iucv_call(sys, b, gb, SHMCP_IUCV_RECEIVE, pl, NULL, buf) == 0);
	pl[SHMCP_IP_FLAGS1] = 0;
	pl[SHMCP_IP_BFLN2F + 3] = 4;
	memset(answer, '.', sizeof answer);
	CHECK(iucv_call(sys, b, gb, SHMCP_IUCV_REPLY, pl, (const uint8_t *)"late", NULL) == 0);
	memset(pl, 0, sizeof pl);
	pl[0] = (uint8_t)(apath >> 8);
	pl[1] = (uint8_t)apath;
	memcpy(pl + SHMCP_IP_MSGID, msgid, 4);
	pl[SHMCP_IP_FLAGS1] = SHMCP_IPFGPID | SHMCP_IPFGMID;
	CHECK(iucv_call(sys, a, ga, SHMCP_IUCV_PURGE, pl, NULL, NULL) == 0);
	CHECK(shmcp_next(sys, a, ga, 1 << SHMCP_IUCV, MESSAGES, 0, 0, &r) == SHMCP_WAIT_TIMEOUT);
	CHECK(memcmp(answer, "....", 4) == 0);  /* never written */
	CHECK(shmcp_next(sys, b, gb, 1 << SHMCP_IUCV, MESSAGES, 0, 0, &r) == SHMCP_WAIT_TIMEOUT);
	CHECK(shmcp_storage_free(sys) == free0);

	CHECK(shmcp_next(sys, a, ga, 1 << SHMCP_IUCV, MESSAGES, 0, 0, NULL) == SHMCP_E_BADARG);
	CHECK(shmcp_logoff(sys, a, ga) == 0);
	CHECK(shmcp_logoff(sys, b, gb) == 0);
	shmcp_detach(sys);
	return report("test_next");
}
