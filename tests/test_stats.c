/* mgr tests — what the server reports about itself (spec 14.2.8 STATS, 9.1
 * DUMP): the shape of STATS, memory per kind rising and falling with the
 * objects, LIMIT answers counted by reason, the slow-request log (under the
 * harness's clock, which a test advances at will: no real time), and the
 * estimated cost of requests (spec 14.2.4). */
/* clang-format off */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
/* clang-format on */

#include <stdio.h>
#include <string.h>

#include "server_util.h"

static const mgr_value *get(const mgr_value *map, const char *key) {
  mgr_value k = mgr_text(key);
  const mgr_value *v = mgr_map_get(map, &k);
  if (!v) fail_msg("no key '%s'", key);
  return v;
}

static int64_t num(const mgr_value *map, const char *a, const char *b) {
  const mgr_value *v = get(map, a);
  if (b) v = get(v, b);
  assert_int_equal(v->type, MGR_T_INT);
  return v->u.i;
}

/* STATS into *out (owned by the harness until the next call). */
static const mgr_value *stats(void) {
  mgri_hreply *r = call(MGRI_OP_STATS, 0, NULL, 0);
  ok(r);
  assert_int_equal(r->result.type, MGR_T_MAP);
  return &r->result;
}

static uint64_t create(uint32_t kind, const mgr_value *init) {
  uint64_t id = mgri_h_create(&H, C, kind, init);
  assert_true(id > 0);
  return id;
}

/* The keys of a map, in order, against a list. */
static void keys_are(const mgr_value *m, const char *const *want, size_t n) {
  assert_int_equal(m->type, MGR_T_MAP);
  assert_int_equal(m->u.a.len, n);
  for (size_t i = 0; i < n; i++) {
    const mgr_value *k = &m->u.a.items[2 * i];
    assert_int_equal(k->type, MGR_T_TEXT);
    assert_string_equal(k->u.s.ptr, want[i]);
  }
}

static void test_shape(void **state) {
  (void)state;
  const mgr_value *s = stats();
  static const char *const top[] = {"memory",   "connections", "objects",
                                    "requests", "refused",     "hash",
                                    "slowlog"};
  keys_are(s, top, 7);
  static const char *const mem[] = {"limit",   "used",    "peak",     "refused",
                                    "objects", "conn_in", "conn_out", "arenas",
                                    "parked",  "store"};
  keys_are(get(s, "memory"), mem, 10);
  static const char *const ref[] = {"memory",  "parked",      "budget", "reply",
                                    "objects", "connections", "size"};
  /* The reasons, whatever their order: every one is there and 0. */
  const mgr_value *r = get(s, "refused");
  assert_int_equal(r->u.a.len, 7);
  for (size_t i = 0; i < 7; i++)
    assert_int_equal(num(r, ref[i], NULL), 0);
  assert_int_equal(num(s, "memory", "limit"), MGRI_MEMORY_MAX_DEFAULT);
  assert_int_equal(num(s, "hash", "probe_bound"), MGRI_PROBE_BOUND);
  assert_int_equal(num(s, "requests", "work_budget"), MGRI_WORK_BUDGET);
  assert_int_equal(num(s, "requests", "slow_ms"), MGRI_SLOW_MS_DEFAULT);
  assert_int_equal(num(s, "connections", "open"), 1);
  /* used is the sum of the categories; peak is at least used. */
  const mgr_value *m = get(s, "memory");
  int64_t sum = 0;
  for (size_t i = 4; i < 10; i++)
    sum += num(m, mem[i], NULL);
  assert_int_equal(num(m, "used", NULL), sum);
  assert_true(num(m, "peak", NULL) >= sum);
  assert_int_equal(get(s, "slowlog")->u.a.len, 0);
}

