/* mgr tests — the client's side of the protocol against a scripted fake
 * server: a listening socket in the test whose thread (or, for the uid check,
 * forked child) accepts, checks the client's HELLO and answers what each test
 * scripts. The HELLO result's version, shape and frame_max (spec 7.3, 7.5,
 * 15.1, 3.6), the server's uid (2.3), replies with stale rids (8.2) and fatal
 * codes whatever their rid (10.3), nothing sent before the HELLO reply (7.1,
 * 3.6), no rid used twice while outstanding (8.1). The two sides synchronise
 * through the socket alone (every step of a script waits for the client's
 * request or end of stream), and, where the script must know the client
 * waits for a reply, through the client thread's system call in /proc. */
/* clang-format off */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
/* clang-format on */

#include <ctype.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sys/eventfd.h>
#include <sys/mman.h>

#include "client/internal.h"
#include "mgr/mgr.h"
#include "net/shm.h"
#include "proto/proto.h"

/* A safety net, not a synchronisation: a script step that waits longer than
 * this for the client fails instead of hanging the test. */
#define IO_MS 30000

#define MIB (1u << 20)

/* The fake server's HELLO result fields. */
#define FAKE_PID 4242
#define FAKE_CONN 7
#define FAKE_SESSION 99

typedef struct fake fake;
typedef void (*script_fn)(fake *f);

struct fake {
  char dir[64];
  char path[sizeof((struct sockaddr_un *)0)->sun_path];
  int lfd; /* listening */
  int fd;  /* the connection being served, -1 none */
  pthread_t th;
  script_fn script;
  const void *arg;  /* the script's parameter */
  pid_t client_pid; /* the pid HELLO must carry */
  int64_t session;  /* and the session (0: a new one) */
  mgri_reader rd;   /* requests */
  mgri_arena arena; /* the last request's values */
  mgri_limits lim;
  mgri_buf out;     /* the reply being sent */
  const char *step; /* what the script is doing, for its failure */
  char err[512];    /* the script's first failure, "" if none */
};

/* The test's own failures, reported once the fake has finished (a failing
 * assertion would leave the fake's thread behind, using the test's stack). */
static char g_fail[2048];

