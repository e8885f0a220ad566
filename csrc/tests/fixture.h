/*
 * fixture.h - the C tests' common set-up: a small system in a memfd, with
 * VMs A and B logged on by this process or none.
 */
#ifndef SHMCP_TEST_FIXTURE_H
#define SHMCP_TEST_FIXTURE_H
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "check.h"
#include "../core/image.h"
#include "../core/internal.h"
#include "../include/shmcp_iucv.h"
#include "../include/shmcp_vmcf.h"

/* A small system "T" in a memfd: @max_vms VMs, 256-record queues, 1 MiB of
 * storage, no spin. */
static inline shmcp_sys *small_system(const char *memfd_name, uint32_t max_vms)
{
	struct shmcp_limits l = { .max_vms = max_vms, .queue_size = 256, .storage = 1 << 20,
				  .spin_ns = 0, .max_conn = 8, .max_msgs = 64 };
	int fd = memfd_create(memfd_name, MFD_CLOEXEC), rc;
	CHECK(fd >= 0 && shmcp_format(fd, &l, "T") == 0);
	shmcp_sys *sys = shmcp_attach(fd, "T", &rc);
	close(fd);
	CHECK(sys != NULL);
	return sys;
}

static inline shmcp_sys *system_with_a_and_b(const char *memfd_name, int32_t *a, uint32_t *ga,
					     int32_t *b, uint32_t *gb)
{
	signal(SIGUSR1, SIG_IGN); /* the doorbells of the VMs this test plays */
	signal(SIGUSR2, SIG_IGN);
	shmcp_sys *sys = small_system(memfd_name, 4);
	pid_t me = getpid();
	uint64_t start = shmcp_proc_starttime(me);
	CHECK(shmcp_logon(sys, "A       ", me, start, a, ga) == 0);
	CHECK(shmcp_logon(sys, "B       ", me, start, b, gb) == 0);
	return sys;
}

/* the IUCV instruction: CC0/2/3, or 1000 + IPRCODE for CC1, or SHMCP_E_* */
static inline int iucv_call(shmcp_sys *sys, int32_t slot, uint32_t gen, int func, uint8_t *pl,
			    const uint8_t *in, uint8_t *out)
{
	int cc = shmcp_iucv_call(sys, slot, gen, func, pl, in, out);
	return cc == 1 ? 1000 + pl[SHMCP_IP_RCODE] : cc;
}

/* A and B declare buffers, A connects to B and B accepts; both ends'
 * connection interrupts are taken.  Returns A's path id. */
static inline uint16_t iucv_path_a_to_b(shmcp_sys *sys, int32_t a, uint32_t ga, int32_t b,
					uint32_t gb)
{
	uint8_t pl[40] = { 0 };
	struct shmcp_record r;
	CHECK(iucv_call(sys, a, ga, SHMCP_IUCV_DCLBFR, pl, NULL, NULL) == 0);
	CHECK(iucv_call(sys, b, gb, SHMCP_IUCV_DCLBFR, pl, NULL, NULL) == 0);
	memcpy(pl + SHMCP_IP_VMID, "B       ", 8);
	CHECK(iucv_call(sys, a, ga, SHMCP_IUCV_CONNECT, pl, NULL, NULL) == 0);
	uint16_t apath = ip16(pl, SHMCP_IP_PATHID);
	CHECK(shmcp_pop(sys, b, 1 << SHMCP_IUCV, &r) == 1);  /* pending connection */
	memset(pl, 0, sizeof pl);
	memcpy(pl, r.data, 2);
	CHECK(iucv_call(sys, b, gb, SHMCP_IUCV_ACCEPT, pl, NULL, NULL) == 0);
	CHECK(shmcp_pop(sys, a, 1 << SHMCP_IUCV, &r) == 1);  /* connection complete */
	return apath;
}

#endif
