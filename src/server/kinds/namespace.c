/* mgr — the Namespace (manager.Namespace(), spec 9.9): named attributes kept
 * in the order they were first set. An insertion-ordered hash table like
 * the dict's (a dense entry array plus an open-addressing index probed
 * quadratically), smaller because its keys are only names: kinds never call
 * each other, so it is its own. Names are hashed with the server's keyed
 * SipHash, so a client cannot choose names that collide and make every op
 * walk the table; the probe length goes to STATS with the dict's
 * (dict_probe_max). */
#include <string.h>

#include "cbor/model.h"
#include "common/limits.h"
#include "common/siphash.h"
#include "mgr/error.h"
#include "server/kind.h"
#include "server/kinds/kinds.h"
#include "server/objects.h"
#include "server/reply.h"

#define EMPTY (-1)
#define DUMMY (-2)
#define ICAP_MAX ((size_t)1 << 30)
/* Deleting compacts the entries in place once dead ones outnumber the live
 * ones (and there are at least this many): a walk (NS_ITEMS, DUMP) never
 * pays for more dead entries than live ones, and a delete allocates
 * nothing. */
#define COMPACT_MIN 16

typedef struct nsent {
  mgr_value name; /* owned text; nil: a deleted entry */
  mgr_value val;  /* owned */
  uint64_t hash;
} nsent;

typedef struct ns {
  nsent *e; /* dense, insertion order; dead entries until a compaction */
  size_t n; /* entries used in e (live + dead) */
  size_t ecap;
  size_t live;
  int32_t *index; /* icap slots: -1 empty, -2 deleted, else entry index */
  size_t icap;
  size_t fill; /* slots not empty (live + deleted) */
} ns;

static ns *N(const mgri_obj *o) { return mgri_state(o); }

static bool is_live(const nsent *e) { return e->name.type == MGR_T_TEXT; }

/* --- names ---------------------------------------------------------------- */

/* A name: text (TYPE), not empty, not starting with '_' (Python's
 * NamespaceProxy keeps those on the proxy), at most MGRI_NAME_MAX bytes, no
 * U+0000 (names are C strings, as object names) (VALUE). */
static int name_check(mgri_octx *x, const mgr_value *v) {
  if (v->type != MGR_T_TEXT)
    return mgri_fail(x, MGR_ETYPE,
                     "TypeError: attribute name must be string, not '%s'",
                     mgri_tname(v));
  const char *p = v->u.s.ptr;
  size_t n = v->u.s.len;
  if (n == 0)
    return mgri_fail(x, MGR_EVALUE,
                     "ValueError: attribute name must not be empty");
  if (p[0] == '_')
    return mgri_fail(x, MGR_EVALUE,
                     "ValueError: attribute name '%.*s' starts with '_': "
                     "Python's NamespaceProxy keeps such names on the proxy",
                     n > 40 ? 40 : (int)n, p);
  if (n > MGRI_NAME_MAX)
    return mgri_fail(x, MGR_EVALUE,
                     "ValueError: attribute name longer than %u bytes",
                     MGRI_NAME_MAX);
  if (memchr(p, 0, n))
    return mgri_fail(x, MGR_EVALUE,
                     "ValueError: attribute name contains U+0000");
  return MGR_OK;
}

static uint64_t name_hash(const mgri_store *s, const mgr_value *name) {
  return mgri_siphash13(&s->hkey, name->u.s.ptr, name->u.s.len);
}

static int attr_error(mgri_octx *x, const mgr_value *name) {
  return mgri_fail(x, MGR_EATTR,
                   "AttributeError: 'Namespace' object has no attribute '%.*s'",
                   (int)name->u.s.len, name->u.s.ptr);
}

/* --- the table ------------------------------------------------------------ */

