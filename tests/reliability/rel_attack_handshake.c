/* mgr reliability — attack 8 of issue 9: 4096 connections that never send
 * HELLO held every slot of the old server indefinitely, and a real client
 * got "too many connections". Spec 7.7: at most handshakes_max (64)
 * connections may be in the handshake; a new one closes the oldest (after
 * sending it [0, 47, ...]), and each has a deadline (handshake_timeout).
 *
 * 1. Default options: 3 x 64 raw connections that never send anything, then
 *    a real client connects and works. STATS: handshaking <= 64,
 *    handshake_evicted >= 128; each of the 128 oldest raw connections got
 *    LIMIT (rid 0) and then EOF; the newest ones are still open and were
 *    sent nothing.
 * 2. handshake_timeout_ms = 200: a raw connection that sends nothing, and
 *    one that sends half a HELLO header, are each sent [0, 20, ...] (PROTO)
 *    and closed by the server: the test blocks in read until EOF (no sleep;
 *    REL_WAIT_MS is only a watchdog), and handshake_timeouts grew by 2. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "rel_util.h"

#define HS_MAX ((int)MGRI_HANDSHAKES_MAX_DEFAULT)
#define NRAW (3 * HS_MAX)

static rel_server S;

/* The real client: connects, and a var round trip works. */
static int real_client_works(const char *path, mgr_client **out) {
  mgr_client *m;
  if (mgr_connect(path, NULL, &m) != MGR_OK) return 0;
  mgr_set_timeout(m, REL_WAIT_MS);
  mgr_proxy *v;
  mgr_value zero = mgr_int(0);
  int64_t got = -1;
  int ok = mgr_var_new(m, &zero, &v) == MGR_OK &&
           mgr_var_incr_int(v, 5, &got) == MGR_OK && got == 5 &&
           mgr_ping(m) == MGR_OK;
  mgr_release(v);
  *out = m;
  return ok;
}

static void test_evicted(void **st) {
  (void)st;
  rel_raise_nofile(1024);
  assert_int_equal(rel_server_start(&S, 0), 0);
  static rconn *raw[NRAW];
  for (int i = 0; i < NRAW; i++) {
    raw[i] = rel_raw(S.path);
    assert_non_null(raw[i]);
  }
  mgr_client *m = NULL;
  int works = real_client_works(S.path, &m);
  assert_non_null(m);
  rel_stats s;
  assert_int_equal(rel_stats_read(m, &s), MGR_OK);

  /* The oldest 128 (at least) were told LIMIT and closed. */
  long told = 0, closed = 0;
  for (int i = 0; i < 2 * HS_MAX; i++) {
    if (rel_next_reply(raw[i], REL_WAIT_MS) == 1 && raw[i]->rep.rid == 0 &&
        raw[i]->rep.status == MGR_ELIMIT)
      told++;
    if (rel_next_reply(raw[i], REL_WAIT_MS) == 0) closed++;
  }
  /* The newest HS_MAX - 1 are still in the handshake: the server had
   * answered STATS after accepting them, and sent them nothing. */
  long quiet = 0;
  for (int i = NRAW - (HS_MAX - 1); i < NRAW; i++) {
    struct pollfd pf = {.fd = raw[i]->fd, .events = POLLIN};
    if (poll(&pf, 1, 0) == 0) quiet++;
  }
  char extra[256];
  snprintf(
      extra, sizeof extra,
      "raw=%d works=%d handshaking=%lld handshake_evicted=%lld told_limit=%ld "
      "closed=%ld still_waiting=%ld accepted=%lld refused_connections=%lld",
      NRAW, works, (long long)s.handshaking, (long long)s.handshake_evicted,
      told, closed, quiet, (long long)s.accepted, (long long)s.r_connections);
  rel_report("attack_handshake", NRAW + 1, NRAW, 3, works ? 0 : 1, extra);

  assert_true(works);
  assert_true(s.handshaking <= HS_MAX);
  assert_true(s.handshake_evicted >= 2 * HS_MAX);
  assert_true(s.accepted >= NRAW + 1);
  assert_int_equal(told, 2 * HS_MAX);
  assert_int_equal(closed, 2 * HS_MAX);
  assert_int_equal(quiet, HS_MAX - 1);
  assert_int_equal(s.conn_refused, 0);

  /* As many again cannot push the real client out (it is past HELLO) nor
   * keep a second one out. */
  for (int i = 0; i < NRAW; i++) {
    rel_conn_free(raw[i]);
    raw[i] = rel_raw(S.path);
    assert_non_null(raw[i]);
  }
  /* A second real client: accepted after all of them (one queue), so its
   * STATS has seen them all. */
  mgr_client *m2 = NULL;
  int works2 = real_client_works(S.path, &m2);
  assert_non_null(m2);
  assert_true(works2);
  rel_stats s2;
  assert_int_equal(rel_stats_read(m2, &s2), MGR_OK);
  assert_int_equal(mgr_ping(m), MGR_OK);
  assert_true(s2.handshaking <= HS_MAX);
  assert_true(s2.handshake_evicted >= s.handshake_evicted + 2 * HS_MAX);
  for (int i = 0; i < NRAW; i++)
    rel_conn_free(raw[i]);
  mgr_close(m2);
  mgr_close(m);
  assert_int_equal(rel_server_stop(&S), 0);
}

