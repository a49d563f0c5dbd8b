/* mgr tests — the client's thread safety (include/mgr/client.h: one
 * connection per thread, the shared state under one mutex, atfork handlers,
 * per-thread error messages), meant to run under ThreadSanitizer too
 * (tests/run's TSan stage):
 *  - test_stress: NT threads hammer shared proxies of one client (dict, list,
 *    var, lock, rlock) with a mix of ops for a bounded count — atomic
 *    increments, get/set, appends, lock-protected read-modify-writes,
 *    batches, proxies made, retained and released concurrently, errors whose
 *    messages stay each thread's own, mgr_set_timeout from another thread,
 *    mgr_server_pid while others connect — and every total is checked
 *    exactly;
 *  - the per-call timeout across threads (mgr/sync.h, "Waiting"), against a
 *    manager stopped by SIGSTOP: set by one thread, it bounds another's next
 *    call that answers at once (test_timeout_cross_thread; the late replies
 *    are discarded); a waiting call times out only after its own wait plus
 *    it, and the late grant is given back (test_timeout_orphan_grant); a
 *    wait without limit is not cut short by it (test_timeout_unlimited_wait);
 *  - test_thread_exit: waves of threads that exit holding a connection (and a
 *    lock on it: the key destructor must close it, so the lock's owner dies),
 *    then new threads; a client whose session-holding (primary) connection
 *    belongs to a thread that exited;
 *  - test_fork_under_threads: fork() (from the main thread and from another
 *    one) while NT threads are inside calls; each child uses the inherited
 *    proxies over its own connection and session, and the parent's threads
 *    carry on (they run until told to stop; the totals are checked exactly
 *    against their counts and the children's).
 * Threads never use cmocka's asserts (they would longjmp onto the main
 * thread's stack): each records its failures, the main thread asserts after
 * the join. Synchronisation is barriers, joins, pipes and the manager's own
 * state (DUMP) only, never sleeps; a hang is ended by the alarm() watchdog,
 * which first continues a stopped manager. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <time.h>

#include "client_util.h"

#define NT 8            /* worker threads */
#define ITER 250        /* iterations of each stress worker */
#define WAVES 4         /* thread waves of test_thread_exit */
#define ROUNDS 6        /* forks of test_fork_under_threads */
#define CHILD_MARK 1000 /* a child appends CHILD_MARK + its round */

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

/* --- a thread's failures --------------------------------------------------*/

typedef struct tres {
  int fails;
  char first[512];
} tres;

static void tfail(tres *r, mgr_client *m, int line, const char *what, int rc,
                  int want) {
  if (r->fails++ == 0)
    snprintf(r->first, sizeof r->first, "line %d: %s: got %s, want %s (%s)",
             line, what, mgr_err_name(rc), mgr_err_name(want),
             m ? mgr_errmsg(m) : "");
}

/* Records a failed condition; returns it. */
static bool tcheck(tres *r, int line, const char *what, bool cond) {
  if (!cond) tfail(r, NULL, line, what, MGR_OK, MGR_OK);
  return cond;
}

static bool trc(tres *r, mgr_client *m, int line, const char *what, int rc,
                int want) {
  if (rc != want) tfail(r, m, line, what, rc, want);
  return rc == want;
}

#define TCHECK(r, cond) tcheck((r), __LINE__, #cond, (cond))
#define TRC(r, m, call, want) trc((r), (m), __LINE__, #call, (call), (want))
#define TOK(r, m, call) TRC(r, m, call, MGR_OK)

static void assert_clean(const tres *r, const char *who, int i) {
  if (r->fails)
    fail_msg("%s %d: %d failure(s), the first: %s", who, i, r->fails, r->first);
}

/* --- helpers (main thread) -------------------------------------------------*/

static int64_t dict_int(mgr_proxy *d, const char *key) {
  mgr_value k = T(key), v;
  assert_ok(M, mgr_dict_get(d, &k, &v));
  assert_int_equal(v.type, MGR_T_INT);
  return v.u.i;
}

/* Lock-protected d[key] += 1 as two round trips (a lost update shows when
 * the lock does not exclude). An rlock is taken twice (its recursion). */
static void guarded_incr(tres *r, mgr_client *m, mgr_proxy *lk, bool recursive,
                         mgr_proxy *d, const char *key) {
  bool acq = false;
  if (!TOK(r, m, mgr_lock_acquire(lk, -1, &acq)) || !TCHECK(r, acq)) return;
  bool inner = false;
  if (recursive &&
      (!TOK(r, m, mgr_lock_acquire(lk, 0, &inner)) || !TCHECK(r, inner)))
    inner = false;
  mgr_value k = T(key), v;
  if (TOK(r, m, mgr_dict_get(d, &k, &v)) && TCHECK(r, v.type == MGR_T_INT)) {
    mgr_value nv = I(v.u.i + 1);
    TOK(r, m, mgr_dict_set(d, &k, &nv));
  }
  if (inner) TOK(r, m, mgr_lock_release(lk));
  TOK(r, m, mgr_lock_release(lk));
  if (recursive) /* not held by this thread any more, whoever holds it */
    TRC(r, m, mgr_lock_release(lk), MGR_ESTATE);
}

/* ========================================================================= */
/* test_stress                                                                */

typedef struct stress {
  mgr_proxy *d, *l, *v, *lk, *rl;
  mgr_value named; /* a named dict's ref: no proxy of main's holds it */
  int64_t server_pid;
  const char *address;
  pthread_barrier_t start; /* the workers and the timeout thread */
  pthread_barrier_t mid;   /* the workers */
} stress;

