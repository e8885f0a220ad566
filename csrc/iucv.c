/*
 * iucv.c - the IUCV facility's tables in the system segment.
 *
 * The region is empty until the IUCV functions arrive (issue 3); the
 * layout and the logoff hook already reserve its place.
 */
#include "internal.h"

/**
 * shmcp_iucv_region_size - bytes of IUCV tables for limits @lim.
 */
uint64_t shmcp_iucv_region_size(const struct shmcp_limits *lim)
{
	(void)lim;
	return 0;
}

/**
 * shmcp_iucv_logoff - LOGOFF's IUCV part for VM @slot (lock held):
 * sever its paths, notify partners through @bells.  Idempotent.
 */
void shmcp_iucv_logoff(shmcp_sys *sys, int32_t slot, struct shmcp_bells *bells)
{
	(void)sys;
	(void)slot;
	(void)bells;
}
