/* mgr tests — the server over a real socket: mgr_server_run in a forked
 * child (readiness by pipe, never sleeps), raw frames built with the message
 * layer. Handshake, pipelining, bad input isolated to its connection, a
 * client dying mid-frame, oversized lengths, stalled partial frames, a lock
 * owner killed with SIGKILL, SHUTDOWN. */
#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/limits.h"
#include "mgr/mgr.h"
#include "proto/proto.h"

#define A(...)                                                                 \
  (mgr_value[]){__VA_ARGS__},                                                  \
      sizeof((mgr_value[]){__VA_ARGS__}) / sizeof(mgr_value)
/* A safety net against hangs, not a synchronisation: replies are awaited
 * with poll() and this only bounds a broken server. */
#define WAIT_MS 20000

static char dir[64];
static char path[128];
static pid_t server;

/* --- raw client -------------------------------------------------------------*/

typedef struct rc_ {
  int fd;
  mgri_arena arena;
  mgri_reply rep;
  uint64_t rid;
} rconn;

static int connect_to(void) {
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  assert_true(fd >= 0);
  struct sockaddr_un sa;
  memset(&sa, 0, sizeof sa);
  sa.sun_family = AF_UNIX;
  memcpy(sa.sun_path, path, strlen(path) + 1);
  assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
  return fd;
}

static void write_all(int fd, const void *p, size_t n) {
  const uint8_t *b = p;
  while (n) {
    ssize_t w = send(fd, b, n, MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR) continue;
    assert_true(w > 0);
    b += w;
    n -= (size_t)w;
  }
}

static void send_req(int fd, uint64_t rid, uint64_t op, uint64_t oid,
                     const mgr_value *args, size_t nargs) {
  mgri_buf b;
  mgri_buf_init(&b, 0);
  mgri_request rq = {
      .rid = rid, .op = op, .oid = oid, .args = args, .nargs = nargs};
  assert_int_equal(mgri_request_encode(&b, &rq, MGRI_FRAME_MAX_DEFAULT),
                   MGR_OK);
  write_all(fd, b.data, b.len);
  mgri_buf_fini(&b);
}

/* Reads exactly n bytes; 0 on EOF (or reset) before them. */
static int read_n(int fd, uint8_t *p, size_t n) {
  while (n) {
    struct pollfd pf = {.fd = fd, .events = POLLIN};
    int pr = poll(&pf, 1, WAIT_MS);
    if (pr < 0 && errno == EINTR) continue;
    if (pr == 0) fail_msg("no reply from the server within %d ms", WAIT_MS);
    ssize_t r = read(fd, p, n);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return 0;
    p += r;
    n -= (size_t)r;
  }
  return 1;
}

/* The next reply on c (decoded into c->rep), or 0 on EOF. */
static int next_reply(rconn *c) {
  uint8_t h[4];
  if (!read_n(c->fd, h, 4)) return 0;
  size_t n = (size_t)h[0] << 24 | (size_t)h[1] << 16 | (size_t)h[2] << 8 | h[3];
  assert_true(n > 0 && n <= MGRI_FRAME_MAX_DEFAULT);
  uint8_t *body = malloc(n);
  assert_non_null(body);
  if (!read_n(c->fd, body, n)) {
    free(body);
    fail_msg("EOF inside a reply");
  }
  mgri_limits lim;
  mgri_limits_default(&lim);
  mgri_arena_reset(&c->arena);
  mgri_decode_error de;
  int rc = mgri_reply_decode(body, n, &lim, &c->arena, &c->rep, &de);
  free(body);
  assert_int_equal(rc, MGR_OK);
  return 1;
}

static void expect_eof(rconn *c) {
  uint8_t b;
  assert_int_equal(read_n(c->fd, &b, 1), 0);
}

static mgri_reply *call(rconn *c, uint64_t op, uint64_t oid, const mgr_value *a,
                        size_t n) {
  uint64_t rid = ++c->rid;
  send_req(c->fd, rid, op, oid, a, n);
  assert_int_equal(next_reply(c), 1);
  assert_int_equal(c->rep.rid, rid);
  return &c->rep;
}

static void ok(const mgri_reply *r) {
  if (r->status != MGR_OK)
    fail_msg("expected OK, got %d (%.*s)", r->status, (int)r->msglen, r->msg);
}