typedef struct sworker {
  stress *s;
  int idx;
  pthread_t th;
  tres r;
  uint64_t created[ITER]; /* ids of the vars this thread made and dropped */
} sworker;

static void *stress_main(void *arg) {
  sworker *w = arg;
  stress *s = w->s;
  tres *r = &w->r;
  int i = w->idx;
  /* The keys; the messages name them in quotes (KeyError: 'nokey-3'). */
  char mine[32], nokey[32], missing[32], nokey_q[40], missing_q[40];
  snprintf(mine, sizeof mine, "t%d", i);
  snprintf(nokey, sizeof nokey, "nokey-%d", i);
  snprintf(missing, sizeof missing, "missing-%d", i);
  snprintf(nokey_q, sizeof nokey_q, "'%s'", nokey);
  snprintf(missing_q, sizeof missing_q, "'%s'", missing);
  mgr_value kmine = T(mine), knokey = T(nokey), khits = T("hits"),
            kbatched = T("batched"), kn = T("n");
  mgr_batch *b = NULL;
  TOK(r, M, mgr_batch_new(M, &b));
  pthread_barrier_wait(&s->start); /* all start together */
  /* Read-only client state, while the others open their connections. */
  TCHECK(r, mgr_server_pid(M) == s->server_pid);
  TCHECK(r, strcmp(mgr_address(M), s->address) == 0);
  for (int j = 0; j < ITER; j++) {
    int64_t n = 0;
    /* Atomic increments. */
    if (TOK(r, M, mgr_dict_incr_int(s->d, &khits, 1, true, &n)))
      TCHECK(r, n >= 1 && n <= NT * ITER);
    if (TOK(r, M, mgr_var_incr_int(s->v, 1, &n)))
      TCHECK(r, n >= 1 && n <= 2 * NT * ITER);
    /* get/set of this thread's own key: each reply is its own call's. */
    mgr_value vj = I(j), got;
    TOK(r, M, mgr_dict_set(s->d, &kmine, &vj));
    if (TOK(r, M, mgr_dict_get(s->d, &kmine, &got)))
      TCHECK(r, got.type == MGR_T_INT && got.u.i == j);
    /* Appends: [thread, iteration]. */
    mgr_value pair[2] = {I(i), I(j)};
    mgr_value arr = mgr_array(pair, 2);
    TOK(r, M, mgr_list_append(s->l, &arr));
    /* Read-modify-writes under the lock and (recursively) the rlock. */
    guarded_incr(r, M, s->lk, false, s->d, "guarded");
    guarded_incr(r, M, s->rl, true, s->d, "rguarded");
    /* A batch: an increment of each kind, a read of our key, a KeyError. */
    mgr_batch_clear(b);
    TOK(r, M, mgr_batch_dict_incr_int(b, s->d, &kbatched, 1, true));
    TOK(r, M, mgr_batch_var_incr_int(b, s->v, 1));
    TOK(r, M, mgr_batch_dict_get(b, s->d, &kmine));
    TOK(r, M, mgr_batch_dict_get(b, s->d, &knokey));
    mgr_value res = mgr_nil();
    if (TOK(r, M, mgr_batch_run(b, &res)) &&
        TCHECK(r, res.type == MGR_T_ARRAY && res.u.a.len == 4)) {
      TRC(r, M, mgr_batch_status(b, 0), MGR_OK);
      TRC(r, M, mgr_batch_status(b, 1), MGR_OK);
      TRC(r, M, mgr_batch_status(b, 2), MGR_OK);
      TRC(r, M, mgr_batch_status(b, 3), MGR_EKEY);
      TCHECK(r,
             res.u.a.items[2].type == MGR_T_INT && res.u.a.items[2].u.i == j);
      TCHECK(r, strstr(mgr_batch_errmsg(b, 3), nokey_q) != NULL);
    }
    mgr_value_free(&res);
    /* A named object's proxies made and dropped by every thread at once:
     * this process's count goes 0 -> 1 (RETAIN) and 1 -> 0 (RELEASE). */
    mgr_proxy *p = NULL, *p2 = NULL;
    if (TOK(r, M, mgr_proxy_from_value(M, &s->named, &p))) {
      if (j % 3 == 0) TOK(r, M, mgr_proxy_from_value(M, &s->named, &p2));
      TOK(r, M, mgr_dict_incr_int(p2 ? p2 : p, &kn, 1, true, NULL));
      TOK(r, M, mgr_release(p));
      TOK(r, M, mgr_release(p2));
      p2 = NULL;
    }
    /* An object of our own: made, a second proxy, both dropped. */
    mgr_proxy *q = NULL, *q2 = NULL;
    mgr_value init = I(i * 100000 + j);
    w->created[j] = 0;
    if (TOK(r, M, mgr_var_new(M, &init, &q))) {
      w->created[j] = mgr_proxy_id(q);
      mgr_value ref = mgr_proxy_value(q);
      if (TOK(r, M, mgr_proxy_from_value(M, &ref, &q2))) {
        TOK(r, M, mgr_release(q));
        if (TOK(r, M, mgr_var_get(q2, &got)))
          TCHECK(r, got.type == MGR_T_INT && got.u.i == i * 100000 + j);
        TOK(r, M, mgr_release(q2));
      } else {
        TOK(r, M, mgr_release(q));
      }
    }
    TCHECK(r, mgr_server_pid(M) == s->server_pid);
    /* Half way: every thread makes its own KeyError, then (once all have)
     * reads its message: its own key, not another thread's. */
    if (j == ITER / 2) {
      mgr_value km = T(missing);
      TRC(r, M, mgr_dict_get(s->d, &km, &got), MGR_EKEY);
      pthread_barrier_wait(&s->mid);
      TCHECK(r, strstr(mgr_errmsg(M), missing_q) != NULL);
      pthread_barrier_wait(&s->mid);
    }
  }
  mgr_batch_free(b);
  return NULL;
}

