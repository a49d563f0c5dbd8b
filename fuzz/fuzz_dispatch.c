/* mgr fuzz target — the server's dispatch without sockets: the input is a
 * configuration byte (frame limit, work budget, memory limit) and then a
 * program of steps applied to one in-process store (src/server/store.h):
 *  - connections opened into a new or an existing session with a HELLO the
 *    input may bend (wrong rid or oid, wrong arity or types, version ranges
 *    with no common version, sessions that never existed or ended), a first
 *    request that is not HELLO, a second HELLO, connections closed, marked
 *    closing (their replies can no longer be delivered: what a reply hands
 *    over is taken back) and then closed;
 *  - every manager op: CREATE (every kind, with inits valid or not),
 *    OPEN, RELEASE, RETAIN, UNLINK with predicted results, PING, LIST,
 *    STATS (checked against the model), DUMP, SHUTDOWN (every parked
 *    request answered ESHUTDOWN, then the end), unknown ops, manager ops on
 *    objects and object ops on the manager;
 *  - BATCH: up to a few sub-requests of every sort (malformed, forbidden —
 *    HELLO, SHUTDOWN, a nested BATCH, a blocking op whose blocking argument
 *    is true or omitted —, modelled ops predicted one after another against
 *    the model, ops of every kind, raw ops), or around MGRI_BATCH_MAX copies
 *    of one, under a work budget and a frame limit the input may make small;
 *  - var/list/dict ops against a content model, the ops of every kind in
 *    the kind table with arguments shaped for each op (blocking ops park:
 *    deadlines run on the fuzzer's clock through mgri_store_tick), and raw
 *    ops with random arguments.
 * Every reply goes through the wire encoder and decoder (a reply over the
 * frame limit is LIMIT, as the loop sends it). After every step an observer
 * connection reads the whole store and checks:
 *  - every object's count == sessions holding it + refs stored in objects
 *    (kind->refs, for every kind; for dict/list/var the refs read back
 *    through their ops are the same);
 *  - no object with count 0 and no name survives; no stored ref dangles;
 *    every object a live session holds is alive; names map as modelled;
 *  - modelled contents (var, list, dict) equal the model;
 *  - each request is answered exactly once, at once, or (a blocking op)
 *    parked and answered later, never after its connection closed, never
 *    inside a BATCH; parked counts per store and per object (DUMP's
 *    waiters, getters, putters, joiners, n_waiting) as the model counts;
 *  - no waiter is stuck: a free lock, a semaphore above 0, a set event, a
 *    broken barrier, a non-empty queue (getters), a queue with room
 *    (putters), a joinable queue with no unfinished task (joiners) have
 *    no waiters;
 *  - memory: the bytes of every object add up to the server's OBJECTS
 *    category, DUMP reports each, no PARKED bytes without a parked request;
 *    the items DUMP reports are those of its contents (dict, list,
 *    namespace; a queue's queued items plus its waiting puts' items);
 *  - STATS agrees: objects and bytes per kind, memory, parked and total
 *    requests, the slow-request log (the fuzzer's clock decides), open
 *    connections;
 *  - a LIMIT changed nothing (modelled ops), a BATCH over the budget ran
 *    nothing;
 * and at the end, with every connection closed, only named objects and
 * cycles remain; LeakSanitizer sees the rest freed. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cbor/cbor.h"
#include "fuzz.h"
#include "model.h"
#include "mgr/error.h"
#include "mgr/version.h"
#include "proto/ops.h"
#include "proto/proto.h"
#include "server/store.h"

#define SLOTS 6
#define OBJS 64
#define HELD 128
#define REPLIES 1024
#define NAMES 5
#define ITEMS 16
#define PARKED (MGRI_PENDING_MAX * SLOTS + 16)
#define ANY 1000 /* no prediction */
#define BIG (MGRI_BATCH_MAX + 40)
#define SUBS 12
#define POOL 48

/* The longest name OPEN takes, and one byte more. */
static char name255[MGRI_NAME_MAX + 1];
static char long_name[MGRI_NAME_MAX + 2];
static const char *const names[NAMES] = {"a", "b", "counter", "n\xc3\xa9",
                                         name255};
static const char *const texts[4] = {"x", "yy", "", "z\xe2\x82\xac"};

typedef struct rep {
  mgri_sconn *conn;
  uint64_t rid;
  int status;
  uint8_t *frame; /* the encoded reply frame body (owned) */
  size_t len;
  bool oversize; /* too long for the frame (or too deep): LIMIT instead */
} rep;

typedef struct sess {
  uint64_t id;
  unsigned nconns;
  uint64_t held[HELD];
  size_t nheld;
} sess;

typedef struct conn {
  mgri_sconn *c;
  sess *s;
  uint64_t rid;
  bool closing; /* its replies can no longer be delivered */
} conn;

/* A parked request. */
typedef struct park {
  mgri_sconn *c;
  uint64_t rid, op, oid;
  uint64_t items; /* QUEUE_PUT: the item's data items, held meanwhile */
} park;

/* The content model of one object: known or not. */
typedef struct content {
  uint64_t id;
  bool known;
  mgr_value v;            /* var */
  mgr_value items[ITEMS]; /* list items, or dict pairs (key, value) */
  size_t n;
} content;

typedef struct world {
  fuzz_in in;
  mgri_store *st;
  int64_t now;
  int64_t lead; /* how far the clock runs ahead of now when a request ends */
  uint32_t frame_max;
  bool tight;    /* a small memory limit: any op may be LIMIT */
  bool stale;    /* the last check could not read the store */
  bool desync;   /* the sessions' holdings and names are no longer known */
  bool quitting; /* after SHUTDOWN: no reply is delivered */
  bool raw;      /* the request's values live in the arena: not modelled */
  bool oversize; /* the last reply was LIMIT for its size (the loop's) */
  conn slots[SLOTS];
  conn obs;              /* the observer: its own session, holds nothing */
  mgri_sconn *closing_c; /* the connection mgri_store_conn_close is closing */
  sess sessions[SLOTS + 1];
  uint64_t ended[16]; /* sessions that ended (the latest 16) */
  size_t nended, endpos;
  uint64_t max_session;
  rep reps[REPLIES];
  size_t nreps;
  park parked[PARKED];
  size_t nparked;
  content cont[OBJS];
  size_t ncont;
  uint64_t name_id[NAMES]; /* 0: no such name */
  uint32_t name_kind[NAMES];
  uint64_t live[OBJS]; /* from the last check */
  uint32_t live_kind[OBJS];
  size_t nlive;
  uint64_t max_id;
  uint64_t requests, slow; /* what STATS should say */
  /* The objects a step's requests (or answers) touched: check() reads
   * those through their ops, and every object every CHECK_ALL steps. */
  uint64_t touched[64];
  size_t ntouched;
  bool touched_all;
  unsigned step_no;
  mgri_arena arena;
} world;

#define CHECK_ALL 8

static void touch(world *w, uint64_t id) {
  if (!id) return;
  for (size_t i = 0; i < w->ntouched; i++)
    if (w->touched[i] == id) return;
  if (w->ntouched == 64)
    w->touched_all = true;
  else
    w->touched[w->ntouched++] = id;
}

static bool was_touched(const world *w, uint64_t id) {
  if (w->touched_all) return true;
  for (size_t i = 0; i < w->ntouched; i++)
    if (w->touched[i] == id) return true;
  return false;
}

static world W;

/* Op codes, from the op table: per kind, and the raw ones. */
static uint64_t kind_ops[MGRI_KIND_MAX + 1][40];
static size_t nkind_ops[MGRI_KIND_MAX + 1];
static uint64_t raw_ops[200];
static size_t nraw;

/* --- replies ---------------------------------------------------------------- */

static conn *conn_of(world *w, const mgri_sconn *c) {
  if (!c) return NULL;
  if (w->obs.c == c) return &w->obs;
  for (int i = 0; i < SLOTS; i++)
    if (w->slots[i].c == c) return &w->slots[i];
  return NULL;
}

static bool sink(void *ctx, mgri_sconn *c, const mgri_reply *r) {
  world *w = ctx;
  /* Never a reply to a connection that is gone. One exception, the
   * Barrier's (kinds/barrier.c, answer_broken): a closing connection's
   * first waiter going breaks the barrier, and its other waiters of that
   * barrier are answered BROKEN, undeliverable, before wait.c drops them. */
  conn *k = conn_of(w, c);
  bool closing = c && c == w->closing_c;
  FUZZ_CHECK(k != NULL || (closing && r->status == MGR_EBROKEN));
  FUZZ_CHECK(r->status == MGR_OK || mgri_err_to_wire(r->status) != 0);
  mgri_buf b;
  mgri_buf_init(&b, 0);
  int rc = mgri_reply_encode(&b, r, w->frame_max);
  /* The loop answers LIMIT instead of a reply too long for the frame or
   * nested too deeply (spec 3.7). */
  FUZZ_CHECK(rc == MGR_OK || rc == MGR_ETOOBIG || rc == MGR_EINVAL);
  FUZZ_CHECK(w->nreps < REPLIES);
  rep *o = &w->reps[w->nreps++];
  o->conn = c;
  o->rid = r->rid;
  o->status = rc == MGR_OK ? r->status : MGR_ELIMIT;
  o->oversize = rc != MGR_OK;
  o->frame = NULL;
  o->len = 0;
  if (rc == MGR_OK) {
    o->len = b.len - MGRI_FRAME_HEADER;
    o->frame = malloc(o->len);
    FUZZ_CHECK(o->frame != NULL);
    memcpy(o->frame, b.data + MGRI_FRAME_HEADER, o->len);
  }
  mgri_buf_fini(&b);
  /* A reply too big for a frame hands nothing over; neither does one to a
   * connection that is closing, nor after SHUTDOWN. */
  return rc == MGR_OK && k && !k->closing && !w->quitting;
}

static void drop_reps(world *w) {
  for (size_t i = 0; i < w->nreps; i++)
    free(w->reps[i].frame);
  w->nreps = 0;
}

/* Decodes a captured reply into the arena. */
static mgri_reply decode(world *w, const rep *r) {
  mgri_reply out;
  memset(&out, 0, sizeof out);
  out.status = r->status;
  if (!r->frame) return out;
  mgri_limits lim;
  mgri_limits_default(&lim);
  lim.frame_max = w->frame_max;
  int rc = mgri_reply_decode(r->frame, r->len, &lim, &w->arena, &out, NULL);
  FUZZ_CHECK(rc == MGR_OK);
  FUZZ_CHECK(out.rid == r->rid && out.status == r->status);
  return out;
}

/* Matches replies that came for parked requests (grants, deadlines, owners
 * gone, shutdown) and drops them; returns the reply to (c, rid) if it came
 * now. */
static rep *settle(world *w, mgri_sconn *c, uint64_t rid) {
  rep *mine = NULL;
  for (size_t i = 0; i < w->nreps; i++) {
    rep *r = &w->reps[i];
    if (r->conn == c && r->rid == rid && c) {
      FUZZ_CHECK(mine == NULL); /* exactly once */
      mine = r;
      continue;
    }
    size_t k = 0;
    while (k < w->nparked &&
           !(w->parked[k].c == r->conn && w->parked[k].rid == r->rid))
      k++;
    FUZZ_CHECK(k < w->nparked); /* a late reply answers a parked request */
    FUZZ_CHECK(r->status <= 0);
    touch(w, w->parked[k].oid);
    w->parked[k] = w->parked[--w->nparked];
  }
  return mine;
}

static size_t parked_on(const world *w, uint64_t oid, uint64_t op) {
  size_t n = 0;
  for (size_t i = 0; i < w->nparked; i++)
    n += w->parked[i].oid == oid && (op == 0 || w->parked[i].op == op);
  return n;
}

/* --- requests --------------------------------------------------------------- */

typedef struct req {
  uint64_t op, oid;
  const mgr_value *args;
  size_t nargs;
} req;

/* Dispatches and returns the decoded reply; a parked request returns
 * status 1 (its reply comes later). */
static mgri_reply call_rid(world *w, conn *k, uint64_t rid, const req *q,
                           int *action) {
  mgri_request rq = {rid, q->op, q->oid, q->args, q->nargs};
  drop_reps(w);
  w->requests++;
  if (k != &w->obs) touch(w, q->oid);
  int act = mgri_dispatch(w->st, k->c, &rq, w->now);
  if (w->lead >= 10 * 1000000) w->slow++; /* the default slow_ms: 10 */
  if (action) *action = act;
  FUZZ_CHECK(act == MGRI_DISPATCH_OK || act == MGRI_DISPATCH_CLOSE ||
             act == MGRI_DISPATCH_SHUTDOWN);
  rep *r = settle(w, k->c, rq.rid);
  mgri_reply out;
  memset(&out, 0, sizeof out);
  if (!r) {
    const mgri_opinfo *oi = mgri_op_info(q->op);
    FUZZ_CHECK(oi && (oi->flags & MGRI_OPF_B)); /* only a blocking op parks */
    FUZZ_CHECK(act == MGRI_DISPATCH_OK);
    FUZZ_CHECK(w->nparked < PARKED);
    park *p = &w->parked[w->nparked++];
    p->c = k->c;
    p->rid = rq.rid;
    p->op = q->op;
    p->oid = q->oid;
    p->items = q->op == MGRI_OP_QUEUE_PUT && q->nargs
                   ? mgri_value_items(&q->args[0], SIZE_MAX)
                   : 0;
    FUZZ_CHECK(mgri_store_parked_count(w->st) == w->nparked);
    FUZZ_CHECK(mgri_sconn_parked(k->c) <= MGRI_PENDING_MAX);
    out.status = 1;
    return out;
  }
  FUZZ_CHECK(mgri_store_parked_count(w->st) == w->nparked);
  w->oversize = r->oversize;
  return decode(w, r);
}

static mgri_reply call(world *w, conn *k, uint64_t op, uint64_t oid,
                       const mgr_value *args, size_t nargs, int *action) {
  req q = {op, oid, args, nargs};
  return call_rid(w, k, ++k->rid, &q, action);
}

/* --- the model ---------------------------------------------------------------- */

static bool held(const sess *s, uint64_t id) {
  for (size_t i = 0; i < s->nheld; i++)
    if (s->held[i] == id) return true;
  return false;
}

static void hold(world *w, sess *s, uint64_t id) {
  if (held(s, id)) return;
  if (s->nheld == HELD) {
    w->desync = true;
    return;
  }
  s->held[s->nheld++] = id;
}

static void unhold(sess *s, uint64_t id) {
  for (size_t i = 0; i < s->nheld; i++)
    if (s->held[i] == id) {
      s->held[i] = s->held[--s->nheld];
      return;
    }
}

