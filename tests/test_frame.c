/* mgr tests — the frame reader: every split point, byte by byte, random
 * chunkings, bad lengths (refused before the body), sticky errors,
 * prepare/commit, the frame_max boundary and the buffer bound. */
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

#include "mgr/error.h"
#include "proto/proto.h"
#include "util.h"

/* A stream of frames; bodies hold a pattern derived from their index. */
typedef struct stream {
  uint8_t *data;
  size_t len;
  size_t nframes;
  size_t *sizes;
} stream;

static uint8_t pat(size_t frame, size_t i) {
  return (uint8_t)(frame * 31 + i * 7 + 1);
}

static void put_len(uint8_t *p, uint32_t n) {
  p[0] = (uint8_t)(n >> 24);
  p[1] = (uint8_t)(n >> 16);
  p[2] = (uint8_t)(n >> 8);
  p[3] = (uint8_t)n;
}

static void stream_make(stream *s, const size_t *sizes, size_t k) {
  size_t total = 0;
  for (size_t i = 0; i < k; i++)
    total += 4 + sizes[i];
  s->data = malloc(total ? total : 1);
  s->sizes = malloc(k * sizeof *sizes + 1);
  assert_non_null(s->data);
  assert_non_null(s->sizes);
  memcpy(s->sizes, sizes, k * sizeof *sizes);
  s->len = total;
  s->nframes = k;
  size_t off = 0;
  for (size_t f = 0; f < k; f++) {
    put_len(s->data + off, (uint32_t)sizes[f]);
    off += 4;
    for (size_t i = 0; i < sizes[f]; i++)
      s->data[off + i] = pat(f, i);
    off += sizes[f];
  }
}

static void stream_free(stream *s) {
  free(s->data);
  free(s->sizes);
}

/* Takes every whole frame out of r, checking each against s; returns how
 * many frames have been seen in total. */
static size_t drain(mgri_reader *r, const stream *s, size_t seen) {
  const uint8_t *body;
  size_t len;
  int rc;
  while ((rc = mgri_reader_next(r, &body, &len)) == 1) {
    assert_true(seen < s->nframes);
    assert_int_equal(len, s->sizes[seen]);
    for (size_t i = 0; i < len; i++)
      if (body[i] != pat(seen, i)) fail_msg("frame %zu byte %zu", seen, i);
    seen++;
  }
  assert_int_equal(rc, 0);
  return seen;
}

/* Feeds s in the pieces given by cuts (increasing positions in (0, len)). */
static void feed_cuts(const stream *s, const size_t *cuts, size_t ncuts,
                      uint32_t frame_max) {
  mgri_reader r;
  mgri_reader_init(&r, frame_max);
  size_t seen = 0, prev = 0;
  for (size_t c = 0; c <= ncuts; c++) {
    size_t end = c < ncuts ? cuts[c] : s->len;
    assert_int_equal(mgri_reader_feed(&r, s->data + prev, end - prev), MGR_OK);
    prev = end;
    seen = drain(&r, s, seen);
    assert_true(r.in.cap <= (size_t)r.frame_max + 4 + MGRI_READER_SLACK);
  }
  assert_int_equal(seen, s->nframes);
  assert_int_equal(mgri_reader_pending(&r), 0);
  mgri_reader_fini(&r);
}

static const size_t mixed[] = {1, 5, 0 + 3, 300, 2, 70000, 17, 1};

static void test_whole(void **state) {
  (void)state;
  stream s;
  stream_make(&s, mixed, sizeof mixed / sizeof *mixed);
  feed_cuts(&s, NULL, 0, 0);
  stream_free(&s);
}

