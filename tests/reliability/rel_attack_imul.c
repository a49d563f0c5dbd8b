/* mgr reliability — attack 4 of issue 9: LIST_IMUL of a list holding one
 * 1 MB bytes value by 16,000,000, a 14-byte request. 16M items pass the
 * IMUL item cap, and the old server started copying: +2.6 GiB, its loop
 * blocked 19 s. Now the bytes of n - 1 more copies are computed before
 * anything is allocated (spec 14.2.2) and the request is answered LIMIT.
 * Judged by the server's counters and the object: refused.memory grows by
 * one, the objects' memory and the list's own bytes (DUMP) are unchanged
 * (memory used in all grows by less than the attacking connection's three
 * idle buffers), the peak
 * does not move by more than 2 MiB, and the list still holds its one value,
 * byte for byte. Then the same with n = 2^62 (over MGRI_IMUL_ITEMS_MAX:
 * refused.size), and a legal IMUL by 3 still works. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "rel_util.h"

#define VALUE_BYTES 1000000
#define TIMES 16000000
#define PEAK_SLACK ((int64_t)2 << 20)
#define BUF_SLACK ((int64_t)3 * MGRI_IDLE_BUF_MAX)

static rel_server S;

static int64_t dump_bytes(mgr_client *m, uint64_t id) {
  mgr_value d;
  if (mgr_dump(m, id, &d) != MGR_OK) return -1;
  mgr_value k = mgr_text("bytes");
  const mgr_value *b = mgr_map_get(&d, &k);
  int64_t n = b && b->type == MGR_T_INT ? b->u.i : -1;
  mgr_value_free(&d);
  return n;
}

static void test_attack_imul(void **st) {
  (void)st;
  assert_int_equal(rel_server_start(&S, 0), 0);
  mgr_client *m;
  assert_int_equal(mgr_connect(S.path, NULL, &m), MGR_OK);
  mgr_set_timeout(m, REL_WAIT_MS);
  uint8_t *blob = malloc(VALUE_BYTES);
  assert_non_null(blob);
  for (size_t i = 0; i < VALUE_BYTES; i++)
    blob[i] = (uint8_t)(i * 31 + 7);
  mgr_value bv = mgr_bytes(blob, VALUE_BYTES), init = mgr_array(&bv, 1);
  mgr_proxy *l;
  assert_int_equal(mgr_list_new(m, &init, &l), MGR_OK);
  uint64_t lid = mgr_proxy_id(l);
  assert_true(mgr_ping(m) == MGR_OK);

  rconn *a = rel_open(S.path, 0);
  assert_non_null(a);
  rel_stats s0, s1, s2;
  int64_t bytes0 = dump_bytes(m, lid);
  assert_true(bytes0 >= VALUE_BYTES);
  assert_int_equal(rel_stats_read(m, &s0), MGR_OK);

  /* The attack, from another connection: its request is tiny. */
  mgri_buf fr;
  mgri_buf_init(&fr, 0);
  assert_int_equal(
      rel_encode(&fr, 1, MGRI_OP_LIST_IMUL, lid, RA(mgr_int(TIMES))), MGR_OK);
  size_t req_bytes = fr.len;
  assert_int_equal(rel_write_all(a->fd, fr.data, fr.len), 0);
  mgri_buf_fini(&fr);
  /* Another client is answered, then the attacker. */
  assert_int_equal(mgr_ping(m), MGR_OK);
  assert_int_equal(rel_next_reply(a, REL_WAIT_MS), 1);
  assert_int_equal(a->rep.rid, 1);
  int rc1 = a->rep.status;
  assert_int_equal(rel_stats_read(m, &s1), MGR_OK);
  int64_t bytes1 = dump_bytes(m, lid);

  /* n past the item cap: refused for its size. */
  mgri_reply *r =
      rel_call(a, MGRI_OP_LIST_IMUL, lid, RA(mgr_int(INT64_C(1) << 62)));
  assert_non_null(r);
  int rc2 = r->status;
  assert_int_equal(rel_stats_read(m, &s2), MGR_OK);

  /* The list: one value, the very bytes. */
  size_t len = 0;
  assert_int_equal(mgr_list_len(l, &len), MGR_OK);
  mgr_value got;
  assert_int_equal(mgr_list_get(l, 0, &got), MGR_OK);
  bool same = got.type == MGR_T_BYTES && got.u.s.len == VALUE_BYTES &&
              memcmp(got.u.s.ptr, blob, VALUE_BYTES) == 0;
  mgr_value_free(&got);

  char extra[320];
  snprintf(
      extra, sizeof extra,
      "request_bytes=%zu status=%s memory_refused=+%lld size_refused=+%lld "
      "used_growth=%lld peak_growth=%lld list_bytes=%lld->%lld len=%zu",
      req_bytes, mgr_err_name(rc1), (long long)(s1.r_memory - s0.r_memory),
      (long long)(s2.r_size - s1.r_size), (long long)(s1.used - s0.used),
      (long long)(s1.peak - s0.peak), (long long)bytes0, (long long)bytes1,
      len);
  rel_report("attack_imul", 2, 2, 3, (long)(1 - len), extra);

  assert_true(req_bytes <= 16);
  assert_int_equal(rc1, MGR_ELIMIT);
  assert_int_equal(s1.r_memory, s0.r_memory + 1);
  /* Objects' memory exactly as it was; in all, at most what the attacking
   * connection's small buffers may have grown by. */
  assert_int_equal(s1.objects, s0.objects);
  assert_true(s1.used - s0.used < BUF_SLACK);
  assert_true(s1.peak - s0.peak < PEAK_SLACK);
  assert_int_equal(bytes1, bytes0);
  assert_int_equal(rc2, MGR_ELIMIT);
  assert_int_equal(s2.r_size, s1.r_size + 1);
  assert_int_equal(s2.objects, s0.objects);
  assert_int_equal(len, 1);
  assert_true(same);

  /* A legal IMUL still works, and costs what its copies cost. */
  assert_int_equal(mgr_list_imul(l, 3), MGR_OK);
  assert_int_equal(mgr_list_len(l, &len), MGR_OK);
  assert_int_equal(len, 3);
  assert_int_equal(mgr_list_get(l, 2, &got), MGR_OK);
  assert_true(got.type == MGR_T_BYTES && got.u.s.len == VALUE_BYTES &&
              memcmp(got.u.s.ptr, blob, VALUE_BYTES) == 0);
  mgr_value_free(&got);
  /* (Its DUMP would no longer fit a frame: the objects' total shows it.) */
  rel_stats s3;
  assert_int_equal(rel_stats_read(m, &s3), MGR_OK);
  assert_true(s3.objects - s2.objects >= 2 * VALUE_BYTES);

  free(blob);
  rel_conn_free(a);
  mgr_release(l);
  mgr_close(m);
  assert_int_equal(rel_server_stop(&S), 0);
}

int main(void) {
  signal(SIGPIPE, SIG_IGN);
  alarm(110);
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_attack_imul)};
  return cmocka_run_group_tests_name("reliability_attack_imul", tests, NULL,
                                     NULL);
}
