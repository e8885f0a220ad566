/*
 * logoff.c - what LOGOFF does to CP's tables, whatever caused it:
 * logoff(), normal exit, an uncaught exception, SIGKILL, or FORCE.
 *
 * Each facility does its part here first (core/facility.h: IUCV severs the
 * VM's paths, VMCF answers its waiting senders).  It runs with the
 * control lock held, exactly once per logon: the caller marks the slot
 * CLOSING first, and if the caller dies inside, the lock's repair runs the
 * hook again, so every step must be idempotent.
 */
#include "facility.h"

/**
 * shmcp_logoff_hook - release everything VM @slot holds in CP's storage
 * and tell its partners (the doorbells to ring go into @bells).
 * Lock held; slot state is SHMCP_VM_CLOSING.
 */
void shmcp_logoff_hook(shmcp_sys *sys, int32_t slot, struct shmcp_bells *bells)
{
	SHMCP_LOCK_HELD(sys);
	struct shmcp_vm *vm = &sys->vms[slot];
	/* the facilities first: they may queue interrupts for partners
	 * (path severed, VMCF error code 5), rung by the caller after unlock */
	for (int f = 0; f < SHMCP_NFAC; f++)
		shmcp_facilities[f]->logoff(sys, slot, bells);
	/* interrupts nobody will take: free their trailing data */
	shmcp_queue_drain(sys, slot);
	/* trailing data of records it took off its queue but never took the
	 * data of (it died in between).  Nothing else is the VM's: what it
	 * staged belongs to its messages, ended above or still queued at a
	 * partner, and is freed when they end (docs/decisions.md) */
	shmcp_pool_free_owner(&sys->pool, SHMCP_POOL_OWNER_VM(slot));
	/* a VM that died while counted running must not keep others from
	 * spinning */
	shmcp_running_set(sys, slot, 0);
	if (vm->hooked_gen != vm->gen) {
		vm->hooked_gen = vm->gen;
		atomic_fetch_add(&sys->hdr->logoffs, 1);
	}
}
