/* mgr — the shared list: a dynamic array with Python's semantics (negative
 * indices, slices including extended ones, insert clamping, a stable sort
 * that leaves the list unchanged when two items cannot be compared). Every
 * op that grows the list computes the bytes it needs first and is all or
 * nothing.
 *
 * Layout: the items are contiguous in one block with free room at both ends
 * (buf[head .. head+len) of cap slots), so that append, pop(), insert(0) and
 * pop(0) are amortised O(1): an insert or a removal shifts the shorter side,
 * towards the end that has room. When the room on the side an op needs runs
 * out, the items move within the block (when at least half their number is
 * free) or the block doubles; either way that side gets at least a quarter
 * of the items' number as room, while the other side keeps its room up to
 * half of what is free. The block shrinks when a removal leaves it at most a
 * quarter full (to twice the items, at least LIST_MIN_CAP slots) and goes
 * when the list is empty, as CPython frees an emptied list's array. Items
 * stay contiguous: DUMP borrows them, sort and copies read them in place. */
#include <string.h>

#include "cbor/model.h"
#include "mgr/error.h"
#include "server/kind.h"
#include "server/kinds/kinds.h"
#include "server/kinds/slot.h"
#include "server/objects.h"
#include "server/reply.h"

typedef struct list {
  mgr_value *buf; /* the block: cap slots (NULL when cap is 0) */
  mgr_value *v;   /* the items: buf + head, len of them (owned) */
  size_t head, len, cap;
} list;

/* The fewest slots a shrinking block keeps. */
#define LIST_MIN_CAP 8

static list *L(const mgri_obj *o) { return mgri_state(o); }

static size_t front_room(const list *l) { return l->head; }
static size_t back_room(const list *l) { return l->cap - l->head - l->len; }

/* Moves the items within the block to start at slot head (head + len <=
 * cap). */
static void place(list *l, size_t head) {
  if (head != l->head && l->len)
    memmove(l->buf + head, l->v, l->len * sizeof *l->v);
  l->head = head;
  l->v = l->buf ? l->buf + head : NULL;
}

/* The head that leaves `more` free slots on one side (front or back) of a
 * block of cap slots, the other side keeping `other` slots of room, up to
 * half of the rest: the side that ran out gets all the rest. */
static size_t head_for(const list *l, bool front, size_t more, size_t other,
                       size_t cap) {
  size_t spare = cap - l->len - more;
  size_t keep = other < spare / 2 ? other : spare / 2;
  return front ? more + (spare - keep) : keep;
}

/* The capacity growing to `need` items gives (doubling), 0 if impossible. */
static size_t grown_cap(const list *l, size_t need) {
  size_t cap = l->cap ? l->cap : 4;
  while (cap < need) {
    if (cap > SIZE_MAX / sizeof(mgr_value) / 2) return need;
    cap *= 2;
  }
  return cap;
}

/* Room for `more` items at one end (front: before the first item, else
 * after the last), checking that the growth and `extra` bytes (the copies
 * the caller will make next) fit in memory together. The items may move
 * within the block or to a larger one; their order and values do not
 * change, so a later failure leaves the list as it was (its capacity may
 * stay, spec 14.2.2). */
static int reserve(mgri_octx *x, mgri_obj *o, bool front, size_t more,
                   size_t extra) {
  list *l = L(o);
  if (more <= (front ? front_room(l) : back_room(l)))
    return mgri_need(x, extra);
  if (more > SIZE_MAX / sizeof(mgr_value) - l->len)
    return mgri_limit(x, MGRI_WHY_SIZE, "MemoryError: list too large");
  size_t other = front ? back_room(l) : front_room(l);
  size_t spare = l->cap - l->len; /* free slots, both ends */
  if (more <= spare && spare - more >= l->len / 2) {
    /* Enough is free: move the items, at most once per len/4 ops at this
     * end (amortised O(1)). */
    int rc = mgri_need(x, extra);
    if (rc) return rc;
    place(l, head_for(l, front, more, other, l->cap));
    return MGR_OK;
  }
  size_t cap = grown_cap(l, l->len + more);
  size_t grow = (cap - l->cap) * sizeof(mgr_value);
  int rc = mgri_need(x, extra > SIZE_MAX - grow ? SIZE_MAX : grow + extra);
  if (rc) return rc;
  mgr_value *b = mgri_obj_realloc(x->s, o, l->buf, cap * sizeof *b);
  if (!b) return mgri_nomem(x);
  l->buf = b;
  l->v = b + l->head;
  l->cap = cap;
  place(l, head_for(l, front, more, other, cap));
  return MGR_OK;
}

