/*
 * test_receive_many.c - shmcp_iucv_receive_many under AddressSanitizer and
 * UBSan: several one-way messages RECEIVEd in one call, each into its own
 * buffer, in order, each with RECEIVE's outcome; one its sender purged
 * after its 08 was presented fails alone and the rest still come; the
 * sender gets one completion per message received; the storage comes back;
 * bad arguments, another logon's generation and an undeclared VM are
 * refused with nothing received.  A message whose storage is corrupt (its
 * free refused) ends the batch there: the ones before it come, it gets
 * SHMCP_E_CORRUPT, the ones after it are left for the next call.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fixture.h"
#include "../core/image.h"
#include "../iucv/iucv.h"

#define MESSAGES (0xFu << 6)  /* types 06-09 */
#define FG (SHMCP_IPFGPID | SHMCP_IPFGMID | SHMCP_IPFGMCL)
#define N 6

/* A sends N one-way messages and severs (they stay queued at B, whose
 * RECEIVE of each then destroys it), and the third's MSGBLOK is made to
 * name a reply block that is not its own: its RECEIVE copies the data,
 * but the free of that "reply" is refused -- SHMCP_E_CORRUPT, the message
 * gone.  The batch stops there: the first two are RECEIVEd, the last
 * three are untouched and come with the next call. */
static void corrupt_in_a_batch(shmcp_sys *sys, int32_t a, uint32_t ga, int32_t b, uint32_t gb,
			       uint16_t apath)
{
	uint64_t free0 = shmcp_storage_free(sys);
	uint8_t pl[40], plists[N][40], *pls[N], bufs[N][16], *bp[N];
	int ccs[N];
	struct shmcp_record r;
	for (int i = 0; i < N; i++) {
		memset(pl, 0, sizeof pl);
		put16(pl, 0, apath);
		pl[SHMCP_IP_FLAGS1] = SHMCP_IPNORPY;
		put32(pl, SHMCP_IP_BFLN1F, 10);
		uint8_t data[10];
		memset(data, 'a' + i, sizeof data);
		CHECK(iucv_call(sys, a, ga, SHMCP_IUCV_SEND, pl, data, NULL) == 0);
	}
	for (int i = 0; i < N; i++) {
		CHECK(shmcp_next(sys, b, gb, 1 << SHMCP_IUCV, MESSAGES, 0, 0, &r) ==
		      SHMCP_WAIT_PRESENTED);
		memcpy(plists[i], r.data, 40);
		plists[i][SHMCP_IP_FLAGS1] = FG;
		pls[i] = plists[i];
		bp[i] = bufs[i];
		memset(bufs[i], '.', sizeof bufs[i]);
		ccs[i] = -99;
	}
	memset(pl, 0, sizeof pl);
	put16(pl, 0, apath);
	CHECK(iucv_call(sys, a, ga, SHMCP_IUCV_SEVER, pl, NULL, NULL) == 0);

	struct shmcp_iucv t;
	shmcp_iucv_tables(sys, &t);
	struct shmcp_msgblok *bad = NULL;
	for (uint32_t i = 0; i < t.nmsgs; i++)
		if (t.msg[i].in_use && t.msg[i].msgid == ip32(plists[2], SHMCP_IP_MSGID))
			bad = &t.msg[i];
	CHECK(bad && bad->reply_off == NO_OFF);
	bad->reply_off = 8;  /* no block starts there */

	uint32_t refused = sys->pool.refused;
	CHECK(shmcp_iucv_receive_many(sys, b, gb, N, pls, bp, ccs) == 3);
	CHECK(sys->pool.refused == refused + 1);
	for (int i = 0; i < 2; i++)
		CHECK(ccs[i] == 0 && bufs[i][0] == 'a' + i && bufs[i][9] == 'a' + i &&
		      bufs[i][10] == '.');
	CHECK(ccs[2] == SHMCP_E_CORRUPT);
	for (int i = 3; i < N; i++)
		CHECK(ccs[i] == -99 && bufs[i][0] == '.');

	/* the rest come with the next call; the corrupt one is gone */
	CHECK(shmcp_iucv_receive_many(sys, b, gb, N - 3, pls + 3, bp + 3, ccs + 3) == N - 3);
	for (int i = 3; i < N; i++)
		CHECK(ccs[i] == 0 && bufs[i][0] == 'a' + i && bufs[i][9] == 'a' + i);
	CHECK(shmcp_iucv_receive_many(sys, b, gb, 1, pls + 2, bp + 2, ccs + 2) == 1);
	CHECK(ccs[2] > 0);
	CHECK(shmcp_storage_free(sys) == free0);
	CHECK(shmcp_pop(sys, b, 1 << SHMCP_IUCV, &r) == 1);  /* A's SEVER */
	CHECK(r.data[SHMCP_IP_RCODE] == SHMCP_IPTYPE_PATH_SEVERED);
}

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
	CHECK(shmcp_iucv_receive_many(sys, b, gb, 0, NULL, NULL, NULL) == 0);  /* none tried */
	CHECK(shmcp_next(sys, a, ga, 1 << SHMCP_IUCV, MESSAGES, 0, 0, &r) == SHMCP_WAIT_TIMEOUT);

	/* one call: each received into its own buffer, the purged one alone fails */
	for (int i = 0; i < N; i++)
		ccs[i] = -99;
	CHECK(shmcp_iucv_receive_many(sys, b, gb, N, pls, bufs, ccs) == N);
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
	CHECK(shmcp_iucv_receive_many(sys, b, gb, N, pls, bufs, ccs) == N);
	for (int i = 0; i < N; i++)
		CHECK(ccs[i] != 0 && (lens[i] == 0 || bufs[i][0] == '.'));

	for (int i = 0; i < N; i++) {
		free(sent[i]);
		free(bufs[i]);
	}
	corrupt_in_a_batch(sys, a, ga, b, gb, apath);
	CHECK(shmcp_logoff(sys, a, ga) == 0);
	CHECK(shmcp_logoff(sys, b, gb) == 0);
	shmcp_detach(sys);
	return report("test_receive_many");
}
