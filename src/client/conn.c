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
  if (c->fd >= 0) close(c->fd);
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

/* fork(): hold every client's mutex across it so the child never inherits
 * one locked by a thread that does not exist there. */
static void atfork_prepare(void) {
  pthread_mutex_lock(&g_mu);
  for (mgr_client *m = g_clients; m; m = m->reg_next) pthread_mutex_lock(&m->mu);
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
    mutex_init_recursive(&m->mu);
  }
  pthread_mutex_t fresh = PTHREAD_MUTEX_INITIALIZER;
  g_mu = fresh;
}

static void once_init(void) {
  pthread_atfork(atfork_prepare, atfork_parent, atfork_child);
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

int64_t mgr_server_pid(const mgr_client *m) { return m->server_pid; }

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
  if (pthread_key_create(&m->key, conn_dtor) != 0) {
    free(m->address);
    free(m);
    return MGR_ESYS;
  }
  mutex_init_recursive(&m->mu);
  atomic_init(&m->timeout_ms, opt->timeout_ms < 0 ? -1 : opt->timeout_ms);
  m->allow_other_uid = opt->allow_other_uid;
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
  if (c->fd >= 0) close(c->fd);
  c->fd = -1;
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

/* Waits for events on c->fd until dl. 1 ready, 0 timed out. */
static int wait_fd(mgri_conn *c, short events, const struct timespec *dl) {
  for (;;) {
    int left = deadline_left(dl);
    if (left == 0) return 0;
    struct pollfd pfd = {.fd = c->fd, .events = events};
    int n = poll(&pfd, 1, left);
    if (n > 0) return 1;
    if (n == 0) return 0;
    if (errno != EINTR) return 1; /* let the I/O call report it */
  }
}

static int send_all(mgri_conn *c, const uint8_t *p, size_t len, int tmo,
                    const struct timespec *dl) {
  size_t off = 0;
  int flags = MSG_NOSIGNAL | (tmo >= 0 ? MSG_DONTWAIT : 0);
  while (off < len) {
    ssize_t n = send(c->fd, p + off, len - off, flags);
    if (n > 0) {
      off += (size_t)n;
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) && tmo >= 0) {
      if (wait_fd(c, POLLOUT, dl)) continue;
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

/* A late reply to a call that timed out: if it granted a lock nobody waits
 * for any more, give the lock back (the release's own reply is stale too). */
static void orphan_reply(mgri_conn *c, const mgri_reply *rep, int tmo,
                         const struct timespec *dl) {
  for (int i = 0; i < MGRI_ORPHANS_MAX; i++) {
    mgri_orphan *o = &c->orphans[i];
    if (!o->oid || o->rid != rep->rid) continue;
    uint64_t oid = o->oid;
    o->oid = 0;
    if (rep->status != MGR_OK || rep->result.type != MGR_T_INT ||
        rep->result.u.i == 0)
      return;
    mgri_request rq = {.rid = c->next_rid++, .op = MGRI_OP_LOCK_RELEASE,
                       .oid = oid, .args = NULL, .nargs = 0};
    mgri_buf_clear(&c->out);
    if (mgri_request_encode(&c->out, &rq, c->send_max) == MGR_OK)
      send_all(c, c->out.data, c->out.len, tmo, dl);
    return;
  }
}

static void orphan_add(mgri_conn *c, uint64_t rid, uint64_t oid) {
  for (int i = 0; i < MGRI_ORPHANS_MAX; i++) {
    if (!c->orphans[i].oid) {
      c->orphans[i].rid = rid;
      c->orphans[i].oid = oid;
      return;
    }
  }
  /* Full: forget the oldest-looking slot; its grant stays held. */
  c->orphans[rid % MGRI_ORPHANS_MAX].rid = rid;
  c->orphans[rid % MGRI_ORPHANS_MAX].oid = oid;
}

/* Codes after which the server closes the connection (spec 10.3). */
static bool fatal(int status) {
  return status == MGR_EPROTO || status == MGR_EDECODE || status == MGR_ETOOBIG ||
         status == MGR_EVERSION || status == MGR_EPERM || status == MGR_ESHUTDOWN;
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
    if (r == 1) {
      c->reply_len = len;
      mgri_decode_error de = {0, 0, NULL};
      int d = mgri_reply_decode(body, len, &c->lim, &c->arena, out, &de);
      if (d != MGR_OK)
        return broken(c, d, "malformed reply at offset %zu: %s", de.offset,
                      de.what ? de.what : mgr_strerror(d));
      if (fatal(out->status)) /* whatever the rid: the server closes */
        return broken(c, out->status, "%.*s",
                      (int)(out->msg ? out->msglen : strlen(mgr_strerror(out->status))),
                      out->msg ? out->msg : mgr_strerror(out->status));
      if (out->rid == rid) return MGR_OK;
      orphan_reply(c, out, tmo, dl);
      if (c->broken) return c->broken_err;
      mgri_arena_reset(&c->arena);
      continue;
    }
    if (tmo >= 0 && !wait_fd(c, POLLIN, dl)) {
      snprintf(c->errmsg, sizeof c->errmsg, "no reply within %d ms", tmo);
      return MGR_ETIMEDOUT;
    }
    size_t avail = 0;
    uint8_t *p = mgri_reader_prepare(&c->rd, 16384, &avail);
    if (!p) return broken(c, c->rd.err ? c->rd.err : MGR_ENOMEM, "out of memory");
    ssize_t n = read(c->fd, p, avail);
    if (n > 0) {
      mgri_reader_commit(&c->rd, (size_t)n);
      continue;
    }
    if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK))
      continue;
    return broken(c, MGR_ECLOSED, "connection to the manager lost: %s",
                  n == 0 ? "end of stream" : strerror(errno));
  }
}

