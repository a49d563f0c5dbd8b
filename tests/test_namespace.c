/* mgr tests — the Namespace (spec 9.9): every op and error through the pure
 * dispatch path (names, order, refs held, memory and items accounted,
 * thousands of attributes, BATCH, DUMP), then against a real manager: the
 * proxies, Python's text of a namespace, forked workers sharing one, and a
 * namespace keeping a dict alive. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "client_util.h"
#include "common/limits.h"
#include "server_util.h"
#include "util.h"

#define NIL mgr_nil()
#define ARR(...)                                                               \
  mgr_array((mgr_value[]){__VA_ARGS__},                                        \
            sizeof((mgr_value[]){__VA_ARGS__}) / sizeof(mgr_value))
#define MAP(...)                                                               \
  mgr_map((mgr_value[]){__VA_ARGS__},                                          \
          sizeof((mgr_value[]){__VA_ARGS__}) / sizeof(mgr_value) / 2)
#define SUB(op, oid, args) ARR(I(op), I((int64_t)(oid)), args)
#define NOARGS mgr_array(NULL, 0)
#define REF(k, id) mgri_h_ref(MGR_K_##k, id)

#define LONGV "a value longer than fifteen bytes, so that it allocates"

/* --- harness helpers --------------------------------------------------------- */

static mgri_hreply *get(uint64_t ns, const char *name) {
  return call(MGRI_OP_NS_GET, ns, A(T(name)));
}
static void set(uint64_t ns, const char *name, mgr_value v) {
  ok(call(MGRI_OP_NS_SET, ns, A(T(name), v)));
}

/* NS_ITEMS is exactly the map `want` (same pairs, same order). */
static void items_are(uint64_t ns, mgr_value want) {
  mgri_hreply *r = call(MGRI_OP_NS_ITEMS, ns, NULL, 0);
  ok(r);
  assert_int_equal(r->result.type, MGR_T_MAP);
  assert_string_equal(cu_repr(&r->result), cu_repr(&want));
}

static mgr_value dump_field(uint64_t id, const char *key) {
  mgri_hreply *r = call(MGRI_OP_DUMP, id, NULL, 0);
  ok(r);
  mgr_value k = T(key), v = NIL;
  const mgr_value *f = mgr_map_get(&r->result, &k);
  assert_non_null(f);
  assert_int_equal(mgr_value_copy(&v, f), MGR_OK);
  return v;
}

static int64_t dump_int(uint64_t id, const char *key) {
  mgr_value v = dump_field(id, key);
  assert_int_equal(v.type, MGR_T_INT);
  return v.u.i;
}

static uint64_t refs_of(uint64_t id) {
  uint64_t refs = 0;
  assert_int_equal(mgri_store_object_info(H.s, id, NULL, &refs, NULL), MGR_OK);
  return refs;
}

/* A name of n bytes of c. */
static mgr_value name_of(char *buf, size_t n, char c) {
  memset(buf, c, n);
  buf[n] = '\0';
  return mgr_textn(buf, n);
}

/* --- harness tests ----------------------------------------------------------- */

static void test_create(void **st) {
  (void)st;
  uint64_t a = mgri_h_create(&H, C, MGR_K_NAMESPACE, NULL);
  assert_true(a > 0);
  items_are(a, MAP());
  mgr_value nil = NIL;
  uint64_t b = mgri_h_create(&H, C, MGR_K_NAMESPACE, &nil);
  items_are(b, MAP());
  mgr_value init = MAP(T("b"), T("x"), T("a"), I(1));
  uint64_t c = mgri_h_create(&H, C, MGR_K_NAMESPACE, &init);
  assert_true(c > 0);
  items_are(c, MAP(T("b"), T("x"), T("a"), I(1)));
  /* A name given twice (the decoder refuses such maps; the store still
   * copes): first place, last value. */
  init = MAP(T("b"), I(1), T("a"), I(2), T("b"), I(3));
  uint64_t dup = mgri_h_create(&H, C, MGR_K_NAMESPACE, &init);
  items_are(dup, MAP(T("b"), I(3), T("a"), I(2)));
  /* Bad init: TYPE for the shape, VALUE for a name, NOTFOUND for a dead ref;
   * nothing is created. */
  size_t before = mgri_store_object_count(H.s);
  err(call(MGRI_OP_CREATE, 0, A(I(MGR_K_NAMESPACE), ARR(I(1)))), MGR_ETYPE,
      "TypeError: a Namespace starts from a map of attribute names or None, "
      "not list");
  err(call(MGRI_OP_CREATE, 0, A(I(MGR_K_NAMESPACE), I(3))), MGR_ETYPE, NULL);
  err(call(MGRI_OP_CREATE, 0, A(I(MGR_K_NAMESPACE), MAP(I(1), I(2)))),
      MGR_ETYPE, "TypeError: attribute name must be string, not 'int'");
  err(call(MGRI_OP_CREATE, 0,
           A(I(MGR_K_NAMESPACE), MAP(T("ok"), I(1), T("_x"), I(2)))),
      MGR_EVALUE, "ValueError: attribute name '_x' starts with '_'");
  err(call(MGRI_OP_CREATE, 0, A(I(MGR_K_NAMESPACE), MAP(T(""), I(2)))),
      MGR_EVALUE, "must not be empty");
  err(call(MGRI_OP_CREATE, 0,
           A(I(MGR_K_NAMESPACE), MAP(T("a"), I(1), T("d"), REF(DICT, 999)))),
      MGR_ENOTFOUND, NULL);
  assert_int_equal(mgri_store_object_count(H.s), before);
  /* OPEN checks init even when the object exists. */
  mgri_hreply *r =
      call(MGRI_OP_OPEN, 0, A(T("ns"), I(MGR_K_NAMESPACE), MAP(T("a"), I(1))));
  ok(r);
  assert_true(r->result.u.a.items[1].u.b);
  uint64_t named = r->result.u.a.items[0].u.ref.id;
  r = call(MGRI_OP_OPEN, 0, A(T("ns"), I(MGR_K_NAMESPACE), MAP(T("z"), I(9))));
  ok(r);
  assert_false(r->result.u.a.items[1].u.b);
  items_are(named, MAP(T("a"), I(1))); /* init ignored */
  err(call(MGRI_OP_OPEN, 0, A(T("ns"), I(MGR_K_NAMESPACE), MAP(T("_z"), I(9)))),
      MGR_EVALUE, NULL);
  err(call(MGRI_OP_OPEN, 0, A(T("ns"), I(MGR_K_NAMESPACE), T("x"))), MGR_ETYPE,
      NULL);
}

