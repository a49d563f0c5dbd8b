/* mgr tests — memory accounting (spec 14.2.1-14.2.3): mgri_mem (categories,
 * total, peak, the limit and its refusals, realloc checked against growth,
 * one-shot fault injection, move and forget, NULL = plain malloc), and the
 * containers that count through it: u64map (reserve, backward-shift
 * deletion against a model, fini), arena and buf (what a reset or a shrink
 * keeps), and the frame reader (no retention after a large frame,
 * mgri_reader_want, mgri_reader_set_max). */
/* clang-format off */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
/* clang-format on */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/arena.h"
#include "common/buf.h"
#include "common/limits.h"
#include "common/mem.h"
#include "common/u64map.h"
#include "mgr/error.h"
#include "proto/proto.h"
#include "util.h"

#include "collide.h"

static void mem_zero(mgri_mem *m) { memset(m, 0, sizeof *m); }

static size_t used_sum(const mgri_mem *m) {
  size_t s = 0;
  for (unsigned c = 0; c < MGRI_MEM_NCAT; c++)
    s += m->used[c];
  return s;
}

/* Every category but `cat` holds `0`, cat holds n, total is n. */
static void only(const mgri_mem *m, unsigned cat, size_t n) {
  for (unsigned c = 0; c < MGRI_MEM_NCAT; c++)
    if (m->used[c] != (c == cat ? n : 0))
      fail_msg("category %u holds %zu, want %zu", c, m->used[c],
               c == cat ? n : (size_t)0);
  assert_int_equal(m->total, n);
}

/* --- mgri_mem ------------------------------------------------------------ */

static void test_mem_categories_total_peak(void **st) {
  (void)st;
  mgri_mem m;
  mem_zero(&m);
  uint8_t *a = mgri_mem_alloc(&m, MGRI_MEM_OBJECTS, 100);
  assert_non_null(a);
  memset(a, 1, 100);
  size_t sa = mgri_mem_size(a);
  assert_true(sa >= 100);
  only(&m, MGRI_MEM_OBJECTS, sa);
  assert_int_equal(m.peak, sa);

  uint8_t *b = mgri_mem_calloc(&m, MGRI_MEM_ARENAS, 5000);
  assert_non_null(b);
  for (size_t i = 0; i < 5000; i++)
    assert_int_equal(b[i], 0);
  size_t sb = mgri_mem_size(b);
  assert_true(sb >= 5000);
  assert_int_equal(m.used[MGRI_MEM_OBJECTS], sa);
  assert_int_equal(m.used[MGRI_MEM_ARENAS], sb);
  assert_int_equal(m.total, sa + sb);
  assert_int_equal(used_sum(&m), m.total);
  assert_int_equal(m.peak, sa + sb);

  /* Freeing uncounts; the peak stays. */
  mgri_mem_free(&m, MGRI_MEM_ARENAS, b);
  only(&m, MGRI_MEM_OBJECTS, sa);
  assert_int_equal(m.peak, sa + sb);
  void *c = mgri_mem_alloc(&m, MGRI_MEM_STORE, 10);
  assert_non_null(c);
  size_t sc = mgri_mem_size(c);
  assert_int_equal(m.used[MGRI_MEM_STORE], sc);
  assert_int_equal(m.total, sa + sc);
  assert_int_equal(m.peak, sa + sb); /* sc < sb */
  mgri_mem_free(&m, MGRI_MEM_STORE, c);
  mgri_mem_free(&m, MGRI_MEM_OBJECTS, a);
  mgri_mem_free(&m, MGRI_MEM_OBJECTS, NULL); /* fine */
  only(&m, 0, 0);
  assert_int_equal(m.peak, sa + sb);
  assert_int_equal(m.refused, 0);
  assert_int_equal(m.failed, 0);

  /* A category out of range is refused without counting anything. */
  assert_null(mgri_mem_alloc(&m, MGRI_MEM_NCAT, 8));
  assert_null(mgri_mem_calloc(&m, MGRI_MEM_NCAT, 8));
  only(&m, 0, 0);

  /* Every category, one block each: each counted in its own. */
  void *blk[MGRI_MEM_NCAT];
  size_t sum = 0;
  for (unsigned k = 0; k < MGRI_MEM_NCAT; k++) {
    blk[k] = mgri_mem_alloc(&m, k, 64 * (k + 1));
    assert_non_null(blk[k]);
    assert_int_equal(m.used[k], mgri_mem_size(blk[k]));
    sum += mgri_mem_size(blk[k]);
  }
  assert_int_equal(m.total, sum);
  for (unsigned k = 0; k < MGRI_MEM_NCAT; k++)
    mgri_mem_free(&m, k, blk[k]);
  only(&m, 0, 0);

  /* The STATS names (spec 14.2.8). */
  static const char *const names[] = {"objects", "conn_in", "conn_out",
                                      "arenas",  "parked",  "store"};
  assert_int_equal(MGRI_MEM_NCAT, 6);
  for (unsigned k = 0; k < MGRI_MEM_NCAT; k++)
    assert_string_equal(mgri_mem_cat_name(k), names[k]);
  assert_null(mgri_mem_cat_name(MGRI_MEM_NCAT));
  assert_int_equal(mgri_mem_size(NULL), 0);
}

