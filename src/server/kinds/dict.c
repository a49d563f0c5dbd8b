/* mgr — the shared dict: an insertion-ordered hash table (a dense entry
 * array plus an open-addressing index, as CPython's dict), with Python's
 * semantics: 1, 1.0 and True are one key and the first key object is kept.
 * Keys are hashed with the server's keyed SipHash (hash.c), so a client
 * cannot build keys that collide. The index is probed quadratically
 * (triangular steps 1, 2, 3 ... visit every slot of a power-of-two table):
 * linear probing at 2/3 load let ordinary clusters reach 150 probes at 10M
 * random keys. The longest probe sequence is reported in STATS
 * (dict_probe_max). */
#include <stdlib.h>
#include <string.h>

#include "cbor/model.h"
#include "mgr/error.h"
#include "server/kind.h"
#include "server/kinds/kinds.h"
#include "server/kinds/slot.h"
#include "server/objects.h"
#include "server/reply.h"

#define EMPTY (-1)
#define DUMMY (-2)
#define ICAP_MAX ((size_t)1 << 30)

/* A dict key or value without its type: mgr_value's payload (u) as an owned
 * copy makes it, or text and bytes of up to 15 bytes inline (NUL-terminated,
 * like an owned copy), so small entries need no heap block. */
typedef union dpay {
  uint64_t w[2];
  char inl[16];
} dpay;

#define DPAY_INL_MAX 15
#define DEAD 0xff /* in ktype: a deleted entry */

/* 40 bytes: the small entry ("key:0000042" -> 42) lives here whole. */
typedef struct dentry {
  dpay k, v;
  uint32_t hash;      /* the low 32 bits of the key's hash */
  uint8_t ktype;      /* mgr_type, or DEAD */
  uint8_t vtype;      /* mgr_type */
  uint8_t kinl, vinl; /* inline: length + 1; 0: the payload is mgr_value's */
} dentry;

typedef struct dict {
  dentry *e; /* dense, insertion order; dead entries until a rebuild */
  size_t n;  /* entries used in e (live + dead) */
  size_t ecap;
  size_t live;
  int32_t *index; /* icap slots: -1 empty, -2 deleted, else entry index */
  size_t icap;
  size_t fill; /* slots not empty (live + deleted) */
} dict;

_Static_assert(sizeof(((mgr_value *)0)->u) == sizeof(dpay),
               "an entry's payload holds mgr_value's");
_Static_assert(sizeof(dentry) == 40, "a small entry is 40 bytes");

static dict *D(const mgri_obj *o) { return mgri_state(o); }

