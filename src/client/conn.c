/* mgr client: connections (connect, HELLO, sessions, fork) and THE call path,
 * mgri_call(): one send of the encoded request, reads until its reply. */
#include "../trace/trace.h"
#include "common/xstruct.h"
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"
#include "mgr/error.h"

_Atomic uint64_t mgri_fork_gen;

/* Every live client, for the atfork handlers. */
static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static mgr_client *g_clients;
static pthread_once_t g_once = PTHREAD_ONCE_INIT;

/* The error detail of a thread that has no connection (connect failed). */
static _Thread_local char tl_errmsg[256];

static void conn_free(mgri_conn *c) {
  if (!c) return;
  mgri_transport_close(c);
  mgri_buf_fini(&c->out);
  mgri_reader_fini(&c->rd);
  mgri_arena_fini(&c->arena);
  free(c);
}

/* Recursive: a cold path holding it may open this thread's connection. */
static void mutex_init_recursive(pthread_mutex_t *mu) {
  pthread_mutexattr_t ma;
  pthread_mutexattr_init(&ma);
  pthread_mutexattr_settype(&ma, PTHREAD_MUTEX_RECURSIVE);
  pthread_mutex_init(mu, &ma);
  pthread_mutexattr_destroy(&ma);
}

/* ThreadSanitizer does not take pthread_mutex_init() as ending the lock
 * atfork_prepare() took: the child tells it that lock is given up before it
 * re-initialises the mutex (no effect in other builds). */
#if defined(__has_feature)
#if __has_feature(thread_sanitizer) /* clang */
#define MGRI_TSAN 1
#endif
#endif
#if defined(__SANITIZE_THREAD__) || defined(MGRI_TSAN) /* gcc, clang */
#include <sanitizer/tsan_interface.h>
#define TSAN_RELEASED(mu)                                                      \
  (__tsan_mutex_pre_unlock((mu), 0), (void)__tsan_mutex_post_unlock((mu), 0))
#else
#define TSAN_RELEASED(mu) ((void)0)
#endif

/* fork(): hold every client's mutex across it so the child never inherits
 * one locked by a thread that does not exist there. */
static void atfork_prepare(void) {
  pthread_mutex_lock(&g_mu);
  for (mgr_client *m = g_clients; m; m = m->reg_next)
    pthread_mutex_lock(&m->mu);
}

static void atfork_parent(void) {
  for (mgr_client *m = g_clients; m; m = m->reg_next)
    pthread_mutex_unlock(&m->mu);
  pthread_mutex_unlock(&g_mu);
}

/* The child: the inherited connections belong to the parent (and to its
 * session). Close our copies of their sockets; the first call here opens a new
 * connection and a new session, and re-takes the references of the proxies we
 * inherited. Only the forking thread exists, so resetting its key suffices. */
static void atfork_child(void) {
  atomic_fetch_add_explicit(&mgri_fork_gen, 1, memory_order_relaxed);
  for (mgr_client *m = g_clients; m; m = m->reg_next) {
    mgri_conn *c = m->conns;
    while (c) {
      mgri_conn *next = c->next;
      conn_free(c);
      c = next;
    }
    m->conns = NULL;
    m->primary = NULL;
    m->session = 0;
    pthread_setspecific(m->key, NULL);
    /* Not unlock: a recursive mutex checks its owner's tid, which changed. */
    TSAN_RELEASED(&m->mu);
    mutex_init_recursive(&m->mu);
  }
  pthread_mutex_t fresh = PTHREAD_MUTEX_INITIALIZER;
  TSAN_RELEASED(&g_mu);
  g_mu = fresh;
}

static pthread_key_t g_owned;
static bool g_owned_ok;

static void once_init(void) {
  pthread_atfork(atfork_prepare, atfork_parent, atfork_child);
  g_owned_ok = pthread_key_create(&g_owned, free) == 0;
}

/* A large result received straight into the block the caller gets is the
 * calling thread's (g_owned, a key: a thread that exits frees its own)
 * until mgri_result_out hands it over or the thread's next call frees it. */
static void owned_set(char *p) {
  if (!g_owned_ok) {
    free(p);
    return;
  }
  free(pthread_getspecific(g_owned));
  pthread_setspecific(g_owned, p);
}

/* A thread exits: close its connection, unless it holds the session. */
static void conn_dtor(void *p) {
  mgri_conn *c = p;
  mgr_client *m = c->m;
  if (c->primary) return;
  pthread_mutex_lock(&m->mu);
  for (mgri_conn **pp = &m->conns; *pp; pp = &(*pp)->next) {
    if (*pp == c) {
      *pp = c->next;
      break;
    }
  }
  pthread_mutex_unlock(&m->mu);
  conn_free(c);
}

void mgr_options_init_(mgr_options *opt, size_t size) {
  if (!opt || size < sizeof(size_t)) return;
  /* The caller's struct may be larger (a newer header): its unknown fields
   * zeroed, ours set. */
  memset(opt, 0, size);
  mgr_options d;
  memset(&d, 0, sizeof d);
  d.size = sizeof d;
  d.timeout_ms = -1;
  memcpy(opt, &d, size < sizeof d ? size : sizeof d);
  opt->size = size;
}

