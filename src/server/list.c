/* mgr — the shared list: a dynamic array with Python's semantics (negative
 * indices, slices including extended ones, insert clamping, a stable sort
 * that leaves the list unchanged when two items cannot be compared). */
#include <stdlib.h>
#include <string.h>

#include "cbor/cbor.h"
#include "mgr/error.h"
#include "server/obj.h"

/* Most items `l *= n` may produce. */
#define IMUL_MAX ((size_t)1 << 24)

static int reserve(mgri_octx *x, mgri_list *l, size_t more) {
  if (more <= l->cap - l->len) return MGR_OK;
  if (more > SIZE_MAX / sizeof(mgr_value) - l->len)
    return mgri_fail(x, MGR_ELIMIT, "MemoryError: list too large");
  size_t need = l->len + more;
  size_t cap = l->cap ? l->cap : 4;
  while (cap < need) cap = cap > SIZE_MAX / sizeof(mgr_value) / 2 ? need : cap * 2;
  mgr_value *v = realloc(l->v, cap * sizeof *v);
  if (!v) return mgri_fail(x, MGR_ELIMIT, "MemoryError: out of memory");
  l->v = v;
  l->cap = cap;
  return MGR_OK;
}

/* Owned copies of items[0..n) into out (refs already checked). All or
 * nothing. */
static int make_all(mgri_octx *x, const mgr_value *items, size_t n,
                    mgr_value *out) {
  for (size_t i = 0; i < n; i++) {
    int rc = mgri_sv_make_checked(x, &items[i], &out[i]);
    if (rc) {
      while (i--) mgri_sv_drop(x->s, &out[i]);
      return rc;
    }
  }
  return MGR_OK;
}

static int check_all(mgri_octx *x, const mgr_value *items, size_t n) {
  for (size_t i = 0; i < n; i++) {
    int rc = mgri_sv_check(x, &items[i]);
    if (rc) return rc;
  }
  return MGR_OK;
}

/* Appends copies of items[0..n): all or nothing. */
static int extend(mgri_octx *x, mgri_list *l, const mgr_value *items,
                  size_t n) {
  if (!n) return MGR_OK; /* l->v may be NULL: no NULL + 0 */
  int rc = check_all(x, items, n);
  if (!rc) rc = reserve(x, l, n);
  if (!rc) rc = make_all(x, items, n, l->v + l->len);
  if (!rc) l->len += n;
  return rc;
}

int mgri_list_init(mgri_octx *x, mgri_obj *o, const mgr_value *init) {
  memset(&o->u.l, 0, sizeof o->u.l);
  if (!init || init->type == MGR_T_NIL) return MGR_OK;
  if (init->type != MGR_T_ARRAY)
    return mgri_fail(x, MGR_ETYPE,
                     "TypeError: a list starts from an array or None, not %s",
                     mgri_tname(init));
  return extend(x, &o->u.l, init->u.a.items, init->u.a.len);
}

void mgri_list_clear(mgri_store *s, mgri_list *l) {
  for (size_t i = 0; i < l->len; i++) mgri_sv_drop(s, &l->v[i]);
  free(l->v);
  memset(l, 0, sizeof *l);
}

/* An index argument in range, negative counting from the end. */
static int index_arg(mgri_octx *x, size_t ai, const char *errmsg, size_t *out) {
  int64_t i;
  int rc = mgri_arg_int(x, ai, "list indices", &i);
  if (rc) return rc;
  size_t len = x->o->u.l.len;
  if (i < 0) i += (int64_t)len;
  if (i < 0 || (uint64_t)i >= len)
    return mgri_fail(x, MGR_EINDEX, "IndexError: %s", errmsg);
  *out = (size_t)i;
  return MGR_OK;
}

/* --- slices (CPython's PySlice_Unpack + PySlice_AdjustIndices) ------------- */

typedef struct slice {
  int64_t start, step;
  size_t n; /* items selected */
} slice;

static int slice_part(mgri_octx *x, const mgr_value *v, int64_t dflt,
                      int64_t *out) {
  if (v->type == MGR_T_NIL) *out = dflt;
  else if (v->type == MGR_T_INT) *out = v->u.i;
  else
    return mgri_fail(x, MGR_ETYPE,
                     "TypeError: slice indices must be integers or None, not %s",
                     mgri_tname(v));
  return MGR_OK;
}