static content *cont_of(world *w, uint64_t id, bool make) {
  for (size_t i = 0; i < w->ncont; i++)
    if (w->cont[i].id == id) return &w->cont[i];
  if (!make || w->ncont == OBJS) return NULL;
  content *c = &w->cont[w->ncont++];
  memset(c, 0, sizeof *c);
  c->id = id;
  return c;
}

static void forget(world *w, uint64_t id) {
  content *m = cont_of(w, id, false);
  if (m) m->known = false;
}

static uint32_t live_kind(const world *w, uint64_t id) {
  for (size_t i = 0; i < w->nlive; i++)
    if (w->live[i] == id) return w->live_kind[i];
  return 0;
}

static bool session_live(const world *w, uint64_t sid) {
  for (int s = 0; s < SLOTS + 1; s++)
    if (w->sessions[s].nconns && w->sessions[s].id == sid) return true;
  return false;
}

/* An id: usually a live object's, sometimes any small number. */
static uint64_t pick_id(world *w) {
  uint8_t b = fuzz_u8(&w->in);
  if (w->nlive && b < 224) return w->live[b % w->nlive];
  return b % 40;
}

/* A live object of the given kind (0 if none). */
static uint64_t pick_kind(world *w, uint32_t kind) {
  uint8_t b = fuzz_u8(&w->in);
  size_t n = 0;
  for (size_t i = 0; i < w->nlive; i++)
    n += w->live_kind[i] == kind;
  if (!n) return 0;
  n = b % n;
  for (size_t i = 0; i < w->nlive; i++)
    if (w->live_kind[i] == kind && n-- == 0) return w->live[i];
  return 0;
}

static mgr_value ref_to(uint32_t kind, uint64_t id) {
  mgr_value v = mgr_nil();
  v.type = MGR_T_REF;
  v.u.ref.kind = kind;
  v.u.ref.id = id;
  return v;
}

/* A small value: ints, text, nil, or a ref (to a live object or not). */
static mgr_value atom(world *w) {
  uint8_t b = fuzz_u8(&w->in);
  switch (b % 8) {
  case 0:
    return mgr_nil();
  case 1:
  case 2:
    return mgr_int((int64_t)(b >> 3) - 8);
  case 3:
    return mgr_text(texts[(b >> 3) % 4]);
  case 4:
    return mgr_float((double)(b >> 3) / 2);
  case 5: {
    uint64_t id = pick_id(w);
    uint32_t kind = live_kind(w, id);
    return ref_to(kind ? kind : 1u + (uint32_t)(b >> 3) % MGRI_KIND_MAX,
                  id ? id : 1);
  }
  default:
    return mgr_bool(b & 8);
  }
}

/* Every ref inside v names a live object of its kind. */
static bool refs_live(const world *w, const mgr_value *v) {
  switch (v->type) {
  case MGR_T_REF:
    return live_kind(w, v->u.ref.id) == v->u.ref.kind;
  case MGR_T_ARRAY:
  case MGR_T_MAP: {
    size_t n = v->u.a.len * (v->type == MGR_T_MAP ? 2 : 1);
    for (size_t i = 0; i < n; i++)
      if (!refs_live(w, &v->u.a.items[i])) return false;
    return true;
  }
  default:
    return true;
  }
}

static bool has_ref(const mgr_value *v) {
  switch (v->type) {
  case MGR_T_REF:
    return true;
  case MGR_T_ARRAY:
  case MGR_T_MAP: {
    size_t n = v->u.a.len * (v->type == MGR_T_MAP ? 2 : 1);
    for (size_t i = 0; i < n; i++)
      if (has_ref(&v->u.a.items[i])) return true;
    return false;
  }
  default:
    return false;
  }
}

/* A pool of values that a generated argument's arrays and maps point into. */
typedef struct pool {
  mgr_value v[POOL];
  size_t n;
} pool;

static mgr_value *pool_take(pool *p, size_t n) {
  if (p->n + n > POOL) return NULL;
  mgr_value *r = &p->v[p->n];
  p->n += n;
  return r;
}

/* A random value for raw ops, nested a little. */
static mgr_value anyval(world *w, pool *p, unsigned depth) {
  uint8_t b = fuzz_u8(&w->in);
  if (depth < 3 && b % 7 == 0) {
    size_t n = b / 7 % 4;
    bool map = b & 0x80;
    if (map && n > 1) n = 1;
    size_t cells = map ? 2 * n : n;
    mgr_value *c = pool_take(p, cells);
    if (c) {
      for (size_t i = 0; i < cells; i++)
        c[i] = anyval(w, p, depth + 1);
      if (map && n && !model_key_ok(&c[0])) c[0] = mgr_int(0);
      return map ? mgr_map(c, n) : mgr_array(c, n);
    }
  }
  return atom(w);
}

/* --- argument shapes ---------------------------------------------------------- */

static mgr_value g_timeout(world *w) {
  uint8_t b = fuzz_u8(&w->in);
  switch (b % 14) {
  case 0:
  case 1:
    return mgr_nil();
  case 2:
    return mgr_int(0);
  case 3:
    return mgr_float(0.0);
  case 4:
  case 5:
    return mgr_float((double)(b >> 4) / 8.0);
  case 6:
    return mgr_int((b >> 4) % 3);
  case 7:
    return mgr_int(-1);
  case 8:
    return mgr_float(-0.5);
  case 9:
    return mgr_float(NAN);
  case 10:
    return mgr_float(INFINITY);
  case 11:
    return mgr_float(1e300);
  case 12:
    return mgr_float(-0.0);
  default:
    return (b & 0x10) ? mgr_text("1") : mgr_bool(true);
  }
}

static mgr_value g_block(world *w) {
  uint8_t b = fuzz_u8(&w->in);
  switch (b % 6) {
  case 0:
  case 1:
    return mgr_bool(true);
  case 2:
  case 3:
    return mgr_bool(false);
  case 4:
    return mgr_int(1);
  default:
    return mgr_nil();
  }
}

static mgr_value g_count(world *w) {
  uint8_t b = fuzz_u8(&w->in);
  switch (b % 8) {
  case 0:
    return mgr_int(-1);
  case 1:
    return mgr_bool(true);
  case 2:
    return mgr_float(1.0);
  case 3:
    return mgr_int(INT64_MAX);
  default:
    return mgr_int(b % 5);
  }
}

static mgr_value g_name(world *w) {
  uint8_t b = fuzz_u8(&w->in);
  switch (b % 10) {
  case 0:
    return mgr_text("_x");
  case 1:
    return mgr_text("");
  case 2:
    return mgr_text(name255);
  case 3:
    return mgr_textn(long_name, MGRI_NAME_MAX + 1);
  case 4:
    return mgr_textn("a\0b", 3);
  case 5:
    return mgr_int(1);
  default:
    return mgr_text(names[b % NAMES]);
  }
}

/* An object name: the modelled ones, or one OPEN refuses. */
static mgr_value g_objname(world *w) {
  uint8_t b = fuzz_u8(&w->in);
  switch (b % 8) {
  case 0:
    return mgr_text("");
  case 1:
    return mgr_textn(long_name, MGRI_NAME_MAX + 1);
  case 2:
    return mgr_textn("a\0b", 3);
  case 3:
    return mgr_int(1);
  default:
    return mgr_text(names[b % NAMES]);
  }
}

static mgr_value g_index(world *w) {
  uint8_t b = fuzz_u8(&w->in);
  switch (b % 10) {
  case 0:
    return mgr_int((int64_t)1 << 40);
  case 1:
    return mgr_bool(false);
  case 2:
    return mgr_float(1.0);
  case 3:
    return mgr_nil();
  case 4:
    return mgr_int(INT64_MIN);
  default:
    return mgr_int((int64_t)(b >> 4) - 4);
  }
}

static mgr_value g_number(world *w) {
  uint8_t b = fuzz_u8(&w->in);
  switch (b % 14) {
  case 0:
    return mgr_int(INT64_MAX);
  case 1:
    return mgr_int(INT64_MIN);
  case 2:
    return mgr_float(0.1);
  case 3:
    return mgr_float(-1e40);
  case 4:
    return mgr_float(NAN);
  case 5:
    return mgr_float(INFINITY);
  case 6:
    return mgr_bool(true);
  case 7:
    return mgr_text("x");
  case 8:
    return mgr_int(300);
  case 9:
    return mgr_int(-129);
  case 10:
    return mgr_int(65536);
  default:
    return mgr_int((int64_t)(b >> 4) - 3);
  }
}

static mgr_value g_numbers(world *w, pool *p) {
  size_t n = fuzz_u8(&w->in) % 5;
  mgr_value *c = pool_take(p, n);
  if (!c) return mgr_array(NULL, 0);
  for (size_t i = 0; i < n; i++)
    c[i] = g_number(w);
  return mgr_array(c, n);
}

/* The shape of op's arguments: one letter each, those after ':' optional.
 * v value, b block, t timeout, n count, s attribute name, i index, N
 * number, A array of numbers, k small key. NULL: anything. */
static const char *shape(uint64_t op) {
  switch (op) {
  case MGRI_OP_LOCK_ACQUIRE:
  case MGRI_OP_COND_ACQUIRE:
    return "bt";
  case MGRI_OP_QUEUE_PUT:
    return "v:bt";
  case MGRI_OP_QUEUE_GET:
  case MGRI_OP_SEM_ACQUIRE:
    return ":bt";
  case MGRI_OP_QUEUE_JOIN:
  case MGRI_OP_EVENT_WAIT:
  case MGRI_OP_COND_WAIT:
  case MGRI_OP_BARRIER_WAIT:
    return ":t";
  case MGRI_OP_COND_NOTIFY:
  case MGRI_OP_SEM_RELEASE:
    return ":n";
  case MGRI_OP_NS_GET:
  case MGRI_OP_NS_DEL:
    return "s";
  case MGRI_OP_NS_SET:
    return "sv";
  case MGRI_OP_ARRAY_GET:
    return "i";
  case MGRI_OP_ARRAY_SET:
  case MGRI_OP_ARRAY_INCR:
    return "iN";
  case MGRI_OP_ARRAY_GETSLICE:
    return "iii";
  case MGRI_OP_ARRAY_SETSLICE:
    return "iiiA";
  case MGRI_OP_ARRAY_CAS:
    return "iNN";
  case MGRI_OP_DICT_GET:
  case MGRI_OP_DICT_POP:
  case MGRI_OP_DICT_SETDEFAULT:
    return "k:v";
  case MGRI_OP_DICT_SET:
    return "kv";
  case MGRI_OP_DICT_DEL:
  case MGRI_OP_DICT_CONTAINS:
    return "k";
  case MGRI_OP_DICT_INCR:
    return "kN:v";
  case MGRI_OP_DICT_CAS:
    return "kvv";
  case MGRI_OP_LIST_GET:
  case MGRI_OP_LIST_DEL:
    return "i";
  case MGRI_OP_LIST_SET:
  case MGRI_OP_LIST_INSERT:
    return "iv";
  case MGRI_OP_LIST_INCR:
    return "iN";
  case MGRI_OP_LIST_CAS:
    return "ivv";
  case MGRI_OP_LIST_POP:
    return ":i";
  case MGRI_OP_VAR_SET:
    return "v";
  case MGRI_OP_VAR_INCR:
    return "N:v";
  case MGRI_OP_VAR_CAS:
    return "vv";
  default:
    return NULL;
  }
}

/* Arguments for op: shaped (usually) or random; the count usually within
 * the op's range. Returns the count. */
static size_t gen_args(world *w, uint64_t op, mgr_value *args, pool *p) {
  uint8_t b = fuzz_u8(&w->in);
  const char *sh = shape(op);
  const mgri_opinfo *oi = mgri_op_info(op);
  if (!sh || (b & 7) == 0) {
    size_t n = fuzz_u8(&w->in) % (MGRI_ARGS_MAX + 1);
    if (oi && (b & 0x18) && n > oi->max_args) n = oi->max_args;
    for (size_t i = 0; i < n; i++)
      args[i] = anyval(w, p, 1);
    return n;
  }
  size_t n = 0, req_n = 0;
  const char *opt = strchr(sh, ':');
  for (const char *c = sh; *c; c++)
    if (*c != ':') n++;
  req_n = opt ? (size_t)(opt - sh) : n;
  /* How many of the optional ones (and now and then one too few or many). */
  size_t k = req_n + (n > req_n ? (size_t)(b >> 4) % (n - req_n + 1) : 0);
  if ((b & 0x0f) == 1 && k) k--;
  if ((b & 0x0f) == 2 && k < MGRI_ARGS_MAX) k++;
  size_t i = 0;
  for (const char *c = sh; *c && i < k; c++) {
    if (*c == ':') continue;
    switch (*c) {
    case 'v':
      args[i] = (fuzz_u8(&w->in) & 3) ? atom(w) : anyval(w, p, 1);
      break;
    case 'b':
      args[i] = g_block(w);
      break;
    case 't':
      args[i] = g_timeout(w);
      break;
    case 'n':
      args[i] = g_count(w);
      break;
    case 's':
      args[i] = g_name(w);
      break;
    case 'i':
      args[i] = g_index(w);
      break;
    case 'N':
      args[i] = g_number(w);
      break;
    case 'A':
      args[i] = g_numbers(w, p);
      break;
    case 'k':
      args[i] = mgr_int(fuzz_u8(&w->in) % 4);
      break;
    }
    i++;
  }
  while (i < k)
    args[i++] = atom(w);
  return k;
}

