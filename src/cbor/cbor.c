/* mgr — the strict, bounded "mgr CBOR" codec: a canonical encoder and a
 * decoder that accepts exactly what the encoder emits (spec/DESIGN.md). */
#include <float.h>
#include <math.h>
#include <string.h>

#include "cbor/cbor.h"
#include "common/kinds.h"
#include "mgr/error.h"

/* --- half floats, exact both ways ----------------------------------------- */

static double half_to_double(uint16_t h) {
  int e = (h >> 10) & 0x1f;
  double m = h & 0x3ff, d;
  if (e == 0)
    d = ldexp(m, -24);
  else if (e == 31)
    d = m == 0 ? INFINITY : NAN;
  else
    d = ldexp(m + 1024, e - 25);
  return h & 0x8000 ? -d : d;
}

/* True with *h set when d (not NaN) is exactly a half. */
static bool double_to_half(double d, uint16_t *h) {
  uint16_t sign = signbit(d) ? 0x8000 : 0;
  double a = fabs(d);
  if (isinf(a)) {
    *h = sign | 0x7c00;
    return true;
  }
  if (a == 0) {
    *h = sign;
    return true;
  }
  if (a > 65504.0 || a < 0x1p-24) return false;
  if (a < 0x1p-14) {
    double m = ldexp(a, 24); /* subnormal: a multiple of 2^-24 */
    if (m != floor(m)) return false;
    *h = sign | (uint16_t)m;
    return true;
  }
  int e;
  double m = frexp(a, &e); /* a = m * 2^e, m in [0.5, 1) */
  double frac = ldexp(m * 2 - 1, 10);
  if (frac != floor(frac)) return false;
  *h = sign | (uint16_t)((e - 1 + 15) << 10) | (uint16_t)frac;
  return true;
}

static bool exact_float(double d) {
  return fabs(d) <= FLT_MAX && (double)(float)d == d;
}

/* --- encoder -------------------------------------------------------------- */

/* The bytes of the shortest head for arg. */
static inline size_t head_len(uint64_t arg) {
  return arg < 24             ? 1
         : arg <= 0xff        ? 2
         : arg <= 0xffff      ? 3
         : arg <= 0xffffffffu ? 5
                              : 9;
}

void mgri_cbor_head(mgri_buf *b, unsigned major, uint64_t arg) {
  /* Written straight into the buffer: this runs several times per message. */
  size_t n = head_len(arg);
  uint8_t *h = mgri_buf_room(b, n);
  if (!h) return;
  uint8_t m = (uint8_t)(major << 5);
  switch (n) {
  case 1:
    h[0] = m | (uint8_t)arg;
    break;
  case 2:
    h[0] = m | 24;
    h[1] = (uint8_t)arg;
    break;
  default:
    h[0] = (uint8_t)(m | (n == 3 ? 25 : n == 5 ? 26 : 27));
    for (size_t i = 1; i < n; i++)
      h[i] = (uint8_t)(arg >> (8 * (n - 1 - i)));
    break;
  }
  b->len += n;
}

void mgri_cbor_uint(mgri_buf *b, uint64_t v) { mgri_cbor_head(b, 0, v); }

void mgri_cbor_int(mgri_buf *b, int64_t v) {
  if (v >= 0)
    mgri_cbor_head(b, 0, (uint64_t)v);
  else
    mgri_cbor_head(b, 1, ~(uint64_t)v); /* -1 - v without overflow */
}

void mgri_cbor_bool(mgri_buf *b, bool v) {
  uint8_t c = v ? 0xf5 : 0xf4;
  mgri_buf_append(b, &c, 1);
}

void mgri_cbor_nil(mgri_buf *b) {
  uint8_t c = 0xf6;
  mgri_buf_append(b, &c, 1);
}

