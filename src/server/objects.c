/* mgr — the object store (see objects.h): objects by id and in id order,
 * their memory, stored values and the references they hold, counts and
 * destruction after each reply, names under a keyed hash, sessions, owners. */
#include "server/objects.h"

#include "../trace/trace.h"
#include <stdlib.h>
#include <string.h>

#include "cbor/model.h"
#include "mgr/error.h"
#include "server/kind.h"
#include "server/reply.h"

/* --- objects ------------------------------------------------------------ */

mgri_obj *mgri_obj_find(const mgri_store *s, uint64_t id) {
  return mgri_u64map_get(&s->objs, id);
}

mgr_value mgri_obj_ref(const mgri_obj *o) {
  mgr_value v = mgr_nil();
  v.type = MGR_T_REF;
  v.u.ref.id = o->id;
  v.u.ref.kind = o->kind->id;
  return v;
}

static void charge(mgri_store *s, mgri_obj *o, size_t add, size_t sub) {
  size_t *k = &s->st.kind_bytes[o->kind->id];
  o->bytes = (o->bytes >= sub ? o->bytes - sub : 0) + add;
  *k = (*k >= sub ? *k - sub : 0) + add;
}

void *mgri_obj_alloc(mgri_store *s, mgri_obj *o, size_t n) {
  void *p = mgri_mem_alloc(&s->mem, MGRI_MEM_OBJECTS, n ? n : 1);
  if (p) charge(s, o, mgri_mem_size(p), 0);
  return p;
}

void *mgri_obj_realloc(mgri_store *s, mgri_obj *o, void *p, size_t n) {
  size_t old = mgri_mem_size(p);
  void *q = mgri_mem_realloc(&s->mem, MGRI_MEM_OBJECTS, p, n ? n : 1);
  if (q) charge(s, o, mgri_mem_size(q), old);
  return q;
}

void *mgri_obj_shrink(mgri_store *s, mgri_obj *o, void *p, size_t n) {
  size_t old = mgri_mem_size(p);
  void *q = mgri_mem_shrink(&s->mem, MGRI_MEM_OBJECTS, p, n);
  if (q) charge(s, o, mgri_mem_size(q), old);
  return q;
}

/* --- pins ----------------------------------------------------------------
 * A reply may refer to a stored string instead of copying it (the loop
 * sends large results from where they are): its block is pinned until the
 * reply is sent. Freeing a pinned block (its value replaced, popped or its
 * object destroyed meanwhile) hands it to the pin, counted in conn_out, and
 * the last unpin frees it. */

static size_t pin_find(const mgri_store *s, const void *p) {
  for (size_t i = 0; i < s->npins; i++)
    if (s->pins[i].p == p) return i;
  return SIZE_MAX;
}

bool mgri_obj_pin(mgri_store *s, void *p) {
  size_t i = pin_find(s, p);
  if (i != SIZE_MAX) {
    if (s->pins[i].freed) return false; /* no longer stored */
    s->pins[i].n++;
    return true;
  }
  if (s->npins == MGRI_PINS_MAX) return false;
  s->pins[s->npins].p = p;
  s->pins[s->npins].n = 1;
  s->pins[s->npins].freed = false;
  s->npins++;
  return true;
}

void mgri_obj_unpin(mgri_store *s, void *p) {
  size_t i = pin_find(s, p);
  if (i == SIZE_MAX || --s->pins[i].n) return;
  if (s->pins[i].freed) mgri_mem_free(&s->mem, MGRI_MEM_CONN_OUT, p);
  s->pins[i] = s->pins[--s->npins];
}

bool mgri_obj_pinned(const mgri_store *s, const void *p) {
  return s->npins && pin_find(s, p) != SIZE_MAX;
}

/* Whether block p (counted in `cat`, or uncounted when cat is
 * MGRI_MEM_NCAT) is pinned: then it is the pin's to free, now counted in
 * conn_out. */
static bool pin_keeps(mgri_store *s, void *p, unsigned cat) {
  size_t i = s->npins ? pin_find(s, p) : SIZE_MAX;
  if (i == SIZE_MAX) return false;
  s->pins[i].freed = true;
  if (cat < MGRI_MEM_NCAT)
    mgri_mem_move(&s->mem, cat, MGRI_MEM_CONN_OUT, p);
  else
    mgri_mem_count(&s->mem, MGRI_MEM_CONN_OUT, p);
  return true;
}

