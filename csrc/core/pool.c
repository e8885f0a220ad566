/*
 * pool.c - CP's storage pool: a buddy allocator inside the system segment.
 *
 * The tag array is the source of truth.  Every tag store is ordered so
 * that after each single store a walk of the tags from offset 0 (read the
 * tag, require FREE or USED, skip the block) is a valid partition of the
 * pool; a process killed between any two stores therefore leaves a pool
 * that shmcp_pool_rebuild() can repair.  The free lists (doubly linked, the
 * links kept in the first 16 bytes of each free block) and free_bytes are
 * derived state: every offset read from them is checked before use, and a
 * bad one makes the pool rebuild them from the tags instead of crashing.
 *
 * The tag walk invariants, by operation:
 *   split   upper half's tag (state written last), then the lower's order;
 *   merge   lower's order, then the upper's state to INTERIOR;
 *   alloc   owner, then state USED;  free   state FREE, then owner.
 * The holder's own record of a block (a message's offset) is written after
 * the allocation and cleared before the free, so a kill between the two
 * leaves a block nobody names, which shmcp_pool_sweep() frees.
 * A kill can leave one stale tag behind, always at the midpoint of a FREE
 * block; rebuild clears it, and coalesces free buddies an interrupted
 * free left unmerged.
 */
#include <stdatomic.h>
#include <string.h>

#include "pool.h"
#include "prefetch.h"

/*
 * Keep the compiler from reordering or merging tag stores across this
 * point.  The lock holder is the only writer, so no CPU fence is needed:
 * a SIGKILL stops the process between instructions, and the stores that
 * were executed become visible in program order to whoever repairs.
 */
#define STORE_ORDER() atomic_signal_fence(memory_order_seq_cst)

/* The links of a free block, kept in its first 16 bytes. */
struct link {
	uint64_t next, prev;
};

static uint64_t bsize(unsigned order)
{
	return (uint64_t)1 << (order + SHMCP_POOL_MIN_SHIFT);
}

/* The order of the smallest block that holds @len bytes (@len <= 2^45, so
 * the shift cannot overflow). */
static unsigned order_for(uint64_t len)
{
	unsigned order = 0;
	while (bsize(order) < len)
		order++;
	return order;
}

static int is_pow2(uint64_t v)
{
	return v && !(v & (v - 1));
}

/* The header is self-consistent, so sizes derived from it cannot overflow,
 * and its size is the one this process mapped (a stray write to it must
 * not move every bound past the mapping). */
static int hdr_ok(const struct shmcp_pool *p)
{
	const struct shmcp_pool_hdr *h = p->hdr;
	if (h->size != p->size || !is_pow2(h->size) || h->size < bsize(0))
		return 0;
	return h->orders == (uint32_t)__builtin_ctzll(h->size) - SHMCP_POOL_MIN_SHIFT + 1 &&
	       h->orders <= SHMCP_POOL_MAX_ORDERS;
}

static struct shmcp_pool_tag *tag(const struct shmcp_pool *p, uint64_t off)
{
	return &p->tags[off >> SHMCP_POOL_MIN_SHIFT];
}

static struct link *link_at(const struct shmcp_pool *p, uint64_t off)
{
	return (struct link *)(p->base + off);
}

/* @off is the start of a block of order @order whose tag says @state. */
static int block_is(const struct shmcp_pool *p, uint64_t off, unsigned order, uint8_t state)
{
	if (off >= p->size || (off & (bsize(order) - 1)))
		return 0;
	const struct shmcp_pool_tag *t = tag(p, off);
	return t->state == state && t->order == order;
}

/*
 * The block at @off of order @order may be dereferenced as a free block
 * of that order's list.  Checked before every read of a link: the lists
 * live in shared memory and may be stale or corrupt.
 */
static int free_ok(const struct shmcp_pool *p, uint64_t off, unsigned order)
{
	return off != SHMCP_POOL_NIL && block_is(p, off, order, SHMCP_POOL_FREE);
}

/* Unlink free block @off from list @order.  0, or -1 if the links around
 * it are inconsistent (nothing is written then). */
