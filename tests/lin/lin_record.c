/* mgr tests — linearizability, the recorder: N forked clients run random
 * operations at once on shared objects of one manager and log each call
 * (invocation and response times on CLOCK_MONOTONIC, arguments, status and
 * result, as the protocol's op, args and result of spec/protocol.md 9); the
 * histories go to stdout, one JSON object per line, for tests/lin/check.py.
 *
 *   lin_record --seed S [--histories H] [--first F] [--clients N] [--ops K]
 *              [--mutant incr|stale]
 *
 * History h (F <= h < F + H) draws its operations from (S, h, client): the
 * same seed gives the same operations; the interleaving is the scheduler's.
 * Each history has fresh objects: a dict, a list, a Value, an Array ('q'),
 * and a Queue (maxsize 2), a Semaphore (1) and a BoundedSemaphore (2) when
 * the manager implements them (a kind whose CREATE is refused, or whose
 * client calls this library lacks, is left out, and said so on stderr).
 * Operations never wait (queue and semaphore calls with timeout 0). A client
 * sometimes sends several operations as one BATCH: each sub-request is
 * logged as its own operation with the batch's times and its index in the
 * batch (spec 9.6.1: each is atomic, the batch is not).
 *
 * --mutant incr is a broken client: every increment (DICT_INCR, LIST_INCR,
 * VAR_INCR, ARRAY_INCR outside batches) is done as a read then a write (two
 * messages, the lost update of spec 11.3) but logged as the increment, with
 * the times around both messages. --mutant stale is a client that answers a
 * batch's reads (DICT_GET, DICT_CONTAINS, DICT_LEN, LIST_GET, LIST_LEN,
 * VAR_GET, ARRAY_GET) from a snapshot it read just before the batch, as a
 * caching client would: the batch runs, but those sub-requests' logged
 * results are the snapshot's. The checker must reject such histories.
 *
 * Output: per history a line {"h":..,"clients":..,"objects":[..]}, the
 * operations {"c":client,"o":object,"op":name,"args":[..],"st":status,
 * "res":result,"inv":ns,"resp":ns,"b":batch,"i":index}, then {"end":h}. A
 * status is "OK" or the error's name without "MGR_" ("EKEY"); a map value is
 * {"map":[[k,v]..]}. Exit status 0, or 1 with the reason on stderr. */
#include <errno.h>
#include <mgr/mgr.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_CLIENTS 8
#define BATCH_MAX 4

enum { O_DICT, O_LIST, O_VAR, O_ARRAY, O_QUEUE, O_SEM, O_BSEM, O_N };
static const char *const obj_name[O_N] = {"d", "l", "v", "a", "q", "s", "bs"};
static const char *const obj_kind[O_N] = {
    "dict", "list", "value", "array", "queue", "semaphore", "bsemaphore"};

static mgr_client *M;
static mgr_proxy *objs[O_N];
static bool avail[O_N] = {true, true, true, true, true, true, true};
static bool mutant_incr, mutant_stale;

static void die(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "lin_record: ");
  vfprintf(stderr, fmt, ap);
  fprintf(stderr, "\n");
  va_end(ap);
  exit(1);
}

static int64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* splitmix64: independent streams from (seed, history, client). */
static uint64_t rng_next(uint64_t *s) {
  uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}
static int rnd(uint64_t *s, int lo, int hi) { /* inclusive */
  return lo + (int)(rng_next(s) % (uint64_t)(hi - lo + 1));
}

/* --- a growable text buffer, and values as JSON --------------------------- */
typedef struct buf {
  char *p;
  size_t len, cap;
} buf;

static void bprintf(buf *b, const char *fmt, ...) {
  for (;;) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(b->p ? b->p + b->len : NULL, b->cap - b->len, fmt, ap);
    va_end(ap);
    if (n < 0) die("vsnprintf failed");
    if ((size_t)n < b->cap - b->len) {
      b->len += (size_t)n;
      return;
    }
    size_t cap = b->cap ? b->cap * 2 : 4096;
    while (cap - b->len <= (size_t)n)
      cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p) die("out of memory");
    b->p = p;
    b->cap = cap;
  }
}

static void json_text(buf *b, const char *s, size_t n) {
  bprintf(b, "\"");
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c == '"' || c == '\\')
      bprintf(b, "\\%c", c);
    else if (c < 0x20)
      bprintf(b, "\\u%04x", c);
    else
      bprintf(b, "%c", c);
  }
  bprintf(b, "\"");
}

