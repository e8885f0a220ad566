/*
 * test_pool.c - unit test of the storage pool (csrc/pool.c).
 *
 *   gcc -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -g \
 *       -fsanitize=address,undefined -fno-omit-frame-pointer -Icsrc \
 *       csrc/pool.c csrc/tests/test_pool.c -o /tmp/test_pool && /tmp/test_pool
 *
 * The pool lives in plain heap memory here (exactly sized, so the
 * sanitizer sees any access past the header, tags or pool), except in the
 * crash tests: one kills a forked child working on a shared mapping, the
 * other (x86-64 Linux) single-steps every store into the tag array and
 * "kills" the operation after each one in turn.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

#include "../core/pool.h"

#define NIL SHMCP_POOL_NIL

static int failures;

#define CHECK(c)                                                                 \
	do {                                                                     \
		if (!(c)) {                                                      \
			if (failures++ < 30)                                     \
				fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, \
					__LINE__, #c);                           \
		}                                                                \
	} while (0)

/* ---- PRNG (xorshift64*), fixed seeds ---------------------------------- */

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rnd(void)
{
	uint64_t x = rng_state;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	rng_state = x;
	return x * 0x2545f4914f6cdd1dull;
}

/* ---- a fake segment ----------------------------------------------------- */

struct fake {
	uint64_t size;
	uint64_t tag_bytes;
	struct shmcp_pool p;
	int mapped;             /* tags/pool from mmap (crash tests) */
	uint64_t tag_map_len;
};

static void fake_init(struct fake *f, uint64_t size)
{
	memset(f, 0, sizeof *f);
	f->size = size;
	f->tag_bytes = shmcp_pool_tag_bytes(size);
	f->p.hdr = calloc(1, sizeof *f->p.hdr);
	f->p.tags = calloc(1, f->tag_bytes);
	f->p.base = aligned_alloc(64, size);
	f->p.size = size;
	if (!f->p.hdr || !f->p.tags || !f->p.base) {
		perror("alloc");
		exit(2);
	}
	memset(f->p.base, 0xa5, size); /* format must not rely on zeroes here */
	shmcp_pool_format(&f->p, size);
}

static void fake_done(struct fake *f)
{
	if (f->mapped) {
		munmap(f->p.hdr, sizeof *f->p.hdr);
		munmap(f->p.tags, f->tag_map_len);
		munmap(f->p.base, f->size);
	} else {
		free(f->p.hdr);
		free(f->p.tags);
		free(f->p.base);
	}
}

/* Everything the pool may write, to prove an operation changed nothing. */
struct snap {
	struct shmcp_pool_hdr hdr;
	uint8_t *tags, *pool;
};

static void snap_take(const struct fake *f, struct snap *s)
{
	s->hdr = *f->p.hdr;
	s->tags = malloc(f->tag_bytes);
	s->pool = malloc(f->size);
	memcpy(s->tags, f->p.tags, f->tag_bytes);
	memcpy(s->pool, f->p.base, f->size);
}

static int snap_same(const struct fake *f, const struct snap *s)
{
	return !memcmp(&s->hdr, f->p.hdr, sizeof s->hdr) &&
	       !memcmp(s->tags, f->p.tags, f->tag_bytes) &&
	       !memcmp(s->pool, f->p.base, f->size);
}

static void snap_restore(struct fake *f, const struct snap *s)
{
	*f->p.hdr = s->hdr;
	memcpy(f->p.tags, s->tags, f->tag_bytes);
	memcpy(f->p.base, s->pool, f->size);
}

static void snap_free(struct snap *s)
{
	free(s->tags);
	free(s->pool);
}

static struct shmcp_pool_tag *tagp(struct fake *f, uint64_t off)
{
	return &f->p.tags[off >> SHMCP_POOL_MIN_SHIFT];
}

static void set_tag(struct fake *f, uint64_t off, uint8_t order, uint8_t state, uint16_t owner)
{
	*tagp(f, off) = (struct shmcp_pool_tag){ order, state, owner };
}

/* The holder the tags name for @off (0 if @off is no tag's), so tests that
 * do not track holders free as the rightful one. */
static uint16_t owner_of(struct fake *f, uint64_t off)
{
	if (off >= f->size || (off & 63))
		return 0;
	return tagp(f, off)->owner;
}
#define FREE(f, off) shmcp_pool_free(&(f)->p, (off), owner_of((f), (off)))

/* ---- an independent checker -------------------------------------------- */

struct walk {
	uint64_t free_bytes, used_bytes, nfree, nused, max_free_order;
};

/*
 * Walk the tags; 1 if they are a partition.  @strict also requires every
 * tag inside a block to be all zero (no stale tags left behind).
 */
static int walk_tags(const struct fake *f, int strict, struct walk *w)
{
	const struct shmcp_pool_hdr *h = f->p.hdr;
	memset(w, 0, sizeof *w);
	for (uint64_t off = 0; off < f->size;) {
		const struct shmcp_pool_tag *t = &f->p.tags[off >> 6];
		if (t->state != SHMCP_POOL_FREE && t->state != SHMCP_POOL_USED)
			return 0;
		if (t->order >= h->orders)
			return 0;
		uint64_t n = (uint64_t)64 << t->order;
		if (off % n || off + n > f->size)
			return 0;
		if (strict)
			for (uint64_t i = 1; i < n / 64; i++) {
				const struct shmcp_pool_tag *u = &f->p.tags[(off >> 6) + i];
				if (u->state || u->order || u->owner)
					return 0;
			}
		if (t->state == SHMCP_POOL_FREE) {
			w->free_bytes += n;
			w->nfree++;
			if ((uint64_t)t->order + 1 > w->max_free_order)
				w->max_free_order = t->order + 1;  /* 0 = none */
		} else {
			w->used_bytes += n;
			w->nused++;
		}
		off += n;
	}
	return 1;
}

/* The free lists hold exactly the free blocks, correctly doubly linked. */
static int lists_ok(const struct fake *f, uint64_t nfree)
{
	const struct shmcp_pool_hdr *h = f->p.hdr;
	uint64_t count = 0, limit = f->size / 64 + 1;
	for (unsigned k = 0; k < SHMCP_POOL_MAX_ORDERS; k++) {
		uint64_t prev = NIL, x = h->free_head[k];
		if (k >= h->orders && x != NIL)
			return 0;
		while (x != NIL) {
			uint64_t n = (uint64_t)64 << k;
			if (++count > limit || x >= f->size || x % n)
				return 0;
			const struct shmcp_pool_tag *t = &f->p.tags[x >> 6];
			if (t->state != SHMCP_POOL_FREE || t->order != k)
				return 0;
			uint64_t l[2];
			memcpy(l, f->p.base + x, sizeof l);
			if (l[1] != prev)
				return 0;
			prev = x;
			x = l[0];
		}
	}
	return count == nfree;
}

/* Full consistency: partition, no stale tags, lists, free_bytes, header. */
static int pool_consistent(const struct fake *f)
{
	struct walk w;
	return walk_tags(f, 1, &w) && lists_ok(f, w.nfree) &&
	       w.free_bytes == f->p.hdr->free_bytes &&
	       shmcp_pool_check(&f->p, f->size) == 0;
}

/* ---- basic tests -------------------------------------------------------- */