static int list_remove(struct shmcp_pool *p, uint64_t off, unsigned order)
{
	struct link *l = link_at(p, off);
	uint64_t next = l->next, prev = l->prev;

	if (next == off || prev == off || (next != SHMCP_POOL_NIL && next == prev))
		return -1;
	if (next != SHMCP_POOL_NIL &&
	    (!free_ok(p, next, order) || link_at(p, next)->prev != off))
		return -1;
	if (prev == SHMCP_POOL_NIL ? p->hdr->free_head[order] != off
				   : !free_ok(p, prev, order) || link_at(p, prev)->next != off)
		return -1;
	if (prev == SHMCP_POOL_NIL)
		p->hdr->free_head[order] = next;
	else
		link_at(p, prev)->next = next;
	if (next != SHMCP_POOL_NIL)
		link_at(p, next)->prev = prev;
	return 0;
}

/* Push free block @off onto list @order.  0, or -1 if the list head is bad
 * (nothing is written then). */
static int list_push(struct shmcp_pool *p, uint64_t off, unsigned order)
{
	uint64_t head = p->hdr->free_head[order];

	if (head != SHMCP_POOL_NIL &&
	    (head == off || !free_ok(p, head, order) || link_at(p, head)->prev != SHMCP_POOL_NIL))
		return -1;
	struct link *l = link_at(p, off);
	l->next = head;
	l->prev = SHMCP_POOL_NIL;
	if (head != SHMCP_POOL_NIL)
		link_at(p, head)->prev = off;
	p->hdr->free_head[order] = off;
	return 0;
}

/*
 * Merge the FREE block at @hi (order @order) into its lower buddy @lo,
 * which is FREE with the same order.  The lower's order grows first, so
 * the walk skips the upper tag before it stops being a block start.
 */
static void merge_tags(struct shmcp_pool *p, uint64_t lo, uint64_t hi, unsigned order)
{
	struct shmcp_pool_tag *u = tag(p, hi);

	tag(p, lo)->order = (uint8_t)(order + 1);
	STORE_ORDER();
	u->state = SHMCP_POOL_INTERIOR;
	STORE_ORDER();
	u->order = 0;
	u->owner = 0;
}

/* A tag that must be interior but is not all zero: clear it, state first. */
static void clear_interior(struct shmcp_pool *p, uint64_t off)
{
	struct shmcp_pool_tag *t = tag(p, off);

	if (t->state == SHMCP_POOL_INTERIOR && t->order == 0 && t->owner == 0)
		return;
	t->state = SHMCP_POOL_INTERIOR;
	STORE_ORDER();
	t->order = 0;
	t->owner = 0;
}

/* Is the tag at @off the start of a sane block?  Sets *@order. */
static int walk_step_ok(const struct shmcp_pool *p, uint64_t off, unsigned *order)
{
	const struct shmcp_pool_tag *t = tag(p, off);

	if (t->state != SHMCP_POOL_FREE && t->state != SHMCP_POOL_USED)
		return 0;
	if (t->order >= p->hdr->orders)
		return 0;
	uint64_t n = bsize(t->order);
	if ((off & (n - 1)) || n > p->size - off)
		return 0;
	*order = t->order;
	return 1;
}

/**
 * shmcp_pool_tag_bytes - bytes of tag array a pool of @size bytes needs.
 * Returns one tag per minimum block.
 */
uint64_t shmcp_pool_tag_bytes(uint64_t size)
{
	return (size >> SHMCP_POOL_MIN_SHIFT) * sizeof(struct shmcp_pool_tag);
}

/**
 * shmcp_pool_format - format a fresh pool of @size bytes as one free block.
 * @size must be a power of two of at least 64 bytes with at most
 * SHMCP_POOL_MAX_ORDERS orders; otherwise the header is left invalid so
 * shmcp_pool_check() fails.  The tag array is expected zero-filled (fresh
 * shm): only the first tag is written, so a large sparse array is not
 * faulted in.
 */