static void test_mem_limit(void **st) {
  (void)st;
  mgri_mem m;
  mem_zero(&m);
  m.max = 10000;
  assert_true(mgri_mem_room(&m, 10000));
  assert_false(mgri_mem_room(&m, 10001));
  assert_false(mgri_mem_room(&m, SIZE_MAX));
  void *a = mgri_mem_alloc(&m, MGRI_MEM_OBJECTS, 6000);
  assert_non_null(a);
  size_t sa = mgri_mem_size(a);
  assert_true(mgri_mem_room(&m, 10000 - sa));
  assert_false(mgri_mem_room(&m, 10000 - sa + 1));

  /* Over the limit: refused and counted, nothing else changes. */
  assert_null(mgri_mem_alloc(&m, MGRI_MEM_OBJECTS, 6000));
  assert_int_equal(m.refused, 1);
  assert_null(mgri_mem_calloc(&m, MGRI_MEM_CONN_IN, 6000));
  assert_int_equal(m.refused, 2);
  assert_null(mgri_mem_realloc(&m, MGRI_MEM_CONN_IN, NULL, 6000));
  assert_int_equal(m.refused, 3);
  only(&m, MGRI_MEM_OBJECTS, sa);
  assert_int_equal(m.peak, sa);
  assert_int_equal(m.failed, 0);

  /* Within the limit: fine. */
  void *b = mgri_mem_alloc(&m, MGRI_MEM_CONN_IN, (10000 - sa) / 2);
  assert_non_null(b);
  assert_int_equal(m.total, sa + mgri_mem_size(b));
  assert_int_equal(m.refused, 3);

  /* A limit lowered below what is held refuses everything, and frees still
   * work. */
  m.max = m.total - 1;
  assert_null(mgri_mem_alloc(&m, MGRI_MEM_STORE, 1));
  assert_int_equal(m.refused, 4);
  mgri_mem_free(&m, MGRI_MEM_CONN_IN, b);
  mgri_mem_free(&m, MGRI_MEM_OBJECTS, a);
  only(&m, 0, 0);

  /* No limit. */
  m.max = 0;
  assert_true(mgri_mem_room(&m, SIZE_MAX));
  void *c = mgri_mem_alloc(&m, MGRI_MEM_STORE, 1 << 20);
  assert_non_null(c);
  mgri_mem_free(&m, MGRI_MEM_STORE, c);
  assert_int_equal(m.refused, 4);
  only(&m, 0, 0);
}

/* realloc is checked against its growth only: it may grow a block that a
 * fresh allocation of the new size could not be, and always shrink. */
static void test_mem_realloc_growth(void **st) {
  (void)st;
  mgri_mem m;
  mem_zero(&m);
  m.max = 10000;
  uint8_t *p = mgri_mem_alloc(&m, MGRI_MEM_OBJECTS, 6000);
  assert_non_null(p);
  memset(p, 0x5a, 6000);
  assert_null(mgri_mem_alloc(&m, MGRI_MEM_ARENAS, 7000));
  assert_int_equal(m.refused, 1);

  uint8_t *q = mgri_mem_realloc(&m, MGRI_MEM_OBJECTS, p, 7000);
  assert_non_null(q);
  for (size_t i = 0; i < 6000; i++)
    assert_int_equal(q[i], 0x5a);
  only(&m, MGRI_MEM_OBJECTS, mgri_mem_size(q));
  assert_int_equal(m.refused, 1);

  /* Growth past the limit: NULL, counted, the block intact. */
  assert_null(mgri_mem_realloc(&m, MGRI_MEM_OBJECTS, q, 12000));
  assert_int_equal(m.refused, 2);
  only(&m, MGRI_MEM_OBJECTS, mgri_mem_size(q));
  memset(q, 0x33, 7000); /* still ours (ASan) */

  /* Shrinking within the limit. */
  uint8_t *r = mgri_mem_realloc(&m, MGRI_MEM_OBJECTS, q, 50);
  assert_non_null(r);
  assert_int_equal(r[49], 0x33);
  only(&m, MGRI_MEM_OBJECTS, mgri_mem_size(r));
  assert_int_equal(m.refused, 2);
  mgri_mem_free(&m, MGRI_MEM_OBJECTS, r);
  only(&m, 0, 0);

  /* realloc of NULL allocates, counted. */
  m.max = 0;
  void *s = mgri_mem_realloc(&m, MGRI_MEM_PARKED, NULL, 300);
  assert_non_null(s);
  only(&m, MGRI_MEM_PARKED, mgri_mem_size(s));
  mgri_mem_free(&m, MGRI_MEM_PARKED, s);
  only(&m, 0, 0);
}

/* A realloc that does not grow (smaller or the same size) has no growth to
 * check: it succeeds even when the total is over the limit (a limit lowered
 * below what is held, or a total pushed past it by the allocator's rounding
 * of earlier blocks). */
static void test_mem_realloc_shrink_over_limit(void **st) {
  (void)st;
  mgri_mem m;
  mem_zero(&m);
  uint8_t *p = mgri_mem_alloc(&m, MGRI_MEM_OBJECTS, 6000);
  assert_non_null(p);
  memset(p, 0x33, 6000);
  m.max = 100; /* below what is held */
  uint8_t *q = mgri_mem_realloc(&m, MGRI_MEM_OBJECTS, p, 50);
  if (!q) {
    mgri_mem_free(&m, MGRI_MEM_OBJECTS, p);
    fail_msg("a shrinking realloc was refused (refused %llu)",
             (unsigned long long)m.refused);
  }
  assert_int_equal(q[49], 0x33);
  only(&m, MGRI_MEM_OBJECTS, mgri_mem_size(q));
  assert_int_equal(m.refused, 0);
  mgri_mem_free(&m, MGRI_MEM_OBJECTS, q);
  only(&m, 0, 0);
}

/* fail_in: the allocation that takes it to 0 fails, once; `failed` counts
 * it, `refused` does not. */
