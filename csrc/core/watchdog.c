/*
 * watchdog.c - noticing dead VMs without a daemon.
 *
 * Every process with a VM logged on runs one small C thread per attached
 * system that looks over the VM table a few times a second and logs off
 * any VM whose process died (shmcp_reap).  Many processes may reap at
 * once: the re-check under the lock makes each LOGOFF happen once.  The
 * thread blocks every signal, so doorbells and Ctrl-C reach the main
 * thread only, and it never touches Python.
 */
#include <signal.h>
#include <time.h>

#include "internal.h"

static void *watch(void *arg)
{
	shmcp_sys *sys = arg;
	const uint32_t step_ms = 50;
	uint32_t waited = 0;
	while (!atomic_load(&sys->watchdog_stop)) {
		struct timespec ts = { 0, step_ms * 1000000L };
		nanosleep(&ts, NULL);
		waited += step_ms;
		if (waited < sys->watchdog_ms)
			continue;
		waited = 0;
		if (shmcp_is_down(sys))
			break;
		shmcp_reap(sys);
	}
	return NULL;
}

/**
 * shmcp_watchdog_start - start the reaper thread for @sys, looking every
 * @interval_ms (at most 1000 so a death is noticed within a second).
 * Returns 0, or SHMCP_E_SYS.  Idempotent.
 */
int shmcp_watchdog_start(shmcp_sys *sys, uint32_t interval_ms)
{
	if (sys->watchdog_on)
		return 0;
	if (interval_ms == 0 || interval_ms > 1000)
		return SHMCP_E_BADARG;
	sys->watchdog_ms = interval_ms;
	atomic_store(&sys->watchdog_stop, 0);
	sigset_t all, old;
	sigfillset(&all);
	/* the new thread inherits this mask: it blocks everything */
	pthread_sigmask(SIG_SETMASK, &all, &old);
	int rc = pthread_create(&sys->watchdog, NULL, watch, sys);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc)
		return SHMCP_E_SYS;
	sys->watchdog_on = 1;
	return 0;
}

/**
 * shmcp_watchdog_stop - stop and join the reaper thread.  Idempotent.
 */
void shmcp_watchdog_stop(shmcp_sys *sys)
{
	if (!sys->watchdog_on)
		return;
	atomic_store(&sys->watchdog_stop, 1);
	pthread_join(sys->watchdog, NULL);
	sys->watchdog_on = 0;
}
