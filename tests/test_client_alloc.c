/* mgr tests — allocation-failure injection over the client library (issue
 * 10: "fail-at-N tests over the client: connect, encode, decode, proxies,
 * batch"), as SQLite's and libuv's suites do it.
 *
 * The hook: this test is linked with -Wl,--wrap for malloc, calloc, realloc,
 * free and strdup (tests/CMakeLists.txt), so every allocation the library's
 * code makes in this process goes through the wrappers below, which count
 * the live blocks and can fail the N-th allocation. The manager runs in
 * another process (mgr_start forks it before anything is armed), so only
 * the client's allocations are failed.
 *
 * For each case, for N = 1, 2, ...: the case's state is set up, the N-th
 * allocation from then on fails, the case's call runs. Then:
 *  - no failure was injected: the call needed fewer than N allocations; it
 *    must have succeeded; the case is done;
 *  - else the call must return MGR_ENOMEM (a failure may also surface as the
 *    manager's LIMIT for nothing, so any other code fails the test), and
 *    after everything the call returned is freed, the live block count must
 *    be what it was before the call: nothing leaked;
 *  - and the connection must still be usable: a ping succeeds and the case's
 *    check call (run without injection) gives the expected result.
 * LeakSanitizer (the ASan build) checks the rest at exit. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <pthread.h>
#include <stdatomic.h>

#include "client_util.h"

/* --- the wrappers ---------------------------------------------------------- */

void *__real_malloc(size_t n);
void *__real_calloc(size_t k, size_t n);
void *__real_realloc(void *p, size_t n);
void __real_free(void *p);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t k, size_t n);
void *__wrap_realloc(void *p, size_t n);
void __wrap_free(void *p);
char *__wrap_strdup(const char *s);

static _Atomic long fail_in; /* > 0: the allocation that takes it to 0 fails */
static _Atomic long injected;
static _Atomic long live; /* blocks handed out by the wrappers, not freed */

static bool fail_now(void) {
  long f = atomic_load(&fail_in);
  while (f > 0) {
    if (atomic_compare_exchange_weak(&fail_in, &f, f - 1)) {
      if (f == 1) {
        atomic_fetch_add(&injected, 1);
        return true;
      }
      return false;
    }
  }
  return false;
}

void *__wrap_malloc(size_t n) {
  if (fail_now()) return NULL;
  void *p = __real_malloc(n);
  if (p) atomic_fetch_add(&live, 1);
  return p;
}

void *__wrap_calloc(size_t k, size_t n) {
  if (fail_now()) return NULL;
  void *p = __real_calloc(k, n);
  if (p) atomic_fetch_add(&live, 1);
  return p;
}

void *__wrap_realloc(void *p, size_t n) {
  if (fail_now()) return NULL;
  void *q = __real_realloc(p, n);
  if (q && !p) atomic_fetch_add(&live, 1);
  return q;
}

void __wrap_free(void *p) {
  if (p) atomic_fetch_sub(&live, 1);
  __real_free(p);
}

char *__wrap_strdup(const char *s) {
  size_t n = strlen(s) + 1;
  char *p = __wrap_malloc(n);
  if (p) memcpy(p, s, n);
  return p;
}

static void arm(long n) {
  atomic_store(&injected, 0);
  atomic_store(&fail_in, n);
}
static bool disarm(void) {
  atomic_store(&fail_in, 0);
  return atomic_load(&injected) != 0;
}

/* --- the cases ------------------------------------------------------------ */

static mgr_client *M;
static mgr_proxy *D, *L, *V, *LK, *Q, *NS, *AR;
/* Four more objects: with eleven held, the client's table of references is
 * exactly full enough that the next new proxy grows it (refs.c keeps it at
 * most half full, from 16 slots), so the growth is failed too. */
#define NEXTRA 4
static mgr_proxy *X[NEXTRA];
#define NOBJ (7 + NEXTRA)