static void test_mem_fail_in(void **st) {
  (void)st;
  mgri_mem m;
  mem_zero(&m);
  m.fail_in = 3;
  void *a = mgri_mem_alloc(&m, MGRI_MEM_OBJECTS, 10);
  assert_non_null(a);
  assert_int_equal(m.fail_in, 2);
  void *b = mgri_mem_calloc(&m, MGRI_MEM_OBJECTS, 10);
  assert_non_null(b);
  assert_int_equal(m.fail_in, 1);
  size_t before = m.total;
  assert_null(mgri_mem_realloc(&m, MGRI_MEM_OBJECTS, a, 100)); /* the 3rd */
  assert_int_equal(m.failed, 1);
  assert_int_equal(m.refused, 0);
  assert_int_equal(m.fail_in, 0);
  assert_int_equal(m.total, before);
  memset(a, 1, 10); /* unchanged, still ours */
  /* One-shot: the next ones succeed. */
  for (int i = 0; i < 5; i++) {
    void *c = mgri_mem_alloc(&m, MGRI_MEM_STORE, 10);
    assert_non_null(c);
    mgri_mem_free(&m, MGRI_MEM_STORE, c);
  }
  assert_int_equal(m.failed, 1);
  /* Each kind of allocation can be the one. */
  m.fail_in = 1;
  assert_null(mgri_mem_alloc(&m, MGRI_MEM_STORE, 10));
  m.fail_in = 1;
  assert_null(mgri_mem_calloc(&m, MGRI_MEM_STORE, 10));
  assert_int_equal(m.failed, 3);
  assert_int_equal(m.total, before);
  mgri_mem_free(&m, MGRI_MEM_OBJECTS, a);
  mgri_mem_free(&m, MGRI_MEM_OBJECTS, b);
  only(&m, 0, 0);
}

static void test_mem_move_forget(void **st) {
  (void)st;
  mgri_mem m;
  mem_zero(&m);
  void *p = mgri_mem_alloc(&m, MGRI_MEM_OBJECTS, 300);
  assert_non_null(p);
  size_t sp = mgri_mem_size(p);
  mgri_mem_move(&m, MGRI_MEM_OBJECTS, MGRI_MEM_PARKED, p);
  only(&m, MGRI_MEM_PARKED, sp);
  assert_int_equal(m.peak, sp);
  /* No-ops: NULL block, categories out of range, no mem. */
  mgri_mem_move(&m, MGRI_MEM_PARKED, MGRI_MEM_STORE, NULL);
  mgri_mem_move(&m, MGRI_MEM_PARKED, MGRI_MEM_NCAT, p);
  mgri_mem_move(&m, MGRI_MEM_NCAT, MGRI_MEM_STORE, p);
  mgri_mem_move(NULL, MGRI_MEM_PARKED, MGRI_MEM_STORE, p);
  only(&m, MGRI_MEM_PARKED, sp);
  mgri_mem_free(&m, MGRI_MEM_PARKED, p);
  only(&m, 0, 0);

  /* forget: uncounted now, freed later by plain free(). */
  void *q = mgri_mem_alloc(&m, MGRI_MEM_STORE, 500);
  assert_non_null(q);
  mgri_mem_forget(&m, MGRI_MEM_STORE, NULL);
  mgri_mem_forget(NULL, MGRI_MEM_STORE, q);
  only(&m, MGRI_MEM_STORE, mgri_mem_size(q));
  mgri_mem_forget(&m, MGRI_MEM_STORE, q);
  only(&m, 0, 0);
  free(q);
}

/* A NULL mgri_mem is plain malloc: blocks free()-able, nothing counted. */
static void test_mem_null(void **st) {
  (void)st;
  assert_true(mgri_mem_room(NULL, SIZE_MAX));
  uint8_t *a = mgri_mem_alloc(NULL, MGRI_MEM_OBJECTS, 64);
  assert_non_null(a);
  memset(a, 7, 64);
  uint8_t *b = mgri_mem_calloc(NULL, MGRI_MEM_STORE, 64);
  assert_non_null(b);
  for (int i = 0; i < 64; i++)
    assert_int_equal(b[i], 0);
  a = mgri_mem_realloc(NULL, MGRI_MEM_OBJECTS, a, 4096);
  assert_non_null(a);
  assert_int_equal(a[63], 7);
  mgri_mem_free(NULL, MGRI_MEM_OBJECTS, a);
  free(b);
  uint8_t *c = mgri_mem_alloc(NULL, MGRI_MEM_OBJECTS, 16);
  assert_non_null(c);
  free(c);
}

/* The edges: a category out of range allocates nothing; a block is counted
 * by what the allocator holds for it, so an allocation whose request fits
 * the limit but whose rounded-up block does not is given back; shrink
 * refuses what is no shrink and keeps p counted; a miscount (a block
 * uncounted from a category that does not hold it) clamps at zero instead
 * of wrapping; count puts back what forget took. */
