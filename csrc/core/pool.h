/*
 * pool.h - CP's storage pool: a buddy allocator over one region of the
 * system segment.  Internal to the core (not read by cffi).
 *
 * State lives in two places of the segment: the per-block tag array (the
 * source of truth: every block's order, whether it is free, its owner) and
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
	uint16_t owner;     /* who allocated it (slot + 1; 0 = CP itself) */
};
#define SHMCP_POOL_INTERIOR 0
#define SHMCP_POOL_FREE     1
#define SHMCP_POOL_USED     2

/* Pool bookkeeping kept in the segment header. Offsets are relative to the
 * pool's base; SHMCP_POOL_NIL ends a list. */
#define SHMCP_POOL_NIL UINT64_MAX
struct shmcp_pool_hdr {
	uint64_t size;                          /* bytes, a power of two */
	uint32_t orders;                        /* log2(size) - MIN_SHIFT + 1 */
	uint32_t _pad;
	uint64_t free_bytes;
	uint64_t free_head[SHMCP_POOL_MAX_ORDERS];
};

/* A process-local view of the pool: where its pieces are mapped. */
struct shmcp_pool {
	struct shmcp_pool_hdr *hdr;
	struct shmcp_pool_tag *tags;            /* size >> MIN_SHIFT entries */
	uint8_t *base;
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
/* Free the block at @off. Returns 0, or -1 if @off is not the start of an
 * allocated block (bad offset from a corrupt record: nothing is changed). */
int shmcp_pool_free(struct shmcp_pool *p, uint64_t off);
/* Length of the allocated block at @off, or 0 if @off is not one. */
uint64_t shmcp_pool_block_len(const struct shmcp_pool *p, uint64_t off);
/* Rebuild the free lists and free_bytes from the tags (repair after a
 * lock holder died). Returns 0, or -1 if the tags are not a partition. */
int shmcp_pool_rebuild(struct shmcp_pool *p);
/* Free every block owned by @owner; returns how many were freed. */
uint64_t shmcp_pool_free_owner(struct shmcp_pool *p, uint16_t owner);

#endif
