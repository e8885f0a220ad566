/*
 * test_consumer_killed.c - a consumer killed inside its take of a record
 * (the ring's head moved past the record, its slot not yet freed) does
 * not leave the ring short for the slot's later logons: after the LOGOFF
 * and a new LOGON of the same slot, laps of records go round it.  The
 * consumer is a real process that SIGKILLs itself at the fault point
 * (SHMCP_FAULT=queue.take@3).  Under AddressSanitizer and UBSan.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "fixture.h"

static int post(shmcp_sys *sys, int32_t slot, uint32_t gen, uint32_t i)
{
	uint8_t rec[SHMCP_RECORD_LEN] = { 0 };
	memcpy(rec, &i, sizeof i);
	return shmcp_post(sys, slot, gen, SHMCP_IUCV, 0, 0, rec, NULL, 0);
}

/* The consumer (re-executed with the fault armed): take records of @slot
 * until the fault point kills it. */
static int consume(const char *fd_arg, const char *slot_arg)
{
	int rc;
	shmcp_sys *sys = shmcp_attach(atoi(fd_arg), "T", &rc);
	if (!sys)
		return 2;
	struct shmcp_record r;
	while (shmcp_pop(sys, atoi(slot_arg), 1 << SHMCP_IUCV, &r) == 1)
		;
	return 1;  /* never reached the fault point */
}

int main(int argc, char **argv)
{
	if (argc == 4 && strcmp(argv[1], "take") == 0)
		return consume(argv[2], argv[3]);
	signal(SIGUSR1, SIG_IGN);  /* the doorbells of the VMs this test plays */
	signal(SIGUSR2, SIG_IGN);
	struct shmcp_limits l = { .max_vms = 4, .queue_size = 256, .storage = 1 << 20,
				  .spin_ns = 0, .max_conn = 8, .max_msgs = 64 };
	int fd = memfd_create("shmcp-consumer-killed", 0), rc;  /* the consumer's too */
	CHECK(fd >= 0 && shmcp_format(fd, &l, "T") == 0);
	shmcp_sys *sys = shmcp_attach(fd, "T", &rc);
	CHECK(sys != NULL);
	pid_t me = getpid();
	uint64_t start = shmcp_proc_starttime(me);
	int32_t b, b2;
	uint32_t gb, gb2, next = 0;
	CHECK(shmcp_logon(sys, "B       ", me, start, &b, &gb) == 0);
	for (int i = 0; i < 5; i++)
		CHECK(post(sys, b, gb, next++) == 0);

	pid_t consumer = fork();
	if (consumer == 0) {
		char fd_arg[16], slot_arg[16];
		snprintf(fd_arg, sizeof fd_arg, "%d", fd);
		snprintf(slot_arg, sizeof slot_arg, "%d", b);
		setenv("SHMCP_FAULT", "queue.take@3", 1);
		execl("/proc/self/exe", argv[0], "take", fd_arg, slot_arg, (char *)NULL);
		_exit(3);
	}
	int status = 0;
	CHECK(consumer > 0 && waitpid(consumer, &status, 0) == consumer);
	CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);

	/* the dead VM's LOGOFF, and a new LOGON of the same slot */
	CHECK(shmcp_logoff(sys, b, gb) == 0);
	CHECK(shmcp_logon(sys, "B       ", me, start, &b2, &gb2) == 0);
	CHECK(b2 == b);
	CHECK(shmcp_pending(sys, b2, 1 << SHMCP_IUCV) == 0);

	/* two laps of a full ring (less the reserve), each taken in order */
	uint32_t room = (uint32_t)sys->qsize - SHMCP_QUEUE_RESERVE;
	for (int lap = 0; lap < 2; lap++) {
		uint32_t first = next, n = 0;
		while (n < room && post(sys, b2, gb2, next) == 0)
			n++, next++;
		CHECK(n == room);
		struct shmcp_record r;
		for (uint32_t i = 0; i < n; i++) {
			uint32_t got = ~0u;
			CHECK(shmcp_pop(sys, b2, 1 << SHMCP_IUCV, &r) == 1);
			memcpy(&got, r.data, sizeof got);
			CHECK(got == first + i);
		}
	}
	CHECK(shmcp_logoff(sys, b2, gb2) == 0);
	shmcp_detach(sys);
	close(fd);
	return report("test_consumer_killed");
}