static void test_mem_edges(void **st) {
  (void)st;
  mgri_mem m;
  mem_zero(&m);
  assert_null(mgri_mem_alloc(&m, MGRI_MEM_NCAT, 10));
  assert_null(mgri_mem_calloc(&m, MGRI_MEM_NCAT, 10));
  void *p = mgri_mem_alloc(&m, MGRI_MEM_OBJECTS, 10);
  assert_non_null(p);
  assert_null(mgri_mem_realloc(&m, MGRI_MEM_NCAT, p, 20));
  only(&m, MGRI_MEM_OBJECTS, mgri_mem_size(p));
  mgri_mem_free(&m, MGRI_MEM_OBJECTS, p);
  only(&m, 0, 0);

  /* The limit against the block's real size. */
  void *probe = malloc(100);
  assert_non_null(probe);
  size_t real = mgri_mem_size(probe);
  free(probe);
  m.max = 100;
  p = mgri_mem_alloc(&m, MGRI_MEM_OBJECTS, 100);
  if (real > 100) { /* the allocator rounds up: refused after the fact */
    assert_null(p);
    assert_int_equal(m.refused, 1);
    only(&m, 0, 0);
  } else { /* it does not (ASan's): the block is exactly the limit */
    assert_non_null(p);
    only(&m, MGRI_MEM_OBJECTS, 100);
    mgri_mem_free(&m, MGRI_MEM_OBJECTS, p);
  }
  m.max = 0;

  /* Shrink: NULL, to 0, to its own size or more: NULL, p unchanged. */
  uint8_t *b = mgri_mem_alloc(&m, MGRI_MEM_STORE, 4000);
  assert_non_null(b);
  memset(b, 9, 4000);
  size_t sb = mgri_mem_size(b);
  assert_null(mgri_mem_shrink(&m, MGRI_MEM_STORE, NULL, 10));
  assert_null(mgri_mem_shrink(&m, MGRI_MEM_STORE, b, 0));
  assert_null(mgri_mem_shrink(&m, MGRI_MEM_STORE, b, sb));
  assert_null(mgri_mem_shrink(&m, MGRI_MEM_STORE, b, sb + 1));
  only(&m, MGRI_MEM_STORE, sb);
  b = mgri_mem_shrink(&m, MGRI_MEM_STORE, b, 100);
  assert_non_null(b);
  assert_int_equal(b[99], 9);
  only(&m, MGRI_MEM_STORE, mgri_mem_size(b));
  /* Uncounted (out of range, no mem): the block shrinks all the same. */
  mgri_mem_forget(&m, MGRI_MEM_STORE, b);
  b = mgri_mem_shrink(NULL, MGRI_MEM_STORE, b, 50);
  assert_non_null(b);
  b = mgri_mem_shrink(&m, MGRI_MEM_NCAT, b, 20);
  assert_non_null(b);
  assert_int_equal(b[19], 9);
  only(&m, 0, 0);

  /* count: back in a category; no-ops without mem, block or category. */
  mgri_mem_count(&m, MGRI_MEM_STORE, b);
  only(&m, MGRI_MEM_STORE, mgri_mem_size(b));
  mgri_mem_count(NULL, MGRI_MEM_STORE, b);
  mgri_mem_count(&m, MGRI_MEM_STORE, NULL);
  mgri_mem_count(&m, MGRI_MEM_NCAT, b);
  only(&m, MGRI_MEM_STORE, mgri_mem_size(b));

  mgri_mem_free(&m, MGRI_MEM_STORE, b);
  only(&m, 0, 0);

  /* A miscount: a block never counted, freed through m, which holds
   * nothing: every count stays 0. */
  void *c = malloc(10);
  assert_non_null(c);
  mgri_mem_free(&m, MGRI_MEM_OBJECTS, c);
  only(&m, 0, 0);
  mgri_mem_free(&m, MGRI_MEM_STORE, NULL);
  c = malloc(10);
  assert_non_null(c);
  mgri_mem_free(&m, MGRI_MEM_NCAT, c); /* freed, not counted */
  only(&m, 0, 0);
}

/* --- u64map -------------------------------------------------------------- */

static void *val_of(uint64_t x) { return (void *)(uintptr_t)(x | 1); }

/* Keys whose home slot, under the map's current mixer, is one of the few
 * slots around 0 of any table of up to 1024 slots (the clusters wrap around
 * the end). Built by inverting that mixer; the tests' correctness does not
 * depend on it, only how hard they push backward-shift deletion. */
static uint64_t crowded_key(uint64_t *rng) {
  static const uint64_t homes[] = {1022, 1023, 0, 1, 2};
  for (;;) {
    uint64_t y = (tu_rand(rng) << 10) | homes[tu_rand(rng) % 5];
    uint64_t x = collide_unxorshift(y, 33);
    x *= collide_inv(0xff51afd7ed558ccdull);
    x = collide_unxorshift(x, 33);
    if (x) return x;
  }
}

/* reserve(n) makes the next n puts unable to fail: with every allocation
 * made to fail, they still succeed. */
