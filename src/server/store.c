/* mgr — the store: objects by id, names, sessions and their reference sets,
 * stored-ref counting and destruction, connections, and the manager ops
 * (HELLO, PING, CREATE, OPEN, RELEASE, RETAIN, LIST, UNLINK, SHUTDOWN). */
#include "../trace/trace.h"
#include <stdlib.h>
#include <string.h>

#include "cbor/cbor.h"
#include "mgr/error.h"
#include "mgr/version.h"
#include "server/obj.h"

/* --- uint64 -> pointer map ------------------------------------------------ */

static size_t slot_of(uint64_t key, size_t cap) {
  key ^= key >> 33;
  key *= 0xff51afd7ed558ccdull;
  key ^= key >> 33;
  return (size_t)key & (cap - 1);
}

void *mgri_u64map_get(const mgri_u64map *m, uint64_t key) {
  if (!m->cap || !key) return NULL;
  for (size_t i = slot_of(key, m->cap);; i = (i + 1) & (m->cap - 1)) {
    if (m->keys[i] == key) return m->vals[i];
    if (m->keys[i] == 0) return NULL;
  }
}

static int u64map_grow(mgri_u64map *m) {
  size_t cap = m->cap ? m->cap * 2 : 16;
  uint64_t *keys = calloc(cap, sizeof *keys);
  void **vals = calloc(cap, sizeof *vals);
  if (!keys || !vals) {
    free(keys);
    free(vals);
    return MGR_ENOMEM;
  }
  for (size_t i = 0; i < m->cap; i++) {
    if (!m->keys[i]) continue;
    size_t j = slot_of(m->keys[i], cap);
    while (keys[j]) j = (j + 1) & (cap - 1);
    keys[j] = m->keys[i];
    vals[j] = m->vals[i];
  }
  free(m->keys);
  free(m->vals);
  m->keys = keys;
  m->vals = vals;
  m->cap = cap;
  return MGR_OK;
}

int mgri_u64map_put(mgri_u64map *m, uint64_t key, void *val) {
  if ((m->len + 1) * 4 > m->cap * 3 && u64map_grow(m)) return MGR_ENOMEM;
  size_t i = slot_of(key, m->cap);
  while (m->keys[i] && m->keys[i] != key) i = (i + 1) & (m->cap - 1);
  if (!m->keys[i]) m->len++;
  m->keys[i] = key;
  m->vals[i] = val;
  return MGR_OK;
}

bool mgri_u64map_del(mgri_u64map *m, uint64_t key) {
  if (!m->cap || !key) return false;
  size_t mask = m->cap - 1, i = slot_of(key, m->cap);
  while (m->keys[i] != key) {
    if (!m->keys[i]) return false;
    i = (i + 1) & mask;
  }
  /* Backward-shift deletion: no tombstones. */
  size_t j = i;
  for (;;) {
    j = (j + 1) & mask;
    if (!m->keys[j]) break;
    size_t home = slot_of(m->keys[j], m->cap);
    /* Move j to i when its home is not cyclically in (i, j]. */
    if ((j > i && (home <= i || home > j)) || (j < i && home <= i && home > j)) {
      m->keys[i] = m->keys[j];
      m->vals[i] = m->vals[j];
      i = j;
    }
  }
  m->keys[i] = 0;
  m->vals[i] = NULL;
  m->len--;
  return true;
}

void mgri_u64map_fini(mgri_u64map *m) {
  free(m->keys);
  free(m->vals);
  memset(m, 0, sizeof *m);
}

/* --- names ---------------------------------------------------------------- */

static uint64_t name_hash(const char *p, size_t n) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (size_t i = 0; i < n; i++) h = (h ^ (uint8_t)p[i]) * 0x100000001b3ull;
  return h;
}

static mgri_obj *name_find(const mgri_store *s, const char *p, size_t n) {
  if (!s->names_cap) return NULL;
  uint64_t h = name_hash(p, n);
  for (mgri_obj *o = s->names[h & (s->names_cap - 1)]; o; o = o->name_next)
    if (o->namehash == h && o->namelen == n && !memcmp(o->name, p, n)) return o;
  return NULL;
}

