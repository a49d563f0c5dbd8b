/* mgr reliability — attack 2 of issue 9: object names that collide in the
 * name table. The old server chained names under unseeded FNV-1a 64 and took
 * the bucket from the hash's low bits: 65,536 OPENs of names whose old hash
 * has its low 16 bits zero (one bucket of any old table of up to 65,536
 * buckets) cost it 13.1 s, quadratically. Here the 65,536 names are made,
 * each checked to collide under the old hash (collide.h's collide_old_fnv),
 * OPENed (created) in 64 batches written at once on one connection, another
 * client's PING is answered meanwhile, then all are OPENed again without
 * create; judged by the
 * server's own counters: the longest name chain it walked (STATS
 * hash.name_probe_max) stays within MGRI_PROBE_BOUND, and every name names
 * the object it was created as. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "collide.h"
#include "rel_util.h"

#define NNAMES 65536
#define BITS 16 /* low bits of the old hash that are zero: one old bucket */
#define PER_BATCH 1024
#define NBATCH (NNAMES / PER_BATCH)
#define SUFFIX_ALPHA                                                           \
  "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_"

static rel_server S;

/* collide_name() searches about 2^bits counters per name (with an
 * snprintf each): 65,536 names of 16 bits would take minutes. The same
 * names, faster: FNV-1a's low bits depend only on the state's low bits, so a
 * table maps each low-16-bit state to a 3-character suffix taking it to 0
 * (built backwards from 0 through the inverse of the prime), and a name is a
 * counter prefix plus the suffix its state needs. Every name is checked
 * against collide_old_fnv() by the test, not trusted. */
typedef struct suffix_table {
  char sfx[1u << BITS][4]; /* "" when no 3-character suffix reaches 0 */
} suffix_table;

static void suffix_table_build(suffix_table *t) {
  memset(t, 0, sizeof *t);
  const uint64_t mask = (1u << BITS) - 1;
  const uint64_t pinv = collide_inv(0x100000001b3ull) & mask;
  const char *al = SUFFIX_ALPHA;
  size_t na = strlen(al);
  for (size_t c3 = 0; c3 < na; c3++)
    for (size_t c2 = 0; c2 < na; c2++)
      for (size_t c1 = 0; c1 < na; c1++) {
        /* The state before c3 that c3 takes to 0, and so on back. */
        uint64_t s = ((0 * pinv) & mask) ^ (uint8_t)al[c3];
        s = ((s * pinv) & mask) ^ (uint8_t)al[c2];
        s = ((s * pinv) & mask) ^ (uint8_t)al[c1];
        if (!t->sfx[s][0]) {
          t->sfx[s][0] = al[c1];
          t->sfx[s][1] = al[c2];
          t->sfx[s][2] = al[c3];
        }
      }
}

/* The next colliding name into buf (>= 24 bytes); its length. */
static size_t next_name(const suffix_table *t, uint64_t *counter, char *buf) {
  for (;;) {
    int n = snprintf(buf, 24, "n%llx.", (unsigned long long)(*counter)++);
    uint64_t s = collide_old_fnv(buf, (size_t)n) & ((1u << BITS) - 1);
    if (!t->sfx[s][0]) continue;
    memcpy(buf + n, t->sfx[s], 4);
    return (size_t)n + 3;
  }
}

