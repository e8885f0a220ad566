/*
 * region.c - IUCV's region of the segment: its size, where its tables are
 * mapped, and the path behind a VM's path id.  The bottom of IUCV: the
 * path functions (iucv.c) and the message functions (iucv_msg.c) both use
 * it, and it uses neither.
 */
#include "iucv.h"

static uint64_t al64(uint64_t v)
{
	return (v + 63) & ~(uint64_t)63;
}

static uint32_t npaths_for(const struct shmcp_limits *lim)
{
	/* every path has two ends: at most max_vms * max_conn / 2 paths */
	return (uint32_t)(((uint64_t)lim->max_vms * lim->max_conn + 1) / 2);
}

/**
 * shmcp_iucv_region_size - bytes of IUCV tables for limits @lim.
 */
uint64_t shmcp_iucv_region_size(const struct shmcp_limits *lim)
{
	return al64(sizeof(struct shmcp_iucv_hdr)) +
	       al64((uint64_t)lim->max_vms * sizeof(struct shmcp_iucv_vm)) +
	       al64((uint64_t)lim->max_vms * lim->max_conn * sizeof(uint32_t)) +
	       al64((uint64_t)npaths_for(lim) * sizeof(struct shmcp_path)) +
	       al64((uint64_t)lim->max_msgs * sizeof(struct shmcp_msgblok));
}

/**
 * shmcp_iucv_tables - where the IUCV tables of @sys are mapped.
 */
void shmcp_iucv_tables(shmcp_sys *sys, struct shmcp_iucv *t)
{
	const struct shmcp_limits *lim = &sys->lim;
	uint8_t *p = sys->region[SHMCP_IUCV];
	t->max_vms = lim->max_vms;
	t->max_conn = lim->max_conn;
	t->npaths = npaths_for(lim);
	t->nmsgs = lim->max_msgs;
	t->hdr = (struct shmcp_iucv_hdr *)p;
	p += al64(sizeof(struct shmcp_iucv_hdr));
	t->vm = (struct shmcp_iucv_vm *)p;
	p += al64((uint64_t)t->max_vms * sizeof(struct shmcp_iucv_vm));
	t->pathmap = (uint32_t *)p;
	p += al64((uint64_t)t->max_vms * t->max_conn * sizeof(uint32_t));
	t->path = (struct shmcp_path *)p;
	p += al64((uint64_t)t->npaths * sizeof(struct shmcp_path));
	t->msg = (struct shmcp_msgblok *)p;
	t->unshown = 0;
}

/**
 * shmcp_iucv_path_of - the path behind path id @pathid of VM @slot, and
 * which end is the VM's; NULL if the id is not in use.
 */
struct shmcp_path *shmcp_iucv_path_of(struct shmcp_iucv *t, int32_t slot, uint16_t pathid,
				      int *end)
{
	if (pathid >= t->max_conn)
		return NULL;
	uint32_t v = t->pathmap[(size_t)slot * t->max_conn + pathid];
	if (v < 2 || (v >> 1) > t->npaths)  /* path index + 1, shifted: 0 and 1 name none */
		return NULL;
	struct shmcp_path *p = &t->path[(v >> 1) - 1];
	*end = (int)(v & 1);
	if (!p->in_use || p->e[*end].slot != slot || p->e[*end].pathid != pathid ||
	    p->e[*end].state == END_NONE || !end_slot_ok(t, p->e[1 - *end].slot))
		return NULL;
	return p;
}