static void test_get_set_del(void **st) {
  (void)st;
  uint64_t ns = mgri_h_create(&H, C, MGR_K_NAMESPACE, NULL);
  err(get(ns, "x"), MGR_EATTR,
      "AttributeError: 'Namespace' object has no attribute 'x'");
  set(ns, "x", I(1));
  set(ns, "y", T(LONGV));
  set(ns, "z", ARR(I(1), MAP(T("k"), T("v"))));
  mgri_hreply *r = get(ns, "x");
  ok(r);
  assert_int_equal(r->result.u.i, 1);
  r = get(ns, "y");
  ok(r);
  assert_string_equal(r->result.u.s.ptr, LONGV);
  items_are(ns, MAP(T("x"), I(1), T("y"), T(LONGV), T("z"),
                    ARR(I(1), MAP(T("k"), T("v")))));
  /* Replacing keeps the place; a deleted name set again goes last. */
  set(ns, "x", T("one"));
  items_are(ns, MAP(T("x"), T("one"), T("y"), T(LONGV), T("z"),
                    ARR(I(1), MAP(T("k"), T("v")))));
  ok(call(MGRI_OP_NS_DEL, ns, A(T("x"))));
  assert_int_equal(call(MGRI_OP_NS_DEL, ns, A(T("y")))->result.type, MGR_T_NIL);
  err(get(ns, "x"), MGR_EATTR, NULL);
  err(call(MGRI_OP_NS_DEL, ns, A(T("x"))), MGR_EATTR,
      "AttributeError: 'Namespace' object has no attribute 'x'");
  set(ns, "x", NIL);
  items_are(ns, MAP(T("z"), ARR(I(1), MAP(T("k"), T("v"))), T("x"), NIL));
  /* Names: text, not empty, no leading '_', at most MGRI_NAME_MAX bytes, no
   * U+0000 — for each op. Non-ASCII names are names. */
  const uint64_t ops[3] = {MGRI_OP_NS_GET, MGRI_OP_NS_SET, MGRI_OP_NS_DEL};
  char buf[MGRI_NAME_MAX + 2];
  for (int i = 0; i < 3; i++) {
    uint64_t op = ops[i];
    size_t n = op == MGRI_OP_NS_SET ? 2 : 1;
    err(call(op, ns, (mgr_value[]){I(1), I(0)}, n), MGR_ETYPE,
        "TypeError: attribute name must be string, not 'int'");
    err(call(op, ns, (mgr_value[]){mgr_bytes("x", 1), I(0)}, n), MGR_ETYPE,
        "not 'bytes'");
    err(call(op, ns, (mgr_value[]){NIL, I(0)}, n), MGR_ETYPE, NULL);
    err(call(op, ns, (mgr_value[]){T(""), I(0)}, n), MGR_EVALUE,
        "ValueError: attribute name must not be empty");
    err(call(op, ns, (mgr_value[]){T("_x"), I(0)}, n), MGR_EVALUE,
        "ValueError: attribute name '_x' starts with '_'");
    err(call(op, ns, (mgr_value[]){T("__dict__"), I(0)}, n), MGR_EVALUE, NULL);
    err(call(op, ns, (mgr_value[]){mgr_textn("a\0b", 3), I(0)}, n), MGR_EVALUE,
        "U+0000");
    err(call(op, ns, (mgr_value[]){name_of(buf, MGRI_NAME_MAX + 1, 'n'), I(0)},
             n),
        MGR_EVALUE, "ValueError: attribute name longer than 255 bytes");
  }
  /* The longest name: MGRI_NAME_MAX bytes. */
  mgr_value longest = name_of(buf, MGRI_NAME_MAX, 'n');
  ok(call(MGRI_OP_NS_SET, ns, A(longest, I(255))));
  r = call(MGRI_OP_NS_GET, ns, A(longest));
  ok(r);
  assert_int_equal(r->result.u.i, 255);
  err(call(MGRI_OP_NS_GET, ns, A(name_of(buf, MGRI_NAME_MAX - 1, 'n'))),
      MGR_EATTR, NULL);
  ok(call(MGRI_OP_NS_DEL, ns, A(name_of(buf, MGRI_NAME_MAX, 'n'))));
  set(ns, "\xc3\xa9t\xc3\xa9", I(7)); /* "été" */
  r = get(ns, "\xc3\xa9t\xc3\xa9");
  ok(r);
  assert_int_equal(r->result.u.i, 7);
  /* Names are exact: no folding, "a" is not "a " or "A". */
  set(ns, "a", I(1));
  err(get(ns, "A"), MGR_EATTR, NULL);
  err(get(ns, "a "), MGR_EATTR, NULL);
  /* Arity is the dispatch's TYPE; ops of other kinds: BADOP. */
  err(call(MGRI_OP_NS_GET, ns, NULL, 0), MGR_ETYPE, NULL);
  err(call(MGRI_OP_NS_SET, ns, A(T("a"))), MGR_ETYPE, NULL);
  err(call(MGRI_OP_NS_ITEMS, ns, A(I(1))), MGR_ETYPE, NULL);
  uint64_t d = mgri_h_create(&H, C, MGR_K_DICT, NULL);
  err(call(MGRI_OP_NS_GET, d, A(T("a"))), MGR_EBADOP, NULL);
  err(call(MGRI_OP_DICT_LEN, ns, NULL, 0), MGR_EBADOP, NULL);
}

