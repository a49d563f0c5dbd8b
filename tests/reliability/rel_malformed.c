/* mgr reliability 3 — malformed and oversized frames. Each bad input on its
 * own connection (before or after HELLO) gets the error reply spec/protocol.md
 * names (§3.5, §6.2, §7, §8.3), then the connection is closed for the fatal
 * codes or stays usable for the others; all of it ROUNDS times while a good
 * client (library, forked) keeps getting exact answers; the server's RSS and
 * descriptor count stay bounded. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "rel_util.h"

#define ROUNDS 100

static rel_server S;
static uint64_t var_id;

typedef struct bad {
  const char *name;
  int hello;            /* send HELLO first */
  int raw_header;       /* bytes are a raw stream (header included) */
  const uint8_t *bytes; /* the frame body (or raw stream) */
  size_t len;
  int want;     /* expected status; 0: no reply, just survive */
  uint64_t rid; /* expected rid */
  int fatal;    /* the server must close after the reply */
} bad;

#define B(...)                                                                 \
  (const uint8_t[]){__VA_ARGS__}, sizeof((const uint8_t[]){__VA_ARGS__})

static uint8_t deep[40];
static uint8_t wrong_arity_var[16];
static size_t wrong_arity_len;

static const bad cases[] = {
    {"zero length", 0, 1, B(0, 0, 0, 0), MGR_EDECODE, 0, 1},
    {"length frame_max+1", 0, 1, B(0x00, 0x10, 0x00, 0x01), MGR_ETOOBIG, 0, 1},
    {"length 4 GiB-1", 0, 1, B(0xff, 0xff, 0xff, 0xff), MGR_ETOOBIG, 0, 1},
    {"zero length after hello", 1, 1, B(0, 0, 0, 0), MGR_EDECODE, 0, 1},
    {"length frame_max+1 after hello", 1, 1, B(0x00, 0x10, 0x00, 0x01),
     MGR_ETOOBIG, 0, 1},
    {"break byte", 0, 0, B(0xff), MGR_EDECODE, 0, 1},
    {"reserved ai", 0, 0, B(0x1c), MGR_EDECODE, 0, 1},
    {"undefined", 0, 0, B(0xf7), MGR_EDECODE, 0, 1},
    {"trailing bytes", 0, 0, B(0x01, 0x02), MGR_EDECODE, 0, 1},
    {"indefinite array", 1, 0, B(0x9f, 0x01, 0xff), MGR_EDECODE, 0, 1},
    {"non-shortest int", 1, 0, B(0x18, 0x01), MGR_EDECODE, 0, 1},
    {"bad utf-8", 1, 0, B(0x62, 0xc3, 0x28), MGR_EDECODE, 0, 1},
    {"array count 1000, 0 bytes", 1, 0, B(0x99, 0x03, 0xe8), MGR_EDECODE, 0, 1},
    {"text length 4G", 1, 0, B(0x7a, 0xff, 0xff, 0xff, 0xff), MGR_EDECODE, 0,
     1},
    {"array count 4G (items)", 1, 0, B(0x9a, 0xff, 0xff, 0xff, 0xff),
     MGR_ETOOBIG, 0, 1},
    {"map count 4G (items)", 1, 0, B(0xba, 0xff, 0xff, 0xff, 0xff), MGR_ETOOBIG,
     0, 1},
    {"array count 2^63 (items)", 1, 0,
     B(0x9b, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff), MGR_ETOOBIG, 0,
     1},
    {"unknown tag", 1, 0, B(0xc1, 0x00), MGR_EDECODE, 0, 1},
    {"duplicate map key", 1, 0, B(0xa2, 0x01, 0x00, 0x01, 0x00), MGR_EDECODE, 0,
     1},
    {"depth 33", 1, 0, deep, 33, MGR_ETOOBIG, 0, 1},
    {"map, not array", 0, 0, B(0xa0), MGR_EPROTO, 0, 1},
    {"array of 3", 1, 0, B(0x83, 0x07, 0x02, 0x00), MGR_EPROTO, 7, 1},
    {"float rid", 1, 0, B(0x84, 0xf9, 0x3e, 0x00, 0x02, 0x00, 0x80), MGR_EPROTO,
     0, 1},
    {"negative op", 1, 0, B(0x84, 0x05, 0x20, 0x00, 0x80), MGR_EPROTO, 5, 1},
    {"args not array", 1, 0, B(0x84, 0x05, 0x02, 0x00, 0x01), MGR_EPROTO, 5, 1},
    {"9 args", 1, 0, B(0x84, 0x06, 0x02, 0x00, 0x89, 0, 0, 0, 0, 0, 0, 0, 0, 0),
     MGR_EPROTO, 6, 1},
    {"first request not HELLO", 0, 0, B(0x84, 0x01, 0x02, 0x00, 0x80),
     MGR_EPROTO, 1, 1},
    {"HELLO rid 5", 0, 0,
     B(0x84, 0x05, 0x01, 0x00, 0x84, 0x01, 0x01, 0x01, 0x00), MGR_EPROTO, 5, 1},
    {"HELLO version 9", 0, 0,
     B(0x84, 0x00, 0x01, 0x00, 0x84, 0x09, 0x09, 0x01, 0x00), MGR_EVERSION, 0,
     1},
    {"HELLO unknown session", 0, 0,
     B(0x84, 0x00, 0x01, 0x00, 0x84, 0x01, 0x01, 0x01, 0x1a, 0x7f, 0xff, 0xff,
       0xff),
     MGR_ENOTFOUND, 0, 1},
    {"HELLO 2 args", 0, 0, B(0x84, 0x00, 0x01, 0x00, 0x82, 0x01, 0x01),
     MGR_ETYPE, 0, 1},
    {"second HELLO", 1, 0,
     B(0x84, 0x00, 0x01, 0x00, 0x84, 0x01, 0x01, 0x01, 0x00), MGR_EPROTO, 0, 1},
    {"unknown op 200", 1, 0, B(0x84, 0x03, 0x18, 0xc8, 0x00, 0x80), MGR_EBADOP,
     3, 0},
    {"dict op on oid 0", 1, 0, B(0x84, 0x03, 0x10, 0x00, 0x81, 0x01),
     MGR_EBADOP, 3, 0},
    {"manager op on an oid", 1, 0, B(0x84, 0x03, 0x07, 0x01, 0x80), MGR_EBADOP,
     3, 0},
    {"unknown oid", 1, 0,
     B(0x84, 0x03, 0x18, 0x48, 0x1a, 0x7f, 0xff, 0xff, 0xff, 0x80),
     MGR_ENOTFOUND, 3, 0},
    {"VAR_INCR no args", 1, 0, wrong_arity_var, 0, MGR_ETYPE, 3, 0},
    {"RETAIN 5000 ids", 1, 0, NULL, 0, MGR_ELIMIT, 3, 0},
    {"lock acquire on unknown oid", 1, 0, NULL, 1, MGR_ENOTFOUND, 3, 0},
    {"header then close", 1, 1, B(0x00, 0x00, 0x10, 0x00, 0x84, 0x03), 0, 0, 0},
    {"half header then close", 0, 1, B(0x00, 0x00), 0, 0, 0},
};
#define NCASES (sizeof cases / sizeof cases[0])

