/*
 * test_drop.c - withdrawn interrupts are dropped even while another thread
 * of the process holds the consumer role, once the queue is half full:
 * a thread taken off the CPU inside wait() must not make a thread that
 * takes its messages by RECEIVE and TEST COMPLETION run out of queue
 * (QFULL on a SEND).  Under AddressSanitizer and UBSan.
 */
#include <pthread.h>
#include <string.h>
#include <time.h>

#include "fixture.h"
#include "../core/image.h"

#define ROUNDS 600  /* more than twice a 256-record queue */

static shmcp_sys *sys;
static atomic_int holding;

/* Another thread inside wait(), off the CPU: holds the role 200 ms. */
static void *hold_the_role(void *arg)
{
	(void)arg;
	while (atomic_exchange(&sys->consuming, 1))
		;
	atomic_store(&holding, 1);
	struct timespec ts = { 0, 200 * 1000 * 1000 };
	nanosleep(&ts, NULL);
	atomic_store(&sys->consuming, 0);
	return NULL;
}

int main(void)
{
	int32_t a, b;
	uint32_t ga, gb;
	sys = system_with_a_and_b("shmcp-drop", &a, &ga, &b, &gb);
	uint8_t pl[40] = { 0 }, buf[8];
	struct shmcp_record r;

	uint16_t apath = iucv_path_a_to_b(sys, a, ga, b, gb);
	uint64_t free0 = shmcp_storage_free(sys);

	pthread_t t;
	CHECK(pthread_create(&t, NULL, hold_the_role, NULL) == 0);
	while (!atomic_load(&holding))
		;
	for (uint32_t i = 0; i < ROUNDS && !failures; i++) {
		uint8_t data[8];
		memset(pl, 0, sizeof pl);
		put16(pl, 0, apath);
		pl[SHMCP_IP_FLAGS1] = SHMCP_IPNORPY;
		put32(pl, SHMCP_IP_BFLN1F, sizeof data);
		memcpy(data, &i, sizeof i);
		CHECK(iucv_call(sys, a, ga, SHMCP_IUCV_SEND, pl, data, NULL) == 0);  /* not QFULL */
		memset(pl, 0, sizeof pl);  /* any path, any message: the next */
		put32(pl, SHMCP_IP_BFLN1F, sizeof buf);
		CHECK(iucv_call(sys, b, gb, SHMCP_IUCV_RECEIVE, pl, NULL, buf) == 0);
		CHECK(memcmp(buf, &i, sizeof i) == 0);  /* in order, none lost */
		memset(pl, 0, sizeof pl);
		CHECK(iucv_call(sys, a, ga, SHMCP_IUCV_TESTCMPL, pl, NULL, NULL) == 0);
		CHECK(shmcp_iucv_take_reply(sys, a, ga, pl) == 0);
	}
	CHECK(pthread_join(t, NULL) == 0);
	/* every interrupt was withdrawn: nothing is shown, no storage kept */
	CHECK(shmcp_next(sys, a, ga, 1 << SHMCP_IUCV, ~0u, 0, 0, &r) == SHMCP_WAIT_TIMEOUT);
	CHECK(shmcp_next(sys, b, gb, 1 << SHMCP_IUCV, ~0u, 0, 0, &r) == SHMCP_WAIT_TIMEOUT);
	CHECK(shmcp_storage_free(sys) == free0);
	CHECK(shmcp_logoff(sys, a, ga) == 0);
	CHECK(shmcp_logoff(sys, b, gb) == 0);
	shmcp_detach(sys);
	return report("test_drop");
}