static void test_bytes_per_kind(void **state) {
  (void)state;
  assert_int_equal(num(get(stats(), "objects"), "dict", "count"), 0);
  assert_int_equal(num(get(stats(), "objects"), "dict", "bytes"), 0);
  uint64_t d = create(MGR_K_DICT, NULL);
  int64_t empty = num(get(stats(), "objects"), "dict", "bytes");
  assert_true(empty > 0);
  assert_int_equal(num(get(stats(), "objects"), "dict", "count"), 1);
  /* A long value is one more block, counted for the dict. */
  char big[4000];
  memset(big, 'x', sizeof big);
  ok(call(MGRI_OP_DICT_SET, d, A(mgr_text("k"), mgr_bytes(big, sizeof big))));
  int64_t full = num(get(stats(), "objects"), "dict", "bytes");
  assert_true(full >= empty + (int64_t)sizeof big);
  /* DUMP says the same as STATS. */
  mgri_hreply *r = call(MGRI_OP_DUMP, d, NULL, 0);
  ok(r);
  assert_int_equal(num(&r->result, "bytes", NULL), full);
  assert_int_equal(num(&r->result, "refs", NULL), 1);
  assert_int_equal(num(get(stats(), "memory"), "objects", NULL), full);
  ok(call(MGRI_OP_DICT_DEL, d, A(mgr_text("k"))));
  assert_true(num(get(stats(), "objects"), "dict", "bytes") < full);
  /* Released: the object and all it held are gone from the count. */
  ok(call(MGRI_OP_RELEASE, d, NULL, 0));
  assert_int_equal(num(get(stats(), "objects"), "dict", "count"), 0);
  assert_int_equal(num(get(stats(), "objects"), "dict", "bytes"), 0);
  assert_int_equal(num(get(stats(), "memory"), "objects", NULL), 0);
}

static void test_dump(void **state) {
  (void)state;
  uint64_t l = create(MGR_K_LIST, &(mgr_value){0});
  ok(call(MGRI_OP_LIST_APPEND, l, A(mgr_int(7))));
  mgri_hreply *r = call(MGRI_OP_DUMP, l, NULL, 0);
  ok(r);
  assert_string_equal(get(&r->result, "kind")->u.s.ptr, "list");
  assert_int_equal(num(&r->result, "id", NULL), (int64_t)l);
  assert_int_equal(get(&r->result, "name")->type, MGR_T_NIL);
  const mgr_value *st = get(&r->result, "state");
  assert_int_equal(st->type, MGR_T_ARRAY);
  assert_int_equal(st->u.a.len, 1);
  assert_int_equal(st->u.a.items[0].u.i, 7);
  /* A lock: held by C, one waiter parked. */
  uint64_t lk = create(MGR_K_LOCK, NULL);
  ok(call(MGRI_OP_LOCK_ACQUIRE, lk, A(mgr_bool(true), mgr_nil())));
  mgri_sconn *c2 = mgri_h_conn(&H, 0);
  assert_non_null(c2);
  assert_null(
      callc(c2, MGRI_OP_LOCK_ACQUIRE, lk, A(mgr_bool(true), mgr_nil())));
  r = call(MGRI_OP_DUMP, lk, NULL, 0);
  ok(r);
  st = get(&r->result, "state");
  assert_true(get(st, "locked")->u.b);
  assert_int_equal(num(st, "owner", NULL), (int64_t)mgri_sconn_id(C));
  assert_int_equal(num(st, "waiters", NULL), 1);
  assert_int_equal(num(st, "depth", NULL), 1);
  assert_false(get(st, "owner_died")->u.b);
  assert_int_equal(num(&r->result, "owner", NULL), (int64_t)mgri_sconn_id(C));
  /* The owner goes: the waiter is granted (2), the mark is cleared. */
  mgri_h_close(&H, C);
  C = mgri_h_conn(&H, 0);
  assert_non_null(C);
  /* The lock lived in C's session alone: it died with it, owned or not. */
  err(callc(C, MGRI_OP_DUMP, lk, NULL, 0), MGR_ENOTFOUND, NULL);
  mgri_h_close(&H, c2);
  /* Errors: no such object; DUMP needs an oid. */
  err(call(MGRI_OP_DUMP, 999, NULL, 0), MGR_ENOTFOUND, "#999");
  err(call(MGRI_OP_DUMP, 0, NULL, 0), MGR_ENOTFOUND, NULL);
  err(call(MGRI_OP_STATS, 5, NULL, 0), MGR_EBADOP, "oid must be 0");
}