/* Checks spec R-3.4-b (spec/protocol.md; tests/reqs/check_reqs.py). */
static void test_split_every_point(void **state) {
  (void)state;
  static const size_t sizes[] = {1, 3, 8, 2, 30, 1, 4};
  stream s;
  stream_make(&s, sizes, sizeof sizes / sizeof *sizes);
  for (size_t i = 0; i <= s.len; i++) {
    size_t cut = i;
    feed_cuts(&s, &cut, 1, 64);
  }
  /* And every pair of split points. */
  for (size_t i = 0; i <= s.len; i++)
    for (size_t j = i; j <= s.len; j++) {
      size_t cuts[2] = {i, j};
      feed_cuts(&s, cuts, 2, 64);
    }
  stream_free(&s);
}

static void test_byte_by_byte(void **state) {
  (void)state;
  stream s;
  stream_make(&s, mixed, sizeof mixed / sizeof *mixed);
  size_t *cuts = malloc(s.len * sizeof *cuts);
  assert_non_null(cuts);
  for (size_t i = 1; i < s.len; i++)
    cuts[i - 1] = i;
  feed_cuts(&s, cuts, s.len - 1, 0);
  free(cuts);
  stream_free(&s);
}

static void test_random_chunks(void **state) {
  (void)state;
  uint64_t seed = tu_seed("test_random_chunks");
  for (int round = 0; round < 200; round++) {
    size_t k = 1 + tu_rand(&seed) % 20, sizes[20];
    for (size_t i = 0; i < k; i++) {
      uint64_t x = tu_rand(&seed);
      sizes[i] = 1 + (x % 4 == 0 ? x % 5000 : x % 40);
    }
    stream s;
    stream_make(&s, sizes, k);
    size_t cuts[64], n = 0, pos = 0;
    while (n < 64) {
      pos += 1 + tu_rand(&seed) % 200;
      if (pos >= s.len) break;
      cuts[n++] = pos;
    }
    feed_cuts(&s, cuts, n, 8192);
    stream_free(&s);
  }
}

/* Byte-by-byte feeding of many small frames never grows the buffer past its
 * first allocation: the consumed prefix is reused, not accumulated. */
static void test_no_growth(void **state) {
  (void)state;
  mgri_reader r;
  mgri_reader_init(&r, 0);
  uint8_t frame[4 + 10];
  put_len(frame, 10);
  memset(frame + 4, 0xab, 10);
  size_t cap = 0;
  for (int f = 0; f < 5000; f++) {
    for (size_t i = 0; i < sizeof frame; i++) {
      assert_int_equal(mgri_reader_feed(&r, frame + i, 1), MGR_OK);
      const uint8_t *body;
      size_t len;
      int rc = mgri_reader_next(&r, &body, &len);
      assert_int_equal(rc, i + 1 == sizeof frame ? 1 : 0);
    }
    if (f == 0) cap = r.in.cap;
    assert_int_equal(r.in.cap, cap);
  }
  assert_true(cap <= 4096);
  mgri_reader_fini(&r);
}

/* Checks spec R-3.2-a (spec/protocol.md; tests/reqs/check_reqs.py). */
static void test_zero_length(void **state) {
  (void)state;
  mgri_reader r;
  mgri_reader_init(&r, 0);
  /* One good frame, then a zero length at stream offset 6. */
  static const uint8_t in[] = {0, 0, 0, 2, 0xf6, 0xf6, 0, 0, 0, 0, 1, 2};
  const uint8_t *body;
  size_t len;
  assert_int_equal(mgri_reader_feed(&r, in, sizeof in), MGR_OK);
  assert_int_equal(mgri_reader_next(&r, &body, &len), 1);
  assert_int_equal(len, 2);
  assert_int_equal(mgri_reader_next(&r, &body, &len), MGR_EDECODE);
  assert_non_null(strstr(r.errmsg, "offset 6"));
  assert_int_equal(r.err_offset, 6);
  /* Sticky. */
  assert_int_equal(mgri_reader_next(&r, &body, &len), MGR_EDECODE);
  assert_int_equal(mgri_reader_feed(&r, in, 4), MGR_EDECODE);
  size_t avail = 99;
  assert_null(mgri_reader_prepare(&r, 16, &avail));
  assert_int_equal(avail, 0);
  assert_int_equal(r.err, MGR_EDECODE);
  mgri_reader_fini(&r);

  /* Found after the header's 4th byte, fed one at a time. */
  mgri_reader_init(&r, 0);
  for (int i = 0; i < 3; i++) {
    assert_int_equal(mgri_reader_feed(&r, in + 6 + i, 1), MGR_OK);
    assert_int_equal(mgri_reader_next(&r, &body, &len), 0);
  }
  assert_int_equal(mgri_reader_feed(&r, in + 9, 1), MGR_OK);
  assert_int_equal(mgri_reader_next(&r, &body, &len), MGR_EDECODE);
  assert_non_null(strstr(r.errmsg, "offset 0"));
  mgri_reader_fini(&r);
}

