/* mgr reliability 7 — the server SIGKILLed under load. Library clients in
 * forked processes are in calls (atomic increments in a loop; lock acquires
 * blocked behind the parent's hold) when the server dies: every call returns
 * an error within a bounded time, and so does the next call; nothing hangs
 * (each read is bounded by poll, the whole test by alarm()). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "rel_util.h"

#define INCRS 3
#define WAITS 2
#define NW (INCRS + WAITS)
#define BOUND_S 10.0

static rel_server S;

/* Records: 1 = in calls now; then rc of the failed call, the time it
 * returned (ns, CLOCK_MONOTONIC), rc of the next call, the ops acked. */
static void worker(int w, int waits) {
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  mgr_client *m;
  REL_CHECK(1, mgr_connect(S.path, NULL, &m) == MGR_OK);
  mgr_proxy *p;
  int64_t acked = 0;
  int rc;
  if (waits) {
    REL_CHECK(2,
              mgr_open(m, "lk", MGR_K_LOCK, NULL, false, &p, NULL) == MGR_OK);
    rel_write_rec(w, 1);
    bool got = false;
    rc = mgr_lock_acquire(p, -1, &got);
    REL_CHECK(3, rc != MGR_OK && rc != MGR_EOWNERDEAD);
  } else {
    REL_CHECK(4, mgr_open(m, "v", MGR_K_VAR, NULL, false, &p, NULL) == MGR_OK);
    for (;;) {
      rc = mgr_var_incr_int(p, 1, NULL);
      if (rc != MGR_OK) break;
      if (acked++ == 0) rel_write_rec(w, 1);
    }
  }
  int64_t t = (int64_t)(rel_now() * 1e9);
  int rc2 = mgr_ping(m);
  rel_write_rec(w, rc);
  rel_write_rec(w, t);
  rel_write_rec(w, rc2);
  rel_write_rec(w, acked);
  _exit(0);
}

static void test_serverkill(void **st) {
  (void)st;
  assert_int_equal(rel_server_start(&S, 0), 0);
  mgr_client *m;
  assert_int_equal(mgr_connect(S.path, NULL, &m), MGR_OK);
  mgr_proxy *v, *lk;
  mgr_value zero = mgr_int(0);
  assert_int_equal(mgr_open(m, "v", MGR_K_VAR, &zero, true, &v, NULL), MGR_OK);
  assert_int_equal(mgr_open(m, "lk", MGR_K_LOCK, NULL, true, &lk, NULL),
                   MGR_OK);
  bool got = false;
  assert_int_equal(mgr_lock_acquire(lk, 0, &got), MGR_OK);
  assert_true(got);

  pid_t pids[NW];
  int fds[NW];
  for (int i = 0; i < NW; i++) {
    int p[2];
    assert_int_equal(pipe(p), 0);
    fflush(NULL);
    pids[i] = fork();
    assert_true(pids[i] >= 0);
    if (pids[i] == 0) {
      close(p[0]);
      worker(p[1], i >= INCRS);
    }
    close(p[1]);
    fds[i] = p[0];
  }
  for (int i = 0; i < NW; i++) {
    int64_t r;
    if (rel_read_rec(fds[i], &r, REL_WAIT_MS) != 1)
      fail_msg("worker %d did not start", i);
  }
  /* A few round trips: the waiters' acquires are very likely parked by now
   * (either way their calls must fail below). */
  for (int i = 0; i < 10; i++)
    assert_int_equal(mgr_ping(m), MGR_OK);

  double tk = rel_now();
  kill(S.pid, SIGKILL);
  assert_int_equal(rel_wait_status(S.pid), 1000 + SIGKILL);
  S.pid = 0;

  int lost = 0, bad_rc = 0;
  double worst = 0;
  long acked = 0;
  char codes[256] = "";
  for (int i = 0; i < NW; i++) {
    int64_t rc = 0, t = 0, rc2 = 0, a = 0;
    int ok = rel_read_rec(fds[i], &rc, (int)(BOUND_S * 1000)) == 1 &&
             rel_read_rec(fds[i], &t, REL_WAIT_MS) == 1 &&
             rel_read_rec(fds[i], &rc2, REL_WAIT_MS) == 1 &&
             rel_read_rec(fds[i], &a, REL_WAIT_MS) == 1;
    if (!ok) {
      lost++;
      kill(pids[i], SIGKILL);
      printf("worker %d (%s) still in its call %.1f s after the server died\n",
             i, i >= INCRS ? "acquire" : "incr", BOUND_S);
    } else {
      double d = (double)t / 1e9 - tk;
      if (d > worst) worst = d;
      acked += a;
      if (rc >= 0 || rc2 >= 0 || rc == MGR_ETIMEDOUT) bad_rc++;
      size_t l = strlen(codes);
      snprintf(codes + l, sizeof codes - l, "%s%s/%s", l ? "," : "",
               mgr_err_name((int)rc), mgr_err_name((int)rc2));
    }
    int stc = rel_wait_status(pids[i]);
    if (ok && stc != 0) bad_rc++;
    close(fds[i]);
  }
  double t0 = rel_now();
  int prc = mgr_ping(m);
  double dping = rel_now() - t0;
  char extra[400];
  snprintf(extra, sizeof extra,
           "worst_return_ms=%.1f parent_ping=%s parent_ping_ms=%.1f codes=%s",
           worst * 1000, mgr_err_name(prc), dping * 1000, codes);
  rel_report("serverkill", NW + 1, 1, acked, lost, extra);
  assert_int_equal(lost, 0);
  assert_int_equal(bad_rc, 0);
  assert_true(prc < 0);
  assert_true(worst < BOUND_S);
  mgr_release(v);
  mgr_release(lk);
  mgr_close(m);
  rel_server_stop(&S);
}

int main(void) {
  signal(SIGPIPE, SIG_IGN);
  alarm(60); /* the watchdog: a hang kills the test (and fails it) */
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_serverkill)};
  return cmocka_run_group_tests_name("reliability_serverkill", tests, NULL,
                                     NULL);
}
