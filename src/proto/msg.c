/* mgr — requests and replies <-> frame bytes (spec/protocol.md, "Messages").
 * Encoding appends one whole frame straight into the caller's buffer, or
 * nothing; decoding runs the CBOR decoder into the arena, then checks the
 * message's shape. */
#include <string.h>

#include "mgr/error.h"
#include "proto.h"

/* --- error codes <-> wire ------------------------------------------------- */

static bool wire_code(int err) {
  switch (err) {
#define X_(name, value, py, msg)                                               \
  case value:                                                                  \
    return (value) <= -20 && (value) >= -59;
    MGR_ERRORS(X_)
#undef X_
  }
  return false;
}

uint64_t mgri_err_to_wire(int err) {
  return wire_code(err) ? (uint64_t) - (int64_t)err : 0;
}

int mgri_err_from_wire(uint64_t code) {
  if (code == 0) return MGR_OK;
  if (code > 59) return MGR_EUNKNOWN;
  int err = -(int)code;
  return wire_code(err) ? err : MGR_EUNKNOWN;
}

/* --- encoding ------------------------------------------------------------- */

/* Starts a frame: remembers where it begins, reserves its length prefix and
 * caps the buffer so an item longer than frame_max fails inside the encoder
 * (nothing larger is ever allocated). */
typedef struct frame_mark {
  size_t start;
  size_t max;
} frame_mark;

/* 0 means the default; nothing above the ceiling (so a length always fits
 * the 4-byte header). */
static uint32_t clamp_max(uint32_t frame_max) {
  if (frame_max == 0) return MGRI_FRAME_MAX_DEFAULT;
  return frame_max > MGRI_FRAME_MAX_CEIL ? MGRI_FRAME_MAX_CEIL : frame_max;
}

static int frame_end(mgri_buf *b, const frame_mark *m, int rc,
                     uint32_t frame_max);

/* Starts a frame and appends its first `n` bytes, `head`: the zero length
 * prefix followed by the message's leading CBOR heads, in one append. */
static int frame_begin(mgri_buf *b, uint32_t frame_max, frame_mark *m,
                       const uint8_t *head, size_t n) {
  if (b->err) return b->err;
  m->start = b->len;
  m->max = b->max;
  size_t room = MGRI_FRAME_HEADER + (size_t)clamp_max(frame_max);
  size_t max = b->max ? b->max : SIZE_MAX;
  if (b->len <= max && max - b->len > room) b->max = b->len + room;
  mgri_buf_append(b, head, n);
  return b->err ? frame_end(b, m, b->err, frame_max) : MGR_OK;
}

/* Writes the shortest CBOR head for (major, arg) at h; returns its length.
 * The same bytes as mgri_cbor_head, into a local array: a message's leading
 * heads go into the buffer with one append. */
static inline size_t put_head(uint8_t *h, unsigned major, uint64_t arg) {
  uint8_t m = (uint8_t)(major << 5);
  if (arg < 24) {
    h[0] = m | (uint8_t)arg;
    return 1;
  }
  size_t n = arg <= 0xff ? 2 : arg <= 0xffff ? 3 : arg <= 0xffffffffu ? 5 : 9;
  h[0] = (uint8_t)(m | (n == 2 ? 24 : n == 3 ? 25 : n == 5 ? 26 : 27));
  for (size_t i = 1; i < n; i++)
    h[i] = (uint8_t)(arg >> (8 * (n - 1 - i)));
  return n;
}

/* Ends a frame: on success writes the length prefix; on any error removes
 * everything the frame appended, restores the buffer's max and clears the
 * error the frame caused. */
static int frame_end(mgri_buf *b, const frame_mark *m, int rc,
                     uint32_t frame_max) {
  frame_max = clamp_max(frame_max);
  if (rc == MGR_OK) rc = b->err;
  size_t item = b->len - m->start - MGRI_FRAME_HEADER;
  /* Runs held by reference (mgri_buf_append_ref) are part of the item:
   * those after its first byte (one at m->start ends the frame before). */
  for (size_t i = 0; i < b->nrefs; i++)
    if (b->refs[i].at > m->start) item += b->refs[i].n;
  if (rc == MGR_OK && item > frame_max) rc = MGR_ETOOBIG;
  b->max = m->max;
  if (rc != MGR_OK) {
    mgri_buf_drop_refs(b, m->start);
    b->len = m->start;
    b->err = 0;
    return rc;
  }
  uint8_t *h = b->data + m->start;
  h[0] = (uint8_t)(item >> 24);
  h[1] = (uint8_t)(item >> 16);
  h[2] = (uint8_t)(item >> 8);
  h[3] = (uint8_t)item;
  return MGR_OK;
}