/* An over-limit length is refused from its 4 header bytes: none of the body
 * is needed (or buffered). */
/* Checks spec R-3.3-a (spec/protocol.md; tests/reqs/check_reqs.py). */
static void test_over_limit(void **state) {
  (void)state;
  static const uint32_t lens[] = {101, 102, 1000, 0x7fffffffu, 0xffffffffu};
  for (size_t k = 0; k < sizeof lens / sizeof *lens; k++) {
    mgri_reader r;
    mgri_reader_init(&r, 100);
    uint8_t good[4 + 100], hdr[4];
    put_len(good, 100);
    memset(good + 4, 1, 100);
    put_len(hdr, lens[k]);
    const uint8_t *body;
    size_t len;
    assert_int_equal(mgri_reader_feed(&r, good, sizeof good), MGR_OK);
    assert_int_equal(mgri_reader_next(&r, &body, &len), 1); /* exactly max */
    assert_int_equal(len, 100);
    for (int i = 0; i < 3; i++) {
      assert_int_equal(mgri_reader_feed(&r, hdr + i, 1), MGR_OK);
      assert_int_equal(mgri_reader_next(&r, &body, &len), 0);
    }
    assert_int_equal(mgri_reader_feed(&r, hdr + 3, 1), MGR_OK);
    assert_int_equal(mgri_reader_next(&r, &body, &len), MGR_ETOOBIG);
    assert_non_null(strstr(r.errmsg, "offset 104"));
    assert_int_equal(r.err_offset, 104);
    assert_int_equal(mgri_reader_next(&r, &body, &len), MGR_ETOOBIG);
    assert_int_equal(mgri_reader_feed(&r, good, 1), MGR_ETOOBIG);
    size_t avail;
    assert_null(mgri_reader_prepare(&r, 1, &avail));
    mgri_reader_fini(&r);
  }
}

/* A frame of exactly frame_max (the default, 1 MiB) is accepted whole, in
 * chunks and through prepare/commit; frame_max + 1 is refused. */
static void test_frame_max_boundary(void **state) {
  (void)state;
  size_t max = MGRI_FRAME_MAX_DEFAULT;
  stream s;
  stream_make(&s, &max, 1);
  feed_cuts(&s, NULL, 0, 0);
  size_t cuts[64], n = 0;
  for (size_t p = 65536; p < s.len && n < 64; p += 65536)
    cuts[n++] = p;
  feed_cuts(&s, cuts, n, 0);
  stream_free(&s);

  mgri_reader r;
  mgri_reader_init(&r, 0);
  uint8_t hdr[4];
  put_len(hdr, MGRI_FRAME_MAX_DEFAULT + 1);
  assert_int_equal(mgri_reader_feed(&r, hdr, 4), MGR_OK);
  const uint8_t *body;
  size_t len;
  assert_int_equal(mgri_reader_next(&r, &body, &len), MGR_ETOOBIG);
  mgri_reader_fini(&r);

  /* A small custom limit. */
  mgri_reader_init(&r, 10);
  uint8_t f[4 + 11] = {0};
  put_len(f, 10);
  assert_int_equal(mgri_reader_feed(&r, f, 14), MGR_OK);
  assert_int_equal(mgri_reader_next(&r, &body, &len), 1);
  put_len(f, 11);
  assert_int_equal(mgri_reader_feed(&r, f, 15), MGR_OK);
  assert_int_equal(mgri_reader_next(&r, &body, &len), MGR_ETOOBIG);
  mgri_reader_fini(&r);
}