static void json_value(buf *b, const mgr_value *v) {
  switch (v->type) {
  case MGR_T_NIL:
    bprintf(b, "null");
    break;
  case MGR_T_BOOL:
    bprintf(b, v->u.b ? "true" : "false");
    break;
  case MGR_T_INT:
    bprintf(b, "%lld", (long long)v->u.i);
    break;
  case MGR_T_FLOAT:
    bprintf(b, "{\"float\":%.17g}", v->u.f);
    break;
  case MGR_T_TEXT:
    json_text(b, v->u.s.ptr, v->u.s.len);
    break;
  case MGR_T_ARRAY:
    bprintf(b, "[");
    for (size_t i = 0; i < v->u.a.len; i++) {
      if (i) bprintf(b, ",");
      json_value(b, &v->u.a.items[i]);
    }
    bprintf(b, "]");
    break;
  case MGR_T_MAP:
    bprintf(b, "{\"map\":[");
    for (size_t i = 0; i < v->u.a.len; i++) {
      if (i) bprintf(b, ",");
      bprintf(b, "[");
      json_value(b, &v->u.a.items[2 * i]);
      bprintf(b, ",");
      json_value(b, &v->u.a.items[2 * i + 1]);
      bprintf(b, "]");
    }
    bprintf(b, "]}");
    break;
  default: /* bytes and refs are never stored here */
    bprintf(b, "{\"other\":%d}", (int)v->type);
    break;
  }
}

/* --- one operation ---------------------------------------------------------
 * op, args as the protocol names them (spec 9); inner holds what args point
 * into (pairs of an update, items of a slice), so an opi is never copied. */
typedef struct opi {
  int obj;
  const char *op;
  mgr_value args[4];
  size_t nargs;
  mgr_value inner[8];
} opi;

static const char *const keys[3] = {"a", "b", "c"};

#define ARG(x) (o->args[o->nargs++] = (x))

/* Draws one operation on object obj. batch: only ops a batch can carry
 * without waiting and that the batch adders reach. */
