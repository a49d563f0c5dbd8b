/* mgr tests — processes and threads: proxies used after a plain fork(), a
 * dead server (ECLOSED, never a hang), a timed-out call that must not desync
 * the next one, lock owner death, per-thread lock ownership. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <pthread.h>
#include <signal.h>

#include "client_util.h"

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

/* The child uses the proxies it inherited (its first call makes its own
 * connection and session and re-takes their references), creates an object
 * of its own and stores it in a shared list, then exits. */
static void test_fork_proxies(void **state) {
  (void)state;
  mgr_proxy *d = NULL, *l = NULL;
  assert_ok(M, mgr_dict_new(M, NULL, &d));
  assert_ok(M, mgr_list_new(M, NULL, &l));
  mgr_value k = T("k"), one = I(1);
  assert_ok(M, mgr_dict_set(d, &k, &one));
  pid_t pid = fork_flushed();
  if (pid == 0) {
    int64_t n = 0;
    CU_CHECK(1, mgr_dict_incr_int(d, &k, 41, false, &n) == MGR_OK && n == 42);
    mgr_proxy *mine = NULL;
    mgr_value pairs[2] = {T("from"), T("child")};
    mgr_value init = mgr_map(pairs, 1);
    CU_CHECK(2, mgr_dict_new(M, &init, &mine) == MGR_OK);
    mgr_value ref = mgr_proxy_value(mine);
    CU_CHECK(3, mgr_list_append(l, &ref) == MGR_OK);
    CU_CHECK(4, mgr_release(mine) == MGR_OK);
    /* Dropping the inherited proxy drops the child's reference only. */
    CU_CHECK(5, mgr_release(d) == MGR_OK);
    /* A connection of its own, too. */
    mgr_client *own = NULL;
    CU_CHECK(6, mgr_connect(mgr_address(M), NULL, &own) == MGR_OK);
    CU_CHECK(7, mgr_ping(own) == MGR_OK);
    mgr_close(own);
    _exit(0);
  }
  assert_child_ok(pid);
  mgr_value v;
  assert_ok(M, mgr_dict_get(d, &k, &v));
  assert_int_equal(v.u.i, 42);
  assert_ok(M, mgr_list_get(l, 0, &v));
  assert_int_equal(v.type, MGR_T_REF);
  mgr_proxy *child_dict = NULL;
  assert_ok(M, mgr_proxy_from_value(M, &v, &child_dict));
  mgr_value from = T("from");
  assert_ok(M, mgr_dict_get(child_dict, &from, &v));
  assert_repr(v, "'child'");
  assert_ok(M, mgr_release(child_dict));
  assert_ok(M, mgr_release(d));
  assert_ok(M, mgr_release(l));
}

/* An inherited proxy whose object died before the child's first call: the
 * other inherited proxies still work; that one answers NOTFOUND. */
static void test_fork_retain_partial(void **state) {
  (void)state;
  mgr_proxy *gone = NULL, *kept = NULL;
  assert_ok(M, mgr_dict_new(M, NULL, &gone));
  assert_ok(M, mgr_var_new(M, NULL, &kept));
  uint64_t gone_id = mgr_proxy_id(gone);
  cu_pipe go = cu_pipe_new();
  pid_t pid = fork_flushed();
  if (pid == 0) {
    close(go.w);
    CU_CHECK(1, cu_waitsig(go));
    mgr_value seven = I(7);
    CU_CHECK(2, mgr_var_set(kept, &seven) == MGR_OK);
    size_t n;
    CU_CHECK(3, mgr_dict_len(gone, &n) == MGR_ENOTFOUND);
    _exit(0);
  }
  close(go.r);
  mgr_proxy *gone_ptr = gone;
  assert_ok(M, mgr_release(gone_ptr));
  assert_int_equal(cu_has_object(M, gone_id), 0);
  cu_signal(go);
  close(go.w);
  assert_child_ok(pid);
  mgr_value v;
  assert_ok(M, mgr_var_get(kept, &v));
  assert_int_equal(v.u.i, 7);
  assert_ok(M, mgr_release(kept));
}