static void test_format_check(void)
{
	struct fake f;
	uint64_t sizes[] = { 64, 128, 4096, 1 << 20 };
	for (unsigned i = 0; i < 4; i++) {
		fake_init(&f, sizes[i]);
		CHECK(f.p.hdr->size == sizes[i]);
		CHECK(f.p.hdr->orders == (uint32_t)__builtin_ctzll(sizes[i]) - 5);
		CHECK(f.p.hdr->free_bytes == sizes[i]);
		CHECK(shmcp_pool_check(&f.p, sizes[i]) == 0);
		CHECK(shmcp_pool_check(&f.p, sizes[i] * 2) == -1);
		CHECK(pool_consistent(&f));
		CHECK(f.p.hdr->free_head[f.p.hdr->orders - 1] == 0);

		struct shmcp_pool_hdr save = *f.p.hdr;
		f.p.hdr->orders++;
		CHECK(shmcp_pool_check(&f.p, sizes[i]) == -1);
		CHECK(shmcp_pool_rebuild(&f.p) == -1);
		CHECK(shmcp_pool_alloc(&f.p, 0, 1) == NIL);
		*f.p.hdr = save;
		f.p.hdr->free_bytes = sizes[i] + 1;
		CHECK(shmcp_pool_check(&f.p, sizes[i]) == -1);
		*f.p.hdr = save;
		f.p.hdr->free_head[0] = 32;             /* unaligned */
		CHECK(shmcp_pool_check(&f.p, sizes[i]) == -1);
		*f.p.hdr = save;
		f.p.hdr->free_head[0] = sizes[i];       /* out of range */
		CHECK(shmcp_pool_check(&f.p, sizes[i]) == -1);
		*f.p.hdr = save;
		f.p.hdr->free_head[f.p.hdr->orders] = 0; /* order beyond the pool */
		CHECK(shmcp_pool_check(&f.p, sizes[i]) == -1);
		*f.p.hdr = save;
		f.p.hdr->size = sizes[i] + 64;
		CHECK(shmcp_pool_check(&f.p, sizes[i] + 64) == -1);
		*f.p.hdr = save;
		CHECK(shmcp_pool_check(&f.p, sizes[i]) == 0);
		fake_done(&f);
	}
	/* 1 << 46 needs 41 orders: refused, and the header says so. */
	struct shmcp_pool_hdr h;
	struct shmcp_pool_tag t[1] = { { 0, 0, 0 } };
	uint8_t b[64];
	struct shmcp_pool p = { &h, t, b, 0, 0 };
	shmcp_pool_format(&p, (uint64_t)1 << 46);
	CHECK(shmcp_pool_check(&p, (uint64_t)1 << 46) == -1);
	shmcp_pool_format(&p, 96);
	CHECK(shmcp_pool_check(&p, 96) == -1);
	shmcp_pool_format(&p, 32);
	CHECK(shmcp_pool_check(&p, 32) == -1);
	CHECK(shmcp_pool_alloc(&p, 0, 0) == NIL);
	CHECK(shmcp_pool_tag_bytes(1 << 20) == (1 << 14) * 4);
	CHECK(sizeof(struct shmcp_pool_tag) == 4);
}

static void test_alloc_sizes(void)
{
	struct fake f;
	fake_init(&f, 1 << 20);
	struct {
		uint64_t len, blen;
	} cases[] = { { 0, 64 }, { 1, 64 }, { 64, 64 }, { 65, 128 }, { 4096, 4096 },
		      { 4097, 8192 }, { 100000, 131072 } };
	uint64_t used = 0;
	for (unsigned i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		uint64_t off = shmcp_pool_alloc(&f.p, cases[i].len, 3);
		CHECK(off != NIL);
		CHECK(shmcp_pool_block_len(&f.p, off) == cases[i].blen);
		CHECK(off % cases[i].blen == 0);
		CHECK(tagp(&f, off)->owner == 3);
		used += cases[i].blen;
		CHECK(f.p.hdr->free_bytes == f.size - used);
	}
	CHECK(pool_consistent(&f));
	CHECK(shmcp_pool_alloc(&f.p, f.size, 1) == NIL);        /* not free */
	CHECK(shmcp_pool_alloc(&f.p, f.size + 1, 1) == NIL);
	CHECK(shmcp_pool_alloc(&f.p, UINT64_MAX, 1) == NIL);
	CHECK(shmcp_pool_alloc(&f.p, UINT64_MAX - 63, 1) == NIL);
	CHECK(shmcp_pool_alloc(&f.p, (uint64_t)1 << 63, 1) == NIL);
	CHECK(shmcp_pool_free_owner(&f.p, 3) == sizeof cases / sizeof cases[0]);
	CHECK(f.p.hdr->free_bytes == f.size);
	uint64_t off = shmcp_pool_alloc(&f.p, f.size, 1);
	CHECK(off == 0 && shmcp_pool_block_len(&f.p, 0) == f.size);
	CHECK(f.p.hdr->free_bytes == 0);
	CHECK(shmcp_pool_alloc(&f.p, 0, 1) == NIL);
	CHECK(FREE(&f, 0) == 0);
	CHECK(pool_consistent(&f));
	fake_done(&f);

	/* The smallest pools. */
	fake_init(&f, 64);
	CHECK(shmcp_pool_alloc(&f.p, 65, 1) == NIL);
	CHECK(shmcp_pool_alloc(&f.p, UINT64_MAX, 1) == NIL);
	CHECK(shmcp_pool_alloc(&f.p, 0, 1) == 0);
	CHECK(f.p.hdr->free_bytes == 0);
	CHECK(shmcp_pool_alloc(&f.p, 0, 1) == NIL);
	CHECK(pool_consistent(&f));
	CHECK(FREE(&f, 0) == 0);
	CHECK(FREE(&f, 0) == -1);
	CHECK(f.p.hdr->free_bytes == 64);
	CHECK(shmcp_pool_alloc(&f.p, 64, 1) == 0);
	CHECK(pool_consistent(&f));
	fake_done(&f);

	fake_init(&f, 128);
	uint64_t a = shmcp_pool_alloc(&f.p, 1, 1), b = shmcp_pool_alloc(&f.p, 64, 2);
	CHECK(a != NIL && b != NIL && a != b && (a ^ b) == 64);
	CHECK(shmcp_pool_alloc(&f.p, 0, 1) == NIL);
	CHECK(shmcp_pool_alloc(&f.p, 128, 1) == NIL);
	CHECK(pool_consistent(&f));
	CHECK(FREE(&f, b) == 0);
	CHECK(shmcp_pool_alloc(&f.p, 128, 1) == NIL);
	CHECK(FREE(&f, a) == 0);
	CHECK(f.p.hdr->free_bytes == 128);
	CHECK(shmcp_pool_alloc(&f.p, 128, 1) == 0);
	CHECK(pool_consistent(&f));
	CHECK(FREE(&f, 0) == 0);
	CHECK(shmcp_pool_alloc(&f.p, 129, 1) == NIL);
	fake_done(&f);
}

