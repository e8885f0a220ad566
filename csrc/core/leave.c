/*
 * leave.c - the waits of a VM's process end when it lets go of a system.
 *
 * A process unmaps the segment at LOGOFF (and when it finds its VM forced
 * off or the system down).  Its other threads may be asleep in shmcp_wait
 * on that mapping at that moment: the caller (the extension, which counts
 * them) first makes every wait on the handle end with shmcp_leave, waits
 * until none is inside, and only then detaches.  The count is the
 * caller's: a thread must be counted before it lets the GIL go, or the
 * mapping could go between that and the core's first look.
 */
#include <limits.h>
#include <linux/futex.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "facility.h"

/* Wake every thread asleep on VM @slot's futex doorbell, if any counts
 * itself there: each looks again (and sees the handle let go). */
static void wake_sleepers(shmcp_sys *sys, int32_t slot)
{
	struct shmcp_vm *vm = &sys->vms[slot];
	/* after the caller's store of leaving: a sleeper whose look missed
	 * it counted itself in want before that look */
	atomic_thread_fence(memory_order_seq_cst);
	uint32_t sleepers = 0;
	for (int f = 0; f < SHMCP_NFAC; f++)
		sleepers |= atomic_load(&vm->fq[f].want) >= SHMCP_WANT_THREAD;
	if (!sleepers)
		return;
	atomic_fetch_or(&vm->thread_bell, 1);  /* the armed value changes */
	syscall(SYS_futex, &vm->thread_bell, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
}

/**
 * shmcp_leave - this process lets go of @sys: every wait on it ends with
 * SHMCP_WAIT_DOWN, at once for one asleep on VM @slot (logon @gen, this
 * process's), and none starts to sleep from now on.  A main thread asleep
 * in sigtimedwait (a handler is established) gets its facility's signal,
 * which that wait takes.  Process-local but for the doorbell words; never
 * undone (the handle is detached next).  Returns 0 or SHMCP_E_BADARG.
 */
int shmcp_leave(shmcp_sys *sys, int32_t slot, uint32_t gen)
{
	if (!shmcp_slot_ok(sys, slot))
		return SHMCP_E_BADARG;
	atomic_store(&sys->leaving, 1);
	wake_sleepers(sys, slot);
	struct shmcp_vm *vm = &sys->vms[slot];
	pid_t pid = getpid();
	if ((pid_t)syscall(SYS_gettid) == pid || __atomic_load_n(&vm->gen, __ATOMIC_SEQ_CST) != gen)
		return 0;  /* the main thread is the caller; or the slot is another VM's now */
	for (int f = 0; f < SHMCP_NFAC; f++)
		if (atomic_load(&vm->fq[f].want) & SHMCP_WANT_SLEEPING)
			syscall(SYS_tgkill, pid, pid, shmcp_signal_of(f));
	return 0;
}