static void test_u64map_reserve(void **st) {
  (void)st;
  uint64_t rng = tu_seed("u64map_reserve");
  mgri_mem m;
  mem_zero(&m);
  mgri_u64map map;
  mgri_u64map_init(&map, &m, MGRI_MEM_STORE);
  assert_null(mgri_u64map_get(&map, 5));
  assert_false(mgri_u64map_del(&map, 5));
  assert_int_equal(mgri_u64map_reserve(&map, 1000), MGR_OK);
  size_t held = m.used[MGRI_MEM_STORE];
  assert_true(held > 0);
  only(&m, MGRI_MEM_STORE, held);
  uint64_t keys[1000];
  for (int i = 0; i < 1000; i++) {
    keys[i] = (i & 1) ? crowded_key(&rng) : tu_rand(&rng) | 1;
    for (int j = 0; j < i; j++)
      if (keys[j] == keys[i]) keys[i] = (uint64_t)i + 1; /* distinct */
  }
  m.fail_in = 1; /* the next allocation fails */
  for (int i = 0; i < 1000; i++)
    assert_int_equal(mgri_u64map_put(&map, keys[i], val_of(keys[i])), MGR_OK);
  assert_int_equal(m.failed, 0);
  assert_int_equal(m.fail_in, 1); /* nothing allocated */
  assert_int_equal(m.used[MGRI_MEM_STORE], held);
  assert_int_equal(map.len, 1000);
  for (int i = 0; i < 1000; i++)
    assert_ptr_equal(mgri_u64map_get(&map, keys[i]), val_of(keys[i]));

  /* Past the reservation a put that must grow fails, leaving the map as it
   * was; the failure is one-shot. */
  uint64_t k = 0;
  int rc = MGR_OK;
  size_t len = map.len;
  for (int i = 0; i < 100000 && rc == MGR_OK; i++) {
    len = map.len;
    k = tu_rand(&rng) | 1;
    if (mgri_u64map_get(&map, k)) continue;
    rc = mgri_u64map_put(&map, k, val_of(k));
  }
  assert_int_equal(rc, MGR_ENOMEM);
  assert_int_equal(m.failed, 1);
  assert_int_equal(map.len, len);
  assert_null(mgri_u64map_get(&map, k));
  for (int i = 0; i < 1000; i++)
    assert_ptr_equal(mgri_u64map_get(&map, keys[i]), val_of(keys[i]));
  assert_int_equal(mgri_u64map_put(&map, k, val_of(k)), MGR_OK);
  assert_ptr_equal(mgri_u64map_get(&map, k), val_of(k));
  assert_int_equal(map.len, len + 1);

  /* Replacing keeps len. */
  assert_int_equal(mgri_u64map_put(&map, keys[0], val_of(42)), MGR_OK);
  assert_ptr_equal(mgri_u64map_get(&map, keys[0]), val_of(42));
  assert_int_equal(map.len, len + 1);
  /* Key 0 is never there. */
  assert_null(mgri_u64map_get(&map, 0));
  assert_false(mgri_u64map_del(&map, 0));

  assert_int_equal(used_sum(&m), m.total);
  mgri_u64map_fini(&map);
  only(&m, 0, 0);
  assert_null(mgri_u64map_get(&map, keys[1]));
  mgri_u64map_fini(&map); /* idempotent */
}

/* Random puts, gets and dels against a model; after every del every key of
 * the universe is looked up (backward shift must keep each findable). */
static void u64map_vs_model(uint64_t *rng, size_t universe, int ops,
                            int crowded_pct) {
  mgri_mem m;
  mem_zero(&m);
  mgri_u64map map;
  mgri_u64map_init(&map, &m, MGRI_MEM_OBJECTS);
  uint64_t *keys = malloc(universe * sizeof *keys);
  uint64_t *vals = calloc(universe, sizeof *vals); /* 0: absent */
  assert_non_null(keys);
  assert_non_null(vals);
  for (size_t i = 0; i < universe; i++) {
    bool dup;
    do {
      keys[i] = (int)(tu_rand(rng) % 100) < crowded_pct ? crowded_key(rng)
                                                        : tu_rand(rng);
      dup = keys[i] == 0;
      for (size_t j = 0; j < i && !dup; j++)
        dup = keys[j] == keys[i];
    } while (dup);
  }
  size_t live = 0;
  uint64_t serial = 0;
  for (int op = 0; op < ops; op++) {
    size_t i = (size_t)(tu_rand(rng) % universe);
    unsigned what = (unsigned)(tu_rand(rng) % 10);
    if (what < 5) {
      uint64_t v = ++serial;
      assert_int_equal(mgri_u64map_put(&map, keys[i], val_of(v << 1)), MGR_OK);
      if (!vals[i]) live++;
      vals[i] = v << 1;
    } else if (what < 9) {
      bool had = vals[i] != 0;
      assert_int_equal(mgri_u64map_del(&map, keys[i]), had);
      if (had) live--;
      vals[i] = 0;
      for (size_t j = 0; j < universe; j++) {
        void *got = mgri_u64map_get(&map, keys[j]);
        void *want = vals[j] ? val_of(vals[j]) : NULL;
        if (got != want)
          fail_msg("op %d: after deleting key %zu, key %zu: got %p want %p", op,
                   i, j, got, want);
      }
    } else {
      void *want = vals[i] ? val_of(vals[i]) : NULL;
      assert_ptr_equal(mgri_u64map_get(&map, keys[i]), want);
    }
    assert_int_equal(map.len, live);
  }
  assert_true(m.used[MGRI_MEM_OBJECTS] > 0);
  only(&m, MGRI_MEM_OBJECTS, m.used[MGRI_MEM_OBJECTS]);
  mgri_u64map_fini(&map);
  only(&m, 0, 0);
  free(keys);
  free(vals);
}

static void test_u64map_random(void **st) {
  (void)st;
  uint64_t rng = tu_seed("u64map_random");
  u64map_vs_model(&rng, 12, 20000, 100); /* one tiny table, wrapping clusters */
  u64map_vs_model(&rng, 40, 20000, 80);
  u64map_vs_model(&rng, 300, 20000, 50);
  u64map_vs_model(&rng, 300, 10000, 0);
}

/* --- arena and buf with a mem ------------------------------------------- */