int mgri_options_get(const mgr_options *opt, mgr_options *o) {
  mgr_options_init(o);
  return opt ? mgri_xstruct_in(o, sizeof *o, opt) : MGR_OK;
}

const char *mgr_address(const mgr_client *m) { return m->address; }

int64_t mgr_server_pid(const mgr_client *m) {
  return m ? atomic_load_explicit(&((mgr_client *)m)->server_pid,
                                  memory_order_relaxed)
           : 0;
}

int mgri_client_new(const char *address, const mgr_options *given,
                    mgr_client **out) {
  pthread_once(&g_once, once_init);
  mgr_options o;
  if (mgri_options_get(given, &o)) return MGR_EINVAL;
  const mgr_options *opt = &o;
  mgr_client *m = calloc(1, sizeof *m);
  if (!m) return MGR_ENOMEM;
  m->address = strdup(address);
  if (!m->address) {
    free(m);
    return MGR_ENOMEM;
  }
  char err[256] = "";
  int rc = mgri_transport_setup(m, opt, err, sizeof err);
  if (rc != MGR_OK) {
    mgri_seterr(NULL, "%s", err[0] ? err : mgr_strerror(rc));
    mgri_transport_teardown(m);
    free(m->address);
    free(m);
    return rc;
  }
  if (pthread_key_create(&m->key, conn_dtor) != 0) {
    mgri_transport_teardown(m);
    free(m->address);
    free(m);
    return MGR_ESYS;
  }
  mutex_init_recursive(&m->mu);
  atomic_init(&m->timeout_ms, opt->timeout_ms < 0 ? -1 : opt->timeout_ms);
  m->allow_other_uid = opt->allow_other_uid;
  {
    /* Spec 2.10: on by default; off by option or by $MGR_SHM=0. */
    const char *e = secure_getenv("MGR_SHM");
    m->no_shm = opt->no_shm || (e && strcmp(e, "0") == 0);
  }
  uint32_t mf = opt->max_frame ? opt->max_frame : MGRI_FRAME_MAX_DEFAULT;
  if (mf > MGRI_FRAME_MAX_CEIL) mf = MGRI_FRAME_MAX_CEIL;
  m->max_frame = mf;
  pthread_mutex_lock(&g_mu);
  m->reg_next = g_clients;
  g_clients = m;
  pthread_mutex_unlock(&g_mu);
  *out = m;
  return MGR_OK;
}

void mgri_client_free(mgr_client *m) {
  if (!m) return;
  owned_set(NULL);
  pthread_mutex_lock(&g_mu);
  for (mgr_client **pp = &g_clients; *pp; pp = &(*pp)->reg_next) {
    if (*pp == m) {
      *pp = m->reg_next;
      break;
    }
  }
  pthread_mutex_unlock(&g_mu);
  pthread_key_delete(m->key);
  mgri_conn *c = m->conns;
  while (c) {
    mgri_conn *next = c->next;
    conn_free(c);
    c = next;
  }
  free(m->refs);
  mgri_transport_teardown(m);
  free(m->address);
  free(m->tmpdir);
  pthread_mutex_destroy(&m->mu);
  free(m);
}

void mgri_seterr(mgr_client *m, const char *fmt, ...) {
  mgri_conn *c = m ? pthread_getspecific(m->key) : NULL;
  char *dst = c ? c->errmsg : tl_errmsg;
  size_t cap = c ? sizeof c->errmsg : sizeof tl_errmsg;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(dst, cap, fmt, ap);
  va_end(ap);
}

const char *mgr_errmsg(const mgr_client *m) {
  mgri_conn *c = m ? pthread_getspecific(m->key) : NULL;
  return c ? c->errmsg : tl_errmsg;
}

void mgr_set_timeout(mgr_client *m, int64_t timeout_ms) {
  if (m) atomic_store(&m->timeout_ms, timeout_ms < 0 ? -1 : timeout_ms);
}

/* --- the call path ------------------------------------------------------- */

