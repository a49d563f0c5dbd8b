/* mgr tests — model-based: long random op sequences on a shared dict and a
 * shared list, applied both to the manager and to a plain reference model
 * here (Python's semantics), compared after every step. The seed is printed;
 * MGR_TEST_SEED replays it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "client_util.h"
#include "util.h"

/* The model's omitted bound (never a bound it draws), and the API's. */
#define NONE INT64_MIN
static mgr_bound B(int64_t v) { return v == NONE ? MGR_OMIT : mgr_at(v); }

#define STEPS 2500
#define NKEYS 12
#define LMAX 64

static mgr_client *M;
static uint64_t rng;

static int group_setup(void **state) {
  (void)state;
  M = cu_start();
  rng = tu_seed("test_model");
  return M ? 0 : -1;
}

static int group_teardown(void **state) {
  (void)state;
  return cu_stop(M) == MGR_OK ? 0 : -1;
}

static int64_t rnd(int64_t lo, int64_t hi) { /* inclusive */
  return lo + (int64_t)(tu_rand(&rng) % (uint64_t)(hi - lo + 1));
}

/* Keys: ints 0..7 and texts "a".."d" (no 1/1.0/True mixing: that is
 * test_client's business). */
static const char *const texts[4] = {"a", "b", "c", "d"};
static mgr_value key_of(int k) { return k < 8 ? I(k) : T(texts[k - 8]); }

/* --- dict model: insertion-ordered pairs -------------------------------- */
typedef struct dmodel {
  int keys[NKEYS];
  int64_t vals[NKEYS];
  int n;
} dmodel;

static int dfind(const dmodel *d, int k) {
  for (int i = 0; i < d->n; i++)
    if (d->keys[i] == k) return i;
  return -1;
}
static void dset(dmodel *d, int k, int64_t v) {
  int i = dfind(d, k);
  if (i < 0) {
    d->keys[d->n] = k;
    d->vals[d->n++] = v;
  } else {
    d->vals[i] = v;
  }
}
static void ddel_at(dmodel *d, int i) {
  memmove(&d->keys[i], &d->keys[i + 1], sizeof(int) * (size_t)(d->n - i - 1));
  memmove(&d->vals[i], &d->vals[i + 1],
          sizeof(int64_t) * (size_t)(d->n - i - 1));
  d->n--;
}

static const char *dmodel_repr(const dmodel *d) {
  mgr_value pairs[2 * NKEYS];
  for (int i = 0; i < d->n; i++) {
    pairs[2 * i] = key_of(d->keys[i]);
    pairs[2 * i + 1] = I(d->vals[i]);
  }
  mgr_value m = mgr_map(pairs, (size_t)d->n);
  return cu_repr(&m);
}

#define STEP_FAIL(...) fail_msg("step %d (%s): " __VA_ARGS__)

static void check_int(int step, const char *op, int rc, int want_rc,
                      const mgr_value *got, int64_t want) {
  if (rc != want_rc)
    STEP_FAIL("got %s, want %s (%s)", step, op, mgr_err_name(rc),
              mgr_err_name(want_rc), mgr_errmsg(M));
  if (rc == MGR_OK && got && (got->type != MGR_T_INT || got->u.i != want))
    STEP_FAIL("result %s, want %lld", step, op, cu_repr(got), (long long)want);
}

