/* mgr — the shared array (manager.Array(typecode, sequence)): a fixed-length
 * C array of one of Python's array typecodes, with the conversions and
 * messages of Python's array module on every store, slices (slot.c), and
 * atomic increment and compare-and-swap of an element (spec 9.14). */
#include <float.h>
#include <math.h>
#include <string.h>

#include "cbor/model.h"
#include "common/limits.h"
#include "mgr/error.h"
#include "server/kind.h"
#include "server/kinds/kinds.h"
#include "server/kinds/slot.h"
#include "server/objects.h"
#include "server/reply.h"

/* A typecode: its C size and range, and Python's OverflowError texts. */
typedef struct tinfo {
  char code;
  uint8_t size;
  bool fp;
  int64_t min, max;
  const char *above, *below;
} tinfo;

/* 'l' and 'L' are 64-bit as on Linux x86-64. The unsigned 64-bit types stop
 * at INT64_MAX: a protocol int is a signed 64-bit integer (spec 4.3), so no
 * larger element could be read back (spec 9.14, a deliberate difference). */
static const tinfo TYPES[] = {
    {'b', 1, false, INT8_MIN, INT8_MAX, "signed char is greater than maximum",
     "signed char is less than minimum"},
    {'B', 1, false, 0, UINT8_MAX,
     "unsigned byte integer is greater than maximum",
     "unsigned byte integer is less than minimum"},
    {'h', 2, false, INT16_MIN, INT16_MAX,
     "signed short integer is greater than maximum",
     "signed short integer is less than minimum"},
    {'H', 2, false, 0, UINT16_MAX, "unsigned short is greater than maximum",
     "unsigned short is less than minimum"},
    {'i', 4, false, INT32_MIN, INT32_MAX,
     "signed integer is greater than maximum",
     "signed integer is less than minimum"},
    {'I', 4, false, 0, UINT32_MAX, "unsigned int is greater than maximum",
     "can't convert negative value to unsigned int"},
    {'l', 8, false, INT64_MIN, INT64_MAX,
     "Python int too large to convert to C long",
     "Python int too large to convert to C long"},
    {'L', 8, false, 0, INT64_MAX,
     "unsigned long above 9223372036854775807 (mgr's ints are signed 64-bit)",
     "can't convert negative value to unsigned int"},
    {'q', 8, false, INT64_MIN, INT64_MAX, "int too big to convert",
     "int too big to convert"},
    {'Q', 8, false, 0, INT64_MAX,
     "unsigned long long above 9223372036854775807 (mgr's ints are signed "
     "64-bit)",
     "can't convert negative int to unsigned"},
    {'f', 4, true, 0, 0, NULL, NULL},
    {'d', 8, true, 0, 0, NULL, NULL},
};

/* The typecodes as one-character texts (ARRAY_TYPECODE, DUMP). */
static const char CODES[] = "b\0B\0h\0H\0i\0I\0l\0L\0q\0Q\0f\0d";

typedef struct arr {
  const tinfo *t;
  size_t len;
  void *data; /* len elements of t's C type; NULL when len is 0 */
} arr;

/* One element to store: an int (integer typecodes) or a double. */
typedef union cell {
  int64_t i;
  double f;
} cell;

#define DUMP_HEAD 8u /* elements DUMP shows */

static arr *A_(const mgri_obj *o) { return mgri_state(o); }

static mgr_value code_text(const tinfo *t) {
  return mgr_textn(CODES + 2 * (size_t)(t - TYPES), 1);
}

/* C's (float)d, without its undefined behaviour for finite values beyond
 * FLT_MAX: IEEE 754 round to nearest, as Python's array('f') stores (a
 * tie goes to infinity: FLT_MAX's significand is odd). */
static float to_f32(double d) {
  if (isfinite(d) && fabs(d) > (double)FLT_MAX) {
    double lim = (double)FLT_MAX + 0x1p103; /* half an ulp above FLT_MAX */
    float m = fabs(d) < lim ? FLT_MAX : INFINITY;
    return d < 0 ? -m : m;
  }
  return (float)d;
}

