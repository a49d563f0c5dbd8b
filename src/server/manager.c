/* mgr — the manager ops (spec 9.1): HELLO, PING, CREATE, OPEN, RELEASE,
 * RETAIN, LIST, UNLINK, SHUTDOWN, STATS and DUMP. BATCH is dispatch's (it
 * re-enters dispatch). Each op allocates its result before it changes
 * anything, so a failure leaves the store as it was. */
#include "server/manager.h"

#include <string.h>

#include "cbor/model.h"
#include "mgr/error.h"
#include "mgr/version.h"
#include "server/kind.h"
#include "server/objects.h"
#include "server/reply.h"

static bool is_uint(const mgr_value *v) {
  return v->type == MGR_T_INT && v->u.i >= 0;
}

static int op_hello(mgri_octx *x) {
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
  mgri_session *se = NULL;
  if (sid != 0 && !(se = mgri_session_find(s, sid)))
    return mgri_fail(x, MGR_ENOTFOUND,
                     "LookupError: no session %llu (it ended when its last "
                     "connection closed)",
                     (unsigned long long)sid);
  mgr_value *r = mgri_scratch(x, 5);
  if (!r) return MGR_ELIMIT;
  if (!se && !(se = mgri_session_new(x))) return MGR_ELIMIT;
  se->nconns++;
  x->c->sess = se;
  x->c->hello = true;
  x->c->pid = (uint64_t)x->args[2].u.i;
  x->action = MGRI_DISPATCH_OK; /* HELLO failures close (set by dispatch) */
  r[0] = mgr_int(v);
  r[1] = mgr_int((int64_t)s->cfg.server_pid);
  r[2] = mgr_int((int64_t)x->c->id);
  r[3] = mgr_int((int64_t)se->id);
  r[4] = mgr_int((int64_t)s->cfg.limits.frame_max);
  x->result = mgr_array(r, 5);
  return MGR_OK;
}

static int op_ping(mgri_octx *x) {
  if (x->nargs) x->result = x->args[0];
  return MGR_OK;
}

/* The kind named by argument i (1..MGRI_KIND_MAX). */
static int arg_kind(mgri_octx *x, size_t i, const mgri_kind **kind) {
  const mgr_value *k = &x->args[i];
  if (k->type != MGR_T_INT)
    return mgri_fail(x, MGR_ETYPE, "TypeError: kind must be int, not %s",
                     mgri_tname(k));
  if (k->u.i < 1 || k->u.i > (int64_t)MGRI_KIND_MAX || !x->s->kinds[k->u.i])
    return mgri_fail(x, MGR_EVALUE, "ValueError: no object kind %lld (1..%u)",
                     (long long)k->u.i, MGRI_KIND_MAX);
  *kind = x->s->kinds[k->u.i];
  return MGR_OK;
}

/* The init argument's shape for kind (spec 9.1: CREATE), and its refs. */
static int init_check(mgri_octx *x, const mgri_kind *kind,
                      const mgr_value *init) {
  if (kind->init_check) {
    int rc = kind->init_check(x, kind->id, init);
    if (rc) return rc;
  }
  return init ? mgri_sv_check(x, init) : MGR_OK;
}

static int op_create(mgri_octx *x) {
  const mgri_kind *kind = NULL;
  int rc = arg_kind(x, 0, &kind);
  if (rc) return rc;
  const mgr_value *init = x->nargs > 1 ? &x->args[1] : NULL;
  if ((rc = init_check(x, kind, init))) return rc;
  mgri_obj *o;
  rc = mgri_obj_create(x, kind, init, NULL, 0, &o);
  if (rc) return rc;
  x->result = mgri_obj_ref(o);
  return MGR_OK;
}

static int op_open(mgri_octx *x) {
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
  const mgri_kind *kind = NULL;
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
  mgr_value *r = mgri_scratch(x, 2);
  if (!r) return MGR_ELIMIT;
  mgri_obj *o = mgri_name_find(x->s, name->u.s.ptr, name->u.s.len);
  bool created = false;
  if (o) {
    if (o->kind != kind)
      return mgri_fail(x, MGR_ETYPE, "TypeError: '%s' is a %s, not a %s",
                       o->name, mgri_kind_name(o->kind->id),
                       mgri_kind_name(kind->id));
    rc = mgri_session_hold(x, o);
    if (rc) return rc;
  } else {
    if (!may_create)
      return mgri_fail(x, MGR_ENOTFOUND, "LookupError: no object named '%.*s'",
                       (int)name->u.s.len, name->u.s.ptr);
    rc = mgri_obj_create(x, kind, init, name->u.s.ptr, name->u.s.len, &o);
    if (rc) return rc;
    created = true;
  }
  r[0] = mgri_obj_ref(o);
  r[1] = mgr_bool(created);
  x->result = mgr_array(r, 2);
  return MGR_OK;
}