/* Another thread flips the timeout (both values far beyond any call) while
 * the workers run, and pings: its calls never fail, so its error message
 * stays empty whatever the workers' errors. */
typedef struct twiddler {
  pthread_t th;
  pthread_barrier_t *bar;
  tres r;
} twiddler;

static void *twiddle_main(void *arg) {
  twiddler *t = arg;
  pthread_barrier_wait(t->bar);
  for (int k = 0; k < 4 * ITER; k++) {
    mgr_set_timeout(M, k % 2 ? 60000 : -1);
    TOK(&t->r, M, mgr_ping(M));
    TCHECK(&t->r, strcmp(mgr_errmsg(M), "") == 0);
  }
  mgr_set_timeout(M, -1);
  return NULL;
}

/* Checks spec R-2.4-a (spec/protocol.md; tests/reqs/check_reqs.py). */
static void test_stress(void **state) {
  (void)state;
  stress s;
  memset(&s, 0, sizeof s);
  s.server_pid = mgr_server_pid(M);
  s.address = mgr_address(M);
  mgr_value init[] = {T("hits"),     I(0), T("guarded"), I(0),
                      T("rguarded"), I(0), T("batched"), I(0)};
  mgr_value dinit = mgr_map(init, 4), zero = I(0);
  assert_ok(M, mgr_dict_new(M, &dinit, &s.d));
  assert_ok(M, mgr_list_new(M, NULL, &s.l));
  assert_ok(M, mgr_var_new(M, &zero, &s.v));
  assert_ok(M, mgr_lock_new(M, &s.lk));
  assert_ok(M, mgr_rlock_new(M, &s.rl));
  mgr_proxy *named = NULL;
  bool created = false;
  assert_ok(M, mgr_open(M, "test_threads.stress", MGR_K_DICT, NULL, true,
                        &named, &created));
  assert_true(created);
  s.named = mgr_proxy_value(named);
  uint64_t named_id = mgr_proxy_id(named);
  assert_ok(M, mgr_release(named)); /* the name keeps it */
  assert_int_equal(cu_has_object(M, named_id), 1);

  /* The main thread's own error, which no worker's may overwrite. */
  mgr_value kmain = T("main-missing"), got;
  assert_rc(M, mgr_dict_get(s.d, &kmain, &got), MGR_EKEY);
  assert_non_null(strstr(mgr_errmsg(M), "main-missing"));

  assert_int_equal(pthread_barrier_init(&s.start, NULL, NT + 1), 0);
  assert_int_equal(pthread_barrier_init(&s.mid, NULL, NT), 0);
  static sworker w[NT];
  twiddler tw;
  memset(&tw, 0, sizeof tw);
  tw.bar = &s.start;
  for (int i = 0; i < NT; i++) {
    memset(&w[i], 0, sizeof w[i]);
    w[i].s = &s;
    w[i].idx = i;
    assert_int_equal(pthread_create(&w[i].th, NULL, stress_main, &w[i]), 0);
  }
  assert_int_equal(pthread_create(&tw.th, NULL, twiddle_main, &tw), 0);
  for (int i = 0; i < NT; i++)
    pthread_join(w[i].th, NULL);
  pthread_join(tw.th, NULL);
  pthread_barrier_destroy(&s.start);
  pthread_barrier_destroy(&s.mid);
  for (int i = 0; i < NT; i++)
    assert_clean(&w[i].r, "worker", i);
  assert_clean(&tw.r, "timeout thread", 0);

  assert_non_null(strstr(mgr_errmsg(M), "main-missing"));
  assert_int_equal(dict_int(s.d, "hits"), NT * ITER);
  assert_int_equal(dict_int(s.d, "guarded"), NT * ITER);
  assert_int_equal(dict_int(s.d, "rguarded"), NT * ITER);
  assert_int_equal(dict_int(s.d, "batched"), NT * ITER);
  for (int i = 0; i < NT; i++) {
    char k[32];
    snprintf(k, sizeof k, "t%d", i);
    assert_int_equal(dict_int(s.d, k), ITER - 1);
  }
  mgr_value v;
  assert_ok(M, mgr_var_get(s.v, &v));
  assert_int_equal(v.type, MGR_T_INT);
  assert_int_equal(v.u.i, 2 * NT * ITER);

  /* Every append once, each thread's in its order. */
  size_t len = 0;
  assert_ok(M, mgr_list_len(s.l, &len));
  assert_int_equal(len, NT * ITER);
  mgr_value all;
  assert_ok(M, mgr_list_copy(s.l, &all));
  int64_t next[NT] = {0};
  for (size_t k = 0; k < all.u.a.len; k++) {
    const mgr_value *e = &all.u.a.items[k];
    assert_int_equal(e->type, MGR_T_ARRAY);
    assert_int_equal(e->u.a.len, 2);
    int64_t ti = e->u.a.items[0].u.i, tj = e->u.a.items[1].u.i;
    assert_true(ti >= 0 && ti < NT);
    assert_int_equal(tj, next[ti]);
    next[ti]++;
  }
  mgr_value_free(&all);
  for (int i = 0; i < NT; i++)
    assert_int_equal(next[i], ITER);

  /* The named object: every increment, and no reference left behind — once
   * its name goes, nothing of this process keeps it. */
  mgr_proxy *pn = NULL;
  assert_ok(M, mgr_proxy_from_value(M, &s.named, &pn));
  assert_int_equal(dict_int(pn, "n"), NT * ITER);
  assert_ok(M, mgr_release(pn));
  assert_ok(M, mgr_unlink(M, "test_threads.stress"));
  assert_int_equal(cu_has_object(M, named_id), 0);

  /* Every var the workers made is gone (each RELEASE balanced a CREATE). */
  mgr_value objs;
  assert_ok(M, mgr_objects(M, &objs));
  size_t live = 0, made = 0;
  for (int i = 0; i < NT; i++)
    for (int j = 0; j < ITER; j++) {
      if (!w[i].created[j]) continue;
      made++;
      for (size_t k = 0; k < objs.u.a.len; k++)
        if ((uint64_t)objs.u.a.items[k].u.a.items[0].u.i == w[i].created[j])
          live++;
    }
  mgr_value_free(&objs);
  assert_int_equal(made, NT * ITER);
  assert_int_equal(live, 0);

  assert_ok(M, mgr_release(s.d));
  assert_ok(M, mgr_release(s.l));
  assert_ok(M, mgr_release(s.v));
  assert_ok(M, mgr_release(s.lk));
  assert_ok(M, mgr_release(s.rl));
}