static void draw(opi *o, int obj, uint64_t *r, int client, int *seq,
                 bool batch) {
  memset(o, 0, sizeof *o);
  o->obj = obj;
  int k = rnd(r, 0, 99);
  mgr_value key = mgr_text(keys[rnd(r, 0, 2)]);
  switch (obj) {
  case O_DICT:
    if (batch) k = k * 60 / 100; /* the first rows */
    if (k < 8)
      o->op = "DICT_GET", ARG(key);
    else if (k < 13)
      o->op = "DICT_GET", ARG(key), ARG(mgr_int(rnd(r, 0, 3)));
    else if (k < 23)
      o->op = "DICT_SET", ARG(key), ARG(mgr_int(rnd(r, 0, 3)));
    else if (k < 27)
      o->op = "DICT_DEL", ARG(key);
    else if (k < 30)
      o->op = "DICT_CONTAINS", ARG(key);
    else if (k < 33)
      o->op = "DICT_LEN";
    else if (k < 45) {
      o->op = "DICT_INCR", ARG(key), ARG(mgr_int(rnd(r, 1, 2)));
      if (rnd(r, 0, 2)) ARG(mgr_int(0));
    } else if (k < 53) {
      o->op = "DICT_CAS", ARG(key), ARG(mgr_int(rnd(r, 0, 3)));
      ARG(mgr_int(rnd(r, 0, 3)));
    } else if (k < 60) {
      o->op = "DICT_POP", ARG(key);
      if (rnd(r, 0, 1)) ARG(mgr_int(9));
    } else if (k < 66)
      o->op = "DICT_ITEMS";
    else if (k < 70)
      o->op = "DICT_KEYS";
    else if (k < 73)
      o->op = "DICT_VALUES";
    else if (k < 77)
      o->op = "DICT_POPITEM";
    else if (k < 83)
      o->op = "DICT_SETDEFAULT", ARG(key), ARG(mgr_int(rnd(r, 0, 3)));
    else if (k < 89) {
      int n = rnd(r, 1, 2);
      for (int i = 0; i < n; i++) {
        o->inner[2 + 2 * i] = mgr_text(keys[rnd(r, 0, 2)]);
        o->inner[3 + 2 * i] = mgr_int(rnd(r, 0, 3));
        o->inner[i] = mgr_array(&o->inner[2 + 2 * i], 2);
      }
      o->op = "DICT_UPDATE", ARG(mgr_array(o->inner, (size_t)n));
    } else if (k < 95)
      o->op = "DICT_COPY";
    else
      o->op = "DICT_CLEAR";
    break;
  case O_LIST: {
    int idx = rnd(r, -3, 2);
    if (batch) k = k * 62 / 100;
    if (k < 10)
      o->op = "LIST_GET", ARG(mgr_int(idx));
    else if (k < 18)
      o->op = "LIST_SET", ARG(mgr_int(idx)), ARG(mgr_int(rnd(r, 0, 3)));
    else if (k < 30)
      o->op = "LIST_APPEND", ARG(mgr_int(rnd(r, 0, 3)));
    else if (k < 34)
      o->op = "LIST_LEN";
    else if (k < 48)
      o->op = "LIST_INCR", ARG(mgr_int(idx)), ARG(mgr_int(rnd(r, 1, 2)));
    else if (k < 62)
      o->op = "LIST_POP", ARG(mgr_int(rnd(r, 0, 1) ? -1 : 0));
    else if (k < 70) {
      o->op = "LIST_CAS", ARG(mgr_int(idx)), ARG(mgr_int(rnd(r, 0, 3)));
      ARG(mgr_int(rnd(r, 0, 3)));
    } else if (k < 76)
      o->op = "LIST_INSERT", ARG(mgr_int(rnd(r, -1, 3))),
      ARG(mgr_int(rnd(r, 0, 3)));
    else if (k < 84)
      o->op = "LIST_COPY";
    else if (k < 89)
      o->op = "LIST_REMOVE", ARG(mgr_int(rnd(r, 0, 3)));
    else if (k < 94)
      o->op = "LIST_COUNT", ARG(mgr_int(rnd(r, 0, 3)));
    else
      o->op = "LIST_CONTAINS", ARG(mgr_int(rnd(r, 0, 3)));
    break;
  }
  case O_VAR:
    if (k < 25)
      o->op = "VAR_GET";
    else if (k < 40)
      o->op = "VAR_SET", ARG(mgr_int(rnd(r, 0, 3)));
    else if (k < 75)
      o->op = "VAR_INCR", ARG(mgr_int(rnd(r, 1, 2)));
    else {
      o->op = "VAR_CAS", ARG(mgr_int(rnd(r, 0, 4)));
      ARG(mgr_int(rnd(r, 0, 4)));
    }
    break;
  case O_ARRAY: {
    int idx = rnd(r, -4, 3); /* length 3: -4 and 3 are out of range */
    if (batch) k = k * 70 / 100;
    if (k < 15)
      o->op = "ARRAY_GET", ARG(mgr_int(idx));
    else if (k < 30)
      o->op = "ARRAY_SET", ARG(mgr_int(idx)), ARG(mgr_int(rnd(r, 0, 3)));
    else if (k < 55)
      o->op = "ARRAY_INCR", ARG(mgr_int(idx)), ARG(mgr_int(rnd(r, 1, 2)));
    else if (k < 70) {
      o->op = "ARRAY_CAS", ARG(mgr_int(idx)), ARG(mgr_int(rnd(r, 0, 3)));
      ARG(mgr_int(rnd(r, 0, 3)));
    } else if (k < 80)
      o->op = "ARRAY_GETSLICE", ARG(mgr_nil()), ARG(mgr_nil()), ARG(mgr_nil());
    else if (k < 90) {
      o->inner[0] = mgr_int(rnd(r, 0, 3));
      o->inner[1] = mgr_int(rnd(r, 0, 3));
      o->op = "ARRAY_SETSLICE", ARG(mgr_int(0)), ARG(mgr_int(2)),
      ARG(mgr_nil());
      ARG(mgr_array(o->inner, 2));
    } else
      o->op = "ARRAY_LEN";
    break;
  }
  case O_QUEUE:
    if (batch) k = k * 70 / 100;
    if (k < 35)
      o->op = "QUEUE_PUT", ARG(mgr_int(client * 1000 + (*seq)++)),
      ARG(mgr_bool(false));
    else if (k < 70)
      o->op = "QUEUE_GET", ARG(mgr_bool(false));
    else if (k < 80)
      o->op = "QUEUE_QSIZE";
    else if (k < 90)
      o->op = "QUEUE_EMPTY";
    else
      o->op = "QUEUE_FULL";
    break;
  case O_SEM:
  case O_BSEM:
    if (batch) k = k * 80 / 100;
    if (k < 40)
      o->op = "SEM_ACQUIRE", ARG(mgr_bool(false));
    else if (k < 80)
      o->op = "SEM_RELEASE", ARG(mgr_int(rnd(r, 0, 4) ? 1 : 2));
    else
      o->op = "SEM_VALUE";
    break;
  }
}

static bool is(const opi *o, const char *name) { return !strcmp(o->op, name); }

/* Makes *out an owned copy of v. */
static void own(mgr_value *out, mgr_value v) {
  if (mgr_value_copy(out, &v) != MGR_OK) die("mgr_value_copy failed");
}

static int cas_result(int rc, bool swapped, mgr_value *cur, mgr_value *res) {
  if (rc == MGR_OK) {
    mgr_value pair[2] = {mgr_bool(swapped), *cur};
    own(res, mgr_array(pair, 2));
  }
  mgr_value_free(cur);
  return rc;
}