void mgri_obj_free(mgri_store *s, mgri_obj *o, void *p) {
  if (!p) return;
  charge(s, o, 0, mgri_mem_size(p));
  if (pin_keeps(s, p, MGRI_MEM_OBJECTS)) return;
  mgri_mem_free(&s->mem, MGRI_MEM_OBJECTS, p);
}

/* A block dropped later (uncounted by mgri_sv_drop_later) goes now. */
static void later_free(mgri_store *s, void *p) {
  if (p && !pin_keeps(s, p, MGRI_MEM_NCAT)) free(p);
}

void mgri_obj_own(mgri_obj *o, mgri_sconn *c) {
  o->owner = c;
  o->oprev = NULL;
  o->onext = c->owned;
  if (c->owned) c->owned->oprev = o;
  c->owned = o;
}

void mgri_obj_unown(mgri_obj *o) {
  mgri_sconn *c = o->owner;
  if (!c) return;
  if (o->oprev)
    o->oprev->onext = o->onext;
  else
    c->owned = o->onext;
  if (o->onext) o->onext->oprev = o->oprev;
  o->onext = o->oprev = NULL;
  o->owner = NULL;
}

/* --- reference drops: applied after the reply -------------------------------
 * A dropped reference is counted on its object, which joins an intrusive
 * list; nothing allocates, so dropping never fails. */

static void mark(mgri_store *s, mgri_obj *o) {
  if (o->on_drop_list) return;
  o->on_drop_list = true;
  o->dnext = s->dropped;
  s->dropped = o;
}

static void drop_ref(void *ctx, uint64_t id) {
  mgri_store *s = ctx;
  mgri_obj *o = mgri_obj_find(s, id);
  if (!o) return;
  o->dropped++;
  mark(s, o);
}

void mgri_obj_recheck(mgri_store *s, mgri_obj *o) { mark(s, o); }

static void incref(void *ctx, uint64_t id) {
  mgri_obj *o = mgri_obj_find(ctx, id);
  if (o) o->refs++;
}

static void name_unlink(mgri_store *s, mgri_obj *o);

static void obj_destroy(mgri_store *s, mgri_obj *o) {
  MGRI_TRACE(object_destroy, o->id, o->kind->id);
  mgri_u64map_del(&s->objs, o->id);
  if (o->prev)
    o->prev->next = o->next;
  else
    s->first = o->next;
  if (o->next)
    o->next->prev = o->prev;
  else
    s->last = o->prev;
  s->nobjs--;
  s->st.kind_count[o->kind->id]--;
  name_unlink(s, o);
  mgri_obj_unown(o);
  o->kind->destroy(s, o); /* its stored refs join the drop list */
  mgri_obj_free(s, o, o);
}

/* Applies the drops until none is left: iterative, so chains of any length
 * (a list holding a list holding ...) cannot overflow the stack. */
static void process_drops(mgri_store *s) {
  if (s->in_drop) return;
  s->in_drop = true;
  while (s->dropped) {
    mgri_obj *o = s->dropped;
    s->dropped = o->dnext;
    o->on_drop_list = false;
    o->refs = o->refs >= o->dropped ? o->refs - o->dropped : 0;
    o->dropped = 0;
    if (o->refs == 0 && !o->name) obj_destroy(s, o);
  }
  s->in_drop = false;
}

/* --- stored values ------------------------------------------------------- */

typedef struct check_ctx {
  const mgri_store *s;
  const mgr_value *bad;
} check_ctx;

static bool refs_ok(const mgri_store *s, const mgr_value *v,
                    const mgr_value **bad) {
  switch (v->type) {
  case MGR_T_REF: {
    mgri_obj *o = mgri_obj_find(s, v->u.ref.id);
    if (!o || o->kind->id != v->u.ref.kind) {
      *bad = v;
      return false;
    }
    return true;
  }
  case MGR_T_ARRAY:
  case MGR_T_MAP: {
    size_t n = v->u.a.len * (v->type == MGR_T_MAP ? 2 : 1);
    for (size_t i = 0; i < n; i++)
      if (!refs_ok(s, &v->u.a.items[i], bad)) return false;
    return true;
  }
  default:
    return true;
  }
}

int mgri_sv_check(mgri_octx *x, const mgr_value *v) {
  const mgr_value *bad = NULL;
  if (refs_ok(x->s, v, &bad)) return MGR_OK;
  return mgri_fail(x, MGR_ENOTFOUND, "LookupError: no shared object %s #%llu",
                   mgri_kind_name(bad->u.ref.kind),
                   (unsigned long long)bad->u.ref.id);
}