/* ========================================================================= */
/* The per-call timeout across threads (mgr/sync.h, "Waiting"): set by any
 * thread, it bounds every thread's next call that answers at once; a waiting
 * call gets it on top of its own wait, and a wait without limit is never cut
 * short by it. A manager that stops answering is made by SIGSTOP: the
 * manager cu_start() started is this process's child. */

/* The manager while it is stopped, else 0. Whatever ends a test — its end,
 * a failed assertion (the teardown), the watchdog (its handler) — continues
 * it: no test leaves a stopped process behind. */
static atomic_int stopped_pid;

static void manager_cont(void) {
  int pid = atomic_exchange(&stopped_pid, 0);
  if (pid > 0) kill(pid, SIGCONT);
}

/* Returns once the manager is stopped for real (waitpid tells), so that no
 * request sent afterwards can be answered before manager_cont(). */
static void manager_stop(void) {
  pid_t pid = (pid_t)mgr_server_pid(M);
  assert_true(pid > 0);
  atomic_store(&stopped_pid, (int)pid);
  assert_int_equal(kill(pid, SIGSTOP), 0);
  int st = 0;
  pid_t r;
  while ((r = waitpid(pid, &st, WUNTRACED)) < 0 && errno == EINTR) {
  }
  assert_int_equal(r, pid);
  assert_true(WIFSTOPPED(st));
}

static void watchdog(int sig) {
  int pid = atomic_load(&stopped_pid);
  if (pid > 0) kill(pid, SIGCONT);
  signal(sig, SIG_DFL);
  raise(sig);
}

static int timeout_teardown(void **state) {
  (void)state;
  manager_cont();
  mgr_set_timeout(M, -1);
  return 0;
}

/* Stopping a manager that tests/extra shares (MGR_TEST_ADDRESS) is not ours
 * to do. */
static void need_own_manager(void) {
  if (getenv("MGR_TEST_ADDRESS")) skip();
}

static void *set_timeout_main(void *arg) {
  mgr_set_timeout(M, *(int64_t *)arg);
  return NULL;
}

static void set_timeout_elsewhere(int64_t ms) {
  pthread_t th;
  assert_int_equal(pthread_create(&th, NULL, set_timeout_main, &ms), 0);
  pthread_join(th, NULL);
}

static int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The lock's parked waiters, as the manager shows them (DUMP). */
static int64_t lock_waiters(mgr_client *m, uint64_t id) {
  mgr_value dump, kstate = T("state"), kwaiters = T("waiters");
  assert_ok(m, mgr_dump(m, id, &dump));
  const mgr_value *w = mgr_map_get(mgr_map_get(&dump, &kstate), &kwaiters);
  assert_non_null(w);
  assert_int_equal(w->type, MGR_T_INT);
  int64_t n = w->u.i;
  mgr_value_free(&dump);
  return n;
}

#define TMO 100 /* the per-call timeout of the stopped-manager tests, ms */

/* A timeout set by another thread governs this thread's next call that
 * answers at once: with the manager stopped, a dict get and a ping each
 * fail after it. Continued, the manager answers them late; the connection
 * works on, and each later call gets its own reply (the late ones are
 * discarded: the get of "b" is not answered with "a"'s 1). */
static void test_timeout_cross_thread(void **state) {
  (void)state;
  need_own_manager();
  mgr_value init[] = {T("a"), I(1), T("b"), I(2)};
  mgr_value dinit = mgr_map(init, 2), ka = T("a"), kb = T("b"), v;
  mgr_proxy *d = NULL;
  assert_ok(M, mgr_dict_new(M, &dinit, &d));
  set_timeout_elsewhere(TMO);
  manager_stop();
  int64_t t0 = now_ms();
  assert_rc(M, mgr_dict_get(d, &ka, &v), MGR_ETIMEDOUT);
  int64_t t1 = now_ms();
  assert_rc(M, mgr_ping(M), MGR_ETIMEDOUT);
  int64_t t2 = now_ms();
  assert_true(t1 - t0 >= TMO && t2 - t1 >= TMO);
  /* About the timeout: not some other wait's. */
  assert_true(t1 - t0 < TMO + 10000 && t2 - t1 < TMO + 10000);
  set_timeout_elsewhere(20000); /* a manager that stays stopped: a failure */
  manager_cont();
  assert_ok(M, mgr_dict_get(d, &kb, &v));
  assert_int_equal(v.type, MGR_T_INT);
  assert_int_equal(v.u.i, 2);
  assert_ok(M, mgr_ping(M));
  assert_ok(M, mgr_dict_get(d, &ka, &v));
  assert_int_equal(v.u.i, 1);
  set_timeout_elsewhere(-1);
  assert_ok(M, mgr_release(d));
}