/* A child that drops an inherited proxy before any call of its own (it has
 * no connection, no session yet) sends nothing: the parent's reference is
 * untouched and the object lives on. */
static void test_fork_release_unused(void **state) {
  (void)state;
  mgr_proxy *d = NULL;
  assert_ok(M, mgr_dict_new(M, NULL, &d));
  uint64_t id = mgr_proxy_id(d);
  pid_t pid = fork_flushed();
  if (pid == 0) {
    CU_CHECK(1, mgr_release(d) == MGR_OK);
    _exit(0);
  }
  assert_child_ok(pid);
  assert_int_equal(cu_has_object(M, id), 1);
  size_t n = 9;
  assert_ok(M, mgr_dict_len(d, &n));
  assert_int_equal(n, 0);
  assert_ok(M, mgr_release(d));
  assert_int_equal(cu_has_object(M, id), 0);
}

/* The server is SIGKILLed while a child waits in a lock acquire: the child
 * gets ECLOSED, and so does the parent's next call. */
static void test_server_killed(void **state) {
  (void)state;
  mgr_client *m = cu_start();
  mgr_proxy *lk = NULL;
  assert_ok(m, mgr_lock_new(m, &lk));
  bool acq = false;
  assert_ok(m, mgr_lock_acquire(lk, -1, &acq));
  assert_true(acq);
  cu_pipe ready = cu_pipe_new();
  pid_t pid = fork_flushed();
  if (pid == 0) {
    close(ready.r);
    CU_CHECK(1, mgr_ping(m) == MGR_OK); /* connected, session made */
    cu_signal(ready);
    bool got = false;
    int rc = mgr_lock_acquire(lk, -1, &got);
    if (rc != MGR_ECLOSED)
      fprintf(stderr, "child: acquire gave %s\n", mgr_err_name(rc));
    CU_CHECK(2, rc == MGR_ECLOSED && !got);
    CU_CHECK(3, strlen(mgr_errmsg(m)) > 0);
    CU_CHECK(4, mgr_ping(m) == MGR_ECLOSED); /* stays closed, fast */
    _exit(0);
  }
  close(ready.w);
  assert_true(cu_waitsig(ready));
  close(ready.r);
  assert_int_equal(kill((pid_t)mgr_server_pid(m), SIGKILL), 0);
  assert_child_ok(pid);
  assert_rc(m, mgr_ping(m), MGR_ECLOSED);
  assert_rc(m, mgr_lock_release(lk), MGR_ECLOSED);
  mgr_release(lk); /* ECLOSED too; frees the proxy */
  assert_rc(m, mgr_shutdown(m), MGR_ECLOSED);
}

/* A call that times out while the server holds its reply does not desync
 * the next calls; a late grant is given back. The server holds its replies
 * by being stopped (SIGSTOP; it is this process's child): a per-call timeout
 * no longer cuts a parked wait short (mgr/sync.h, "Waiting"), so only a
 * server that stops answering makes a call time out. The acquire is of a
 * free lock, so the server grants it once continued. */
static pid_t stopped;

static int cont_teardown(void **state) {
  (void)state;
  if (stopped > 0) kill(stopped, SIGCONT);
  stopped = 0;
  return 0;
}

