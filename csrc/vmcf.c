/*
 * vmcf.c - the VMCF facility's tables in the system segment.
 *
 * The region is empty until the VMCF functions arrive (issue 4); the
 * layout and the logoff hook already reserve its place.
 */
#include "internal.h"

/**
 * shmcp_vmcf_region_size - bytes of VMCF tables for limits @lim.
 */
uint64_t shmcp_vmcf_region_size(const struct shmcp_limits *lim)
{
	(void)lim;
	return 0;
}

/**
 * shmcp_vmcf_logoff - LOGOFF's VMCF part for VM @slot (lock held):
 * answer its waiting sources (error code 5), notify them through @bells.  Idempotent.
 */
void shmcp_vmcf_logoff(shmcp_sys *sys, int32_t slot, struct shmcp_bells *bells)
{
	(void)sys;
	(void)slot;
	(void)bells;
}
