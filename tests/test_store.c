/* mgr tests — the store: handshake, dispatch errors, sessions, references,
 * stored-ref counting, destruction (chains, self-references), names,
 * RETAIN/RELEASE/LIST/UNLINK. Pure: no sockets. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "server/core.h"
#include "server_util.h"

static uint64_t refs(uint64_t id) {
  uint64_t n = 0;
  if (mgri_store_object_info(H.s, id, NULL, &n, NULL) != MGR_OK)
    return UINT64_MAX;
  return n;
}

static bool alive(uint64_t id) {
  return mgri_store_object_info(H.s, id, NULL, NULL, NULL) == MGR_OK;
}

static mgri_hreply *hello(mgri_sconn *c, uint64_t rid, int64_t lo, int64_t hi,
                          int64_t session) {
  mgri_h_clear(&H);
  mgri_hreply *r =
      mgri_h_req(&H, c, rid, MGRI_OP_HELLO, 0,
                 A(mgr_int(lo), mgr_int(hi), mgr_int(99), mgr_int(session)));
  assert_non_null(r);
  return r;
}

static void test_handshake(void **st) {
  (void)st;
  mgri_sconn *c = mgri_store_conn_open(H.s, NULL);
  /* Anything before HELLO: PROTO and close. */
  mgri_h_clear(&H);
  mgri_hreply *r = mgri_h_req(&H, c, 5, MGRI_OP_PING, 0, NULL, 0);
  err(r, MGR_EPROTO, "HELLO");
  assert_int_equal(r->rid, 5);
  assert_int_equal(H.last_action, MGRI_DISPATCH_CLOSE);
  mgri_store_conn_close(H.s, c);

  c = mgri_store_conn_open(H.s, NULL);
  err(hello(c, 3, 1, 1, 0), MGR_EPROTO, "rid 0");
  assert_int_equal(H.last_action, MGRI_DISPATCH_CLOSE);
  mgri_store_conn_close(H.s, c);

  c = mgri_store_conn_open(H.s, NULL);
  err(hello(c, 0, 2, 5, 0), MGR_EVERSION, NULL);
  assert_int_equal(H.last_action, MGRI_DISPATCH_CLOSE);
  mgri_store_conn_close(H.s, c);

  c = mgri_store_conn_open(H.s, NULL);
  err(hello(c, 0, 1, 0, 0), MGR_EVERSION, NULL);
  mgri_store_conn_close(H.s, c);

  c = mgri_store_conn_open(H.s, NULL);
  err(hello(c, 0, 1, 1, 777), MGR_ENOTFOUND, "session");
  assert_int_equal(H.last_action, MGRI_DISPATCH_CLOSE);
  mgri_store_conn_close(H.s, c);

  c = mgri_store_conn_open(H.s, NULL);
  mgri_h_clear(&H);
  r = mgri_h_req(&H, c, 0, MGRI_OP_HELLO, 0,
                 A(mgr_int(1), mgr_int(1), mgr_int(1)));
  err(r, MGR_ETYPE, NULL);
  assert_int_equal(H.last_action, MGRI_DISPATCH_CLOSE);
  mgri_store_conn_close(H.s, c);

  /* Success: [version, server_pid, conn_id, session, max_frame]; joining. */
  c = mgri_store_conn_open(H.s, NULL);
  r = hello(c, 0, 1, 7, 0);
  ok(r);
  assert_int_equal(H.last_action, MGRI_DISPATCH_OK);
  assert_int_equal(r->result.u.a.len, 5);
  assert_int_equal(r->result.u.a.items[0].u.i, 1);
  assert_int_equal(r->result.u.a.items[1].u.i, 4242);
  assert_int_equal(r->result.u.a.items[2].u.i, (int64_t)mgri_sconn_id(c));
  assert_int_equal(r->result.u.a.items[4].u.i, MGRI_FRAME_MAX_DEFAULT);
  int64_t sess = r->result.u.a.items[3].u.i;
  assert_int_not_equal(sess, (int64_t)mgri_sconn_session(C));
  mgri_sconn *c2 = mgri_store_conn_open(H.s, NULL);
  r = hello(c2, 0, 1, 1, sess);
  ok(r);
  assert_int_equal(r->result.u.a.items[3].u.i, sess);
  assert_int_not_equal(r->result.u.a.items[2].u.i, (int64_t)mgri_sconn_id(c));
  err(hello(c2, 0, 1, 1, 0), MGR_EPROTO, "twice");
  assert_int_equal(H.last_action, MGRI_DISPATCH_CLOSE);
  mgri_store_conn_close(H.s, c2);
  mgri_store_conn_close(H.s, c);
}

