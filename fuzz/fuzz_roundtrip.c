/* mgr fuzz target — the encoder, from values rather than bytes: the input is
 * a program that builds an mgr_value tree (scalars at their boundaries, raw
 * and special floats, valid and broken UTF-8, nested arrays and maps with
 * colliding keys such as 1, 1.0 and True, refs with bad kinds, trees deeper
 * than the limit). The encoder must accept exactly the values an independent
 * model of the profile (model.h) calls valid, append nothing otherwise, and
 * everything it emits must decode to the same tree (types, order, float bits;
 * NaN aware), re-encode byte for byte, survive a deep copy, travel inside a
 * reply unchanged, and be == to the original when it holds no NaN. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cbor/cbor.h"
#include "fuzz.h"
#include "model.h"
#include "mgr/error.h"
#include "proto/proto.h"

#define NODES_MAX 2048
#define TEXT_MAX 8192
#define DEPTH_GEN 35 /* past MGRI_DEPTH_MAX, so too-deep trees are made */

typedef struct gen {
  fuzz_in in;
  mgr_value nodes[NODES_MAX];
  size_t nnodes;
  uint8_t text[TEXT_MAX]; /* generated UTF-8 */
  size_t ntext;
} gen;

static const int64_t int_special[] = {0,
                                      1,
                                      23,
                                      24,
                                      255,
                                      256,
                                      65535,
                                      65536,
                                      4294967295,
                                      4294967296,
                                      INT64_MAX,
                                      -1,
                                      -24,
                                      -25,
                                      -256,
                                      -257,
                                      -65536,
                                      -65537,
                                      -4294967296,
                                      -4294967297,
                                      INT64_MIN,
                                      INT64_MIN + 1,
                                      9007199254740993,
                                      -9007199254740993};

static double float_special(uint8_t k) {
  static const double t[] = {0.0,
                             1.0,
                             1.5,
                             65504.0,
                             65505.0,
                             65520.0,
                             0x1p-24,
                             0x1p-25,
                             0x1p-14,
                             0x1.ffcp-15,
                             0x1p-149,
                             0x1p-126,
                             3.4028234663852886e38,
                             3.4028235677973366e38,
                             0.1,
                             1e300,
                             0x1p63,
                             -0x1p63,
                             0x1p53,
                             0x1p53 + 2,
                             100000.0,
                             1.0 / 3};
  size_t n = sizeof t / sizeof t[0];
  if (k % 32 == 30) return INFINITY;
  if (k % 32 == 31) return NAN;
  double d = t[(k % 32) % n];
  return k & 0x80 ? -d : d;
}

/* Appends code point cp as UTF-8 (possibly a surrogate: the caller decides
 * what validity it wants). */
static void put_cp(gen *g, uint32_t cp) {
  uint8_t b[4];
  size_t n;
  if (cp < 0x80) {
    b[0] = (uint8_t)cp, n = 1;
  } else if (cp < 0x800) {
    b[0] = (uint8_t)(0xc0 | cp >> 6), b[1] = (uint8_t)(0x80 | (cp & 0x3f)),
    n = 2;
  } else if (cp < 0x10000) {
    b[0] = (uint8_t)(0xe0 | cp >> 12),
    b[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3f));
    b[2] = (uint8_t)(0x80 | (cp & 0x3f)), n = 3;
  } else {
    b[0] = (uint8_t)(0xf0 | cp >> 18),
    b[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3f));
    b[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3f)),
    b[3] = (uint8_t)(0x80 | (cp & 0x3f));
    n = 4;
  }
  if (g->ntext + n > TEXT_MAX) return;
  memcpy(g->text + g->ntext, b, n);
  g->ntext += n;
}

static mgr_value gen_text(gen *g) {
  static const uint32_t cps[] = {0,      'a',    0x7f,    0x80,     0x7ff,
                                 0x800,  0xd7ff, 0xd800,  0xdfff,   0xe000,
                                 0xfffd, 0xffff, 0x10000, 0x10ffff, 0x110000,
                                 0xe9,   0x20ac, 0x1f600};
  size_t n = fuzz_u8(&g->in) % 12, start = g->ntext;
  for (size_t i = 0; i < n; i++) {
    uint8_t k = fuzz_u8(&g->in);
    uint32_t cp = k < 0x80 ? k : cps[k % (sizeof cps / sizeof cps[0])];
    put_cp(g, cp);
  }
  return mgr_textn((const char *)g->text + start, g->ntext - start);
}

static mgr_value gen_value(gen *g, unsigned depth);

