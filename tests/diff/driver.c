/* mgr tests — the C side of the differential test against CPython's
 * manager (tests/diff/diff_cpython.py). It reads a script on stdin and runs
 * each step through the PUBLIC client API, printing one line per step:
 *
 *   NEW <name> <kind> <hex>        create an object (init: the CBOR value)
 *   <name> <method> <hex>          call a method (args: a CBOR array)
 *   ->  OK <hex>                   the result, a CBOR value (nil for none)
 *   ->  ERR <exception> <message>  the Python exception the error maps to
 *
 * Methods are named as in Python (getitem, put_nowait, acquire ...) with
 * Python's arguments; the mapping to the C calls is this file's switch, so
 * the test checks the C API a user calls, not only the server. */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cbor/cbor.h"
#include "common/arena.h"
#include "common/buf.h"
#include "common/limits.h"
#include "mgr/mgr.h"

#define MAXOBJ 64

typedef struct obj {
  char name[32];
  char kind[16];
  char typecode;
  mgr_proxy *p;
} obj;

static mgr_client *M;
static obj objs[MAXOBJ];
static size_t nobj;
static mgri_arena A;
static char cur[256]; /* the step being run, for messages */

static void die(const char *what) {
  fprintf(stderr, "driver: %s (at: %s)\n", what, cur);
  exit(2);
}