static rconn *open_conn(uint64_t session, uint64_t *session_out) {
  rconn *c = calloc(1, sizeof *c);
  assert_non_null(c);
  c->fd = connect_to();
  mgri_arena_init(&c->arena, 0);
  send_req(
      c->fd, 0, MGRI_OP_HELLO, 0,
      A(mgr_int(1), mgr_int(1), mgr_int(getpid()), mgr_int((int64_t)session)));
  assert_int_equal(next_reply(c), 1);
  ok(&c->rep);
  assert_int_equal(c->rep.result.u.a.items[1].u.i, server);
  if (session_out) *session_out = (uint64_t)c->rep.result.u.a.items[3].u.i;
  return c;
}

static void close_conn(rconn *c) {
  close(c->fd);
  mgri_arena_fini(&c->arena);
  free(c);
}

static uint64_t create(rconn *c, uint32_t kind) {
  mgri_reply *r = call(c, MGRI_OP_CREATE, 0, A(mgr_int(kind)));
  ok(r);
  assert_int_equal(r->result.type, MGR_T_REF);
  return r->result.u.ref.id;
}

/* --- server process -----------------------------------------------------------*/

static bool listen_only;

static int start(void **st) {
  (void)st;
  snprintf(dir, sizeof dir, "/tmp/mgr-test-server.XXXXXX");
  if (!mkdtemp(dir)) return -1;
  snprintf(path, sizeof path, "%s/s", dir);
  int p[2];
  if (pipe(p)) return -1;
  server = fork();
  if (server < 0) return -1;
  if (server == 0) {
    close(p[0]);
    mgr_server_options o;
    mgr_server_options_init(&o);
    o.address = path;
    const char *const only[] = {path};
    if (listen_only) { /* the listen list alone, no address */
      o.address = NULL;
      o.listen = only;
      o.nlisten = 1;
    }
    o.ready_fd = p[1];
    _exit(mgr_server_run(&o) == MGR_OK ? 0 : 1);
  }
  close(p[1]);
  char b;
  ssize_t r;
  do
    r = read(p[0], &b, 1);
  while (r < 0 && errno == EINTR);
  close(p[0]);
  return r == 1 ? 0 : -1;
}

/* Stops the server with SIGTERM (if still running): it must exit 0 and
 * remove its socket. */
static int stop(void **st) {
  (void)st;
  int status = 0;
  if (server > 0) {
    kill(server, SIGTERM);
    while (waitpid(server, &status, 0) < 0 && errno == EINTR) {
    }
  }
  server = 0;
  struct stat sb;
  int gone = stat(path, &sb) != 0;
  rmdir(dir);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    fprintf(stderr, "server exit status %d\n", status);
    return -1;
  }
  return gone ? 0 : -1;
}

/* start() with the address given in the listen list only. */
static int start_listen_only(void **st) {
  listen_only = true;
  int rc = start(st);
  listen_only = false;
  return rc;
}

/* --- tests -------------------------------------------------------------------*/

/* A server given its address in the listen list alone (address NULL)
 * listens there and serves. */
static void test_listen_list_only(void **st) {
  (void)st;
  rconn *c = open_conn(0, NULL);
  uint64_t d = create(c, MGR_K_DICT);
  ok(call(c, MGRI_OP_DICT_SET, d, A(mgr_text("k"), mgr_int(1))));
  mgri_reply *r = call(c, MGRI_OP_DICT_LEN, d, NULL, 0);
  ok(r);
  assert_int_equal(r->result.u.i, 1);
  close_conn(c);
}

static void test_ops_and_pipelining(void **st) {
  (void)st;
  rconn *c = open_conn(0, NULL);
  uint64_t d = create(c, MGR_K_DICT);
  ok(call(c, MGRI_OP_DICT_SET, d, A(mgr_text("k"), mgr_int(41))));
  mgri_reply *r = call(c, MGRI_OP_DICT_INCR, d, A(mgr_text("k"), mgr_int(1)));
  ok(r);
  assert_int_equal(r->result.u.i, 42);
  r = call(c, MGRI_OP_DICT_GET, d, A(mgr_text("nope")));
  assert_int_equal(r->status, MGR_EKEY);
  assert_non_null(strstr(r->msg, "'nope'"));
  /* Three requests in one write: three replies, in order. */
  mgri_buf b;
  mgri_buf_init(&b, 0);
  for (uint64_t i = 100; i < 103; i++) {
    mgri_request rq = {.rid = i,
                       .op = MGRI_OP_LIST_LEN + 0 * i,
                       .oid = d,
                       .args = NULL,
                       .nargs = 0};
    rq.op = MGRI_OP_DICT_LEN;
    assert_int_equal(mgri_request_encode(&b, &rq, MGRI_FRAME_MAX_DEFAULT),
                     MGR_OK);
  }
  write_all(c->fd, b.data, b.len);
  mgri_buf_fini(&b);
  for (uint64_t i = 100; i < 103; i++) {
    assert_int_equal(next_reply(c), 1);
    assert_int_equal(c->rep.rid, i);
    assert_int_equal(c->rep.result.u.i, 1);
  }
  close_conn(c);
}