static mgri_buf retain_frame;

/* Runs one case: 0 passed, else a message in err. */
static int run_case(const bad *b, char *err, size_t errlen) {
  rconn *c;
  if (b->hello) {
    c = rel_open(S.path, 0);
    if (!c) return snprintf(err, errlen, "HELLO failed"), 1;
  } else {
    c = calloc(1, sizeof *c);
    mgri_arena_init(&c->arena, 0);
    c->fd = rel_connect_fd(S.path, 0);
    if (c->fd < 0)
      return free(c), snprintf(err, errlen, "connect: %s", strerror(errno)), 1;
  }
  int rc = 0;
  if (!b->bytes && b->len == 0) {
    rc = rel_write_all(c->fd, retain_frame.data, retain_frame.len);
  } else if (!b->bytes) {
    rc = rel_send(c->fd, 3, MGRI_OP_LOCK_ACQUIRE, 0x7fffffff,
                  RA(mgr_text("x"), mgr_nil()))
             ? -1
             : 0;
  } else if (b->raw_header) {
    rc = rel_write_all(c->fd, b->bytes, b->len);
  } else {
    const uint8_t *p = b->bytes;
    size_t n = b->len;
    if (p == wrong_arity_var) n = wrong_arity_len;
    uint8_t h[4] = {(uint8_t)(n >> 24), (uint8_t)(n >> 16), (uint8_t)(n >> 8),
                    (uint8_t)n};
    rc = rel_write_all(c->fd, h, 4);
    if (!rc) rc = rel_write_all(c->fd, p, n);
  }
  if (rc) {
    rel_conn_free(c);
    return snprintf(err, errlen, "write failed"), 1;
  }
  if (!b->want) { /* we hang up mid-frame: nothing to check but survival */
    rel_conn_free(c);
    return 0;
  }
  int r = rel_next_reply(c, REL_WAIT_MS);
  if (r != 1) {
    rel_conn_free(c);
    return snprintf(err, errlen, "no reply (%s)",
                    r == 0    ? "closed"
                    : r == -1 ? "timeout"
                              : "undecodable"),
           1;
  }
  if (c->rep.status != b->want || c->rep.rid != b->rid) {
    snprintf(err, errlen, "got [%llu, %s, %.*s], want [%llu, %s]",
             (unsigned long long)c->rep.rid, mgr_err_name(c->rep.status),
             (int)c->rep.msglen, c->rep.msg ? c->rep.msg : "",
             (unsigned long long)b->rid, mgr_err_name(b->want));
    rel_conn_free(c);
    return 1;
  }
  if (b->fatal) {
    uint8_t x;
    r = rel_read_n(c->fd, &x, 1, REL_WAIT_MS);
    rel_conn_free(c);
    if (r != 0)
      return snprintf(err, errlen, "connection not closed after a fatal error"),
             1;
    return 0;
  }
  c->rid = 10;
  mgri_reply *pr = rel_call(c, MGRI_OP_PING, 0, RA(mgr_int(42)));
  int okp = pr && pr->status == MGR_OK && pr->result.type == MGR_T_INT &&
            pr->result.u.i == 42;
  rel_conn_free(c);
  if (!okp)
    return snprintf(err, errlen, "connection unusable after a non-fatal error"),
           1;
  return 0;
}