/* Fill the pool with minimum blocks, free them in random order. */
static void test_exhaust(void)
{
	struct fake f;
	fake_init(&f, 1 << 20);
	uint64_t n = f.size / 64, *offs = malloc(n * sizeof *offs), i = 0, off;
	while ((off = shmcp_pool_alloc(&f.p, (i & 1) ? 0 : 64, 1)) != NIL) {
		CHECK(i < n);
		if (i >= n)
			break;
		offs[i++] = off;
	}
	CHECK(i == n);
	CHECK(f.p.hdr->free_bytes == 0);
	CHECK(pool_consistent(&f));
	for (i = n - 1; i > 0; i--) {
		uint64_t j = rnd() % (i + 1), t = offs[i];
		offs[i] = offs[j];
		offs[j] = t;
	}
	for (i = 0; i < n; i++)
		CHECK(FREE(&f, offs[i]) == 0);
	CHECK(f.p.hdr->free_bytes == f.size);
	CHECK(pool_consistent(&f));
	CHECK(shmcp_pool_alloc(&f.p, f.size, 1) == 0);
	CHECK(FREE(&f, 0) == 0);

	/* Exhaust with mixed sizes, free everything, whole pool again. */
	i = 0;
	while ((off = shmcp_pool_alloc(&f.p, rnd() % 3000, 1)) != NIL)
		i++;
	CHECK(i > 0);
	while ((off = shmcp_pool_alloc(&f.p, 0, 2)) != NIL)
		i++;
	CHECK(f.p.hdr->free_bytes == 0);
	CHECK(shmcp_pool_free_owner(&f.p, 1) + shmcp_pool_free_owner(&f.p, 2) == i);
	CHECK(f.p.hdr->free_bytes == f.size);
	CHECK(pool_consistent(&f));
	CHECK(shmcp_pool_alloc(&f.p, f.size, 1) == 0);
	free(offs);
	fake_done(&f);
}

/* ---- random stress ------------------------------------------------------ */

struct live {
	uint64_t off, len, blen, id;
	uint16_t owner;
};

static uint8_t fill_byte(uint64_t id)
{
	return (uint8_t)((id * 0x9e3779b97f4a7c15ull) >> 56);
}

static void fill(struct fake *f, const struct live *l)
{
	memset(f->p.base + l->off, fill_byte(l->id), l->blen);
	memcpy(f->p.base + l->off, &l->id, sizeof l->id);
}

/* Id at the start, the fill byte in the first and last 64 bytes (@full:
 * everywhere). */
static int intact(const struct fake *f, const struct live *l, int full)
{
	uint64_t id;
	memcpy(&id, f->p.base + l->off, sizeof id);
	if (id != l->id)
		return 0;
	uint8_t c = fill_byte(l->id);
	const uint8_t *b = f->p.base + l->off;
	for (uint64_t i = 8; i < l->blen; i++) {
		if (!full && i == 64 && l->blen > 128)
			i = l->blen - 64;
		if (b[i] != c)
			return 0;
	}
	return 1;
}

static int cmp_off(const void *a, const void *b)
{
	const struct live *x = a, *y = b;
	return x->off < y->off ? -1 : x->off > y->off;
}

static uint64_t rand_len(uint64_t size)
{
	uint64_t r = rnd() % 100;
	if (r < 55)
		return rnd() % 257;
	if (r < 85)
		return rnd() % 4097;
	if (r < 98)
		return rnd() % 65537;
	return rnd() % (size / 4 + 1);
}

static void stress_check(struct fake *f, struct live *live, uint64_t nlive)
{
	struct walk w;
	CHECK(walk_tags(f, 1, &w));
	CHECK(lists_ok(f, w.nfree));
	CHECK(w.free_bytes == f->p.hdr->free_bytes);
	CHECK(w.nused == nlive);
	uint64_t used = 0;
	for (uint64_t i = 0; i < nlive; i++)
		used += live[i].blen;
	CHECK(used == w.used_bytes);
	CHECK(used + f->p.hdr->free_bytes == f->size);
	CHECK(shmcp_pool_check(&f->p, f->size) == 0);

	/* Rebuild of a consistent pool keeps the tags and the count. */
	uint8_t *tags = malloc(f->tag_bytes);
	memcpy(tags, f->p.tags, f->tag_bytes);
	uint64_t fb = f->p.hdr->free_bytes;
	CHECK(shmcp_pool_rebuild(&f->p) == 0);
	CHECK(f->p.hdr->free_bytes == fb);
	CHECK(!memcmp(tags, f->p.tags, f->tag_bytes));
	CHECK(lists_ok(f, w.nfree));
	free(tags);

	struct live *s = malloc((nlive + 1) * sizeof *s);
	memcpy(s, live, nlive * sizeof *s);
	qsort(s, nlive, sizeof *s, cmp_off);
	for (uint64_t i = 0; i < nlive; i++) {
		CHECK(s[i].off + s[i].blen <= f->size);
		CHECK(i == 0 || s[i - 1].off + s[i - 1].blen <= s[i].off);
		CHECK(shmcp_pool_block_len(&f->p, s[i].off) == s[i].blen);
		CHECK(tagp(f, s[i].off)->owner == s[i].owner);
		CHECK(intact(f, &s[i], 0));
	}
	free(s);
}

static void test_stress(uint64_t size, uint64_t ops, uint64_t maxlive)
{
	struct fake f;
	fake_init(&f, size);
	struct live *live = malloc(maxlive * sizeof *live);
	uint64_t nlive = 0, id = 1, nil_allocs = 0, owner_frees = 0;

	for (uint64_t op = 1; op <= ops; op++) {
		if (nlive < maxlive && (nlive == 0 || rnd() % 100 < 52)) {
			uint64_t len = rand_len(size);
			uint16_t owner = (uint16_t)(rnd() % 6);
			uint64_t off = shmcp_pool_alloc(&f.p, len, owner);
			if (off == NIL) {
				/* Only if no free block is big enough. */
				struct walk w;
				CHECK(walk_tags(&f, 0, &w));
				CHECK(w.max_free_order == 0 ||
				      ((uint64_t)64 << (w.max_free_order - 1)) < len);
				nil_allocs++;
			} else {
				struct live *l = &live[nlive++];
				*l = (struct live){ off, len, shmcp_pool_block_len(&f.p, off),
						    id++, owner };
				CHECK(l->blen >= len && l->blen >= 64 &&
				      (l->blen < 128 || l->blen / 2 < len));
				fill(&f, l);
			}
		} else {
			uint64_t i = rnd() % nlive;
			CHECK(intact(&f, &live[i], 1));
			uint64_t fb = f.p.hdr->free_bytes;
			CHECK(FREE(&f, live[i].off) == 0);
			CHECK(f.p.hdr->free_bytes == fb + live[i].blen);
			live[i] = live[--nlive];
		}
		if (op % 5000 == 0) {
			uint16_t owner = (uint16_t)(rnd() % 6);
			uint64_t n = 0;
			for (uint64_t i = 0; i < nlive;) {
				if (live[i].owner == owner) {
					CHECK(intact(&f, &live[i], 1));
					live[i] = live[--nlive];
					n++;
				} else {
					i++;
				}
			}
			CHECK(shmcp_pool_free_owner(&f.p, owner) == n);
			owner_frees += n;
		}
		if (op % 1000 == 0)
			stress_check(&f, live, nlive);
	}
	stress_check(&f, live, nlive);
	CHECK(nil_allocs > 0);          /* the mix does fill the pool */
	CHECK(owner_frees > 0 || size < 4096);
	for (uint64_t i = 0; i < nlive; i++)
		CHECK(FREE(&f, live[i].off) == 0);
	CHECK(f.p.hdr->free_bytes == size);
	CHECK(pool_consistent(&f));
	CHECK(shmcp_pool_alloc(&f.p, size, 0) == 0);
	free(live);
	fake_done(&f);
}

/* ---- bad offsets, block_len, free_owner --------------------------------- */

static void expect_bad_free(struct fake *f, uint64_t off)
{
	struct snap s;
	snap_take(f, &s);
	CHECK(shmcp_pool_block_len(&f->p, off) == 0);
	int rc = FREE(f, off);
	CHECK(rc == -1);
	CHECK(f->p.hdr->refused == s.hdr.refused + 1);  /* counted, nothing else */
	s.hdr.refused++;
	CHECK(snap_same(f, &s));
	if (rc != -1)
		fprintf(stderr, "  bad free of %#llx accepted\n", (unsigned long long)off);
	snap_free(&s);
}