/* Index of the live entry named `name`, or -1; *slot gets its index slot. */
static long find(mgri_store *s, const ns *t, const mgr_value *name, uint64_t h,
                 size_t *slot) {
  if (!t->icap) return -1;
  size_t mask = t->icap - 1;
  uint64_t probes = 0;
  long found = -1;
  for (size_t i = (size_t)h & mask, step = 1;; i = (i + step++) & mask) {
    probes++;
    int32_t ix = t->index[i];
    if (ix == EMPTY) break;
    if (ix < 0) continue;
    const nsent *e = &t->e[ix];
    if (e->hash == h && e->name.u.s.len == name->u.s.len &&
        memcmp(e->name.u.s.ptr, name->u.s.ptr, name->u.s.len) == 0) {
      if (slot) *slot = i;
      found = ix;
      break;
    }
  }
  if (probes > s->st.dict_probe_max) s->st.dict_probe_max = probes;
  return found;
}

/* Puts entry ix (whose name is absent) into an index with room. */
static void index_put(int32_t *index, size_t icap, uint64_t h, size_t ix) {
  size_t mask = icap - 1, i = (size_t)h & mask, step = 1;
  while (index[i] != EMPTY)
    i = (i + step++) & mask;
  index[i] = (int32_t)ix;
}

/* The index capacity for `need` live entries: at least 2 slots each, so it
 * is at most 2/3 full before the next rebuild. 0 when too large. */
static size_t icap_for(size_t need) {
  size_t icap = 8;
  while (icap < need * 2) {
    if (icap >= ICAP_MAX) return 0;
    icap *= 2;
  }
  return icap;
}

/* The bytes a rebuild for `need` entries allocates (with the allocator's
 * headers), SIZE_MAX when it cannot. */
static size_t rebuild_need(size_t need) {
  size_t icap = icap_for(need);
  if (!icap) return SIZE_MAX;
  return icap * sizeof(int32_t) + icap * 2 / 3 * sizeof(nsent) + 32;
}

/* Rebuilds with room for `need` live entries, dropping dead entries and
 * tombstones. Unchanged on failure. */
static int rebuild(mgri_store *s, mgri_obj *o, ns *t, size_t need) {
  size_t icap = icap_for(need);
  if (!icap) return MGR_ENOMEM;
  size_t ecap = icap * 2 / 3;
  int32_t *index = mgri_obj_alloc(s, o, icap * sizeof *index);
  if (!index) return MGR_ENOMEM;
  nsent *e = mgri_obj_alloc(s, o, ecap * sizeof *e);
  if (!e) {
    mgri_obj_free(s, o, index);
    return MGR_ENOMEM;
  }
  memset(index, 0xff, icap * sizeof *index); /* EMPTY */
  size_t n = 0;
  for (size_t i = 0; i < t->n; i++) {
    if (!is_live(&t->e[i])) continue;
    e[n] = t->e[i];
    index_put(index, icap, e[n].hash, n);
    n++;
  }
  mgri_obj_free(s, o, t->e);
  mgri_obj_free(s, o, t->index);
  t->e = e;
  t->index = index;
  t->icap = icap;
  t->ecap = ecap;
  t->n = n;
  t->fill = n;
  t->live = n;
  return MGR_OK;
}

/* Whether `more` appends fit without a rebuild. */
static bool has_room(const ns *t, size_t more) {
  return (t->fill + more) * 3 <= t->icap * 2 && t->n + more <= t->ecap;
}

/* Room for `more` new entries, `extra` more bytes needed besides (the
 * copies the caller will make), checked with the rebuild's in one
 * mgri_need: afterwards `more` appends cannot fail. */
static int reserve(mgri_octx *x, mgri_obj *o, ns *t, size_t more,
                   size_t extra) {
  if (has_room(t, more)) return mgri_need(x, extra);
  if (more > ICAP_MAX - t->live)
    return mgri_limit(x, MGRI_WHY_SIZE, "MemoryError: namespace too large");
  size_t rn = rebuild_need(t->live + more);
  int rc = mgri_need(x, rn > SIZE_MAX - extra ? SIZE_MAX : rn + extra);
  if (rc) return rc;
  if (rebuild(x->s, o, t, t->live + more)) return mgri_nomem(x);
  return MGR_OK;
}

/* Compacts after a delete (see COMPACT_MIN), in place: no allocation. An
 * empty namespace gives its arrays back. */