static void good_client(int stop_r, int res_w) {
  mgr_client *m;
  REL_CHECK(1, mgr_connect(S.path, NULL, &m) == MGR_OK);
  mgr_set_timeout(m, REL_WAIT_MS);
  mgr_proxy *v;
  REL_CHECK(2, mgr_open(m, "good", MGR_K_VAR, NULL, false, &v, NULL) == MGR_OK);
  int64_t n = 0;
  for (;;) {
    struct pollfd pf = {.fd = stop_r, .events = POLLIN};
    if (poll(&pf, 1, 0) != 0) break;
    int64_t got = -1;
    REL_CHECK(3, mgr_var_incr_int(v, 1, &got) == MGR_OK);
    REL_CHECK(4, got == n + 1);
    n++;
    REL_CHECK(5, mgr_ping(m) == MGR_OK);
  }
  rel_write_rec(res_w, n);
  _exit(0);
}

static void test_malformed(void **st) {
  (void)st;
  for (int i = 0; i < 33; i++)
    deep[i] = 0x81;
  deep[32] = 0x80; /* 32 arrays holding one array: depth 33 */
  assert_int_equal(rel_server_start(&S, 0), 0);
  mgr_client *m;
  assert_int_equal(mgr_connect(S.path, NULL, &m), MGR_OK);
  mgr_set_timeout(m, REL_WAIT_MS);
  mgr_proxy *good;
  mgr_value zero = mgr_int(0);
  assert_int_equal(mgr_open(m, "good", MGR_K_VAR, &zero, true, &good, NULL),
                   MGR_OK);
  var_id = mgr_proxy_id(good);
  { /* [3, VAR_INCR, var_id, []] */
    mgri_buf b;
    mgri_buf_init(&b, 0);
    assert_int_equal(rel_encode(&b, 3, MGRI_OP_VAR_INCR, var_id, RA0), MGR_OK);
    wrong_arity_len = b.len - 4;
    assert_true(wrong_arity_len <= sizeof wrong_arity_var);
    memcpy(wrong_arity_var, b.data + 4, wrong_arity_len);
    mgri_buf_fini(&b);
    static mgr_value ids[5000];
    for (int i = 0; i < 5000; i++)
      ids[i] = mgr_int(i + 1);
    mgri_buf_init(&retain_frame, 0);
    mgr_value arr = mgr_array(ids, 5000);
    assert_int_equal(rel_encode(&retain_frame, 3, MGRI_OP_RETAIN, 0, RA(arr)),
                     MGR_OK);
  }

  int stop[2], res[2];
  assert_int_equal(pipe(stop), 0);
  assert_int_equal(pipe(res), 0);
  fflush(NULL);
  pid_t gp = fork();
  assert_true(gp >= 0);
  if (gp == 0) {
    close(stop[1]);
    close(res[0]);
    good_client(stop[0], res[1]);
  }
  close(stop[0]);
  close(res[1]);

  char err[256];
  int failures = 0;
  long ops = 0;
  long rss0 = 0, fds0 = 0;
  double t0 = rel_now();
  for (int round = 0; round < ROUNDS; round++) {
    for (size_t i = 0; i < NCASES; i++) {
      ops++;
      if (run_case(&cases[i], err, sizeof err)) {
        if (failures++ < 20)
          printf("case \"%s\" (round %d): %s\n", cases[i].name, round, err);
      }
    }
    if (round == 1) { /* after a warm-up */
      assert_int_equal(mgr_ping(m), MGR_OK);
      rss0 = rel_rss_kb(S.pid);
      fds0 = rel_nfds(S.pid);
    }
  }
  double dt = rel_now() - t0;
  close(stop[1]);
  int64_t good_n = -1;
  assert_int_equal(rel_read_rec(res[0], &good_n, REL_WAIT_MS), 1);
  close(res[0]);
  assert_int_equal(rel_wait_status(gp), 0);

  assert_true(rel_alive(S.pid));
  mgr_value v;
  assert_int_equal(mgr_var_get(good, &v), MGR_OK);
  /* The server has seen every hang-up once it has answered a request sent
   * after them; a few extra round trips absorb one epoll batch of lag. */
  long fds1 = rel_nfds(S.pid);
  for (int i = 0; i < 100 && fds1 > fds0; i++) {
    assert_int_equal(mgr_ping(m), MGR_OK);
    fds1 = rel_nfds(S.pid);
  }
  long rss1 = rel_rss_kb(S.pid);
  long bound_kb = REL_ASAN ? 48 * 1024 : 8 * 1024;
  char extra[256];
  snprintf(
      extra, sizeof extra,
      "cases=%zu bad_conns=%ld case_failures=%d good_ops=%lld rss_kb=%ld->%ld "
      "server_fds=%ld->%ld seconds=%.2f",
      NCASES, ops, failures, (long long)good_n, rss0, rss1, fds0, fds1, dt);
  rel_report("malformed", ops + 1, ops, (long)good_n * 2,
             (long)(good_n - v.u.i), extra);
  assert_int_equal(failures, 0);
  assert_int_equal(v.u.i, good_n);
  assert_true(good_n > 0);
  assert_true(rss1 - rss0 < bound_kb);
  assert_true(fds1 <= fds0);
  mgri_buf_fini(&retain_frame);
  mgr_release(good);
  mgr_close(m);
  assert_int_equal(rel_server_stop(&S), 0);
}

int main(void) {
  signal(SIGPIPE, SIG_IGN);
  alarm(110);
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_malformed)};
  return cmocka_run_group_tests_name("reliability_malformed", tests, NULL,
                                     NULL);
}
