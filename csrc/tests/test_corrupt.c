/*
 * test_corrupt.c - words of a corrupted segment that once crashed every
 * attached process, under AddressSanitizer and UBSan: each is refused
 * where it is read, and the watchdog's reap of the VM that owns it
 * completes.
 *
 * A path-map word holds (path index + 1) << 1 | end, so 0 and 1 name no
 * path; 1 once passed the bounds check and indexed the path before the
 * first (path[-1], the map's own tail), whose "partner" slot then indexed
 * the VM table far out of the mapping: SIGSEGV in every process whose
 * watchdog reaped the word's owner.  Then the words the segment fuzz
 * (tests/test_corrupt_segment.py) found, or that would hang: a message
 * queue that loops, a received count past its message, a source end out
 * of range, an answer-area address changed, a ring slot ahead of its
 * tail, the pool header's size.
 */
#include <string.h>
#include <sys/wait.h>

#include "fixture.h"
#include "../iucv/iucv.h"

/* a pid that no longer exists: a child's, waited for */
static int32_t dead_pid(void)
{
	pid_t pid = fork();
	if (pid == 0)
		_exit(0);
	waitpid(pid, NULL, 0);
	return pid;
}

/* A path end that looks live: VM @slot's path id @id, active. */
static void live_end(struct shmcp_path_end *e, int32_t slot, uint16_t id)
{
	e->slot = slot;
	e->pathid = id;
	e->state = END_ACTIVE;
}

/* A and B with a path: A's path id in *@pa, B's in *@pb. */
static shmcp_sys *a_to_b(const char *name, int32_t *a, uint32_t *ga, int32_t *b, uint32_t *gb,
			 uint16_t *pa, uint16_t *pb)
{
	shmcp_sys *sys = system_with_a_and_b(name, a, ga, b, gb);
	uint8_t pl[40] = { 0 };
	struct shmcp_record r;
	CHECK(iucv_call(sys, *a, *ga, SHMCP_IUCV_DCLBFR, pl, NULL, NULL) == 0);
	CHECK(iucv_call(sys, *b, *gb, SHMCP_IUCV_DCLBFR, pl, NULL, NULL) == 0);
	memcpy(pl + SHMCP_IP_VMID, "B       ", 8);
	CHECK(iucv_call(sys, *a, *ga, SHMCP_IUCV_CONNECT, pl, NULL, NULL) == 0);
	*pa = ip16(pl, SHMCP_IP_PATHID);
	CHECK(shmcp_pop(sys, *b, 1 << SHMCP_IUCV, &r) == 1);
	*pb = ip16(r.data, SHMCP_IP_PATHID);
	memset(pl, 0, sizeof pl);
	put16(pl, SHMCP_IP_PATHID, *pb);
	CHECK(iucv_call(sys, *b, *gb, SHMCP_IUCV_ACCEPT, pl, NULL, NULL) == 0);
	CHECK(shmcp_pop(sys, *a, 1 << SHMCP_IUCV, &r) == 1);
	return sys;
}

/* SEND of @text from @slot on path id @id, with an answer area @ans of
 * @alen bytes (0: one-way) */
static void send(shmcp_sys *sys, int32_t slot, uint32_t gen, uint16_t id, const char *text,
		 uint8_t *ans, uint32_t alen)
{
	uint8_t pl[40] = { 0 };
	put16(pl, SHMCP_IP_PATHID, id);
	pl[SHMCP_IP_FLAGS1] = alen ? 0 : SHMCP_IPNORPY;
	put32(pl, SHMCP_IP_BFLN1F, (uint32_t)strlen(text));
	put32(pl, SHMCP_IP_BFLN2F, alen);
	CHECK(iucv_call(sys, slot, gen, SHMCP_IUCV_SEND, pl, (const uint8_t *)text, ans) == 0);
}