static void test_dispatch_errors(void **st) {
  (void)st;
  uint64_t d = mgri_h_create(&H, C, MGR_K_DICT, NULL);
  err(call(200, 0, NULL, 0), MGR_EBADOP, "unknown operation");
  err(call(0, 0, NULL, 0), MGR_EBADOP, NULL);
  err(call(MGRI_OP_LIST_GET, d, A(mgr_int(0))), MGR_EBADOP, "'dict' object");
  err(call(MGRI_OP_DICT_GET, 0, A(mgr_int(0))), MGR_EBADOP, NULL);
  err(call(MGRI_OP_DICT_GET, 987, A(mgr_int(0))), MGR_ENOTFOUND, "#987");
  err(call(MGRI_OP_DICT_GET, d, NULL, 0), MGR_ETYPE,
      "DICT_GET takes 1 to 2 arguments (0 given)");
  err(call(MGRI_OP_DICT_LEN, d, A(mgr_int(1))), MGR_ETYPE, "takes 0 arguments");
  err(call(MGRI_OP_PING, d, NULL, 0), MGR_EBADOP, "oid must be 0");
  /* Precedence (spec 8.3): NOTFOUND before arity. */
  err(call(MGRI_OP_DICT_GET, 987, NULL, 0), MGR_ENOTFOUND, NULL);
  mgri_hreply *r = call(MGRI_OP_PING, 0, A(mgr_text("echo")));
  ok(r);
  assert_string_equal(r->result.u.s.ptr, "echo");
  r = call(MGRI_OP_PING, 0, NULL, 0);
  ok(r);
  assert_int_equal(r->result.type, MGR_T_NIL);
  err(call(MGRI_OP_CREATE, 0, A(mgr_text("dict"))), MGR_ETYPE, NULL);
  err(call(MGRI_OP_CREATE, 0, A(mgr_int(MGRI_KIND_MAX + 1))), MGR_EVALUE, NULL);
  err(call(MGRI_OP_CREATE, 0, A(mgr_int(0))), MGR_EVALUE, NULL);
  err(call(MGRI_OP_CREATE, 0, A(mgr_int(MGR_K_DICT), mgr_array(NULL, 0))),
      MGR_ETYPE, NULL);
  err(call(MGRI_OP_CREATE, 0, A(mgr_int(MGR_K_LIST), mgr_int(1))), MGR_ETYPE,
      NULL);
  err(call(MGRI_OP_CREATE, 0, A(mgr_int(MGR_K_LOCK), mgr_int(1))), MGR_ETYPE,
      NULL);
  err(call(MGRI_OP_CREATE, 0, A(mgr_int(MGR_K_VAR), mgri_h_ref(MGR_K_LIST, d))),
      MGR_ENOTFOUND, NULL); /* d is a dict, not a list */
  assert_int_equal(mgri_store_object_count(H.s), 1);
}