static int key_hash(mgri_octx *x, const mgr_value *k, uint64_t *h) {
  int rc = mgri_value_hash(k, &x->s->hkey, h);
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

/* --- entries: packing values ------------------------------------------------
 * An entry keeps each of its key and value as a type byte plus a payload. The
 * mgr_values read back point into the entry for inline text and bytes; like
 * every result they are borrowed until the reply is sent, and the entry's
 * memory stays until the next rebuild (a later op). */

static mgr_value unpack(uint8_t type, uint8_t inl, const dpay *p) {
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

static mgr_value ekey(const dentry *e) {
  return unpack(e->ktype, e->kinl, &e->k);
}
static mgr_value eval(const dentry *e) {
  return unpack(e->vtype, e->vinl, &e->v);
}
static bool is_live(const dentry *e) { return e->ktype != DEAD; }

static bool fits_inline(const mgr_value *v) {
  return (v->type == MGR_T_TEXT || v->type == MGR_T_BYTES) &&
         v->u.s.len <= DPAY_INL_MAX;
}

/* The bytes packing v will allocate. */
static size_t pack_need(const mgr_value *v) {
  return fits_inline(v) ? 0 : mgri_sv_need(v);
}

/* An owned copy of v (refs checked) into (type, inl, p): short text and bytes
 * inline, anything else as mgri_sv_make_checked makes it. */
static int pack(mgri_octx *x, mgri_obj *o, const mgr_value *v, uint8_t *type,
                uint8_t *inl, dpay *p) {
  if (fits_inline(v)) {
    memset(p, 0, sizeof *p);
    if (v->u.s.len) memcpy(p->inl, v->u.s.ptr, v->u.s.len);
    *type = (uint8_t)v->type;
    *inl = (uint8_t)(v->u.s.len + 1);
    o->items++; /* as mgri_sv_make counts the others */
    return MGR_OK;
  }
  mgr_value nv;
  int rc = mgri_sv_make_checked(x, o, v, &nv);
  if (rc) return rc;
  *type = (uint8_t)nv.type;
  *inl = 0;
  memcpy(p, &nv.u, sizeof *p);
  return MGR_OK;
}

/* Drops a packed owned value: inline ones own nothing. later: its memory is
 * freed after the reply (the result borrows it). */
static void drop(mgri_store *s, mgri_obj *o, uint8_t type, uint8_t inl,
                 const dpay *p, bool later) {
  switch (inl ? MGR_T_NIL : type) {
  case MGR_T_NIL:
  case MGR_T_BOOL:
  case MGR_T_INT:
  case MGR_T_FLOAT:
    /* Nothing owned, no refs: one item less (mgri_sv_drop counts the
     * others). */
    if (o->items) o->items--;
    return;
  default:
    break;
  }
  mgr_value v = unpack(type, 0, p);
  if (later)
    mgri_sv_drop_later(s, o, &v);
  else
    mgri_sv_drop(s, o, &v);
}

static bool key_is(const dentry *e, const mgr_value *k) {
  if (e->kinl && (mgr_type)e->ktype == k->type) /* text or bytes: bytewise */
    return k->u.s.len == (size_t)e->kinl - 1 &&
           (k->u.s.len == 0 || memcmp(e->k.inl, k->u.s.ptr, k->u.s.len) == 0);
  mgr_value ek = ekey(e);
  return mgri_value_eq(&ek, k);
}

/* --- the table ------------------------------------------------------------ */

/* Index of the entry holding k, or -1; *slot gets its index slot. The probe
 * length is reported to STATS. */
static long find(mgri_store *s, const dict *d, const mgr_value *k, uint64_t h,
                 size_t *slot) {
  if (!d->icap) return -1;
  uint32_t h32 = (uint32_t)h;
  size_t mask = d->icap - 1;
  uint64_t probes = 0;
  long found = -1;
  for (size_t i = h32 & mask, step = 1;; i = (i + step++) & mask) {
    probes++;
    int32_t ix = d->index[i];
    if (ix == EMPTY) break;
    if (ix >= 0 && d->e[ix].hash == h32 && key_is(&d->e[ix], k)) {
      if (slot) *slot = i;
      found = ix;
      break;
    }
  }
  if (probes > s->st.dict_probe_max) s->st.dict_probe_max = probes;
  return found;
}

static size_t slot_of_entry(const dict *d, size_t ix) {
  size_t mask = d->icap - 1;
  size_t i = d->e[ix].hash & mask, step = 1;
  while (d->index[i] != (int32_t)ix)
    i = (i + step++) & mask;
  return i;
}

/* The index capacity for `need` live entries: at least 2 slots per entry
 * (at most 2/3 full before the next rebuild, so a rebuild pays for itself).
 * 0 when too large. */
static size_t icap_for(size_t need) {
  size_t icap = 8;
  while (icap < need * 2) {
    if (icap >= ICAP_MAX) return 0;
    icap *= 2;
  }
  return icap;
}

/* The bytes a rebuild for `need` entries allocates. */
static size_t rebuild_need(size_t need) {
  size_t icap = icap_for(need);
  if (!icap) return SIZE_MAX;
  return icap * sizeof(int32_t) + icap * 2 / 3 * sizeof(dentry) + 32;
}

/* Rebuilds with room for `need` live entries: drops dead entries and
 * tombstones. The entry array is allocated for 2/3 of the slots but only the
 * used part is ever touched. Unchanged on failure. */
static int rebuild(mgri_store *s, mgri_obj *o, dict *d, size_t need) {
  size_t icap = icap_for(need);
  if (!icap) return MGR_ENOMEM;
  size_t ecap = icap * 2 / 3;
  int32_t *index = mgri_obj_alloc(s, o, icap * sizeof *index);
  if (!index) return MGR_ENOMEM;
  dentry *e;
  if (d->n == d->live) {
    /* No dead entries: grow in place (a large block is remapped, not
     * copied, and no freed copy stays behind in the allocator). */
    e = mgri_obj_realloc(s, o, d->e, ecap * sizeof *e);
    if (!e) {
      mgri_obj_free(s, o, index);
      return MGR_ENOMEM;
    }
    d->e = NULL; /* moved to e */
  } else {
    e = mgri_obj_alloc(s, o, ecap * sizeof *e);
    if (!e) {
      mgri_obj_free(s, o, index);
      return MGR_ENOMEM;
    }
  }
  memset(index, 0xff, icap * sizeof *index); /* EMPTY */
  size_t n = 0;
  for (size_t i = 0; i < d->n; i++) {
    const dentry *src = d->e ? &d->e[i] : &e[i];
    if (!is_live(src)) continue;
    if (d->e) e[n] = *src;
    size_t j = e[n].hash & (icap - 1), step = 1;
    while (index[j] != EMPTY)
      j = (j + step++) & (icap - 1);
    index[j] = (int32_t)n;
    n++;
  }
  mgri_obj_free(s, o, d->e);
  mgri_obj_free(s, o, d->index);
  d->e = e;
  d->index = index;
  d->icap = icap;
  d->ecap = ecap;
  d->n = n;
  d->fill = n;
  d->live = n;
  return MGR_OK;
}

/* Room for `more` new entries: afterwards `more` appends cannot fail. */
static int reserve(mgri_octx *x, mgri_obj *o, dict *d, size_t more) {
  if ((d->fill + more) * 3 <= d->icap * 2 && d->n + more <= d->ecap)
    return MGR_OK;
  if (more > ICAP_MAX - d->live)
    return mgri_limit(x, MGRI_WHY_SIZE, "MemoryError: dict too large");
  int rc = mgri_need(x, rebuild_need(d->live + more));
  if (rc) return rc;
  if (rebuild(x->s, o, d, d->live + more)) return mgri_nomem(x);
  return MGR_OK;
}

/* Appends the packed entry `ne`, whose key is absent (room reserved). */
static void append(dict *d, const dentry *ne) {
  size_t mask = d->icap - 1, i = ne->hash & mask, step = 1;
  while (d->index[i] != EMPTY)
    i = (i + step++) & mask;
  d->index[i] = (int32_t)d->n;
  d->e[d->n++] = *ne;
  d->live++;
  d->fill++;
}

/* Marks entry ix (at index slot `slot`) dead once its key and value are
 * dropped; trailing dead entries go, so popitem stays O(1). */
static void kill_entry(dict *d, size_t ix, size_t slot) {
  d->index[slot] = DUMMY;
  d->e[ix].ktype = DEAD;
  d->live--;
  while (d->n && !is_live(&d->e[d->n - 1]))
    d->n--;
}

/* Removes entry ix at index slot `slot`; its key is dropped now, its value
 * now or after the reply (later). */
static void remove_entry(mgri_store *s, mgri_obj *o, size_t ix, size_t slot,
                         bool later) {
  dict *d = D(o);
  dentry *e = &d->e[ix];
  drop(s, o, e->ktype, e->kinl, &e->k, false);
  drop(s, o, e->vtype, e->vinl, &e->v, later);
  kill_entry(d, ix, slot);
}

/* Replaces entry e's value with packed (type, inl, p). */
static void replace_value(mgri_store *s, mgri_obj *o, dentry *e, uint8_t type,
                          uint8_t inl, const dpay *p) {
  drop(s, o, e->vtype, e->vinl, &e->v, false);
  e->vtype = type;
  e->vinl = inl;
  e->v = *p;
}

/* d[k] = v for validated (hashable, refs checked) k and v: all or nothing. */
static int set_checked(mgri_octx *x, mgri_obj *o, const mgr_value *k,
                       uint64_t h, const mgr_value *v) {
  dict *d = D(o);
  long ix = find(x->s, d, k, h, NULL);
  int rc;
  if (ix < 0) {
    if ((rc = mgri_need(x, pack_need(k) + pack_need(v)))) return rc;
    if ((rc = reserve(x, o, d, 1))) return rc;
  } else if ((rc = mgri_need(x, pack_need(v)))) {
    return rc;
  }
  dentry ne;
  memset(&ne, 0, sizeof ne);
  if ((rc = pack(x, o, v, &ne.vtype, &ne.vinl, &ne.v))) return rc;
  if (ix >= 0) {
    replace_value(x->s, o, &d->e[ix], ne.vtype, ne.vinl, &ne.v);
    return MGR_OK;
  }
  ne.hash = (uint32_t)h;
  if ((rc = pack(x, o, k, &ne.ktype, &ne.kinl, &ne.k))) {
    drop(x->s, o, ne.vtype, ne.vinl, &ne.v, false);
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

/* The i-th pair of an update source (a map, or an array of [k, v]). */
static void pair_at(const mgr_value *src, size_t i, const mgr_value **k,
                    const mgr_value **v) {
  const mgr_value *p = src->type == MGR_T_MAP ? &src->u.a.items[2 * i]
                                              : src->u.a.items[i].u.a.items;
  *k = &p[0];
  *v = &p[1];
}

/* update() from a map or an array of [k, v]: all or nothing. Every element
 * is validated and every copy made before the dict changes; the room for
 * every new entry is reserved first, so applying the copies cannot fail. */
static int update(mgri_octx *x, mgri_obj *o, const mgr_value *src) {
  int rc;
  uint64_t h;
  if (src->type == MGR_T_ARRAY) {
    for (size_t i = 0; i < src->u.a.len; i++) {
      const mgr_value *p = &src->u.a.items[i];
      if (p->type != MGR_T_ARRAY)
        return mgri_fail(x, MGR_ETYPE,
                         "TypeError: cannot convert dictionary update sequence "
                         "element #%zu to a sequence",
                         i);
      if (p->u.a.len != 2)
        return mgri_fail(x, MGR_EVALUE,
                         "ValueError: dictionary update sequence element #%zu "
                         "has length %zu; 2 is required",
                         i, p->u.a.len);
    }
  } else if (src->type != MGR_T_MAP) {
    return mgri_fail(x, MGR_ETYPE, "TypeError: '%s' object is not iterable",
                     mgri_tname(src));
  }
  size_t m = src->u.a.len;
  if (m == 0) return MGR_OK;
  size_t need = 0;
  for (size_t i = 0; i < m; i++) {
    const mgr_value *k, *v;
    pair_at(src, i, &k, &v);
    if ((rc = check_kv(x, k, v, &h))) return rc;
    size_t kn = pack_need(k), vn = pack_need(v);
    if (kn == SIZE_MAX || vn == SIZE_MAX || need > SIZE_MAX - kn - vn)
      need = SIZE_MAX;
    else
      need += kn + vn;
  }
  dict *d = D(o);
  /* Every pair may be a new key: reserve for all of them (as CPython's
   * update presizes), then the copies, then apply. */
  if ((rc = mgri_need(x, need))) return rc;
  if ((rc = reserve(x, o, d, m))) return rc;
  if (m > SIZE_MAX / sizeof(dentry))
    return mgri_limit(x, MGRI_WHY_SIZE, "MemoryError: update too large");
  dentry *made = mgri_arena_alloc(&x->s->scratch, m * sizeof *made);
  if (!made) return mgri_nomem(x);
  for (size_t i = 0; i < m; i++) {
    const mgr_value *k, *v;
    pair_at(src, i, &k, &v);
    dentry *ne = &made[i];
    memset(ne, 0, sizeof *ne);
    mgri_value_hash(k, &x->s->hkey, &h);
    ne->hash = (uint32_t)h;
    rc = pack(x, o, k, &ne->ktype, &ne->kinl, &ne->k);
    if (!rc) {
      rc = pack(x, o, v, &ne->vtype, &ne->vinl, &ne->v);
      if (rc) drop(x->s, o, ne->ktype, ne->kinl, &ne->k, false);
    }
    if (rc) {
      while (i--) {
        drop(x->s, o, made[i].ktype, made[i].kinl, &made[i].k, false);
        drop(x->s, o, made[i].vtype, made[i].vinl, &made[i].v, false);
      }
      return rc;
    }
  }
  for (size_t i = 0; i < m; i++) {
    const mgr_value *k, *v;
    pair_at(src, i, &k, &v);
    dentry *ne = &made[i];
    mgri_value_hash(k, &x->s->hkey, &h);
    long ix = find(x->s, d, k, h, NULL);
    if (ix >= 0) {
      /* An equal key is there (perhaps from this update): the first key
       * object stays, the new value replaces. */
      drop(x->s, o, ne->ktype, ne->kinl, &ne->k, false);
      replace_value(x->s, o, &d->e[ix], ne->vtype, ne->vinl, &ne->v);
    } else {
      append(d, ne);
    }
  }
  return MGR_OK;
}

static void dict_clear(mgri_store *s, mgri_obj *o) {
  dict *d = D(o);
  for (size_t i = 0; i < d->n; i++) {
    dentry *e = &d->e[i];
    if (!is_live(e)) continue;
    drop(s, o, e->ktype, e->kinl, &e->k, false);
    drop(s, o, e->vtype, e->vinl, &e->v, false);
  }
  mgri_obj_free(s, o, d->e);
  mgri_obj_free(s, o, d->index);
  memset(d, 0, sizeof *d);
}

/* --- the kind's hooks ---------------------------------------------------- */

static int dict_init_check(mgri_octx *x, uint32_t kind, const mgr_value *init) {
  (void)kind;
  if (!init || init->type == MGR_T_NIL || init->type == MGR_T_MAP)
    return MGR_OK;
  return mgri_fail(x, MGR_ETYPE,
                   "TypeError: a dict starts from a map or None, not %s",
                   mgri_tname(init));
}

static int dict_create(mgri_octx *x, mgri_obj *o, const mgr_value *init) {
  if (!init || init->type == MGR_T_NIL) return MGR_OK;
  int rc = update(x, o, init);
  if (rc) dict_clear(x->s, o);
  return rc;
}

static void dict_refs(const mgri_obj *o, void (*fn)(void *, uint64_t),
                      void *ctx) {
  const dict *d = D(o);
  for (size_t i = 0; i < d->n; i++) {
    const dentry *e = &d->e[i];
    if (!is_live(e)) continue;
    mgr_value k = ekey(e), v = eval(e);
    mgri_value_refs(&k, fn, ctx);
    mgri_value_refs(&v, fn, ctx);
  }
}

/* Its keys and values, nested items included: what a walk touches. */
static size_t dict_len(const mgri_obj *o) { return (size_t)o->items; }

/* what: 0 keys, 1 values, 2 items, 3 copy (a map). */
static int listing(mgri_octx *x, const mgri_obj *o, int what, mgr_value *res) {
  const dict *d = D(o);
  size_t n = d->live;
  mgr_value *out = mgri_scratch(x, what >= 2 ? 2 * n + (what == 2 ? n : 0) : n);
  if (!out) return MGR_ELIMIT;
  mgr_value *pairs = out + n; /* items: n arrays, then their 2n cells */
  size_t j = 0;
  for (size_t i = 0; i < d->n; i++) {
    const dentry *e = &d->e[i];
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
  *res = what == 3 ? mgr_map(out, n) : mgr_array(out, n);
  return MGR_OK;
}

static int dict_dump(mgri_octx *x, mgri_obj *o, mgr_value *out) {
  return listing(x, o, 3, out);
}

/* --- ops ------------------------------------------------------------------ */

static int op_get(mgri_octx *x) {
  uint64_t h;
  int rc = key_hash(x, &x->args[0], &h);
  if (rc) return rc;
  dict *d = D(x->o);
  long ix = find(x->s, d, &x->args[0], h, NULL);
  if (ix >= 0) {
    x->result = eval(&d->e[ix]);
    x->result_stored = true;
  } else if (x->nargs > 1) {
    x->result = x->args[1];
  } else
    return key_error(x, &x->args[0]);
  return MGR_OK;
}

static int op_set(mgri_octx *x) {
  uint64_t h;
  int rc = check_kv(x, &x->args[0], &x->args[1], &h);
  if (rc) return rc;
  return set_checked(x, x->o, &x->args[0], h, &x->args[1]);
}

static int op_del(mgri_octx *x) {
  uint64_t h;
  int rc = key_hash(x, &x->args[0], &h);
  if (rc) return rc;
  size_t slot;
  long ix = find(x->s, D(x->o), &x->args[0], h, &slot);
  if (ix < 0) return key_error(x, &x->args[0]);
  remove_entry(x->s, x->o, (size_t)ix, slot, false);
  return MGR_OK;
}

static int op_contains(mgri_octx *x) {
  uint64_t h;
  int rc = key_hash(x, &x->args[0], &h); /* NaN: VALUE (spec 9, decision) */
  if (rc) return rc;
  x->result = mgr_bool(find(x->s, D(x->o), &x->args[0], h, NULL) >= 0);
  return MGR_OK;
}

static int op_len(mgri_octx *x) {
  x->result = mgr_int((int64_t)D(x->o)->live);
  return MGR_OK;
}

static int op_keys(mgri_octx *x) { return listing(x, x->o, 0, &x->result); }
static int op_values(mgri_octx *x) { return listing(x, x->o, 1, &x->result); }
static int op_items(mgri_octx *x) { return listing(x, x->o, 2, &x->result); }
static int op_copy(mgri_octx *x) { return listing(x, x->o, 3, &x->result); }

static int op_pop(mgri_octx *x) {
  uint64_t h;
  int rc = key_hash(x, &x->args[0], &h);
  if (rc) return rc;
  dict *d = D(x->o);
  size_t slot;
  long ix = find(x->s, d, &x->args[0], h, &slot);
  if (ix < 0) {
    if (x->nargs > 1) {
      x->result = x->args[1];
      return MGR_OK;
    }
    return key_error(x, &x->args[0]);
  }
  x->result = eval(&d->e[ix]);
  remove_entry(x->s, x->o, (size_t)ix, slot, true);
  return MGR_OK;
}

static int op_popitem(mgri_octx *x) {
  dict *d = D(x->o);
  if (!d->live)
    return mgri_fail(x, MGR_EKEY, "KeyError: 'popitem(): dictionary is empty'");
  size_t ix = d->n - 1; /* trailing entries are live (kill_entry trims) */
  while (!is_live(&d->e[ix]))
    ix--;
  mgr_value *kv = mgri_scratch(x, 2);
  if (!kv) return MGR_ELIMIT;
  dentry *e = &d->e[ix];
  kv[0] = ekey(e);
  kv[1] = eval(e);
  size_t slot = slot_of_entry(d, ix);
  /* Both are borrowed by the result: free them after the reply. Inline
   * ones point into the entry, which stays until the next rebuild. */
  drop(x->s, x->o, e->ktype, e->kinl, &e->k, true);
  drop(x->s, x->o, e->vtype, e->vinl, &e->v, true);
  kill_entry(d, ix, slot);
  x->result = mgr_array(kv, 2);
  return MGR_OK;
}

static int op_setdefault(mgri_octx *x) {
  mgr_value nil = mgr_nil();
  const mgr_value *dflt = x->nargs > 1 ? &x->args[1] : &nil;
  uint64_t h;
  int rc = check_kv(x, &x->args[0], dflt, &h);
  if (rc) return rc;
  dict *d = D(x->o);
  long ix = find(x->s, d, &x->args[0], h, NULL);
  if (ix < 0) {
    rc = set_checked(x, x->o, &x->args[0], h, dflt);
    if (rc) return rc;
    ix = (long)d->n - 1;
  }
  x->result = eval(&d->e[ix]);
  return MGR_OK;
}

static int op_update(mgri_octx *x) { return update(x, x->o, &x->args[0]); }

static int op_clear(mgri_octx *x) {
  dict_clear(x->s, x->o);
  return MGR_OK;
}

static int op_incr(mgri_octx *x) {
  dict *d = D(x->o);
  const mgr_value *k = &x->args[0];
  uint64_t h;
  int rc = key_hash(x, k, &h);
  if (rc) return rc;
  long ix = find(x->s, d, k, h, NULL);
  mgr_value nv;
  if (ix >= 0) {
    dentry *e = &d->e[ix];
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
  if (!rc) rc = set_checked(x, x->o, k, h, &nv);
  if (rc) return rc;
  x->result = eval(&d->e[d->n - 1]);
  return MGR_OK;
}

static int op_cas(mgri_octx *x) {
  uint64_t h;
  int rc = key_hash(x, &x->args[0], &h);
  if (rc) return rc;
  dict *d = D(x->o);
  long ix = find(x->s, d, &x->args[0], h, NULL);
  if (ix < 0) return key_error(x, &x->args[0]);
  /* mgri_cas_slot's steps, on the packed value: refs, the result's scratch,
   * then the swap (nothing can fail after it). */
  rc = mgri_sv_check(x, &x->args[2]);
  if (rc) return rc;
  mgr_value *r = mgri_scratch(x, 2);
  if (!r) return MGR_ELIMIT;
  dentry *e = &d->e[ix];
  mgr_value cur = eval(e);
  bool swap = mgri_value_eq(&cur, &x->args[1]);
  if (swap) {
    if ((rc = mgri_need(x, pack_need(&x->args[2])))) return rc;
    uint8_t type, inl;
    dpay p;
    if ((rc = pack(x, x->o, &x->args[2], &type, &inl, &p))) return rc;
    replace_value(x->s, x->o, e, type, inl, &p);
    cur = eval(e);
  }
  r[0] = mgr_bool(swap);
  r[1] = cur;
  x->result = mgr_array(r, 2);
  return MGR_OK;
}

static const mgri_handler ops[] = {
    {MGRI_OP_DICT_GET, op_get, MGRI_COST_ONE},
    {MGRI_OP_DICT_SET, op_set, MGRI_COST_ARGS},
    {MGRI_OP_DICT_DEL, op_del, MGRI_COST_ONE},
    {MGRI_OP_DICT_CONTAINS, op_contains, MGRI_COST_ONE},
    {MGRI_OP_DICT_LEN, op_len, MGRI_COST_ONE},
    {MGRI_OP_DICT_KEYS, op_keys, MGRI_COST_LEN},
    {MGRI_OP_DICT_VALUES, op_values, MGRI_COST_LEN},
    {MGRI_OP_DICT_ITEMS, op_items, MGRI_COST_LEN},
    {MGRI_OP_DICT_POP, op_pop, MGRI_COST_ONE},
    {MGRI_OP_DICT_POPITEM, op_popitem, MGRI_COST_ONE},
    {MGRI_OP_DICT_SETDEFAULT, op_setdefault, MGRI_COST_ARGS},
    {MGRI_OP_DICT_UPDATE, op_update, MGRI_COST_LEN_ARGS},
    {MGRI_OP_DICT_CLEAR, op_clear, MGRI_COST_LEN},
    {MGRI_OP_DICT_COPY, op_copy, MGRI_COST_LEN},
    {MGRI_OP_DICT_INCR, op_incr, MGRI_COST_ONE},
    {MGRI_OP_DICT_CAS, op_cas, MGRI_COST_ARGS},
};

const mgri_kind mgri_kind_dict = {
    .id = MGR_K_DICT,
    .state_size = sizeof(dict),
    .init_check = dict_init_check,
    .create = dict_create,
    .destroy = dict_clear,
    .refs = dict_refs,
    .dump = dict_dump,
    .len = dict_len,
    .ops = ops,
    .nops = sizeof ops / sizeof ops[0],
};