/* Whether making room at index i (k slots replaced there, 0 for an insert)
 * shifts the items before it (fewer than after it) rather than those after. */
static bool shift_front(const list *l, size_t i) { return i < l->len - i; }

/* k new slots at index i (their contents undefined): the items before i
 * move towards the front (front) or those from i towards the back, into
 * room reserved on that side. */
static void open_gap(list *l, bool front, size_t i, size_t k) {
  if (!k) return;
  if (front) {
    if (i) memmove(l->v - k, l->v, i * sizeof *l->v);
    l->head -= k;
    l->v -= k;
  } else if (l->len - i) {
    memmove(l->v + i + k, l->v + i, (l->len - i) * sizeof *l->v);
  }
  l->len += k;
}

/* Gives back the block when the list is empty, and shrinks it when it is
 * at most a quarter full. Never fails: a block the allocator cannot shrink
 * stays as it was. */
static void settle(mgri_store *s, mgri_obj *o) {
  list *l = L(o);
  if (!l->len) {
    mgri_obj_free(s, o, l->buf);
    memset(l, 0, sizeof *l);
    return;
  }
  if (l->cap <= LIST_MIN_CAP || l->len > l->cap / 4) return;
  size_t cap = 2 * l->len > LIST_MIN_CAP ? 2 * l->len : LIST_MIN_CAP;
  size_t half = (cap - l->len) / 2;
  place(l, l->head < half ? l->head : half); /* down: within the new size */
  mgr_value *b = mgri_obj_shrink(s, o, l->buf, cap * sizeof *b);
  if (!b) return;
  l->buf = b;
  l->v = b + l->head;
  l->cap = cap;
}

/* Removes the k slots at index i (already dropped), shifting the shorter
 * side, then settles the block. */
static void close_gap(mgri_store *s, mgri_obj *o, size_t i, size_t k) {
  list *l = L(o);
  if (!k) return;
  size_t after = l->len - i - k;
  if (i < after) {
    if (i) memmove(l->v + k, l->v, i * sizeof *l->v);
    l->head += k;
    l->v += k;
  } else if (after) {
    memmove(l->v + i, l->v + i + k, after * sizeof *l->v);
  }
  l->len -= k;
  settle(s, o);
}

/* The bytes owned copies of items[0..n) take, SIZE_MAX when too many. */
static size_t need_of(const mgr_value *items, size_t n) {
  size_t need = 0;
  for (size_t i = 0; i < n; i++) {
    size_t b = mgri_sv_need(&items[i]);
    if (b > SIZE_MAX - need) return SIZE_MAX;
    need += b;
  }
  return need;
}

/* Owned copies of items[0..n) into out (refs already checked). All or
 * nothing. */