void shmcp_pool_format(struct shmcp_pool *p, uint64_t size)
{
	struct shmcp_pool_hdr *h = p->hdr;

	memset(h, 0, sizeof *h);
	for (unsigned i = 0; i < SHMCP_POOL_MAX_ORDERS; i++)
		h->free_head[i] = SHMCP_POOL_NIL;
	if (!is_pow2(size) || size < bsize(0) ||
	    (uint64_t)__builtin_ctzll(size) - SHMCP_POOL_MIN_SHIFT + 1 > SHMCP_POOL_MAX_ORDERS)
		return;
	unsigned top = (unsigned)__builtin_ctzll(size) - SHMCP_POOL_MIN_SHIFT;

	/* Cheap enough to be sure of, even if the caller promised zeroes. */
	if (shmcp_pool_tag_bytes(size) <= 4096)
		memset(p->tags, 0, shmcp_pool_tag_bytes(size));
	p->tags[0] = (struct shmcp_pool_tag){ .order = (uint8_t)top,
					      .state = SHMCP_POOL_FREE, .owner = 0 };
	*link_at(p, 0) = (struct link){ SHMCP_POOL_NIL, SHMCP_POOL_NIL };
	h->free_head[top] = 0;
	h->free_bytes = size;
	h->orders = top + 1;
	h->size = size;
}

/**
 * shmcp_pool_check - check the pool header against the mapped pool @size.
 * Returns 0 if the header is sane (size, orders, free_bytes, every list
 * head NIL or an aligned in-range offset), -1 if it is corrupt.
 */
int shmcp_pool_check(const struct shmcp_pool *p, uint64_t size)
{
	const struct shmcp_pool_hdr *h = p->hdr;

	if (h->size != size || !hdr_ok(p) || h->free_bytes > size)
		return -1;
	for (unsigned i = 0; i < SHMCP_POOL_MAX_ORDERS; i++) {
		uint64_t off = h->free_head[i];
		if (off == SHMCP_POOL_NIL)
			continue;
		if (i >= h->orders || off >= size || (off & (bsize(i) - 1)))
			return -1;
	}
	return 0;
}

/* One allocation attempt.  Sets *@bad if a list link was unusable; the
 * lists are then untouched as far as that link goes. */
static uint64_t alloc_once(struct shmcp_pool *p, unsigned want, uint16_t owner, int *bad)
{
	struct shmcp_pool_hdr *h = p->hdr;
	unsigned k = want;
	uint64_t off;

	for (;; k++) {
		if (k >= h->orders)
			return SHMCP_POOL_NIL;
		off = h->free_head[k];
		if (off == SHMCP_POOL_NIL)
			continue;
		if (!free_ok(p, off, k) || list_remove(p, off, k)) {
			*bad = 1;
			return SHMCP_POOL_NIL;
		}
		break;
	}
	/* Halve down to the size wanted, pushing each upper half. */
	while (k > want) {
		k--;
		uint64_t up = off + bsize(k);
		struct shmcp_pool_tag *u = tag(p, up);
		u->order = (uint8_t)k;
		u->owner = 0;
		STORE_ORDER();
		u->state = SHMCP_POOL_FREE;     /* skipped: lower is still k + 1 */
		STORE_ORDER();
		tag(p, off)->order = (uint8_t)k;
		STORE_ORDER();
		/* Lists want..k were empty, so this head cannot be bad; still,
		 * a failed push only loses the block until the next rebuild. */
		if (list_push(p, up, k))
			*bad = 1;
	}
	struct shmcp_pool_tag *t = tag(p, off);
	t->owner = owner;
	STORE_ORDER();
	t->state = SHMCP_POOL_USED;
	h->free_bytes = h->free_bytes >= bsize(want) ? h->free_bytes - bsize(want) : 0;
	return off;
}

/**
 * shmcp_pool_alloc - allocate a block of at least @len bytes for @owner.
 * @len 0 takes a minimum block.  A corrupt free list is repaired from the
 * tags (shmcp_pool_rebuild()) and the allocation retried once.
 * Returns the block's offset from the pool base, or SHMCP_POOL_NIL when no
 * free block is large enough (or the pool is beyond repair).
 */
uint64_t shmcp_pool_alloc(struct shmcp_pool *p, uint64_t len, uint16_t owner)
{
	struct shmcp_pool_hdr *h = p->hdr;

	if (!hdr_ok(p) || len > h->size)
		return SHMCP_POOL_NIL;
	unsigned want = order_for(len);  /* len <= size <= 2^45 here */
	int bad = 0;
	uint64_t off = alloc_once(p, want, owner, &bad);
	if (!bad)
		return off;
	if (off != SHMCP_POOL_NIL) {
		/* Got a block; only a split half's push failed.  Its tag is
		 * right, so a rebuild puts it back on its list. */
		shmcp_pool_rebuild(p);
		return off;
	}
	if (shmcp_pool_rebuild(p))
		return SHMCP_POOL_NIL;
	bad = 0;
	off = alloc_once(p, want, owner, &bad);
	if (bad && off != SHMCP_POOL_NIL)
		shmcp_pool_rebuild(p);
	return off;
}