/* The broken client's increment: a read, then a write of the sum. */
static int mutant_incr_op(const opi *o, mgr_value *res) {
  mgr_proxy *p = objs[o->obj];
  mgr_value cur = mgr_nil();
  int rc;
  switch (o->obj) {
  case O_DICT:
    rc = o->nargs == 3 ? mgr_dict_get_default(p, &o->args[0], &o->args[2], &cur)
                       : mgr_dict_get(p, &o->args[0], &cur);
    break;
  case O_LIST:
    rc = mgr_list_get(p, o->args[0].u.i, &cur);
    break;
  case O_VAR:
    rc = mgr_var_get(p, &cur);
    break;
  default:
    rc = mgr_array_get(p, o->args[0].u.i, &cur);
    break;
  }
  if (rc != MGR_OK) return rc;
  const mgr_value *delta = &o->args[o->obj == O_VAR ? 0 : 1];
  mgr_value sum = mgr_int(cur.u.i + delta->u.i);
  mgr_value_free(&cur);
  switch (o->obj) {
  case O_DICT:
    rc = mgr_dict_set(p, &o->args[0], &sum);
    break;
  case O_LIST:
    rc = mgr_list_set(p, o->args[0].u.i, &sum);
    break;
  case O_VAR:
    rc = mgr_var_set(p, &sum);
    break;
  default:
    rc = mgr_array_set(p, o->args[0].u.i, &sum);
    break;
  }
  if (rc == MGR_OK) *res = sum; /* an int: nothing to own */
  return rc;
}

