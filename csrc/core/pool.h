/*
 * pool.h - CP's storage pool: a buddy allocator over one region of the
 * system segment.  Internal to the core (not read by cffi).
 *
 * State lives in two places of the segment: the per-block tag array (the
 * source of truth: every block's order, whether it is free, its holder) and
 * the free lists (derived; rebuilt from the tags by shmcp_pool_rebuild()
 * after a process died holding the control lock).  Tags are written in an
 * order that leaves a valid partition of the pool after every single store,
 * so a walk of the tags is always consistent.
 *
 * All functions are called with the control lock held.
 */
#ifndef SHMCP_POOL_H
#define SHMCP_POOL_H

#include <stdint.h>

#define SHMCP_POOL_MIN_SHIFT 6          /* smallest block: 64 bytes */
#define SHMCP_POOL_MAX_ORDERS 40        /* orders 0..39 above the minimum */

/* Tag of the block starting at a min-block index (4 bytes each). */
struct shmcp_pool_tag {
	uint8_t order;      /* block size is 1 << (order + SHMCP_POOL_MIN_SHIFT) */
	uint8_t state;      /* SHMCP_POOL_FREE / SHMCP_POOL_USED; 0 = interior */
	uint16_t owner;     /* who holds it: SHMCP_POOL_OWNER_* below */
};
#define SHMCP_POOL_INTERIOR 0
#define SHMCP_POOL_FREE     1
#define SHMCP_POOL_USED     2

/*
 * Who holds a block: the one thing that frees it, exactly once.  Staged
 * data belongs to its message, never to the VM that staged it (whose
 * LOGOFF must not free what a message still names).  A message's owner is
 * its table index folded into 14 or 15 bits: a free naming the wrong
 * holder is refused, and with the default table sizes the fold is exact.
 */
#define SHMCP_POOL_OWNER_CP 0           /* CP's own: the IUCV directory, temporaries */
/* a record's trailing data, held by the VM it was queued for: freed when
 * it takes the data, or by its LOGOFF (it may have taken the record off
 * its queue and died before taking the data) */
#define SHMCP_POOL_OWNER_VM(slot) ((uint16_t)((slot) + 1))
#define SHMCP_POOL_OWNER_VM_MAX 0x3fff
/* data and reply of a facility's message table entry @idx, in one of two
 * holder classes (a facility's holder_class, core/facility.h): wide, the
 * index folded into 15 bits (IUCV's MSGBLOKs), or narrow, into 14 */
#define SHMCP_POOL_OWNER_WIDE(idx) ((uint16_t)(0x8000 | ((idx) & 0x7fff)))
#define SHMCP_POOL_OWNER_NARROW(idx) ((uint16_t)(0x4000 | ((idx) & 0x3fff)))
#define SHMCP_POOL_OWNER_IS_WIDE(o) (((o) & 0x8000) != 0)
#define SHMCP_POOL_OWNER_IS_NARROW(o) (((o) & 0xc000) == 0x4000)

/* Pool bookkeeping kept in the segment header. Offsets are relative to the
 * pool's base; SHMCP_POOL_NIL ends a list. */
#define SHMCP_POOL_NIL UINT64_MAX
struct shmcp_pool_hdr {
	uint64_t size;                          /* bytes, a power of two */
	uint32_t orders;                        /* log2(size) - MIN_SHIFT + 1 */
	uint32_t refused;                       /* frees refused as corruption */
	uint64_t free_bytes;
	uint64_t free_head[SHMCP_POOL_MAX_ORDERS];
};

/* A process-local view of the pool: where its pieces are mapped. */
struct shmcp_pool {
	struct shmcp_pool_hdr *hdr;
	struct shmcp_pool_tag *tags;            /* size >> MIN_SHIFT entries */
	uint8_t *base;
	/* process-local, so the checks of the message path read no line
	 * another process writes: the size the pool was attached (or
	 * formatted) with, and this process's refused frees */
	uint64_t size;
	uint32_t refused;
};

/* Bytes of tag array needed for a pool of @size bytes. */
uint64_t shmcp_pool_tag_bytes(uint64_t size);
/* Format a fresh pool: one free block per top order covering @size
 * (a power of two, >= 1 << MIN_SHIFT). */
void shmcp_pool_format(struct shmcp_pool *p, uint64_t size);
/* Check the header against the mapped size; 0 if sane, -1 if corrupt. */
int shmcp_pool_check(const struct shmcp_pool *p, uint64_t size);
/* Before the lock: prefetch for writing the block an allocation of @len
 * would most likely get (the head of its free list; read without the lock,
 * so possibly stale: only ever an address to prefetch, inside the pool). */
void shmcp_pool_prefetch_alloc(const struct shmcp_pool *p, uint64_t len);

/* Allocate @len bytes (0 allowed: takes a minimum block) for @owner.
 * Returns the offset, or SHMCP_POOL_NIL when no block is large enough. */
uint64_t shmcp_pool_alloc(struct shmcp_pool *p, uint64_t len, uint16_t owner);
/* Free the block at @off that @owner holds.  Returns 0, or -1 if @off is
 * not the start of an allocated block held by @owner (a double free, or a
 * bad offset from a corrupt record): nothing is changed then but the
 * counts of refused frees (the header's, and this view's, which callers
 * compare without touching the header's line). */
int shmcp_pool_free(struct shmcp_pool *p, uint64_t off, uint16_t owner);
/* Length of the allocated block at @off, or 0 if @off is not one. */
uint64_t shmcp_pool_block_len(const struct shmcp_pool *p, uint64_t off);
/* Is @off the start of an allocated block of at least @len bytes that
 * @owner holds?  (Checked before data is copied out: never another's.) */
int shmcp_pool_held_by(const struct shmcp_pool *p, uint64_t off, uint64_t len, uint16_t owner);
/* Rebuild the free lists and free_bytes from the tags (repair after a
 * lock holder died). Returns 0, or -1 if the tags are not a partition. */
int shmcp_pool_rebuild(struct shmcp_pool *p);
/* Free every block owned by @owner; returns how many were freed. */
uint64_t shmcp_pool_free_owner(struct shmcp_pool *p, uint16_t owner);
/* Repair after a lock holder died: free every allocated block that
 * @held(@ctx, off, owner) says its holder does not name (allocated, or
 * let go, by the dead holder just before or after the store that names
 * it).  Returns how many were freed. */
uint64_t shmcp_pool_sweep(struct shmcp_pool *p,
			  int (*held)(void *ctx, uint64_t off, uint16_t owner), void *ctx);

#endif
