/*
 * test_receive_many.c - shmcp_iucv_receive_many under AddressSanitizer and
 * UBSan: several one-way messages RECEIVEd in one call, each into its own
 * buffer, in order, each with RECEIVE's outcome; one its sender purged
 * after its 08 was presented fails alone and the rest still come; the
 * sender gets one completion per message received; the storage comes back;
 * bad arguments, another logon's generation and an undeclared VM are
 * refused with nothing received.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fixture.h"
#include "../core/image.h"

#define MESSAGES (0xFu << 6)  /* types 06-09 */
#define FG (SHMCP_IPFGPID | SHMCP_IPFGMID | SHMCP_IPFGMCL)
#define N 6

int main(void)
{
	int32_t a, b;
	uint32_t ga, gb;
	shmcp_sys *sys = system_with_a_and_b("shmcp-receive-many", &a, &ga, &b, &gb);
	uint8_t pl[40] = { 0 };
	struct shmcp_record r;

	/* before B declares: a program check, nothing received */
	uint8_t *none[1] = { pl }, *nobuf[1] = { NULL };
	int ccs[N];
	CHECK(shmcp_iucv_receive_many(sys, b, gb, 1, none, nobuf, ccs) == SHMCP_E_PCOPER);

	uint16_t apath = iucv_path_a_to_b(sys, a, ga, b, gb);
	uint64_t free0 = shmcp_storage_free(sys);

	/* A sends N one-way messages of different lengths (0 .. 5000 bytes) */
	static const uint32_t lens[N] = { 64, 0, 4096, 1, 5000, 300 };
	uint8_t *sent[N], *bufs[N], plists[N][40], *pls[N];
	for (int i = 0; i < N; i++) {
		sent[i] = malloc(lens[i] + 1);
		bufs[i] = malloc(lens[i] + 1);
		CHECK(sent[i] && bufs[i]);
		for (uint32_t k = 0; k < lens[i]; k++)
			sent[i][k] = (uint8_t)(i * 31 + k);
		memset(bufs[i], '.', lens[i] + 1);
		memset(pl, 0, sizeof pl);
		put16(pl, 0, apath);
		pl[SHMCP_IP_FLAGS1] = SHMCP_IPNORPY;
		put32(pl, SHMCP_IP_BFLN1F, lens[i]);
		CHECK(iucv_call(sys, a, ga, SHMCP_IUCV_SEND, pl, sent[i], NULL) == 0);
	}
	/* B is shown their 08s, in order: each names its message */
	for (int i = 0; i < N; i++) {
		CHECK(shmcp_next(sys, b, gb, 1 << SHMCP_IUCV, MESSAGES, 0, 0, &r) ==
		      SHMCP_WAIT_PRESENTED);
		CHECK(ip32(r.data, SHMCP_IP_BFLN1F) == lens[i]);
		memcpy(plists[i], r.data, 40);
		plists[i][SHMCP_IP_FLAGS1] = FG;
		pls[i] = plists[i];
	}
	/* A purges the third after its 08 was shown */
	memset(pl, 0, sizeof pl);
	put16(pl, 0, apath);
	memcpy(pl + SHMCP_IP_MSGID, plists[2] + SHMCP_IP_MSGID, 4);
	pl[SHMCP_IP_FLAGS1] = SHMCP_IPFGPID | SHMCP_IPFGMID;
	CHECK(iucv_call(sys, a, ga, SHMCP_IUCV_PURGE, pl, NULL, NULL) == 0);

	/* refused with nothing received: bad arguments, another generation */
	CHECK(shmcp_iucv_receive_many(sys, b, gb, -1, pls, bufs, ccs) == SHMCP_E_BADARG);
	CHECK(shmcp_iucv_receive_many(sys, b, gb, N, NULL, bufs, ccs) == SHMCP_E_BADARG);
	CHECK(shmcp_iucv_receive_many(sys, b, gb, N, pls, bufs, NULL) == SHMCP_E_BADARG);
	CHECK(shmcp_iucv_receive_many(sys, b, gb + 1, N, pls, bufs, ccs) == SHMCP_E_NOTLOGGED);
	CHECK(shmcp_iucv_receive_many(sys, b, gb, 0, NULL, NULL, NULL) == 0);
	CHECK(shmcp_next(sys, a, ga, 1 << SHMCP_IUCV, MESSAGES, 0, 0, &r) == SHMCP_WAIT_TIMEOUT);

	/* one call: each received into its own buffer, the purged one alone fails */
	for (int i = 0; i < N; i++)
		ccs[i] = -99;
	CHECK(shmcp_iucv_receive_many(sys, b, gb, N, pls, bufs, ccs) == 0);
	for (int i = 0; i < N; i++) {
		if (i == 2) {
			CHECK(ccs[i] != 0 && ccs[i] != -99);
			CHECK(bufs[i][0] == '.');  /* nothing written */
			continue;
		}
		CHECK(ccs[i] == 0 && plists[i][SHMCP_IP_RCODE] == 0);
		CHECK(memcmp(bufs[i], sent[i], lens[i]) == 0 && bufs[i][lens[i]] == '.');
		CHECK(ip32(plists[i], SHMCP_IP_BFLN1F) == 0);  /* residual */
		CHECK(plists[i][SHMCP_IP_FLAGS1] & SHMCP_IPNORPY);
	}
	/* A gets one completion per message received, in order, then none */
	for (int i = 0; i < N; i++) {
		if (i == 2)
			continue;
		CHECK(shmcp_next(sys, a, ga, 1 << SHMCP_IUCV, MESSAGES, 0, 0, &r) ==
		      SHMCP_WAIT_PRESENTED);
		CHECK(r.data[3] == SHMCP_IPTYPE_NONPRIORITY_MESSAGE_COMPLETE);
		CHECK(memcmp(r.data + SHMCP_IP_MSGID, plists[i] + SHMCP_IP_MSGID, 4) == 0);
	}
	CHECK(shmcp_next(sys, a, ga, 1 << SHMCP_IUCV, MESSAGES, 0, 0, &r) == SHMCP_WAIT_TIMEOUT);
	CHECK(shmcp_next(sys, b, gb, 1 << SHMCP_IUCV, MESSAGES, 0, 0, &r) == SHMCP_WAIT_TIMEOUT);
	CHECK(shmcp_storage_free(sys) == free0);
	CHECK(sys->pool.refused == 0);

	/* a second call for the same messages: each is gone, nothing written */
	for (int i = 0; i < N; i++)
		bufs[i][0] = '.';
	CHECK(shmcp_iucv_receive_many(sys, b, gb, N, pls, bufs, ccs) == 0);
	for (int i = 0; i < N; i++)
		CHECK(ccs[i] != 0 && (lens[i] == 0 || bufs[i][0] == '.'));

	for (int i = 0; i < N; i++) {
		free(sent[i]);
		free(bufs[i]);
	}
	CHECK(shmcp_logoff(sys, a, ga) == 0);
	CHECK(shmcp_logoff(sys, b, gb) == 0);
	shmcp_detach(sys);
	return report("test_receive_many");
}