static void test_timeout_no_desync(void **state) {
  (void)state;
  if (getenv("MGR_TEST_ADDRESS")) skip(); /* not our server to stop */
  mgr_proxy *lk = NULL, *d = NULL;
  assert_ok(M, mgr_lock_new(M, &lk));
  mgr_value pairs[2] = {T("k"), T("v")};
  mgr_value init = mgr_map(pairs, 1);
  assert_ok(M, mgr_dict_new(M, &init, &d));
  mgr_client *b = NULL;
  assert_ok(NULL, mgr_connect(mgr_address(M), NULL, &b));
  mgr_value ref = mgr_proxy_value(lk);
  mgr_proxy *lkb = NULL, *db = NULL;
  assert_ok(b, mgr_proxy_from_value(b, &ref, &lkb));
  ref = mgr_proxy_value(d);
  assert_ok(b, mgr_proxy_from_value(b, &ref, &db));

  stopped = (pid_t)mgr_server_pid(M);
  assert_int_equal(kill(stopped, SIGSTOP), 0);
  int st = 0;
  assert_int_equal(waitpid(stopped, &st, WUNTRACED), stopped);
  assert_true(WIFSTOPPED(st));
  mgr_set_timeout(b, 100);
  bool acq = true;
  assert_rc(b, mgr_lock_acquire(lkb, 10, &acq), MGR_ETIMEDOUT);
  assert_false(acq);
  mgr_value k = T("k"), v;
  assert_rc(b, mgr_dict_get(db, &k, &v), MGR_ETIMEDOUT);
  mgr_set_timeout(b, -1);
  kill(stopped, SIGCONT);
  stopped = 0;
  /* The late replies (the grant, the get's) are not this call's. */
  size_t n = 0;
  assert_ok(b, mgr_dict_len(db, &n));
  assert_int_equal(n, 1);
  assert_ok(b, mgr_dict_get(db, &k, &v));
  assert_repr(v, "'v'");
  /* b's len read the late grant and sent its give-back, which went before
   * b's get on the same connection: the server has run it by now. */
  bool locked = true;
  assert_ok(M, mgr_lock_locked(lk, &locked));
  assert_false(locked);
  assert_ok(b, mgr_release(lkb));
  assert_ok(b, mgr_release(db));
  mgr_close(b);
  assert_ok(M, mgr_release(lk));
  assert_ok(M, mgr_release(d));
}

/* The late reply of a lock try that timed out locally (the manager stopped)
 * says "not acquired" (another client holds the lock): the client's next
 * call reads it and gives nothing back, so the holder keeps its lock. */
static void test_late_refusal_not_given_back(void **state) {
  (void)state;
  if (getenv("MGR_TEST_ADDRESS")) skip(); /* not our server to stop */
  mgr_proxy *lk = NULL;
  assert_ok(M, mgr_lock_new(M, &lk));
  mgr_client *b = NULL;
  assert_ok(NULL, mgr_connect(mgr_address(M), NULL, &b));
  mgr_value ref = mgr_proxy_value(lk);
  mgr_proxy *lkb = NULL;
  assert_ok(b, mgr_proxy_from_value(b, &ref, &lkb));
  bool acq = false;
  assert_ok(M, mgr_lock_acquire(lk, -1, &acq)); /* M holds it */
  assert_true(acq);
  stopped = (pid_t)mgr_server_pid(M);
  assert_int_equal(kill(stopped, SIGSTOP), 0);
  int st = 0;
  assert_int_equal(waitpid(stopped, &st, WUNTRACED), stopped);
  assert_true(WIFSTOPPED(st));
  mgr_set_timeout(b, 50);
  acq = true;
  assert_rc(b, mgr_lock_acquire(lkb, 0, &acq), MGR_ETIMEDOUT);
  mgr_set_timeout(b, -1);
  kill(stopped, SIGCONT);
  stopped = 0;
  assert_ok(b, mgr_ping(b)); /* reads the late "not acquired" */
  assert_ok(b, mgr_ping(b));
  bool locked = false;
  assert_ok(M, mgr_lock_locked(lk, &locked));
  assert_true(locked);
  assert_ok(M, mgr_lock_release(lk)); /* still M's to release */
  assert_ok(b, mgr_release(lkb));
  mgr_close(b);
  assert_ok(M, mgr_release(lk));
}

/* A child acquires a lock and dies holding it: the parent's acquire gets it,
 * with MGR_EOWNERDEAD, once. */