/* Another thread's view of a lock: whether it is held, and that it can take
 * it at once (then gives it back). */
typedef struct looker {
  mgr_proxy *lk;
  bool locked, acq;
  tres r;
} looker;

static void *looker_main(void *arg) {
  looker *l = arg;
  l->locked = true;
  TOK(&l->r, M, mgr_lock_locked(l->lk, &l->locked));
  TOK(&l->r, M, mgr_lock_acquire(l->lk, 0, &l->acq));
  if (l->acq) TOK(&l->r, M, mgr_lock_release(l->lk));
  return NULL;
}

/* A waiting call that times out locally: an acquire of a FREE lock while the
 * manager is stopped fails after its own wait (50 ms) plus the per-call
 * timeout, not before. The manager, continued, grants it to a connection
 * nobody waits on; this thread's next call reads that late grant and gives
 * the lock back (conn.c's orphan_reply). The give-back is sent during that
 * call, so the check that the lock is free again goes over the same
 * connection (the manager runs one connection's requests in order); after
 * it, any thread sees it free. */
static void test_timeout_orphan_grant(void **state) {
  (void)state;
  need_own_manager();
  mgr_proxy *lk = NULL;
  assert_ok(M, mgr_lock_new(M, &lk));
  set_timeout_elsewhere(TMO);
  manager_stop();
  bool acq = true;
  int64_t t0 = now_ms();
  assert_rc(M, mgr_lock_acquire(lk, 50, &acq), MGR_ETIMEDOUT);
  int64_t t1 = now_ms();
  assert_false(acq);
  assert_true(t1 - t0 >= 50 + TMO);
  assert_true(t1 - t0 < 50 + TMO + 10000);
  set_timeout_elsewhere(20000);
  manager_cont();
  assert_ok(M, mgr_ping(M)); /* reads the late grant, gives it back */
  bool locked = true;
  assert_ok(M, mgr_lock_locked(lk, &locked));
  assert_false(locked);
  looker l;
  memset(&l, 0, sizeof l);
  l.lk = lk;
  pthread_t th;
  assert_int_equal(pthread_create(&th, NULL, looker_main, &l), 0);
  pthread_join(th, NULL);
  assert_clean(&l.r, "looker", 0);
  assert_false(l.locked);
  assert_true(l.acq);
  set_timeout_elsewhere(-1);
  assert_ok(M, mgr_release(lk));
}

/* A wait without limit under a small per-call timeout. */
typedef struct waiter {
  mgr_proxy *lk;
  cu_pipe ready, go, done;
  int rc;
  bool acq;
  tres r;
} waiter;

static void *waiter_main(void *arg) {
  waiter *w = arg;
  /* This thread's connection opens before the small timeout is set. */
  TOK(&w->r, M, mgr_ping(M));
  cu_signal(w->ready);
  if (!TCHECK(&w->r, cu_waitsig(w->go))) return NULL;
  w->rc = mgr_lock_acquire(w->lk, -1, &w->acq);
  cu_signal(w->done);
  if (w->acq) TOK(&w->r, M, mgr_lock_release(w->lk));
  return NULL;
}

/* 1 when p is signalled within ms, else 0. */
static int waitsig_within(cu_pipe p, int ms) {
  struct pollfd pfd = {.fd = p.r, .events = POLLIN};
  int n;
  while ((n = poll(&pfd, 1, ms)) < 0 && errno == EINTR) {
  }
  return n > 0;
}

#define SMALL_TMO 20 /* ms */

/* The main thread sets a 20 ms per-call timeout; the waiter's acquire(-1) of
 * a lock held elsewhere parks in the manager and is NOT cut short by it: it
 * still waits at 5 times that timeout, and once the lock is released it
 * returns MGR_OK, acquired. The holder is a second client of this process
 * (its own timeout, none), which also watches the manager's state: the
 * release comes only once the manager shows the waiter parked. The one
 * bounded wait here (waitsig_within) is the check itself — "has not
 * returned yet" — not a synchronisation. */
static void test_timeout_unlimited_wait(void **state) {
  (void)state;
  mgr_client *m2 = NULL;
  assert_ok(NULL, mgr_connect(mgr_address(M), NULL, &m2));
  mgr_proxy *lk = NULL, *lk2 = NULL;
  assert_ok(M, mgr_lock_new(M, &lk));
  mgr_value ref = mgr_proxy_value(lk);
  assert_ok(m2, mgr_proxy_from_value(m2, &ref, &lk2));
  bool acq = false;
  assert_ok(m2, mgr_lock_acquire(lk2, -1, &acq));
  assert_true(acq);

  waiter w;
  memset(&w, 0, sizeof w);
  w.lk = lk;
  w.rc = MGR_EUNKNOWN;
  w.ready = cu_pipe_new();
  w.go = cu_pipe_new();
  w.done = cu_pipe_new();
  pthread_t th;
  assert_int_equal(pthread_create(&th, NULL, waiter_main, &w), 0);
  assert_true(cu_waitsig(w.ready));
  mgr_set_timeout(M, SMALL_TMO); /* from this thread, for the waiter's call */
  cu_signal(w.go);
  uint64_t id = mgr_proxy_id(lk);
  while (lock_waiters(m2, id) != 1)
    if (waitsig_within(w.done, 0))
      fail_msg("the waiter's acquire(-1) returned %s before it parked",
               mgr_err_name(w.rc));
  if (waitsig_within(w.done, 5 * SMALL_TMO))
    fail_msg("the waiter's acquire(-1) returned %s while the lock was held "
             "(cut short by the per-call timeout?)",
             mgr_err_name(w.rc));
  mgr_set_timeout(M, -1); /* the waiter's release: no timeout */
  assert_ok(m2, mgr_lock_release(lk2));
  assert_true(cu_waitsig(w.done));
  pthread_join(th, NULL);
  assert_clean(&w.r, "waiter", 0);
  assert_rc(M, w.rc, MGR_OK);
  assert_true(w.acq);
  bool locked = true;
  assert_ok(m2, mgr_lock_locked(lk2, &locked));
  assert_false(locked);
  assert_int_equal(lock_waiters(m2, id), 0);
  assert_ok(m2, mgr_release(lk2));
  mgr_close(m2);
  assert_ok(M, mgr_release(lk));
  cu_pipe_close(w.ready);
  cu_pipe_close(w.go);
  cu_pipe_close(w.done);
}