/* A reused block held a message its source wrote and its target read, so
 * its lines are in the target's cache: each store of the next copy into it,
 * made under the lock, waited for them. */
void shmcp_pool_prefetch_alloc(const struct shmcp_pool *p, uint64_t len)
{
	const struct shmcp_pool_hdr *h = p->hdr;
	uint64_t size = p->size;
	if (!len || len > size || len > SHMCP_PREFETCH_MAX)
		return;
	unsigned want = order_for(len);
	if (want >= SHMCP_POOL_MAX_ORDERS)
		return;
	uint64_t off = __atomic_load_n(&h->free_head[want], __ATOMIC_RELAXED);
	if (off >= size || len > size - off)
		return;  /* none (SHMCP_POOL_NIL): the allocation splits a larger one */
	shmcp_prefetch_write(p->base + off, len);
}

/* @off is the start of a USED block: sets *@order. */
static int used_block(const struct shmcp_pool *p, uint64_t off, unsigned *order)
{
	if (!hdr_ok(p) || off >= p->size || (off & (bsize(0) - 1)))
		return 0;
	const struct shmcp_pool_tag *t = tag(p, off);
	if (t->state != SHMCP_POOL_USED || t->order >= p->hdr->orders ||
	    (off & (bsize(t->order) - 1)))
		return 0;
	*order = t->order;
	return 1;
}

/*
 * Free the USED block at @off (order @order) and merge it with its free
 * buddies.  Returns the end of the resulting free block, where a walk may
 * go on, or 0 if the lists had to be rebuilt (the partition may have
 * changed, so a walk must restart).
 */
static uint64_t free_block(struct shmcp_pool *p, uint64_t off, unsigned order)
{
	struct shmcp_pool_hdr *h = p->hdr;
	struct shmcp_pool_tag *t = tag(p, off);
	uint64_t freed = bsize(order);
	unsigned k = order;

	t->state = SHMCP_POOL_FREE;
	STORE_ORDER();
	t->owner = 0;
	while (k + 1 < h->orders) {
		uint64_t buddy = off ^ bsize(k);
		const struct shmcp_pool_tag *b = tag(p, buddy);
		if (b->state != SHMCP_POOL_FREE || b->order != k)
			break;
		if (list_remove(p, buddy, k))
			goto rebuild;
		if (buddy < off) {
			merge_tags(p, buddy, off, k);
			off = buddy;
		} else {
			merge_tags(p, off, buddy, k);
		}
		k++;
	}
	if (list_push(p, off, k))
		goto rebuild;
	h->free_bytes = h->free_bytes + freed <= h->size ? h->free_bytes + freed : h->size;
	return off + bsize(k);
rebuild:
	/* The tags are right; the rebuild also does the merges left undone. */
	shmcp_pool_rebuild(p);
	return 0;
}

/**
 * shmcp_pool_free - free the allocated block at @off held by @owner,
 * merging it with its free buddies.
 * Returns 0, or -1 if @off is out of range, unaligned, not the start of a
 * USED block, or held by another owner: a second free of a block (reused
 * or not) is refused, counted in the header (refused) and changes nothing
 * else.
 */
int shmcp_pool_free(struct shmcp_pool *p, uint64_t off, uint16_t owner)
{
	unsigned order;

	if (!used_block(p, off, &order) || tag(p, off)->owner != owner) {
		p->hdr->refused++;
		p->refused++;
		return -1;
	}
	free_block(p, off, order);
	return 0;
}

/**
 * shmcp_pool_block_len - size of the allocated block at @off.
 * Returns the block's length in bytes, or 0 if @off is not the start of a
 * USED block.
 */
uint64_t shmcp_pool_block_len(const struct shmcp_pool *p, uint64_t off)
{
	unsigned order;

	return used_block(p, off, &order) ? bsize(order) : 0;
}

/**
 * shmcp_pool_held_by - is @off the start of a USED block of at least @len
 * bytes whose tag names @owner?  Uses the process-local @p->size.
 */
