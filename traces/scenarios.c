/* mgr — real client/server runs for the traces_model test: what the Trace
 * Compass analysis (traces/mgr.xml) must draw right, recorded by
 * traces/model with traces/record and checked with traces/tcxml.py. Built
 * as mgr_trace_scenarios by src/trace/CMakeLists.txt (public API only).
 *
 *   mgr_trace_scenarios threads   one process, 8 threads: while the main
 *                                 thread keeps calling, the others wait on a
 *                                 Lock, a Queue get, an Event, a Semaphore, a
 *                                 Barrier, a Condition (each kind the manager
 *                                 has) and a queue get that times out on the
 *                                 server; then each is let go
 *   mgr_trace_scenarios timeout   a call the client gives up on while the
 *                                 server still has it parked (the server is
 *                                 stopped with SIGSTOP until the client's
 *                                 deadline passed; its wait ends after)
 *   mgr_trace_scenarios killed    a client process killed while its acquire
 *                                 is parked
 *   mgr_trace_scenarios two       two managers in one process: the same
 *                                 connection ids and request ids on both
 *   mgr_trace_scenarios batch     BATCHes of sub-requests
 *   mgr_trace_scenarios all       each of the above in turn
 *
 * Synchronisation without sleeps: a step that needs a request parked asks
 * the manager (STATS "parked") until it is; a step that needs a process gone
 * waits for it (waitpid) and then for the manager to have closed its
 * connection (STATS again). Exit status 0 when every step did what it
 * should; a kind the manager refuses (not built in) is skipped and said. */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mgr/mgr.h"
#include "mgr/sync.h"

static int failures;

#define CHECK(cond, ...)                                                       \
  do {                                                                         \
    if (!(cond)) {                                                             \
      fprintf(stderr, "scenarios: %s:%d: ", __FILE__, __LINE__);               \
      fprintf(stderr, __VA_ARGS__);                                            \
      fputc('\n', stderr);                                                     \
      failures++;                                                              \
    }                                                                          \
  } while (0)

#define OK(call)                                                               \
  do {                                                                         \
    int rc_ = (call);                                                          \
    if (rc_ != MGR_OK) {                                                       \
      fprintf(stderr, "scenarios: %s:%d: %s: %s\n", __FILE__, __LINE__, #call, \
              mgr_strerror(rc_));                                              \
      exit(1);                                                                 \
    }                                                                          \
  } while (0)

static mgr_client *start(void) {
  mgr_options o;
  mgr_options_init(&o);
  mgr_client *m = NULL;
  OK(mgr_start(&o, &m));
  return m;
}

static mgr_client *connect_to(mgr_client *m, int64_t timeout_ms) {
  mgr_options o;
  mgr_options_init(&o);
  o.timeout_ms = timeout_ms;
  mgr_client *c = NULL;
  OK(mgr_connect(mgr_address(m), &o, &c));
  return c;
}

static int64_t stat_of(mgr_client *m, const char *group, const char *name) {
  mgr_value st;
  OK(mgr_stats(m, &st));
  mgr_value g = mgr_text(group), n = mgr_text(name);
  const mgr_value *a = mgr_map_get(&st, &g);
  const mgr_value *b = a ? mgr_map_get(a, &n) : NULL;
  int64_t v = b && b->type == MGR_T_INT ? b->u.i : -1;
  mgr_value_free(&st);
  return v;
}

/* Polls the manager until want requests are parked on it. Each poll is a
 * call of this thread (the analysis must show it while others wait). */
static void await_parked(mgr_client *m, int64_t want) {
  for (long i = 0; i < 2000000; i++) {
    if (stat_of(m, "requests", "parked") == want) return;
    sched_yield();
  }
  fprintf(stderr, "scenarios: never %lld parked requests\n", (long long)want);
  exit(1);
}

static void await_conns(mgr_client *m, int64_t want) {
  for (long i = 0; i < 2000000; i++) {
    if (stat_of(m, "connections", "open") == want) return;
    sched_yield();
  }
  fprintf(stderr, "scenarios: never %lld open connections\n", (long long)want);
  exit(1);
}

/* Whether a kind's object was made; says so when the manager refused it
 * (a kind not built in). */
static bool made(const char *what, int rc) {
  if (rc != MGR_OK)
    printf("scenarios: %s: skipped (%s)\n", what, mgr_strerror(rc));
  return rc == MGR_OK;
}
#define TRY_NEW(what, call) made(what, (call))