/* An init argument for kind (omitted: *has false). */
static mgr_value gen_init(world *w, uint32_t kind, pool *p, bool *has) {
  uint8_t b = fuzz_u8(&w->in);
  *has = (b & 7) != 0;
  if ((b & 0x38) == 0) return anyval(w, p, 1); /* anything */
  switch (kind) {
  case MGR_K_DICT: {
    if (b & 0x40) return mgr_nil();
    mgr_value *c = pool_take(p, 2);
    if (!c) return mgr_map(NULL, 0);
    c[0] = mgr_int(b >> 7);
    c[1] = atom(w);
    return mgr_map(c, b >> 7);
  }
  case MGR_K_LIST: {
    mgr_value *c = pool_take(p, 2);
    if (!c) return mgr_array(NULL, 0);
    c[0] = atom(w);
    c[1] = atom(w);
    return mgr_array(c, (b >> 6) % 3);
  }
  case MGR_K_VAR:
    return atom(w);
  case MGR_K_QUEUE:
  case MGR_K_JQUEUE:
    return (b & 0x40) ? mgr_nil()
                      : mgr_int((int64_t)(b >> 7) * 2 - (b & 0x80 ? 0 : 1));
  case MGR_K_NAMESPACE: {
    if (b & 0x40) return mgr_nil();
    mgr_value *c = pool_take(p, 4);
    if (!c) return mgr_map(NULL, 0);
    c[0] = g_name(w);
    c[1] = atom(w);
    c[2] = mgr_text("b");
    c[3] = atom(w);
    if (model_key_eq(&c[0], &c[2])) c[2] = mgr_text("c");
    return mgr_map(c, (b >> 7) + 1);
  }
  case MGR_K_CONDITION: {
    if (b & 0x40) return mgr_nil();
    uint64_t id = pick_kind(w, (b & 0x80) ? MGR_K_RLOCK : MGR_K_LOCK);
    return id ? ref_to((b & 0x80) ? MGR_K_RLOCK : MGR_K_LOCK, id) : atom(w);
  }
  case MGR_K_SEMAPHORE:
  case MGR_K_BSEMAPHORE:
    return (b & 0x40) ? mgr_nil() : mgr_int((int64_t)(b >> 7) * 3 - 1);
  case MGR_K_BARRIER: {
    int64_t parties = (int64_t)((b >> 6) & 3);
    if (!(b & 0x20)) return mgr_int(parties);
    mgr_value *c = pool_take(p, 2);
    if (!c) return mgr_nil();
    c[0] = mgr_int(parties);
    c[1] = g_timeout(w);
    return mgr_array(c, 2);
  }
  case MGR_K_ARRAY: {
    static const char *const codes[] = {"b", "B", "h", "H", "i", "I", "l",
                                        "L", "q", "Q", "f", "d", "u", "bb"};
    mgr_value *c = pool_take(p, 2);
    if (!c) return mgr_nil();
    c[0] = mgr_text(codes[fuzz_u8(&w->in) % 14]);
    c[1] = (b & 0x40) ? g_numbers(w, p)
                      : mgr_int((int64_t)(b >> 7) * 5 - (b & 0x20 ? 1 : 0));
    return mgr_array(c, 2);
  }
  default:
    return mgr_nil();
  }
}

/* --- predictions ---------------------------------------------------------------- */

static bool is_uint(const mgr_value *v) {
  return v->type == MGR_T_INT && v->u.i >= 0;
}
static bool is_nil(const mgr_value *v) { return !v || v->type == MGR_T_NIL; }

/* The status the checks of a CREATE/OPEN init give for kind (spec 9.1,
 * 9.8-9.14), refs included; ANY where the rule is not one this target
 * predicts. init NULL: omitted. */
static int init_status(const world *w, uint32_t kind, const mgr_value *init) {
  int st = MGR_OK;
  switch (kind) {
  case MGR_K_DICT:
    if (!is_nil(init) && init->type != MGR_T_MAP) return MGR_ETYPE;
    break;
  case MGR_K_LIST:
    if (!is_nil(init) && init->type != MGR_T_ARRAY) return MGR_ETYPE;
    break;
  case MGR_K_VAR:
    break;
  case MGR_K_LOCK:
  case MGR_K_RLOCK:
  case MGR_K_EVENT:
    if (!is_nil(init)) return MGR_ETYPE;
    break;
  case MGR_K_QUEUE:
  case MGR_K_JQUEUE:
    if (!is_nil(init) && init->type != MGR_T_INT) return MGR_ETYPE;
    break;
  case MGR_K_NAMESPACE:
    if (is_nil(init)) break;
    if (init->type != MGR_T_MAP) return MGR_ETYPE;
    for (size_t i = 0; i < init->u.a.len; i++) {
      const mgr_value *k = &init->u.a.items[2 * i];
      if (k->type != MGR_T_TEXT) return MGR_ETYPE;
      if (k->u.s.len == 0 || k->u.s.len > MGRI_NAME_MAX ||
          k->u.s.ptr[0] == '_' || memchr(k->u.s.ptr, 0, k->u.s.len))
        return MGR_EVALUE;
    }
    break;
  case MGR_K_CONDITION:
    if (is_nil(init)) break;
    if (init->type != MGR_T_REF ||
        (init->u.ref.kind != MGR_K_LOCK && init->u.ref.kind != MGR_K_RLOCK))
      return MGR_ETYPE;
    break;
  case MGR_K_SEMAPHORE:
  case MGR_K_BSEMAPHORE:
    if (is_nil(init)) break;
    if (init->type != MGR_T_INT) return MGR_ETYPE;
    if (init->u.i < 0) return MGR_EVALUE;
    break;
  case MGR_K_BARRIER:
    if (!init) return MGR_ETYPE;
    if (init->type == MGR_T_INT) return init->u.i < 1 ? MGR_EVALUE : MGR_OK;
    if (init->type == MGR_T_ARRAY && init->u.a.len == 2 &&
        init->u.a.items[0].type == MGR_T_INT) {
      const mgr_value *t = &init->u.a.items[1];
      if (t->type != MGR_T_NIL && t->type != MGR_T_INT &&
          t->type != MGR_T_FLOAT)
        return ANY;
      if (init->u.a.items[0].u.i < 1) return MGR_EVALUE;
      return (t->type == MGR_T_NIL || (t->type == MGR_T_INT && t->u.i >= 0) ||
              (t->type == MGR_T_FLOAT && t->u.f >= 0))
                 ? MGR_OK
                 : ANY;
    }
    return init->type == MGR_T_ARRAY ? ANY : MGR_ETYPE;
  case MGR_K_ARRAY: {
    if (!init || init->type != MGR_T_ARRAY || init->u.a.len != 2)
      return MGR_ETYPE;
    const mgr_value *tc = &init->u.a.items[0], *sz = &init->u.a.items[1];
    if (tc->type != MGR_T_TEXT) return MGR_ETYPE;
    if (tc->u.s.len != 1) return ANY; /* one character, not one byte */
    if (!strchr("bBhHiIlLqQfd", tc->u.s.ptr[0]) || tc->u.s.ptr[0] == 0)
      return MGR_EVALUE;
    if (sz->type == MGR_T_INT) return sz->u.i < 0 ? MGR_EVALUE : MGR_OK;
    if (sz->type == MGR_T_ARRAY) {
      for (size_t i = 0; i < sz->u.a.len; i++) {
        const mgr_value *e = &sz->u.a.items[i];
        if (e->type != MGR_T_INT || e->u.i < 0 || e->u.i > 127) return ANY;
      }
      return MGR_OK;
    }
    return MGR_ETYPE;
  }
  default:
    return ANY;
  }
  if (init && !refs_live(w, init)) st = MGR_ENOTFOUND;
  return st;
}

static int name_index(const mgr_value *v) {
  if (v->type != MGR_T_TEXT) return -1;
  for (int i = 0; i < NAMES; i++)
    if (strlen(names[i]) == v->u.s.len &&
        memcmp(names[i], v->u.s.ptr, v->u.s.len) == 0)
      return i;
  return -1;
}

/* The predicted status of q from k's session, or ANY. exact: the live
 * objects are as the last check saw them (not so inside a BATCH after a
 * sub-request that may have created or destroyed some). */
static int predict(const world *w, const conn *k, const req *q, bool exact) {
  const mgri_opinfo *oi = mgri_op_info(q->op);
  if (!oi) return MGR_EBADOP;
  bool arity = q->nargs >= oi->min_args && q->nargs <= oi->max_args;
  /* Spec 8.3: the target, then the arity. */
  uint32_t kind = 0;
  if (oi->kind == 0) {
    if (q->oid && !(oi->flags & MGRI_OPF_O)) return MGR_EBADOP;
    if (!arity) return MGR_ETYPE;
  } else {
    if (q->oid == 0) return MGR_EBADOP;
    if (!exact || w->stale) return ANY;
    kind = live_kind(w, q->oid);
    if (!kind) return MGR_ENOTFOUND;
    uint32_t base = kind == MGR_K_RLOCK        ? MGR_K_LOCK
                    : kind == MGR_K_JQUEUE     ? MGR_K_QUEUE
                    : kind == MGR_K_BSEMAPHORE ? MGR_K_SEMAPHORE
                                               : kind;
    if (oi->kind != kind && oi->kind != base) return MGR_EBADOP;
    if (!arity) return MGR_ETYPE;
  }
  if (w->desync || w->stale) return ANY;
  const mgr_value *a = q->args;
  switch (q->op) {
  case MGRI_OP_PING:
    return MGR_OK;
  case MGRI_OP_CREATE: {
    if (a[0].type != MGR_T_INT) return MGR_ETYPE;
    if (a[0].u.i < 1 || a[0].u.i > (int64_t)MGRI_KIND_MAX) return MGR_EVALUE;
    const mgr_value *init = q->nargs > 1 ? &a[1] : NULL;
    if (!exact && init && has_ref(init)) return ANY;
    return init_status(w, (uint32_t)a[0].u.i, init);
  }
  case MGRI_OP_OPEN: {
    if (a[0].type != MGR_T_TEXT) return MGR_ETYPE;
    if (a[0].u.s.len == 0 || a[0].u.s.len > MGRI_NAME_MAX ||
        memchr(a[0].u.s.ptr, 0, a[0].u.s.len))
      return MGR_EVALUE;
    if (a[1].type != MGR_T_INT) return MGR_ETYPE;
    if (a[1].u.i < 1 || a[1].u.i > (int64_t)MGRI_KIND_MAX) return MGR_EVALUE;
    uint32_t okind = (uint32_t)a[1].u.i;
    const mgr_value *init = q->nargs > 2 ? &a[2] : NULL;
    if (!exact && init && has_ref(init)) return ANY;
    int st = init_status(w, okind, init);
    if (st != MGR_OK) return st;
    bool create = true;
    if (q->nargs > 3) {
      if (a[3].type != MGR_T_BOOL) return MGR_ETYPE;
      create = a[3].u.b;
    }
    int n = name_index(&a[0]);
    if (n < 0) return create ? ANY : MGR_ENOTFOUND;
    if (w->name_id[n]) return w->name_kind[n] == okind ? MGR_OK : MGR_ETYPE;
    return create ? MGR_OK : MGR_ENOTFOUND;
  }
  case MGRI_OP_RELEASE:
    return held(k->s, q->oid) ? MGR_OK : MGR_ENOTFOUND;
  case MGRI_OP_RETAIN:
    if (a[0].type != MGR_T_ARRAY) return MGR_ETYPE;
    if (a[0].u.a.len > MGRI_RETAIN_MAX) return MGR_ELIMIT;
    for (size_t i = 0; i < a[0].u.a.len; i++) {
      if (!is_uint(&a[0].u.a.items[i])) return MGR_ETYPE;
      if (!exact) return ANY;
      if (!live_kind(w, (uint64_t)a[0].u.a.items[i].u.i)) return MGR_ENOTFOUND;
    }
    return exact ? MGR_OK : ANY;
  case MGRI_OP_UNLINK: {
    if (a[0].type != MGR_T_TEXT) return MGR_ETYPE;
    int n = name_index(&a[0]);
    return n >= 0 && w->name_id[n] ? MGR_OK : MGR_ENOTFOUND;
  }
  case MGRI_OP_LIST:
  case MGRI_OP_STATS:
    return MGR_OK;
  case MGRI_OP_DUMP:
    return exact ? (live_kind(w, q->oid) ? MGR_OK : MGR_ENOTFOUND) : ANY;
  default:
    break;
  }
  if (oi->kind == 0) return ANY;
  (void)kind;
  const content *m = NULL;
  for (size_t i = 0; i < w->ncont; i++)
    if (w->cont[i].id == q->oid) m = &w->cont[i];
  bool known = m && m->known;
  switch (q->op) {
  case MGRI_OP_VAR_GET:
    return MGR_OK;
  case MGRI_OP_VAR_SET:
  case MGRI_OP_LIST_APPEND:
    return refs_live(w, &a[0]) ? MGR_OK : MGR_ENOTFOUND;
  case MGRI_OP_LIST_POP:
    if (q->nargs || !known) return ANY;
    return m->n ? MGR_OK : MGR_EINDEX;
  case MGRI_OP_DICT_SET:
    if (a[0].type != MGR_T_INT) return ANY;
    return refs_live(w, &a[1]) ? MGR_OK : MGR_ENOTFOUND;
  case MGRI_OP_DICT_DEL:
    if (a[0].type != MGR_T_INT || !known) return ANY;
    for (size_t j = 0; j < m->n / 2; j++)
      if (m->items[2 * j].type == MGR_T_INT && m->items[2 * j].u.i == a[0].u.i)
        return MGR_OK;
    return MGR_EKEY;
  case MGRI_OP_LOCK_RELEASE:
  case MGRI_OP_LOCK_LOCKED:
  case MGRI_OP_QUEUE_QSIZE:
  case MGRI_OP_QUEUE_EMPTY:
  case MGRI_OP_QUEUE_FULL:
  case MGRI_OP_NS_ITEMS:
  case MGRI_OP_EVENT_SET:
  case MGRI_OP_EVENT_CLEAR:
  case MGRI_OP_EVENT_IS_SET:
  case MGRI_OP_SEM_VALUE:
  case MGRI_OP_BARRIER_RESET:
  case MGRI_OP_BARRIER_ABORT:
  case MGRI_OP_BARRIER_PARTIES:
  case MGRI_OP_BARRIER_N_WAITING:
  case MGRI_OP_BARRIER_BROKEN:
  case MGRI_OP_ARRAY_LEN:
  case MGRI_OP_ARRAY_TYPECODE:
    /* Never fail on a live object of their kind (LOCK_RELEASE: STATE). */
    return q->op == MGRI_OP_LOCK_RELEASE ? ANY : MGR_OK;
  default:
    return ANY;
  }
}

