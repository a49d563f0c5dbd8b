/* mgr — the shared dict: an insertion-ordered hash table (a dense entry
 * array plus an open-addressing index, as CPython's dict), with Python's
 * semantics: 1, 1.0 and True are one key and the first key object is kept. */
#include <stdlib.h>
#include <string.h>

#include "cbor/cbor.h"
#include "mgr/error.h"
#include "server/obj.h"

#define EMPTY (-1)
#define DUMMY (-2)
#define ICAP_MAX ((size_t)1 << 30)

static int key_hash(mgri_octx *x, const mgr_value *k, uint64_t *h) {
  int rc = mgri_value_hash(k, h);
  if (rc == MGR_ETYPE)
    return mgri_fail(x, MGR_ETYPE, "TypeError: unhashable type: '%s'",
                     mgri_tname(k));
  if (rc == MGR_EVALUE)
    return mgri_fail(x, MGR_EVALUE, "ValueError: NaN cannot be a dict key");
  if (rc) return mgri_fail(x, MGR_ETYPE, "TypeError: bad key");
  return MGR_OK;
}

static int key_error(mgri_octx *x, const mgr_value *k) {
  char buf[200];
  return mgri_fail(x, MGR_EKEY, "KeyError: %s", mgri_repr(k, buf, sizeof buf));
}

_Static_assert(sizeof(((mgr_value *)0)->u) == sizeof(mgri_dpay),
               "an entry's payload holds mgr_value's");
_Static_assert(sizeof(mgri_dentry) == 40, "a small entry is 40 bytes");

/* --- entries: packing values ------------------------------------------------
 * An entry keeps each of its key and value as a type byte plus a payload. The
 * mgr_values read back point into the entry for inline text and bytes; like
 * every result they are borrowed until the reply is sent, and the entry's
 * memory stays until the next rebuild (a later op). */

static mgr_value unpack(uint8_t type, uint8_t inl, const mgri_dpay *p) {
  mgr_value v;
  v.type = (mgr_type)type;
  if (inl) {
    v.u.s.ptr = p->inl;
    v.u.s.len = (size_t)inl - 1;
  } else {
    memcpy(&v.u, p, sizeof v.u);
  }
  return v;
}

static mgr_value ekey(const mgri_dentry *e) {
  return unpack(e->ktype, e->kinl, &e->k);
}

static mgr_value eval(const mgri_dentry *e) {
  return unpack(e->vtype, e->vinl, &e->v);
}

static bool is_live(const mgri_dentry *e) {
  return e->ktype != MGRI_DENTRY_DEAD;
}

/* An owned copy of v (refs checked) into (type, inl, p): short text and bytes
 * inline, anything else as mgri_sv_make_checked makes it. */
static int pack(mgri_octx *x, const mgr_value *v, uint8_t *type, uint8_t *inl,
                mgri_dpay *p) {
  if ((v->type == MGR_T_TEXT || v->type == MGR_T_BYTES) &&
      v->u.s.len <= MGRI_DPAY_INL_MAX) {
    memset(p, 0, sizeof *p);
    if (v->u.s.len) memcpy(p->inl, v->u.s.ptr, v->u.s.len);
    *type = (uint8_t)v->type;
    *inl = (uint8_t)(v->u.s.len + 1);
    return MGR_OK;
  }
  mgr_value nv;
  int rc = mgri_sv_make_checked(x, v, &nv);
  if (rc) return rc;
  *type = (uint8_t)nv.type;
  *inl = 0;
  memcpy(p, &nv.u, sizeof *p);
  return MGR_OK;
}

/* Drops a packed owned value: inline ones own nothing. later: its memory is
 * freed after the reply (the result borrows it). */
static void drop(mgri_store *s, uint8_t type, uint8_t inl, const mgri_dpay *p,
                 bool later) {
  if (inl) return;
  switch (type) {
  case MGR_T_NIL:
  case MGR_T_BOOL:
  case MGR_T_INT:
  case MGR_T_FLOAT:
    return; /* nothing owned, no refs */
  default:
    break;
  }
  mgr_value v = unpack(type, 0, p);
  if (later) mgri_sv_drop_later(s, &v);
  else mgri_sv_drop(s, &v);
}

static bool key_is(const mgri_dentry *e, const mgr_value *k) {
  if (e->kinl && (mgr_type)e->ktype == k->type) /* text or bytes: bytewise */
    return k->u.s.len == (size_t)e->kinl - 1 &&
           (k->u.s.len == 0 || memcmp(e->k.inl, k->u.s.ptr, k->u.s.len) == 0);
  mgr_value ek = ekey(e);
  return mgri_value_eq(&ek, k);
}

