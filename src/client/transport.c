/* mgr client: the transports under a connection (spec 2, 7.8): the address,
 * connecting, the Unix peer's uid, TLS, the authkey exchange, and the send
 * and receive the call path (conn.c) goes through. */
#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <limits.h>
#include <unistd.h>

#include "internal.h"
#include "mgr/error.h"
#include "proto/auth.h"

#define ERR(...) (err && cap ? (void)snprintf(err, cap, __VA_ARGS__) : (void)0)

int mgri_transport_key(const mgr_options *opt, const mgri_addr *a,
                       uint8_t key[MGRI_AUTHKEY_MAX], size_t *len, char *err,
                       size_t cap) {
  *len = 0;
  if (opt->authkey) {
    if (opt->authkey_len < MGRI_AUTHKEY_MIN ||
        opt->authkey_len > MGRI_AUTHKEY_MAX) {
      ERR("an authkey has %u to %u bytes, not %zu", MGRI_AUTHKEY_MIN,
          MGRI_AUTHKEY_MAX, opt->authkey_len);
      return MGR_EINVAL;
    }
    memcpy(key, opt->authkey, opt->authkey_len);
    *len = opt->authkey_len;
    return MGR_OK;
  }
  if (opt->authkey_len) {
    ERR("authkey_len without authkey");
    return MGR_EINVAL;
  }
  if (opt->authkey_file)
    return mgri_authkey_file(opt->authkey_file, key, len, err, cap);
  if (!mgri_addr_is_net(a)) return MGR_OK;
  /* The environment, for remote managers only (a local one relies on the
   * uid check; a key there is asked for explicitly). */
  const char *f = secure_getenv("MGR_AUTHKEY_FILE");
  if (f && *f) return mgri_authkey_file(f, key, len, err, cap);
  const char *k = secure_getenv("MGR_AUTHKEY");
  if (k && *k) {
    size_t n = strlen(k);
    if (n < MGRI_AUTHKEY_MIN || n > MGRI_AUTHKEY_MAX) {
      ERR("MGR_AUTHKEY holds %zu bytes; an authkey has %u to %u", n,
          MGRI_AUTHKEY_MIN, MGRI_AUTHKEY_MAX);
      return MGR_EINVAL;
    }
    memcpy(key, k, n);
    *len = n;
  }
  return MGR_OK;
}

static const char *env_or(const char *v, const char *name) {
  if (v) return v;
  const char *e = secure_getenv(name);
  return e && *e ? e : NULL;
}

int mgri_transport_setup(mgr_client *m, const mgr_options *opt, char *err,
                         size_t cap) {
  if (mgri_addr_parse(m->address, &m->addr, err, cap) != MGR_OK)
    return MGR_EINVAL;
  m->ka.idle_ms = opt->keepalive_idle_ms;
  m->ka.interval_ms = opt->keepalive_interval_ms;
  m->ka.count = opt->keepalive_count;
  mgri_keepalive_fill(&m->ka);
  uint8_t key[MGRI_AUTHKEY_MAX];
  size_t len = 0;
  int rc = mgri_transport_key(opt, &m->addr, key, &len, err, cap);
  if (rc != MGR_OK) return rc;
  if (mgri_addr_is_net(&m->addr) && !len) {
    ERR("%s: a manager over TCP needs an authkey (mgr_options.authkey or "
        "authkey_file, or $MGR_AUTHKEY_FILE)",
        m->address);
    return MGR_EINVAL;
  }
  if (len) {
    m->authkey = malloc(len);
    if (!m->authkey) {
      OPENSSL_cleanse(key, sizeof key);
      return MGR_ENOMEM;
    }
    memcpy(m->authkey, key, len);
    m->authkeylen = len;
    OPENSSL_cleanse(key, sizeof key);
  }
  if (m->addr.kind == MGRI_ADDR_TLS) {
    const char *name =
        opt->tls_server_name ? opt->tls_server_name : m->addr.host;
    m->tls_name = strdup(name);
    if (!m->tls_name) return MGR_ENOMEM;
    rc = mgri_tls_client_ctx(env_or(opt->tls_ca, "MGR_TLS_CA"),
                             env_or(opt->tls_cert, "MGR_TLS_CERT"),
                             env_or(opt->tls_key, "MGR_TLS_KEY"), &m->tls, err,
                             cap);
    if (rc != MGR_OK) return rc;
  }
  return MGR_OK;
}

