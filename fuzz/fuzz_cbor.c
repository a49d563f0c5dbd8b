/* mgr fuzz target — the CBOR decoder: whatever it accepts must re-encode to
 * the same bytes (the profile has one canonical form) and decode again to an
 * equal value; whatever it rejects must say why, at an offset inside the
 * input. Memory is capped by the arena limit. */
#include <string.h>

#include "cbor/cbor.h"
#include "fuzz.h"
#include "mgr/error.h"

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
    mgri_buf b;
    mgri_buf_init(&b, 0);
    FUZZ_CHECK(mgri_cbor_value(&b, &v) == MGR_OK);
    FUZZ_CHECK(b.len == size && memcmp(b.data, data, size) == 0);
    mgr_value w;
    FUZZ_CHECK(mgri_cbor_decode(b.data, b.len, &lim, &a2, &w, NULL) == MGR_OK);
    /* NaN != NaN, so compare the encodings, already equal, and check that
     * equality is reflexive for NaN-free values through a deep copy. */
    mgr_value c;
    FUZZ_CHECK(mgr_value_copy(&c, &v) == MGR_OK);
    mgri_buf b2;
    mgri_buf_init(&b2, 0);
    FUZZ_CHECK(mgri_cbor_value(&b2, &c) == MGR_OK);
    FUZZ_CHECK(b2.len == size && memcmp(b2.data, data, size) == 0);
    mgr_value_free(&c);
    mgri_buf_fini(&b2);
    mgri_buf_fini(&b);
  } else {
    FUZZ_CHECK(rc == MGR_EDECODE || rc == MGR_ETOOBIG || rc == MGR_ENOMEM);
    FUZZ_CHECK(err.what != NULL);
    FUZZ_CHECK(err.offset <= size);
  }
  mgri_arena_fini(&a);
  mgri_arena_fini(&a2);
  return 0;
}
