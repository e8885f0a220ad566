/*
 * test_room.c - a queue's room as its producers judge it from the head
 * they saw last (struct shmcp_ring.head_seen): a record that does not
 * fit is refused exactly when the ring holds qsize - SHMCP_QUEUE_RESERVE
 * (a must-deliver one at qsize), however stale or wrong that head is, and
 * records the consumer took make room again.  Under AddressSanitizer and
 * UBSan.
 */
#include <string.h>

#include "fixture.h"

static shmcp_sys *sys;
static int32_t b;
static uint32_t gb;

static int post(uint32_t i, int must)
{
	uint8_t rec[SHMCP_RECORD_LEN] = { 0 };
	memcpy(rec, &i, sizeof i);
	return shmcp_post(sys, b, gb, SHMCP_IUCV, 0, must, rec, NULL, 0);
}

/* Post non-must records until one is refused: how many fit. */
static uint32_t fill(uint32_t *next)
{
	uint32_t n = 0;
	int rc;
	while ((rc = post((*next)++, 0)) == 0)
		n++;
	(*next)--;
	CHECK(rc == SHMCP_E_QFULL);
	return n;
}

/* Take @n records: in order from @*expect. */
static void take(uint32_t n, uint32_t *expect)
{
	struct shmcp_record r;
	for (uint32_t i = 0; i < n; i++) {
		uint32_t got;
		CHECK(shmcp_pop(sys, b, 1 << SHMCP_IUCV, &r) == 1);
		memcpy(&got, r.data, sizeof got);
		CHECK(got == (*expect)++);
	}
}

int main(void)
{
	int32_t a;
	uint32_t ga, next = 0, expect = 0;
	sys = system_with_a_and_b("shmcp-room", &a, &ga, &b, &gb);
	struct shmcp_ring *ring = &sys->vms[b].fq[SHMCP_IUCV].ring[SHMCP_NORMAL];
	uint32_t room = (uint32_t)sys->qsize - SHMCP_QUEUE_RESERVE;

	/* many times round the ring, never near full: never refused */
	for (uint32_t i = 0; i < 20 * sys->qsize; i++) {
		CHECK(post(next++, 0) == 0);
		take(1, &expect);
	}
	/* full for a non-must record at qsize - reserve, for a must one at qsize */
	CHECK(fill(&next) == room);
	for (uint32_t i = 0; i < SHMCP_QUEUE_RESERVE; i++)
		CHECK(post(next++, 1) == 0);
	CHECK(post(next, 1) == SHMCP_E_QFULL);
	/* what the consumer took is room again, though the head seen is older */
	take(SHMCP_QUEUE_RESERVE + 10, &expect);
	CHECK(fill(&next) == 10);
	/* a head seen ahead of the tail, or far behind it: read again */
	take(40, &expect);
	atomic_store(&ring->head_seen, atomic_load(&ring->tail) + 7);
	CHECK(fill(&next) == 40);
	take(room, &expect);
	atomic_store(&ring->head_seen, 0);
	CHECK(fill(&next) == room);
	take(room, &expect);
	CHECK(shmcp_pending(sys, b, 1 << SHMCP_IUCV) == 0);

	CHECK(shmcp_logoff(sys, a, ga) == 0);
	CHECK(shmcp_logoff(sys, b, gb) == 0);
	shmcp_detach(sys);
	return report("test_room");
}