/* Whether v, placed at `depth` inside the frame's item, nests deeper than
 * the decoder accepts. mgri_cbor_value checks depth from v itself; inside a
 * message v starts deeper (a request's args at 3, a reply's result at 2).
 * The walk stops at the limit, so it is bounded whatever v holds. */
static bool too_deep(const mgr_value *v, unsigned depth) {
  if (depth > MGRI_DEPTH_MAX) return true;
  if (v->type != MGR_T_ARRAY && v->type != MGR_T_MAP) return false;
  if (!v->u.a.items) return false; /* mgri_cbor_value refuses it */
  size_t n = v->type == MGR_T_MAP ? 2 * v->u.a.len : v->u.a.len;
  for (size_t i = 0; i < n; i++)
    if (too_deep(&v->u.a.items[i], depth + 1)) return true;
  return false;
}

/* The room in a message's head array for small scalar items. */
#define SMALL_ROOM 64

/* Writes small scalar v (nil, bool, int, valid text or bytes of up to 32
 * bytes) at h + *k when it fits before cap: the same bytes as
 * mgri_cbor_value, whose checks such a value passes. False (nothing written)
 * for anything else, which then goes through mgri_cbor_value. */
static inline bool put_small(uint8_t *h, size_t cap, size_t *k,
                             const mgr_value *v) {
  if (cap - *k < 9) return false;
  switch (v->type) {
  case MGR_T_NIL:
    h[(*k)++] = 0xf6;
    return true;
  case MGR_T_BOOL:
    h[(*k)++] = v->u.b ? 0xf5 : 0xf4;
    return true;
  case MGR_T_INT:
    if (v->u.i >= 0)
      *k += put_head(h + *k, 0, (uint64_t)v->u.i);
    else
      *k += put_head(h + *k, 1, ~(uint64_t)v->u.i);
    return true;
  case MGR_T_TEXT:
  case MGR_T_BYTES: {
    size_t n = v->u.s.len;
    if (n > 32 || cap - *k < 2 + n) return false;
    if (n && !v->u.s.ptr) return false;
    if (v->type == MGR_T_TEXT && n && !mgri_utf8_valid(v->u.s.ptr, n))
      return false;
    *k += put_head(h + *k, v->type == MGR_T_TEXT ? 3 : 2, n);
    if (n) memcpy(h + *k, v->u.s.ptr, n);
    *k += n;
    return true;
  }
  default:
    return false;
  }
}

int mgri_request_encode(mgri_buf *b, const mgri_request *r,
                        uint32_t frame_max) {
  if (r->nargs > MGRI_ARGS_MAX || (r->nargs && !r->args)) return MGR_EINVAL;
  if (r->rid > INT64_MAX || r->op > INT64_MAX || r->oid > INT64_MAX)
    return MGR_EINVAL; /* the profile's uints stop at 2^63-1 */
  uint8_t head[MGRI_FRAME_HEADER + 1 + 3 * 9 + 9 + SMALL_ROOM];
  memset(head, 0, MGRI_FRAME_HEADER);
  size_t k = MGRI_FRAME_HEADER; /* the length prefix, written at the end */
  k += put_head(head + k, 4, 4);
  k += put_head(head + k, 0, r->rid);
  k += put_head(head + k, 0, r->op);
  k += put_head(head + k, 0, r->oid);
  k += put_head(head + k, 4, r->nargs);
  /* Leading small arguments join the same append (a scalar is never too
   * deep: depth 3 here). */
  size_t i = 0;
  while (i < r->nargs && put_small(head, sizeof head, &k, &r->args[i]))
    i++;
  frame_mark m;
  int rc = frame_begin(b, frame_max, &m, head, k);
  if (rc) return rc;
  for (; i < r->nargs && rc == MGR_OK && !b->err; i++)
    rc =
        too_deep(&r->args[i], 3) ? MGR_EINVAL : mgri_cbor_value(b, &r->args[i]);
  return frame_end(b, &m, rc, frame_max);
}