/* The refs hook: every ref stored in the namespace, once per place. */
typedef struct refset {
  uint64_t ids[8];
  size_t n;
} refset;
static void collect(void *ctx, uint64_t id) {
  refset *r = ctx;
  assert_true(r->n < 8);
  r->ids[r->n++] = id;
}
static void stored_refs_are(uint64_t ns, size_t n, const uint64_t *want) {
  refset r = {{0}, 0};
  mgri_store_object_refs(H.s, ns, collect, &r);
  assert_int_equal(r.n, n);
  for (size_t i = 0; i < n; i++) {
    size_t hits = 0, seen = 0;
    for (size_t j = 0; j < n; j++) {
      if (r.ids[j] == want[i]) hits++;
      if (want[j] == want[i]) seen++;
    }
    assert_int_equal(hits, seen);
  }
}

/* The name limit is MGRI_NAME_MAX, and the public header says so. */
static void test_name_limit_documented(void **st) {
  (void)st;
  char *raw = tu_read_file(MGR_SOURCE_DIR "/include/mgr/sync.h", NULL);
  assert_non_null(raw);
  /* Fold comment line breaks and blanks into single spaces. */
  size_t n = 0;
  for (size_t i = 0; raw[i]; i++) {
    char c = raw[i] == '\n' || raw[i] == '*' ? ' ' : raw[i];
    if (c == ' ' && n && raw[n - 1] == ' ') continue;
    raw[n++] = c;
  }
  raw[n] = '\0';
  char want[64];
  snprintf(want, sizeof want, "not longer than %u bytes", MGRI_NAME_MAX);
  if (!strstr(raw, want)) fail_msg("sync.h does not say '%s'", want);
  free(raw);
}

/* Refs stored in attribute values hold their objects (spec 12.2); a dead
 * ref is NOTFOUND and changes nothing. */
static void test_refs(void **st) {
  (void)st;
  uint64_t ns = mgri_h_create(&H, C, MGR_K_NAMESPACE, NULL);
  uint64_t d = mgri_h_create(&H, C, MGR_K_DICT, NULL);
  uint64_t l = mgri_h_create(&H, C, MGR_K_LIST, NULL);
  assert_int_equal(refs_of(d), 1);
  set(ns, "d", REF(DICT, d));
  set(ns, "both", ARR(REF(DICT, d), REF(LIST, l)));
  assert_int_equal(refs_of(d), 3);
  assert_int_equal(refs_of(l), 2);
  stored_refs_are(ns, 3, (uint64_t[]){d, d, l});
  err(call(MGRI_OP_NS_SET, ns, A(T("bad"), ARR(I(1), REF(DICT, 999)))),
      MGR_ENOTFOUND, "LookupError: no shared object dict #999");
  err(call(MGRI_OP_NS_SET, ns, A(T("d"), REF(LIST, d))), MGR_ENOTFOUND, NULL);
  err(get(ns, "bad"), MGR_EATTR, NULL);
  mgri_hreply *r = get(ns, "d");
  ok(r);
  assert_int_equal(r->result.type, MGR_T_REF);
  assert_int_equal(r->result.u.ref.id, d);
  /* The session lets go: the namespace keeps both alive. */
  ok(call(MGRI_OP_RELEASE, d, NULL, 0));
  ok(call(MGRI_OP_RELEASE, l, NULL, 0));
  assert_int_equal(refs_of(d), 2);
  assert_int_equal(refs_of(l), 1);
  ok(call(MGRI_OP_DICT_SET, d, A(T("k"), I(1))));
  /* Replacing a value drops its refs, deleting one too. */
  set(ns, "both", I(0));
  assert_int_equal(refs_of(d), 1);
  stored_refs_are(ns, 1, (uint64_t[]){d});
  assert_int_equal(mgri_store_object_info(H.s, l, NULL, NULL, NULL),
                   MGR_ENOTFOUND);
  ok(call(MGRI_OP_NS_DEL, ns, A(T("d"))));
  assert_int_equal(mgri_store_object_info(H.s, d, NULL, NULL, NULL),
                   MGR_ENOTFOUND);
  /* A namespace destroyed drops what it holds. */
  uint64_t d2 = mgri_h_create(&H, C, MGR_K_DICT, NULL);
  set(ns, "d2", REF(DICT, d2));
  ok(call(MGRI_OP_RELEASE, d2, NULL, 0));
  assert_int_equal(refs_of(d2), 1);
  ok(call(MGRI_OP_RELEASE, ns, NULL, 0));
  assert_int_equal(mgri_store_object_info(H.s, ns, NULL, NULL, NULL),
                   MGR_ENOTFOUND);
  assert_int_equal(mgri_store_object_info(H.s, d2, NULL, NULL, NULL),
                   MGR_ENOTFOUND);
  assert_int_equal(mgri_store_object_count(H.s), 0);
}