static void test_arena_mem(void **st) {
  (void)st;
  uint64_t rng = tu_seed("arena_mem");
  mgri_mem m;
  mem_zero(&m);
  mgri_arena a;
  mgri_arena_init(&a, 0);
  mgri_arena_set_mem(&a, &m, MGRI_MEM_ARENAS);
  /* A large message: 1 MiB in 10000-byte pieces. */
  for (int i = 0; i < 105; i++) {
    uint8_t *p = mgri_arena_alloc(&a, 10000);
    assert_non_null(p);
    memset(p, i, 10000);
  }
  size_t held = mgri_arena_held(&a);
  assert_true(held >= 105 * 10000);
  only(&m, MGRI_MEM_ARENAS, m.used[MGRI_MEM_ARENAS]);
  assert_true(m.used[MGRI_MEM_ARENAS] >= held); /* each block's usable size */
  assert_true(m.peak >= held);
  mgri_arena_reset(&a);
  assert_true(mgri_arena_held(&a) <= MGRI_IDLE_BUF_MAX);
  assert_true(m.used[MGRI_MEM_ARENAS] <= MGRI_IDLE_BUF_MAX);
  assert_true(m.used[MGRI_MEM_ARENAS] >= mgri_arena_held(&a));
  assert_true(m.used[MGRI_MEM_ARENAS] > 0); /* one chunk kept */

  /* The kept chunk serves a small message without allocating. */
  m.fail_in = 1;
  assert_non_null(mgri_arena_alloc(&a, 1000));
  assert_non_null(mgri_arena_alloc(&a, 1000));
  assert_int_equal(m.failed, 0);
  m.fail_in = 0;

  /* Random workloads: a reset never keeps more than MGRI_IDLE_BUF_MAX. */
  for (int round = 0; round < 50; round++) {
    size_t n = (size_t)(tu_rand(&rng) % 200);
    for (size_t i = 0; i < n; i++) {
      size_t most = tu_rand(&rng) & 1 ? 100 : 40000;
      size_t sz = (size_t)(tu_rand(&rng) % most);
      assert_non_null(mgri_arena_alloc(&a, sz));
    }
    mgri_arena_reset(&a);
    assert_true(mgri_arena_held(&a) <= MGRI_IDLE_BUF_MAX);
  }

  /* A limit on the mem is an allocation failure of the arena. */
  m.max = m.total + 1000;
  uint64_t refused = m.refused;
  assert_null(mgri_arena_alloc(&a, 100000));
  assert_int_equal(m.refused, refused + 1);
  m.max = 0;

  mgri_arena_fini(&a);
  only(&m, 0, 0);
  assert_int_equal(mgri_arena_held(&a), 0);
}

static void test_buf_mem(void **st) {
  (void)st;
  mgri_mem m;
  mem_zero(&m);
  mgri_buf b;
  mgri_buf_init(&b, 0);
  mgri_buf_set_mem(&b, &m, MGRI_MEM_CONN_OUT);
  static uint8_t chunk[1000];
  memset(chunk, 0xa5, sizeof chunk);
  for (int i = 0; i < 100; i++)
    mgri_buf_append(&b, chunk, sizeof chunk);
  assert_int_equal(b.err, 0);
  assert_int_equal(b.len, 100000);
  assert_true(b.cap > MGRI_IDLE_BUF_MAX);
  only(&m, MGRI_MEM_CONN_OUT, mgri_mem_size(b.data));

  /* Not empty: shrink keeps everything. */
  uint8_t *data = b.data;
  size_t cap = b.cap, counted = m.total;
  mgri_buf_consume(&b, 99999);
  mgri_buf_shrink(&b);
  assert_ptr_equal(b.data, data);
  assert_int_equal(b.cap, cap);
  assert_int_equal(m.total, counted);
  assert_int_equal(b.data[0], 0xa5);
  /* Empty: what is above MGRI_IDLE_BUF_MAX goes back. */
  mgri_buf_consume(&b, 1);
  mgri_buf_shrink(&b);
  assert_null(b.data);
  assert_int_equal(b.cap, 0);
  only(&m, 0, 0);
  /* And the buffer still works. */
  mgri_buf_append(&b, chunk, 10);
  assert_int_equal(b.len, 10);
  assert_memory_equal(b.data, chunk, 10);

  /* A small buffer is kept when empty (no churn for small replies). */
  for (int i = 0; i < 5; i++)
    mgri_buf_append(&b, chunk, sizeof chunk);
  assert_true(b.cap <= MGRI_IDLE_BUF_MAX);
  data = b.data;
  counted = m.total;
  assert_int_equal(counted, mgri_mem_size(data));
  mgri_buf_clear(&b);
  mgri_buf_shrink(&b);
  assert_ptr_equal(b.data, data);
  assert_int_equal(m.total, counted);

  /* The mem's limit is the buffer's ENOMEM (sticky), counted as refused. */
  m.max = m.total + 100;
  assert_int_equal(mgri_buf_reserve(&b, 1 << 20), MGR_ENOMEM);
  assert_int_equal(b.err, MGR_ENOMEM);
  assert_int_equal(m.refused, 1);
  mgri_buf_append(&b, chunk, 1);
  assert_int_equal(b.len, 0);
  assert_int_equal(m.total, counted);
  m.max = 0;

  mgri_buf_fini(&b);
  only(&m, 0, 0);
}

/* --- the frame reader ---------------------------------------------------- */

static void put_len(uint8_t *p, uint32_t n) {
  p[0] = (uint8_t)(n >> 24);
  p[1] = (uint8_t)(n >> 16);
  p[2] = (uint8_t)(n >> 8);
  p[3] = (uint8_t)n;
}

/* A frame of n body bytes (pattern seeded by tag), malloc'd. */
static uint8_t *frame(uint32_t n, uint8_t tag) {
  uint8_t *f = malloc((size_t)n + 4);
  assert_non_null(f);
  put_len(f, n);
  for (uint32_t i = 0; i < n; i++)
    f[4 + i] = (uint8_t)(tag + i * 13);
  return f;
}

static void expect_frame(mgri_reader *r, uint32_t n, uint8_t tag) {
  const uint8_t *body = NULL;
  size_t len = 0;
  assert_int_equal(mgri_reader_next(r, &body, &len), 1);
  assert_int_equal(len, n);
  for (uint32_t i = 0; i < n; i++)
    if (body[i] != (uint8_t)(tag + i * 13)) fail_msg("body byte %u", i);
}