/* Checks what an OK result of a read op may be. */
static void check_result(const req *q, const mgr_value *r) {
  switch (q->op) {
  case MGRI_OP_LOCK_LOCKED:
  case MGRI_OP_QUEUE_EMPTY:
  case MGRI_OP_QUEUE_FULL:
  case MGRI_OP_EVENT_IS_SET:
  case MGRI_OP_BARRIER_BROKEN:
  case MGRI_OP_SEM_ACQUIRE:
  case MGRI_OP_EVENT_WAIT:
  case MGRI_OP_QUEUE_JOIN:
  case MGRI_OP_DICT_CONTAINS:
  case MGRI_OP_LIST_CONTAINS:
    FUZZ_CHECK(r->type == MGR_T_BOOL);
    break;
  case MGRI_OP_QUEUE_QSIZE:
  case MGRI_OP_SEM_VALUE:
  case MGRI_OP_BARRIER_N_WAITING:
  case MGRI_OP_ARRAY_LEN:
  case MGRI_OP_DICT_LEN:
  case MGRI_OP_LIST_LEN:
  case MGRI_OP_LIST_COUNT:
    FUZZ_CHECK(r->type == MGR_T_INT && r->u.i >= 0);
    break;
  case MGRI_OP_BARRIER_PARTIES:
    FUZZ_CHECK(r->type == MGR_T_INT && r->u.i >= 1);
    break;
  case MGRI_OP_LOCK_ACQUIRE:
  case MGRI_OP_COND_ACQUIRE:
    FUZZ_CHECK(r->type == MGR_T_INT && r->u.i >= 0 && r->u.i <= 2);
    break;
  case MGRI_OP_COND_WAIT:
    FUZZ_CHECK(r->type == MGR_T_INT && r->u.i >= 0 && r->u.i <= 3);
    break;
  case MGRI_OP_BARRIER_WAIT:
    FUZZ_CHECK(r->type == MGR_T_INT && r->u.i >= 0);
    break;
  case MGRI_OP_ARRAY_TYPECODE:
    FUZZ_CHECK(r->type == MGR_T_TEXT && r->u.s.len == 1);
    break;
  case MGRI_OP_NS_ITEMS:
  case MGRI_OP_STATS:
  case MGRI_OP_DUMP:
    FUZZ_CHECK(r->type == MGR_T_MAP);
    break;
  case MGRI_OP_LIST:
  case MGRI_OP_DICT_KEYS:
  case MGRI_OP_DICT_VALUES:
  case MGRI_OP_DICT_ITEMS:
  case MGRI_OP_LIST_COPY:
  case MGRI_OP_LIST_GETSLICE:
  case MGRI_OP_ARRAY_GETSLICE:
    FUZZ_CHECK(r->type == MGR_T_ARRAY);
    break;
  default:
    break;
  }
}

/* Applies the outcome of q (status, result) to the model, checking the
 * result against it. */
static void apply(world *w, conn *k, const req *q, int status,
                  const mgr_value *res) {
  const mgri_opinfo *oi = mgri_op_info(q->op);
  if (status == MGR_OK && oi) check_result(q, res);
  if (status != MGR_OK) {
    /* Errors change nothing (the model keeps checking that); LIMIT may
     * come after the effect (a reply too large, spec 3.7). */
    if (status == MGR_ELIMIT && oi && oi->kind && (oi->flags & MGRI_OPF_W))
      forget(w, q->oid);
    return;
  }
  const mgr_value *a = q->args;
  switch (q->op) {
  case MGRI_OP_PING:
    if (q->nargs)
      FUZZ_CHECK(model_same(&a[0], res));
    else
      FUZZ_CHECK(res->type == MGR_T_NIL);
    return;
  case MGRI_OP_CREATE: {
    uint32_t kind = (uint32_t)a[0].u.i;
    FUZZ_CHECK(res->type == MGR_T_REF && res->u.ref.kind == kind);
    FUZZ_CHECK(res->u.ref.id > w->max_id);
    w->max_id = res->u.ref.id;
    hold(w, k->s, w->max_id);
    content *m = cont_of(w, w->max_id, true);
    if (!m) return;
    const mgr_value *init = q->nargs > 1 ? &a[1] : NULL;
    m->n = 0;
    m->known = false;
    if (kind == MGR_K_VAR) {
      m->known = !init || (!w->raw && init->type != MGR_T_ARRAY &&
                           init->type != MGR_T_MAP);
      m->v = init ? *init : mgr_nil();
    } else if (kind == MGR_K_DICT || kind == MGR_K_LIST) {
      m->known = is_nil(init);
    }
    return;
  }
  case MGRI_OP_OPEN: {
    uint32_t kind = (uint32_t)a[1].u.i;
    FUZZ_CHECK(res->type == MGR_T_ARRAY && res->u.a.len == 2);
    const mgr_value *e = res->u.a.items;
    FUZZ_CHECK(e[0].type == MGR_T_REF && e[0].u.ref.kind == kind);
    FUZZ_CHECK(e[1].type == MGR_T_BOOL);
    int n = name_index(&a[0]);
    if (n >= 0 && !w->desync) {
      FUZZ_CHECK(e[1].u.b == !w->name_id[n]);
      if (w->name_id[n]) FUZZ_CHECK(e[0].u.ref.id == w->name_id[n]);
    }
    if (e[1].u.b) {
      FUZZ_CHECK(e[0].u.ref.id > w->max_id);
      w->max_id = e[0].u.ref.id;
      if (n >= 0) {
        w->name_id[n] = e[0].u.ref.id;
        w->name_kind[n] = kind;
      }
      content *m = cont_of(w, w->max_id, true);
      const mgr_value *init = q->nargs > 2 ? &a[2] : NULL;
      if (m) {
        m->n = 0;
        m->known = (kind == MGR_K_DICT || kind == MGR_K_LIST) && is_nil(init);
        if (kind == MGR_K_VAR) {
          m->known = !init || (!w->raw && init->type != MGR_T_ARRAY &&
                               init->type != MGR_T_MAP);
          m->v = init ? *init : mgr_nil();
        }
      }
    }
    hold(w, k->s, e[0].u.ref.id);
    return;
  }
  case MGRI_OP_RELEASE:
    unhold(k->s, q->oid);
    return;
  case MGRI_OP_RETAIN:
    for (size_t i = 0; i < a[0].u.a.len; i++)
      hold(w, k->s, (uint64_t)a[0].u.a.items[i].u.i);
    return;
  case MGRI_OP_UNLINK: {
    int n = name_index(&a[0]);
    if (n >= 0) w->name_id[n] = 0;
    return;
  }
  default:
    break;
  }
  if (!oi || oi->kind == 0) return;
  content *m = cont_of(w, q->oid, false);
  bool known = m && m->known;
  switch (q->op) {
  case MGRI_OP_VAR_GET:
    if (known) FUZZ_CHECK(model_same(&m->v, res));
    return;
  case MGRI_OP_VAR_SET:
    if ((m = cont_of(w, q->oid, true))) {
      m->known = !w->raw && a[0].type != MGR_T_ARRAY && a[0].type != MGR_T_MAP;
      m->v = a[0];
    }
    return;
  case MGRI_OP_LIST_APPEND:
    if (!known) return;
    if (m->n < ITEMS && !w->raw && a[0].type != MGR_T_ARRAY &&
        a[0].type != MGR_T_MAP)
      m->items[m->n++] = a[0];
    else
      m->known = false;
    return;
  case MGRI_OP_LIST_POP:
    if (!known) return;
    if (q->nargs) {
      m->known = false;
      return;
    }
    FUZZ_CHECK(m->n > 0);
    /* The popped ref is borrowed by the reply: it was valid then. */
    FUZZ_CHECK(model_same(&m->items[--m->n], res));
    return;
  case MGRI_OP_DICT_SET: {
    if (!known) return;
    if (w->raw || a[0].type != MGR_T_INT || a[1].type == MGR_T_ARRAY ||
        a[1].type == MGR_T_MAP) {
      m->known = false;
      return;
    }
    for (size_t j = 0; j < m->n / 2; j++)
      if (m->items[2 * j].type == MGR_T_INT &&
          m->items[2 * j].u.i == a[0].u.i) {
        m->items[2 * j + 1] = a[1];
        return;
      }
    if (m->n + 2 <= ITEMS) {
      m->items[m->n++] = a[0];
      m->items[m->n++] = a[1];
    } else {
      m->known = false;
    }
    return;
  }
  case MGRI_OP_DICT_DEL:
    if (!known) return;
    if (a[0].type != MGR_T_INT) {
      m->known = false;
      return;
    }
    for (size_t j = 0; j < m->n / 2; j++)
      if (m->items[2 * j].type == MGR_T_INT &&
          m->items[2 * j].u.i == a[0].u.i) {
        memmove(&m->items[2 * j], &m->items[2 * j + 2],
                (m->n - 2 * j - 2) * sizeof m->items[0]);
        m->n -= 2;
        return;
      }
    FUZZ_CHECK(0); /* deleted a key the model does not have */
    return;
  default:
    if (oi->flags & MGRI_OPF_W) forget(w, q->oid);
    return;
  }
}

/* Whether status is what was predicted (LIMIT is always possible where
 * memory is short, and for what creates an object when too many live). */
static bool as_predicted(const world *w, const req *q, int pred, int status) {
  if (pred == ANY || status == pred) return true;
  if (status == MGR_ELIMIT) {
    if (w->tight) return true;
    /* A result larger than the frame (spec 3.7). */
    if (pred == MGR_OK && w->oversize) return true;
    if (pred == MGR_OK && (q->op == MGRI_OP_CREATE || q->op == MGRI_OP_OPEN))
      return true;
  }
  return false;
}

/* One modelled request on k: predicted, dispatched, checked, applied.
 * Returns the status (1: parked). */
static int run(world *w, conn *k, const req *q) {
  int pred = predict(w, k, q, true);
  mgri_reply r = call_rid(w, k, ++k->rid, q, NULL);
  if (r.status == 1) {
    FUZZ_CHECK(pred == ANY); /* parked where an answer was due */
    return 1;
  }
  if (!as_predicted(w, q, pred, r.status))
    fprintf(stderr, "fuzz_dispatch: %s on #%llu: predicted %s, got %s (%.*s)\n",
            mgri_op_name(q->op), (unsigned long long)q->oid,
            pred == ANY ? "any" : mgr_err_name(pred), mgr_err_name(r.status),
            (int)r.msglen, r.msg ? r.msg : "");
  FUZZ_CHECK(as_predicted(w, q, pred, r.status));
  apply(w, k, q, r.status, &r.result);
  return r.status;
}

/* --- the check ---------------------------------------------------------------- */

typedef struct counts {
  uint64_t id[OBJS * 8];
  uint64_t n[OBJS * 8];
  size_t len;
  bool full;
} counts;

static void count_ref(void *ctx, uint64_t id) {
  counts *c = ctx;
  for (size_t i = 0; i < c->len; i++)
    if (c->id[i] == id) {
      c->n[i]++;
      return;
    }
  if (c->len < OBJS * 8) {
    c->id[c->len] = id;
    c->n[c->len++] = 1;
  } else {
    c->full = true;
  }
}

static uint64_t counted(const counts *c, uint64_t id) {
  for (size_t i = 0; i < c->len; i++)
    if (c->id[i] == id) return c->n[i];
  return 0;
}

static const mgr_value *get(const mgr_value *map, const char *key) {
  if (!map || map->type != MGR_T_MAP) return NULL;
  mgr_value k = mgr_text(key);
  return mgr_map_get(map, &k);
}

static int64_t get_int(const mgr_value *map, const char *key) {
  const mgr_value *v = get(map, key);
  FUZZ_CHECK(v && v->type == MGR_T_INT);
  return v->u.i;
}

static bool get_bool(const mgr_value *map, const char *key) {
  const mgr_value *v = get(map, key);
  FUZZ_CHECK(v && v->type == MGR_T_BOOL);
  return v->u.b;
}

/* The data items of an array's elements. */
static uint64_t items_of(const mgr_value *arr) {
  uint64_t n = 0;
  for (size_t j = 0; arr && arr->type == MGR_T_ARRAY && j < arr->u.a.len; j++)
    n += mgri_value_items(&arr->u.a.items[j], SIZE_MAX);
  return n;
}

/* The kind-specific invariants of one object from its DUMP. */
static void check_dump(world *w, uint64_t id, uint32_t kind, const mgr_value *d,
                       bool contents_read, uint64_t contents_items) {
  const mgr_value *st = get(d, "state");
  int64_t items = get_int(d, "items");
  switch (kind) {
  case MGR_K_DICT:
  case MGR_K_LIST:
    if (contents_read) FUZZ_CHECK((uint64_t)items == contents_items);
    break;
  case MGR_K_LOCK:
  case MGR_K_RLOCK: {
    bool locked = get_bool(st, "locked");
    int64_t waiters = get_int(st, "waiters");
    FUZZ_CHECK(waiters >= (int64_t)parked_on(w, id, MGRI_OP_LOCK_ACQUIRE));
    FUZZ_CHECK(locked || waiters == 0); /* a free lock has no waiter */
    FUZZ_CHECK(locked == (get(d, "owner")->type != MGR_T_NIL));
    FUZZ_CHECK(items == 0);
    break;
  }
  case MGR_K_QUEUE:
  case MGR_K_JQUEUE: {
    const mgr_value *c = get(st, "contents");
    FUZZ_CHECK(c && c->type == MGR_T_ARRAY);
    int64_t size = get_int(st, "size"), maxsize = get_int(st, "maxsize");
    int64_t getters = get_int(st, "getters"), putters = get_int(st, "putters");
    FUZZ_CHECK((size_t)size == c->u.a.len);
    FUZZ_CHECK((size_t)getters == parked_on(w, id, MGRI_OP_QUEUE_GET));
    FUZZ_CHECK((size_t)putters == parked_on(w, id, MGRI_OP_QUEUE_PUT));
    FUZZ_CHECK(size == 0 || getters == 0); /* no getter waits beside an item */
    FUZZ_CHECK(putters == 0 || (maxsize > 0 && size >= maxsize));
    uint64_t waiting = 0;
    for (size_t i = 0; i < w->nparked; i++)
      if (w->parked[i].oid == id && w->parked[i].op == MGRI_OP_QUEUE_PUT)
        waiting += w->parked[i].items;
    FUZZ_CHECK((uint64_t)items == items_of(c) + waiting);
    if (kind == MGR_K_JQUEUE) {
      int64_t unfinished = get_int(st, "unfinished"),
              joiners = get_int(st, "joiners");
      FUZZ_CHECK(unfinished >= 0);
      FUZZ_CHECK((size_t)joiners == parked_on(w, id, MGRI_OP_QUEUE_JOIN));
      FUZZ_CHECK(unfinished > 0 || joiners == 0);
    }
    break;
  }
  case MGR_K_NAMESPACE: {
    FUZZ_CHECK(st && st->type == MGR_T_MAP);
    uint64_t n = 0;
    for (size_t i = 0; i < st->u.a.len; i++)
      n += 1 + mgri_value_items(&st->u.a.items[2 * i + 1], SIZE_MAX);
    FUZZ_CHECK((uint64_t)items == n);
    break;
  }
  case MGR_K_EVENT: {
    bool set = get_bool(st, "set");
    int64_t waiters = get_int(st, "waiters");
    FUZZ_CHECK((size_t)waiters == parked_on(w, id, MGRI_OP_EVENT_WAIT));
    FUZZ_CHECK(!set || waiters == 0);
    FUZZ_CHECK(items == 0);
    break;
  }
  case MGR_K_CONDITION: {
    int64_t waiters = get_int(st, "waiters");
    FUZZ_CHECK((size_t)waiters <= parked_on(w, id, MGRI_OP_COND_WAIT));
    const mgr_value *ls = get(st, "lock_state");
    bool locked = get_bool(ls, "locked");
    FUZZ_CHECK(locked || get_int(ls, "waiters") == 0);
    /* A shared lock is a stored ref: one item. */
    const mgr_value *lk = get(st, "lock");
    FUZZ_CHECK(lk && items == (lk->type == MGR_T_NIL ? 0 : 1));
    break;
  }
  case MGR_K_SEMAPHORE:
  case MGR_K_BSEMAPHORE: {
    int64_t value = get_int(st, "value"), waiters = get_int(st, "waiters");
    FUZZ_CHECK(value >= 0);
    FUZZ_CHECK((size_t)waiters == parked_on(w, id, MGRI_OP_SEM_ACQUIRE));
    FUZZ_CHECK(value == 0 || waiters == 0); /* no waiter beside a unit */
    if (kind == MGR_K_BSEMAPHORE) FUZZ_CHECK(value <= get_int(st, "initial"));
    FUZZ_CHECK(items == 0);
    break;
  }
  case MGR_K_BARRIER: {
    int64_t parties = get_int(st, "parties"), nw = get_int(st, "n_waiting");
    bool broken = get_bool(st, "broken");
    FUZZ_CHECK(parties >= 1 && nw >= 0 && nw < parties);
    FUZZ_CHECK((size_t)nw == parked_on(w, id, MGRI_OP_BARRIER_WAIT));
    FUZZ_CHECK(!broken || nw == 0);
    FUZZ_CHECK(items == 0);
    break;
  }
  case MGR_K_ARRAY: {
    int64_t len = get_int(st, "len");
    FUZZ_CHECK(len >= 0 && items == len); /* spec 9.14: items is the length */
    const mgr_value *tc = get(st, "typecode");
    FUZZ_CHECK(tc && tc->type == MGR_T_TEXT && tc->u.s.len == 1);
    break;
  }
  default:
    break;
  }
}

