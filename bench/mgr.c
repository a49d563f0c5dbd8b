/* bench — mgr through its public API (include/mgr/client.h):
 *   set  mgr_dict_set(d, "k<i>", v)        get  mgr_dict_get(d, "k<i>")
 *   incr mgr_dict_incr_int(d, "c", 1)      add  d["a"] += 1 as get then set
 *   lock acquire, get "l", set "l" v+1, release
 *   qpair mgr_queue_put(q, item, -1), then mgr_queue_get(q, 0) (non-blocking)
 *   qpc  producers mgr_queue_put(q, item, 30 s), consumers mgr_queue_get(q,
 *        30 s) (a waiting get, parked in the manager while q is empty)
 *   qpcb the same over mgr_queue_new(m, 16) (a put waits while it is full)
 *   sem  mgr_sem_release(s1, 1); mgr_sem_acquire(s2, 30 s) against
 *        mgr_sem_acquire(s1, 30 s); mgr_sem_release(s2, 1)
 * The parent starts the manager (mgr_start) and makes the proxies; the forked
 * clients use the proxies they inherit (each makes its own connection). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "mgr/mgr.h"

typedef struct mgrb_ctx {
  mgr_client *m;
  mgr_proxy *d, *lk;
  mgr_proxy *q, *qb, *wq; /* unbounded, bounded, the warm-up's */
  mgr_proxy *s1, *s2;
  int warmup;
} mgrb_ctx;

static int fail(mgrb_ctx *x, const char *what, int err) {
  fprintf(stderr, "mgr: %s: %s (%s) %s\n", what, mgr_err_name(err),
          mgr_strerror(err), x->m ? mgr_errmsg(x->m) : "");
  return -1;
}

static int get_int(mgrb_ctx *x, const mgr_value *key, int64_t *out) {
  mgr_value v;
  int e = mgr_dict_get(x->d, key, &v);
  if (e) return fail(x, "dict_get", e);
  *out = v.type == MGR_T_INT ? v.u.i : 0;
  mgr_value_free(&v);
  return 0;
}

static int one(mgrb_ctx *x, int op, const mgr_value *key, long i, int warm) {
  int e;
  int64_t v = 0;
  mgr_value val, nv;
  mgr_value c = mgr_text(warm ? "w" : "c"), a = mgr_text(warm ? "w" : "a"),
            l = mgr_text(warm ? "w" : "l");
  switch (op) {
  case OP_SET:
    val = mgr_int(i);
    e = mgr_dict_set(x->d, key, &val);
    return e ? fail(x, "dict_set", e) : 0;
  case OP_GET:
    e = mgr_dict_get(x->d, key, &val);
    if (e) return fail(x, "dict_get", e);
    mgr_value_free(&val);
    return 0;
  case OP_INCR:
    e = mgr_dict_incr_int(x->d, &c, 1, true, NULL);
    return e ? fail(x, "dict_incr_int", e) : 0;
  case OP_ADD:
    if (get_int(x, &a, &v)) return -1;
    nv = mgr_int(v + 1);
    e = mgr_dict_set(x->d, &a, &nv);
    return e ? fail(x, "dict_set", e) : 0;
  case OP_LOCK: {
    bool acquired = false;
    e = mgr_lock_acquire(x->lk, -1, &acquired);
    if (e || !acquired) return fail(x, "lock_acquire", e);
    if (get_int(x, &l, &v)) return -1;
    nv = mgr_int(v + 1);
    e = mgr_dict_set(x->d, &l, &nv);
    if (e) return fail(x, "dict_set", e);
    e = mgr_lock_release(x->lk);
    return e ? fail(x, "lock_release", e) : 0;
  }
  }
  return -1;
}

static int qput(mgrb_ctx *x, mgr_proxy *q, uint64_t item, int64_t wait) {
  mgr_value v = mgr_int((int64_t)item);
  int e = mgr_queue_put(q, &v, wait);
  return e ? fail(x, "queue_put", e) : 0;
}