static void test_stored_refs(void **st) {
  (void)st;
  uint64_t d = mgri_h_create(&H, C, MGR_K_DICT, NULL);
  uint64_t l = mgri_h_create(&H, C, MGR_K_LIST, NULL);
  assert_int_equal(refs(l), 1);
  mgr_value rl = mgri_h_ref(MGR_K_LIST, l);
  ok(call(MGRI_OP_DICT_SET, d, A(mgr_text("a"), rl)));
  ok(call(MGRI_OP_DICT_SET, d, A(mgr_text("b"), mgr_array(A(rl, rl)))));
  ok(call(MGRI_OP_DICT_SET, d, A(rl, mgr_int(1)))); /* refs are keys too */
  assert_int_equal(refs(l), 5);
  ok(call(MGRI_OP_RELEASE, l, NULL, 0));
  err(call(MGRI_OP_RELEASE, l, NULL, 0), MGR_ENOTFOUND, "not held");
  assert_int_equal(refs(l), 4);
  ok(call(MGRI_OP_DICT_SET, d,
          A(mgr_text("b"), mgr_nil()))); /* overwrite drops 2 */
  assert_int_equal(refs(l), 2);
  ok(call(MGRI_OP_DICT_DEL, d, A(rl)));
  mgri_hreply *r = call(MGRI_OP_DICT_POP, d, A(mgr_text("a")));
  ok(r);
  assert_int_equal(r->result.type, MGR_T_REF); /* the reply borrowed it */
  assert_int_equal(r->result.u.ref.id, l);
  assert_false(alive(l)); /* destroyed after the reply */
  err(call(MGRI_OP_LIST_LEN, l, NULL, 0), MGR_ENOTFOUND, NULL);
  err(call(MGRI_OP_DICT_SET, d, A(mgr_text("x"), rl)), MGR_ENOTFOUND, NULL);
  assert_int_equal(call(MGRI_OP_DICT_LEN, d, NULL, 0)->result.u.i, 1); /* "b" */
}

static void test_chain_destruction(void **st) {
  (void)st;
  /* A chain of 3000 lists, each holding the next: releasing the head
   * destroys all of them without recursion. */
  uint64_t prev = 0, head = 0;
  for (int i = 0; i < 3000; i++) {
    mgr_value init =
        prev ? mgr_array(A(mgri_h_ref(MGR_K_LIST, prev))) : mgr_array(NULL, 0);
    uint64_t id = mgri_h_create(&H, C, MGR_K_LIST, &init);
    assert_true(id != 0);
    if (prev) ok(call(MGRI_OP_RELEASE, prev, NULL, 0));
    prev = head = id;
  }
  assert_int_equal(mgri_store_object_count(H.s), 3000);
  ok(call(MGRI_OP_RELEASE, head, NULL, 0));
  assert_int_equal(mgri_store_object_count(H.s), 0);
}

static void test_self_reference(void **st) {
  (void)st;
  /* A dict holding a ref to itself survives its session (cycles are not
   * collected); overwriting the self-ref destroys it after the reply. */
  uint64_t d = mgri_h_create(&H, C, MGR_K_DICT, NULL);
  mgr_value rd = mgri_h_ref(MGR_K_DICT, d);
  ok(call(MGRI_OP_DICT_SET, d, A(mgr_text("me"), rd)));
  ok(call(MGRI_OP_RELEASE, d, NULL, 0));
  assert_int_equal(refs(d), 1);
  mgri_hreply *r =
      call(MGRI_OP_DICT_CAS, d, A(mgr_text("me"), rd, mgr_text("gone")));
  ok(r);
  assert_true(r->result.u.a.items[0].u.b);
  assert_string_equal(r->result.u.a.items[1].u.s.ptr, "gone");
  assert_false(alive(d));
  /* A var holding itself, cleared by VAR_SET. */
  uint64_t v = mgri_h_create(&H, C, MGR_K_VAR, NULL);
  ok(call(MGRI_OP_VAR_SET, v, A(mgr_array(A(mgri_h_ref(MGR_K_VAR, v))))));
  ok(call(MGRI_OP_RELEASE, v, NULL, 0));
  assert_true(alive(v));
  ok(call(MGRI_OP_VAR_SET, v, A(mgr_int(0))));
  assert_false(alive(v));
  /* A cycle left in place is freed by mgri_store_free (ASan: no leak). */
  uint64_t a = mgri_h_create(&H, C, MGR_K_LIST, NULL);
  uint64_t b = mgri_h_create(&H, C, MGR_K_LIST, NULL);
  ok(call(MGRI_OP_LIST_APPEND, a, A(mgri_h_ref(MGR_K_LIST, b))));
  ok(call(MGRI_OP_LIST_APPEND, b, A(mgri_h_ref(MGR_K_LIST, a))));
}