int mgri_reply_encode(mgri_buf *b, const mgri_reply *r, uint32_t frame_max) {
  if (r->rid > INT64_MAX) return MGR_EINVAL;
  uint64_t code = 0;
  const char *msg = r->msg ? r->msg : "";
  size_t msglen = r->msg ? r->msglen : 0;
  if (r->status != MGR_OK) {
    code = mgri_err_to_wire(r->status);
    if (code == 0) return MGR_EINVAL; /* local-only code: never on the wire */
    if (!mgri_utf8_valid(msg, msglen)) return MGR_EINVAL;
  }
  uint8_t head[MGRI_FRAME_HEADER + 1 + 2 * 9 + SMALL_ROOM];
  memset(head, 0, MGRI_FRAME_HEADER);
  size_t k = MGRI_FRAME_HEADER; /* the length prefix, written at the end */
  k += put_head(head + k, 4, 3);
  k += put_head(head + k, 0, r->rid);
  k += put_head(head + k, 0, code);
  /* A small result (the common case) joins the same append. */
  bool done = !code && put_small(head, sizeof head, &k, &r->result);
  frame_mark m;
  int rc = frame_begin(b, frame_max, &m, head, k);
  if (rc) return rc;
  if (code)
    mgri_cbor_text(b, msg, msglen);
  else if (!done)
    rc = too_deep(&r->result, 2) ? MGR_EINVAL : mgri_cbor_value(b, &r->result);
  return frame_end(b, &m, rc, frame_max);
}

/* --- decoding -------------------------------------------------------------
 * Shape rules P1-P7 and Q1-Q5 of spec/protocol.md 6.2, checked in order after
 * the CBOR decoder accepted the body. */

/* The offset of element i of the top-level array at p[0], for an error
 * message. The shape rules run in element order, so every element before i
 * has been checked to be a uint: each is one head, and skipping heads is all
 * it takes. The body decoded whole, so every head read lies inside p[0..n).
 * Only the error path calls it. */
static size_t elem_at(const uint8_t *p, size_t i) {
  size_t off = 0;
  for (size_t k = 0; k <= i; k++) { /* the array head, then i uints */
    uint8_t ai = p[off] & 31;
    off += 1 + (ai >= 24 && ai <= 27 ? (size_t)1 << (ai - 24) : 0);
  }
  return off;
}

static int proto_err(mgri_decode_error *err, size_t offset, const char *what) {
  if (err) {
    err->code = MGR_EPROTO;
    err->offset = offset;
    err->what = what;
  }
  return MGR_EPROTO;
}

static bool is_uint(const mgr_value *v) {
  return v->type == MGR_T_INT && v->u.i >= 0;
}

static int decode_top(const uint8_t *p, size_t n, const mgri_limits *lim,
                      mgri_arena *a, mgr_value *v, mgri_decode_error *err,
                      mgri_hole *hole) {
  mgri_limits def;
  if (!lim) {
    mgri_limits_default(&def);
    lim = &def;
  }
  return mgri_cbor_decode_hole(p, n, lim, a, v, err, hole);
}

/* One head at p[*off] within have bytes: its major type and argument
 * (floats' bits ignored). false when it does not fit or is indefinite. */
static bool peek_head(const uint8_t *p, size_t have, size_t *off,
                      unsigned *major, uint64_t *arg) {
  if (*off >= have) return false;
  unsigned ai = p[*off] & 31;
  *major = p[*off] >> 5;
  if (ai > 27) return false;
  size_t len = ai < 24 ? 0 : (size_t)1 << (ai - 24);
  if (have - *off - 1 < len) return false;
  uint64_t v = ai < 24 ? ai : 0;
  for (size_t i = 0; i < len; i++)
    v = v << 8 | p[*off + 1 + i];
  *arg = v;
  *off += 1 + len;
  return true;
}