/* Gets an item; got: whether it counts (bench_got). */
static int qget(mgrb_ctx *x, mgr_proxy *q, int64_t wait, bool got) {
  mgr_value v;
  int e = mgr_queue_get(q, wait, &v);
  if (e) return fail(x, "queue_get", e);
  if (v.type != MGR_T_INT) {
    mgr_value_free(&v);
    fprintf(stderr, "mgr: queue_get: not an int\n");
    return -1;
  }
  return got ? bench_got((uint64_t)v.u.i) : 0;
}

static int sem_round(mgrb_ctx *x, int idx) {
  bool ok = false;
  int e;
  if (idx == 0) {
    if ((e = mgr_sem_release(x->s1, 1))) return fail(x, "sem_release", e);
    e = mgr_sem_acquire(x->s2, BENCH_WAIT_S * 1000, &ok);
  } else {
    e = mgr_sem_acquire(x->s1, BENCH_WAIT_S * 1000, &ok);
    if (!e && ok && (e = mgr_sem_release(x->s2, 1)))
      return fail(x, "sem_release", e);
  }
  if (e || !ok) return fail(x, "sem_acquire (a lost wake-up?)", e);
  return 0;
}

/* The queue workloads and sem, n of them as client idx; warm: on the
 * warm-up queue, nothing counted. */
static int queue_run(mgrb_ctx *x, int op, int idx, int nclients, long n,
                     bool warm) {
  const int64_t wait = BENCH_WAIT_S * 1000;
  if (op == OP_SEM) {
    for (long i = 0; i < n; i++)
      if (sem_round(x, idx)) return -1;
    return 0;
  }
  if (warm) {
    for (long i = 0; i < n; i++)
      if (qput(x, x->wq, 0, -1) || qget(x, x->wq, wait, false)) return -1;
    return 0;
  }
  mgr_proxy *q = op == OP_QPCB ? x->qb : x->q;
  if (op == OP_QPAIR) {
    for (long i = 0; i < n; i++)
      if (qput(x, q, bench_item(idx, i), -1) || qget(x, q, 0, true)) return -1;
  } else if (bench_is_producer(op, idx, nclients)) {
    for (long i = 0; i < n; i++)
      if (qput(x, q, bench_item(idx, i), wait)) return -1;
  } else {
    for (long i = 0; i < n; i++)
      if (qget(x, q, wait, true)) return -1;
  }
  return 0;
}

static bool is_queue_op(int op) {
  return bench_op_is_queue(op) || op == OP_SEM;
}

static int m_setup(void *ctx, int op, int idx, int nclients) {
  mgrb_ctx *x = ctx;
  if (is_queue_op(op)) return queue_run(x, op, idx, nclients, x->warmup, true);
  char k[16];
  bench_client_key(k, sizeof k, idx);
  mgr_value key = mgr_text(k);
  for (int i = 0; i < x->warmup; i++)
    if (one(x, op, &key, i, 1)) return -1;
  return 0;
}

static int m_run(void *ctx, int op, int idx, int nclients, long n) {
  mgrb_ctx *x = ctx;
  if (is_queue_op(op)) return queue_run(x, op, idx, nclients, n, false);
  char k[16];
  bench_client_key(k, sizeof k, idx);
  mgr_value key = mgr_text(k);
  for (long i = 0; i < n; i++)
    if (one(x, op, &key, i, 0)) return -1;
  return 0;
}

/* Each queue empty and each semaphore 0, before and after a measurement. */
static int queues_idle(mgrb_ctx *x) {
  mgr_proxy *qs[] = {x->q, x->qb, x->wq}, *ss[] = {x->s1, x->s2};
  size_t n;
  int64_t v;
  int e;
  for (int i = 0; i < 3; i++) {
    if ((e = mgr_queue_qsize(qs[i], &n))) return fail(x, "queue_qsize", e);
    if (n) {
      fprintf(stderr, "mgr: a queue holds %zu items after the run\n", n);
      return -1;
    }
  }
  for (int i = 0; i < 2; i++) {
    if ((e = mgr_sem_value(ss[i], &v))) return fail(x, "sem_value", e);
    if (v) {
      fprintf(stderr, "mgr: a semaphore is at %lld after the run\n",
              (long long)v);
      return -1;
    }
  }
  return 0;
}

