/*
 * test_consumer_killed.c - a consumer killed inside its take of a record
 * (the ring's head moved past the record, its slot not yet freed) does
 * not leave the ring short for the slot's later logons: after the LOGOFF
 * and a new LOGON of the same slot, laps of records go round it.  The
 * same for a LOGOFF killed inside its own takes (the lock's repair runs
 * it again).  Each is a real process that SIGKILLs itself at the fault
 * point (SHMCP_FAULT=queue.take@N).  Under AddressSanitizer and UBSan.
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

/* The victim (re-executed with the fault armed): take records of @slot
 * ("take") or log it off ("logoff", logon @gen) until the fault point
 * kills it. */
static int victim(const char *what, const char *fd_arg, const char *slot_arg,
		  const char *gen_arg)
{
	int rc;
	shmcp_sys *sys = shmcp_attach(atoi(fd_arg), "T", &rc);
	if (!sys)
		return 2;
	struct shmcp_record r;
	if (strcmp(what, "logoff") == 0)
		shmcp_logoff(sys, atoi(slot_arg), (uint32_t)atol(gen_arg));
	else
		while (shmcp_pop(sys, atoi(slot_arg), 1 << SHMCP_IUCV, &r) == 1)
			;
	return 1;  /* never reached the fault point */
}

/* Run @what ("take", "logoff") on VM @slot (logon @gen) in a process of
 * its own that is killed at the @fault point; its death checked. */
static void killed_in(const char *argv0, const char *what, int fd, int32_t slot, uint32_t gen,
		      const char *fault)
{
	pid_t pid = fork();
	if (pid == 0) {
		char fd_arg[16], slot_arg[16], gen_arg[16];
		snprintf(fd_arg, sizeof fd_arg, "%d", fd);
		snprintf(slot_arg, sizeof slot_arg, "%d", slot);
		snprintf(gen_arg, sizeof gen_arg, "%u", gen);
		setenv("SHMCP_FAULT", fault, 1);
		execl("/proc/self/exe", argv0, what, fd_arg, slot_arg, gen_arg, (char *)NULL);
		_exit(3);
	}
	int status = 0;
	CHECK(pid > 0 && waitpid(pid, &status, 0) == pid);
	CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
}

/* A new LOGON of B in slot @b: two laps of a full ring (less the
 * reserve), each taken in order; then its LOGOFF. */
static void laps(shmcp_sys *sys, int32_t b, uint32_t *next)
{
	int32_t b2;
	uint32_t gb2;
	CHECK(shmcp_logon(sys, "B       ", getpid(), shmcp_proc_starttime(getpid()), &b2,
			  &gb2) == 0);
	CHECK(b2 == b);
	CHECK(shmcp_pending(sys, b2, 1 << SHMCP_IUCV) == 0);
	uint32_t room = (uint32_t)sys->qsize - SHMCP_QUEUE_RESERVE;
	for (int lap = 0; lap < 2; lap++) {
		uint32_t first = *next, n = 0;
		while (n < room && post(sys, b2, gb2, *next) == 0)
			n++, (*next)++;
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
}

int main(int argc, char **argv)
{
	if (argc == 5)
		return victim(argv[1], argv[2], argv[3], argv[4]);
	signal(SIGUSR1, SIG_IGN);  /* the doorbells of the VMs this test plays */
	signal(SIGUSR2, SIG_IGN);
	struct shmcp_limits l = { .max_vms = 4, .queue_size = 256, .storage = 1 << 20,
				  .spin_ns = 0, .max_conn = 8, .max_msgs = 64 };
	int fd = memfd_create("shmcp-consumer-killed", 0), rc;  /* the victims' too */
	CHECK(fd >= 0 && shmcp_format(fd, &l, "T") == 0);
	shmcp_sys *sys = shmcp_attach(fd, "T", &rc);
	CHECK(sys != NULL);
	pid_t me = getpid();
	uint64_t start = shmcp_proc_starttime(me);
	int32_t b;
	uint32_t gb, next = 0;

	/* the consumer killed in its third take; the dead VM's LOGOFF */
	CHECK(shmcp_logon(sys, "B       ", me, start, &b, &gb) == 0);
	for (int i = 0; i < 5; i++)
		CHECK(post(sys, b, gb, next++) == 0);
	killed_in(argv[0], "take", fd, b, gb, "queue.take@3");
	CHECK(shmcp_logoff(sys, b, gb) == 0);
	laps(sys, b, &next);

	/* a LOGOFF killed in its second take: finished by the lock's repair */
	uint64_t repairs = shmcp_lock_repairs(sys);
	CHECK(shmcp_logon(sys, "B       ", me, start, &b, &gb) == 0);
	for (int i = 0; i < 5; i++)
		CHECK(post(sys, b, gb, next++) == 0);
	killed_in(argv[0], "logoff", fd, b, gb, "queue.take@2");
	CHECK(shmcp_lock(sys) == 0);
	shmcp_unlock(sys);
	CHECK(shmcp_lock_repairs(sys) == repairs + 1);
	CHECK(shmcp_logoff(sys, b, gb) == SHMCP_E_STALE);  /* the repair ended it */
	laps(sys, b, &next);

	shmcp_detach(sys);
	close(fd);
	return report("test_consumer_killed");
}