void mgri_transport_teardown(mgr_client *m) {
  if (m->authkey) OPENSSL_cleanse(m->authkey, m->authkeylen);
  free(m->authkey);
  m->authkey = NULL;
  free(m->tls_name);
  m->tls_name = NULL;
  mgri_tls_ctx_free(m->tls);
  m->tls = NULL;
}

/* --- I/O ----------------------------------------------------------------- */

ssize_t mgri_transport_send(mgri_conn *c, const void *p, size_t n, int flags) {
  c->want = 0;
  if (!c->ssl) return send(c->fd, p, n, flags | MSG_NOSIGNAL);
  int want = 0;
  ssize_t r = mgri_tls_send(c->ssl, p, n, &want);
  if (r < 0 && errno == EAGAIN) c->want = (short)want;
  return r;
}

ssize_t mgri_transport_sendb(mgri_conn *c, const mgri_buf *b, size_t off,
                             int flags) {
  if (!b->nrefs)
    return mgri_transport_send(c, b->data + off, b->len - off, flags);
  struct iovec iov[2 * MGRI_BUF_REFS + 1];
  size_t n = mgri_buf_iov(b, off, iov, sizeof iov / sizeof iov[0]);
  if (n == 0) return 0;
  /* TLS writes one piece at a time (its records copy anyway). */
  if (c->ssl)
    return mgri_transport_send(c, iov[0].iov_base, iov[0].iov_len, flags);
  /* A plain socket: one gather. */
  c->want = 0;
  struct msghdr mh;
  memset(&mh, 0, sizeof mh);
  mh.msg_iov = iov;
  mh.msg_iovlen = n;
  return sendmsg(c->fd, &mh, flags | MSG_NOSIGNAL);
}

/* recv, keeping the descriptors SCM_RIGHTS brings (SHM_OPEN's reply, spec
 * 2.10.2): the first two are kept, any others closed. */
static ssize_t recv_fds(mgri_conn *c, void *p, size_t n) {
  struct iovec iov = {p, n};
  union {
    char b[CMSG_SPACE(8 * sizeof(int))];
    struct cmsghdr align;
  } u;
  struct msghdr mh;
  memset(&mh, 0, sizeof mh);
  mh.msg_iov = &iov;
  mh.msg_iovlen = 1;
  mh.msg_control = u.b;
  mh.msg_controllen = sizeof u.b;
  ssize_t r = recvmsg(c->fd, &mh, MSG_CMSG_CLOEXEC);
  if (r < 0) return r;
  for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm)) {
    if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS) continue;
    size_t k = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (size_t i = 0; i < k; i++) {
      int fd;
      memcpy(&fd, CMSG_DATA(cm) + i * sizeof(int), sizeof fd);
      if (c->shm_fds[0] < 0)
        c->shm_fds[0] = fd;
      else if (c->shm_fds[1] < 0)
        c->shm_fds[1] = fd;
      else
        close(fd);
    }
  }
  return r;
}

ssize_t mgri_transport_recv(mgri_conn *c, void *p, size_t n) {
  c->want = 0;
  if (!c->ssl && c->shm_expect) return recv_fds(c, p, n);
  if (!c->ssl) return recv(c->fd, p, n, 0);
  int want = 0;
  ssize_t r = mgri_tls_recv(c->ssl, p, n, &want);
  if (r < 0 && errno == EAGAIN) c->want = (short)want;
  return r;
}

short mgri_transport_events(mgri_conn *c, short dflt) {
  return c->want ? c->want : dflt;
}

bool mgri_transport_buffered(mgri_conn *c) {
  return c->ssl && mgri_tls_pending(c->ssl) > 0;
}

static void shm_close(mgri_conn *c) {
  /* After fork() the child has no mapping here (MADV_DONTFORK): munmap of
   * the range is harmless, and the parent's rings are untouched. */
  mgri_shm_detach(&c->shm);
  c->shm_on = false;
  if (c->bell >= 0) close(c->bell);
  c->bell = -1;
  for (int i = 0; i < 2; i++) {
    if (c->shm_fds[i] >= 0) close(c->shm_fds[i]);
    c->shm_fds[i] = -1;
  }
}

void mgri_transport_close(mgri_conn *c) {
  shm_close(c);
  mgri_tls_free(c->ssl);
  c->ssl = NULL;
  if (c->fd >= 0) close(c->fd);
  c->fd = -1;
}