void mgri_cbor_float(mgri_buf *b, double v) {
  uint8_t o[9];
  uint16_t h;
  if (isnan(v)) {
    const uint8_t nan[3] = {0xf9, 0x7e, 0x00};
    mgri_buf_append(b, nan, 3);
    return;
  }
  if (double_to_half(v, &h)) {
    o[0] = 0xf9;
    o[1] = (uint8_t)(h >> 8);
    o[2] = (uint8_t)h;
    mgri_buf_append(b, o, 3);
  } else if (exact_float(v)) {
    float f = (float)v;
    uint32_t u;
    memcpy(&u, &f, 4);
    o[0] = 0xfa;
    for (int i = 0; i < 4; i++)
      o[1 + i] = (uint8_t)(u >> (24 - 8 * i));
    mgri_buf_append(b, o, 5);
  } else {
    uint64_t u;
    memcpy(&u, &v, 8);
    o[0] = 0xfb;
    for (int i = 0; i < 8; i++)
      o[1 + i] = (uint8_t)(u >> (56 - 8 * i));
    mgri_buf_append(b, o, 9);
  }
}

void mgri_cbor_text(mgri_buf *b, const char *p, size_t n) {
  mgri_cbor_head(b, 3, n);
  mgri_buf_append_ref(b, p, n);
}

void mgri_cbor_bytes(mgri_buf *b, const void *p, size_t n) {
  mgri_cbor_head(b, 2, n);
  mgri_buf_append_ref(b, p, n);
}

void mgri_cbor_array(mgri_buf *b, size_t n) { mgri_cbor_head(b, 4, n); }

void mgri_cbor_map(mgri_buf *b, size_t npairs) { mgri_cbor_head(b, 5, npairs); }

void mgri_cbor_ref(mgri_buf *b, uint32_t kind, uint64_t id) {
  mgri_cbor_head(b, 6, MGRI_TAG_REF);
  mgri_cbor_array(b, 2);
  mgri_cbor_uint(b, kind);
  mgri_cbor_uint(b, id);
}

static void enc(mgri_buf *b, const mgr_value *v) {
  switch (v->type) {
  case MGR_T_NIL:
    return mgri_cbor_nil(b);
  case MGR_T_BOOL:
    return mgri_cbor_bool(b, v->u.b);
  case MGR_T_INT:
    return mgri_cbor_int(b, v->u.i);
  case MGR_T_FLOAT:
    return mgri_cbor_float(b, v->u.f);
  case MGR_T_TEXT:
    return mgri_cbor_text(b, v->u.s.ptr, v->u.s.len);
  case MGR_T_BYTES:
    return mgri_cbor_bytes(b, v->u.s.ptr, v->u.s.len);
  case MGR_T_ARRAY:
    mgri_cbor_array(b, v->u.a.len);
    for (size_t i = 0; i < v->u.a.len && !b->err; i++)
      enc(b, &v->u.a.items[i]);
    return;
  case MGR_T_MAP:
    mgri_cbor_map(b, v->u.a.len);
    for (size_t i = 0; i < 2 * v->u.a.len && !b->err; i++)
      enc(b, &v->u.a.items[i]);
    return;
  case MGR_T_REF:
    return mgri_cbor_ref(b, v->u.ref.kind, v->u.ref.id);
  }
}

static size_t float_len(double d) {
  uint16_t h;
  if (isnan(d) || double_to_half(d, &h)) return 3;
  return exact_float(d) ? 5 : 9;
}

static size_t size_rec(const mgr_value *v, size_t cap) {
  switch (v->type) {
  case MGR_T_INT:
    return head_len(v->u.i >= 0 ? (uint64_t)v->u.i : ~(uint64_t)v->u.i);
  case MGR_T_FLOAT:
    return float_len(v->u.f);
  case MGR_T_TEXT:
  case MGR_T_BYTES:
    return head_len(v->u.s.len) + v->u.s.len;
  case MGR_T_ARRAY:
  case MGR_T_MAP: {
    size_t n = v->u.a.len * (v->type == MGR_T_MAP ? 2 : 1);
    size_t s = head_len(v->u.a.len);
    for (size_t i = 0; i < n && s <= cap; i++)
      s += size_rec(&v->u.a.items[i], cap - s);
    return s;
  }
  case MGR_T_REF:
    return head_len(MGRI_TAG_REF) + 1 + head_len(v->u.ref.kind) +
           head_len(v->u.ref.id);
  default:
    return 1; /* nil, bool */
  }
}

size_t mgri_cbor_size(const mgr_value *v, size_t cap) {
  return size_rec(v, cap);
}

