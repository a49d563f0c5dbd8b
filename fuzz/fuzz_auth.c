/* mgr fuzz target — what a server reads before a peer is authenticated
 * (spec 7.8): the authkey exchange's server side fed the input as the
 * peer's bytes, in pieces the input chooses. Input:
 *
 *   byte 0   mode: bit 0 TLS binding on; bit 1 "honest": the harness writes
 *            a correct OPEN ‖ RESPONSE for the nonce Nc the input gives, then
 *            flips the bit the input names (or none), so the fuzzer reaches
 *            success and every near miss; bits 2-5 the number of chunk sizes
 *   then     the chunk sizes (1 byte each, size + 1), then (honest) Nc (32
 *            bytes) and the flip (2 bytes: position, bit; position >= 69 is
 *            none), then the peer's bytes
 *
 * Checks: the server never takes more than want() and never more than 69
 * bytes in all; it sends nothing before the OPEN is whole, then exactly the
 * CHALLENGE (its magic, version and nonce), then the PROOF (the server's MAC)
 * only on success; it succeeds iff the 69 bytes are the exact OPEN and
 * RESPONSE for the key (the honest input without a flip), refuses a bad
 * head at the very byte, a bad MAC at byte 69; every chunking gives the same
 * outcome and bytes; after a refusal it takes nothing more. The client's
 * side: any 37 bytes are a CHALLENGE iff they start "MGRA" 01. */
#include <string.h>

#include "fuzz.h"
#include "mgr/error.h"
#include "proto/auth.h"

static const uint8_t KEY[40] = "fuzz key: forty bytes, more than 32 ...";
static const uint8_t NS[32] = {0x5e, 0x12, 0x99, 0x01, 0xab, 0x77, 0x00, 0xfe,
                               0x10, 0x20, 0x30, 0x40, 0x50, 0x60, 0x70, 0x80,
                               0x91, 0xa2, 0xb3, 0xc4, 0xd5, 0xe6, 0xf7, 0x08,
                               0x19, 0x2a, 0x3b, 0x4c, 0x5d, 0x6e, 0x7f, 0x80};
static const uint8_t BIND[32] = {1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11,
                                 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22,
                                 23, 24, 25, 26, 27, 28, 29, 30, 31, 32};

typedef struct outcome {
  int r;        /* 1 authenticated, -1 refused, 0 wants more */
  size_t taken; /* bytes fed and accepted */
  size_t at;    /* refusal offset */
  uint8_t out[MGRI_AUTH_HELLO_LEN + MGRI_AUTH_MAC_LEN];
  size_t olen;
} outcome;