/* ========================================================================= */
/* test_thread_exit */

typedef struct wave {
  mgr_client *m;
  mgr_proxy *d;
  mgr_proxy *locks[NT]; /* NULL: take none */
  const char *key;
  int64_t server_pid;
} wave;

typedef struct wworker {
  wave *wv;
  int idx;
  pthread_t th;
  tres r;
} wworker;

/* A new thread: no message yet; some calls; exits holding its lock (its
 * connection's), leaving the destructor to close the connection. */
static void *wave_main(void *arg) {
  wworker *w = arg;
  wave *wv = w->wv;
  tres *r = &w->r;
  TCHECK(r, strcmp(mgr_errmsg(wv->m), "") == 0);
  TCHECK(r, mgr_server_pid(wv->m) == wv->server_pid);
  mgr_value k = T(wv->key), nokey = T("wave-nokey"), got;
  TOK(r, wv->m, mgr_dict_incr_int(wv->d, &k, 1, true, NULL));
  TRC(r, wv->m, mgr_dict_get(wv->d, &nokey, &got), MGR_EKEY);
  TCHECK(r, strstr(mgr_errmsg(wv->m), "wave-nokey") != NULL);
  if (wv->locks[w->idx]) {
    bool acq = false;
    TOK(r, wv->m, mgr_lock_acquire(wv->locks[w->idx], 0, &acq));
    TCHECK(r, acq);
  }
  return NULL;
}

static void run_wave(wave *wv) {
  static wworker w[NT];
  for (int i = 0; i < NT; i++) {
    memset(&w[i], 0, sizeof w[i]);
    w[i].wv = wv;
    w[i].idx = i;
    assert_int_equal(pthread_create(&w[i].th, NULL, wave_main, &w[i]), 0);
  }
  for (int i = 0; i < NT; i++)
    pthread_join(w[i].th, NULL);
  for (int i = 0; i < NT; i++)
    assert_clean(&w[i].r, "wave thread", i);
}

/* A thread that makes a client (its connection is the primary one, holding
 * the session) and a dict on it, then exits. */
typedef struct maker {
  mgr_client *m;
  mgr_proxy *d;
  tres r;
} maker;

static void *maker_main(void *arg) {
  maker *mk = arg;
  if (!TOK(&mk->r, NULL, mgr_connect(mgr_address(M), NULL, &mk->m)))
    return NULL;
  mgr_value k = T("k"), one = I(1);
  if (TOK(&mk->r, mk->m, mgr_dict_new(mk->m, NULL, &mk->d)))
    TOK(&mk->r, mk->m, mgr_dict_set(mk->d, &k, &one));
  return NULL;
}

static void test_thread_exit(void **state) {
  (void)state;
  wave wv;
  memset(&wv, 0, sizeof wv);
  wv.m = M;
  wv.key = "n";
  wv.server_pid = mgr_server_pid(M);
  assert_ok(M, mgr_dict_new(M, NULL, &wv.d));
  for (int i = 0; i < NT; i++)
    assert_ok(M, mgr_lock_new(M, &wv.locks[i]));
  mgr_value werr = T("main-wave"), got;
  for (int k = 0; k < WAVES; k++) {
    /* This thread's error is not a new thread's. */
    assert_rc(M, mgr_dict_get(wv.d, &werr, &got), MGR_EKEY);
    run_wave(&wv);
    assert_non_null(strstr(mgr_errmsg(M), "main-wave"));
    assert_int_equal(dict_int(wv.d, "n"), (k + 1) * NT);
    /* Each thread's connection closed at its exit: its lock was released,
     * marked "owner died". */
    for (int i = 0; i < NT; i++) {
      bool acq = false;
      assert_rc(M, mgr_lock_acquire(wv.locks[i], 10000, &acq), MGR_EOWNERDEAD);
      assert_true(acq);
      assert_ok(M, mgr_lock_release(wv.locks[i]));
    }
  }
  for (int i = 0; i < NT; i++)
    assert_ok(M, mgr_release(wv.locks[i]));
  assert_ok(M, mgr_release(wv.d));

  /* A client whose primary connection's thread is gone: the session and its
   * objects live on; new threads join it. */
  maker mk;
  memset(&mk, 0, sizeof mk);
  pthread_t th;
  assert_int_equal(pthread_create(&th, NULL, maker_main, &mk), 0);
  pthread_join(th, NULL);
  assert_clean(&mk.r, "maker", 0);
  assert_non_null(mk.m);
  assert_non_null(mk.d);
  wave w2;
  memset(&w2, 0, sizeof w2);
  w2.m = mk.m;
  w2.d = mk.d;
  w2.key = "k";
  w2.server_pid = mgr_server_pid(mk.m);
  for (int k = 0; k < 2; k++)
    run_wave(&w2);
  mgr_value kk = T("k"), v;
  assert_ok(mk.m, mgr_dict_get(mk.d, &kk, &v));
  assert_int_equal(v.u.i, 1 + 2 * NT);
  uint64_t id = mgr_proxy_id(mk.d);
  assert_int_equal(cu_has_object(M, id), 1);
  assert_ok(mk.m, mgr_release(mk.d));
  assert_int_equal(cu_has_object(M, id), 0);
  mgr_close(mk.m);
}

