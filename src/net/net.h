/* mgr — the transports both sides share (spec 2): listening and connecting
 * on Unix sockets and TCP, TCP's options (TCP_NODELAY, keepalive), authkey
 * files, random bytes, and TLS through OpenSSL (tls.c). The layer between
 * the pure protocol (proto) and the two programs that do I/O with it (the
 * server's loop, the client's connections). */
#ifndef MGRI_NET_H
#define MGRI_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/addr.h"
#include "common/limits.h"

/* TCP keepalive (spec 2.7). 0 in a field: its default. */
typedef struct mgri_keepalive {
  uint32_t idle_ms;     /* silence before the first probe */
  uint32_t interval_ms; /* between probes */
  uint32_t count;       /* unanswered probes after which the peer is dead */
} mgri_keepalive;

/* Fills the zero fields with the defaults (MGRI_KEEPALIVE_*_DEFAULT). */
void mgri_keepalive_fill(mgri_keepalive *ka);
/* idle + interval x count, in ms, as the kernel applies them: idle and
 * interval rounded up to whole seconds (its unit). */
uint64_t mgri_keepalive_bound_ms(const mgri_keepalive *ka);

/* Listens on a. Unix: unless any_uid, the socket's directory must be
 * private (spec 2.2); a stale socket is replaced, a live one is not taken.
 * TCP: HOST resolved with getaddrinfo; the first address that binds is
 * used; port 0 takes a free one. *bound gets the address as a client
 * should give it (TCP: numeric host, the real port). Non-blocking,
 * close-on-exec. MGR_OK, MGR_EINVAL (a path too long), MGR_ESYS (errno
 * set, detail in err). */
int mgri_net_listen(const mgri_addr *a, bool any_uid, int *fd, mgri_addr *bound,
                    char *err, size_t cap);

/* Connects to a within timeout_ms (< 0: the system's own limit), trying
 * each address HOST resolves to in turn. The socket is blocking unless
 * nonblock. TCP sockets get TCP_NODELAY and keepalive ka. MGR_OK,
 * MGR_ECONNECT (refused, unreachable, no such host or path: detail in err),
 * MGR_ETIMEDOUT, MGR_ESYS. */
int mgri_net_connect(const mgri_addr *a, int64_t timeout_ms, bool nonblock,
                     const mgri_keepalive *ka, int *fd, char *err, size_t cap);

/* TCP_NODELAY and keepalive ka (filled with defaults) on a TCP socket: a
 * small request and its reply are never held back by Nagle's algorithm, and
 * a peer whose host died or whose link was cut is detected within
 * mgri_keepalive_bound_ms (TCP_USER_TIMEOUT bounds unacknowledged data the
 * same way). MGR_OK or MGR_ESYS. */
int mgri_net_tcp_tune(int fd, const mgri_keepalive *ka);

/* The peer's address as text ("tcp://[::1]:41000", "unix"), for traces. */
void mgri_net_peer(int fd, char *buf, size_t cap);

/* Reads an authkey file (spec 2.8): a regular file of this user's, that
 * neither group nor others may read or write, holding 32..1024 bytes (one
 * trailing LF or CRLF is not part of the key). MGR_OK with *len set,
 * MGR_EPERM (its owner or mode: err says what to do), MGR_EINVAL (too short
 * or too long), MGR_ESYS (cannot open or read). */
int mgri_authkey_file(const char *path, uint8_t key[MGRI_AUTHKEY_MAX],
                      size_t *len, char *err, size_t cap);

/* n bytes from getrandom(2). MGR_OK or MGR_ESYS. */
int mgri_random(void *buf, size_t n);

/* --- TLS (tls.c) ---------------------------------------------------------- */

struct ssl_st;
struct ssl_ctx_st;

/* A server context: TLS 1.3 only, certificate chain and key from PEM files;
 * with ca, clients must present a certificate that chains to it. MGR_OK,
 * MGR_EINVAL (a file missing or unreadable, key and certificate that do not
 * match: detail in err), MGR_ENOMEM. */
int mgri_tls_server_ctx(const char *cert, const char *key, const char *ca,
                        struct ssl_ctx_st **out, char *err, size_t cap);
/* A client context: TLS 1.3 only, the server's certificate verified against
 * ca (NULL: the system's trust store); cert and key (both or neither) are
 * presented to a server that asks. Errors as mgri_tls_server_ctx. */
int mgri_tls_client_ctx(const char *ca, const char *cert, const char *key,
                        struct ssl_ctx_st **out, char *err, size_t cap);
void mgri_tls_ctx_free(struct ssl_ctx_st *ctx);

/* A TLS connection over fd (not owned): a client's when name is not NULL
 * (the name the server's certificate must carry, sent as SNI when it is
 * not an IP address), else a server's. NULL when out of memory. */
struct ssl_st *mgri_tls_new(struct ssl_ctx_st *ctx, int fd, const char *name);
void mgri_tls_free(struct ssl_st *s);

/* The I/O below never blocks on its own: on a would-block they return -1
 * with errno EAGAIN and *want set to POLLIN or POLLOUT (a TLS read may need
 * to write and a write to read). Other failures: -1 with errno EPROTO (TLS
 * error, detail from mgri_tls_error) or the socket's errno. */

/* One step of the handshake: 1 done, 0 in progress (*want set), -1 failed
 * (detail in err: the verification failure, or OpenSSL's reason). */
int mgri_tls_handshake(struct ssl_st *s, int *want, char *err, size_t cap);
/* > 0 bytes read, 0 at the end of the stream. */
ssize_t mgri_tls_recv(struct ssl_st *s, void *p, size_t n, int *want);
ssize_t mgri_tls_send(struct ssl_st *s, const void *p, size_t n, int *want);
/* Decrypted bytes buffered inside the TLS connection (a poll would not see
 * them). */
size_t mgri_tls_pending(struct ssl_st *s);
/* The channel binding of spec 7.8: 32 bytes of the TLS exporter with label
 * "EXPORTER-mgr-auth-1" and no context. MGR_OK or MGR_EPROTO. */
int mgri_tls_binding(struct ssl_st *s, uint8_t out[32]);
/* The last TLS error of this thread as text (and clears the queue). */
void mgri_tls_error(char *buf, size_t cap);

#endif