static outcome run(const uint8_t *p, size_t n, bool tls, const uint8_t *sizes,
                   size_t nsizes) {
  outcome o;
  memset(&o, 0, sizeof o);
  mgri_auth_srv a;
  mgri_auth_srv_init(&a, KEY, sizeof KEY, NS);
  if (tls) mgri_auth_srv_bind(&a, BIND, sizeof BIND);
  size_t off = 0, k = 0;
  while (off < n && o.r == 0) {
    size_t want = mgri_auth_srv_want(&a);
    FUZZ_CHECK(want > 0 && want <= MGRI_AUTH_IN_MAX - off);
    size_t chunk = nsizes ? (size_t)sizes[k++ % nsizes] + 1 : n - off;
    if (chunk > n - off) chunk = n - off;
    if (chunk > want) chunk = want; /* as the loop reads: at most want() */
    uint8_t out[MGRI_AUTH_HELLO_LEN];
    size_t olen = 99, at = 0;
    o.r = mgri_auth_srv_feed(&a, p + off, chunk, out, &olen, &at);
    FUZZ_CHECK(olen == 0 || olen == MGRI_AUTH_HELLO_LEN ||
               olen == MGRI_AUTH_MAC_LEN);
    FUZZ_CHECK(o.olen + olen <= sizeof o.out);
    memcpy(o.out + o.olen, out, olen);
    o.olen += olen;
    if (o.r < 0) {
      o.at = at;
      FUZZ_CHECK(at <= off + chunk);
      /* Refused: it takes nothing more. */
      FUZZ_CHECK(mgri_auth_srv_want(&a) == 0);
      size_t olen2 = 0, at2 = 0;
      FUZZ_CHECK(mgri_auth_srv_feed(&a, p, n, out, &olen2, &at2) == -1 &&
                 olen2 == 0);
      break;
    }
    off += chunk;
  }
  o.taken = off;
  FUZZ_CHECK(o.taken <= MGRI_AUTH_IN_MAX);
  return o;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fuzz_in in = {data, size, 0};
  uint8_t mode = fuzz_u8(&in);
  bool tls = mode & 1, honest = mode & 2;
  size_t nsizes = (mode >> 2) & 15;
  size_t got;
  const uint8_t *sizes = fuzz_take(&in, nsizes, &got);
  nsizes = got;
  uint8_t buf[4096];
  size_t n = 0;
  bool exact = false;
  if (honest) {
    uint8_t nc[32] = {0};
    const uint8_t *q = fuzz_take(&in, 32, &got);
    memcpy(nc, q, got);
    size_t pos = fuzz_u8(&in);
    uint8_t bit = fuzz_u8(&in) & 7;
    mgri_auth_open(nc, buf);
    FUZZ_CHECK(mgri_auth_mac(KEY, sizeof KEY, MGRI_AUTH_CLIENT, nc, NS,
                             tls ? BIND : NULL, tls ? sizeof BIND : 0,
                             buf + MGRI_AUTH_HELLO_LEN) == MGR_OK);
    n = MGRI_AUTH_IN_MAX;
    if (pos < n) buf[pos] ^= (uint8_t)(1u << bit);
    exact = pos >= n;
  }
  const uint8_t *rest = fuzz_take(&in, sizeof buf - n, &got);
  memcpy(buf + n, rest, got);
  n += got;

  outcome whole = run(buf, n, tls, NULL, 0);
  outcome split = run(buf, n, tls, sizes, nsizes);
  FUZZ_CHECK(whole.r == split.r && whole.at == split.at &&
             whole.olen == split.olen &&
             !memcmp(whole.out, split.out, whole.olen));

  /* What the server sent: the CHALLENGE once the OPEN was whole, and the
   * PROOF only on success. */
  bool open_ok = n >= 5 && !memcmp(buf, "MGRA\x01", 5);
  if (whole.olen) {
    FUZZ_CHECK(open_ok && (whole.taken >= MGRI_AUTH_HELLO_LEN || whole.r < 0));
    FUZZ_CHECK(!memcmp(whole.out, "MGRA\x01", 5) &&
               !memcmp(whole.out + 5, NS, 32));
  }
  if (whole.r == 1) {
    FUZZ_CHECK(whole.olen == MGRI_AUTH_HELLO_LEN + MGRI_AUTH_MAC_LEN);
    uint8_t ms[32];
    mgri_auth_mac(KEY, sizeof KEY, MGRI_AUTH_SERVER, buf + 5, NS,
                  tls ? BIND : NULL, tls ? sizeof BIND : 0, ms);
    FUZZ_CHECK(!memcmp(whole.out + MGRI_AUTH_HELLO_LEN, ms, 32));
  } else {
    FUZZ_CHECK(whole.olen == 0 || whole.olen == MGRI_AUTH_HELLO_LEN);
  }
  /* Success iff the exact exchange. */
  if (honest) FUZZ_CHECK((whole.r == 1) == exact);
  if (whole.r == 1) {
    uint8_t mc[32];
    mgri_auth_mac(KEY, sizeof KEY, MGRI_AUTH_CLIENT, buf + 5, NS,
                  tls ? BIND : NULL, tls ? sizeof BIND : 0, mc);
    FUZZ_CHECK(!memcmp(buf + MGRI_AUTH_HELLO_LEN, mc, 32));
  }
  /* A refusal names its byte: the first wrong one of the head, or 69. */
  if (whole.r < 0) {
    size_t first_bad = 5;
    for (size_t i = 0; i < 5 && i < n; i++)
      if (buf[i] != (uint8_t) "MGRA\x01"[i]) {
        first_bad = i;
        break;
      }
    FUZZ_CHECK(whole.at == (first_bad < 5 ? first_bad : MGRI_AUTH_IN_MAX));
  }
  if (whole.r == 0) FUZZ_CHECK(n < MGRI_AUTH_IN_MAX && whole.taken == n);

  /* The client's side reads any 37 bytes as a CHALLENGE or refuses them. */
  if (n >= MGRI_AUTH_HELLO_LEN) {
    uint8_t nc[32] = {0}, resp[32], proof[32];
    int rc = mgri_auth_client(KEY, sizeof KEY, nc, buf, NULL, 0, resp, proof);
    FUZZ_CHECK(rc == (open_ok ? MGR_OK : MGR_EPROTO));
  }
  return 0;
}
