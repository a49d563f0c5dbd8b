/* mgr — hashing keys (spec 5.3, 5.4): SipHash-1-3 under a caller's key over
 * a canonical byte form in which equal keys are equal bytes. Numbers that
 * are equal in Python (True, 1, 1.0) share one form: an integral float in
 * the int64 range is hashed as that int. Keyed, so a client that does not
 * know the server's key cannot build keys that collide. */
#include <string.h>

#include "cbor/model.h"
#include "cbor/num.h"
#include "mgr/error.h"

/* The first word of each item: its form tag, and for text, bytes and
 * arrays its length, so that no two different keys share a byte stream. */
enum { F_NIL = 1, F_INT, F_FLOAT, F_TEXT, F_BYTES, F_REF, F_ARRAY };

static uint64_t head(unsigned form, uint64_t len) {
  return (uint64_t)form | len << 8;
}

/* Feeds v's canonical form to h (h NULL: only classify). A map anywhere
 * makes it unhashable (TYPE), as Python reports it even after a NaN. */
static int feed(mgri_siphash *h, const mgr_value *v) {
  mgri_num x;
  if (mgri_as_num(v, &x)) {
    if (x.isf) {
      if (isnan(x.f)) return MGR_EVALUE;
      if (!(x.f >= -0x1p63 && x.f < 0x1p63 && x.f == trunc(x.f))) {
        if (h) {
          uint64_t bits;
          memcpy(&bits, &x.f, sizeof bits);
          mgri_siphash_u64(h, head(F_FLOAT, 0));
          mgri_siphash_u64(h, bits);
        }
        return MGR_OK;
      }
      x.i = (int64_t)x.f; /* -0.0 too: it equals 0 */
    }
    if (h) {
      mgri_siphash_u64(h, head(F_INT, 0));
      mgri_siphash_u64(h, (uint64_t)x.i);
    }
    return MGR_OK;
  }
  switch (v->type) {
  case MGR_T_NIL:
    if (h) mgri_siphash_u64(h, head(F_NIL, 0));
    return MGR_OK;
  case MGR_T_TEXT:
  case MGR_T_BYTES:
    if (h) {
      mgri_siphash_u64(h, head(v->type == MGR_T_TEXT ? F_TEXT : F_BYTES,
                               (uint64_t)v->u.s.len));
      mgri_siphash_update(h, v->u.s.ptr, v->u.s.len);
    }
    return MGR_OK;
  case MGR_T_REF:
    if (h) {
      mgri_siphash_u64(h, head(F_REF, v->u.ref.kind));
      mgri_siphash_u64(h, v->u.ref.id);
    }
    return MGR_OK;
  case MGR_T_ARRAY: {
    int rc = MGR_OK;
    if (h) mgri_siphash_u64(h, head(F_ARRAY, (uint64_t)v->u.a.len));
    for (size_t i = 0; i < v->u.a.len; i++) {
      int r = feed(rc == MGR_OK ? h : NULL, &v->u.a.items[i]);
      if (r == MGR_ETYPE) return r;
      if (r != MGR_OK) rc = r;
    }
    return rc;
  }
  default:
    return MGR_ETYPE;
  }
}

int mgri_value_hashable(const mgr_value *v) { return feed(NULL, v); }

int mgri_value_hash(const mgr_value *v, const mgri_sipkey *key, uint64_t *out) {
  mgri_siphash h;
  mgri_siphash_init(&h, key, 1, 3);
  int rc = feed(&h, v);
  if (rc == MGR_OK) *out = mgri_siphash_final(&h);
  return rc;
}