static void test_sessions(void **st) {
  (void)st;
  uint64_t sess = mgri_sconn_session(C);
  mgri_sconn *c2 = mgri_h_conn(&H, sess); /* a second thread of the process */
  mgri_sconn *other = mgri_h_conn(&H, 0);
  uint64_t d = mgri_h_create(&H, C, MGR_K_DICT, NULL);
  mgri_hreply *r = callc(c2, MGRI_OP_CREATE, 0, A(mgr_int(MGR_K_LIST)));
  ok(r);
  uint64_t l = r->result.u.ref.id;
  assert_int_equal(refs(d), 1);
  /* RETAIN: all or none; a set, so no double count. */
  err(callc(other, MGRI_OP_RETAIN, 0,
            A(mgr_array(A(mgr_int((int64_t)d), mgr_int(424242))))),
      MGR_ENOTFOUND, NULL);
  assert_int_equal(refs(d), 1);
  err(callc(other, MGRI_OP_RETAIN, 0, A(mgr_array(A(mgr_text("1"))))),
      MGR_ETYPE, NULL);
  err(callc(other, MGRI_OP_RETAIN, 0, A(mgr_int(1))), MGR_ETYPE, NULL);
  ok(callc(other, MGRI_OP_RETAIN, 0,
           A(mgr_array(A(mgr_int((int64_t)d), mgr_int((int64_t)d))))));
  ok(callc(other, MGRI_OP_RETAIN, 0, A(mgr_array(A(mgr_int((int64_t)d))))));
  ok(callc(C, MGRI_OP_RETAIN, 0, A(mgr_array(NULL, 0))));
  assert_int_equal(refs(d), 2);
  /* The session ends only with its last connection. */
  mgri_h_close(&H, C);
  assert_true(alive(l));
  assert_int_equal(refs(d), 2);
  mgri_h_close(&H, c2);
  assert_false(alive(l));
  assert_int_equal(refs(d), 1);
  /* That session is gone: joining it fails. */
  mgri_sconn *late = mgri_store_conn_open(H.s, NULL);
  err(hello(late, 0, 1, 1, (int64_t)sess), MGR_ENOTFOUND, NULL);
  mgri_store_conn_close(H.s, late);
  mgri_h_close(&H, other);
  assert_int_equal(mgri_store_object_count(H.s), 0);
  C = mgri_h_conn(&H, 0); /* for teardown symmetry */
}

