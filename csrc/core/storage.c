/*
 * storage.c - how much of CP's storage is free, for queries and tests.
 */
#include "internal.h"

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
	return sys->pool.hdr->size;
}
