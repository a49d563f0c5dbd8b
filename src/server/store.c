/* mgr — the store's life: creating it (its memory accounting, its hash
 * key, the op table built from the manager's ops and THE kind table),
 * connections opening and closing, introspection, and freeing it all. */
#include "../trace/trace.h"
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "mgr/error.h"
#include "server/dispatch.h"
#include "server/kind.h"
#include "server/kinds/kinds.h"
#include "server/manager.h"
#include "server/objects.h"
#include "server/wait.h"

_Static_assert(MGRI_OP_ARRAY_TYPECODE <= MGRI_OP_CODE_MAX,
               "op codes fit the store's op table");

void mgri_store_config_init(mgri_store_config *cfg) {
  memset(cfg, 0, sizeof *cfg);
  mgri_limits_default(&cfg->limits);
}

/* 16 random bytes for the hash key: getrandom, which blocks only until the
 * kernel's pool is first seeded at boot. */
static int random_key(mgri_sipkey *k) {
  uint64_t w[2];
  size_t got = 0;
  while (got < sizeof w) {
    ssize_t n = getrandom((char *)w + got, sizeof w - got, 0);
    if (n < 0) return MGR_ESYS;
    got += (size_t)n;
  }
  k->k0 = w[0];
  k->k1 = w[1];
  return MGR_OK;
}

static void add_ops(mgri_store *s, uint32_t kind, const mgri_handler *ops,
                    size_t n) {
  for (size_t i = 0; i < n; i++)
    if (ops[i].code <= MGRI_OP_CODE_MAX) s->ops[kind][ops[i].code] = &ops[i];
}

mgri_store *mgri_store_new(const mgri_store_config *cfg) {
  mgri_store *s = calloc(1, sizeof *s);
  if (!s) return NULL;
  s->cfg = *cfg;
  mgri_limits *lim = &s->cfg.limits;
  if (!lim->frame_max) lim->frame_max = MGRI_FRAME_MAX_DEFAULT;
  if (lim->frame_max > MGRI_FRAME_MAX_CEIL)
    lim->frame_max = MGRI_FRAME_MAX_CEIL;
  if (!s->cfg.memory_max) s->cfg.memory_max = MGRI_MEMORY_MAX_DEFAULT;
  if (!s->cfg.work_budget) s->cfg.work_budget = MGRI_WORK_BUDGET;
  if (!s->cfg.slow_ns)
    s->cfg.slow_ns = (uint64_t)MGRI_SLOW_MS_DEFAULT * 1000000;
  s->mem.max = s->cfg.memory_max == SIZE_MAX ? 0 : s->cfg.memory_max;
  if (s->cfg.hash_key_set) {
    s->hkey.k0 = s->cfg.hash_key[0];
    s->hkey.k1 = s->cfg.hash_key[1];
  } else if (random_key(&s->hkey)) {
    free(s);
    return NULL;
  }
  s->kinds = s->cfg.kinds ? s->cfg.kinds : mgri_kinds;
  add_ops(s, 0, mgri_manager_ops, mgri_manager_nops);
  add_ops(s, 0, &mgri_batch_op, 1);
  for (uint32_t k = 1; k <= MGRI_KIND_MAX; k++) {
    const mgri_kind *kd = s->kinds[k];
    if (!kd) continue;
    /* The ops of the kind it extends first, then its own (spec 5.2). */
    const mgri_kind *base =
        kd->extends <= MGRI_KIND_MAX ? s->kinds[kd->extends] : NULL;
    if (kd->extends && base) add_ops(s, k, base->ops, base->nops);
    add_ops(s, k, kd->ops, kd->nops);
  }
  s->next_id = 1;
  s->next_session = 1;
  s->next_conn = 1;
  mgri_u64map_init(&s->objs, &s->mem, MGRI_MEM_STORE);
  mgri_u64map_init(&s->sessions, &s->mem, MGRI_MEM_STORE);
  mgri_arena_init(&s->scratch, 0);
  mgri_arena_set_mem(&s->scratch, &s->mem, MGRI_MEM_ARENAS);
  mgri_arena_init(&s->batch, 0);
  mgri_arena_set_mem(&s->batch, &s->mem, MGRI_MEM_ARENAS);
  return s;
}