/* --- threads: waits on every kind, one process -------------------------- */

typedef struct waiter {
  const char *what;
  mgr_proxy *p, *q;
  int (*run)(struct waiter *);
  int rc;
  pthread_t t;
} waiter;

static int w_lock(waiter *w) {
  bool got = false;
  int rc = mgr_lock_acquire(w->p, -1, &got);
  if (rc == MGR_OK && got) rc = mgr_lock_release(w->p);
  return rc;
}

static int w_queue(waiter *w) {
  mgr_value v;
  int rc = mgr_queue_get(w->p, -1, &v);
  if (rc == MGR_OK) mgr_value_free(&v);
  return rc;
}

static int w_queue_timeout(waiter *w) {
  mgr_value v;
  int rc =
      mgr_queue_get(w->p, 30, &v); /* nothing comes: the server's deadline */
  return rc == MGR_EEMPTY ? MGR_OK : rc == MGR_OK ? MGR_EINVAL : rc;
}

static int w_event(waiter *w) {
  bool set = false;
  int rc = mgr_event_wait(w->p, -1, &set);
  return rc == MGR_OK && !set ? MGR_EINVAL : rc;
}

static int w_sem(waiter *w) {
  bool got = false;
  int rc = mgr_sem_acquire(w->p, -1, &got);
  return rc == MGR_OK && !got ? MGR_EINVAL : rc;
}

static int w_barrier(waiter *w) {
  int64_t idx;
  return mgr_barrier_wait(w->p, -1, &idx);
}

static int w_cond(waiter *w) {
  bool got = false, notified = false;
  int rc = mgr_cond_acquire(w->p, -1, &got);
  if (rc != MGR_OK) return rc;
  rc = mgr_cond_wait(w->p, -1, &notified);
  int rc2 = mgr_cond_release(w->p);
  return rc ? rc : rc2;
}

static void *w_main(void *arg) {
  waiter *w = arg;
  w->rc = w->run(w);
  return NULL;
}

static void threads(void) {
  mgr_client *m = start();
  waiter ws[7];
  int n = 0;
  mgr_proxy *lock, *q, *q2, *ev, *sem, *bar, *cond;
  OK(mgr_lock_new(m, &lock));
  bool held = false;
  OK(mgr_lock_acquire(lock, -1, &held));
  ws[n++] = (waiter){"lock", lock, NULL, w_lock, 0, 0};
  bool has_q = TRY_NEW("queue", mgr_queue_new(m, 0, &q));
  if (has_q) ws[n++] = (waiter){"queue get", q, NULL, w_queue, 0, 0};
  bool has_ev = TRY_NEW("event", mgr_event_new(m, &ev));
  if (has_ev) ws[n++] = (waiter){"event", ev, NULL, w_event, 0, 0};
  bool has_sem = TRY_NEW("semaphore", mgr_semaphore_new(m, 0, &sem));
  if (has_sem) ws[n++] = (waiter){"semaphore", sem, NULL, w_sem, 0, 0};
  bool has_bar = TRY_NEW("barrier", mgr_barrier_new(m, 2, -1, &bar));
  if (has_bar) ws[n++] = (waiter){"barrier", bar, NULL, w_barrier, 0, 0};
  bool has_cond = TRY_NEW("condition", mgr_condition_new(m, NULL, &cond));
  if (has_cond) ws[n++] = (waiter){"condition", cond, NULL, w_cond, 0, 0};

  for (int i = 0; i < n; i++)
    if (pthread_create(&ws[i].t, NULL, w_main, &ws[i])) exit(1);
  /* Every waiter parked, the main thread calling meanwhile. */
  await_parked(m, n);
  /* Let each go, one at a time, the main thread calling in between. */
  OK(mgr_lock_release(lock));
  if (has_q) {
    mgr_value one = mgr_int(1);
    OK(mgr_queue_put(q, &one, -1));
  }
  if (has_ev) OK(mgr_event_set(ev));
  if (has_sem) OK(mgr_sem_release(sem, 1));
  if (has_bar) {
    int64_t idx;
    OK(mgr_barrier_wait(bar, -1, &idx));
  }
  if (has_cond) {
    bool got;
    /* The waiter released the condition's lock when it parked. */
    OK(mgr_cond_acquire(cond, -1, &got));
    OK(mgr_cond_notify(cond, 1));
    OK(mgr_cond_release(cond));
  }
  for (int i = 0; i < n; i++) {
    pthread_join(ws[i].t, NULL);
    CHECK(ws[i].rc == MGR_OK, "threads: %s: %s", ws[i].what,
          mgr_strerror(ws[i].rc));
  }
  printf("scenarios: threads: %d waiters, each let go\n", n);
  /* A get that the manager times out (its call still in flight), while the
   * main thread calls. */
  if (has_q && TRY_NEW("queue (timeout)", mgr_queue_new(m, 0, &q2))) {
    waiter w = {"queue get, timed out", q2, NULL, w_queue_timeout, 0, 0};
    if (pthread_create(&w.t, NULL, w_main, &w)) exit(1);
    await_parked(m, 1);
    pthread_join(w.t, NULL);
    CHECK(w.rc == MGR_OK, "threads: %s: %s", w.what, mgr_strerror(w.rc));
    mgr_release(q2);
    printf("scenarios: threads: a get timed out on the manager\n");
  }
  mgr_release(lock);
  if (has_q) mgr_release(q);
  if (has_ev) mgr_release(ev);
  if (has_sem) mgr_release(sem);
  if (has_bar) mgr_release(bar);
  if (has_cond) mgr_release(cond);
  OK(mgr_shutdown(m));
}

