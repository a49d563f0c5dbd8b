/* mgr tests — the shared dict's semantics against Python's, driven through
 * the pure dispatch path (no sockets). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "server_util.h"

#define NIL INT64_MIN

/* A map from A(k, v, k, v ...): the count A gives is of values, not pairs. */
static mgr_value map_of(mgr_value *kv, size_t n) { return mgr_map(kv, n / 2); }

static uint64_t new_dict(void) {
  uint64_t id = mgri_h_create(&H, C, MGR_K_DICT, NULL);
  assert_true(id != 0);
  return id;
}

static void test_basic(void **st) {
  (void)st;
  uint64_t d = new_dict();
  ok(call(MGRI_OP_DICT_SET, d, A(mgr_text("a"), mgr_int(1))));
  ok(call(MGRI_OP_DICT_SET, d, A(mgr_text("b"), mgr_text("two"))));
  mgri_hreply *r = call(MGRI_OP_DICT_GET, d, A(mgr_text("b")));
  ok(r);
  assert_string_equal(r->result.u.s.ptr, "two");
  err(call(MGRI_OP_DICT_GET, d, A(mgr_text("missing"))), MGR_EKEY,
      "KeyError: 'missing'");
  r = call(MGRI_OP_DICT_GET, d, A(mgr_text("missing"), mgr_int(7)));
  ok(r);
  assert_int_equal(r->result.u.i, 7);
  r = call(MGRI_OP_DICT_LEN, d, NULL, 0);
  assert_int_equal(r->result.u.i, 2);
  r = call(MGRI_OP_DICT_CONTAINS, d, A(mgr_text("a")));
  assert_true(r->result.u.b);
  r = call(MGRI_OP_DICT_CONTAINS, d, A(mgr_bytes("a", 1)));
  assert_false(r->result.u.b); /* text never equals bytes */
  ok(call(MGRI_OP_DICT_DEL, d, A(mgr_text("a"))));
  err(call(MGRI_OP_DICT_DEL, d, A(mgr_text("a"))), MGR_EKEY, "'a'");
  r = call(MGRI_OP_DICT_LEN, d, NULL, 0);
  assert_int_equal(r->result.u.i, 1);
}

static void test_numeric_keys_are_one(void **st) {
  (void)st;
  /* Python: d[1] = 'a'; d[1.0] = 'b'; d[True] = 'c' -> {1: 'c'} */
  uint64_t d = new_dict();
  ok(call(MGRI_OP_DICT_SET, d, A(mgr_int(1), mgr_text("a"))));
  ok(call(MGRI_OP_DICT_SET, d, A(mgr_float(1.0), mgr_text("b"))));
  ok(call(MGRI_OP_DICT_SET, d, A(mgr_bool(true), mgr_text("c"))));
  mgri_hreply *r = call(MGRI_OP_DICT_ITEMS, d, NULL, 0);
  ok(r);
  assert_int_equal(r->result.u.a.len, 1);
  const mgr_value *kv = r->result.u.a.items[0].u.a.items;
  assert_int_equal(kv[0].type, MGR_T_INT); /* the first key object is kept */
  assert_string_equal(kv[1].u.s.ptr, "c");
  r = call(MGRI_OP_DICT_GET, d, A(mgr_float(1.0)));
  assert_string_equal(r->result.u.s.ptr, "c");
  /* Arrays (tuples) are keys; maps are not; NaN is refused. */
  ok(call(MGRI_OP_DICT_SET, d,
          A(mgr_array(A(mgr_int(1), mgr_text("x"))), mgr_int(5))));
  r = call(MGRI_OP_DICT_GET, d, A(mgr_array(A(mgr_float(1.0), mgr_text("x")))));
  assert_int_equal(r->result.u.i, 5);
  mgr_value m = map_of(A(mgr_int(1), mgr_int(2)));
  err(call(MGRI_OP_DICT_SET, d, A(m, mgr_int(1))), MGR_ETYPE,
      "unhashable type: 'dict'");
  err(call(MGRI_OP_DICT_GET, d, A(mgr_array(A(m)))), MGR_ETYPE, "unhashable");
  err(call(MGRI_OP_DICT_CONTAINS, d, A(m)), MGR_ETYPE, NULL);
  err(call(MGRI_OP_DICT_SET, d, A(mgr_float(__builtin_nan("")), mgr_int(1))),
      MGR_EVALUE, "NaN");
  err(call(MGRI_OP_DICT_CONTAINS, d, A(mgr_float(__builtin_nan("")))),
      MGR_EVALUE, NULL);
  err(call(MGRI_OP_DICT_GET, d, A(mgr_float(__builtin_nan("")), mgr_nil())),
      MGR_EVALUE, NULL);
  r = call(MGRI_OP_DICT_LEN, d, NULL, 0);
  assert_int_equal(r->result.u.i, 2);
}

