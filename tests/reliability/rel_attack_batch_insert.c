/* mgr reliability — attack 7 of issue 9: one BATCH of 32 LIST_INSERT(0) on a
 * 16M-item list took the old server's loop for 2.9 s (each insert moved every
 * item); a full 1024-op batch about 90 s. Now each sub-request's cost is
 * estimated before anything runs (spec 14.2.4) and a batch over
 * MGRI_WORK_BUDGET is answered LIMIT with none of it run. Since the list has
 * room at both ends (issue 15), insert(0) moves nothing and costs 1 + 0 + a
 * (END_ARGS): the expensive insert is in the middle, 1 + n/2 + a. Here on a
 * 2M-item list: a batch of 32 inserts at n/2 is LIMIT, refused.budget grows
 * by one, the list is unchanged (no insert ran: same length, no inserted
 * value); a single insert at n/2 outside a batch is still allowed (a single
 * request is never refused for its cost), and so is a batch of two that fits
 * the budget; the batch of 32 insert(0), the old attack, now fits the budget
 * and runs; another client is answered throughout. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "rel_util.h"

#define ITEMS 2000000
#define NSUB 32
#define MID (ITEMS / 2)

static rel_server S;

static void test_attack_batch_insert(void **st) {
  (void)st;
  assert_int_equal(rel_server_start(&S, 0), 0);
  mgr_client *m;
  assert_int_equal(mgr_connect(S.path, NULL, &m), MGR_OK);
  mgr_set_timeout(m, REL_WAIT_MS);
  mgr_value zero = mgr_int(0), init = mgr_array(&zero, 1);
  mgr_proxy *l;
  assert_int_equal(mgr_list_new(m, &init, &l), MGR_OK);
  assert_int_equal(mgr_list_imul(l, ITEMS), MGR_OK);
  uint64_t lid = mgr_proxy_id(l);
  /* Two inserts fit the budget, 32 do not: the attack is over it by far. */
  assert_true(2 * (uint64_t)(ITEMS + 4) <= MGRI_WORK_BUDGET);
  assert_true((uint64_t)NSUB * ITEMS > MGRI_WORK_BUDGET);

  rconn *a = rel_open(S.path, 0);
  assert_non_null(a);
  static mgr_value cells[NSUB][3], args[NSUB][2], subs[NSUB];
  for (int j = 0; j < NSUB; j++) {
    args[j][0] = mgr_int(MID);
    args[j][1] = mgr_int(j + 1);
    subs[j] = rel_sub(cells[j], MGRI_OP_LIST_INSERT, lid, args[j], 2);
  }
  rel_stats s0, s1, s2, s3;
  assert_int_equal(rel_stats_read(m, &s0), MGR_OK);

  /* The attack. */
  mgri_reply *r = rel_call(a, MGRI_OP_BATCH, 0, RA(mgr_array(subs, NSUB)));
  assert_non_null(r);
  int rc1 = r->status;
  assert_int_equal(mgr_ping(m), MGR_OK);
  assert_int_equal(rel_stats_read(m, &s1), MGR_OK);
  /* Had any insert run, its value would be among the first NSUB items. */
  size_t len1 = 0, ones = 0;
  assert_int_equal(mgr_list_len(l, &len1), MGR_OK);
  mgr_value front;
  assert_int_equal(
      mgr_list_getslice(l, mgr_at(MID), mgr_at(MID + NSUB), MGR_OMIT, &front),
      MGR_OK);
  assert_int_equal(front.u.a.len, NSUB);
  for (int j = 0; j < NSUB; j++)
    ones += front.u.a.items[j].u.i != 0;
  mgr_value head = front.u.a.items[0];
  mgr_value_free(&front);

  /* One insert on its own: allowed. */
  mgr_value hundred = mgr_int(100);
  int rc2 = mgr_list_insert(l, MID, &hundred);
  assert_int_equal(rel_stats_read(m, &s2), MGR_OK);
  size_t len2 = 0;
  assert_int_equal(mgr_list_len(l, &len2), MGR_OK);
  mgr_value head2;
  assert_int_equal(mgr_list_get(l, MID, &head2), MGR_OK);

  /* A batch of two, within the budget: both run. */
  r = rel_call(a, MGRI_OP_BATCH, 0, RA(mgr_array(subs, 2)));
  assert_non_null(r);
  int rc3 = r->status;
  bool slots_ok = rc3 == MGR_OK && r->result.type == MGR_T_ARRAY &&
                  r->result.u.a.len == 2 &&
                  r->result.u.a.items[0].u.a.items[0].u.i == 0 &&
                  r->result.u.a.items[1].u.a.items[0].u.i == 0;
  assert_int_equal(rel_stats_read(m, &s3), MGR_OK);
  size_t len3 = 0;
  assert_int_equal(mgr_list_len(l, &len3), MGR_OK);
  mgr_value h0, h1;
  assert_int_equal(mgr_list_get(l, MID, &h0), MGR_OK);
  assert_int_equal(mgr_list_get(l, MID + 1, &h1), MGR_OK);

  /* The old attack, 32 insert(0): cheap now, within the budget, and run. */
  for (int j = 0; j < NSUB; j++)
    args[j][0] = mgr_int(0);
  double t0 = rel_now();
  r = rel_call(a, MGRI_OP_BATCH, 0, RA(mgr_array(subs, NSUB)));
  double front_ms = (rel_now() - t0) * 1e3;
  assert_non_null(r);
  int rc4 = r->status;
  rel_stats s4;
  assert_int_equal(rel_stats_read(m, &s4), MGR_OK);
  size_t len4 = 0;
  assert_int_equal(mgr_list_len(l, &len4), MGR_OK);
  mgr_value h4;
  assert_int_equal(mgr_list_get(l, 0, &h4), MGR_OK);

  char extra[320];
  snprintf(
      extra, sizeof extra,
      "items=%d subs=%d status=%s budget_refused=+%lld len_after=%zu "
      "inserted=%zu "
      "single=%s batch_of_2=%s len=%zu front_batch=%s in %.3f ms len_final=%zu",
      ITEMS, NSUB, mgr_err_name(rc1), (long long)(s1.r_budget - s0.r_budget),
      len1, ones, mgr_err_name(rc2), mgr_err_name(rc3), len3, mgr_err_name(rc4),
      front_ms, len4);
  rel_report("attack_batch_insert", 2, 1, 4, (long)(len1 - ITEMS), extra);

  assert_int_equal(rc1, MGR_ELIMIT);
  assert_int_equal(s1.r_budget, s0.r_budget + 1);
  assert_int_equal(len1, ITEMS);
  assert_int_equal(head.u.i, 0);
  assert_int_equal(ones, 0);
  assert_int_equal(s1.objects, s0.objects); /* the list did not grow */
  assert_int_equal(rc2, MGR_OK);
  assert_int_equal(s2.r_budget, s1.r_budget);
  assert_int_equal(len2, ITEMS + 1);
  assert_int_equal(head2.u.i, 100);
  assert_int_equal(rc3, MGR_OK);
  assert_true(slots_ok);
  assert_int_equal(s3.r_budget, s1.r_budget);
  assert_int_equal(len3, ITEMS + 3);
  assert_int_equal(h0.u.i, 2); /* inserted second, at MID */
  assert_int_equal(h1.u.i, 1);
  assert_int_equal(rc4, MGR_OK);
  assert_int_equal(s4.r_budget, s1.r_budget);
  assert_int_equal(len4, ITEMS + 3 + NSUB);
  assert_int_equal(h4.u.i, NSUB); /* the last inserted comes first */

  rel_conn_free(a);
  mgr_release(l);
  mgr_close(m);
  assert_int_equal(rel_server_stop(&S), 0);
}

int main(void) {
  signal(SIGPIPE, SIG_IGN);
  alarm(110);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_attack_batch_insert)};
  return cmocka_run_group_tests_name("reliability_attack_batch_insert", tests,
                                     NULL, NULL);
}
