/* mgr tests — common utilities: arena, buf, limits, the error table and the
 * runtime version. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "common/arena.h"
#include "common/buf.h"
#include "common/limits.h"
#include "common/xstruct.h"
#include "mgr/mgr.h"

static void arena_alignment_and_zero(void **state) {
  (void)state;
  mgri_arena a;
  mgri_arena_init(&a, 0);
  void *z = mgri_arena_alloc(&a, 0);
  assert_non_null(z);
  for (size_t n = 1; n < 200; n++) {
    uint8_t *p = mgri_arena_alloc(&a, n);
    assert_non_null(p);
    assert_int_equal((uintptr_t)p % 16, 0);
    memset(p, 0xab, n); /* ASan catches overlap or overrun */
  }
  /* Bigger than any chunk so far. */
  uint8_t *big = mgri_arena_alloc(&a, 1u << 20);
  assert_non_null(big);
  memset(big, 1, 1u << 20);
  mgri_arena_fini(&a);
  mgri_arena_fini(&a); /* idempotent */
}

static void arena_limit(void **state) {
  (void)state;
  mgri_arena a;
  mgri_arena_init(&a, 64);
  assert_non_null(mgri_arena_alloc(&a, 32));
  assert_non_null(mgri_arena_alloc(&a, 17)); /* rounds to 32: 64 used */
  assert_null(mgri_arena_alloc(&a, 1));
  assert_non_null(mgri_arena_alloc(&a, 0));
  mgri_arena_reset(&a);
  assert_int_equal(a.used, 0);
  assert_non_null(mgri_arena_alloc(&a, 64));
  assert_null(mgri_arena_alloc(&a, 65));
  assert_null(mgri_arena_alloc(&a, SIZE_MAX));
  assert_null(mgri_arena_alloc(&a, SIZE_MAX - 8));
  mgri_arena_fini(&a);
  /* Rounding up must not wrap. */
  mgri_arena_init(&a, 0);
  assert_null(mgri_arena_alloc(&a, SIZE_MAX));
  assert_null(mgri_arena_alloc(&a, SIZE_MAX - 3));
  mgri_arena_fini(&a);
}

static void arena_reset_keeps_largest(void **state) {
  (void)state;
  mgri_arena a;
  mgri_arena_init(&a, 0);
  /* A small workload: the chunk it filled is kept by the reset... */
  for (int i = 0; i < 8; i++)
    assert_non_null(mgri_arena_alloc(&a, 1000));
  mgri_arena_chunk *before = a.head;
  mgri_arena_reset(&a);
  assert_ptr_equal(a.head, before);
  assert_true(mgri_arena_held(&a) <= MGRI_IDLE_BUF_MAX);
  /* ... and the same workload fits it again: steady state allocates
   * nothing. */
  for (int r = 0; r < 3; r++) {
    for (int i = 0; i < 8; i++)
      assert_non_null(mgri_arena_alloc(&a, 1000));
    assert_ptr_equal(a.head, before);
    mgri_arena_reset(&a);
  }
  /* A large one: nothing above MGRI_IDLE_BUF_MAX survives the reset. */
  for (int i = 0; i < 1000; i++)
    assert_non_null(mgri_arena_alloc(&a, 1000));
  assert_true(mgri_arena_held(&a) > 1000 * 1000);
  mgri_arena_reset(&a);
  assert_true(mgri_arena_held(&a) <= MGRI_IDLE_BUF_MAX);
  mgri_arena_fini(&a);
  assert_null(a.head);
  assert_int_equal(mgri_arena_held(&a), 0);
}

static void buf_basics(void **state) {
  (void)state;
  mgri_buf b;
  mgri_buf_init(&b, 0);
  for (int i = 0; i < 1000; i++)
    mgri_buf_append(&b, "abc", 3);
  assert_int_equal(b.err, 0);
  assert_int_equal(b.len, 3000);
  assert_true(b.cap >= 3000 && b.cap <= 8192);
  assert_memory_equal(b.data + 2997, "abc", 3);
  mgri_buf_consume(&b, 2998);
  assert_int_equal(b.len, 2);
  assert_memory_equal(b.data, "bc", 2);
  mgri_buf_consume(&b, 2);
  assert_int_equal(b.len, 0);
  mgri_buf_append(&b, NULL, 0);
  assert_int_equal(b.len, 0);
  assert_int_equal(mgri_buf_reserve(&b, 100), MGR_OK);
  assert_true(b.cap - b.len >= 100);
  mgri_buf_fini(&b);
}