static void test_dict_model(void **state) {
  (void)state;
  dmodel md = {.n = 0};
  mgr_proxy *d = NULL;
  assert_ok(M, mgr_dict_new(M, NULL, &d));
  for (int step = 0; step < STEPS; step++) {
    int k = (int)rnd(0, NKEYS - 1);
    mgr_value key = key_of(k), v = mgr_nil();
    int64_t x = rnd(-5, 20);
    mgr_value xv = I(x);
    int i = dfind(&md, k);
    int rc;
    const char *op;
    switch (rnd(0, 10)) {
    case 0:
    case 1:
      op = "set";
      rc = mgr_dict_set(d, &key, &xv);
      check_int(step, op, rc, MGR_OK, NULL, 0);
      dset(&md, k, x);
      break;
    case 2:
      op = "get";
      rc = mgr_dict_get(d, &key, &v);
      check_int(step, op, rc, i < 0 ? MGR_EKEY : MGR_OK, &v,
                i < 0 ? 0 : md.vals[i]);
      break;
    case 3:
      op = "del";
      rc = mgr_dict_del(d, &key);
      check_int(step, op, rc, i < 0 ? MGR_EKEY : MGR_OK, NULL, 0);
      if (i >= 0) ddel_at(&md, i);
      break;
    case 4:
      op = "pop(default)";
      rc = mgr_dict_pop(d, &key, &xv, &v);
      check_int(step, op, rc, MGR_OK, &v, i < 0 ? x : md.vals[i]);
      if (i >= 0) ddel_at(&md, i);
      break;
    case 5:
      op = "incr(default 0)";
      rc = mgr_dict_incr(d, &key, &xv, &(mgr_value){.type = MGR_T_INT}, &v);
      check_int(step, op, rc, MGR_OK, &v, (i < 0 ? 0 : md.vals[i]) + x);
      dset(&md, k, (i < 0 ? 0 : md.vals[i]) + x);
      break;
    case 6:
      op = "setdefault";
      rc = mgr_dict_setdefault(d, &key, &xv, &v);
      check_int(step, op, rc, MGR_OK, &v, i < 0 ? x : md.vals[i]);
      if (i < 0) dset(&md, k, x);
      break;
    case 7: {
      op = "contains+len";
      bool in = false;
      size_t n = 0;
      rc = mgr_dict_contains(d, &key, &in);
      check_int(step, op, rc, MGR_OK, NULL, 0);
      if (in != (i >= 0)) STEP_FAIL("contains %d", step, op, in);
      rc = mgr_dict_len(d, &n);
      check_int(step, op, rc, MGR_OK, NULL, 0);
      if ((int)n != md.n) STEP_FAIL("len %zu, want %d", step, op, n, md.n);
      break;
    }
    case 8: {
      op = "popitem";
      mgr_value pk, pv;
      rc = mgr_dict_popitem(d, &pk, &pv);
      check_int(step, op, rc, md.n ? MGR_OK : MGR_EKEY, NULL, 0);
      if (md.n) {
        mgr_value wk = key_of(md.keys[md.n - 1]);
        if (!mgr_value_equal(&pk, &wk) || pv.u.i != md.vals[md.n - 1])
          STEP_FAIL("popped %s", step, op, cu_repr(&pk));
        md.n--;
        mgr_value_free(&pk);
        mgr_value_free(&pv);
      }
      break;
    }
    case 9: {
      op = "cas";
      int64_t expect = i >= 0 && rnd(0, 1) ? md.vals[i] : x - 1;
      mgr_value ev = I(expect);
      bool sw = false;
      rc = mgr_dict_cas(d, &key, &ev, &xv, &sw, &v);
      if (i < 0) {
        check_int(step, op, rc, MGR_EKEY, NULL, 0);
        break;
      }
      bool want_sw = md.vals[i] == expect;
      if (want_sw) md.vals[i] = x;
      check_int(step, op, rc, MGR_OK, &v, md.vals[i]);
      if (sw != want_sw) STEP_FAIL("swapped %d", step, op, sw);
      break;
    }
    default:
      op = rnd(0, 20) == 0 ? "clear" : "update";
      if (op[0] == 'c') {
        rc = mgr_dict_clear(d);
        md.n = 0;
      } else {
        int k2 = (int)rnd(0, NKEYS - 1);
        mgr_value pairs[4] = {key, xv, key_of(k2), I(x + 1)};
        mgr_value upd = mgr_map(pairs, k2 == k ? 1 : 2);
        rc = mgr_dict_update(d, &upd);
        dset(&md, k, x);
        if (k2 != k) dset(&md, k2, x + 1);
      }
      check_int(step, op, rc, MGR_OK, NULL, 0);
      break;
    }
    mgr_value_free(&v);
    mgr_value copy;
    assert_ok(M, mgr_dict_copy(d, &copy));
    const char *want = dmodel_repr(&md);
    if (strcmp(cu_repr(&copy), want) != 0)
      STEP_FAIL("server %s, model %s", step, op, cu_repr(&copy), want);
    mgr_value_free(&copy);
  }
  assert_ok(M, mgr_release(d));
}