static int op_release(mgri_octx *x) {
  uint64_t id = x->rq->oid;
  if (!mgri_session_release(x->s, x->c, id))
    return mgri_fail(x, MGR_ENOTFOUND,
                     "LookupError: object #%llu is not held by this session",
                     (unsigned long long)id);
  return MGR_OK;
}

static int op_retain(mgri_octx *x) {
  const mgr_value *ids = &x->args[0];
  if (ids->type != MGR_T_ARRAY)
    return mgri_fail(x, MGR_ETYPE, "TypeError: RETAIN takes an array of ids");
  if (ids->u.a.len > MGRI_RETAIN_MAX)
    return mgri_limit(x, MGRI_WHY_SIZE,
                      "MemoryError: RETAIN of more than %u ids",
                      MGRI_RETAIN_MAX);
  for (size_t i = 0; i < ids->u.a.len; i++) {
    const mgr_value *id = &ids->u.a.items[i];
    if (!is_uint(id))
      return mgri_fail(x, MGR_ETYPE, "TypeError: object ids are unsigned ints");
    if (!mgri_obj_find(x->s, (uint64_t)id->u.i))
      return mgri_fail(x, MGR_ENOTFOUND, "LookupError: no shared object #%lld",
                       (long long)id->u.i);
  }
  /* All or none: the room first, then holds that cannot fail. */
  int rc = mgri_session_reserve(x, ids->u.a.len);
  if (rc) return rc;
  for (size_t i = 0; i < ids->u.a.len; i++)
    mgri_session_hold(x, mgri_obj_find(x->s, (uint64_t)ids->u.a.items[i].u.i));
  return MGR_OK;
}

static int op_list(mgri_octx *x) {
  mgri_store *s = x->s;
  mgr_value *rows = mgri_scratch(x, s->nobjs);
  mgr_value *cells = rows ? mgri_scratch(x, s->nobjs * 4) : NULL;
  if (!cells) return MGR_ELIMIT;
  size_t i = 0;
  for (mgri_obj *o = s->first; o; o = o->next, i++) {
    mgr_value *c = &cells[i * 4];
    c[0] = mgr_int((int64_t)o->id);
    c[1] = mgr_int(o->kind->id);
    c[2] = o->name ? mgr_textn(o->name, o->namelen) : mgr_nil();
    c[3] = mgr_int((int64_t)o->refs);
    rows[i] = mgr_array(c, 4);
  }
  x->result = mgr_array(rows, s->nobjs);
  return MGR_OK;
}

static int op_unlink(mgri_octx *x) {
  const mgr_value *name = &x->args[0];
  if (name->type != MGR_T_TEXT)
    return mgri_fail(x, MGR_ETYPE, "TypeError: name must be str, not %s",
                     mgri_tname(name));
  mgri_obj *o = mgri_name_find(x->s, name->u.s.ptr, name->u.s.len);
  if (!o)
    return mgri_fail(x, MGR_ENOTFOUND, "LookupError: no object named '%.*s'",
                     (int)name->u.s.len, name->u.s.ptr);
  mgri_name_remove(x->s, o); /* destroyed after the reply if nothing holds it */
  return MGR_OK;
}

static int op_shutdown(mgri_octx *x) {
  x->action = MGRI_DISPATCH_SHUTDOWN;
  return MGR_OK;
}

/* --- STATS: a map of maps, every key text ---------------------------------- */

typedef struct mapb {
  mgr_value *kv;
  size_t n, cap; /* pairs */
} mapb;

static bool mb_init(mgri_octx *x, mapb *m, size_t cap) {
  m->kv = mgri_scratch(x, 2 * cap);
  m->n = 0;
  m->cap = cap;
  return m->kv != NULL;
}

static void mb_put(mapb *m, const char *key, mgr_value v) {
  if (m->n == m->cap) return; /* sized by the caller: never */
  m->kv[2 * m->n] = mgr_text(key);
  m->kv[2 * m->n + 1] = v;
  m->n++;
}

static mgr_value mb_done(const mapb *m) { return mgr_map(m->kv, m->n); }

static mgr_value u(uint64_t v) {
  return mgr_int(v > INT64_MAX ? INT64_MAX : (int64_t)v);
}