static void test_order_and_growth(void **st) {
  (void)st;
  uint64_t d = new_dict();
  for (int i = 0; i < 1000; i++)
    ok(call(MGRI_OP_DICT_SET, d, A(mgr_int(i), mgr_int(i * 2))));
  for (int i = 0; i < 1000; i += 2)
    ok(call(MGRI_OP_DICT_DEL, d, A(mgr_int(i))));
  ok(call(MGRI_OP_DICT_SET, d,
          A(mgr_int(0), mgr_text("again")))); /* goes last */
  for (int i = 1; i < 1000; i += 2) {
    mgri_hreply *r = call(MGRI_OP_DICT_GET, d, A(mgr_int(i)));
    ok(r);
    assert_int_equal(r->result.u.i, i * 2);
  }
  mgri_hreply *r = call(MGRI_OP_DICT_KEYS, d, NULL, 0);
  ok(r);
  assert_int_equal(r->result.u.a.len, 501);
  for (size_t k = 0; k < 500; k++)
    assert_int_equal(r->result.u.a.items[k].u.i, (int64_t)(2 * k + 1));
  assert_int_equal(r->result.u.a.items[500].u.i, 0);
  r = call(MGRI_OP_DICT_VALUES, d, NULL, 0);
  assert_string_equal(r->result.u.a.items[500].u.s.ptr, "again");
  /* Many deletes and re-inserts of one key do not grow without bound and keep
   * the dict correct. */
  for (int i = 0; i < 5000; i++) {
    ok(call(MGRI_OP_DICT_SET, d, A(mgr_text("k"), mgr_int(i))));
    ok(call(MGRI_OP_DICT_DEL, d, A(mgr_text("k"))));
  }
  r = call(MGRI_OP_DICT_LEN, d, NULL, 0);
  assert_int_equal(r->result.u.i, 501);
}