int mgri_cbor_value_at(mgri_buf *b, const mgr_value *v, unsigned depth) {
  if (b->err) return b->err;
  int rc = mgri_value_valid(v, depth ? depth : 1);
  if (rc != MGR_OK) return rc;
  enc(b, v);
  return b->err;
}

int mgri_cbor_value(mgri_buf *b, const mgr_value *v) {
  return mgri_cbor_value_at(b, v, 1);
}

/* --- decoder -------------------------------------------------------------- */

typedef struct dec {
  const uint8_t *p;
  size_t n, pos;
  uint32_t depth_max, items_max, borrow_min;
  size_t items;
  mgri_arena *a;
  mgri_decode_error *err;
  mgri_hole *hole;
} dec;

static int fail(dec *d, int code, size_t off, const char *what) {
  if (d->hole && d->hole->used && off >= d->hole->at) off += d->hole->n;
  d->err->code = code;
  d->err->offset = off;
  d->err->what = what;
  return code;
}

#define EOI "unexpected end"

/* Reads one head at d->pos, enforcing what every head must satisfy: known
 * additional info, definite length, shortest form. Major 7 heads return the
 * raw additional info in *ai and the float bits in *arg. */
static int head(dec *d, unsigned *major, unsigned *ai, uint64_t *arg) {
  size_t at = d->pos;
  if (at >= d->n) return fail(d, MGR_EDECODE, at, EOI);
  uint8_t c = d->p[at];
  *major = c >> 5;
  *ai = c & 0x1f;
  if (*ai >= 28 && *ai <= 30)
    return fail(d, MGR_EDECODE, at, "reserved additional info");
  if (*ai == 31) return fail(d, MGR_EDECODE, at, "indefinite length");
  if (*major == 7 && (*ai < 20 || *ai == 24))
    return fail(d, MGR_EDECODE, at, "simple value");
  if (*major == 7 && *ai == 23) return fail(d, MGR_EDECODE, at, "undefined");
  size_t len = *ai < 24 ? 0 : (size_t)1 << (*ai - 24);
  if (d->n - at - 1 < len) return fail(d, MGR_EDECODE, at, EOI);
  uint64_t v = *ai < 24 ? *ai : 0;
  for (size_t i = 0; i < len; i++)
    v = v << 8 | d->p[at + 1 + i];
  if (*major != 7 && *ai >= 24) {
    static const uint64_t floor_[4] = {24, 0x100, 0x10000, 0x100000000ull};
    if (v < floor_[*ai - 24])
      return fail(d, MGR_EDECODE, at, "non-shortest head");
  }
  *arg = v;
  d->pos = at + 1 + len;
  return MGR_OK;
}

static int item(dec *d, unsigned depth, mgr_value *out);

static int count(dec *d, size_t at, size_t more) {
  if (more > d->items_max || d->items > d->items_max - more)
    return fail(d, MGR_ETOOBIG, at, "too many items");
  d->items += more;
  return MGR_OK;
}

/* Reads one head of a ref's content: the general head rules, and the int64
 * range (rules 5, 6), apply at the head's own offset (spec 4.7, "Refs"). */
static int ref_head(dec *d, unsigned *major, uint64_t *arg) {
  size_t hat = d->pos;
  unsigned ai;
  int rc = head(d, major, &ai, arg);
  if (rc) return rc;
  if ((*major == 0 || *major == 1) && *arg > INT64_MAX)
    return fail(d, MGR_EDECODE, hat, "integer out of range");
  return MGR_OK;
}

static int ref(dec *d, size_t at, mgr_value *out) {
  unsigned major;
  uint64_t n, kind, id;
  int rc = ref_head(d, &major, &n);
  if (rc) return rc;
  if (major != 4 || n != 2) return fail(d, MGR_EDECODE, at, "bad ref");
  if ((rc = ref_head(d, &major, &kind))) return rc;
  if (major != 0 || kind < 1 || kind > MGRI_KIND_MAX)
    return fail(d, MGR_EDECODE, at, "bad ref kind");
  if ((rc = ref_head(d, &major, &id))) return rc;
  if (major != 0 || id == 0) return fail(d, MGR_EDECODE, at, "bad ref id");
  *out = mgr_nil();
  out->type = MGR_T_REF;
  out->u.ref.kind = (uint32_t)kind;
  out->u.ref.id = id;
  return MGR_OK;
}

