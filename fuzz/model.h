/* mgr fuzz targets — independent re-statements of the profile's rules
 * (spec/DESIGN.md, "CBOR profile", "Keys"), written from the spec and not
 * from src/, so targets can check the library against them. */
#ifndef MGR_FUZZ_MODEL_H
#define MGR_FUZZ_MODEL_H

#include <math.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "mgr/value.h"

/* UTF-8 by code point: no overlongs, no surrogates, nothing past U+10FFFF. */
static inline bool model_utf8(const uint8_t *p, size_t n) {
  size_t i = 0;
  while (i < n) {
    uint8_t c = p[i];
    unsigned k;
    uint32_t cp, min;
    if (c < 0x80) {
      i++;
      continue;
    } else if ((c & 0xe0) == 0xc0) {
      k = 1, cp = c & 0x1f, min = 0x80;
    } else if ((c & 0xf0) == 0xe0) {
      k = 2, cp = c & 0x0f, min = 0x800;
    } else if ((c & 0xf8) == 0xf0) {
      k = 3, cp = c & 0x07, min = 0x10000;
    } else {
      return false;
    }
    if (n - i - 1 < k) return false;
    for (unsigned j = 1; j <= k; j++) {
      if ((p[i + j] & 0xc0) != 0x80) return false;
      cp = cp << 6 | (p[i + j] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
      return false;
    i += k + 1;
  }
  return true;
}

/* Same value, same types, same order (stricter than ==): what a round trip
 * through the codec must preserve. Floats compare by bits, except that every
 * NaN is the one canonical NaN on the wire. */
static inline bool model_same(const mgr_value *a, const mgr_value *b) {
  if (a->type != b->type) return false;
  switch (a->type) {
  case MGR_T_NIL:
    return true;
  case MGR_T_BOOL:
    return a->u.b == b->u.b;
  case MGR_T_INT:
    return a->u.i == b->u.i;
  case MGR_T_FLOAT:
    if (isnan(a->u.f) || isnan(b->u.f)) return isnan(a->u.f) && isnan(b->u.f);
    return memcmp(&a->u.f, &b->u.f, sizeof(double)) == 0;
  case MGR_T_TEXT:
  case MGR_T_BYTES:
    return a->u.s.len == b->u.s.len &&
           (a->u.s.len == 0 || memcmp(a->u.s.ptr, b->u.s.ptr, a->u.s.len) == 0);
  case MGR_T_ARRAY:
  case MGR_T_MAP: {
    if (a->u.a.len != b->u.a.len) return false;
    size_t n = a->u.a.len * (a->type == MGR_T_MAP ? 2 : 1);
    for (size_t i = 0; i < n; i++)
      if (!model_same(&a->u.a.items[i], &b->u.a.items[i])) return false;
    return true;
  }
  case MGR_T_REF:
    return a->u.ref.kind == b->u.ref.kind && a->u.ref.id == b->u.ref.id;
  }
  return false;
}

static inline bool model_has_nan(const mgr_value *v) {
  switch (v->type) {
  case MGR_T_FLOAT:
    return isnan(v->u.f);
  case MGR_T_ARRAY:
  case MGR_T_MAP: {
    size_t n = v->u.a.len * (v->type == MGR_T_MAP ? 2 : 1);
    for (size_t i = 0; i < n; i++)
      if (model_has_nan(&v->u.a.items[i])) return true;
    return false;
  }
  default:
    return false;
  }
}

/* A usable key: no map (unhashable, at any depth of arrays), no NaN. */
static inline bool model_key_ok(const mgr_value *v) {
  switch (v->type) {
  case MGR_T_MAP:
    return false;
  case MGR_T_FLOAT:
    return !isnan(v->u.f);
  case MGR_T_ARRAY:
    for (size_t i = 0; i < v->u.a.len; i++)
      if (!model_key_ok(&v->u.a.items[i])) return false;
    return true;
  default:
    return true;
  }
}

/* Key equality as Python's == on hashable keys: bool, int and float are one
 * numeric domain compared exactly (no rounding through double). */
static inline bool model_num(const mgr_value *v, bool *isf, int64_t *i,
                             double *f) {
  switch (v->type) {
  case MGR_T_BOOL:
    *isf = false, *i = v->u.b;
    return true;
  case MGR_T_INT:
    *isf = false, *i = v->u.i;
    return true;
  case MGR_T_FLOAT:
    *isf = true, *f = v->u.f;
    return true;
  default:
    return false;
  }
}

static inline bool model_key_eq(const mgr_value *a, const mgr_value *b) {
  bool fa, fb;
  int64_t ia = 0, ib = 0;
  double da = 0, db = 0;
  if (model_num(a, &fa, &ia, &da)) {
    if (!model_num(b, &fb, &ib, &db)) return false;
    if (!fa && !fb) return ia == ib;
    if (fa && fb) return da == db;
    int64_t i = fa ? ib : ia;
    double d = fa ? da : db;
    /* d equals the int i only if d is integral and inside int64's range. */
    if (!(d >= -9223372036854775808.0 && d < 9223372036854775808.0))
      return false;
    if (d != floor(d)) return false;
    return (int64_t)d == i;
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
      if (!model_key_eq(&a->u.a.items[i], &b->u.a.items[i])) return false;
    return true;
  case MGR_T_REF:
    return a->u.ref.kind == b->u.ref.kind && a->u.ref.id == b->u.ref.id;
  default:
    return false;
  }
}

/* What the encoder must accept (and the decoder produce): depth <= 32 with
 * the root at depth 1, valid UTF-8, ref kind 1..5 and id 1..2^63-1 (ids are
 * uints, and every uint of the profile is in int64's range), map keys
 * usable and pairwise unequal. */
static inline bool model_valid(const mgr_value *v, unsigned depth) {
  if (depth > 32) return false;
  switch (v->type) {
  case MGR_T_TEXT:
    return model_utf8((const uint8_t *)v->u.s.ptr, v->u.s.len);
  case MGR_T_REF:
    return v->u.ref.kind >= 1 && v->u.ref.kind <= 14 && v->u.ref.id >= 1 &&
           v->u.ref.id <= (uint64_t)INT64_MAX;
  case MGR_T_ARRAY:
    for (size_t i = 0; i < v->u.a.len; i++)
      if (!model_valid(&v->u.a.items[i], depth + 1)) return false;
    return true;
  case MGR_T_MAP: {
    const mgr_value *it = v->u.a.items;
    for (size_t i = 0; i < 2 * v->u.a.len; i++)
      if (!model_valid(&it[i], depth + 1)) return false;
    for (size_t i = 0; i < v->u.a.len; i++)
      if (!model_key_ok(&it[2 * i])) return false;
    for (size_t i = 1; i < v->u.a.len; i++)
      for (size_t j = 0; j < i; j++)
        if (model_key_eq(&it[2 * i], &it[2 * j])) return false;
    return true;
  }
  default:
    return true;
  }
}

#endif