static void test_pop_popitem_setdefault(void **st) {
  (void)st;
  uint64_t d = new_dict();
  ok(call(MGRI_OP_DICT_UPDATE, d,
          A(map_of(A(mgr_text("x"), mgr_text("long value here"), mgr_text("y"),
                     mgr_int(2))))));
  mgri_hreply *r = call(MGRI_OP_DICT_POP, d, A(mgr_text("x")));
  ok(r);
  assert_string_equal(r->result.u.s.ptr, "long value here");
  err(call(MGRI_OP_DICT_POP, d, A(mgr_text("x"))), MGR_EKEY, "'x'");
  r = call(MGRI_OP_DICT_POP, d, A(mgr_text("x"), mgr_nil()));
  ok(r);
  assert_int_equal(r->result.type, MGR_T_NIL);
  ok(call(MGRI_OP_DICT_SET, d, A(mgr_text("z"), mgr_bytes("\x01\x02", 2))));
  r = call(MGRI_OP_DICT_POPITEM, d, NULL, 0);
  ok(r);
  assert_string_equal(r->result.u.a.items[0].u.s.ptr, "z");
  assert_int_equal(r->result.u.a.items[1].type, MGR_T_BYTES);
  r = call(MGRI_OP_DICT_POPITEM, d, NULL, 0);
  assert_string_equal(r->result.u.a.items[0].u.s.ptr, "y");
  err(call(MGRI_OP_DICT_POPITEM, d, NULL, 0), MGR_EKEY,
      "popitem(): dictionary is empty");
  r = call(MGRI_OP_DICT_SETDEFAULT, d, A(mgr_text("s")));
  ok(r);
  assert_int_equal(r->result.type, MGR_T_NIL);
  r = call(MGRI_OP_DICT_SETDEFAULT, d, A(mgr_text("t"), mgr_int(3)));
  assert_int_equal(r->result.u.i, 3);
  r = call(MGRI_OP_DICT_SETDEFAULT, d, A(mgr_text("t"), mgr_int(4)));
  assert_int_equal(r->result.u.i, 3);
  r = call(MGRI_OP_DICT_COPY, d, NULL, 0);
  ok(r);
  mgr_value want =
      map_of(A(mgr_text("s"), mgr_nil(), mgr_text("t"), mgr_int(3)));
  assert_true(mgr_value_equal(&r->result, &want));
  ok(call(MGRI_OP_DICT_CLEAR, d, NULL, 0));
  r = call(MGRI_OP_DICT_LEN, d, NULL, 0);
  assert_int_equal(r->result.u.i, 0);
}

static void test_update_all_or_nothing(void **st) {
  (void)st;
  uint64_t d = new_dict();
  ok(call(MGRI_OP_DICT_UPDATE, d,
          A(mgr_array(A(mgr_array(A(mgr_text("a"), mgr_int(1))),
                        mgr_array(A(mgr_text("a"), mgr_int(2))))))));
  mgri_hreply *r = call(MGRI_OP_DICT_GET, d, A(mgr_text("a")));
  assert_int_equal(r->result.u.i, 2); /* later pairs win */
  err(call(
          MGRI_OP_DICT_UPDATE, d,
          A(mgr_array(A(mgr_array(A(mgr_text("b"), mgr_int(1))), mgr_int(3))))),
      MGR_ETYPE, "element #1");
  err(call(MGRI_OP_DICT_UPDATE, d,
           A(mgr_array(A(mgr_array(A(mgr_text("b"), mgr_int(1))),
                         mgr_array(A(mgr_int(1))))))),
      MGR_EVALUE, "length 1; 2 is required");
  err(call(MGRI_OP_DICT_UPDATE, d,
           A(map_of(A(mgr_text("b"), mgr_int(1), mgr_text("c"),
                      mgri_h_ref(MGR_K_LIST, 99))))),
      MGR_ENOTFOUND, NULL);
  err(call(MGRI_OP_DICT_UPDATE, d, A(mgr_int(1))), MGR_ETYPE, NULL);
  r = call(MGRI_OP_DICT_LEN, d, NULL, 0);
  assert_int_equal(r->result.u.i, 1); /* "b" never went in */
}