/* --- opening ------------------------------------------------------------- */

static int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Waits for events on c until dl (< 0: none). 1 ready, 0 timed out. */
static int wait_dl(mgri_conn *c, short events, int64_t dl) {
  for (;;) {
    int left = -1;
    if (dl >= 0) {
      int64_t l = dl - now_ms();
      if (l <= 0) return 0;
      left = l > 1000000 ? 1000000 : (int)l;
    }
    struct pollfd p = {.fd = c->fd, .events = events};
    int n = poll(&p, 1, left);
    if (n > 0) return 1;
    if (n < 0 && errno != EINTR) return 1; /* the I/O call reports it */
  }
}

/* Sends all of p before dl. MGR_OK, MGR_ETIMEDOUT, MGR_ECLOSED. */
static int send_dl(mgri_conn *c, const uint8_t *p, size_t n, int64_t dl) {
  while (n) {
    ssize_t w = mgri_transport_send(c, p, n, MSG_DONTWAIT);
    if (w > 0) {
      p += w;
      n -= (size_t)w;
      continue;
    }
    if (w < 0 && errno == EINTR) continue;
    if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      if (!wait_dl(c, mgri_transport_events(c, POLLOUT), dl))
        return MGR_ETIMEDOUT;
      continue;
    }
    return MGR_ECLOSED;
  }
  return MGR_OK;
}

/* Receives exactly n bytes before dl; when magic is not NULL the first
 * bytes must be it (checked as they come: a peer that sends something else
 * is told apart at once). MGR_OK, MGR_ETIMEDOUT, MGR_ECLOSED (*got says how
 * many came), MGR_EPROTO (not the magic). */
static int recv_dl(mgri_conn *c, uint8_t *p, size_t n, const char *magic,
                   int64_t dl, size_t *got) {
  *got = 0;
  while (*got < n) {
    /* A plain socket blocks: poll first for the deadline. */
    if (!c->ssl && dl >= 0 && !wait_dl(c, POLLIN, dl)) return MGR_ETIMEDOUT;
    ssize_t r = mgri_transport_recv(c, p + *got, n - *got);
    if (r > 0) {
      *got += (size_t)r;
      if (magic && memcmp(p, magic, *got < 4 ? *got : 4)) return MGR_EPROTO;
      continue;
    }
    if (r < 0 && errno == EINTR) continue;
    if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      if (!mgri_transport_buffered(c) &&
          !wait_dl(c, mgri_transport_events(c, POLLIN), dl))
        return MGR_ETIMEDOUT;
      continue;
    }
    return MGR_ECLOSED;
  }
  return MGR_OK;
}

/* Spec 2.3: a manager under another uid reads, and can forge, everything
 * shared through it; talk to one only when the application said it expects
 * that (mgr_options.allow_other_uid). Checked before anything is sent. */
static int peer_check(mgri_conn *c) {
  struct ucred cr;
  socklen_t len = sizeof cr;
  if (getsockopt(c->fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) != 0) {
    snprintf(c->errmsg, sizeof c->errmsg, "SO_PEERCRED: %s", strerror(errno));
    return MGR_ESYS;
  }
  uid_t me = geteuid();
  if (cr.uid == me || c->m->allow_other_uid) return MGR_OK;
  snprintf(c->errmsg, sizeof c->errmsg,
           "permission denied: the manager at %s runs as uid %lu, not as this "
           "process's uid %lu (set mgr_options.allow_other_uid to accept it)",
           c->m->address, (unsigned long)cr.uid, (unsigned long)me);
  return MGR_EPERM;
}

static int tls_open(mgri_conn *c, int64_t dl) {
  mgr_client *m = c->m;
  c->ssl = mgri_tls_new(m->tls, c->fd, m->tls_name);
  if (!c->ssl) {
    snprintf(c->errmsg, sizeof c->errmsg, "TLS: out of memory");
    return MGR_ENOMEM;
  }
  for (;;) {
    int want = 0;
    char err[200];
    int r = mgri_tls_handshake(c->ssl, &want, err, sizeof err);
    if (r == 1) return MGR_OK;
    if (r < 0) {
      snprintf(c->errmsg, sizeof c->errmsg, "%s: %s", m->address, err);
      /* A certificate that does not verify is a refusal; anything else
       * (a peer that is not TLS, a reset) a failed connection. */
      return strstr(err, "verification") ? MGR_EPERM : MGR_ECONNECT;
    }
    if (!wait_dl(c, (short)want, dl)) {
      snprintf(c->errmsg, sizeof c->errmsg, "%s: TLS handshake timed out",
               m->address);
      return MGR_ETIMEDOUT;
    }
  }
}