/* --- list model ---------------------------------------------------------- */
typedef struct lmodel {
  int64_t a[LMAX * 4];
  int64_t n;
} lmodel;

/* Python's PySlice_AdjustIndices; returns the slice length. */
static int64_t slice_adjust(int64_t len, int64_t *start, int64_t *stop,
                            int64_t step) {
  if (*start == NONE) *start = step < 0 ? INT64_MAX : 0;
  if (*stop == NONE) *stop = step < 0 ? INT64_MIN : INT64_MAX;
  if (*start < 0) {
    *start += len;
    if (*start < 0) *start = step < 0 ? -1 : 0;
  } else if (*start >= len) {
    *start = step < 0 ? len - 1 : len;
  }
  if (*stop < 0) {
    *stop += len;
    if (*stop < 0) *stop = step < 0 ? -1 : 0;
  } else if (*stop >= len) {
    *stop = step < 0 ? len - 1 : len;
  }
  if (step < 0) return *stop < *start ? (*start - *stop - 1) / (-step) + 1 : 0;
  return *start < *stop ? (*stop - *start - 1) / step + 1 : 0;
}

static const char *lmodel_repr(const lmodel *l) {
  mgr_value items[LMAX * 4];
  for (int64_t i = 0; i < l->n; i++)
    items[i] = I(l->a[i]);
  mgr_value arr = mgr_array(items, (size_t)l->n);
  return cu_repr(&arr);
}

static int cmp64(const void *a, const void *b) {
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return (x > y) - (x < y);
}

static void linsert(lmodel *l, int64_t at, int64_t v) {
  memmove(&l->a[at + 1], &l->a[at], sizeof(int64_t) * (size_t)(l->n - at));
  l->a[at] = v;
  l->n++;
}
static void ldel(lmodel *l, int64_t at) {
  memmove(&l->a[at], &l->a[at + 1], sizeof(int64_t) * (size_t)(l->n - at - 1));
  l->n--;
}

static int64_t rnd_bound(void) {
  return rnd(0, 3) == 0 ? NONE : rnd(-LMAX / 4 - 2, LMAX / 4 + 2);
}