/* Checks spec R-11.1-c (spec/protocol.md; tests/reqs/check_reqs.py). */
static void test_incr(void **st) {
  (void)st;
  uint64_t d = new_dict();
  ok(call(MGRI_OP_DICT_UPDATE, d,
          A(map_of(A(mgr_text("n"), mgr_int(5), mgr_text("max"),
                     mgr_int(INT64_MAX), mgr_text("s"), mgr_text("x"),
                     mgr_text("b"), mgr_bool(true))))));
  mgri_hreply *r = call(MGRI_OP_DICT_INCR, d, A(mgr_text("n"), mgr_int(1)));
  ok(r);
  assert_int_equal(r->result.type, MGR_T_INT);
  assert_int_equal(r->result.u.i, 6);
  r = call(MGRI_OP_DICT_INCR, d, A(mgr_text("n"), mgr_float(0.5)));
  assert_int_equal(r->result.type, MGR_T_FLOAT);
  assert_true(r->result.u.f == 6.5);
  err(call(MGRI_OP_DICT_INCR, d, A(mgr_text("max"), mgr_int(1))), MGR_EOVERFLOW,
      NULL);
  r = call(MGRI_OP_DICT_GET, d, A(mgr_text("max")));
  assert_int_equal(r->result.u.i, INT64_MAX);
  r = call(MGRI_OP_DICT_INCR, d, A(mgr_text("max"), mgr_int(INT64_MIN)));
  assert_int_equal(r->result.u.i, -1);
  err(call(MGRI_OP_DICT_INCR, d, A(mgr_text("s"), mgr_int(1))), MGR_ETYPE,
      "'str' and 'int'");
  err(call(MGRI_OP_DICT_INCR, d, A(mgr_text("b"), mgr_int(1))), MGR_ETYPE,
      "bool");
  err(call(MGRI_OP_DICT_INCR, d, A(mgr_text("n"), mgr_bool(true))), MGR_ETYPE,
      "bool");
  err(call(MGRI_OP_DICT_INCR, d, A(mgr_text("new"), mgr_int(1))), MGR_EKEY,
      "'new'");
  r = call(MGRI_OP_DICT_INCR, d, A(mgr_text("new"), mgr_int(1), mgr_int(0)));
  ok(r);
  assert_int_equal(r->result.u.i, 1);
  err(call(MGRI_OP_DICT_INCR, d,
           A(mgr_text("new2"), mgr_int(1), mgr_text("0"))),
      MGR_ETYPE, NULL);
  r = call(MGRI_OP_DICT_KEYS, d, NULL, 0);
  assert_int_equal(r->result.u.a.len, 5);
  assert_string_equal(r->result.u.a.items[4].u.s.ptr, "new");
}

static void test_cas(void **st) {
  (void)st;
  uint64_t d = new_dict();
  ok(call(MGRI_OP_DICT_SET, d, A(mgr_text("k"), mgr_float(1.0))));
  mgri_hreply *r =
      call(MGRI_OP_DICT_CAS, d, A(mgr_text("k"), mgr_int(2), mgr_text("no")));
  ok(r);
  assert_false(r->result.u.a.items[0].u.b);
  assert_true(r->result.u.a.items[1].u.f == 1.0);
  r = call(MGRI_OP_DICT_CAS, d, A(mgr_text("k"), mgr_int(1), mgr_text("yes")));
  assert_true(r->result.u.a.items[0].u.b);
  assert_string_equal(r->result.u.a.items[1].u.s.ptr, "yes");
  err(call(MGRI_OP_DICT_CAS, d, A(mgr_text("missing"), mgr_nil(), mgr_nil())),
      MGR_EKEY, NULL);
  /* desired is checked for refs even when no swap would happen */
  err(call(MGRI_OP_DICT_CAS, d,
           A(mgr_text("k"), mgr_int(0), mgri_h_ref(MGR_K_DICT, 4444))),
      MGR_ENOTFOUND, NULL);
}

/* Keys and values of up to 15 bytes are stored inside the entry, longer ones
 * in their own block: both sides of the boundary, empty text, text vs bytes
 * with the same bytes, and results read back from removed or replaced
 * entries. */