static mgr_value elem_get(const arr *a, size_t i) {
  const void *p = a->data;
  switch (a->t->code) {
  case 'b':
    return mgr_int(((const int8_t *)p)[i]);
  case 'B':
    return mgr_int(((const uint8_t *)p)[i]);
  case 'h':
    return mgr_int(((const int16_t *)p)[i]);
  case 'H':
    return mgr_int(((const uint16_t *)p)[i]);
  case 'i':
    return mgr_int(((const int32_t *)p)[i]);
  case 'I':
    return mgr_int(((const uint32_t *)p)[i]);
  case 'l':
  case 'q':
    return mgr_int(((const int64_t *)p)[i]);
  case 'L':
  case 'Q':
    return mgr_int((int64_t)((const uint64_t *)p)[i]); /* <= INT64_MAX */
  case 'f':
    return mgr_float((double)((const float *)p)[i]);
  default:
    return mgr_float(((const double *)p)[i]);
  }
}

/* Stores a cell that convert() accepted for a's typecode. */
static void elem_put(arr *a, size_t i, cell c) {
  void *p = a->data;
  switch (a->t->code) {
  case 'b':
    ((int8_t *)p)[i] = (int8_t)c.i;
    break;
  case 'B':
    ((uint8_t *)p)[i] = (uint8_t)c.i;
    break;
  case 'h':
    ((int16_t *)p)[i] = (int16_t)c.i;
    break;
  case 'H':
    ((uint16_t *)p)[i] = (uint16_t)c.i;
    break;
  case 'i':
    ((int32_t *)p)[i] = (int32_t)c.i;
    break;
  case 'I':
    ((uint32_t *)p)[i] = (uint32_t)c.i;
    break;
  case 'l':
  case 'q':
    ((int64_t *)p)[i] = c.i;
    break;
  case 'L':
  case 'Q':
    ((uint64_t *)p)[i] = (uint64_t)c.i;
    break;
  case 'f':
    ((float *)p)[i] = to_f32(c.f);
    break;
  default:
    ((double *)p)[i] = c.f;
    break;
  }
}

/* v's range check for an integer typecode; dir > 0 (< 0) when the exact
 * value is above (below) the int64 range (an increment's sum). */
static int int_range(mgri_octx *x, const tinfo *t, int64_t v, int dir) {
  if (dir > 0 || v > t->max)
    return mgri_fail(x, MGR_EOVERFLOW, "OverflowError: %s", t->above);
  if (dir < 0 || v < t->min)
    return mgri_fail(x, MGR_EOVERFLOW, "OverflowError: %s", t->below);
  return MGR_OK;
}

/* v as an element of typecode t, checked as Python's array checks a store:
 * TYPE, OVERFLOW (message set) or MGR_OK with *out. */
static int convert(mgri_octx *x, const tinfo *t, const mgr_value *v,
                   cell *out) {
  if (t->fp) {
    if (v->type == MGR_T_FLOAT) out->f = v->u.f;
    /* Through a double as Python's float(int) (no double rounding apart). */
    else if (v->type == MGR_T_INT)
      out->f = (double)v->u.i;
    else if (v->type == MGR_T_BOOL)
      out->f = v->u.b ? 1.0 : 0.0;
    else
      return mgri_fail(x, MGR_ETYPE, "TypeError: must be real number, not %s",
                       mgri_tname(v));
    return MGR_OK;
  }
  if (v->type == MGR_T_BOOL) {
    out->i = v->u.b;
    return MGR_OK;
  }
  if (v->type != MGR_T_INT)
    return mgri_fail(x, MGR_ETYPE,
                     "TypeError: '%s' object cannot be interpreted as an "
                     "integer",
                     mgri_tname(v));
  out->i = v->u.i;
  return int_range(x, t, v->u.i, 0);
}

/* The index argument 0, negative counting from the end. */
static int index_arg(mgri_octx *x, const char *errmsg, size_t *out) {
  const mgr_value *v = &x->args[0];
  if (v->type != MGR_T_INT)
    return mgri_fail(x, MGR_ETYPE,
                     "TypeError: array indices must be integers, not %s",
                     mgri_tname(v));
  int64_t i = v->u.i, len = (int64_t)A_(x->o)->len; /* len <= 2^24 */
  if (i < 0) i += len;
  if (i < 0 || i >= len)
    return mgri_fail(x, MGR_EINDEX, "IndexError: %s", errmsg);
  *out = (size_t)i;
  return MGR_OK;
}