static void test_prepare_commit(void **state) {
  (void)state;
  uint64_t seed = tu_seed("test_prepare_commit");
  static const size_t sizes[] = {1, 2000, 5, 9000, 3, 60000, 1, 1, 4095, 4096};
  stream s;
  stream_make(&s, sizes, sizeof sizes / sizeof *sizes);
  for (int round = 0; round < 50; round++) {
    mgri_reader r;
    mgri_reader_init(&r, 65536);
    size_t pos = 0, seen = 0;
    while (pos < s.len) {
      size_t want = 1 + tu_rand(&seed) % 9000, avail = 0;
      uint8_t *p = mgri_reader_prepare(&r, want, &avail);
      assert_non_null(p);
      assert_true(avail >= want);
      /* "read" fewer bytes than offered, as read(2) may. */
      size_t got = 1 + tu_rand(&seed) % avail;
      if (got > s.len - pos) got = s.len - pos;
      memcpy(p, s.data + pos, got);
      mgri_reader_commit(&r, got);
      pos += got;
      seen = drain(&r, &s, seen);
      assert_true(r.in.cap <= 65536 + 4 + MGRI_READER_SLACK);
    }
    assert_int_equal(seen, s.nframes);
    mgri_reader_fini(&r);
  }
  stream_free(&s);
}

/* The buffer bound: prepare clamps, feed refuses (not sticky) beyond it. */
/* Checks spec R-3.4-a (spec/protocol.md; tests/reqs/check_reqs.py). */
static void test_bound(void **state) {
  (void)state;
  mgri_reader r;
  mgri_reader_init(&r, 100);
  size_t bound = 100 + 4 + MGRI_READER_SLACK, avail;
  uint8_t *p = mgri_reader_prepare(&r, SIZE_MAX, &avail);
  assert_non_null(p);
  assert_int_equal(avail, bound);
  /* Fill it with whole one-byte frames. */
  for (size_t i = 0; i + 5 <= bound; i += 5) {
    put_len(p + i, 1);
    p[i + 4] = 7;
  }
  size_t used = bound - bound % 5;
  mgri_reader_commit(&r, used);
  assert_int_equal(mgri_reader_pending(&r), used);
  uint8_t pad[8] = {0};
  assert_true(bound - used < sizeof pad);
  assert_int_equal(mgri_reader_feed(&r, pad, bound - used + 1), MGR_EINVAL);
  assert_int_equal(r.err, 0);
  assert_int_equal(mgri_reader_feed(&r, pad, bound - used), MGR_OK);
  assert_null(mgri_reader_prepare(&r, 1, &avail));
  assert_int_equal(r.err, 0);
  const uint8_t *body;
  size_t len, n = 0;
  while (mgri_reader_next(&r, &body, &len) == 1)
    n++;
  assert_int_equal(n, used / 5);
  assert_non_null(mgri_reader_prepare(&r, 1, &avail));
  assert_true(r.in.cap <= bound);
  mgri_reader_fini(&r);

  /* frame_max 0 is the default; above the ceiling is clamped. */
  mgri_reader_init(&r, 0);
  assert_int_equal(r.frame_max, MGRI_FRAME_MAX_DEFAULT);
  mgri_reader_fini(&r);
  mgri_reader_init(&r, UINT32_MAX);
  assert_int_equal(r.frame_max, MGRI_FRAME_MAX_CEIL);
  mgri_reader_fini(&r);
}