static int64_t adjust(int64_t i, int64_t len, int64_t step) {
  if (i < 0) {
    i += len;
    if (i < 0) i = step < 0 ? -1 : 0;
  } else if (i >= len) {
    i = step < 0 ? len - 1 : len;
  }
  return i;
}

static int slice_args(mgri_octx *x, slice *s) {
  int64_t start = 0, stop = 0, step = 1;
  int rc = slice_part(x, &x->args[2], 1, &step);
  if (rc) return rc;
  if (step == 0) return mgri_fail(x, MGR_EVALUE, "ValueError: slice step cannot be zero");
  if (step < -INT64_MAX) step = -INT64_MAX;
  if ((rc = slice_part(x, &x->args[0], step < 0 ? INT64_MAX : 0, &start)))
    return rc;
  if ((rc = slice_part(x, &x->args[1], step < 0 ? INT64_MIN : INT64_MAX, &stop)))
    return rc;
  int64_t len = (int64_t)x->o->u.l.len;
  start = adjust(start, len, step);
  stop = adjust(stop, len, step);
  s->start = start;
  s->step = step;
  s->n = 0;
  if (step < 0) {
    if (stop < start) s->n = (size_t)((start - stop - 1) / (-step) + 1);
  } else if (start < stop) {
    s->n = (size_t)((stop - start - 1) / step + 1);
  }
  return MGR_OK;
}

static size_t slice_at(const slice *s, size_t k) {
  return (size_t)(s->start + (int64_t)k * s->step);
}

int mgri_op_LIST_GETSLICE(mgri_octx *x) {
  slice s;
  int rc = slice_args(x, &s);
  if (rc) return rc;
  mgr_value *out = mgri_scratch(x, s.n);
  if (!out) return MGR_ELIMIT;
  for (size_t k = 0; k < s.n; k++) out[k] = x->o->u.l.v[slice_at(&s, k)];
  x->result = mgr_array(out, s.n);
  return MGR_OK;
}

/* Removes the n items selected by s (dropping them). */
static void delete_slice(mgri_store *st, mgri_list *l, const slice *s) {
  if (!s->n) return;
  size_t lo = s->step > 0 ? (size_t)s->start : slice_at(s, s->n - 1);
  size_t st_ = (size_t)(s->step > 0 ? s->step : -s->step);
  size_t hi = lo + (s->n - 1) * st_; /* last index removed */
  size_t j = lo;
  for (size_t i = lo; i < l->len; i++) {
    if (i <= hi && (i - lo) % st_ == 0) {
      mgri_sv_drop(st, &l->v[i]);
      continue;
    }
    l->v[j++] = l->v[i];
  }
  l->len = j;
}

int mgri_op_LIST_SETSLICE(mgri_octx *x) {
  mgri_list *l = &x->o->u.l;
  slice s;
  int rc = slice_args(x, &s);
  if (rc) return rc;
  const mgr_value *src = &x->args[3];
  if (src->type != MGR_T_ARRAY)
    return mgri_fail(x, MGR_ETYPE, "TypeError: can only assign an iterable");
  size_t m = src->u.a.len;
  if (s.step != 1 && m != s.n)
    return mgri_fail(x, MGR_EVALUE,
                     "ValueError: attempt to assign sequence of size %zu to "
                     "extended slice of size %zu",
                     m, s.n);
  if ((rc = check_all(x, src->u.a.items, m))) return rc;
  mgr_value *made = NULL;
  if (m) {
    made = malloc(m * sizeof *made);
    if (!made) return mgri_fail(x, MGR_ELIMIT, "MemoryError: out of memory");
    if ((rc = make_all(x, src->u.a.items, m, made))) {
      free(made);
      return rc;
    }
  }
  if (s.step != 1) {
    for (size_t k = 0; k < m; k++) {
      size_t i = slice_at(&s, k);
      mgri_sv_drop(x->s, &l->v[i]);
      l->v[i] = made[k];
    }
    free(made);
    return MGR_OK;
  }
  size_t start = (size_t)s.start, n = s.n; /* replace [start, start+n) */
  if (m > n && (rc = reserve(x, l, m - n))) {
    for (size_t k = 0; k < m; k++) mgri_sv_drop(x->s, &made[k]);
    free(made);
    return rc;
  }
  for (size_t k = 0; k < n; k++) mgri_sv_drop(x->s, &l->v[start + k]);
  if (l->len - start - n) /* l->v may be NULL when empty */
    memmove(l->v + start + m, l->v + start + n,
            (l->len - start - n) * sizeof *l->v);
  if (m) memcpy(l->v + start, made, m * sizeof *made);
  l->len = l->len - n + m;
  free(made);
  return MGR_OK;
}

