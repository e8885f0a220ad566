/*
 * facility.h - what a facility (IUCV, VMCF, ...) gives the core.
 *
 * The core keeps, per VM and facility, two interrupt rings and a doorbell,
 * and it runs LOGOFF, the lock's repair and shmcp_next; it never names a
 * facility.  Where one of those needs a facility's own work it calls the
 * facility's entry in shmcp_facilities[], indexed by the facility number
 * its records carry -- in the spirit of the Linux IUCV handler struct or
 * SQLite's VFS methods.  A new facility is its folder, its public header,
 * its number below SHMCP_NFAC and one more entry in csrc/facilities.c.
 */
#ifndef SHMCP_FACILITY_H
#define SHMCP_FACILITY_H

#include "internal.h"

/* What a facility's present() did with a record shmcp_next took. */
#define SHMCP_SHOW_AS_IS 0       /* not its to present: the caller gets it as is */
#define SHMCP_SHOW_PRESENTED 1   /* presented (shmcp_next's SHMCP_WAIT_PRESENTED) */
#define SHMCP_SHOW_WITHDRAWN 2   /* withdrawn meanwhile: dropped, not shown */

#define SHMCP_HOLDER_NONE 0      /* its messages hold no pool blocks */
#define SHMCP_HOLDER_WIDE 1      /* SHMCP_POOL_OWNER_WIDE (core/pool.h) */
#define SHMCP_HOLDER_NARROW 2    /* SHMCP_POOL_OWNER_NARROW */

struct shmcp_facility {
	const char *name;
	int signal;              /* the signal that rings its doorbell */
	/* 1 if the limits of its own in @lim are in range (NULL: it has none) */
	int (*limits_ok)(const struct shmcp_limits *lim);
	/* bytes its region of the segment needs for limits @lim (0 allowed);
	 * the region starts zero-filled, which must be its empty state */
	uint64_t (*region_size)(const struct shmcp_limits *lim);
	/* LOGOFF's part for VM @slot, run by the logoff hook with the lock held
	 * (and again by the lock's repair if its holder died inside): must be
	 * idempotent; interrupts it queues for partners ring via @bells */
	void (*logoff)(shmcp_sys *sys, int32_t slot, struct shmcp_bells *bells);
	/* shmcp_next took @rec for VM @slot (logon @gen), in the VM's process,
	 * the lock not held: present it if the caller's @present_types ask
	 * for it (SHMCP_SHOW_*).  NULL: every record goes back as is */
	int (*present)(shmcp_sys *sys, int32_t slot, uint32_t gen, uint32_t present_types,
		       struct shmcp_record *rec);
	/* 1 if interrupt @rec (no trailing data) of VM @slot (logon @gen) is
	 * withdrawn: nobody will be shown it (shmcp_drop_withdrawn; lock held) */
	int (*withdrawn)(shmcp_sys *sys, int32_t slot, uint32_t gen, const uint8_t *rec);
	/* for the lock's repair (shmcp_pool_sweep; lock held): 1 if its
	 * tables still name pool block @off, held as @owner (one of its
	 * messages' owners, or SHMCP_POOL_OWNER_CP), 0 if not, -1 if @owner
	 * is none of its (NULL: it holds no block) */
	int (*holds)(shmcp_sys *sys, uint16_t owner, uint64_t off);
	/* the pool holder class its messages' blocks are tagged with
	 * (SHMCP_HOLDER_*): how the snapshot counts storage by facility */
	int holder_class;
	/* the operator's view (snapshot.c; lock held, reads only): fill its
	 * part of @s -- its fields of the VM rows already copied, its own rows
	 * and counters (NULL: it shows nothing more) */
	void (*snap)(shmcp_sys *sys, struct shmcp_snapshot *s);
	/* for the trace (trace.c; lock held): who caused interrupt @rec for VM
	 * @slot, if the facility can tell (a path's partner): its slot or
	 * SHMCP_FROM_CP, with its userid in @from; SHMCP_FROM_NONE if it cannot
	 * (the trace then names the VM of the posting process) */
	int32_t (*origin)(shmcp_sys *sys, int32_t slot, const uint8_t *rec, char from[8]);
	/* the lock's repair, after a holder died (lock held; rings and pool
	 * already whole): make its own tables consistent whatever store the
	 * kill interrupted, and queue what partners are owed into @bells.
	 * Must be idempotent (NULL: nothing to repair) */
	void (*repair)(shmcp_sys *sys, struct shmcp_bells *bells);
};

/* facilities.c: by facility number */
extern const struct shmcp_facility *const shmcp_facilities[SHMCP_NFAC];

#endif