static int map_keys_unique(dec *d, mgr_value *pairs, size_t npairs,
                           const size_t *offs, size_t at) {
  size_t dup;
  int rc = mgri_map_find_dup(pairs, npairs, &dup);
  if (rc < 0) return fail(d, MGR_ENOMEM, at, "out of memory");
  if (rc > 0) return fail(d, MGR_EDECODE, offs[dup], "duplicate map key");
  return MGR_OK;
}

static int item(dec *d, unsigned depth, mgr_value *out) {
  size_t at = d->pos;
  unsigned major, ai;
  uint64_t arg;
  int rc;
  if (at >= d->n) return fail(d, MGR_EDECODE, at, EOI);
  if (depth > d->depth_max) return fail(d, MGR_ETOOBIG, at, "nesting too deep");
  if ((rc = count(d, at, 1))) return rc;
  if ((rc = head(d, &major, &ai, &arg))) return rc;
  *out = mgr_nil();
  size_t left = d->n - d->pos;
  switch (major) {
  case 0:
    if (arg > INT64_MAX)
      return fail(d, MGR_EDECODE, at, "integer out of range");
    *out = mgr_int((int64_t)arg);
    return MGR_OK;
  case 1:
    if (arg > INT64_MAX)
      return fail(d, MGR_EDECODE, at, "integer out of range");
    *out = mgr_int(-1 - (int64_t)arg);
    return MGR_OK;
  case 2:
  case 3: {
    if (d->hole && !d->hole->used && d->pos == d->hole->at &&
        arg == d->hole->n) {
      /* The payload read elsewhere: checked as if it were here. */
      const char *hp = (const char *)d->hole->p;
      if (major == 3 && !mgri_utf8_valid(hp, d->hole->n))
        return fail(d, MGR_EDECODE, at, "invalid UTF-8");
      d->hole->used = true;
      *out = major == 3 ? mgr_textn(hp, d->hole->n) : mgr_bytes(hp, d->hole->n);
      return MGR_OK;
    }
    if (arg > left) return fail(d, MGR_EDECODE, at, EOI);
    size_t len = (size_t)arg;
    const char *src = (const char *)d->p + d->pos;
    if (major == 3 && !mgri_utf8_valid(src, len))
      return fail(d, MGR_EDECODE, at, "invalid UTF-8");
    if (d->borrow_min && len >= d->borrow_min) {
      /* A large string stays where it is (the caller's buffer outlives
       * the value): no arena copy, no arena growth. */
      *out = major == 3 ? mgr_textn(src, len) : mgr_bytes(src, len);
      d->pos += len;
      return MGR_OK;
    }
    char *s = mgri_arena_alloc(d->a, len + (major == 3));
    if (!s) return fail(d, MGR_ENOMEM, at, "out of memory");
    if (len) memcpy(s, src, len);
    if (major == 3) s[len] = '\0';
    *out = major == 3 ? mgr_textn(s, len) : mgr_bytes(s, len);
    d->pos += len;
    return MGR_OK;
  }
  case 4:
  case 5: {
    /* Every item takes at least one byte: a count the rest of the input
     * cannot hold is refused before anything is allocated. */
    /* The item limit is checked first (spec: order of checks), so a count
     * over the limit is ETOOBIG whatever the input's length. */
    if (arg > d->items_max || (major == 5 && arg > d->items_max / 2))
      return fail(d, MGR_ETOOBIG, at, "too many items");
    size_t n = (size_t)arg * (major == 5 ? 2 : 1);
    if ((rc = count(d, at, n))) return rc;
    d->items -= n; /* counted again item by item; this was the early check */
    if (arg > left || (major == 5 && arg > left / 2))
      return fail(d, MGR_EDECODE, at, EOI);
    mgr_value *items = mgri_arena_alloc(d->a, n * sizeof *items);
    if (!items) return fail(d, MGR_ENOMEM, at, "out of memory");
    size_t *offs = NULL;
    if (major == 5 && arg > 0) {
      offs = mgri_arena_alloc(d->a, (size_t)arg * sizeof *offs);
      if (!offs) return fail(d, MGR_ENOMEM, at, "out of memory");
    }
    for (size_t i = 0; i < n; i++) {
      size_t iat = d->pos;
      if ((rc = item(d, depth + 1, &items[i]))) return rc;
      if (major == 5 && i % 2 == 0) {
        int hr = mgri_value_hashable(&items[i]);
        if (hr == MGR_ETYPE)
          return fail(d, MGR_EDECODE, iat, "unhashable map key");
        if (hr != MGR_OK) return fail(d, MGR_EDECODE, iat, "NaN map key");
        offs[i / 2] = iat;
      }
    }
    if (major == 5 && (rc = map_keys_unique(d, items, (size_t)arg, offs, at)))
      return rc;
    if (major == 4)
      *out = mgr_array(items, n);
    else
      *out = mgr_map(items, (size_t)arg);
    return MGR_OK;
  }
  case 6:
    if (arg != MGRI_TAG_REF) return fail(d, MGR_EDECODE, at, "unsupported tag");
    return ref(d, at, out);
  default: /* 7 */
    switch (ai) {
    case 20:
    case 21:
      *out = mgr_bool(ai == 21);
      return MGR_OK;
    case 22:
      return MGR_OK;
    case 25: {
      if (arg == 0x7e00) {
        *out = mgr_float(NAN);
        return MGR_OK;
      }
      double v = half_to_double((uint16_t)arg);
      if (isnan(v)) return fail(d, MGR_EDECODE, at, "NaN not canonical");
      *out = mgr_float(v);
      return MGR_OK;
    }
    case 26: {
      uint32_t u = (uint32_t)arg;
      float f;
      memcpy(&f, &u, 4);
      uint16_t h;
      if (isnan(f)) return fail(d, MGR_EDECODE, at, "NaN not canonical");
      if (double_to_half(f, &h))
        return fail(d, MGR_EDECODE, at, "float not in preferred width");
      *out = mgr_float(f);
      return MGR_OK;
    }
    default: { /* 27 */
      double v;
      memcpy(&v, &arg, 8);
      uint16_t h;
      if (isnan(v)) return fail(d, MGR_EDECODE, at, "NaN not canonical");
      if (double_to_half(v, &h) || exact_float(v))
        return fail(d, MGR_EDECODE, at, "float not in preferred width");
      *out = mgr_float(v);
      return MGR_OK;
    }
    }
  }
}

