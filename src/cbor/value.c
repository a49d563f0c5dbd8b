/* mgr — the value model (Python semantics): UTF-8 validation, ==, hash,
 * ordering, single-block deep copies, repr, and the public value helpers. */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cbor/cbor.h"
#include "cbor/value_internal.h"
#include "mgr/error.h"

bool mgri_utf8_valid(const char *s, size_t n) {
  const uint8_t *p = (const uint8_t *)s;
  size_t i = 0;
  while (i < n) {
    uint8_t c = p[i];
    if (c < 0x80) {
      i++;
      continue;
    }
    size_t k;
    uint8_t lo = 0x80, hi = 0xbf; /* range of the second byte */
    if (c >= 0xc2 && c <= 0xdf) {
      k = 1;
    } else if (c >= 0xe0 && c <= 0xef) {
      k = 2;
      if (c == 0xe0) lo = 0xa0; /* overlong */
      if (c == 0xed) hi = 0x9f; /* surrogates */
    } else if (c >= 0xf0 && c <= 0xf4) {
      k = 3;
      if (c == 0xf0) lo = 0x90; /* overlong */
      if (c == 0xf4) hi = 0x8f; /* > U+10FFFF */
    } else {
      return false;
    }
    if (n - i <= k) return false;
    if (p[i + 1] < lo || p[i + 1] > hi) return false;
    for (size_t j = 2; j <= k; j++)
      if ((p[i + j] & 0xc0) != 0x80) return false;
    i += k + 1;
  }
  return true;
}

/* --- numbers: bool, int and float are one numeric domain ------------------ */

typedef struct num {
  bool isf;
  int64_t i;
  double f;
} num;

static bool as_num(const mgr_value *v, num *n) {
  switch (v->type) {
  case MGR_T_BOOL:
    *n = (num){false, v->u.b ? 1 : 0, 0};
    return true;
  case MGR_T_INT:
    *n = (num){false, v->u.i, 0};
    return true;
  case MGR_T_FLOAT:
    *n = (num){true, 0, v->u.f};
    return true;
  default:
    return false;
  }
}

/* Exact: converting i to double would round above 2^53. d must not be NaN. */
static int cmp_i_d(int64_t i, double d) {
  if (d >= 0x1p63) return -1;
  if (d < -0x1p63) return 1;
  double t = trunc(d);
  int64_t ti = (int64_t)t;
  if (i != ti) return i < ti ? -1 : 1;
  return d > t ? -1 : d < t ? 1 : 0;
}

/* Total on non-NaN numbers. */
static int num_cmp(num a, num b) {
  if (!a.isf && !b.isf) return a.i < b.i ? -1 : a.i > b.i;
  if (a.isf && b.isf) return a.f < b.f ? -1 : a.f > b.f;
  if (!a.isf) return cmp_i_d(a.i, b.f);
  return -cmp_i_d(b.i, a.f);
}

static bool num_nan(num a) { return a.isf && isnan(a.f); }

/* --- equality ------------------------------------------------------------- */

static bool map_eq(const mgr_value *a, const mgr_value *b);

bool mgri_value_eq(const mgr_value *a, const mgr_value *b) {
  num x = {false, 0, 0}, y = {false, 0, 0};
  if (as_num(a, &x)) {
    if (!as_num(b, &y) || num_nan(x) || num_nan(y)) return false;
    return num_cmp(x, y) == 0;
  }
  if (a->type != b->type) return false;
  switch (a->type) {
  case MGR_T_NIL:
    return true;
  case MGR_T_TEXT:
  case MGR_T_BYTES:
    return a->u.s.len == b->u.s.len &&
           (a->u.s.len == 0 || memcmp(a->u.s.ptr, b->u.s.ptr, a->u.s.len) == 0);
  case MGR_T_ARRAY:
    if (a->u.a.len != b->u.a.len) return false;
    for (size_t i = 0; i < a->u.a.len; i++)
      if (!mgri_value_eq(&a->u.a.items[i], &b->u.a.items[i])) return false;
    return true;
  case MGR_T_MAP:
    return map_eq(a, b);
  case MGR_T_REF:
    return a->u.ref.kind == b->u.ref.kind && a->u.ref.id == b->u.ref.id;
  default:
    return false;
  }
}