static mgr_value gen_container(gen *g, unsigned depth, bool map, size_t n) {
  size_t cells = map ? 2 * n : n;
  if (cells > NODES_MAX - g->nnodes) cells = n = 0;
  mgr_value *items = g->nodes + g->nnodes;
  g->nnodes += cells;
  for (size_t i = 0; i < cells; i++)
    items[i] = gen_value(g, depth + 1);
  return map ? mgr_map(items, n) : mgr_array(items, n);
}

static mgr_value gen_value(gen *g, unsigned depth) {
  uint8_t op = fuzz_u8(&g->in);
  unsigned kind = op % 16;
  if (depth >= DEPTH_GEN && kind >= 11) kind %= 11;
  switch (kind) {
  case 0:
    return mgr_nil();
  case 1:
    return mgr_bool(op & 0x10);
  case 2: { /* an int of 1, 2, 4 or 8 bytes, either sign */
    unsigned w = 1u << ((op >> 4) & 3);
    uint64_t u = fuzz_un(&g->in, w);
    return mgr_int(op & 0x80 ? (int64_t)~u : (int64_t)u);
  }
  case 3:
    return mgr_int(
        int_special[(op >> 4) % (sizeof int_special / sizeof int_special[0])]);
  case 4: { /* a double from raw bits (NaN payloads included) */
    uint64_t u = fuzz_un(&g->in, 8);
    double d;
    memcpy(&d, &u, 8);
    return mgr_float(d);
  }
  case 5: { /* a half or single, widened: the shortest-width boundaries */
    uint64_t u = fuzz_un(&g->in, (op & 0x10) ? 4 : 2);
    if (op & 0x10) {
      uint32_t w = (uint32_t)u;
      float f;
      memcpy(&f, &w, 4);
      return mgr_float(f);
    }
    double m = (double)(u & 0x3ff);
    int e = (int)((u >> 10) & 0x1f);
    double d = e == 0    ? ldexp(m, -24)
               : e == 31 ? (m ? NAN : INFINITY)
                         : ldexp(m + 1024, e - 25);
    return mgr_float(u & 0x8000 ? -d : d);
  }
  case 6:
    return mgr_float(float_special(fuzz_u8(&g->in)));
  case 7:
    return gen_text(g);
  case 8: { /* raw bytes as text (mostly invalid UTF-8) or as bytes */
    size_t got;
    const uint8_t *p = fuzz_take(&g->in, fuzz_u8(&g->in) % 24, &got);
    return op & 0x10 ? mgr_bytes(p, got) : mgr_textn((const char *)p, got);
  }
  case 9: { /* a ref, kind 0..6, id small or raw */
    mgr_value v = mgr_nil();
    v.type = MGR_T_REF;
    v.u.ref.kind = (op >> 4) % 7;
    v.u.ref.id = (op & 0x80) ? fuzz_un(&g->in, 8) : fuzz_u8(&g->in) % 4;
    return v;
  }
  case 10: { /* a number that collides as a key: 1, 1.0, True, -0.0, 0 */
    switch ((op >> 4) % 5) {
    case 0:
      return mgr_int(1);
    case 1:
      return mgr_float(1.0);
    case 2:
      return mgr_bool(true);
    case 3:
      return mgr_float(-0.0);
    default:
      return mgr_int(0);
    }
  }
  case 11:
  case 12:
    return gen_container(g, depth, false, fuzz_u8(&g->in) % 6);
  case 13:
    return gen_container(g, depth, true, fuzz_u8(&g->in) % 6);
  case 14: /* a big map: the sorted duplicate search (> 16 pairs) */
    return gen_container(g, depth, true, 17 + fuzz_u8(&g->in) % 24);
  default: /* a chain, to reach the depth limit quickly */
    return gen_container(g, depth, op & 0x10, 1);
  }
}

/* Levels of nesting: 1 for a scalar. */
static unsigned height(const mgr_value *v) {
  unsigned h = 0;
  if (v->type == MGR_T_ARRAY || v->type == MGR_T_MAP) {
    size_t n = v->u.a.len * (v->type == MGR_T_MAP ? 2 : 1);
    for (size_t i = 0; i < n; i++) {
      unsigned c = height(&v->u.a.items[i]);
      if (c > h) h = c;
    }
  }
  return h + 1;
}