static int group_setup(void **state) {
  (void)state;
  M = cu_start();
  if (!M) return -1;
  /* The objects the cases work on, made before anything is armed. */
  if (mgr_dict_new(M, NULL, &D) || mgr_list_new(M, NULL, &L) ||
      mgr_var_new(M, NULL, &V) || mgr_lock_new(M, &LK) ||
      mgr_queue_new(M, 0, &Q) || mgr_namespace_new(M, NULL, &NS))
    return -1;
  mgr_value zeros = mgr_int(1000);
  if (mgr_array_new(M, 'd', &zeros, &AR)) return -1;
  for (int i = 0; i < NEXTRA; i++)
    if (mgr_var_new(M, NULL, &X[i])) return -1;
  return 0;
}

static int group_teardown(void **state) {
  (void)state;
  mgr_release(D);
  mgr_release(L);
  mgr_release(V);
  mgr_release(LK);
  mgr_release(Q);
  mgr_release(NS);
  mgr_release(AR);
  for (int i = 0; i < NEXTRA; i++)
    mgr_release(X[i]);
  return cu_stop(M) == MGR_OK ? 0 : -1;
}

/* What a call returns when it got a wrong result (never an mgr_err). */
#define WRONG (-9999)

/* A text long enough to be allocated wherever it is copied. */
#define LONG_TEXT "a text value long enough to need its own allocation"

typedef struct acase {
  const char *name;
  bool allocates; /* the call must allocate on the client */
  void (*setup)(void);
  /* The call under injection; frees what it got (it may be nil on error). */
  int (*call)(void);
  /* Run without injection afterwards: the connection works and the state
   * is one the call may leave (done or not done). */
  void (*check)(void);
} acase;

static void reset_dict(void) {
  assert_ok(M, mgr_dict_clear(D));
  mgr_value k = mgr_text("k"), v = mgr_text(LONG_TEXT);
  assert_ok(M, mgr_dict_set(D, &k, &v));
}

static int c_dict_get(void) {
  mgr_value k = mgr_text("k"), out;
  int rc = mgr_dict_get(D, &k, &out);
  mgr_value_free(&out);
  return rc;
}
static int c_dict_set(void) {
  mgr_value k = mgr_text("key " LONG_TEXT);
  mgr_value items[3] = {mgr_int(1), mgr_text(LONG_TEXT), mgr_float(2.5)};
  mgr_value v = mgr_array(items, 3);
  return mgr_dict_set(D, &k, &v);
}
static int c_dict_items(void) {
  mgr_value out;
  int rc = mgr_dict_items(D, &out);
  mgr_value_free(&out);
  return rc;
}
static int c_dict_incr(void) {
  mgr_value k = mgr_text("n");
  int64_t r;
  return mgr_dict_incr_int(D, &k, 1, true, &r);
}
static void chk_dict(void) {
  mgr_value k = mgr_text("k"), out;
  assert_ok(M, mgr_dict_get(D, &k, &out));
  assert_repr(out, "'" LONG_TEXT "'");
}

static void reset_list(void) {
  mgr_value items[2] = {mgr_text(LONG_TEXT), mgr_int(7)};
  mgr_value v = mgr_array(items, 2);
  assert_ok(M, mgr_list_clear(L));
  assert_ok(M, mgr_list_extend(L, &v));
}
static int c_list_copy(void) {
  mgr_value out;
  int rc = mgr_list_copy(L, &out);
  mgr_value_free(&out);
  return rc;
}
static int c_list_getslice(void) {
  mgr_value out;
  int rc = mgr_list_getslice(L, MGR_OMIT, MGR_OMIT, mgr_at(-1), &out);
  mgr_value_free(&out);
  return rc;
}
static int c_list_pop(void) {
  mgr_value out;
  int rc = mgr_list_pop(L, 0, &out);
  mgr_value_free(&out);
  return rc;
}
static void chk_list(void) {
  size_t n = 0;
  assert_ok(M, mgr_list_len(L, &n));
  assert_true(n == 1 || n == 2);
}