/* Runs o as one call; *res gets the protocol's result (owned). */
static int run_direct(const opi *o, mgr_value *res) {
  mgr_proxy *p = objs[o->obj];
  const mgr_value *a = o->args;
  mgr_value v = mgr_nil(), w = mgr_nil();
  size_t n = 0;
  int64_t i64 = 0;
  bool b = false;
  int rc;
  *res = mgr_nil();
  if (mutant_incr && strstr(o->op, "_INCR")) return mutant_incr_op(o, res);
  /* dict */
  if (is(o, "DICT_GET"))
    return o->nargs == 2 ? mgr_dict_get_default(p, &a[0], &a[1], res)
                         : mgr_dict_get(p, &a[0], res);
  if (is(o, "DICT_SET")) return mgr_dict_set(p, &a[0], &a[1]);
  if (is(o, "DICT_DEL")) return mgr_dict_del(p, &a[0]);
  if (is(o, "DICT_CONTAINS")) {
    rc = mgr_dict_contains(p, &a[0], &b);
    *res = mgr_bool(b);
    return rc;
  }
  if (is(o, "DICT_LEN")) {
    rc = mgr_dict_len(p, &n);
    *res = mgr_int((int64_t)n);
    return rc;
  }
  if (is(o, "DICT_INCR")) {
    rc = mgr_dict_incr_int(p, &a[0], a[1].u.i, o->nargs == 3, &i64);
    *res = mgr_int(i64);
    return rc;
  }
  if (is(o, "DICT_CAS")) {
    rc = mgr_dict_cas(p, &a[0], &a[1], &a[2], &b, &v);
    return cas_result(rc, b, &v, res);
  }
  if (is(o, "DICT_POP"))
    return mgr_dict_pop(p, &a[0], o->nargs == 2 ? &a[1] : NULL, res);
  if (is(o, "DICT_ITEMS")) return mgr_dict_items(p, res);
  if (is(o, "DICT_KEYS")) return mgr_dict_keys(p, res);
  if (is(o, "DICT_VALUES")) return mgr_dict_values(p, res);
  if (is(o, "DICT_COPY")) return mgr_dict_copy(p, res);
  if (is(o, "DICT_CLEAR")) return mgr_dict_clear(p);
  if (is(o, "DICT_SETDEFAULT"))
    return mgr_dict_setdefault(p, &a[0], &a[1], res);
  if (is(o, "DICT_UPDATE")) return mgr_dict_update(p, &a[0]);
  if (is(o, "DICT_POPITEM")) {
    rc = mgr_dict_popitem(p, &v, &w);
    if (rc == MGR_OK) {
      mgr_value pair[2] = {v, w};
      own(res, mgr_array(pair, 2));
    }
    mgr_value_free(&v);
    mgr_value_free(&w);
    return rc;
  }
  /* list */
  if (is(o, "LIST_GET")) return mgr_list_get(p, a[0].u.i, res);
  if (is(o, "LIST_SET")) return mgr_list_set(p, a[0].u.i, &a[1]);
  if (is(o, "LIST_APPEND")) return mgr_list_append(p, &a[0]);
  if (is(o, "LIST_LEN")) {
    rc = mgr_list_len(p, &n);
    *res = mgr_int((int64_t)n);
    return rc;
  }
  if (is(o, "LIST_INCR")) {
    rc = mgr_list_incr_int(p, a[0].u.i, a[1].u.i, &i64);
    *res = mgr_int(i64);
    return rc;
  }
  if (is(o, "LIST_POP")) return mgr_list_pop(p, a[0].u.i, res);
  if (is(o, "LIST_CAS")) {
    rc = mgr_list_cas(p, a[0].u.i, &a[1], &a[2], &b, &v);
    return cas_result(rc, b, &v, res);
  }
  if (is(o, "LIST_INSERT")) return mgr_list_insert(p, a[0].u.i, &a[1]);
  if (is(o, "LIST_COPY")) return mgr_list_copy(p, res);
  if (is(o, "LIST_REMOVE")) return mgr_list_remove(p, &a[0]);
  if (is(o, "LIST_COUNT")) {
    rc = mgr_list_count(p, &a[0], &n);
    *res = mgr_int((int64_t)n);
    return rc;
  }
  if (is(o, "LIST_CONTAINS")) {
    rc = mgr_list_contains(p, &a[0], &b);
    *res = mgr_bool(b);
    return rc;
  }
  /* var */
  if (is(o, "VAR_GET")) return mgr_var_get(p, res);
  if (is(o, "VAR_SET")) return mgr_var_set(p, &a[0]);
  if (is(o, "VAR_INCR")) {
    rc = mgr_var_incr_int(p, a[0].u.i, &i64);
    *res = mgr_int(i64);
    return rc;
  }
  if (is(o, "VAR_CAS")) {
    rc = mgr_var_cas(p, &a[0], &a[1], &b, &v);
    return cas_result(rc, b, &v, res);
  }
  /* array */
  if (is(o, "ARRAY_GET")) return mgr_array_get(p, a[0].u.i, res);
  if (is(o, "ARRAY_SET")) return mgr_array_set(p, a[0].u.i, &a[1]);
  if (is(o, "ARRAY_INCR")) {
    rc = mgr_array_incr_int(p, a[0].u.i, a[1].u.i, &i64);
    *res = mgr_int(i64);
    return rc;
  }
  if (is(o, "ARRAY_CAS")) {
    rc = mgr_array_cas(p, a[0].u.i, &a[1], &a[2], &b, &v);
    return cas_result(rc, b, &v, res);
  }
  if (is(o, "ARRAY_GETSLICE"))
    return mgr_array_getslice(p, MGR_OMIT, MGR_OMIT, MGR_OMIT, res);
  if (is(o, "ARRAY_SETSLICE"))
    return mgr_array_setslice(p, mgr_at(a[0].u.i), mgr_at(a[1].u.i), MGR_OMIT,
                              &a[3]);
  if (is(o, "ARRAY_LEN")) {
    rc = mgr_array_len(p, &n);
    *res = mgr_int((int64_t)n);
    return rc;
  }
  /* queue: timeout 0 never waits (spec 9.8: block false) */
  if (is(o, "QUEUE_PUT")) return mgr_queue_put(p, &a[0], 0);
  if (is(o, "QUEUE_GET")) return mgr_queue_get(p, 0, res);
  if (is(o, "QUEUE_QSIZE")) {
    rc = mgr_queue_qsize(p, &n);
    *res = mgr_int((int64_t)n);
    return rc;
  }
  if (is(o, "QUEUE_EMPTY") || is(o, "QUEUE_FULL")) {
    rc = is(o, "QUEUE_EMPTY") ? mgr_queue_empty(p, &b) : mgr_queue_full(p, &b);
    *res = mgr_bool(b);
    return rc;
  }
#ifdef LIN_HAVE_SEM
  /* semaphores */
  if (is(o, "SEM_ACQUIRE")) {
    rc = mgr_sem_acquire(p, 0, &b);
    *res = mgr_bool(b);
    return rc;
  }
  if (is(o, "SEM_RELEASE")) return mgr_sem_release(p, a[0].u.i);
  if (is(o, "SEM_VALUE")) {
    rc = mgr_sem_value(p, &i64);
    *res = mgr_int(i64);
    return rc;
  }
#endif
  die("no call for %s", o->op);
  return MGR_EINVAL;
}

/* Adds o to b: the typed adder where there is one (they are what users
 * call), else mgr_batch_add by the op's spec name. */
static int add_to_batch(mgr_batch *b, const opi *o) {
  mgr_proxy *p = objs[o->obj];
  const mgr_value *a = o->args;
  if (is(o, "DICT_GET"))
    return o->nargs == 2 ? mgr_batch_dict_get_default(b, p, &a[0], &a[1])
                         : mgr_batch_dict_get(b, p, &a[0]);
  if (is(o, "DICT_SET")) return mgr_batch_dict_set(b, p, &a[0], &a[1]);
  if (is(o, "DICT_DEL")) return mgr_batch_dict_del(b, p, &a[0]);
  if (is(o, "DICT_CONTAINS")) return mgr_batch_dict_contains(b, p, &a[0]);
  if (is(o, "DICT_LEN")) return mgr_batch_dict_len(b, p);
  if (is(o, "DICT_INCR"))
    return mgr_batch_dict_incr_int(b, p, &a[0], a[1].u.i, o->nargs == 3);
  if (is(o, "LIST_GET")) return mgr_batch_list_get(b, p, a[0].u.i);
  if (is(o, "LIST_SET")) return mgr_batch_list_set(b, p, a[0].u.i, &a[1]);
  if (is(o, "LIST_APPEND")) return mgr_batch_list_append(b, p, &a[0]);
  if (is(o, "LIST_LEN")) return mgr_batch_list_len(b, p);
  if (is(o, "LIST_INCR"))
    return mgr_batch_list_incr_int(b, p, a[0].u.i, a[1].u.i);
  if (is(o, "VAR_GET")) return mgr_batch_var_get(b, p);
  if (is(o, "VAR_SET")) return mgr_batch_var_set(b, p, &a[0]);
  if (is(o, "VAR_INCR")) return mgr_batch_var_incr_int(b, p, a[0].u.i);
  return mgr_batch_add(b, p, o->op, a, o->nargs);
}