static gen G; /* large; one input at a time */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  gen *g = &G;
  g->in = (fuzz_in){data, size, 0};
  g->nnodes = g->ntext = 0;
  mgr_value v = gen_value(g, 1);
  bool valid = model_valid(&v, 1);

  mgri_buf b;
  mgri_buf_init(&b, 0);
  static const uint8_t junk[3] = {0xde, 0xad, 0x00};
  mgri_buf_append(&b, junk, sizeof junk); /* the encoder appends after it */
  int rc = mgri_cbor_value(&b, &v);
  if (!valid) {
    FUZZ_CHECK(rc == MGR_EINVAL);
    FUZZ_CHECK(b.len == sizeof junk);
    mgri_buf_fini(&b);
    return 0;
  }
  FUZZ_CHECK(rc == MGR_OK);
  FUZZ_CHECK(b.len > sizeof junk && memcmp(b.data, junk, sizeof junk) == 0);
  const uint8_t *enc = b.data + sizeof junk;
  size_t n = b.len - sizeof junk;

  mgri_limits lim;
  mgri_limits_default(&lim);
  mgri_arena a;
  mgri_arena_init(&a, 16u << 20);
  mgr_value w;
  mgri_decode_error err = {0, 0, NULL};
  rc = mgri_cbor_decode(enc, n, &lim, &a, &w, &err);
  FUZZ_CHECK(rc == MGR_OK);
  FUZZ_CHECK(model_same(&v, &w));
  bool nan = model_has_nan(&v);
  if (!nan) FUZZ_CHECK(mgri_value_eq(&v, &w) && mgri_value_eq(&w, &v));

  mgri_buf b2;
  mgri_buf_init(&b2, 0);
  FUZZ_CHECK(mgri_cbor_value(&b2, &w) == MGR_OK);
  FUZZ_CHECK(b2.len == n && memcmp(b2.data, enc, n) == 0);

  /* A deep copy is the same tree. */
  bool scalar = v.type != MGR_T_TEXT && v.type != MGR_T_BYTES &&
                v.type != MGR_T_ARRAY && v.type != MGR_T_MAP;
  if (!(scalar && fuzz_known("copy-null"))) {
    mgr_value c;
    FUZZ_CHECK(mgr_value_copy(&c, &v) == MGR_OK);
    FUZZ_CHECK(model_same(&v, &c));
    mgr_value_free(&c);
  }

  /* The same value as a reply's result (depth 2 of the frame's item) and as
   * a request's argument (depth 3). The encoders promise MGR_EINVAL for a
   * value the peer would reject, so what they emit must decode; a refusal is
   * right only when the nesting would pass the limit. */
  unsigned h = height(&v);
  for (int asreq = 0; asreq < 2; asreq++) {
    unsigned extra = asreq ? 2 : 1;
    if (h + extra > MGRI_DEPTH_MAX && fuzz_known("encode-depth")) continue;
    mgri_buf_clear(&b2);
    mgri_arena_reset(&a);
    int erc;
    if (asreq) {
      mgri_request q = {size & 0xffff, MGRI_OP_VAR_SET, 7, &v, 1};
      erc = mgri_request_encode(&b2, &q, MGRI_FRAME_MAX_CEIL);
    } else {
      mgri_reply rp = {size & 0xffff, MGR_OK, v, NULL, 0};
      erc = mgri_reply_encode(&b2, &rp, MGRI_FRAME_MAX_CEIL);
    }
    if (erc != MGR_OK) {
      FUZZ_CHECK(erc == MGR_EINVAL && h + extra > MGRI_DEPTH_MAX);
      FUZZ_CHECK(b2.len == 0);
      continue;
    }
    FUZZ_CHECK(b2.len > MGRI_FRAME_HEADER);
    const uint8_t *body = b2.data + MGRI_FRAME_HEADER;
    size_t blen = b2.len - MGRI_FRAME_HEADER;
    FUZZ_CHECK(blen == ((size_t)b2.data[0] << 24 | (size_t)b2.data[1] << 16 |
                        (size_t)b2.data[2] << 8 | b2.data[3]));
    if (asreq) {
      mgri_request q;
      rc = mgri_request_decode(body, blen, &lim, &a, &q, &err);
      FUZZ_CHECK(rc == MGR_OK);
      FUZZ_CHECK(q.rid == (size & 0xffff) && q.op == MGRI_OP_VAR_SET &&
                 q.oid == 7 && q.nargs == 1);
      FUZZ_CHECK(model_same(&v, &q.args[0]));
    } else {
      mgri_reply rq;
      rc = mgri_reply_decode(body, blen, &lim, &a, &rq, &err);
      FUZZ_CHECK(rc == MGR_OK);
      FUZZ_CHECK(rq.status == MGR_OK && rq.rid == (size & 0xffff));
      FUZZ_CHECK(model_same(&v, &rq.result));
    }
  }

  mgri_buf_fini(&b2);
  mgri_buf_fini(&b);
  mgri_arena_fini(&a);
  return 0;
}