/* Checks spec R-7.7-a (spec/protocol.md; tests/reqs/check_reqs.py). */
static void test_timeout(void **st) {
  (void)st;
  mgr_server_options o;
  mgr_server_options_init(&o);
  o.handshake_timeout_ms = 200;
  assert_int_equal(rel_server_start_opts(&S, 0, &o), 0);
  mgr_client *m;
  assert_int_equal(mgr_connect(S.path, NULL, &m), MGR_OK);
  mgr_set_timeout(m, REL_WAIT_MS);
  rel_stats s0, s1;
  assert_int_equal(rel_stats_read(m, &s0), MGR_OK);

  rconn *silent = rel_raw(S.path), *half = rel_raw(S.path);
  assert_non_null(silent);
  assert_non_null(half);
  mgri_buf hb;
  mgri_buf_init(&hb, 0);
  assert_int_equal(
      rel_encode(&hb, 0, MGRI_OP_HELLO, 0,
                 RA(mgr_int(1), mgr_int(1), mgr_int(getpid()), mgr_int(0))),
      MGR_OK);
  assert_int_equal(rel_write_all(half->fd, hb.data, 2), 0); /* half a header */
  mgri_buf_fini(&hb);

  /* Block until the server speaks and closes: the deadline is its doing. */
  int r1 = rel_next_reply(silent, REL_WAIT_MS);
  int st1 = silent->rep.status, rid1 = (int)silent->rep.rid;
  int e1 = rel_next_reply(silent, REL_WAIT_MS);
  int r2 = rel_next_reply(half, REL_WAIT_MS);
  int st2 = half->rep.status, rid2 = (int)half->rep.rid;
  int e2 = rel_next_reply(half, REL_WAIT_MS);
  assert_int_equal(mgr_ping(m),
                   MGR_OK); /* the real client, past HELLO, stays */
  assert_int_equal(rel_stats_read(m, &s1), MGR_OK);

  char extra[256];
  snprintf(extra, sizeof extra,
           "timeout_ms=200 silent=%s half_header=%s eof=%d/%d "
           "handshake_timeouts=+%lld "
           "handshaking=%lld",
           mgr_err_name(st1), mgr_err_name(st2), e1 == 0, e2 == 0,
           (long long)(s1.handshake_timeouts - s0.handshake_timeouts),
           (long long)s1.handshaking);
  rel_report("attack_handshake_timeout", 3, 2, 2, 0, extra);

  assert_int_equal(r1, 1);
  assert_int_equal(rid1, 0);
  assert_int_equal(st1, MGR_EPROTO);
  assert_int_equal(e1, 0);
  assert_int_equal(r2, 1);
  assert_int_equal(rid2, 0);
  assert_int_equal(st2, MGR_EPROTO);
  assert_int_equal(e2, 0);
  assert_int_equal(s1.handshake_timeouts, s0.handshake_timeouts + 2);
  assert_int_equal(s1.handshaking, 0);

  rel_conn_free(silent);
  rel_conn_free(half);
  mgr_close(m);
  assert_int_equal(rel_server_stop(&S), 0);
}

int main(void) {
  signal(SIGPIPE, SIG_IGN);
  alarm(110);
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_evicted),
                                     cmocka_unit_test(test_timeout)};
  return cmocka_run_group_tests_name("reliability_attack_handshake", tests,
                                     NULL, NULL);
}