static void reset_var(void) {
  mgr_value v = mgr_text(LONG_TEXT);
  assert_ok(M, mgr_var_set(V, &v));
}
static int c_var_get(void) {
  mgr_value out;
  int rc = mgr_var_get(V, &out);
  mgr_value_free(&out);
  return rc;
}
static int c_var_cas(void) {
  mgr_value e = mgr_text(LONG_TEXT), d = mgr_text("new " LONG_TEXT), cur;
  bool sw;
  int rc = mgr_var_cas(V, &e, &d, &sw, &cur);
  mgr_value_free(&cur);
  return rc;
}
static void chk_var(void) {
  mgr_value out;
  assert_ok(M, mgr_var_get(V, &out));
  assert_int_equal(out.type, MGR_T_TEXT);
  mgr_value_free(&out);
}

static int c_lock(void) {
  bool acq = false;
  int rc = mgr_lock_acquire(LK, 0, &acq);
  if (rc == MGR_OK && acq) rc = mgr_lock_release(LK);
  return rc;
}
static void chk_lock(void) {
  /* A failed acquire may have been granted (its reply lost to ENOMEM): the
   * late grant is given back by the try's ping, or the lock released when
   * its connection closed (the next owner is told: MGR_EOWNERDEAD). */
  bool acq = false;
  int rc = mgr_lock_acquire(LK, 0, &acq);
  if (rc != MGR_EOWNERDEAD) assert_ok(M, rc);
  assert_true(acq);
  assert_ok(M, mgr_lock_release(LK));
}

static int c_batch(void) {
  mgr_batch *b = NULL;
  int rc = mgr_batch_new(M, &b);
  if (rc) return rc;
  mgr_value k = mgr_text("k"), v = mgr_text(LONG_TEXT),
            miss = mgr_text("missing");
  rc = mgr_batch_dict_set(b, D, &k, &v);
  if (!rc) rc = mgr_batch_dict_get(b, D, &k);
  if (!rc) rc = mgr_batch_dict_get(b, D, &miss);
  if (!rc) rc = mgr_batch_list_append(b, L, &v);
  mgr_value res = mgr_nil();
  if (!rc) rc = mgr_batch_run(b, &res);
  /* The batch ran: each slot as the manager answered it. */
  if (!rc &&
      (mgr_batch_status(b, 0) != MGR_OK || mgr_batch_status(b, 2) != MGR_EKEY))
    rc = WRONG;
  mgr_value_free(&res);
  mgr_batch_free(b);
  return rc;
}

static int c_objects(void) {
  mgr_value out;
  int rc = mgr_objects(M, &out);
  mgr_value_free(&out);
  return rc;
}
static int c_stats(void) {
  mgr_value out;
  int rc = mgr_stats(M, &out);
  mgr_value_free(&out);
  return rc;
}
static int c_dump(void) {
  mgr_value out;
  int rc = mgr_dump(M, mgr_proxy_id(D), &out);
  mgr_value_free(&out);
  return rc;
}

static int c_new_release(void) {
  mgr_proxy *p = NULL;
  mgr_value items[1] = {mgr_text(LONG_TEXT)};
  mgr_value init = mgr_array(items, 1);
  int rc = mgr_list_new(M, &init, &p);
  if (rc) return rc;
  return mgr_release(p);
}
static int c_proxy_from_value(void) {
  mgr_proxy *p = NULL;
  mgr_value ref = mgr_proxy_value(D);
  int rc = mgr_proxy_from_value(M, &ref, &p);
  if (rc) return rc;
  return mgr_release(p);
}
static int c_open_unlink(void) {
  mgr_proxy *p = NULL;
  bool created = false;
  int rc = mgr_open(M, "alloc-fail-name", MGR_K_DICT, NULL, true, &p, &created);
  if (rc) {
    /* It may exist (made by a run whose reply was lost): unlink below. */
    mgr_unlink(M, "alloc-fail-name");
    return rc;
  }
  rc = mgr_unlink(M, "alloc-fail-name");
  int rc2 = mgr_release(p);
  return rc ? rc : rc2;
}
static void chk_objects(void) {
  mgr_value out;
  assert_ok(M, mgr_objects(M, &out));
  assert_int_equal(out.type, MGR_T_ARRAY);
  /* Only the objects of the group: a proxy that could not be made left no
   * object behind (created, opened or retained and then not released). */
  assert_int_equal(out.u.a.len, NOBJ);
  mgr_value_free(&out);
  /* No name left over. */
  mgr_proxy *p = NULL;
  assert_rc(M,
            mgr_open(M, "alloc-fail-name", MGR_K_DICT, NULL, false, &p, NULL),
            MGR_ENOTFOUND);
}