/* --- a total order on hashable keys, consistent with ==; used to find
 * duplicates and to compare big dicts in O(n log n) ------------------------ */

static int key_rank(const mgr_value *v) {
  switch (v->type) {
  case MGR_T_NIL:
    return 0;
  case MGR_T_BOOL:
  case MGR_T_INT:
  case MGR_T_FLOAT:
    return 1;
  case MGR_T_TEXT:
    return 2;
  case MGR_T_BYTES:
    return 3;
  case MGR_T_ARRAY:
    return 4;
  case MGR_T_REF:
    return 5;
  default:
    return 6;
  }
}

static int key_order(const mgr_value *a, const mgr_value *b) {
  int ra = key_rank(a), rb = key_rank(b);
  if (ra != rb) return ra < rb ? -1 : 1;
  num x = {false, 0, 0}, y = {false, 0, 0};
  switch (ra) {
  case 1:
    as_num(a, &x);
    as_num(b, &y);
    return num_cmp(x, y);
  case 2:
  case 3: {
    size_t n = a->u.s.len < b->u.s.len ? a->u.s.len : b->u.s.len;
    int c = n ? memcmp(a->u.s.ptr, b->u.s.ptr, n) : 0;
    if (c) return c < 0 ? -1 : 1;
    return a->u.s.len < b->u.s.len ? -1 : a->u.s.len > b->u.s.len;
  }
  case 4: {
    size_t n = a->u.a.len < b->u.a.len ? a->u.a.len : b->u.a.len;
    for (size_t i = 0; i < n; i++) {
      int c = key_order(&a->u.a.items[i], &b->u.a.items[i]);
      if (c) return c;
    }
    return a->u.a.len < b->u.a.len ? -1 : a->u.a.len > b->u.a.len;
  }
  case 5:
    if (a->u.ref.kind != b->u.ref.kind)
      return a->u.ref.kind < b->u.ref.kind ? -1 : 1;
    return a->u.ref.id < b->u.ref.id ? -1 : a->u.ref.id > b->u.ref.id;
  default:
    return 0;
  }
}

typedef struct keyent {
  const mgr_value *k;
  size_t i;
} keyent;

static int keyent_cmp(const void *x, const void *y) {
  const keyent *a = x, *b = y;
  int c = key_order(a->k, b->k);
  if (c) return c;
  return a->i < b->i ? -1 : a->i > b->i;
}

/* Small maps are checked pairwise: cheaper than sorting. */
#define SMALL_MAP 16u

int mgri_map_find_dup(const mgr_value *pairs, size_t npairs, size_t *dup) {
  if (npairs <= SMALL_MAP) {
    for (size_t i = 1; i < npairs; i++)
      for (size_t j = 0; j < i; j++)
        if (mgri_value_eq(&pairs[2 * i], &pairs[2 * j])) {
          *dup = i;
          return 1;
        }
    return 0;
  }
  keyent *e = malloc(npairs * sizeof *e);
  if (!e) return MGR_ENOMEM;
  for (size_t i = 0; i < npairs; i++) e[i] = (keyent){&pairs[2 * i], i};
  qsort(e, npairs, sizeof *e, keyent_cmp);
  /* In each run of equal keys the second entry is the first repeat; report
   * the earliest repeat in map order, as a sequential check would. */
  size_t best = SIZE_MAX;
  for (size_t i = 1; i < npairs; i++)
    if (key_order(e[i - 1].k, e[i].k) == 0 &&
        (i < 2 || key_order(e[i - 2].k, e[i].k) != 0) && e[i].i < best)
      best = e[i].i;
  free(e);
  if (best == SIZE_MAX) return 0;
  *dup = best;
  return 1;
}