static int broken(mgri_conn *c, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int broken(mgri_conn *c, int err, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(c->errmsg, sizeof c->errmsg, fmt, ap);
  va_end(ap);
  c->broken = true;
  c->broken_err = err;
  mgri_transport_close(c);
  return err;
}

static void deadline_set(struct timespec *dl, int ms) {
  clock_gettime(CLOCK_MONOTONIC, dl);
  dl->tv_sec += ms / 1000;
  dl->tv_nsec += (long)(ms % 1000) * 1000000L;
  if (dl->tv_nsec >= 1000000000L) {
    dl->tv_sec++;
    dl->tv_nsec -= 1000000000L;
  }
}

/* Milliseconds left until dl (rounded up), 0 when passed. */
static int deadline_left(const struct timespec *dl) {
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  int64_t ns = (int64_t)(dl->tv_sec - now.tv_sec) * 1000000000LL +
               (dl->tv_nsec - now.tv_nsec);
  if (ns <= 0) return 0;
  int64_t ms = (ns + 999999) / 1000000;
  return ms > INT32_MAX ? INT32_MAX : (int)ms;
}

/* Waits for events on c->fd until dl (NULL: no deadline). 1 ready, 0 timed
 * out. */
static int wait_fd(mgri_conn *c, short events, const struct timespec *dl) {
  for (;;) {
    int left = dl ? deadline_left(dl) : -1;
    if (left == 0) return 0;
    struct pollfd pfd = {.fd = c->fd, .events = events};
    int n = poll(&pfd, 1, left);
    if (n > 0) return 1;
    if (n == 0) return 0;
    if (errno != EINTR) return 1; /* let the I/O call report it */
  }
}

/* Sends all of b (its referenced runs too: large strings go from the
 * caller's memory to the socket without a copy). */
static int send_all(mgri_conn *c, const mgri_buf *b, int tmo,
                    const struct timespec *dl) {
  size_t off = 0, len = mgri_buf_total(b);
  if (c->shm_on) {
    int rc = mgri_shm_send(c, b, &off, tmo >= 0 ? dl : NULL);
    if (rc == MGR_OK) return MGR_OK;
    if (rc == MGR_ETIMEDOUT && off == 0) {
      snprintf(c->errmsg, sizeof c->errmsg, "timed out sending a request");
      return rc;
    }
    if (rc == MGR_ETIMEDOUT) /* half a frame went in: the stream is lost */
      return broken(c, rc, "timed out sending a request");
    return broken(c, MGR_ECLOSED, "connection to the manager lost: %s",
                  c->errmsg[0] ? c->errmsg : "it closed");
  }
  int flags = MSG_NOSIGNAL | (tmo >= 0 ? MSG_DONTWAIT : 0);
  while (off < len) {
    ssize_t n = mgri_transport_sendb(c, b, off, flags);
    if (n > 0) {
      off += (size_t)n;
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    /* A TLS socket is non-blocking, whatever the timeout. */
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) &&
        (tmo >= 0 || c->ssl)) {
      if (wait_fd(c, mgri_transport_events(c, POLLOUT), tmo >= 0 ? dl : NULL))
        continue;
      if (off > 0) /* half a frame went out: the stream is lost */
        return broken(c, MGR_ETIMEDOUT, "timed out sending a request");
      snprintf(c->errmsg, sizeof c->errmsg, "timed out sending a request");
      return MGR_ETIMEDOUT;
    }
    return broken(c, MGR_ECLOSED, "connection to the manager lost: %s",
                  n < 0 ? strerror(errno) : "short write");
  }
  return MGR_OK;
}

/* Whether a late reply to op, after the call timed out locally, may hand
 * this connection something nobody waits for any more (mgr/sync.h). */
static bool orphan_op(uint64_t op) {
  return op == MGRI_OP_LOCK_ACQUIRE || op == MGRI_OP_COND_ACQUIRE ||
         op == MGRI_OP_SEM_ACQUIRE || op == MGRI_OP_QUEUE_GET;
}

/* A late reply to a call that timed out: what it granted is given back — a
 * lock released, a semaphore's unit released, a queue's item put back (at
 * the tail, without waiting: a queue that filled up meanwhile refuses it,
 * and it is lost). The give-back's own reply is stale too. */
static void orphan_reply(mgri_conn *c, const mgri_reply *rep, int tmo,
                         const struct timespec *dl) {
  for (int i = 0; i < MGRI_ORPHANS_MAX; i++) {
    mgri_orphan *o = &c->orphans[i];
    if (!o->oid || o->rid != rep->rid) continue;
    uint64_t oid = o->oid, op = o->op;
    o->oid = 0;
    if (rep->status != MGR_OK) return;
    const mgr_value *r = &rep->result;
    mgr_value args[2];
    mgri_request rq = {
        .rid = c->next_rid, .oid = oid, .args = args, .nargs = 0};
    switch (op) {
    case MGRI_OP_LOCK_ACQUIRE:
    case MGRI_OP_COND_ACQUIRE:
      if (r->type != MGR_T_INT || r->u.i == 0) return;
      rq.op = op == MGRI_OP_LOCK_ACQUIRE ? MGRI_OP_LOCK_RELEASE
                                         : MGRI_OP_COND_RELEASE;
      break;
    case MGRI_OP_SEM_ACQUIRE:
      if (r->type != MGR_T_BOOL || !r->u.b) return;
      rq.op = MGRI_OP_SEM_RELEASE;
      break;
    case MGRI_OP_QUEUE_GET:
      rq.op = MGRI_OP_QUEUE_PUT;
      args[0] = *r;
      args[1] = mgr_bool(false);
      rq.nargs = 2;
      break;
    default:
      return;
    }
    c->next_rid++;
    mgri_buf_clear(&c->out);
    if (mgri_request_encode(&c->out, &rq, c->send_max) == MGR_OK)
      send_all(c, &c->out, tmo, dl);
    return;
  }
}

static void orphan_add(mgri_conn *c, uint64_t rid, uint64_t oid, uint64_t op) {
  mgri_orphan *slot = &c->orphans[rid % MGRI_ORPHANS_MAX];
  for (int i = 0; i < MGRI_ORPHANS_MAX; i++) {
    if (!c->orphans[i].oid) {
      slot = &c->orphans[i];
      break;
    }
  }
  /* Full: one slot is reused; its grant stays with this connection. */
  slot->rid = rid;
  slot->oid = oid;
  slot->op = op;
}