/* Reads the whole store through the observer and checks the invariants. */
static void check(world *w, bool final) {
  mgri_arena_reset(&w->arena);
  mgri_reply r = call(w, &w->obs, MGRI_OP_LIST, 0, NULL, 0, NULL);
  if (r.status == MGR_ELIMIT &&
      (w->tight || w->frame_max < MGRI_FRAME_MAX_DEFAULT)) {
    /* Memory (or the frame) too short to list: the model's view of the
     * live objects is stale until the next check that can. */
    w->stale = true;
    FUZZ_CHECK(mgri_store_parked_count(w->st) == w->nparked);
    return;
  }
  FUZZ_CHECK(r.status == MGR_OK && r.result.type == MGR_T_ARRAY);
  w->stale = false;
  const mgr_value rows = r.result;
  FUZZ_CHECK(rows.u.a.len == mgri_store_object_count(w->st));
  FUZZ_CHECK(rows.u.a.len <= OBJS);
  w->nlive = 0;
  counts stored;
  stored.len = 0;
  stored.full = false;
  uint64_t prev = 0;
  mgri_mem *mem = mgri_store_mem(w->st);
  size_t obj_bytes = 0;
  for (size_t i = 0; i < rows.u.a.len; i++) {
    const mgr_value *row = &rows.u.a.items[i];
    FUZZ_CHECK(row->type == MGR_T_ARRAY && row->u.a.len == 4);
    const mgr_value *c = row->u.a.items;
    FUZZ_CHECK(c[0].type == MGR_T_INT && c[1].type == MGR_T_INT &&
               c[3].type == MGR_T_INT);
    uint64_t id = (uint64_t)c[0].u.i;
    FUZZ_CHECK(id > prev); /* ordered by id */
    prev = id;
    w->live[w->nlive] = id;
    w->live_kind[w->nlive++] = (uint32_t)c[1].u.i;
    uint32_t kind;
    uint64_t refs;
    const char *name;
    FUZZ_CHECK(mgri_store_object_info(w->st, id, &kind, &refs, &name) ==
               MGR_OK);
    FUZZ_CHECK(kind == c[1].u.i && refs == (uint64_t)c[3].u.i);
    FUZZ_CHECK(kind >= 1 && kind <= MGRI_KIND_MAX);
    FUZZ_CHECK(refs > 0 || name != NULL); /* else it would be destroyed */
    FUZZ_CHECK(name ? c[2].type == MGR_T_TEXT : c[2].type == MGR_T_NIL);
    /* The refs it stores, as the kind reports them. */
    counts mine;
    mine.len = 0;
    mine.full = false;
    mgri_store_object_refs(w->st, id, count_ref, &mine);
    for (size_t j = 0; j < mine.len; j++)
      for (uint64_t t = 0; t < mine.n[j]; t++)
        count_ref(&stored, mine.id[j]);
    size_t b = mgri_store_object_bytes(w->st, id);
    FUZZ_CHECK(b > 0);
    obj_bytes += b;
    /* Contents: for dict/list/var the refs read back are the kind's, and
     * the model's when it knows them. */
    if (!final && !was_touched(w, id) && w->step_no % CHECK_ALL) continue;
    uint64_t op = kind == MGR_K_DICT   ? MGRI_OP_DICT_ITEMS
                  : kind == MGR_K_LIST ? MGRI_OP_LIST_COPY
                  : kind == MGR_K_VAR  ? MGRI_OP_VAR_GET
                                       : 0;
    bool read = false;
    uint64_t citems = 0;
    if (op) {
      mgri_reply cr = call(w, &w->obs, op, id, NULL, 0, NULL);
      if (cr.status == MGR_ELIMIT) {
        FUZZ_CHECK(w->tight || w->frame_max < MGRI_FRAME_MAX_DEFAULT);
      } else {
        FUZZ_CHECK(cr.status == MGR_OK);
        read = true;
        counts back;
        back.len = 0;
        back.full = false;
        mgri_value_refs(&cr.result, count_ref, &back);
        FUZZ_CHECK(back.len == mine.len);
        for (size_t j = 0; j < back.len; j++)
          FUZZ_CHECK(counted(&mine, back.id[j]) == back.n[j]);
        if (kind == MGR_K_DICT) {
          for (size_t j = 0; j < cr.result.u.a.len; j++) {
            const mgr_value *e = &cr.result.u.a.items[j];
            citems += mgri_value_items(&e->u.a.items[0], SIZE_MAX) +
                      mgri_value_items(&e->u.a.items[1], SIZE_MAX);
          }
        } else if (kind == MGR_K_LIST) {
          citems = items_of(&cr.result);
        }
        content *m = cont_of(w, id, false);
        if (m && m->known) {
          if (kind == MGR_K_VAR) {
            FUZZ_CHECK(model_same(&m->v, &cr.result));
          } else if (kind == MGR_K_LIST) {
            FUZZ_CHECK(cr.result.type == MGR_T_ARRAY &&
                       cr.result.u.a.len == m->n);
            for (size_t j = 0; j < m->n; j++)
              FUZZ_CHECK(model_same(&m->items[j], &cr.result.u.a.items[j]));
          } else {
            FUZZ_CHECK(cr.result.type == MGR_T_ARRAY &&
                       2 * cr.result.u.a.len == m->n);
            for (size_t j = 0; j < m->n / 2; j++) {
              const mgr_value *kv = &cr.result.u.a.items[j];
              FUZZ_CHECK(kv->type == MGR_T_ARRAY && kv->u.a.len == 2);
              FUZZ_CHECK(model_same(&m->items[2 * j], &kv->u.a.items[0]));
              FUZZ_CHECK(model_same(&m->items[2 * j + 1], &kv->u.a.items[1]));
            }
          }
        }
      }
    }
    /* DUMP: the bytes it holds, the items, and the kind's own invariants. */
    mgri_reply d = call(w, &w->obs, MGRI_OP_DUMP, id, NULL, 0, NULL);
    if (d.status == MGR_ELIMIT) {
      FUZZ_CHECK(w->tight || w->frame_max < MGRI_FRAME_MAX_DEFAULT);
      continue;
    }
    FUZZ_CHECK(d.status == MGR_OK && d.result.type == MGR_T_MAP);
    FUZZ_CHECK((size_t)get_int(&d.result, "bytes") == b);
    FUZZ_CHECK((uint64_t)get_int(&d.result, "refs") == refs);
    FUZZ_CHECK((uint64_t)get_int(&d.result, "id") == id);
    check_dump(w, id, kind, &d.result, read, citems);
  }
  FUZZ_CHECK(mem->used[MGRI_MEM_OBJECTS] == obj_bytes);
  FUZZ_CHECK(mgri_store_parked_count(w->st) == w->nparked);
  if (w->nparked == 0) FUZZ_CHECK(mem->used[MGRI_MEM_PARKED] == 0);
  /* Nothing dangles; counts are sessions holding + refs stored. */
  for (size_t i = 0; i < stored.len; i++)
    FUZZ_CHECK(live_kind(w, stored.id[i]) != 0);
  for (size_t i = 0; i < w->nlive && !w->desync && !stored.full; i++) {
    uint64_t id = w->live[i], holders = 0;
    for (int s = 0; s < SLOTS + 1; s++)
      if (w->sessions[s].nconns && held(&w->sessions[s], id)) holders++;
    uint64_t refs = 0;
    mgri_store_object_info(w->st, id, NULL, &refs, NULL);
    if (refs != holders + counted(&stored, id))
      fprintf(stderr,
              "fuzz_dispatch: #%llu count %llu, sessions %llu + stored %llu\n",
              (unsigned long long)id, (unsigned long long)refs,
              (unsigned long long)holders,
              (unsigned long long)counted(&stored, id));
    FUZZ_CHECK(refs == holders + counted(&stored, id));
    if (final) FUZZ_CHECK(holders == 0);
  }
  /* Held objects are alive; names are as the model says. */
  for (int s = 0; s < SLOTS + 1 && !w->desync; s++)
    for (size_t j = 0; w->sessions[s].nconns && j < w->sessions[s].nheld; j++)
      FUZZ_CHECK(live_kind(w, w->sessions[s].held[j]) != 0);
  for (int n = 0; n < NAMES && !w->desync; n++) {
    if (!w->name_id[n]) continue;
    const char *name = NULL;
    uint32_t kind;
    FUZZ_CHECK(mgri_store_object_info(w->st, w->name_id[n], &kind, NULL,
                                      &name) == MGR_OK);
    FUZZ_CHECK(name && strcmp(name, names[n]) == 0 && kind == w->name_kind[n]);
  }
  /* Forget the content models of objects that are gone. */
  for (size_t i = 0; i < w->ncont;)
    if (!live_kind(w, w->cont[i].id))
      w->cont[i] = w->cont[--w->ncont];
    else
      i++;
  w->ntouched = 0;
  w->touched_all = false;
  w->step_no++;
}

/* STATS against the model. */
static void check_stats(world *w, const mgr_value *st) {
  FUZZ_CHECK(st->type == MGR_T_MAP);
  const mgr_value *objs = get(st, "objects"), *memv = get(st, "memory"),
                  *rq = get(st, "requests"), *cn = get(st, "connections");
  mgri_mem *mem = mgri_store_mem(w->st);
  FUZZ_CHECK((size_t)get_int(objs, "count") == mgri_store_object_count(w->st));
  FUZZ_CHECK((size_t)get_int(memv, "objects") == mem->used[MGRI_MEM_OBJECTS]);
  FUZZ_CHECK((size_t)get_int(memv, "used") <= (size_t)get_int(memv, "peak"));
  FUZZ_CHECK((size_t)get_int(rq, "parked") == w->nparked);
  FUZZ_CHECK((uint64_t)get_int(rq, "total") == w->requests);
  /* STATS itself is timed (and perhaps logged) after its result is made. */
  uint64_t slow = w->slow - (w->lead >= 10 * 1000000);
  FUZZ_CHECK((uint64_t)get_int(rq, "slow") == slow);
  const mgr_value *slowlog = get(st, "slowlog");
  FUZZ_CHECK(slowlog && slowlog->type == MGR_T_ARRAY &&
             slowlog->u.a.len ==
                 (slow < MGRI_SLOWLOG_LEN ? slow : MGRI_SLOWLOG_LEN));
  size_t open = w->obs.c != NULL;
  for (int i = 0; i < SLOTS; i++)
    open += w->slots[i].c != NULL;
  FUZZ_CHECK((size_t)get_int(cn, "open") == open);
  if (w->stale) return;
  /* Per kind: as many objects and bytes as LIST and the store say. */
  for (uint32_t kd = 1; kd <= MGRI_KIND_MAX; kd++) {
    size_t n = 0, bytes = 0;
    for (size_t i = 0; i < w->nlive; i++)
      if (w->live_kind[i] == kd) {
        n++;
        bytes += mgri_store_object_bytes(w->st, w->live[i]);
      }
    const mgr_value *k = get(objs, mgri_kind_short(kd));
    FUZZ_CHECK((size_t)get_int(k, "count") == n);
    FUZZ_CHECK((size_t)get_int(k, "bytes") == bytes);
  }
}

/* --- steps ------------------------------------------------------------------- */

static sess *new_sess(world *w, uint64_t id) {
  for (int s = 0; s < SLOTS + 1; s++)
    if (w->sessions[s].nconns == 0) {
      memset(&w->sessions[s], 0, sizeof w->sessions[s]);
      w->sessions[s].id = id;
      return &w->sessions[s];
    }
  FUZZ_CHECK(0);
  return NULL;
}

static void session_ended(world *w, sess *s) {
  s->nheld = 0;
  w->ended[w->endpos++ % 16] = s->id;
  if (w->nended < 16) w->nended++;
}

/* Opens a connection into k with a HELLO the input may bend (bend: a byte
 * saying how, 0 for none), joining session join (0: a new one). Returns
 * whether it is open. */
