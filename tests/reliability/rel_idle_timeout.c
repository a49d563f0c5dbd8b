/* mgr reliability — the idle deadline (mgr_server_options.idle_timeout_ms,
 * mgrd --idle-timeout): a connection that sent nothing for that long and
 * has no parked request is closed and counted (STATS connections
 * idle_closed); one whose request is parked on the server is not idle
 * however long it waits, and is served when its wait ends; once answered,
 * it is idle again like any other. The order of the deadlines is what the
 * test relies on, not their length: a connection is looked at in the
 * order of its last request, so when a later one has been closed, an
 * earlier one was looked at first. Every poll bound here is a watchdog. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "rel_util.h"

#define IDLE_MS 1000

/* 1 once c's server closed it (EOF or reset), 0 if the watchdog ran out. */
static int closed_by_server(rconn *c) {
  uint8_t b;
  for (;;) {
    struct pollfd pf = {.fd = c->fd, .events = POLLIN};
    int pr = poll(&pf, 1, REL_WAIT_MS);
    if (pr < 0 && errno == EINTR) continue;
    if (pr == 0) return 0;
    ssize_t r = read(c->fd, &b, 1);
    if (r < 0 && errno == EINTR) continue;
    return r <= 0;
  }
}

/* Whether anything (a byte, EOF, an error) is ready on c right now. */
static int ready_now(rconn *c) {
  struct pollfd pf = {.fd = c->fd, .events = POLLIN};
  return poll(&pf, 1, 0) != 0;
}

static void test_idle_timeout(void **state) {
  (void)state;
  rel_server s;
  mgr_server_options so;
  mgr_server_options_init(&so);
  so.idle_timeout_ms = IDLE_MS;
  assert_int_equal(rel_server_start_opts(&s, 0, &so), 0);

  /* b parks an Event.wait() without a timeout; c sees it parked. */
  rconn *b = rel_open(s.path, 0);
  assert_non_null(b);
  uint64_t ev = rel_create(b, MGR_K_EVENT, NULL);
  assert_true(ev != 0);
  b->rid++;
  assert_int_equal(
      rel_send(b->fd, b->rid, MGRI_OP_EVENT_WAIT, ev, RA(mgr_nil())), MGR_OK);
  rconn *c = rel_open(s.path, 0);
  assert_non_null(c);
  int64_t waiters = 0;
  while (waiters != 1) {
    mgri_reply *r = rel_call(c, MGRI_OP_DUMP, ev, RA0);
    assert_non_null(r);
    assert_int_equal(r->status, MGR_OK);
    mgr_value k = mgr_text("state");
    const mgr_value *st = mgr_map_get(&r->result, &k);
    assert_non_null(st);
    k = mgr_text("waiters");
    const mgr_value *w = mgr_map_get(st, &k);
    assert_non_null(w);
    waiters = w->u.i;
  }

  /* a, opened after b's wait was parked, is closed for idleness: by then
   * b's last request is older still, and b is still open. */
  rconn *a = rel_open(s.path, 0);
  assert_non_null(a);
  assert_int_equal(closed_by_server(a), 1);
  assert_int_equal(closed_by_server(c), 1);
  assert_false(ready_now(b));

  /* The wait ends: b gets its answer (true), then is idle and closed. */
  rconn *d = rel_open(s.path, 0);
  assert_non_null(d);
  mgri_reply *r = rel_call(d, MGRI_OP_EVENT_SET, ev, RA0);
  assert_non_null(r);
  assert_int_equal(r->status, MGR_OK);
  assert_int_equal(rel_next_reply(b, REL_WAIT_MS), 1);
  assert_int_equal(b->rep.rid, b->rid);
  assert_int_equal(b->rep.status, MGR_OK);
  assert_int_equal(b->rep.result.type, MGR_T_BOOL);
  assert_true(b->rep.result.u.b);
  assert_int_equal(closed_by_server(b), 1);
  assert_int_equal(closed_by_server(d), 1);

  /* Four closed for idleness (a, b, c, d); the client asking is not. */
  mgr_client *m;
  assert_int_equal(mgr_connect(s.path, NULL, &m), MGR_OK);
  rel_stats st;
  assert_int_equal(rel_stats_read(m, &st), MGR_OK);
  assert_int_equal(st.idle_closed, 4);
  assert_int_equal(st.open, 1);
  mgr_close(m);
  rel_conn_free(a);
  rel_conn_free(b);
  rel_conn_free(c);
  rel_conn_free(d);
  assert_int_equal(rel_server_stop(&s), 0);
  rel_report("idle_timeout", 5, 4, 5, 0, NULL);
}

int main(void) {
  alarm(120);
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_idle_timeout)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
