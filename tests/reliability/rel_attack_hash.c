/* mgr reliability — attack 1 of issue 9: dict int keys whose hashes collide.
 * The old server hashed ints with splitmix64's finalizer, unseeded and
 * invertible, and took a dict slot from the hash's low bits; collide.h
 * inverts it so that 40,000 keys all have the low 32 bits of their old hash
 * zero (one slot in any old table), and one DICT_UPDATE of them cost the old
 * server 16.6 s (another client's PING waited 14.5 s behind it). Here the
 * keys are checked to really collide under the old hash, the DICT_UPDATE is
 * sent on one connection and, once it is written, a PING on another (which
 * must be answered), and the test is judged by the server's own counters: the longest dict probe sequence it
 * saw (STATS hash.dict_probe_max) stays within MGRI_PROBE_BOUND, while
 * every key is there with its value. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "collide.h"
#include "rel_util.h"

#define NKEYS 40000
#define CHUNK 1000 /* DICT_GETs per verifying batch */

static rel_server S;

static int cmp_i64(const void *a, const void *b) {
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return x < y ? -1 : x > y;
}

static void test_attack_hash(void **st) {
  (void)st;
  /* The keys, and proof that they collide under the old hash. */
  int64_t *keys = malloc(NKEYS * sizeof *keys),
          *sorted = malloc(NKEYS * sizeof *sorted);
  assert_non_null(keys);
  assert_non_null(sorted);
  long old_same_slot = 0;
  for (int i = 0; i < NKEYS; i++) {
    keys[i] = collide_int((uint64_t)i + 1);
    if ((collide_old_mix((uint64_t)keys[i]) & 0xffffffffu) == 0)
      old_same_slot++;
  }
  assert_int_equal(old_same_slot, NKEYS);
  memcpy(sorted, keys, NKEYS * sizeof *keys);
  qsort(sorted, NKEYS, sizeof *sorted, cmp_i64);
  for (int i = 1; i < NKEYS; i++)
    assert_true(sorted[i - 1] != sorted[i]);
  free(sorted);

  assert_int_equal(rel_server_start(&S, 0), 0);
  mgr_client *m;
  assert_int_equal(mgr_connect(S.path, NULL, &m), MGR_OK);
  mgr_set_timeout(m, REL_WAIT_MS);
  mgr_proxy *d;
  assert_int_equal(mgr_dict_new(m, NULL, &d), MGR_OK);
  uint64_t did = mgr_proxy_id(d);
  rel_stats s0, s1;
  assert_int_equal(rel_stats_read(m, &s0), MGR_OK);
  assert_int_equal(s0.probe_bound, MGRI_PROBE_BOUND);

  /* The attack: one DICT_UPDATE of all the keys, on its own connection. */
  rconn *a = rel_open(S.path, 0);
  assert_non_null(a);
  mgr_value *pairs = malloc(2 * NKEYS * sizeof *pairs);
  assert_non_null(pairs);
  for (int i = 0; i < NKEYS; i++) {
    pairs[2 * i] = mgr_int(keys[i]);
    pairs[2 * i + 1] = mgr_int(i);
  }
  mgri_buf fr;
  mgri_buf_init(&fr, 0);
  assert_int_equal(
      rel_encode(&fr, 1, MGRI_OP_DICT_UPDATE, did, RA(mgr_map(pairs, NKEYS))),
      MGR_OK);
  size_t req_bytes = fr.len;
  assert_int_equal(rel_write_all(a->fd, fr.data, fr.len), 0);
  mgri_buf_fini(&fr);
  free(pairs);
  /* Another client is answered (synchronously: no timing). */
  assert_int_equal(mgr_ping(m), MGR_OK);
  assert_int_equal(rel_next_reply(a, REL_WAIT_MS), 1);
  assert_int_equal(a->rep.rid, 1);
  assert_int_equal(a->rep.status, MGR_OK);

  /* Every key is there with its value (lookups probe the table too). */
  size_t len = 0;
  assert_int_equal(mgr_dict_len(d, &len), MGR_OK);
  assert_int_equal(len, NKEYS);
  static mgr_value cells[CHUNK][3], kargs[CHUNK], subs[CHUNK];
  long checked = 0;
  for (int base = 0; base < NKEYS; base += CHUNK) {
    for (int j = 0; j < CHUNK; j++) {
      kargs[j] = mgr_int(keys[base + j]);
      subs[j] = rel_sub(cells[j], MGRI_OP_DICT_GET, did, &kargs[j], 1);
    }
    mgri_reply *r = rel_call(a, MGRI_OP_BATCH, 0, RA(mgr_array(subs, CHUNK)));
    assert_non_null(r);
    assert_int_equal(r->status, MGR_OK);
    assert_int_equal(r->result.type, MGR_T_ARRAY);
    assert_int_equal(r->result.u.a.len, CHUNK);
    for (int j = 0; j < CHUNK; j++) {
      const mgr_value *slot = &r->result.u.a.items[j];
      assert_int_equal(slot->u.a.items[0].u.i, 0);
      assert_int_equal(slot->u.a.items[1].type, MGR_T_INT);
      assert_int_equal(slot->u.a.items[1].u.i, base + j);
      checked++;
    }
  }
  mgri_arena_reset(&a->arena);

  /* Judged by the server's counters. */
  assert_int_equal(rel_stats_read(m, &s1), MGR_OK);
  assert_int_equal(mgr_ping(m), MGR_OK);
  char extra[256];
  snprintf(extra, sizeof extra,
           "keys=%d old_same_slot=%ld request_bytes=%zu dict_probe_max=%lld "
           "probe_bound=%lld checked=%ld",
           NKEYS, old_same_slot, req_bytes, (long long)s1.dict_probe_max,
           (long long)s1.probe_bound, checked);
  rel_report("attack_hash", 2, 1, 1 + NKEYS / CHUNK + 2, NKEYS - checked,
             extra);
  /* The probe counter is live (it saw the lookups) and bounded. */
  assert_true(s1.dict_probe_max >= 1);
  assert_true(s1.dict_probe_max <= MGRI_PROBE_BOUND);
  assert_int_equal(checked, NKEYS);

  rel_conn_free(a);
  mgr_release(d);
  mgr_close(m);
  free(keys);
  assert_int_equal(rel_server_stop(&S), 0);
}

int main(void) {
  signal(SIGPIPE, SIG_IGN);
  alarm(110);
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_attack_hash)};
  return cmocka_run_group_tests_name("reliability_attack_hash", tests, NULL,
                                     NULL);
}