/* Codes after which the server closes the connection (spec 10.3). */
static bool fatal(int status) {
  return status == MGR_EPROTO || status == MGR_EDECODE ||
         status == MGR_ETOOBIG || status == MGR_EVERSION ||
         status == MGR_EPERM || status == MGR_ESHUTDOWN;
}

/* Waits until c can be read (for the deadline when tmo >= 0) and reads
 * up to n bytes at p: > 0 bytes read, 0 end of stream, -1 an error (errno),
 * -2 timed out. */
static ssize_t read_some(mgri_conn *c, void *p, size_t n, int tmo,
                         const struct timespec *dl) {
  if (c->shm_on) return mgri_shm_recv(c, p, n, tmo >= 0 ? dl : NULL);
  for (;;) {
    if ((tmo >= 0 || c->ssl) && !mgri_transport_buffered(c) &&
        !wait_fd(c, mgri_transport_events(c, POLLIN), tmo >= 0 ? dl : NULL))
      return -2;
    ssize_t r = mgri_transport_recv(c, p, n);
    if (r >= 0) return r;
    if (errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK) return -1;
  }
}

static uint32_t be32(const uint8_t *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 |
         p[3];
}

/* A reply [rid, 0, text or bytes] whose frame is larger than
 * MGRI_IDLE_BUF_MAX, recognised from its first bytes: its string goes from
 * the transport straight into a block of its own, which becomes the
 * caller's value without a copy (mgri_result_out). The checks are the
 * decoder's for this shape (shortest heads, a rid within the profile's
 * uints, the string filling the frame, UTF-8 for text); anything else
 * goes the ordinary way. 1 with *out filled, 0 not this shape (nothing
 * consumed), or an error (timed out: what was read is back in the reader,
 * the stream in step; no memory for the block: nothing consumed). */
static int recv_direct(mgri_conn *c, int tmo, const struct timespec *dl,
                       mgri_reply *out) {
  size_t have;
  const uint8_t *p = mgri_reader_peek(&c->rd, &have);
  /* header, 0x83, a rid head, 0x00, a 5-byte string head */
  if (!p || have < MGRI_FRAME_HEADER + 8) return 0;
  uint32_t n = be32(p);
  if (n <= MGRI_IDLE_BUF_MAX || n > c->rd.frame_max) return 0;
  const uint8_t *b = p + MGRI_FRAME_HEADER;
  if (b[0] != 0x83 || (b[1] >> 5) != 0) return 0;
  unsigned ai = b[1] & 31;
  size_t rl = ai < 24 ? 0 : ai <= 27 ? (size_t)1 << (ai - 24) : 9;
  if (rl == 9) return 0;
  size_t k = 2 + rl; /* the code's offset */
  if (have < MGRI_FRAME_HEADER + k + 6) return 0;
  uint64_t rid = ai < 24 ? ai : 0;
  for (size_t i = 0; i < rl; i++)
    rid = rid << 8 | b[2 + i];
  static const uint64_t floor_[4] = {24, 0x100, 0x10000, 0x100000000ull};
  if ((ai >= 24 && rid < floor_[ai - 24]) || rid > INT64_MAX) return 0;
  if (b[k] != 0x00 || (b[k + 1] != 0x5a && b[k + 1] != 0x7a)) return 0;
  bool text = b[k + 1] == 0x7a;
  uint32_t len = be32(b + k + 2);
  k += 6; /* the string's first byte */
  if (len < 0x10000 || k + len != n) return 0;
  char *blk = malloc((size_t)len + 1);
  if (!blk) {
    /* Nothing taken: the reply waits, and is skipped as stale by the next
     * call (as when the reader cannot grow). */
    snprintf(c->errmsg, sizeof c->errmsg,
             "out of memory for a reply of %lu bytes", (unsigned long)n);
    return MGR_ENOMEM;
  }
  size_t got = have - MGRI_FRAME_HEADER - k;
  if (got > len) got = len;
  memcpy(blk, b + k, got);
  size_t inbuf = got;
  while (got < len) {
    ssize_t r = read_some(c, blk + got, len - got, tmo, dl);
    if (r > 0) {
      got += (size_t)r;
      continue;
    }
    if (r == -2) {
      /* What came goes back behind the frame's start: the next call
       * reads on from there. */
      int f = mgri_reader_feed(&c->rd, blk + inbuf, got - inbuf);
      free(blk);
      if (f != MGR_OK) return broken(c, f, "out of memory");
      snprintf(c->errmsg, sizeof c->errmsg, "no reply within %d ms", tmo);
      return MGR_ETIMEDOUT;
    }
    free(blk);
    return broken(c, MGR_ECLOSED, "connection to the manager lost: %s",
                  r == 0 ? "end of stream" : strerror(errno));
  }
  mgri_reader_take(&c->rd, MGRI_FRAME_HEADER + k + inbuf, len - inbuf);
  if (text && !mgri_utf8_valid(blk, len)) {
    free(blk);
    return broken(c, MGR_EDECODE, "malformed reply at offset %zu: %s", k - 5,
                  "invalid UTF-8");
  }
  blk[len] = '\0';
  owned_set(blk);
  memset(out, 0, sizeof *out);
  out->rid = rid;
  out->status = MGR_OK;
  out->result = text ? mgr_textn(blk, len) : mgr_bytes(blk, len);
  c->reply_len = n;
  return 1;
}