/* --- the table ------------------------------------------------------------ */

/* Index of the entry holding k, or -1; *slot gets its index slot. */
static long find(const mgri_dict *d, const mgr_value *k, uint64_t h,
                 size_t *slot) {
  if (!d->icap) return -1;
  uint32_t h32 = (uint32_t)h;
  size_t mask = d->icap - 1;
  for (size_t i = h32 & mask;; i = (i + 1) & mask) {
    int32_t ix = d->index[i];
    if (ix == EMPTY) return -1;
    if (ix >= 0 && d->e[ix].hash == h32 && key_is(&d->e[ix], k)) {
      if (slot) *slot = i;
      return ix;
    }
  }
}

static size_t slot_of_entry(const mgri_dict *d, size_t ix) {
  size_t mask = d->icap - 1;
  size_t i = d->e[ix].hash & mask;
  while (d->index[i] != (int32_t)ix) i = (i + 1) & mask;
  return i;
}

/* Rebuilds with room for `need` live entries: drops dead entries and
 * tombstones. The index gets at least 2 slots per entry (at most 2/3 full
 * before the next rebuild, so a rebuild pays for itself); the entry array is
 * allocated for 2/3 of the slots but only the used part is ever touched.
 * Unchanged on failure. */
static int rebuild(mgri_dict *d, size_t need) {
  size_t icap = 8;
  while (icap < need * 2) {
    if (icap >= ICAP_MAX) return MGR_ENOMEM;
    icap *= 2;
  }
  size_t ecap = icap * 2 / 3;
  int32_t *index = malloc(icap * sizeof *index);
  if (!index) return MGR_ENOMEM;
  mgri_dentry *e;
  if (d->n == d->live) {
    /* No dead entries: grow in place (a large block is remapped, not
     * copied, and no freed copy stays behind in the allocator). */
    e = realloc(d->e, ecap * sizeof *e);
    if (!e) {
      free(index);
      return MGR_ENOMEM;
    }
    d->e = NULL; /* moved to e */
  } else {
    e = malloc(ecap * sizeof *e);
    if (!e) {
      free(index);
      return MGR_ENOMEM;
    }
  }
  memset(index, 0xff, icap * sizeof *index); /* EMPTY */
  size_t n = 0;
  for (size_t i = 0; i < d->n; i++) {
    const mgri_dentry *src = d->e ? &d->e[i] : &e[i];
    if (!is_live(src)) continue;
    if (d->e) e[n] = *src;
    size_t j = e[n].hash & (icap - 1);
    while (index[j] != EMPTY) j = (j + 1) & (icap - 1);
    index[j] = (int32_t)n;
    n++;
  }
  free(d->e);
  free(d->index);
  d->e = e;
  d->index = index;
  d->icap = icap;
  d->ecap = ecap;
  d->n = n;
  d->fill = n;
  d->live = n;
  return MGR_OK;
}

static int reserve1(mgri_octx *x, mgri_dict *d) {
  if ((d->fill + 1) * 3 <= d->icap * 2) return MGR_OK;
  if (rebuild(d, d->live + 1))
    return mgri_fail(x, MGR_ELIMIT, "MemoryError: dict too large");
  return MGR_OK;
}

/* Appends the packed entry `ne`, whose key is absent (room reserved). */
static void append(mgri_dict *d, const mgri_dentry *ne) {
  size_t mask = d->icap - 1, i = ne->hash & mask;
  while (d->index[i] != EMPTY) i = (i + 1) & mask;
  d->index[i] = (int32_t)d->n;
  d->e[d->n++] = *ne;
  d->live++;
  d->fill++;
}

/* Marks entry ix (at index slot `slot`) dead once its key and value are
 * dropped; trailing dead entries go, so popitem stays O(1). */
static void kill_entry(mgri_dict *d, size_t ix, size_t slot) {
  d->index[slot] = DUMMY;
  d->e[ix].ktype = MGRI_DENTRY_DEAD;
  d->live--;
  while (d->n && !is_live(&d->e[d->n - 1])) d->n--;
}

/* Removes entry ix at index slot `slot`; its key is dropped now, its value
 * now or after the reply (later). */
static void remove_entry(mgri_store *s, mgri_dict *d, size_t ix, size_t slot,
                         bool later) {
  mgri_dentry *e = &d->e[ix];
  drop(s, e->ktype, e->kinl, &e->k, false);
  drop(s, e->vtype, e->vinl, &e->v, later);
  kill_entry(d, ix, slot);
}