static void test_names_and_list(void **st) {
  (void)st;
  mgr_value kv[2] = {mgr_text("k"), mgr_int(1)};
  mgr_value init = mgr_map(kv, 1);
  mgri_hreply *r =
      call(MGRI_OP_OPEN, 0, A(mgr_text("cfg"), mgr_int(MGR_K_DICT), init));
  ok(r);
  uint64_t d = r->result.u.a.items[0].u.ref.id;
  assert_true(r->result.u.a.items[1].u.b);
  mgri_sconn *other = mgri_h_conn(&H, 0);
  r = callc(other, MGRI_OP_OPEN, 0, A(mgr_text("cfg"), mgr_int(MGR_K_DICT)));
  ok(r);
  assert_int_equal(r->result.u.a.items[0].u.ref.id, d);
  assert_false(r->result.u.a.items[1].u.b);
  assert_int_equal(refs(d), 2);
  err(call(MGRI_OP_OPEN, 0, A(mgr_text("cfg"), mgr_int(MGR_K_LIST))), MGR_ETYPE,
      "is a dict");
  err(call(
          MGRI_OP_OPEN, 0,
          A(mgr_text("nope"), mgr_int(MGR_K_LIST), mgr_nil(), mgr_bool(false))),
      MGR_ENOTFOUND, NULL);
  err(call(MGRI_OP_OPEN, 0, A(mgr_text(""), mgr_int(MGR_K_LIST))), MGR_EVALUE,
      NULL);
  err(call(MGRI_OP_OPEN, 0, A(mgr_textn("a\0b", 3), mgr_int(MGR_K_LIST))),
      MGR_EVALUE, "NUL");
  char longname[MGRI_NAME_MAX + 2];
  memset(longname, 'n', sizeof longname);
  err(call(MGRI_OP_OPEN, 0,
           A(mgr_textn(longname, MGRI_NAME_MAX + 1), mgr_int(MGR_K_LIST))),
      MGR_EVALUE, NULL);
  ok(call(MGRI_OP_OPEN, 0,
          A(mgr_textn(longname, MGRI_NAME_MAX), mgr_int(MGR_K_LIST))));
  err(call(MGRI_OP_OPEN, 0, A(mgr_int(1), mgr_int(MGR_K_LIST))), MGR_ETYPE,
      NULL);
  /* init is checked even when the object exists. */
  err(call(MGRI_OP_OPEN, 0,
           A(mgr_text("cfg"), mgr_int(MGR_K_DICT), mgr_int(3))),
      MGR_ETYPE, NULL);

  /* LIST: every object, by id, with name and count. */
  uint64_t anon = mgri_h_create(&H, C, MGR_K_LOCK, NULL);
  r = call(MGRI_OP_LIST, 0, NULL, 0);
  ok(r);
  assert_int_equal(r->result.u.a.len, 3);
  const mgr_value *row = r->result.u.a.items[0].u.a.items;
  assert_int_equal(row[0].u.i, (int64_t)d);
  assert_int_equal(row[1].u.i, MGR_K_DICT);
  assert_string_equal(row[2].u.s.ptr, "cfg");
  assert_int_equal(row[3].u.i, 2);
  row = r->result.u.a.items[2].u.a.items;
  assert_int_equal(row[0].u.i, (int64_t)anon);
  assert_int_equal(row[2].type, MGR_T_NIL);

  /* A named object outlives every session; UNLINK then destroys it. */
  mgri_h_close(&H, other);
  ok(call(MGRI_OP_RELEASE, d, NULL, 0));
  assert_int_equal(refs(d), 0);
  assert_true(alive(d));
  ok(call(MGRI_OP_UNLINK, 0, A(mgr_text("cfg"))));
  assert_false(alive(d));
  err(call(MGRI_OP_UNLINK, 0, A(mgr_text("cfg"))), MGR_ENOTFOUND, NULL);
  err(call(MGRI_OP_UNLINK, 0, A(mgr_int(1))), MGR_ETYPE, NULL);
  /* UNLINK of a held object keeps it until released; the name is free. */
  r = call(MGRI_OP_OPEN, 0, A(mgr_text("v"), mgr_int(MGR_K_VAR), mgr_int(5)));
  uint64_t v = r->result.u.a.items[0].u.ref.id;
  ok(call(MGRI_OP_UNLINK, 0, A(mgr_text("v"))));
  assert_true(alive(v));
  r = call(MGRI_OP_OPEN, 0, A(mgr_text("v"), mgr_int(MGR_K_VAR)));
  assert_true(r->result.u.a.items[1].u.b);
  assert_int_not_equal(r->result.u.a.items[0].u.ref.id, v);
}

