/*
 * core_stream.c - the C floor of `make bench`'s one-way streaming: the same
 * IUCV stream as the Python program, through shmcp's core alone, no Python
 * (bench/NOTES.md, "What one-way asks of the core").
 *
 * Two processes (fork), VM SRC and VM TRG of one system in a memfd.  SRC
 * SENDs numbered one-way messages (IPNORPY) on a path with message limit
 * 255 for WINDOW seconds, taking a completion (type 07, presented by
 * shmcp_next) whenever the limit is reached, then a message numbered -1;
 * TRG takes each pending-message interrupt (09, presented by shmcp_next),
 * RECEIVEs the message with its parameter list and checks the number: the
 * four core crossings per message of the Python program, no more.
 *
 * usage: core_stream SIZE WINDOW_SECONDS
 * FLOORS_PIN=split puts TRG on CPU 0 and SRC on CPU 1, =same both on 0.
 * Prints one JSON object, as bench/worker.py's stream does.  Every wait is
 * bounded: a peer that stops for 10 s ends the run.
 */
#define _GNU_SOURCE
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../csrc/core/internal.h"
#include "../csrc/iucv/iucv.h"

#define MSGLIM 255
#define MESSAGE_TYPES (0xFu << SHMCP_IPTYPE_PRIORITY_MESSAGE_COMPLETE)
#define PATIENCE_NS 10000000000LL

struct outcome {  /* TRG's, sent back to SRC through a pipe */
	long received, lost, reordered;
	double secs;
};

static void die(const char *what, int rc)
{
	fprintf(stderr, "core_stream: %s: %d\n", what, rc);
	exit(2);
}