static void test_inline_storage(void **st) {
  (void)st;
  uint64_t d = new_dict();
  static const char k15[] = "fifteen-bytes!!", k16[] = "sixteen-bytes!!!";
  ok(call(MGRI_OP_DICT_SET, d, A(mgr_text(k15), mgr_text(k16))));
  ok(call(MGRI_OP_DICT_SET, d, A(mgr_text(k16), mgr_text(k15))));
  ok(call(MGRI_OP_DICT_SET, d, A(mgr_text(""), mgr_bytes("", 0))));
  ok(call(MGRI_OP_DICT_SET, d, A(mgr_bytes(k15, 15), mgr_int(1))));
  ok(call(MGRI_OP_DICT_SET, d, A(mgr_bytes(k16, 16), mgr_int(2))));
  mgri_hreply *r = call(MGRI_OP_DICT_LEN, d, NULL, 0);
  assert_int_equal(r->result.u.i, 5);
  r = call(MGRI_OP_DICT_GET, d, A(mgr_text(k15)));
  assert_string_equal(r->result.u.s.ptr, k16);
  r = call(MGRI_OP_DICT_GET, d, A(mgr_text(k16)));
  assert_string_equal(r->result.u.s.ptr, k15);
  r = call(MGRI_OP_DICT_GET, d, A(mgr_text("")));
  ok(r);
  assert_int_equal(r->result.type, MGR_T_BYTES);
  assert_int_equal(r->result.u.s.len, 0);
  r = call(MGRI_OP_DICT_GET, d, A(mgr_bytes(k15, 15)));
  assert_int_equal(r->result.u.i, 1);
  r = call(MGRI_OP_DICT_GET, d, A(mgr_bytes(k16, 16)));
  assert_int_equal(r->result.u.i, 2);
  err(call(MGRI_OP_DICT_GET, d, A(mgr_text("fifteen-bytes!"))), MGR_EKEY, NULL);
  err(call(MGRI_OP_DICT_GET, d, A(mgr_bytes("", 0))), MGR_EKEY, NULL);
  r = call(MGRI_OP_DICT_KEYS, d, NULL, 0);
  ok(r);
  mgr_value keys = mgr_array(A(mgr_text(k15), mgr_text(k16), mgr_text(""),
                               mgr_bytes(k15, 15), mgr_bytes(k16, 16)));
  assert_true(mgr_value_equal(&r->result, &keys));
  /* inline <-> block replacements, then CAS on both kinds */
  ok(call(MGRI_OP_DICT_SET, d, A(mgr_text(k15), mgr_text("short"))));
  ok(call(MGRI_OP_DICT_SET, d,
          A(mgr_text(k16), mgr_text("a much longer value"))));
  r = call(MGRI_OP_DICT_CAS, d,
           A(mgr_text(k15), mgr_text("short"), mgr_text(k16)));
  assert_true(r->result.u.a.items[0].u.b);
  assert_string_equal(r->result.u.a.items[1].u.s.ptr, k16);
  r = call(MGRI_OP_DICT_CAS, d,
           A(mgr_text(k16), mgr_text("a much longer value"), mgr_text("s")));
  assert_true(r->result.u.a.items[0].u.b);
  assert_string_equal(r->result.u.a.items[1].u.s.ptr, "s");
  /* pop and popitem hand back inline and block values */
  r = call(MGRI_OP_DICT_POP, d, A(mgr_text(k16)));
  assert_string_equal(r->result.u.s.ptr, "s");
  r = call(MGRI_OP_DICT_POPITEM, d, NULL, 0);
  assert_int_equal(r->result.u.a.items[0].type, MGR_T_BYTES);
  assert_int_equal(r->result.u.a.items[0].u.s.len, 16);
  assert_int_equal(r->result.u.a.items[1].u.i, 2);
  r = call(MGRI_OP_DICT_POPITEM, d, NULL, 0);
  assert_int_equal(r->result.u.a.items[0].u.s.len, 15);
  r = call(MGRI_OP_DICT_POPITEM, d, NULL, 0);
  assert_int_equal(r->result.u.a.items[0].type, MGR_T_TEXT);
  assert_int_equal(r->result.u.a.items[0].u.s.len, 0);
  /* many inline entries through growth and deletions keep their order */
  char k[32];
  for (int i = 0; i < 300; i++) {
    snprintf(k, sizeof k, "key:%07d", i);
    ok(call(MGRI_OP_DICT_SET, d, A(mgr_text(k), mgr_int(i))));
  }
  for (int i = 0; i < 300; i += 2) {
    snprintf(k, sizeof k, "key:%07d", i);
    ok(call(MGRI_OP_DICT_DEL, d, A(mgr_text(k))));
  }
  for (int i = 300; i < 400; i++) {
    snprintf(k, sizeof k, "key:%07d", i);
    ok(call(MGRI_OP_DICT_SET, d, A(mgr_text(k), mgr_int(i))));
  }
  r = call(MGRI_OP_DICT_ITEMS, d, NULL, 0);
  ok(r);
  assert_int_equal(r->result.u.a.len, 1 + 150 + 100);
  assert_string_equal(r->result.u.a.items[0].u.a.items[0].u.s.ptr, k15);
  for (size_t j = 1; j < r->result.u.a.len; j++) {
    int i = j <= 150 ? (int)(2 * j - 1) : (int)(300 + j - 151);
    snprintf(k, sizeof k, "key:%07d", i);
    assert_string_equal(r->result.u.a.items[j].u.a.items[0].u.s.ptr, k);
    assert_int_equal(r->result.u.a.items[j].u.a.items[1].u.i, i);
  }
}