static bool keys_hashable(const mgr_value *m) {
  uint64_t h;
  for (size_t i = 0; i < m->u.a.len; i++)
    if (mgri_value_hash(&m->u.a.items[2 * i], &h) != MGR_OK) return false;
  return true;
}

static const mgr_value *map_find(const mgr_value *m, const mgr_value *k,
                                 size_t hint) {
  size_t n = m->u.a.len;
  /* Dicts built alike usually share key order: try the same slot first. */
  if (hint < n && mgri_value_eq(&m->u.a.items[2 * hint], k))
    return &m->u.a.items[2 * hint + 1];
  for (size_t i = 0; i < n; i++)
    if (mgri_value_eq(&m->u.a.items[2 * i], k)) return &m->u.a.items[2 * i + 1];
  return NULL;
}

static bool map_eq(const mgr_value *a, const mgr_value *b) {
  size_t n = a->u.a.len;
  if (n != b->u.a.len) return false;
  if (n > SMALL_MAP && keys_hashable(a) && keys_hashable(b)) {
    keyent *ea = malloc(2 * n * sizeof *ea);
    if (ea) {
      keyent *eb = ea + n;
      for (size_t i = 0; i < n; i++) {
        ea[i] = (keyent){&a->u.a.items[2 * i], i};
        eb[i] = (keyent){&b->u.a.items[2 * i], i};
      }
      qsort(ea, n, sizeof *ea, keyent_cmp);
      qsort(eb, n, sizeof *eb, keyent_cmp);
      bool eq = true;
      for (size_t i = 0; i < n && eq; i++)
        eq = key_order(ea[i].k, eb[i].k) == 0 &&
             mgri_value_eq(ea[i].k + 1, eb[i].k + 1);
      free(ea);
      return eq;
    }
  }
  for (size_t i = 0; i < n; i++) {
    const mgr_value *bv = map_find(b, &a->u.a.items[2 * i], i);
    if (!bv || !mgri_value_eq(&a->u.a.items[2 * i + 1], bv)) return false;
  }
  return true;
}

/* --- hashing -------------------------------------------------------------- */

static uint64_t mix(uint64_t x) {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ull;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebull;
  x ^= x >> 31;
  return x;
}

static uint64_t hash_mem(const void *p, size_t n, uint64_t seed) {
  const uint8_t *s = p;
  uint64_t h = 0xcbf29ce484222325ull ^ seed;
  for (size_t i = 0; i < n; i++) {
    h ^= s[i];
    h *= 0x100000001b3ull;
  }
  return mix(h);
}

int mgri_value_hash(const mgr_value *v, uint64_t *out) {
  num x;
  if (as_num(v, &x)) {
    if (x.isf) {
      if (isnan(x.f)) return MGR_EVALUE;
      /* An integral float hashes as the int it equals. */
      if (x.f >= -0x1p63 && x.f < 0x1p63 && x.f == trunc(x.f)) {
        x.i = (int64_t)x.f;
      } else {
        uint64_t bits;
        memcpy(&bits, &x.f, sizeof bits);
        *out = mix(bits ^ 0x5555555555555555ull);
        return MGR_OK;
      }
    }
    *out = mix((uint64_t)x.i);
    return MGR_OK;
  }
  switch (v->type) {
  case MGR_T_NIL:
    *out = 0x6e696c6e696c6e69ull;
    return MGR_OK;
  case MGR_T_TEXT:
    *out = hash_mem(v->u.s.ptr, v->u.s.len, 1);
    return MGR_OK;
  case MGR_T_BYTES:
    *out = hash_mem(v->u.s.ptr, v->u.s.len, 2);
    return MGR_OK;
  case MGR_T_REF:
    *out = mix(mix(v->u.ref.id) ^ v->u.ref.kind ^ 0x7265660000000000ull);
    return MGR_OK;
  case MGR_T_ARRAY: {
    /* A map anywhere makes it unhashable (TypeError) even if a NaN came
     * first, as Python reports the TypeError. */
    int rc = MGR_OK;
    uint64_t h = 0x6172726179ull + v->u.a.len;
    for (size_t i = 0; i < v->u.a.len; i++) {
      uint64_t eh = 0;
      int r = mgri_value_hash(&v->u.a.items[i], &eh);
      if (r == MGR_ETYPE) return r;
      if (r != MGR_OK) rc = r;
      h = mix(h * 31 + eh);
    }
    if (rc == MGR_OK) *out = h;
    return rc;
  }
  default:
    return MGR_ETYPE;
  }
}