static int recv_reply(mgri_conn *c, uint64_t rid, int tmo,
                      const struct timespec *dl, mgri_reply *out) {
  for (;;) {
    const uint8_t *body;
    size_t len;
    int r = mgri_reader_next(&c->rd, &body, &len);
    if (r < 0)
      return broken(c, r, "bad reply frame: %s",
                    c->rd.errmsg[0] ? c->rd.errmsg : mgr_strerror(r));
    bool direct = false;
    if (r == 0) {
      r = recv_direct(c, tmo, dl, out);
      direct = r == 1;
    }
    if (r < 0) return r;
    if (r == 1) {
      if (!direct) {
        c->reply_len = len;
        mgri_decode_error de = {0, 0, NULL};
        int d = mgri_reply_decode(body, len, &c->lim, &c->arena, out, &de);
        if (d == MGR_ENOMEM) {
          /* The frame is consumed, the stream in step: this call fails,
           * the connection stays usable (its reply, if this was not it,
           * comes later and is skipped as stale). */
          snprintf(c->errmsg, sizeof c->errmsg,
                   "out of memory decoding a reply of %zu bytes", len);
          return MGR_ENOMEM;
        }
        if (d != MGR_OK)
          return broken(c, d, "malformed reply at offset %zu: %s", de.offset,
                        de.what ? de.what : mgr_strerror(d));
      }
      if (fatal(out->status)) /* whatever the rid: the server closes */
        return broken(
            c, out->status, "%.*s",
            (int)(out->msg ? out->msglen : strlen(mgr_strerror(out->status))),
            out->msg ? out->msg : mgr_strerror(out->status));
      if (out->rid == rid) return MGR_OK;
      orphan_reply(c, out, tmo, dl);
      if (c->broken) return c->broken_err;
      mgri_arena_reset(&c->arena);
      continue;
    }
    /* What the frame being read still needs (a large reply's whole body
     * at once: no regrowing), or a small chunk. */
    size_t avail = 0, want = mgri_reader_want(&c->rd);
    uint8_t *p =
        mgri_reader_prepare(&c->rd, want > 16384 ? want : 16384, &avail);
    if (!p && c->rd.err == MGR_ENOMEM) {
      /* Nothing was read: the reply waits in the socket, and is skipped as
       * stale by the next call. */
      mgri_reader_clear_nomem(&c->rd);
      snprintf(c->errmsg, sizeof c->errmsg, "%s", c->rd.errmsg);
      return MGR_ENOMEM;
    }
    if (!p)
      return broken(c, c->rd.err ? c->rd.err : MGR_ENOMEM, "out of memory");
    ssize_t n = read_some(c, p, avail, tmo, dl);
    if (n > 0) {
      mgri_reader_commit(&c->rd, (size_t)n);
      continue;
    }
    if (n == -2) {
      snprintf(c->errmsg, sizeof c->errmsg, "no reply within %d ms", tmo);
      return MGR_ETIMEDOUT;
    }
    return broken(c, MGR_ECLOSED, "connection to the manager lost: %s",
                  n == 0 ? "end of stream" : strerror(errno));
  }
}

/* The buffer policy of a connection (the server's, spec 14.2.3, in
 * miniature): after a call whose request or reply frame was larger than
 * MGRI_IDLE_BUF_MAX the reply buffer is kept for the next MGRI_KEEP_REQS
 * calls, so a thread that moves large values does not map, fault in and
 * give back a new buffer for each; after that many small calls it goes
 * back to MGRI_IDLE_BUF_MAX. */
static void keep_policy(mgri_conn *c) {
  if (c->reply_len > MGRI_IDLE_BUF_MAX ||
      mgri_buf_total(&c->out) > MGRI_IDLE_BUF_MAX)
    c->keep_calls = MGRI_KEEP_REQS;
  else if (c->keep_calls)
    c->keep_calls--;
  mgri_reader_set_keep(&c->rd, c->keep_calls ? SIZE_MAX : MGRI_IDLE_BUF_MAX);
}

/* wait_ms: how long the op may wait in the manager (< 0 without limit), or
 * MGRI_NO_WAIT for an op that answers at once. */
#define MGRI_NO_WAIT INT64_MIN