static int c_value_copy(void) {
  mgr_value inner[2] = {mgr_text(LONG_TEXT), mgr_bytes("bytes", 5)};
  mgr_value kv[2] = {mgr_text("x"), mgr_array(inner, 2)};
  mgr_value src = mgr_map(kv, 1), dst;
  int rc = mgr_value_copy(&dst, &src);
  mgr_value_free(&dst);
  return rc;
}
static void chk_nothing(void) {}

/* The SyncManager kinds' proxies (mgr/sync.h). */
static void reset_queue(void) {
  mgr_value out;
  while (mgr_queue_get(Q, 0, &out) == MGR_OK)
    mgr_value_free(&out);
  mgr_value v = mgr_text(LONG_TEXT);
  assert_ok(M, mgr_queue_put(Q, &v, 0));
}
static int c_queue_get(void) {
  mgr_value out;
  int rc = mgr_queue_get(Q, 0, &out);
  mgr_value_free(&out);
  return rc;
}
static int c_queue_put(void) {
  mgr_value items[2] = {mgr_text(LONG_TEXT), mgr_int(2)};
  mgr_value v = mgr_array(items, 2);
  return mgr_queue_put(Q, &v, 0);
}
static void chk_queue(void) {
  size_t n = 0;
  assert_ok(M, mgr_queue_qsize(Q, &n));
  assert_true(n <= 2);
}
static void reset_ns(void) {
  mgr_value v = mgr_text(LONG_TEXT);
  assert_ok(M, mgr_ns_set(NS, "a", &v));
  assert_ok(M, mgr_ns_set(NS, "b", &v));
}
static int c_ns_items(void) {
  mgr_value out;
  int rc = mgr_ns_items(NS, &out);
  mgr_value_free(&out);
  return rc;
}
static int c_ns_repr(void) {
  mgr_value out;
  int rc = mgr_ns_repr(NS, &out);
  mgr_value_free(&out);
  return rc;
}
static int c_ns_get(void) {
  mgr_value out;
  int rc = mgr_ns_get(NS, "a", &out);
  mgr_value_free(&out);
  return rc;
}
static void chk_ns(void) {
  mgr_value out;
  assert_ok(M, mgr_ns_get(NS, "b", &out));
  assert_repr(out, "'" LONG_TEXT "'");
}
static int c_array_slice(void) {
  mgr_value out;
  int rc = mgr_array_getslice(AR, MGR_OMIT, MGR_OMIT, MGR_OMIT, &out);
  if (rc == MGR_OK && out.u.a.len != 1000) rc = WRONG;
  mgr_value_free(&out);
  return rc;
}
static void chk_array(void) {
  size_t n = 0;
  assert_ok(M, mgr_array_len(AR, &n));
  assert_int_equal(n, 1000);
}

/* Values larger than the connection's buffers keep between calls: the
 * request buffer, the reply reader and the decode arena all grow (and give
 * the room back after: spec 14.2's retention bound holds for clients too). */
#define BIG 200000
static char *big_text(void) {
  static char *t;
  if (!t) {
    t = __real_malloc(BIG + 1);
    assert_non_null(t);
    memset(t, 'x', BIG);
    t[BIG] = 0;
  }
  return t;
}
static void reset_big(void) {
  mgr_value k = mgr_text("big"), v = mgr_text(big_text());
  assert_ok(M, mgr_dict_set(D, &k, &v));
  mgr_value items[1] = {mgr_int(1)};
  mgr_value one = mgr_array(items, 1);
  assert_ok(M, mgr_list_clear(L));
  assert_ok(M, mgr_list_extend(L, &one));
  assert_ok(M, mgr_list_imul(L, 20000));
}
static int c_big_get(void) {
  mgr_value k = mgr_text("big"), out;
  int rc = mgr_dict_get(D, &k, &out);
  if (rc == MGR_OK && out.u.s.len != BIG) rc = WRONG;
  mgr_value_free(&out);
  return rc;
}
static int c_big_set(void) {
  mgr_value k = mgr_text("big2"), v = mgr_text(big_text());
  return mgr_dict_set(D, &k, &v);
}
static int c_big_list(void) {
  mgr_value out;
  int rc = mgr_list_copy(L, &out);
  if (rc == MGR_OK && out.u.a.len != 20000) rc = WRONG;
  mgr_value_free(&out);
  return rc;
}
static void chk_big(void) {
  size_t n = 0;
  assert_ok(M, mgr_list_len(L, &n));
  assert_int_equal(n, 20000);
  assert_int_equal(c_big_get(), MGR_OK); /* on this thread's connection */
}

