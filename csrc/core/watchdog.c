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
 * here).
 *
 * A new VM must be pinned at once too, or a kill right after its LOGON
 * waits for the next look.  LOGON rings the segment's watch bell (a futex
 * word, bumped and woken under the control lock, so before any partner
 * can CONNECT to the VM).  A futex cannot sit in a poll() set, so beside
 * the watchdog a second small thread, the listener, sleeps on the bell
 * and kicks the watchdog's poll() through an eventfd; the watchdog then
 * looks over the table and opens the new pidfd.  Both threads sleep
 * until something happens: no timed look is needed for new VMs.  Every
 * watchdog interval the watchdog reaps regardless, as before, in case a
 * pidfd could not be had (no pidfd_open, too many open files) or a VM
 * died inside LOGON before it rang.  Without a listener (no eventfd, no
 * thread) it looks over the table every 50 ms instead.  Many processes
 * may reap at once: the re-check under the lock makes each LOGOFF happen
 * once.  The threads block every signal, so doorbells and Ctrl-C reach
 * the main thread only, and they never touch Python.
 */
#include <limits.h>
#include <linux/futex.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/eventfd.h>
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
	if (sys->watch_kick >= 0)  /* first: the listener's kick */
		pfd[n++] = (struct pollfd){ .fd = sys->watch_kick, .events = POLLIN };
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

/**
 * shmcp_watch_ring - ring the watch bell: wake every process's listener
 * so its watchdog looks over the VM table now.  One atomic and one
 * futex wake-up.
 */
void shmcp_watch_ring(shmcp_sys *sys)
{
	atomic_fetch_add(&sys->hdr->watch_bell, 1);
	syscall(SYS_futex, &sys->hdr->watch_bell, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
}

/* Kick the watchdog out of its poll(). */
static void kick(shmcp_sys *sys)
{
	uint64_t one = 1;
	if (write(sys->watch_kick, &one, sizeof one) < 0) {
		/* the counter full is as good as kicked */
	}
}

/* The listener: asleep on the watch bell; each time it rang, kicks the
 * watchdog's poll(). */
static void *listen_bell(void *arg)
{
	shmcp_sys *sys = arg;
	_Atomic uint32_t *bell = &sys->hdr->watch_bell;
	uint32_t seen = atomic_load(bell);
	while (!atomic_load(&sys->watchdog_stop)) {
		/* EAGAIN (rung since @seen was read), EINTR: look again */
		syscall(SYS_futex, bell, FUTEX_WAIT, seen, NULL, NULL, 0);
		uint32_t now = atomic_load(bell);
		if (now != seen) {
			seen = now;
			kick(sys);
		}
	}
	return NULL;
}

static int64_t now_ms(void)
{
	return shmcp_now_ns() / 1000000;
}

static void *watch(void *arg)
{
	shmcp_sys *sys = arg;
	/* with a listener a new VM comes with a kick: sleep until the timed
	 * reap; without one, look for new VMs every 50 ms */
	const int64_t step_ms = sys->watch_kick >= 0 ? sys->watchdog_ms : 50;
	struct watched *w = calloc(sys->max_vms, sizeof *w);
	struct pollfd *pfd = calloc(sys->max_vms + 1, sizeof *pfd);
	for (uint32_t i = 0; w && i < sys->max_vms; i++)
		w[i].fd = -1;
	int64_t reaped = now_ms();
	while (!atomic_load(&sys->watchdog_stop)) {
		int dead = 0, n = 0;
		if (w && pfd)
			n = refresh(sys, w, pfd, &dead);
		if (dead && !shmcp_is_down(sys))
			shmcp_reap(sys);  /* found gone without a pidfd */
		dead = 0;
		int64_t left = sys->watchdog_ms - (now_ms() - reaped);
		int ready = poll(pfd, (nfds_t)n, (int)(left < 0 ? 0 : left < step_ms ? left : step_ms));
		for (int k = 0; ready > 0 && k < n; k++) {
			if (!pfd[k].revents)
				continue;
			if (pfd[k].fd == sys->watch_kick) {
				uint64_t kicks;  /* a new VM: refresh() above, next turn */
				if (read(sys->watch_kick, &kicks, sizeof kicks) < 0) {
					/* EAGAIN: nothing left to clear */
				}
			} else {
				dead = 1;
			}
		}
		if (shmcp_is_down(sys))
			break;
		if (dead || now_ms() - reaped >= sys->watchdog_ms) {
			reaped = now_ms();
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

/* Stop and join the listener, if any (its kick is open), close the kick.  The
 * bell it sleeps on is shared: ringing it wakes every process's listener,
 * and the others' watchdogs look over the table once, for nothing. */
static void stop_listener(shmcp_sys *sys)
{
	atomic_store(&sys->watchdog_stop, 1);
	if (sys->watch_kick < 0)
		return;
	shmcp_watch_ring(sys);
	pthread_join(sys->listener, NULL);
	close(sys->watch_kick);
	sys->watch_kick = -1;
}

/**
 * shmcp_watchdog_start - start the reaper thread for @sys and its
 * listener on the watch bell, reaping regardless every @interval_ms (at
 * most 1000 so a death is noticed within a second even without a pidfd).
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
	sys->watch_kick = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	sigset_t all, old;
	sigfillset(&all);
	/* the new threads inherit this mask: they block everything */
	pthread_sigmask(SIG_SETMASK, &all, &old);
	if (sys->watch_kick >= 0 && pthread_create(&sys->listener, NULL, listen_bell, sys)) {
		close(sys->watch_kick);
		sys->watch_kick = -1;
	}
	int rc = pthread_create(&sys->watchdog, NULL, watch, sys);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc) {
		stop_listener(sys);
		return SHMCP_E_SYS;
	}
	sys->watchdog_on = 1;
	return 0;
}

/**
 * shmcp_watchdog_stop - stop and join the reaper thread and its
 * listener.  Idempotent.
 */
void shmcp_watchdog_stop(shmcp_sys *sys)
{
	if (!sys->watchdog_on)
		return;
	atomic_store(&sys->watchdog_stop, 1);
	if (sys->watch_kick >= 0)
		kick(sys);  /* out of its poll() now */
	pthread_join(sys->watchdog, NULL);
	stop_listener(sys);
	sys->watchdog_on = 0;
}