static int call(mgri_conn *c, uint64_t op, uint64_t oid, const mgr_value *args,
                size_t nargs, mgr_value *result, int64_t wait_ms) {
  if (c->broken) {
    snprintf(c->errmsg, sizeof c->errmsg,
             "connection to the manager lost earlier");
    return c->broken_err;
  }
  mgri_arena_reset(&c->arena);
  owned_set(NULL); /* the last call's result, if nobody took it */
  c->errmsg[0] = 0;
  int64_t tmo64 = atomic_load_explicit(&c->m->timeout_ms, memory_order_relaxed);
  /* The per-call timeout counts from the end of the op's own wait; a wait
   * without limit is not cut short (mgr/sync.h). */
  if (tmo64 >= 0 && wait_ms != MGRI_NO_WAIT)
    tmo64 = wait_ms < 0                 ? -1
            : wait_ms > INT_MAX - tmo64 ? INT_MAX
                                        : tmo64 + wait_ms;
  int tmo = tmo64 > INT_MAX ? INT_MAX : (int)tmo64;
  struct timespec dl = {0, 0};
  if (tmo >= 0) deadline_set(&dl, tmo);

  mgri_request rq = {
      .rid = c->next_rid++, .op = op, .oid = oid, .args = args, .nargs = nargs};
  mgri_buf_clear(&c->out);
  int rc = mgri_request_encode(&c->out, &rq, c->send_max);
  if (rc != MGR_OK) {
    snprintf(c->errmsg, sizeof c->errmsg, "cannot send the request: %s",
             mgr_strerror(rc));
    return rc;
  }
  /* HELLO is not a proxied call: the server traces it as conn_open. */
  bool traced = op != MGRI_OP_HELLO;
  if (traced)
    MGRI_TRACE(call_begin, mgri_trace_pid(),
               atomic_load_explicit(&c->m->server_pid, memory_order_relaxed),
               c->conn_id, rq.rid, op, oid, mgri_trace_kind(op),
               mgri_trace_key(op, args, nargs),
               (uint64_t)mgri_buf_total(&c->out));
  c->reply_len = 0;
  rc = send_all(c, &c->out, tmo, &dl);
  if (rc == MGR_OK) {
    mgri_reply rep;
    rc = recv_reply(c, rq.rid, tmo, &dl, &rep);
    /* A reply not read (or not decoded) may still grant something. */
    if ((rc == MGR_ETIMEDOUT || rc == MGR_ENOMEM) && orphan_op(op))
      orphan_add(c, rq.rid, oid, op);
    if (rc == MGR_OK && rep.status != MGR_OK) {
      if (rep.msg && rep.msglen)
        snprintf(c->errmsg, sizeof c->errmsg, "%.*s", (int)rep.msglen, rep.msg);
      else
        snprintf(c->errmsg, sizeof c->errmsg, "%s", mgr_strerror(rep.status));
      rc = rep.status;
    } else if (rc == MGR_OK && result) {
      *result = rep.result;
    }
  }
  keep_policy(c);
  if (traced)
    MGRI_TRACE(call_end, mgri_trace_pid(),
               atomic_load_explicit(&c->m->server_pid, memory_order_relaxed),
               c->conn_id, rq.rid, op, rc, (uint64_t)c->reply_len);
  return rc;
}

int mgri_call(mgri_conn *c, uint64_t op, uint64_t oid, const mgr_value *args,
              size_t nargs, mgr_value *result) {
  return call(c, op, oid, args, nargs, result, MGRI_NO_WAIT);
}

/* --- opening connections ------------------------------------------------- */

static int as_u64(const mgr_value *v, uint64_t *out) {
  if (v->type != MGR_T_INT || v->u.i < 0) return MGR_EPROTO;
  *out = (uint64_t)v->u.i;
  return MGR_OK;
}

/* The HELLO result's fields (spec 7.5); a later version may append more, which
 * we ignore (15.1). */
enum { H_VERSION, H_PID, H_CONN, H_SESSION, H_FRAME, H_FIELDS };

/* Checks the HELLO result res (asked to join session, 0: a new one) into v.
 * A version outside the range we offered is MGR_EVERSION (spec 7.3); any other
 * misshapen result MGR_EPROTO: a stream whose peer breaks the handshake cannot
 * be trusted further (3.5). The caller closes the connection. */
static int hello_check(mgri_conn *c, const mgr_value *res, uint64_t session,
                       uint64_t v[H_FIELDS]) {
  static const char *const name[H_FIELDS] = {"version", "server_pid", "conn_id",
                                             "session", "max_frame"};
  if (res->type != MGR_T_ARRAY || res->u.a.len < H_FIELDS)
    return broken(c, MGR_EPROTO, "bad HELLO reply: not an array of %d uints",
                  H_FIELDS);
  for (int i = 0; i < H_FIELDS; i++)
    if (as_u64(&res->u.a.items[i], &v[i]) != MGR_OK)
      return broken(c, MGR_EPROTO, "bad HELLO reply: %s is not a uint",
                    name[i]);
  if (v[H_VERSION] < MGR_PROTOCOL_MIN || v[H_VERSION] > MGR_PROTOCOL_MAX)
    return broken(c, MGR_EVERSION,
                  "the manager chose protocol version %llu, outside the %d..%d "
                  "offered",
                  (unsigned long long)v[H_VERSION], MGR_PROTOCOL_MIN,
                  MGR_PROTOCOL_MAX);
  if (v[H_CONN] == 0)
    return broken(c, MGR_EPROTO, "bad HELLO reply: conn_id 0");
  /* 0 would read as "no session yet" and make the next thread start another;
   * another id than the one joined would split the process's references. */
  if (v[H_SESSION] == 0 || (session && v[H_SESSION] != session))
    return broken(c, MGR_EPROTO, "bad HELLO reply: session %llu (asked %llu)",
                  (unsigned long long)v[H_SESSION],
                  (unsigned long long)session);
  if (v[H_FRAME] == 0 || v[H_FRAME] > MGRI_FRAME_MAX_CEIL)
    return broken(c, MGR_EPROTO, "bad HELLO reply: max_frame %llu not in 1..%u",
                  (unsigned long long)v[H_FRAME], MGRI_FRAME_MAX_CEIL);
  return MGR_OK;
}