/* Errors that leave an operation's outcome unknown ("maybe happened"). */
static bool unknown_outcome(int rc) {
  return rc == MGR_ETIMEDOUT || rc == MGR_ECLOSED;
}
/* Errors the manager answers: the operation is refused, definitely. */
static bool server_error(int rc) { return rc <= -25 && rc != MGR_ESHUTDOWN; }

static void log_op(buf *lg, int client, const opi *o, int rc,
                   const mgr_value *res, int64_t inv, int64_t resp, int batch,
                   int index) {
  bprintf(lg, "{\"c\":%d,\"o\":\"%s\",\"op\":\"%s\",\"args\":", client,
          obj_name[o->obj], o->op);
  mgr_value args = mgr_array((mgr_value *)o->args, o->nargs);
  json_value(lg, &args);
  bprintf(lg, ",\"st\":\"%s\",\"res\":",
          rc == MGR_OK ? "OK" : mgr_err_name(rc) + 4);
  json_value(lg, res);
  bprintf(lg, ",\"inv\":%lld,\"resp\":%lld,\"b\":%d,\"i\":%d}\n",
          (long long)inv, (long long)resp, batch, index);
}

/* A batch leaves the BoundedSemaphore out: mgr_batch_add refuses kind 11's
 * ops on a kind-12 proxy (MGR_EINVAL "does not apply to this proxy's
 * kind"), though spec 8.3 gives them to both; the client's kind check knows
 * only RLock extending Lock. */
static int pick_obj(uint64_t *r, bool batch) {
  int o;
  do
    o = rnd(r, 0, O_N - 1);
  while (!avail[o] || (batch && o == O_BSEM));
  return o;
}

static bool is_read(const opi *o) {
  static const char *const names[] = {"DICT_GET", "DICT_CONTAINS", "DICT_LEN",
                                      "LIST_GET", "LIST_LEN",      "VAR_GET",
                                      "ARRAY_GET"};
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
    if (is(o, names[i])) return true;
  return false;
}

/* The stale mutant: the batch's reads, sent first as a batch of their own,
 * their results in *snap; from[i] is the slot of *snap that answers
 * sub-request i, or -1 (not a read, or a read the snapshot did not answer:
 * its real status and result stay). */
static int stale_snapshot(const opi *subs, int ns, int *from, mgr_value *snap) {
  mgr_batch *rb = NULL;
  int n = 0, rc = mgr_batch_new(M, &rb);
  for (int i = 0; i < ns; i++) {
    from[i] = -1;
    if (rc == MGR_OK && is_read(&subs[i])) {
      rc = add_to_batch(rb, &subs[i]);
      from[i] = n++;
    }
  }
  if (rc == MGR_OK && n) rc = mgr_batch_run(rb, snap);
  for (int i = 0; rc == MGR_OK && i < ns; i++)
    if (from[i] >= 0 && mgr_batch_status(rb, (size_t)from[i]) != MGR_OK)
      from[i] = -1;
  mgr_batch_free(rb);
  if (rc != MGR_OK)
    fprintf(stderr, "lin_record: stale snapshot: %s\n", mgr_err_name(rc));
  return rc != MGR_OK;
}

