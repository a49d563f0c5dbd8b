/* mgr — the authkey exchange before HELLO (spec 7.8), both sides, as pure
 * state machines: bytes in, bytes out, no sockets, no clock, nonces given by
 * the caller (so vectors and the fuzzer can fix them). HMAC-SHA256 and the
 * constant-time comparison are OpenSSL's.
 *
 *   client -> server  OPEN       "MGRA" 01 Nc      37 bytes
 *   server -> client  CHALLENGE  "MGRA" 01 Ns      37 bytes
 *   client -> server  RESPONSE   Mc                32 bytes
 *   server -> client  PROOF      Ms                32 bytes
 *
 *   Mc = HMAC-SHA256(K, "mgr-auth-1 client" || Nc || Ns || B)
 *   Ms = HMAC-SHA256(K, "mgr-auth-1 server" || Nc || Ns || B)
 *
 * B is empty on a plain connection and 32 bytes of the TLS exporter inside
 * TLS. */
#ifndef MGRI_PROTO_AUTH_H
#define MGRI_PROTO_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/limits.h"

#define MGRI_AUTH_MAGIC "MGRA"
#define MGRI_AUTH_VERSION 1u
#define MGRI_AUTH_HELLO_LEN 37u /* OPEN and CHALLENGE: magic, version, nonce */
#define MGRI_AUTH_MAC_LEN 32u   /* RESPONSE and PROOF */
#define MGRI_AUTH_BINDING_MAX 32u
#define MGRI_AUTH_LABEL_LEN 17u /* "mgr-auth-1 client" */

enum { MGRI_AUTH_CLIENT = 0, MGRI_AUTH_SERVER = 1 };

/* Why a server refused (the trace's and the tests' reason). */
enum {
  MGRI_AUTH_OK = 0,
  MGRI_AUTH_BAD_OPEN = 1, /* not "MGRA" 01: not our client, or one without a
                             key talking before authentication */
  MGRI_AUTH_BAD_MAC = 2,  /* wrong key, or a replayed or reflected exchange */
  MGRI_AUTH_CRYPTO = 3    /* OpenSSL failed (memory) */
};

/* The server's side of one connection. The key is borrowed (it outlives
 * the connection). */
typedef struct mgri_auth_srv {
  const uint8_t *key;
  size_t keylen;
  uint8_t ns[MGRI_AUTH_NONCE];
  uint8_t nc[MGRI_AUTH_NONCE];
  uint8_t binding[MGRI_AUTH_BINDING_MAX];
  size_t blen;
  uint8_t in[MGRI_AUTH_IN_MAX]; /* what the peer sent, at most this */
  size_t got;
  int why; /* MGRI_AUTH_* once refused */
} mgri_auth_srv;

/* ns: this connection's fresh nonce. */
void mgri_auth_srv_init(mgri_auth_srv *a, const uint8_t *key, size_t keylen,
                        const uint8_t ns[MGRI_AUTH_NONCE]);
/* The TLS exporter, when TLS carries the exchange (blen <= 32). */
void mgri_auth_srv_bind(mgri_auth_srv *a, const uint8_t *b, size_t blen);
/* Bytes the server may read now: the rest of the OPEN, then of the
 * RESPONSE (never more: the CHALLENGE goes out before the RESPONSE is read,
 * and what follows the RESPONSE belongs to the frames). */
size_t mgri_auth_srv_want(const mgri_auth_srv *a);
/* Feeds bytes the peer sent (at most want(): more are ignored). Returns:
 *   0  more needed; *out_len bytes (0 or the CHALLENGE) to send now;
 *   1  authenticated; out holds the PROOF (*out_len 32) to send;
 *  -1  refused: send nothing more and close; a->why says why, and
 *      *offset is the byte of the peer's input where it was decided.
 * A wrong byte of the OPEN's magic or version is refused as soon as it
 * arrives. out has room for MGRI_AUTH_HELLO_LEN bytes. */
int mgri_auth_srv_feed(mgri_auth_srv *a, const uint8_t *p, size_t n,
                       uint8_t *out, size_t *out_len, size_t *offset);

/* The client's side: OPEN from nc. */
void mgri_auth_open(const uint8_t nc[MGRI_AUTH_NONCE],
                    uint8_t out[MGRI_AUTH_HELLO_LEN]);
/* Checks the CHALLENGE (magic, version) and computes the RESPONSE and the
 * PROOF the server must send. MGR_OK, MGR_EPROTO (not a challenge), or
 * MGR_ENOMEM (OpenSSL). */
int mgri_auth_client(const uint8_t *key, size_t keylen,
                     const uint8_t nc[MGRI_AUTH_NONCE],
                     const uint8_t challenge[MGRI_AUTH_HELLO_LEN],
                     const uint8_t *binding, size_t blen,
                     uint8_t response[MGRI_AUTH_MAC_LEN],
                     uint8_t proof[MGRI_AUTH_MAC_LEN]);

/* HMAC-SHA256(key, label(role) || nc || ns || binding). MGR_OK or
 * MGR_ENOMEM. */
int mgri_auth_mac(const uint8_t *key, size_t keylen, int role,
                  const uint8_t nc[MGRI_AUTH_NONCE],
                  const uint8_t ns[MGRI_AUTH_NONCE], const uint8_t *binding,
                  size_t blen, uint8_t out[MGRI_AUTH_MAC_LEN]);

/* Constant-time equality of two MACs (CRYPTO_memcmp). */
bool mgri_auth_equal(const uint8_t a[MGRI_AUTH_MAC_LEN],
                     const uint8_t b[MGRI_AUTH_MAC_LEN]);

#endif