/* Replaces entry ix's value with an owned copy of v (refs checked). */
static int set_value(mgri_octx *x, mgri_dentry *e, const mgr_value *v) {
  uint8_t type, inl;
  mgri_dpay p;
  int rc = pack(x, v, &type, &inl, &p);
  if (rc) return rc;
  drop(x->s, e->vtype, e->vinl, &e->v, false);
  e->vtype = type;
  e->vinl = inl;
  e->v = p;
  return MGR_OK;
}

/* d[k] = v for validated (hashable, refs checked) k and v. */
static int set_checked(mgri_octx *x, mgri_dict *d, const mgr_value *k,
                       uint64_t h, const mgr_value *v) {
  long ix = find(d, k, h, NULL);
  if (ix >= 0) return set_value(x, &d->e[ix], v);
  int rc = reserve1(x, d);
  if (rc) return rc;
  mgri_dentry ne;
  memset(&ne, 0, sizeof ne);
  ne.hash = (uint32_t)h;
  rc = pack(x, k, &ne.ktype, &ne.kinl, &ne.k);
  if (rc) return rc;
  rc = pack(x, v, &ne.vtype, &ne.vinl, &ne.v);
  if (rc) {
    drop(x->s, ne.ktype, ne.kinl, &ne.k, false);
    return rc;
  }
  append(d, &ne);
  return MGR_OK;
}

static int check_kv(mgri_octx *x, const mgr_value *k, const mgr_value *v,
                    uint64_t *h) {
  int rc = key_hash(x, k, h);
  if (!rc) rc = mgri_sv_check(x, k);
  if (!rc) rc = mgri_sv_check(x, v);
  return rc;
}

/* update() from a map or an array of [k, v]: everything is validated first,
 * so a bad element leaves the dict unchanged. */
static int update(mgri_octx *x, mgri_dict *d, const mgr_value *src) {
  uint64_t h;
  int rc;
  if (src->type == MGR_T_MAP) {
    for (size_t i = 0; i < src->u.a.len; i++)
      if ((rc = check_kv(x, &src->u.a.items[2 * i], &src->u.a.items[2 * i + 1],
                         &h)))
        return rc;
    for (size_t i = 0; i < src->u.a.len; i++) {
      const mgr_value *k = &src->u.a.items[2 * i];
      mgri_value_hash(k, &h);
      if ((rc = set_checked(x, d, k, h, &src->u.a.items[2 * i + 1]))) return rc;
    }
    return MGR_OK;
  }
  if (src->type != MGR_T_ARRAY)
    return mgri_fail(x, MGR_ETYPE, "TypeError: '%s' object is not iterable",
                     mgri_tname(src));
  for (size_t i = 0; i < src->u.a.len; i++) {
    const mgr_value *p = &src->u.a.items[i];
    if (p->type != MGR_T_ARRAY)
      return mgri_fail(x, MGR_ETYPE,
                       "TypeError: cannot convert dictionary update sequence "
                       "element #%zu to a sequence",
                       i);
    if (p->u.a.len != 2)
      return mgri_fail(x, MGR_EVALUE,
                       "ValueError: dictionary update sequence element #%zu has "
                       "length %zu; 2 is required",
                       i, p->u.a.len);
    if ((rc = check_kv(x, &p->u.a.items[0], &p->u.a.items[1], &h))) return rc;
  }
  for (size_t i = 0; i < src->u.a.len; i++) {
    const mgr_value *p = &src->u.a.items[i];
    mgri_value_hash(&p->u.a.items[0], &h);
    if ((rc = set_checked(x, d, &p->u.a.items[0], h, &p->u.a.items[1])))
      return rc;
  }
  return MGR_OK;
}

int mgri_dict_init(mgri_octx *x, mgri_obj *o, const mgr_value *init) {
  memset(&o->u.d, 0, sizeof o->u.d);
  if (!init || init->type == MGR_T_NIL) return MGR_OK;
  if (init->type != MGR_T_MAP)
    return mgri_fail(x, MGR_ETYPE,
                     "TypeError: a dict starts from a map or None, not %s",
                     mgri_tname(init));
  return update(x, &o->u.d, init);
}

void mgri_dict_clear(mgri_store *s, mgri_dict *d) {
  for (size_t i = 0; i < d->n; i++) {
    mgri_dentry *e = &d->e[i];
    if (!is_live(e)) continue;
    drop(s, e->ktype, e->kinl, &e->k, false);
    drop(s, e->vtype, e->vinl, &e->v, false);
  }
  free(d->e);
  free(d->index);
  memset(d, 0, sizeof *d);
}