/* Checks spec R-7.1-a (spec/protocol.md; tests/reqs/check_reqs.py). */
static void test_first_request_must_be_hello(void **st) {
  (void)st;
  rconn c = {.fd = connect_to()};
  mgri_arena_init(&c.arena, 0);
  send_req(c.fd, 9, MGRI_OP_PING, 0, NULL, 0);
  assert_int_equal(next_reply(&c), 1);
  assert_int_equal(c.rep.status, MGR_EPROTO);
  assert_int_equal(c.rep.rid, 9);
  expect_eof(&c);
  close(c.fd);
  mgri_arena_fini(&c.arena);
}

static void test_garbage_isolated(void **st) {
  (void)st;
  rconn *a = open_conn(0, NULL);
  uint64_t l = create(a, MGR_K_LIST);
  rconn *bad = open_conn(0, NULL);
  /* A frame whose body is a reserved CBOR byte. */
  static const uint8_t junk[] = {0, 0, 0, 3, 0xff, 0xfe, 0xfd};
  write_all(bad->fd, junk, sizeof junk);
  assert_int_equal(next_reply(bad), 1);
  assert_int_equal(bad->rep.status, MGR_EDECODE);
  assert_int_equal(bad->rep.rid, 0);
  expect_eof(bad);
  close_conn(bad);
  /* Well-formed CBOR that is not a request: PROTO, rid echoed (spec 3.5). */
  bad = open_conn(0, NULL);
  mgri_buf b;
  mgri_buf_init(&b, 0);
  mgr_value v = mgr_array(A(mgr_int(77), mgr_text("x")));
  mgri_buf_append(&b, "\0\0\0", 4);
  mgri_cbor_value(&b, &v);
  b.data[3] = (uint8_t)(b.len - 4);
  write_all(bad->fd, b.data, b.len);
  mgri_buf_fini(&b);
  assert_int_equal(next_reply(bad), 1);
  assert_int_equal(bad->rep.status, MGR_EPROTO);
  assert_int_equal(bad->rep.rid, 77);
  expect_eof(bad);
  close_conn(bad);
  /* The other client is untouched. */
  ok(call(a, MGRI_OP_LIST_APPEND, l, A(mgr_int(1))));
  mgri_reply *r = call(a, MGRI_OP_LIST_LEN, l, NULL, 0);
  assert_int_equal(r->result.u.i, 1);
  close_conn(a);
}

static void test_bad_lengths(void **st) {
  (void)st;
  rconn *c = open_conn(0, NULL);
  static const uint8_t huge[] = {0x7f, 0xff, 0xff, 0xff};
  write_all(c->fd, huge, sizeof huge);
  assert_int_equal(next_reply(c), 1);
  assert_int_equal(c->rep.status, MGR_ETOOBIG);
  expect_eof(c);
  close_conn(c);
  c = open_conn(0, NULL);
  static const uint8_t zero[] = {0, 0, 0, 0};
  write_all(c->fd, zero, sizeof zero);
  assert_int_equal(next_reply(c), 1);
  assert_int_equal(c->rep.status, MGR_EDECODE);
  expect_eof(c);
  close_conn(c);
}