static void test_bad_free(void)
{
	struct fake f;
	fake_init(&f, 1 << 20);
	uint64_t a = shmcp_pool_alloc(&f.p, 128, 1);
	uint64_t b = shmcp_pool_alloc(&f.p, 64, 1);
	uint64_t c = shmcp_pool_alloc(&f.p, 4096, 1);
	uint64_t d = shmcp_pool_alloc(&f.p, 64, 1);
	CHECK(a != NIL && b != NIL && c != NIL && d != NIL);
	CHECK(FREE(&f, b) == 0);
	uint64_t freeblk = f.p.hdr->free_head[f.p.hdr->orders - 2];
	CHECK(freeblk != NIL);

	CHECK(shmcp_pool_block_len(&f.p, a) == 128);
	CHECK(shmcp_pool_block_len(&f.p, c) == 4096);
	expect_bad_free(&f, a + 1);
	expect_bad_free(&f, a + 32);
	expect_bad_free(&f, a + 64);            /* interior */
	expect_bad_free(&f, c + 2048);          /* interior */
	expect_bad_free(&f, c + 4095);
	expect_bad_free(&f, b);                 /* already free */
	expect_bad_free(&f, freeblk);           /* a free block */
	expect_bad_free(&f, f.size);            /* out of range */
	expect_bad_free(&f, f.size + 64);
	expect_bad_free(&f, (uint64_t)1 << 40);
	expect_bad_free(&f, UINT64_MAX);
	expect_bad_free(&f, UINT64_MAX - 63);
	expect_bad_free(&f, UINT64_MAX & ~(uint64_t)63);

	/* A USED tag not aligned to its size, or with an impossible order,
	 * is a corrupt tag: refused too. */
	struct shmcp_pool_tag save = *tagp(&f, d);
	set_tag(&f, d, 6, SHMCP_POOL_USED, 1);
	expect_bad_free(&f, d);
	set_tag(&f, d, 60, SHMCP_POOL_USED, 1);
	expect_bad_free(&f, d);
	*tagp(&f, d) = save;

	CHECK(pool_consistent(&f));
	CHECK(FREE(&f, c) == 0);
	expect_bad_free(&f, c);                 /* double free */
	CHECK(FREE(&f, a) == 0);
	CHECK(FREE(&f, d) == 0);
	CHECK(f.p.hdr->free_bytes == f.size);
	CHECK(pool_consistent(&f));
	expect_bad_free(&f, 0);
	fake_done(&f);
}

static void test_free_owner(void)
{
	struct fake f;
	fake_init(&f, 1 << 20);
	struct live live[400];
	uint64_t n = 0, per[5] = { 0 };
	for (uint64_t i = 0; i < 400; i++) {
		uint16_t owner = (uint16_t)(rnd() % 5);
		uint64_t off = shmcp_pool_alloc(&f.p, rnd() % 3000, owner);
		if (off == NIL)
			continue;
		live[n] = (struct live){ off, 0, shmcp_pool_block_len(&f.p, off), i + 1, owner };
		fill(&f, &live[n]);
		per[owner]++;
		n++;
	}
	CHECK(n > 100);
	CHECK(shmcp_pool_free_owner(&f.p, 9) == 0);
	CHECK(shmcp_pool_free_owner(&f.p, 2) == per[2]);
	CHECK(shmcp_pool_free_owner(&f.p, 2) == 0);
	for (uint64_t i = 0; i < n; i++) {
		if (live[i].owner == 2) {
			CHECK(shmcp_pool_block_len(&f.p, live[i].off) == 0 ||
			      tagp(&f, live[i].off)->owner != 2);
		} else {
			CHECK(shmcp_pool_block_len(&f.p, live[i].off) == live[i].blen);
			CHECK(intact(&f, &live[i], 1));
		}
	}
	CHECK(pool_consistent(&f));
	CHECK(shmcp_pool_free_owner(&f.p, 0) == per[0]);
	CHECK(shmcp_pool_free_owner(&f.p, 1) == per[1]);
	CHECK(shmcp_pool_free_owner(&f.p, 3) == per[3]);
	CHECK(pool_consistent(&f));
	CHECK(shmcp_pool_free_owner(&f.p, 4) == per[4]);
	CHECK(f.p.hdr->free_bytes == f.size);
	CHECK(pool_consistent(&f));
	CHECK(shmcp_pool_alloc(&f.p, f.size, 0) == 0);

	/* All of the pool in owner 7's minimum blocks: one walk frees all. */
	CHECK(FREE(&f, 0) == 0);
	while (shmcp_pool_alloc(&f.p, 0, 7) != NIL)
		;
	CHECK(shmcp_pool_free_owner(&f.p, 7) == f.size / 64);
	CHECK(f.p.hdr->free_bytes == f.size);
	CHECK(pool_consistent(&f));

	/* A broken walk stops free_owner, without crashing. */
	uint64_t x = shmcp_pool_alloc(&f.p, 0, 3);
	uint64_t y = shmcp_pool_alloc(&f.p, 0, 3);
	CHECK(x == 0 && y == 64);
	set_tag(&f, 128, 0, 0, 0);              /* interior at a block start */
	CHECK(shmcp_pool_free_owner(&f.p, 3) == 2);
	CHECK(shmcp_pool_rebuild(&f.p) == -1);
	fake_done(&f);
}

/* ---- holders: a free must name the block's holder ----------------------- */

/* A free naming another holder than the block's changes nothing but the
 * count of refused frees. */
static void expect_refused(struct fake *f, uint64_t off, uint16_t owner)
{
	struct snap s;
	snap_take(f, &s);
	uint32_t here = f->p.refused;
	CHECK(shmcp_pool_free(&f->p, off, owner) == -1);
	CHECK(f->p.hdr->refused == s.hdr.refused + 1 && f->p.refused == here + 1);
	s.hdr.refused++;
	CHECK(snap_same(f, &s));
	snap_free(&s);
}