/* --- ordering ------------------------------------------------------------- */

int mgri_value_cmp(const mgr_value *a, const mgr_value *b, int *out) {
  num x = {false, 0, 0}, y = {false, 0, 0};
  if (as_num(a, &x)) {
    if (!as_num(b, &y) || num_nan(x) || num_nan(y)) return MGR_ETYPE;
    *out = num_cmp(x, y);
    return MGR_OK;
  }
  if (a->type != b->type) return MGR_ETYPE;
  switch (a->type) {
  case MGR_T_TEXT:
  case MGR_T_BYTES:
    *out = key_order(a, b);
    return MGR_OK;
  case MGR_T_ARRAY: {
    /* Python: the first pair that is not == decides, so equal elements of
     * incomparable kinds (None, None) do not raise. */
    size_t n = a->u.a.len < b->u.a.len ? a->u.a.len : b->u.a.len;
    for (size_t i = 0; i < n; i++) {
      const mgr_value *p = &a->u.a.items[i], *q = &b->u.a.items[i];
      if (!mgri_value_eq(p, q)) return mgri_value_cmp(p, q, out);
    }
    *out = a->u.a.len < b->u.a.len ? -1 : a->u.a.len > b->u.a.len;
    return MGR_OK;
  }
  default:
    return MGR_ETYPE;
  }
}

/* --- owned copies: one block, value nodes first, then string bytes -------- */

static bool measure(const mgr_value *v, size_t *nodes, size_t *strs) {
  switch (v->type) {
  case MGR_T_TEXT:
  case MGR_T_BYTES:
    /* Bytes get a NUL too, so even an empty string owns a block. */
    if (v->u.s.len > SIZE_MAX - 1 || *strs > SIZE_MAX - 1 - v->u.s.len)
      return false;
    *strs += v->u.s.len + 1;
    return true;
  case MGR_T_ARRAY:
  case MGR_T_MAP: {
    size_t n = v->u.a.len;
    if (v->type == MGR_T_MAP) {
      if (n > SIZE_MAX / 2) return false;
      n *= 2;
    }
    if (*nodes > SIZE_MAX - n) return false;
    *nodes += n;
    for (size_t i = 0; i < n; i++)
      if (!measure(&v->u.a.items[i], nodes, strs)) return false;
    return true;
  }
  default:
    return true;
  }
}

size_t mgri_value_size(const mgr_value *v) {
  size_t nodes = 0, strs = 0;
  if (!measure(v, &nodes, &strs)) return SIZE_MAX;
  if (nodes > (SIZE_MAX - 1) / sizeof(mgr_value)) return SIZE_MAX;
  nodes *= sizeof(mgr_value);
  if (strs >= SIZE_MAX - nodes) return SIZE_MAX;
  return nodes + strs;
}

static void copy_rec(mgr_value *dst, const mgr_value *v, char **nodes,
                     char **strs) {
  *dst = *v;
  switch (v->type) {
  case MGR_T_TEXT:
  case MGR_T_BYTES: {
    char *s = *strs;
    if (v->u.s.len) memcpy(s, v->u.s.ptr, v->u.s.len);
    s[v->u.s.len] = '\0';
    dst->u.s.ptr = s;
    *strs += v->u.s.len + 1;
    break;
  }
  case MGR_T_ARRAY:
  case MGR_T_MAP: {
    size_t n = v->u.a.len * (v->type == MGR_T_MAP ? 2 : 1);
    mgr_value *items = (mgr_value *)(void *)*nodes;
    *nodes += n * sizeof(mgr_value);
    dst->u.a.items = n ? items : NULL;
    for (size_t i = 0; i < n; i++)
      copy_rec(&items[i], &v->u.a.items[i], nodes, strs);
    break;
  }
  default:
    break;
  }
}

