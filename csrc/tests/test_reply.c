/*
 * test_reply.c - REPLY's staging under AddressSanitizer and UBSan: a reply
 * that fits the block its message held goes there (no block more is
 * taken), a longer one into a block of its own, a reply longer than the
 * answer area is cut with IPRCODE 5 and IPADRPLE; the answer area gets the
 * reply's bytes and nothing after them; the source ending with its reply
 * untaken frees it once; no free is ever refused.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fixture.h"
#include "../core/image.h"

#define MESSAGES (0xFu << 6)  /* types 06-09 */
#define FG (SHMCP_IPFGPID | SHMCP_IPFGMID | SHMCP_IPFGMCL)

static void fill(uint8_t *p, uint32_t n, uint8_t seed)
{
	for (uint32_t i = 0; i < n; i++)
		p[i] = (uint8_t)(seed + i * 7 + (i >> 8));
}

struct vms {
	shmcp_sys *sys;
	int32_t a, b;
	uint32_t ga, gb;
	uint16_t apath;
};

/* A SENDs @mlen bytes two-way with an answer area of @alen; B takes the 09,
 * RECEIVEs and REPLYs @rlen bytes: REPLY's code (0 or 1000 + IPRCODE) and
 * its residual.  *@taken: the storage the REPLY took. */
static int exchange(struct vms *v, uint32_t mlen, uint32_t rlen, uint8_t *answer, uint32_t alen,
		    uint32_t *residual, uint64_t *taken)
{
	uint8_t pl[40] = { 0 }, *msg = malloc(mlen + 1), *buf = malloc(mlen + 1);
	uint8_t *reply = malloc(rlen + 1);
	struct shmcp_record r;
	CHECK(msg && buf && reply);
	fill(msg, mlen, 1);
	fill(reply, rlen, 99);
	put16(pl, 0, v->apath);
	put32(pl, SHMCP_IP_BFLN1F, mlen);
	put32(pl, SHMCP_IP_BFLN2F, alen);
	CHECK(iucv_call(v->sys, v->a, v->ga, SHMCP_IUCV_SEND, pl, msg, answer) == 0);
	CHECK(shmcp_next(v->sys, v->b, v->gb, 1 << SHMCP_IUCV, MESSAGES, 0, 0, &r) ==
	      SHMCP_WAIT_PRESENTED);
	memcpy(pl, r.data, 40);
	pl[SHMCP_IP_FLAGS1] = FG;
	put32(pl, SHMCP_IP_BFLN1F, mlen);
	CHECK(iucv_call(v->sys, v->b, v->gb, SHMCP_IUCV_RECEIVE, pl, NULL, buf) == 0);
	CHECK(memcmp(buf, msg, mlen) == 0);
	pl[SHMCP_IP_FLAGS1] = 0;
	put32(pl, SHMCP_IP_BFLN2F, rlen);
	uint64_t before = shmcp_storage_free(v->sys);
	int rc = iucv_call(v->sys, v->b, v->gb, SHMCP_IUCV_REPLY, pl, reply, NULL);
	*taken = before - shmcp_storage_free(v->sys);
	*residual = ip32(pl, SHMCP_IP_BFLN2F);
	free(msg);
	free(buf);
	free(reply);
	return rc;
}

/* A takes its 07: audit and residual; the answer area is written then. */
static void completion(struct vms *v, uint16_t *audit, uint32_t *residual)
{
	struct shmcp_record r;
	CHECK(shmcp_next(v->sys, v->a, v->ga, 1 << SHMCP_IUCV, MESSAGES, 0, 0, &r) ==
	      SHMCP_WAIT_PRESENTED);
	CHECK(r.data[3] == SHMCP_IPTYPE_NONPRIORITY_MESSAGE_COMPLETE);
	*audit = ip16(r.data, SHMCP_IP_AUDIT);
	*residual = ip32(r.data, SHMCP_IP_BFLN2F);
}

/* One round trip of @mlen / @rlen / @alen bytes, checked end to end;
 * @fits: the reply must go into the message's block (no storage taken). */