/* Spec 7.8, the client's side: OPEN, then the CHALLENGE must come, then
 * RESPONSE, then the PROOF must be the manager's. HELLO goes only to a
 * manager that proved the key. */
static int auth(mgri_conn *c, int64_t dl) {
  mgr_client *m = c->m;
  uint8_t nc[MGRI_AUTH_NONCE], open[MGRI_AUTH_HELLO_LEN],
      ch[MGRI_AUTH_HELLO_LEN], resp[MGRI_AUTH_MAC_LEN], want[MGRI_AUTH_MAC_LEN],
      proof[MGRI_AUTH_MAC_LEN], b[MGRI_AUTH_BINDING_MAX];
  size_t blen = 0, got = 0;
  if (mgri_random(nc, sizeof nc) != MGR_OK) {
    snprintf(c->errmsg, sizeof c->errmsg, "getrandom: %s", strerror(errno));
    return MGR_ESYS;
  }
  if (c->ssl) {
    if (mgri_tls_binding(c->ssl, b) != MGR_OK) {
      snprintf(c->errmsg, sizeof c->errmsg, "TLS: no exporter");
      return MGR_EPROTO;
    }
    blen = sizeof b;
  }
  mgri_auth_open(nc, open);
  int rc = send_dl(c, open, sizeof open, dl);
  if (rc == MGR_OK) rc = recv_dl(c, ch, sizeof ch, MGRI_AUTH_MAGIC, dl, &got);
  if (rc == MGR_EPROTO || (rc == MGR_OK && ch[4] != MGRI_AUTH_VERSION)) {
    snprintf(c->errmsg, sizeof c->errmsg,
             "%s answered without an authentication challenge: it has no "
             "authkey (drop this client's), or it is not an mgr manager",
             m->address);
    return MGR_EPROTO;
  }
  if (rc == MGR_ECLOSED && got == 0) {
    snprintf(c->errmsg, sizeof c->errmsg,
             "%s closed the connection without an authentication challenge "
             "(a tls:// manager? one that refuses this client?)",
             m->address);
    return MGR_ECONNECT;
  }
  if (rc == MGR_OK && mgri_auth_client(m->authkey, m->authkeylen, nc, ch, b,
                                       blen, resp, want) != MGR_OK) {
    snprintf(c->errmsg, sizeof c->errmsg, "HMAC: out of memory");
    return MGR_ENOMEM;
  }
  if (rc == MGR_OK) rc = send_dl(c, resp, sizeof resp, dl);
  if (rc == MGR_OK) rc = recv_dl(c, proof, sizeof proof, NULL, dl, &got);
  if (rc == MGR_ETIMEDOUT) {
    snprintf(c->errmsg, sizeof c->errmsg, "%s: authentication timed out",
             m->address);
    return rc;
  }
  if (rc != MGR_OK) {
    /* The manager closes without a word on a wrong key (spec 7.8). */
    snprintf(c->errmsg, sizeof c->errmsg,
             "authentication failed: %s closed the connection (a wrong "
             "authkey?)",
             m->address);
    return MGR_EPERM;
  }
  bool ok = mgri_auth_equal(proof, want);
  OPENSSL_cleanse(want, sizeof want);
  if (!ok) {
    snprintf(c->errmsg, sizeof c->errmsg,
             "authentication failed: %s did not prove the authkey", m->address);
    return MGR_EPERM;
  }
  return MGR_OK;
}

int mgri_transport_open(mgri_conn *c) {
  mgr_client *m = c->m;
  int64_t tmo = atomic_load_explicit(&m->timeout_ms, memory_order_relaxed);
  int64_t now = now_ms(); /* any tmo >= 0 is allowed: saturate */
  int64_t dl = tmo < 0 ? -1 : tmo > INT64_MAX - now ? INT64_MAX : now + tmo;
  bool tls = m->addr.kind == MGRI_ADDR_TLS;
  char err[sizeof c->errmsg];
  int rc =
      mgri_net_connect(&m->addr, tmo, tls, &m->ka, &c->fd, err, sizeof err);
  if (rc != MGR_OK) {
    snprintf(c->errmsg, sizeof c->errmsg, "%s", err);
    return rc;
  }
  if (m->addr.kind == MGRI_ADDR_UNIX) rc = peer_check(c);
  if (rc == MGR_OK && tls) rc = tls_open(c, dl);
  if (rc == MGR_OK && m->authkeylen) rc = auth(c, dl);
  if (rc != MGR_OK) mgri_transport_close(c);
  return rc;
}