/* DUMP: the attributes in order; its bytes and items follow what it holds
 * and come back when the attributes go. */
static void test_dump_memory_items(void **st) {
  (void)st;
  uint64_t ns = mgri_h_create(&H, C, MGR_K_NAMESPACE, NULL);
  int64_t bytes0 = dump_int(ns, "bytes");
  assert_int_equal(dump_int(ns, "items"), 0);
  set(ns, "b", T(LONGV));
  set(ns, "a", ARR(I(1), I(2), I(3)));
  /* Names are items too, as a dict's keys: 2 names + 1 text + 4. */
  assert_int_equal(dump_int(ns, "items"), 7);
  assert_true(dump_int(ns, "bytes") > bytes0 + (int64_t)strlen(LONGV));
  assert_int_equal((int64_t)mgri_store_object_bytes(H.s, ns),
                   dump_int(ns, "bytes"));
  mgr_value state = dump_field(ns, "state");
  assert_string_equal(cu_repr(&state), "{'b': '" LONGV "', 'a': [1, 2, 3]}");
  mgr_value_free(&state);
  /* NS_ITEMS costs 1 + its items (spec 14.2.4); GET 1; SET 1 + args. */
  ok(call(MGRI_OP_NS_ITEMS, ns, NULL, 0));
  assert_int_equal(mgri_store_last_cost(H.s), 8);
  ok(get(ns, "a"));
  assert_int_equal(mgri_store_last_cost(H.s), 1);
  set(ns, "b", I(0)); /* one item for another */
  assert_int_equal(dump_int(ns, "items"), 7);
  ok(call(MGRI_OP_NS_DEL, ns, A(T("a"))));
  assert_int_equal(dump_int(ns, "items"), 2);
  set(ns, "a", ARR(I(1), I(2), I(3)));
  ok(call(MGRI_OP_NS_DEL, ns, A(T("a"))));
  ok(call(MGRI_OP_NS_DEL, ns, A(T("b"))));
  assert_int_equal(dump_int(ns, "items"), 0);
  assert_int_equal(dump_int(ns, "bytes"), bytes0); /* everything given back */
  state = dump_field(ns, "state");
  assert_string_equal(cu_repr(&state), "{}");
  mgr_value_free(&state);
}

/* Thousands of attributes: every op stays exact through growth, deletes in
 * any order (compaction) and re-adds; the hash probes stay short. */