int mgri_cbor_decode(const uint8_t *p, size_t n, const mgri_limits *lim,
                     mgri_arena *a, mgr_value *out, mgri_decode_error *err) {
  return mgri_cbor_decode_hole(p, n, lim, a, out, err, NULL);
}

int mgri_cbor_decode_hole(const uint8_t *p, size_t n, const mgri_limits *lim,
                          mgri_arena *a, mgr_value *out, mgri_decode_error *err,
                          mgri_hole *hole) {
  mgri_decode_error spare;
  mgri_limits defaults;
  if (!lim) {
    mgri_limits_default(&defaults);
    lim = &defaults;
  }
  dec d = {p,
           n,
           0,
           lim->depth_max,
           lim->items_max,
           lim->borrow_min,
           0,
           a,
           err ? err : &spare,
           hole};
  if (hole) hole->used = false;
  /* 0 means "the default"; nothing may exceed the protocol's ceiling. */
  if (d.depth_max == 0 || d.depth_max > MGRI_DEPTH_MAX)
    d.depth_max = MGRI_DEPTH_MAX;
  if (d.items_max == 0) d.items_max = MGRI_ITEMS_MAX_DEFAULT;
  d.err->code = MGR_OK;
  d.err->offset = 0;
  d.err->what = NULL;
  *out = mgr_nil();
  int rc = item(&d, 1, out);
  if (rc == MGR_OK && d.pos != n)
    rc = fail(&d, MGR_EDECODE, d.pos, "trailing bytes");
  if (rc == MGR_OK && hole && !hole->used)
    rc = fail(&d, MGR_EDECODE, hole->at, "a string's payload out of place");
  if (rc != MGR_OK) *out = mgr_nil();
  return rc;
}