static void test_slowlog(void **state) {
  (void)state;
  uint64_t v = create(MGR_K_VAR, NULL);
  /* Fast requests are not logged... */
  H.tick = 1000; /* 1 µs per clock reading */
  ok(call(MGRI_OP_VAR_SET, v, A(mgr_int(1))));
  assert_int_equal(num(stats(), "requests", "slow"), 0);
  /* ... slow ones are, newest first, with their op and cost. */
  H.tick = (int64_t)MGRI_SLOW_MS_DEFAULT * 1000000;
  ok(call(MGRI_OP_VAR_GET, v, NULL, 0));
  ok(call(MGRI_OP_PING, 0,
          A(mgr_array((mgr_value[]){mgr_int(1), mgr_int(2)}, 2))));
  H.tick = 0;
  const mgr_value *s = stats();
  assert_int_equal(num(s, "requests", "slow"), 2);
  const mgr_value *log = get(s, "slowlog");
  assert_int_equal(log->u.a.len, 2);
  assert_string_equal(get(&log->u.a.items[0], "op")->u.s.ptr, "PING");
  assert_int_equal(num(&log->u.a.items[0], "cost", NULL), 1 + 3);
  assert_int_equal(num(&log->u.a.items[0], "seq", NULL), 2);
  assert_int_equal(num(&log->u.a.items[0], "duration_us", NULL),
                   MGRI_SLOW_MS_DEFAULT * 1000);
  assert_string_equal(get(&log->u.a.items[1], "op")->u.s.ptr, "VAR_GET");
  assert_int_equal(num(&log->u.a.items[1], "oid", NULL), (int64_t)v);
  assert_int_equal(num(&log->u.a.items[1], "conn", NULL),
                   (int64_t)mgri_sconn_id(C));
  /* The log keeps the last MGRI_SLOWLOG_LEN. */
  H.tick = (int64_t)MGRI_SLOW_MS_DEFAULT * 1000000;
  for (unsigned i = 0; i < MGRI_SLOWLOG_LEN + 10; i++)
    ok(call(MGRI_OP_PING, 0, NULL, 0));
  H.tick = 0;
  s = stats();
  uint64_t slow = 2 + MGRI_SLOWLOG_LEN + 10;
  assert_int_equal(num(s, "requests", "slow"), slow);
  log = get(s, "slowlog");
  assert_int_equal(log->u.a.len, MGRI_SLOWLOG_LEN);
  for (size_t i = 0; i < log->u.a.len; i++)
    assert_int_equal(num(&log->u.a.items[i], "seq", NULL), (int64_t)(slow - i));
}

static void test_refused_reasons(void **state) {
  (void)state;
  mgri_h_fini(&H);
  mgri_store_config cfg;
  mgri_store_config_init(&cfg);
  cfg.memory_max = 1 << 20;
  cfg.limits.frame_max = 4096;
  cfg.work_budget = 1000;
  cfg.objects_max = 4;
  assert_int_equal(mgri_h_init_cfg(&H, &cfg), MGR_OK);
  C = mgri_h_conn(&H, 0);
  assert_non_null(C);
  uint64_t l = create(MGR_K_LIST, NULL);
  /* memory: a value larger than the limit; the list stays empty. */
  static char big[2 << 20];
  err(call(MGRI_OP_LIST_APPEND, l, A(mgr_bytes(big, sizeof big))), MGR_ELIMIT,
      "memory limit");
  assert_int_equal(call(MGRI_OP_LIST_LEN, l, NULL, 0)->result.u.i, 0);
  /* reply: a copy of more values than a 4 KiB frame can carry. */
  ok(call(MGRI_OP_LIST_APPEND, l, A(mgr_int(0))));
  ok(call(MGRI_OP_LIST_IMUL, l, A(mgr_int(5000))));
  err(call(MGRI_OP_LIST_COPY, l, NULL, 0), MGR_ELIMIT, "frame limit");
  /* size: LIST_IMUL past MGRI_IMUL_ITEMS_MAX. */
  err(call(MGRI_OP_LIST_IMUL, l, A(mgr_int(1 << 20))), MGR_ELIMIT, "exceeds");
  /* budget: a batch of copies of a 5000-item list, nothing runs. */
  mgr_value sub[] = {
      mgr_int(MGRI_OP_LIST_GETSLICE), mgr_int((int64_t)l),
      mgr_array((mgr_value[]){mgr_int(0), mgr_int(1), mgr_nil()}, 3)};
  mgr_value pop[] = {mgr_int(MGRI_OP_LIST_POP), mgr_int((int64_t)l),
                     mgr_array(NULL, 0)};
  mgr_value subs[] = {mgr_array(pop, 3), mgr_array(sub, 3)};
  err(call(MGRI_OP_BATCH, 0, A(mgr_array(subs, 2))), MGR_ELIMIT, "work budget");
  assert_int_equal(call(MGRI_OP_LIST_LEN, l, NULL, 0)->result.u.i, 5000);
  /* objects: the fifth object. */
  for (int i = 0; i < 3; i++)
    create(MGR_K_VAR, NULL);
  err(call(MGRI_OP_CREATE, 0, A(mgr_int(MGR_K_VAR))), MGR_ELIMIT, "too many");
  const mgr_value *r = get(stats(), "refused");
  assert_int_equal(num(r, "memory", NULL), 1);
  assert_int_equal(num(r, "reply", NULL), 1);
  assert_int_equal(num(r, "size", NULL), 1);
  assert_int_equal(num(r, "budget", NULL), 1);
  assert_int_equal(num(r, "objects", NULL), 1);
  assert_int_equal(num(r, "parked", NULL), 0);
  assert_int_equal(num(get(stats(), "memory"), "limit", NULL), 1 << 20);
}