/* --- timeout: the client gives up before the server answers -------------- */

typedef struct give_up {
  mgr_client *c;
  mgr_proxy *lock;
  int rc;
} give_up;

static void *give_up_main(void *arg) {
  give_up *g = arg;
  bool got = true;
  /* The manager's deadline is 200 ms; the client's 200 + 100 ms. */
  g->rc = mgr_lock_acquire(g->lock, 200, &got);
  return NULL;
}

static void timeout(void) {
  mgr_client *m = start();
  mgr_proxy *lock;
  OK(mgr_lock_new(m, &lock));
  bool held;
  OK(mgr_lock_acquire(lock, -1, &held));
  /* Another client (its own connections, a 100 ms per-call timeout) on the
   * same lock, from a thread of this process. */
  mgr_client *c = connect_to(m, 100);
  mgr_value ref = mgr_proxy_value(lock);
  give_up g = {c, NULL, 0};
  OK(mgr_proxy_from_value(c, &ref, &g.lock));
  pthread_t t;
  if (pthread_create(&t, NULL, give_up_main, &g)) exit(1);
  await_parked(m, 1);
  /* Freeze the manager: the client's deadline passes, then the manager's;
   * the manager answers (TIMEOUT) only after the client gave up. */
  pid_t srv = (pid_t)mgr_server_pid(m);
  CHECK(kill(srv, SIGSTOP) == 0, "SIGSTOP: %s", strerror(errno));
  pthread_join(t, NULL);
  CHECK(g.rc == MGR_ETIMEDOUT,
        "timeout: the acquire returned %s, not ETIMEDOUT", mgr_strerror(g.rc));
  CHECK(kill(srv, SIGCONT) == 0, "SIGCONT: %s", strerror(errno));
  await_parked(m, 0);
  OK(mgr_lock_release(lock));
  /* The late answer is read (and the late grant, if any, given back) by the
   * giving-up client's next call. */
  OK(mgr_ping(c));
  mgr_release(g.lock);
  mgr_close(c);
  printf("scenarios: timeout: the client gave up first, the manager answered "
         "later\n");
  mgr_release(lock);
  OK(mgr_shutdown(m));
}

/* --- killed: a client process dies while its acquire is parked ----------- */

static void killed(void) {
  mgr_client *m = start();
  mgr_proxy *lock;
  OK(mgr_lock_new(m, &lock));
  bool held;
  OK(mgr_lock_acquire(lock, -1, &held));
  int64_t open = stat_of(m, "connections", "open");
  pid_t p = fork();
  if (p < 0) exit(1);
  if (p == 0) { /* the child: its own connection, parks, never returns */
    bool got;
    mgr_lock_acquire(lock, -1, &got);
    _exit(3);
  }
  await_parked(m, 1);
  CHECK(kill(p, SIGKILL) == 0, "SIGKILL: %s", strerror(errno));
  int st;
  CHECK(waitpid(p, &st, 0) == p && WIFSIGNALED(st), "the child was not killed");
  await_conns(m, open); /* the manager saw the connection close */
  await_parked(m, 0);
  OK(mgr_lock_release(lock));
  printf("scenarios: killed: a client killed while parked\n");
  mgr_release(lock);
  OK(mgr_shutdown(m));
}

/* --- two managers in one process ----------------------------------------- */