static void test_double_free_refused(void)
{
	struct fake f;
	fake_init(&f, 1 << 16);
	const uint16_t m1 = SHMCP_POOL_OWNER_WIDE(1), m2 = SHMCP_POOL_OWNER_NARROW(7);
	const uint16_t vm = SHMCP_POOL_OWNER_VM(3);
	CHECK(SHMCP_POOL_OWNER_IS_WIDE(m1) && !SHMCP_POOL_OWNER_IS_NARROW(m1));
	CHECK(SHMCP_POOL_OWNER_IS_NARROW(m2) && !SHMCP_POOL_OWNER_IS_WIDE(m2));
	CHECK(!SHMCP_POOL_OWNER_IS_WIDE(vm) && !SHMCP_POOL_OWNER_IS_NARROW(vm));
	CHECK(SHMCP_POOL_OWNER_VM(4095) <= SHMCP_POOL_OWNER_VM_MAX);

	/* the plain double free */
	uint64_t a = shmcp_pool_alloc(&f.p, 1000, m1);
	CHECK(a != NIL && shmcp_pool_held_by(&f.p, a, 1000, m1));
	CHECK(!shmcp_pool_held_by(&f.p, a, 1000, m2) && !shmcp_pool_held_by(&f.p, a, 1025, m1));
	CHECK(!shmcp_pool_held_by(&f.p, a + 64, 0, m1) && !shmcp_pool_held_by(&f.p, a + 1, 0, m1));
	CHECK(!shmcp_pool_held_by(&f.p, f.size, 0, m1) && !shmcp_pool_held_by(&f.p, NIL, 0, m1));
	expect_refused(&f, a, m2);              /* not its holder */
	CHECK(shmcp_pool_free(&f.p, a, m1) == 0);
	expect_refused(&f, a, m1);              /* again */
	CHECK(f.p.hdr->free_bytes == f.size);

	/* freed, then reused by another holder: the stale free is refused
	 * and the new holder's data is untouched */
	a = shmcp_pool_alloc(&f.p, 1000, m1);
	CHECK(shmcp_pool_free(&f.p, a, m1) == 0);
	uint64_t b = shmcp_pool_alloc(&f.p, 1000, m2);
	CHECK(b == a);
	memset(f.p.base + b, 0x5c, 1000);
	expect_refused(&f, a, m1);
	CHECK(shmcp_pool_held_by(&f.p, b, 1000, m2));
	CHECK(f.p.base[b] == 0x5c && f.p.base[b + 999] == 0x5c);

	/* a VM's LOGOFF frees its own blocks only, never a message's */
	uint64_t v = shmcp_pool_alloc(&f.p, 64, vm);
	uint64_t c = shmcp_pool_alloc(&f.p, 64, SHMCP_POOL_OWNER_WIDE(4));
	CHECK(shmcp_pool_free_owner(&f.p, vm) == 1);
	CHECK(shmcp_pool_block_len(&f.p, v) == 0 && shmcp_pool_held_by(&f.p, b, 1000, m2));
	CHECK(shmcp_pool_held_by(&f.p, c, 64, SHMCP_POOL_OWNER_WIDE(4)));
	CHECK(shmcp_pool_free(&f.p, b, m2) == 0);
	CHECK(shmcp_pool_free(&f.p, c, SHMCP_POOL_OWNER_WIDE(4)) == 0);
	CHECK(f.p.hdr->free_bytes == f.size);
	CHECK(pool_consistent(&f));
	fake_done(&f);
}

/* The holders' own records in a test: which offsets each names. */
#define NAMED_MAX 64
struct holders {
	uint64_t off[NAMED_MAX];
	uint16_t owner[NAMED_MAX];
	unsigned n;
	unsigned asked;
};

static int named(void *ctx, uint64_t off, uint16_t owner)
{
	struct holders *h = ctx;
	h->asked++;
	if (!SHMCP_POOL_OWNER_IS_WIDE(owner) && !SHMCP_POOL_OWNER_IS_NARROW(owner) &&
	    owner != SHMCP_POOL_OWNER_CP)
		return 1;                       /* a VM's: its LOGOFF frees it */
	for (unsigned i = 0; i < h->n; i++)
		if (h->off[i] == off && h->owner[i] == owner)
			return 1;
	return 0;
}

static void test_sweep(void)
{
	struct fake f;
	fake_init(&f, 1 << 16);
	struct holders h = { .n = 0 };
	uint64_t kept[6], lost[6];
	for (unsigned i = 0; i < 6; i++) {
		uint16_t owner = i % 3 == 0 ? SHMCP_POOL_OWNER_WIDE(i + 1)
			       : i % 3 == 1 ? SHMCP_POOL_OWNER_NARROW(i) : SHMCP_POOL_OWNER_CP;
		kept[i] = shmcp_pool_alloc(&f.p, 100 * i, owner);
		h.off[h.n] = kept[i];
		h.owner[h.n++] = owner;
		/* a kill between the allocation and the store naming it */
		lost[i] = shmcp_pool_alloc(&f.p, 300, owner);
	}
	uint64_t v = shmcp_pool_alloc(&f.p, 64, SHMCP_POOL_OWNER_VM(0));
	/* named by a holder, but under another holder's name: not its */
	uint64_t wrong = shmcp_pool_alloc(&f.p, 64, SHMCP_POOL_OWNER_WIDE(9));
	h.off[h.n] = wrong;
	h.owner[h.n++] = SHMCP_POOL_OWNER_WIDE(10);
	CHECK(shmcp_pool_sweep(&f.p, named, &h) == 7);
	for (unsigned i = 0; i < 6; i++) {
		CHECK(shmcp_pool_block_len(&f.p, kept[i]) >= 100 * i);
		CHECK(shmcp_pool_held_by(&f.p, kept[i], 0, h.owner[i]));
		CHECK(shmcp_pool_block_len(&f.p, lost[i]) == 0 ||
		      !shmcp_pool_held_by(&f.p, lost[i], 0, h.owner[i]));
	}
	CHECK(shmcp_pool_block_len(&f.p, v) == 64);
	CHECK(pool_consistent(&f));
	CHECK(shmcp_pool_sweep(&f.p, named, &h) == 0);
	for (unsigned i = 0; i < 6; i++)
		CHECK(shmcp_pool_free(&f.p, kept[i], h.owner[i]) == 0);
	CHECK(shmcp_pool_free(&f.p, v, SHMCP_POOL_OWNER_VM(0)) == 0);
	CHECK(f.p.hdr->free_bytes == f.size);
	CHECK(f.p.hdr->refused == 0);
	fake_done(&f);
}

/* ---- crash consistency: hand-made states -------------------------------- */