int shmcp_pool_held_by(const struct shmcp_pool *p, uint64_t off, uint64_t len, uint16_t owner)
{
	/* p->size, not the header's: RECEIVE calls this, and the header's
	 * line is written by every allocation of the sending process */
	if (off >= p->size || (off & (bsize(0) - 1)))
		return 0;
	const struct shmcp_pool_tag *t = tag(p, off);
	if (t->state != SHMCP_POOL_USED || t->owner != owner || t->order >= SHMCP_POOL_MAX_ORDERS)
		return 0;
	uint64_t n = bsize(t->order);
	return !(off & (n - 1)) && n <= p->size - off && n >= len;
}

/**
 * shmcp_pool_rebuild - rebuild the free lists and free_bytes from the tags.
 * Run after a lock holder died: the tags are first walked read-only, and
 * if they are a partition the lists are rebuilt, stale tags left at the
 * midpoint of a free block by an interrupted split or merge are cleared,
 * and free buddies an interrupted free left unmerged are merged.
 * Returns 0, or -1 (nothing changed) if the tags are not a partition.
 */
int shmcp_pool_rebuild(struct shmcp_pool *p)
{
	struct shmcp_pool_hdr *h = p->hdr;
	uint64_t off;
	unsigned k;

	if (!hdr_ok(p))
		return -1;
	for (off = 0; off < h->size; off += bsize(k))
		if (!walk_step_ok(p, off, &k))
			return -1;

	for (unsigned i = 0; i < SHMCP_POOL_MAX_ORDERS; i++)
		h->free_head[i] = SHMCP_POOL_NIL;
	uint64_t free_bytes = 0, next;
	for (off = 0; off < h->size; off = next) {
		walk_step_ok(p, off, &k);
		next = off + bsize(k);
		struct shmcp_pool_tag *t = tag(p, off);
		if (t->state != SHMCP_POOL_FREE)
			continue;
		if (t->owner)
			t->owner = 0;
		if (k > 0)
			clear_interior(p, off + bsize(k - 1));
		free_bytes += bsize(k);
		/* Blocks before this one are listed already: merge with a free
		 * lower buddy while there is one.  Only lower buddies, so the
		 * merged block still ends at next and the walk stays put. */
		uint64_t cur = off;
		while (k + 1 < h->orders && (cur & bsize(k))) {
			uint64_t lo = cur - bsize(k);
			if (!block_is(p, lo, k, SHMCP_POOL_FREE) || list_remove(p, lo, k))
				break;
			merge_tags(p, lo, cur, k);
			cur = lo;
			k++;
		}
		list_push(p, cur, k);   /* lists built just now: cannot fail */
	}
	h->free_bytes = free_bytes;
	return 0;
}

/**
 * shmcp_pool_sweep - free every USED block whose holder, as @held tells,
 * does not name it: what a lock holder killed between an allocation and
 * the store of its offset (or between clearing an offset and its free)
 * left behind (repair, with the free lists rebuilt); also the walk of
 * shmcp_pool_free_owner.  Walks the tags block by block; a walk that
 * meets a broken tag stops there (the blocks beyond it are left alone).
 * Returns the number of blocks freed.
 */
uint64_t shmcp_pool_sweep(struct shmcp_pool *p,
			  int (*held)(void *ctx, uint64_t off, uint16_t owner), void *ctx)
{
	uint64_t n = 0, off = 0;
	unsigned k;

	if (!hdr_ok(p))
		return 0;
	while (off < p->hdr->size) {
		if (!walk_step_ok(p, off, &k))
			break;
		const struct shmcp_pool_tag *t = tag(p, off);
		if (t->state == SHMCP_POOL_USED && !held(ctx, off, t->owner)) {
			/* Merging may swallow blocks on either side: go on
			 * from the end of the merged block (free_block says). */
			off = free_block(p, off, k);
			n++;
		} else {
			off += bsize(k);
		}
	}
	return n;
}

static int held_by_another(void *ctx, uint64_t off, uint16_t owner)
{
	(void)off;
	return owner != *(const uint16_t *)ctx;
}

/**
 * shmcp_pool_free_owner - free every block allocated by @owner.
 * Returns the number of blocks freed.
 */
uint64_t shmcp_pool_free_owner(struct shmcp_pool *p, uint16_t owner)
{
	return shmcp_pool_sweep(p, held_by_another, &owner);
}