static int name_add(mgri_store *s, mgri_obj *o, const char *p, size_t n) {
  if (s->nnames + 1 > s->names_cap) {
    size_t cap = s->names_cap ? s->names_cap * 2 : 16;
    mgri_obj **b = calloc(cap, sizeof *b);
    if (!b) return MGR_ENOMEM;
    for (size_t i = 0; i < s->names_cap; i++) {
      mgri_obj *x = s->names[i];
      while (x) {
        mgri_obj *nx = x->name_next;
        x->name_next = b[x->namehash & (cap - 1)];
        b[x->namehash & (cap - 1)] = x;
        x = nx;
      }
    }
    free(s->names);
    s->names = b;
    s->names_cap = cap;
  }
  o->name = malloc(n + 1);
  if (!o->name) return MGR_ENOMEM;
  memcpy(o->name, p, n);
  o->name[n] = '\0';
  o->namelen = n;
  o->namehash = name_hash(p, n);
  mgri_obj **head = &s->names[o->namehash & (s->names_cap - 1)];
  o->name_next = *head;
  *head = o;
  s->nnames++;
  return MGR_OK;
}

static void name_remove(mgri_store *s, mgri_obj *o) {
  if (!o->name) return;
  mgri_obj **pp = &s->names[o->namehash & (s->names_cap - 1)];
  while (*pp != o) pp = &(*pp)->name_next;
  *pp = o->name_next;
  free(o->name);
  o->name = NULL;
  o->namelen = 0;
  o->name_next = NULL;
  s->nnames--;
}

/* --- objects and references ----------------------------------------------- */

mgri_obj *mgri_obj_find(const mgri_store *s, uint64_t id) {
  return mgri_u64map_get(&s->objs, id);
}

static void queue_drop(void *ctx, uint64_t id) {
  mgri_store *s = ctx;
  if (s->ndrop == s->drop_cap) {
    size_t cap = s->drop_cap ? s->drop_cap * 2 : 64;
    uint64_t *d = realloc(s->drop, cap * sizeof *d);
    if (!d) {
      /* Cannot queue: the target keeps one count too many (a leak of one
       * object, never a use after free). */
      return;
    }
    s->drop = d;
    s->drop_cap = cap;
  }
  s->drop[s->ndrop++] = id;
}

static void incref(void *ctx, uint64_t id) {
  mgri_obj *o = mgri_obj_find(ctx, id);
  if (o) o->refs++;
}

void mgri_sv_drop(mgri_store *s, mgr_value *v) {
  mgri_value_refs(v, queue_drop, s);
  mgr_value_free(v);
}

void mgri_sv_drop_later(mgri_store *s, mgr_value *v) {
  mgri_value_refs(v, queue_drop, s);
  if (v->type == MGR_T_TEXT || v->type == MGR_T_BYTES ||
      v->type == MGR_T_ARRAY || v->type == MGR_T_MAP) {
    if (s->nlater == s->later_cap) {
      size_t cap = s->later_cap ? s->later_cap * 2 : 8;
      mgr_value *l = realloc(s->later, cap * sizeof *l);
      if (!l) {
        /* Cannot defer: leak the block rather than free what the reply
         * borrows. Practically unreachable (8 slots suffice per op). */
        *v = mgr_nil();
        return;
      }
      s->later = l;
      s->later_cap = cap;
    }
    s->later[s->nlater++] = *v;
  }
  *v = mgr_nil();
}

typedef struct check_ctx {
  const mgri_store *s;
  const mgr_value *bad;
} check_ctx;