static void test_many(void **st) {
  (void)st;
  enum { N = 20000 };
  uint64_t ns = mgri_h_create(&H, C, MGR_K_NAMESPACE, NULL);
  char name[32];
  for (int i = 0; i < N; i++) {
    snprintf(name, sizeof name, "attr%d", i);
    set(ns, name, I(i));
  }
  /* Delete all but every tenth, from the front (dead entries pile up before
   * the live ones, then are compacted away). */
  for (int i = 0; i < N; i++) {
    if (i % 10 == 0) continue;
    snprintf(name, sizeof name, "attr%d", i);
    ok(call(MGRI_OP_NS_DEL, ns, A(T(name))));
  }
  for (int i = 0; i < N; i++) {
    snprintf(name, sizeof name, "attr%d", i);
    mgri_hreply *r = get(ns, name);
    if (i % 10) {
      err(r, MGR_EATTR, NULL);
    } else {
      ok(r);
      assert_int_equal(r->result.u.i, i);
    }
  }
  mgri_hreply *r = call(MGRI_OP_NS_ITEMS, ns, NULL, 0);
  ok(r);
  assert_int_equal(r->result.u.a.len, N / 10);
  for (int j = 0; j < N / 10; j++) {
    snprintf(name, sizeof name, "attr%d", j * 10);
    assert_string_equal(r->result.u.a.items[2 * j].u.s.ptr, name);
    assert_int_equal(r->result.u.a.items[2 * j + 1].u.i, j * 10);
  }
  /* Re-adding goes last, in order. */
  set(ns, "attr1", I(-1));
  r = call(MGRI_OP_NS_ITEMS, ns, NULL, 0);
  assert_int_equal(r->result.u.a.len, N / 10 + 1);
  assert_string_equal(r->result.u.a.items[2 * (N / 10)].u.s.ptr, "attr1");
  /* Deleting every one leaves an empty namespace holding no arrays. */
  for (int i = 0; i < N; i += 10) {
    snprintf(name, sizeof name, "attr%d", i);
    ok(call(MGRI_OP_NS_DEL, ns, A(T(name))));
  }
  ok(call(MGRI_OP_NS_DEL, ns, A(T("attr1"))));
  items_are(ns, MAP());
  assert_int_equal(dump_int(ns, "items"), 0);
  /* Keyed hashing: the longest probe stays far under the bound. */
  r = call(MGRI_OP_STATS, 0, NULL, 0);
  ok(r);
  mgr_value kh = T("hash"), kp = T("dict_probe_max");
  const mgr_value *hash = mgr_map_get(&r->result, &kh);
  assert_non_null(hash);
  const mgr_value *probe = mgr_map_get(hash, &kp);
  assert_non_null(probe);
  assert_true(probe->u.i >= 1);
  assert_true(probe->u.i <= MGRI_PROBE_BOUND);
}

/* Under a small memory limit a SET that does not fit is LIMIT and changes
 * nothing. */
static void test_memory_limit(void **st) {
  (void)st;
  mgri_h_fini(&H);
  mgri_store_config cfg;
  mgri_store_config_init(&cfg);
  cfg.memory_max = 64 << 10;
  assert_int_equal(mgri_h_init_cfg(&H, &cfg), MGR_OK);
  C = mgri_h_conn(&H, 0);
  assert_non_null(C);
  uint64_t ns = mgri_h_create(&H, C, MGR_K_NAMESPACE, NULL);
  set(ns, "a", I(1));
  static char big[100 << 10];
  memset(big, 'x', sizeof big - 1);
  int64_t bytes = dump_int(ns, "bytes");
  err(call(MGRI_OP_NS_SET, ns, A(T("b"), T(big))), MGR_ELIMIT, NULL);
  err(call(MGRI_OP_NS_SET, ns, A(T("a"), T(big))), MGR_ELIMIT, NULL);
  items_are(ns, MAP(T("a"), I(1)));
  assert_int_equal(dump_int(ns, "bytes"), bytes);
  err(call(MGRI_OP_CREATE, 0, A(I(MGR_K_NAMESPACE), MAP(T("a"), T(big)))),
      MGR_ELIMIT, NULL);
  assert_int_equal(mgri_store_object_count(H.s), 1);
}

static void test_batch(void **st) {
  (void)st;
  uint64_t ns = mgri_h_create(&H, C, MGR_K_NAMESPACE, NULL);
  mgri_hreply *r = call(MGRI_OP_BATCH, 0,
                        A(ARR(SUB(MGRI_OP_NS_SET, ns, ARR(T("a"), I(1))),
                              SUB(MGRI_OP_NS_SET, ns, ARR(T("b"), T(LONGV))),
                              SUB(MGRI_OP_NS_GET, ns, ARR(T("a"))),
                              SUB(MGRI_OP_NS_DEL, ns, ARR(T("zz"))),
                              SUB(MGRI_OP_NS_SET, ns, ARR(T("_p"), I(1))),
                              SUB(MGRI_OP_NS_ITEMS, ns, NOARGS))));
  ok(r);
  assert_int_equal(r->result.u.a.len, 6);
  const mgr_value *s = r->result.u.a.items;
  int64_t attr = (int64_t)mgri_err_to_wire(MGR_EATTR);
  int64_t value = (int64_t)mgri_err_to_wire(MGR_EVALUE);
  int64_t codes[6] = {0, 0, 0, attr, value, 0};
  for (size_t i = 0; i < 6; i++)
    assert_int_equal(s[i].u.a.items[0].u.i, codes[i]);
  assert_int_equal(s[2].u.a.items[1].u.i, 1);
  assert_string_equal(
      s[3].u.a.items[1].u.s.ptr,
      "AttributeError: 'Namespace' object has no attribute 'zz'");
  assert_string_equal(cu_repr(&s[5].u.a.items[1]),
                      "{'a': 1, 'b': '" LONGV "'}");
  /* A result borrowed from an attribute outlives a later sub-request that
   * replaces or deletes it (ASan checks the reads). */
  r = call(MGRI_OP_BATCH, 0,
           A(ARR(SUB(MGRI_OP_NS_GET, ns, ARR(T("b"))),
                 SUB(MGRI_OP_NS_SET, ns, ARR(T("b"), T("short"))),
                 SUB(MGRI_OP_NS_GET, ns, ARR(T("b"))),
                 SUB(MGRI_OP_NS_DEL, ns, ARR(T("b"))),
                 SUB(MGRI_OP_NS_ITEMS, ns, NOARGS))));
  ok(r);
  s = r->result.u.a.items;
  assert_string_equal(s[0].u.a.items[1].u.s.ptr, LONGV);
  assert_string_equal(s[2].u.a.items[1].u.s.ptr, "short");
  assert_string_equal(cu_repr(&s[4].u.a.items[1]), "{'a': 1}");
}