static void srv_fail(fake *f, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void srv_fail(fake *f, const char *fmt, ...) {
  if (f->err[0]) return;
  if (f->step) snprintf(f->err, sizeof f->err, "%s: ", f->step);
  size_t n = strlen(f->err);
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(f->err + n, sizeof f->err - n, fmt, ap);
  va_end(ap);
}

static void check(bool ok, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Every failed check is kept (as far as room allows), "; "-separated. */
static void check(bool ok, const char *fmt, ...) {
  if (ok) return;
  size_t n = strlen(g_fail);
  if (n && n + 2 < sizeof g_fail) {
    memcpy(g_fail + n, "; ", 3);
    n += 2;
  }
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(g_fail + n, sizeof g_fail - n, fmt, ap);
  va_end(ap);
}

/* m may be NULL (a failed connect keeps its message there). */
#define check_rc(m, what, got, want)                                           \
  do {                                                                         \
    int got_ = (got), want_ = (want);                                          \
    check(got_ == want_, "%s: got %s, want %s (%s)", what, mgr_err_name(got_), \
          mgr_err_name(want_), mgr_errmsg(m));                                 \
  } while (0)

/* --- the fake server's side --------------------------------------------- */

/* Waits until fd is readable; false (and a failure) after IO_MS. */
static bool srv_wait(fake *f, int fd) {
  struct pollfd p = {.fd = fd, .events = POLLIN};
  for (;;) {
    int n = poll(&p, 1, IO_MS);
    if (n > 0) return true;
    if (n < 0 && errno == EINTR) continue;
    srv_fail(f, "no word from the client within %d ms", IO_MS);
    return false;
  }
}

static void srv_drop(fake *f) {
  if (f->fd >= 0) close(f->fd);
  f->fd = -1;
}

static bool srv_accept(fake *f) {
  srv_drop(f);
  mgri_reader_fini(&f->rd);
  mgri_reader_init(&f->rd, MGRI_FRAME_MAX_CEIL);
  if (!srv_wait(f, f->lfd)) return false;
  f->fd = accept4(f->lfd, NULL, NULL, SOCK_CLOEXEC);
  if (f->fd < 0) srv_fail(f, "accept: %s", strerror(errno));
  return f->fd >= 0;
}

/* The next request into *rq (its values valid until the next read): 1, 0 at
 * the end of the stream (the client closed), -1 on any error. */
static int srv_read(fake *f, mgri_request *rq) {
  for (;;) {
    const uint8_t *body;
    size_t len;
    int r = mgri_reader_next(&f->rd, &body, &len);
    if (r < 0) {
      srv_fail(f, "bad request frame: %s", f->rd.errmsg);
      return -1;
    }
    if (r == 1) {
      mgri_arena_reset(&f->arena);
      mgri_decode_error de = {0, 0, NULL};
      int d = mgri_request_decode(body, len, &f->lim, &f->arena, rq, &de);
      if (d != MGR_OK) {
        srv_fail(f, "bad request at offset %zu: %s", de.offset,
                 de.what ? de.what : mgr_strerror(d));
        return -1;
      }
      return 1;
    }
    if (!srv_wait(f, f->fd)) return -1;
    size_t avail;
    uint8_t *p = mgri_reader_prepare(&f->rd, 65536, &avail);
    if (!p) {
      srv_fail(f, "reader: %s", mgr_strerror(f->rd.err));
      return -1;
    }
    ssize_t n = read(f->fd, p, avail);
    if (n > 0) {
      mgri_reader_commit(&f->rd, (size_t)n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    /* A client that closes with our reply unread makes a reset, not an end:
     * either way it has closed. */
    if (n == 0 || errno == ECONNRESET) return 0;
    srv_fail(f, "read: %s", strerror(errno));
    return -1;
  }
}

/* The next request, which must be op. */
static bool srv_expect(fake *f, uint64_t op, mgri_request *rq) {
  int r = srv_read(f, rq);
  if (r == 1 && rq->op == op) return true;
  if (r == 1)
    srv_fail(f, "expected op %llu, got op %llu", (unsigned long long)op,
             (unsigned long long)rq->op);
  else if (r == 0)
    srv_fail(f, "expected op %llu, the client closed", (unsigned long long)op);
  return false;
}

/* The client closes without sending anything more (it refused us, or its
 * connection is broken, or the test closed it). */
static bool srv_eof(fake *f) {
  mgri_request rq;
  int r = srv_read(f, &rq);
  if (r == 1)
    srv_fail(f, "expected the client to close, got op %llu",
             (unsigned long long)rq.op);
  else if (r == 0 && mgri_reader_pending(&f->rd))
    srv_fail(f, "the client closed after %zu bytes of a frame",
             mgri_reader_pending(&f->rd));
  return r == 0 && !f->err[0];
}

/* Accepts and takes the client's HELLO, which must be [0, 1, 0, [1, 1, pid,
 * session]] (spec 7.1, 7.2). */
static bool srv_hello(fake *f) {
  mgri_request rq;
  if (!srv_accept(f) || !srv_expect(f, MGRI_OP_HELLO, &rq)) return false;
  int64_t want[4] = {MGR_PROTOCOL_MIN, MGR_PROTOCOL_MAX, f->client_pid,
                     f->session};
  bool ok = rq.rid == 0 && rq.oid == 0 && rq.nargs == 4;
  for (size_t i = 0; ok && i < 4; i++)
    ok = rq.args[i].type == MGR_T_INT && rq.args[i].u.i == want[i];
  if (!ok) srv_fail(f, "malformed HELLO");
  return ok;
}

/* Sends one reply; may_fail when the client is expected to drop the
 * connection while it is being written. */
static bool srv_send(fake *f, const mgri_reply *r, bool may_fail) {
  mgri_buf_clear(&f->out);
  int rc = mgri_reply_encode(&f->out, r, MGRI_FRAME_MAX_CEIL);
  if (rc != MGR_OK) {
    srv_fail(f, "encoding a reply: %s", mgr_strerror(rc));
    return false;
  }
  for (size_t off = 0; off < f->out.len;) {
    ssize_t n = send(f->fd, f->out.data + off, f->out.len - off, MSG_NOSIGNAL);
    if (n > 0) {
      off += (size_t)n;
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (!may_fail) srv_fail(f, "send: %s", n < 0 ? strerror(errno) : "0");
    return may_fail;
  }
  return true;
}

static bool srv_ok(fake *f, uint64_t rid, mgr_value result) {
  mgri_reply r = {.rid = rid, .status = MGR_OK, .result = result};
  return srv_send(f, &r, false);
}

/* An error reply with wire code `code`. */
static bool srv_err(fake *f, uint64_t rid, uint64_t code, const char *msg) {
  mgri_reply r = {.rid = rid,
                  .status = mgri_err_from_wire(code),
                  .result = mgr_nil(),
                  .msg = msg,
                  .msglen = strlen(msg)};
  return srv_send(f, &r, false);
}

static bool srv_shm_refuse(fake *f);

/* The HELLO result [1, FAKE_PID, FAKE_CONN, FAKE_SESSION, max_frame]. */
static bool srv_hello_ok(fake *f, uint32_t max_frame) {
  mgr_value v[5] = {mgr_int(1), mgr_int(FAKE_PID), mgr_int(FAKE_CONN),
                    mgr_int(FAKE_SESSION), mgr_int(max_frame)};
  return srv_ok(f, 0, mgr_array(v, 5)) && srv_shm_refuse(f);
}

/* [R-2.10-a] A client on a Unix socket asks for shared memory right
 * after HELLO's reply. This fake is a manager without it (one that predates
 * it: unknown op): the client stays on the socket, where every test here
 * goes on. */
static bool srv_shm_refuse(fake *f) {
  mgri_request rq;
  if (!srv_expect(f, MGRI_OP_SHM_OPEN, &rq)) return false;
  if (rq.nargs != 0 || rq.oid != 0) {
    srv_fail(f, "SHM_OPEN with arguments or an oid");
    return false;
  }
  mgri_reply no;
  memset(&no, 0, sizeof no);
  no.rid = rq.rid;
  no.status = MGR_EBADOP;
  no.msg = "AttributeError: unknown operation 13";
  no.msglen = strlen(no.msg);
  return srv_send(f, &no, false);
}

/* Answers the client's CREATE (mgr_var_new) with a var ref. */
static bool srv_create(fake *f, uint64_t id) {
  mgri_request rq;
  if (!srv_expect(f, MGRI_OP_CREATE, &rq)) return false;
  mgr_value ref = mgr_nil();
  ref.type = MGR_T_REF;
  ref.u.ref.id = id;
  ref.u.ref.kind = MGR_K_VAR;
  return srv_ok(f, rq.rid, ref);
}

/* The byte at i of the payloads the fake sends. */
static uint8_t pat(size_t i) { return (uint8_t)(i * 7 + 3); }

/* A reply to rid whose frame body is exactly n bytes (n >= 65544): a byte
 * string of n - 8 bytes (array head, rid < 24, code 0, 5-byte string head). */
static bool srv_reply_sized(fake *f, uint64_t rid, size_t n, bool may_fail) {
  size_t k = n - 8;
  uint8_t *p = malloc(k);
  if (!p) {
    srv_fail(f, "out of memory");
    return false;
  }
  for (size_t i = 0; i < k; i++)
    p[i] = pat(i);
  mgri_reply r = {.rid = rid, .status = MGR_OK, .result = mgr_bytes(p, k)};
  bool ok = srv_send(f, &r, may_fail);
  free(p);
  if (ok && f->out.len != MGRI_FRAME_HEADER + n)
    srv_fail(f, "the reply's body is %zu bytes, not %zu",
             f->out.len - MGRI_FRAME_HEADER, n);
  return ok;
}

/* Items in the reply of srv_reply_items: over MGRI_ITEMS_MAX_DEFAULT. */
#define MANY_ITEMS (MGRI_ITEMS_MAX_DEFAULT + 1000)

/* A reply to rid: an array of MANY_ITEMS small ints (one byte each). */
static bool srv_reply_items(fake *f, uint64_t rid) {
  mgr_value *v = malloc(MANY_ITEMS * sizeof *v);
  if (!v) {
    srv_fail(f, "out of memory");
    return false;
  }
  for (size_t i = 0; i < MANY_ITEMS; i++)
    v[i] = mgr_int((int64_t)(i % 24));
  mgri_reply r = {
      .rid = rid, .status = MGR_OK, .result = mgr_array(v, MANY_ITEMS)};
  bool ok = srv_send(f, &r, false);
  free(v);
  return ok;
}

static void *srv_main(void *p) {
  fake *f = p;
  f->script(f);
  /* A script that stopped early must not leave the client waiting: neither
   * on this connection nor on a next one, which is refused at once. */
  srv_drop(f);
  close(f->lfd);
  f->lfd = -1;
  return NULL;
}

/* --- the test's side ----------------------------------------------------- */

/* A fake listening on a fresh private socket; arg is the script's. */
static void fake_init(fake *f, script_fn script, const void *arg) {
  memset(f, 0, sizeof *f);
  g_fail[0] = 0;
  f->fd = -1;
  f->script = script;
  f->arg = arg;
  f->client_pid = getpid();
  mgri_reader_init(&f->rd, MGRI_FRAME_MAX_CEIL);
  mgri_arena_init(&f->arena, 0);
  mgri_limits_default(&f->lim);
  mgri_buf_init(&f->out, 0);
  snprintf(f->dir, sizeof f->dir, "/tmp/mgr-fake-XXXXXX");
  assert_non_null(mkdtemp(f->dir));
  snprintf(f->path, sizeof f->path, "%s/s", f->dir);
  f->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  assert_true(f->lfd >= 0);
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  memcpy(sa.sun_path, f->path, strlen(f->path) + 1);
  assert_int_equal(bind(f->lfd, (struct sockaddr *)&sa, sizeof sa), 0);
}

static void fake_start(fake *f, script_fn script, const void *arg) {
  fake_init(f, script, arg);
  assert_int_equal(listen(f->lfd, 8), 0);
  assert_int_equal(pthread_create(&f->th, NULL, srv_main, f), 0);
}

static void fake_fini(fake *f) {
  srv_drop(f);
  if (f->lfd >= 0) close(f->lfd);
  unlink(f->path);
  rmdir(f->dir);
  mgri_reader_fini(&f->rd);
  mgri_arena_fini(&f->arena);
  mgri_buf_fini(&f->out);
}

/* Waits for the script to end, then fails the test if either side did. */
static void fake_finish(fake *f) {
  pthread_join(f->th, NULL);
  char err[sizeof f->err];
  memcpy(err, f->err, sizeof err);
  fake_fini(f);
  check(!err[0], "fake server: %s", err);
  if (g_fail[0]) fail_msg("%s", g_fail);
}

static int connect_to(const fake *f, bool allow_other_uid, mgr_client **m) {
  mgr_options o;
  mgr_options_init(&o);
  o.allow_other_uid = allow_other_uid;
  *m = NULL;
  return mgr_connect(f->path, &o, m);
}

/* --- HELLO: well-formed ------------------------------------------------- */

static void script_plain(fake *f) {
  mgri_request rq;
  if (!srv_hello(f) || !srv_hello_ok(f, MIB)) return;
  if (!srv_expect(f, MGRI_OP_PING, &rq) || !srv_ok(f, rq.rid, mgr_nil()))
    return;
  srv_eof(f);
}

/* The fake itself: a HELLO as the spec has it, a round trip, the close. */
static void test_hello_plain(void **state) {
  (void)state;
  fake f;
  fake_start(&f, script_plain, NULL);
  mgr_client *m;
  int rc = connect_to(&f, false, &m);
  check_rc(m, "connect", rc, MGR_OK);
  if (m) {
    check(mgr_server_pid(m) == FAKE_PID, "server pid %lld",
          (long long)mgr_server_pid(m));
    check_rc(m, "ping", mgr_ping(m), MGR_OK);
    mgr_close(m);
  }
  fake_finish(&f);
}

/* --- SHM_OPEN granted, but no segment came with it (spec 2.10.2) ---------- */

static void script_shm_no_fds(fake *f) {
  mgri_request rq;
  mgr_value v[5] = {mgr_int(1), mgr_int(FAKE_PID), mgr_int(FAKE_CONN),
                    mgr_int(FAKE_SESSION), mgr_int(MIB)};
  if (!srv_hello(f) || !srv_ok(f, 0, mgr_array(v, 5))) return;
  /* "Yes", without the memfd and the bell: the client cannot use it. */
  mgr_value r[2] = {mgr_int(65536), mgr_int(4096 + 2 * 65536)};
  if (!srv_expect(f, MGRI_OP_SHM_OPEN, &rq) ||
      !srv_ok(f, rq.rid, mgr_array(r, 2)))
    return;
  /* It closes that connection and connects again, and does not ask
   * again: its requests come on the new socket. */
  if (!srv_eof(f) || !srv_hello(f) || !srv_ok(f, 0, mgr_array(v, 5)) ||
      !srv_expect(f, MGRI_OP_PING, &rq) || !srv_ok(f, rq.rid, mgr_nil()))
    return;
  srv_eof(f);
}

/* Checks spec R-2.10-c (spec/protocol.md; tests/reqs/check_reqs.py). */
static void test_shm_unusable(void **state) {
  (void)state;
  fake f;
  fake_start(&f, script_shm_no_fds, NULL);
  mgr_client *m;
  int rc = connect_to(&f, false, &m);
  check_rc(m, "connect", rc, MGR_OK);
  if (m) {
    check_rc(m, "ping", mgr_ping(m), MGR_OK);
    mgr_close(m);
  }
  fake_finish(&f);
}

/* --- a manager that grants shared memory, then misbehaves (spec 2.10) ----- */

/* Sends result for rid with descriptors fds[0..n) on its first byte. */
static bool srv_ok_fds(fake *f, uint64_t rid, mgr_value result, const int *fds,
                       size_t n) {
  mgri_reply r;
  memset(&r, 0, sizeof r);
  r.rid = rid;
  r.status = MGR_OK;
  r.result = result;
  mgri_buf_clear(&f->out);
  if (mgri_reply_encode(&f->out, &r, MGRI_FRAME_MAX_CEIL) != MGR_OK) {
    srv_fail(f, "encoding a reply");
    return false;
  }
  struct iovec iov = {f->out.data, f->out.len};
  union {
    char b[CMSG_SPACE(4 * sizeof(int))];
    struct cmsghdr align;
  } u;
  memset(&u, 0, sizeof u);
  struct msghdr mh;
  memset(&mh, 0, sizeof mh);
  mh.msg_iov = &iov;
  mh.msg_iovlen = 1;
  mh.msg_control = u.b;
  mh.msg_controllen = CMSG_SPACE(n * sizeof(int));
  struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
  cm->cmsg_level = SOL_SOCKET;
  cm->cmsg_type = SCM_RIGHTS;
  cm->cmsg_len = CMSG_LEN(n * sizeof(int));
  memcpy(CMSG_DATA(cm), fds, n * sizeof(int));
  if (sendmsg(f->fd, &mh, MSG_NOSIGNAL) != (ssize_t)f->out.len) {
    srv_fail(f, "sendmsg: %s", strerror(errno));
    return false;
  }
  return true;
}

/* What the fake does once the client is on its segment. */
enum {
  SHM_BAD_SEGMENT, /* an unsealed memfd: the client reconnects without */
  SHM_BAD_RING,    /* a ring size other than the segment's: the same */
  SHM_GONE,        /* SRV_GONE set under a waiting call: ECLOSED */
  SHM_HANGUP,      /* the socket closed, no GONE: ECLOSED */
  SHM_BAD_TAIL,    /* a garbage reply position: ECLOSED */
  SHM_BAD_HEAD,    /* a garbage request position: the send fails */
  SHM_NOT_ARRAY,   /* a result that is not [ring, bytes]: reconnects */
  SHM_SHORT,       /* [ring] alone: the same */
  SHM_NOT_UINT,    /* [ring, "bytes"]: the same */
  SHM_ONE_FD,      /* the segment without the bell: the same */
  SHM_THREE_FDS,   /* a pipe first, then bell and segment: the same */
  SHM_STALL,       /* never reads the ring: a long request times out */
  SHM_CASES
};

/* The cases where the client cannot use what it was given, and connects
 * again without shared memory (R-2.10-d). */
static bool shm_retry_case(int what) {
  return what == SHM_BAD_SEGMENT || what == SHM_BAD_RING ||
         (what >= SHM_NOT_ARRAY && what <= SHM_THREE_FDS);
}

static void script_shm_hostile(fake *f) {
  int what = *(const int *)f->arg;
  mgri_request rq;
  mgr_value v[5] = {mgr_int(1), mgr_int(FAKE_PID), mgr_int(FAKE_CONN),
                    mgr_int(FAKE_SESSION), mgr_int(MIB)};
  if (!srv_hello(f) || !srv_ok(f, 0, mgr_array(v, 5)) ||
      !srv_expect(f, MGRI_OP_SHM_OPEN, &rq))
    return;
  mgri_shm s;
  int fds[2] = {-1, eventfd(0, EFD_CLOEXEC)};
  char err[160];
  if (what == SHM_BAD_SEGMENT) {
    /* Right size, right header, no seals. */
    fds[0] = memfd_create("not-sealed", MFD_CLOEXEC);
    memset(&s, 0, sizeof s);
    s.bytes = MGRI_SHM_HEADER + 2 * (size_t)MGRI_SHM_RING;
    if (fds[0] < 0 || ftruncate(fds[0], (off_t)s.bytes) != 0) {
      srv_fail(f, "memfd: %s", strerror(errno));
      return;
    }
  } else if (mgri_shm_create(MGRI_SHM_RING, &s, &fds[0], err, sizeof err) !=
             MGR_OK) {
    srv_fail(f, "%s", err);
    return;
  }
  /* Asleep, as far as the client knows: it rings the bell after it
   * writes its request, and that is what we wait for. */
  if (!shm_retry_case(what)) mgri_shm_store32(&s, MGRI_SHM_O_SRV_BELL, 1);
  /* Before the reply: the client's first send must find it. */
  if (what == SHM_BAD_HEAD)
    mgri_shm_store64(&s, MGRI_SHM_O_REQ_HEAD, (uint64_t)1 << 30);
  mgr_value r[2] = {
      mgr_int(what == SHM_BAD_RING ? MGRI_SHM_RING / 2 : MGRI_SHM_RING),
      mgr_int((int64_t)s.bytes)};
  mgr_value res = mgr_array(r, 2);
  if (what == SHM_NOT_ARRAY) res = mgr_int(MGRI_SHM_RING);
  if (what == SHM_SHORT) res = mgr_array(r, 1);
  if (what == SHM_NOT_UINT) r[1] = mgr_text("bytes");
  bool ok = false;
  int pp[2];
  if (what == SHM_THREE_FDS && pipe(pp) != 0) {
    srv_fail(f, "pipe: %s", strerror(errno));
  } else if (what == SHM_THREE_FDS) {
    int three[3] = {pp[0], fds[1], fds[0]};
    ok = srv_ok_fds(f, rq.rid, res, three, 3);
    close(pp[0]);
    close(pp[1]);
  } else {
    ok = srv_ok_fds(f, rq.rid, res, fds, what == SHM_ONE_FD ? 1 : 2);
  }
  close(fds[0]);
  int bell = fds[1];
  if (!ok) {
    close(bell);
    mgri_shm_detach(&s);
    return;
  }
  if (shm_retry_case(what)) {
    /* A new connection without SHM_OPEN; its PING on the socket. */
    if (srv_eof(f) && srv_hello(f) && srv_ok(f, 0, mgr_array(v, 5)) &&
        srv_expect(f, MGRI_OP_PING, &rq) && srv_ok(f, rq.rid, mgr_nil()))
      srv_eof(f);
    close(bell);
    mgri_shm_detach(&s);
    return;
  }
  if (what != SHM_BAD_HEAD) {
    /* The client's PING arrives in the ring (a watchdog bounds the wait);
     * then the end, or garbage, instead of its reply. */
    struct pollfd pb = {.fd = bell, .events = POLLIN};
    if (poll(&pb, 1, 30000) != 1 || !mgri_shm_load64(&s, MGRI_SHM_O_REQ_TAIL))
      srv_fail(f, "no request in the ring (or no bell rung)");
    if (what == SHM_GONE) {
      mgri_shm_store32(&s, MGRI_SHM_O_SRV_GONE, 1);
      __atomic_fetch_add(mgri_shm_w32(&s, MGRI_SHM_O_CLI_FUTEX), 1,
                         __ATOMIC_SEQ_CST);
      mgri_shm_futex_wake(mgri_shm_w32(&s, MGRI_SHM_O_CLI_FUTEX));
    } else if (what == SHM_STALL) {
      /* The ring stays full: the client gives up and closes. */
    } else if (what == SHM_BAD_TAIL) {
      mgri_shm_store64(&s, MGRI_SHM_O_REP_TAIL, 3u * MGRI_SHM_RING);
      __atomic_fetch_add(mgri_shm_w32(&s, MGRI_SHM_O_CLI_FUTEX), 1,
                         __ATOMIC_SEQ_CST);
      mgri_shm_futex_wake(mgri_shm_w32(&s, MGRI_SHM_O_CLI_FUTEX));
    } else {
      srv_drop(f); /* SHM_HANGUP */
    }
  }
  /* The client gives up on the connection: it closes the socket. */
  if (f->fd >= 0) {
    uint8_t b;
    while (read(f->fd, &b, 1) > 0) {
    }
  }
  close(bell);
  mgri_shm_detach(&s);
}

/* A request larger than what the transport holds (the ring, the socket's
 * buffer), to a manager that never reads it, within a 200 ms timeout:
 * ETIMEDOUT with part of the frame written, so the connection is lost for
 * good (spec 3.5: the stream is out of step); the next call fails at once
 * the same way, without a word to the manager. */
static void send_stalls(mgr_client *m) {
  mgr_set_timeout(m, 200);
  size_t n = 900000;
  uint8_t *p = calloc(1, n);
  if (!p) {
    check(false, "out of memory");
    return;
  }
  mgr_value big = mgr_bytes(p, n), res = mgr_nil();
  int rc = mgri_callm(m, MGRI_OP_PING, 0, &big, 1, &res);
  check_rc(m, "a long request", rc, MGR_ETIMEDOUT);
  check(strstr(mgr_errmsg(m), "timed out sending a request") != NULL,
        "errmsg \"%s\"", mgr_errmsg(m));
  check_rc(m, "after it", mgr_ping(m), MGR_ETIMEDOUT);
  free(p);
}

/* Checks spec R-2.10-c, R-2.10-d, R-2.10-i: what the client does with a
 * segment it cannot use, and with a manager that ends, hangs up or writes
 * garbage positions while a call waits on shared memory: a documented
 * error, never a hang or a crash. */
static void test_shm_hostile_manager(void **state) {
  (void)state;
  for (int what = 0; what < SHM_CASES; what++) {
    fake f;
    fake_start(&f, script_shm_hostile, &what);
    mgr_client *m;
    int rc = connect_to(&f, false, &m);
    check_rc(m, "connect", rc, MGR_OK);
    if (m && what == SHM_STALL) {
      send_stalls(m);
    } else if (m) {
      rc = mgr_ping(m);
      if (shm_retry_case(what))
        check_rc(m, "ping after the reconnection", rc, MGR_OK);
      else
        check(rc == MGR_ECLOSED, "case %d: ping: %s (%s)", what,
              mgr_err_name(rc), mgr_errmsg(m));
    }
    mgr_close(m);
    fake_finish(&f);
  }
}

/* --- a request the manager never reads, on the socket (spec 3.5) --------- */

static void script_send_stall(fake *f) {
  const int *done = f->arg; /* readable once the test is done */
  if (!srv_hello(f) || !srv_hello_ok(f, 4 * MIB)) return;
  /* Nothing is read until the client has given up; then to its end. */
  if (!srv_wait(f, *done)) return;
  uint8_t b[4096];
  ssize_t n;
  while ((n = read(f->fd, b, sizeof b)) > 0 || (n < 0 && errno == EINTR)) {
  }
}

static void test_send_stall_socket(void **state) {
  (void)state;
  int p[2];
  assert_int_equal(pipe(p), 0);
  fake f;
  fake_start(&f, script_send_stall, &p[0]);
  mgr_client *m;
  check_rc(m, "connect", connect_to(&f, false, &m), MGR_OK);
  if (m) send_stalls(m);
  assert_int_equal(write(p[1], "x", 1), 1);
  mgr_close(m);
  fake_finish(&f);
  close(p[0]);
  close(p[1]);
}

/* --- HELLO: the version must be one we offered (spec 7.3) ----------------- */

static void script_version(fake *f) {
  const int64_t *versions = f->arg;
  for (size_t i = 0; versions[i] >= 0; i++) {
    mgr_value v[5] = {mgr_int(versions[i]), mgr_int(FAKE_PID),
                      mgr_int(FAKE_CONN), mgr_int(FAKE_SESSION), mgr_int(MIB)};
    if (!srv_hello(f) || !srv_ok(f, 0, mgr_array(v, 5)) || !srv_eof(f)) return;
  }
}

static void test_hello_version_outside(void **state) {
  (void)state;
  static const int64_t versions[] = {MGR_PROTOCOL_MAX + 1, 0, 1000, -1};
  fake f;
  fake_start(&f, script_version, versions);
  for (size_t i = 0; versions[i] >= 0; i++) {
    mgr_client *m;
    int rc = connect_to(&f, false, &m);
    char what[64];
    snprintf(what, sizeof what, "version %lld", (long long)versions[i]);
    check_rc(m, what, rc, MGR_EVERSION);
    if (rc == MGR_EVERSION)
      check(strstr(mgr_errmsg(NULL), "version") != NULL, "errmsg \"%s\"",
            mgr_errmsg(NULL));
    mgr_close(m); /* a client that accepted it: let the fake see the end */
  }
  fake_finish(&f);
}

/* --- HELLO: the result's shape (spec 7.5, 15.1) -------------------------- */

/* Each case sends the first n elements of [1, FAKE_PID, FAKE_CONN,
 * FAKE_SESSION, 1 MiB, "future", -5] with element `field` replaced by val
 * (-1: none); n ALONE sends val instead of an array. */
typedef struct hello_case {
  const char *name;
  int want;
  size_t n;
  int field;
  mgr_value val;
} hello_case;

#define ALONE SIZE_MAX
/* Constant initialisers (the mgr_value constructors are functions). */
/* clang-format off */
#define U(x) {MGR_T_INT, {.i = (x)}}
#define TX(str) {MGR_T_TEXT, {.s = {str, sizeof str - 1}}}
/* clang-format on */

static const hello_case hello_cases[] = {
    {"an int", MGR_EPROTO, ALONE, -1, U(1)},
    {"a map", MGR_EPROTO, ALONE, -1, {MGR_T_MAP, {.a = {NULL, 0}}}},
    {"empty", MGR_EPROTO, 0, -1, U(0)},
    {"4 elements", MGR_EPROTO, 4, -1, U(0)},
    {"version text", MGR_EPROTO, 5, 0, TX("1")},
    {"version float", MGR_EPROTO, 5, 0, {MGR_T_FLOAT, {.f = 1.0}}},
    {"server_pid negative", MGR_EPROTO, 5, 1, U(-1)},
    {"conn_id bool", MGR_EPROTO, 5, 2, {MGR_T_BOOL, {.b = true}}},
    {"conn_id 0", MGR_EPROTO, 5, 2, U(0)},
    {"session nil", MGR_EPROTO, 5, 3, {MGR_T_NIL, {.i = 0}}},
    {"session 0", MGR_EPROTO, 5, 3, U(0)},
    {"max_frame text", MGR_EPROTO, 5, 4, TX("big")},
    {"max_frame 0", MGR_EPROTO, 5, 4, U(0)},
    {"max_frame over the ceiling", MGR_EPROTO, 5, 4,
     U(MGRI_FRAME_MAX_CEIL + 1ll)},
    {"extra trailing elements", MGR_OK, 7, -1, U(0)},
    {"max_frame at the ceiling", MGR_OK, 5, 4, U(MGRI_FRAME_MAX_CEIL)},
    {NULL, 0, 0, -1, U(0)},
};

static void script_shapes(fake *f) {
  for (const hello_case *c = f->arg; c->name; c++) {
    mgr_value v[7] = {mgr_int(1),         mgr_int(FAKE_PID),
                      mgr_int(FAKE_CONN), mgr_int(FAKE_SESSION),
                      mgr_int(MIB),       mgr_text("future"),
                      mgr_int(-5)};
    if (c->field >= 0) v[c->field] = c->val;
    mgr_value res = c->n == ALONE ? c->val : mgr_array(v, c->n);
    f->step = c->name;
    if (!srv_hello(f) || !srv_ok(f, 0, res) ||
        (c->want == MGR_OK && !srv_shm_refuse(f)) || !srv_eof(f))
      return;
  }
}

/* Checks spec R-15.1-a (spec/protocol.md; tests/reqs/check_reqs.py). */
static void test_hello_shape(void **state) {
  (void)state;
  fake f;
  fake_start(&f, script_shapes, hello_cases);
  for (const hello_case *c = hello_cases; c->name; c++) {
    mgr_client *m;
    int rc = connect_to(&f, false, &m);
    check_rc(m, c->name, rc, c->want);
    if (rc == MGR_EPROTO)
      check(strstr(mgr_errmsg(NULL), "HELLO") != NULL, "%s: errmsg \"%s\"",
            c->name, mgr_errmsg(NULL));
    mgr_close(m);
  }
  fake_finish(&f);
}

/* --- HELLO: joining, the session must be the one asked for --------------- */

static void script_join(fake *f) {
  mgri_request rq;
  if (!srv_hello(f) || !srv_hello_ok(f, MIB)) return;
  /* Another thread's connection joins FAKE_SESSION: answered another id. */
  f->session = FAKE_SESSION;
  mgr_value v[5] = {mgr_int(1), mgr_int(FAKE_PID), mgr_int(FAKE_CONN + 1),
                    mgr_int(FAKE_SESSION + 1), mgr_int(MIB)};
  if (!srv_hello(f) || !srv_ok(f, 0, mgr_array(v, 5)) || !srv_eof(f)) return;
  /* Its next call tries again: answered right. */
  if (!srv_hello(f) || !srv_hello_ok(f, MIB)) return;
  if (!srv_expect(f, MGRI_OP_PING, &rq) || !srv_ok(f, rq.rid, mgr_nil()))
    return;
  srv_eof(f); /* the thread exits */
}

typedef struct joiner {
  mgr_client *m;
  int rc[2];
  char msg[256];
} joiner;

static void *join_main(void *p) {
  joiner *j = p;
  j->rc[0] = mgr_ping(j->m);
  snprintf(j->msg, sizeof j->msg, "%s", mgr_errmsg(j->m));
  j->rc[1] = mgr_ping(j->m);
  return NULL;
}

static void test_hello_session_joined(void **state) {
  (void)state;
  fake f;
  fake_start(&f, script_join, NULL);
  joiner j = {NULL, {0, 0}, ""};
  check_rc(NULL, "connect", connect_to(&f, false, &j.m), MGR_OK);
  if (j.m) {
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, join_main, &j), 0);
    pthread_join(th, NULL);
    check(j.rc[0] == MGR_EPROTO && strstr(j.msg, "session"),
          "joined another session: %s (%s)", mgr_err_name(j.rc[0]), j.msg);
    check(j.rc[1] == MGR_OK, "the retry: %s", mgr_err_name(j.rc[1]));
  }
  mgr_close(j.m);
  fake_finish(&f);
}

/* --- frame_max: replies up to the server's, requests up to min (3.6) -------
 */

static void script_frames(fake *f) {
  mgri_request rq;
  if (!srv_hello(f) || !srv_hello_ok(f, 4 * MIB) || !srv_create(f, 5)) return;
  /* 2 MB: over our default 1 MiB, within the 4 MiB announced. */
  if (!srv_expect(f, MGRI_OP_VAR_GET, &rq) ||
      !srv_reply_sized(f, rq.rid, 2000000, false))
    return;
  /* N = frame_max is accepted (3.3). */
  if (!srv_expect(f, MGRI_OP_VAR_GET, &rq) ||
      !srv_reply_sized(f, rq.rid, 4 * MIB, false))
    return;
  /* More items than the default items_max (4.6), in fewer bytes than
   * frame_max: as receivable as any body within it. */
  if (!srv_expect(f, MGRI_OP_VAR_GET, &rq) || !srv_reply_items(f, rq.rid))
    return;
  /* One byte over what we announced: the client drops the connection after
   * the header, perhaps while we still write. */
  if (!srv_expect(f, MGRI_OP_VAR_GET, &rq) ||
      !srv_reply_sized(f, rq.rid, 4 * MIB + 1, true))
    return;
  srv_eof(f); /* nothing more on a broken connection: not even RELEASE */
}

static bool is_pattern(const mgr_value *v, size_t n) {
  if (v->type != MGR_T_BYTES || v->u.s.len != n) return false;
  const uint8_t *p = (const uint8_t *)v->u.s.ptr;
  for (size_t i = 0; i < n; i++)
    if (p[i] != pat(i)) return false;
  return true;
}

/* Checks spec R-3.5-a, R-3.6-c (spec/protocol.md; tests/reqs/check_reqs.py). */
static void test_frame_max_from_hello(void **state) {
  (void)state;
  fake f;
  fake_start(&f, script_frames, NULL);
  mgr_client *m;
  check_rc(m, "connect", connect_to(&f, false, &m), MGR_OK);
  mgr_proxy *v = NULL;
  if (m) check_rc(m, "var_new", mgr_var_new(m, NULL, &v), MGR_OK);
  if (v) {
    mgr_value got;
    int rc = mgr_var_get(v, &got);
    check_rc(m, "2 MB var_get", rc, MGR_OK);
    check(rc != MGR_OK || is_pattern(&got, 2000000 - 8), "2 MB: wrong value");
    mgr_value_free(&got);
    rc = mgr_var_get(v, &got);
    check_rc(m, "4 MiB var_get", rc, MGR_OK);
    check(rc != MGR_OK || is_pattern(&got, 4 * MIB - 8), "4 MiB: wrong value");
    mgr_value_free(&got);
    rc = mgr_var_get(v, &got);
    check_rc(m, "over items_max", rc, MGR_OK);
    check(rc != MGR_OK ||
              (got.type == MGR_T_ARRAY && got.u.a.len == MANY_ITEMS &&
               got.u.a.items[MANY_ITEMS - 1].u.i == (MANY_ITEMS - 1) % 24),
          "items: wrong value");
    mgr_value_free(&got);
    check_rc(m, "over frame_max", mgr_var_get(v, &got), MGR_ETOOBIG);
    check(strstr(mgr_errmsg(m), "limit") != NULL, "errmsg \"%s\"",
          mgr_errmsg(m));
    /* Broken for good (3.5): later calls fail without a word to the server. */
    check_rc(m, "after", mgr_var_get(v, &got), MGR_ETOOBIG);
    check_rc(m, "release", mgr_release(v), MGR_ETOOBIG);
  }
  mgr_close(m);
  fake_finish(&f);
}

static void script_send_max(fake *f) {
  mgri_request rq;
  if (!srv_hello(f) || !srv_hello_ok(f, 4096) || !srv_create(f, 5)) return;
  /* The 5000-byte VAR_SET is never sent; the small one is. */
  if (!srv_expect(f, MGRI_OP_VAR_SET, &rq)) return;
  if (rq.nargs != 1 || rq.args[0].type != MGR_T_BYTES ||
      rq.args[0].u.s.len != 100) {
    srv_fail(f, "not the 100-byte VAR_SET");
    return;
  }
  if (!srv_ok(f, rq.rid, mgr_nil())) return;
  if (!srv_expect(f, MGRI_OP_RELEASE, &rq) || !srv_ok(f, rq.rid, mgr_nil()))
    return;
  srv_eof(f);
}

/* What we send stays within the server's frame_max, though ours is more;
 * refusing a request locally does not hurt the connection. */
/* Checks spec R-3.6-a (spec/protocol.md; tests/reqs/check_reqs.py). */
static void test_send_max_from_hello(void **state) {
  (void)state;
  fake f;
  fake_start(&f, script_send_max, NULL);
  mgr_client *m;
  check_rc(m, "connect", connect_to(&f, false, &m), MGR_OK);
  mgr_proxy *v = NULL;
  if (m) check_rc(m, "var_new", mgr_var_new(m, NULL, &v), MGR_OK);
  if (v) {
    static uint8_t big[5000];
    mgr_value b = mgr_bytes(big, sizeof big);
    check_rc(m, "5000 bytes to a 4096 server", mgr_var_set(v, &b), MGR_ETOOBIG);
    b = mgr_bytes(big, 100);
    check_rc(m, "100 bytes", mgr_var_set(v, &b), MGR_OK);
    check_rc(m, "release", mgr_release(v), MGR_OK);
  }
  mgr_close(m);
  fake_finish(&f);
}

/* --- stale rids are ignored (8.2) ---------------------------------------- */

static void script_stale(fake *f) {
  mgri_request rq;
  if (!srv_hello(f) || !srv_hello_ok(f, MIB) || !srv_create(f, 5)) return;
  if (!srv_expect(f, MGRI_OP_VAR_GET, &rq)) return;
  uint64_t rid = rq.rid;
  /* Replies no call waits for: later rids, an answered one, a non-fatal
   * error. Then the right one. */
  if (!srv_ok(f, rid + 5, mgr_text("stale")) ||
      !srv_err(f, rid + 6, 40, "KeyError: stale") ||
      !srv_ok(f, rid - 1, mgr_text("answered")) ||
      !srv_err(f, 0, 43, "ValueError: stale") ||
      !srv_ok(f, rid, mgr_text("right")))
    return;
  if (!srv_expect(f, MGRI_OP_VAR_GET, &rq) ||
      !srv_ok(f, rq.rid, mgr_text("again")))
    return;
  if (!srv_expect(f, MGRI_OP_RELEASE, &rq) || !srv_ok(f, rq.rid, mgr_nil()))
    return;
  srv_eof(f);
}

static void check_text(mgr_client *m, int rc, mgr_value *got,
                       const char *want) {
  check_rc(m, want, rc, MGR_OK);
  if (rc == MGR_OK)
    check(got->type == MGR_T_TEXT && got->u.s.len == strlen(want) &&
              memcmp(got->u.s.ptr, want, got->u.s.len) == 0,
          "not \"%s\"", want);
  mgr_value_free(got);
}

/* Checks spec R-8.2-a, R-8.2-b (spec/protocol.md; tests/reqs/check_reqs.py). */
static void test_stale_rids_ignored(void **state) {
  (void)state;
  fake f;
  fake_start(&f, script_stale, NULL);
  mgr_client *m;
  check_rc(m, "connect", connect_to(&f, false, &m), MGR_OK);
  mgr_proxy *v = NULL;
  if (m) check_rc(m, "var_new", mgr_var_new(m, NULL, &v), MGR_OK);
  if (v) {
    mgr_value got;
    check_text(m, mgr_var_get(v, &got), &got, "right");
    check_text(m, mgr_var_get(v, &got), &got, "again");
    check_rc(m, "release", mgr_release(v), MGR_OK);
  }
  mgr_close(m);
  fake_finish(&f);
}

/* --- fatal codes break the connection whatever their rid (10.3) ----------- */

static const uint64_t fatal_codes[] = {20, 21, 22, 23, 24, 48, 0};

static void script_fatal(fake *f) {
  for (size_t i = 0; fatal_codes[i]; i++) {
    mgri_request rq;
    if (!srv_hello(f) || !srv_hello_ok(f, MIB) ||
        !srv_expect(f, MGRI_OP_PING, &rq))
      return;
    /* Alternately a rid no call waits for, and rid 0 (HELLO's, answered).
     * Then the ping's own reply, which a client that let the fatal code pass
     * would take (one that acts on it may have closed already). */
    uint64_t rid = i % 2 ? 0 : rq.rid + 9;
    mgri_reply pong = {.rid = rq.rid, .status = MGR_OK, .result = mgr_nil()};
    if (!srv_err(f, rid, fatal_codes[i], "fatal") ||
        !srv_send(f, &pong, true) || !srv_eof(f))
      return;
  }
}

/* Checks spec R-8.2-c, R-10.3-a (spec/protocol.md; tests/reqs/check_reqs.py). */
static void test_fatal_any_rid(void **state) {
  (void)state;
  fake f;
  fake_start(&f, script_fatal, NULL);
  for (size_t i = 0; fatal_codes[i]; i++) {
    mgr_client *m;
    check_rc(m, "connect", connect_to(&f, false, &m), MGR_OK);
    if (!m) break;
    char what[64];
    snprintf(what, sizeof what, "ping answered code %llu",
             (unsigned long long)fatal_codes[i]);
    int want = mgri_err_from_wire(fatal_codes[i]);
    check_rc(m, what, mgr_ping(m), want);
    check_rc(m, "the next ping", mgr_ping(m), want);
    mgr_close(m);
  }
  fake_finish(&f);
}

/* --- the server's uid (2.3) ---------------------------------------------- */

#define OTHER_UID 65534 /* nobody */

static void script_other_uid(fake *f) {
  bool allowed = f->arg != NULL;
  if (!srv_accept(f)) return;
  if (!allowed) {
    srv_eof(f); /* refused before HELLO: not a byte sent to us */
    return;
  }
  mgri_request rq;
  if (!srv_expect(f, MGRI_OP_HELLO, &rq) || !srv_hello_ok(f, MIB)) return;
  srv_eof(f);
}

/* The fake as another uid, in a child: bound as root (the directory is
 * root's), then setuid, then listen — SO_PEERCRED reports the credentials of
 * the listen() call. Returns the client's status; *child_ok whether the
 * fake's script passed. */
static int connect_other_uid(bool allow, bool *child_ok) {
  fake f;
  fake_init(&f, script_other_uid, allow ? &f : NULL);
  int ready[2];
  assert_int_equal(pipe(ready), 0);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    close(ready[0]);
    f.client_pid = getppid();
    bool ok = setuid(OTHER_UID) == 0 && listen(f.lfd, 8) == 0 &&
              write(ready[1], "r", 1) == 1;
    if (!ok)
      srv_fail(&f, "setuid/listen: %s", strerror(errno));
    else
      f.script(&f);
    if (f.err[0])
      fprintf(stderr, "fake server (uid %d): %s\n", OTHER_UID, f.err);
    _exit(f.err[0] ? 1 : 0);
  }
  close(ready[1]);
  char b;
  ssize_t n;
  do {
    n = read(ready[0], &b, 1);
  } while (n < 0 && errno == EINTR);
  close(ready[0]);
  mgr_client *m = NULL;
  int rc = n == 1 ? connect_to(&f, allow, &m) : MGR_ESYS;
  mgr_close(m);
  int st = 0;
  while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
  }
  *child_ok = WIFEXITED(st) && WEXITSTATUS(st) == 0;
  fake_fini(&f);
  return rc;
}

/* Checks spec R-2.3-e (spec/protocol.md; tests/reqs/check_reqs.py). */
static void test_peer_uid(void **state) {
  (void)state;
  if (geteuid() != 0) {
    printf("# skipped: running the fake server under another uid needs root "
           "(it does setuid(%d))\n",
           OTHER_UID);
    skip();
  }
  g_fail[0] = 0;
  bool child_ok;
  int rc = connect_other_uid(false, &child_ok);
  if (rc != MGR_EPERM)
    fail_msg("uid %d: got %s, want MGR_EPERM (%s)", OTHER_UID, mgr_err_name(rc),
             mgr_errmsg(NULL));
  const char *msg = mgr_errmsg(NULL);
  if (!strstr(msg, "uid 65534") || !strstr(msg, "allow_other_uid"))
    fail_msg("errmsg \"%s\"", msg);
  assert_true(child_ok);
  rc = connect_other_uid(true, &child_ok);
  if (rc != MGR_OK)
    fail_msg("allow_other_uid: got %s (%s)", mgr_err_name(rc),
             mgr_errmsg(NULL));
  assert_true(child_ok);
}

/* --- nothing before the HELLO reply (7.1, 3.6) ---------------------------- */

/* The thread of the client whose connection the script watches. */
static _Atomic pid_t g_client_tid;

/* Whether thread tid of this process is blocked in a system call that waits
 * for the socket: poll or ppoll (a deadline), recvfrom or read. */
static bool blocked_reading(pid_t tid) {
  char path[64], b[128];
  snprintf(path, sizeof path, "/proc/self/task/%d/syscall", (int)tid);
  FILE *fp = fopen(path, "r");
  if (!fp) return false;
  bool got = fgets(b, sizeof b, fp) != NULL;
  fclose(fp);
  if (!got || !isdigit((unsigned char)b[0])) return false; /* "running" */
  long nr = strtol(b, NULL, 10);
  return nr == SYS_poll || nr == SYS_ppoll || nr == SYS_recvfrom ||
         nr == SYS_read;
}

/* After the client's HELLO: waits until the client's thread blocks for the
 * reply, then nothing more may have come (spec 7.1: "MUST NOT send another
 * request before the HELLO reply arrives"; on a Unix socket what was sent
 * is in our receive queue when send() returns, so whatever the client sent
 * before it blocked is visible now, read ahead or still queued). */
static bool srv_nothing_before_reply(fake *f) {
  pid_t tid = atomic_load(&g_client_tid);
  struct timespec t0, t;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  while (!tid || !blocked_reading(tid)) {
    clock_gettime(CLOCK_MONOTONIC, &t);
    if ((t.tv_sec - t0.tv_sec) * 1000 > IO_MS) {
      srv_fail(f, "the client's thread never blocked for the HELLO reply");
      return false;
    }
    sched_yield();
    tid = atomic_load(&g_client_tid);
  }
  uint8_t b;
  ssize_t n = recv(f->fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
  if (mgri_reader_pending(&f->rd) || n > 0) {
    srv_fail(f, "the client sent %zu more bytes before the HELLO reply",
             mgri_reader_pending(&f->rd) + (n > 0 ? 1 : 0));
    return false;
  }
  return true;
}

/* The HELLO of a connection a thread opens for its first call, the call
 * waiting: the HELLO frame alone, within the default frame_max, then
 * nothing until our reply; then the call. */
static bool srv_hello_quiet(fake *f, uint32_t max_frame) {
  return srv_hello(f) && srv_nothing_before_reply(f) &&
         srv_hello_ok(f, max_frame);
}

static void script_quiet(fake *f) {
  mgri_request rq;
  /* mgr_connect's own connection, from the client's thread. */
  if (!srv_accept(f) || !srv_expect(f, MGRI_OP_HELLO, &rq) ||
      !srv_nothing_before_reply(f) || !srv_hello_ok(f, 2 * MIB))
    return;
  if (!srv_expect(f, MGRI_OP_PING, &rq) || !srv_ok(f, rq.rid, mgr_nil()))
    return;
  /* The connection a second thread opens for its first call (a ping): the
   * ping waits for the HELLO reply. Then a 1.5 MiB request: allowed once
   * the reply said 2 MiB. */
  f->session = FAKE_SESSION;
  if (!srv_hello_quiet(f, 2 * MIB)) return;
  if (!srv_expect(f, MGRI_OP_PING, &rq) || !srv_ok(f, rq.rid, mgr_nil()))
    return;
  if (!srv_create(f, 5)) return;
  if (!srv_expect(f, MGRI_OP_VAR_SET, &rq)) return;
  if (rq.nargs != 1 || rq.args[0].type != MGR_T_BYTES ||
      rq.args[0].u.s.len != 3 * MIB / 2) {
    srv_fail(f, "not the 1.5 MiB VAR_SET");
    return;
  }
  if (!srv_ok(f, rq.rid, mgr_nil())) return;
  if (!srv_expect(f, MGRI_OP_RELEASE, &rq) || !srv_ok(f, rq.rid, mgr_nil()))
    return;
  srv_eof(f);
}

typedef struct {
  const fake *f;
  mgr_client *m;
  int rc[4];
} quiet_ctx;

static void *quiet_connect(void *p) {
  quiet_ctx *q = p;
  atomic_store(&g_client_tid, (pid_t)syscall(SYS_gettid));
  mgr_options o;
  mgr_options_init(&o);
  o.max_frame = 64 * MIB; /* ours: the ceiling; the server's unknown yet */
  q->rc[0] = mgr_connect(q->f->path, &o, &q->m);
  if (q->rc[0] == MGR_OK) q->rc[1] = mgr_ping(q->m);
  return NULL;
}

static void *quiet_first_call(void *p) {
  quiet_ctx *q = p;
  atomic_store(&g_client_tid, (pid_t)syscall(SYS_gettid));
  q->rc[2] = mgr_ping(q->m); /* opens this thread's connection */
  mgr_proxy *v = NULL;
  q->rc[3] = mgr_var_new(q->m, NULL, &v);
  if (v) {
    uint8_t *big = calloc(1, 3 * MIB / 2);
    mgr_value b = mgr_bytes(big, 3 * MIB / 2);
    if (big && mgr_var_set(v, &b) != MGR_OK) q->rc[3] = MGR_EINVAL;
    free(big);
    if (mgr_release(v) != MGR_OK) q->rc[3] = MGR_EINVAL;
  }
  return NULL;
}

/* Checks spec R-7.1-b, R-3.6-b (spec/protocol.md; tests/reqs/check_reqs.py):
 * on mgr_connect's connection and on the one a thread opens for its first
 * call (the call then waits), the client sends its HELLO, within the
 * default frame_max of 1 MiB though its own is 64 MiB, and nothing else
 * until the HELLO reply (the fake looks once the client's thread is blocked
 * waiting for the reply); after a reply saying 2 MiB a 1.5 MiB request goes
 * out. */
static void test_nothing_before_hello_reply(void **state) {
  (void)state;
  fake f;
  fake_start(&f, script_quiet, NULL);
  quiet_ctx q = {.f = &f, .m = NULL, .rc = {MGR_OK, MGR_OK, MGR_OK, MGR_OK}};
  pthread_t t;
  atomic_store(&g_client_tid, 0);
  assert_int_equal(pthread_create(&t, NULL, quiet_connect, &q), 0);
  pthread_join(t, NULL);
  check_rc(q.m, "connect", q.rc[0], MGR_OK);
  check_rc(q.m, "ping", q.rc[1], MGR_OK);
  if (q.m) {
    atomic_store(&g_client_tid, 0);
    assert_int_equal(pthread_create(&t, NULL, quiet_first_call, &q), 0);
    pthread_join(t, NULL);
    check_rc(q.m, "a thread's first call", q.rc[2], MGR_OK);
    check_rc(q.m, "1.5 MiB after a 2 MiB HELLO", q.rc[3], MGR_OK);
  }
  mgr_close(q.m);
  fake_finish(&f);
}

/* --- no rid twice while outstanding (8.1) -------------------------------- */

/* The fake's view of what the client has outstanding on the connection. */
#define OUT_MAX 16
typedef struct {
  uint64_t rid[OUT_MAX];
  int n;
  uint64_t last;
} outstanding;

/* The next request, which must be op; its rid must not be outstanding
 * (R-8.1-a) and, as the spec advises (R-8.1-b), above the last one. */
static bool srv_expect_rid(fake *f, outstanding *o, uint64_t op,
                           mgri_request *rq) {
  if (!srv_expect(f, op, rq)) return false;
  for (int i = 0; i < o->n; i++)
    if (o->rid[i] == rq->rid) {
      srv_fail(f, "rid %llu sent again while outstanding",
               (unsigned long long)rq->rid);
      return false;
    }
  if (rq->rid <= o->last) {
    srv_fail(f, "rid %llu after rid %llu", (unsigned long long)rq->rid,
             (unsigned long long)o->last);
    return false;
  }
  o->last = rq->rid;
  if (o->n < OUT_MAX) o->rid[o->n++] = rq->rid;
  return true;
}

static void answered(outstanding *o, uint64_t rid) {
  for (int i = 0; i < o->n; i++)
    if (o->rid[i] == rid) o->rid[i] = o->rid[--o->n];
}

static bool srv_answer(fake *f, outstanding *o, uint64_t rid, mgr_value v) {
  answered(o, rid);
  return srv_ok(f, rid, v);
}

static void script_rids(fake *f) {
  mgri_request rq;
  outstanding o = {.n = 0, .last = 0};
  if (!srv_hello(f) || !srv_hello_ok(f, MIB)) return;
  mgr_value ref = mgr_nil();
  ref.type = MGR_T_REF;
  ref.u.ref.id = 5;
  ref.u.ref.kind = MGR_K_VAR;
  if (!srv_expect_rid(f, &o, MGRI_OP_CREATE, &rq) ||
      !srv_answer(f, &o, rq.rid, ref))
    return;
  ref.u.ref.id = 6;
  ref.u.ref.kind = MGR_K_LOCK;
  if (!srv_expect_rid(f, &o, MGRI_OP_CREATE, &rq) ||
      !srv_answer(f, &o, rq.rid, ref))
    return;
  /* A get left unanswered: the client gives up (its per-call timeout). */
  if (!srv_expect_rid(f, &o, MGRI_OP_VAR_GET, &rq)) return;
  uint64_t late = rq.rid;
  /* The next get, sent once the client gave up: a new rid. The late reply
   * first, then its own. */
  if (!srv_expect_rid(f, &o, MGRI_OP_VAR_GET, &rq) ||
      !srv_answer(f, &o, late, mgr_text("late")) ||
      !srv_answer(f, &o, rq.rid, mgr_text("right")))
    return;
  /* An acquire left unanswered; the client gives up. */
  if (!srv_expect_rid(f, &o, MGRI_OP_LOCK_ACQUIRE, &rq)) return;
  late = rq.rid;
  /* A ping; then the late grant, which the client gives back (a release)
   * while its ping is outstanding: three requests in flight at once. */
  if (!srv_expect_rid(f, &o, MGRI_OP_PING, &rq)) return;
  uint64_t ping = rq.rid;
  if (!srv_answer(f, &o, late, mgr_int(1)) ||
      !srv_expect_rid(f, &o, MGRI_OP_LOCK_RELEASE, &rq) ||
      !srv_answer(f, &o, rq.rid, mgr_nil()) ||
      !srv_answer(f, &o, ping, mgr_nil()))
    return;
  for (int i = 0; i < 2; i++)
    if (!srv_expect_rid(f, &o, MGRI_OP_RELEASE, &rq) ||
        !srv_answer(f, &o, rq.rid, mgr_nil()))
      return;
  srv_eof(f);
}

/* Checks spec R-8.1-a (spec/protocol.md; tests/reqs/check_reqs.py): calls
 * that time out locally leave their requests outstanding; the next calls,
 * and the release that gives back a grant that came late, take rids that
 * are not outstanding (and increase, R-8.1-b). */
static void test_rids_not_reused(void **state) {
  (void)state;
  fake f;
  fake_start(&f, script_rids, NULL);
  mgr_client *m;
  check_rc(m, "connect", connect_to(&f, false, &m), MGR_OK);
  mgr_proxy *v = NULL, *lk = NULL;
  if (m) check_rc(m, "var_new", mgr_var_new(m, NULL, &v), MGR_OK);
  if (m) check_rc(m, "lock_new", mgr_lock_new(m, &lk), MGR_OK);
  if (v && lk) {
    /* The behaviour under test is the local timeout: 100 ms. */
    mgr_set_timeout(m, 100);
    mgr_value got;
    check_rc(m, "unanswered get", mgr_var_get(v, &got), MGR_ETIMEDOUT);
    mgr_set_timeout(m, -1);
    check_text(m, mgr_var_get(v, &got), &got, "right");
    mgr_set_timeout(m, 100);
    bool acquired = true;
    check_rc(m, "unanswered acquire", mgr_lock_acquire(lk, 0, &acquired),
             MGR_ETIMEDOUT);
    mgr_set_timeout(m, -1);
    check_rc(m, "ping", mgr_ping(m), MGR_OK);
  }
  if (v) check_rc(m, "release var", mgr_release(v), MGR_OK);
  if (lk) check_rc(m, "release lock", mgr_release(lk), MGR_OK);
  mgr_close(m);
  fake_finish(&f);
}

/* --- results of the wrong shape: MGR_EPROTO, the connection kept ---------- */

static mgr_value ref_of(uint64_t id, mgr_kind kind) {
  mgr_value r = mgr_nil();
  r.type = MGR_T_REF;
  r.u.ref.id = id;
  r.u.ref.kind = (uint32_t)kind;
  return r;
}

/* Answers the next request, which must be op, with result. */
static bool srv_reply_to(fake *f, uint64_t op, mgr_value result) {
  mgri_request rq;
  return srv_expect(f, op, &rq) && srv_ok(f, rq.rid, result);
}

static void script_shapes_bad(fake *f) {
  if (!srv_hello(f) || !srv_hello_ok(f, MIB)) return;
  mgr_value two[2] = {mgr_int(1), mgr_int(2)};
  mgr_value ref_int[2] = {ref_of(7, MGR_K_DICT), mgr_int(5)};
  mgr_value int_true[2] = {mgr_int(9), mgr_bool(true)};
  mgr_value slot_ok[2] = {mgr_int(0), mgr_int(1)};
  mgr_value slot_neg[2] = {mgr_int(-1), mgr_nil()};
  mgr_value slot_notext[2] = {mgr_int(40), mgr_int(5)};
  mgr_value b1[2] = {mgr_array(slot_ok, 2), mgr_text("x")};
  mgr_value b2[2] = {mgr_array(slot_neg, 2), mgr_array(slot_ok, 2)};
  mgr_value b3[2] = {mgr_array(slot_notext, 2), mgr_array(slot_ok, 2)};
  mgr_value slot_three[3] = {mgr_int(0), mgr_int(1), mgr_int(2)};
  mgr_value slot_textcode[2] = {mgr_text("0"), mgr_int(1)};
  mgr_value b4[2] = {mgr_array(slot_ok, 2), mgr_array(slot_three, 3)};
  mgr_value b5[2] = {mgr_array(slot_textcode, 2), mgr_array(slot_ok, 2)};
  if (!srv_reply_to(f, MGRI_OP_CREATE, ref_of(5, MGR_K_DICT)) ||
      !srv_reply_to(f, MGRI_OP_DICT_POPITEM, mgr_int(3)) ||
      !srv_reply_to(f, MGRI_OP_DICT_CAS, mgr_array(two, 2)) ||
      !srv_reply_to(f, MGRI_OP_OPEN, mgr_array(ref_int, 2)) ||
      !srv_reply_to(f, MGRI_OP_OPEN, mgr_array(int_true, 2)) ||
      !srv_reply_to(f, MGRI_OP_CREATE, mgr_int(5)) ||
      !srv_reply_to(f, MGRI_OP_CREATE, ref_of(6, MGR_K_ARRAY)) ||
      !srv_reply_to(f, MGRI_OP_ARRAY_TYPECODE, mgr_text("ii")) ||
      !srv_reply_to(f, MGRI_OP_BATCH, mgr_array(b1, 2)) ||
      !srv_reply_to(f, MGRI_OP_BATCH, mgr_array(b2, 2)) ||
      !srv_reply_to(f, MGRI_OP_BATCH, mgr_array(b3, 2)) ||
      !srv_reply_to(f, MGRI_OP_BATCH, mgr_array(b4, 2)) ||
      !srv_reply_to(f, MGRI_OP_BATCH, mgr_array(b5, 2)) ||
      !srv_reply_to(f, MGRI_OP_RELEASE, mgr_nil()) ||
      !srv_reply_to(f, MGRI_OP_RELEASE, mgr_nil()))
    return;
  srv_eof(f);
}

/* Each result of a shape the call does not expect (popitem's pair, CAS's
 * [swapped, current], OPEN's [ref, created], CREATE's ref, a typecode, a
 * BATCH reply's slots) is MGR_EPROTO for that call, with no proxy made;
 * the connection goes on. */
static void test_results_of_wrong_shape(void **state) {
  (void)state;
  fake f;
  fake_start(&f, script_shapes_bad, NULL);
  mgr_client *m;
  check_rc(m, "connect", connect_to(&f, false, &m), MGR_OK);
  mgr_proxy *d = NULL, *p = NULL, *l = NULL, *a = NULL;
  if (m) check_rc(m, "dict_new", mgr_dict_new(m, NULL, &d), MGR_OK);
  if (d) {
    mgr_value k = mgr_nil(), v = mgr_nil(), key = mgr_text("k");
    check_rc(m, "popitem", mgr_dict_popitem(d, &k, &v), MGR_EPROTO);
    check(k.type == MGR_T_NIL && v.type == MGR_T_NIL, "popitem's outs set");
    bool sw = true;
    check_rc(m, "cas", mgr_dict_cas(d, &key, &key, &key, &sw, NULL),
             MGR_EPROTO);
    bool created = true;
    check_rc(m, "open", mgr_open(m, "n", MGR_K_DICT, NULL, true, &p, &created),
             MGR_EPROTO);
    check(p == NULL, "open made a proxy");
    check_rc(m, "open", mgr_open(m, "n", MGR_K_DICT, NULL, true, &p, &created),
             MGR_EPROTO);
    check_rc(m, "list_new", mgr_list_new(m, NULL, &l), MGR_EPROTO);
    check(l == NULL, "list_new made a proxy");
    mgr_value three = mgr_int(3);
    check_rc(m, "array_new", mgr_array_new(m, 'i', &three, &a), MGR_OK);
    char tc = 0;
    if (a) check_rc(m, "typecode", mgr_array_typecode(a, &tc), MGR_EPROTO);
    mgr_batch *b = NULL;
    check_rc(m, "batch_new", mgr_batch_new(m, &b), MGR_OK);
    if (b) {
      for (int i = 0; i < 5; i++) {
        mgr_batch_clear(b);
        check_rc(m, "add", mgr_batch_dict_len(b, d), MGR_OK);
        check_rc(m, "add", mgr_batch_dict_len(b, d), MGR_OK);
        check_rc(m, "batch_run", mgr_batch_run(b, NULL), MGR_EPROTO);
        check(mgr_batch_status(b, 0) == MGR_EPROTO, "slot 0 not EPROTO");
        check(mgr_batch_status(b, 1) == MGR_EPROTO, "slot 1 not EPROTO");
        /* No slot 2: the run's error is not its status. */
        check(mgr_batch_status(b, 2) == MGR_EINVAL, "slot 2 not EINVAL");
      }
      mgr_batch_free(b);
    }
    if (a) check_rc(m, "release", mgr_release(a), MGR_OK);
    check_rc(m, "release", mgr_release(d), MGR_OK);
  }
  mgr_close(m);
  fake_finish(&f);
}

/* --- large replies of other shapes (spec 3.3, 4.2, 14.2.3) ----------------
 * A reply frame over MGRI_IDLE_BUF_MAX shaped [rid, 0, string of >= 64 KiB]
 * takes the client's direct path; every other large reply (an error, an
 * array, a string with a 2-byte head) is decoded the ordinary way, with the
 * same result. A frame that only looks like the direct shape is held to
 * the decoder's rules: a head that is not the shortest, a byte after the
 * string, text that is not UTF-8 are each a malformed reply, which breaks
 * the connection (spec 3.5). */

/* The malformed endings, each a frame larger than the socket's buffer, so
 * that the client sees its first bytes before the rest: a string head
 * 0x5a/0x7a with 4 length bytes, BIG bytes of it. */
#define BIG 2000000
enum {
  BIG_BAD_UTF8,  /* [rid, 0, text], one byte of it not UTF-8 */
  BIG_LONG_HEAD, /* a 5-byte head for 20000 bytes, then more bytes */
  BIG_TRAILING,  /* one byte after the string, inside the frame */
  BIG_RID_HEAD,  /* the rid (< 24) in a 1-byte head */
  BIG_RID_HUGE,  /* a rid over INT64_MAX */
  BIG_RID_NEG,   /* a negative rid */
  BIG_RID_RSVD,  /* a rid head of reserved length (28) */
  BIG_FOUR,      /* an array of 4, not 3 */
  BIG_CASES
};

/* Sends body as one frame (the client may close while it is sent). */
static bool srv_raw(fake *f, const uint8_t *body, size_t n) {
  uint8_t h[4] = {(uint8_t)(n >> 24), (uint8_t)(n >> 16), (uint8_t)(n >> 8),
                  (uint8_t)n};
  if (send(f->fd, h, 4, MSG_NOSIGNAL) != 4) {
    srv_fail(f, "send: %s", strerror(errno));
    return false;
  }
  for (size_t off = 0; off < n;) {
    ssize_t w = send(f->fd, body + off, n - off, MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return true; /* the client gave up on it */
    off += (size_t)w;
  }
  return true;
}

/* A frame by hand: head[0..hn), then a string (type 0x5a or 0x7a) of len
 * bytes (text: 'a' + i % 26, with 0xff at byte 100 if bad), then extra
 * zero bytes. */
static bool srv_raw_string(fake *f, const uint8_t *head, size_t hn,
                           uint8_t type, size_t len, size_t extra, bool bad) {
  size_t n = hn + 5 + len + extra;
  uint8_t *b = calloc(1, n);
  if (!b) {
    srv_fail(f, "out of memory");
    return false;
  }
  memcpy(b, head, hn);
  size_t k = hn;
  b[k++] = type;
  b[k++] = (uint8_t)(len >> 24);
  b[k++] = (uint8_t)(len >> 16);
  b[k++] = (uint8_t)(len >> 8);
  b[k++] = (uint8_t)len;
  for (size_t i = 0; i < len; i++)
    b[k + i] = type == 0x7a ? (uint8_t)('a' + i % 26) : pat(i);
  if (bad) b[k + 100] = 0xff;
  bool ok = srv_raw(f, b, n);
  free(b);
  return ok;
}

static void script_big_shapes(fake *f) {
  int what = *(const int *)f->arg;
  mgri_request rq;
  if (!srv_hello(f) || !srv_hello_ok(f, 4 * MIB) || !srv_create(f, 5)) return;
  if (what == BIG_BAD_UTF8) {
    /* A large error reply. */
    char *msg = malloc(20001);
    if (!msg) {
      srv_fail(f, "out of memory");
      return;
    }
    memcpy(msg, "ValueError: ", 12);
    memset(msg + 12, 'x', 20000 - 12);
    msg[20000] = 0;
    mgri_reply r = {
        .rid = 0, .status = MGR_EVALUE, .msg = msg, .msglen = 20000};
    bool ok = srv_expect(f, MGRI_OP_VAR_GET, &rq);
    if (ok) {
      r.rid = rq.rid;
      ok = srv_send(f, &r, false);
    }
    free(msg);
    if (!ok) return;
    /* A large array holding the string. */
    uint8_t *p = malloc(70000);
    if (!p) {
      srv_fail(f, "out of memory");
      return;
    }
    for (size_t i = 0; i < 70000; i++)
      p[i] = pat(i);
    mgr_value one = mgr_bytes(p, 70000);
    ok = srv_expect(f, MGRI_OP_VAR_GET, &rq) &&
         srv_ok(f, rq.rid, mgr_array(&one, 1));
    /* 30000 bytes: a 2-byte head. */
    ok = ok && srv_expect(f, MGRI_OP_VAR_GET, &rq) &&
         srv_ok(f, rq.rid, mgr_bytes(p, 30000));
    free(p);
    if (!ok) return;
  }
  if (!srv_expect(f, MGRI_OP_VAR_GET, &rq)) return;
  uint8_t r = (uint8_t)rq.rid; /* < 24: the calls here are few */
  bool ok = false;
  switch (what) {
  case BIG_BAD_UTF8:
    ok = srv_raw_string(f, (uint8_t[]){0x83, r, 0}, 3, 0x7a, BIG, 0, true);
    break;
  case BIG_LONG_HEAD:
    ok = srv_raw_string(f, (uint8_t[]){0x83, r, 0}, 3, 0x5a, 20000, BIG, false);
    break;
  case BIG_TRAILING:
    ok = srv_raw_string(f, (uint8_t[]){0x83, r, 0}, 3, 0x5a, BIG, 1, false);
    break;
  case BIG_RID_HEAD:
    ok = srv_raw_string(f, (uint8_t[]){0x83, 0x18, r, 0}, 4, 0x7a, BIG, 0,
                        false);
    break;
  case BIG_RID_HUGE:
    ok =
        srv_raw_string(f, (uint8_t[]){0x83, 0x1b, 0x80, 0, 0, 0, 0, 0, 0, r, 0},
                       11, 0x5a, BIG, 0, false);
    break;
  case BIG_RID_NEG:
    ok = srv_raw_string(f, (uint8_t[]){0x83, 0x20, 0}, 3, 0x5a, BIG, 0, false);
    break;
  case BIG_RID_RSVD:
    ok = srv_raw_string(f, (uint8_t[]){0x83, 0x1c, 0}, 3, 0x5a, BIG, 0, false);
    break;
  case BIG_FOUR:
    ok = srv_raw_string(f, (uint8_t[]){0x84, r, 0}, 3, 0x5a, BIG, 1, false);
    break;
  }
  if (ok) srv_eof(f); /* broken: not even RELEASE */
}

static void test_big_reply_shapes(void **state) {
  (void)state;
  for (int what = 0; what < BIG_CASES; what++) {
    fake f;
    fake_start(&f, script_big_shapes, &what);
    mgr_client *m;
    check_rc(m, "connect", connect_to(&f, false, &m), MGR_OK);
    mgr_proxy *v = NULL;
    if (m) check_rc(m, "var_new", mgr_var_new(m, NULL, &v), MGR_OK);
    if (v && what == BIG_BAD_UTF8) {
      mgr_value got = mgr_nil();
      check_rc(m, "large error", mgr_var_get(v, &got), MGR_EVALUE);
      check(strncmp(mgr_errmsg(m), "ValueError: xxxx", 16) == 0,
            "large error: errmsg \"%.40s\"", mgr_errmsg(m));
      int rc = mgr_var_get(v, &got);
      check_rc(m, "large array", rc, MGR_OK);
      check(rc != MGR_OK || (got.type == MGR_T_ARRAY && got.u.a.len == 1 &&
                             is_pattern(&got.u.a.items[0], 70000)),
            "large array: wrong value");
      mgr_value_free(&got);
      rc = mgr_var_get(v, &got);
      check_rc(m, "30000 bytes", rc, MGR_OK);
      check(rc != MGR_OK || is_pattern(&got, 30000), "30000: wrong value");
      mgr_value_free(&got);
    }
    /* The decoder's code: EDECODE for bytes that are not valid CBOR of
     * the profile, EPROTO for valid CBOR that is not a reply. */
    static const int want[BIG_CASES] = {
        [BIG_BAD_UTF8] = MGR_EDECODE, [BIG_LONG_HEAD] = MGR_EDECODE,
        [BIG_TRAILING] = MGR_EDECODE, [BIG_RID_HEAD] = MGR_EDECODE,
        [BIG_RID_HUGE] = MGR_EDECODE, [BIG_RID_NEG] = MGR_EPROTO,
        [BIG_RID_RSVD] = MGR_EDECODE, [BIG_FOUR] = MGR_EPROTO};
    if (v) {
      mgr_value got = mgr_nil();
      int rc = mgr_var_get(v, &got);
      check(rc == want[what], "case %d: got %s (%s)", what, mgr_err_name(rc),
            mgr_errmsg(m));
      check(strstr(mgr_errmsg(m), "malformed reply") != NULL,
            "case %d: errmsg \"%s\"", what, mgr_errmsg(m));
      check(got.type == MGR_T_NIL, "case %d: a value came back", what);
      /* Broken for good: nothing more goes to the server. */
      check_rc(m, "after", mgr_var_get(v, &got), want[what]);
      check_rc(m, "release", mgr_release(v), want[what]);
    }
    mgr_close(m);
    fake_finish(&f);
  }
}

/* --- late refusals are not given back (spec 8.1) -------------------------
 * An acquire that timed out locally may be answered later: a grant is
 * given back (the client releases it), but a refusal (a lock's 0, a
 * semaphore's false) or an error holds nothing, so nothing is sent for
 * it: the next request the fake sees is the client's own. */
static void script_late_refusals(fake *f) {
  mgri_request rq;
  if (!srv_hello(f) || !srv_hello_ok(f, MIB)) return;
  if (!srv_expect(f, MGRI_OP_CREATE, &rq) ||
      !srv_ok(f, rq.rid, ref_of(6, MGR_K_LOCK)) ||
      !srv_expect(f, MGRI_OP_CREATE, &rq) ||
      !srv_ok(f, rq.rid, ref_of(7, MGR_K_SEMAPHORE)))
    return;
  static const uint64_t ops[3] = {MGRI_OP_LOCK_ACQUIRE, MGRI_OP_SEM_ACQUIRE,
                                  MGRI_OP_LOCK_ACQUIRE};
  for (int i = 0; i < 3; i++) {
    /* Unanswered until the client gave up and sent a ping. */
    if (!srv_expect(f, ops[i], &rq)) return;
    uint64_t late = rq.rid;
    if (!srv_expect(f, MGRI_OP_PING, &rq)) return;
    uint64_t ping = rq.rid;
    bool ok = i == 0   ? srv_ok(f, late, mgr_int(0))
              : i == 1 ? srv_ok(f, late, mgr_bool(false))
                       : srv_err(f, late, mgri_err_to_wire(MGR_ETIMEDOUT),
                                 "TimeoutError: late");
    if (!ok || !srv_ok(f, ping, mgr_nil())) return;
  }
  /* An error without a message: the client's is the code's own text. */
  if (!srv_expect(f, MGRI_OP_PING, &rq)) return;
  mgri_reply bare = {.rid = rq.rid, .status = MGR_EKEY};
  if (!srv_send(f, &bare, false)) return;
  /* Then the releases of the two proxies, and nothing else. */
  for (int i = 0; i < 2; i++)
    if (!srv_expect(f, MGRI_OP_RELEASE, &rq) || !srv_ok(f, rq.rid, mgr_nil()))
      return;
  srv_eof(f);
}

static void test_late_refusals(void **state) {
  (void)state;
  fake f;
  fake_start(&f, script_late_refusals, NULL);
  mgr_client *m;
  check_rc(m, "connect", connect_to(&f, false, &m), MGR_OK);
  mgr_proxy *lk = NULL, *sem = NULL;
  if (m) check_rc(m, "lock_new", mgr_lock_new(m, &lk), MGR_OK);
  if (m) check_rc(m, "semaphore_new", mgr_semaphore_new(m, 0, &sem), MGR_OK);
  if (lk && sem) {
    for (int i = 0; i < 3; i++) {
      bool acquired = true;
      /* The behaviour under test is the local timeout: 100 ms. */
      mgr_set_timeout(m, 100);
      int rc = i == 1 ? mgr_sem_acquire(sem, 0, &acquired)
                      : mgr_lock_acquire(lk, 0, &acquired);
      check_rc(m, "unanswered acquire", rc, MGR_ETIMEDOUT);
      mgr_set_timeout(m, -1);
      check_rc(m, "ping", mgr_ping(m), MGR_OK);
    }
    check_rc(m, "bare error", mgr_ping(m), MGR_EKEY);
    check(!strcmp(mgr_errmsg(m), mgr_strerror(MGR_EKEY)), "errmsg \"%s\"",
          mgr_errmsg(m));
  }
  if (lk) check_rc(m, "release lock", mgr_release(lk), MGR_OK);
  if (sem) check_rc(m, "release semaphore", mgr_release(sem), MGR_OK);
  mgr_close(m);
  fake_finish(&f);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_hello_plain),
      cmocka_unit_test(test_hello_version_outside),
      cmocka_unit_test(test_hello_shape),
      cmocka_unit_test(test_hello_session_joined),
      cmocka_unit_test(test_shm_unusable),
      cmocka_unit_test(test_shm_hostile_manager),
      cmocka_unit_test(test_frame_max_from_hello),
      cmocka_unit_test(test_send_max_from_hello),
      cmocka_unit_test(test_stale_rids_ignored),
      cmocka_unit_test(test_fatal_any_rid),
      cmocka_unit_test(test_peer_uid),
      cmocka_unit_test(test_nothing_before_hello_reply),
      cmocka_unit_test(test_rids_not_reused),
      cmocka_unit_test(test_results_of_wrong_shape),
      cmocka_unit_test(test_big_reply_shapes),
      cmocka_unit_test(test_send_stall_socket),
      cmocka_unit_test(test_late_refusals),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