/* One client's part of a history: nops operations (a batch counts as one). */
static int client_run(int client, uint64_t seed, int nops, buf *lg) {
  uint64_t r = seed;
  int seq = 0, nbatch = 0;
  mgr_batch *bt = NULL;
  if (mgr_batch_new(M, &bt) != MGR_OK) return 1;
  for (int step = 0; step < nops; step++) {
    if (rnd(&r, 0, 99) < 15) { /* a batch */
      static opi subs[BATCH_MAX];
      int ns = rnd(&r, 2, BATCH_MAX);
      mgr_batch_clear(bt);
      for (int i = 0; i < ns; i++) {
        draw(&subs[i], pick_obj(&r, true), &r, client, &seq, true);
        if (add_to_batch(bt, &subs[i]) != MGR_OK) {
          fprintf(stderr, "lin_record: batch add %s: %s\n", subs[i].op,
                  mgr_errmsg(M));
          return 1;
        }
      }
      mgr_value results = mgr_nil(), snap = mgr_nil();
      int from[BATCH_MAX];
      if (mutant_stale && stale_snapshot(subs, ns, from, &snap)) return 1;
      int64_t inv = now_ns();
      int rc = mgr_batch_run(bt, &results);
      int64_t resp = now_ns();
      for (int i = 0; mutant_stale && rc == MGR_OK && i < ns; i++)
        if (from[i] >= 0 && mgr_batch_status(bt, (size_t)i) == MGR_OK) {
          /* the snapshot's answer instead (swapped: both still freed) */
          mgr_value t = results.u.a.items[i];
          results.u.a.items[i] = snap.u.a.items[from[i]];
          snap.u.a.items[from[i]] = t;
        }
      if (rc != MGR_OK && !unknown_outcome(rc)) {
        fprintf(stderr, "lin_record: batch run: %s (%s)\n", mgr_err_name(rc),
                mgr_errmsg(M));
        return 1;
      }
      for (int i = 0; i < ns; i++) {
        int st = rc == MGR_OK ? mgr_batch_status(bt, (size_t)i) : rc;
        mgr_value nil = mgr_nil();
        const mgr_value *res =
            rc == MGR_OK && st == MGR_OK ? &results.u.a.items[i] : &nil;
        if (st != MGR_OK && !server_error(st) && !unknown_outcome(st)) {
          fprintf(stderr, "lin_record: batch %s: %s\n", subs[i].op,
                  mgr_err_name(st));
          return 1;
        }
        log_op(lg, client, &subs[i], st, res, inv, resp, nbatch, i);
      }
      nbatch++;
      mgr_value_free(&results);
      mgr_value_free(&snap);
    } else {
      opi o;
      mgr_value res;
      draw(&o, pick_obj(&r, false), &r, client, &seq, false);
      int64_t inv = now_ns();
      int rc = run_direct(&o, &res);
      int64_t resp = now_ns();
      if (rc != MGR_OK && !server_error(rc) && !unknown_outcome(rc)) {
        fprintf(stderr, "lin_record: %s: %s (%s)\n", o.op, mgr_err_name(rc),
                mgr_errmsg(M));
        return 1;
      }
      if (rc != MGR_OK) mgr_value_free(&res), res = mgr_nil();
      log_op(lg, client, &o, rc, &res, inv, resp, -1, 0);
      mgr_value_free(&res);
    }
  }
  mgr_batch_free(bt);
  return 0;
}

/* --- a history --------------------------------------------------------------
 */
static void make_objects(bool first) {
  mgr_value pair[2] = {mgr_text("a"), mgr_int(0)};
  mgr_value dinit = mgr_map(pair, 1);
  mgr_value zeros[3] = {mgr_int(0), mgr_int(0), mgr_int(0)};
  mgr_value linit = mgr_array(zeros, 2);
  mgr_value vinit = mgr_int(0), ainit = mgr_int(3);
  int rc[O_N];
  rc[O_DICT] = mgr_dict_new(M, &dinit, &objs[O_DICT]);
  rc[O_LIST] = mgr_list_new(M, &linit, &objs[O_LIST]);
  rc[O_VAR] = mgr_var_new(M, &vinit, &objs[O_VAR]);
  rc[O_ARRAY] = mgr_array_new(M, 'q', &ainit, &objs[O_ARRAY]);
  rc[O_QUEUE] = avail[O_QUEUE] ? mgr_queue_new(M, 2, &objs[O_QUEUE]) : MGR_OK;
#ifdef LIN_HAVE_SEM
  rc[O_SEM] = avail[O_SEM] ? mgr_semaphore_new(M, 1, &objs[O_SEM]) : MGR_OK;
  rc[O_BSEM] =
      avail[O_BSEM] ? mgr_bounded_semaphore_new(M, 2, &objs[O_BSEM]) : MGR_OK;
#else
  rc[O_SEM] = rc[O_BSEM] = MGR_OK;
  if (first)
    fprintf(stderr, "lin_record: built without semaphores: left out\n");
  avail[O_SEM] = avail[O_BSEM] = false;
#endif
  for (int o = 0; o < O_N; o++) {
    if (rc[o] == MGR_OK) continue;
    /* A kind this manager does not implement yet refuses CREATE with
     * VALUE; the others must exist. */
    if (first && o >= O_QUEUE && rc[o] == MGR_EVALUE) {
      fprintf(stderr, "lin_record: no %s here (%s): left out\n", obj_kind[o],
              mgr_errmsg(M));
      avail[o] = false;
      objs[o] = NULL;
      continue;
    }
    die("creating the %s: %s (%s)", obj_kind[o], mgr_err_name(rc[o]),
        mgr_errmsg(M));
  }
}