/* --- ops ------------------------------------------------------------------ */

int mgri_op_DICT_GET(mgri_octx *x) {
  mgri_dict *d = &x->o->u.d;
  uint64_t h;
  int rc = key_hash(x, &x->args[0], &h);
  if (rc) return rc;
  long ix = find(d, &x->args[0], h, NULL);
  if (ix >= 0) x->result = eval(&d->e[ix]);
  else if (x->nargs > 1) x->result = x->args[1];
  else return key_error(x, &x->args[0]);
  return MGR_OK;
}

int mgri_op_DICT_SET(mgri_octx *x) {
  uint64_t h;
  int rc = check_kv(x, &x->args[0], &x->args[1], &h);
  if (rc) return rc;
  return set_checked(x, &x->o->u.d, &x->args[0], h, &x->args[1]);
}

int mgri_op_DICT_DEL(mgri_octx *x) {
  mgri_dict *d = &x->o->u.d;
  uint64_t h;
  int rc = key_hash(x, &x->args[0], &h);
  if (rc) return rc;
  size_t slot;
  long ix = find(d, &x->args[0], h, &slot);
  if (ix < 0) return key_error(x, &x->args[0]);
  remove_entry(x->s, d, (size_t)ix, slot, false);
  return MGR_OK;
}

int mgri_op_DICT_CONTAINS(mgri_octx *x) {
  uint64_t h;
  int rc = key_hash(x, &x->args[0], &h); /* NaN: VALUE (spec 9, decision) */
  if (rc) return rc;
  x->result = mgr_bool(find(&x->o->u.d, &x->args[0], h, NULL) >= 0);
  return MGR_OK;
}

int mgri_op_DICT_LEN(mgri_octx *x) {
  x->result = mgr_int((int64_t)x->o->u.d.live);
  return MGR_OK;
}

/* what: 0 keys, 1 values, 2 items, 3 copy (a map). */
static int listing(mgri_octx *x, int what) {
  mgri_dict *d = &x->o->u.d;
  size_t n = d->live;
  mgr_value *out = mgri_scratch(x, what >= 2 ? 2 * n + (what == 2 ? n : 0) : n);
  if (!out) return MGR_ELIMIT;
  mgr_value *pairs = out + n; /* items: n arrays, then their 2n cells */
  size_t j = 0;
  for (size_t i = 0; i < d->n; i++) {
    mgri_dentry *e = &d->e[i];
    if (!is_live(e)) continue;
    switch (what) {
    case 0:
      out[j] = ekey(e);
      break;
    case 1:
      out[j] = eval(e);
      break;
    case 2:
      pairs[2 * j] = ekey(e);
      pairs[2 * j + 1] = eval(e);
      out[j] = mgr_array(&pairs[2 * j], 2);
      break;
    default:
      out[2 * j] = ekey(e);
      out[2 * j + 1] = eval(e);
      break;
    }
    j++;
  }
  x->result = what == 3 ? mgr_map(out, n) : mgr_array(out, n);
  return MGR_OK;
}

int mgri_op_DICT_KEYS(mgri_octx *x) { return listing(x, 0); }
int mgri_op_DICT_VALUES(mgri_octx *x) { return listing(x, 1); }
int mgri_op_DICT_ITEMS(mgri_octx *x) { return listing(x, 2); }
int mgri_op_DICT_COPY(mgri_octx *x) { return listing(x, 3); }

int mgri_op_DICT_POP(mgri_octx *x) {
  mgri_dict *d = &x->o->u.d;
  uint64_t h;
  int rc = key_hash(x, &x->args[0], &h);
  if (rc) return rc;
  size_t slot;
  long ix = find(d, &x->args[0], h, &slot);
  if (ix < 0) {
    if (x->nargs > 1) {
      x->result = x->args[1];
      return MGR_OK;
    }
    return key_error(x, &x->args[0]);
  }
  x->result = eval(&d->e[ix]);
  remove_entry(x->s, d, (size_t)ix, slot, true);
  return MGR_OK;
}

