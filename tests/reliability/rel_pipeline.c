/* mgr reliability — pipelined requests always get served, whatever stops
 * the server reading them for a while (spec 8.5 backpressure, 8.7 fairness):
 *  1. with a 64-byte frame limit the output fills after a few replies; every
 *     one of 30 pipelined PINGs is still answered as the client reads;
 *  2. 40 pipelined reads of a 500 KB value: all 40 replies arrive;
 *  3. 2000 pipelined requests each estimated over the work budget (one per
 *     loop turn, so the connection sits in the backlog), then the client
 *     hangs up after 5 replies: the server survives (under ASan, a freed
 *     connection left in the backlog would be caught here) and serves
 *     others; the requests it ran are counted in STATS;
 *  4. a request over the budget and the end of stream read in one turn: the
 *     connection is closed after its reply.
 * Replies are awaited with a watchdog (REL_WAIT_MS), never timed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "rel_util.h"

static rel_server S;

/* Writes n copies of one request (rids 1..n) in one go. */
static void pipeline(rconn *c, int n, uint64_t op, uint64_t oid,
                     const mgr_value *a, size_t na) {
  mgri_buf b;
  mgri_buf_init(&b, 0);
  for (int i = 1; i <= n; i++)
    assert_int_equal(rel_encode(&b, (uint64_t)i, op, oid, a, na), MGR_OK);
  assert_int_equal(rel_write_all(c->fd, b.data, b.len), 0);
  mgri_buf_fini(&b);
}

static void test_small_frames(void **st) {
  (void)st;
  mgr_server_options o;
  mgr_server_options_init(&o);
  o.max_frame = 64;
  assert_int_equal(rel_server_start_opts(&S, 0, &o), 0);
  rconn *c = rel_open(S.path, 0);
  assert_non_null(c);
  char pay[40];
  memset(pay, 'p', sizeof pay);
  pipeline(c, 30, MGRI_OP_PING, 0, RA(mgr_textn(pay, sizeof pay)));
  for (int i = 1; i <= 30; i++) {
    assert_int_equal(rel_next_reply(c, REL_WAIT_MS), 1);
    assert_int_equal(c->rep.rid, (uint64_t)i);
    assert_int_equal(c->rep.status, MGR_OK);
    assert_int_equal(c->rep.result.u.s.len, sizeof pay);
  }
  rel_report("pipeline_small_frames", 1, 0, 30, 0, "replies=30");
  rel_conn_free(c);
  assert_int_equal(rel_server_stop(&S), 0);
}

static void test_large_replies(void **st) {
  (void)st;
  assert_int_equal(rel_server_start(&S, 0), 0);
  rconn *c = rel_open(S.path, 0);
  assert_non_null(c);
  static char big[500000];
  memset(big, 'v', sizeof big);
  mgr_value init = mgr_bytes(big, sizeof big);
  uint64_t v = rel_create(c, MGR_K_VAR, &init);
  assert_true(v > 0);
  c->rid = 0;
  pipeline(c, 40, MGRI_OP_VAR_GET, v, RA0);
  for (int i = 1; i <= 40; i++) {
    assert_int_equal(rel_next_reply(c, REL_WAIT_MS), 1);
    assert_int_equal(c->rep.rid, (uint64_t)i);
    assert_int_equal(c->rep.status, MGR_OK);
    assert_int_equal(c->rep.result.u.s.len, sizeof big);
  }
  rel_report("pipeline_large_replies", 1, 0, 40, 0, "replies=40");
  rel_conn_free(c);
  assert_int_equal(rel_server_stop(&S), 0);
}

/* Checks spec R-8.7-a (spec/protocol.md; tests/reqs/check_reqs.py). */
static void test_backlog_hangup(void **st) {
  (void)st;
  assert_int_equal(rel_server_start(&S, 0), 0);
  rconn *c = rel_open(S.path, 0);
  assert_non_null(c);
  mgr_value one = mgr_array((mgr_value[]){mgr_int(1)}, 1);
  uint64_t l = rel_create(c, MGR_K_LIST, &one);
  assert_true(l > 0);
  /* Each costs 2^40 items (IMUL) and is refused at once (SIZE): one per
   * turn of the loop. */
  pipeline(c, 2000, MGRI_OP_LIST_IMUL, l, RA(mgr_int((int64_t)1 << 40)));
  for (int i = 0; i < 5; i++) {
    assert_int_equal(rel_next_reply(c, REL_WAIT_MS), 1);
    assert_int_equal(c->rep.status, MGR_ELIMIT);
  }
  rel_conn_free(c); /* hangs up with most of them unanswered */
  /* The server lives and serves a new client; its STATS count the IMULs it
   * refused. */
  mgr_client *m;
  assert_int_equal(mgr_connect(S.path, NULL, &m), MGR_OK);
  assert_int_equal(mgr_ping(m), MGR_OK);
  rel_stats s;
  assert_int_equal(rel_stats_read(m, &s), MGR_OK);
  assert_true(s.r_size >= 5 && s.r_size <= 2000);
  char extra[64];
  snprintf(extra, sizeof extra, "refused_size=%lld", (long long)s.r_size);
  rel_report("pipeline_backlog_hangup", 2, 1, 5, 0, extra);
  mgr_close(m);
  assert_true(rel_alive(S.pid));
  assert_int_equal(rel_server_stop(&S), 0);
}

