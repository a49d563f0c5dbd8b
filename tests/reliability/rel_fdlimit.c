/* mgr reliability 6 — running out of file descriptors. The server runs with
 * RLIMIT_NOFILE 64; connections are opened until one is refused, closed or
 * left unanswered; the server survives without spinning, existing clients
 * keep working, and once the extra connections close new clients are
 * accepted again (three cycles). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "rel_util.h"

#define NOFILE 64
#define MAXTRY 300
#define UNANSWERED_MS 1000 /* a HELLO unanswered this long = not accepted */
#define CYCLES 3

static rel_server S;

/* utime + stime of pid in clock ticks. */
static long cpu_ticks(pid_t pid) {
  char fn[64], buf[1024];
  snprintf(fn, sizeof fn, "/proc/%d/stat", (int)pid);
  FILE *f = fopen(fn, "r");
  if (!f) return -1;
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = 0;
  char *p = strrchr(buf, ')');
  if (!p) return -1;
  long ut = 0, stt = 0;
  /* fields after ")": state(3) ... utime(14) stime(15) */
  if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %ld %ld", &ut,
             &stt) != 2)
    return -1;
  return ut + stt;
}

static void test_fdlimit(void **st) {
  (void)st;
  rel_raise_nofile(1024);
  assert_int_equal(rel_server_start(&S, NOFILE), 0);
  mgr_client *m;
  assert_int_equal(mgr_connect(S.path, NULL, &m), MGR_OK);
  mgr_set_timeout(m, REL_WAIT_MS);
  mgr_proxy *v;
  mgr_value zero = mgr_int(0);
  assert_int_equal(mgr_var_new(m, &zero, &v), MGR_OK);
  int64_t expect = 0;
  long faults = 0, ops = 0, accepted_max = 0;
  long spin_ticks = 0, hz = sysconf(_SC_CLK_TCK);
  char how[64] = "";

  for (int cycle = 0; cycle < CYCLES; cycle++) {
    static rconn *cs[MAXTRY];
    int n = 0, refused = 0;
    for (; n < MAXTRY; n++) {
      rconn *c = calloc(1, sizeof *c);
      mgri_arena_init(&c->arena, 0);
      cs[n] = c;
      c->fd = rel_connect_fd(S.path, 1);
      if (c->fd < 0) {
        snprintf(how, sizeof how, "connect:%s", strerror(errno));
        refused = 1;
        break;
      }
      if (rel_send(c->fd, 0, MGRI_OP_HELLO, 0,
                   RA(mgr_int(1), mgr_int(1), mgr_int(getpid()), mgr_int(0))) !=
          MGR_OK) {
        snprintf(how, sizeof how, "send failed");
        refused = 1;
        break;
      }
      long t0 = cpu_ticks(S.pid);
      int r = rel_next_reply(c, UNANSWERED_MS);
      if (r == -1) {
        spin_ticks = cpu_ticks(S.pid) - t0;
        snprintf(how, sizeof how, "unanswered");
        refused = 1;
      } else if (r != 1) {
        snprintf(how, sizeof how, "closed");
        refused = 1;
      } else if (c->rep.status != MGR_OK) {
        snprintf(how, sizeof how, "%s", mgr_err_name(c->rep.status));
        refused = 1;
      }
      if (refused) break;
    }
    int opened = n; /* cs[0..n) accepted; cs[n] is the refused one */
    if (!refused)
      fail_msg("%d connections accepted with RLIMIT_NOFILE %d", n, NOFILE);
    if (n > accepted_max) accepted_max = n;
    faults++;
    /* The server survives; the existing client works. */
    assert_true(rel_alive(S.pid));
    for (int i = 0; i < 100; i++) {
      int64_t got;
      assert_int_equal(mgr_var_incr_int(v, 1, &got), MGR_OK);
      assert_int_equal(got, ++expect);
      ops++;
    }
    /* The accepted raw connections work too. */
    for (int i = 0; i < opened; i++) {
      mgri_reply *r =
          rel_call(cs[i], MGRI_OP_VAR_INCR, mgr_proxy_id(v), RA(mgr_int(1)));
      if (!r || r->status != MGR_OK)
        fail_msg("accepted connection %d unusable", i);
      expect++;
      ops++;
    }
    for (int i = 0; i <= opened && i < MAXTRY; i++)
      if (cs[i]) {
        rel_conn_free(cs[i]);
        cs[i] = NULL;
      }
    /* New clients are accepted again. */
    mgr_options o;
    mgr_options_init(&o);
    o.timeout_ms = REL_WAIT_MS;
    mgr_client *m2;
    int rc = mgr_connect(S.path, &o, &m2);
    if (rc != MGR_OK)
      fail_msg("cycle %d: new client refused after closing: %s", cycle,
               mgr_err_name(rc));
    mgr_proxy *v2;
    assert_int_equal(mgr_proxy_from_value(
                         m2,
                         &(mgr_value){.type = MGR_T_REF,
                                      .u.ref = {mgr_proxy_id(v), MGR_K_VAR}},
                         &v2),
                     MGR_OK);
    int64_t got;
    assert_int_equal(mgr_var_incr_int(v2, 1, &got), MGR_OK);
    assert_int_equal(got, ++expect);
    ops++;
    mgr_release(v2);
    mgr_close(m2);
  }
  mgr_value fv;
  assert_int_equal(mgr_var_get(v, &fv), MGR_OK);
  double spin =
      hz > 0 ? (double)spin_ticks / (double)hz / (UNANSWERED_MS / 1000.0) : 0;
  char extra[200];
  snprintf(extra, sizeof extra,
           "nofile=%d accepted=%ld refused_as=%s server_cpu_while_full=%.0f%% "
           "final=%lld",
           NOFILE, accepted_max, how, spin * 100, (long long)fv.u.i);
  rel_report("fdlimit", accepted_max + 2, faults, ops, (long)(expect - fv.u.i),
             extra);
  assert_int_equal(fv.u.i, expect);
  assert_true(spin < 0.5); /* not busy-looping on a full descriptor table */
  mgr_release(v);
  mgr_close(m);
  assert_int_equal(rel_server_stop(&S), 0);
}

int main(void) {
  signal(SIGPIPE, SIG_IGN);
  alarm(110);
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_fdlimit)};
  return cmocka_run_group_tests_name("reliability_fdlimit", tests, NULL, NULL);
}
