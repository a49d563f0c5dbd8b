/* mgr — tracing helpers: digests of values and the op-table lookups the
 * trace macros' arguments use. Only called inside an enabled tracepoint's
 * branch, so none of this runs unless a tracing session asked for it. */
#include "trace/trace.h"

#include <string.h>
#include <unistd.h>

#include "proto/ops.h"

#define KIND_CHECK_(name, value)                                               \
  _Static_assert((value) == 0 || (value) == MGR_K_##name,                      \
                 "MGRI_TRACE_KINDS disagrees with mgr_kind: " #name);
#define MGR_K_MANAGER 0
MGRI_TRACE_KINDS(KIND_CHECK_)
#undef MGR_K_MANAGER
#undef KIND_CHECK_

/* FNV-1a 64. */
#define FNV_OFFSET 0xcbf29ce484222325ull
#define FNV_PRIME 0x100000001b3ull

static uint64_t fnv(uint64_t h, const void *p, size_t n) {
  const unsigned char *s = p;
  for (size_t i = 0; i < n; i++) {
    h ^= s[i];
    h *= FNV_PRIME;
  }
  return h;
}

static uint64_t byte(uint64_t h, unsigned b) {
  h ^= b & 0xffu;
  return h * FNV_PRIME;
}

/* Big-endian n-byte unsigned. */
static uint64_t be(uint64_t h, uint64_t v, unsigned n) {
  for (unsigned i = n; i-- > 0;)
    h = byte(h, (unsigned)(v >> (8 * i)) & 0xff);
  return h;
}

/* A CBOR head in its shortest form (the codec's canonical form). */
static uint64_t head(uint64_t h, unsigned major, uint64_t arg) {
  unsigned m = major << 5;
  if (arg < 24) return byte(h, m | (unsigned)arg);
  if (arg <= 0xff) return be(byte(h, m | 24), arg, 1);
  if (arg <= 0xffff) return be(byte(h, m | 25), arg, 2);
  if (arg <= 0xffffffffull) return be(byte(h, m | 26), arg, 4);
  return be(byte(h, m | 27), arg, 8);
}

/* d as an IEEE half when that is exact: 1 and *out, else 0. */
static int to_half(double d, uint16_t *out) {
  uint64_t bits;
  memcpy(&bits, &d, sizeof bits);
  uint16_t sign = (uint16_t)((bits >> 48) & 0x8000u);
  int e = (int)((bits >> 52) & 0x7ff);
  uint64_t mant = bits & 0xfffffffffffffull;
  if (e == 0x7ff) { /* infinities (NaN is handled by the caller) */
    if (mant) return 0;
    *out = sign | 0x7c00u;
    return 1;
  }
  if (e == 0) { /* zero; double subnormals are far below half's range */
    if (mant) return 0;
    *out = sign;
    return 1;
  }
  int x = e - 1023;
  if (x >= -14 && x <= 15) { /* half normal: 10 mantissa bits */
    if (mant & ((1ull << 42) - 1)) return 0;
    *out =
        (uint16_t)(sign | (uint16_t)((x + 15) << 10) | (uint16_t)(mant >> 42));
    return 1;
  }
  if (x >= -24 && x < -14) { /* half subnormal: m * 2^-24, m < 1024 */
    uint64_t full = mant | (1ull << 52);
    unsigned shift = (unsigned)(28 - x); /* 43..52 */
    if (full & ((1ull << shift) - 1)) return 0;
    *out = (uint16_t)(sign | (uint16_t)(full >> shift));
    return 1;
  }
  return 0;
}

static uint64_t flt(uint64_t h, double d) {
  uint16_t half;
  if (d != d) return be(byte(h, 0xf9), 0x7e00, 2); /* the one NaN */
  if (to_half(d, &half)) return be(byte(h, 0xf9), half, 2);
  float f = (float)d;
  if ((double)f == d) {
    uint32_t b32;
    memcpy(&b32, &f, sizeof b32);
    return be(byte(h, 0xfa), b32, 4);
  }
  uint64_t b64;
  memcpy(&b64, &d, sizeof b64);
  return be(byte(h, 0xfb), b64, 8);
}

/* Valid values nest at most MGRI_DEPTH_MAX (32) deep; the bound only keeps a
 * corrupt value from recursing without end. */
#define DIGEST_DEPTH_MAX 64

static uint64_t digest(uint64_t h, const mgr_value *v, unsigned depth) {
  if (depth > DIGEST_DEPTH_MAX) return byte(h, 0xff);
  switch (v->type) {
  case MGR_T_NIL:
    return byte(h, 0xf6);
  case MGR_T_BOOL:
    return byte(h, v->u.b ? 0xf5 : 0xf4);
  case MGR_T_INT:
    if (v->u.i >= 0) return head(h, 0, (uint64_t)v->u.i);
    return head(h, 1, ~(uint64_t)v->u.i); /* -1 - i, without overflow */
  case MGR_T_FLOAT:
    return flt(h, v->u.f);
  case MGR_T_TEXT:
  case MGR_T_BYTES:
    h = head(h, v->type == MGR_T_TEXT ? 3 : 2, v->u.s.len);
    return v->u.s.len ? fnv(h, v->u.s.ptr, v->u.s.len) : h;
  case MGR_T_ARRAY:
    h = head(h, 4, v->u.a.len);
    for (size_t i = 0; i < v->u.a.len; i++)
      h = digest(h, &v->u.a.items[i], depth + 1);
    return h;
  case MGR_T_MAP:
    h = head(h, 5, v->u.a.len);
    for (size_t i = 0; i < 2 * v->u.a.len; i++)
      h = digest(h, &v->u.a.items[i], depth + 1);
    return h;
  case MGR_T_REF:
    h = head(h, 6, 28007); /* MGRI_TAG_REF */
    h = head(h, 4, 2);
    h = head(h, 0, v->u.ref.kind);
    return head(h, 0, v->u.ref.id);
  }
  return byte(h, 0xff); /* not a type: still a stable digest */
}

uint64_t mgri_trace_digest(const mgr_value *v) {
  return v ? digest(FNV_OFFSET, v, 1) : 0;
}

uint64_t mgri_trace_key(uint64_t op, const mgr_value *args, size_t nargs) {
  const mgri_opinfo *oi = mgri_op_info(op);
  if (!oi || !(oi->flags & MGRI_OPF_K) || !args || nargs < 1) return 0;
  return mgri_trace_digest(&args[0]);
}

uint64_t mgri_trace_value(uint64_t op, const mgr_value *args, size_t nargs,
                          int status, const mgr_value *result) {
  const mgri_opinfo *oi = mgri_op_info(op);
  if (!oi || status != MGR_OK) return 0;
  /* A waiting op answered at once, on any kind: its result (an acquire's
   * 0/1/2 says whether it got the lock; traces/analyze draws ownership). */
  if (oi->flags & MGRI_OPF_B) return mgri_trace_digest(result);
  if (oi->kind < MGRI_TRACE_KIND_DICT || oi->kind > MGRI_TRACE_KIND_VAR)
    return 0;
  if (oi->flags & MGRI_OPF_R) return mgri_trace_digest(result);
  if ((oi->flags & MGRI_OPF_W) && args && nargs > 0)
    return mgri_trace_digest(&args[nargs - 1]);
  return 0;
}

uint32_t mgri_trace_kind(uint64_t op) {
  const mgri_opinfo *oi = mgri_op_info(op);
  return oi ? oi->kind : 0;
}

int64_t mgri_trace_pid(void) { return (int64_t)getpid(); }