/* --- against a real manager ---------------------------------------------------- */

static mgr_client *M;

static int group_setup(void **state) {
  (void)state;
  M = cu_start();
  return M ? 0 : -1;
}

static int group_teardown(void **state) {
  (void)state;
  return cu_stop(M) == MGR_OK ? 0 : -1;
}

static pid_t fork_flushed(void) {
  fflush(stdout);
  fflush(stderr);
  pid_t pid = fork();
  assert_true(pid >= 0);
  return pid;
}

static void repr_is(mgr_proxy *ns, const char *want) {
  mgr_value t;
  assert_ok(M, mgr_ns_repr(ns, &t));
  assert_int_equal(t.type, MGR_T_TEXT);
  assert_int_equal(t.u.s.len, strlen(want));
  assert_string_equal(t.u.s.ptr, want);
  mgr_value_free(&t);
}

static void test_client_ops(void **state) {
  (void)state;
  mgr_proxy *ns = NULL;
  mgr_value pairs[4] = {T("b"), T("x"), T("a"), I(1)};
  mgr_value init = mgr_map(pairs, 2);
  assert_ok(M, mgr_namespace_new(M, &init, &ns));
  assert_int_equal(mgr_proxy_kind(ns), MGR_K_NAMESPACE);
  mgr_value v;
  assert_ok(M, mgr_ns_get(ns, "a", &v));
  assert_repr(v, "1");
  mgr_value one = I(1);
  assert_rc(M, mgr_ns_get(ns, "nope", &v), MGR_EATTR);
  assert_string_equal(
      mgr_errmsg(M),
      "AttributeError: 'Namespace' object has no attribute 'nope'");
  assert_int_equal(v.type, MGR_T_NIL);
  assert_rc(M, mgr_ns_del(ns, "nope"), MGR_EATTR);
  assert_rc(M, mgr_ns_set(ns, "_private", &one), MGR_EVALUE);
  assert_rc(M, mgr_ns_set(ns, "", &one), MGR_EVALUE);
  assert_rc(M, mgr_ns_get(ns, "_private", &v), MGR_EVALUE);
  mgr_value list[6] = {I(1),
                       mgr_float(2.5),
                       mgr_nil(),
                       mgr_bool(true),
                       mgr_bytes("q", 1),
                       mgr_map((mgr_value[]){T("k"), T("v")}, 1)};
  mgr_value c = mgr_array(list, 6);
  assert_ok(M, mgr_ns_set(ns, "c", &c));
  assert_ok(M, mgr_ns_items(ns, &v));
  assert_repr(
      v, "{'b': 'x', 'a': 1, 'c': [1, 2.5, None, True, b'q', {'k': 'v'}]}");
  /* What CPython 3.11 prints for str() of the same NamespaceProxy. */
  repr_is(ns,
          "Namespace(a=1, b='x', c=[1, 2.5, None, True, b'q', {'k': 'v'}])");
  mgr_value two = I(2);
  assert_ok(M, mgr_ns_set(ns, "a", &two));
  mgr_value q = T("it's \"q\"");
  assert_ok(M, mgr_ns_set(ns, "d", &q));
  mgr_value f = mgr_float(1e16), inf = mgr_float(__builtin_inf()),
            nan = mgr_float(__builtin_nan(""));
  assert_ok(M, mgr_ns_set(ns, "f", &f));
  assert_ok(M, mgr_ns_set(ns, "g", &inf));
  assert_ok(M, mgr_ns_set(ns, "h", &nan));
  mgr_value five = I(5);
  assert_ok(M, mgr_ns_set(ns, "with space", &five));
  repr_is(ns, "Namespace(a=2, b='x', c=[1, 2.5, None, True, b'q', {'k': 'v'}], "
              "d='it\\'s \"q\"', f=1e+16, g=inf, h=nan, with space=5)");
  assert_ok(M, mgr_ns_del(ns, "c"));
  assert_rc(M, mgr_ns_get(ns, "c", &v), MGR_EATTR);
  assert_ok(M, mgr_release(ns));
  /* CPython sorts the "name=repr" strings, not the names: a0=1 first. */
  mgr_value p2[6] = {T("a0"), I(1), T("a"), I(2), T("b"), I(3)};
  init = mgr_map(p2, 3);
  assert_ok(M, mgr_namespace_new(M, &init, &ns));
  repr_is(ns, "Namespace(a0=1, a=2, b=3)");
  assert_ok(M, mgr_release(ns));
  /* One string a prefix of another (a name may hold '=', as setattr()
   * allows): the shorter first, as Python's str comparison does. */
  mgr_value peq[4] = {T("a=1"), I(2), T("a"), I(1)};
  init = mgr_map(peq, 2);
  assert_ok(M, mgr_namespace_new(M, &init, &ns));
  repr_is(ns, "Namespace(a=1, a=1=2)");
  /* A long name starting with '_': refused, the message quoting its first
   * 40 bytes only. */
  char under[64];
  memset(under, 'u', sizeof under - 1);
  under[0] = '_';
  under[sizeof under - 1] = '\0';
  assert_rc(M, mgr_ns_set(ns, under, &one), MGR_EVALUE);
  char want[128];
  snprintf(want, sizeof want,
           "ValueError: attribute name '%.40s' starts with '_'", under);
  assert_non_null(strstr(mgr_errmsg(M), want));
  assert_ok(M, mgr_release(ns));
  assert_ok(M, mgr_namespace_new(M, NULL, &ns));
  repr_is(ns, "Namespace()");
  /* Bad init. */
  mgr_proxy *bad = NULL;
  mgr_value ai = I(1);
  assert_rc(M, mgr_namespace_new(M, &ai, &bad), MGR_ETYPE);
  assert_null(bad);
  mgr_value p3[2] = {I(1), I(2)};
  init = mgr_map(p3, 1);
  assert_rc(M, mgr_namespace_new(M, &init, &bad), MGR_ETYPE);
  mgr_value p4[2] = {T("_a"), I(2)};
  init = mgr_map(p4, 1);
  assert_rc(M, mgr_namespace_new(M, &init, &bad), MGR_EVALUE);
  /* NULL arguments: nothing sent. */
  assert_int_equal(mgr_namespace_new(NULL, NULL, &bad), MGR_EINVAL);
  assert_int_equal(mgr_namespace_new(M, NULL, NULL), MGR_EINVAL);
  assert_int_equal(mgr_ns_get(NULL, "a", &v), MGR_EINVAL);
  assert_int_equal(mgr_ns_get(ns, NULL, &v), MGR_EINVAL);
  assert_int_equal(mgr_ns_get(ns, "a", NULL), MGR_EINVAL);
  assert_int_equal(mgr_ns_set(ns, NULL, &one), MGR_EINVAL);
  assert_int_equal(mgr_ns_set(ns, "a", NULL), MGR_EINVAL);
  assert_int_equal(mgr_ns_set(NULL, "a", &one), MGR_EINVAL);
  assert_int_equal(mgr_ns_del(ns, NULL), MGR_EINVAL);
  assert_int_equal(mgr_ns_del(NULL, "a"), MGR_EINVAL);
  assert_int_equal(mgr_ns_items(ns, NULL), MGR_EINVAL);
  assert_int_equal(mgr_ns_items(NULL, &v), MGR_EINVAL);
  assert_int_equal(mgr_ns_repr(ns, NULL), MGR_EINVAL);
  assert_int_equal(mgr_ns_repr(NULL, &v), MGR_EINVAL);
  /* A name that is not UTF-8 is refused locally. */
  assert_int_equal(mgr_ns_set(ns, "\xff", &one), MGR_EINVAL);
  /* Another kind's proxy: BADOP. */
  mgr_proxy *d = NULL;
  assert_ok(M, mgr_dict_new(M, NULL, &d));
  assert_rc(M, mgr_ns_items(d, &v), MGR_EBADOP);
  assert_rc(M, mgr_ns_repr(d, &v), MGR_EBADOP);
  assert_ok(M, mgr_release(d));
  /* mgr_open: one named namespace, two proxies. */
  mgr_proxy *n1 = NULL, *n2 = NULL;
  bool created = false;
  mgr_value p5[2] = {T("k"), I(1)};
  init = mgr_map(p5, 1);
  assert_ok(M, mgr_open(M, "nsevent-ns", MGR_K_NAMESPACE, &init, true, &n1,
                        &created));
  assert_true(created);
  assert_ok(
      M, mgr_open(M, "nsevent-ns", MGR_K_NAMESPACE, NULL, true, &n2, &created));
  assert_false(created);
  assert_ok(M, mgr_ns_set(n1, "j", &two));
  repr_is(n2, "Namespace(j=2, k=1)");
  assert_ok(M, mgr_unlink(M, "nsevent-ns"));
  assert_ok(M, mgr_release(n1));
  assert_ok(M, mgr_release(n2));
  assert_ok(M, mgr_release(ns));
}