/* Spec 3.6: the server may send bodies up to the frame_max it announced, so
 * we accept that much (our own max_frame stays the floor: we MAY accept
 * more); we send no more than it accepts, nor than our max_frame allows. */
static void frames_set(mgri_conn *c, uint32_t server_max) {
  uint32_t ours = c->m->max_frame;
  if (server_max > c->rd.frame_max) {
    mgri_reader_set_max(&c->rd, server_max);
    c->lim.frame_max = server_max;
  }
  /* Every item takes a byte at least, so a body within the frame limit holds
   * no more items than that: the items limit (4.6, the receiver's to set)
   * must not refuse what the frame limit lets through, a list of 2M small
   * ints in a 4 MiB reply. */
  if (server_max > c->lim.items_max) c->lim.items_max = server_max;
  c->send_max = server_max < ours ? server_max : ours;
}

/* Says HELLO on c's fresh connection, joining session (0: a new one). */
static int hello(mgri_conn *c, uint64_t session, uint64_t *session_out) {
  mgr_value args[4] = {mgr_int(MGR_PROTOCOL_MIN), mgr_int(MGR_PROTOCOL_MAX),
                       mgr_int((int64_t)getpid()), mgr_int((int64_t)session)};
  mgr_value res;
  int rc = mgri_call(c, MGRI_OP_HELLO, 0, args, 4, &res);
  if (rc == MGR_ECLOSED && !c->m->authkeylen) {
    /* Spec 7.8: a manager with an authkey closes without a word on a
     * client that sends HELLO instead of proving one. */
    size_t n = strlen(c->errmsg);
    snprintf(c->errmsg + n, sizeof c->errmsg - n,
             " (before HELLO's reply: does the manager require an authkey?)");
  }
  if (rc == MGR_ECLOSED) return MGR_ECONNECT;
  if (rc != MGR_OK) return rc;
  uint64_t v[H_FIELDS];
  rc = hello_check(c, &res, session, v);
  if (rc != MGR_OK) return rc;
  atomic_store_explicit(&c->m->server_pid, (int64_t)v[H_PID],
                        memory_order_relaxed);
  c->conn_id = v[H_CONN];
  *session_out = v[H_SESSION];
  frames_set(c, (uint32_t)v[H_FRAME]);
  return MGR_OK;
}

/* Spec 2.10.2: on a Unix socket, asks for the shared-memory transport.
 * A manager that offers none answers an error: the socket stays (MGR_OK).
 * One that said yes has switched: a segment we cannot use is MGRI_SHM_RETRY
 * (connect again without it). Other errors: the connection is lost. */
#define MGRI_SHM_RETRY 1
static int shm_negotiate(mgri_conn *c) {
  c->shm_fds[0] = c->shm_fds[1] = -1;
  c->shm_expect = true;
  mgr_value res;
  int rc = mgri_call(c, MGRI_OP_SHM_OPEN, 0, NULL, 0, &res);
  c->shm_expect = false;
  if (rc != MGR_OK) {
    for (int i = 0; i < 2; i++) {
      if (c->shm_fds[i] >= 0) close(c->shm_fds[i]);
      c->shm_fds[i] = -1;
    }
    if (c->broken) return rc;
    c->errmsg[0] = 0;
    return MGR_OK;
  }
  uint64_t ring = 0, bytes = 0;
  if (res.type != MGR_T_ARRAY || res.u.a.len < 2 ||
      as_u64(&res.u.a.items[0], &ring) != MGR_OK ||
      as_u64(&res.u.a.items[1], &bytes) != MGR_OK ||
      mgri_shm_start(c, ring, bytes) != MGR_OK) {
    mgri_transport_close(c);
    return MGRI_SHM_RETRY;
  }
  return MGR_OK;
}

