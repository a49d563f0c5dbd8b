/* mgr reliability 1 — 1000 concurrent clients: 4 forked processes x 250 raw
 * connections (HELLO each) held open at once to one server; every connection
 * then increments one shared var ROUNDS times (pipelined across the
 * connections); every reply arrives, the final value is exact and the new
 * values handed out are exactly 1..N (each increment atomic). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "rel_util.h"

#define PROCS 4
#define PER_PROC 250
#define ROUNDS 10

static rel_server S;

static void worker(int ready_w, int go_r, int res_w, uint64_t oid) {
  static rconn *cs[PER_PROC];
  for (int i = 0; i < PER_PROC; i++) {
    cs[i] = rel_open(S.path, 0);
    REL_CHECK(1, cs[i] != NULL);
  }
  rel_write_rec(ready_w, PER_PROC);
  char b;
  ssize_t r;
  do
    r = read(go_r, &b, 1);
  while (r < 0 && errno == EINTR);
  int64_t acked = 0, sum = 0;
  mgri_buf buf;
  for (int round = 0; round < ROUNDS; round++) {
    for (int i = 0; i < PER_PROC; i++) {
      mgri_buf_init(&buf, 0);
      REL_CHECK(2, rel_encode(&buf, ++cs[i]->rid, MGRI_OP_VAR_INCR, oid,
                              RA(mgr_int(1))) == MGR_OK);
      REL_CHECK(3, rel_write_all(cs[i]->fd, buf.data, buf.len) == 0);
      mgri_buf_fini(&buf);
    }
    for (int i = 0; i < PER_PROC; i++) {
      REL_CHECK(4, rel_next_reply(cs[i], REL_WAIT_MS) == 1);
      REL_CHECK(5, cs[i]->rep.rid == cs[i]->rid);
      REL_CHECK(6, cs[i]->rep.status == MGR_OK);
      REL_CHECK(7, cs[i]->rep.result.type == MGR_T_INT);
      sum += cs[i]->rep.result.u.i;
      acked++;
    }
  }
  rel_write_rec(res_w, acked);
  rel_write_rec(res_w, sum);
  for (int i = 0; i < PER_PROC; i++)
    rel_conn_free(cs[i]);
  _exit(0);
}

static void test_thousand_clients(void **st) {
  (void)st;
  long lim = rel_raise_nofile(8192);
  if (lim < PROCS * PER_PROC + 64) {
    printf(
        "reliability: clients SKIPPED: RLIMIT_NOFILE hard limit %ld too low\n",
        lim);
    skip();
  }
  assert_int_equal(rel_server_start(&S, 0), 0);
  rconn *c = rel_open(S.path, 0);
  assert_non_null(c);
  mgr_value zero = mgr_int(0);
  uint64_t oid = rel_create(c, MGR_K_VAR, &zero);
  assert_true(oid > 0);
  long rss0 = rel_rss_kb(S.pid);

  int ready[2], go[2], res[PROCS][2];
  assert_int_equal(pipe(ready), 0);
  assert_int_equal(pipe(go), 0);
  pid_t pids[PROCS];
  double t0 = rel_now();
  for (int p = 0; p < PROCS; p++) {
    assert_int_equal(pipe(res[p]), 0);
    fflush(NULL);
    pids[p] = fork();
    assert_true(pids[p] >= 0);
    if (pids[p] == 0) {
      close(ready[0]);
      close(go[1]);
      close(res[p][0]);
      worker(ready[1], go[0], res[p][1], oid);
    }
    close(res[p][1]);
  }
  close(ready[1]);
  close(go[0]);
  long open_conns = 0;
  for (int p = 0; p < PROCS; p++) {
    int64_t n;
    if (rel_read_rec(ready[0], &n, 60000) != 1)
      fail_msg("a worker could not open its %d connections", PER_PROC);
    open_conns += n;
  }
  /* Every connection is open and has done HELLO now. */
  int server_fds = rel_nfds(S.pid);
  long rss_peak = rel_rss_kb(S.pid);
  assert_int_equal(open_conns, PROCS * PER_PROC);
  assert_true(server_fds >= PROCS * PER_PROC);
  close(go[1]); /* go */

  int64_t acked = 0, sum = 0;
  for (int p = 0; p < PROCS; p++) {
    int64_t a = 0, s = 0;
    int r1 = rel_read_rec(res[p][0], &a, 60000);
    int r2 = r1 == 1 ? rel_read_rec(res[p][0], &s, 60000) : 0;
    int stc = rel_wait_status(pids[p]);
    if (r1 != 1 || r2 != 1 || stc != 0)
      fail_msg("worker %d failed (status %d)", p, stc);
    acked += a;
    sum += s;
    close(res[p][0]);
  }
  double dt = rel_now() - t0;
  close(ready[0]);

  const int64_t N = (int64_t)PROCS * PER_PROC * ROUNDS;
  mgri_reply *r = rel_call(c, MGRI_OP_VAR_GET, oid, RA0);
  assert_non_null(r);
  assert_int_equal(r->status, MGR_OK);
  int64_t final = r->result.u.i;
  long lost = (long)(N - acked);
  char extra[160];
  snprintf(
      extra, sizeof extra,
      "final=%lld expected=%lld server_fds=%d rss_kb=%ld->%ld seconds=%.2f",
      (long long) final, (long long)N, server_fds, rss0, rss_peak, dt);
  rel_report("clients", PROCS * PER_PROC, 0, (long)acked, lost, extra);
  assert_int_equal(lost, 0);
  assert_int_equal(final, N);
  assert_int_equal(sum, N * (N + 1) / 2);
  rel_conn_free(c);
  assert_int_equal(rel_server_stop(&S), 0);
}

int main(void) {
  signal(SIGPIPE, SIG_IGN);
  alarm(110);
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_thousand_clients)};
  return cmocka_run_group_tests_name("reliability_clients", tests, NULL, NULL);
}