static void test_costs(void **state) {
  (void)state;
  uint64_t l = create(MGR_K_LIST, NULL);
  mgr_value items[100];
  for (int i = 0; i < 100; i++)
    items[i] = mgr_int(i);
  ok(call(MGRI_OP_LIST_EXTEND, l, A(mgr_array(items, 100))));
  assert_int_equal(mgri_store_last_cost(H.s),
                   1 + 101); /* ARGS: the array + 100 */
  ok(call(MGRI_OP_LIST_COPY, l, NULL, 0));
  assert_int_equal(mgri_store_last_cost(H.s), 1 + 100); /* LEN */
  ok(call(MGRI_OP_LIST_GET, l, A(mgr_int(3))));
  assert_int_equal(mgri_store_last_cost(H.s), 1); /* ONE */
  ok(call(MGRI_OP_LIST_INSERT, l, A(mgr_int(0), mgr_int(1))));
  assert_int_equal(mgri_store_last_cost(H.s),
                   1 + 0 + 2); /* END_ARGS: at the front */
  ok(call(MGRI_OP_LIST_INSERT, l, A(mgr_int(40), mgr_int(1))));
  assert_int_equal(mgri_store_last_cost(H.s),
                   1 + 40 + 2); /* 40 from the front */
  ok(call(MGRI_OP_LIST_INSERT, l, A(mgr_int(-7), mgr_int(1))));
  assert_int_equal(mgri_store_last_cost(H.s), 1 + 7 + 2); /* 7 from the back */
  ok(call(MGRI_OP_LIST_INSERT, l, A(mgr_int(INT64_MIN), mgr_int(1))));
  assert_int_equal(mgri_store_last_cost(H.s), 1 + 103 + 2); /* as far as n */
  ok(call(MGRI_OP_LIST_POP, l, NULL, 0));
  assert_int_equal(mgri_store_last_cost(H.s), 1 + 1); /* END: pop() is -1 */
  ok(call(MGRI_OP_LIST_POP, l, A(mgr_int(0))));
  assert_int_equal(mgri_store_last_cost(H.s), 1 + 0);
  ok(call(MGRI_OP_LIST_DEL, l, A(mgr_int(-2))));
  assert_int_equal(mgri_store_last_cost(H.s), 1 + 2);
  /* 101 items again, as the sort below expects. */
  ok(call(MGRI_OP_LIST_SORT, l, NULL, 0));
  assert_int_equal(mgri_store_last_cost(H.s), 1 + 101 * 7); /* SORT: log2 128 */
  ok(call(MGRI_OP_LIST_IMUL, l, A(mgr_int(3))));
  assert_int_equal(mgri_store_last_cost(H.s), 1 + 101 * 3); /* IMUL */
  /* A batch costs the sum, each as if the earlier ones had grown the list
   * as much as they can: EXTEND adds 4, then COPY sees 303 + 4. */
  mgr_value ext[] = {mgr_int(MGRI_OP_LIST_EXTEND), mgr_int((int64_t)l),
                     mgr_array((mgr_value[]){mgr_array(items, 3)}, 1)};
  mgr_value cp[] = {mgr_int(MGRI_OP_LIST_COPY), mgr_int((int64_t)l),
                    mgr_array(NULL, 0)};
  mgr_value subs[] = {mgr_array(ext, 3), mgr_array(cp, 3)};
  ok(call(MGRI_OP_BATCH, 0, A(mgr_array(subs, 2))));
  assert_int_equal(mgri_store_last_cost(H.s), (1 + 4) + (1 + 303 + 4));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_shape, su_setup, su_teardown),
      cmocka_unit_test_setup_teardown(test_bytes_per_kind, su_setup,
                                      su_teardown),
      cmocka_unit_test_setup_teardown(test_dump, su_setup, su_teardown),
      cmocka_unit_test_setup_teardown(test_slowlog, su_setup, su_teardown),
      cmocka_unit_test_setup_teardown(test_refused_reasons, su_setup,
                                      su_teardown),
      cmocka_unit_test_setup_teardown(test_costs, su_setup, su_teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