size_t mgri_sv_need(const mgr_value *v) {
  switch (v->type) {
  case MGR_T_TEXT:
  case MGR_T_BYTES:
  case MGR_T_ARRAY:
  case MGR_T_MAP:
    break;
  default:
    return 0;
  }
  size_t n = mgri_value_size(v);
  /* An allocator block holds at least the request plus its header word. */
  return n > SIZE_MAX - 16 ? SIZE_MAX : n + 16;
}

int mgri_sv_make_checked(mgri_octx *x, mgri_obj *o, const mgr_value *src,
                         mgr_value *dst) {
  switch (src->type) {
  case MGR_T_NIL:
  case MGR_T_BOOL:
  case MGR_T_INT:
  case MGR_T_FLOAT:
    *dst = *src;
    o->items++;
    return MGR_OK;
  case MGR_T_REF:
    *dst = *src;
    incref(x->s, src->u.ref.id);
    o->items++;
    return MGR_OK;
  default:
    break;
  }
  size_t size = mgri_value_size(src);
  if (size == SIZE_MAX)
    return mgri_limit(x, MGRI_WHY_MEMORY, "MemoryError: value too large");
  void *mem = NULL;
  if (size) {
    mem = mgri_obj_alloc(x->s, o, size);
    if (!mem) return mgri_nomem(x);
  }
  mgri_value_copy_into(dst, src, mem);
  mgri_value_refs(dst, incref, x->s);
  o->items += mgri_value_items(dst, SIZE_MAX);
  return MGR_OK;
}

static void uncount_items(mgri_obj *o, const mgr_value *v) {
  uint64_t n = mgri_value_items(v, SIZE_MAX);
  o->items = o->items >= n ? o->items - n : 0;
}

int mgri_sv_make(mgri_octx *x, mgri_obj *o, const mgr_value *src,
                 mgr_value *dst) {
  int rc = mgri_sv_check(x, src);
  if (rc) return rc;
  return mgri_sv_make_checked(x, o, src, dst);
}

static bool is_str(const mgr_value *v) {
  return v->type == MGR_T_TEXT || v->type == MGR_T_BYTES;
}

int mgri_sv_replace(mgri_octx *x, mgri_obj *o, mgr_value *slot,
                    const mgr_value *src) {
  if (x->adopt && *x->adopt && is_str(src) && src->u.s.ptr == *x->adopt) {
    /* The string was read into a block of its own (the loop's, counted in
     * conn_in, NUL-terminated): it becomes the value, no copy. */
    void *b = *x->adopt;
    *x->adopt = NULL;
    mgri_mem_move(&x->s->mem, MGRI_MEM_CONN_IN, MGRI_MEM_OBJECTS, b);
    charge(x->s, o, mgri_mem_size(b), 0);
    mgri_sv_drop(x->s, o, slot);
    *slot = *src;
    o->items++;
    return MGR_OK;
  }
  if (is_str(src) && is_str(slot) && slot->u.s.ptr &&
      !mgri_obj_pinned(x->s, slot->u.s.ptr)) {
    char *blk = (char *)slot->u.s.ptr;
    size_t have = mgri_mem_size(blk), need = src->u.s.len + 1;
    if (have >= need && need > have / 2) {
      /* The same block, the same count (o->bytes, one item, no refs). */
      if (src->u.s.len) memmove(blk, src->u.s.ptr, src->u.s.len);
      blk[src->u.s.len] = '\0';
      slot->type = src->type;
      slot->u.s.len = src->u.s.len;
      return MGR_OK;
    }
  }
  mgr_value nv;
  int rc = mgri_need(x, mgri_sv_need(src));
  if (!rc) rc = mgri_sv_make_checked(x, o, src, &nv);
  if (rc) return rc;
  mgri_sv_drop(x->s, o, slot);
  *slot = nv;
  return MGR_OK;
}

void mgri_sv_drop(mgri_store *s, mgri_obj *o, mgr_value *v) {
  uncount_items(o, v);
  mgri_value_refs(v, drop_ref, s);
  mgri_obj_free(s, o, mgri_value_block(v));
  *v = mgr_nil();
}