/* ========================================================================= */
/* test_fork_under_threads */

typedef struct forkt {
  mgr_proxy *d, *l, *lk, *rl;
  mgr_proxy *clk; /* a child dies holding it: its close was processed */
  mgr_value named;
  atomic_int want; /* the round the main thread waits on */
  atomic_bool stop;
  cu_pipe progress;  /* a byte per worker per round: "I am in my loop" */
  cu_pipe req, resp; /* to and from the forking thread */
} forkt;

typedef struct fworker {
  forkt *f;
  int idx;
  pthread_t th;
  tres r;
  int64_t count; /* iterations done */
} fworker;

static void *fwork_main(void *arg) {
  fworker *w = arg;
  forkt *f = w->f;
  tres *r = &w->r;
  mgr_value khits = T("hits"), kn = T("n");
  int seen = 0;
  for (;;) {
    int want = atomic_load(&f->want);
    if (want > seen) {
      seen = want;
      cu_signal(f->progress);
    }
    if (atomic_load(&f->stop)) break;
    TOK(r, M, mgr_dict_incr_int(f->d, &khits, 1, true, NULL));
    guarded_incr(r, M, f->lk, false, f->d, "guarded");
    mgr_value e = I(w->idx);
    TOK(r, M, mgr_list_append(f->l, &e));
    mgr_proxy *p = NULL;
    if (TOK(r, M, mgr_proxy_from_value(M, &f->named, &p))) {
      TOK(r, M, mgr_dict_incr_int(p, &kn, 1, true, NULL));
      TOK(r, M, mgr_release(p));
    }
    if (w->count % 4 == 0) {
      mgr_proxy *q = NULL;
      if (TOK(r, M, mgr_var_new(M, NULL, &q))) TOK(r, M, mgr_release(q));
    }
    w->count++;
  }
  return NULL;
}

/* The child: only the forking thread exists. It uses the inherited proxies
 * over a connection and session of its own, then leaves with _exit(). */
static void child_main(forkt *f, int round) {
  alarm(60); /* a pending alarm is not inherited */
  mgr_value kchild = T("child"), kguard = T("guarded"), kn = T("n"),
            nokey = T("nokey-child"), v;
  CU_CHECK(1, mgr_dict_incr_int(f->d, &kchild, 1, true, NULL) == MGR_OK);
  bool acq = false;
  CU_CHECK(2, mgr_lock_acquire(f->lk, -1, &acq) == MGR_OK && acq);
  CU_CHECK(3, mgr_dict_get(f->d, &kguard, &v) == MGR_OK && v.type == MGR_T_INT);
  mgr_value nv = I(v.u.i + 1);
  CU_CHECK(4, mgr_dict_set(f->d, &kguard, &nv) == MGR_OK);
  CU_CHECK(5, mgr_lock_release(f->lk) == MGR_OK);
  mgr_value rv = I(CHILD_MARK + round);
  CU_CHECK(6, mgr_list_append(f->l, &rv) == MGR_OK);
  /* The parent's main thread holds the rlock on its connection: not ours. */
  CU_CHECK(7, mgr_lock_acquire(f->rl, 0, &acq) == MGR_OK && !acq);
  CU_CHECK(8, mgr_lock_release(f->rl) == MGR_ESTATE);
  CU_CHECK(9, mgr_dict_get(f->d, &nokey, &v) == MGR_EKEY);
  CU_CHECK(10, strstr(mgr_errmsg(M), "nokey-child") != NULL);
  mgr_proxy *p = NULL;
  CU_CHECK(11, mgr_proxy_from_value(M, &f->named, &p) == MGR_OK);
  CU_CHECK(12, mgr_dict_incr_int(p, &kn, 1, true, NULL) == MGR_OK);
  CU_CHECK(13, mgr_release(p) == MGR_OK);
  /* Dies holding a lock: the parent's next acquire of it tells that the
   * manager has processed this connection's close (and ended the session). */
  CU_CHECK(14, mgr_lock_acquire(f->clk, -1, &acq) == MGR_OK && acq);
  _exit(0);
}

static int fork_round(forkt *f, int round) {
  fflush(stdout);
  fflush(stderr);
  pid_t pid = fork();
  if (pid < 0) return -1;
  if (pid == 0) child_main(f, round);
  return cu_wait(pid);
}

/* A thread of its own (a non-primary connection) that forks on request. */
typedef struct forker {
  forkt *f;
  pthread_t th;
  tres r;
} forker;

static void *forker_main(void *arg) {
  forker *fk = arg;
  forkt *f = fk->f;
  char round;
  while (read(f->req.r, &round, 1) == 1 && round >= 0) {
    TOK(&fk->r, M, mgr_ping(M)); /* this thread's connection is in use */
    int st = fork_round(f, round);
    if (write(f->resp.w, &st, sizeof st) != sizeof st) break;
  }
  return NULL;
}