typedef struct two_arg {
  mgr_proxy *p;
  int rc;
} two_arg;

static void *two_incr(void *arg) {
  two_arg *a = arg;
  for (int i = 0; i < 20 && a->rc == MGR_OK; i++)
    a->rc = mgr_var_incr_int(a->p, 1, NULL);
  return NULL;
}

static void *two_acquire(void *arg) {
  two_arg *a = arg;
  bool got = false;
  a->rc = mgr_lock_acquire(a->p, -1, &got);
  if (a->rc == MGR_OK) a->rc = mgr_lock_release(a->p);
  return NULL;
}

static void two(void) {
  mgr_client *m1 = start(), *m2 = start();
  mgr_proxy *v1, *v2, *lk;
  mgr_value zero = mgr_int(0);
  OK(mgr_var_new(m1, &zero, &v1));
  OK(mgr_var_new(m2, &zero, &v2));
  OK(mgr_lock_new(m2, &lk));
  bool held;
  OK(mgr_lock_acquire(lk, -1, &held));
  /* One thread, the same connection id (1) and the same request ids on
   * both managers. */
  for (int i = 0; i < 20; i++) {
    OK(mgr_var_incr_int(v1, 1, NULL));
    OK(mgr_var_incr_int(v2, 1, NULL));
  }
  /* Two more threads, each the second connection of its manager (id 2 on
   * both): one waits on the second manager's lock while the other calls the
   * first manager. */
  two_arg a2 = {lk, MGR_OK}, a1 = {v1, MGR_OK};
  pthread_t t1, t2;
  if (pthread_create(&t2, NULL, two_acquire, &a2)) exit(1);
  await_parked(m2, 1);
  if (pthread_create(&t1, NULL, two_incr, &a1)) exit(1);
  pthread_join(t1, NULL);
  OK(mgr_lock_release(lk));
  pthread_join(t2, NULL);
  CHECK(a1.rc == MGR_OK && a2.rc == MGR_OK, "two: %s %s", mgr_strerror(a1.rc),
        mgr_strerror(a2.rc));
  int64_t x1 = 0, x2 = 0;
  OK(mgr_var_incr_int(v1, 0, &x1));
  OK(mgr_var_incr_int(v2, 0, &x2));
  CHECK(x1 == 40 && x2 == 20, "two: %lld %lld", (long long)x1, (long long)x2);
  printf("scenarios: two managers, servers %lld and %lld\n",
         (long long)mgr_server_pid(m1), (long long)mgr_server_pid(m2));
  mgr_release(v1);
  mgr_release(v2);
  mgr_release(lk);
  OK(mgr_shutdown(m1));
  OK(mgr_shutdown(m2));
}

/* --- batch ---------------------------------------------------------------- */

static void batch(void) {
  mgr_client *m = start();
  mgr_proxy *d;
  OK(mgr_dict_new(m, NULL, &d));
  mgr_batch *b;
  OK(mgr_batch_new(m, &b));
  for (int round = 0; round < 3; round++) {
    mgr_batch_clear(b);
    for (int i = 0; i < 5; i++) {
      mgr_value k = mgr_int(i), v = mgr_int(round);
      OK(mgr_batch_dict_set(b, d, &k, &v));
    }
    mgr_value k = mgr_int(0);
    OK(mgr_batch_dict_get(b, d, &k));
    OK(mgr_batch_dict_len(b, d));
    mgr_value res;
    OK(mgr_batch_run(b, &res));
    mgr_value_free(&res);
  }
  mgr_batch_free(b);
  printf("scenarios: batch: 3 BATCHes of 7 sub-requests\n");
  mgr_release(d);
  OK(mgr_shutdown(m));
}

int main(int argc, char **argv) {
  const char *what = argc > 1 ? argv[1] : "all";
  bool all = !strcmp(what, "all");
  bool known = false;
  setvbuf(stdout, NULL, _IOLBF, 0);
  if (all || !strcmp(what, "threads")) threads(), known = true;
  if (all || !strcmp(what, "timeout")) timeout(), known = true;
  if (all || !strcmp(what, "killed")) killed(), known = true;
  if (all || !strcmp(what, "two")) two(), known = true;
  if (all || !strcmp(what, "batch")) batch(), known = true;
  if (!known) {
    fprintf(stderr, "usage: %s [threads|timeout|killed|two|batch|all]\n",
            argv[0]);
    return 2;
  }
  return failures ? 1 : 0;
}
