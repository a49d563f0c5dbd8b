/* mgr reliability — attack 6 of issue 9: LIST_COPY of a 16M-item list. The
 * old server built the 384 MiB result in its scratch before finding it could
 * not be sent, and the scratch stayed resident forever. Now a result of more
 * values than frame_max (each value encodes to at least one byte) is refused
 * before it is built (spec 14.2.2), and scratch goes back to at most
 * MGRI_IDLE_BUF_MAX after each request (14.2.3). Here, on a 2M-item list
 * (more values than the 1 MiB frame can carry): LIST_COPY and a whole
 * LIST_GETSLICE are answered LIMIT with refused.reply grown by one each and
 * the memory peak grown by less than 2 MiB; then a legal 1M-item slice IS
 * built (the peak shows its 24 MB scratch, so the peak would have shown a
 * copy) and afterwards the arenas are back under the idle bound. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "rel_util.h"

#define ITEMS 2000000 /* > frame_max values */
#define SLICE 1000000 /* <= frame_max values, and its reply fits */
#define PEAK_SLACK ((int64_t)2 << 20)
#define STATS_SLACK ((int64_t)64 << 10) /* the STATS request being answered */

static rel_server S;

static void test_attack_copy(void **st) {
  (void)st;
  assert_int_equal(rel_server_start(&S, 0), 0);
  mgr_client *m;
  assert_int_equal(mgr_connect(S.path, NULL, &m), MGR_OK);
  mgr_set_timeout(m, REL_WAIT_MS);
  mgr_value zero = mgr_int(0), init = mgr_array(&zero, 1);
  mgr_proxy *l;
  assert_int_equal(mgr_list_new(m, &init, &l), MGR_OK);
  assert_int_equal(mgr_list_imul(l, ITEMS), MGR_OK);
  assert_true(ITEMS > MGRI_FRAME_MAX_DEFAULT);

  rel_stats s0, s1, s2, s3;
  assert_int_equal(rel_stats_read(m, &s0), MGR_OK);
  /* The attack: the whole list, twice over. */
  mgr_value out = mgr_nil();
  int rc1 = mgr_list_copy(l, &out);
  assert_int_equal(rel_stats_read(m, &s1), MGR_OK);
  int rc2 = mgr_list_getslice(l, MGR_OMIT, MGR_OMIT, MGR_OMIT, &out);
  assert_int_equal(rel_stats_read(m, &s2), MGR_OK);
  assert_int_equal(mgr_ping(m), MGR_OK);

  /* A large read that is allowed: it is built, sent, and given back. */
  mgr_value sl = mgr_nil();
  int rc3 = mgr_list_getslice(l, mgr_at(0), mgr_at(SLICE), MGR_OMIT, &sl);
  size_t got = sl.type == MGR_T_ARRAY ? sl.u.a.len : 0;
  mgr_value_free(&sl);
  assert_int_equal(rel_stats_read(m, &s3), MGR_OK);
  size_t len = 0;
  assert_int_equal(mgr_list_len(l, &len), MGR_OK);

  /* What may stay: each open connection's arena, the store's scratch and
   * batch arenas, at most MGRI_IDLE_BUF_MAX each. */
  int64_t arena_bound =
      (s3.open + 2) * (int64_t)MGRI_IDLE_BUF_MAX + STATS_SLACK;
  char extra[320];
  snprintf(
      extra, sizeof extra,
      "items=%d copy=%s slice_all=%s reply_refused=+%lld peak_growth=%lld "
      "legal_slice=%zu legal_peak_growth=%lld arenas=%lld arena_bound=%lld",
      ITEMS, mgr_err_name(rc1), mgr_err_name(rc2),
      (long long)(s2.r_reply - s0.r_reply), (long long)(s2.peak - s0.peak), got,
      (long long)(s3.peak - s2.peak), (long long)s3.arenas,
      (long long)arena_bound);
  rel_report("attack_copy", 1, 2, 3, (long)(ITEMS - len), extra);

  assert_int_equal(rc1, MGR_ELIMIT);
  assert_int_equal(s1.r_reply, s0.r_reply + 1);
  assert_true(s1.peak - s0.peak < PEAK_SLACK);
  assert_int_equal(rc2, MGR_ELIMIT);
  assert_int_equal(s2.r_reply, s1.r_reply + 1);
  assert_true(s2.peak - s0.peak < PEAK_SLACK);
  assert_int_equal(s2.r_memory, s0.r_memory);
  assert_int_equal(rc3, MGR_OK);
  assert_int_equal(got, SLICE);
  /* The control: the peak does count a built result. */
  assert_true(s3.peak - s2.peak >= (int64_t)(SLICE * sizeof(mgr_value)));
  /* Nothing of it stays. */
  assert_true(s3.arenas <= arena_bound);
  assert_true(s3.used - s0.used < PEAK_SLACK);
  assert_int_equal(len, ITEMS);

  mgr_release(l);
  mgr_close(m);
  assert_int_equal(rel_server_stop(&S), 0);
}

int main(void) {
  signal(SIGPIPE, SIG_IGN);
  alarm(110);
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_attack_copy)};
  return cmocka_run_group_tests_name("reliability_attack_copy", tests, NULL,
                                     NULL);
}