/* --- ops ------------------------------------------------------------------ */

static int op_get(mgri_octx *x) {
  size_t i = 0;
  int rc = index_arg(x, "array index out of range", &i);
  if (rc) return rc;
  x->result = elem_get(A_(x->o), i);
  return MGR_OK;
}

static int op_set(mgri_octx *x) {
  size_t i = 0;
  cell c;
  int rc = index_arg(x, "array assignment index out of range", &i);
  if (!rc) rc = convert(x, A_(x->o)->t, &x->args[1], &c);
  if (rc) return rc;
  elem_put(A_(x->o), i, c);
  return MGR_OK;
}

static int op_len(mgri_octx *x) {
  x->result = mgr_int((int64_t)A_(x->o)->len);
  return MGR_OK;
}

static int op_typecode(mgri_octx *x) {
  x->result = code_text(A_(x->o)->t);
  return MGR_OK;
}

static int op_getslice(mgri_octx *x) {
  const arr *a = A_(x->o);
  mgri_slice s;
  int rc = mgri_slice_of(x, x->args, a->len, &s);
  if (rc) return rc;
  mgr_value *out = mgri_scratch(x, s.n);
  if (!out) return MGR_ELIMIT;
  for (size_t k = 0; k < s.n; k++)
    out[k] = elem_get(a, mgri_slice_at(&s, k));
  x->result = mgr_array(out, s.n);
  return MGR_OK;
}

static int op_setslice(mgri_octx *x) {
  arr *a = A_(x->o);
  mgri_slice s;
  int rc = mgri_slice_of(x, x->args, a->len, &s);
  if (rc) return rc;
  const mgr_value *src = &x->args[3];
  if (src->type != MGR_T_ARRAY)
    return mgri_fail(x, MGR_ETYPE,
                     "TypeError: can only assign array (not \"%s\") to array "
                     "slice",
                     mgri_tname(src));
  size_t m = src->u.a.len;
  if (m != s.n) {
    if (s.step == 1)
      return mgri_fail(x, MGR_EVALUE,
                       "ValueError: attempt to assign array of size %zu to "
                       "slice of size %zu (a shared array's length is fixed)",
                       m, s.n);
    return mgri_fail(x, MGR_EVALUE,
                     "ValueError: attempt to assign array of size %zu to "
                     "extended slice of size %zu",
                     m, s.n);
  }
  /* Every item is checked before any is stored: all or nothing. */
  cell c;
  for (size_t k = 0; k < m; k++)
    if ((rc = convert(x, a->t, &src->u.a.items[k], &c))) return rc;
  for (size_t k = 0; k < m; k++) {
    convert(x, a->t, &src->u.a.items[k], &c);
    elem_put(a, mgri_slice_at(&s, k), c);
  }
  return MGR_OK;
}

/* a[i] + delta by spec 11.1 on the stored number, checked as a store. */
static int op_incr(mgri_octx *x) {
  arr *a = A_(x->o);
  size_t i = 0;
  int rc = index_arg(x, "array index out of range", &i);
  if (rc) return rc;
  const mgr_value *delta = &x->args[1];
  mgr_value cur = elem_get(a, i), sum;
  cell c;
  if (a->t->fp || delta->type != MGR_T_INT) {
    /* TYPE for a delta that is not a number (a bool included) */
    if ((rc = mgri_num_add(x, &cur, delta, &sum))) return rc;
    if (!a->t->fp) /* a float sum for an integer array, as Python's store */
      return mgri_fail(x, MGR_ETYPE,
                       "TypeError: 'float' object cannot be interpreted as "
                       "an integer");
    c.f = sum.u.f;
  } else {
    int dir = 0;
    if (__builtin_add_overflow(cur.u.i, delta->u.i, &c.i))
      dir = delta->u.i > 0 ? 1 : -1;
    if ((rc = int_range(x, a->t, c.i, dir))) return rc;
  }
  elem_put(a, i, c);
  x->result = elem_get(a, i); /* an 'f' element as rounded */
  return MGR_OK;
}