/* Into b (emptied first): a PING carrying n bytes (rid 1), then three
 * LIST_IMULs of list l each over the work budget (rids 2-4). Its length. */
static size_t padded_batch(mgri_buf *b, uint64_t l, size_t n) {
  static char pad[MGRI_IDLE_BUF_MAX];
  memset(pad, 'p', sizeof pad);
  b->len = 0;
  assert_int_equal(rel_encode(b, 1, MGRI_OP_PING, 0, RA(mgr_textn(pad, n))),
                   MGR_OK);
  for (uint64_t r = 2; r <= 4; r++)
    assert_int_equal(
        rel_encode(b, r, MGRI_OP_LIST_IMUL, l, RA(mgr_int((int64_t)1 << 40))),
        MGR_OK);
  return b->len;
}

/* A peer whose last requests are over the work budget and that hangs up is
 * closed once they are answered (found by fuzz_loop: the connection, its
 * turn's budget spent, no frame left and its end of stream seen, stayed
 * open, unread and unwritten, forever). The server is stopped while the
 * bytes and the end of stream are written, and they are exactly one read
 * buffer (MGRI_IDLE_BUF_MAX: a PING padded to fit, then three IMULs each
 * over the budget), so that the server's first read fills its buffer and
 * the next one sees the end: the end is known before the first IMUL runs,
 * and each IMUL takes a turn of its own. */
static void test_hangup_after_budget(void **st) {
  (void)st;
  assert_int_equal(rel_server_start(&S, 0), 0);
  rconn *c = rel_open(S.path, 0);
  assert_non_null(c);
  mgr_value one = mgr_array((mgr_value[]){mgr_int(1)}, 1);
  uint64_t l = rel_create(c, MGR_K_LIST, &one);
  assert_true(l > 0);
  mgri_buf b;
  mgri_buf_init(&b, 0);
  /* The padding that makes the whole exactly one buffer (a shorter text
   * may also have a shorter CBOR head: then grow it back). */
  size_t n = MGRI_IDLE_BUF_MAX;
  while (padded_batch(&b, l, n) > MGRI_IDLE_BUF_MAX)
    n -= b.len - MGRI_IDLE_BUF_MAX < n ? b.len - MGRI_IDLE_BUF_MAX : n;
  while (padded_batch(&b, l, n) < MGRI_IDLE_BUF_MAX)
    n++;
  assert_int_equal(b.len, MGRI_IDLE_BUF_MAX);
  assert_int_equal(kill(S.pid, SIGSTOP), 0);
  int ws;
  assert_int_equal(waitpid(S.pid, &ws, WUNTRACED), S.pid);
  assert_true(WIFSTOPPED(ws));
  assert_int_equal(rel_write_all(c->fd, b.data, b.len), 0);
  mgri_buf_fini(&b);
  assert_int_equal(shutdown(c->fd, SHUT_WR), 0);
  assert_int_equal(kill(S.pid, SIGCONT), 0);
  assert_int_equal(rel_next_reply(c, REL_WAIT_MS), 1);
  assert_int_equal(c->rep.rid, 1);
  assert_int_equal(c->rep.status, MGR_OK);
  for (uint64_t r = 2; r <= 4; r++) {
    assert_int_equal(rel_next_reply(c, REL_WAIT_MS), 1);
    assert_int_equal(c->rep.rid, r);
    assert_int_equal(c->rep.status, MGR_ELIMIT);
  }
  /* Then the end: not the watchdog's timeout (-1). */
  assert_int_equal(rel_next_reply(c, REL_WAIT_MS), 0);
  rel_report("pipeline_hangup_after_budget", 1, 1, 4, 0, "closed=1");
  rel_conn_free(c);
  assert_true(rel_alive(S.pid));
  assert_int_equal(rel_server_stop(&S), 0);
}

int main(void) {
  signal(SIGPIPE, SIG_IGN);
  alarm(110);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_small_frames),
      cmocka_unit_test(test_large_replies),
      cmocka_unit_test(test_backlog_hangup),
      cmocka_unit_test(test_hangup_after_budget),
  };
  return cmocka_run_group_tests_name("reliability_pipeline", tests, NULL, NULL);
}
