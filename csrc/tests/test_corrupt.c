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
 * watchdog reaped the word's owner.
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
	return report("test_corrupt");
}