static bool refs_ok(const mgri_store *s, const mgr_value *v,
                    const mgr_value **bad) {
  switch (v->type) {
  case MGR_T_REF: {
    mgri_obj *o = mgri_obj_find(s, v->u.ref.id);
    if (!o || o->kind != v->u.ref.kind) {
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

int mgri_sv_make_checked(mgri_octx *x, const mgr_value *src, mgr_value *dst) {
  switch (src->type) {
  case MGR_T_NIL:
  case MGR_T_BOOL:
  case MGR_T_INT:
  case MGR_T_FLOAT:
    *dst = *src;
    return MGR_OK;
  case MGR_T_REF:
    *dst = *src;
    incref(x->s, src->u.ref.id);
    return MGR_OK;
  default:
    break;
  }
  size_t size = mgri_value_size(src);
  if (size == SIZE_MAX)
    return mgri_fail(x, MGR_ELIMIT, "MemoryError: value too large");
  void *mem = NULL;
  if (size) {
    mem = malloc(size);
    if (!mem) return mgri_fail(x, MGR_ELIMIT, "MemoryError: out of memory");
  }
  mgri_value_copy_into(dst, src, mem);
  mgri_value_refs(dst, incref, x->s);
  return MGR_OK;
}

int mgri_sv_make(mgri_octx *x, const mgr_value *src, mgr_value *dst) {
  int rc = mgri_sv_check(x, src);
  if (rc) return rc;
  return mgri_sv_make_checked(x, src, dst);
}

void mgri_obj_clear(mgri_store *s, mgri_obj *o) {
  switch (o->kind) {
  case MGR_K_DICT:
    mgri_dict_clear(s, &o->u.d);
    break;
  case MGR_K_LIST:
    mgri_list_clear(s, &o->u.l);
    break;
  case MGR_K_VAR:
    mgri_sv_drop(s, &o->u.var);
    break;
  case MGR_K_LOCK:
  case MGR_K_RLOCK:
    mgri_lock_destroy(s, o);
    break;
  default:
    break;
  }
}

static void obj_destroy(mgri_store *s, mgri_obj *o) {
  MGRI_TRACE(object_destroy, o->id, o->kind);
  mgri_u64map_del(&s->objs, o->id);
  if (o->prev) o->prev->next = o->next;
  else s->first = o->next;
  if (o->next) o->next->prev = o->prev;
  else s->last = o->prev;
  s->nobjs--;
  name_remove(s, o);
  mgri_obj_clear(s, o); /* its stored refs join the drop queue */
  free(o);
}

static void maybe_destroy(mgri_store *s, mgri_obj *o) {
  if (o->refs == 0 && !o->name) obj_destroy(s, o);
}

/* Processes the drop queue until empty: iterative, so chains of any length
 * (a list holding a list holding ...) cannot overflow the stack. */
static void process_drops(mgri_store *s) {
  if (s->in_drop) return;
  s->in_drop = true;
  while (s->ndrop) {
    uint64_t id = s->drop[--s->ndrop];
    mgri_obj *o = mgri_obj_find(s, id);
    if (!o || o->refs == 0) continue;
    o->refs--;
    maybe_destroy(s, o);
  }
  s->in_drop = false;
}

static mgri_obj *obj_new(mgri_octx *x, uint32_t kind) {
  mgri_store *s = x->s;
  size_t max = s->cfg.objects_max ? s->cfg.objects_max : MGRI_OBJECTS_MAX_DEFAULT;
  if (s->nobjs >= max) {
    mgri_fail(x, MGR_ELIMIT, "MemoryError: too many shared objects (%zu)", max);
    return NULL;
  }
  mgri_obj *o = calloc(1, sizeof *o);
  if (!o) {
    mgri_fail(x, MGR_ELIMIT, "MemoryError: out of memory");
    return NULL;
  }
  o->id = s->next_id;
  o->kind = kind;
  if (mgri_u64map_put(&s->objs, o->id, o)) {
    free(o);
    mgri_fail(x, MGR_ELIMIT, "MemoryError: out of memory");
    return NULL;
  }
  s->next_id++;
  o->prev = s->last;
  if (s->last) s->last->next = o;
  else s->first = o;
  s->last = o;
  s->nobjs++;
  MGRI_TRACE(object_create, (int64_t)x->c->pid, x->c->id, x->rq->rid, o->id,
             o->kind);
  return o;
}

/* Adds o to the caller's session (a set: at most one reference). */
static int session_hold(mgri_octx *x, mgri_obj *o) {
  mgri_session *se = x->c->sess;
  if (mgri_u64map_get(&se->refs, o->id)) return MGR_OK;
  if (mgri_u64map_put(&se->refs, o->id, (void *)1))
    return mgri_fail(x, MGR_ELIMIT, "MemoryError: out of memory");
  o->refs++;
  return MGR_OK;
}

/* The init argument's shape for kind (spec 9.1: CREATE), and its refs. */
static int init_check(mgri_octx *x, uint32_t kind, const mgr_value *init) {
  if (!init || init->type == MGR_T_NIL) return MGR_OK;
  mgr_type want = kind == MGR_K_DICT ? MGR_T_MAP : MGR_T_ARRAY;
  if (kind == MGR_K_LOCK || kind == MGR_K_RLOCK)
    return mgri_fail(x, MGR_ETYPE, "TypeError: %s() takes no initial value",
                     mgri_kind_name(kind));
  if (kind != MGR_K_VAR && init->type != want)
    return mgri_fail(x, MGR_ETYPE, "TypeError: a %s starts from %s or None, not %s",
                     mgri_kind_name(kind), want == MGR_T_MAP ? "a map" : "an array",
                     mgri_tname(init));
  return mgri_sv_check(x, init);
}

/* Kind-specific initialisation; on error the object is destroyed. */
static int obj_init(mgri_octx *x, mgri_obj *o, const mgr_value *init) {
  int rc = init_check(x, o->kind, init);
  if (rc) return rc;
  switch (o->kind) {
  case MGR_K_DICT:
    return mgri_dict_init(x, o, init);
  case MGR_K_LIST:
    return mgri_list_init(x, o, init);
  case MGR_K_VAR:
    if (!init) {
      o->u.var = mgr_nil();
      return MGR_OK;
    }
    return mgri_sv_make(x, init, &o->u.var);
  default:
    return MGR_OK;
  }
}

static int arg_kind(mgri_octx *x, size_t i, uint32_t *kind) {
  const mgr_value *k = &x->args[i];
  if (k->type != MGR_T_INT)
    return mgri_fail(x, MGR_ETYPE, "TypeError: kind must be int, not %s",
                     mgri_tname(k));
  if (k->u.i < MGR_K_DICT || k->u.i > MGR_K_RLOCK)
    return mgri_fail(x, MGR_EVALUE, "ValueError: no object kind %lld (1..5)",
                     (long long)k->u.i);
  *kind = (uint32_t)k->u.i;
  return MGR_OK;
}

/* Creates an object of kind with init (NULL: none), held by the caller's
 * session (and named when name != NULL). */
static int create(mgri_octx *x, uint32_t kind, const mgr_value *init,
                  const char *name, size_t namelen, mgri_obj **out) {
  mgri_obj *o = obj_new(x, kind);
  if (!o) return MGR_ELIMIT;
  int rc = obj_init(x, o, init);
  if (!rc && name && name_add(x->s, o, name, namelen))
    rc = mgri_fail(x, MGR_ELIMIT, "MemoryError: out of memory");
  if (!rc) rc = session_hold(x, o);
  if (rc) {
    /* obj_init left nothing behind (or everything it made is released with
     * the object's contents). */
    o->refs = 0;
    obj_destroy(x->s, o);
    return rc;
  }
  *out = o;
  return MGR_OK;
}

static mgr_value ref_of(const mgri_obj *o) {
  mgr_value v = mgr_nil();
  v.type = MGR_T_REF;
  v.u.ref.id = o->id;
  v.u.ref.kind = o->kind;
  return v;
}

/* --- sessions and connections --------------------------------------------- */

void mgri_store_config_init(mgri_store_config *cfg) {
  memset(cfg, 0, sizeof *cfg);
  mgri_limits_default(&cfg->limits);
}

mgri_store *mgri_store_new(const mgri_store_config *cfg) {
  mgri_store *s = calloc(1, sizeof *s);
  if (!s) return NULL;
  s->cfg = *cfg;
  if (!s->cfg.limits.frame_max) s->cfg.limits.frame_max = MGRI_FRAME_MAX_DEFAULT;
  if (s->cfg.limits.frame_max > MGRI_FRAME_MAX_CEIL)
    s->cfg.limits.frame_max = MGRI_FRAME_MAX_CEIL;
  s->next_id = 1;
  s->next_session = 1;
  s->next_conn = 1;
  mgri_arena_init(&s->scratch, 0);
  mgri_arena_init(&s->batch, 0);
  return s;
}

mgri_sconn *mgri_store_conn_open(mgri_store *s, void *user) {
  size_t max = s->cfg.conns_max ? s->cfg.conns_max : MGRI_CONNS_MAX_DEFAULT;
  if (s->nconns >= max) return NULL;
  mgri_sconn *c = calloc(1, sizeof *c);
  if (!c) return NULL;
  c->id = s->next_conn++;
  c->user = user;
  s->nconns++;
  return c;
}

void *mgri_sconn_user(const mgri_sconn *c) { return c->user; }
uint64_t mgri_sconn_id(const mgri_sconn *c) { return c->id; }
uint64_t mgri_sconn_session(const mgri_sconn *c) {
  return c->sess ? c->sess->id : 0;
}

static void session_end(mgri_store *s, mgri_session *se) {
  for (size_t i = 0; i < se->refs.cap; i++)
    if (se->refs.keys[i]) queue_drop(s, se->refs.keys[i]);
  mgri_u64map_fini(&se->refs);
  mgri_u64map_del(&s->sessions, se->id);
  free(se);
}

void mgri_store_conn_close(mgri_store *s, mgri_sconn *c) {
  MGRI_TRACE(conn_close, (int64_t)c->pid, c->id, mgri_sconn_session(c));
  mgri_lock_conn_close(s, c);
  if (c->sess && --c->sess->nconns == 0) session_end(s, c->sess);
  s->nconns--;
  free(c);
  process_drops(s);
}

void mgri_store_free(mgri_store *s) {
  if (!s) return;
  /* No replies, no counting: free everything. */
  s->cfg.reply = NULL;
  for (size_t i = 0; i < s->sessions.cap; i++) {
    mgri_session *se = s->sessions.vals[i];
    if (!se) continue;
    mgri_u64map_fini(&se->refs);
    free(se);
  }
  mgri_u64map_fini(&s->sessions);
  mgri_obj *o = s->first;
  while (o) {
    mgri_obj *next = o->next;
    if (o->kind == MGR_K_LOCK || o->kind == MGR_K_RLOCK) {
      /* Parked waiters are freed with their lock; connections are the
       * caller's to close first, but tolerate them still open. */
      o->u.lk.owner = NULL;
    }
    mgri_obj_clear(s, o);
    free(o->name);
    free(o);
    o = next;
  }
  mgri_u64map_fini(&s->objs);
  free(s->names);
  free(s->drop);
  for (size_t i = 0; i < s->nlater; i++) mgr_value_free(&s->later[i]);
  free(s->later);
  free(s->heap);
  while (s->free_waiters) {
    mgri_waiter *w = s->free_waiters;
    s->free_waiters = w->lnext;
    free(w);
  }
  mgri_arena_fini(&s->scratch);
  mgri_arena_fini(&s->batch);
  free(s);
}

size_t mgri_store_object_count(const mgri_store *s) { return s->nobjs; }
size_t mgri_store_parked_count(const mgri_store *s) { return s->nparked; }

int mgri_store_object_info(const mgri_store *s, uint64_t id, uint32_t *kind,
                           uint64_t *refs, const char **name) {
  mgri_obj *o = mgri_obj_find(s, id);
  if (!o) return MGR_ENOTFOUND;
  if (kind) *kind = o->kind;
  if (refs) *refs = o->refs;
  if (name) *name = o->name;
  return MGR_OK;
}

void mgri_store_after_reply(mgri_store *s) {
  for (size_t i = 0; i < s->nlater; i++) mgr_value_free(&s->later[i]);
  s->nlater = 0;
  process_drops(s);
  mgri_arena_reset(&s->scratch);
}

/* --- manager ops ----------------------------------------------------------- */

static bool is_uint(const mgr_value *v) {
  return v->type == MGR_T_INT && v->u.i >= 0;
}

int mgri_op_HELLO(mgri_octx *x) {
  mgri_store *s = x->s;
  for (size_t i = 0; i < 4; i++)
    if (!is_uint(&x->args[i]))
      return mgri_fail(x, MGR_ETYPE,
                       "TypeError: HELLO argument %zu must be an unsigned int",
                       i + 1);
  int64_t lo = x->args[0].u.i, hi = x->args[1].u.i;
  int64_t v = hi < MGR_PROTOCOL_MAX ? hi : MGR_PROTOCOL_MAX;
  if (lo > hi || v < lo || v < MGR_PROTOCOL_MIN)
    return mgri_fail(x, MGR_EVERSION,
                     "no common protocol version: client %lld..%lld, server "
                     "%d..%d",
                     (long long)lo, (long long)hi, MGR_PROTOCOL_MIN,
                     MGR_PROTOCOL_MAX);
  uint64_t sid = (uint64_t)x->args[3].u.i;
  mgri_session *se;
  if (sid == 0) {
    se = calloc(1, sizeof *se);
    if (!se) return mgri_fail(x, MGR_ELIMIT, "MemoryError: out of memory");
    se->id = s->next_session;
    if (mgri_u64map_put(&s->sessions, se->id, se)) {
      free(se);
      return mgri_fail(x, MGR_ELIMIT, "MemoryError: out of memory");
    }
    s->next_session++;
  } else {
    se = mgri_u64map_get(&s->sessions, sid);
    if (!se)
      return mgri_fail(x, MGR_ENOTFOUND,
                       "LookupError: no session %llu (it ended when its last "
                       "connection closed)",
                       (unsigned long long)sid);
  }
  se->nconns++;
  x->c->sess = se;
  x->c->hello = true;
  x->c->pid = (uint64_t)x->args[2].u.i;
  x->action = MGRI_DISPATCH_OK; /* HELLO failures close (set by dispatch) */
  mgr_value *r = mgri_scratch(x, 5);
  if (!r) return MGR_ELIMIT;
  r[0] = mgr_int(v);
  r[1] = mgr_int((int64_t)s->cfg.server_pid);
  r[2] = mgr_int((int64_t)x->c->id);
  r[3] = mgr_int((int64_t)se->id);
  r[4] = mgr_int((int64_t)s->cfg.limits.frame_max);
  x->result = mgr_array(r, 5);
  return MGR_OK;
}

int mgri_op_PING(mgri_octx *x) {
  if (x->nargs) x->result = x->args[0];
  return MGR_OK;
}

int mgri_op_CREATE(mgri_octx *x) {
  uint32_t kind = 0;
  int rc = arg_kind(x, 0, &kind);
  if (rc) return rc;
  mgri_obj *o;
  rc = create(x, kind, x->nargs > 1 ? &x->args[1] : NULL, NULL, 0, &o);
  if (rc) return rc;
  x->result = ref_of(o);
  return MGR_OK;
}

int mgri_op_OPEN(mgri_octx *x) {
  const mgr_value *name = &x->args[0];
  if (name->type != MGR_T_TEXT)
    return mgri_fail(x, MGR_ETYPE, "TypeError: name must be str, not %s",
                     mgri_tname(name));
  if (name->u.s.len == 0 || name->u.s.len > MGRI_NAME_MAX)
    return mgri_fail(x, MGR_EVALUE,
                     "ValueError: name must be 1 to %u bytes, not %zu",
                     MGRI_NAME_MAX, name->u.s.len);
  if (memchr(name->u.s.ptr, '\0', name->u.s.len))
    return mgri_fail(x, MGR_EVALUE, "ValueError: name contains NUL");
  uint32_t kind = 0;
  int rc = arg_kind(x, 1, &kind);
  if (rc) return rc;
  const mgr_value *init = x->nargs > 2 ? &x->args[2] : NULL;
  if ((rc = init_check(x, kind, init))) return rc;
  bool may_create = true;
  if (x->nargs > 3) {
    if (x->args[3].type != MGR_T_BOOL)
      return mgri_fail(x, MGR_ETYPE, "TypeError: create must be bool, not %s",
                       mgri_tname(&x->args[3]));
    may_create = x->args[3].u.b;
  }
  mgri_obj *o = name_find(x->s, name->u.s.ptr, name->u.s.len);
  bool created = false;
  if (o) {
    if (o->kind != kind)
      return mgri_fail(x, MGR_ETYPE, "TypeError: '%s' is a %s, not a %s",
                       o->name, mgri_kind_name(o->kind), mgri_kind_name(kind));
    rc = session_hold(x, o);
    if (rc) return rc;
  } else {
    if (!may_create)
      return mgri_fail(x, MGR_ENOTFOUND, "LookupError: no object named '%.*s'",
                       (int)name->u.s.len, name->u.s.ptr);
    rc = create(x, kind, init, name->u.s.ptr,
                name->u.s.len, &o);
    if (rc) return rc;
    created = true;
  }
  mgr_value *r = mgri_scratch(x, 2);
  if (!r) return MGR_ELIMIT;
  r[0] = ref_of(o);
  r[1] = mgr_bool(created);
  x->result = mgr_array(r, 2);
  return MGR_OK;
}

int mgri_op_RELEASE(mgri_octx *x) {
  uint64_t id = x->rq->oid;
  if (!mgri_u64map_del(&x->c->sess->refs, id))
    return mgri_fail(x, MGR_ENOTFOUND,
                     "LookupError: object #%llu is not held by this session",
                     (unsigned long long)id);
  queue_drop(x->s, id);
  return MGR_OK;
}

int mgri_op_RETAIN(mgri_octx *x) {
  const mgr_value *ids = &x->args[0];
  if (ids->type != MGR_T_ARRAY)
    return mgri_fail(x, MGR_ETYPE, "TypeError: RETAIN takes an array of ids");
  if (ids->u.a.len > MGRI_RETAIN_MAX)
    return mgri_fail(x, MGR_ELIMIT, "RETAIN of more than %u ids",
                     MGRI_RETAIN_MAX);
  for (size_t i = 0; i < ids->u.a.len; i++) {
    const mgr_value *id = &ids->u.a.items[i];
    if (!is_uint(id))
      return mgri_fail(x, MGR_ETYPE, "TypeError: object ids are unsigned ints");
    if (!mgri_obj_find(x->s, (uint64_t)id->u.i))
      return mgri_fail(x, MGR_ENOTFOUND, "LookupError: no shared object #%lld",
                       (long long)id->u.i);
  }
  for (size_t i = 0; i < ids->u.a.len; i++) {
    int rc = session_hold(x, mgri_obj_find(x->s, (uint64_t)ids->u.a.items[i].u.i));
    if (rc) return rc; /* out of memory: some retained */
  }
  return MGR_OK;
}

int mgri_op_LIST(mgri_octx *x) {
  mgri_store *s = x->s;
  mgr_value *rows = mgri_scratch(x, s->nobjs);
  mgr_value *cells = mgri_scratch(x, s->nobjs * 4);
  if (!rows || !cells) return MGR_ELIMIT;
  size_t i = 0;
  for (mgri_obj *o = s->first; o; o = o->next, i++) {
    mgr_value *c = &cells[i * 4];
    c[0] = mgr_int((int64_t)o->id);
    c[1] = mgr_int(o->kind);
    c[2] = o->name ? mgr_textn(o->name, o->namelen) : mgr_nil();
    c[3] = mgr_int((int64_t)o->refs);
    rows[i] = mgr_array(c, 4);
  }
  x->result = mgr_array(rows, s->nobjs);
  return MGR_OK;
}

int mgri_op_UNLINK(mgri_octx *x) {
  const mgr_value *name = &x->args[0];
  if (name->type != MGR_T_TEXT)
    return mgri_fail(x, MGR_ETYPE, "TypeError: name must be str, not %s",
                     mgri_tname(name));
  mgri_obj *o = name_find(x->s, name->u.s.ptr, name->u.s.len);
  if (!o)
    return mgri_fail(x, MGR_ENOTFOUND, "LookupError: no object named '%.*s'",
                     (int)name->u.s.len, name->u.s.ptr);
  name_remove(x->s, o);
  /* Destroyed after the reply if nothing holds it. */
  o->refs++;
  queue_drop(x->s, o->id);
  return MGR_OK;
}

int mgri_op_SHUTDOWN(mgri_octx *x) {
  x->action = MGRI_DISPATCH_SHUTDOWN;
  return MGR_OK;
}