static void test_stalled_and_dying_clients(void **st) {
  (void)st;
  rconn *a = open_conn(0, NULL);
  /* A client that sends half a frame and stalls. */
  rconn *stall = open_conn(0, NULL);
  static const uint8_t part[] = {0, 0, 0, 10, 0x84, 0x01};
  write_all(stall->fd, part, sizeof part);
  /* A process that dies in the middle of a frame. */
  int p[2];
  assert_int_equal(pipe(p), 0);
  pid_t kid = fork();
  assert_true(kid >= 0);
  if (kid == 0) {
    int fd = connect_to();
    write_all(fd, part, sizeof part);
    char x = 1;
    if (write(p[1], &x, 1) != 1) _exit(2);
    _exit(0);
  }
  close(p[1]);
  char x;
  assert_int_equal(read(p[0], &x, 1), 1);
  close(p[0]);
  int status;
  assert_int_equal(waitpid(kid, &status, 0), kid);
  /* Everyone else is served. */
  mgri_reply *r = call(a, MGRI_OP_PING, 0, A(mgr_text("still here")));
  ok(r);
  assert_int_equal(r->result.u.s.len, 10);
  /* The stalled client finishes its frame and gets its answer. */
  mgri_buf b;
  mgri_buf_init(&b, 0);
  mgri_request rq = {
      .rid = 1, .op = MGRI_OP_PING, .oid = 0, .args = A(mgr_text("abcd"))};
  assert_int_equal(mgri_request_encode(&b, &rq, MGRI_FRAME_MAX_DEFAULT),
                   MGR_OK);
  assert_int_equal(b.len, 4 + 10);
  assert_memory_equal(b.data, part, sizeof part);
  write_all(stall->fd, b.data + sizeof part, b.len - sizeof part);
  mgri_buf_fini(&b);
  assert_int_equal(next_reply(stall), 1);
  ok(&stall->rep);
  assert_string_equal(stall->rep.result.u.s.ptr, "abcd");
  close_conn(stall);
  close_conn(a);
}

static void test_lock_owner_killed(void **st) {
  (void)st;
  rconn *b = open_conn(0, NULL);
  uint64_t lk = create(b, MGR_K_LOCK);
  int p[2];
  assert_int_equal(pipe(p), 0);
  pid_t kid = fork();
  assert_true(kid >= 0);
  if (kid == 0) {
    close(p[0]);
    rconn *k = open_conn(0, NULL);
    mgri_reply *r =
        call(k, MGRI_OP_LOCK_ACQUIRE, lk, A(mgr_bool(true), mgr_nil()));
    char x = r->status == MGR_OK && r->result.u.i == 1 ? 1 : 0;
    if (write(p[1], &x, 1) != 1) _exit(2);
    for (;;)
      pause();
  }
  close(p[1]);
  char x = 0;
  assert_int_equal(read(p[0], &x, 1), 1);
  close(p[0]);
  assert_int_equal(x, 1); /* the child holds the lock */
  /* b waits; a PING answered first proves the acquire is parked. */
  send_req(b->fd, 50, MGRI_OP_LOCK_ACQUIRE, lk, A(mgr_bool(true), mgr_nil()));
  mgri_reply *r = call(b, MGRI_OP_PING, 0, NULL, 0);
  ok(r);
  kill(kid, SIGKILL);
  int status;
  assert_int_equal(waitpid(kid, &status, 0), kid);
  assert_int_equal(next_reply(b), 1);
  assert_int_equal(b->rep.rid, 50);
  ok(&b->rep);
  assert_int_equal(b->rep.result.u.i, 2); /* acquired, previous owner died */
  r = call(b, MGRI_OP_LOCK_RELEASE, lk, NULL, 0);
  ok(r);
  r = call(b, MGRI_OP_LOCK_ACQUIRE, lk, A(mgr_bool(false), mgr_nil()));
  assert_int_equal(r->result.u.i, 1);
  close_conn(b);
}

static void test_sessions_over_sockets(void **st) {
  (void)st;
  uint64_t sess;
  rconn *a = open_conn(0, &sess);
  rconn *a2 = open_conn(sess, NULL); /* a second thread of the same process */
  uint64_t d = create(a2, MGR_K_DICT);
  close_conn(a2);
  rconn *obs = open_conn(0, NULL);
  mgri_reply *r = call(obs, MGRI_OP_LIST, 0, NULL, 0);
  assert_int_equal(r->result.u.a.len, 1); /* still held by a's session */
  close_conn(a);
  /* The server notices the close asynchronously: ask until it is gone;
   * each round trip is ordered after the server read more events, and the
   * loop is bounded. */
  int tries = 0;
  do {
    r = call(obs, MGRI_OP_LIST, 0, NULL, 0);
  } while (r->result.u.a.len != 0 && ++tries < 100000);
  assert_int_equal(r->result.u.a.len, 0);
  (void)d;
  close_conn(obs);
}

/* Checks spec R-2.2-b (spec/protocol.md; tests/reqs/check_reqs.py). */
static void test_shutdown(void **st) {
  (void)st;
  rconn *a = open_conn(0, NULL);
  rconn *other = open_conn(0, NULL);
  ok(call(a, MGRI_OP_SHUTDOWN, 0, NULL, 0));
  expect_eof(a);
  expect_eof(other);
  int status;
  assert_int_equal(waitpid(server, &status, 0), server);
  assert_true(WIFEXITED(status));
  assert_int_equal(WEXITSTATUS(status), 0);
  server = 0;
  struct stat sb;
  assert_int_not_equal(stat(path, &sb), 0); /* socket removed */
  close_conn(a);
  close_conn(other);
}