bool mgri_request_split(const uint8_t *p, size_t have, size_t n, size_t min,
                        size_t *at, size_t *len) {
  size_t off = 0;
  unsigned major;
  uint64_t arg;
  if (have > n) have = n;
  if (!peek_head(p, have, &off, &major, &arg) || major != 4 || arg != 4)
    return false;
  for (int i = 0; i < 3; i++)
    if (!peek_head(p, have, &off, &major, &arg) || major != 0) return false;
  if (!peek_head(p, have, &off, &major, &arg) || major != 4 ||
      arg > MGRI_ARGS_MAX)
    return false;
  for (uint64_t k = arg; k > 0; k--) {
    if (!peek_head(p, have, &off, &major, &arg)) return false;
    if (major == 0 || major == 1 || major == 7) continue;
    if (major != 2 && major != 3) return false; /* nested: not looked into */
    if (arg > n - off) return false;
    if (arg >= min) {
      *at = off;
      *len = (size_t)arg;
      return true;
    }
    if (arg > have - off) return false;
    off += (size_t)arg;
  }
  return false;
}

int mgri_request_decode(const uint8_t *p, size_t n, const mgri_limits *lim,
                        mgri_arena *a, mgri_request *out,
                        mgri_decode_error *err) {
  return mgri_request_decode_hole(p, n, lim, a, out, err, NULL);
}

int mgri_request_decode_hole(const uint8_t *p, size_t n, const mgri_limits *lim,
                             mgri_arena *a, mgri_request *out,
                             mgri_decode_error *err, mgri_hole *hole) {
  mgr_value v;
  memset(out, 0, sizeof *out);
  int rc = decode_top(p, n, lim, a, &v, err, hole);
  if (rc) return rc;
  if (v.type != MGR_T_ARRAY)
    return proto_err(err, 0, "request is not an array"); /* P1 */
  const mgr_value *e = v.u.a.items;
  /* The rid an error reply echoes (spec 3.5), even for a bad shape. */
  if (v.u.a.len >= 1 && is_uint(&e[0])) out->rid = (uint64_t)e[0].u.i;
  if (v.u.a.len != 4)
    return proto_err(err, 0, "request is not an array of 4 elements"); /* P2 */
  if (!is_uint(&e[0]))                                                 /* P3 */
    return proto_err(err, elem_at(p, 0), "rid is not a uint");
  if (!is_uint(&e[1])) /* P4 */
    return proto_err(err, elem_at(p, 1), "op is not a uint");
  if (!is_uint(&e[2])) /* P5 */
    return proto_err(err, elem_at(p, 2), "oid is not a uint");
  if (e[3].type != MGR_T_ARRAY) /* P6 */
    return proto_err(err, elem_at(p, 3), "args is not an array");
  if (e[3].u.a.len > MGRI_ARGS_MAX) /* P7 */
    return proto_err(err, elem_at(p, 3),
                     "more than 8 (MGRI_ARGS_MAX) arguments");
  out->rid = (uint64_t)e[0].u.i;
  out->op = (uint64_t)e[1].u.i;
  out->oid = (uint64_t)e[2].u.i;
  out->args = e[3].u.a.items;
  out->nargs = e[3].u.a.len;
  return MGR_OK;
}

int mgri_reply_decode(const uint8_t *p, size_t n, const mgri_limits *lim,
                      mgri_arena *a, mgri_reply *out, mgri_decode_error *err) {
  mgr_value v;
  memset(out, 0, sizeof *out);
  out->result = mgr_nil();
  int rc = decode_top(p, n, lim, a, &v, err, NULL);
  if (rc) return rc;
  if (v.type != MGR_T_ARRAY) /* Q1 */
    return proto_err(err, 0, "reply is not an array");
  if (v.u.a.len != 3) /* Q2 */
    return proto_err(err, 0, "reply is not an array of 3 elements");
  const mgr_value *e = v.u.a.items;
  if (!is_uint(&e[0])) /* Q3 */
    return proto_err(err, elem_at(p, 0), "rid is not a uint");
  if (!is_uint(&e[1])) /* Q4 */
    return proto_err(err, elem_at(p, 1), "code is not a uint");
  out->rid = (uint64_t)e[0].u.i;
  if (e[1].u.i == 0) {
    out->status = MGR_OK;
    out->result = e[2];
    return MGR_OK;
  }
  if (e[2].type != MGR_T_TEXT) /* Q5 */
    return proto_err(err, elem_at(p, 2), "error reply's message is not text");
  out->status = mgri_err_from_wire((uint64_t)e[1].u.i);
  out->msg = e[2].u.s.ptr;
  out->msglen = e[2].u.s.len;
  return MGR_OK;
}