static void buf_max_sticky(void **state) {
  (void)state;
  mgri_buf b;
  mgri_buf_init(&b, 10);
  mgri_buf_append(&b, "0123456789", 10);
  assert_int_equal(b.err, 0);
  assert_int_equal(b.len, 10);
  assert_true(b.cap <= 10);
  mgri_buf_append(&b, "x", 1);
  assert_int_equal(b.err, MGR_ETOOBIG);
  assert_int_equal(b.len, 10);
  /* Sticky: nothing more goes in, even what would fit. */
  mgri_buf_consume(&b, 5);
  mgri_buf_append(&b, "y", 1);
  assert_int_equal(b.len, 5);
  assert_int_equal(mgri_buf_reserve(&b, 1), MGR_ETOOBIG);
  mgri_buf_clear(&b);
  assert_int_equal(b.err, 0);
  assert_int_equal(b.len, 0);
  mgri_buf_append(&b, "y", 1);
  assert_int_equal(b.len, 1);
  assert_int_equal(mgri_buf_reserve(&b, SIZE_MAX), MGR_ETOOBIG);
  mgri_buf_fini(&b);

  /* len + n overflowing size_t is ETOOBIG, not a wrapped small request. */
  mgri_buf_init(&b, 0);
  mgri_buf_append(&b, "ab", 2);
  assert_int_equal(mgri_buf_reserve(&b, SIZE_MAX - 1), MGR_ETOOBIG);
  mgri_buf_fini(&b);
}

/* The inline fast path (room already allocated) still honours a max
 * lowered below the capacity, as the frame encoder lowers it, and a len
 * already past max. */
static void buf_room_respects_max(void **state) {
  (void)state;
  mgri_buf b;
  mgri_buf_init(&b, 0);
  assert_int_equal(mgri_buf_reserve(&b, 100), MGR_OK);
  mgri_buf_append(&b, "abcd", 4);
  b.max = 6;
  assert_non_null(mgri_buf_room(&b, 2));
  mgri_buf_append(&b, "ef", 2);
  assert_int_equal(b.len, 6);
  assert_null(mgri_buf_room(&b, 1));
  assert_int_equal(b.err, MGR_ETOOBIG);
  mgri_buf_clear(&b);
  mgri_buf_append(&b, "abcdefgh", 8);
  assert_int_equal(b.err, MGR_ETOOBIG);
  assert_int_equal(b.len, 0);
  mgri_buf_clear(&b);
  b.max = 0; /* 0 = no maximum */
  mgri_buf_append(&b, "abcdefgh", 8);
  assert_int_equal(b.len, 8);
  b.max = 4; /* len already past max */
  assert_null(mgri_buf_room(&b, 1));
  assert_int_equal(b.err, MGR_ETOOBIG);
  mgri_buf_fini(&b);
}

static void limits_defaults(void **state) {
  (void)state;
  mgri_limits l;
  mgri_limits_default(&l);
  assert_int_equal(l.frame_max, MGRI_FRAME_MAX_DEFAULT);
  assert_int_equal(l.depth_max, MGRI_DEPTH_MAX);
  assert_int_equal(l.items_max, MGRI_ITEMS_MAX_DEFAULT);
  assert_true(l.frame_max <= MGRI_FRAME_MAX_CEIL);
}

