/* mgr reliability — attack 3 of issue 9: one BATCH of 1024 LIST_COPY of a
 * 1.8M-item list, a 5 KB request. The old server ran them all and
 * deep-copied each result before it checked the reply's size: +2.6 GiB RSS.
 * Now the batch's estimated cost (1024 x 1.8M items) is over the work
 * budget (spec 14.2.4) and it is answered LIMIT before anything runs.
 * Judged by the server's counters: refused.budget grows by exactly 1 per
 * batch, the memory peak grows by less than 2 MiB (one copy would be 40+
 * MiB), nothing of the batch ran (an append at its head left the list as it
 * was), and another client is answered after it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "rel_util.h"

#define ITEMS 1800000
#define NSUB 1024
#define PEAK_SLACK ((int64_t)2 << 20)

static rel_server S;

/* Sends BATCH subs on c; the reply's status (MGR_EPROTO if none came). */
static int send_batch(rconn *c, mgr_value *subs, size_t n, size_t *bytes) {
  mgri_buf fr;
  mgri_buf_init(&fr, 0);
  uint64_t rid = ++c->rid;
  int rc = rel_encode(&fr, rid, MGRI_OP_BATCH, 0, RA(mgr_array(subs, n)));
  if (rc == MGR_OK) {
    *bytes = fr.len;
    rc = rel_write_all(c->fd, fr.data, fr.len) == 0 ? MGR_OK : MGR_ECLOSED;
  }
  mgri_buf_fini(&fr);
  if (rc) return rc;
  if (rel_next_reply(c, REL_WAIT_MS) != 1 || c->rep.rid != rid)
    return MGR_EPROTO;
  return c->rep.status;
}

static void test_attack_batch_copy(void **st) {
  (void)st;
  assert_int_equal(rel_server_start(&S, 0), 0);
  mgr_client *m;
  assert_int_equal(mgr_connect(S.path, NULL, &m), MGR_OK);
  mgr_set_timeout(m, REL_WAIT_MS);
  /* The 1.8M-item list, made by the server itself ([7] * ITEMS). */
  mgr_value seven = mgr_int(7), init = mgr_array(&seven, 1);
  mgr_proxy *l;
  assert_int_equal(mgr_list_new(m, &init, &l), MGR_OK);
  assert_int_equal(mgr_list_imul(l, ITEMS), MGR_OK);
  size_t len = 0;
  assert_int_equal(mgr_list_len(l, &len), MGR_OK);
  assert_int_equal(len, ITEMS);
  uint64_t lid = mgr_proxy_id(l);

  rconn *a = rel_open(S.path, 0);
  assert_non_null(a);
  static mgr_value cells[NSUB][3], subs[NSUB];
  rel_stats s0, s1, s2;
  assert_int_equal(rel_stats_read(m, &s0), MGR_OK);

  /* The attack: 1024 LIST_COPY of the list in one batch. */
  for (int j = 0; j < NSUB; j++)
    subs[j] = rel_sub(cells[j], MGRI_OP_LIST_COPY, lid, NULL, 0);
  size_t req_bytes = 0;
  int rc1 = send_batch(a, subs, NSUB, &req_bytes);
  assert_int_equal(mgr_ping(m), MGR_OK);
  assert_int_equal(rel_stats_read(m, &s1), MGR_OK);

  /* The same with an append first: had any of it run, the list would have
   * grown. */
  mgr_value eight = mgr_int(8);
  subs[0] = rel_sub(cells[0], MGRI_OP_LIST_APPEND, lid, &eight, 1);
  size_t req2 = 0;
  int rc2 = send_batch(a, subs, NSUB, &req2);
  assert_int_equal(rel_stats_read(m, &s2), MGR_OK);
  size_t len2 = 0;
  assert_int_equal(mgr_list_len(l, &len2), MGR_OK);
  mgr_value last;
  assert_int_equal(mgr_list_get(l, -1, &last), MGR_OK);

  char extra[320];
  snprintf(
      extra, sizeof extra,
      "items=%d subs=%d request_bytes=%zu status=%s budget_refused=+%lld "
      "peak_headroom=%lld peak_growth=%lld used_growth=%lld list_after=%zu",
      ITEMS, NSUB, req_bytes, mgr_err_name(rc1),
      (long long)(s2.r_budget - s0.r_budget), (long long)(s0.peak - s0.used),
      (long long)(s2.peak - s0.peak), (long long)(s2.used - s0.used), len2);
  rel_report("attack_batch_copy", 2, 2, 2, (long)len2 - ITEMS, extra);

  /* The peak can show a copy: one result copied (ITEMS values) would have
   * raised it by more than the slack. */
  assert_true(s0.peak - s0.used + PEAK_SLACK <
              (int64_t)(ITEMS * sizeof(mgr_value)));
  assert_true(req_bytes < 8192); /* a small request */
  assert_int_equal(rc1, MGR_ELIMIT);
  assert_int_equal(s1.r_budget, s0.r_budget + 1);
  assert_true(s1.peak - s0.peak < PEAK_SLACK);
  assert_int_equal(s1.r_reply,
                   s0.r_reply); /* refused for its cost, not its size */
  assert_int_equal(rc2, MGR_ELIMIT);
  assert_int_equal(s2.r_budget, s1.r_budget + 1);
  assert_true(s2.peak - s0.peak < PEAK_SLACK);
  assert_int_equal(len2, ITEMS);
  assert_int_equal(last.u.i, 7);
  assert_int_equal(s2.objects, s0.objects);

  /* The list is still usable whole, and its owner too. */
  assert_int_equal(mgr_list_append(l, &eight), MGR_OK);
  assert_int_equal(mgr_list_len(l, &len2), MGR_OK);
  assert_int_equal(len2, ITEMS + 1);

  rel_conn_free(a);
  mgr_release(l);
  mgr_close(m);
  assert_int_equal(rel_server_stop(&S), 0);
}

int main(void) {
  signal(SIGPIPE, SIG_IGN);
  alarm(110);
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_attack_batch_copy)};
  return cmocka_run_group_tests_name("reliability_attack_batch_copy", tests,
                                     NULL, NULL);
}