/* mgr_server_run refuses, as documented (MGR_EINVAL), options it cannot
 * serve, before it listens anywhere: the Unix socket given with a bad
 * address beside it is never made. Runs in this process: each call returns
 * at once. */
static void test_run_refuses(void **st) {
  (void)st;
  char d[] = "/tmp/mgr-test-run.XXXXXX";
  assert_non_null(mkdtemp(d));
  char sock[64];
  snprintf(sock, sizeof sock, "%s/s", d);
  static uint8_t key[MGRI_AUTHKEY_MAX + 1];
  memset(key, 7, sizeof key);
  assert_int_equal(mgr_server_run(NULL), MGR_EINVAL);
  static const char *const bad_one[] = {"udp://h:1"};
  static const char *const null_one[] = {NULL};
  const char *many[MGRI_LISTEN_MAX];
  for (size_t i = 0; i < MGRI_LISTEN_MAX; i++)
    many[i] = sock;
  char longpath[200];
  memset(longpath, 'p', 120);
  longpath[0] = '/';
  longpath[120] = '\0';
  for (int c = 0; c < 14; c++) {
    mgr_server_options o;
    mgr_server_options_init(&o);
    o.address = sock;
    switch (c) {
    case 0: /* no address at all */
      o.address = NULL;
      break;
    case 1: /* nlisten without the list */
      o.nlisten = 1;
      break;
    case 2: /* a NULL in the list */
      o.listen = null_one;
      o.nlisten = 1;
      break;
    case 3: /* a malformed one beside a good one */
      o.listen = bad_one;
      o.nlisten = 1;
      break;
    case 4: /* 17 addresses */
      o.listen = many;
      o.nlisten = MGRI_LISTEN_MAX;
      break;
    case 5: /* too long for sun_path */
      o.address = longpath;
      break;
    case 6: /* tcp:// without an authkey (spec 2.6) */
      o.address = "tcp://127.0.0.1:0";
      break;
    case 7: /* an authkey too short */
      o.authkey = key;
      o.authkey_len = MGRI_AUTHKEY_MIN - 1;
      break;
    case 8: /* too long */
      o.authkey = key;
      o.authkey_len = MGRI_AUTHKEY_MAX + 1;
      break;
    case 9: /* a length without a key */
      o.authkey_len = MGRI_AUTHKEY_MIN;
      break;
    case 10: /* tls:// without a certificate and key */
      o.address = "tls://127.0.0.1:0";
      o.authkey = key;
      o.authkey_len = MGRI_AUTHKEY_MIN;
      break;
    case 11: /* a frame limit too small for any message */
      o.max_frame = 63;
      break;
    case 12: /* above the ceiling */
      o.max_frame = MGRI_FRAME_MAX_CEIL + 1;
      break;
    case 13: /* the listen list alone, a malformed address in it */
      o.address = NULL;
      o.listen = bad_one;
      o.nlisten = 1;
      break;
    }
    int rc = mgr_server_run(&o);
    if (rc != MGR_EINVAL)
      fail_msg("case %d: %s, not MGR_EINVAL", c, mgr_err_name(rc));
    struct stat sb;
    assert_int_not_equal(stat(sock, &sb), 0); /* nothing listened */
  }
  assert_int_equal(rmdir(d), 0);
}

int main(void) {
  signal(SIGPIPE, SIG_IGN);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_run_refuses),
      cmocka_unit_test_setup_teardown(test_listen_list_only, start_listen_only,
                                      stop),
      cmocka_unit_test_setup_teardown(test_ops_and_pipelining, start, stop),
      cmocka_unit_test_setup_teardown(test_first_request_must_be_hello, start,
                                      stop),
      cmocka_unit_test_setup_teardown(test_garbage_isolated, start, stop),
      cmocka_unit_test_setup_teardown(test_bad_lengths, start, stop),
      cmocka_unit_test_setup_teardown(test_stalled_and_dying_clients, start,
                                      stop),
      cmocka_unit_test_setup_teardown(test_lock_owner_killed, start, stop),
      cmocka_unit_test_setup_teardown(test_sessions_over_sockets, start, stop),
      cmocka_unit_test_setup_teardown(test_shutdown, start, stop),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