static int op_stats(mgri_octx *x) {
  mgri_store *s = x->s;
  const mgri_store_stats *st = &s->st;
  mapb top, mem, conn, objs, req, ref, hash, kinds[MGRI_KIND_MAX + 1];
  size_t nslow = st->slow < MGRI_SLOWLOG_LEN ? st->slow : MGRI_SLOWLOG_LEN;
  if (!mb_init(x, &top, 8) || !mb_init(x, &mem, 4 + MGRI_MEM_NCAT) ||
      !mb_init(x, &conn, 12) || !mb_init(x, &objs, 2 + MGRI_KIND_MAX) ||
      !mb_init(x, &req, 5) || !mb_init(x, &ref, MGRI_WHY_N) ||
      !mb_init(x, &hash, 3))
    return MGR_ELIMIT;
  for (uint32_t k = 1; k <= MGRI_KIND_MAX; k++)
    if (!mb_init(x, &kinds[k], 2)) return MGR_ELIMIT;
  mgr_value *slow = mgri_scratch(x, nslow);
  mapb *slowm =
      nslow ? mgri_arena_alloc(&s->scratch, nslow * sizeof *slowm) : NULL;
  if (!slow || (nslow && !slowm))
    return nslow && !slowm ? mgri_nomem(x) : MGR_ELIMIT;
  for (size_t i = 0; i < nslow; i++)
    if (!mb_init(x, &slowm[i], 8)) return MGR_ELIMIT;

  mb_put(&mem, "limit", u(s->mem.max));
  mb_put(&mem, "used", u(s->mem.total));
  mb_put(&mem, "peak", u(s->mem.peak));
  mb_put(&mem, "refused", u(s->mem.refused));
  for (unsigned c = 0; c < MGRI_MEM_NCAT; c++)
    mb_put(&mem, mgri_mem_cat_name(c), u(s->mem.used[c]));

  size_t conns_max =
      s->cfg.conns_max ? s->cfg.conns_max : MGRI_CONNS_MAX_DEFAULT;
  mb_put(&conn, "open", u(s->nconns));
  mb_put(&conn, "max", u(conns_max));
  mb_put(&conn, "handshaking", u(st->handshaking));
  mb_put(&conn, "accepted", u(st->accepted));
  mb_put(&conn, "handshake_timeouts", u(st->handshake_timeouts));
  mb_put(&conn, "handshake_evicted", u(st->handshake_evicted));
  mb_put(&conn, "idle_closed", u(st->idle_closed));
  mb_put(&conn, "refused", u(st->conn_refused));
  mb_put(&conn, "memory_closed", u(st->conn_mem_refused));
  mb_put(&conn, "auth_failed", u(st->auth_failed));
  mb_put(&conn, "tls_failed", u(st->tls_failed));

  size_t objects_max =
      s->cfg.objects_max ? s->cfg.objects_max : MGRI_OBJECTS_MAX_DEFAULT;
  mb_put(&objs, "count", u(s->nobjs));
  mb_put(&objs, "max", u(objects_max));
  for (uint32_t k = 1; k <= MGRI_KIND_MAX; k++) {
    mb_put(&kinds[k], "count", u(st->kind_count[k]));
    mb_put(&kinds[k], "bytes", u(st->kind_bytes[k]));
    mb_put(&objs, mgri_kind_short(k), mb_done(&kinds[k]));
  }

  mb_put(&req, "total", u(st->requests));
  mb_put(&req, "parked", u(s->nparked));
  mb_put(&req, "slow", u(st->slow));
  mb_put(&req, "slow_ms",
         u(s->cfg.slow_ns == UINT64_MAX ? 0 : s->cfg.slow_ns / 1000000));
  mb_put(&req, "work_budget", u(s->cfg.work_budget));

  static const char *const why[] = {
#define MGRI_WHY_NAME_(name, str) str,
      MGRI_LIMITS_WHY(MGRI_WHY_NAME_)
#undef MGRI_WHY_NAME_
  };
  for (int i = 0; i < MGRI_WHY_N; i++)
    mb_put(&ref, why[i], u(st->refused[i]));

  mb_put(&hash, "dict_probe_max", u(st->dict_probe_max));
  mb_put(&hash, "name_probe_max", u(st->name_probe_max));
  mb_put(&hash, "probe_bound", u(MGRI_PROBE_BOUND));

  /* The slow-request log, newest first. */
  for (size_t i = 0; i < nslow; i++) {
    const mgri_slow *e = &st->slowlog[(st->slow - 1 - i) % MGRI_SLOWLOG_LEN];
    mapb *m = &slowm[i];
    mb_put(m, "seq", u(e->seq));
    mb_put(m, "duration_us", u(e->duration / 1000));
    mb_put(m, "pid", u(e->pid));
    mb_put(m, "conn", u(e->conn));
    mb_put(m, "rid", u(e->rid));
    mb_put(m, "op", mgr_text(mgri_op_name(e->op)));
    mb_put(m, "oid", u(e->oid));
    mb_put(m, "cost", u(e->cost));
    slow[i] = mb_done(m);
  }

  mb_put(&top, "memory", mb_done(&mem));
  mb_put(&top, "connections", mb_done(&conn));
  mb_put(&top, "objects", mb_done(&objs));
  mb_put(&top, "requests", mb_done(&req));
  mb_put(&top, "refused", mb_done(&ref));
  mb_put(&top, "hash", mb_done(&hash));
  mb_put(&top, "slowlog", mgr_array(slow, nslow));
  x->result = mb_done(&top);
  return MGR_OK;
}