/* --- the shared-memory transport (spec 2.10) ----------------------------- */

int mgri_shm_start(mgri_conn *c, uint64_t ring, uint64_t bytes) {
  char err[160];
  int fd = c->shm_fds[0], bell = c->shm_fds[1];
  if (fd < 0 || bell < 0) {
    snprintf(c->errmsg, sizeof c->errmsg,
             "shared memory: SHM_OPEN's reply came without its descriptors");
    return MGR_EPROTO;
  }
  int rc = mgri_shm_attach(fd, bytes, &c->shm, err, sizeof err);
  if (rc == MGR_OK && c->shm.ring != ring) {
    mgri_shm_detach(&c->shm);
    snprintf(err, sizeof err, "the ring's size is not the one announced");
    rc = MGR_EPROTO;
  }
  if (rc != MGR_OK) {
    snprintf(c->errmsg, sizeof c->errmsg, "shared memory: %s", err);
    return rc;
  }
  close(fd);
  c->shm_fds[0] = c->shm_fds[1] = -1;
  c->bell = bell;
  c->req_tail = c->rep_head = 0;
  c->spin_ns = MGRI_SHM_SPIN_NS;
  c->shm_on = true;
  return MGR_OK;
}

static void ring_bell(mgri_conn *c) {
  if (!mgri_shm_load32(&c->shm, MGRI_SHM_O_SRV_BELL)) return;
  uint64_t one = 1;
  ssize_t w = write(c->bell, &one, sizeof one);
  (void)w; /* a full counter already rings */
}

/* Whether what a waiter waits for is there: room in the request ring, or
 * reply bytes (garbage words count as there: the caller finds out). */
static bool shm_ready(mgri_conn *c, bool room) {
  if (room)
    return mgri_shm_room(c->shm.ring, c->req_tail,
                         mgri_shm_load64(&c->shm, MGRI_SHM_O_REQ_HEAD)) != 0;
  return mgri_shm_avail(c->shm.ring, c->rep_head,
                        mgri_shm_load64(&c->shm, MGRI_SHM_O_REP_TAIL)) != 0;
}

static int64_t ns_left(const struct timespec *dl) {
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return (int64_t)(dl->tv_sec - now.tv_sec) * 1000000000LL +
         (dl->tv_nsec - now.tv_nsec);
}

static int64_t grow(int64_t ns) {
  ns = ns < 1000 ? 2000 : 2 * ns;
  return ns > MGRI_SHM_SPIN_NS ? MGRI_SHM_SPIN_NS : ns;
}

/* Spec 2.10.4, the client's side: spins while the manager says it may and
 * spinning has paid lately, then sleeps on its futex word (announced by
 * CLI_WAIT, rechecked after), in slices of MGRI_SHM_SLICE_MS between
 * which it looks at the socket: the manager's end shows there (or as
 * GONE). 1 ready, 0 timed out, -1 the manager is gone. */