int mgri_call(mgri_conn *c, uint64_t op, uint64_t oid, const mgr_value *args,
              size_t nargs, mgr_value *result) {
  if (c->broken) {
    snprintf(c->errmsg, sizeof c->errmsg,
             "connection to the manager lost earlier");
    return c->broken_err;
  }
  mgri_arena_reset(&c->arena);
  c->errmsg[0] = 0;
  int64_t tmo64 = atomic_load_explicit(&c->m->timeout_ms, memory_order_relaxed);
  int tmo = tmo64 > INT_MAX ? INT_MAX : (int)tmo64;
  struct timespec dl = {0, 0};
  if (tmo >= 0) deadline_set(&dl, tmo);

  mgri_request rq = {.rid = c->next_rid++, .op = op, .oid = oid,
                     .args = args, .nargs = nargs};
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
    MGRI_TRACE(call_begin, mgri_trace_pid(), c->conn_id, rq.rid, op, oid,
               mgri_trace_kind(op), mgri_trace_key(op, args, nargs),
               (uint64_t)c->out.len);
  c->reply_len = 0;
  rc = send_all(c, c->out.data, c->out.len, tmo, &dl);
  if (rc == MGR_OK) {
    mgri_reply rep;
    rc = recv_reply(c, rq.rid, tmo, &dl, &rep);
    if (rc == MGR_ETIMEDOUT && op == MGRI_OP_LOCK_ACQUIRE)
      orphan_add(c, rq.rid, oid);
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
  if (traced)
    MGRI_TRACE(call_end, mgri_trace_pid(), c->conn_id, rq.rid, op, rc,
               (uint64_t)c->reply_len);
  return rc;
}

/* --- opening connections ------------------------------------------------- */

static int conn_connect(mgri_conn *c, const char *path) {
  struct sockaddr_un sa;
  memset(&sa, 0, sizeof sa);
  sa.sun_family = AF_UNIX;
  size_t n = strlen(path);
  if (n == 0 || n >= sizeof sa.sun_path) {
    snprintf(c->errmsg, sizeof c->errmsg, "socket path too long or empty");
    return MGR_ECONNECT;
  }
  memcpy(sa.sun_path, path, n);
  c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (c->fd < 0) {
    snprintf(c->errmsg, sizeof c->errmsg, "socket: %s", strerror(errno));
    return MGR_ESYS;
  }
  for (;;) {
    if (connect(c->fd, (struct sockaddr *)&sa, sizeof sa) == 0) return MGR_OK;
    if (errno == EINTR) continue;
    if (errno == EISCONN) return MGR_OK;
    snprintf(c->errmsg, sizeof c->errmsg, "connect %s: %s", path,
             strerror(errno));
    return MGR_ECONNECT;
  }
}

static int as_u64(const mgr_value *v, uint64_t *out) {
  if (v->type != MGR_T_INT || v->u.i < 0) return MGR_EPROTO;
  *out = (uint64_t)v->u.i;
  return MGR_OK;
}

/* Connects and says HELLO, joining session (0: a new one). */
static int conn_open(mgr_client *m, uint64_t session, mgri_conn **out,
                     uint64_t *session_out) {
  mgri_conn *c = calloc(1, sizeof *c);
  if (!c) {
    snprintf(tl_errmsg, sizeof tl_errmsg, "out of memory");
    return MGR_ENOMEM;
  }
  c->m = m;
  c->fd = -1;
  mgri_limits_default(&c->lim);
  c->lim.frame_max = m->max_frame;
  c->send_max = m->max_frame;
  mgri_buf_init(&c->out, 0);
  mgri_reader_init(&c->rd, m->max_frame);
  mgri_arena_init(&c->arena, 0);
  int rc = conn_connect(c, m->address);
  if (rc == MGR_OK) {
    mgr_value args[4] = {mgr_int(MGR_PROTOCOL_MIN), mgr_int(MGR_PROTOCOL_MAX),
                         mgr_int((int64_t)getpid()), mgr_int((int64_t)session)};
    mgr_value res;
    rc = mgri_call(c, MGRI_OP_HELLO, 0, args, 4, &res);
    if (rc == MGR_ECLOSED) rc = MGR_ECONNECT;
    if (rc == MGR_OK) {
      uint64_t v[5];
      if (res.type != MGR_T_ARRAY || res.u.a.len < 5) rc = MGR_EPROTO;
      for (int i = 0; rc == MGR_OK && i < 5; i++) rc = as_u64(&res.u.a.items[i], &v[i]);
      if (rc != MGR_OK) {
        snprintf(c->errmsg, sizeof c->errmsg, "bad HELLO reply");
      } else {
        m->server_pid = (int64_t)v[1];
        c->conn_id = v[2];
        *session_out = v[3];
        if (v[4] && v[4] < c->send_max) c->send_max = (uint32_t)v[4];
      }
    }
  }
  if (rc != MGR_OK) {
    snprintf(tl_errmsg, sizeof tl_errmsg, "%s", c->errmsg);
    conn_free(c);
    return rc;
  }
  *out = c;
  return MGR_OK;
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
    if (mgri_call(c, MGRI_OP_RETAIN, 0, &arg, 1, NULL) != MGR_ENOTFOUND) continue;
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

int mgri_result_out(const mgr_value *res, mgr_value *out) {
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