static int m_prepare(void *ctx, int op) {
  mgrb_ctx *x = ctx;
  if (is_queue_op(op)) return queues_idle(x);
  int e = mgr_dict_clear(x->d);
  if (e) return fail(x, "dict_clear", e);
  mgr_value zero = mgr_int(0), one_ = mgr_int(1);
  const char *names[] = {"a", "l", "w"};
  for (int i = 0; i < 3; i++) {
    mgr_value k = mgr_text(names[i]);
    if ((e = mgr_dict_set(x->d, &k, &zero))) return fail(x, "dict_set", e);
  }
  for (int i = 0; i < BENCH_MAX_CLIENTS; i++) {
    char k[16];
    bench_client_key(k, sizeof k, i);
    mgr_value key = mgr_text(k);
    if ((e = mgr_dict_set(x->d, &key, &one_))) return fail(x, "dict_set", e);
  }
  return 0;
}

static int m_check(void *ctx, int op, long ops) {
  mgrb_ctx *x = ctx;
  if (is_queue_op(op)) return queues_idle(x); /* the items: bench_sweep */
  if (op != OP_INCR && op != OP_LOCK) return 0;
  mgr_value k = mgr_text(op == OP_INCR ? "c" : "l");
  int64_t v = 0;
  if (get_int(x, &k, &v)) return -1;
  if (v != ops) {
    fprintf(stderr, "mgr: %s counted %lld, expected %ld\n", bench_op_names[op],
            (long long)v, ops);
    return -1;
  }
  return 0;
}

/* RSS growth of the server for n small entries, one mgr_dict_set per entry. */
static int measure_mem(mgrb_ctx *x, long n) {
  int64_t pid = mgr_server_pid(x->m);
  long before = bench_rss_kb((pid_t)pid);
  char k[32];
  int e;
  for (long i = 0; i < n; i++) {
    bench_mem_key(k, sizeof k, i);
    mgr_value key = mgr_text(k), val = mgr_int(i);
    if ((e = mgr_dict_set(x->d, &key, &val))) return fail(x, "dict_set", e);
  }
  size_t len = 0;
  if ((e = mgr_dict_len(x->d, &len))) return fail(x, "dict_len", e);
  if ((long)len != n) {
    fprintf(stderr, "mgr: dict holds %zu entries, expected %ld\n", len, n);
    return -1;
  }
  bench_print_mem("mgr", n, before, bench_rss_kb((pid_t)pid));
  return 0;
}

int main(int argc, char **argv) {
  static const int ops[] = {OP_SET, OP_GET, OP_INCR, OP_ADD, OP_LOCK};
  bench_opts o;
  bench_parse(argc, argv, &o, ops, 5);
  mgrb_ctx x;
  memset(&x, 0, sizeof x);
  x.warmup = o.warmup;
  int e = mgr_start(NULL, &x.m);
  if (e) return fail(&x, "mgr_start", e), 1;
  if ((e = mgr_dict_new(x.m, NULL, &x.d))) return fail(&x, "dict_new", e), 1;
  if ((e = mgr_lock_new(x.m, &x.lk))) return fail(&x, "lock_new", e), 1;
  if ((e = mgr_queue_new(x.m, 0, &x.q)) ||
      (e = mgr_queue_new(x.m, BENCH_QUEUE_MAXSIZE, &x.qb)) ||
      (e = mgr_queue_new(x.m, 0, &x.wq)))
    return fail(&x, "queue_new", e), 1;
  if ((e = mgr_semaphore_new(x.m, 0, &x.s1)) ||
      (e = mgr_semaphore_new(x.m, 0, &x.s2)))
    return fail(&x, "semaphore_new", e), 1;
  int fails;
  if (o.mem > 0) {
    fails = measure_mem(&x, o.mem) ? 1 : 0;
  } else {
    bench_client c = {m_setup, m_run, m_prepare, m_check, &x};
    fails = bench_sweep("mgr", &o, &c);
  }
  mgr_proxy *ps[] = {x.s2, x.s1, x.wq, x.qb, x.q, x.lk, x.d};
  for (int i = 0; i < 7; i++)
    mgr_release(ps[i]);
  e = mgr_shutdown(x.m);
  if (e) fprintf(stderr, "mgr: shutdown: %s\n", mgr_err_name(e));
  return fails ? 1 : 0;
}