static int receive(shmcp_sys *sys, int32_t slot, uint32_t gen, uint8_t *buf, uint32_t len)
{
	uint8_t pl[40] = { 0 };
	put32(pl, SHMCP_IP_BFLN1F, len);
	return iucv_call(sys, slot, gen, SHMCP_IUCV_RECEIVE, pl, NULL, buf);
}

static void messages(void)
{
	int32_t a, b;
	uint32_t ga, gb;
	uint16_t pa, pb;
	shmcp_sys *sys = a_to_b("shmcp-corrupt-msg", &a, &ga, &b, &gb, &pa, &pb);
	struct shmcp_iucv t;
	shmcp_iucv_tables(sys, &t);
	uint8_t buf[64], pl[40] = { 0 };

	/* two messages on B's send queue; the second links back to the first */
	send(sys, a, ga, pa, "first", NULL, 0);
	send(sys, a, ga, pa, "second", NULL, 0);
	uint32_t head = t.vm[b].q[Q_SEND].head;
	struct shmcp_msgblok *m1 = &t.msg[head - 1], *m2 = &t.msg[m1->next - 1];
	m2->next = head;
	put32(pl, SHMCP_IP_TRGCLS, 77);  /* a class no message has: the walk goes round */
	pl[SHMCP_IP_FLAGS1] = SHMCP_IPFGMCL;
	put32(pl, SHMCP_IP_BFLN1F, sizeof buf);
	CHECK(iucv_call(sys, b, gb, SHMCP_IUCV_RECEIVE, pl, NULL, buf) == SHMCP_E_CORRUPT);
	m2->next = 0;

	/* a received count past the message's length */
	m1->received = 0x7fffffff;
	CHECK(receive(sys, b, gb, buf, sizeof buf) == SHMCP_E_CORRUPT);
	m1->received = 0;
	/* a source end out of range: the message has no path */
	m1->src = 7;
	CHECK(receive(sys, b, gb, buf, sizeof buf) == SHMCP_E_CORRUPT);
	memset(pl, 0, sizeof pl);
	CHECK(iucv_call(sys, b, gb, SHMCP_IUCV_DESCRIBE, pl, NULL, NULL) == SHMCP_E_CORRUPT);
	m1->src = 0;
	CHECK(receive(sys, b, gb, buf, sizeof buf) == 0 && memcmp(buf, "first", 5) == 0);
	CHECK(receive(sys, b, gb, buf, sizeof buf) == 0 && memcmp(buf, "second", 6) == 0);

	/* an answer area whose address changed is never written through; the
	 * one SEND named is, and only it */
	uint8_t ans[8] = { 0 }, other[8] = { 0 };
	for (int changed = 1; changed >= 0; changed--) {
		send(sys, a, ga, pa, "ask", ans, sizeof ans);
		struct shmcp_msgblok *m = &t.msg[t.vm[b].q[Q_SEND].head - 1];
		CHECK(receive(sys, b, gb, buf, sizeof buf) == 0);
		memset(pl, 0, sizeof pl);
		put16(pl, SHMCP_IP_PATHID, pb);
		put32(pl, SHMCP_IP_MSGID, m->msgid);
		put32(pl, SHMCP_IP_BFLN2F, 5);
		CHECK(iucv_call(sys, b, gb, SHMCP_IUCV_REPLY, pl, (const uint8_t *)"reply", NULL) ==
		      0);
		if (changed)
			m->answer = (uint64_t)(uintptr_t)other;
		struct shmcp_record r;
		while (shmcp_pop(sys, a, 1 << SHMCP_IUCV, &r) == 1)
			shmcp_iucv_present(sys, a, ga, r.data);
		CHECK(memcmp(other, "\0\0\0\0\0", 5) == 0);
		CHECK(memcmp(ans, changed ? "\0\0\0\0\0" : "reply", 5) == 0);
	}
	shmcp_detach(sys);
}