void mgri_sv_drop_later(mgri_store *s, mgri_obj *o, mgr_value *v) {
  uncount_items(o, v);
  mgri_value_refs(v, drop_ref, s);
  void *block = mgri_value_block(v);
  if (block) {
    /* Uncounted now (the object no longer holds it), freed after the
     * reply. The list cannot be full: no op drops more than two values
     * this way before its reply (MGRI_LATER_MAX). */
    if (s->nlater < MGRI_LATER_MAX) {
      charge(s, o, 0, mgri_mem_size(block));
      mgri_mem_forget(&s->mem, MGRI_MEM_OBJECTS, block);
      s->later[s->nlater++] = *v;
    }
  }
  *v = mgr_nil();
}

/* --- names: a chained table under the store's keyed hash ------------------ */

static uint64_t name_hash(const mgri_store *s, const char *p, size_t n) {
  return mgri_siphash13(&s->hkey, p, n);
}

mgri_obj *mgri_name_find(mgri_store *s, const char *p, size_t n) {
  if (!s->names_cap) return NULL;
  uint64_t h = name_hash(s, p, n), walked = 0;
  mgri_obj *found = NULL;
  for (mgri_obj *o = s->names[h & (s->names_cap - 1)]; o; o = o->name_next) {
    walked++;
    if (o->namehash == h && o->namelen == n && !memcmp(o->name, p, n)) {
      found = o;
      break;
    }
  }
  if (walked > s->st.name_probe_max) s->st.name_probe_max = walked;
  return found;
}

/* Room for one more name: at most one name per bucket on average. */
static int names_reserve(mgri_store *s) {
  if (s->nnames + 1 <= s->names_cap) return MGR_OK;
  size_t cap = s->names_cap ? s->names_cap * 2 : 16;
  mgri_obj **b = mgri_mem_calloc(&s->mem, MGRI_MEM_STORE, cap * sizeof *b);
  if (!b) return MGR_ENOMEM;
  for (size_t i = 0; i < s->names_cap; i++) {
    mgri_obj *o = s->names[i];
    while (o) {
      mgri_obj *nx = o->name_next;
      o->name_next = b[o->namehash & (cap - 1)];
      b[o->namehash & (cap - 1)] = o;
      o = nx;
    }
  }
  mgri_mem_free(&s->mem, MGRI_MEM_STORE, s->names);
  s->names = b;
  s->names_cap = cap;
  return MGR_OK;
}

static int name_add(mgri_store *s, mgri_obj *o, const char *p, size_t n) {
  if (names_reserve(s)) return MGR_ENOMEM;
  o->name = mgri_obj_alloc(s, o, n + 1);
  if (!o->name) return MGR_ENOMEM;
  memcpy(o->name, p, n);
  o->name[n] = '\0';
  o->namelen = n;
  o->namehash = name_hash(s, p, n);
  mgri_obj **head = &s->names[o->namehash & (s->names_cap - 1)];
  o->name_next = *head;
  *head = o;
  s->nnames++;
  return MGR_OK;
}

static void name_unlink(mgri_store *s, mgri_obj *o) {
  if (!o->name) return;
  mgri_obj **pp = &s->names[o->namehash & (s->names_cap - 1)];
  while (*pp != o)
    pp = &(*pp)->name_next;
  *pp = o->name_next;
  mgri_obj_free(s, o, o->name);
  o->name = NULL;
  o->namelen = 0;
  o->name_next = NULL;
  s->nnames--;
}

void mgri_name_remove(mgri_store *s, mgri_obj *o) {
  name_unlink(s, o);
  mark(s, o); /* destroyed after the reply if nothing holds it */
}

/* --- sessions ---------------------------------------------------------- */

mgri_session *mgri_session_new(mgri_octx *x) {
  mgri_store *s = x->s;
  mgri_session *se = mgri_mem_calloc(&s->mem, MGRI_MEM_STORE, sizeof *se);
  if (!se) {
    mgri_nomem(x);
    return NULL;
  }
  se->id = s->next_session;
  mgri_u64map_init(&se->refs, &s->mem, MGRI_MEM_STORE);
  if (mgri_u64map_put(&s->sessions, se->id, se)) {
    mgri_mem_free(&s->mem, MGRI_MEM_STORE, se);
    mgri_nomem(x);
    return NULL;
  }
  s->next_session++;
  return se;
}

mgri_session *mgri_session_find(const mgri_store *s, uint64_t id) {
  return mgri_u64map_get(&s->sessions, id);
}

int mgri_session_hold(mgri_octx *x, mgri_obj *o) {
  mgri_session *se = x->c->sess;
  if (mgri_u64map_get(&se->refs, o->id)) return MGR_OK;
  if (mgri_u64map_put(&se->refs, o->id, (void *)1)) return mgri_nomem(x);
  o->refs++;
  return MGR_OK;
}