/* --- DUMP: one object, for tools ------------------------------------------- */

static int op_dump(mgri_octx *x) {
  mgri_obj *o = mgri_obj_find(x->s, x->rq->oid);
  if (!o)
    return mgri_fail(x, MGR_ENOTFOUND, "LookupError: no shared object #%llu",
                     (unsigned long long)x->rq->oid);
  mapb m;
  if (!mb_init(x, &m, 8)) return MGR_ELIMIT;
  mgr_value state = mgr_nil();
  int rc = o->kind->dump ? o->kind->dump(x, o, &state) : MGR_OK;
  if (rc) return rc;
  mb_put(&m, "id", u(o->id));
  mb_put(&m, "kind", mgr_text(mgri_kind_short(o->kind->id)));
  mb_put(&m, "name", o->name ? mgr_textn(o->name, o->namelen) : mgr_nil());
  mb_put(&m, "refs", u(o->refs));
  mb_put(&m, "bytes", u(o->bytes));
  mb_put(&m, "items", u(o->items));
  mb_put(&m, "owner", o->owner ? u(o->owner->id) : mgr_nil());
  mb_put(&m, "state", state);
  x->result = mb_done(&m);
  return MGR_OK;
}

/* Spec 2.10.2: the loop makes the segment; the reply carries its sizes,
 * the descriptors go with it (the loop's, MGRI_DISPATCH_SHM). */
static int op_shm_open(mgri_octx *x) {
  mgri_store *s = x->s;
  if (!s->cfg.shm_open)
    return mgri_fail(x, MGR_ESTATE,
                     "RuntimeError: this manager offers no shared memory");
  mgr_value *r = mgri_scratch(x, 2);
  if (!r) return MGR_ELIMIT;
  uint64_t ring = 0, bytes = 0;
  char why[200] = "RuntimeError: no shared memory";
  int rc =
      s->cfg.shm_open(s->cfg.reply_ctx, x->c, &ring, &bytes, why, sizeof why);
  if (rc != MGR_OK) return mgri_fail(x, rc, "%s", why);
  r[0] = mgr_int((int64_t)ring);
  r[1] = mgr_int((int64_t)bytes);
  x->result = mgr_array(r, 2);
  x->action = MGRI_DISPATCH_SHM;
  return MGR_OK;
}

const mgri_handler mgri_manager_ops[] = {
    {MGRI_OP_HELLO, op_hello, MGRI_COST_ONE},
    {MGRI_OP_PING, op_ping, MGRI_COST_ARGS},
    {MGRI_OP_CREATE, op_create, MGRI_COST_ARGS},
    {MGRI_OP_OPEN, op_open, MGRI_COST_ARGS},
    {MGRI_OP_RELEASE, op_release, MGRI_COST_ONE},
    {MGRI_OP_RETAIN, op_retain, MGRI_COST_ARGS},
    {MGRI_OP_LIST, op_list, MGRI_COST_OBJECTS},
    {MGRI_OP_UNLINK, op_unlink, MGRI_COST_ONE},
    {MGRI_OP_SHUTDOWN, op_shutdown, MGRI_COST_ONE},
    {MGRI_OP_STATS, op_stats, MGRI_COST_ONE},
    {MGRI_OP_DUMP, op_dump, MGRI_COST_LEN},
    {MGRI_OP_SHM_OPEN, op_shm_open, MGRI_COST_ONE},
};
const size_t mgri_manager_nops =
    sizeof mgri_manager_ops / sizeof mgri_manager_ops[0];