static void compact(mgri_store *s, mgri_obj *o, ns *t) {
  if (t->live == 0) {
    mgri_obj_free(s, o, t->e);
    mgri_obj_free(s, o, t->index);
    memset(t, 0, sizeof *t);
    return;
  }
  if (t->n < COMPACT_MIN || t->n - t->live <= t->live) return;
  size_t n = 0;
  for (size_t i = 0; i < t->n; i++)
    if (is_live(&t->e[i])) t->e[n++] = t->e[i];
  t->n = n;
  memset(t->index, 0xff, t->icap * sizeof *t->index);
  for (size_t i = 0; i < n; i++)
    index_put(t->index, t->icap, t->e[i].hash, i);
  t->fill = n;
}

/* Removes entry ix at index slot `slot` (its name and value dropped). */
static void remove_entry(mgri_store *s, mgri_obj *o, size_t ix, size_t slot) {
  ns *t = N(o);
  nsent *e = &t->e[ix];
  mgri_sv_drop(s, o, &e->name); /* now nil: dead */
  mgri_sv_drop(s, o, &e->val);
  t->index[slot] = DUMMY;
  t->live--;
  while (t->n && !is_live(&t->e[t->n - 1]))
    t->n--;
  compact(s, o, t);
}

/* ns.name = val for a checked name (hash h) and a value whose refs were
 * checked: all or nothing. */
static int set_checked(mgri_octx *x, mgri_obj *o, const mgr_value *name,
                       uint64_t h, const mgr_value *val) {
  ns *t = N(o);
  long ix = find(x->s, t, name, h, NULL);
  size_t vn = mgri_sv_need(val);
  mgr_value nv;
  int rc;
  if (ix >= 0) {
    /* Replaced in place: it keeps its place in the order. */
    if ((rc = mgri_need(x, vn))) return rc;
    if ((rc = mgri_sv_make_checked(x, o, val, &nv))) return rc;
    mgri_sv_drop(x->s, o, &t->e[ix].val);
    t->e[ix].val = nv;
    return MGR_OK;
  }
  size_t nn = mgri_sv_need(name);
  size_t extra = vn == SIZE_MAX || nn > SIZE_MAX - vn ? SIZE_MAX : vn + nn;
  if ((rc = reserve(x, o, t, 1, extra))) return rc;
  nsent ne;
  if ((rc = mgri_sv_make_checked(x, o, name, &ne.name))) return rc;
  if ((rc = mgri_sv_make_checked(x, o, val, &ne.val))) {
    mgri_sv_drop(x->s, o, &ne.name);
    return rc;
  }
  ne.hash = h;
  index_put(t->index, t->icap, h, t->n);
  t->e[t->n++] = ne;
  t->live++;
  t->fill++;
  return MGR_OK;
}

static void ns_clear(mgri_store *s, mgri_obj *o) {
  ns *t = N(o);
  for (size_t i = 0; i < t->n; i++) {
    nsent *e = &t->e[i];
    if (!is_live(e)) continue;
    mgri_sv_drop(s, o, &e->name);
    mgri_sv_drop(s, o, &e->val);
  }
  mgri_obj_free(s, o, t->e);
  mgri_obj_free(s, o, t->index);
  memset(t, 0, sizeof *t);
}

/* The attributes as a map in insertion order (scratch; values borrowed). */
static int items(mgri_octx *x, const mgri_obj *o, mgr_value *res) {
  const ns *t = N(o);
  mgr_value *kv = mgri_scratch(x, 2 * t->live);
  if (!kv) return MGR_ELIMIT;
  size_t j = 0;
  for (size_t i = 0; i < t->n; i++) {
    const nsent *e = &t->e[i];
    if (!is_live(e)) continue;
    kv[j++] = e->name;
    kv[j++] = e->val;
  }
  *res = mgr_map(kv, t->live);
  return MGR_OK;
}

/* --- ops ------------------------------------------------------------------ */

static int op_get(mgri_octx *x) {
  const mgr_value *name = &x->args[0];
  int rc = name_check(x, name);
  if (rc) return rc;
  ns *t = N(x->o);
  long ix = find(x->s, t, name, name_hash(x->s, name), NULL);
  if (ix < 0) return attr_error(x, name);
  x->result = t->e[ix].val; /* borrowed until the reply */
  x->result_stored = true;
  return MGR_OK;
}