static void test_list_model(void **state) {
  (void)state;
  lmodel ml = {.n = 0};
  mgr_proxy *l = NULL;
  assert_ok(M, mgr_list_new(M, NULL, &l));
  for (int step = 0; step < STEPS; step++) {
    int64_t x = rnd(-5, 20), idx = rnd(-ml.n - 2, ml.n + 1);
    int64_t norm = idx < 0 ? idx + ml.n : idx;
    bool inr = norm >= 0 && norm < ml.n;
    mgr_value xv = I(x), v = mgr_nil();
    int rc;
    const char *op;
    int choice = (int)rnd(0, 14);
    if (ml.n >= LMAX && choice <= 2) choice = 5; /* keep it bounded: pop */
    switch (choice) {
    case 0:
    case 1:
      op = "append";
      rc = mgr_list_append(l, &xv);
      check_int(step, op, rc, MGR_OK, NULL, 0);
      ml.a[ml.n++] = x;
      break;
    case 2: {
      op = "insert";
      rc = mgr_list_insert(l, idx, &xv);
      check_int(step, op, rc, MGR_OK, NULL, 0);
      int64_t at = idx < 0 ? idx + ml.n : idx;
      if (at < 0) at = 0;
      if (at > ml.n) at = ml.n;
      linsert(&ml, at, x);
      break;
    }
    case 3:
      op = "get";
      rc = mgr_list_get(l, idx, &v);
      check_int(step, op, rc, inr ? MGR_OK : MGR_EINDEX, &v,
                inr ? ml.a[norm] : 0);
      break;
    case 4:
      op = "set";
      rc = mgr_list_set(l, idx, &xv);
      check_int(step, op, rc, inr ? MGR_OK : MGR_EINDEX, NULL, 0);
      if (inr) ml.a[norm] = x;
      break;
    case 5:
      op = "pop";
      rc = mgr_list_pop(l, idx, &v);
      check_int(step, op, rc, inr ? MGR_OK : MGR_EINDEX, &v,
                inr ? ml.a[norm] : 0);
      if (inr) ldel(&ml, norm);
      break;
    case 6:
      op = "del";
      rc = mgr_list_del(l, idx);
      check_int(step, op, rc, inr ? MGR_OK : MGR_EINDEX, NULL, 0);
      if (inr) ldel(&ml, norm);
      break;
    case 7:
      op = "incr";
      rc = mgr_list_incr(l, idx, &xv, &v);
      check_int(step, op, rc, inr ? MGR_OK : MGR_EINDEX, &v,
                inr ? ml.a[norm] + x : 0);
      if (inr) ml.a[norm] += x;
      break;
    case 8: {
      op = "getslice";
      int64_t s = rnd_bound(), e = rnd_bound(),
              st = rnd(0, 2) ? NONE : rnd(-3, 3);
      rc = mgr_list_getslice(l, B(s), B(e), B(st), &v);
      if (st == 0) {
        check_int(step, op, rc, MGR_EVALUE, NULL, 0);
        break;
      }
      int64_t step_ = st == NONE ? 1 : st;
      int64_t cnt = slice_adjust(ml.n, &s, &e, step_);
      check_int(step, op, rc, MGR_OK, NULL, 0);
      lmodel want = {.n = 0};
      for (int64_t j = 0; j < cnt; j++)
        want.a[want.n++] = ml.a[s + j * step_];
      if (strcmp(cu_repr(&v), lmodel_repr(&want)) != 0)
        STEP_FAIL("got %s want %s", step, op, cu_repr(&v), lmodel_repr(&want));
      break;
    }
    case 9: {
      op = "delslice";
      int64_t s = rnd_bound(), e = rnd_bound(),
              st = rnd(0, 1) ? NONE : rnd(-3, 3);
      if (st == 0) st = 2;
      rc = mgr_list_delslice(l, B(s), B(e), B(st));
      check_int(step, op, rc, MGR_OK, NULL, 0);
      int64_t step_ = st == NONE ? 1 : st;
      int64_t cnt = slice_adjust(ml.n, &s, &e, step_);
      bool gone[LMAX * 4] = {false};
      for (int64_t j = 0; j < cnt; j++)
        gone[s + j * step_] = true;
      int64_t w = 0;
      for (int64_t j = 0; j < ml.n; j++)
        if (!gone[j]) ml.a[w++] = ml.a[j];
      ml.n = w;
      break;
    }
    case 10: {
      op = "setslice";
      int64_t s = rnd_bound(), e = rnd_bound();
      int64_t k = rnd(0, 3);
      mgr_value items[3] = {I(x), I(x + 1), I(x + 2)};
      mgr_value arr = mgr_array(items, (size_t)k);
      if (ml.n + k > LMAX * 3) k = 0, arr.u.a.len = 0;
      rc = mgr_list_setslice(l, B(s), B(e), MGR_OMIT, &arr);
      check_int(step, op, rc, MGR_OK, NULL, 0);
      slice_adjust(ml.n, &s, &e, 1);
      if (e < s) e = s;
      int64_t tail = ml.n - e;
      memmove(&ml.a[s + k], &ml.a[e], sizeof(int64_t) * (size_t)tail);
      for (int64_t j = 0; j < k; j++)
        ml.a[s + j] = x + j;
      ml.n = s + k + tail;
      break;
    }
    case 11: {
      op = rnd(0, 1) ? "sort" : "reverse";
      if (op[0] == 's') {
        bool rev = rnd(0, 1);
        rc = mgr_list_sort(l, rev);
        qsort(ml.a, (size_t)ml.n, sizeof(int64_t), cmp64);
        if (rev)
          for (int64_t j = 0; j < ml.n / 2; j++) {
            int64_t t = ml.a[j];
            ml.a[j] = ml.a[ml.n - 1 - j];
            ml.a[ml.n - 1 - j] = t;
          }
      } else {
        rc = mgr_list_reverse(l);
        for (int64_t j = 0; j < ml.n / 2; j++) {
          int64_t t = ml.a[j];
          ml.a[j] = ml.a[ml.n - 1 - j];
          ml.a[ml.n - 1 - j] = t;
        }
      }
      check_int(step, op, rc, MGR_OK, NULL, 0);
      break;
    }
    case 12: {
      op = "remove/index/count";
      int64_t first = -1, count = 0;
      for (int64_t j = 0; j < ml.n; j++)
        if (ml.a[j] == x) {
          if (first < 0) first = j;
          count++;
        }
      int64_t got = -1;
      size_t cnt = 0;
      rc = mgr_list_index(l, &xv, MGR_OMIT, MGR_OMIT, &got);
      check_int(step, op, rc, first < 0 ? MGR_EVALUE : MGR_OK, NULL, 0);
      if (first >= 0 && got != first)
        STEP_FAIL("index %lld", step, op, (long long)got);
      rc = mgr_list_count(l, &xv, &cnt);
      check_int(step, op, rc, MGR_OK, NULL, 0);
      if ((int64_t)cnt != count) STEP_FAIL("count %zu", step, op, cnt);
      rc = mgr_list_remove(l, &xv);
      check_int(step, op, rc, first < 0 ? MGR_EVALUE : MGR_OK, NULL, 0);
      if (first >= 0) ldel(&ml, first);
      break;
    }
    case 13: {
      op = "extend/imul";
      if (ml.n <= 8 && rnd(0, 1)) {
        int64_t n = rnd(-1, 3);
        rc = mgr_list_imul(l, n);
        int64_t len = ml.n;
        if (n <= 0) ml.n = 0;
        for (int64_t r = 1; r < n; r++)
          for (int64_t j = 0; j < len; j++)
            ml.a[ml.n++] = ml.a[j];
      } else {
        mgr_value items[2] = {I(x), I(-x)};
        mgr_value arr = mgr_array(items, ml.n < LMAX ? 2 : 0);
        rc = mgr_list_extend(l, &arr);
        for (size_t j = 0; j < arr.u.a.len; j++)
          ml.a[ml.n++] = items[j].u.i;
      }
      check_int(step, op, rc, MGR_OK, NULL, 0);
      break;
    }
    default: {
      op = "len/contains/cas";
      size_t n = 0;
      bool in = false;
      rc = mgr_list_len(l, &n);
      check_int(step, op, rc, MGR_OK, NULL, 0);
      if ((int64_t)n != ml.n) STEP_FAIL("len %zu", step, op, n);
      rc = mgr_list_contains(l, &xv, &in);
      check_int(step, op, rc, MGR_OK, NULL, 0);
      bool want_in = false;
      for (int64_t j = 0; j < ml.n; j++)
        want_in |= ml.a[j] == x;
      if (in != want_in) STEP_FAIL("contains %d", step, op, in);
      mgr_value ev = I(inr && rnd(0, 1) ? ml.a[norm] : x - 1);
      bool sw = false;
      rc = mgr_list_cas(l, idx, &ev, &xv, &sw, &v);
      if (!inr) {
        check_int(step, op, rc, MGR_EINDEX, NULL, 0);
        break;
      }
      bool want_sw = ml.a[norm] == ev.u.i;
      if (want_sw) ml.a[norm] = x;
      check_int(step, op, rc, MGR_OK, &v, ml.a[norm]);
      if (sw != want_sw) STEP_FAIL("swapped %d", step, op, sw);
      break;
    }
    }
    mgr_value_free(&v);
    mgr_value copy;
    assert_ok(M, mgr_list_copy(l, &copy));
    const char *want = lmodel_repr(&ml);
    if (strcmp(cu_repr(&copy), want) != 0)
      STEP_FAIL("server %s, model %s", step, op, cu_repr(&copy), want);
    mgr_value_free(&copy);
  }
  assert_ok(M, mgr_release(l));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_dict_model),
      cmocka_unit_test(test_list_model),
  };
  return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