static void test_shutdown_action(void **st) {
  (void)st;
  ok(call(MGRI_OP_SHUTDOWN, 0, NULL, 0));
  assert_int_equal(H.last_action, MGRI_DISPATCH_SHUTDOWN);
}

/* The configuration's zeros and bounds: frame_max 0 is the default and
 * one over the ceiling is the ceiling (HELLO announces what applies),
 * memory_max SIZE_MAX is no limit, a set hash key is used as given,
 * conns_max refuses the connection one over it; no object: no info, no
 * bytes; a LIMIT reason out of range is not counted. */
static void test_config_bounds(void **st) {
  (void)st;
  mgri_harness h;
  mgri_store_config cfg;
  mgri_store_config_init(&cfg);
  cfg.limits.frame_max = 0;
  cfg.memory_max = SIZE_MAX;
  cfg.hash_key_set = true;
  cfg.hash_key[0] = 1;
  cfg.hash_key[1] = 2;
  cfg.conns_max = 2;
  assert_int_equal(mgri_h_init_cfg(&h, &cfg), 0);
  assert_int_equal(h.s->cfg.limits.frame_max, MGRI_FRAME_MAX_DEFAULT);
  assert_int_equal(h.s->mem.max, 0);
  assert_int_equal(h.s->hkey.k0, 1);
  assert_int_equal(h.s->hkey.k1, 2);
  mgri_sconn *a = mgri_store_conn_open(h.s, NULL);
  mgri_sconn *b = mgri_store_conn_open(h.s, NULL);
  assert_non_null(a);
  assert_non_null(b);
  assert_null(mgri_store_conn_open(h.s, NULL));
  mgri_store_conn_close(h.s, b);
  b = mgri_store_conn_open(h.s, NULL);
  assert_non_null(b);
  mgri_store_conn_close(h.s, a);
  mgri_store_conn_close(h.s, b);
  assert_int_equal(mgri_store_object_info(h.s, 12345, NULL, NULL, NULL),
                   MGR_ENOTFOUND);
  assert_int_equal(mgri_store_object_bytes(h.s, 12345), 0);
  mgri_store_stats *stt = mgri_store_stats_of(h.s);
  uint64_t before[MGRI_WHY_N];
  memcpy(before, stt->refused, sizeof before);
  mgri_store_count_limit(h.s, -1);
  mgri_store_count_limit(h.s, MGRI_WHY_N);
  assert_memory_equal(before, stt->refused, sizeof before);
  mgri_store_count_limit(h.s, MGRI_WHY_BUDGET);
  assert_int_equal(stt->refused[MGRI_WHY_BUDGET], before[MGRI_WHY_BUDGET] + 1);
  mgri_h_fini(&h);

  mgri_store_config_init(&cfg);
  cfg.limits.frame_max = MGRI_FRAME_MAX_CEIL + 1;
  assert_int_equal(mgri_h_init_cfg(&h, &cfg), 0);
  assert_int_equal(h.s->cfg.limits.frame_max, MGRI_FRAME_MAX_CEIL);
  mgri_h_fini(&h);
  mgri_store_free(NULL); /* as free(NULL) */
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_config_bounds),
      cmocka_unit_test_setup_teardown(test_handshake, su_setup, su_teardown),
      cmocka_unit_test_setup_teardown(test_dispatch_errors, su_setup,
                                      su_teardown),
      cmocka_unit_test_setup_teardown(test_stored_refs, su_setup, su_teardown),
      cmocka_unit_test_setup_teardown(test_chain_destruction, su_setup,
                                      su_teardown),
      cmocka_unit_test_setup_teardown(test_self_reference, su_setup,
                                      su_teardown),
      cmocka_unit_test_setup_teardown(test_sessions, su_setup, su_teardown),
      cmocka_unit_test_setup_teardown(test_names_and_list, su_setup,
                                      su_teardown),
      cmocka_unit_test_setup_teardown(test_shutdown_action, su_setup,
                                      su_teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