static int op_set(mgri_octx *x) {
  const mgr_value *name = &x->args[0];
  int rc = name_check(x, name);
  if (!rc) rc = mgri_sv_check(x, &x->args[1]);
  if (rc) return rc;
  return set_checked(x, x->o, name, name_hash(x->s, name), &x->args[1]);
}

static int op_del(mgri_octx *x) {
  const mgr_value *name = &x->args[0];
  int rc = name_check(x, name);
  if (rc) return rc;
  size_t slot;
  long ix = find(x->s, N(x->o), name, name_hash(x->s, name), &slot);
  if (ix < 0) return attr_error(x, name);
  remove_entry(x->s, x->o, (size_t)ix, slot);
  return MGR_OK;
}

static int op_items(mgri_octx *x) { return items(x, x->o, &x->result); }

/* --- the kind's hooks ---------------------------------------------------- */

static int ns_init_check(mgri_octx *x, uint32_t kind, const mgr_value *init) {
  (void)kind;
  if (!init || init->type == MGR_T_NIL) return MGR_OK;
  if (init->type != MGR_T_MAP)
    return mgri_fail(x, MGR_ETYPE,
                     "TypeError: a Namespace starts from a map of attribute "
                     "names or None, not %s",
                     mgri_tname(init));
  for (size_t i = 0; i < init->u.a.len; i++) {
    int rc = name_check(x, &init->u.a.items[2 * i]);
    if (rc) return rc;
  }
  return MGR_OK;
}

/* Every name in init is checked (init_check) and its refs too (the
 * caller). Room for every pair is reserved first; a copy that fails
 * anyway leaves nothing behind. A name given twice (a map the decoder
 * would refuse) keeps its first place and its last value. */
static int ns_create(mgri_octx *x, mgri_obj *o, const mgr_value *init) {
  if (!init || init->type == MGR_T_NIL) return MGR_OK;
  size_t m = init->u.a.len;
  if (m == 0) return MGR_OK;
  size_t need = 0;
  for (size_t i = 0; i < 2 * m; i++) {
    size_t k = mgri_sv_need(&init->u.a.items[i]);
    need = k == SIZE_MAX || need > SIZE_MAX - k ? SIZE_MAX : need + k;
  }
  int rc = reserve(x, o, N(o), m, need);
  for (size_t i = 0; !rc && i < m; i++) {
    const mgr_value *name = &init->u.a.items[2 * i];
    rc = name_check(x, name);
    if (!rc)
      rc = set_checked(x, o, name, name_hash(x->s, name),
                       &init->u.a.items[2 * i + 1]);
  }
  if (rc) ns_clear(x->s, o);
  return rc;
}

static void ns_refs(const mgri_obj *o, void (*fn)(void *, uint64_t),
                    void *ctx) {
  const ns *t = N(o);
  for (size_t i = 0; i < t->n; i++)
    if (is_live(&t->e[i])) mgri_value_refs(&t->e[i].val, fn, ctx);
}

/* DUMP's state: the attributes, as NS_ITEMS. */
static int ns_dump(mgri_octx *x, mgri_obj *o, mgr_value *out) {
  return items(x, o, out);
}

/* The data items of its names and values, nested ones included. */
static size_t ns_len(const mgri_obj *o) { return (size_t)o->items; }

static const mgri_handler ops[] = {
    {MGRI_OP_NS_GET, op_get, MGRI_COST_ONE},
    {MGRI_OP_NS_SET, op_set, MGRI_COST_ARGS},
    {MGRI_OP_NS_DEL, op_del, MGRI_COST_ONE},
    {MGRI_OP_NS_ITEMS, op_items, MGRI_COST_LEN},
};

const mgri_kind mgri_kind_namespace = {
    .id = MGR_K_NAMESPACE,
    .state_size = sizeof(ns),
    .init_check = ns_init_check,
    .create = ns_create,
    .destroy = ns_clear,
    .refs = ns_refs,
    .dump = ns_dump,
    .len = ns_len,
    .ops = ops,
    .nops = sizeof ops / sizeof ops[0],
};