static void test_owner_death(void **state) {
  (void)state;
  mgr_proxy *lk = NULL;
  assert_ok(M, mgr_lock_new(M, &lk));
  pid_t pid = fork_flushed();
  if (pid == 0) {
    bool got = false;
    CU_CHECK(1, mgr_lock_acquire(lk, -1, &got) == MGR_OK && got);
    _exit(0); /* dies holding it */
  }
  assert_child_ok(pid);
  bool acq = false;
  assert_rc(M, mgr_lock_acquire(lk, 10000, &acq), MGR_EOWNERDEAD);
  assert_true(acq);
  assert_ok(M, mgr_lock_release(lk));
  assert_ok(M, mgr_lock_acquire(lk, 10000, &acq));
  assert_true(acq);
  assert_ok(M, mgr_lock_release(lk));
  assert_ok(M, mgr_release(lk));
}

/* Threads: each has its own connection, so each owns the locks it takes. */
struct tctx {
  mgr_proxy *lk, *d;
  int errors;
};

#define TITER 200

static void *thread_main(void *arg) {
  struct tctx *t = arg;
  mgr_value k = T("n");
  for (int i = 0; i < TITER; i++) {
    bool acq = false;
    if (mgr_lock_acquire(t->lk, -1, &acq) != MGR_OK || !acq) {
      __atomic_add_fetch(&t->errors, 1, __ATOMIC_RELAXED);
      break;
    }
    mgr_value v;
    int rc = mgr_dict_get(t->d, &k, &v);
    if (rc == MGR_OK) {
      mgr_value nv = I(v.u.i + 1);
      rc = mgr_dict_set(t->d, &k, &nv);
    }
    if (rc != MGR_OK || mgr_lock_release(t->lk) != MGR_OK)
      __atomic_add_fetch(&t->errors, 1, __ATOMIC_RELAXED);
  }
  return NULL;
}

static void test_threads(void **state) {
  (void)state;
  struct tctx t = {NULL, NULL, 0};
  assert_ok(M, mgr_lock_new(M, &t.lk));
  mgr_value pairs[2] = {T("n"), I(0)};
  mgr_value init = mgr_map(pairs, 1);
  assert_ok(M, mgr_dict_new(M, &init, &t.d));
  pthread_t th[2];
  for (int i = 0; i < 2; i++)
    assert_int_equal(pthread_create(&th[i], NULL, thread_main, &t), 0);
  for (int i = 0; i < 2; i++)
    pthread_join(th[i], NULL);
  assert_int_equal(t.errors, 0);
  mgr_value k = T("n"), v;
  assert_ok(M, mgr_dict_get(t.d, &k, &v));
  assert_int_equal(v.u.i, 2 * TITER);
  assert_ok(M, mgr_release(t.lk));
  assert_ok(M, mgr_release(t.d));
}

/* An RLock taken by one thread is not the other thread's. */
struct rctx {
  mgr_proxy *rl;
  int try_rc, release_rc;
  bool got;
};

static void *rlock_other(void *arg) {
  struct rctx *r = arg;
  r->try_rc = mgr_lock_acquire(r->rl, 0, &r->got);
  r->release_rc = mgr_lock_release(r->rl);
  return NULL;
}

static void test_thread_ownership(void **state) {
  (void)state;
  struct rctx r = {NULL, 0, 0, true};
  assert_ok(M, mgr_rlock_new(M, &r.rl));
  bool acq = false;
  assert_ok(M, mgr_lock_acquire(r.rl, -1, &acq));
  assert_true(acq);
  pthread_t th;
  assert_int_equal(pthread_create(&th, NULL, rlock_other, &r), 0);
  pthread_join(th, NULL);
  assert_int_equal(r.try_rc, MGR_OK);
  assert_false(r.got);
  assert_int_equal(r.release_rc, MGR_ESTATE);
  assert_ok(M, mgr_lock_release(r.rl));
  assert_ok(M, mgr_release(r.rl));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_fork_proxies),
      cmocka_unit_test(test_fork_retain_partial),
      cmocka_unit_test(test_fork_release_unused),
      cmocka_unit_test(test_server_killed),
      cmocka_unit_test_teardown(test_timeout_no_desync, cont_teardown),
      cmocka_unit_test_teardown(test_late_refusal_not_given_back,
                                cont_teardown),
      cmocka_unit_test(test_owner_death),
      cmocka_unit_test(test_threads),
      cmocka_unit_test(test_thread_ownership),
  };
  return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