int mgri_op_LIST_DELSLICE(mgri_octx *x) {
  slice s;
  int rc = slice_args(x, &s);
  if (rc) return rc;
  delete_slice(x->s, &x->o->u.l, &s);
  return MGR_OK;
}

/* --- item ops ---------------------------------------------------------------*/

int mgri_op_LIST_GET(mgri_octx *x) {
  size_t i = 0;
  int rc = index_arg(x, 0, "list index out of range", &i);
  if (rc) return rc;
  x->result = x->o->u.l.v[i];
  return MGR_OK;
}

int mgri_op_LIST_SET(mgri_octx *x) {
  size_t i = 0;
  int rc = index_arg(x, 0, "list assignment index out of range", &i);
  if (rc) return rc;
  mgr_value nv;
  if ((rc = mgri_sv_make(x, &x->args[1], &nv))) return rc;
  mgri_sv_drop(x->s, &x->o->u.l.v[i]);
  x->o->u.l.v[i] = nv;
  return MGR_OK;
}

static void remove_at(mgri_store *s, mgri_list *l, size_t i, bool later) {
  if (later) mgri_sv_drop_later(s, &l->v[i]);
  else mgri_sv_drop(s, &l->v[i]);
  memmove(l->v + i, l->v + i + 1, (l->len - i - 1) * sizeof *l->v);
  l->len--;
}

int mgri_op_LIST_DEL(mgri_octx *x) {
  size_t i = 0;
  int rc = index_arg(x, 0, "list assignment index out of range", &i);
  if (rc) return rc;
  remove_at(x->s, &x->o->u.l, i, false);
  return MGR_OK;
}

int mgri_op_LIST_LEN(mgri_octx *x) {
  x->result = mgr_int((int64_t)x->o->u.l.len);
  return MGR_OK;
}

int mgri_op_LIST_APPEND(mgri_octx *x) {
  return extend(x, &x->o->u.l, &x->args[0], 1);
}

int mgri_op_LIST_EXTEND(mgri_octx *x) {
  const mgr_value *a = &x->args[0];
  if (a->type != MGR_T_ARRAY)
    return mgri_fail(x, MGR_ETYPE, "TypeError: '%s' object is not iterable",
                     mgri_tname(a));
  return extend(x, &x->o->u.l, a->u.a.items, a->u.a.len);
}

int mgri_op_LIST_INSERT(mgri_octx *x) {
  mgri_list *l = &x->o->u.l;
  int64_t i;
  int rc = mgri_arg_int(x, 0, "list indices", &i);
  if (rc) return rc;
  int64_t len = (int64_t)l->len;
  if (i < 0) {
    i += len;
    if (i < 0) i = 0;
  } else if (i > len) {
    i = len;
  }
  mgr_value nv;
  if ((rc = reserve(x, l, 1))) return rc;
  if ((rc = mgri_sv_make(x, &x->args[1], &nv))) return rc;
  memmove(l->v + i + 1, l->v + i, (l->len - (size_t)i) * sizeof *l->v);
  l->v[i] = nv;
  l->len++;
  return MGR_OK;
}