static bool open_conn(world *w, conn *k, uint64_t join, uint8_t bend) {
  memset(k, 0, sizeof *k);
  mgri_sconn *c = mgri_store_conn_open(w->st, NULL);
  if (!c) {
    FUZZ_CHECK(w->tight); /* 7 connections are far from conns_max */
    return false;
  }
  uint64_t rid = 0, oid = 0;
  mgr_value a[6] = {mgr_int(MGR_PROTOCOL_MIN),
                    mgr_int(MGR_PROTOCOL_MAX),
                    mgr_int(1234),
                    mgr_int((int64_t)join),
                    mgr_int(0),
                    mgr_int(0)};
  size_t n = 4;
  switch (bend % 10) {
  case 1:
    rid = 1 + (bend >> 4);
    break;
  case 2:
    oid = 1 + (bend >> 4);
    break;
  case 3:
    n = (bend >> 4) % 7;
    if (n == 4) n = 5;
    break;
  case 4: {
    static const int64_t lo[] = {0, 1, 2, 0, 1, 2, 3, 0};
    static const int64_t hi[] = {0, 0, 1, 1, 2, 5, 9, INT64_MAX};
    a[0] = mgr_int(lo[(bend >> 4) % 8]);
    a[1] = mgr_int(hi[(bend >> 5) % 8]);
    break;
  }
  case 5: {
    uint8_t b = fuzz_u8(&w->in);
    a[b % 4] = (b & 0x10)   ? mgr_int(-1)
               : (b & 0x20) ? mgr_float(1.0)
               : (b & 0x40) ? mgr_bool(true)
                            : mgr_text("1");
    break;
  }
  case 6: {
    /* A session that never existed, or one that ended. */
    uint64_t sid = w->nended && (bend & 0x10)
                       ? w->ended[(bend >> 5) % w->nended]
                       : w->max_session + 1 + (bend >> 5);
    if (bend & 0x80) sid = INT64_MAX;
    a[3] = mgr_int((int64_t)sid);
    join = sid;
    break;
  }
  default:
    break;
  }
  /* Spec 7.6: rid and oid, arity and types, versions, session. */
  int expect = MGR_OK;
  if (rid || oid)
    expect = MGR_EPROTO;
  else if (n != 4)
    expect = MGR_ETYPE;
  else if (!is_uint(&a[0]) || !is_uint(&a[1]) || !is_uint(&a[2]) ||
           !is_uint(&a[3]))
    expect = MGR_ETYPE;
  else {
    int64_t lo = a[0].u.i, hi = a[1].u.i;
    int64_t v = hi < MGR_PROTOCOL_MAX ? hi : MGR_PROTOCOL_MAX;
    join = (uint64_t)a[3].u.i;
    if (lo > hi || v < lo || v < MGR_PROTOCOL_MIN)
      expect = MGR_EVERSION;
    else if (join && !session_live(w, join))
      expect = MGR_ENOTFOUND;
  }
  k->c = c;
  req q = {MGRI_OP_HELLO, oid, a, n};
  mgri_arena_reset(&w->arena);
  int act;
  mgri_reply rp = call_rid(w, k, rid, &q, &act);
  FUZZ_CHECK(rp.status != 1);
  if (rp.status != expect && !(rp.status == MGR_ELIMIT && w->tight))
    fprintf(stderr, "fuzz_dispatch: HELLO: predicted %s, got %s\n",
            mgr_err_name(expect), mgr_err_name(rp.status));
  FUZZ_CHECK(rp.status == expect || (rp.status == MGR_ELIMIT && w->tight));
  if (rp.status != MGR_OK) {
    FUZZ_CHECK(act == MGRI_DISPATCH_CLOSE); /* every HELLO failure closes */
    FUZZ_CHECK(!mgri_sconn_hello(c));
    k->c = NULL;
    mgri_store_conn_close(w->st, c);
    drop_reps(w);
    return false;
  }
  FUZZ_CHECK(act == MGRI_DISPATCH_OK && mgri_sconn_hello(c));
  FUZZ_CHECK(rp.result.type == MGR_T_ARRAY && rp.result.u.a.len == 5);
  const mgr_value *f = rp.result.u.a.items;
  FUZZ_CHECK(f[0].type == MGR_T_INT && f[0].u.i == MGR_PROTOCOL_MAX);
  FUZZ_CHECK(f[1].type == MGR_T_INT && f[1].u.i == 4242);
  FUZZ_CHECK(f[2].type == MGR_T_INT && (uint64_t)f[2].u.i == mgri_sconn_id(c));
  FUZZ_CHECK(f[4].type == MGR_T_INT && (uint64_t)f[4].u.i == w->frame_max);
  uint64_t sid = mgri_sconn_session(c);
  FUZZ_CHECK(sid != 0 && f[3].type == MGR_T_INT && (uint64_t)f[3].u.i == sid);
  if (join)
    FUZZ_CHECK(sid == join);
  else
    FUZZ_CHECK(sid > w->max_session); /* never reused */
  if (sid > w->max_session) w->max_session = sid;
  k->s = NULL;
  for (int s = 0; s < SLOTS + 1; s++)
    if (w->sessions[s].nconns && w->sessions[s].id == sid)
      k->s = &w->sessions[s];
  if (join) FUZZ_CHECK(k->s != NULL);
  if (!k->s) k->s = new_sess(w, sid);
  k->s->nconns++;
  return true;
}

static void close_conn(world *w, conn *k) {
  drop_reps(w);
  mgri_sconn *c = k->c;
  k->c = NULL; /* from now on a reply to it is a finding (but see sink) */
  w->touched_all = true; /* its locks, its session's objects */
  w->closing_c = c;
  mgri_store_conn_close(w->st, c);
  w->closing_c = NULL;
  settle(w, NULL, 0); /* grants to others, a barrier broken */
  /* Its parked requests went without a reply. */
  for (size_t i = 0; i < w->nparked;)
    if (w->parked[i].c == c)
      w->parked[i] = w->parked[--w->nparked];
    else
      i++;
  FUZZ_CHECK(mgri_store_parked_count(w->st) == w->nparked);
  if (--k->s->nconns == 0) session_ended(w, k->s);
  k->s = NULL;
  k->closing = false;
}

/* Any open connection (for closing). */
static conn *pick_conn(world *w) {
  uint8_t b = fuzz_u8(&w->in);
  for (int i = 0; i < SLOTS; i++) {
    conn *k = &w->slots[(b + i) % SLOTS];
    if (k->c) return k;
  }
  return NULL;
}

/* An open connection whose requests the server still reads. */
static conn *pick_live(world *w) {
  uint8_t b = fuzz_u8(&w->in);
  for (int i = 0; i < SLOTS; i++) {
    conn *k = &w->slots[(b + i) % SLOTS];
    if (k->c && !k->closing) return k;
  }
  return NULL;
}

static uint64_t pick_raw(world *w) { return raw_ops[fuzz_u8(&w->in) % nraw]; }

/* A live object's id and one of its kind's ops (kind: 0 any). */
static bool pick_kind_op(world *w, uint32_t kind, uint64_t *oid, uint64_t *op) {
  uint64_t id = kind ? pick_kind(w, kind) : 0;
  if (!id && w->nlive) id = w->live[fuzz_u8(&w->in) % w->nlive];
  if (!id) return false;
  uint32_t kd = live_kind(w, id);
  if (!nkind_ops[kd]) return false;
  *oid = id;
  *op = kind_ops[kd][fuzz_u8(&w->in) % nkind_ops[kd]];
  return true;
}

static void shutdown_all(world *w);

/* A BATCH sub-request: its entry (as sent) and, when well formed, its
 * request. cls: 0 runs as a request, 1 malformed (TYPE), 2 forbidden
 * (VALUE). */
typedef struct bsub {
  mgr_value cell[3];
  mgr_value args[MGRI_ARGS_MAX + 2];
  pool p;
  mgr_value self;
  req q;
  int cls;
} bsub;

static bsub subs[SUBS];
static mgr_value bitems[BIG];
static const bsub *bof[BIG];

static void sub_entry(bsub *s, uint64_t op, uint64_t oid, size_t nargs) {
  s->q.op = op;
  s->q.oid = oid;
  s->q.args = s->args;
  s->q.nargs = nargs;
  s->cell[0] = mgr_int((int64_t)op);
  s->cell[1] = mgr_int((int64_t)oid);
  s->cell[2] = mgr_array(s->args, nargs);
  s->self = mgr_array(s->cell, 3);
}

/* A blocking op that could wait (blocking true or omitted), forbidden in a
 * BATCH. */
static void gen_forbidden(world *w, bsub *s) {
  uint8_t b = fuzz_u8(&w->in);
  uint64_t oid = pick_id(w);
  switch (b % 12) {
  case 0:
    s->args[0] = mgr_int(1), s->args[1] = mgr_int(1), s->args[2] = mgr_int(1),
    s->args[3] = mgr_int(0);
    sub_entry(s, MGRI_OP_HELLO, 0, 4);
    return;
  case 1: {
    /* A nested BATCH holding one harmless sub-request. */
    mgr_value *c = pool_take(&s->p, 5);
    c[0] = mgr_int(MGRI_OP_PING);
    c[1] = mgr_int(0);
    c[2] = mgr_array(NULL, 0);
    c[3] = mgr_array(c, 3);
    c[4] = mgr_array(&c[3], 1);
    s->args[0] = c[4];
    sub_entry(s, MGRI_OP_BATCH, 0, 1);
    return;
  }
  case 2:
    sub_entry(s, MGRI_OP_SHUTDOWN, 0, 0);
    return;
  case 3:
    s->args[0] = mgr_bool(true), s->args[1] = mgr_nil();
    sub_entry(s, (b & 0x10) ? MGRI_OP_COND_ACQUIRE : MGRI_OP_LOCK_ACQUIRE, oid,
              2);
    return;
  case 4:
    sub_entry(s, MGRI_OP_QUEUE_GET, oid, (b >> 4) & 1);
    s->args[0] = mgr_bool(true);
    return;
  case 5:
    s->args[0] = atom(w);
    s->args[1] = mgr_bool(true);
    sub_entry(s, MGRI_OP_QUEUE_PUT, oid, 1 + ((b >> 4) & 1));
    return;
  case 6:
    s->args[0] = mgr_bool(true);
    sub_entry(s, MGRI_OP_SEM_ACQUIRE, oid, (b >> 4) & 1);
    return;
  case 7:
    s->args[0] = mgr_float(0.0);
    sub_entry(s, MGRI_OP_QUEUE_JOIN, oid, (b >> 4) & 1);
    return;
  case 8:
    s->args[0] = mgr_int(0);
    sub_entry(s, MGRI_OP_EVENT_WAIT, oid, (b >> 4) & 1);
    return;
  case 9:
    s->args[0] = mgr_int(0);
    sub_entry(s, MGRI_OP_COND_WAIT, oid, (b >> 4) & 1);
    return;
  case 10:
    s->args[0] = mgr_nil();
    sub_entry(s, MGRI_OP_BARRIER_WAIT, oid, (b >> 4) & 1);
    return;
  default:
    /* LOCK_ACQUIRE without arguments: forbidden before the arity check. */
    sub_entry(s, MGRI_OP_LOCK_ACQUIRE, oid, 0);
    return;
  }
}

/* Whether a sub-request may wait (dispatch.c's rule, spec 9.6.3). */
static bool may_wait(const req *q) {
  const mgri_opinfo *oi = mgri_op_info(q->op);
  if (!oi || !(oi->flags & MGRI_OPF_B)) return false;
  int i = MGRI_OPF_BARG_OF(oi->flags);
  if (i < 0 || (size_t)i >= q->nargs) return true;
  return q->args[i].type == MGR_T_BOOL && q->args[i].u.b;
}

/* A modelled request on k (shared by the steps and BATCH); false when
 * there is nothing to aim it at. */
static bool gen_modelled(world *w, uint8_t sel, mgr_value *args, pool *p,
                         req *q) {
  memset(q, 0, sizeof *q);
  q->args = args;
  switch (sel % 10) {
  case 0: { /* CREATE: every kind and then some, with or without init */
    uint8_t b = fuzz_u8(&w->in);
    uint32_t kind = b % 16;
    args[0] = mgr_int(kind);
    q->op = MGRI_OP_CREATE;
    q->nargs = 1;
    if (b & 0x10) {
      bool has;
      args[1] = gen_init(w, kind, p, &has);
      q->nargs += has;
    }
    if ((b & 0xe0) == 0xe0) args[0] = mgr_text("dict");
    return true;
  }
  case 1: { /* OPEN name kind init? create? */
    uint8_t b = fuzz_u8(&w->in);
    uint32_t kind = 1 + (b >> 2) % MGRI_KIND_MAX;
    args[0] = (b & 0x80) ? g_objname(w) : mgr_text(names[b % NAMES]);
    args[1] = mgr_int(kind);
    bool has;
    args[2] = gen_init(w, kind, p, &has);
    if (!has) args[2] = mgr_nil();
    args[3] = mgr_bool(!(b & 0x40));
    q->op = MGRI_OP_OPEN;
    q->nargs = 2 + (fuzz_u8(&w->in) % 3);
    return true;
  }
  case 2:
    q->op = MGRI_OP_RELEASE;
    q->oid = pick_id(w);
    return true;
  case 3: {
    size_t n = fuzz_u8(&w->in) % 4;
    mgr_value *ids = pool_take(p, n);
    if (!ids) n = 0;
    for (size_t i = 0; i < n; i++)
      ids[i] = mgr_int((int64_t)pick_id(w));
    if (n && (fuzz_u8(&w->in) & 0xf) == 0) ids[0] = mgr_int(-1);
    args[0] = mgr_array(ids, n);
    q->op = MGRI_OP_RETAIN;
    q->nargs = 1;
    return true;
  }
  case 4:
    args[0] = (fuzz_u8(&w->in) & 7) ? mgr_text(names[fuzz_u8(&w->in) % NAMES])
                                    : g_objname(w);
    q->op = MGRI_OP_UNLINK;
    q->nargs = 1;
    return true;
  case 5: { /* VAR_SET / VAR_GET */
    uint8_t b = fuzz_u8(&w->in);
    if (!(q->oid = pick_kind(w, MGR_K_VAR))) return false;
    q->op = (b & 1) ? MGRI_OP_VAR_GET : MGRI_OP_VAR_SET;
    q->nargs = b & 1 ? 0 : 1;
    args[0] = atom(w);
    return true;
  }
  case 6: { /* LIST_APPEND / LIST_POP */
    uint8_t b = fuzz_u8(&w->in);
    if (!(q->oid = pick_kind(w, MGR_K_LIST))) return false;
    q->op = (b & 1) ? MGRI_OP_LIST_POP : MGRI_OP_LIST_APPEND;
    q->nargs = b & 1 ? 0 : 1;
    args[0] = atom(w);
    return true;
  }
  case 7: { /* DICT_SET / DICT_DEL with small int keys */
    uint8_t b = fuzz_u8(&w->in);
    if (!(q->oid = pick_kind(w, MGR_K_DICT))) return false;
    q->op = (b & 1) ? MGRI_OP_DICT_DEL : MGRI_OP_DICT_SET;
    q->nargs = b & 1 ? 1 : 2;
    args[0] = mgr_int(b >> 1 & 3);
    args[1] = atom(w);
    return true;
  }
  case 8: /* PING */
    q->op = MGRI_OP_PING;
    q->nargs = fuzz_u8(&w->in) & 1;
    args[0] = anyval(w, p, 1);
    return true;
  default: { /* an op of some live object's kind */
    uint32_t kind = fuzz_u8(&w->in) % (MGRI_KIND_MAX + 1);
    if (!pick_kind_op(w, kind, &q->oid, &q->op)) return false;
    q->nargs = gen_args(w, q->op, args, p);
    /* LIST_IMUL would grow without bound: keep n small. */
    if (q->op == MGRI_OP_LIST_IMUL && q->nargs && args[0].type == MGR_T_INT)
      args[0].u.i &= 3;
    return true;
  }
  }
}