static void rings_and_pool(void)
{
	int32_t a, b;
	uint32_t ga, gb;
	shmcp_sys *sys = system_with_a_and_b("shmcp-corrupt-ring", &a, &ga, &b, &gb);
	uint8_t rec[SHMCP_RECORD_LEN] = { 1 };

	/* the slot at B's tail claims a later lap: the post is refused (a
	 * producer once re-read the tail for ever, holding the lock) */
	struct shmcp_slot *s = shmcp_ring_slots(sys, b, SHMCP_IUCV, SHMCP_NORMAL);
	atomic_store(&s[0].seq, 5);
	CHECK(shmcp_post(sys, b, gb, SHMCP_IUCV, 0, 0, rec, NULL, 0) == SHMCP_E_CORRUPT);
	atomic_store(&s[0].seq, 0);
	CHECK(shmcp_post(sys, b, gb, SHMCP_IUCV, 0, 0, rec, NULL, 0) == 0);

	/* the pool header's size doubled (orders to match): nothing beyond
	 * the mapping is allocated, walked or freed */
	struct shmcp_pool_hdr *h = sys->pool.hdr, saved = *h;
	h->size *= 2;
	h->orders++;
	CHECK(shmcp_pool_alloc(&sys->pool, 64, SHMCP_POOL_OWNER_CP) == SHMCP_POOL_NIL);
	CHECK(shmcp_pool_free(&sys->pool, saved.size + 4096, SHMCP_POOL_OWNER_CP) == -1);
	struct shmcp_snapshot snap = { 0 };
	CHECK(shmcp_snapshot(sys, &snap, 1000000000) == SHMCP_E_CORRUPT);
	CHECK(shmcp_storage_size(sys) == saved.size);
	*h = saved;
	CHECK(shmcp_snapshot(sys, &snap, 1000000000) == 0);
	shmcp_detach(sys);
}

int main(void)
{
	signal(SIGUSR1, SIG_IGN);
	signal(SIGUSR2, SIG_IGN);
	shmcp_sys *sys = small_system("shmcp-corrupt", 8);
	struct shmcp_iucv t;
	shmcp_iucv_tables(sys, &t);
	int32_t d;
	uint32_t gd;

	/* 1. D's path id 0 maps to 1; the bytes before path[0] (the map's tail,
	 * rows of VMs not logged on) look like a live path whose other end is
	 * a slot far beyond the table */
	CHECK(shmcp_logon(sys, "D       ", dead_pid(), 1, &d, &gd) == 0 && d == 0);
	struct shmcp_path fake = { .in_use = 1 };
	live_end(&fake.e[1], d, 0);
	live_end(&fake.e[0], 0x12345678, 0);
	uint8_t *before = (uint8_t *)(t.path - 1);
	CHECK(before >= (uint8_t *)&t.pathmap[t.max_conn]);  /* not D's own row */
	memcpy(before, &fake, sizeof fake);
	t.pathmap[(size_t)d * t.max_conn] = 1;
	int end;
	CHECK(shmcp_iucv_path_of(&t, d, 0, &end) == NULL);
	CHECK(shmcp_reap(sys) == 1);  /* LOGOFF's IUCV part walks D's map */
	CHECK(memcmp(before, &fake, sizeof fake) == 0);

	/* 2. a word naming a real path whose partner's slot is out of range */
	CHECK(shmcp_logon(sys, "E       ", dead_pid(), 1, &d, &gd) == 0);
	memset(&t.path[0], 0, sizeof t.path[0]);
	t.path[0].in_use = 1;
	live_end(&t.path[0].e[0], d, 3);
	live_end(&t.path[0].e[1], (int32_t)t.max_vms, 0);
	t.pathmap[(size_t)d * t.max_conn + 3] = (0 + 1) << 1 | 0;
	CHECK(shmcp_iucv_path_of(&t, d, 3, &end) == NULL);
	live_end(&t.path[0].e[1], -7, 0);  /* negative, and not CP's end */
	CHECK(shmcp_iucv_path_of(&t, d, 3, &end) == NULL);
	CHECK(shmcp_reap(sys) == 1);

	shmcp_detach(sys);
	messages();
	rings_and_pool();
	return report("test_corrupt");
}