int mgri_session_reserve(mgri_octx *x, size_t n) {
  return mgri_u64map_reserve(&x->c->sess->refs, n) ? mgri_nomem(x) : MGR_OK;
}

bool mgri_session_release(mgri_store *s, mgri_sconn *c, uint64_t id) {
  if (!mgri_u64map_del(&c->sess->refs, id)) return false;
  drop_ref(s, id);
  return true;
}

void mgri_session_leave(mgri_store *s, mgri_session *se) {
  if (--se->nconns) return;
  for (size_t i = 0; i < se->refs.cap; i++)
    if (se->refs.keys[i]) drop_ref(s, se->refs.keys[i]);
  mgri_u64map_fini(&se->refs);
  mgri_u64map_del(&s->sessions, se->id);
  mgri_mem_free(&s->mem, MGRI_MEM_STORE, se);
}

/* --- creation ------------------------------------------------------------ */

static mgri_obj *obj_new(mgri_octx *x, const mgri_kind *kind) {
  mgri_store *s = x->s;
  size_t max =
      s->cfg.objects_max ? s->cfg.objects_max : MGRI_OBJECTS_MAX_DEFAULT;
  if (s->nobjs >= max) {
    mgri_limit(x, MGRI_WHY_OBJECTS,
               "MemoryError: too many shared objects (%zu)", max);
    return NULL;
  }
  size_t size = sizeof(mgri_obj) + kind->state_size;
  if (mgri_u64map_reserve(&s->objs, 1)) {
    mgri_nomem(x);
    return NULL;
  }
  mgri_obj *o = mgri_mem_calloc(&s->mem, MGRI_MEM_OBJECTS, size);
  if (!o) {
    mgri_nomem(x);
    return NULL;
  }
  o->kind = kind;
  o->id = s->next_id++;
  charge(s, o, mgri_mem_size(o), 0);
  mgri_u64map_put(&s->objs, o->id, o); /* room reserved: cannot fail */
  o->prev = s->last;
  if (s->last)
    s->last->next = o;
  else
    s->first = o;
  s->last = o;
  s->nobjs++;
  s->st.kind_count[kind->id]++;
  MGRI_TRACE(object_create, (int64_t)x->c->pid, x->c->id, x->rq->rid, o->id,
             kind->id);
  return o;
}

int mgri_obj_create(mgri_octx *x, const mgri_kind *kind, const mgr_value *init,
                    const char *name, size_t namelen, mgri_obj **out) {
  mgri_obj *o = obj_new(x, kind);
  if (!o) return MGR_ELIMIT;
  int rc = kind->create(x, o, init);
  if (!rc && name && name_add(x->s, o, name, namelen)) rc = mgri_nomem(x);
  if (!rc) rc = mgri_session_hold(x, o);
  if (rc) {
    /* create left nothing behind, or what it made goes with the object
     * (its refs are dropped after the reply). */
    o->refs = 0;
    obj_destroy(x->s, o);
    return rc;
  }
  *out = o;
  return MGR_OK;
}

/* --- between requests --------------------------------------------------- */

void mgri_store_after_reply(mgri_store *s) {
  for (size_t i = 0; i < s->nlater; i++)
    later_free(s, mgri_value_block(&s->later[i]));
  s->nlater = 0;
  process_drops(s);
  mgri_arena_reset(&s->scratch);
}

void mgri_objects_free_all(mgri_store *s) {
  for (size_t i = 0; i < s->sessions.cap; i++) {
    mgri_session *se = s->sessions.vals[i];
    if (!se) continue;
    mgri_u64map_fini(&se->refs);
    mgri_mem_free(&s->mem, MGRI_MEM_STORE, se);
  }
  mgri_u64map_fini(&s->sessions);
  /* Destroy in id order without counting: the refs dropped meanwhile name
   * objects freed here anyway. */
  s->in_drop = true;
  while (s->first) {
    mgri_obj *o = s->first;
    o->refs = 0;
    obj_destroy(s, o);
  }
  s->dropped = NULL;
  s->in_drop = false;
  for (size_t i = 0; i < s->nlater; i++)
    later_free(s, mgri_value_block(&s->later[i]));
  s->nlater = 0;
  mgri_u64map_fini(&s->objs);
  mgri_mem_free(&s->mem, MGRI_MEM_STORE, s->names);
  s->names = NULL;
  s->names_cap = 0;
}