/* A random sub-request into s. */
static void gen_sub(world *w, bsub *s) {
  memset(s, 0, sizeof *s);
  uint8_t sel = fuzz_u8(&w->in);
  switch (sel % 8) {
  case 0: { /* malformed: TYPE in its slot */
    s->cls = 1;
    uint8_t b = sel >> 3;
    sub_entry(s, MGRI_OP_PING, 0, 0);
    switch (b % 7) {
    case 0:
      s->self = mgr_int(5);
      break;
    case 1:
      s->self = mgr_array(s->cell, 2);
      break;
    case 2:
      s->cell[0] = mgr_int(-1);
      break;
    case 3:
      s->cell[2] = mgr_int(5);
      break;
    case 4:
      for (int i = 0; i < 9; i++)
        s->args[i] = mgr_int(i);
      s->cell[2] = mgr_array(s->args, 9);
      break;
    case 5:
      s->cell[1] = mgr_int(-3);
      break;
    default:
      s->cell[0] = mgr_bool(true);
      break;
    }
    return;
  }
  case 1:
    s->cls = 2;
    gen_forbidden(w, s);
    return;
  case 2: { /* a raw op with random arguments (no session or server ops) */
    uint64_t op = pick_raw(w);
    uint64_t oid = pick_id(w);
    size_t n = fuzz_u8(&w->in) % 5;
    for (size_t i = 0; i < n; i++)
      s->args[i] = anyval(w, &s->p, 1);
    if (op == MGRI_OP_LIST_IMUL && n && s->args[0].type == MGR_T_INT)
      s->args[0].u.i &= 3;
    sub_entry(s, op, oid, n);
    break;
  }
  default: {
    req q;
    if (!gen_modelled(w, sel >> 3, s->args, &s->p, &q)) {
      sub_entry(s, MGRI_OP_PING, 0, 0);
      break;
    }
    sub_entry(s, q.op, q.oid, q.nargs);
    break;
  }
  }
  /* A blocking op that is not forbidden was given its false form. */
  if (may_wait(&s->q)) {
    const mgri_opinfo *oi = mgri_op_info(s->q.op);
    int i = MGRI_OPF_BARG_OF(oi->flags);
    if (i < 0) {
      s->cls = 2;
    } else {
      while ((size_t)i >= s->q.nargs)
        s->args[s->q.nargs++] = mgr_nil();
      s->args[i] = mgr_bool(false);
      sub_entry(s, s->q.op, s->q.oid, s->q.nargs);
    }
  }
}

/* A sub-request as the checks see it: its request, and cls as bsub's. */
typedef struct sref {
  req q;
  int cls;
} sref;

static sref srefs[BIG];

/* A decoded BATCH entry, classified as dispatch.c does (spec 9.6.3). */
static sref classify(const mgr_value *e) {
  sref s;
  memset(&s, 0, sizeof s);
  if (e->type != MGR_T_ARRAY || e->u.a.len != 3 || !is_uint(&e->u.a.items[0]) ||
      !is_uint(&e->u.a.items[1]) || e->u.a.items[2].type != MGR_T_ARRAY ||
      e->u.a.items[2].u.a.len > MGRI_ARGS_MAX) {
    s.cls = 1;
    return s;
  }
  s.q = (req){(uint64_t)e->u.a.items[0].u.i, (uint64_t)e->u.a.items[1].u.i,
              e->u.a.items[2].u.a.items, e->u.a.items[2].u.a.len};
  if (s.q.op == MGRI_OP_HELLO || s.q.op == MGRI_OP_BATCH ||
      s.q.op == MGRI_OP_SHUTDOWN || s.q.op == MGRI_OP_SHM_OPEN ||
      may_wait(&s.q))
    s.cls = 2;
  return s;
}

/* The reply r to a BATCH of the sub-requests s[0..n) from k (the batch as
 * a whole was valid): LIMIT over the budget (nothing ran) or after running
 * (results lost), or a slot per sub-request, each predicted in turn
 * against the model and applied to it. */
static void batch_reply(world *w, conn *k, const mgri_reply *r, const sref *s,
                        size_t n, uint64_t budget0, uint64_t after0) {
  mgri_store_stats *ss = mgri_store_stats_of(w->st);
  if (r->status == MGR_ELIMIT) {
    if (ss->refused[MGRI_WHY_BUDGET] > budget0) return; /* nothing ran */
    /* Everything ran and the results are lost (spec 9.6.5): what the
     * sub-requests did is unknown. */
    FUZZ_CHECK(ss->refused[MGRI_WHY_REPLY] + ss->refused[MGRI_WHY_MEMORY] >
               after0);
    for (size_t i = 0; i < n; i++) {
      const req *sq = &s[i].q;
      if (s[i].cls == 0 && sq->oid) forget(w, sq->oid);
      if (s[i].cls == 0 &&
          (sq->op == MGRI_OP_CREATE || sq->op == MGRI_OP_OPEN ||
           sq->op == MGRI_OP_RETAIN || sq->op == MGRI_OP_RELEASE ||
           sq->op == MGRI_OP_UNLINK))
        w->desync = true;
    }
    return;
  }
  FUZZ_CHECK(r->status == MGR_OK && r->result.type == MGR_T_ARRAY &&
             r->result.u.a.len == n);
  bool exact = true;
  for (size_t i = 0; i < n; i++) {
    const mgr_value *slot = &r->result.u.a.items[i];
    FUZZ_CHECK(slot->type == MGR_T_ARRAY && slot->u.a.len == 2);
    const mgr_value *code = &slot->u.a.items[0];
    FUZZ_CHECK(code->type == MGR_T_INT && code->u.i >= 0);
    int st = code->u.i == 0 ? MGR_OK : mgri_err_from_wire((uint64_t)code->u.i);
    if (st != MGR_OK) FUZZ_CHECK(slot->u.a.items[1].type == MGR_T_TEXT);
    touch(w, s[i].q.oid);
    if (s[i].cls == 1) {
      FUZZ_CHECK(st == MGR_ETYPE);
      continue;
    }
    if (s[i].cls == 2) {
      FUZZ_CHECK(st == MGR_EVALUE);
      continue;
    }
    /* Never a slot for lack of memory to copy a result (spec 9.6.5). */
    int pred = predict(w, k, &s[i].q, exact);
    if (!as_predicted(w, &s[i].q, pred, st))
      fprintf(stderr,
              "fuzz_dispatch: BATCH[%zu] %s on #%llu: predicted %s, got %s "
              "(%.*s)\n",
              i, mgri_op_name(s[i].q.op), (unsigned long long)s[i].q.oid,
              pred == ANY ? "any" : mgr_err_name(pred), mgr_err_name(st),
              (int)slot->u.a.items[1].u.s.len,
              slot->u.a.items[1].type == MGR_T_TEXT ? slot->u.a.items[1].u.s.ptr
                                                    : "");
    FUZZ_CHECK(as_predicted(w, &s[i].q, pred, st));
    apply(w, k, &s[i].q, st, &slot->u.a.items[1]);
    const mgri_opinfo *oi = mgri_op_info(s[i].q.op);
    if (st == MGR_ELIMIT || (st == MGR_OK && oi && (oi->flags & MGRI_OPF_W)))
      exact = false;
  }
}

/* BATCH from k: its sub-requests, the reply, each slot predicted in turn
 * against the model and applied to it. */
static void step_batch(world *w, conn *k) {
  uint8_t b = fuzz_u8(&w->in);
  size_t n, distinct;
  switch (b % 16) {
  case 0:
  case 1: /* around MGRI_BATCH_MAX copies of one or two sub-requests */
    n = MGRI_BATCH_MAX - 8 + fuzz_u8(&w->in) % 16;
    distinct = 1 + (b >> 4) % 2;
    break;
  case 2:
    n = 0;
    distinct = 0;
    break;
  default:
    n = 1 + (b >> 4) % 8;
    distinct = n;
    break;
  }
  for (size_t i = 0; i < distinct; i++)
    gen_sub(w, &subs[i]);
  if (n > SUBS) w->touched_all = true;
  for (size_t i = 0; i < n; i++) {
    bof[i] = &subs[i % distinct];
    bitems[i] = bof[i]->self;
  }
  mgr_value arg[2] = {mgr_array(bitems, n), mgr_nil()};
  size_t nargs = 1;
  uint64_t oid = 0;
  int whole = n == 0 ? MGR_EVALUE : n > MGRI_BATCH_MAX ? MGR_ELIMIT : MGR_OK;
  uint8_t v = fuzz_u8(&w->in);
  if ((v & 0x1f) == 1) arg[0] = mgr_int(7), whole = MGR_ETYPE;
  if ((v & 0x1f) == 2) nargs = 2, whole = MGR_ETYPE;
  if ((v & 0x1f) == 3) oid = 1 + (v >> 5), whole = MGR_EBADOP;
  mgri_store_stats *ss = mgri_store_stats_of(w->st);
  uint64_t budget0 = ss->refused[MGRI_WHY_BUDGET];
  uint64_t after0 = ss->refused[MGRI_WHY_REPLY] + ss->refused[MGRI_WHY_MEMORY];
  req q = {MGRI_OP_BATCH, oid, arg, nargs};
  mgri_reply r = call_rid(w, k, ++k->rid, &q, NULL);
  FUZZ_CHECK(r.status != 1); /* a BATCH never parks */
  if (whole != MGR_OK) {
    FUZZ_CHECK(r.status == whole || (w->tight && r.status == MGR_ELIMIT));
    return;
  }
  for (size_t i = 0; i < n; i++)
    srefs[i] = (sref){bof[i]->q, bof[i]->cls};
  batch_reply(w, k, &r, srefs, n, budget0, after0);
}

/* Manager requests outside the model's ops: HELLO again, SHUTDOWN,
 * STATS, DUMP, LIST, unknown ops, ops on the wrong target. Returns false
 * when the program ends (SHUTDOWN). */
static bool step_manager(world *w, conn *k) {
  uint8_t b = fuzz_u8(&w->in);
  int act;
  switch (b % 10) {
  case 0: { /* HELLO on a connection past it: PROTO, closed */
    mgr_value a[4] = {mgr_int(1), mgr_int(1), mgr_int(1), mgr_int(0)};
    mgri_reply r =
        call_rid(w, k, (b & 0x10) ? 0 : ++k->rid,
                 &(req){MGRI_OP_HELLO, 0, a, (b & 0x20) ? 3u : 4u}, &act);
    FUZZ_CHECK(r.status == MGR_EPROTO && act == MGRI_DISPATCH_CLOSE);
    close_conn(w, k);
    return true;
  }
  case 1: { /* SHUTDOWN, or its refusals */
    uint8_t v = fuzz_u8(&w->in);
    mgr_value a = mgr_nil();
    uint64_t oid = (v & 3) == 1 ? 1 + (v >> 2) : 0;
    size_t n = (v & 3) == 2;
    mgri_reply r =
        call_rid(w, k, ++k->rid, &(req){MGRI_OP_SHUTDOWN, oid, &a, n}, &act);
    if (oid) {
      FUZZ_CHECK(r.status == MGR_EBADOP && act == MGRI_DISPATCH_OK);
      return true;
    }
    if (n) {
      FUZZ_CHECK(r.status == MGR_ETYPE && act == MGRI_DISPATCH_OK);
      return true;
    }
    FUZZ_CHECK(r.status == MGR_OK && act == MGRI_DISPATCH_SHUTDOWN);
    shutdown_all(w);
    return false;
  }
  case 2: { /* STATS */
    mgri_reply r = call(w, k, MGRI_OP_STATS, 0, NULL, 0, NULL);
    if (r.status == MGR_ELIMIT &&
        (w->tight || w->frame_max < MGRI_FRAME_MAX_DEFAULT))
      return true;
    FUZZ_CHECK(r.status == MGR_OK);
    check_stats(w, &r.result);
    return true;
  }
  case 3: { /* DUMP of any id, 0 and dead ones included */
    uint64_t id = (b & 0x10) ? 0 : pick_id(w);
    mgri_reply r = call(w, k, MGRI_OP_DUMP, id, NULL, 0, NULL);
    if (r.status == MGR_ELIMIT &&
        (w->tight || w->frame_max < MGRI_FRAME_MAX_DEFAULT))
      return true;
    FUZZ_CHECK(r.status ==
               (live_kind(w, id) || w->stale ? r.status : MGR_ENOTFOUND));
    if (r.status == MGR_OK)
      FUZZ_CHECK((uint64_t)get_int(&r.result, "id") == id);
    return true;
  }
  case 4: { /* an unknown op code */
    static const uint64_t unknown[] = {
        0, 14, 15, 60, 61, 95, 103, 200, 255, 256, 1000, UINT64_MAX >> 1};
    uint64_t op = unknown[(b >> 4) % 12];
    mgri_reply r = call(w, k, op, pick_id(w), NULL, 0, NULL);
    FUZZ_CHECK(r.status == MGR_EBADOP);
    return true;
  }
  case 5: { /* a manager op with an oid (not RELEASE or DUMP): BADOP */
    static const uint64_t mops[] = {
        MGRI_OP_PING, MGRI_OP_CREATE, MGRI_OP_OPEN,  MGRI_OP_RETAIN,
        MGRI_OP_LIST, MGRI_OP_UNLINK, MGRI_OP_BATCH, MGRI_OP_STATS};
    mgri_reply r = call(w, k, mops[(b >> 4) % 8], 1 + (b >> 4), NULL, 0, NULL);
    FUZZ_CHECK(r.status == MGR_EBADOP);
    return true;
  }
  case 6: { /* an object op on oid 0: BADOP */
    uint64_t oid, op;
    if (!pick_kind_op(w, 0, &oid, &op)) return true;
    mgri_reply r = call(w, k, op, 0, NULL, 0, NULL);
    FUZZ_CHECK(r.status == MGR_EBADOP);
    return true;
  }
  case 7: { /* LIST with an argument: TYPE */
    mgr_value a = mgr_int(1);
    mgri_reply r = call(w, k, MGRI_OP_LIST, 0, &a, 1, NULL);
    FUZZ_CHECK(r.status == MGR_ETYPE);
    return true;
  }
  default: { /* the clock's lead at the end of the next requests */
    w->lead = (b & 0x10) ? 20 * 1000000 : 0;
    return true;
  }
  }
}