int mgri_op_LIST_POP(mgri_octx *x) {
  mgri_list *l = &x->o->u.l;
  if (x->nargs && x->args[0].type != MGR_T_INT)
    return mgri_fail(x, MGR_ETYPE, "TypeError: list indices must be int, not %s",
                     mgri_tname(&x->args[0]));
  if (!l->len) return mgri_fail(x, MGR_EINDEX, "IndexError: pop from empty list");
  size_t i = l->len - 1;
  if (x->nargs) {
    int rc = index_arg(x, 0, "pop index out of range", &i);
    if (rc) return rc;
  }
  x->result = l->v[i];
  remove_at(x->s, l, i, true);
  return MGR_OK;
}

static long find_item(const mgri_list *l, const mgr_value *v, size_t from,
                      size_t to) {
  for (size_t i = from; i < to && i < l->len; i++)
    if (mgri_value_eq(&l->v[i], v)) return (long)i;
  return -1;
}

int mgri_op_LIST_REMOVE(mgri_octx *x) {
  long i = find_item(&x->o->u.l, &x->args[0], 0, SIZE_MAX);
  if (i < 0)
    return mgri_fail(x, MGR_EVALUE, "ValueError: list.remove(x): x not in list");
  remove_at(x->s, &x->o->u.l, (size_t)i, false);
  return MGR_OK;
}

static int bound_arg(mgri_octx *x, size_t ai, int64_t dflt, int64_t len,
                     int64_t *out) {
  if (ai >= x->nargs) {
    *out = dflt;
    return MGR_OK;
  }
  /* list.index(v, None) is a TypeError in Python: bounds are ints here,
   * unlike slice parts. */
  if (x->args[ai].type != MGR_T_INT)
    return mgri_fail(x, MGR_ETYPE,
                     "TypeError: slice indices must be integers, not %s",
                     mgri_tname(&x->args[ai]));
  *out = x->args[ai].u.i;
  if (*out < 0) {
    *out += len;
    if (*out < 0) *out = 0;
  }
  return MGR_OK;
}

int mgri_op_LIST_INDEX(mgri_octx *x) {
  mgri_list *l = &x->o->u.l;
  int64_t len = (int64_t)l->len, start = 0, stop = 0;
  int rc = bound_arg(x, 1, 0, len, &start);
  if (!rc) rc = bound_arg(x, 2, len, len, &stop);
  if (rc) return rc;
  long i = start < stop ? find_item(l, &x->args[0], (size_t)start, (size_t)stop)
                        : -1;
  if (i < 0) {
    char buf[200];
    return mgri_fail(x, MGR_EVALUE, "ValueError: %s is not in list",
                     mgri_repr(&x->args[0], buf, sizeof buf));
  }
  x->result = mgr_int(i);
  return MGR_OK;
}

int mgri_op_LIST_COUNT(mgri_octx *x) {
  mgri_list *l = &x->o->u.l;
  int64_t n = 0;
  for (size_t i = 0; i < l->len; i++) n += mgri_value_eq(&l->v[i], &x->args[0]);
  x->result = mgr_int(n);
  return MGR_OK;
}

int mgri_op_LIST_CONTAINS(mgri_octx *x) {
  x->result = mgr_bool(find_item(&x->o->u.l, &x->args[0], 0, SIZE_MAX) >= 0);
  return MGR_OK;
}

int mgri_op_LIST_REVERSE(mgri_octx *x) {
  mgri_list *l = &x->o->u.l;
  for (size_t i = 0, j = l->len; i + 1 < j; i++, j--) {
    mgr_value t = l->v[i];
    l->v[i] = l->v[j - 1];
    l->v[j - 1] = t;
  }
  return MGR_OK;
}

/* --- sort: stable bottom-up merge sort on a copy ----------------------------*/

static int sort_cmp(mgri_octx *x, const mgr_value *a, const mgr_value *b,
                    int *out) {
  if (mgri_value_cmp(a, b, out) == MGR_OK) return MGR_OK;
  if (a->type == MGR_T_FLOAT && b->type == MGR_T_FLOAT)
    return mgri_fail(x, MGR_ETYPE, "TypeError: NaN cannot be ordered");
  return mgri_fail(x, MGR_ETYPE,
                   "TypeError: '<' not supported between instances of '%s' and "
                   "'%s'",
                   mgri_tname(b), mgri_tname(a));
}