static void history(int h, uint64_t seed, int nclients, int nops) {
  static bool made;
  make_objects(!made);
  made = true;
  printf("{\"h\":%d,\"clients\":%d,\"objects\":[", h, nclients);
  static const char *const inits[O_N] = {
      "{\"map\":[[\"a\",0]]}", "[0,0]", "0", "[0,0,0]", "2", "1", "2"};
  bool sep = false;
  for (int o = 0; o < O_N; o++) {
    if (!avail[o]) continue;
    printf("%s{\"o\":\"%s\",\"kind\":\"%s\",\"init\":%s}", sep ? "," : "",
           obj_name[o], obj_kind[o], inits[o]);
    sep = true;
  }
  printf("]}\n");
  fflush(stdout);

  int ready[2], go[2];
  FILE *logs[MAX_CLIENTS];
  pid_t pids[MAX_CLIENTS];
  if (pipe(ready) || pipe(go)) die("pipe: %s", strerror(errno));
  for (int c = 0; c < nclients; c++) {
    logs[c] = tmpfile();
    if (!logs[c]) die("tmpfile: %s", strerror(errno));
    pids[c] = fork();
    if (pids[c] < 0) die("fork: %s", strerror(errno));
    if (pids[c] == 0) {
      close(ready[0]);
      close(go[1]);
      /* Connect first (a child's first call opens its connection), then
       * start together with the others. */
      char byte = 1, sink;
      int ok = mgr_ping(M) == MGR_OK;
      if (write(ready[1], &byte, 1) != 1) _exit(1);
      if (read(go[0], &sink, 1) != 0) _exit(1);
      if (!ok) _exit(1);
      buf lg = {0};
      uint64_t s = seed ^ (0x100000001b3ull * (uint64_t)(h + 1)) ^
                   (0x9e3779b97f4a7c15ull * (uint64_t)(c + 1));
      int bad = client_run(c, s, nops, &lg);
      if (lg.len && fwrite(lg.p, 1, lg.len, logs[c]) != lg.len) bad = 1;
      if (fflush(logs[c])) bad = 1;
      _exit(bad);
    }
  }
  close(ready[1]);
  close(go[0]);
  for (int c = 0; c < nclients; c++) {
    char byte;
    if (read(ready[0], &byte, 1) != 1) die("a client did not start");
  }
  close(go[1]); /* everyone goes */
  close(ready[0]);
  for (int c = 0; c < nclients; c++) {
    int st;
    if (waitpid(pids[c], &st, 0) != pids[c])
      die("waitpid: %s", strerror(errno));
    if (!WIFEXITED(st) || WEXITSTATUS(st))
      die("history %d: client %d failed (status %d)", h, c, st);
  }
  for (int c = 0; c < nclients; c++) {
    char line[65536];
    rewind(logs[c]);
    while (fgets(line, sizeof line, logs[c]))
      fputs(line, stdout);
    fclose(logs[c]);
  }
  printf("{\"end\":%d}\n", h);
  fflush(stdout);
  for (int o = 0; o < O_N; o++)
    if (avail[o] && mgr_release(objs[o]) != MGR_OK)
      die("release: %s", mgr_errmsg(M));
}

int main(int argc, char **argv) {
  uint64_t seed = 1;
  int nhist = 1, first = 0, nclients = 4, nops = 20;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(a, "--mutant") && v) {
      if (!strcmp(v, "incr"))
        mutant_incr = true;
      else if (!strcmp(v, "stale"))
        mutant_stale = true;
      else
        die("--mutant: incr or stale");
    } else if (!strcmp(a, "--seed") && v)
      seed = strtoull(v, NULL, 0);
    else if (!strcmp(a, "--histories") && v)
      nhist = atoi(v);
    else if (!strcmp(a, "--first") && v)
      first = atoi(v);
    else if (!strcmp(a, "--clients") && v)
      nclients = atoi(v);
    else if (!strcmp(a, "--ops") && v)
      nops = atoi(v);
    else
      die("usage: lin_record --seed S [--histories H] [--first F] "
          "[--clients N] [--ops K] [--mutant incr|stale]");
    i++;
  }
  if (nclients < 1 || nclients > MAX_CLIENTS || nops < 1 || nhist < 0)
    die("bad --clients, --ops or --histories");
  signal(SIGPIPE, SIG_IGN);
  int rc = mgr_start(NULL, &M);
  if (rc != MGR_OK)
    die("mgr_start: %s (%s)", mgr_err_name(rc), mgr_errmsg(NULL));
  for (int h = first; h < first + nhist; h++)
    history(h, seed, nclients, nops);
  rc = mgr_shutdown(M);
  if (rc != MGR_OK) die("mgr_shutdown: %s", mgr_err_name(rc));
  return 0;
}