/* SHUTDOWN succeeded: every parked request is answered ESHUTDOWN (spec
 * 8.6), then the loop closes every connection, delivering nothing. */
static void shutdown_all(world *w) {
  drop_reps(w);
  size_t before = w->nparked;
  mgri_store_shutdown(w->st);
  FUZZ_CHECK(w->nreps == before);
  for (size_t i = 0; i < w->nreps; i++)
    FUZZ_CHECK(w->reps[i].status == MGR_ESHUTDOWN);
  settle(w, NULL, 0);
  FUZZ_CHECK(w->nparked == 0 && mgri_store_parked_count(w->st) == 0);
  w->quitting = true;
}

/* The first request of a connection is not HELLO: PROTO, closed, and
 * nothing it asked for happens (a SHUTDOWN included). */
static void step_no_hello(world *w, conn *slot) {
  mgri_sconn *c = mgri_store_conn_open(w->st, NULL);
  if (!c) {
    FUZZ_CHECK(w->tight);
    return;
  }
  memset(slot, 0, sizeof *slot);
  slot->c = c;
  uint8_t b = fuzz_u8(&w->in);
  static const uint64_t ops[] = {
      MGRI_OP_PING, MGRI_OP_SHUTDOWN, MGRI_OP_BATCH,        MGRI_OP_CREATE,
      MGRI_OP_LIST, MGRI_OP_DICT_GET, MGRI_OP_LOCK_ACQUIRE, 999};
  mgr_value sub[3] = {mgr_int(MGRI_OP_PING), mgr_int(0), mgr_array(NULL, 0)};
  mgr_value one = mgr_array(sub, 3);
  mgr_value a[2] = {mgr_int(1), mgr_nil()};
  uint64_t op = ops[b % 8];
  if (op == MGRI_OP_BATCH) a[0] = mgr_array(&one, 1);
  if (op == MGRI_OP_LOCK_ACQUIRE) a[0] = mgr_bool(true);
  int act;
  mgri_reply r = call_rid(
      w, slot, 1 + (b >> 3),
      &(req){op, pick_id(w), a,
             op == MGRI_OP_SHUTDOWN ? 0u : 1u + (op == MGRI_OP_LOCK_ACQUIRE)},
      &act);
  FUZZ_CHECK(r.status == MGR_EPROTO && act == MGRI_DISPATCH_CLOSE);
  FUZZ_CHECK(!mgri_sconn_hello(c));
  slot->c = NULL;
  mgri_store_conn_close(w->st, c);
  drop_reps(w);
}

/* A request taken from the input as CBOR (the spec's request vectors seed
 * these): decoded as the loop decodes a frame, then dispatched with its
 * own rid replaced. Returns false when it stopped the server. */
static bool step_raw(world *w, conn *k) {
  size_t len = (size_t)fuzz_un(&w->in, 2), got;
  const uint8_t *body = fuzz_take(&w->in, len, &got);
  mgri_limits lim;
  mgri_limits_default(&lim);
  mgri_request rq;
  if (mgri_request_decode(body, got, &lim, &w->arena, &rq, NULL) != MGR_OK)
    return true;
  req q = {rq.op, rq.oid, rq.args, rq.nargs};
  int act;
  if (rq.op == MGRI_OP_HELLO) { /* past HELLO: PROTO, closed */
    mgri_reply r = call_rid(w, k, ++k->rid, &q, &act);
    FUZZ_CHECK(r.status == MGR_EPROTO && act == MGRI_DISPATCH_CLOSE);
    close_conn(w, k);
    return true;
  }
  if (rq.op == MGRI_OP_BATCH) {
    mgri_store_stats *ss = mgri_store_stats_of(w->st);
    uint64_t budget0 = ss->refused[MGRI_WHY_BUDGET];
    uint64_t after0 =
        ss->refused[MGRI_WHY_REPLY] + ss->refused[MGRI_WHY_MEMORY];
    mgri_reply r = call_rid(w, k, ++k->rid, &q, &act);
    FUZZ_CHECK(r.status != 1 && act == MGRI_DISPATCH_OK);
    const mgr_value *list = rq.nargs == 1 && rq.oid == 0 ? &rq.args[0] : NULL;
    if (!list || list->type != MGR_T_ARRAY || list->u.a.len == 0 ||
        list->u.a.len > MGRI_BATCH_MAX) {
      FUZZ_CHECK(r.status != MGR_OK); /* refused as a whole */
      return true;
    }
    if (r.status != MGR_OK && r.status != MGR_ELIMIT) return true;
    for (size_t i = 0; i < list->u.a.len; i++)
      srefs[i] = classify(&list->u.a.items[i]);
    batch_reply(w, k, &r, srefs, list->u.a.len, budget0, after0);
    w->touched_all = true;
    return true;
  }
  int pred = predict(w, k, &q, true);
  mgri_reply r = call_rid(w, k, ++k->rid, &q, &act);
  if (r.status == 1) {
    FUZZ_CHECK(pred == ANY);
    return true;
  }
  if (!as_predicted(w, &q, pred, r.status))
    fprintf(stderr, "fuzz_dispatch: %s on #%llu: predicted %s, got %s (%.*s)\n",
            mgri_op_name(q.op), (unsigned long long)q.oid,
            pred == ANY ? "any" : mgr_err_name(pred), mgr_err_name(r.status),
            (int)r.msglen, r.msg ? r.msg : "");
  FUZZ_CHECK(as_predicted(w, &q, pred, r.status));
  if (rq.op == MGRI_OP_SHUTDOWN && r.status == MGR_OK) {
    FUZZ_CHECK(act == MGRI_DISPATCH_SHUTDOWN);
    shutdown_all(w);
    return false;
  }
  FUZZ_CHECK(act == MGRI_DISPATCH_OK);
  apply(w, k, &q, r.status, &r.result);
  return true;
}

/* One step; false when the program ends. */
static bool step(world *w) {
  uint8_t op = fuzz_u8(&w->in);
  mgri_arena_reset(&w->arena);
  conn *k;
  switch (op % 20) {
  case 0: { /* open: joining another connection's session or not, HELLO bent */
    conn *slot = &w->slots[fuzz_u8(&w->in) % SLOTS];
    if (slot->c) return true;
    if (op & 0x20) {
      step_no_hello(w, slot);
      return true;
    }
    uint64_t join = 0;
    conn *other = (op & 0x40) ? pick_conn(w) : NULL;
    if (other) join = other->s->id;
    open_conn(w, slot, join, (op & 0x80) ? fuzz_u8(&w->in) : 0);
    return true;
  }
  case 1:
    if ((k = pick_conn(w))) close_conn(w, k);
    return true;
  case 2: /* the peer goes: its replies are no longer delivered */
    if ((k = pick_live(w))) k->closing = true;
    return true;
  case 3: { /* LOCK_ACQUIRE (may park) / LOCK_RELEASE */
    if (!(k = pick_live(w))) return true;
    uint64_t id = pick_kind(w, (op & 0x20) ? MGR_K_RLOCK : MGR_K_LOCK);
    if (!id) return true;
    if (op & 0x40) {
      mgri_reply r = call(w, k, MGRI_OP_LOCK_RELEASE, id, NULL, 0, NULL);
      FUZZ_CHECK(r.status == MGR_OK || r.status == MGR_ESTATE ||
                 (w->tight && r.status == MGR_ELIMIT));
      return true;
    }
    uint8_t b = fuzz_u8(&w->in);
    mgr_value a[2] = {mgr_bool(b & 1),
                      (b & 2) ? mgr_nil() : mgr_float((b >> 2) / 8.0)};
    mgri_reply r = call(w, k, MGRI_OP_LOCK_ACQUIRE, id, a, 2, NULL);
    if (r.status == 1) return true; /* parked */
    /* Python: a timeout with blocking=False is a ValueError. */
    FUZZ_CHECK(r.status == MGR_OK || r.status == MGR_ESTATE ||
               r.status == MGR_ELIMIT ||
               (r.status == MGR_EVALUE && !(b & 1) && !(b & 2)));
    if (r.status == MGR_OK)
      FUZZ_CHECK(r.result.type == MGR_T_INT && r.result.u.i >= 0 &&
                 r.result.u.i <= 2);
    return true;
  }
  case 4: { /* time passes; deadlines answer */
    uint8_t b = fuzz_u8(&w->in);
    w->now += (int64_t)b * ((op & 0x20) ? 1000000 : 10000000);
    w->touched_all = true;
    drop_reps(w);
    mgri_store_tick(w->st, w->now);
    settle(w, NULL, 0);
    FUZZ_CHECK(mgri_store_parked_count(w->st) == w->nparked);
    /* Nothing left whose deadline has passed. */
    FUZZ_CHECK(mgri_store_next_deadline(w->st) > w->now);
    return true;
  }
  case 5:
    if ((k = pick_live(w))) step_batch(w, k);
    return true;
  case 6:
    if ((k = pick_live(w))) return step_manager(w, k);
    return true;
  case 7:
  case 8:
  case 9:
  case 10:
  case 11:
  case 12:
  case 13:
  case 14:
  case 15:
  case 16: { /* a modelled request, or an op of some kind */
    if (!(k = pick_live(w))) return true;
    mgr_value args[MGRI_ARGS_MAX + 2];
    pool p;
    p.n = 0;
    req q;
    if (!gen_modelled(w, op % 20 - 7, args, &p, &q)) return true;
    run(w, k, &q);
    return true;
  }
  case 19: { /* a request from the input's bytes */
    if (!(k = pick_live(w))) return true;
    w->raw = true;
    bool going = step_raw(w, k);
    w->raw = false;
    return going;
  }
  default: { /* a raw op on an object, random arguments */
    if (!(k = pick_live(w))) return true;
    uint64_t code = pick_raw(w);
    uint64_t id = pick_id(w);
    mgr_value args[MGRI_ARGS_MAX + 2];
    pool p;
    p.n = 0;
    size_t nargs = fuzz_u8(&w->in) % 5;
    for (size_t i = 0; i < nargs; i++)
      args[i] = anyval(w, &p, 1);
    if (code == MGRI_OP_LIST_IMUL && nargs && args[0].type == MGR_T_INT)
      args[0].u.i &= 3;
    req q = {code, id, args, nargs};
    run(w, k, &q);
    return true;
  }
  }
}

/* --- the op tables ------------------------------------------------------------ */

static void table_add(void *ctx, const mgri_opinfo *op) {
  (void)ctx;
  switch (op->code) {
  case MGRI_OP_HELLO:
  case MGRI_OP_SHUTDOWN:
  case MGRI_OP_BATCH:
  case MGRI_OP_CREATE:
  case MGRI_OP_OPEN:
  case MGRI_OP_RELEASE:
  case MGRI_OP_RETAIN:
  case MGRI_OP_UNLINK:
    break; /* the model's own steps */
  case MGRI_OP_SHM_OPEN:
    break; /* the loop's transport (spec 2.10), not the store's */
  default:
    raw_ops[nraw++] = op->code;
  }
  for (uint32_t k = 1; k <= MGRI_KIND_MAX && op->kind; k++) {
    uint32_t base = k == MGR_K_RLOCK        ? MGR_K_LOCK
                    : k == MGR_K_JQUEUE     ? MGR_K_QUEUE
                    : k == MGR_K_BSEMAPHORE ? MGR_K_SEMAPHORE
                                            : k;
    if ((op->kind == k || op->kind == base) && nkind_ops[k] < 40)
      kind_ops[k][nkind_ops[k]++] = op->code;
  }
}

static void tables(void) {
  if (nraw) return;
  memset(name255, 'a', MGRI_NAME_MAX);
  memset(long_name, 'a', MGRI_NAME_MAX + 1);
  mgri_op_foreach(table_add, NULL);
  static const uint64_t unknown[] = {0, 60, 99, 255, 256};
  for (size_t i = 0; i < 5; i++)
    raw_ops[nraw++] = unknown[i];
}

static int64_t fuzz_clock(void *ctx) {
  world *w = ctx;
  return w->now + w->lead;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  tables();
  world *w = &W;
  memset(w, 0, sizeof *w);
  w->in = (fuzz_in){data, size, 0};
  w->now = 1000000000;
  mgri_arena_init(&w->arena, 16u << 20);
  /* The configuration byte: the frame limit, the work budget, memory. */
  uint8_t cfgb = fuzz_u8(&w->in);
  mgri_store_config cfg;
  mgri_store_config_init(&cfg);
  static const uint32_t frames[] = {0, 0, 4096, 512};
  static const uint64_t budgets[] = {0, 0, 64, 2000};
  w->frame_max = frames[cfgb & 3] ? frames[cfgb & 3] : MGRI_FRAME_MAX_DEFAULT;
  cfg.limits.frame_max = w->frame_max;
  cfg.work_budget = budgets[(cfgb >> 2) & 3];
  w->tight = (cfgb & 0x70) == 0x70;
  if (w->tight) cfg.memory_max = (size_t)(96 + 32 * (cfgb >> 7)) << 10;
  cfg.server_pid = 4242;
  cfg.objects_max = OBJS - 8;
  /* A fixed hash key: a replay behaves as the run that found it. */
  cfg.hash_key_set = true;
  cfg.hash_key[0] = 0x0706050403020100ull;
  cfg.hash_key[1] = 0x0f0e0d0c0b0a0908ull;
  cfg.clock = fuzz_clock;
  cfg.clock_ctx = w;
  cfg.reply = sink;
  cfg.reply_ctx = w;
  w->st = mgri_store_new(&cfg);
  FUZZ_CHECK(w->st != NULL);
  FUZZ_CHECK(open_conn(w, &w->obs, 0, 0));
  bool going = true;
  for (int steps = 0; going && fuzz_more(&w->in) && steps < 200; steps++) {
    going = step(w);
    check(w, false);
  }
  /* Close every connection (in an order the input chooses), then only named
   * objects and cycles may remain. */
  while (pick_conn(w))
    close_conn(w, pick_conn(w));
  check(w, true);
  close_conn(w, &w->obs);
  FUZZ_CHECK(w->nparked == 0);
  drop_reps(w);
  mgri_store_free(w->st);
  mgri_arena_fini(&w->arena);
  return 0;
}
