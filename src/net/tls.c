/* mgr — TLS 1.3 through OpenSSL (spec 2.9; see net.h): contexts, and
 * non-blocking I/O the server's one epoll loop and the client's poll loops
 * drive (a would-block says which readiness to wait for). */
#include <errno.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <arpa/inet.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/socket.h>
#include <stdio.h>
#include <string.h>

#include "mgr/error.h"
#include "net/net.h"

#define ERR(...) (err && cap ? (void)snprintf(err, cap, __VA_ARGS__) : (void)0)

void mgri_tls_error(char *buf, size_t cap) {
  unsigned long e = ERR_get_error();
  if (!e) {
    snprintf(buf, cap, "TLS error");
    return;
  }
  ERR_error_string_n(e, buf, cap);
  ERR_clear_error();
}

/* Settings both sides share: TLS 1.3 only; partial writes, and a buffer
 * that may move between retries (the server's output buffer grows); idle
 * buffers given back; the peer's EOF without close_notify is an ordinary
 * end of stream (our peers close without it). */
static SSL_CTX *ctx_new(const SSL_METHOD *m) {
  SSL_CTX *c = SSL_CTX_new(m);
  if (!c) return NULL;
  SSL_CTX_set_min_proto_version(c, TLS1_3_VERSION);
  SSL_CTX_set_mode(c, SSL_MODE_ENABLE_PARTIAL_WRITE |
                          SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                          SSL_MODE_RELEASE_BUFFERS);
  SSL_CTX_set_options(c,
                      SSL_OP_IGNORE_UNEXPECTED_EOF | SSL_OP_NO_RENEGOTIATION);
  return c;
}

static int load_pair(SSL_CTX *c, const char *cert, const char *key, char *err,
                     size_t cap) {
  char why[200];
  if (SSL_CTX_use_certificate_chain_file(c, cert) != 1) {
    mgri_tls_error(why, sizeof why);
    ERR("TLS certificate %s: %s", cert, why);
    return MGR_EINVAL;
  }
  if (SSL_CTX_use_PrivateKey_file(c, key, SSL_FILETYPE_PEM) != 1) {
    mgri_tls_error(why, sizeof why);
    ERR("TLS key %s: %s", key, why);
    return MGR_EINVAL;
  }
  if (SSL_CTX_check_private_key(c) != 1) {
    mgri_tls_error(why, sizeof why);
    ERR("TLS key %s does not match the certificate %s: %s", key, cert, why);
    return MGR_EINVAL;
  }
  return MGR_OK;
}

int mgri_tls_server_ctx(const char *cert, const char *key, const char *ca,
                        SSL_CTX **out, char *err, size_t cap) {
  *out = NULL;
  if (!cert || !key) {
    ERR("a TLS listener needs a certificate and a key");
    return MGR_EINVAL;
  }
  SSL_CTX *c = ctx_new(TLS_server_method());
  if (!c) {
    ERR("out of memory");
    return MGR_ENOMEM;
  }
  int rc = load_pair(c, cert, key, err, cap);
  if (rc == MGR_OK && ca) {
    char why[200];
    STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(ca);
    if (SSL_CTX_load_verify_locations(c, ca, NULL) != 1 || !names) {
      mgri_tls_error(why, sizeof why);
      ERR("TLS CA %s: %s", ca, why);
      rc = MGR_EINVAL;
    } else {
      SSL_CTX_set_client_CA_list(c, names);
      names = NULL;
      SSL_CTX_set_verify(c, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT,
                         NULL);
    }
    if (names) sk_X509_NAME_pop_free(names, X509_NAME_free);
  }
  if (rc != MGR_OK) {
    SSL_CTX_free(c);
    return rc;
  }
  /* One session per connection: no tickets to keep or to leak. */
  SSL_CTX_set_num_tickets(c, 0);
  SSL_CTX_set_session_cache_mode(c, SSL_SESS_CACHE_OFF);
  *out = c;
  return MGR_OK;
}

int mgri_tls_client_ctx(const char *ca, const char *cert, const char *key,
                        SSL_CTX **out, char *err, size_t cap) {
  *out = NULL;
  if (!cert != !key) {
    ERR("a TLS client certificate needs its key, and a key its certificate");
    return MGR_EINVAL;
  }
  SSL_CTX *c = ctx_new(TLS_client_method());
  if (!c) {
    ERR("out of memory");
    return MGR_ENOMEM;
  }
  int rc = MGR_OK;
  char why[200];
  if (ca ? SSL_CTX_load_verify_locations(c, ca, NULL) != 1
         : SSL_CTX_set_default_verify_paths(c) != 1) {
    mgri_tls_error(why, sizeof why);
    ERR("TLS CA %s: %s", ca ? ca : "(system default)", why);
    rc = MGR_EINVAL;
  }
  if (rc == MGR_OK && cert) rc = load_pair(c, cert, key, err, cap);
  if (rc != MGR_OK) {
    SSL_CTX_free(c);
    return rc;
  }
  SSL_CTX_set_verify(c, SSL_VERIFY_PEER, NULL);
  *out = c;
  return MGR_OK;
}

void mgri_tls_ctx_free(SSL_CTX *ctx) { SSL_CTX_free(ctx); }

/* The socket BIO: OpenSSL's own writes with write(), which raises SIGPIPE
 * in the caller when the peer is gone (the client library must never kill
 * its application, nor the server itself); this one sends with
 * MSG_NOSIGNAL. The descriptor is the BIO's data; it is not closed here. */
static BIO_METHOD *g_bio;
static pthread_once_t g_bio_once = PTHREAD_ONCE_INIT;

static int bio_fd(BIO *b) { return (int)(intptr_t)BIO_get_data(b); }