static const acase cases[] = {
    {"dict_get", true, reset_dict, c_dict_get, chk_dict},
    {"dict_set", true, reset_dict, c_dict_set, chk_dict},
    {"dict_items", true, reset_dict, c_dict_items, chk_dict},
    {"dict_incr_int", false, reset_dict, c_dict_incr, chk_dict},
    {"list_copy", true, reset_list, c_list_copy, chk_list},
    {"list_getslice", true, reset_list, c_list_getslice, chk_list},
    {"list_pop", true, reset_list, c_list_pop, chk_list},
    {"var_get", true, reset_var, c_var_get, chk_var},
    {"var_cas", true, reset_var, c_var_cas, chk_var},
    {"lock", false, NULL, c_lock, chk_lock},
    {"batch", true, reset_dict, c_batch, chk_dict},
    {"objects", true, NULL, c_objects, chk_objects},
    {"stats", true, NULL, c_stats, chk_objects},
    {"dump", true, NULL, c_dump, chk_objects},
    {"new_release", true, NULL, c_new_release, chk_objects},
    {"proxy_from_value", true, NULL, c_proxy_from_value, chk_objects},
    {"open_unlink", true, NULL, c_open_unlink, chk_objects},
    {"value_copy", true, NULL, c_value_copy, chk_nothing},
    {"queue_get", true, reset_queue, c_queue_get, chk_queue},
    {"queue_put", false, reset_queue, c_queue_put, chk_queue},
    {"ns_items", true, reset_ns, c_ns_items, chk_ns},
    {"ns_repr", true, reset_ns, c_ns_repr, chk_ns},
    {"ns_get", true, reset_ns, c_ns_get, chk_ns},
    {"array_slice", true, NULL, c_array_slice, chk_array},
    {"big_get", true, reset_big, c_big_get, chk_big},
    /* The big value goes from the caller's memory to the socket (a
     * gather, src/client/transport.c): nothing to allocate. */
    {"big_set", false, reset_big, c_big_set, chk_big},
    {"big_list", true, reset_big, c_big_list, chk_big},
};

/* One try of a case on a thread of its own: its connection is opened by an
 * unarmed ping (small buffers, so large requests and replies grow them
 * under injection), the call runs armed, then an unarmed ping on the same
 * connection must work (the failure left it usable). When the thread exits
 * its connection is closed and freed: every block the try allocated must be
 * freed by then, so the live count before and after the thread compares
 * exactly (retained buffers are not mistaken for leaks). */
typedef struct ttry {
  const acase *c;
  long n;
  int open_rc, rc, ping_rc;
  bool hit;
} ttry;

static void *try_main(void *arg) {
  ttry *t = arg;
  t->open_rc = mgr_ping(M);
  if (t->open_rc != MGR_OK) return NULL;
  arm(t->n);
  t->rc = t->c->call();
  t->hit = disarm();
  t->ping_rc = mgr_ping(M);
  return NULL;
}