/* A 1 MiB frame then a small one: afterwards the reader holds (and the mem
 * counts) at most MGRI_IDLE_BUF_MAX. */
static void test_reader_mem_no_retention(void **st) {
  (void)st;
  uint64_t rng = tu_seed("reader_mem_no_retention");
  mgri_mem m;
  mem_zero(&m);
  mgri_reader r;
  mgri_reader_init(&r, 0);
  mgri_reader_set_mem(&r, &m, MGRI_MEM_CONN_IN);
  only(&m, 0, 0); /* nothing before the first feed */
  const uint32_t big = MGRI_FRAME_MAX_DEFAULT, small = 100;
  uint8_t *fb = frame(big, 1), *fs = frame(small, 2);
  size_t off = 0;
  while (off < (size_t)big + 4) {
    size_t n = 1 + (size_t)(tu_rand(&rng) % 70000);
    if (n > big + 4 - off) n = big + 4 - off;
    assert_int_equal(mgri_reader_feed(&r, fb + off, n), MGR_OK);
    off += n;
  }
  only(&m, MGRI_MEM_CONN_IN, mgri_mem_size(r.in.data));
  assert_true(m.total > big);
  expect_frame(&r, big, 1);
  const uint8_t *body;
  size_t len;
  assert_int_equal(mgri_reader_next(&r, &body, &len), 0);
  assert_int_equal(mgri_reader_feed(&r, fs, small + 4), MGR_OK);
  expect_frame(&r, small, 2);
  assert_int_equal(mgri_reader_pending(&r), 0);
  assert_true(m.total <= MGRI_IDLE_BUF_MAX);
  only(&m, MGRI_MEM_CONN_IN, m.total);
  assert_true(m.peak > big);
  /* Through prepare/commit too. */
  size_t avail;
  uint8_t *p = mgri_reader_prepare(&r, (size_t)big + 4, &avail);
  assert_non_null(p);
  assert_true(avail >= (size_t)big + 4);
  memcpy(p, fb, (size_t)big + 4);
  mgri_reader_commit(&r, (size_t)big + 4);
  expect_frame(&r, big, 1);
  p = mgri_reader_prepare(&r, small + 4, &avail);
  assert_non_null(p);
  memcpy(p, fs, small + 4);
  mgri_reader_commit(&r, small + 4);
  expect_frame(&r, small, 2);
  assert_true(m.total <= MGRI_IDLE_BUF_MAX);
  mgri_reader_fini(&r);
  only(&m, 0, 0);
  free(fb);
  free(fs);
}

/* proto.h: "A reader with nothing pending keeps at most MGRI_IDLE_BUF_MAX
 * bytes" — also right after its last frame was taken and next() said "need
 * more", before any further feed (an idle connection, spec 14.2.3). */
static void test_reader_idle_after_last_frame(void **st) {
  (void)st;
  mgri_mem m;
  mem_zero(&m);
  mgri_reader r;
  mgri_reader_init(&r, 0);
  mgri_reader_set_mem(&r, &m, MGRI_MEM_CONN_IN);
  const uint32_t big = MGRI_FRAME_MAX_DEFAULT;
  uint8_t *fb = frame(big, 3);
  assert_int_equal(mgri_reader_feed(&r, fb, (size_t)big + 4), MGR_OK);
  expect_frame(&r, big, 3);
  const uint8_t *body;
  size_t len;
  int rc = mgri_reader_next(&r, &body, &len);
  size_t pending = mgri_reader_pending(&r), held = m.total;
  mgri_reader_fini(&r);
  free(fb);
  only(&m, 0, 0);
  assert_int_equal(rc, 0);
  assert_int_equal(pending, 0);
  if (held > MGRI_IDLE_BUF_MAX)
    fail_msg("an idle reader holds %zu bytes (bound %u)", held,
             MGRI_IDLE_BUF_MAX);
}

static void test_reader_want(void **st) {
  (void)st;
  mgri_reader r;
  mgri_reader_init(&r, 100);
  const uint8_t *body;
  size_t len;
  /* Header incomplete. */
  assert_int_equal(mgri_reader_want(&r), 4);
  uint8_t *f = frame(10, 9);
  assert_int_equal(mgri_reader_feed(&r, f, 1), MGR_OK);
  assert_int_equal(mgri_reader_want(&r), 3);
  assert_int_equal(mgri_reader_feed(&r, f + 1, 2), MGR_OK);
  assert_int_equal(mgri_reader_want(&r), 1);
  assert_int_equal(mgri_reader_next(&r, &body, &len), 0);
  /* Body incomplete. */
  assert_int_equal(mgri_reader_feed(&r, f + 3, 1), MGR_OK);
  assert_int_equal(mgri_reader_want(&r), 10);
  assert_int_equal(mgri_reader_feed(&r, f + 4, 3), MGR_OK);
  assert_int_equal(mgri_reader_want(&r), 7);
  assert_int_equal(mgri_reader_next(&r, &body, &len), 0);
  assert_int_equal(mgri_reader_feed(&r, f + 7, 6), MGR_OK);
  assert_int_equal(mgri_reader_want(&r), 1);
  /* Whole frame, and the next one's header behind it. */
  assert_int_equal(mgri_reader_feed(&r, f + 13, 1), MGR_OK);
  assert_int_equal(mgri_reader_want(&r), 0);
  uint8_t *g = frame(100, 4); /* exactly frame_max */
  assert_int_equal(mgri_reader_feed(&r, g, 2), MGR_OK);
  assert_int_equal(mgri_reader_want(&r), 0); /* still the whole first */
  expect_frame(&r, 10, 9);
  assert_int_equal(mgri_reader_want(&r), 2);
  assert_int_equal(mgri_reader_feed(&r, g + 2, 2), MGR_OK);
  assert_int_equal(mgri_reader_want(&r), 100);
  assert_int_equal(mgri_reader_feed(&r, g + 4, 100), MGR_OK);
  assert_int_equal(mgri_reader_want(&r), 0);
  expect_frame(&r, 100, 4);
  assert_int_equal(mgri_reader_want(&r), 4);
  mgri_reader_fini(&r);

  /* Bad lengths: want says 0, next() reports them. */
  uint8_t zero[4] = {0, 0, 0, 0}, over[4];
  put_len(over, 101);
  mgri_reader_init(&r, 100);
  assert_int_equal(mgri_reader_feed(&r, zero, 4), MGR_OK);
  assert_int_equal(mgri_reader_want(&r), 0);
  assert_int_equal(mgri_reader_next(&r, &body, &len), MGR_EDECODE);
  mgri_reader_fini(&r);
  mgri_reader_init(&r, 100);
  assert_int_equal(mgri_reader_feed(&r, over, 4), MGR_OK);
  assert_int_equal(mgri_reader_want(&r), 0);
  assert_int_equal(mgri_reader_next(&r, &body, &len), MGR_ETOOBIG);
  mgri_reader_fini(&r);
  free(f);
  free(g);
}