static int op_cas(mgri_octx *x) {
  arr *a = A_(x->o);
  size_t i = 0;
  cell c;
  int rc = index_arg(x, "array index out of range", &i);
  /* desired is checked as a store whether or not the swap happens. */
  if (!rc) rc = convert(x, a->t, &x->args[2], &c);
  if (rc) return rc;
  /* The result's scratch first: nothing may fail after the swap. */
  mgr_value *r = mgri_scratch(x, 2);
  if (!r) return MGR_ELIMIT;
  mgr_value cur = elem_get(a, i);
  bool swap = mgri_value_eq(&cur, &x->args[1]); /* Python's ==: 1 == 1.0 */
  if (swap) elem_put(a, i, c);
  r[0] = mgr_bool(swap);
  r[1] = elem_get(a, i); /* an 'f' element as rounded */
  x->result = mgr_array(r, 2);
  return MGR_OK;
}

/* --- the kind's hooks ------------------------------------------------------
 */

/* The typecode text: one code point, one of TYPES. */
static int parse_code(mgri_octx *x, const mgr_value *v, const tinfo **out) {
  size_t cps = 0;
  if (v->type == MGR_T_TEXT)
    for (size_t k = 0; k < v->u.s.len; k++)
      cps += ((unsigned char)v->u.s.ptr[k] & 0xc0) != 0x80;
  if (v->type != MGR_T_TEXT || cps != 1)
    return mgri_fail(x, MGR_ETYPE,
                     "TypeError: array() argument 1 must be a unicode "
                     "character, not %s",
                     mgri_tname(v));
  for (size_t k = 0; k < sizeof TYPES / sizeof TYPES[0]; k++)
    if (v->u.s.len == 1 && v->u.s.ptr[0] == TYPES[k].code) {
      *out = &TYPES[k];
      return MGR_OK;
    }
  return mgri_fail(x, MGR_EVALUE,
                   "ValueError: bad typecode (must be b, B, h, H, i, I, l, L, "
                   "q, Q, f or d)");
}

/* init = [typecode, size or items] (spec 9.14): its typecode, length and
 * items (NULL for a size), every item checked as a store. */
static int parse_init(mgri_octx *x, const mgr_value *init, const tinfo **t,
                      size_t *len, const mgr_value **items) {
  if (!init || init->type == MGR_T_NIL ||
      (init->type == MGR_T_ARRAY && init->u.a.len == 0))
    return mgri_fail(x, MGR_ETYPE,
                     "TypeError: Array() missing 2 required positional "
                     "arguments: 'typecode' and 'sequence'");
  if (init->type != MGR_T_ARRAY)
    return mgri_fail(x, MGR_ETYPE,
                     "TypeError: an Array starts from [typecode, size or "
                     "items], not %s",
                     mgri_tname(init));
  if (init->u.a.len == 1)
    return mgri_fail(x, MGR_ETYPE,
                     "TypeError: Array() missing 1 required positional "
                     "argument: 'sequence'");
  if (init->u.a.len > 2)
    return mgri_fail(x, MGR_ETYPE,
                     "TypeError: Array() takes 2 positional arguments but %zu "
                     "were given",
                     init->u.a.len);
  int rc = parse_code(x, &init->u.a.items[0], t);
  if (rc) return rc;
  const mgr_value *seq = &init->u.a.items[1];
  int64_t n;
  *items = NULL;
  if (seq->type == MGR_T_INT) {
    n = seq->u.i;
    if (n < 0)
      return mgri_fail(x, MGR_EVALUE,
                       "ValueError: Array length must be >= 0, not %lld",
                       (long long)n);
  } else if (seq->type == MGR_T_ARRAY) {
    n = (int64_t)seq->u.a.len;
    *items = seq->u.a.items;
  } else if (seq->type == MGR_T_TEXT) {
    return mgri_fail(x, MGR_ETYPE,
                     "TypeError: cannot use a str to initialize an array with "
                     "typecode '%c'",
                     (*t)->code);
  } else {
    return mgri_fail(x, MGR_ETYPE,
                     "TypeError: an Array starts from a size or a list of "
                     "numbers, not %s",
                     mgri_tname(seq));
  }
  if (n > (int64_t)MGRI_ARRAY_LEN_MAX)
    return mgri_limit(x, MGRI_WHY_SIZE,
                      "MemoryError: an Array of %lld elements exceeds %u "
                      "elements",
                      (long long)n, MGRI_ARRAY_LEN_MAX);
  cell c = {0};
  for (int64_t k = 0; *items && k < n; k++)
    if ((rc = convert(x, *t, &(*items)[k], &c))) return rc;
  *len = (size_t)n;
  return MGR_OK;
}