static int make_all(mgri_octx *x, mgri_obj *o, const mgr_value *items, size_t n,
                    mgr_value *out) {
  for (size_t i = 0; i < n; i++) {
    int rc = mgri_sv_make_checked(x, o, &items[i], &out[i]);
    if (rc) {
      while (i--)
        mgri_sv_drop(x->s, o, &out[i]);
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
static int extend(mgri_octx *x, mgri_obj *o, const mgr_value *items, size_t n) {
  if (!n) return MGR_OK; /* l->v may be NULL: no NULL + 0 */
  int rc = check_all(x, items, n);
  if (!rc) rc = reserve(x, o, false, n, need_of(items, n));
  if (!rc) rc = make_all(x, o, items, n, L(o)->v + L(o)->len);
  if (!rc) L(o)->len += n;
  return rc;
}

static void list_clear(mgri_store *s, mgri_obj *o) {
  list *l = L(o);
  for (size_t i = 0; i < l->len; i++)
    mgri_sv_drop(s, o, &l->v[i]);
  mgri_obj_free(s, o, l->buf);
  memset(l, 0, sizeof *l);
}

/* An index argument in range, negative counting from the end. */
static int index_arg(mgri_octx *x, size_t ai, const char *errmsg, size_t *out) {
  int64_t i;
  int rc = mgri_arg_int(x, ai, "list indices", &i);
  if (rc) return rc;
  size_t len = L(x->o)->len;
  if (i < 0) i += (int64_t)len;
  if (i < 0 || (uint64_t)i >= len)
    return mgri_fail(x, MGR_EINDEX, "IndexError: %s", errmsg);
  *out = (size_t)i;
  return MGR_OK;
}

/* --- slices (slot.c: Python's slice.indices()) ----------------------------- */

typedef mgri_slice slice;

static int slice_args(mgri_octx *x, slice *s) {
  return mgri_slice_of(x, x->args, L(x->o)->len, s);
}

static size_t slice_at(const slice *s, size_t k) { return mgri_slice_at(s, k); }

static int op_getslice(mgri_octx *x) {
  slice s;
  int rc = slice_args(x, &s);
  if (rc) return rc;
  mgr_value *out = mgri_scratch(x, s.n);
  if (!out) return MGR_ELIMIT;
  for (size_t k = 0; k < s.n; k++)
    out[k] = L(x->o)->v[slice_at(&s, k)];
  x->result = mgr_array(out, s.n);
  return MGR_OK;
}

/* Removes the n items selected by s (dropping them). */
static void delete_slice(mgri_store *st, mgri_obj *o, const slice *s) {
  list *l = L(o);
  if (!s->n) return;
  size_t lo = s->step > 0 ? (size_t)s->start : slice_at(s, s->n - 1);
  size_t st_ = (size_t)(s->step > 0 ? s->step : -s->step);
  if (st_ == 1) { /* a run: the shorter side moves (del l[:k] is O(k)) */
    for (size_t k = 0; k < s->n; k++)
      mgri_sv_drop(st, o, &l->v[lo + k]);
    close_gap(st, o, lo, s->n);
    return;
  }
  size_t hi = lo + (s->n - 1) * st_; /* last index removed */
  size_t j = lo;
  for (size_t i = lo; i < l->len; i++) {
    if (i <= hi && (i - lo) % st_ == 0) {
      mgri_sv_drop(st, o, &l->v[i]);
      continue;
    }
    l->v[j++] = l->v[i];
  }
  l->len = j;
  settle(st, o);
}

static int op_setslice(mgri_octx *x) {
  list *l = L(x->o);
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
  /* The room first, then the copies: nothing fails once the list changes.
   * A step-1 slice grows on its shorter side: the items before it move
   * towards the front, or those after it towards the back. */
  size_t more = s.step == 1 && m > s.n ? m - s.n : 0;
  bool front = s.step == 1 && (size_t)s.start < l->len - (size_t)s.start - s.n;
  if ((rc = reserve(x, x->o, front, more, need_of(src->u.a.items, m))))
    return rc;
  mgr_value *made = NULL;
  if (m) {
    made = mgri_arena_alloc(&x->s->scratch, m * sizeof *made);
    if (!made) return mgri_nomem(x);
    if ((rc = make_all(x, x->o, src->u.a.items, m, made))) return rc;
  }
  if (s.step != 1) {
    for (size_t k = 0; k < m; k++) {
      size_t i = slice_at(&s, k);
      mgri_sv_drop(x->s, x->o, &l->v[i]);
      l->v[i] = made[k];
    }
    return MGR_OK;
  }
  size_t start = (size_t)s.start, n = s.n; /* replace [start, start+n) */
  for (size_t k = 0; k < n; k++)
    mgri_sv_drop(x->s, x->o, &l->v[start + k]);
  if (m > n) open_gap(l, front, front ? start : start + n, m - n);
  if (m) memcpy(l->v + start, made, m * sizeof *made);
  if (m < n) close_gap(x->s, x->o, start + m, n - m); /* settles last */
  return MGR_OK;
}

static int op_delslice(mgri_octx *x) {
  slice s;
  int rc = slice_args(x, &s);
  if (rc) return rc;
  delete_slice(x->s, x->o, &s);
  return MGR_OK;
}

/* --- item ops ---------------------------------------------------------------*/

static int op_get(mgri_octx *x) {
  size_t i = 0;
  int rc = index_arg(x, 0, "list index out of range", &i);
  if (rc) return rc;
  x->result = L(x->o)->v[i];
  x->result_stored = true;
  return MGR_OK;
}

static int op_set(mgri_octx *x) {
  size_t i = 0;
  int rc = index_arg(x, 0, "list assignment index out of range", &i);
  if (rc) return rc;
  mgr_value nv;
  if ((rc = mgri_sv_check(x, &x->args[1]))) return rc;
  if ((rc = mgri_need(x, mgri_sv_need(&x->args[1])))) return rc;
  if ((rc = mgri_sv_make_checked(x, x->o, &x->args[1], &nv))) return rc;
  mgri_sv_drop(x->s, x->o, &L(x->o)->v[i]);
  L(x->o)->v[i] = nv;
  return MGR_OK;
}

static void remove_at(mgri_store *s, mgri_obj *o, size_t i, bool later) {
  list *l = L(o);
  if (later)
    mgri_sv_drop_later(s, o, &l->v[i]);
  else
    mgri_sv_drop(s, o, &l->v[i]);
  close_gap(s, o, i, 1);
}

static int op_del(mgri_octx *x) {
  size_t i = 0;
  int rc = index_arg(x, 0, "list assignment index out of range", &i);
  if (rc) return rc;
  remove_at(x->s, x->o, i, false);
  return MGR_OK;
}

static int op_len(mgri_octx *x) {
  x->result = mgr_int((int64_t)L(x->o)->len);
  return MGR_OK;
}

static int op_append(mgri_octx *x) { return extend(x, x->o, &x->args[0], 1); }

static int op_extend(mgri_octx *x) {
  const mgr_value *a = &x->args[0];
  if (a->type != MGR_T_ARRAY)
    return mgri_fail(x, MGR_ETYPE, "TypeError: '%s' object is not iterable",
                     mgri_tname(a));
  return extend(x, x->o, a->u.a.items, a->u.a.len);
}

static int op_insert(mgri_octx *x) {
  list *l = L(x->o);
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
  if ((rc = mgri_sv_check(x, &x->args[1]))) return rc;
  bool front = shift_front(l, (size_t)i);
  if ((rc = reserve(x, x->o, front, 1, mgri_sv_need(&x->args[1])))) return rc;
  if ((rc = mgri_sv_make_checked(x, x->o, &x->args[1], &nv))) return rc;
  open_gap(l, front, (size_t)i, 1);
  l->v[i] = nv;
  return MGR_OK;
}

static int op_pop(mgri_octx *x) {
  list *l = L(x->o);
  if (x->nargs && x->args[0].type != MGR_T_INT)
    return mgri_fail(x, MGR_ETYPE,
                     "TypeError: list indices must be int, not %s",
                     mgri_tname(&x->args[0]));
  if (!l->len)
    return mgri_fail(x, MGR_EINDEX, "IndexError: pop from empty list");
  size_t i = l->len - 1;
  if (x->nargs) {
    int rc = index_arg(x, 0, "pop index out of range", &i);
    if (rc) return rc;
  }
  x->result = l->v[i];
  remove_at(x->s, x->o, i, true);
  return MGR_OK;
}

static long find_item(const list *l, const mgr_value *v, size_t from,
                      size_t to) {
  for (size_t i = from; i < to && i < l->len; i++)
    if (mgri_value_eq(&l->v[i], v)) return (long)i;
  return -1;
}

static int op_remove(mgri_octx *x) {
  long i = find_item(L(x->o), &x->args[0], 0, SIZE_MAX);
  if (i < 0)
    return mgri_fail(x, MGR_EVALUE,
                     "ValueError: list.remove(x): x not in list");
  remove_at(x->s, x->o, (size_t)i, false);
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

static int op_index(mgri_octx *x) {
  list *l = L(x->o);
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

static int op_count(mgri_octx *x) {
  list *l = L(x->o);
  int64_t n = 0;
  for (size_t i = 0; i < l->len; i++)
    n += mgri_value_eq(&l->v[i], &x->args[0]);
  x->result = mgr_int(n);
  return MGR_OK;
}

static int op_contains(mgri_octx *x) {
  x->result = mgr_bool(find_item(L(x->o), &x->args[0], 0, SIZE_MAX) >= 0);
  return MGR_OK;
}

static int op_reverse(mgri_octx *x) {
  list *l = L(x->o);
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

static int op_sort(mgri_octx *x) {
  list *l = L(x->o);
  bool rev = false;
  if (x->nargs) {
    if (x->args[0].type != MGR_T_BOOL)
      return mgri_fail(x, MGR_ETYPE, "TypeError: reverse must be bool, not %s",
                       mgri_tname(&x->args[0]));
    rev = x->args[0].u.b;
  }
  size_t n = l->len;
  if (n < 2) return MGR_OK;
  int rc = mgri_need(x, 2 * n * sizeof(mgr_value));
  if (rc) return rc;
  /* Scratch (freed after the reply), not the object's memory. */
  mgr_value *a = mgri_arena_alloc(&x->s->scratch, n * sizeof *a);
  mgr_value *b = a ? mgri_arena_alloc(&x->s->scratch, n * sizeof *b) : NULL;
  if (!b) return mgri_nomem(x);
  memcpy(a, l->v, n * sizeof *a);
  for (size_t w = 1; w < n && !rc; w *= 2) {
    for (size_t lo = 0; lo < n && !rc; lo += 2 * w) {
      size_t mid = lo + w < n ? lo + w : n,
             hi = lo + 2 * w < n ? lo + 2 * w : n;
      size_t i = lo, j = mid, k = lo;
      while (i < mid && j < hi) {
        int c;
        if ((rc = sort_cmp(x, &a[i], &a[j], &c))) break;
        /* Ties take the left run: stable both ways. */
        bool left = rev ? c >= 0 : c <= 0;
        b[k++] = left ? a[i++] : a[j++];
      }
      while (!rc && i < mid)
        b[k++] = a[i++];
      while (!rc && j < hi)
        b[k++] = a[j++];
    }
    mgr_value *t = a;
    a = b;
    b = t;
  }
  if (!rc) memcpy(l->v, a, n * sizeof *a);
  return rc;
}

static int op_clear(mgri_octx *x) {
  list_clear(x->s, x->o);
  return MGR_OK;
}

static int op_copy(mgri_octx *x) {
  list *l = L(x->o);
  mgr_value *out = mgri_scratch(x, l->len);
  if (!out) return MGR_ELIMIT;
  if (l->len) memcpy(out, l->v, l->len * sizeof *out);
  x->result = mgr_array(out, l->len);
  return MGR_OK;
}

static int op_imul(mgri_octx *x) {
  list *l = L(x->o);
  int64_t n;
  int rc = mgri_arg_int(x, 0, "n", &n);
  if (rc) return rc;
  if (n <= 0) {
    list_clear(x->s, x->o);
    return MGR_OK;
  }
  if (n == 1 || l->len == 0) return MGR_OK;
  size_t len = l->len;
  if ((uint64_t)n > MGRI_IMUL_ITEMS_MAX / len)
    return mgri_limit(x, MGRI_WHY_SIZE,
                      "MemoryError: list of %zu items times %lld exceeds %u "
                      "items",
                      len, (long long)n, MGRI_IMUL_ITEMS_MAX);
  /* The bytes n - 1 more copies take, counted before any is made: a list
   * of one 1 MB bytes times a million is refused here, not after. */
  size_t once = need_of(l->v, len), copies = (size_t)(n - 1);
  size_t extra =
      once != SIZE_MAX && once <= SIZE_MAX / copies ? once * copies : SIZE_MAX;
  if ((rc = reserve(x, x->o, false, len * copies, extra))) return rc;
  for (size_t r = 0; r < copies; r++) {
    if ((rc = make_all(x, x->o, l->v, len, l->v + l->len))) {
      /* Undo the copies made so far. */
      while (l->len > len)
        mgri_sv_drop(x->s, x->o, &l->v[--l->len]);
      return rc;
    }
    l->len += len;
  }
  return MGR_OK;
}

static int op_incr(mgri_octx *x) {
  size_t i = 0;
  int rc = index_arg(x, 0, "list index out of range", &i);
  if (rc) return rc;
  mgr_value nv;
  if ((rc = mgri_num_add(x, &L(x->o)->v[i], &x->args[1], &nv))) return rc;
  L(x->o)->v[i] = nv; /* the old value was a number: nothing to free */
  x->result = nv;
  return MGR_OK;
}

static int op_cas(mgri_octx *x) {
  size_t i = 0;
  int rc = index_arg(x, 0, "list index out of range", &i);
  if (rc) return rc;
  if ((rc = mgri_need(x, mgri_sv_need(&x->args[2])))) return rc;
  return mgri_cas_slot(x, x->o, &L(x->o)->v[i], &x->args[1], &x->args[2]);
}

/* --- the kind's hooks ---------------------------------------------------- */

static int list_init_check(mgri_octx *x, uint32_t kind, const mgr_value *init) {
  (void)kind;
  if (!init || init->type == MGR_T_NIL || init->type == MGR_T_ARRAY)
    return MGR_OK;
  return mgri_fail(x, MGR_ETYPE,
                   "TypeError: a list starts from an array or None, not %s",
                   mgri_tname(init));
}

static int list_create(mgri_octx *x, mgri_obj *o, const mgr_value *init) {
  if (!init || init->type == MGR_T_NIL) return MGR_OK;
  int rc = extend(x, o, init->u.a.items, init->u.a.len);
  if (rc) list_clear(x->s, o);
  return rc;
}

static void list_refs(const mgri_obj *o, void (*fn)(void *, uint64_t),
                      void *ctx) {
  const list *l = L(o);
  for (size_t i = 0; i < l->len; i++)
    mgri_value_refs(&l->v[i], fn, ctx);
}

/* Its elements, nested items included: what a walk or a comparison with
 * each element touches at most. */
static size_t list_len(const mgri_obj *o) { return (size_t)o->items; }

static int list_dump(mgri_octx *x, mgri_obj *o, mgr_value *out) {
  const list *l = L(o);
  *out = mgr_array(l->v, l->len); /* borrowed */
  (void)x;
  return MGR_OK;
}

static const mgri_handler ops[] = {
    {MGRI_OP_LIST_GET, op_get, MGRI_COST_ONE},
    {MGRI_OP_LIST_SET, op_set, MGRI_COST_ARGS},
    {MGRI_OP_LIST_DEL, op_del, MGRI_COST_END},
    {MGRI_OP_LIST_LEN, op_len, MGRI_COST_ONE},
    {MGRI_OP_LIST_GETSLICE, op_getslice, MGRI_COST_LEN},
    {MGRI_OP_LIST_SETSLICE, op_setslice, MGRI_COST_LEN_ARGS},
    {MGRI_OP_LIST_DELSLICE, op_delslice, MGRI_COST_LEN},
    {MGRI_OP_LIST_APPEND, op_append, MGRI_COST_ARGS},
    {MGRI_OP_LIST_EXTEND, op_extend, MGRI_COST_ARGS},
    {MGRI_OP_LIST_INSERT, op_insert, MGRI_COST_END_ARGS},
    {MGRI_OP_LIST_POP, op_pop, MGRI_COST_END},
    {MGRI_OP_LIST_REMOVE, op_remove, MGRI_COST_LEN},
    {MGRI_OP_LIST_INDEX, op_index, MGRI_COST_LEN},
    {MGRI_OP_LIST_COUNT, op_count, MGRI_COST_LEN},
    {MGRI_OP_LIST_REVERSE, op_reverse, MGRI_COST_LEN},
    {MGRI_OP_LIST_SORT, op_sort, MGRI_COST_SORT},
    {MGRI_OP_LIST_CLEAR, op_clear, MGRI_COST_LEN},
    {MGRI_OP_LIST_COPY, op_copy, MGRI_COST_LEN},
    {MGRI_OP_LIST_IMUL, op_imul, MGRI_COST_IMUL},
    {MGRI_OP_LIST_CONTAINS, op_contains, MGRI_COST_LEN},
    {MGRI_OP_LIST_INCR, op_incr, MGRI_COST_ONE},
    {MGRI_OP_LIST_CAS, op_cas, MGRI_COST_ARGS},
};

const mgri_kind mgri_kind_list = {
    .id = MGR_K_LIST,
    .state_size = sizeof(list),
    .init_check = list_init_check,
    .create = list_create,
    .destroy = list_clear,
    .refs = list_refs,
    .dump = list_dump,
    .len = list_len,
    .ops = ops,
    .nops = sizeof ops / sizeof ops[0],
};
