/* mgr — comparing values: Python's == (numbers across bool, int and float,
 * exactly), a total order on hashable keys used to find duplicates and to
 * compare big maps in O(n log n), and the ordering of list.sort. */
#include <stdlib.h>
#include <string.h>

#include "cbor/model.h"
#include "cbor/num.h"
#include "mgr/error.h"

/* --- equality ------------------------------------------------------------- */

static bool map_eq(const mgr_value *a, const mgr_value *b);

bool mgri_value_eq(const mgr_value *a, const mgr_value *b) {
  mgri_num x = {false, 0, 0}, y = {false, 0, 0};
  if (mgri_as_num(a, &x)) {
    if (!mgri_as_num(b, &y) || mgri_num_nan(x) || mgri_num_nan(y)) return false;
    return mgri_num_cmp(x, y) == 0;
  }
  if (a->type != b->type) return false;
  switch (a->type) {
  case MGR_T_NIL:
    return true;
  case MGR_T_TEXT:
  case MGR_T_BYTES:
    return a->u.s.len == b->u.s.len &&
           (a->u.s.len == 0 || memcmp(a->u.s.ptr, b->u.s.ptr, a->u.s.len) == 0);
  case MGR_T_ARRAY:
    if (a->u.a.len != b->u.a.len) return false;
    for (size_t i = 0; i < a->u.a.len; i++)
      if (!mgri_value_eq(&a->u.a.items[i], &b->u.a.items[i])) return false;
    return true;
  case MGR_T_MAP:
    return map_eq(a, b);
  case MGR_T_REF:
    return a->u.ref.kind == b->u.ref.kind && a->u.ref.id == b->u.ref.id;
  default:
    return false;
  }
}

/* --- a total order on hashable keys, consistent with ==; used to find
 * duplicates and to compare big dicts in O(n log n) ------------------------ */

static int key_rank(const mgr_value *v) {
  switch (v->type) {
  case MGR_T_NIL:
    return 0;
  case MGR_T_BOOL:
  case MGR_T_INT:
  case MGR_T_FLOAT:
    return 1;
  case MGR_T_TEXT:
    return 2;
  case MGR_T_BYTES:
    return 3;
  case MGR_T_ARRAY:
    return 4;
  case MGR_T_REF:
    return 5;
  default:
    return 6;
  }
}

static int key_order(const mgr_value *a, const mgr_value *b) {
  int ra = key_rank(a), rb = key_rank(b);
  if (ra != rb) return ra < rb ? -1 : 1;
  mgri_num x = {false, 0, 0}, y = {false, 0, 0};
  switch (ra) {
  case 1:
    mgri_as_num(a, &x);
    mgri_as_num(b, &y);
    return mgri_num_cmp(x, y);
  case 2:
  case 3: {
    size_t n = a->u.s.len < b->u.s.len ? a->u.s.len : b->u.s.len;
    int c = n ? memcmp(a->u.s.ptr, b->u.s.ptr, n) : 0;
    if (c) return c < 0 ? -1 : 1;
    return a->u.s.len < b->u.s.len ? -1 : a->u.s.len > b->u.s.len;
  }
  case 4: {
    size_t n = a->u.a.len < b->u.a.len ? a->u.a.len : b->u.a.len;
    for (size_t i = 0; i < n; i++) {
      int c = key_order(&a->u.a.items[i], &b->u.a.items[i]);
      if (c) return c;
    }
    return a->u.a.len < b->u.a.len ? -1 : a->u.a.len > b->u.a.len;
  }
  case 5:
    if (a->u.ref.kind != b->u.ref.kind)
      return a->u.ref.kind < b->u.ref.kind ? -1 : 1;
    return a->u.ref.id < b->u.ref.id ? -1 : a->u.ref.id > b->u.ref.id;
  default:
    return 0;
  }
}

typedef struct keyent {
  const mgr_value *k;
  size_t i;
} keyent;

static int keyent_cmp(const void *x, const void *y) {
  const keyent *a = x, *b = y;
  int c = key_order(a->k, b->k);
  if (c) return c;
  return a->i < b->i ? -1 : a->i > b->i;
}

/* Small maps are checked pairwise: cheaper than sorting. */
#define SMALL_MAP 16u

