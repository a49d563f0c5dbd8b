/* bench — mgr through its public API (include/mgr/client.h):
 *   set  mgr_dict_set(d, "k<i>", v)        get  mgr_dict_get(d, "k<i>")
 *   incr mgr_dict_incr_int(d, "c", 1)      add  d["a"] += 1 as get then set
 *   lock acquire, get "l", set "l" v+1, release
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

static int m_setup(void *ctx, int op, int idx, int nclients) {
  (void)nclients;
  mgrb_ctx *x = ctx;
  char k[16];
  bench_client_key(k, sizeof k, idx);
  mgr_value key = mgr_text(k);
  for (int i = 0; i < x->warmup; i++)
    if (one(x, op, &key, i, 1)) return -1;
  return 0;
}

static int m_run(void *ctx, int op, int idx, int nclients, long n) {
  (void)nclients;
  mgrb_ctx *x = ctx;
  char k[16];
  bench_client_key(k, sizeof k, idx);
  mgr_value key = mgr_text(k);
  for (long i = 0; i < n; i++)
    if (one(x, op, &key, i, 0)) return -1;
  return 0;
}

static int m_prepare(void *ctx, int op) {
  (void)op;
  mgrb_ctx *x = ctx;
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
  int fails;
  if (o.mem > 0) {
    fails = measure_mem(&x, o.mem) ? 1 : 0;
  } else {
    bench_client c = {m_setup, m_run, m_prepare, m_check, &x};
    fails = bench_sweep("mgr", &o, &c);
  }
  mgr_release(x.lk);
  mgr_release(x.d);
  e = mgr_shutdown(x.m);
  if (e) fprintf(stderr, "mgr: shutdown: %s\n", mgr_err_name(e));
  return fails ? 1 : 0;
}