static int shm_wait(mgri_conn *c, bool room, const struct timespec *dl) {
  if (shm_ready(c, room)) return 1;
  int64_t hint = mgri_shm_load32(&c->shm, MGRI_SHM_O_SPIN);
  if (hint > MGRI_SHM_SPIN_NS) hint = MGRI_SHM_SPIN_NS;
  /* Spinning on the CPU the manager last ran on only keeps it from
   * running: sleep at once there. */
  uint32_t cpu = mgri_shm_cpu();
  mgri_shm_store32(&c->shm, MGRI_SHM_O_CLI_CPU, cpu);
  bool apart = cpu != mgri_shm_load32(&c->shm, MGRI_SHM_O_SRV_CPU);
  int64_t budget = !apart ? 0 : c->spin_ns < hint ? c->spin_ns : hint;
  if (budget > 0) {
    int64_t end = mgri_shm_now() + budget;
    for (unsigned i = 1;; i++) {
      if (shm_ready(c, room)) {
        c->spin_ns = grow(c->spin_ns);
        return 1;
      }
      mgri_shm_pause();
      if (!(i & 31) && mgri_shm_now() >= end) break;
    }
    c->spin_ns /= 2; /* it did not pay: less next time */
  }
  int64_t slept = mgri_shm_now();
  uint32_t *fw = mgri_shm_w32(&c->shm, MGRI_SHM_O_CLI_FUTEX);
  int rc = 1;
  for (;;) {
    mgri_shm_store32(&c->shm, MGRI_SHM_O_CLI_WAIT, room ? 2 : 1);
    uint32_t v = __atomic_load_n(fw, __ATOMIC_SEQ_CST);
    if (shm_ready(c, room)) break;
    if (mgri_shm_load32(&c->shm, MGRI_SHM_O_SRV_GONE)) {
      rc = -1;
      break;
    }
    int64_t slice = (int64_t)MGRI_SHM_SLICE_MS * 1000000;
    if (dl) {
      int64_t left = ns_left(dl);
      if (left <= 0) {
        rc = 0;
        break;
      }
      if (left < slice) slice = left;
    }
    struct timespec ts = {slice / 1000000000, slice % 1000000000};
    (void)mgri_shm_futex_wait(fw, v, &ts);
    mgri_shm_store32(&c->shm, MGRI_SHM_O_CLI_WAIT, 0);
    if (shm_ready(c, room)) break;
    if (mgri_shm_load32(&c->shm, MGRI_SHM_O_SRV_GONE)) {
      rc = -1;
      break;
    }
    /* The end of the manager, or a byte it must not send: gone either
     * way. */
    struct pollfd pf = {.fd = c->fd, .events = POLLIN};
    if (poll(&pf, 1, 0) > 0) {
      rc = -1;
      break;
    }
  }
  mgri_shm_store32(&c->shm, MGRI_SHM_O_CLI_WAIT, 0);
  if (rc == 1 && apart && mgri_shm_now() - slept < MGRI_SHM_SPIN_NS)
    c->spin_ns = grow(c->spin_ns); /* a spin would have covered it */
  return rc;
}

ssize_t mgri_shm_recv(mgri_conn *c, void *p, size_t n,
                      const struct timespec *dl) {
  for (;;) {
    uint64_t tail = mgri_shm_load64(&c->shm, MGRI_SHM_O_REP_TAIL);
    int64_t r =
        mgri_shm_read(c->shm.rep, c->shm.ring, &c->rep_head, tail, p, n);
    if (r < 0) {
      errno = EPROTO;
      return -1;
    }
    if (r > 0) {
      mgri_shm_store64(&c->shm, MGRI_SHM_O_REP_HEAD, c->rep_head);
      ring_bell(c); /* a manager waiting for room to reply */
      return (ssize_t)r;
    }
    int w = shm_wait(c, false, dl);
    if (w == 0) return -2;
    if (w < 0) return 0;
  }
}

int mgri_shm_send(mgri_conn *c, const mgri_buf *b, size_t *off,
                  const struct timespec *dl) {
  size_t total = mgri_buf_total(b);
  while (*off < total) {
    struct iovec iov[2 * MGRI_BUF_REFS + 1];
    size_t k = mgri_buf_iov(b, *off, iov, sizeof iov / sizeof iov[0]);
    uint64_t head = mgri_shm_load64(&c->shm, MGRI_SHM_O_REQ_HEAD);
    size_t done = 0;
    for (size_t i = 0; i < k; i++) {
      int64_t w = mgri_shm_write(c->shm.req, c->shm.ring, &c->req_tail, head,
                                 iov[i].iov_base, iov[i].iov_len);
      if (w < 0) {
        snprintf(c->errmsg, sizeof c->errmsg,
                 "shared memory: the manager's ring position is garbage");
        return MGR_ECLOSED;
      }
      done += (size_t)w;
      if ((size_t)w < iov[i].iov_len) break;
    }
    if (done) {
      *off += done;
      mgri_shm_store64(&c->shm, MGRI_SHM_O_REQ_TAIL, c->req_tail);
      ring_bell(c);
      continue;
    }
    int w = shm_wait(c, true, dl);
    if (w == 0) return MGR_ETIMEDOUT;
    if (w < 0) return MGR_ECLOSED;
  }
  return MGR_OK;
}