int mgri_op_LIST_SORT(mgri_octx *x) {
  mgri_list *l = &x->o->u.l;
  bool rev = false;
  if (x->nargs) {
    if (x->args[0].type != MGR_T_BOOL)
      return mgri_fail(x, MGR_ETYPE, "TypeError: reverse must be bool, not %s",
                       mgri_tname(&x->args[0]));
    rev = x->args[0].u.b;
  }
  size_t n = l->len;
  if (n < 2) return MGR_OK;
  mgr_value *a = malloc(n * sizeof *a), *b = malloc(n * sizeof *b);
  if (!a || !b) {
    free(a);
    free(b);
    return mgri_fail(x, MGR_ELIMIT, "MemoryError: out of memory");
  }
  memcpy(a, l->v, n * sizeof *a);
  int rc = MGR_OK;
  for (size_t w = 1; w < n && !rc; w *= 2) {
    for (size_t lo = 0; lo < n && !rc; lo += 2 * w) {
      size_t mid = lo + w < n ? lo + w : n, hi = lo + 2 * w < n ? lo + 2 * w : n;
      size_t i = lo, j = mid, k = lo;
      while (i < mid && j < hi) {
        int c;
        if ((rc = sort_cmp(x, &a[i], &a[j], &c))) break;
        /* Ties take the left run: stable both ways. */
        bool left = rev ? c >= 0 : c <= 0;
        b[k++] = left ? a[i++] : a[j++];
      }
      while (!rc && i < mid) b[k++] = a[i++];
      while (!rc && j < hi) b[k++] = a[j++];
    }
    mgr_value *t = a;
    a = b;
    b = t;
  }
  if (!rc) memcpy(l->v, a, n * sizeof *a);
  free(a);
  free(b);
  return rc;
}

int mgri_op_LIST_CLEAR(mgri_octx *x) {
  mgri_list_clear(x->s, &x->o->u.l);
  return MGR_OK;
}

int mgri_op_LIST_COPY(mgri_octx *x) {
  mgri_list *l = &x->o->u.l;
  mgr_value *out = mgri_scratch(x, l->len);
  if (!out) return MGR_ELIMIT;
  if (l->len) memcpy(out, l->v, l->len * sizeof *out);
  x->result = mgr_array(out, l->len);
  return MGR_OK;
}

int mgri_op_LIST_IMUL(mgri_octx *x) {
  mgri_list *l = &x->o->u.l;
  int64_t n;
  int rc = mgri_arg_int(x, 0, "n", &n);
  if (rc) return rc;
  if (n <= 0) {
    mgri_list_clear(x->s, l);
    return MGR_OK;
  }
  if (n == 1 || l->len == 0) return MGR_OK;
  size_t len = l->len;
  if ((uint64_t)n > IMUL_MAX / len)
    return mgri_fail(x, MGR_ELIMIT,
                     "MemoryError: list of %zu items times %lld exceeds %zu",
                     len, (long long)n, IMUL_MAX);
  if ((rc = reserve(x, l, len * (size_t)(n - 1)))) return rc;
  for (int64_t r = 1; r < n; r++) {
    if ((rc = make_all(x, l->v, len, l->v + l->len))) {
      /* Undo the copies made so far. */
      while (l->len > len) mgri_sv_drop(x->s, &l->v[--l->len]);
      return rc;
    }
    l->len += len;
  }
  return MGR_OK;
}

int mgri_op_LIST_INCR(mgri_octx *x) {
  size_t i = 0;
  int rc = index_arg(x, 0, "list index out of range", &i);
  if (rc) return rc;
  mgr_value nv;
  if ((rc = mgri_num_add(x, &x->o->u.l.v[i], &x->args[1], &nv))) return rc;
  x->o->u.l.v[i] = nv; /* the old value was a number: nothing to free */
  x->result = nv;
  return MGR_OK;
}

int mgri_op_LIST_CAS(mgri_octx *x) {
  size_t i = 0;
  int rc = index_arg(x, 0, "list index out of range", &i);
  if (rc) return rc;
  return mgri_cas_slot(x, &x->o->u.l.v[i], &x->args[1], &x->args[2]);
}