static void test_rebuild_states(void)
{
	struct fake f;
	struct snap s;
	unsigned top;

	/* Half-done split: upper tag written, lower still the old order, the
	 * block already popped from its list. */
	fake_init(&f, 1 << 20);
	top = f.p.hdr->orders - 1;
	f.p.hdr->free_head[top] = NIL;
	set_tag(&f, f.size / 2, (uint8_t)(top - 1), SHMCP_POOL_FREE, 0);
	struct walk w;
	CHECK(walk_tags(&f, 0, &w) && w.free_bytes == f.size);
	CHECK(shmcp_pool_rebuild(&f.p) == 0);
	CHECK(pool_consistent(&f));             /* stale upper tag cleared */
	CHECK(f.p.hdr->free_bytes == f.size);
	CHECK(shmcp_pool_alloc(&f.p, f.size, 1) == 0);
	fake_done(&f);

	/* Split with only the upper tag's order written (state still 0). */
	fake_init(&f, 1 << 20);
	top = f.p.hdr->orders - 1;
	f.p.hdr->free_head[top] = NIL;
	f.p.hdr->free_bytes = 12345;
	tagp(&f, f.size / 2)->order = (uint8_t)(top - 1);
	CHECK(shmcp_pool_rebuild(&f.p) == 0);
	CHECK(pool_consistent(&f) && f.p.hdr->free_bytes == f.size);
	fake_done(&f);

	/* Split done, upper half not yet pushed: two free buddies that no list
	 * holds; the rebuild lists and coalesces them. */
	fake_init(&f, 1 << 20);
	top = f.p.hdr->orders - 1;
	f.p.hdr->free_head[top] = NIL;
	set_tag(&f, f.size / 2, (uint8_t)(top - 1), SHMCP_POOL_FREE, 0);
	tagp(&f, 0)->order = (uint8_t)(top - 1);
	CHECK(walk_tags(&f, 0, &w) && w.nfree == 2);
	CHECK(shmcp_pool_rebuild(&f.p) == 0);
	CHECK(pool_consistent(&f));
	CHECK(walk_tags(&f, 1, &w) && w.nfree == 1);
	CHECK(shmcp_pool_alloc(&f.p, f.size, 1) == 0);
	fake_done(&f);

	/* Free done but not merged (killed after the state store), deep in a
	 * pool with other blocks in use. */
	fake_init(&f, 1 << 20);
	uint64_t a = shmcp_pool_alloc(&f.p, 0, 1), b = shmcp_pool_alloc(&f.p, 0, 2);
	uint64_t c = shmcp_pool_alloc(&f.p, 5000, 3);
	CHECK(a == 0 && b == 64 && c != NIL);
	CHECK(FREE(&f, a) == 0);
	tagp(&f, b)->state = SHMCP_POOL_FREE;   /* b freed, merge not begun */
	CHECK(shmcp_pool_rebuild(&f.p) == 0);
	CHECK(pool_consistent(&f));
	CHECK(tagp(&f, 0)->order >= 1 && tagp(&f, 64)->state == 0);
	CHECK(f.p.hdr->free_bytes == f.size - 8192);
	CHECK(FREE(&f, c) == 0);
	CHECK(f.p.hdr->free_bytes == f.size);
	CHECK(shmcp_pool_alloc(&f.p, f.size, 1) == 0);
	fake_done(&f);

	/* Half-done merge: the lower's order grown, the upper tag still FREE. */
	fake_init(&f, 128);
	a = shmcp_pool_alloc(&f.p, 0, 1);
	b = shmcp_pool_alloc(&f.p, 0, 1);
	set_tag(&f, 0, 1, SHMCP_POOL_FREE, 0);
	set_tag(&f, 64, 0, SHMCP_POOL_FREE, 0);
	CHECK(shmcp_pool_rebuild(&f.p) == 0);
	CHECK(pool_consistent(&f) && f.p.hdr->free_bytes == 128);
	CHECK(shmcp_pool_alloc(&f.p, 128, 1) == 0);
	fake_done(&f);

	/* Not partitions: -1, nothing changed. */
	fake_init(&f, 1 << 20);
	a = shmcp_pool_alloc(&f.p, 0, 1);       /* 0 used, 64 free, 128 ... */
	CHECK(a == 0);
	struct {
		uint64_t off;
		struct shmcp_pool_tag t;
	} bad[] = {
		{ 0, { 0, 0, 0 } },                     /* interior at a start */
		{ 64, { 0, 0, 0 } },
		{ 64, { 0, 7, 0 } },                    /* unknown state */
		{ 64, { 1, SHMCP_POOL_FREE, 0 } },      /* unaligned */
		{ 128, { 3, SHMCP_POOL_FREE, 0 } },
		{ 0, { 15, SHMCP_POOL_USED, 1 } },      /* order too big */
		{ 0, { 255, SHMCP_POOL_USED, 1 } },
		{ 1 << 19, { 0, 0, 0 } },
	};
	for (unsigned i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		struct shmcp_pool_tag save = *tagp(&f, bad[i].off);
		*tagp(&f, bad[i].off) = bad[i].t;
		snap_take(&f, &s);
		CHECK(shmcp_pool_rebuild(&f.p) == -1);
		CHECK(snap_same(&f, &s));
		snap_free(&s);
		*tagp(&f, bad[i].off) = save;
	}
	CHECK(pool_consistent(&f));
	fake_done(&f);

	/* A last block claiming to run past the end (which, sizes being
	 * powers of two, is also unaligned). */
	fake_init(&f, 128);
	set_tag(&f, 0, 0, SHMCP_POOL_USED, 1);
	set_tag(&f, 64, 1, SHMCP_POOL_FREE, 0);
	snap_take(&f, &s);
	CHECK(shmcp_pool_rebuild(&f.p) == -1);
	CHECK(snap_same(&f, &s));
	snap_free(&s);
	fake_done(&f);
}

/* ---- corrupt free lists ------------------------------------------------- */

/* A pool with many free blocks of many orders. */
static void fragmented(struct fake *f, struct live *live, uint64_t *nlive)
{
	fake_init(f, 1 << 20);
	*nlive = 0;
	uint64_t off;
	while ((off = shmcp_pool_alloc(&f->p, rand_len(1 << 16), 1)) != NIL)
		live[(*nlive)++] = (struct live){ off, 0, shmcp_pool_block_len(&f->p, off), 0, 1 };
	for (uint64_t i = 0; i < *nlive;) {
		if (rnd() % 2) {
			CHECK(FREE(f, live[i].off) == 0);
			live[i] = live[--*nlive];
		} else {
			i++;
		}
	}
	CHECK(pool_consistent(f));
}

/* After corruption, allocate until NIL: every block returned must be a
 * fresh USED block, and the pool must end up consistent. */
static void drain_and_repair(struct fake *f, struct live *live, uint64_t nlive)
{
	uint64_t off, n = 0;
	while (n < 100000 && (off = shmcp_pool_alloc(&f->p, rnd() % 600, 8)) != NIL) {
		uint64_t bl = shmcp_pool_block_len(&f->p, off);
		CHECK(bl != 0 && tagp(f, off)->owner == 8);
		for (uint64_t i = 0; i < nlive; i++)
			CHECK(off + bl <= live[i].off || live[i].off + live[i].blen <= off);
		n++;
	}
	CHECK(n < 100000);
	CHECK(shmcp_pool_rebuild(&f->p) == 0);
	CHECK(pool_consistent(f));
	CHECK(shmcp_pool_free_owner(&f->p, 8) == n);
	CHECK(shmcp_pool_free_owner(&f->p, 1) == nlive);
	CHECK(f->p.hdr->free_bytes == f->size);
	CHECK(pool_consistent(f));
	CHECK(shmcp_pool_alloc(&f->p, f->size, 1) == 0);
}

static void test_corrupt_lists(void)
{
	struct fake f;
	static struct live live[20000];
	uint64_t nlive;

	for (unsigned variant = 0; variant < 14; variant++) {
		fragmented(&f, live, &nlive);
		struct shmcp_pool_hdr *h = f.p.hdr;
		unsigned k = 0, k2;
		while (h->free_head[k] == NIL)
			k++;                    /* a non-empty list, and another */
		for (k2 = k + 1; k2 < h->orders && h->free_head[k2] == NIL; k2++)
			;
		if (k2 == h->orders)
			k2 = k;
		uint64_t head = h->free_head[k];
		uint64_t *lnk = (uint64_t *)(f.p.base + head);
		uint64_t used = live[0].off;
		switch (variant) {
		case 0: h->free_head[k] = 12345; break;                 /* unaligned */
		case 1: h->free_head[k] = (uint64_t)1 << 40; break;     /* range */
		case 2: h->free_head[k] = used; break;                  /* used */
		case 3: h->free_head[k] = head + 64; break;             /* interior */
		case 4: h->free_head[k] = h->free_head[k2] + (k2 == k ? 64 : 0); break; /* order */
		case 5: lnk[0] = 7; break;                              /* next bad */
		case 6: lnk[0] = used; break;
		case 7: lnk[0] = head; break;                           /* self loop */
		case 8: lnk[1] = head; break;                           /* prev bad */
		case 9: lnk[0] = UINT64_MAX - 63; break;
		case 10: memset(h->free_head, 0, sizeof h->free_head); break;
		case 11: memset(h->free_head, 0xff, sizeof h->free_head); /* all NIL */
			h->free_bytes = 0;
			break;
		case 12: /* a cycle through two blocks */
			if (lnk[0] != NIL) {
				uint64_t *l2 = (uint64_t *)(f.p.base + lnk[0]);
				l2[0] = head;
			}
			break;
		case 13: /* every list link in every free block scrambled */
			for (uint64_t off = 0; off < f.size;) {
				struct shmcp_pool_tag *t = tagp(&f, off);
				if (t->state == SHMCP_POOL_FREE) {
					uint64_t *l = (uint64_t *)(f.p.base + off);
					l[0] = rnd() % 4 ? rnd() : (rnd() % f.size) & ~63ull;
					l[1] = rnd() % 4 ? rnd() : (rnd() % f.size) & ~63ull;
				}
				off += (uint64_t)64 << t->order;
			}
			break;
		}
		drain_and_repair(&f, live, nlive);
		fake_done(&f);
	}

	/* A corrupt buddy link met by free(): the free still happens and the
	 * lists are repaired from the tags. */
	fake_init(&f, 1 << 20);
	uint64_t a = shmcp_pool_alloc(&f.p, 0, 1), b = shmcp_pool_alloc(&f.p, 0, 1);
	uint64_t c = shmcp_pool_alloc(&f.p, 0, 1);
	CHECK(a == 0 && b == 64 && c == 128);
	CHECK(FREE(&f, b) == 0);
	((uint64_t *)(f.p.base + b))[1] = 4096;        /* b's prev: bogus */
	CHECK(FREE(&f, a) == 0);
	CHECK(pool_consistent(&f));
	CHECK(f.p.hdr->free_bytes == f.size - 64);
	CHECK(shmcp_pool_block_len(&f.p, 0) == 0 && tagp(&f, 0)->order == 1);
	f.p.hdr->free_head[2] = 4;                     /* a bad head */
	CHECK(FREE(&f, c) == 0);
	CHECK(pool_consistent(&f));
	CHECK(f.p.hdr->free_bytes == f.size);
	CHECK(shmcp_pool_alloc(&f.p, f.size, 1) == 0);
	fake_done(&f);
}