#define WORKERS 8
#define ROUNDS 50

/* Forked workers share one namespace: each sets its own attribute ROUNDS
 * times (its last value is ROUNDS - 1) and a common one; the final items
 * are exact. */
static void test_fork_workers(void **state) {
  (void)state;
  mgr_proxy *ns = NULL;
  assert_ok(M, mgr_namespace_new(M, NULL, &ns));
  mgr_value zero = I(0);
  assert_ok(M, mgr_ns_set(ns, "common", &zero));
  pid_t kids[WORKERS];
  for (int w = 0; w < WORKERS; w++) {
    kids[w] = fork_flushed();
    if (kids[w] == 0) {
      char name[16];
      snprintf(name, sizeof name, "w%d", w);
      for (int r = 0; r < ROUNDS; r++) {
        mgr_value pair[2] = {I(w), I(r)};
        mgr_value v = mgr_array(pair, 2);
        CU_CHECK(1, mgr_ns_set(ns, name, &v) == MGR_OK);
        mgr_value back;
        CU_CHECK(2, mgr_ns_get(ns, name, &back) == MGR_OK);
        CU_CHECK(3, back.type == MGR_T_ARRAY && back.u.a.items[1].u.i == r);
        mgr_value_free(&back);
        mgr_value who = I(w);
        CU_CHECK(4, mgr_ns_set(ns, "common", &who) == MGR_OK);
      }
      _exit(0);
    }
  }
  for (int w = 0; w < WORKERS; w++)
    assert_child_ok(kids[w]);
  mgr_value items;
  assert_ok(M, mgr_ns_items(ns, &items));
  assert_int_equal(items.type, MGR_T_MAP);
  assert_int_equal(items.u.a.len, WORKERS + 1);
  /* "common" was set first, so it stays first. */
  assert_string_equal(items.u.a.items[0].u.s.ptr, "common");
  int64_t last = items.u.a.items[1].u.i;
  assert_true(last >= 0 && last < WORKERS);
  bool seen[WORKERS] = {false};
  for (size_t i = 1; i < items.u.a.len; i++) {
    const mgr_value *k = &items.u.a.items[2 * i],
                    *v = &items.u.a.items[2 * i + 1];
    int w = -1;
    assert_int_equal(sscanf(k->u.s.ptr, "w%d", &w), 1);
    assert_true(w >= 0 && w < WORKERS && !seen[w]);
    seen[w] = true;
    assert_int_equal(v->type, MGR_T_ARRAY);
    assert_int_equal(v->u.a.items[0].u.i, w);
    assert_int_equal(v->u.a.items[1].u.i, ROUNDS - 1);
  }
  mgr_value_free(&items);
  assert_ok(M, mgr_release(ns));
}