static void pin(int cpu)
{
	const char *how = getenv("FLOORS_PIN");
	if (!how || strcmp(how, "none") == 0)
		return;
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(strcmp(how, "same") == 0 ? 0 : cpu, &set);
	sched_setaffinity(0, sizeof set, &set);
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void logon(shmcp_sys *sys, const char *userid, int32_t *slot, uint32_t *gen)
{
	pid_t me = getpid();
	int rc = shmcp_logon(sys, userid, me, shmcp_proc_starttime(me), slot, gen);
	if (rc)
		die("LOGON", rc);
	uint8_t pl[SHMCP_RECORD_LEN] = {0};
	if ((rc = shmcp_iucv_call(sys, *slot, *gen, SHMCP_IUCV_DCLBFR, pl, NULL, NULL)))
		die("DECLARE BUFFER", rc);
}

/* The next interrupt's type, message interrupts presented by the core. */
static int next(shmcp_sys *sys, int32_t slot, uint32_t gen, struct shmcp_record *r)
{
	int rc = shmcp_next(sys, slot, gen, 1 << SHMCP_IUCV, MESSAGE_TYPES, PATIENCE_NS,
			    SHMCP_SPIN_NS_DEFAULT, r);
	if (rc != SHMCP_WAIT_PRESENTED && rc != SHMCP_WAIT_READY)
		die("wait", rc);
	return r->data[SHMCP_IP_RCODE];
}

static void target(shmcp_sys *sys, uint32_t size, int ready, int result)
{
	int32_t slot;
	uint32_t gen;
	pin(0);
	logon(sys, "TRG     ", &slot, &gen);
	if (write(ready, "r", 1) != 1)
		die("ready", 0);
	struct shmcp_record r;
	while (next(sys, slot, gen, &r) != SHMCP_IPTYPE_PENDING_CONNECTION)
		;
	uint8_t pl[SHMCP_RECORD_LEN] = {0};
	memcpy(pl, r.data, 2);  /* the path id */
	int rc = shmcp_iucv_call(sys, slot, gen, SHMCP_IUCV_ACCEPT, pl, NULL, NULL);
	if (rc)
		die("ACCEPT", rc);
	uint8_t *buf = malloc(size);
	struct outcome o = {0};
	double first = 0;
	for (long expected = 0;;) {
		if (next(sys, slot, gen, &r) != SHMCP_IPTYPE_NONPRIORITY_MESSAGE_PENDING)
			continue;
		r.data[SHMCP_IP_FLAGS1] = SHMCP_IPFGPID | SHMCP_IPFGMID | SHMCP_IPFGMCL;
		put32(r.data, SHMCP_IP_BFLN1F, size);
		if ((rc = shmcp_iucv_call(sys, slot, gen, SHMCP_IUCV_RECEIVE, r.data, NULL, buf)))
			die("RECEIVE", rc);
		long seq;
		memcpy(&seq, buf, sizeof seq);
		if (seq < 0)
			break;
		if (!o.received++)
			first = now();
		if (seq > expected)
			o.lost += seq - expected;
		else if (seq < expected)
			o.reordered++;
		expected = seq >= expected ? seq + 1 : expected;
	}
	o.secs = now() - first;
	if (write(result, &o, sizeof o) != sizeof o)
		die("result", 0);
	shmcp_logoff(sys, slot, gen);
}

static long source(shmcp_sys *sys, uint32_t size, double window)
{
	int32_t slot;
	uint32_t gen;
	pin(1);
	logon(sys, "SRC     ", &slot, &gen);
	uint8_t pl[SHMCP_RECORD_LEN] = {0};
	memcpy(pl + SHMCP_IP_VMID, "TRG     ", 8);
	put16(pl, SHMCP_IP_MSGLIM, MSGLIM);
	int rc = shmcp_iucv_call(sys, slot, gen, SHMCP_IUCV_CONNECT, pl, NULL, NULL);
	if (rc)
		die("CONNECT", rc);
	uint16_t pathid = ip16(pl, SHMCP_IP_PATHID);
	struct shmcp_record r;
	while (next(sys, slot, gen, &r) != SHMCP_IPTYPE_CONNECTION_COMPLETE)
		;
	uint8_t *data = calloc(1, size);
	int outstanding = 0;
	double deadline = now() + window;
	long seq = 0;
	for (int last = 0; !last; seq++) {
		last = !(seq & 255) && now() > deadline;
		while (outstanding >= MSGLIM)
			if (next(sys, slot, gen, &r) == SHMCP_IPTYPE_NONPRIORITY_MESSAGE_COMPLETE)
				outstanding--;
		memset(pl, 0, sizeof pl);
		put16(pl, SHMCP_IP_PATHID, pathid);
		pl[SHMCP_IP_FLAGS1] = SHMCP_IPNORPY;
		put32(pl, SHMCP_IP_BFLN1F, size);
		long number = last ? -1 : seq;
		memcpy(data, &number, sizeof number);
		if ((rc = shmcp_iucv_call(sys, slot, gen, SHMCP_IUCV_SEND, pl, data, NULL)))
			die("SEND", rc);
		outstanding++;
	}
	while (outstanding)
		if (next(sys, slot, gen, &r) == SHMCP_IPTYPE_NONPRIORITY_MESSAGE_COMPLETE)
			outstanding--;
	shmcp_logoff(sys, slot, gen);
	return seq - 1;  /* the numbered ones */
}

int main(int argc, char **argv)
{
	uint32_t size = argc > 1 ? (uint32_t)atol(argv[1]) : 0;
	double window = argc > 2 ? atof(argv[2]) : 0;
	if (argc != 3 || size < sizeof(long) || size > (1u << 20) || window <= 0)
		die("usage: core_stream SIZE(8..1048576) WINDOW_SECONDS", argc);
	/* doorbells: blocked while a VM waits, taken by sigtimedwait */
	signal(SIGUSR1, SIG_IGN);
	signal(SIGUSR2, SIG_IGN);
	struct shmcp_limits l = { .max_vms = 4, .queue_size = SHMCP_QUEUE_DEFAULT,
				  .storage = 1ull << 24, .spin_ns = SHMCP_SPIN_NS_DEFAULT,
				  .max_conn = 8, .max_msgs = 1024 };
	int fd = memfd_create("core_stream", MFD_CLOEXEC), rc;
	if (fd < 0 || (rc = shmcp_format(fd, &l, "STREAM")))
		die("format", fd);
	shmcp_sys *sys = shmcp_attach(fd, "STREAM", &rc);
	if (!sys)
		die("attach", rc);
	close(fd);
	int ready[2], result[2];
	if (pipe(ready) || pipe(result))
		die("pipe", 0);
	pid_t child = fork();
	if (child < 0)
		die("fork", 0);
	if (child == 0) {
		target(sys, size, ready[1], result[1]);
		_exit(0);
	}
	char c;
	if (read(ready[0], &c, 1) != 1)
		die("target did not log on", 0);
	long sent = source(sys, size, window);
	struct outcome o;
	if (read(result[0], &o, sizeof o) != sizeof o)
		die("target ended without a result", 0);
	int status;
	waitpid(child, &status, 0);
	if (!WIFEXITED(status) || WEXITSTATUS(status))
		die("target failed", status);
	double secs = o.secs > 1e-9 ? o.secs : 1e-9;
	printf("{\"sent\": %ld, \"received\": %ld, \"lost\": %ld, \"reordered\": %ld, \"secs\": %.6f, "
	       "\"msgs_per_s\": %.1f, \"mb_per_s\": %.3f}\n", sent, o.received,
	       o.lost + (sent > o.received + o.lost ? sent - o.received - o.lost : 0), o.reordered,
	       secs, o.received / secs, o.received * (double)size / secs / 1e6);
	return 0;
}