static void error_table(void **state) {
  (void)state;
  int n = 0;
#define X_(name, value, py, msg)                                               \
  assert_string_equal(mgr_err_name(value), "MGR_" #name);                      \
  assert_string_equal(mgr_strerror(value), msg);                               \
  assert_string_equal(mgr_err_python(value), py);                              \
  assert_true(strlen(msg) > 0 && strlen(py) > 0);                              \
  n++;
  MGR_ERRORS(X_)
#undef X_
  assert_true(n >= 20);
  assert_string_equal(mgr_err_name(MGR_EKEY), "MGR_EKEY");
  assert_string_equal(mgr_err_python(MGR_EKEY), "KeyError");
  assert_string_equal(mgr_err_name(-9999), "MGR_E?");
  assert_string_equal(mgr_strerror(-9999), "unknown error");
  assert_string_equal(mgr_err_python(-9999), "-");
  assert_string_equal(mgr_err_name(7), "MGR_E?");
  assert_string_equal(mgr_err_name(0), "MGR_OK");
}

static void version(void **state) {
  (void)state;
  assert_int_equal(mgr_version(), MGR_VERSION_HEX);
  assert_string_equal(mgr_version_string(), MGR_VERSION_STRING);
}

/* Options structs may grow at their end (src/common/xstruct.c): an older
 * caller's smaller struct keeps the newer fields' defaults, a newer caller's
 * larger one is taken when its unknown fields are zero, and refused when it
 * sets one, or when it was never initialised. */
typedef struct opt_v1 {
  size_t size;
  int a;
} opt_v1;
typedef struct opt_v2 {
  size_t size;
  int a;
  int b;
} opt_v2;

static void xstruct_versions(void **state) {
  (void)state;
  /* The library's defaults: a field added later defaults to 0 (its bytes
   * may come from the older struct's tail padding, which init zeroes). */
  opt_v2 out = {sizeof out, 1, 0};
  opt_v1 older;
  memset(&older, 0, sizeof older);
  older.size = sizeof older;
  older.a = 7;
  out.b = 5; /* whatever it held, an older caller cannot set it */
  assert_int_equal(mgri_xstruct_in(&out, sizeof out, &older), MGR_OK);
  assert_int_equal(out.a, 7);
  assert_true(out.b == 0 || out.b == 5); /* its default, or untouched */
  assert_int_equal(out.size, sizeof out);
  struct {
    opt_v2 known;
    int c;
  } newer;
  memset(&newer, 0, sizeof newer);
  newer.known.size = sizeof newer;
  newer.known.a = 8;
  newer.known.b = 9;
  opt_v2 o2 = {sizeof o2, 1, 2};
  assert_int_equal(mgri_xstruct_in(&o2, sizeof o2, &newer), MGR_OK);
  assert_int_equal(o2.a, 8);
  assert_int_equal(o2.b, 9);
  newer.c = 1; /* a setting this library cannot honour */
  assert_int_equal(mgri_xstruct_in(&o2, sizeof o2, &newer), MGR_EINVAL);
  opt_v2 raw;
  memset(&raw, 0, sizeof raw); /* never initialised: size 0 */
  assert_int_equal(mgri_xstruct_in(&o2, sizeof o2, &raw), MGR_EINVAL);
  /* The public init sets the size the caller's compiler saw. */
  mgr_options mo;
  memset(&mo, 0xa5, sizeof mo);
  mgr_options_init(&mo);
  assert_int_equal(mo.size, sizeof mo);
  assert_int_equal(mo.timeout_ms, -1);
  assert_null(mo.address);
  assert_false(mo.allow_other_uid);
  mgr_server_options so;
  mgr_server_options_init(&so);
  assert_int_equal(so.size, sizeof so);
  assert_int_equal(so.ready_fd, -1);
  /* A client or server given an uninitialised struct refuses it. */
  mgr_options bad;
  memset(&bad, 0, sizeof bad);
  mgr_client *m = NULL;
  assert_int_equal(mgr_connect("/nonexistent", &bad, &m), MGR_EINVAL);
  mgr_server_options sbad;
  memset(&sbad, 0, sizeof sbad);
  sbad.address = "/nonexistent/x";
  assert_int_equal(mgr_server_run(&sbad), MGR_EINVAL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(arena_alignment_and_zero),
      cmocka_unit_test(arena_limit),
      cmocka_unit_test(arena_reset_keeps_largest),
      cmocka_unit_test(xstruct_versions),
      cmocka_unit_test(buf_basics),
      cmocka_unit_test(buf_max_sticky),
      cmocka_unit_test(buf_room_respects_max),
      cmocka_unit_test(limits_defaults),
      cmocka_unit_test(error_table),
      cmocka_unit_test(version),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
