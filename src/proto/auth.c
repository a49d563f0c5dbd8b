/* mgr — the authkey exchange (spec 7.8; see auth.h). */
#include "proto/auth.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <string.h>

#include "mgr/error.h"

static const char *const labels[2] = {"mgr-auth-1 client", "mgr-auth-1 server"};

int mgri_auth_mac(const uint8_t *key, size_t keylen, int role,
                  const uint8_t nc[MGRI_AUTH_NONCE],
                  const uint8_t ns[MGRI_AUTH_NONCE], const uint8_t *binding,
                  size_t blen, uint8_t out[MGRI_AUTH_MAC_LEN]) {
  uint8_t
      msg[MGRI_AUTH_LABEL_LEN + 2 * MGRI_AUTH_NONCE + MGRI_AUTH_BINDING_MAX];
  if (blen > MGRI_AUTH_BINDING_MAX) return MGR_EINVAL;
  size_t n = 0;
  memcpy(msg, labels[role != MGRI_AUTH_CLIENT], MGRI_AUTH_LABEL_LEN);
  n += MGRI_AUTH_LABEL_LEN;
  memcpy(msg + n, nc, MGRI_AUTH_NONCE);
  n += MGRI_AUTH_NONCE;
  memcpy(msg + n, ns, MGRI_AUTH_NONCE);
  n += MGRI_AUTH_NONCE;
  if (blen) memcpy(msg + n, binding, blen);
  n += blen;
  unsigned int len = 0;
  if (!HMAC(EVP_sha256(), key, (int)keylen, msg, n, out, &len) ||
      len != MGRI_AUTH_MAC_LEN)
    return MGR_ENOMEM;
  return MGR_OK;
}

bool mgri_auth_equal(const uint8_t a[MGRI_AUTH_MAC_LEN],
                     const uint8_t b[MGRI_AUTH_MAC_LEN]) {
  return CRYPTO_memcmp(a, b, MGRI_AUTH_MAC_LEN) == 0;
}

static void hello_msg(const uint8_t nonce[MGRI_AUTH_NONCE],
                      uint8_t out[MGRI_AUTH_HELLO_LEN]) {
  memcpy(out, MGRI_AUTH_MAGIC, 4);
  out[4] = MGRI_AUTH_VERSION;
  memcpy(out + 5, nonce, MGRI_AUTH_NONCE);
}

void mgri_auth_open(const uint8_t nc[MGRI_AUTH_NONCE],
                    uint8_t out[MGRI_AUTH_HELLO_LEN]) {
  hello_msg(nc, out);
}

void mgri_auth_srv_init(mgri_auth_srv *a, const uint8_t *key, size_t keylen,
                        const uint8_t ns[MGRI_AUTH_NONCE]) {
  memset(a, 0, sizeof *a);
  a->key = key;
  a->keylen = keylen;
  memcpy(a->ns, ns, MGRI_AUTH_NONCE);
}

void mgri_auth_srv_bind(mgri_auth_srv *a, const uint8_t *b, size_t blen) {
  if (blen > MGRI_AUTH_BINDING_MAX) blen = MGRI_AUTH_BINDING_MAX;
  memcpy(a->binding, b, blen);
  a->blen = blen;
}

size_t mgri_auth_srv_want(const mgri_auth_srv *a) {
  if (a->why) return 0;
  /* The OPEN first: its CHALLENGE goes out before the RESPONSE is read. */
  return a->got < MGRI_AUTH_HELLO_LEN ? MGRI_AUTH_HELLO_LEN - a->got
                                      : MGRI_AUTH_IN_MAX - a->got;
}

int mgri_auth_srv_feed(mgri_auth_srv *a, const uint8_t *p, size_t n,
                       uint8_t *out, size_t *out_len, size_t *offset) {
  *out_len = 0;
  if (a->why) {
    *offset = a->got;
    return -1;
  }
  if (n > mgri_auth_srv_want(a)) n = mgri_auth_srv_want(a);
  for (size_t i = 0; i < n; i++) {
    size_t at = a->got;
    uint8_t b = p[i];
    a->in[a->got++] = b;
    /* The OPEN's head, byte by byte: a peer that is not an mgr client with
     * a key (a HELLO frame starts 00 00 00) is refused at its first byte. */
    if ((at < 4 && b != (uint8_t)MGRI_AUTH_MAGIC[at]) ||
        (at == 4 && b != MGRI_AUTH_VERSION)) {
      a->why = MGRI_AUTH_BAD_OPEN;
      *offset = at;
      return -1;
    }
    if (a->got == MGRI_AUTH_HELLO_LEN) {
      memcpy(a->nc, a->in + 5, MGRI_AUTH_NONCE);
      hello_msg(a->ns, out);
      *out_len = MGRI_AUTH_HELLO_LEN;
    }
  }
  if (a->got < MGRI_AUTH_IN_MAX) return 0;
  uint8_t want[MGRI_AUTH_MAC_LEN];
  *offset = MGRI_AUTH_IN_MAX;
  if (mgri_auth_mac(a->key, a->keylen, MGRI_AUTH_CLIENT, a->nc, a->ns,
                    a->binding, a->blen, want) != MGR_OK) {
    a->why = MGRI_AUTH_CRYPTO;
    return -1;
  }
  if (!mgri_auth_equal(want, a->in + MGRI_AUTH_HELLO_LEN)) {
    a->why = MGRI_AUTH_BAD_MAC;
    return -1;
  }
  if (mgri_auth_mac(a->key, a->keylen, MGRI_AUTH_SERVER, a->nc, a->ns,
                    a->binding, a->blen, out) != MGR_OK) {
    a->why = MGRI_AUTH_CRYPTO;
    return -1;
  }
  *out_len = MGRI_AUTH_MAC_LEN;
  return 1;
}

int mgri_auth_client(const uint8_t *key, size_t keylen,
                     const uint8_t nc[MGRI_AUTH_NONCE],
                     const uint8_t challenge[MGRI_AUTH_HELLO_LEN],
                     const uint8_t *binding, size_t blen,
                     uint8_t response[MGRI_AUTH_MAC_LEN],
                     uint8_t proof[MGRI_AUTH_MAC_LEN]) {
  if (memcmp(challenge, MGRI_AUTH_MAGIC, 4) ||
      challenge[4] != MGRI_AUTH_VERSION)
    return MGR_EPROTO;
  const uint8_t *ns = challenge + 5;
  int rc = mgri_auth_mac(key, keylen, MGRI_AUTH_CLIENT, nc, ns, binding, blen,
                         response);
  if (rc == MGR_OK)
    rc = mgri_auth_mac(key, keylen, MGRI_AUTH_SERVER, nc, ns, binding, blen,
                       proof);
  return rc;
}