int mgri_op_DICT_POPITEM(mgri_octx *x) {
  mgri_dict *d = &x->o->u.d;
  if (!d->live)
    return mgri_fail(x, MGR_EKEY, "KeyError: 'popitem(): dictionary is empty'");
  size_t ix = d->n - 1; /* trailing entries are live (remove_entry trims) */
  while (!is_live(&d->e[ix])) ix--;
  mgr_value *kv = mgri_scratch(x, 2);
  if (!kv) return MGR_ELIMIT;
  mgri_dentry *e = &d->e[ix];
  kv[0] = ekey(e);
  kv[1] = eval(e);
  size_t slot = slot_of_entry(d, ix);
  /* Both are borrowed by the result: free them after the reply. */
  drop(x->s, e->ktype, e->kinl, &e->k, true);
  drop(x->s, e->vtype, e->vinl, &e->v, true);
  kill_entry(d, ix, slot);
  x->result = mgr_array(kv, 2);
  return MGR_OK;
}

int mgri_op_DICT_SETDEFAULT(mgri_octx *x) {
  mgri_dict *d = &x->o->u.d;
  mgr_value nil = mgr_nil();
  const mgr_value *dflt = x->nargs > 1 ? &x->args[1] : &nil;
  uint64_t h;
  int rc = check_kv(x, &x->args[0], dflt, &h);
  if (rc) return rc;
  long ix = find(d, &x->args[0], h, NULL);
  if (ix < 0) {
    rc = set_checked(x, d, &x->args[0], h, dflt);
    if (rc) return rc;
    ix = (long)d->n - 1;
  }
  x->result = eval(&d->e[ix]);
  return MGR_OK;
}

int mgri_op_DICT_UPDATE(mgri_octx *x) {
  return update(x, &x->o->u.d, &x->args[0]);
}

int mgri_op_DICT_CLEAR(mgri_octx *x) {
  mgri_dict_clear(x->s, &x->o->u.d);
  return MGR_OK;
}

int mgri_op_DICT_INCR(mgri_octx *x) {
  mgri_dict *d = &x->o->u.d;
  const mgr_value *k = &x->args[0];
  uint64_t h;
  int rc = key_hash(x, k, &h);
  if (rc) return rc;
  long ix = find(d, k, h, NULL);
  mgr_value nv;
  if (ix >= 0) {
    mgri_dentry *e = &d->e[ix];
    mgr_value cur = eval(e);
    rc = mgri_num_add(x, &cur, &x->args[1], &nv);
    if (rc) return rc;
    /* The old and new values are numbers: nothing to free or release. */
    e->vtype = (uint8_t)nv.type;
    e->vinl = 0;
    memcpy(&e->v, &nv.u, sizeof e->v);
    x->result = nv;
    return MGR_OK;
  }
  if (x->nargs < 3) return key_error(x, k);
  rc = mgri_num_add(x, &x->args[2], &x->args[1], &nv);
  if (!rc) rc = mgri_sv_check(x, k);
  if (!rc) rc = set_checked(x, d, k, h, &nv);
  if (rc) return rc;
  x->result = eval(&d->e[d->n - 1]);
  return MGR_OK;
}

static int cas_result(mgri_octx *x, bool swapped, const mgr_value *cur) {
  mgr_value *r = mgri_scratch(x, 2);
  if (!r) return MGR_ELIMIT;
  r[0] = mgr_bool(swapped);
  r[1] = *cur;
  x->result = mgr_array(r, 2);
  return MGR_OK;
}

int mgri_cas_slot(mgri_octx *x, mgr_value *slot, const mgr_value *expected,
                  const mgr_value *desired) {
  /* desired's refs are checked whether or not the swap happens (spec 11.2). */
  int rc = mgri_sv_check(x, desired);
  if (rc) return rc;
  bool swap = mgri_value_eq(slot, expected);
  if (swap) {
    mgr_value nv;
    rc = mgri_sv_make_checked(x, desired, &nv);
    if (rc) return rc;
    mgri_sv_drop(x->s, slot);
    *slot = nv;
  }
  return cas_result(x, swap, slot);
}

int mgri_op_DICT_CAS(mgri_octx *x) {
  mgri_dict *d = &x->o->u.d;
  uint64_t h;
  int rc = key_hash(x, &x->args[0], &h);
  if (rc) return rc;
  long ix = find(d, &x->args[0], h, NULL);
  if (ix < 0) return key_error(x, &x->args[0]);
  /* mgri_cas_slot on the packed value (the same steps, in the same order). */
  rc = mgri_sv_check(x, &x->args[2]);
  if (rc) return rc;
  mgri_dentry *e = &d->e[ix];
  mgr_value cur = eval(e);
  bool swap = mgri_value_eq(&cur, &x->args[1]);
  if (swap) {
    rc = set_value(x, e, &x->args[2]);
    if (rc) return rc;
    cur = eval(e);
  }
  return cas_result(x, swap, &cur);
}