void mgri_store_free(mgri_store *s) {
  if (!s) return;
  /* No replies, no counting: free everything. Connections are the
   * caller's to close first; their parked requests go with their objects. */
  s->cfg.reply = NULL;
  mgri_objects_free_all(s);
  mgri_mem_free(&s->mem, MGRI_MEM_PARKED, s->heap);
  mgri_arena_fini(&s->scratch);
  mgri_arena_fini(&s->batch);
  free(s);
}

mgri_mem *mgri_store_mem(mgri_store *s) { return &s->mem; }
mgri_store_stats *mgri_store_stats_of(mgri_store *s) { return &s->st; }

bool mgri_store_reply_stored(const mgri_store *s) { return s->emit_stored; }

void mgri_store_adopt(mgri_store *s, void **block) { s->adopt = block; }

bool mgri_store_pin(mgri_store *s, void *p) { return mgri_obj_pin(s, p); }

void mgri_store_unpin(mgri_store *s, void *p) { mgri_obj_unpin(s, p); }

void mgri_store_count_limit(mgri_store *s, int why) {
  if (why >= 0 && why < MGRI_WHY_N) s->st.refused[why]++;
}

/* --- connections ---------------------------------------------------------- */

mgri_sconn *mgri_store_conn_open(mgri_store *s, void *user) {
  size_t max = s->cfg.conns_max ? s->cfg.conns_max : MGRI_CONNS_MAX_DEFAULT;
  if (s->nconns >= max) return NULL;
  mgri_sconn *c = mgri_mem_calloc(&s->mem, MGRI_MEM_STORE, sizeof *c);
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
bool mgri_sconn_hello(const mgri_sconn *c) { return c->hello; }
size_t mgri_sconn_parked(const mgri_sconn *c) { return c->nwaiters; }

void mgri_store_conn_close(mgri_store *s, mgri_sconn *c) {
  MGRI_TRACE(conn_close, (int64_t)c->pid, c->id, mgri_sconn_session(c));
  mgri_wait_conn_closed(s, c);
  /* Each owned object's kind decides (a lock is released and marked). */
  while (c->owned) {
    mgri_obj *o = c->owned;
    mgri_obj_unown(o);
    if (o->kind->owner_closed) o->kind->owner_closed(s, o);
  }
  if (c->sess) mgri_session_leave(s, c->sess);
  s->nconns--;
  mgri_mem_free(&s->mem, MGRI_MEM_STORE, c);
  mgri_store_after_reply(s);
}

/* --- introspection ----------------------------------------------------------- */

size_t mgri_store_object_count(const mgri_store *s) { return s->nobjs; }
size_t mgri_store_parked_count(const mgri_store *s) { return s->nparked; }

int mgri_store_object_info(const mgri_store *s, uint64_t id, uint32_t *kind,
                           uint64_t *refs, const char **name) {
  mgri_obj *o = mgri_obj_find(s, id);
  if (!o) return MGR_ENOTFOUND;
  if (kind) *kind = o->kind->id;
  if (refs) *refs = o->refs;
  if (name) *name = o->name;
  return MGR_OK;
}

size_t mgri_store_object_bytes(const mgri_store *s, uint64_t id) {
  mgri_obj *o = mgri_obj_find(s, id);
  return o ? o->bytes : 0;
}

void mgri_store_object_refs(const mgri_store *s, uint64_t id,
                            void (*fn)(void *ctx, uint64_t ref), void *ctx) {
  mgri_obj *o = mgri_obj_find(s, id);
  if (o && o->kind->refs) o->kind->refs(o, fn, ctx);
}
