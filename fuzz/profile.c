/* mgr fuzz targets — the independent lenient reader of profile.h. */
#include "profile.h"

#include <ctype.h>
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"

#define NODES 65536
#define BYTES 65536
#define RECURSION_MAX                                                          \
  256 /* deep enough past the profile's depth 32; 2000 overflowed an ASan stack */

static mgr_value nodes[NODES];
static size_t nnodes;
static uint8_t bytes[BYTES];
static size_t nbytes;

typedef struct rd {
  const uint8_t *p;
  size_t n, pos;
  prof_result *r;
  unsigned rec;
} rd;

static void hit(rd *d, prof_cat c, size_t off) {
  d->r->cats |= 1u << c;
  if (d->r->nhits < PROF_HITS_MAX)
    d->r->hits[d->r->nhits++] = (prof_hit){c, off};
}

/* Every finite half, widened, in ascending order (with -0 and +0). */
static double halves[63490];
static size_t nhalves;

static double half_value(unsigned h) {
  unsigned e = (h >> 10) & 31, m = h & 1023;
  double v = e == 0 ? m * 0x1p-24 : (1024 + m) * pow(2, (double)e - 25);
  return h & 0x8000 ? -v : v;
}

static int cmp_d(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static bool is_half(double d) {
  if (isinf(d)) return true;
  if (!nhalves) {
    for (unsigned h = 0; h < 0x10000; h++)
      if (((h >> 10) & 31) != 31) halves[nhalves++] = half_value(h);
    qsort(halves, nhalves, sizeof halves[0], cmp_d);
  }
  return bsearch(&d, halves, nhalves, sizeof halves[0], cmp_d) != NULL;
}

static bool is_single(double d) {
  if (isinf(d)) return true;
  if (fabs(d) > FLT_MAX) return false;
  return (double)(float)d == d;
}

static bool has_map(const mgr_value *v) {
  if (v->type == MGR_T_MAP) return true;
  if (v->type != MGR_T_ARRAY) return false;
  for (size_t i = 0; i < v->u.a.len; i++)
    if (has_map(&v->u.a.items[i])) return true;
  return false;
}

/* Reads a head: false when not well-formed. *ai 31 = indefinite. */
static bool head(rd *d, unsigned *major, unsigned *ai, uint64_t *arg) {
  size_t at = d->pos;
  if (at >= d->n) return false;
  *major = d->p[at] >> 5;
  *ai = d->p[at] & 31;
  if (*ai >= 28 && *ai <= 30) return false;
  size_t len = *ai == 24   ? 1
               : *ai == 25 ? 2
               : *ai == 26 ? 4
               : *ai == 27 ? 8
                           : 0;
  if (d->n - at - 1 < len) return false;
  uint64_t v = *ai < 24 ? *ai : 0;
  for (size_t i = 0; i < len; i++)
    v = v * 256 + d->p[at + 1 + i];
  *arg = v;
  d->pos = at + 1 + len;
  if (*major < 7 && *ai >= 24 && *ai <= 27) {
    uint64_t least = *ai == 24   ? 24
                     : *ai == 25 ? 256
                     : *ai == 26 ? 65536
                                 : 4294967296u;
    if (v < least) hit(d, P_NONSHORT, at);
  }
  return true;
}

static bool item(rd *d, unsigned depth, bool counted, mgr_value *out);

/* The children of an indefinite container, until the break. */
static bool indef_children(rd *d, unsigned depth, bool counted, bool map,
                           mgr_value *out) {
  size_t cap = 8, n = 0;
  mgr_value *tmp = malloc(cap * sizeof *tmp);
  if (!tmp) return d->r->overflow = true, false;
  for (;;) {
    if (d->pos >= d->n) goto bad;
    if (d->p[d->pos] == 0xff) {
      d->pos++;
      break;
    }
    if (n == cap) {
      mgr_value *t = realloc(tmp, 2 * cap * sizeof *tmp);
      if (!t) goto bad;
      tmp = t, cap *= 2;
    }
    if (!item(d, depth + 1, counted, &tmp[n])) goto bad;
    n++;
  }
  if (map && n % 2) goto bad;
  if (n > NODES - nnodes) {
    d->r->overflow = true;
    goto bad;
  }
  mgr_value *items = nodes + nnodes;
  nnodes += n;
  memcpy(items, tmp, n * sizeof *tmp);
  free(tmp);
  *out = map ? mgr_map(items, n / 2) : mgr_array(items, n);
  return true;
bad:
  free(tmp);
  return false;
}

static void check_keys(rd *d, const mgr_value *m, const size_t *offs) {
  const mgr_value *it = m->u.a.items;
  for (size_t i = 0; i < m->u.a.len; i++) {
    if (!model_key_ok(&it[2 * i])) {
      hit(d, has_map(&it[2 * i]) ? P_UNHASH : P_NANKEY, offs[i]);
      continue;
    }
    for (size_t j = 0; j < i; j++)
      if (model_key_ok(&it[2 * j]) && model_key_eq(&it[2 * i], &it[2 * j])) {
        hit(d, P_DUP, offs[i]);
        break;
      }
  }
}

static bool item(rd *d, unsigned depth, bool counted, mgr_value *out) {
  size_t at = d->pos;
  unsigned major, ai;
  uint64_t arg;
  if (++d->rec > RECURSION_MAX) return d->r->overflow = true, false;
  *out = mgr_nil();
  if (!head(d, &major, &ai, &arg)) return false;
  if (counted) {
    d->r->items++;
    if (depth > 32) hit(d, P_DEPTH, at);
  }
  bool ok = true;
  if (ai == 31) {
    switch (major) {
    case 2:
    case 3: { /* chunks of the same major type, concatenated */
      hit(d, P_INDEF, at);
      size_t start = nbytes;
      for (;;) {
        if (d->pos >= d->n) return false;
        if (d->p[d->pos] == 0xff) {
          d->pos++;
          break;
        }
        unsigned m2, a2;
        uint64_t len;
        if (!head(d, &m2, &a2, &len) || m2 != major || a2 == 31) return false;
        if (len > d->n - d->pos) return false;
        if (len > BYTES - nbytes) return d->r->overflow = true, false;
        memcpy(bytes + nbytes, d->p + d->pos, len);
        nbytes += len;
        d->pos += len;
      }
      const char *s = (const char *)bytes + start;
      if (major == 3 && !model_utf8((const uint8_t *)s, nbytes - start))
        hit(d, P_UTF8, at);
      *out = major == 3 ? mgr_textn(s, nbytes - start)
                        : mgr_bytes(s, nbytes - start);
      break;
    }
    case 4:
    case 5:
      hit(d, P_INDEF, at);
      ok = indef_children(d, depth, counted, major == 5, out);
      if (ok && major == 5) {
        /* Key offsets are not kept for indefinite maps: report at the map. */
        size_t *offs = malloc((out->u.a.len + 1) * sizeof *offs);
        if (!offs) return d->r->overflow = true, false;
        for (size_t i = 0; i < out->u.a.len; i++)
          offs[i] = at;
        check_keys(d, out, offs);
        free(offs);
      }
      break;
    default: /* 0, 1, 6 cannot be indefinite; 7/31 is a stray break */
      return false;
    }
    d->rec--;
    return ok;
  }
  switch (major) {
  case 0:
  case 1:
    if (arg > (uint64_t)INT64_MAX) hit(d, P_INTRANGE, at);
    *out = mgr_int(major == 0 ? (int64_t)(arg & INT64_MAX)
                              : -1 - (int64_t)(arg & INT64_MAX));
    break;
  case 2:
  case 3: {
    if (arg > d->n - d->pos) return false;
    const char *s = (const char *)d->p + d->pos;
    if (major == 3 && !model_utf8((const uint8_t *)s, (size_t)arg))
      hit(d, P_UTF8, at);
    *out = major == 3 ? mgr_textn(s, (size_t)arg) : mgr_bytes(s, (size_t)arg);
    d->pos += (size_t)arg;
    break;
  }
  case 4:
  case 5: {
    /* Each item needs a byte: a count the input cannot hold is not
     * well-formed, and nothing is allocated for it. */
    uint64_t cells = major == 5 ? 2 * arg : arg;
    if (arg > d->n - d->pos || cells > d->n - d->pos) return false;
    if (cells > NODES - nnodes) return d->r->overflow = true, false;
    mgr_value *items = nodes + nnodes;
    nnodes += (size_t)cells;
    size_t *offs = major == 5 ? malloc(((size_t)arg + 1) * sizeof *offs) : NULL;
    if (major == 5 && !offs) return d->r->overflow = true, false;
    for (size_t i = 0; i < cells && ok; i++) {
      if (major == 5 && i % 2 == 0) offs[i / 2] = d->pos;
      ok = item(d, depth + 1, counted, &items[i]);
    }
    if (ok) {
      *out = major == 5 ? mgr_map(items, (size_t)arg)
                        : mgr_array(items, (size_t)arg);
      if (major == 5) check_keys(d, out, offs);
    }
    free(offs);
    break;
  }
  case 6: {
    /* The content is read as plain CBOR (its own head problems are listed)
     * but is not a value-model level: a ref is one leaf. */
    size_t cat_ = d->pos;
    mgr_value c;
    ok = item(d, depth + 1, false, &c);
    if (!ok) break;
    if (arg != 28007) {
      hit(d, P_TAG, at);
      *out = c;
      break;
    }
    /* [uint kind 1..5, uint id 1..2^63-1], as major-0 heads (a raw re-read,
     * so ids above INT64_MAX are seen as such). */
    rd e = {d->p, d->n, cat_, d->r, 0};
    unsigned m1, a1, m2, a2, m3, a3;
    uint64_t n2, kind, id;
    prof_result scratch = {0};
    e.r = &scratch; /* the head problems were already listed above */
    bool good = head(&e, &m1, &a1, &n2) && m1 == 4 && a1 != 31 && n2 == 2 &&
                head(&e, &m2, &a2, &kind) && m2 == 0 && kind >= 1 &&
                kind <= 14 && head(&e, &m3, &a3, &id) && m3 == 0 && id >= 1 &&
                id <= (uint64_t)INT64_MAX;
    if (!good) {
      hit(d, P_REF, at);
      *out = c;
      break;
    }
    *out = mgr_nil();
    out->type = MGR_T_REF;
    out->u.ref.kind = (uint32_t)kind;
    out->u.ref.id = id;
    break;
  }
  default: /* 7 */
    if (ai < 20 || ai == 24) {
      hit(d, P_SIMPLE, at);
    } else if (ai == 20 || ai == 21) {
      *out = mgr_bool(ai == 21);
    } else if (ai == 22) {
      *out = mgr_nil();
    } else if (ai == 23) {
      hit(d, P_UNDEF, at);
    } else if (ai == 25) {
      double v =
          ((arg >> 10) & 31) == 31
              ? ((arg & 1023) ? NAN : (arg & 0x8000 ? -INFINITY : INFINITY))
              : half_value((unsigned)arg);
      if (isnan(v) && arg != 0x7e00) hit(d, P_NAN, at);
      *out = mgr_float(v);
    } else if (ai == 26) {
      uint32_t u = (uint32_t)arg;
      float f;
      memcpy(&f, &u, 4);
      if (isnan(f))
        hit(d, P_NAN, at);
      else if (is_half(f))
        hit(d, P_FLOATWIDTH, at);
      *out = mgr_float(f);
    } else {
      double v;
      memcpy(&v, &arg, 8);
      if (isnan(v))
        hit(d, P_NAN, at);
      else if (is_half(v) || is_single(v))
        hit(d, P_FLOATWIDTH, at);
      *out = mgr_float(v);
    }
    break;
  }
  d->rec--;
  return ok;
}

void prof_read(const uint8_t *p, size_t n, size_t items_max, prof_result *r) {
  memset(r, 0, sizeof *r);
  nnodes = nbytes = 0;
  rd d = {p, n, 0, r, 0};
  r->wellformed = item(&d, 1, true, &r->value) && !r->overflow;
  r->end = d.pos;
  if (!r->wellformed) return;
  if (r->items > items_max) hit(&d, P_ITEMS, 0);
  if (d.pos != n) hit(&d, P_TRAILING, d.pos);
}

bool prof_hit_at(const prof_result *r, prof_cat cat, size_t off) {
  if (!(r->cats & (1u << cat))) return false;
  if (r->nhits == PROF_HITS_MAX) return true;
  for (size_t i = 0; i < r->nhits; i++)
    if (r->hits[i].cat == cat && r->hits[i].off == off) return true;
  return false;
}

const char *prof_cat_name(prof_cat c) {
  static const char *names[P_NCATS] = {
      "non-shortest", "indefinite", "simple",    "undefined",
      "tag",          "ref",        "int range", "NaN",
      "float width",  "depth",      "items",     "UTF-8",
      "dup key",      "unhashable", "NaN key",   "trailing"};
  return c < P_NCATS ? names[c] : "?";
}

static bool has(const char *s, const char *word) {
  size_t n = strlen(word);
  for (; *s; s++) {
    size_t i = 0;
    while (i < n && s[i] &&
           tolower((unsigned char)s[i]) == tolower((unsigned char)word[i]))
      i++;
    if (i == n) return true;
  }
  return false;
}

prof_cat prof_cat_of(const char *w) {
  /* Most specific words first ("preferred" holds "ref"). */
  if (!w) return P_NCATS;
  if (has(w, "shortest")) return P_NONSHORT;
  if (has(w, "indefinite")) return P_INDEF;
  if (has(w, "undefined")) return P_UNDEF;
  if (has(w, "simple")) return P_SIMPLE;
  if (has(w, "width") || has(w, "preferred")) return P_FLOATWIDTH;
  if (has(w, "utf")) return P_UTF8;
  if (has(w, "duplicate")) return P_DUP;
  if (has(w, "unhashable")) return P_UNHASH;
  if (has(w, "nan") && has(w, "key")) return P_NANKEY;
  if (has(w, "nan")) return P_NAN;
  if (has(w, "range")) return P_INTRANGE;
  if (has(w, "tag")) return P_TAG;
  if (has(w, "ref")) return P_REF;
  if (has(w, "deep") || has(w, "depth") || has(w, "nesting")) return P_DEPTH;
  if (has(w, "items")) return P_ITEMS;
  if (has(w, "trailing")) return P_TRAILING;
  return P_NCATS;
}
