/* mgr reliability 4 — slow-loris: 200 connections each send a partial frame
 * (a quarter of them before HELLO: 2 header bytes, fewer than the server's
 * 64 handshake slots, which rel_attack_handshake covers; the rest after
 * HELLO: a header and a few body bytes) and stall. While all are open a good client's calls all
 * succeed (each bounded by a per-call timeout), none of the stalled
 * connections gets a reply, and completing one stalled frame afterwards gets
 * its correct reply. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "rel_util.h"

#define STALLED 200
#define GOOD_OPS 2000

static rel_server S;

static void test_slowloris(void **st) {
  (void)st;
  rel_raise_nofile(1024);
  assert_int_equal(rel_server_start(&S, 0), 0);
  mgr_client *m;
  assert_int_equal(mgr_connect(S.path, NULL, &m), MGR_OK);
  mgr_set_timeout(m, 5000); /* "promptly": any call slower fails */
  mgr_proxy *v;
  mgr_value zero = mgr_int(0);
  assert_int_equal(mgr_var_new(m, &zero, &v), MGR_OK);
  uint64_t oid = mgr_proxy_id(v);

  static rconn *cs[STALLED];
  static mgri_buf rest[STALLED];
  for (int i = 0; i < STALLED; i++) {
    mgri_buf_init(&rest[i], 0);
    if (i % 4) {
      cs[i] = rel_open(S.path, 0);
      assert_non_null(cs[i]);
      assert_int_equal(
          rel_encode(&rest[i], 1, MGRI_OP_VAR_INCR, oid, RA(mgr_int(1))),
          MGR_OK);
      assert_int_equal(rel_write_all(cs[i]->fd, rest[i].data, 6),
                       0); /* header + 2 */
    } else {
      cs[i] = calloc(1, sizeof *cs[i]);
      mgri_arena_init(&cs[i]->arena, 0);
      cs[i]->fd = rel_connect_fd(S.path, 0);
      assert_true(cs[i]->fd >= 0);
      assert_int_equal(
          rel_encode(&rest[i], 0, MGRI_OP_HELLO, 0,
                     RA(mgr_int(1), mgr_int(1), mgr_int(getpid()), mgr_int(0))),
          MGR_OK);
      assert_int_equal(rel_write_all(cs[i]->fd, rest[i].data, 2),
                       0); /* half a header */
    }
  }
  double t0 = rel_now(), worst = 0;
  long ok_ops = 0;
  for (int i = 0; i < GOOD_OPS; i++) {
    double a = rel_now();
    int64_t got = -1;
    int rc = mgr_var_incr_int(v, 1, &got);
    if (rc != MGR_OK) fail_msg("good call %d: %s", i, mgr_err_name(rc));
    assert_int_equal(got, i + 1);
    ok_ops++;
    double d = rel_now() - a;
    if (d > worst) worst = d;
  }
  double dt = rel_now() - t0;
  /* No stalled connection got anything (they sent no whole frame). */
  struct pollfd pf[STALLED];
  for (int i = 0; i < STALLED; i++)
    pf[i] = (struct pollfd){.fd = cs[i]->fd, .events = POLLIN};
  int ready = poll(pf, STALLED, 0);
  assert_true(rel_alive(S.pid));
  /* Completing the stalled frames: each gets its right answer. */
  long completed = 0;
  for (int i = 0; i < STALLED; i++) {
    size_t done = i % 4 ? 6 : 2;
    assert_int_equal(
        rel_write_all(cs[i]->fd, rest[i].data + done, rest[i].len - done), 0);
  }
  for (int i = 0; i < STALLED; i++) {
    assert_int_equal(rel_next_reply(cs[i], REL_WAIT_MS), 1);
    assert_int_equal(cs[i]->rep.status, MGR_OK);
    assert_int_equal(cs[i]->rep.rid, i % 4 ? 1 : 0);
    completed++;
    rel_conn_free(cs[i]);
    mgri_buf_fini(&rest[i]);
  }
  mgr_value fv;
  assert_int_equal(mgr_var_get(v, &fv), MGR_OK);
  int64_t want = GOOD_OPS + STALLED - STALLED / 4;
  char extra[200];
  snprintf(extra, sizeof extra,
           "stalled=%d replies_to_stalled=%d good_seconds=%.3f "
           "worst_call_ms=%.2f completed=%ld "
           "final=%lld",
           STALLED, ready, dt, worst * 1000, completed, (long long)fv.u.i);
  rel_report("slowloris", STALLED + 1, STALLED, ok_ops + completed,
             (long)(want - fv.u.i), extra);
  assert_int_equal(ready, 0);
  assert_int_equal(fv.u.i, want);
  mgr_release(v);
  mgr_close(m);
  assert_int_equal(rel_server_stop(&S), 0);
}

int main(void) {
  signal(SIGPIPE, SIG_IGN);
  alarm(110);
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_slowloris)};
  return cmocka_run_group_tests_name("reliability_slowloris", tests, NULL,
                                     NULL);
}