static int array_init_check(mgri_octx *x, uint32_t kind,
                            const mgr_value *init) {
  (void)kind;
  const tinfo *t = NULL;
  size_t len = 0;
  const mgr_value *items = NULL;
  return parse_init(x, init, &t, &len, &items);
}

static int array_create(mgri_octx *x, mgri_obj *o, const mgr_value *init) {
  arr *a = A_(o);
  const tinfo *t = NULL;
  size_t len = 0;
  const mgr_value *items = NULL;
  int rc = parse_init(x, init, &t, &len, &items);
  if (rc) return rc;
  a->t = t;
  if (len) {
    size_t bytes = len * t->size; /* len <= 2^24: no overflow */
    if ((rc = mgri_need(x, bytes))) return rc;
    void *p = mgri_obj_alloc(x->s, o, bytes);
    if (!p) return mgri_nomem(x);
    memset(p, 0, bytes);
    a->data = p;
    a->len = len;
  }
  cell c = {0}; /* convert() sets it: gcc -O3 cannot tell */
  for (size_t k = 0; items && k < len; k++) {
    convert(x, t, &items[k], &c);
    elem_put(a, k, c);
  }
  o->items = len; /* DUMP's "items": every element is one */
  return MGR_OK;
}

static void array_destroy(mgri_store *s, mgri_obj *o) {
  arr *a = A_(o);
  if (a->data) mgri_obj_free(s, o, a->data);
  a->data = NULL;
  a->len = 0;
}

static void array_refs(const mgri_obj *o, void (*fn)(void *, uint64_t),
                       void *ctx) {
  /* numbers only: no refs */
  (void)o;
  (void)fn;
  (void)ctx;
}

/* {"typecode": "d", "len": n, "head": [the first DUMP_HEAD elements]} */
static int array_dump(mgri_octx *x, mgri_obj *o, mgr_value *out) {
  const arr *a = A_(o);
  size_t nh = a->len < DUMP_HEAD ? a->len : DUMP_HEAD;
  mgr_value *kv = mgri_scratch(x, 6 + nh);
  if (!kv) return MGR_ELIMIT;
  mgr_value *head = kv + 6;
  for (size_t k = 0; k < nh; k++)
    head[k] = elem_get(a, k);
  kv[0] = mgr_text("typecode");
  kv[1] = code_text(a->t);
  kv[2] = mgr_text("len");
  kv[3] = mgr_int((int64_t)a->len);
  kv[4] = mgr_text("head");
  kv[5] = mgr_array(head, nh);
  *out = mgr_map(kv, 3);
  return MGR_OK;
}

static size_t array_len(const mgri_obj *o) { return A_(o)->len; }

static const mgri_handler ops[] = {
    {MGRI_OP_ARRAY_GET, op_get, MGRI_COST_ONE},
    {MGRI_OP_ARRAY_SET, op_set, MGRI_COST_ONE},
    {MGRI_OP_ARRAY_LEN, op_len, MGRI_COST_ONE},
    {MGRI_OP_ARRAY_GETSLICE, op_getslice, MGRI_COST_LEN},
    {MGRI_OP_ARRAY_SETSLICE, op_setslice, MGRI_COST_LEN_ARGS},
    {MGRI_OP_ARRAY_INCR, op_incr, MGRI_COST_ONE},
    {MGRI_OP_ARRAY_CAS, op_cas, MGRI_COST_ONE},
    {MGRI_OP_ARRAY_TYPECODE, op_typecode, MGRI_COST_ONE},
};

const mgri_kind mgri_kind_array = {
    .id = MGR_K_ARRAY,
    .state_size = sizeof(arr),
    .init_check = array_init_check,
    .create = array_create,
    .destroy = array_destroy,
    .refs = array_refs,
    .dump = array_dump,
    .len = array_len,
    .ops = ops,
    .nops = sizeof ops / sizeof ops[0],
};
