/* mgr fuzz target — the CBOR decoder: whatever it accepts must re-encode to
 * the same bytes (the profile has one canonical form), decode again to an
 * equal value, survive a deep copy, and have every proper prefix refused;
 * whatever it rejects must say why, with the code it returned, at an offset
 * inside the input. Memory is capped by the arena limit. */
#include <math.h>
#include <string.h>

#include "cbor/cbor.h"
#include "fuzz.h"
#include "model.h"
#include "mgr/error.h"

/* A fixed key: equal keys must hash alike under any key. */
static const mgri_sipkey HKEY = {0x0706050403020100ull, 0x0f0e0d0c0b0a0908ull};

static bool is_scalar(const mgr_value *v) {
  return v->type != MGR_T_TEXT && v->type != MGR_T_BYTES &&
         v->type != MGR_T_ARRAY && v->type != MGR_T_MAP;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  mgri_limits lim;
  mgri_limits_default(&lim);
  lim.items_max = 4096;
  mgri_arena a, a2;
  mgri_arena_init(&a, 8u << 20);
  mgri_arena_init(&a2, 8u << 20);
  mgr_value v;
  mgri_decode_error err = {0, 0, NULL};
  int rc = mgri_cbor_decode(data, size, &lim, &a, &v, &err);
  if (rc == MGR_OK) {
    FUZZ_CHECK(size > 0);
    mgri_buf b;
    mgri_buf_init(&b, 0);
    FUZZ_CHECK(mgri_cbor_value(&b, &v) == MGR_OK);
    FUZZ_CHECK(b.len == size && memcmp(b.data, data, size) == 0);
    /* The encoded size, computed without encoding, is exact; capped below
     * it, it says only that it is over the cap. */
    FUZZ_CHECK(mgri_cbor_size(&v, SIZE_MAX) == size);
    if (size > 1) FUZZ_CHECK(mgri_cbor_size(&v, size / 2) > size / 2);
    mgr_value w;
    FUZZ_CHECK(mgri_cbor_decode(b.data, b.len, &lim, &a2, &w, NULL) == MGR_OK);
    bool nan = model_has_nan(&v);
    /* Python ==: reflexive and symmetric on NaN-free values. */
    if (!nan) {
      FUZZ_CHECK(mgri_value_eq(&v, &w) && mgri_value_eq(&w, &v));
      uint64_t h1, h2;
      if (mgri_value_hash(&v, &HKEY, &h1) == MGR_OK) {
        FUZZ_CHECK(mgri_value_hash(&w, &HKEY, &h2) == MGR_OK && h1 == h2);
      }
    }
    /* An owned deep copy encodes to the same bytes. */
    if (!(is_scalar(&v) && fuzz_known("copy-null"))) {
      mgr_value c;
      FUZZ_CHECK(mgr_value_copy(&c, &v) == MGR_OK);
      mgri_buf b2;
      mgri_buf_init(&b2, 0);
      FUZZ_CHECK(mgri_cbor_value(&b2, &c) == MGR_OK);
      FUZZ_CHECK(b2.len == size && memcmp(b2.data, data, size) == 0);
      if (!nan) FUZZ_CHECK(mgr_value_equal(&c, &v));
      mgr_value_free(&c);
      mgri_buf_fini(&b2);
    }
    mgri_buf_fini(&b);
    /* One item spans the whole input, so no proper prefix is an item (the
     * tinycbor test), and the failure is reported inside the prefix. */
    size_t step = size <= 64 ? 1 : size / 32;
    for (size_t k = 0; k < size; k += step) {
      mgri_arena_reset(&a2);
      mgri_decode_error e2 = {0, 0, NULL};
      int r2 = mgri_cbor_decode(data, k, &lim, &a2, &w, &e2);
      FUZZ_CHECK(r2 != MGR_OK);
      FUZZ_CHECK(e2.code == r2 && e2.what != NULL && e2.offset <= k);
    }
  } else {
    FUZZ_CHECK(rc == MGR_EDECODE || rc == MGR_ETOOBIG || rc == MGR_ENOMEM);
    FUZZ_CHECK(err.code == rc);
    FUZZ_CHECK(err.what != NULL);
    FUZZ_CHECK(err.offset <= size);
    FUZZ_CHECK(v.type == MGR_T_NIL);
  }
  mgri_arena_fini(&a);
  mgri_arena_fini(&a2);
  return 0;
}