/* After a large frame has been taken, an idle reader gives the memory back. */
static void test_idle_shrink(void **state) {
  (void)state;
  size_t big = MGRI_FRAME_MAX_DEFAULT, small = 10;
  stream s;
  stream_make(&s, &big, 1);
  mgri_reader r;
  mgri_reader_init(&r, 0);
  assert_int_equal(mgri_reader_feed(&r, s.data, s.len), MGR_OK);
  assert_true(r.in.cap >= s.len);
  assert_int_equal(drain(&r, &s, 0), 1);
  size_t avail;
  assert_non_null(mgri_reader_prepare(&r, 100, &avail));
  assert_true(r.in.cap <= MGRI_IDLE_BUF_MAX);
  stream_free(&s);
  /* And it still reads frames, stream offsets intact. */
  stream_make(&s, &small, 1);
  assert_int_equal(mgri_reader_feed(&r, s.data, s.len), MGR_OK);
  assert_int_equal(drain(&r, &s, 0), 1);
  uint8_t z[4] = {0};
  assert_int_equal(mgri_reader_feed(&r, z, 4), MGR_OK);
  const uint8_t *body;
  size_t len;
  assert_int_equal(mgri_reader_next(&r, &body, &len), MGR_EDECODE);
  assert_int_equal(r.err_offset, 4 + big + 4 + small);
  stream_free(&s);
  mgri_reader_fini(&r);
}

/* Bodies returned stay valid until the next call, even when the reader
 * resets its indices after taking the last frame. */
static void test_body_lifetime(void **state) {
  (void)state;
  mgri_reader r;
  mgri_reader_init(&r, 0);
  uint8_t f[] = {0, 0, 0, 3, 'a', 'b', 'c', 0, 0, 0, 1, 'z'};
  assert_int_equal(mgri_reader_feed(&r, f, sizeof f), MGR_OK);
  const uint8_t *b1, *b2;
  size_t l1, l2;
  assert_int_equal(mgri_reader_next(&r, &b1, &l1), 1);
  assert_memory_equal(b1, "abc", 3);
  assert_int_equal(mgri_reader_next(&r, &b2, &l2), 1);
  assert_memory_equal(b2, "z", 1);
  assert_int_equal(mgri_reader_pending(&r), 0);
  assert_int_equal(mgri_reader_next(&r, &b2, &l2), 0);
  /* Stream offsets keep counting across the reset. */
  uint8_t z[4] = {0};
  assert_int_equal(mgri_reader_feed(&r, z, 4), MGR_OK);
  assert_int_equal(mgri_reader_next(&r, &b2, &l2), MGR_EDECODE);
  assert_non_null(strstr(r.errmsg, "offset 12"));
  assert_int_equal(r.err_offset, 12);
  mgri_reader_fini(&r);
}

/* A reader whose owner keeps large buffers (mgri_reader_set_keep) keeps
 * the memory of a large frame once it is taken, and gives it back when the
 * keep goes back to the idle size. */
static void test_keep(void **state) {
  (void)state;
  size_t big = 200000;
  stream s;
  stream_make(&s, &big, 1);
  mgri_reader r;
  mgri_reader_init(&r, 0);
  mgri_reader_set_keep(&r, SIZE_MAX);
  assert_int_equal(mgri_reader_feed(&r, s.data, s.len), MGR_OK);
  assert_int_equal(drain(&r, &s, 0), 1);
  mgri_reader_shrink(&r);
  assert_true(mgri_reader_held(&r) >= s.len);
  mgri_reader_set_keep(&r, 0); /* at least MGRI_IDLE_BUF_MAX */
  mgri_reader_shrink(&r);
  assert_true(mgri_reader_held(&r) <= MGRI_IDLE_BUF_MAX);
  stream_free(&s);
  mgri_reader_fini(&r);
}

/* mgri_reader_excise: a frame's middle read elsewhere. The bytes of it
 * already buffered move out, the frame comes out shortened by the cut,
 * what follows it is untouched, and stream offsets count the cut bytes
 * (mgri_reader_take). */