static void test_attack_names(void **st) {
  (void)st;
  suffix_table *t = malloc(sizeof *t);
  assert_non_null(t);
  suffix_table_build(t);
  static char names[NNAMES][24];
  static size_t lens[NNAMES];
  uint64_t counter = 0;
  long old_same_bucket = 0;
  for (int i = 0; i < NNAMES; i++) {
    lens[i] = next_name(t, &counter, names[i]);
    if ((collide_old_fnv(names[i], lens[i]) & ((1u << BITS) - 1)) == 0)
      old_same_bucket++;
  }
  free(t);
  /* All collide under the old hash (distinct by their counter prefix). */
  assert_int_equal(old_same_bucket, NNAMES);

  assert_int_equal(rel_server_start(&S, 0), 0);
  mgr_client *m;
  assert_int_equal(mgr_connect(S.path, NULL, &m), MGR_OK);
  mgr_set_timeout(m, REL_WAIT_MS);
  rel_stats s0, s1;
  assert_int_equal(rel_stats_read(m, &s0), MGR_OK);

  /* The attack: every batch of OPENs written at once, no reply read yet. */
  rconn *a = rel_open(S.path, 0);
  assert_non_null(a);
  static mgr_value cells[PER_BATCH][3], args[PER_BATCH][4], subs[PER_BATCH];
  size_t req_bytes = 0;
  mgri_buf fr;
  for (int b = 0; b < NBATCH; b++) {
    for (int j = 0; j < PER_BATCH; j++) {
      int i = b * PER_BATCH + j;
      args[j][0] = mgr_textn(names[i], lens[i]);
      args[j][1] = mgr_int(MGR_K_VAR);
      args[j][2] = mgr_int(i);
      subs[j] = rel_sub(cells[j], MGRI_OP_OPEN, 0, args[j], 3);
    }
    mgri_buf_init(&fr, 0);
    assert_int_equal(rel_encode(&fr, (uint64_t)b + 1, MGRI_OP_BATCH, 0,
                                RA(mgr_array(subs, PER_BATCH))),
                     MGR_OK);
    req_bytes += fr.len;
    assert_int_equal(rel_write_all(a->fd, fr.data, fr.len), 0);
    mgri_buf_fini(&fr);
  }
  /* Another client is answered before the attacker reads a reply. */
  assert_int_equal(mgr_ping(m), MGR_OK);
  static uint64_t ids[NNAMES];
  long created = 0;
  for (int b = 0; b < NBATCH; b++) {
    assert_int_equal(rel_next_reply(a, REL_WAIT_MS), 1);
    assert_int_equal(a->rep.rid, b + 1);
    assert_int_equal(a->rep.status, MGR_OK);
    assert_int_equal(a->rep.result.u.a.len, PER_BATCH);
    for (int j = 0; j < PER_BATCH; j++) {
      const mgr_value *slot = &a->rep.result.u.a.items[j];
      assert_int_equal(slot->u.a.items[0].u.i, 0);
      const mgr_value *res = &slot->u.a.items[1]; /* [ref, created] */
      assert_int_equal(res->type, MGR_T_ARRAY);
      assert_int_equal(res->u.a.items[0].type, MGR_T_REF);
      assert_true(res->u.a.items[1].type == MGR_T_BOOL &&
                  res->u.a.items[1].u.b);
      ids[b * PER_BATCH + j] = res->u.a.items[0].u.ref.id;
      created++;
    }
  }
  assert_int_equal(mgr_ping(m), MGR_OK);

  /* Every name finds its own object again (create false). */
  long found = 0;
  for (int b = 0; b < NBATCH; b++) {
    for (int j = 0; j < PER_BATCH; j++) {
      int i = b * PER_BATCH + j;
      args[j][0] = mgr_textn(names[i], lens[i]);
      args[j][1] = mgr_int(MGR_K_VAR);
      args[j][2] = mgr_nil();
      args[j][3] = mgr_bool(false);
      subs[j] = rel_sub(cells[j], MGRI_OP_OPEN, 0, args[j], 4);
    }
    mgri_reply *r =
        rel_call(a, MGRI_OP_BATCH, 0, RA(mgr_array(subs, PER_BATCH)));
    assert_non_null(r);
    assert_int_equal(r->status, MGR_OK);
    for (int j = 0; j < PER_BATCH; j++) {
      const mgr_value *slot = &r->result.u.a.items[j];
      assert_int_equal(slot->u.a.items[0].u.i, 0);
      const mgr_value *res = &slot->u.a.items[1];
      assert_int_equal(res->u.a.items[0].u.ref.id, ids[b * PER_BATCH + j]);
      assert_true(res->u.a.items[1].type == MGR_T_BOOL &&
                  !res->u.a.items[1].u.b);
      found++;
    }
  }
  mgri_arena_reset(&a->arena);
  /* One value read back through its name, as a user would. */
  mgr_proxy *v;
  bool was_created = true;
  assert_int_equal(
      mgr_open(m, names[NNAMES / 2], MGR_K_VAR, NULL, false, &v, &was_created),
      MGR_OK);
  assert_false(was_created);
  mgr_value got;
  assert_int_equal(mgr_var_get(v, &got), MGR_OK);
  assert_int_equal(got.type, MGR_T_INT);
  assert_int_equal(got.u.i, NNAMES / 2);
  mgr_release(v);

  /* Judged by the server's counters. */
  assert_int_equal(rel_stats_read(m, &s1), MGR_OK);
  char extra[256];
  snprintf(extra, sizeof extra,
           "names=%d old_same_bucket=%ld old_bucket_bits=%d request_bytes=%zu "
           "objects=%lld name_probe_max=%lld probe_bound=%lld found=%ld",
           NNAMES, old_same_bucket, BITS, req_bytes, (long long)s1.nobjects,
           (long long)s1.name_probe_max, (long long)s1.probe_bound, found);
  rel_report("attack_names", 2, 1, 2 * NBATCH + 4, NNAMES - found, extra);
  assert_int_equal(created, NNAMES);
  assert_int_equal(found, NNAMES);
  assert_int_equal(s1.nobjects, s0.nobjects + NNAMES);
  assert_true(s1.name_probe_max >= 1);
  assert_true(s1.name_probe_max <= MGRI_PROBE_BOUND);
  assert_int_equal(s1.probe_bound, MGRI_PROBE_BOUND);

  rel_conn_free(a);
  mgr_close(m);
  assert_int_equal(rel_server_stop(&S), 0);
}

int main(void) {
  signal(SIGPIPE, SIG_IGN);
  alarm(110);
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_attack_names)};
  return cmocka_run_group_tests_name("reliability_attack_names", tests, NULL,
                                     NULL);
}