void mgri_value_copy_into(mgr_value *dst, const mgr_value *v, void *mem) {
  size_t nodes = 0, strs = 0;
  if (!mem) { /* size 0: a scalar or an empty container */
    *dst = *v;
    if (v->type == MGR_T_ARRAY || v->type == MGR_T_MAP) dst->u.a.items = NULL;
    return;
  }
  measure(v, &nodes, &strs);
  char *np = mem, *sp = (char *)mem + nodes * sizeof(mgr_value);
  copy_rec(dst, v, &np, &sp);
  /* The root pointer is the block itself, so one free() releases it. */
  if (v->type == MGR_T_ARRAY || v->type == MGR_T_MAP) dst->u.a.items = mem;
}

size_t mgri_value_refs(const mgr_value *v, void (*fn)(void *ctx, uint64_t id),
                       void *ctx) {
  switch (v->type) {
  case MGR_T_REF:
    if (fn) fn(ctx, v->u.ref.id);
    return 1;
  case MGR_T_ARRAY:
  case MGR_T_MAP: {
    size_t n = v->u.a.len * (v->type == MGR_T_MAP ? 2 : 1), c = 0;
    for (size_t i = 0; i < n; i++) c += mgri_value_refs(&v->u.a.items[i], fn, ctx);
    return c;
  }
  default:
    return 0;
  }
}

/* Structural checks shared by mgr_value_copy and the encoder. */
int mgri_value_check(const mgr_value *v, unsigned depth, bool wire) {
  if (depth > MGRI_DEPTH_MAX) return MGR_EINVAL;
  switch (v->type) {
  case MGR_T_NIL:
  case MGR_T_BOOL:
  case MGR_T_INT:
  case MGR_T_FLOAT:
    return MGR_OK;
  case MGR_T_TEXT:
    if (!v->u.s.ptr && v->u.s.len) return MGR_EINVAL;
    return v->u.s.len == 0 || mgri_utf8_valid(v->u.s.ptr, v->u.s.len)
               ? MGR_OK
               : MGR_EINVAL;
  case MGR_T_BYTES:
    return !v->u.s.ptr && v->u.s.len ? MGR_EINVAL : MGR_OK;
  case MGR_T_REF:
    if (wire && (v->u.ref.kind < MGR_K_DICT || v->u.ref.kind > MGR_K_RLOCK ||
                 v->u.ref.id == 0 || v->u.ref.id > INT64_MAX))
      return MGR_EINVAL;
    return MGR_OK;
  case MGR_T_ARRAY:
  case MGR_T_MAP: {
    size_t n = v->u.a.len;
    if (v->type == MGR_T_MAP) {
      if (n > SIZE_MAX / 2) return MGR_EINVAL;
      n *= 2;
    }
    if (!v->u.a.items && n) return MGR_EINVAL;
    for (size_t i = 0; i < n; i++) {
      int rc = mgri_value_check(&v->u.a.items[i], depth + 1, wire);
      if (rc != MGR_OK) return rc;
    }
    if (wire && v->type == MGR_T_MAP) {
      uint64_t h;
      for (size_t i = 0; i < v->u.a.len; i++)
        if (mgri_value_hash(&v->u.a.items[2 * i], &h) != MGR_OK)
          return MGR_EINVAL;
      size_t dup;
      int rc = mgri_map_find_dup(v->u.a.items, v->u.a.len, &dup);
      if (rc < 0) return rc;
      if (rc > 0) return MGR_EINVAL;
    }
    return MGR_OK;
  }
  default:
    return MGR_EINVAL;
  }
}

/* --- public helpers ------------------------------------------------------- */

void mgr_value_free(mgr_value *v) {
  if (!v) return;
  switch (v->type) {
  case MGR_T_TEXT:
  case MGR_T_BYTES:
    free((void *)v->u.s.ptr);
    break;
  case MGR_T_ARRAY:
  case MGR_T_MAP:
    free(v->u.a.items);
    break;
  default:
    break;
  }
  *v = mgr_nil();
}