static void test_excise(void **state) {
  (void)state;
  uint8_t f[4 + 20 + 4 + 2];
  f[0] = 0, f[1] = 0, f[2] = 0, f[3] = 20;
  for (int i = 0; i < 20; i++)
    f[4 + i] = (uint8_t)i;
  uint8_t g[] = {0, 0, 0, 2, 'x', 'y'};
  mgri_reader r;
  mgri_reader_init(&r, 0);
  /* Header and 12 body bytes arrive; bytes 5..14 (10) are cut out. */
  assert_int_equal(mgri_reader_feed(&r, f, 4 + 12), MGR_OK);
  uint8_t out[10];
  memset(out, 0xee, sizeof out);
  assert_int_equal(mgri_reader_excise(&r, 5, 10, out), 7);
  for (int i = 0; i < 7; i++)
    assert_int_equal(out[i], 5 + i);
  size_t have;
  const uint8_t *p = mgri_reader_peek(&r, &have);
  assert_int_equal(have, 4 + 5);
  assert_int_equal(p[3], 10); /* 20 - 10 */
  const uint8_t *body;
  size_t len;
  assert_int_equal(mgri_reader_next(&r, &body, &len), 0);
  /* The rest of the cut goes around the reader; then the frame's tail and
   * the next frame. */
  assert_int_equal(mgri_reader_feed(&r, f + 4 + 15, 5), MGR_OK);
  assert_int_equal(mgri_reader_feed(&r, g, sizeof g), MGR_OK);
  assert_int_equal(mgri_reader_next(&r, &body, &len), 1);
  assert_int_equal(len, 10);
  const uint8_t want[10] = {0, 1, 2, 3, 4, 15, 16, 17, 18, 19};
  assert_memory_equal(body, want, 10);
  assert_int_equal(mgri_reader_next(&r, &body, &len), 1);
  assert_memory_equal(body, "xy", 2);
  /* Offsets: 24 + 6 bytes of stream so far. */
  uint8_t z[4] = {0};
  assert_int_equal(mgri_reader_feed(&r, z, 4), MGR_OK);
  assert_int_equal(mgri_reader_next(&r, &body, &len), MGR_EDECODE);
  assert_int_equal(r.err_offset, 30);
  mgri_reader_fini(&r);
}

/* The edges of prepare/commit/take: asking for 0 bytes offers at least
 * one; a commit or a take of more than there is counts only what there
 * is (a caller's misuse never runs past the buffer). */
static void test_prepare_take_edges(void **state) {
  (void)state;
  mgri_reader r;
  mgri_reader_init(&r, 0);
  size_t avail = 0;
  uint8_t *p = mgri_reader_prepare(&r, 0, &avail);
  assert_non_null(p);
  assert_true(avail >= 1);
  memset(p, 0, avail);
  mgri_reader_commit(&r, avail + 100);
  assert_int_equal(mgri_reader_pending(&r), avail);
  mgri_reader_fini(&r);
  mgri_reader_init(&r, 0);
  static const uint8_t frame[] = {0, 0, 0, 2, 0xaa, 0xbb};
  assert_int_equal(mgri_reader_feed(&r, frame, sizeof frame), MGR_OK);
  /* Part of it, then more than is left. */
  mgri_reader_take(&r, 2, 0);
  assert_int_equal(mgri_reader_pending(&r), 4);
  mgri_reader_take(&r, 100, 0);
  assert_int_equal(mgri_reader_pending(&r), 0);
  mgri_reader_fini(&r);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_whole),
      cmocka_unit_test(test_prepare_take_edges),
      cmocka_unit_test(test_split_every_point),
      cmocka_unit_test(test_byte_by_byte),
      cmocka_unit_test(test_random_chunks),
      cmocka_unit_test(test_no_growth),
      cmocka_unit_test(test_zero_length),
      cmocka_unit_test(test_over_limit),
      cmocka_unit_test(test_frame_max_boundary),
      cmocka_unit_test(test_prepare_commit),
      cmocka_unit_test(test_bound),
      cmocka_unit_test(test_idle_shrink),
      cmocka_unit_test(test_body_lifetime),
      cmocka_unit_test(test_keep),
      cmocka_unit_test(test_excise),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