static void test_reader_set_max(void **st) {
  (void)st;
  const uint8_t *body;
  size_t len;
  uint8_t *f = frame(200, 5);
  /* Over the limit: refused from its header, sticky. */
  mgri_reader r;
  mgri_reader_init(&r, 100);
  assert_int_equal(mgri_reader_feed(&r, f, 60), MGR_OK);
  assert_int_equal(mgri_reader_want(&r), 0);
  assert_int_equal(mgri_reader_next(&r, &body, &len), MGR_ETOOBIG);
  assert_int_equal(mgri_reader_feed(&r, f + 60, 144), MGR_ETOOBIG);
  assert_int_equal(mgri_reader_next(&r, &body, &len), MGR_ETOOBIG);
  mgri_reader_fini(&r);

  /* The same bytes, the limit raised before next() saw them (as the server
   * does after HELLO): accepted. */
  mgri_reader_init(&r, 100);
  assert_int_equal(mgri_reader_feed(&r, f, 60), MGR_OK);
  mgri_reader_set_max(&r, 300);
  assert_int_equal(mgri_reader_want(&r), 144);
  assert_int_equal(mgri_reader_next(&r, &body, &len), 0);
  assert_int_equal(mgri_reader_feed(&r, f + 60, 144), MGR_OK);
  expect_frame(&r, 200, 5);
  /* Lowered again: the next such frame is refused. */
  mgri_reader_set_max(&r, 199);
  assert_int_equal(mgri_reader_feed(&r, f, 204), MGR_OK);
  assert_int_equal(mgri_reader_next(&r, &body, &len), MGR_ETOOBIG);
  mgri_reader_fini(&r);

  /* 0 is the default; above the ceiling is the ceiling. */
  uint8_t h[4];
  mgri_reader_init(&r, 100);
  mgri_reader_set_max(&r, 0);
  put_len(h, MGRI_FRAME_MAX_DEFAULT);
  assert_int_equal(mgri_reader_feed(&r, h, 4), MGR_OK);
  assert_int_equal(mgri_reader_want(&r), MGRI_FRAME_MAX_DEFAULT);
  mgri_reader_fini(&r);
  mgri_reader_init(&r, 100);
  mgri_reader_set_max(&r, 0);
  put_len(h, MGRI_FRAME_MAX_DEFAULT + 1);
  assert_int_equal(mgri_reader_feed(&r, h, 4), MGR_OK);
  assert_int_equal(mgri_reader_want(&r), 0);
  assert_int_equal(mgri_reader_next(&r, &body, &len), MGR_ETOOBIG);
  mgri_reader_fini(&r);
  mgri_reader_init(&r, 100);
  mgri_reader_set_max(&r, UINT32_MAX);
  put_len(h, MGRI_FRAME_MAX_CEIL);
  assert_int_equal(mgri_reader_feed(&r, h, 4), MGR_OK);
  assert_int_equal(mgri_reader_want(&r), MGRI_FRAME_MAX_CEIL);
  mgri_reader_fini(&r);
  mgri_reader_init(&r, 100);
  mgri_reader_set_max(&r, UINT32_MAX);
  put_len(h, MGRI_FRAME_MAX_CEIL + 1);
  assert_int_equal(mgri_reader_feed(&r, h, 4), MGR_OK);
  assert_int_equal(mgri_reader_next(&r, &body, &len), MGR_ETOOBIG);
  mgri_reader_fini(&r);
  free(f);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_mem_categories_total_peak),
      cmocka_unit_test(test_mem_limit),
      cmocka_unit_test(test_mem_realloc_growth),
      cmocka_unit_test(test_mem_realloc_shrink_over_limit),
      cmocka_unit_test(test_mem_fail_in),
      cmocka_unit_test(test_mem_move_forget),
      cmocka_unit_test(test_mem_null),
      cmocka_unit_test(test_mem_edges),
      cmocka_unit_test(test_u64map_reserve),
      cmocka_unit_test(test_u64map_random),
      cmocka_unit_test(test_arena_mem),
      cmocka_unit_test(test_buf_mem),
      cmocka_unit_test(test_reader_mem_no_retention),
      cmocka_unit_test(test_reader_idle_after_last_frame),
      cmocka_unit_test(test_reader_want),
      cmocka_unit_test(test_reader_set_max),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