/* A namespace holding a ref keeps the dict alive after every proxy of it is
 * gone (a forked child uses it through the namespace); deleting the
 * attribute lets it go. */
static void test_keeps_dict_alive(void **state) {
  (void)state;
  mgr_proxy *ns = NULL, *d = NULL;
  assert_ok(M, mgr_namespace_new(M, NULL, &ns));
  assert_ok(M, mgr_dict_new(M, NULL, &d));
  uint64_t did = mgr_proxy_id(d);
  mgr_value ref = mgr_proxy_value(d);
  assert_ok(M, mgr_ns_set(ns, "shared", &ref));
  assert_ok(M, mgr_release(d));
  assert_int_equal(cu_has_object(M, did), 1);
  pid_t kid = fork_flushed();
  if (kid == 0) {
    mgr_value r;
    CU_CHECK(1, mgr_ns_get(ns, "shared", &r) == MGR_OK && r.type == MGR_T_REF);
    mgr_proxy *cd = NULL;
    CU_CHECK(2, mgr_proxy_from_value(M, &r, &cd) == MGR_OK);
    mgr_value k = T("from"), v = T("child");
    CU_CHECK(3, mgr_dict_set(cd, &k, &v) == MGR_OK);
    CU_CHECK(4, mgr_release(cd) == MGR_OK);
    mgr_value_free(&r);
    _exit(0);
  }
  assert_child_ok(kid);
  assert_int_equal(cu_has_object(M, did), 1);
  mgr_value r;
  assert_ok(M, mgr_ns_get(ns, "shared", &r));
  assert_ok(M, mgr_proxy_from_value(M, &r, &d));
  mgr_value_free(&r);
  mgr_value k = T("from");
  assert_ok(M, mgr_dict_get(d, &k, &r));
  assert_repr(r, "'child'");
  assert_ok(M, mgr_release(d));
  assert_ok(M, mgr_ns_del(ns, "shared"));
  assert_int_equal(cu_has_object(M, did), 0);
  assert_ok(M, mgr_release(ns));
}

int main(void) {
  const struct CMUnitTest harness[] = {
      cmocka_unit_test_setup_teardown(test_create, su_setup, su_teardown),
      cmocka_unit_test_setup_teardown(test_get_set_del, su_setup, su_teardown),
      cmocka_unit_test(test_name_limit_documented),
      cmocka_unit_test_setup_teardown(test_refs, su_setup, su_teardown),
      cmocka_unit_test_setup_teardown(test_dump_memory_items, su_setup,
                                      su_teardown),
      cmocka_unit_test_setup_teardown(test_many, su_setup, su_teardown),
      cmocka_unit_test_setup_teardown(test_memory_limit, su_setup, su_teardown),
      cmocka_unit_test_setup_teardown(test_batch, su_setup, su_teardown),
  };
  const struct CMUnitTest client[] = {
      cmocka_unit_test(test_client_ops),
      cmocka_unit_test(test_fork_workers),
      cmocka_unit_test(test_keeps_dict_alive),
  };
  int rc = cmocka_run_group_tests_name("harness", harness, NULL, NULL);
  rc |= cmocka_run_group_tests_name("client", client, group_setup,
                                    group_teardown);
  return rc;
}
