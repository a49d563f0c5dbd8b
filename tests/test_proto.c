/* mgr tests — messages (request/reply <-> bytes, every shape rule, random
 * round trips), the wire error mapping and the op table. */
/* clang-format off */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
/* clang-format on */

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#include "mgr/error.h"
#include "common/kinds.h"
#include "proto/proto.h"
#include "util.h"

/* ------------------------------------------------------------------ ops -- */

typedef struct op_walk {
  size_t n;
  uint32_t last;
} op_walk;

static void visit(void *ctx, const mgri_opinfo *op) {
  op_walk *w = ctx;
  /* Table order is code order, so every code is listed once. */
  assert_true(op->code > w->last);
  w->last = op->code;
  w->n++;
  assert_ptr_equal(mgri_op_info(op->code), op);
  assert_string_equal(mgri_op_name(op->code), op->name);
  assert_true(op->min_args <= op->max_args);
  assert_true(op->max_args <= MGRI_ARGS_MAX);
  assert_true(op->kind <= MGRI_KIND_MAX);
  assert_non_null(op->python);
}

static void test_ops_table(void **state) {
  (void)state;
  op_walk w = {0, 0};
  mgri_op_foreach(visit, &w);
  size_t expect = 0;
#define COUNT_(name, code, kind, mn, mx, fl, py) expect++;
  MGRI_OPS(COUNT_)
#undef COUNT_
  assert_int_equal(w.n, expect);
  /* Each entry matches its X-macro line. */
#define CHECK_(nm, cd, kd, mn, mx, fl, py)                                     \
  do {                                                                         \
    const mgri_opinfo *op = mgri_op_info(cd);                                  \
    assert_non_null(op);                                                       \
    assert_string_equal(op->name, #nm);                                        \
    assert_int_equal(op->code, cd);                                            \
    assert_int_equal(op->code, MGRI_OP_##nm);                                  \
    assert_int_equal(op->kind, kd);                                            \
    assert_int_equal(op->min_args, mn);                                        \
    assert_int_equal(op->max_args, mx);                                        \
    assert_string_equal(op->python, py);                                       \
  } while (0);
#define R_ MGRI_OPF_R
#define W_ MGRI_OPF_W
#define B_ MGRI_OPF_B
#define K_ MGRI_OPF_K
  MGRI_OPS(CHECK_)
#undef CHECK_
  assert_int_equal(mgri_op_info(MGRI_OP_LOCK_ACQUIRE)->flags,
                   W_ | B_ | MGRI_OPF_BARG(0));
  assert_int_equal(mgri_op_info(MGRI_OP_DICT_GET)->flags, R_ | K_);
  /* The blocking argument (spec 9.7) is that of the Python call. */
  assert_int_equal(MGRI_OPF_BARG_OF(mgri_op_info(MGRI_OP_QUEUE_PUT)->flags), 1);
  assert_int_equal(MGRI_OPF_BARG_OF(mgri_op_info(MGRI_OP_QUEUE_GET)->flags), 0);
  assert_int_equal(MGRI_OPF_BARG_OF(mgri_op_info(MGRI_OP_EVENT_WAIT)->flags),
                   -1);
  assert_int_equal(MGRI_OPF_BARG_OF(mgri_op_info(MGRI_OP_DICT_GET)->flags), -1);
#undef R_
#undef W_
#undef B_
#undef K_
  /* Unknown codes. */
  size_t known = 0;
  for (uint64_t c = 0; c < 4096; c++) {
    const mgri_opinfo *op = mgri_op_info(c);
    if (op) {
      known++;
      continue;
    }
    assert_string_equal(mgri_op_name(c), "?");
  }
  assert_int_equal(known, expect);
  assert_null(mgri_op_info(0));
  assert_null(
      mgri_op_info(14)); /* 11 STATS, 12 DUMP, 13 SHM_OPEN; 14-15 free */
  assert_null(mgri_op_info(255));
  assert_null(mgri_op_info(256));
  assert_null(mgri_op_info(UINT64_MAX));
  assert_null(mgri_op_info((uint64_t)1 << 32 | MGRI_OP_PING));
  assert_string_equal(mgri_op_name(UINT64_MAX), "?");
}

/* ---------------------------------------------------------------- errors -- */

/* Checks spec R-6.2-c (spec/protocol.md; tests/reqs/check_reqs.py). */
static void test_err_mapping(void **state) {
  (void)state;
  size_t wire = 0;
#define X_(name, value, py, text)                                              \
  do {                                                                         \
    int e = MGR_##name;                                                        \
    if (e <= -20 && e >= -59) {                                                \
      wire++;                                                                  \
      assert_int_equal(mgri_err_to_wire(e), (uint64_t)-e);                     \
      assert_int_equal(mgri_err_from_wire((uint64_t)-e), e);                   \
    } else {                                                                   \
      assert_int_equal(mgri_err_to_wire(e), 0);                                \
      if (e < 0)                                                               \
        assert_int_equal(mgri_err_from_wire((uint64_t)-e), MGR_EUNKNOWN);      \
    }                                                                          \
  } while (0);
  MGR_ERRORS(X_)
#undef X_
  assert_true(wire >= 10);
  assert_int_equal(mgri_err_to_wire(MGR_EKEY), 40);
  assert_int_equal(mgri_err_from_wire(40), MGR_EKEY);
  assert_int_equal(mgri_err_from_wire(0), MGR_OK);
  for (uint64_t c = 1; c < 20; c++)
    assert_int_equal(mgri_err_from_wire(c), MGR_EUNKNOWN);
  /* Holes in the table and codes past it. */
  for (uint64_t c = 20; c < 200; c++) {
    int e = mgri_err_from_wire(c);
    if (e != MGR_EUNKNOWN) {
      assert_true(c <= 59);
      assert_int_equal(e, -(int)c);
      assert_string_not_equal(mgr_err_name(e), "MGR_E?");
    } else {
      assert_string_equal(mgr_err_name(-(int)c), "MGR_E?");
    }
  }
  assert_int_equal(mgri_err_from_wire(UINT64_MAX), MGR_EUNKNOWN);
  assert_int_equal(mgri_err_from_wire((uint64_t)1 << 32 | 40), MGR_EUNKNOWN);
  assert_int_equal(mgri_err_to_wire(0), 0);
  assert_int_equal(mgri_err_to_wire(5), 0);
  assert_int_equal(mgri_err_to_wire(-26), 0); /* a hole */
  assert_int_equal(mgri_err_to_wire(-60), 0);
  assert_int_equal(mgri_err_to_wire(-1000), 0);
}

/* --------------------------------------------------------------- decode -- */

typedef struct fx {
  mgri_arena a;
  mgri_buf b;
} fx;

static int setup(void **state) {
  fx *f = calloc(1, sizeof *f);
  if (!f) return -1;
  mgri_arena_init(&f->a, 0);
  mgri_buf_init(&f->b, 0);
  *state = f;
  return 0;
}

static int teardown(void **state) {
  fx *f = *state;
  mgri_arena_fini(&f->a);
  mgri_buf_fini(&f->b);
  free(f);
  return 0;
}

static int req_hex(fx *f, const char *hex, mgri_request *r,
                   mgri_decode_error *e) {
  uint8_t *p;
  size_t n = tu_unhex(hex, &p);
  assert_true(n != (size_t)-1);
  mgri_arena_reset(&f->a);
  memset(r, 0, sizeof *r);
  memset(e, 0, sizeof *e);
  int rc = mgri_request_decode(p, n, NULL, &f->a, r, e);
  free(p);
  return rc;
}

static int rep_hex(fx *f, const char *hex, mgri_reply *r,
                   mgri_decode_error *e) {
  uint8_t *p;
  size_t n = tu_unhex(hex, &p);
  assert_true(n != (size_t)-1);
  mgri_arena_reset(&f->a);
  memset(r, 0, sizeof *r);
  memset(e, 0, sizeof *e);
  int rc = mgri_reply_decode(p, n, NULL, &f->a, r, e);
  free(p);
  return rc;
}

#define REQ_REJECT(hex, code, off)                                             \
  do {                                                                         \
    assert_int_equal(req_hex(f, hex, &r, &e), code);                           \
    assert_int_equal(e.offset, off);                                           \
    assert_non_null(e.what);                                                   \
  } while (0)

#define REP_REJECT(hex, code, off)                                             \
  do {                                                                         \
    assert_int_equal(rep_hex(f, hex, &p, &e), code);                           \
    assert_int_equal(e.offset, off);                                           \
    assert_non_null(e.what);                                                   \
  } while (0)

static void test_request_shapes(void **state) {
  fx *f = *state;
  mgri_request r;
  mgri_decode_error e;
  /* [1, 16, 5, ["k", 1]] */
  assert_int_equal(req_hex(f, "84 01 10 05 82 61 6b 01", &r, &e), MGR_OK);
  assert_int_equal(r.rid, 1);
  assert_int_equal(r.op, MGRI_OP_DICT_GET);
  assert_int_equal(r.oid, 5);
  assert_int_equal(r.nargs, 2);
  assert_int_equal(r.args[0].type, MGR_T_TEXT);
  assert_string_equal(r.args[0].u.s.ptr, "k");
  assert_int_equal(r.args[1].u.i, 1);
  /* Big fields; unknown op decodes (dispatch answers EBADOP). */
  assert_int_equal(
      req_hex(f, "84 1b 7fffffffffffffff 19 0400 1a 00010000 80", &r, &e),
      MGR_OK);
  assert_int_equal(r.rid, INT64_MAX);
  assert_int_equal(r.op, 1024);
  assert_int_equal(r.oid, 65536);
  assert_int_equal(r.nargs, 0);
  /* Exactly MGRI_ARGS_MAX arguments. */
  assert_int_equal(req_hex(f, "84 00 01 00 88 00 01 02 03 04 05 06 07", &r, &e),
                   MGR_OK);
  assert_int_equal(r.nargs, 8);

  /* Not an array / wrong length: at the top-level head. */
  REQ_REJECT("f6", MGR_EPROTO, 0);
  REQ_REJECT("01", MGR_EPROTO, 0);
  REQ_REJECT("a1 01 02", MGR_EPROTO, 0);
  REQ_REJECT("80", MGR_EPROTO, 0);
  REQ_REJECT("83 01 02 03", MGR_EPROTO, 0);
  REQ_REJECT("85 01 02 03 80 00", MGR_EPROTO, 0);
  REQ_REJECT("98 04 01 02 03 80", MGR_EDECODE, 0); /* non-shortest head */
  /* rid: negative, float, bool, text, nil, ref. */
  REQ_REJECT("84 20 01 00 80", MGR_EPROTO, 1);
  REQ_REJECT("84 f9 3c00 01 00 80", MGR_EPROTO, 1);
  REQ_REJECT("84 f5 01 00 80", MGR_EPROTO, 1);
  REQ_REJECT("84 61 31 01 00 80", MGR_EPROTO, 1);
  REQ_REJECT("84 f6 01 00 80", MGR_EPROTO, 1);
  REQ_REJECT("84 d9 6d67 82 01 01 01 00 80", MGR_EPROTO, 1);
  /* op, after a 3-byte rid. */
  REQ_REJECT("84 19 03e8 38 ff 00 80", MGR_EPROTO, 4);
  REQ_REJECT("84 19 03e8 80 00 80", MGR_EPROTO, 4);
  /* oid, after a 3-byte rid and a 2-byte op. */
  REQ_REJECT("84 19 03e8 18 50 f4 80", MGR_EPROTO, 6);
  REQ_REJECT("84 19 03e8 18 50 fb 3ff0000000000000 80", MGR_EDECODE, 6);
  REQ_REJECT("84 19 03e8 18 50 fa 47800000 80", MGR_EPROTO, 6);
  /* args: not an array, or too long. */
  REQ_REJECT("84 01 02 03 f6", MGR_EPROTO, 4);
  REQ_REJECT("84 01 02 03 a0", MGR_EPROTO, 4);
  REQ_REJECT("84 01 02 03 01", MGR_EPROTO, 4);
  REQ_REJECT("84 01 02 03 61 61", MGR_EPROTO, 4);
  REQ_REJECT("84 01 02 03 89 00 01 02 03 04 05 06 07 08", MGR_EPROTO, 4);
  REQ_REJECT("84 18 20 02 03 98 20 00 01 02 03 04 05 06 07 08 09 0a 0b 0c 0d "
             "0e 0f 10 11 12 13 14 15 16 17 18 18 18 19 18 1a 18 1b 18 1c 18 "
             "1d 18 1e 18 1f",
             MGR_EPROTO, 5);
  /* After an error, rid is what the error reply echoes (spec 3.5). */
  REQ_REJECT("83 05 01 02", MGR_EPROTO, 0);
  assert_int_equal(r.rid, 5);
  REQ_REJECT("85 19 03e8 01 02 80 f6", MGR_EPROTO, 0);
  assert_int_equal(r.rid, 1000);
  REQ_REJECT("84 19 03e8 38 ff 00 80", MGR_EPROTO, 4);
  assert_int_equal(r.rid, 1000);
  REQ_REJECT("84 01 02 03 89 00 01 02 03 04 05 06 07 08", MGR_EPROTO, 4);
  assert_int_equal(r.rid, 1);
  r.rid = 9;
  REQ_REJECT("84 20 01 00 80", MGR_EPROTO, 1);
  assert_int_equal(r.rid, 0);
  REQ_REJECT("81 f5", MGR_EPROTO, 0);
  assert_int_equal(r.rid, 0);
  REQ_REJECT("80", MGR_EPROTO, 0);
  assert_int_equal(r.rid, 0);
  REQ_REJECT("07", MGR_EPROTO, 0);
  assert_int_equal(r.rid, 0);
  REQ_REJECT("84 07 02 03 80 00", MGR_EDECODE, 5);
  assert_int_equal(r.rid, 0);
  /* Malformed CBOR is EDECODE with the decoder's offset. */
  REQ_REJECT("84 01 02 03 80 00", MGR_EDECODE, 5); /* trailing */
  REQ_REJECT("84 01 02 03", MGR_EDECODE, 0);       /* count > bytes left */
  REQ_REJECT("84 01 02 03 81 ff", MGR_EDECODE, 5);
  REQ_REJECT("9f 01 02 03 80 ff", MGR_EDECODE, 0);
  REQ_REJECT("", MGR_EDECODE, 0);
}

static void test_request_depth(void **state) {
  fx *f = *state;
  /* args nested so the deepest item is at depth MGRI_DEPTH_MAX: accepted;
   * one more: refused. Depth: request 1, args 2, then arrays. */
  for (int extra = 0; extra <= 1; extra++) {
    mgri_buf_clear(&f->b);
    mgri_cbor_array(&f->b, 4);
    mgri_cbor_uint(&f->b, 1);
    mgri_cbor_uint(&f->b, 2);
    mgri_cbor_uint(&f->b, 0);
    size_t nest = MGRI_DEPTH_MAX - 2 + (size_t)extra;
    for (size_t i = 0; i < nest; i++)
      mgri_cbor_array(&f->b, 1);
    mgri_cbor_nil(&f->b);
    assert_int_equal(f->b.err, 0);
    mgri_request r;
    mgri_decode_error e;
    mgri_arena_reset(&f->a);
    int rc = mgri_request_decode(f->b.data, f->b.len, NULL, &f->a, &r, &e);
    /* spec 4.7 rule 18: too deep is ETOOBIG at the first too-deep head. */
    assert_int_equal(rc, extra ? MGR_ETOOBIG : MGR_OK);
    if (extra) assert_int_equal(e.offset, 4 + nest);
  }
}

/* The caller's limits reach the CBOR decoder. */
static void test_decode_limits(void **state) {
  fx *f = *state;
  mgri_limits lim;
  mgri_limits_default(&lim);
  uint8_t *p;
  size_t n = tu_unhex("84 01 02 03 82 01 02", &p); /* 1 + 4 + 2 items */
  mgri_request r;
  mgri_reply rp;
  mgri_decode_error e;
  assert_int_equal(mgri_request_decode(p, n, &lim, &f->a, &r, &e), MGR_OK);
  lim.items_max = 7;
  assert_int_equal(mgri_request_decode(p, n, &lim, &f->a, &r, &e), MGR_OK);
  lim.items_max = 6;
  assert_int_equal(mgri_request_decode(p, n, &lim, &f->a, &r, &e), MGR_ETOOBIG);
  assert_int_equal(e.offset, 4);
  /* 0 means the default; a depth past the protocol's ceiling is the
   * ceiling. */
  mgri_limits zero;
  memset(&zero, 0, sizeof zero);
  assert_int_equal(mgri_request_decode(p, n, &zero, &f->a, &r, &e), MGR_OK);
  assert_int_equal(r.nargs, 2);
  free(p);
  /* [[[...[1]...]]] one level deeper than the ceiling, by hand (the
   * encoder refuses it). */
  uint8_t deep[MGRI_DEPTH_MAX + 2];
  memset(deep, 0x81, MGRI_DEPTH_MAX + 1);
  deep[MGRI_DEPTH_MAX + 1] = 0x01;
  mgri_limits huge;
  mgri_limits_default(&huge);
  huge.depth_max = MGRI_DEPTH_MAX + 100;
  mgr_value got;
  assert_int_equal(mgri_cbor_decode(deep, sizeof deep, &huge, &f->a, &got, &e),
                   MGR_ETOOBIG);
  /* MGRI_DEPTH_MAX levels, the scalar counted, are within it. */
  assert_int_equal(
      mgri_cbor_decode(deep + 2, sizeof deep - 2, &huge, &f->a, &got, &e),
      MGR_OK);
  mgri_limits_default(&lim);
  lim.depth_max = 3;
  n = tu_unhex("84 01 02 03 81 81 01", &p); /* 01 at depth 4 */
  assert_int_equal(mgri_request_decode(p, n, &lim, &f->a, &r, &e), MGR_ETOOBIG);
  assert_int_equal(e.offset, 6);
  free(p);
  n = tu_unhex("83 01 00 81 81 01", &p); /* reply result: 01 at depth 4 */
  assert_int_equal(mgri_reply_decode(p, n, &lim, &f->a, &rp, &e), MGR_ETOOBIG);
  assert_int_equal(e.offset, 5);
  lim.depth_max = 4;
  assert_int_equal(mgri_reply_decode(p, n, &lim, &f->a, &rp, &e), MGR_OK);
  free(p);
  /* err may be NULL, for CBOR and for shape errors alike. */
  n = tu_unhex("83 01 18 28 f6", &p);
  assert_int_equal(mgri_reply_decode(p, n, NULL, &f->a, &rp, NULL), MGR_EPROTO);
  assert_int_equal(mgri_request_decode(p, n, NULL, &f->a, &r, NULL),
                   MGR_EPROTO);
  assert_int_equal(mgri_request_decode(p, n - 1, NULL, &f->a, &r, NULL),
                   MGR_EDECODE);
  free(p);
}

/* Checks spec R-6.2-a (spec/protocol.md; tests/reqs/check_reqs.py). */
static void test_reply_shapes(void **state) {
  fx *f = *state;
  mgri_reply p;
  mgri_decode_error e;
  /* [7, 0, [1, 2]] */
  assert_int_equal(rep_hex(f, "83 07 00 82 01 02", &p, &e), MGR_OK);
  assert_int_equal(p.rid, 7);
  assert_int_equal(p.status, MGR_OK);
  assert_int_equal(p.result.type, MGR_T_ARRAY);
  assert_int_equal(p.result.u.a.len, 2);
  assert_null(p.msg);
  /* [7, 0, nil]; [7, 0, "x"] (a text result is not an error) */
  assert_int_equal(rep_hex(f, "83 07 00 f6", &p, &e), MGR_OK);
  assert_int_equal(p.result.type, MGR_T_NIL);
  assert_int_equal(rep_hex(f, "83 07 00 61 78", &p, &e), MGR_OK);
  assert_int_equal(p.status, MGR_OK);
  assert_int_equal(p.result.type, MGR_T_TEXT);
  /* [8, 40, "no"] */
  assert_int_equal(rep_hex(f, "83 08 18 28 62 6e 6f", &p, &e), MGR_OK);
  assert_int_equal(p.rid, 8);
  assert_int_equal(p.status, MGR_EKEY);
  assert_int_equal(p.msglen, 2);
  assert_memory_equal(p.msg, "no", 2);
  /* Empty message. */
  assert_int_equal(rep_hex(f, "83 08 18 2a 60", &p, &e), MGR_OK);
  assert_int_equal(p.status, MGR_ETYPE);
  assert_int_equal(p.msglen, 0);
  /* Local-only codes, holes and unknown codes -> EUNKNOWN. */
  assert_int_equal(rep_hex(f, "83 08 01 60", &p, &e), MGR_OK);
  assert_int_equal(p.status, MGR_EUNKNOWN);
  assert_int_equal(rep_hex(f, "83 08 08 60", &p, &e), MGR_OK);
  assert_int_equal(p.status, MGR_EUNKNOWN);
  assert_int_equal(rep_hex(f, "83 08 18 1a 60", &p, &e), MGR_OK);
  assert_int_equal(p.status, MGR_EUNKNOWN);
  assert_int_equal(rep_hex(f, "83 08 19 03e7 61 3f", &p, &e), MGR_OK);
  assert_int_equal(p.status, MGR_EUNKNOWN);
  assert_int_equal(rep_hex(f, "83 08 1b 7fffffffffffffff 60", &p, &e), MGR_OK);
  assert_int_equal(p.status, MGR_EUNKNOWN);

  REP_REJECT("f6", MGR_EPROTO, 0);
  REP_REJECT("82 01 00", MGR_EPROTO, 0);
  REP_REJECT("84 01 00 f6 f6", MGR_EPROTO, 0);
  REP_REJECT("84 01 02 03 80", MGR_EPROTO, 0); /* a request is not a reply */
  REP_REJECT("83 20 00 f6", MGR_EPROTO, 1);
  REP_REJECT("83 f6 00 f6", MGR_EPROTO, 1);
  REP_REJECT("83 19 0100 20 60", MGR_EPROTO, 4);      /* negative status */
  REP_REJECT("83 19 0100 f9 0000 60", MGR_EPROTO, 4); /* float status */
  REP_REJECT("83 19 0100 f4 60", MGR_EPROTO, 4);
  /* An error's message must be text. */
  REP_REJECT("83 01 18 28 f6", MGR_EPROTO, 4);
  REP_REJECT("83 01 18 28 41 61", MGR_EPROTO, 4);
  REP_REJECT("83 01 18 28 01", MGR_EPROTO, 4);
  REP_REJECT("83 01 01 80", MGR_EPROTO, 3);
  REP_REJECT("83 01 18 28 61 ff", MGR_EDECODE, 4); /* invalid UTF-8 */
  REP_REJECT("83 01 00 f6 f6", MGR_EDECODE, 4);
}

/* --------------------------------------------------------------- encode -- */

static void expect_frame(const mgri_buf *b, size_t at, const char *hex) {
  uint8_t *p;
  size_t n = tu_unhex(hex, &p);
  assert_int_equal(b->len - at, 4 + n);
  const uint8_t *h = b->data + at;
  assert_int_equal(
      (size_t)h[0] << 24 | (size_t)h[1] << 16 | (size_t)h[2] << 8 | h[3], n);
  assert_memory_equal(h + 4, p, n);
  free(p);
}

static void test_request_encode(void **state) {
  fx *f = *state;
  mgr_value args[2] = {mgr_text("k"), mgr_int(1)};
  mgri_request r = {1, MGRI_OP_DICT_GET, 5, args, 2};
  assert_int_equal(mgri_request_encode(&f->b, &r, 0), MGR_OK);
  expect_frame(&f->b, 0, "84 01 10 05 82 61 6b 01");
  /* Appends after what is there. */
  size_t at = f->b.len;
  mgri_request hello = {0, MGRI_OP_HELLO, 0, NULL, 0};
  assert_int_equal(mgri_request_encode(&f->b, &hello, 0), MGR_OK);
  expect_frame(&f->b, at, "84 00 01 00 80");

  /* Errors append nothing and leave the buffer usable. */
  size_t len = f->b.len;
  mgr_value bad = mgr_textn("\xff", 1);
  mgri_request r2 = {2, MGRI_OP_DICT_GET, 5, &bad, 1};
  assert_int_equal(mgri_request_encode(&f->b, &r2, 0), MGR_EINVAL);
  assert_int_equal(f->b.len, len);
  assert_int_equal(f->b.err, 0);
  mgr_value many[9];
  for (int i = 0; i < 9; i++)
    many[i] = mgr_int(i);
  mgri_request r3 = {3, MGRI_OP_PING, 0, many, 9};
  assert_int_equal(mgri_request_encode(&f->b, &r3, 0), MGR_EINVAL);
  r3.nargs = 8;
  assert_int_equal(mgri_request_encode(&f->b, &r3, 0), MGR_OK);
  len = f->b.len;
  mgri_request r4 = {4, MGRI_OP_PING, 0, NULL, 1};
  assert_int_equal(mgri_request_encode(&f->b, &r4, 0), MGR_EINVAL);
  mgri_request r5 = {UINT64_MAX, MGRI_OP_PING, 0, NULL, 0};
  assert_int_equal(mgri_request_encode(&f->b, &r5, 0), MGR_EINVAL);
  /* The op and the oid are uints of the profile too (up to 2^63 - 1). */
  mgri_request ro = {6, (uint64_t)INT64_MAX + 1, 0, NULL, 0};
  assert_int_equal(mgri_request_encode(&f->b, &ro, 0), MGR_EINVAL);
  mgri_request ri = {7, MGRI_OP_DICT_LEN, (uint64_t)INT64_MAX + 1, NULL, 0};
  assert_int_equal(mgri_request_encode(&f->b, &ri, 0), MGR_EINVAL);
  mgri_reply rr = {.rid = (uint64_t)INT64_MAX + 1, .status = MGR_OK};
  assert_int_equal(mgri_reply_encode(&f->b, &rr, 0), MGR_EINVAL);
  assert_int_equal(f->b.len, len);
  /* Bad value deep in the args (a map inside a map key). */
  mgr_value inner[2] = {mgr_int(1), mgr_int(2)};
  mgr_value pair[2] = {mgr_map(inner, 1), mgr_int(3)};
  mgr_value m = mgr_map(pair, 1);
  mgri_request r6 = {6, MGRI_OP_DICT_SET, 1, &m, 1};
  assert_int_equal(mgri_request_encode(&f->b, &r6, 0), MGR_EINVAL);
  assert_int_equal(f->b.len, len);
  assert_int_equal(f->b.err, 0);
  /* Small arguments are written with the heads, larger ones through the
   * value encoder: the bytes are the same on both sides of the boundary
   * (text of 32 and 33 bytes), and a bad one after good ones still fails
   * with nothing appended. */
  static const char t33[] = "0123456789abcdefghijklmnopqrstuvw";
  mgr_value mix[6] = {mgr_nil(),          mgr_bool(true),     mgr_int(-300),
                      mgr_textn(t33, 32), mgr_textn(t33, 33), mgr_bytes("", 0)};
  mgri_request r7 = {7, MGRI_OP_PING, 0, mix, 6};
  mgri_buf_clear(&f->b);
  assert_int_equal(mgri_request_encode(&f->b, &r7, 0), MGR_OK);
  mgri_buf want;
  mgri_buf_init(&want, 0);
  mgr_value top[4] = {mgr_int(7), mgr_int(MGRI_OP_PING), mgr_int(0),
                      mgr_array(mix, 6)};
  mgr_value req = mgr_array(top, 4);
  assert_int_equal(mgri_cbor_value(&want, &req), MGR_OK);
  assert_int_equal(f->b.len, 4 + want.len);
  assert_memory_equal(f->b.data + 4, want.data, want.len);
  mgri_buf_fini(&want);
  len = f->b.len;
  mgr_value tail_bad[3] = {mgr_int(1), mgr_text("ok"),
                           mgr_textn("\xc0\x80", 2)};
  mgri_request r8 = {8, MGRI_OP_PING, 0, tail_bad, 3};
  assert_int_equal(mgri_request_encode(&f->b, &r8, 0), MGR_EINVAL);
  assert_int_equal(f->b.len, len);
  assert_int_equal(f->b.err, 0);
}

/* An item of exactly frame_max bytes is encoded; one more byte is
 * MGR_ETOOBIG with nothing appended. */
static void test_encode_frame_max(void **state) {
  fx *f = *state;
  uint32_t max = 1000;
  /* [1, 2, 3, [h'...']]: 5 bytes of heads + bytes head (3) + k bytes */
  static uint8_t blob[2000];
  for (size_t k = 990; k <= 994; k++) {
    mgri_buf_clear(&f->b);
    mgr_value arg = mgr_bytes(blob, k);
    mgri_request r = {1, 2, 3, &arg, 1};
    size_t item = 5 + 3 + k;
    int rc = mgri_request_encode(&f->b, &r, max);
    if (item <= max) {
      assert_int_equal(rc, MGR_OK);
      assert_int_equal(f->b.len, 4 + item);
    } else {
      assert_int_equal(rc, MGR_ETOOBIG);
      assert_int_equal(f->b.len, 0);
      assert_int_equal(f->b.err, 0);
    }
  }
  /* The same for replies: [1, 0, h'...'] = 3 + 3 + k. */
  for (size_t k = 992; k <= 996; k++) {
    mgri_buf_clear(&f->b);
    mgri_reply p = {1, MGR_OK, mgr_bytes(blob, k), NULL, 0};
    size_t item = 3 + 3 + k;
    int rc = mgri_reply_encode(&f->b, &p, max);
    assert_int_equal(rc, item <= max ? MGR_OK : MGR_ETOOBIG);
    assert_int_equal(f->b.len, item <= max ? 4 + item : 0);
  }
  /* A buffer whose own max is reached rolls back and clears its error. */
  mgri_buf small;
  mgri_buf_init(&small, 20);
  mgri_request ping = {1, MGRI_OP_PING, 0, NULL, 0};
  assert_int_equal(mgri_request_encode(&small, &ping, 0), MGR_OK);
  size_t len = small.len;
  mgr_value arg = mgr_bytes(blob, 40);
  mgri_request big = {2, MGRI_OP_PING, 0, &arg, 1};
  assert_int_equal(mgri_request_encode(&small, &big, 0), MGR_ETOOBIG);
  assert_int_equal(small.len, len);
  assert_int_equal(small.err, 0);
  assert_int_equal(mgri_request_encode(&small, &ping, 0), MGR_OK);
  /* Not even room for the length prefix: the buffer is left as it was. */
  mgri_buf tiny;
  mgri_buf_init(&tiny, 3);
  assert_int_equal(mgri_request_encode(&tiny, &ping, 0), MGR_ETOOBIG);
  assert_int_equal(tiny.len, 0);
  assert_int_equal(tiny.err, 0);
  assert_int_equal(tiny.max, 3);
  mgri_buf_fini(&tiny);
  /* frame_max above the ceiling counts as the ceiling. */
  assert_int_equal(mgri_request_encode(&f->b, &ping, UINT32_MAX), MGR_OK);
  /* A buffer already in error refuses and stays as it is. */
  small.err = MGR_ENOMEM;
  len = small.len;
  assert_int_equal(mgri_request_encode(&small, &ping, 0), MGR_ENOMEM);
  assert_int_equal(small.len, len);
  mgri_buf_fini(&small);
}

/* Values nest inside the message: an argument starts at depth 3, a result
 * at depth 2. The encoders refuse (EINVAL, nothing appended) what would be
 * too deep for the decoder, and what they emit decodes. */
static void test_encode_depth(void **state) {
  fx *f = *state;
  mgr_value chain[MGRI_DEPTH_MAX + 1];
  /* chain[k] has height k + 1: k arrays around nil. */
  chain[0] = mgr_nil();
  for (size_t k = 1; k <= MGRI_DEPTH_MAX; k++)
    chain[k] = mgr_array(&chain[k - 1], 1);
  for (size_t h = MGRI_DEPTH_MAX - 3; h <= MGRI_DEPTH_MAX; h++) {
    const mgr_value *v = &chain[h - 1];
    mgri_buf_clear(&f->b);
    mgri_request r = {1, MGRI_OP_VAR_SET, 7, v, 1};
    int rc = mgri_request_encode(&f->b, &r, 0);
    assert_int_equal(rc, h + 2 <= MGRI_DEPTH_MAX ? MGR_OK : MGR_EINVAL);
    if (rc == MGR_OK) {
      mgri_request d;
      mgri_arena_reset(&f->a);
      assert_int_equal(mgri_request_decode(f->b.data + 4, f->b.len - 4, NULL,
                                           &f->a, &d, NULL),
                       MGR_OK);
    } else {
      assert_int_equal(f->b.len, 0);
    }
    mgri_buf_clear(&f->b);
    mgri_reply p = {1, MGR_OK, *v, NULL, 0};
    rc = mgri_reply_encode(&f->b, &p, 0);
    assert_int_equal(rc, h + 1 <= MGRI_DEPTH_MAX ? MGR_OK : MGR_EINVAL);
    if (rc == MGR_OK) {
      mgri_reply d;
      mgri_arena_reset(&f->a);
      assert_int_equal(
          mgri_reply_decode(f->b.data + 4, f->b.len - 4, NULL, &f->a, &d, NULL),
          MGR_OK);
    } else {
      assert_int_equal(f->b.len, 0);
    }
  }
  /* Maps count too: a map value nested in a map. */
  mgr_value k = mgr_int(1);
  mgr_value pairs[MGRI_DEPTH_MAX][2];
  mgr_value cur = mgr_nil();
  for (size_t i = 0; i < MGRI_DEPTH_MAX - 2; i++) {
    pairs[i][0] = k;
    pairs[i][1] = cur;
    cur = mgr_map(pairs[i], 1); /* height i + 2 */
  }
  mgri_request r = {1, MGRI_OP_VAR_SET, 7, &cur, 1}; /* height 31: too deep */
  assert_int_equal(mgri_request_encode(&f->b, &r, 0), MGR_EINVAL);
  mgri_reply p = {1, MGR_OK, cur, NULL, 0}; /* 31 + 1 = 32: fits */
  assert_int_equal(mgri_reply_encode(&f->b, &p, 0), MGR_OK);
}

/* Checks spec R-10.1-a (spec/protocol.md; tests/reqs/check_reqs.py). */
static void test_reply_encode(void **state) {
  fx *f = *state;
  mgr_value items[2] = {mgr_int(1), mgr_int(2)};
  mgri_reply p = {7, MGR_OK, mgr_array(items, 2), NULL, 0};
  assert_int_equal(mgri_reply_encode(&f->b, &p, 0), MGR_OK);
  expect_frame(&f->b, 0, "83 07 00 82 01 02");
  size_t at = f->b.len;
  mgri_reply e = {8, MGR_EKEY, mgr_nil(), "no", 2};
  assert_int_equal(mgri_reply_encode(&f->b, &e, 0), MGR_OK);
  expect_frame(&f->b, at, "83 08 18 28 62 6e 6f");
  at = f->b.len;
  mgri_reply e2 = {9, MGR_ESHUTDOWN, mgr_nil(), NULL, 0};
  assert_int_equal(mgri_reply_encode(&f->b, &e2, 0), MGR_OK);
  expect_frame(&f->b, at, "83 09 18 30 60");
  /* The scalars written with the heads (nil, bools, ints at every head
   * width and sign) give the bytes mgri_cbor_value gives. */
  static const struct {
    mgr_value v;
    const char *hex;
  } sc[] = {
      {{.type = MGR_T_NIL}, "83 0a 00 f6"},
      {{.type = MGR_T_BOOL, .u.b = true}, "83 0a 00 f5"},
      {{.type = MGR_T_BOOL, .u.b = false}, "83 0a 00 f4"},
      {{.type = MGR_T_INT, .u.i = 23}, "83 0a 00 17"},
      {{.type = MGR_T_INT, .u.i = 24}, "83 0a 00 18 18"},
      {{.type = MGR_T_INT, .u.i = 65536}, "83 0a 00 1a 00 01 00 00"},
      {{.type = MGR_T_INT, .u.i = -1}, "83 0a 00 20"},
      {{.type = MGR_T_INT, .u.i = -25}, "83 0a 00 38 18"},
      {{.type = MGR_T_INT, .u.i = INT64_MAX},
       "83 0a 00 1b 7f ff ff ff ff ff ff ff"},
      {{.type = MGR_T_INT, .u.i = INT64_MIN},
       "83 0a 00 3b 7f ff ff ff ff ff ff ff"},
  };
  for (size_t i = 0; i < sizeof sc / sizeof *sc; i++) {
    at = f->b.len;
    mgri_reply s1 = {10, MGR_OK, sc[i].v, NULL, 0};
    assert_int_equal(mgri_reply_encode(&f->b, &s1, 0), MGR_OK);
    expect_frame(&f->b, at, sc[i].hex);
  }
  /* A frame_max too small for the scalar reply leaves nothing behind. */
  at = f->b.len;
  mgri_reply big = {10, MGR_OK, mgr_int(INT64_MAX), NULL, 0};
  assert_int_equal(mgri_reply_encode(&f->b, &big, 8), MGR_ETOOBIG);
  assert_int_equal(f->b.len, at);
  assert_int_equal(f->b.err, 0);
  /* Local-only codes, non-errors and bad messages are refused. */
  size_t len = f->b.len;
  static const int local[] = {MGR_ENOMEM,  MGR_EINVAL,   MGR_ESYS,
                              MGR_ECLOSED, MGR_EUNKNOWN, MGR_EOWNERDEAD,
                              1,           -26,          -60};
  for (size_t i = 0; i < sizeof local / sizeof *local; i++) {
    mgri_reply x = {1, local[i], mgr_nil(), "m", 1};
    assert_int_equal(mgri_reply_encode(&f->b, &x, 0), MGR_EINVAL);
  }
  mgri_reply badmsg = {1, MGR_EKEY, mgr_nil(), "\xc0\x80", 2};
  assert_int_equal(mgri_reply_encode(&f->b, &badmsg, 0), MGR_EINVAL);
  mgr_value nan_key[2] = {mgr_float(NAN), mgr_int(1)};
  mgri_reply badres = {1, MGR_OK, mgr_map(nan_key, 1), NULL, 0};
  assert_int_equal(mgri_reply_encode(&f->b, &badres, 0), MGR_EINVAL);
  assert_int_equal(f->b.len, len);
  assert_int_equal(f->b.err, 0);
  /* Every wire code encodes and decodes back. */
#define X_(name, value, py, text)                                              \
  if (mgri_err_to_wire(MGR_##name)) {                                          \
    mgri_buf_clear(&f->b);                                                     \
    mgri_reply x = {3, MGR_##name, mgr_nil(), #name, strlen(#name)};           \
    assert_int_equal(mgri_reply_encode(&f->b, &x, 0), MGR_OK);                 \
    mgri_reply y;                                                              \
    mgri_decode_error de;                                                      \
    mgri_arena_reset(&f->a);                                                   \
    assert_int_equal(                                                          \
        mgri_reply_decode(f->b.data + 4, f->b.len - 4, NULL, &f->a, &y, &de),  \
        MGR_OK);                                                               \
    assert_int_equal(y.status, MGR_##name);                                    \
    assert_int_equal(y.msglen, strlen(#name));                                 \
    assert_memory_equal(y.msg, #name, y.msglen);                               \
  }
  MGR_ERRORS(X_)
#undef X_
}

/* ----------------------------------------------------------- round trip -- */

static void gen(uint64_t *s, mgri_arena *a, mgr_value *v, int depth);

static void gen_text(uint64_t *s, mgri_arena *a, mgr_value *v) {
  static const char *const parts[] = {
      "a",   "Z",  " ", "\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80",
      "key", "\n", "0"};
  size_t n = tu_rand(s) % 6, len = 0;
  char *p = mgri_arena_alloc(a, n * 4 + 1);
  assert_non_null(p);
  for (size_t i = 0; i < n; i++) {
    const char *x = parts[tu_rand(s) % (sizeof parts / sizeof *parts)];
    memcpy(p + len, x, strlen(x));
    len += strlen(x);
  }
  p[len] = 0;
  *v = mgr_textn(p, len);
}

static void gen(uint64_t *s, mgri_arena *a, mgr_value *v, int depth) {
  uint64_t x = tu_rand(s);
  unsigned t = (unsigned)(x % (depth > 3 ? 7 : 10));
  x = tu_rand(s);
  switch (t) {
  case 0:
    *v = mgr_nil();
    break;
  case 1:
    *v = mgr_bool(x & 1);
    break;
  case 2: {
    static const int64_t edge[] = {0,         1,
                                   -1,        23,
                                   24,        -24,
                                   -25,       255,
                                   256,       65535,
                                   65536,     -65537,
                                   INT32_MAX, (int64_t)UINT32_MAX + 1,
                                   INT64_MAX, INT64_MIN};
    *v = mgr_int(x % 3 ? edge[x % 16] : (int64_t)tu_rand(s) >> (x % 64));
    break;
  }
  case 3: {
    static const double edge[] = {0.0,     -0.0,
                                  0.5,     1.5,
                                  65504.0, 1e300,
                                  -1e-300, 3.4028234663852886e38,
                                  0.1,     5.960464477539063e-8};
    double d;
    uint64_t bits = tu_rand(s);
    memcpy(&d, &bits, 8);
    if (x % 4 == 0)
      d = INFINITY;
    else if (x % 4 == 1)
      d = edge[(x >> 8) % 10];
    else if (x % 4 == 2)
      d = (float)d;    /* often a 4-byte float */
    *v = mgr_float(d); /* any NaN re-encodes canonically */
    break;
  }
  case 4:
    gen_text(s, a, v);
    break;
  case 5: {
    size_t n = x % 12;
    uint8_t *p = mgri_arena_alloc(a, n);
    for (size_t i = 0; i < n; i++)
      p[i] = (uint8_t)tu_rand(s);
    *v = mgr_bytes(p, n);
    break;
  }
  case 6:
    *v = mgr_nil();
    v->type = MGR_T_REF;
    v->u.ref.kind = 1 + (uint32_t)(x % 5);
    v->u.ref.id = 1 + (tu_rand(s) >> (x % 64));
    if (v->u.ref.id > INT64_MAX) v->u.ref.id = INT64_MAX;
    break;
  case 7:
  case 8: {
    size_t n = x % 5;
    mgr_value *it = mgri_arena_alloc(a, n * sizeof *it);
    for (size_t i = 0; i < n; i++)
      gen(s, a, &it[i], depth + 1);
    *v = mgr_array(it, n);
    break;
  }
  default: { /* map with distinct text keys "k0", "k1", ... */
    size_t n = x % 4;
    mgr_value *it = mgri_arena_alloc(a, 2 * n * sizeof *it);
    for (size_t i = 0; i < n; i++) {
      char *k = mgri_arena_alloc(a, 8);
      snprintf(k, 8, "k%zu", i);
      it[2 * i] = mgr_text(k);
      gen(s, a, &it[2 * i + 1], depth + 1);
    }
    *v = mgr_map(it, n);
    break;
  }
  }
}

static void test_random_round_trips(void **state) {
  fx *f = *state;
  uint64_t seed = tu_seed("test_random_round_trips");
  mgri_arena ga;
  mgri_arena_init(&ga, 0);
  mgri_buf again;
  mgri_buf_init(&again, 0);
  static const int codes[] = {MGR_OK,    MGR_EPROTO, MGR_EKEY,      MGR_EINDEX,
                              MGR_ETYPE, MGR_EVALUE, MGR_ESHUTDOWN, MGR_EBADOP};
  for (int round = 0; round < 3000; round++) {
    mgri_arena_reset(&ga);
    mgri_arena_reset(&f->a);
    mgri_buf_clear(&f->b);
    mgri_buf_clear(&again);
    mgri_decode_error e;
    if (round % 2 == 0) {
      mgr_value args[MGRI_ARGS_MAX];
      mgri_request r = {tu_rand(&seed) >> (round % 64 + 1),
                        tu_rand(&seed) % 100,
                        tu_rand(&seed) >> (round % 61 + 1), args,
                        tu_rand(&seed) % (MGRI_ARGS_MAX + 1)};
      for (size_t i = 0; i < r.nargs; i++)
        gen(&seed, &ga, &args[i], 2);
      assert_int_equal(mgri_request_encode(&f->b, &r, 0), MGR_OK);
      mgri_request d;
      int rc =
          mgri_request_decode(f->b.data + 4, f->b.len - 4, NULL, &f->a, &d, &e);
      if (rc) fail_msg("round %d: %s at %zu", round, e.what, e.offset);
      assert_int_equal(d.rid, r.rid);
      assert_int_equal(d.op, r.op);
      assert_int_equal(d.oid, r.oid);
      assert_int_equal(d.nargs, r.nargs);
      assert_int_equal(mgri_request_encode(&again, &d, 0), MGR_OK);
    } else {
      int st = codes[tu_rand(&seed) % (sizeof codes / sizeof *codes)];
      mgri_reply p = {tu_rand(&seed) >> 1, st, mgr_nil(), NULL, 0};
      mgr_value msg;
      if (st == MGR_OK) {
        gen(&seed, &ga, &p.result, 1);
      } else {
        gen_text(&seed, &ga, &msg);
        p.msg = msg.u.s.ptr;
        p.msglen = msg.u.s.len;
      }
      assert_int_equal(mgri_reply_encode(&f->b, &p, 0), MGR_OK);
      mgri_reply d;
      int rc =
          mgri_reply_decode(f->b.data + 4, f->b.len - 4, NULL, &f->a, &d, &e);
      if (rc) fail_msg("round %d: %s at %zu", round, e.what, e.offset);
      assert_int_equal(d.rid, p.rid);
      assert_int_equal(d.status, st);
      if (st != MGR_OK) {
        assert_int_equal(d.msglen, p.msglen);
        if (p.msglen) assert_memory_equal(d.msg, p.msg, p.msglen);
      }
      assert_int_equal(mgri_reply_encode(&again, &d, 0), MGR_OK);
    }
    assert_int_equal(again.len, f->b.len);
    assert_memory_equal(again.data, f->b.data, f->b.len);
    /* Every truncated prefix of the body is refused. */
    if (round % 50 == 0) {
      for (size_t n = 0; n + 4 < f->b.len; n++) {
        mgri_arena_reset(&f->a);
        mgri_request d;
        mgri_reply rp;
        int rc =
            round % 2 == 0
                ? mgri_request_decode(f->b.data + 4, n, NULL, &f->a, &d, &e)
                : mgri_reply_decode(f->b.data + 4, n, NULL, &f->a, &rp, &e);
        assert_int_equal(rc, MGR_EDECODE);
      }
    }
  }
  mgri_buf_fini(&again);
  mgri_arena_fini(&ga);
}

/* ------------------------------------------- large strings without copies -- */

/* The bytes b holds, references included, gathered into one array. */
static uint8_t *gather(const mgri_buf *b, size_t from, size_t *n) {
  struct iovec iov[2 * MGRI_BUF_REFS + 1];
  size_t k = mgri_buf_iov(b, from, iov, sizeof iov / sizeof iov[0]);
  *n = mgri_buf_total(b) - from;
  uint8_t *out = malloc(*n + 1), *w = out;
  assert_non_null(out);
  for (size_t i = 0; i < k; i++) {
    memcpy(w, iov[i].iov_base, iov[i].iov_len);
    w += iov[i].iov_len;
  }
  assert_int_equal((size_t)(w - out), *n);
  return out;
}

/* Frames encoded with large strings held by reference gather to exactly
 * the bytes of a plain encoding, back to back (a reference that ends one
 * frame is not counted in the next one's length), from any offset; a frame
 * that fails drops its references and nothing before it. */
static void test_gather_refs(void **state) {
  fx *f = *state;
  size_t big = 5000;
  char *blob = malloc(big);
  assert_non_null(blob);
  for (size_t i = 0; i < big; i++)
    blob[i] = (char)('a' + i % 26);
  mgri_buf plain, g;
  mgri_buf_init(&plain, 0);
  mgri_buf_init(&g, 0);
  g.ref_min = 1000;
  mgr_value args[2] = {mgr_bytes(blob, big), mgr_textn(blob, 3000)};
  for (int k = 0; k < 3; k++) {
    mgri_reply rp = {(uint64_t)k + 1, MGR_OK, mgr_bytes(blob, big - (size_t)k),
                     NULL, 0};
    assert_int_equal(mgri_reply_encode(&plain, &rp, 0), MGR_OK);
    assert_int_equal(mgri_reply_encode(&g, &rp, 0), MGR_OK);
  }
  mgri_request rq = {9, MGRI_OP_PING, 0, args, 2};
  assert_int_equal(mgri_request_encode(&plain, &rq, 0), MGR_OK);
  assert_int_equal(mgri_request_encode(&g, &rq, 0), MGR_OK);
  assert_int_equal(g.nrefs, MGRI_BUF_REFS); /* the fifth string is copied */
  assert_true(g.len < plain.len / 4);
  assert_int_equal(mgri_buf_total(&g), plain.len);
  for (size_t from = 0; from <= plain.len; from += 997) {
    size_t n;
    uint8_t *all = gather(&g, from, &n);
    assert_int_equal(n, plain.len - from);
    assert_memory_equal(all, plain.data + from, n);
    free(all);
  }
  /* A frame too large for its limit: nothing of it stays, references
   * included; what came before is intact. */
  mgri_buf_clear(&g);
  mgri_reply one = {1, MGR_OK, mgr_bytes(blob, big), NULL, 0};
  assert_int_equal(mgri_reply_encode(&g, &one, 0), MGR_OK);
  size_t total = mgri_buf_total(&g), nrefs = g.nrefs;
  assert_int_equal(mgri_reply_encode(&g, &one, (uint32_t)big), MGR_ETOOBIG);
  assert_int_equal(mgri_buf_total(&g), total);
  assert_int_equal(g.nrefs, nrefs);
  assert_int_equal(g.err, 0);
  /* The length prefix of a frame with a reference counts it. */
  assert_int_equal(g.data[0] << 24 | g.data[1] << 16 | g.data[2] << 8 |
                       g.data[3],
                   total - 4);
  mgri_buf_fini(&plain);
  mgri_buf_fini(&g);
  free(blob);
  (void)f;
}

/* mgri_request_split finds a request's large top-level string from the
 * body's first bytes; the decoder, given the string's payload elsewhere (a
 * hole), decodes the rest around it to the same request. */
static void test_split_and_hole(void **state) {
  fx *f = *state;
  size_t big = 70000;
  char *blob = malloc(big);
  assert_non_null(blob);
  for (size_t i = 0; i < big; i++)
    blob[i] = (char)('A' + i % 26);
  mgr_value args[3] = {mgr_text("key"), mgr_textn(blob, big), mgr_int(-5)};
  mgri_request rq = {77, MGRI_OP_DICT_SET, 3, args, 3};
  mgri_buf_clear(&f->b);
  assert_int_equal(mgri_request_encode(&f->b, &rq, 0), MGR_OK);
  const uint8_t *body = f->b.data + 4;
  size_t n = f->b.len - 4, at = 0, len = 0;
  /* [rid, op, oid, ["key", text(70000), -5]]: 1+2+1+1+1+4+5 bytes of heads
   * before the payload. */
  assert_true(mgri_request_split(body, 40, n, 1000, &at, &len));
  assert_int_equal(at, 15);
  assert_int_equal(len, big);
  assert_memory_equal(body + at, blob, big);
  assert_false(
      mgri_request_split(body, at - 1, n, 1000, &at, &len)); /* head cut */
  assert_false(
      mgri_request_split(body, 40, n, big + 1, &at, &len)); /* too short */
  assert_false(mgri_request_split(body, 40, at + big - 1, 1000, &at, &len));
  /* The body without the payload, decoded with the payload as a hole. */
  uint8_t *cut = malloc(n - big);
  assert_non_null(cut);
  memcpy(cut, body, 15);
  memcpy(cut + 15, body + 15 + big, n - 15 - big);
  char *elsewhere = malloc(big);
  assert_non_null(elsewhere);
  memcpy(elsewhere, blob, big);
  mgri_hole h = {15, (const uint8_t *)elsewhere, big, false};
  mgri_request d;
  mgri_decode_error e;
  assert_int_equal(
      mgri_request_decode_hole(cut, n - big, NULL, &f->a, &d, &e, &h), MGR_OK);
  assert_true(h.used);
  assert_int_equal(d.rid, 77);
  assert_int_equal(d.nargs, 3);
  assert_ptr_equal(d.args[1].u.s.ptr, elsewhere); /* not copied */
  assert_int_equal(d.args[1].u.s.len, big);
  assert_int_equal(d.args[2].u.i, -5);
  /* A hole the decoder never meets: refused. */
  mgri_hole far = {16, (const uint8_t *)elsewhere, big, false};
  assert_int_equal(
      mgri_request_decode_hole(cut, n - big, NULL, &f->a, &d, &e, &far),
      MGR_EDECODE);
  /* The payload is checked as if it were in place: invalid UTF-8. */
  elsewhere[100] = (char)0xff;
  assert_int_equal(
      mgri_request_decode_hole(cut, n - big, NULL, &f->a, &d, &e, &h),
      MGR_EDECODE);
  assert_int_equal(e.offset, 10); /* the string's head */
  /* Borrowing: strings of borrow_min bytes or more point into the input. */
  mgri_limits lim;
  mgri_limits_default(&lim);
  lim.borrow_min = 1000;
  assert_int_equal(mgri_request_decode(body, n, &lim, &f->a, &d, &e), MGR_OK);
  assert_ptr_equal(d.args[1].u.s.ptr, (const char *)body + 15);
  assert_ptr_not_equal(d.args[0].u.s.ptr,
                       (const char *)body + 7); /* short: copied */
  assert_string_equal(d.args[0].u.s.ptr, "key");
  free(cut);
  free(elsewhere);
  free(blob);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_ops_table),
      cmocka_unit_test(test_err_mapping),
      cmocka_unit_test_setup_teardown(test_request_shapes, setup, teardown),
      cmocka_unit_test_setup_teardown(test_request_depth, setup, teardown),
      cmocka_unit_test_setup_teardown(test_decode_limits, setup, teardown),
      cmocka_unit_test_setup_teardown(test_reply_shapes, setup, teardown),
      cmocka_unit_test_setup_teardown(test_request_encode, setup, teardown),
      cmocka_unit_test_setup_teardown(test_encode_frame_max, setup, teardown),
      cmocka_unit_test_setup_teardown(test_encode_depth, setup, teardown),
      cmocka_unit_test_setup_teardown(test_reply_encode, setup, teardown),
      cmocka_unit_test_setup_teardown(test_random_round_trips, setup, teardown),
      cmocka_unit_test_setup_teardown(test_gather_refs, setup, teardown),
      cmocka_unit_test_setup_teardown(test_split_and_hole, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