/* Runs c for N = 1, 2, ... until it needs fewer than N allocations. */
static void run_case(const acase *c) {
  long injections = 0;
  for (long n = 1;; n++) {
    if (n > 10000) fail_msg("%s: still failing at N = %ld", c->name, n);
    if (c->setup) c->setup();
    ttry t = {.c = c, .n = n};
    pthread_t th;
    long before = atomic_load(&live);
    assert_int_equal(pthread_create(&th, NULL, try_main, &t), 0);
    assert_int_equal(pthread_join(th, NULL), 0);
    long after = atomic_load(&live);
    assert_ok(M, t.open_rc);
    if (t.rc == WRONG) fail_msg("%s: N = %ld: a wrong result", c->name, n);
    if (!t.hit) {
      if (t.rc != MGR_OK)
        fail_msg("%s: N = %ld: no failure injected, but %s", c->name, n,
                 mgr_err_name(t.rc));
      if (after != before)
        fail_msg("%s: %ld blocks leaked without injection", c->name,
                 after - before);
      break;
    }
    injections++;
    if (t.rc != MGR_ENOMEM)
      fail_msg("%s: N = %ld: an injected failure returned %s, not MGR_ENOMEM",
               c->name, n, mgr_err_name(t.rc));
    if (t.ping_rc != MGR_OK)
      fail_msg("%s: N = %ld: the connection is unusable after the failure: %s",
               c->name, n, mgr_err_name(t.ping_rc));
    if (after != before)
      fail_msg("%s: N = %ld: %ld blocks leaked", c->name, n, after - before);
    /* The shared state is one the call may leave. */
    c->check();
  }
  print_message("# %s: %ld allocations failed one by one\n", c->name,
                injections);
  /* A call that allocates on the client must have been failed. */
  if (c->allocates && injections == 0)
    fail_msg("%s: no allocation to fail", c->name);
}

static void test_cases(void **state) {
  (void)state;
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
    run_case(&cases[i]);
}

/* mgr_connect: every allocation of connecting (the client, its address,
 * the thread's connection, its buffers, the HELLO) failed in turn. */
static void test_connect(void **state) {
  (void)state;
  const char *addr = mgr_address(M);
  long injections = 0;
  for (long n = 1;; n++) {
    assert_true(n < 10000);
    mgr_client *m = NULL;
    long before = atomic_load(&live);
    arm(n);
    int rc = mgr_connect(addr, NULL, &m);
    bool hit = disarm();
    if (!hit) {
      assert_ok(m, rc);
      assert_ok(m, mgr_ping(m));
      mgr_close(m);
      break;
    }
    injections++;
    if (rc == MGR_OK) {
      /* Connecting survived the failure (a buffer it could do without):
       * the client works. */
      assert_ok(m, mgr_ping(m));
      mgr_close(m);
    } else {
      if (rc != MGR_ENOMEM)
        fail_msg("connect: N = %ld: %s, not MGR_ENOMEM", n, mgr_err_name(rc));
      assert_null(m);
    }
    long after = atomic_load(&live);
    if (after != before)
      fail_msg("connect: N = %ld: %ld blocks leaked", n, after - before);
  }
  assert_true(injections > 0);
}

/* A new thread's first call opens its connection: each allocation of that
 * fails in turn; the thread's next call works. */
typedef struct tcall {
  long n;
  int rc1, rc2;
  bool hit;
} tcall;

static void *thread_main(void *arg) {
  tcall *t = arg;
  arm(t->n);
  t->rc1 = mgr_ping(M);
  t->hit = disarm();
  t->rc2 = mgr_ping(M);
  return NULL;
}

static void test_thread_connection(void **state) {
  (void)state;
  for (long n = 1;; n++) {
    assert_true(n < 10000);
    tcall t = {.n = n};
    pthread_t th;
    long before = atomic_load(&live);
    assert_int_equal(pthread_create(&th, NULL, thread_main, &t), 0);
    assert_int_equal(pthread_join(th, NULL), 0);
    long after = atomic_load(&live);
    assert_int_equal(t.rc2, MGR_OK);
    if (!t.hit) {
      assert_int_equal(t.rc1, MGR_OK);
      break;
    }
    assert_int_equal(t.rc1, MGR_ENOMEM);
    /* The thread's connection is closed when it exits: nothing is kept. */
    if (after != before)
      fail_msg("thread: N = %ld: %ld blocks leaked", n, after - before);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_cases),
      cmocka_unit_test(test_connect),
      cmocka_unit_test(test_thread_connection),
  };
  return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