static void round_trip(struct vms *v, uint32_t mlen, uint32_t rlen, uint32_t alen, int fits)
{
	uint8_t *answer = malloc(alen + 16), *want = malloc(rlen + 1);
	uint32_t residual, residual07;
	uint64_t taken;
	uint16_t audit;
	CHECK(answer && want);
	memset(answer, '.', alen + 16);
	fill(want, rlen, 99);
	uint64_t free0 = shmcp_storage_free(v->sys);
	int rc = exchange(v, mlen, rlen, answer, alen, &residual, &taken);
	CHECK(fits ? taken == 0 : taken > 0);
	uint32_t stored = rlen < alen ? rlen : alen;
	CHECK(answer[0] == '.');  /* written only when the 07 is presented */
	completion(v, &audit, &residual07);
	if (rlen > alen) {
		CHECK(rc == 1000 + SHMCP_IPRC_BUFFER_TOO_SHORT);
		CHECK(residual == rlen - alen && residual07 == rlen - alen);
		CHECK(audit == SHMCP_IPADRPLE);
	} else {
		CHECK(rc == 0 && residual == alen - rlen && residual07 == alen - rlen && audit == 0);
	}
	CHECK(memcmp(answer, want, stored) == 0);
	for (uint32_t i = stored; i < alen + 16; i++)
		CHECK(answer[i] == '.');  /* none of the message's bytes after the reply */
	CHECK(shmcp_storage_free(v->sys) == free0);
	free(answer);
	free(want);
}

int main(void)
{
	struct vms v;
	v.sys = system_with_a_and_b("shmcp-reply", &v.a, &v.ga, &v.b, &v.gb);
	uint8_t pl[40] = { 0 };
	struct shmcp_record r;

	v.apath = iucv_path_a_to_b(v.sys, v.a, v.ga, v.b, v.gb);
	uint64_t free0 = shmcp_storage_free(v.sys);
	uint32_t refused0 = v.sys->pool.hdr->refused;

	round_trip(&v, 65536, 65536, 65536, 1);   /* the same size: the message's block */
	round_trip(&v, 65536, 1000, 65536, 1);    /* shorter */
	round_trip(&v, 3000, 4000, 8192, 1);      /* longer, within the block */
	round_trip(&v, 100, 70000, 131072, 0);    /* longer than the block: its own */
	round_trip(&v, 65536, 100000, 65536, 1);  /* cut to the answer area: fits */
	round_trip(&v, 0, 5000, 8192, 0);         /* no message data, no block */
	round_trip(&v, 4096, 0, 64, 1);           /* an empty reply */
	for (int i = 0; i < 20; i++)
		round_trip(&v, (uint32_t)(i % 3 ? 65536 : 300), (uint32_t)(i % 4 ? 300 : 65536),
			   65536, i % 3 || i % 4);

	/* the reply staged in the message's block, its 07 untaken, when A
	 * logs off: the block freed once, with the message */
	uint8_t answer[4096];
	uint32_t residual;
	uint64_t taken;
	CHECK(exchange(&v, 4096, 4096, answer, sizeof answer, &residual, &taken) == 0 && !taken);
	CHECK(shmcp_logoff(v.sys, v.a, v.ga) == 0);
	CHECK(v.sys->pool.hdr->refused == refused0 && v.sys->pool.refused == 0);
	CHECK(shmcp_next(v.sys, v.b, v.gb, 1 << SHMCP_IUCV, MESSAGES, 0, 0, &r) == SHMCP_WAIT_READY);
	CHECK(r.data[3] == SHMCP_IPTYPE_PATH_SEVERED);
	memset(pl, 0, sizeof pl);
	memcpy(pl, r.data, 2);
	CHECK(iucv_call(v.sys, v.b, v.gb, SHMCP_IUCV_SEVER, pl, NULL, NULL) == 0);
	CHECK(shmcp_storage_free(v.sys) == free0);
	CHECK(v.sys->pool.hdr->refused == refused0 && v.sys->pool.refused == 0);
	CHECK(shmcp_logoff(v.sys, v.b, v.gb) == 0);
	shmcp_detach(v.sys);
	return report("test_reply");
}
