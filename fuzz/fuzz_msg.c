/* mgr fuzz target — the message decoders: the first byte picks request or
 * reply (bit 0), the default limits (bit 1: lim NULL) and a second decode
 * without an error record (bit 2: err NULL) that must agree with the first;
 * an accepted message must re-encode to the same bytes. */
#include <string.h>

#include "fuzz.h"
#include "mgr/error.h"
#include "proto/proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  int reply = data[0] & 1, deflim = data[0] & 2, noerr = data[0] & 4;
  data++;
  size--;
  mgri_limits lim;
  mgri_limits_default(&lim);
  lim.items_max = 4096;
  mgri_arena a;
  mgri_arena_init(&a, 8u << 20);
  mgri_decode_error err = {0, 0, NULL};
  mgri_buf b;
  mgri_buf_init(&b, 0);
  int rc;
  if (reply) {
    mgri_reply r;
    rc = mgri_reply_decode(data, size, deflim ? NULL : &lim, &a, &r, &err);
    if (noerr) {
      mgri_reply r2;
      mgri_arena a2;
      mgri_arena_init(&a2, 8u << 20);
      FUZZ_CHECK(mgri_reply_decode(data, size, deflim ? NULL : &lim, &a2, &r2,
                                   NULL) == rc);
      mgri_arena_fini(&a2);
    }
    if (rc == MGR_OK && r.status != MGR_EUNKNOWN)
      FUZZ_CHECK(mgri_reply_encode(&b, &r, MGRI_FRAME_MAX_CEIL) == MGR_OK);
  } else {
    mgri_request q;
    rc = mgri_request_decode(data, size, deflim ? NULL : &lim, &a, &q, &err);
    if (noerr) {
      mgri_request q2;
      mgri_arena a2;
      mgri_arena_init(&a2, 8u << 20);
      FUZZ_CHECK(mgri_request_decode(data, size, deflim ? NULL : &lim, &a2, &q2,
                                     NULL) == rc);
      mgri_arena_fini(&a2);
    }
    if (rc == MGR_OK)
      FUZZ_CHECK(mgri_request_encode(&b, &q, MGRI_FRAME_MAX_CEIL) == MGR_OK);
  }
  if (rc == MGR_OK && b.len) {
    FUZZ_CHECK(b.len == size + MGRI_FRAME_HEADER);
    FUZZ_CHECK(memcmp(b.data + MGRI_FRAME_HEADER, data, size) == 0);
  }
  if (rc != MGR_OK) {
    FUZZ_CHECK(rc == MGR_EDECODE || rc == MGR_EPROTO || rc == MGR_ETOOBIG ||
               rc == MGR_ENOMEM);
    FUZZ_CHECK(err.what != NULL && err.offset <= size);
  }
  mgri_buf_fini(&b);
  mgri_arena_fini(&a);
  return 0;
}