int mgri_map_find_dup(const mgr_value *pairs, size_t npairs, size_t *dup) {
  if (npairs <= SMALL_MAP) {
    for (size_t i = 1; i < npairs; i++)
      for (size_t j = 0; j < i; j++)
        if (mgri_value_eq(&pairs[2 * i], &pairs[2 * j])) {
          *dup = i;
          return 1;
        }
    return 0;
  }
  keyent *e = malloc(npairs * sizeof *e);
  if (!e) return MGR_ENOMEM;
  for (size_t i = 0; i < npairs; i++)
    e[i] = (keyent){&pairs[2 * i], i};
  qsort(e, npairs, sizeof *e, keyent_cmp);
  /* In each run of equal keys the second entry is the first repeat; report
   * the earliest repeat in map order, as a sequential check would. */
  size_t best = SIZE_MAX;
  for (size_t i = 1; i < npairs; i++)
    if (key_order(e[i - 1].k, e[i].k) == 0 &&
        (i < 2 || key_order(e[i - 2].k, e[i].k) != 0) && e[i].i < best)
      best = e[i].i;
  free(e);
  if (best == SIZE_MAX) return 0;
  *dup = best;
  return 1;
}

static bool keys_hashable(const mgr_value *m) {
  for (size_t i = 0; i < m->u.a.len; i++)
    if (mgri_value_hashable(&m->u.a.items[2 * i]) != MGR_OK) return false;
  return true;
}

const mgr_value *mgri_map_find(const mgr_value *m, const mgr_value *k,
                               size_t hint) {
  size_t n = m->u.a.len;
  /* Dicts built alike usually share key order: try the same slot first. */
  if (hint < n && mgri_value_eq(&m->u.a.items[2 * hint], k))
    return &m->u.a.items[2 * hint + 1];
  for (size_t i = 0; i < n; i++)
    if (mgri_value_eq(&m->u.a.items[2 * i], k)) return &m->u.a.items[2 * i + 1];
  return NULL;
}

static bool map_eq(const mgr_value *a, const mgr_value *b) {
  size_t n = a->u.a.len;
  if (n != b->u.a.len) return false;
  if (n > SMALL_MAP && keys_hashable(a) && keys_hashable(b)) {
    keyent *ea = malloc(2 * n * sizeof *ea);
    if (ea) {
      keyent *eb = ea + n;
      for (size_t i = 0; i < n; i++) {
        ea[i] = (keyent){&a->u.a.items[2 * i], i};
        eb[i] = (keyent){&b->u.a.items[2 * i], i};
      }
      qsort(ea, n, sizeof *ea, keyent_cmp);
      qsort(eb, n, sizeof *eb, keyent_cmp);
      bool eq = true;
      for (size_t i = 0; i < n && eq; i++)
        eq = key_order(ea[i].k, eb[i].k) == 0 &&
             mgri_value_eq(ea[i].k + 1, eb[i].k + 1);
      free(ea);
      return eq;
    }
  }
  for (size_t i = 0; i < n; i++) {
    const mgr_value *bv = mgri_map_find(b, &a->u.a.items[2 * i], i);
    if (!bv || !mgri_value_eq(&a->u.a.items[2 * i + 1], bv)) return false;
  }
  return true;
}

/* --- ordering ------------------------------------------------------------- */

int mgri_value_cmp(const mgr_value *a, const mgr_value *b, int *out) {
  mgri_num x = {false, 0, 0}, y = {false, 0, 0};
  if (mgri_as_num(a, &x)) {
    if (!mgri_as_num(b, &y) || mgri_num_nan(x) || mgri_num_nan(y))
      return MGR_ETYPE;
    *out = mgri_num_cmp(x, y);
    return MGR_OK;
  }
  if (a->type != b->type) return MGR_ETYPE;
  switch (a->type) {
  case MGR_T_TEXT:
  case MGR_T_BYTES:
    *out = key_order(a, b);
    return MGR_OK;
  case MGR_T_ARRAY: {
    /* Python: the first pair that is not == decides, so equal elements of
     * incomparable kinds (None, None) do not raise. */
    size_t n = a->u.a.len < b->u.a.len ? a->u.a.len : b->u.a.len;
    for (size_t i = 0; i < n; i++) {
      const mgr_value *p = &a->u.a.items[i], *q = &b->u.a.items[i];
      if (!mgri_value_eq(p, q)) return mgri_value_cmp(p, q, out);
    }
    *out = a->u.a.len < b->u.a.len ? -1 : a->u.a.len > b->u.a.len;
    return MGR_OK;
  }
  default:
    return MGR_ETYPE;
  }
}