int mgr_value_copy(mgr_value *dst, const mgr_value *src) {
  *dst = mgr_nil();
  if (!src) return MGR_EINVAL;
  int rc = mgri_value_check(src, 1, false);
  if (rc != MGR_OK) return rc;
  size_t size = mgri_value_size(src);
  if (size == SIZE_MAX) return MGR_ENOMEM;
  void *mem = NULL;
  if (size) {
    mem = malloc(size);
    if (!mem) return MGR_ENOMEM;
  }
  mgri_value_copy_into(dst, src, mem);
  return MGR_OK;
}

bool mgr_value_equal(const mgr_value *a, const mgr_value *b) {
  if (!a || !b) return a == b;
  return mgri_value_eq(a, b);
}

const mgr_value *mgr_map_get(const mgr_value *map, const mgr_value *key) {
  if (!map || !key || map->type != MGR_T_MAP) return NULL;
  return map_find(map, key, SIZE_MAX);
}

/* --- repr ------------------------------------------------------------------ */

typedef struct out {
  char *buf;
  size_t cap, len;
} out;

static void put(out *o, const char *s, size_t n) {
  if (o->len < o->cap) {
    size_t room = o->cap - o->len;
    memcpy(o->buf + o->len, s, n < room ? n : room);
  }
  o->len += n;
}

static void puts_(out *o, const char *s) { put(o, s, strlen(s)); }

static void putc_(out *o, char c) { put(o, &c, 1); }

/* Python's float repr: the shortest digits that round-trip, fixed notation
 * for decimal exponents -4..15, else d.ddde+XX. */
static void repr_float(out *o, double d) {
  if (isnan(d)) return puts_(o, "nan");
  if (isinf(d)) return puts_(o, d < 0 ? "-inf" : "inf");
  char tmp[40];
  for (int prec = 0; prec <= 16; prec++) {
    snprintf(tmp, sizeof tmp, "%.*e", prec, d);
    if (strtod(tmp, NULL) == d) break;
  }
  char digits[24];
  size_t nd = 0;
  const char *p = tmp;
  bool neg = *p == '-';
  if (neg) p++;
  for (; *p && *p != 'e'; p++)
    if (*p >= '0' && *p <= '9') digits[nd++] = *p;
  int e = atoi(p + 1);
  while (nd > 1 && digits[nd - 1] == '0') nd--;
  if (neg) putc_(o, '-');
  if (e < -4 || e >= 16) {
    putc_(o, digits[0]);
    if (nd > 1) {
      putc_(o, '.');
      put(o, digits + 1, nd - 1);
    }
    char ex[16];
    snprintf(ex, sizeof ex, "e%c%02d", e < 0 ? '-' : '+', e < 0 ? -e : e);
    return puts_(o, ex);
  }
  if (e < 0) {
    puts_(o, "0.");
    for (int i = -1; i > e; i--) putc_(o, '0');
    return put(o, digits, nd);
  }
  size_t ip = (size_t)e + 1; /* digits before the point */
  for (size_t i = 0; i < ip; i++) putc_(o, i < nd ? digits[i] : '0');
  putc_(o, '.');
  if (nd > ip)
    put(o, digits + ip, nd - ip);
  else
    putc_(o, '0');
}

/* Code points Python's str.isprintable() rejects beyond ASCII controls (an
 * approximation: separators, format controls, private use, specials). */
static bool unprintable(uint32_t c) {
  return (c >= 0x7f && c <= 0xa0) || c == 0xad || c == 0x1680 ||
         (c >= 0x2000 && c <= 0x200f) || (c >= 0x2028 && c <= 0x202f) ||
         (c >= 0x205f && c <= 0x206f) || c == 0x3000 ||
         (c >= 0xe000 && c <= 0xf8ff) || c == 0xfeff ||
         (c >= 0xfff0 && c <= 0xfffb) || c == 0xfffe || c == 0xffff ||
         c >= 0xf0000;
}