/* Connects and says HELLO, joining session (0: a new one). */
static int conn_open1(mgr_client *m, uint64_t session, mgri_conn **out,
                      uint64_t *session_out) {
  mgri_conn *c = calloc(1, sizeof *c);
  if (!c) {
    snprintf(tl_errmsg, sizeof tl_errmsg, "out of memory");
    return MGR_ENOMEM;
  }
  c->m = m;
  c->fd = -1;
  c->bell = -1;
  c->shm_fds[0] = c->shm_fds[1] = -1;
  mgri_limits_default(&c->lim);
  c->lim.frame_max = m->max_frame;
  /* Until the HELLO reply, the server's frame_max is assumed the default
   * (spec 3.6); m->max_frame is ours, which may be less. */
  c->send_max = m->max_frame < MGRI_FRAME_MAX_DEFAULT ? m->max_frame
                                                      : MGRI_FRAME_MAX_DEFAULT;
  mgri_buf_init(&c->out, 0);
  mgri_reader_init(&c->rd, m->max_frame);
  mgri_arena_init(&c->arena, 0);
  /* Large strings go from the caller's value to the socket, and from the
   * reply buffer to the caller's copy, without another copy between
   * (TLS copies into its records anyway). */
  if (m->addr.kind != MGRI_ADDR_TLS) c->out.ref_min = MGRI_GATHER_MIN;
  c->lim.borrow_min = MGRI_BORROW_MIN;
  int rc = mgri_transport_open(c);
  if (rc == MGR_OK) rc = hello(c, session, session_out);
  if (rc == MGR_OK && !m->no_shm && m->addr.kind == MGRI_ADDR_UNIX)
    rc = shm_negotiate(c);
  if (rc != MGR_OK) {
    snprintf(tl_errmsg, sizeof tl_errmsg, "%s", c->errmsg);
    conn_free(c);
    return rc;
  }
  *out = c;
  return MGR_OK;
}

static int conn_open(mgr_client *m, uint64_t session, mgri_conn **out,
                     uint64_t *session_out) {
  int rc = conn_open1(m, session, out, session_out);
  if (rc != MGRI_SHM_RETRY) return rc;
  /* A segment this process cannot map: the socket from now on. */
  m->no_shm = true;
  return conn_open1(m, session, out, session_out);
}

/* After fork (or at the first connection): re-take the references of every
 * proxy this process holds, in as few RETAIN messages as the limit allows. */
static void retain_all(mgr_client *m, mgri_conn *c) {
  if (m->nrefs == 0) return;
  mgr_value *ids = malloc(sizeof *ids * m->nrefs);
  if (!ids) return;
  size_t n = 0;
  for (size_t i = 0; i < m->caprefs; i++)
    if (m->refs[i].id) ids[n++] = mgr_int((int64_t)m->refs[i].id);
  for (size_t off = 0; off < n; off += MGRI_RETAIN_MAX) {
    size_t k = n - off < MGRI_RETAIN_MAX ? n - off : MGRI_RETAIN_MAX;
    mgr_value arg = mgr_array(ids + off, k);
    if (mgri_call(c, MGRI_OP_RETAIN, 0, &arg, 1, NULL) != MGR_ENOTFOUND)
      continue;
    /* All or none: some object is gone; take the others one by one. */
    for (size_t j = 0; j < k; j++) {
      arg = mgr_array(ids + off + j, 1);
      mgri_call(c, MGRI_OP_RETAIN, 0, &arg, 1, NULL);
    }
  }
  c->errmsg[0] = 0;
  free(ids);
}

static mgri_conn *conn_slow(mgr_client *m, int *err) {
  pthread_mutex_lock(&m->mu);
  bool fresh = m->session == 0;
  uint64_t session = 0;
  mgri_conn *c = NULL;
  int rc = conn_open(m, m->session, &c, &session);
  if (rc != MGR_OK) {
    pthread_mutex_unlock(&m->mu);
    *err = rc;
    return NULL;
  }
  if (fresh) {
    m->session = session;
    m->primary = c;
    c->primary = true;
    retain_all(m, c);
  }
  c->next = m->conns;
  m->conns = c;
  pthread_setspecific(m->key, c);
  pthread_mutex_unlock(&m->mu);
  return c;
}

mgri_conn *mgri_conn_get(mgr_client *m, int *err) {
  mgri_conn *c = pthread_getspecific(m->key);
  if (c) return c;
  return conn_slow(m, err);
}

int mgri_callm(mgr_client *m, uint64_t op, uint64_t oid, const mgr_value *args,
               size_t nargs, mgr_value *result) {
  int err = MGR_OK;
  mgri_conn *c = mgri_conn_get(m, &err);
  if (!c) return err;
  return mgri_call(c, op, oid, args, nargs, result);
}

int mgri_callm_wait(mgr_client *m, uint64_t op, uint64_t oid,
                    const mgr_value *args, size_t nargs, mgr_value *result,
                    int64_t wait_ms) {
  int err = MGR_OK;
  mgri_conn *c = mgri_conn_get(m, &err);
  if (!c) return err;
  return call(c, op, oid, args, nargs, result, wait_ms < 0 ? -1 : wait_ms);
}

int mgri_result_out(const mgr_value *res, mgr_value *out) {
  /* A large string received into a block of its own: handed over. */
  if ((res->type == MGR_T_TEXT || res->type == MGR_T_BYTES) && g_owned_ok &&
      res->u.s.ptr && res->u.s.ptr == pthread_getspecific(g_owned)) {
    *out = *res;
    pthread_setspecific(g_owned, NULL);
    return MGR_OK;
  }
  switch (res->type) {
  case MGR_T_NIL:
  case MGR_T_BOOL:
  case MGR_T_INT:
  case MGR_T_FLOAT:
  case MGR_T_REF:
    *out = *res;
    return MGR_OK;
  default:
    return mgr_value_copy(out, res);
  }
}