static void test_fork_under_threads(void **state) {
  (void)state;
  static forkt f;
  memset(&f, 0, sizeof f);
  mgr_value init[] = {T("hits"), I(0), T("guarded"), I(0), T("child"), I(0)};
  mgr_value dinit = mgr_map(init, 3);
  assert_ok(M, mgr_dict_new(M, &dinit, &f.d));
  assert_ok(M, mgr_list_new(M, NULL, &f.l));
  assert_ok(M, mgr_lock_new(M, &f.lk));
  assert_ok(M, mgr_rlock_new(M, &f.rl));
  assert_ok(M, mgr_lock_new(M, &f.clk));
  bool acq = false;
  assert_ok(M, mgr_lock_acquire(f.rl, -1, &acq));
  assert_true(acq);
  mgr_proxy *named = NULL;
  assert_ok(M, mgr_open(M, "test_threads.fork", MGR_K_DICT, NULL, true, &named,
                        NULL));
  f.named = mgr_proxy_value(named);
  uint64_t named_id = mgr_proxy_id(named);
  assert_ok(M, mgr_release(named));
  atomic_init(&f.want, 0);
  atomic_init(&f.stop, false);
  f.progress = cu_pipe_new();
  f.req = cu_pipe_new();
  f.resp = cu_pipe_new();

  static fworker w[NT];
  for (int i = 0; i < NT; i++) {
    memset(&w[i], 0, sizeof w[i]);
    w[i].f = &f;
    w[i].idx = i;
    assert_int_equal(pthread_create(&w[i].th, NULL, fwork_main, &w[i]), 0);
  }
  forker fk;
  memset(&fk, 0, sizeof fk);
  fk.f = &f;
  assert_int_equal(pthread_create(&fk.th, NULL, forker_main, &fk), 0);

  for (int round = 0; round < ROUNDS; round++) {
    /* Every worker is in its loop, making calls, when the fork comes. */
    atomic_store(&f.want, round + 1);
    for (int i = 0; i < NT; i++)
      assert_true(cu_waitsig(f.progress));
    int st;
    if (round % 2 == 0) {
      assert_ok(M, mgr_ping(M));
      st = fork_round(&f, round);
    } else {
      char rb = (char)round;
      assert_int_equal(write(f.req.w, &rb, 1), 1);
      assert_int_equal(read(f.resp.r, &st, sizeof st), sizeof st);
    }
    if (st != 0) fail_msg("round %d: the child ended with %d", round, st);
    acq = false;
    assert_rc(M, mgr_lock_acquire(f.clk, 10000, &acq), MGR_EOWNERDEAD);
    assert_true(acq);
    assert_ok(M, mgr_lock_release(f.clk));
  }
  /* The workers went on after the last fork, then stop. */
  atomic_store(&f.want, ROUNDS + 1);
  for (int i = 0; i < NT; i++)
    assert_true(cu_waitsig(f.progress));
  atomic_store(&f.stop, true);
  char quit = -1;
  assert_int_equal(write(f.req.w, &quit, 1), 1);
  for (int i = 0; i < NT; i++)
    pthread_join(w[i].th, NULL);
  pthread_join(fk.th, NULL);
  int64_t total = 0;
  for (int i = 0; i < NT; i++) {
    assert_clean(&w[i].r, "worker", i);
    assert_true(w[i].count > 0);
    total += w[i].count;
  }
  assert_clean(&fk.r, "forker", 0);

  assert_int_equal(dict_int(f.d, "hits"), total);
  assert_int_equal(dict_int(f.d, "child"), ROUNDS);
  assert_int_equal(dict_int(f.d, "guarded"), total + ROUNDS);
  /* The list: each worker's appends, and the children's rounds in order. */
  mgr_value all;
  assert_ok(M, mgr_list_copy(f.l, &all));
  assert_int_equal(all.u.a.len, total + ROUNDS);
  int64_t per[NT] = {0}, rounds_seen = 0;
  for (size_t k = 0; k < all.u.a.len; k++) {
    const mgr_value *e = &all.u.a.items[k];
    assert_int_equal(e->type, MGR_T_INT);
    if (e->u.i >= CHILD_MARK) {
      assert_int_equal(e->u.i, CHILD_MARK + rounds_seen);
      rounds_seen++;
    } else {
      assert_true(e->u.i >= 0 && e->u.i < NT);
      per[e->u.i]++;
    }
  }
  mgr_value_free(&all);
  assert_int_equal(rounds_seen, ROUNDS);
  for (int i = 0; i < NT; i++)
    assert_int_equal(per[i], w[i].count);

  mgr_proxy *pn = NULL;
  assert_ok(M, mgr_proxy_from_value(M, &f.named, &pn));
  assert_int_equal(dict_int(pn, "n"), total + ROUNDS);
  assert_ok(M, mgr_release(pn));
  /* Every child's session has ended (see clk), and this process released
   * its proxies: once the name goes, the object goes. */
  assert_ok(M, mgr_unlink(M, "test_threads.fork"));
  assert_int_equal(cu_has_object(M, named_id), 0);

  assert_ok(M, mgr_lock_release(f.rl));
  assert_ok(M, mgr_release(f.d));
  assert_ok(M, mgr_release(f.l));
  assert_ok(M, mgr_release(f.lk));
  assert_ok(M, mgr_release(f.rl));
  assert_ok(M, mgr_release(f.clk));
  cu_pipe_close(f.progress);
  cu_pipe_close(f.req);
  cu_pipe_close(f.resp);
}

int main(void) {
  signal(SIGPIPE, SIG_IGN);
  signal(SIGALRM, watchdog);
  alarm(110); /* the watchdog: a hang (a deadlock) kills the test, failing it */
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_stress),
      cmocka_unit_test_teardown(test_timeout_cross_thread, timeout_teardown),
      cmocka_unit_test_teardown(test_timeout_orphan_grant, timeout_teardown),
      cmocka_unit_test_teardown(test_timeout_unlimited_wait, timeout_teardown),
      cmocka_unit_test(test_thread_exit),
      cmocka_unit_test(test_fork_under_threads),
  };
  return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