static void repr_str(out *o, const uint8_t *s, size_t n, bool bytes) {
  bool sq = memchr(s, '\'', n) != NULL, dq = memchr(s, '"', n) != NULL;
  char q = sq && !dq ? '"' : '\'';
  char esc[12];
  if (bytes) putc_(o, 'b');
  putc_(o, q);
  for (size_t i = 0; i < n;) {
    uint8_t c = s[i];
    if (c == '\\' || c == (uint8_t)q) {
      putc_(o, '\\');
      putc_(o, (char)c);
    } else if (c == '\n') {
      puts_(o, "\\n");
    } else if (c == '\r') {
      puts_(o, "\\r");
    } else if (c == '\t') {
      puts_(o, "\\t");
    } else if (c < 0x20 || c == 0x7f || (bytes && c >= 0x80)) {
      snprintf(esc, sizeof esc, "\\x%02x", c);
      puts_(o, esc);
    } else if (c < 0x80) {
      putc_(o, (char)c);
    } else {
      /* Valid UTF-8 is assumed (the value model guarantees it). */
      size_t k = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : 2;
      if (k > n - i) k = n - i;
      uint32_t cp = c & (0x7f >> k);
      for (size_t j = 1; j < k; j++) cp = cp << 6 | (s[i + j] & 0x3f);
      if (unprintable(cp)) {
        if (cp <= 0xff)
          snprintf(esc, sizeof esc, "\\x%02" PRIx32, cp);
        else if (cp <= 0xffff)
          snprintf(esc, sizeof esc, "\\u%04" PRIx32, cp);
        else
          snprintf(esc, sizeof esc, "\\U%08" PRIx32, cp);
        puts_(o, esc);
      } else {
        put(o, (const char *)s + i, k);
      }
      i += k;
      continue;
    }
    i++;
  }
  putc_(o, q);
}

static void repr_rec(out *o, const mgr_value *v) {
  char tmp[48];
  switch (v->type) {
  case MGR_T_NIL:
    return puts_(o, "None");
  case MGR_T_BOOL:
    return puts_(o, v->u.b ? "True" : "False");
  case MGR_T_INT:
    snprintf(tmp, sizeof tmp, "%" PRId64, v->u.i);
    return puts_(o, tmp);
  case MGR_T_FLOAT:
    return repr_float(o, v->u.f);
  case MGR_T_TEXT:
  case MGR_T_BYTES:
    return repr_str(o, (const uint8_t *)v->u.s.ptr, v->u.s.ptr ? v->u.s.len : 0,
                    v->type == MGR_T_BYTES);
  case MGR_T_ARRAY:
    putc_(o, '[');
    for (size_t i = 0; i < v->u.a.len; i++) {
      if (i) puts_(o, ", ");
      repr_rec(o, &v->u.a.items[i]);
    }
    return putc_(o, ']');
  case MGR_T_MAP:
    putc_(o, '{');
    for (size_t i = 0; i < v->u.a.len; i++) {
      if (i) puts_(o, ", ");
      repr_rec(o, &v->u.a.items[2 * i]);
      puts_(o, ": ");
      repr_rec(o, &v->u.a.items[2 * i + 1]);
    }
    return putc_(o, '}');
  case MGR_T_REF: {
    static const char *const kinds[] = {"ref", "dict", "list", "value", "lock",
                                        "rlock"};
    uint32_t k = v->u.ref.kind <= MGR_K_RLOCK ? v->u.ref.kind : 0;
    snprintf(tmp, sizeof tmp, "<%s #%" PRIu64 ">", kinds[k], v->u.ref.id);
    return puts_(o, tmp);
  }
  default:
    return puts_(o, "<?>");
  }
}

size_t mgr_value_repr(const mgr_value *v, char *buf, size_t cap) {
  out o = {buf, cap, 0};
  if (!v) {
    puts_(&o, "NULL");
  } else {
    repr_rec(&o, v);
  }
  if (cap) buf[o.len < cap ? o.len : cap - 1] = '\0';
  return o.len;
}