static int bio_write(BIO *b, const char *p, int n) {
  BIO_clear_retry_flags(b);
  ssize_t r;
  do
    r = send(bio_fd(b), p, (size_t)n, MSG_NOSIGNAL);
  while (r < 0 && errno == EINTR);
  if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
    BIO_set_retry_write(b);
  return (int)r;
}

static int bio_read(BIO *b, char *p, int n) {
  BIO_clear_retry_flags(b);
  ssize_t r;
  do
    r = recv(bio_fd(b), p, (size_t)n, 0);
  while (r < 0 && errno == EINTR);
  if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) BIO_set_retry_read(b);
  return (int)r;
}

static int bio_puts(BIO *b, const char *s) {
  return bio_write(b, s, (int)strlen(s));
}

static long bio_ctrl(BIO *b, int cmd, long num, void *ptr) {
  (void)b;
  (void)num;
  (void)ptr;
  return cmd == BIO_CTRL_FLUSH ? 1 : 0;
}

static int bio_create(BIO *b) {
  BIO_set_init(b, 1);
  return 1;
}

static void bio_once(void) {
  BIO_METHOD *m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK |
                                   BIO_TYPE_DESCRIPTOR,
                               "mgr socket");
  if (m && BIO_meth_set_write(m, bio_write) && BIO_meth_set_read(m, bio_read) &&
      BIO_meth_set_puts(m, bio_puts) && BIO_meth_set_ctrl(m, bio_ctrl) &&
      BIO_meth_set_create(m, bio_create)) {
    g_bio = m;
    return;
  }
  BIO_meth_free(m);
}

static bool ip_literal(const char *name) {
  unsigned char b[16];
  return inet_pton(AF_INET, name, b) == 1 || inet_pton(AF_INET6, name, b) == 1;
}

SSL *mgri_tls_new(SSL_CTX *ctx, int fd, const char *name) {
  pthread_once(&g_bio_once, bio_once);
  if (!g_bio) return NULL;
  SSL *s = SSL_new(ctx);
  BIO *b = s ? BIO_new(g_bio) : NULL;
  if (!b) {
    SSL_free(s);
    return NULL;
  }
  BIO_set_data(b, (void *)(intptr_t)fd);
  SSL_set_bio(s, b, b); /* one reference, owned by s */
  if (!name) {
    SSL_set_accept_state(s);
    return s;
  }
  SSL_set_connect_state(s);
  int ok;
  if (ip_literal(name)) {
    /* An address is checked against the certificate's IP entries. */
    X509_VERIFY_PARAM *vp = SSL_get0_param(s);
    ok = X509_VERIFY_PARAM_set1_ip_asc(vp, name) == 1;
  } else {
    ok = SSL_set_tlsext_host_name(s, name) == 1 && SSL_set1_host(s, name) == 1;
  }
  if (!ok) {
    SSL_free(s);
    return NULL;
  }
  return s;
}

void mgri_tls_free(SSL *s) { SSL_free(s); }

/* Maps an SSL_get_error() result: -1 with errno set (EAGAIN and *want for
 * a would-block), 0 for a clean end of stream. */
static int fail(SSL *s, int r, int *want) {
  int e = SSL_get_error(s, r);
  switch (e) {
  case SSL_ERROR_WANT_READ:
    *want = POLLIN;
    errno = EAGAIN;
    return -1;
  case SSL_ERROR_WANT_WRITE:
    *want = POLLOUT;
    errno = EAGAIN;
    return -1;
  case SSL_ERROR_ZERO_RETURN:
    return 0;
  case SSL_ERROR_SYSCALL:
    if (errno == 0) errno = ECONNRESET;
    if (errno == EAGAIN) errno = EPROTO; /* not a would-block OpenSSL saw */
    return -1;
  default:
    errno = EPROTO;
    return -1;
  }
}

int mgri_tls_handshake(SSL *s, int *want, char *err, size_t cap) {
  ERR_clear_error();
  int r = SSL_do_handshake(s);
  if (r == 1) return 1;
  errno = 0;
  if (fail(s, r, want) < 0 && errno == EAGAIN) return 0;
  long v = SSL_get_verify_result(s);
  if (v != X509_V_OK) {
    ERR("TLS: certificate verification failed: %s",
        X509_verify_cert_error_string(v));
  } else {
    char why[200];
    int e = errno;
    mgri_tls_error(why, sizeof why);
    if (!strcmp(why, "TLS error") && e)
      snprintf(why, sizeof why, "%s", strerror(e));
    ERR("TLS handshake failed: %s", why);
  }
  ERR_clear_error();
  return -1;
}

ssize_t mgri_tls_recv(SSL *s, void *p, size_t n, int *want) {
  ERR_clear_error();
  size_t got = 0;
  int r = SSL_read_ex(s, p, n, &got);
  if (r == 1) return (ssize_t)got;
  errno = 0;
  return fail(s, r, want);
}

ssize_t mgri_tls_send(SSL *s, const void *p, size_t n, int *want) {
  ERR_clear_error();
  size_t put = 0;
  int r = SSL_write_ex(s, p, n, &put);
  if (r == 1) return (ssize_t)put;
  errno = 0;
  int x = fail(s, r, want);
  if (x == 0) errno = EPIPE; /* the peer closed: a write cannot go on */
  return -1;
}

size_t mgri_tls_pending(SSL *s) {
  int n = SSL_pending(s);
  return n > 0 ? (size_t)n : 0;
}

int mgri_tls_binding(SSL *s, uint8_t out[32]) {
  static const char label[] = "EXPORTER-mgr-auth-1";
  return SSL_export_keying_material(s, out, 32, label, sizeof label - 1, NULL,
                                    0, 0) == 1
             ? MGR_OK
             : MGR_EPROTO;
}