static int hexval(int c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

static mgr_value decode_hex(const char *h) {
  size_t n = strlen(h) / 2;
  uint8_t *b = mgri_arena_alloc(&A, n ? n : 1);
  for (size_t i = 0; i < n; i++) {
    int hi = hexval(h[2 * i]), lo = hexval(h[2 * i + 1]);
    if (hi < 0 || lo < 0) die("bad hex");
    b[i] = (uint8_t)(hi << 4 | lo);
  }
  mgri_limits lim;
  mgri_limits_default(&lim);
  mgr_value v;
  if (mgri_cbor_decode(b, n, &lim, &A, &v, NULL) != MGR_OK) die("bad cbor");
  return v;
}

static void print_ok(const mgr_value *v) {
  mgri_buf b;
  mgri_buf_init(&b, 0);
  if (mgri_cbor_value(&b, v) != MGR_OK) die("cannot encode a result");
  printf("OK ");
  for (size_t i = 0; i < b.len; i++)
    printf("%02x", b.data[i]);
  printf("\n");
  mgri_buf_fini(&b);
}

static void print_err(int rc) {
  const char *py = mgr_err_python(rc);
  const char *dot = strrchr(py, '.');
  char msg[200];
  snprintf(msg, sizeof msg, "%s", mgr_errmsg(M));
  for (char *p = msg; *p; p++)
    if (*p == '\n') *p = ' ';
  printf("ERR %s %s %s\n", dot ? dot + 1 : py, mgr_err_name(rc), msg);
}

/* Prints the outcome of a call whose result is in *res (owned). */
static void done(int rc, mgr_value *res) {
  if (rc == MGR_OK)
    print_ok(res);
  else
    print_err(rc);
  mgr_value_free(res);
}

static obj *find(const char *name) {
  for (size_t i = 0; i < nobj; i++)
    if (!strcmp(objs[i].name, name)) return &objs[i];
  die("unknown object");
  return NULL;
}

static const mgr_value *arg(const mgr_value *args, size_t i) {
  if (args->type != MGR_T_ARRAY || i >= args->u.a.len) die("missing argument");
  return &args->u.a.items[i];
}
static size_t nargs(const mgr_value *args) { return args->u.a.len; }
static int64_t iarg(const mgr_value *args, size_t i) {
  const mgr_value *v = arg(args, i);
  if (v->type != MGR_T_INT) die("an int argument expected");
  return v->u.i;
}
static mgr_bound barg(const mgr_value *args, size_t i) {
  const mgr_value *v = arg(args, i);
  return v->type == MGR_T_NIL ? MGR_OMIT : mgr_at(v->u.i);
}
/* Python's (block, timeout) as the API's timeout_ms. */
static int64_t tmo(const mgr_value *args, size_t bi, size_t ti) {
  bool block = nargs(args) > bi ? arg(args, bi)->u.b : true;
  if (!block) return 0;
  if (nargs(args) <= ti || arg(args, ti)->type == MGR_T_NIL) return -1;
  const mgr_value *t = arg(args, ti);
  double s = t->type == MGR_T_INT ? (double)t->u.i : t->u.f;
  return (int64_t)llround(s * 1000.0);
}

static mgr_value boolv(bool b) { return mgr_bool(b); }

/* --- creating --------------------------------------------------------------- */

static void create(char *name, char *kind, const mgr_value *init) {
  if (nobj == MAXOBJ) die("too many objects");
  obj *o = &objs[nobj];
  snprintf(o->name, sizeof o->name, "%s", name);
  snprintf(o->kind, sizeof o->kind, "%s", kind);
  int rc;
  const mgr_value *a0 =
      init->type == MGR_T_ARRAY && init->u.a.len ? &init->u.a.items[0] : NULL;
  if (!strcmp(kind, "dict"))
    rc = mgr_dict_new(M, init, &o->p);
  else if (!strcmp(kind, "list"))
    rc = mgr_list_new(M, init, &o->p);
  else if (!strcmp(kind, "value"))
    rc = mgr_var_new(M, init, &o->p);
  else if (!strcmp(kind, "lock"))
    rc = mgr_lock_new(M, &o->p);
  else if (!strcmp(kind, "rlock"))
    rc = mgr_rlock_new(M, &o->p);
  else if (!strcmp(kind, "queue"))
    rc = mgr_queue_new(M, init->u.i, &o->p);
  else if (!strcmp(kind, "jqueue"))
    rc = mgr_joinable_queue_new(M, init->u.i, &o->p);
  else if (!strcmp(kind, "namespace"))
    rc = mgr_namespace_new(M, init, &o->p);
  else if (!strcmp(kind, "event"))
    rc = mgr_event_new(M, &o->p);
  else if (!strcmp(kind, "condition"))
    rc = mgr_condition_new(M, NULL, &o->p);
  else if (!strcmp(kind, "semaphore"))
    rc = mgr_semaphore_new(M, init->u.i, &o->p);
  else if (!strcmp(kind, "bsemaphore"))
    rc = mgr_bounded_semaphore_new(M, init->u.i, &o->p);
  else if (!strcmp(kind, "barrier"))
    rc = mgr_barrier_new(M, init->u.i, -1, &o->p);
  else if (!strcmp(kind, "array")) {
    /* init: [typecode, items] */
    o->typecode = a0->u.s.ptr[0];
    rc = mgr_array_new(M, o->typecode, &init->u.a.items[1], &o->p);
  } else {
    die("unknown kind");
    return;
  }
  if (rc != MGR_OK) {
    fprintf(stderr, "driver: creating %s %s: %s (%s)\n", kind, name,
            mgr_err_name(rc), mgr_errmsg(M));
    exit(2);
  }
  nobj++;
  printf("OK f6\n");
}

/* --- calling ----------------------------------------------------------------- */

#define IS(m) (!strcmp(meth, m))

static void call_dict(mgr_proxy *p, const char *meth, const mgr_value *a) {
  mgr_value r = mgr_nil();
  int rc;
  if (IS("getitem"))
    rc = mgr_dict_get(p, arg(a, 0), &r);
  else if (IS("get"))
    rc =
        mgr_dict_get_default(p, arg(a, 0), nargs(a) > 1 ? arg(a, 1) : NULL, &r);
  else if (IS("setitem"))
    rc = mgr_dict_set(p, arg(a, 0), arg(a, 1));
  else if (IS("delitem"))
    rc = mgr_dict_del(p, arg(a, 0));
  else if (IS("contains")) {
    bool b = false;
    rc = mgr_dict_contains(p, arg(a, 0), &b);
    r = boolv(b);
  } else if (IS("len")) {
    size_t n = 0;
    rc = mgr_dict_len(p, &n);
    r = mgr_int((int64_t)n);
  } else if (IS("keys"))
    rc = mgr_dict_keys(p, &r);
  else if (IS("values"))
    rc = mgr_dict_values(p, &r);
  else if (IS("items"))
    rc = mgr_dict_items(p, &r);
  else if (IS("pop"))
    rc = mgr_dict_pop(p, arg(a, 0), nargs(a) > 1 ? arg(a, 1) : NULL, &r);
  else if (IS("popitem")) {
    mgr_value kv[2] = {mgr_nil(), mgr_nil()};
    rc = mgr_dict_popitem(p, &kv[0], &kv[1]);
    if (rc == MGR_OK) {
      mgr_value pair = mgr_array(kv, 2);
      print_ok(&pair);
    } else {
      print_err(rc);
    }
    mgr_value_free(&kv[0]);
    mgr_value_free(&kv[1]);
    return;
  } else if (IS("setdefault"))
    rc = mgr_dict_setdefault(p, arg(a, 0), nargs(a) > 1 ? arg(a, 1) : NULL, &r);
  else if (IS("update"))
    rc = mgr_dict_update(p, arg(a, 0));
  else if (IS("clear"))
    rc = mgr_dict_clear(p);
  else if (IS("copy"))
    rc = mgr_dict_copy(p, &r);
  else {
    die("unknown dict method");
    return;
  }
  done(rc, &r);
}

static void call_list(mgr_proxy *p, const char *meth, const mgr_value *a) {
  mgr_value r = mgr_nil();
  int rc;
  if (IS("getitem"))
    rc = mgr_list_get(p, iarg(a, 0), &r);
  else if (IS("setitem"))
    rc = mgr_list_set(p, iarg(a, 0), arg(a, 1));
  else if (IS("delitem"))
    rc = mgr_list_del(p, iarg(a, 0));
  else if (IS("len")) {
    size_t n = 0;
    rc = mgr_list_len(p, &n);
    r = mgr_int((int64_t)n);
  } else if (IS("contains")) {
    bool b = false;
    rc = mgr_list_contains(p, arg(a, 0), &b);
    r = boolv(b);
  } else if (IS("getslice"))
    rc = mgr_list_getslice(p, barg(a, 0), barg(a, 1), barg(a, 2), &r);
  else if (IS("setslice"))
    rc = mgr_list_setslice(p, barg(a, 0), barg(a, 1), barg(a, 2), arg(a, 3));
  else if (IS("delslice"))
    rc = mgr_list_delslice(p, barg(a, 0), barg(a, 1), barg(a, 2));
  else if (IS("append"))
    rc = mgr_list_append(p, arg(a, 0));
  else if (IS("extend"))
    rc = mgr_list_extend(p, arg(a, 0));
  else if (IS("insert"))
    rc = mgr_list_insert(p, iarg(a, 0), arg(a, 1));
  else if (IS("pop"))
    rc = mgr_list_pop(p, nargs(a) ? iarg(a, 0) : -1, &r);
  else if (IS("remove"))
    rc = mgr_list_remove(p, arg(a, 0));
  else if (IS("index")) {
    int64_t i = 0;
    rc = mgr_list_index(p, arg(a, 0), MGR_OMIT, MGR_OMIT, &i);
    r = mgr_int(i);
  } else if (IS("count")) {
    size_t n = 0;
    rc = mgr_list_count(p, arg(a, 0), &n);
    r = mgr_int((int64_t)n);
  } else if (IS("reverse"))
    rc = mgr_list_reverse(p);
  else if (IS("sort"))
    rc = mgr_list_sort(p, nargs(a) ? arg(a, 0)->u.b : false);
  else if (IS("clear"))
    rc = mgr_list_clear(p);
  else if (IS("copy"))
    rc = mgr_list_copy(p, &r);
  else if (IS("imul"))
    rc = mgr_list_imul(p, iarg(a, 0));
  else {
    die("unknown list method");
    return;
  }
  done(rc, &r);
}

static void call_value(mgr_proxy *p, const char *meth, const mgr_value *a) {
  mgr_value r = mgr_nil();
  int rc;
  if (IS("get"))
    rc = mgr_var_get(p, &r);
  else if (IS("set"))
    rc = mgr_var_set(p, arg(a, 0));
  else {
    die("unknown value method");
    return;
  }
  done(rc, &r);
}

static void call_lock(mgr_proxy *p, const char *meth, const mgr_value *a) {
  mgr_value r = mgr_nil();
  int rc;
  if (IS("acquire")) {
    bool got = false;
    rc = mgr_lock_acquire(p, tmo(a, 0, 1), &got);
    r = boolv(got);
  } else if (IS("release"))
    rc = mgr_lock_release(p);
  else {
    die("unknown lock method");
    return;
  }
  done(rc, &r);
}

static void call_queue(mgr_proxy *p, const char *meth, const mgr_value *a) {
  mgr_value r = mgr_nil();
  int rc;
  if (IS("put_nowait"))
    rc = mgr_queue_put(p, arg(a, 0), 0);
  else if (IS("put"))
    rc = mgr_queue_put(p, arg(a, 0), tmo(a, 1, 2));
  else if (IS("get_nowait"))
    rc = mgr_queue_get(p, 0, &r);
  else if (IS("get"))
    rc = mgr_queue_get(p, tmo(a, 0, 1), &r);
  else if (IS("qsize")) {
    size_t n = 0;
    rc = mgr_queue_qsize(p, &n);
    r = mgr_int((int64_t)n);
  } else if (IS("empty") || IS("full")) {
    bool b = false;
    rc = IS("empty") ? mgr_queue_empty(p, &b) : mgr_queue_full(p, &b);
    r = boolv(b);
  } else if (IS("task_done"))
    rc = mgr_queue_task_done(p);
  else {
    die("unknown queue method");
    return;
  }
  done(rc, &r);
}

static void call_namespace(mgr_proxy *p, const char *meth, const mgr_value *a) {
  mgr_value r = mgr_nil();
  int rc;
  const char *name =
      nargs(a) && arg(a, 0)->type == MGR_T_TEXT ? arg(a, 0)->u.s.ptr : "";
  if (IS("getattr"))
    rc = mgr_ns_get(p, name, &r);
  else if (IS("setattr"))
    rc = mgr_ns_set(p, name, arg(a, 1));
  else if (IS("delattr"))
    rc = mgr_ns_del(p, name);
  else if (IS("vars"))
    rc = mgr_ns_items(p, &r);
  else {
    die("unknown namespace method");
    return;
  }
  done(rc, &r);
}

static void call_event(mgr_proxy *p, const char *meth, const mgr_value *a) {
  mgr_value r = mgr_nil();
  int rc;
  bool b = false;
  if (IS("set"))
    rc = mgr_event_set(p);
  else if (IS("clear"))
    rc = mgr_event_clear(p);
  else if (IS("is_set")) {
    rc = mgr_event_is_set(p, &b);
    r = boolv(b);
  } else if (IS("wait")) {
    rc = mgr_event_wait(p, tmo(a, 99, 0), &b);
    r = boolv(b);
  } else {
    die("unknown event method");
    return;
  }
  done(rc, &r);
}

static void call_semaphore(mgr_proxy *p, const char *meth, const mgr_value *a) {
  mgr_value r = mgr_nil();
  int rc;
  if (IS("acquire")) {
    bool got = false;
    rc = mgr_sem_acquire(p, tmo(a, 0, 1), &got);
    r = boolv(got);
  } else if (IS("release"))
    rc = mgr_sem_release(p, 1);
  else {
    die("unknown semaphore method");
    return;
  }
  done(rc, &r);
}

static void call_barrier(mgr_proxy *p, const char *meth, const mgr_value *a) {
  mgr_value r = mgr_nil();
  int rc;
  int64_t n = 0;
  bool b = false;
  if (IS("wait")) {
    rc = mgr_barrier_wait(p, nargs(a) ? tmo(a, 99, 0) : -1, &n);
    r = mgr_int(n);
  } else if (IS("abort"))
    rc = mgr_barrier_abort(p);
  else if (IS("reset"))
    rc = mgr_barrier_reset(p);
  else if (IS("parties") || IS("n_waiting")) {
    rc = IS("parties") ? mgr_barrier_parties(p, &n)
                       : mgr_barrier_n_waiting(p, &n);
    r = mgr_int(n);
  } else if (IS("broken")) {
    rc = mgr_barrier_broken(p, &b);
    r = boolv(b);
  } else {
    die("unknown barrier method");
    return;
  }
  done(rc, &r);
}

static void call_condition(mgr_proxy *p, const char *meth, const mgr_value *a) {
  mgr_value r = mgr_nil();
  int rc;
  bool b = false;
  if (IS("acquire")) {
    rc = mgr_cond_acquire(p, tmo(a, 0, 1), &b);
    r = boolv(b);
  } else if (IS("release"))
    rc = mgr_cond_release(p);
  else if (IS("notify"))
    rc = mgr_cond_notify(p, nargs(a) ? iarg(a, 0) : 1);
  else if (IS("notify_all"))
    rc = mgr_cond_notify_all(p);
  else if (IS("wait")) {
    rc = mgr_cond_wait(p, tmo(a, 99, 0), &b);
    r = boolv(b);
  } else {
    die("unknown condition method");
    return;
  }
  done(rc, &r);
}

static void call_array(mgr_proxy *p, const char *meth, const mgr_value *a) {
  mgr_value r = mgr_nil();
  int rc;
  if (IS("getitem"))
    rc = mgr_array_get(p, iarg(a, 0), &r);
  else if (IS("setitem"))
    rc = mgr_array_set(p, iarg(a, 0), arg(a, 1));
  else if (IS("len")) {
    size_t n = 0;
    rc = mgr_array_len(p, &n);
    r = mgr_int((int64_t)n);
  } else if (IS("getslice"))
    rc = mgr_array_getslice(p, barg(a, 0), barg(a, 1), barg(a, 2), &r);
  else if (IS("setslice"))
    rc = mgr_array_setslice(p, barg(a, 0), barg(a, 1), barg(a, 2), arg(a, 3));
  else {
    die("unknown array method");
    return;
  }
  done(rc, &r);
}

static void step(char *name, char *meth, const mgr_value *args) {
  obj *o = find(name);
  const char *k = o->kind;
  if (!strcmp(k, "dict"))
    call_dict(o->p, meth, args);
  else if (!strcmp(k, "list"))
    call_list(o->p, meth, args);
  else if (!strcmp(k, "value"))
    call_value(o->p, meth, args);
  else if (!strcmp(k, "lock") || !strcmp(k, "rlock"))
    call_lock(o->p, meth, args);
  else if (!strcmp(k, "queue") || !strcmp(k, "jqueue"))
    call_queue(o->p, meth, args);
  else if (!strcmp(k, "namespace"))
    call_namespace(o->p, meth, args);
  else if (!strcmp(k, "event"))
    call_event(o->p, meth, args);
  else if (!strcmp(k, "semaphore") || !strcmp(k, "bsemaphore"))
    call_semaphore(o->p, meth, args);
  else if (!strcmp(k, "barrier"))
    call_barrier(o->p, meth, args);
  else if (!strcmp(k, "condition"))
    call_condition(o->p, meth, args);
  else if (!strcmp(k, "array"))
    call_array(o->p, meth, args);
  else
    die("unknown kind");
}

int main(int argc, char **argv) {
  int rc = argc > 1 ? mgr_connect(argv[1], NULL, &M) : mgr_start(NULL, &M);
  if (rc != MGR_OK) {
    fprintf(stderr, "driver: cannot reach a manager: %s (%s)\n",
            mgr_err_name(rc), mgr_errmsg(NULL));
    return 2;
  }
  mgri_arena_init(&A, 0);
  static char line[1 << 20];
  while (fgets(line, sizeof line, stdin)) {
    line[strcspn(line, "\n")] = 0;
    snprintf(cur, sizeof cur, "%.200s", line);
    char *w1 = strtok(line, " "), *w2 = strtok(NULL, " "),
         *w3 = strtok(NULL, " ");
    if (!w1) continue;
    if (!strcmp(w1, "NEW")) {
      char *w4 = strtok(NULL, " ");
      if (!w2 || !w3 || !w4) die("bad NEW line");
      mgr_value init = decode_hex(w4);
      create(w2, w3, &init);
    } else {
      if (!w2 || !w3) die("bad step line");
      mgr_value args = decode_hex(w3);
      step(w1, w2, &args);
    }
    fflush(stdout);
    mgri_arena_reset(&A);
  }
  for (size_t i = 0; i < nobj; i++)
    mgr_release(objs[i].p);
  mgri_arena_fini(&A);
  rc = argc > 1 ? (mgr_close(M), MGR_OK) : mgr_shutdown(M);
  return rc == MGR_OK ? 0 : 1;
}
