/*
 * watchdog.c - noticing dead VMs without a daemon.
 *
 * Every process with a VM logged on runs one small C thread per attached
 * system that logs off any VM whose process died (shmcp_reap).  It holds
 * a pidfd for each live VM's process and sleeps in poll() on them: a
 * pidfd becomes readable when its process exits, so a death is noticed at
 * once, not at the next look.  A pidfd is opened once per logon and
 * checked against the start time recorded at logon, so it pins the VM's
 * own process, never one that reused its pid (nothing is signalled
 * here).  The table is looked over every 50 ms for VMs come and gone,
 * and every watchdog interval it reaps regardless, as before, in case a
 * pidfd could not be had (no pidfd_open, too many open files).  Many
 * processes may reap at once: the re-check under the lock makes each
 * LOGOFF happen once.  The thread blocks every signal, so doorbells and
 * Ctrl-C reach the main thread only, and it never touches Python.
 */
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

/* The watched process of one VM slot. */
struct watched {
	int fd;        /* its pidfd, or -1 */
	uint32_t gen;  /* the logon it was opened for (0: none tried) */
};

/* Bring @w up to date with the VM table: a pidfd for each live VM's
 * logon, none for the rest; the open ones go into @pfd.  Returns how
 * many, and sets *@dead when a VM's process was found gone. */
static int refresh(shmcp_sys *sys, struct watched *w, struct pollfd *pfd, int *dead)
{
	int n = 0;
	for (uint32_t i = 0; i < sys->max_vms; i++) {
		struct shmcp_vm *vm = &sys->vms[i];
		int active = atomic_load(&vm->state) == SHMCP_VM_ACTIVE;
		uint32_t gen = vm->gen;
		if (w[i].fd >= 0 && (!active || w[i].gen != gen)) {
			close(w[i].fd);
			w[i].fd = -1;
		}
		if (active && w[i].gen != gen) {
			int32_t pid = vm->pid;
			uint64_t start = vm->starttime;
			int fd = (int)syscall(SYS_pidfd_open, pid, 0);
			if (!shmcp_proc_alive(pid, start)) {
				/* gone, its pid reused, or a LOGON read half
				 * written: reap, and look again next time */
				if (fd >= 0)
					close(fd);
				*dead = 1;
				continue;
			}
			w[i].gen = gen;  /* no pidfd (EMFILE): the timed reap */
			w[i].fd = fd;
		}
		if (w[i].fd >= 0)
			pfd[n++] = (struct pollfd){ .fd = w[i].fd, .events = POLLIN };
	}
	return n;
}

static void *watch(void *arg)
{
	shmcp_sys *sys = arg;
	const int step_ms = 50;
	struct watched *w = calloc(sys->max_vms, sizeof *w);
	struct pollfd *pfd = calloc(sys->max_vms, sizeof *pfd);
	for (uint32_t i = 0; w && i < sys->max_vms; i++)
		w[i].fd = -1;
	uint32_t waited = 0;
	while (!atomic_load(&sys->watchdog_stop)) {
		int dead = 0, n = 0;
		if (w && pfd)
			n = refresh(sys, w, pfd, &dead);
		if (dead && !shmcp_is_down(sys))
			shmcp_reap(sys);  /* found gone without a pidfd */
		dead = 0;
		int ready = poll(pfd, (nfds_t)n, step_ms);
		for (int k = 0; ready > 0 && k < n; k++)
			if (pfd[k].revents)
				dead = 1;
		if (ready <= 0)
			waited += step_ms;
		if (shmcp_is_down(sys))
			break;
		if (dead || waited >= sys->watchdog_ms) {
			waited = 0;
			shmcp_reap(sys);
			/* a pidfd that stays readable (its VM not logged off:
			 * the lock failed) must not spin: drop it, the timed
			 * reap is left */
			for (uint32_t i = 0; dead && w && i < sys->max_vms; i++)
				if (w[i].fd >= 0 && atomic_load(&sys->vms[i].state) == SHMCP_VM_ACTIVE &&
				    w[i].gen == sys->vms[i].gen &&
				    poll(&(struct pollfd){ .fd = w[i].fd, .events = POLLIN }, 1, 0) > 0) {
					close(w[i].fd);
					w[i].fd = -1;
				}
		}
	}
	for (uint32_t i = 0; w && i < sys->max_vms; i++)
		if (w[i].fd >= 0)
			close(w[i].fd);
	free(w);
	free(pfd);
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
