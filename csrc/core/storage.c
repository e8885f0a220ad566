/*
 * storage.c - how much of CP's storage is free, for queries and tests, and
 * who holds a block of it, for the lock's repair.
 */
#include "facility.h"

_Static_assert(SHMCP_MAX_VMS_LIMIT <= SHMCP_POOL_OWNER_VM_MAX,
	       "a VM's pool owner must not look like a message's");

uint64_t shmcp_storage_free(shmcp_sys *sys)
{
	if (shmcp_lock(sys))
		return 0;
	uint64_t n = sys->pool.hdr->free_bytes;
	shmcp_unlock(sys);
	return n;
}

uint64_t shmcp_storage_size(shmcp_sys *sys)
{
	return sys->pool.size;
}

/**
 * shmcp_storage_held - does the holder that @owner names still name pool
 * block @off?  A VM's blocks (records' trailing data it may have taken
 * off its queue) always count: its LOGOFF frees them.  A message's, and
 * CP's own, count while a facility's tables name them (core/facility.h
 * holds); a block no facility claims is nobody's.
 */
int shmcp_storage_held(void *ctx, uint64_t off, uint16_t owner)
{
	shmcp_sys *sys = ctx;
	if (owner != SHMCP_POOL_OWNER_CP && owner <= SHMCP_POOL_OWNER_VM_MAX)
		return 1;
	for (int f = 0; f < SHMCP_NFAC; f++) {
		int held = shmcp_facilities[f]->holds ? shmcp_facilities[f]->holds(sys, owner, off) : -1;
		if (held >= 0)
			return held;
	}
	return 0;
}