/* Under a small memory limit a set (new key or old), or a CAS that would
 * swap, whose value does not fit is LIMIT and changes nothing (spec
 * 14.2.2). */
static void test_memory_limit(void **st) {
  (void)st;
  mgri_h_fini(&H);
  mgri_store_config cfg;
  mgri_store_config_init(&cfg);
  cfg.memory_max = 64 << 10;
  assert_int_equal(mgri_h_init_cfg(&H, &cfg), MGR_OK);
  C = mgri_h_conn(&H, 0);
  assert_non_null(C);
  uint64_t d = new_dict();
  ok(call(MGRI_OP_DICT_SET, d, A(mgr_text("k"), mgr_int(1))));
  static char big[100 << 10];
  memset(big, 'x', sizeof big - 1);
  err(call(MGRI_OP_DICT_SET, d, A(mgr_text("new"), mgr_text(big))), MGR_ELIMIT,
      NULL);
  err(call(MGRI_OP_DICT_SET, d, A(mgr_text("k"), mgr_text(big))), MGR_ELIMIT,
      NULL);
  err(call(MGRI_OP_DICT_CAS, d, A(mgr_text("k"), mgr_int(1), mgr_text(big))),
      MGR_ELIMIT, NULL);
  /* A CAS that would not swap needs no room. */
  mgri_hreply *r =
      call(MGRI_OP_DICT_CAS, d, A(mgr_text("k"), mgr_int(2), mgr_text(big)));
  ok(r);
  assert_false(r->result.u.a.items[0].u.b);
  r = call(MGRI_OP_DICT_ITEMS, d, NULL, 0);
  ok(r);
  mgr_value pair[2] = {mgr_text("k"), mgr_int(1)};
  mgr_value item = mgr_array(pair, 2), want = mgr_array(&item, 1);
  assert_true(mgr_value_equal(&r->result, &want));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_basic, su_setup, su_teardown),
      cmocka_unit_test_setup_teardown(test_numeric_keys_are_one, su_setup,
                                      su_teardown),
      cmocka_unit_test_setup_teardown(test_order_and_growth, su_setup,
                                      su_teardown),
      cmocka_unit_test_setup_teardown(test_pop_popitem_setdefault, su_setup,
                                      su_teardown),
      cmocka_unit_test_setup_teardown(test_update_all_or_nothing, su_setup,
                                      su_teardown),
      cmocka_unit_test_setup_teardown(test_incr, su_setup, su_teardown),
      cmocka_unit_test_setup_teardown(test_cas, su_setup, su_teardown),
      cmocka_unit_test_setup_teardown(test_memory_limit, su_setup, su_teardown),
      cmocka_unit_test_setup_teardown(test_inline_storage, su_setup,
                                      su_teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