/* ---- crash consistency: a real SIGKILL ---------------------------------- */

static void *map_shared(uint64_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) {
		perror("mmap");
		exit(2);
	}
	return p;
}

static void fake_init_mapped(struct fake *f, uint64_t size, int shared)
{
	long pg = sysconf(_SC_PAGESIZE);
	memset(f, 0, sizeof *f);
	f->size = size;
	f->mapped = 1;
	f->tag_bytes = shmcp_pool_tag_bytes(size);
	f->tag_map_len = (f->tag_bytes + (uint64_t)pg - 1) / (uint64_t)pg * (uint64_t)pg;
	f->p.size = size;
	if (shared) {
		f->p.hdr = map_shared(sizeof *f->p.hdr);
		f->p.tags = map_shared(f->tag_map_len);
		f->p.base = map_shared(size);
	} else {
		f->p.hdr = mmap(NULL, sizeof *f->p.hdr, PROT_READ | PROT_WRITE,
				MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		f->p.tags = mmap(NULL, f->tag_map_len, PROT_READ | PROT_WRITE,
				 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		f->p.base = mmap(NULL, size, PROT_READ | PROT_WRITE,
				 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (f->p.hdr == MAP_FAILED || f->p.tags == MAP_FAILED || f->p.base == MAP_FAILED) {
			perror("mmap");
			exit(2);
		}
	}
	shmcp_pool_format(&f->p, size);
}

static uint64_t tag_repairs;    /* rebuilds that had to fix a tag */

/* After a kill: the raw tags are a partition, rebuild makes all right,
 * and freeing the dead owner's blocks gives back the whole pool. */
static void after_crash(struct fake *f, const uint16_t *owners, unsigned nowners)
{
	struct walk w;
	CHECK(walk_tags(f, 0, &w));
	CHECK(shmcp_pool_check(&f->p, f->size) == 0);
	uint8_t *tags = malloc(f->tag_bytes);
	memcpy(tags, f->p.tags, f->tag_bytes);
	CHECK(shmcp_pool_rebuild(&f->p) == 0);
	if (memcmp(tags, f->p.tags, f->tag_bytes))
		tag_repairs++;
	free(tags);
	CHECK(pool_consistent(f));
	for (unsigned i = 0; i < nowners; i++)
		shmcp_pool_free_owner(&f->p, owners[i]);
	CHECK(f->p.hdr->free_bytes == f->size);
	CHECK(pool_consistent(f));
	uint64_t off = shmcp_pool_alloc(&f->p, f->size, 1);
	CHECK(off == 0);
	CHECK(FREE(f, off) == 0);
}

static void child_work(struct fake *f, uint64_t seed)
{
	static uint64_t offs[4096];
	uint64_t n = 0;
	rng_state = seed | 1;
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	for (uint64_t op = 0; op < 50000000; op++) {
		if (n < 4096 && (n == 0 || rnd() % 2)) {
			uint64_t off = shmcp_pool_alloc(&f->p, rand_len(f->size), 5);
			if (off != NIL)
				offs[n++] = off;
		} else if (rnd() % 64 == 0) {
			shmcp_pool_free_owner(&f->p, 5);
			n = 0;
		} else {
			uint64_t i = rnd() % n;
			FREE(f, offs[i]);
			offs[i] = offs[--n];
		}
	}
	_exit(0);
}

static void test_sigkill(unsigned rounds)
{
	struct fake f;
	fake_init_mapped(&f, 1 << 20, 1);
	uint16_t owners[] = { 5 };
	tag_repairs = 0;
	for (unsigned r = 0; r < rounds; r++) {
		fflush(NULL);
		pid_t pid = fork();
		if (pid < 0) {
			perror("fork");
			exit(2);
		}
		if (pid == 0)
			child_work(&f, rnd());
		struct timespec ts = { 0, (long)(rnd() % 3000000) };
		nanosleep(&ts, NULL);
		kill(pid, SIGKILL);
		int st;
		waitpid(pid, &st, 0);
		after_crash(&f, owners, 1);
	}
	printf("  sigkill: %u kills, %llu left a tag to repair\n", rounds,
	       (unsigned long long)tag_repairs);
	fake_done(&f);
}

/* ---- crash consistency: kill after every single tag store --------------- */

#if defined(__x86_64__) && defined(__linux__)
#define HAVE_STEP 1

/* The tag pages are read-only while an operation runs: each store faults,
 * the handler lets that one instruction run with the trap flag set, and the
 * trap after it counts the store and either re-protects or, at the limit,
 * abandons the operation (as a SIGKILL right after that store would). */
static volatile sig_atomic_t step_armed, step_count, step_limit;
static sigjmp_buf step_jmp;
static void *step_page;
static size_t step_len;

static void on_segv(int sig, siginfo_t *si, void *ctx)
{
	ucontext_t *uc = ctx;
	uint8_t *a = si->si_addr, *p = step_page;
	if (!step_armed || a < p || a >= p + step_len) {
		signal(sig, SIG_DFL);
		return;                 /* a real fault: re-raised, default */
	}
	mprotect(step_page, step_len, PROT_READ | PROT_WRITE);
	uc->uc_mcontext.gregs[REG_EFL] |= 0x100;       /* TF */
}

static void on_trap(int sig, siginfo_t *si, void *ctx)
{
	ucontext_t *uc = ctx;
	(void)sig;
	(void)si;
	uc->uc_mcontext.gregs[REG_EFL] &= ~0x100;
	if (++step_count >= step_limit)
		siglongjmp(step_jmp, 1);
	mprotect(step_page, step_len, PROT_READ);
}

enum op_kind { OP_ALLOC, OP_FREE, OP_FREE_OWNER };

/* Run one operation, stopping it after @limit tag stores.  Returns 1 if it
 * completed (it made fewer stores than that). */
static int run_limited(struct fake *f, enum op_kind kind, uint64_t arg, uint16_t owner,
		       int limit)
{
	step_count = 0;
	step_limit = limit;
	int done = 0;
	if (sigsetjmp(step_jmp, 1) == 0) {
		step_armed = 1;
		mprotect(step_page, step_len, PROT_READ);
		if (kind == OP_ALLOC)
			shmcp_pool_alloc(&f->p, arg, owner);
		else if (kind == OP_FREE)
			FREE(f, arg);
		else
			shmcp_pool_free_owner(&f->p, owner);
		done = 1;
	}
	step_armed = 0;
	mprotect(step_page, step_len, PROT_READ | PROT_WRITE);
	return done;
}

/* The blocks a test's holders name: @live, less the one at @gone (being
 * freed: its holder let go of it first). */
struct live_names {
	const struct live *live;
	uint64_t n, gone;
};

static int live_named(void *ctx, uint64_t off, uint16_t owner)
{
	const struct live_names *l = ctx;
	if (!SHMCP_POOL_OWNER_IS_WIDE(owner) && owner != SHMCP_POOL_OWNER_CP)
		return 1;
	for (uint64_t i = 0; i < l->n; i++)
		if (l->live[i].off == off && off != l->gone)
			return 1;
	return 0;
}

/* After a kill inside an allocation for a message (not yet named) or a
 * free (already unnamed): the repair's rebuild and sweep give back
 * exactly that block, no more, no less. */
static void after_crash_sweep(struct fake *f, const struct live *live, uint64_t nlive,
			      uint64_t gone, uint64_t want_free)
{
	struct live_names l = { live, nlive, gone };
	CHECK(shmcp_pool_rebuild(&f->p) == 0);
	shmcp_pool_sweep(&f->p, live_named, &l);
	CHECK(f->p.hdr->free_bytes == want_free);
	for (uint64_t i = 0; i < nlive; i++)
		CHECK(live[i].off == gone || shmcp_pool_block_len(&f->p, live[i].off));
	CHECK(pool_consistent(f));
}

static void test_every_store(unsigned cases)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_flags = SA_SIGINFO | SA_NODEFER;
	sigemptyset(&sa.sa_mask);
	sa.sa_sigaction = on_segv;
	struct sigaction old_segv, old_trap;
	sigaction(SIGSEGV, &sa, &old_segv);
	sa.sa_sigaction = on_trap;
	sigaction(SIGTRAP, &sa, &old_trap);

	struct fake f;
	fake_init_mapped(&f, 1 << 16, 0);       /* 1024 tags: one page */
	step_page = f.p.tags;
	step_len = f.tag_map_len;
	static struct live live[1024];
	uint64_t nlive = 0, runs = 0, max_stores = 0;
	uint16_t owners[] = { 0, 1, 2, SHMCP_POOL_OWNER_WIDE(3), SHMCP_POOL_OWNER_WIDE(9) };

	for (unsigned c = 0; c < cases; c++) {
		/* A random state to start from. */
		if (c % 8 == 0) {
			shmcp_pool_free_owner(&f.p, 0);
			shmcp_pool_free_owner(&f.p, 1);
			shmcp_pool_free_owner(&f.p, 2);
			shmcp_pool_free_owner(&f.p, SHMCP_POOL_OWNER_WIDE(3));
			shmcp_pool_free_owner(&f.p, SHMCP_POOL_OWNER_WIDE(9));
			nlive = 0;
		}
		unsigned steps = (unsigned)(rnd() % 40);
		for (unsigned i = 0; i < steps; i++) {
			if (nlive < 1024 && (nlive == 0 || rnd() % 3)) {
				uint64_t max = rnd() % 2 ? 200 : 9000;
				uint64_t len = rnd() % max;
				uint16_t own = (uint16_t)(rnd() % 4);
				if (own == 3)
					own = SHMCP_POOL_OWNER_WIDE(3);
				uint64_t off = shmcp_pool_alloc(&f.p, len, own);
				if (off != NIL)
					live[nlive++] = (struct live){ off, 0, 0, 0,
								       f.p.tags[off >> 6].owner };
			} else {
				uint64_t j = rnd() % nlive;
				CHECK(FREE(&f, live[j].off) == 0);
				live[j] = live[--nlive];
			}
		}
		CHECK(pool_consistent(&f));

		/* One operation, killed after each of its tag stores in turn. */
		enum op_kind kind;
		uint64_t arg = 0;
		uint16_t owner = SHMCP_POOL_OWNER_WIDE(9);      /* a message's */
		uint64_t r = rnd() % 10;
		if (c == 0) {
			kind = OP_ALLOC;                /* the deepest split */
		} else if (r < 4 || nlive == 0) {
			kind = OP_ALLOC;
			arg = rnd() % 3 ? rnd() % 200 : rnd() % 20000;
		} else if (r < 8) {
			kind = OP_FREE;
			arg = live[rnd() % nlive].off;
		} else {
			kind = OP_FREE_OWNER;
			owner = live[rnd() % nlive].owner;
		}
		struct snap s;
		snap_take(&f, &s);
		const struct shmcp_pool_tag *was =
			&((const struct shmcp_pool_tag *)s.tags)[arg >> SHMCP_POOL_MIN_SHIFT];
		for (int limit = 1;; limit++) {
			snap_restore(&f, &s);
			int done = run_limited(&f, kind, arg, owner, limit);
			runs++;
			if (done) {
				if ((uint64_t)limit - 1 > max_stores)
					max_stores = (uint64_t)limit - 1;
				break;
			}
			if (kind == OP_ALLOC)
				after_crash_sweep(&f, live, nlive, NIL, s.hdr.free_bytes);
			else if (kind == OP_FREE && (SHMCP_POOL_OWNER_IS_WIDE(was->owner) ||
						     was->owner == SHMCP_POOL_OWNER_CP))
				after_crash_sweep(&f, live, nlive, arg,
						  s.hdr.free_bytes + ((uint64_t)64 << was->order));
			after_crash(&f, owners, 5);
			if (limit > 100000) {
				CHECK(!"operation never finished");
				break;
			}
		}
		snap_restore(&f, &s);
		snap_free(&s);
		/* And once for real, to move on. */
		if (kind == OP_ALLOC) {
			uint64_t off = shmcp_pool_alloc(&f.p, arg, owner);
			if (off != NIL && nlive < 1024)
				live[nlive++] = (struct live){ off, 0, 0, 0, owner };
			else if (off != NIL)
				FREE(&f, off);
		} else if (kind == OP_FREE) {
			CHECK(FREE(&f, arg) == 0);
			for (uint64_t j = 0; j < nlive; j++)
				if (live[j].off == arg) {
					live[j] = live[--nlive];
					break;
				}
		} else {
			shmcp_pool_free_owner(&f.p, owner);
			for (uint64_t j = 0; j < nlive;)
				if (live[j].owner == owner)
					live[j] = live[--nlive];
				else
					j++;
		}
		CHECK(pool_consistent(&f));
	}
	CHECK(max_stores >= 40);                /* the full split was stepped */
	printf("  every-store: %llu killed runs, up to %llu tag stores per op\n",
	       (unsigned long long)runs, (unsigned long long)max_stores);
	sigaction(SIGSEGV, &old_segv, NULL);
	sigaction(SIGTRAP, &old_trap, NULL);
	fake_done(&f);
}
#endif

int main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	test_format_check();
	test_alloc_sizes();
	test_exhaust();
	test_bad_free();
	test_free_owner();
	test_double_free_refused();
	test_sweep();
	test_rebuild_states();
	test_corrupt_lists();
	printf("  basic tests done\n");
	test_stress(1 << 20, 300000, 4000);
	test_stress(1 << 12, 100000, 64);
	test_stress(128, 20000, 4);
	printf("  stress done\n");
	test_sigkill(100);
#ifdef HAVE_STEP
	test_every_store(3000);
#else
	printf("  every-store test skipped (x86-64 Linux only)\n");
#endif
	if (failures) {
		printf("test_pool: %d check(s) FAILED\n", failures);
		return 1;
	}
	printf("test_pool: all checks passed\n");
	return 0;
}
