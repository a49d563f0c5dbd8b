/* mgr tests — allocation-failure injection (as SQLite's and libuv's test
 * suites do it) over the store and every op of every kind.
 *
 * For each case of the table below, for N = 1, 2, ...: a fresh store is
 * built in the case's starting state (objects with entries, nested values,
 * text longer than 15 bytes so that it allocates, refs between objects, a
 * held lock with a parked waiter, a held rlock, a name), it is read whole
 * (a deep snapshot: LIST, DUMP of every object, every session's holds, every
 * connection, the parked count), the N-th allocation is made to fail
 * (mgri_mem.fail_in = N) and the case's request runs. Then:
 *  - no failure injected: the request needed fewer than N allocations; its
 *    replies and the store must be those of the reference run (no
 *    injection); the case is done;
 *  - else the request must be answered LIMIT (and nothing else: no grant,
 *    no other reply), and the store must be exactly as before (spec
 *    14.2.2: "every operation is all or nothing") — BATCH, which is not
 *    atomic (spec 9.6.1), is judged by its answer instead: a slot answered
 *    LIMIT (where the reference run's is not) had no effect (9.6.5: a
 *    slot's LIMIT is its own op's, which then changed nothing), so the store
 *    equals running its other sub-requests alone, whose answers the other
 *    slots give; a whole-batch LIMIT refused
 *    before anything ran (9.6.2; its message does not say "executed") left
 *    the store exactly as it was; a whole-batch LIMIT for a reply that could
 *    not be built (9.6.5: "... its sub-requests were executed") left it as
 *    the reference run does. A batch that ran (in whole or in part) leaves
 *    the objects whose contents it did not change holding the same bytes
 *    (a targeted dict or list may keep capacity; noted), and sent again
 *    without injection it must give what it gives on a store never
 *    injected in the same state;
 *  - after each request the invariants hold: every object's count is the
 *    sessions holding it plus the refs stored in objects
 *    (mgri_store_object_refs); the objects' bytes add up to the OBJECTS
 *    category, per kind too; PARKED holds exactly the parked requests and the
 *    deadline heap;
 *  - the same request is then sent again with fail_in = N (a store that saw
 *    a failure may allocate differently now), each further failure checked
 *    the same way, until it runs through (the third time without
 *    injection): the store still works, and the replies and the store equal
 *    the reference run's (up to object ids: a failed CREATE may have used
 *    one; noted) -- unless it was a BATCH that ran (see above);
 *  - DUMP's "bytes" are compared exactly between two snapshots of one store;
 *    the one change accepted (and noted) is the target dict's or list's
 *    growth: capacity reserved before a later allocation failed, its
 *    contents unchanged and counted. Between two stores they are not
 *    compared: they are the allocator's usable sizes, which depend on the
 *    heap's history;
 *  - every name is unlinked and every connection closed: no object is left,
 *    the OBJECTS category is 0 and PARKED holds nothing but the (retained)
 *    deadline heap array; LeakSanitizer checks the rest at exit.
 * Each case runs twice: with the store's scratch and batch arenas as a
 * request finds them ("warm"), and emptied first ("cold"), so that the
 * allocations of result scratch are injected too.
 *
 * A violation is printed with the case, the variant, N and what differs;
 * each test function fails at its end if any was found, so one run reports
 * them all. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "harness.h"
#include "proto/ops.h"
#include "proto/proto.h"
#include "server/core.h"
#include "server/wait.h"

/* --- values ------------------------------------------------------------------ */

#define NV(...) (sizeof((mgr_value[]){__VA_ARGS__}) / sizeof(mgr_value))
#define ARR(...) mgr_array((mgr_value[]){__VA_ARGS__}, NV(__VA_ARGS__))
#define MAP(...) mgr_map((mgr_value[]){__VA_ARGS__}, NV(__VA_ARGS__) / 2)
#define ARGS(...) (mgr_value[]){__VA_ARGS__}, NV(__VA_ARGS__)
#define T(s) mgr_text(s)
#define I(n) mgr_int(n)
#define NIL mgr_nil()
#define REF(k, id) mgri_h_ref(MGR_K_##k, id)

/* Every text below is longer than 15 bytes: stored, it allocates. */
#define LONG1 "value one, longer than fifteen bytes"
#define LONG2 "list item two, longer than 15 bytes"
#define LONG3 "nested deep text, more than 15 bytes"
#define LONGK1 "a dict key longer than fifteen bytes"
#define LONGV1 "a dict value longer than fifteen bytes"
#define LONGV2 "the named dict's long value text"
#define NEWK "a brand new key, long enough to allocate"
#define NEWV "a brand new value, long enough to allocate"
#define MISSK                                                                  \
  "a missing key whose repr makes a long KeyError message, so that the "       \
  "error slots of a batch fill its arena and cross into a new chunk ......"

static char BIG[5001]; /* 5000 bytes: larger than an arena's first chunk */

/* --- the world: one store in a case's starting state --------------------------- */

#define MAXO 64
#define MAXRAW 8

typedef struct world {
  mgri_harness h;
  mgri_sconn *a, *a2, *b, *c, *obs;
  mgri_sconn *raw[MAXRAW]; /* connections without HELLO (not in h.conns) */
  size_t nraw;
  uint64_t sess_a;
  uint64_t v1, l1, d1, v2, l2, v3, lk, rl, lkh, dn, extra;
  /* the request under test */
  mgri_sconn *rq_conn;
  uint64_t rq_rid, rq_oid, rq_op;
} world;

static world W;

static mgri_mem *MEM(world *w) { return mgri_store_mem(w->h.s); }

/* A request whose reply must be OK (building a world): the test's own
 * mistake otherwise. */
static mgri_hreply *must(world *w, mgri_sconn *c, uint64_t op, uint64_t oid,
                         const mgr_value *a, size_t n) {
  mgri_h_clear(&w->h);
  mgri_hreply *r = mgri_h_call(&w->h, c, op, oid, a, n);
  if (!r || r->status != MGR_OK)
    fail_msg("setup: op %llu on #%llu: %s", (unsigned long long)op,
             (unsigned long long)oid, r ? r->msg : "parked");
  return r;
}

static uint64_t must_create(world *w, mgri_sconn *c, uint32_t kind,
                            const mgr_value *init) {
  mgr_value a[2] = {mgr_int(kind), init ? *init : mgr_nil()};
  mgri_hreply *r = must(w, c, MGRI_OP_CREATE, 0, a, init ? 2 : 1);
  assert_int_equal(r->result.type, MGR_T_REF);
  return r->result.u.ref.id;
}

static mgri_sconn *must_conn(world *w, uint64_t session) {
  mgri_sconn *c = mgri_h_conn(&w->h, session);
  assert_non_null(c);
  mgri_h_clear(&w->h);
  return c;
}

/* A request that parks (a lock wait): no reply now. */
static void must_park(world *w, mgri_sconn *c, uint64_t op, uint64_t oid,
                      const mgr_value *a, size_t n) {
  mgri_h_clear(&w->h);
  assert_null(mgri_h_call(&w->h, c, op, oid, a, n));
}

/* The starting state every case shares:
 *   v1  var: LONG1 (held by no session: kept by the 2 refs l1 stores)
 *   l1  list: ints, short and long text, nested arrays and maps, refs to v1
 *   d1  dict: long keys and values, nested values, a ref to l1, a 5000-byte
 *       value, a dead entry in the middle
 *   v2  var: [ref d1, ref d1] (d1 counts them twice)
 *   l2  list of numbers (sortable); v3 var 41
 *   lk  free Lock; lkh Lock held by a with b parked on it; rl RLock held
 *       twice by a2
 *   dn  dict named "named-dict"
 * Sessions: A (connections a, a2), B (b: holds d1 and l2), C (c: holds
 * nothing), the observer's (holds nothing). */
static void build(world *w) {
  memset(w, 0, sizeof *w);
  mgri_store_config cfg;
  mgri_store_config_init(&cfg);
  cfg.hash_key_set = true; /* deterministic dict and name layouts */
  cfg.hash_key[0] = 0x0123456789abcdefull;
  cfg.hash_key[1] = 0xfedcba9876543210ull;
  assert_int_equal(mgri_h_init_cfg(&w->h, &cfg), MGR_OK);
  w->a = must_conn(w, 0);
  w->sess_a = mgri_sconn_session(w->a);
  mgr_value v;
  v = T(LONG1);
  w->v1 = must_create(w, w->a, MGR_K_VAR, &v);
  v = ARR(I(1), T("short"), T(LONG2), ARR(I(1), ARR(I(2), T(LONG3))),
          REF(VAR, w->v1), MAP(T("k"), REF(VAR, w->v1)), mgr_float(2.5), NIL,
          mgr_bool(true), I(-7));
  w->l1 = must_create(w, w->a, MGR_K_LIST, &v);
  v = MAP(T("a"), I(1), T(LONGK1), T(LONGV1), T("n"),
          ARR(I(1), MAP(T("x"), T("y"))), T("r"), REF(LIST, w->l1), I(7),
          T("seven"), T("big"), T(BIG), T("f"), mgr_float(1.5), T("cnt"),
          I(10));
  w->d1 = must_create(w, w->a, MGR_K_DICT, &v);
  must(w, w->a, MGRI_OP_DICT_DEL, w->d1, ARGS(T("f")));
  v = ARR(REF(DICT, w->d1), REF(DICT, w->d1));
  w->v2 = must_create(w, w->a, MGR_K_VAR, &v);
  v = ARR(I(5), mgr_float(3.5), I(1), I(9), I(2), I(-4));
  w->l2 = must_create(w, w->a, MGR_K_LIST, &v);
  v = I(41);
  w->v3 = must_create(w, w->a, MGR_K_VAR, &v);
  w->lk = must_create(w, w->a, MGR_K_LOCK, NULL);
  w->rl = must_create(w, w->a, MGR_K_RLOCK, NULL);
  w->lkh = must_create(w, w->a, MGR_K_LOCK, NULL);
  mgri_hreply *r = must(w, w->a, MGRI_OP_OPEN, 0,
                        ARGS(T("named-dict"), I(MGR_K_DICT),
                             MAP(T("x"), T(LONGV2)), mgr_bool(true)));
  w->dn = r->result.u.a.items[0].u.ref.id;
  must(w, w->a, MGRI_OP_RELEASE, w->v1, NULL, 0);
  must(w, w->a, MGRI_OP_LOCK_ACQUIRE, w->lkh, ARGS(mgr_bool(true), NIL));
  w->a2 = must_conn(w, w->sess_a);
  must(w, w->a2, MGRI_OP_LOCK_ACQUIRE, w->rl, ARGS(mgr_bool(true), NIL));
  must(w, w->a2, MGRI_OP_LOCK_ACQUIRE, w->rl, ARGS(mgr_bool(true), NIL));
  w->b = must_conn(w, 0);
  must(w, w->b, MGRI_OP_RETAIN, 0,
       ARGS(ARR(I((int64_t)w->d1), I((int64_t)w->l2))));
  must_park(w, w->b, MGRI_OP_LOCK_ACQUIRE, w->lkh, ARGS(mgr_bool(true), NIL));
  w->c = must_conn(w, 0);
  w->obs = must_conn(w, 0);
  mgri_h_clear(&w->h);
}

/* Empties the store's scratch and batch arenas, as a fresh store has them:
 * the next result's scratch allocates (and can be made to fail). */
static void chill(world *w) {
  mgri_arena_fini(&w->h.s->scratch);
  mgri_arena_fini(&w->h.s->batch);
}

/* --- violations ------------------------------------------------------------ */

static const char *g_case = "";
static const char *g_variant = "";
static uint64_t g_n;
static unsigned g_bad;      /* violations in the current test function */
static unsigned g_bad_case; /* in the current case */
static unsigned g_kept, g_kept_case; /* failed requests that kept capacity */
static unsigned g_ids, g_ids_case;   /* failed requests that used an id up */

static void bad(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void bad(const char *fmt, ...) {
  g_bad++;
  g_bad_case++;
  if (g_bad_case > 12) return; /* enough of one case */
  char buf[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  printf("VIOLATION [%s, %s, fail_in=%llu] %s\n", g_case, g_variant,
         (unsigned long long)g_n, buf);
}

/* --- snapshots --------------------------------------------------------------- */

typedef struct sconn_row {
  uint64_t id, sess;
  bool hello;
  size_t parked;
} sconn_row;

typedef struct snap {
  size_t n;
  uint64_t id[MAXO];
  mgr_value list;       /* LIST's result (owned) */
  mgr_value dump[MAXO]; /* DUMP's results (owned) */
  size_t nsess;
  uint64_t sess[MAXO], sess_conns[MAXO];
  size_t nheld[MAXO];
  uint64_t held[MAXO][MAXO]; /* sorted */
  size_t nconn;
  sconn_row conn[MGRI_H_CONNS + MAXRAW];
  size_t parked;
  uint64_t next_id;
} snap;

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

static int cmp_conn(const void *a, const void *b) {
  return cmp_u64(&((const sconn_row *)a)->id, &((const sconn_row *)b)->id);
}

/* Moves the result of the only reply out of the harness. */
static mgr_value take_result(world *w, mgri_hreply *r) {
  mgr_value v = r->result;
  r->result = mgr_nil();
  mgri_h_clear(&w->h);
  return v;
}

static void snap_free(snap *s) {
  mgr_value_free(&s->list);
  for (size_t i = 0; i < s->n; i++)
    mgr_value_free(&s->dump[i]);
  s->n = 0;
}

static void snap_take(world *w, snap *s) {
  mgri_store *st = w->h.s;
  assert_int_equal(MEM(w)->fail_in, 0);
  memset(s, 0, sizeof *s);
  s->list = take_result(w, must(w, w->obs, MGRI_OP_LIST, 0, NULL, 0));
  assert_int_equal(s->list.type, MGR_T_ARRAY);
  assert_true(s->list.u.a.len <= MAXO);
  s->n = s->list.u.a.len;
  for (size_t i = 0; i < s->n; i++) {
    s->id[i] = (uint64_t)s->list.u.a.items[i].u.a.items[0].u.i;
    s->dump[i] =
        take_result(w, must(w, w->obs, MGRI_OP_DUMP, s->id[i], NULL, 0));
  }
  for (size_t i = 0; i < st->sessions.cap; i++) {
    mgri_session *se = st->sessions.vals[i];
    if (!st->sessions.keys[i]) continue;
    assert_true(s->nsess < MAXO);
    size_t k = s->nsess++;
    s->sess[k] = se->id;
    s->sess_conns[k] = se->nconns;
    for (size_t j = 0; j < se->refs.cap; j++) {
      if (!se->refs.keys[j]) continue;
      assert_true(s->nheld[k] < MAXO);
      s->held[k][s->nheld[k]++] = se->refs.keys[j];
    }
    qsort(s->held[k], s->nheld[k], sizeof s->held[k][0], cmp_u64);
  }
  /* Sessions in id order (held sets move with them). */
  for (size_t i = 1; i < s->nsess; i++)
    for (size_t j = i; j > 0 && s->sess[j - 1] > s->sess[j]; j--) {
      uint64_t t = s->sess[j];
      s->sess[j] = s->sess[j - 1];
      s->sess[j - 1] = t;
      t = s->sess_conns[j];
      s->sess_conns[j] = s->sess_conns[j - 1];
      s->sess_conns[j - 1] = t;
      size_t tn = s->nheld[j];
      s->nheld[j] = s->nheld[j - 1];
      s->nheld[j - 1] = tn;
      uint64_t th[MAXO];
      memcpy(th, s->held[j], sizeof th);
      memcpy(s->held[j], s->held[j - 1], sizeof th);
      memcpy(s->held[j - 1], th, sizeof th);
    }
  for (size_t i = 0; i < w->h.nconns; i++) {
    mgri_sconn *c = w->h.conns[i];
    s->conn[s->nconn++] =
        (sconn_row){mgri_sconn_id(c), mgri_sconn_session(c),
                    mgri_sconn_hello(c), mgri_sconn_parked(c)};
  }
  for (size_t i = 0; i < w->nraw; i++) {
    mgri_sconn *c = w->raw[i];
    if (!c) continue;
    s->conn[s->nconn++] =
        (sconn_row){mgri_sconn_id(c), mgri_sconn_session(c),
                    mgri_sconn_hello(c), mgri_sconn_parked(c)};
  }
  qsort(s->conn, s->nconn, sizeof s->conn[0], cmp_conn);
  s->parked = mgri_store_parked_count(st);
  s->next_id = st->next_id;
}

/* An object id as a snapshot's ordinal (its place in LIST): snapshots of
 * two stores compare up to the ids their objects were given. */
static uint64_t canon(const snap *s, uint64_t id) {
  if (s)
    for (size_t i = 0; i < s->n; i++)
      if (s->id[i] == id) return i + 1;
  return id | (UINT64_C(1) << 62);
}

/* Strict equality (types, float bits, order), refs compared by ordinal. */
static bool same(const mgr_value *a, const snap *sa, const mgr_value *b,
                 const snap *sb) {
  if (a->type != b->type) return false;
  switch (a->type) {
  case MGR_T_NIL:
    return true;
  case MGR_T_BOOL:
    return a->u.b == b->u.b;
  case MGR_T_INT:
    return a->u.i == b->u.i;
  case MGR_T_FLOAT:
    return memcmp(&a->u.f, &b->u.f, sizeof a->u.f) == 0;
  case MGR_T_TEXT:
  case MGR_T_BYTES:
    return a->u.s.len == b->u.s.len &&
           (!a->u.s.len || memcmp(a->u.s.ptr, b->u.s.ptr, a->u.s.len) == 0);
  case MGR_T_ARRAY:
  case MGR_T_MAP: {
    if (a->u.a.len != b->u.a.len) return false;
    size_t n = a->u.a.len * (a->type == MGR_T_MAP ? 2 : 1);
    for (size_t i = 0; i < n; i++)
      if (!same(&a->u.a.items[i], sa, &b->u.a.items[i], sb)) return false;
    return true;
  }
  case MGR_T_REF:
    return a->u.ref.kind == b->u.ref.kind &&
           canon(sa, a->u.ref.id) == canon(sb, b->u.ref.id);
  }
  return false;
}

static bool key_is(const mgr_value *k, const char *s) {
  return k->type == MGR_T_TEXT && k->u.s.len == strlen(s) &&
         memcmp(k->u.s.ptr, s, k->u.s.len) == 0;
}

/* Bytes held that differ between two snapshots of one store. */
typedef struct bdiff {
  size_t n;
  uint64_t id[MAXO];
  int64_t before[MAXO], after[MAXO];
} bdiff;

/* Differences between two snapshots, described into why (first ones).
 * raw: two snapshots of one store (before and after a request): the ids
 * must be the same, and the bytes each object holds are compared too --
 * into *bd when not NULL, else as differences. Not raw: snapshots of two
 * stores, compared up to ids; the bytes are not compared, for they are
 * the allocator's usable sizes (malloc_usable_size), which depend on the
 * heap's history: a block carved from a free chunk whose remainder is too
 * small to split holds 16 bytes more. */
static unsigned snap_diff_b(const snap *x, const snap *y, bool raw, char *why,
                            size_t cap, bdiff *bd) {
  unsigned d = 0;
  size_t used = 0;
  why[0] = '\0';
#define DIFF(...)                                                              \
  do {                                                                         \
    d++;                                                                       \
    if (used < cap) {                                                          \
      int k_ = snprintf(why + used, cap - used, __VA_ARGS__);                  \
      if (k_ > 0) used += (size_t)k_;                                          \
      if (used < cap) used += (size_t)snprintf(why + used, cap - used, "; ");  \
    }                                                                          \
  } while (0)
  if (x->n != y->n) DIFF("%zu objects, then %zu", x->n, y->n);
  size_t n = x->n < y->n ? x->n : y->n;
  for (size_t i = 0; i < n; i++) {
    if (raw && x->id[i] != y->id[i])
      DIFF("object %zu is #%llu, then #%llu", i, (unsigned long long)x->id[i],
           (unsigned long long)y->id[i]);
    const mgr_value *rx = &x->list.u.a.items[i], *ry = &y->list.u.a.items[i];
    for (size_t c = 1; c < 4; c++)
      if (!same(&rx->u.a.items[c], x, &ry->u.a.items[c], y))
        DIFF("#%llu: LIST %s differs", (unsigned long long)x->id[i],
             c == 1   ? "kind"
             : c == 2 ? "name"
                      : "refs");
    const mgr_value *dx = &x->dump[i], *dy = &y->dump[i];
    if (dx->u.a.len != dy->u.a.len) {
      DIFF("#%llu: DUMP shape differs", (unsigned long long)x->id[i]);
      continue;
    }
    for (size_t k = 0; k < dx->u.a.len; k++) {
      const mgr_value *kx = &dx->u.a.items[2 * k],
                      *vx = &dx->u.a.items[2 * k + 1];
      const mgr_value *vy = &dy->u.a.items[2 * k + 1];
      if (!same(kx, x, &dy->u.a.items[2 * k], y)) {
        DIFF("#%llu: DUMP keys differ", (unsigned long long)x->id[i]);
        break;
      }
      if (key_is(kx, "id")) {
        if (vx->type != MGR_T_INT || vy->type != MGR_T_INT ||
            canon(x, (uint64_t)vx->u.i) != canon(y, (uint64_t)vy->u.i))
          DIFF("#%llu: DUMP id differs", (unsigned long long)x->id[i]);
      } else if (key_is(kx, "bytes")) {
        if (!raw || same(vx, x, vy, y)) continue;
        if (bd && bd->n < MAXO) {
          bd->id[bd->n] = x->id[i];
          bd->before[bd->n] = vx->u.i;
          bd->after[bd->n++] = vy->u.i;
        } else {
          DIFF("#%llu: DUMP bytes %lld, then %lld",
               (unsigned long long)x->id[i], (long long)vx->u.i,
               (long long)vy->u.i);
        }
      } else if (!same(vx, x, vy, y)) {
        DIFF("#%llu: DUMP %.*s differs", (unsigned long long)x->id[i],
             (int)kx->u.s.len, kx->u.s.ptr);
      }
    }
  }
  if (x->nsess != y->nsess) DIFF("%zu sessions, then %zu", x->nsess, y->nsess);
  for (size_t i = 0; i < x->nsess && i < y->nsess; i++) {
    if (x->sess[i] != y->sess[i] || x->sess_conns[i] != y->sess_conns[i])
      DIFF("session %zu: #%llu with %llu connections, then #%llu with %llu", i,
           (unsigned long long)x->sess[i], (unsigned long long)x->sess_conns[i],
           (unsigned long long)y->sess[i],
           (unsigned long long)y->sess_conns[i]);
    bool eq = x->nheld[i] == y->nheld[i];
    for (size_t j = 0; eq && j < x->nheld[i]; j++)
      eq = canon(x, x->held[i][j]) == canon(y, y->held[i][j]);
    if (!eq)
      DIFF("session #%llu holds %zu objects, then %zu (or others)",
           (unsigned long long)x->sess[i], x->nheld[i], y->nheld[i]);
  }
  if (x->nconn != y->nconn)
    DIFF("%zu connections, then %zu", x->nconn, y->nconn);
  for (size_t i = 0; i < x->nconn && i < y->nconn; i++)
    if (memcmp(&x->conn[i], &y->conn[i], sizeof x->conn[i]) != 0)
      DIFF("connection #%llu: session %llu hello %d parked %zu, then #%llu: "
           "session %llu hello %d parked %zu",
           (unsigned long long)x->conn[i].id,
           (unsigned long long)x->conn[i].sess, x->conn[i].hello,
           x->conn[i].parked, (unsigned long long)y->conn[i].id,
           (unsigned long long)y->conn[i].sess, y->conn[i].hello,
           y->conn[i].parked);
  if (x->parked != y->parked)
    DIFF("%zu parked, then %zu", x->parked, y->parked);
#undef DIFF
  return d;
}

static unsigned snap_diff(const snap *x, const snap *y, bool raw, char *why,
                          size_t cap) {
  return snap_diff_b(x, y, raw, why, cap, NULL);
}

/* --- invariants ----------------------------------------------------------------- */

typedef struct tally {
  uint64_t id[MAXO], n[MAXO];
  size_t len;
} tally;

static void tally_ref(void *ctx, uint64_t id) {
  tally *t = ctx;
  for (size_t i = 0; i < t->len; i++)
    if (t->id[i] == id) {
      t->n[i]++;
      return;
    }
  if (t->len < MAXO) {
    t->id[t->len] = id;
    t->n[t->len++] = 1;
  }
}

static uint64_t tally_of(const tally *t, uint64_t id) {
  for (size_t i = 0; i < t->len; i++)
    if (t->id[i] == id) return t->n[i];
  return 0;
}

/* Counts, memory and parked requests agree with what the store holds. */
static void invariants(world *w, const char *when) {
  mgri_store *s = w->h.s;
  mgri_mem *m = MEM(w);
  tally stored = {.len = 0}, held = {.len = 0};
  for (mgri_obj *o = s->first; o; o = o->next)
    mgri_store_object_refs(s, o->id, tally_ref, &stored);
  for (size_t i = 0; i < s->sessions.cap; i++) {
    if (!s->sessions.keys[i]) continue;
    mgri_session *se = s->sessions.vals[i];
    for (size_t j = 0; j < se->refs.cap; j++)
      if (se->refs.keys[j]) tally_ref(&held, se->refs.keys[j]);
  }
  size_t bytes = 0, kbytes[MGRI_KIND_MAX + 1] = {0},
         kcount[MGRI_KIND_MAX + 1] = {0};
  size_t nobjs = 0;
  for (mgri_obj *o = s->first; o; o = o->next) {
    nobjs++;
    uint32_t kind;
    uint64_t refs;
    const char *name;
    if (mgri_store_object_info(s, o->id, &kind, &refs, &name) != MGR_OK) {
      bad("%s: #%llu in the object list but not found by id", when,
          (unsigned long long)o->id);
      continue;
    }
    uint64_t want = tally_of(&held, o->id) + tally_of(&stored, o->id);
    if (refs != want)
      bad("%s: #%llu counts %llu refs, but %llu sessions + %llu stored refs "
          "hold it",
          when, (unsigned long long)o->id, (unsigned long long)refs,
          (unsigned long long)tally_of(&held, o->id),
          (unsigned long long)tally_of(&stored, o->id));
    if (refs == 0 && !name)
      bad("%s: #%llu has no reference and no name but lives", when,
          (unsigned long long)o->id);
    size_t b = mgri_store_object_bytes(s, o->id);
    bytes += b;
    kbytes[kind] += b;
    kcount[kind]++;
  }
  for (size_t i = 0; i < stored.len; i++)
    if (!mgri_u64map_get(&s->objs, stored.id[i]))
      bad("%s: a stored ref names #%llu, which is dead", when,
          (unsigned long long)stored.id[i]);
  for (size_t i = 0; i < held.len; i++)
    if (!mgri_u64map_get(&s->objs, held.id[i]))
      bad("%s: a session holds #%llu, which is dead", when,
          (unsigned long long)held.id[i]);
  if (nobjs != mgri_store_object_count(s))
    bad("%s: %zu objects listed, count says %zu", when, nobjs,
        mgri_store_object_count(s));
  if (m->used[MGRI_MEM_OBJECTS] != bytes)
    bad("%s: OBJECTS memory is %zu bytes, the objects hold %zu", when,
        m->used[MGRI_MEM_OBJECTS], bytes);
  for (uint32_t k = 1; k <= MGRI_KIND_MAX; k++)
    if (s->st.kind_bytes[k] != kbytes[k] || s->st.kind_count[k] != kcount[k])
      bad("%s: kind %u: STATS says %llu objects, %zu bytes; they are %zu, %zu",
          when, k, (unsigned long long)s->st.kind_count[k], s->st.kind_bytes[k],
          kcount[k], kbytes[k]);
  size_t parked = 0, pbytes = mgri_mem_size(s->heap), cparked = 0;
  for (mgri_waiter *wt = s->waiters; wt; wt = wt->anext) {
    parked++;
    pbytes += mgri_mem_size(wt);
  }
  for (size_t i = 0; i < w->h.nconns; i++)
    cparked += mgri_sconn_parked(w->h.conns[i]);
  for (size_t i = 0; i < w->nraw; i++)
    if (w->raw[i]) cparked += mgri_sconn_parked(w->raw[i]);
  if (parked != s->nparked || cparked != s->nparked)
    bad("%s: %zu parked requests listed, %zu on connections, count %zu", when,
        parked, cparked, s->nparked);
  if (m->used[MGRI_MEM_PARKED] != pbytes)
    bad("%s: PARKED memory is %zu bytes, the parked requests and the heap "
        "hold %zu",
        when, m->used[MGRI_MEM_PARKED], pbytes);
  size_t total = 0;
  for (unsigned c = 0; c < MGRI_MEM_NCAT; c++)
    total += m->used[c];
  if (total != m->total)
    bad("%s: memory total %zu, categories add up to %zu", when, m->total,
        total);
}

static unsigned g_heap_kept; /* teardowns that found the heap array kept */

/* Unlinks every name and closes every connection: nothing may remain. */
static void teardown(world *w, const char *when) {
  mgri_store *s = w->h.s;
  mgri_mem *m = MEM(w);
  assert_int_equal(m->fail_in, 0);
  invariants(w, when);
  mgr_value rows = take_result(w, must(w, w->obs, MGRI_OP_LIST, 0, NULL, 0));
  for (size_t i = 0; i < rows.u.a.len; i++) {
    const mgr_value *name = &rows.u.a.items[i].u.a.items[2];
    if (name->type == MGR_T_TEXT) must(w, w->obs, MGRI_OP_UNLINK, 0, name, 1);
  }
  mgr_value_free(&rows);
  for (size_t i = 0; i < w->nraw; i++)
    if (w->raw[i]) mgri_store_conn_close(s, w->raw[i]);
  w->nraw = 0;
  while (w->h.nconns)
    mgri_h_close(&w->h, w->h.conns[w->h.nconns - 1]);
  mgri_h_clear(&w->h);
  if (mgri_store_object_count(s))
    bad("%s, all closed: %zu objects remain", when, mgri_store_object_count(s));
  if (m->used[MGRI_MEM_OBJECTS])
    bad("%s, all closed: OBJECTS memory is %zu bytes, not 0", when,
        m->used[MGRI_MEM_OBJECTS]);
  for (uint32_t k = 1; k <= MGRI_KIND_MAX; k++)
    if (s->st.kind_bytes[k] || s->st.kind_count[k])
      bad("%s, all closed: kind %u still counts %llu objects, %zu bytes", when,
          k, (unsigned long long)s->st.kind_count[k], s->st.kind_bytes[k]);
  /* The deadline heap's array is kept (and counted) until the store is
   * freed; nothing else may be left in PARKED. */
  if (s->nparked || s->nheap || s->waiters)
    bad("%s, all closed: %zu parked requests remain", when, s->nparked);
  if (m->used[MGRI_MEM_PARKED] != mgri_mem_size(s->heap))
    bad("%s, all closed: PARKED memory is %zu bytes (heap array %zu)", when,
        m->used[MGRI_MEM_PARKED], mgri_mem_size(s->heap));
  if (s->heap) g_heap_kept++;
  mgri_h_fini(&w->h);
}

/* --- outcomes: the replies one request produced -------------------------------- */

#define MAXREP 8

typedef struct orep {
  uint64_t conn, rid;
  int status;
  mgr_value result; /* owned */
  char msg[320];
  bool main; /* the reply to the request under test */
} orep;

typedef struct outcome {
  size_t n;
  orep r[MAXREP];
  bool lost;  /* more replies than kept */
  int action; /* what dispatch asked the caller to do */
} outcome;

static void outcome_free(outcome *o) {
  for (size_t i = 0; i < o->n; i++)
    mgr_value_free(&o->r[i].result);
  o->n = 0;
}

static void outcome_take(world *w, outcome *o) {
  memset(o, 0, sizeof *o);
  o->action = w->h.last_action;
  for (size_t i = 0; i < w->h.nrep; i++) {
    mgri_hreply *r = &w->h.rep[i];
    if (o->n == MAXREP) {
      o->lost = true;
      break;
    }
    orep *x = &o->r[o->n++];
    x->conn = mgri_sconn_id(r->conn);
    x->rid = r->rid;
    x->status = r->status;
    x->result = r->result;
    r->result = mgr_nil();
    memcpy(x->msg, r->msg, sizeof x->msg);
    x->main = w->rq_conn && r->conn == w->rq_conn && r->rid == w->rq_rid;
  }
  mgri_h_clear(&w->h);
}

static const orep *outcome_main(const outcome *o) {
  for (size_t i = 0; i < o->n; i++)
    if (o->r[i].main) return &o->r[i];
  return NULL;
}

/* A result without the "bytes" of a DUMP (see snap_diff_b). */
static bool same_result(const mgr_value *a, const snap *sa, const mgr_value *b,
                        const snap *sb) {
  if (a->type != MGR_T_MAP || b->type != MGR_T_MAP || a->u.a.len != b->u.a.len)
    return same(a, sa, b, sb);
  for (size_t k = 0; k < a->u.a.len; k++) {
    const mgr_value *ka = &a->u.a.items[2 * k], *kb = &b->u.a.items[2 * k];
    if (!same(ka, sa, kb, sb)) return false;
    if (key_is(ka, "bytes")) continue;
    if (key_is(ka, "id") && a->u.a.items[2 * k + 1].type == MGR_T_INT &&
        b->u.a.items[2 * k + 1].type == MGR_T_INT) {
      if (canon(sa, (uint64_t)a->u.a.items[2 * k + 1].u.i) !=
          canon(sb, (uint64_t)b->u.a.items[2 * k + 1].u.i))
        return false;
      continue;
    }
    if (!same(&a->u.a.items[2 * k + 1], sa, &b->u.a.items[2 * k + 1], sb))
      return false;
  }
  return true;
}

/* The same replies. Volatile: results that report the server's own
 * counters (STATS: memory, requests) are compared by type only. */
static bool outcome_same(const outcome *x, const snap *sx, const outcome *y,
                         const snap *sy, bool vol) {
  if (x->n != y->n || x->lost || y->lost) return false;
  for (size_t i = 0; i < x->n; i++) {
    const orep *a = &x->r[i], *b = &y->r[i];
    bool res = vol ? a->result.type == b->result.type
                   : same_result(&a->result, sx, &b->result, sy);
    if (x->action != y->action || a->conn != b->conn ||
        (!a->main && a->rid != b->rid) || a->status != b->status ||
        a->main != b->main || !res ||
        (a->status != MGR_OK && strcmp(a->msg, b->msg) != 0 &&
         a->status != MGR_ELIMIT))
      return false;
  }
  return true;
}

/* --- requests under test ------------------------------------------------------- */

static void req(world *w, mgri_sconn *c, uint64_t op, uint64_t oid,
                const mgr_value *a, size_t n) {
  mgri_h_clear(&w->h);
  w->rq_conn = c;
  w->rq_rid = op == MGRI_OP_HELLO ? 0 : ++w->h.rid;
  w->rq_oid = oid;
  w->rq_op = op;
  mgri_h_req(&w->h, c, w->rq_rid, op, oid, a, n);
}

#define RUN(fn, CONN, OP, OID, ...)                                            \
  static void fn(world *w) { req(w, w->CONN, OP, OID, ARGS(__VA_ARGS__)); }
#define RUN0(fn, CONN, OP, OID)                                                \
  static void fn(world *w) { req(w, w->CONN, OP, OID, NULL, 0); }

/* dict (16-31), on d1 (dn for a rebuild by realloc) */
RUN(dict_get, a, MGRI_OP_DICT_GET, w->d1, T(LONGK1))
RUN(dict_get_default, a, MGRI_OP_DICT_GET, w->d1, T(NEWK), T(NEWV))
RUN(dict_set_new, a, MGRI_OP_DICT_SET, w->d1, T(NEWK),
    ARR(T(NEWV), MAP(T("r"), REF(VAR, w->v1)), ARR(I(1), T(LONG3))))
RUN(dict_set_new_small, a, MGRI_OP_DICT_SET, w->d1, T("z"), I(26))
RUN(dict_set_grow, a, MGRI_OP_DICT_SET, w->dn, T(NEWK), T(NEWV))
RUN(dict_set_replace, a, MGRI_OP_DICT_SET, w->d1, T("a"), T(NEWV))
RUN(dict_set_replace_long, a, MGRI_OP_DICT_SET, w->d1, T(LONGK1),
    ARR(REF(VAR, w->v1), T(NEWV)))
RUN(dict_set_over_ref, a, MGRI_OP_DICT_SET, w->d1, T("r"),
    MAP(T(NEWK), T(NEWV)))
RUN(dict_set_array_key, a, MGRI_OP_DICT_SET, w->d1,
    ARR(T(LONG3), I(1), ARR(mgr_bytes("\x01\x02", 2), T(NEWK))), I(2))
RUN(dict_del, a, MGRI_OP_DICT_DEL, w->d1, T(LONGK1))
RUN(dict_del_ref, a, MGRI_OP_DICT_DEL, w->d1, T("r"))
RUN(dict_contains, a, MGRI_OP_DICT_CONTAINS, w->d1, T("n"))
RUN0(dict_len, a, MGRI_OP_DICT_LEN, w->d1)
RUN0(dict_keys, a, MGRI_OP_DICT_KEYS, w->d1)
RUN0(dict_values, a, MGRI_OP_DICT_VALUES, w->d1)
RUN0(dict_items, a, MGRI_OP_DICT_ITEMS, w->d1)
RUN(dict_pop, a, MGRI_OP_DICT_POP, w->d1, T("big"))
RUN(dict_pop_default, a, MGRI_OP_DICT_POP, w->d1, T(NEWK), T(NEWV))
RUN0(dict_popitem, a, MGRI_OP_DICT_POPITEM, w->d1)
RUN(dict_setdefault_new, a, MGRI_OP_DICT_SETDEFAULT, w->d1, T(NEWK),
    MAP(T(NEWV), ARR(REF(VAR, w->v1))))
RUN(dict_setdefault_old, a, MGRI_OP_DICT_SETDEFAULT, w->d1, T("a"), T(NEWV))
RUN(dict_update_map, a, MGRI_OP_DICT_UPDATE, w->d1,
    MAP(T("a"), T(NEWV), T(NEWK), ARR(REF(VAR, w->v1), T(LONG3)), T("u1"), I(1),
        T("u2"), T(LONG3), I(100), REF(VAR, w->v1), T("u3"), MAP(T(NEWK), I(2)),
        T("u4"), mgr_float(0.5)))
RUN(dict_update_pairs, a, MGRI_OP_DICT_UPDATE, w->d1,
    ARR(ARR(T(NEWK), T(NEWV)), ARR(I(7), T(LONG3)),
        ARR(T("q"), REF(VAR, w->v1)), ARR(T(NEWK), T(LONGV2))))
RUN0(dict_clear, a, MGRI_OP_DICT_CLEAR, w->d1)
RUN0(dict_copy, a, MGRI_OP_DICT_COPY, w->d1)
RUN(dict_incr, a, MGRI_OP_DICT_INCR, w->d1, T("cnt"), I(5))
RUN(dict_incr_new, a, MGRI_OP_DICT_INCR, w->d1, T(NEWK), I(5), I(10))
RUN(dict_cas_swap, a, MGRI_OP_DICT_CAS, w->d1, T("a"), I(1),
    ARR(T(NEWV), REF(VAR, w->v1)))
RUN(dict_cas_noswap, a, MGRI_OP_DICT_CAS, w->d1, T("a"), I(2),
    ARR(T(NEWV), REF(VAR, w->v1)))
RUN(dict_cas_long, a, MGRI_OP_DICT_CAS, w->d1, T(LONGK1), T(LONGV1), T(NEWV))

/* list (40-63), on l1 (l2 to sort) */
RUN(list_get, a, MGRI_OP_LIST_GET, w->l1, I(3))
RUN(list_set, a, MGRI_OP_LIST_SET, w->l1, I(1), ARR(T(NEWV), REF(VAR, w->v1)))
RUN(list_set_over_ref, a, MGRI_OP_LIST_SET, w->l1, I(4), T(NEWV))
RUN(list_del, a, MGRI_OP_LIST_DEL, w->l1, I(2))
RUN0(list_len, a, MGRI_OP_LIST_LEN, w->l1)
RUN(list_getslice, a, MGRI_OP_LIST_GETSLICE, w->l1, I(1), I(8), I(2))
RUN(list_setslice, a, MGRI_OP_LIST_SETSLICE, w->l1, I(1), I(3), NIL,
    ARR(T(NEWV), REF(VAR, w->v1), I(5), ARR(T(LONG3))))
RUN(list_setslice_ext, a, MGRI_OP_LIST_SETSLICE, w->l1, NIL, NIL, I(3),
    ARR(T(NEWV), I(2), REF(VAR, w->v1), T("s")))
RUN(list_delslice, a, MGRI_OP_LIST_DELSLICE, w->l1, I(0), I(6), I(2))
RUN(list_append, a, MGRI_OP_LIST_APPEND, w->l1,
    MAP(T(NEWK), ARR(REF(VAR, w->v1), T(NEWV))))
RUN(list_extend, a, MGRI_OP_LIST_EXTEND, w->l1,
    ARR(T(NEWV), I(1), REF(VAR, w->v1), ARR(T(LONG3)), T("x"), mgr_float(1.0),
        T(LONG2), MAP(T("k"), T(NEWV))))
RUN(list_insert, a, MGRI_OP_LIST_INSERT, w->l1, I(0), T(NEWV))
RUN0(list_pop, a, MGRI_OP_LIST_POP, w->l1)
RUN(list_pop_long, a, MGRI_OP_LIST_POP, w->l1, I(2))
RUN(list_remove, a, MGRI_OP_LIST_REMOVE, w->l1, T("short"))
RUN(list_index, a, MGRI_OP_LIST_INDEX, w->l1, T(LONG2))
RUN(list_count, a, MGRI_OP_LIST_COUNT, w->l1, REF(VAR, w->v1))
RUN0(list_reverse, a, MGRI_OP_LIST_REVERSE, w->l1)
RUN0(list_sort, a, MGRI_OP_LIST_SORT, w->l2)
RUN(list_sort_rev, a, MGRI_OP_LIST_SORT, w->l2, mgr_bool(true))
RUN0(list_clear, a, MGRI_OP_LIST_CLEAR, w->l1)
RUN0(list_copy, a, MGRI_OP_LIST_COPY, w->l1)
RUN(list_imul, a, MGRI_OP_LIST_IMUL, w->l1, I(3))
RUN(list_imul_zero, a, MGRI_OP_LIST_IMUL, w->l1, I(0))
RUN(list_contains, a, MGRI_OP_LIST_CONTAINS, w->l1, I(-7))
RUN(list_incr, a, MGRI_OP_LIST_INCR, w->l1, I(0), I(1))
RUN(list_cas_swap, a, MGRI_OP_LIST_CAS, w->l1, I(0), I(1),
    ARR(T(NEWV), REF(VAR, w->v1)))
RUN(list_cas_noswap, a, MGRI_OP_LIST_CAS, w->l1, I(0), I(9), T(NEWV))
/* the ends (room at both, spec 9.3): with prep_l1_full the array is full */
RUN(list_pop_front, a, MGRI_OP_LIST_POP, w->l1, I(0))
RUN(list_insert_back, a, MGRI_OP_LIST_INSERT, w->l1, I(-2), T(NEWV))
RUN(list_setslice_front, a, MGRI_OP_LIST_SETSLICE, w->l1, I(0), I(1), NIL,
    ARR(T(NEWV), I(5), REF(VAR, w->v1)))
RUN(list_delslice_run, a, MGRI_OP_LIST_DELSLICE, w->l1, I(1), I(9), NIL)

/* var (72-75) */
RUN0(var_get, a, MGRI_OP_VAR_GET, w->v1)
RUN(var_set, a, MGRI_OP_VAR_SET, w->v3,
    ARR(T(NEWV), MAP(T("r"), REF(LOCK, w->lk))))
RUN(var_set_long, a, MGRI_OP_VAR_SET, w->v1, T(NEWV))
RUN(var_set_over_refs, a, MGRI_OP_VAR_SET, w->v2, ARR(T(NEWV), REF(VAR, w->v1)))
RUN(var_cas_over_refs, a, MGRI_OP_VAR_CAS, w->v2,
    ARR(REF(DICT, w->d1), REF(DICT, w->d1)), MAP(T(NEWK), REF(LIST, w->l2)))
RUN(var_incr, a, MGRI_OP_VAR_INCR, w->v3, I(1))
RUN(var_cas_swap, a, MGRI_OP_VAR_CAS, w->v1, T(LONG1),
    ARR(T(NEWV), REF(LOCK, w->lk)))
RUN(var_cas_noswap, a, MGRI_OP_VAR_CAS, w->v1, T("nope"), T(NEWV))

/* lock (80-82) */
RUN(lock_acquire, a, MGRI_OP_LOCK_ACQUIRE, w->lk, mgr_bool(true), NIL)
RUN(lock_acquire_park, c, MGRI_OP_LOCK_ACQUIRE, w->lkh, mgr_bool(true), NIL)
RUN(lock_acquire_timed, c, MGRI_OP_LOCK_ACQUIRE, w->lkh, mgr_bool(true),
    mgr_float(30.0))
RUN(lock_acquire_try, c, MGRI_OP_LOCK_ACQUIRE, w->lkh, mgr_bool(false), NIL)
RUN(rlock_acquire_again, a2, MGRI_OP_LOCK_ACQUIRE, w->rl, mgr_bool(true), NIL)
RUN0(lock_release_grant, a, MGRI_OP_LOCK_RELEASE, w->lkh)
RUN0(rlock_release, a2, MGRI_OP_LOCK_RELEASE, w->rl)
RUN0(lock_locked, c, MGRI_OP_LOCK_LOCKED, w->lkh)

/* connections closing (no request: nothing may allocate) */
static void close_owner(world *w) { /* owns lkh, b waits on it */
  mgri_h_clear(&w->h);
  w->rq_conn = NULL;
  mgri_h_close(&w->h, w->a);
}
static void close_parked(world *w) { /* b: parked; its session ends */
  mgri_h_clear(&w->h);
  w->rq_conn = NULL;
  mgri_h_close(&w->h, w->b);
}

/* manager ops */
static void hello(world *w, uint64_t session) {
  req(w, w->raw[w->nraw - 1], MGRI_OP_HELLO, 0,
      ARGS(I(MGR_PROTOCOL_MIN), I(MGR_PROTOCOL_MAX), I(777),
           I((int64_t)session)));
}
static void hello_new(world *w) { hello(w, 0); }
static void hello_join(world *w) { hello(w, w->sess_a); }
static void create_with(world *w, mgri_sconn *c, uint32_t kind,
                        const mgr_value *init) {
  mgr_value a[2] = {mgr_int(kind), init ? *init : mgr_nil()};
  req(w, c, MGRI_OP_CREATE, 0, a, init ? 2 : 1);
}
static void create_dict(world *w) { create_with(w, w->a, MGR_K_DICT, NULL); }
static void create_dict_init(world *w) {
  mgr_value v = MAP(T(NEWK), ARR(REF(VAR, w->v1), T(NEWV)), I(1),
                    REF(LIST, w->l2), T("x"), T(LONG3), T("n"),
                    MAP(T("deep"), ARR(REF(DICT, w->d1), T(LONG2))));
  create_with(w, w->a, MGR_K_DICT, &v);
}
static void create_list(world *w) { create_with(w, w->a, MGR_K_LIST, NULL); }
static void create_list_init(world *w) {
  mgr_value v = ARR(T(NEWV), REF(VAR, w->v1), ARR(REF(DICT, w->d1), T(LONG3)),
                    I(3), MAP(T(NEWK), REF(VAR, w->v1)));
  create_with(w, w->a, MGR_K_LIST, &v);
}
static void create_var(world *w) { create_with(w, w->a, MGR_K_VAR, NULL); }
static void create_var_init(world *w) {
  mgr_value v =
      MAP(T(NEWK), REF(DICT, w->d1), T("l"), ARR(T(LONG3), REF(VAR, w->v1)));
  create_with(w, w->a, MGR_K_VAR, &v);
}
static void create_lock(world *w) { create_with(w, w->a, MGR_K_LOCK, NULL); }
static void create_lock_nil(world *w) {
  mgr_value v = NIL;
  create_with(w, w->a, MGR_K_LOCK, &v);
}
static void create_rlock(world *w) { create_with(w, w->a, MGR_K_RLOCK, NULL); }
static void create_rlock_nil(world *w) {
  mgr_value v = NIL;
  create_with(w, w->a, MGR_K_RLOCK, &v);
}
static void create_by_c(world *w) { /* c's session holds nothing yet */
  mgr_value v = ARR(T(NEWV), REF(VAR, w->v1));
  create_with(w, w->c, MGR_K_LIST, &v);
}
RUN(open_create, a, MGRI_OP_OPEN, 0, T("fresh-name"), I(MGR_K_DICT),
    MAP(T(NEWK), REF(VAR, w->v1), T("t"), T(LONG3)), mgr_bool(true))
RUN(open_create_list, c, MGRI_OP_OPEN, 0, T("fresh-list"), I(MGR_K_LIST),
    ARR(T(NEWV), REF(LIST, w->l2)))
RUN(open_existing, c, MGRI_OP_OPEN, 0, T("named-dict"), I(MGR_K_DICT))
RUN(open_existing_held, a, MGRI_OP_OPEN, 0, T("named-dict"), I(MGR_K_DICT),
    MAP(T(NEWK), T(NEWV)))
RUN(retain, c, MGRI_OP_RETAIN, 0,
    ARR(I((int64_t)w->v1), I((int64_t)w->l1), I((int64_t)w->d1),
        I((int64_t)w->v1)))
RUN(retain_grow, c, MGRI_OP_RETAIN, 0, ARR(I((int64_t)w->extra)))
RUN0(release, a, MGRI_OP_RELEASE, w->v2)
RUN(unlink_name, a, MGRI_OP_UNLINK, 0, T("named-dict"))
RUN0(list_objects, c, MGRI_OP_LIST, 0)
RUN0(stats, c, MGRI_OP_STATS, 0)
RUN0(dump_dict, c, MGRI_OP_DUMP, w->d1)
RUN0(dump_list, c, MGRI_OP_DUMP, w->l1)
RUN0(dump_var, c, MGRI_OP_DUMP, w->v1)
RUN0(dump_lock, c, MGRI_OP_DUMP, w->lkh)
RUN0(dump_rlock, c, MGRI_OP_DUMP, w->rl)
RUN(ping, c, MGRI_OP_PING, 0, ARR(T(NEWV), MAP(T(NEWK), I(1))))

/* BATCH: its sub-requests, an owned array (mgr_value_free). */
static mgr_value owned(const mgr_value *v) {
  mgr_value o;
  assert_int_equal(mgr_value_copy(&o, v), MGR_OK);
  return o;
}

#define SUB(OP, OID, ...) ARR(I(OP), I((int64_t)(OID)), ARR(__VA_ARGS__))
#define SUB0(OP, OID) ARR(I(OP), I((int64_t)(OID)), mgr_array(NULL, 0))

static mgr_value subs_mixed(world *w) {
  mgr_value v = ARR(
      SUB(MGRI_OP_DICT_SET, w->d1, T(NEWK), ARR(T(NEWV), REF(VAR, w->v1))),
      SUB(MGRI_OP_LIST_APPEND, w->l1, T(LONG3)),
      SUB(MGRI_OP_VAR_SET, w->v3, T(NEWV)),
      SUB(MGRI_OP_DICT_GET, w->d1, T("missing key")),
      SUB(MGRI_OP_DICT_POP, w->d1, T("big")),
      SUB(MGRI_OP_LOCK_ACQUIRE, w->lk, mgr_bool(false), NIL),
      SUB(MGRI_OP_LIST_GET, w->l1, I(99)), SUB0(MGRI_OP_DICT_ITEMS, w->d1),
      SUB(MGRI_OP_RETAIN, 0, ARR(I((int64_t)w->v1))),
      SUB(MGRI_OP_DICT_UPDATE, w->d1, MAP(T("u1"), T(LONG3), T("u2"), I(2))),
      SUB(MGRI_OP_LIST_IMUL, w->l2, I(2)),
      SUB(MGRI_OP_VAR_CAS, w->v1, T(LONG1), T(NEWV)),
      SUB(MGRI_OP_CREATE, 0, I(MGR_K_LIST), ARR(REF(VAR, w->v1), T(NEWV))));
  return owned(&v);
}

/* Error slots with long messages after a large result: the batch's arena
 * needs new chunks while building the slots of sub-requests that come after
 * ones that changed the store. */
static mgr_value subs_errors(world *w) {
  mgr_value miss = SUB(MGRI_OP_DICT_GET, w->d1, T(MISSK));
  mgr_value v = ARR(SUB(MGRI_OP_DICT_SET, w->d1, T(NEWK), T(NEWV)),
                    SUB(MGRI_OP_DICT_GET, w->d1, T("big")), miss, miss, miss,
                    miss, miss, miss, miss, miss, miss, miss, miss, miss, miss,
                    miss, miss, miss, miss, miss, miss, miss, miss, miss, miss,
                    miss, SUB(MGRI_OP_LIST_APPEND, w->l1, T(NEWV)), miss, miss,
                    miss, miss, miss, miss, miss, miss);
  return owned(&v);
}

static mgr_value (*g_subs)(world *w);

static void batch(world *w) {
  mgr_value subs = g_subs(w);
  req(w, w->a, MGRI_OP_BATCH, 0, &subs, 1);
  mgr_value_free(&subs);
}

/* --- preparations --------------------------------------------------------------- */

static void prep_raw(world *w) {
  mgri_sconn *c = mgri_store_conn_open(w->h.s, NULL);
  assert_non_null(c);
  w->raw[w->nraw++] = c;
}
/* l1's array full (10 items in 16 slots, then 6 more): an insert at either
 * end grows it. */
static void prep_l1_full(world *w) {
  for (int i = 0; i < 6; i++)
    must(w, w->a, MGRI_OP_LIST_APPEND, w->l1, ARGS(I(i)));
}
/* l1 holding its first item only: popping it gives its array back. */
static void prep_l1_one(world *w) {
  must(w, w->a, MGRI_OP_LIST_DELSLICE, w->l1, ARGS(I(1), NIL, NIL));
}
/* 12 sessions: the 13th grows the session table. */
static void prep_raw_sessions(world *w) {
  while (w->h.s->sessions.len < 12)
    must_conn(w, 0);
  prep_raw(w);
}
/* dn with 5 entries and no dead one: one more rebuilds it by realloc. */
static void prep_dn_full(world *w) {
  must(w, w->a, MGRI_OP_DICT_UPDATE, w->dn,
       ARGS(MAP(T("p"), I(1), T("q"), I(2), T("r"), I(3), T("s"), I(4))));
}
/* 12 objects: the 13th grows the object table. */
static void prep_objs12(world *w) {
  while (mgri_store_object_count(w->h.s) < 12)
    must_create(w, w->a, MGR_K_VAR, NULL);
}
/* 16 names: the 17th grows the name table. */
static void prep_names16(world *w) {
  char name[32];
  for (int i = 0; w->h.s->nnames < 16; i++) {
    snprintf(name, sizeof name, "filler-%d", i);
    must(w, w->a, MGRI_OP_OPEN, 0, ARGS(T(name), I(MGR_K_VAR)));
  }
}
/* c holds 12 objects and one more exists: holding it grows c's set. */
static void prep_c_holds12(world *w) {
  must_create(w, w->c, MGR_K_VAR, NULL);
  must_create(w, w->c, MGR_K_VAR, NULL);
  must(w, w->c, MGRI_OP_RETAIN, 0,
       ARGS(ARR(I((int64_t)w->v1), I((int64_t)w->l1), I((int64_t)w->d1),
                I((int64_t)w->v2), I((int64_t)w->l2), I((int64_t)w->v3),
                I((int64_t)w->lk), I((int64_t)w->rl), I((int64_t)w->lkh),
                I((int64_t)w->dn))));
  w->extra = must_create(w, w->a, MGR_K_VAR, NULL);
}
static void prep_release_dn(world *w) {
  must(w, w->a, MGRI_OP_RELEASE, w->dn, NULL, 0);
}
static void prep_close_a2(world *w) { mgri_h_close(&w->h, w->a2); }
static void prep_batch_mixed(world *w) {
  (void)w;
  g_subs = subs_mixed;
}
static void prep_batch_errors(world *w) {
  (void)w;
  g_subs = subs_errors;
}

/* --- the cases -------------------------------------------------------------------- */

enum {
  F_PARKS = 1,   /* succeeds by parking (no reply) */
  F_CLOSE = 2,   /* closes a connection: no request */
  F_BATCH = 4,   /* a BATCH (g_subs): checked sub-request by sub-request */
  F_VOLATILE = 8 /* its result reports the server's counters (STATS) */
};

typedef struct acase {
  const char *name;
  void (*run)(world *w);
  void (*prep)(world *w);
  unsigned flags;
} acase;

typedef struct totals {
  unsigned cases, runs, injected, again;
  /* failed BATCHes: refused whole, answered LIMIT whole after running,
   * answered with LIMIT slots */
  unsigned b_none, b_all, b_part;
} totals;

static totals g_tot;

/* Runs a BATCH's sub-requests alone (top-level requests on a), skipping
 * those in skip[]: the store a non-atomic batch must leave. Each one's
 * status and result go to out[i] (when out is not NULL; owned). */
typedef struct rslot {
  int status;
  mgr_value result;
} rslot;

static void replay(world *w, const mgr_value *subs, const bool *skip,
                   rslot *out) {
  for (size_t i = 0; i < subs->u.a.len; i++) {
    const mgr_value *e = subs->u.a.items[i].u.a.items;
    if (skip && skip[i]) continue;
    req(w, w->a, (uint64_t)e[0].u.i, (uint64_t)e[1].u.i, e[2].u.a.items,
        e[2].u.a.len);
    if (out) {
      out[i].status = w->h.nrep == 1 ? w->h.rep[0].status : -9999;
      if (w->h.nrep == 1) out[i].result = take_result(w, &w->h.rep[0]);
    }
    mgri_h_clear(&w->h);
  }
}

/* The wire code of slot i of a BATCH result, or -1. */
static int64_t slot_code(const mgr_value *res, size_t i) {
  if (res->type != MGR_T_ARRAY || i >= res->u.a.len) return -1;
  const mgr_value *s = &res->u.a.items[i];
  if (s->type != MGR_T_ARRAY || s->u.a.len != 2 ||
      s->u.a.items[0].type != MGR_T_INT)
    return -1;
  return s->u.a.items[0].u.i;
}

static void build_case(world *w, const acase *k, snap *before) {
  build(w);
  if (k->prep) k->prep(w);
  mgri_h_clear(&w->h);
  invariants(w, "starting state");
  snap_take(w, before);
}

/* A request (not a BATCH) that met an injected failure: answered LIMIT
 * and nothing else, the store as it was (before: its snapshot). */
static void check_failed(world *w, const outcome *o, const snap *before,
                         const snap *after, const char *when) {
  char why[1024];
  const orep *om = outcome_main(o);
  if (!om)
    bad("%s: no reply (parked?) although an allocation failed", when);
  else if (om->status != MGR_ELIMIT)
    bad("%s: answered %d (%s), not LIMIT", when, om->status, om->msg);
  else if (strncmp(om->msg, "MemoryError", 11) != 0)
    bad("%s: LIMIT with the message \"%s\"", when, om->msg);
  /* A failed HELLO closes its connection (spec 7.6); no other does. */
  int want = w->rq_op == MGRI_OP_HELLO ? MGRI_DISPATCH_CLOSE : MGRI_DISPATCH_OK;
  if (o->action != want)
    bad("%s: dispatch asked for action %d, not %d", when, o->action, want);
  if (o->n != (om ? 1u : 0u))
    bad("%s: %zu replies (a failed request answers only itself)", when, o->n);
  bdiff bd = {.n = 0};
  if (snap_diff_b(before, after, true, why, sizeof why, &bd))
    bad("%s: answered LIMIT but the store changed: %s", when, why);
  for (size_t i = 0; i < bd.n; i++) {
    uint32_t kind = 0;
    mgri_store_object_info(w->h.s, bd.id[i], &kind, NULL, NULL);
    /* Capacity the op reserved (a dict's table, a list's array) before a
     * later allocation failed stays: its contents are as they were, and its
     * bytes are counted (the invariants hold). Anything else is a change. */
    if (bd.id[i] == w->rq_oid && bd.after[i] > bd.before[i] &&
        (kind == MGR_K_DICT || kind == MGR_K_LIST)) {
      g_kept++;
      if (g_kept_case++ == 0)
        printf("NOTE [%s, %s, fail_in=%llu] answered LIMIT; the target #%llu "
               "keeps the capacity it grew (%lld bytes, then %lld), its "
               "contents unchanged\n",
               g_case, g_variant, (unsigned long long)g_n,
               (unsigned long long)bd.id[i], (long long)bd.before[i],
               (long long)bd.after[i]);
    } else {
      bad("%s: answered LIMIT but #%llu holds %lld bytes, then %lld", when,
          (unsigned long long)bd.id[i], (long long)bd.before[i],
          (long long)bd.after[i]);
    }
  }
  if (after->next_id != before->next_id) {
    g_ids++;
    if (g_ids_case++ == 0)
      printf("NOTE [%s, %s, fail_in=%llu] answered LIMIT; object id #%llu was "
             "used up (the next object is #%llu)\n",
             g_case, g_variant, (unsigned long long)g_n,
             (unsigned long long)before->next_id,
             (unsigned long long)after->next_id);
  }
}

/* Runs the case's request with fail_in = n (0: none). */
static bool attempt(world *w, const acase *k, uint64_t n, bool cold,
                    outcome *o) {
  mgri_mem *m = MEM(w);
  if (cold) chill(w);
  uint64_t failed0 = m->failed;
  m->fail_in = n;
  k->run(w);
  bool injected = m->failed != failed0;
  m->fail_in = 0;
  outcome_take(w, o);
  return injected;
}

/* The replies and the store are the reference run's. */
static void check_as_ref(world *w, const acase *k, const outcome *o,
                         const outcome *ref, const snap *ref_after,
                         const char *when) {
  char why[1024];
  snap after;
  snap_take(w, &after);
  invariants(w, when);
  if (!outcome_same(o, &after, ref, ref_after, k->flags & F_VOLATILE)) {
    const orep *m = outcome_main(o);
    bad("%s: the replies differ from the reference run's (status %d %s)", when,
        m ? m->status : -1, m ? m->msg : "");
  }
  if (snap_diff(ref_after, &after, false, why, sizeof why))
    bad("%s: the store differs from the reference run's: %s", when, why);
  snap_free(&after);
}

/* The end of the message of a whole-batch LIMIT whose reply could not be
 * built, too long or no memory (spec 9.6.5): every sub-request was executed.
 * A whole-batch error without it was refused before anything ran (9.6.2). */
#define EXECUTED "its sub-requests were executed"

static bool says_executed(const char *msg) {
  size_t n = strlen(msg), k = strlen(EXECUTED);
  return n >= k && strcmp(msg + n - k, EXECUTED) == 0;
}

/* Whether a sub-request of subs targets object oid. */
static bool batch_target(const mgr_value *subs, uint64_t oid) {
  for (size_t i = 0; i < subs->u.a.len; i++) {
    const mgr_value *e = &subs->u.a.items[i];
    if (e->type == MGR_T_ARRAY && e->u.a.len == 3 &&
        e->u.a.items[1].type == MGR_T_INT &&
        (uint64_t)e->u.a.items[1].u.i == oid)
      return true;
  }
  return false;
}

/* A BATCH that ran (whole or in part), before and after of one store: an
 * object whose contents it left as they were holds the bytes it held, but
 * for a dict or list that a sub-request targets, which may keep capacity it
 * grew (spec 14.2.2; noted). Refs are compared by id (one store). */
static void check_batch_bytes(const snap *before, const snap *after,
                              const mgr_value *subs) {
  for (size_t i = 0; i < before->n; i++) {
    size_t j = 0;
    while (j < after->n && after->id[j] != before->id[i])
      j++;
    if (j == after->n) continue; /* destroyed */
    const mgr_value *dx = &before->dump[i], *dy = &after->dump[j];
    if (dx->u.a.len != dy->u.a.len) continue;
    bool eq = true;
    int64_t bx = 0, by = 0;
    for (size_t k = 0; eq && k < dx->u.a.len; k++) {
      const mgr_value *kx = &dx->u.a.items[2 * k],
                      *vx = &dx->u.a.items[2 * k + 1];
      const mgr_value *vy = &dy->u.a.items[2 * k + 1];
      if (!same(kx, NULL, &dy->u.a.items[2 * k], NULL)) {
        eq = false;
      } else if (key_is(kx, "bytes")) {
        bx = vx->type == MGR_T_INT ? vx->u.i : -1;
        by = vy->type == MGR_T_INT ? vy->u.i : -1;
      } else if (!same(vx, NULL, vy, NULL)) {
        eq = false;
      }
    }
    if (!eq || bx == by) continue;
    uint64_t id = before->id[i];
    int64_t kind = before->list.u.a.items[i].u.a.items[1].u.i;
    if (by > bx && (kind == MGR_K_DICT || kind == MGR_K_LIST) &&
        batch_target(subs, id)) {
      g_kept++;
      if (g_kept_case++ == 0)
        printf("NOTE [%s, %s, fail_in=%llu] BATCH: #%llu, a sub-request's "
               "target, keeps the capacity it grew (%lld bytes, then %lld), "
               "its contents unchanged\n",
               g_case, g_variant, (unsigned long long)g_n,
               (unsigned long long)id, (long long)bx, (long long)by);
    } else {
      bad("BATCH: #%llu's contents are as before the batch, but it holds "
          "%lld bytes, then %lld",
          (unsigned long long)id, (long long)bx, (long long)by);
    }
  }
}

/* A BATCH that met an injected failure (before: the case's starting state,
 * untouched). Three outcomes are correct:
 *  - a whole-batch LIMIT that was refused before anything ran (its message
 *    does not say the sub-requests were executed; spec 9.6.2): the store
 *    exactly as before, bytes included;
 *  - a whole-batch LIMIT for want of memory to build the reply (9.6.5,
 *    "... its sub-requests were executed"): every sub-request ran as it
 *    does without injection, so the store is the reference run's (ref_after;
 *    two stores: compared up to ids, bytes not compared);
 *  - the batch answered with the slots that met the failure saying LIMIT:
 *    such a slot had no effect (9.6.5: "a sub-request's own LIMIT means
 *    that it changed nothing"), so the store is what the other sub-requests
 *    make alone, and each other slot answers what its sub-request answers
 *    alone.
 * When the batch ran (the last two), the objects it left as they were hold
 * the same bytes (check_batch_bytes), and *next, *next_after get what
 * sending it once more without injection must give (a fresh store in the
 * same state that does so; the caller frees them). Returns whether it ran. */
static bool check_batch(const acase *k, bool cold, const outcome *o,
                        const snap *before, const snap *after,
                        const outcome *ref, const snap *ref_after,
                        outcome *next, snap *next_after) {
  const orep *m = outcome_main(o), *rm = outcome_main(ref);
  char why[1024];
  if (!m) {
    bad("BATCH: no reply");
    return false;
  }
  bool ran_all = m->status == MGR_ELIMIT && says_executed(m->msg);
  if (m->status != MGR_OK && !ran_all) {
    /* Refused as a whole: nothing executed (spec 9.6.2). */
    if (m->status != MGR_ELIMIT)
      bad("BATCH answered %d (%s), not LIMIT", m->status, m->msg);
    else if (strncmp(m->msg, "MemoryError", 11) != 0)
      bad("BATCH: LIMIT with the message \"%s\"", m->msg);
    if (o->n != 1 || o->action != MGRI_DISPATCH_OK)
      bad("BATCH refused as a whole: %zu replies, action %d (it answers only "
          "itself)",
          o->n, o->action);
    g_tot.b_none++;
    if (snap_diff(before, after, true, why, sizeof why))
      bad("BATCH answered LIMIT as a whole (\"%s\"), not saying its "
          "sub-requests were executed, but they changed the store (spec "
          "9.6.2: nothing executed): %s",
          m->msg, why);
    return false;
  }
  if (o->n != ref->n || o->action != ref->action)
    bad("BATCH: %zu replies and action %d; the reference run gave %zu and %d",
        o->n, o->action, ref->n, ref->action);
  world *w = malloc(sizeof *w);
  assert_non_null(w);
  snap exp;
  mgr_value subs = mgr_nil();
  if (ran_all) {
    /* Every sub-request ran as without injection (spec 9.6.5). */
    g_tot.b_all++;
    if (strncmp(m->msg, "MemoryError", 11) != 0)
      bad("BATCH: LIMIT with the message \"%s\"", m->msg);
    if (snap_diff(ref_after, after, false, why, sizeof why)) {
      char why2[8];
      bool none = snap_diff(before, after, true, why2, sizeof why2) == 0;
      bad("BATCH answered LIMIT as a whole saying its sub-requests were "
          "executed (\"%s\"), but the store is not what the batch makes "
          "without injection (spec 9.6.5)%s: %s",
          m->msg, none ? " -- none was executed" : "", why);
    }
    /* What sending it again must give: the reference store, then the batch
     * once more. */
    outcome once;
    build_case(w, k, &exp);
    snap_free(&exp);
    subs = g_subs(w);
    attempt(w, k, 0, cold, &once);
    outcome_free(&once);
  } else {
    size_t n = m->result.u.a.len;
    bool skip[MGRI_BATCH_MAX] = {false};
    size_t nskip = 0;
    for (size_t i = 0; i < n; i++)
      if (slot_code(&m->result, i) == 47 && slot_code(&rm->result, i) != 47) {
        skip[i] = true;
        nskip++;
      }
    if (!nskip)
      bad("BATCH: an allocation failed, yet no slot and not the batch says "
          "LIMIT");
    g_tot.b_part++;
    /* What the other sub-requests make alone. */
    build_case(w, k, &exp);
    snap_free(&exp);
    subs = g_subs(w);
    rslot *alone = calloc(subs.u.a.len, sizeof *alone);
    assert_non_null(alone);
    replay(w, &subs, skip, alone);
    snap_take(w, &exp);
    /* The other slots answer what their sub-requests answer alone. */
    for (size_t i = 0; i < n && i < subs.u.a.len; i++) {
      if (skip[i]) continue;
      const mgr_value *sl = &m->result.u.a.items[i];
      uint64_t want = mgri_err_to_wire(alone[i].status);
      if (slot_code(&m->result, i) != (int64_t)want)
        bad("BATCH slot %zu: code %lld; alone, its sub-request answers %llu", i,
            (long long)slot_code(&m->result, i), (unsigned long long)want);
      else if (want == 0 &&
               !same_result(&sl->u.a.items[1], after, &alone[i].result, &exp))
        bad("BATCH slot %zu: its result differs from its sub-request's alone",
            i);
    }
    for (size_t i = 0; i < subs.u.a.len; i++)
      mgr_value_free(&alone[i].result);
    free(alone);
    if (!nskip && snap_diff(&exp, after, false, why, sizeof why)) {
      bad("BATCH: no slot says LIMIT, but the store is not what its "
          "sub-requests make: %s",
          why);
    } else if (nskip && snap_diff(&exp, after, false, why, sizeof why)) {
      char which[256] = "";
      size_t u = 0;
      for (size_t i = 0; i < n && u < sizeof which; i++)
        if (skip[i]) {
          const mgr_value *e = subs.u.a.items[i].u.a.items;
          int q = snprintf(which + u, sizeof which - u, "%s%zu (%s)",
                           u ? ", " : "", i, mgri_op_name((uint64_t)e[0].u.i));
          if (q > 0) u += (size_t)q;
        }
      char why2[256];
      bool as_ref = snap_diff(ref_after, after, false, why2, sizeof why2) == 0;
      bad("BATCH slot(s) %s answered LIMIT, but the store is not what the "
          "other sub-requests make alone%s: %s",
          which,
          as_ref ? " -- it is what the whole batch makes: the failed "
                   "sub-request's effect remains"
                 : "",
          why);
    }
    snap_free(&exp);
  }
  check_batch_bytes(before, after, &subs);
  /* The batch once more, without injection, on that store. */
  attempt(w, k, 0, cold, next);
  snap_take(w, next_after);
  mgr_value_free(&subs);
  teardown(w, "batch replay");
  free(w);
  return true;
}

/* A BATCH that ran (in whole or in part) after a failure, sent again
 * without injection: it runs through, no slot LIMIT, and gives what it gives
 * on a store that was never injected but is in the same state (next,
 * next_after: check_batch's; freed here). */
static void batch_again(world *w, const acase *k, bool cold, outcome *next,
                        snap *next_after) {
  outcome o;
  attempt(w, k, 0, cold, &o);
  const orep *m2 = outcome_main(&o);
  if (!m2 || m2->status != MGR_OK)
    bad("the batch again: answered %d", m2 ? m2->status : -1);
  else
    for (size_t i = 0; i < m2->result.u.a.len; i++)
      if (slot_code(&m2->result, i) == 47)
        bad("the batch again: slot %zu is LIMIT", i);
  check_as_ref(w, k, &o, next, next_after, "the batch again");
  outcome_free(&o);
  outcome_free(next);
  snap_free(next_after);
}

static void run_variant(const acase *k, bool cold) {
  g_variant = cold ? "cold" : "warm";
  g_n = 0;
  world *w = &W;
  snap before, after;
  char why[1024];

  /* The reference run: no injection. */
  outcome ref;
  snap ref_after;
  build_case(w, k, &before);
  attempt(w, k, 0, cold, &ref);
  const orep *rm = outcome_main(&ref);
  if (k->flags & F_CLOSE) {
    /* nothing to answer */
  } else if (k->flags & F_PARKS) {
    if (rm)
      bad("reference run: answered %d (%s), did not park", rm->status, rm->msg);
  } else if (!rm || rm->status != MGR_OK) {
    fail_msg("[%s] reference run: %s", k->name, rm ? rm->msg : "no reply");
  }
  if ((k->flags & F_BATCH) && rm) {
    for (size_t i = 0; i < rm->result.u.a.len; i++)
      if (slot_code(&rm->result, i) == 47)
        bad("reference run: BATCH slot %zu is LIMIT", i);
  }
  invariants(w, "reference run");
  snap_take(w, &ref_after);
  snap_free(&before);
  teardown(w, "reference run");

  if (k->flags & F_BATCH) {
    /* Sanity of the replay: all the sub-requests alone make the batch's
     * store. */
    snap exp;
    build_case(w, k, &exp);
    snap_free(&exp);
    mgr_value subs = g_subs(w);
    replay(w, &subs, NULL, NULL);
    mgr_value_free(&subs);
    snap_take(w, &exp);
    if (snap_diff(&ref_after, &exp, false, why, sizeof why))
      bad("replaying the batch's sub-requests alone differs from the batch: %s",
          why);
    snap_free(&exp);
    teardown(w, "batch replay");
  }

  for (uint64_t n = 1;; n++) {
    g_n = n;
    if (n > 10000) fail_msg("[%s] runaway", k->name);
    build_case(w, k, &before);
    outcome o;
    bool injected = attempt(w, k, n, cold, &o);
    g_tot.runs++;
    if (!injected) {
      /* The request needed fewer than n allocations: the reference run. */
      check_as_ref(w, k, &o, &ref, &ref_after, "no failure");
      snap_free(&before);
      outcome_free(&o);
      teardown(w, "no failure");
      printf("  %-24s %s: %2llu allocation%s, each made to fail\n", k->name,
             g_variant, (unsigned long long)(n - 1), n == 2 ? "" : "s");
      break;
    }
    g_tot.injected++;
    invariants(w, "after the failure");
    snap_take(w, &after);
    outcome next;
    snap next_after;
    bool ran = false; /* a BATCH that ran, in whole or in part */
    if (k->flags & F_CLOSE) {
      bad("closing a connection allocated (and the allocation failed)");
    } else if (k->flags & F_BATCH) {
      ran = check_batch(k, cold, &o, &before, &after, &ref, &ref_after, &next,
                        &next_after);
    } else {
      check_failed(w, &o, &before, &after, "the failed request");
    }
    outcome_free(&o);
    if (ran) {
      /* A batch that ran cannot give the reference's results when sent
       * again: it must give what it gives on a store never injected in the
       * same state (and run through, no slot LIMIT). */
      batch_again(w, k, cold, &next, &next_after);
    } else {
      /* The subsequent requests: the same one with fail_in = n again (the
       * store that saw a failure may allocate differently now: each
       * further failure is all or nothing too), until one runs through;
       * at the third failure, once more without injection. It must give
       * what the reference run gave. */
      snap_free(&before);
      before = after;
      memset(&after, 0, sizeof after);
      for (int again = 1;; again++) {
        injected = attempt(w, k, again < 3 ? n : 0, cold, &o);
        if (!injected) {
          check_as_ref(w, k, &o, &ref, &ref_after, "the request again");
          outcome_free(&o);
          break;
        }
        g_tot.injected++;
        g_tot.again++;
        snap_take(w, &after);
        invariants(w, "after a failure again");
        bool stop = false; /* a BATCH that ran, in whole or in part */
        if (k->flags & F_BATCH) {
          stop = check_batch(k, cold, &o, &before, &after, &ref, &ref_after,
                             &next, &next_after);
        } else {
          check_failed(w, &o, &before, &after, "failed again");
        }
        outcome_free(&o);
        if (stop) {
          batch_again(w, k, cold, &next, &next_after);
          break;
        }
        snap_free(&before);
        before = after;
        memset(&after, 0, sizeof after);
      }
    }
    snap_free(&after);
    snap_free(&before);
    teardown(w, "after the failure");
  }
  snap_free(&ref_after);
  outcome_free(&ref);
}

/* MGR_AF_CASE=name runs only the cases of that name (for a debugger). */
static void run_cases(const acase *cases, size_t n) {
  unsigned bad0 = g_bad;
  const char *only = getenv("MGR_AF_CASE");
  for (size_t i = 0; i < n; i++) {
    if (only && *only && strcmp(only, cases[i].name) != 0) continue;
    g_case = cases[i].name;
    g_bad_case = 0;
    g_kept_case = 0;
    g_ids_case = 0;
    run_variant(&cases[i], false);
    run_variant(&cases[i], true);
    g_tot.cases++;
    if (g_bad_case > 12)
      printf("  (%u violations in %s, the first 12 shown)\n", g_bad_case,
             cases[i].name);
  }
  g_case = "";
  fflush(stdout);
  if (g_bad != bad0) fail_msg("%u violations (see above)", g_bad - bad0);
}

#define CASES(arr) run_cases(arr, sizeof arr / sizeof arr[0])

static void test_dict_ops(void **st) {
  (void)st;
  static const acase cases[] = {
      {"DICT_GET", dict_get, NULL, 0},
      {"DICT_GET default", dict_get_default, NULL, 0},
      {"DICT_SET new", dict_set_new, NULL, 0},
      {"DICT_SET new small", dict_set_new_small, NULL, 0},
      {"DICT_SET rebuild", dict_set_grow, prep_dn_full, 0},
      {"DICT_SET replace", dict_set_replace, NULL, 0},
      {"DICT_SET replace long", dict_set_replace_long, NULL, 0},
      {"DICT_SET over a ref", dict_set_over_ref, NULL, 0},
      {"DICT_SET array key", dict_set_array_key, NULL, 0},
      {"DICT_DEL", dict_del, NULL, 0},
      {"DICT_DEL a ref", dict_del_ref, NULL, 0},
      {"DICT_CONTAINS", dict_contains, NULL, 0},
      {"DICT_LEN", dict_len, NULL, 0},
      {"DICT_KEYS", dict_keys, NULL, 0},
      {"DICT_VALUES", dict_values, NULL, 0},
      {"DICT_ITEMS", dict_items, NULL, 0},
      {"DICT_POP", dict_pop, NULL, 0},
      {"DICT_POP default", dict_pop_default, NULL, 0},
      {"DICT_POPITEM", dict_popitem, NULL, 0},
      {"DICT_SETDEFAULT new", dict_setdefault_new, NULL, 0},
      {"DICT_SETDEFAULT present", dict_setdefault_old, NULL, 0},
      {"DICT_UPDATE map", dict_update_map, NULL, 0},
      {"DICT_UPDATE pairs", dict_update_pairs, NULL, 0},
      {"DICT_CLEAR", dict_clear, NULL, 0},
      {"DICT_COPY", dict_copy, NULL, 0},
      {"DICT_INCR", dict_incr, NULL, 0},
      {"DICT_INCR new", dict_incr_new, NULL, 0},
      {"DICT_CAS swap", dict_cas_swap, NULL, 0},
      {"DICT_CAS no swap", dict_cas_noswap, NULL, 0},
      {"DICT_CAS long", dict_cas_long, NULL, 0},
  };
  CASES(cases);
}

static void test_list_ops(void **st) {
  (void)st;
  static const acase cases[] = {
      {"LIST_GET", list_get, NULL, 0},
      {"LIST_SET", list_set, NULL, 0},
      {"LIST_SET over a ref", list_set_over_ref, NULL, 0},
      {"LIST_DEL", list_del, NULL, 0},
      {"LIST_LEN", list_len, NULL, 0},
      {"LIST_GETSLICE", list_getslice, NULL, 0},
      {"LIST_SETSLICE", list_setslice, NULL, 0},
      {"LIST_SETSLICE extended", list_setslice_ext, NULL, 0},
      {"LIST_DELSLICE", list_delslice, NULL, 0},
      {"LIST_APPEND", list_append, NULL, 0},
      {"LIST_EXTEND grow", list_extend, NULL, 0},
      {"LIST_INSERT", list_insert, NULL, 0},
      {"LIST_POP", list_pop, NULL, 0},
      {"LIST_POP long", list_pop_long, NULL, 0},
      {"LIST_REMOVE", list_remove, NULL, 0},
      {"LIST_INDEX", list_index, NULL, 0},
      {"LIST_COUNT", list_count, NULL, 0},
      {"LIST_REVERSE", list_reverse, NULL, 0},
      {"LIST_SORT", list_sort, NULL, 0},
      {"LIST_SORT reverse", list_sort_rev, NULL, 0},
      {"LIST_CLEAR", list_clear, NULL, 0},
      {"LIST_COPY", list_copy, NULL, 0},
      {"LIST_IMUL", list_imul, NULL, 0},
      {"LIST_IMUL 0", list_imul_zero, NULL, 0},
      {"LIST_CONTAINS", list_contains, NULL, 0},
      {"LIST_INCR", list_incr, NULL, 0},
      {"LIST_CAS swap", list_cas_swap, NULL, 0},
      {"LIST_CAS no swap", list_cas_noswap, NULL, 0},
      {"LIST_POP front", list_pop_front, NULL, 0},
      {"LIST_POP front, full", list_pop_front, prep_l1_full, 0},
      {"LIST_POP the last item", list_pop, prep_l1_one, 0},
      {"LIST_INSERT front, full: grows", list_insert, prep_l1_full, 0},
      {"LIST_INSERT near the back", list_insert_back, NULL, 0},
      {"LIST_INSERT near the back, full", list_insert_back, prep_l1_full, 0},
      {"LIST_APPEND full: grows", list_append, prep_l1_full, 0},
      {"LIST_SETSLICE grows at the front", list_setslice_front, NULL, 0},
      {"LIST_SETSLICE front, full", list_setslice_front, prep_l1_full, 0},
      {"LIST_DELSLICE a run: shrinks", list_delslice_run, NULL, 0},
  };
  CASES(cases);
}

static void test_var_lock_ops(void **st) {
  (void)st;
  static const acase cases[] = {
      {"VAR_GET", var_get, NULL, 0},
      {"VAR_SET", var_set, NULL, 0},
      {"VAR_SET long", var_set_long, NULL, 0},
      {"VAR_SET over refs", var_set_over_refs, NULL, 0},
      {"VAR_CAS over refs", var_cas_over_refs, NULL, 0},
      {"VAR_INCR", var_incr, NULL, 0},
      {"VAR_CAS swap", var_cas_swap, NULL, 0},
      {"VAR_CAS no swap", var_cas_noswap, NULL, 0},
      {"LOCK_ACQUIRE free", lock_acquire, NULL, 0},
      {"LOCK_ACQUIRE parks", lock_acquire_park, NULL, F_PARKS},
      {"LOCK_ACQUIRE parks timed", lock_acquire_timed, NULL, F_PARKS},
      {"LOCK_ACQUIRE try", lock_acquire_try, NULL, 0},
      {"RLOCK acquire again", rlock_acquire_again, NULL, 0},
      {"LOCK_RELEASE grants", lock_release_grant, NULL, 0},
      {"RLOCK release", rlock_release, NULL, 0},
      {"LOCK_LOCKED", lock_locked, NULL, 0},
      {"close: lock owner", close_owner, NULL, F_CLOSE},
      {"close: parked, last", close_parked, NULL, F_CLOSE},
      {"close: session ends", close_owner, prep_close_a2, F_CLOSE},
  };
  CASES(cases);
}

static void test_manager_ops(void **st) {
  (void)st;
  static const acase cases[] = {
      {"HELLO new session", hello_new, prep_raw, 0},
      {"HELLO new, table grows", hello_new, prep_raw_sessions, 0},
      {"HELLO join", hello_join, prep_raw, 0},
      {"CREATE dict", create_dict, NULL, 0},
      {"CREATE dict init", create_dict_init, NULL, 0},
      {"CREATE list", create_list, NULL, 0},
      {"CREATE list init", create_list_init, NULL, 0},
      {"CREATE var", create_var, NULL, 0},
      {"CREATE var init", create_var_init, NULL, 0},
      {"CREATE lock", create_lock, NULL, 0},
      {"CREATE lock init nil", create_lock_nil, NULL, 0},
      {"CREATE rlock", create_rlock, NULL, 0},
      {"CREATE rlock init nil", create_rlock_nil, NULL, 0},
      {"CREATE, table grows", create_dict_init, prep_objs12, 0},
      {"CREATE, first hold", create_by_c, NULL, 0},
      {"OPEN create", open_create, NULL, 0},
      {"OPEN create, first hold", open_create_list, NULL, 0},
      {"OPEN create, names grow", open_create, prep_names16, 0},
      {"OPEN existing", open_existing, NULL, 0},
      {"OPEN existing, held", open_existing_held, NULL, 0},
      {"RETAIN", retain, NULL, 0},
      {"RETAIN, set grows", retain_grow, prep_c_holds12, 0},
      {"RELEASE", release, NULL, 0},
      {"UNLINK", unlink_name, NULL, 0},
      {"UNLINK destroys", unlink_name, prep_release_dn, 0},
      {"LIST", list_objects, NULL, 0},
      {"STATS", stats, NULL, F_VOLATILE},
      {"DUMP dict", dump_dict, NULL, 0},
      {"DUMP list", dump_list, NULL, 0},
      {"DUMP var", dump_var, NULL, 0},
      {"DUMP lock", dump_lock, NULL, 0},
      {"DUMP rlock", dump_rlock, NULL, 0},
      {"PING", ping, NULL, 0},
  };
  CASES(cases);
}

static void test_batch(void **st) {
  (void)st;
  static const acase cases[] = {
      {"BATCH mixed", batch, prep_batch_mixed, F_BATCH},
      {"BATCH error slots", batch, prep_batch_errors, F_BATCH},
  };
  CASES(cases);
}

/* DUMP of an object of every kind, each allocation of the reply's scratch
 * failed in turn (the arenas emptied first, so that it allocates): LIMIT,
 * the object as it was (the next DUMP, uninjected, gives the reference's
 * answer); then, past the last allocation, the reference's answer. */
static void test_dump_every_kind(void **st) {
  (void)st;
  mgr_value three = mgr_int(3);
  mgr_value arr_init[2] = {T("i"), mgr_int(4)};
  for (uint32_t k = 1; k <= MGRI_KIND_MAX; k++) {
    mgri_harness h;
    memset(&h, 0, sizeof h);
    assert_int_equal(mgri_h_init(&h), MGR_OK);
    mgri_sconn *c = mgri_h_conn(&h, 0);
    assert_non_null(c);
    mgr_value init = k == MGR_K_ARRAY ? mgr_array(arr_init, 2) : three;
    uint64_t id = mgri_h_create(&h, c, k, NULL);
    if (!id) id = mgri_h_create(&h, c, k, &init);
    if (!id) fail_msg("kind %u: cannot be created", (unsigned)k);
    mgri_hreply *r = mgri_h_call(&h, c, MGRI_OP_DUMP, id, NULL, 0);
    assert_non_null(r);
    assert_int_equal(r->status, MGR_OK);
    mgr_value ref;
    assert_int_equal(mgr_value_copy(&ref, &r->result), MGR_OK);
    mgri_mem *m = mgri_store_mem(h.s);
    for (uint64_t n = 1;; n++) {
      mgri_arena_fini(&h.s->scratch);
      mgri_arena_fini(&h.s->batch);
      uint64_t failed0 = m->failed;
      m->fail_in = n;
      r = mgri_h_call(&h, c, MGRI_OP_DUMP, id, NULL, 0);
      bool injected = m->failed != failed0;
      m->fail_in = 0;
      assert_non_null(r);
      if (!injected) {
        assert_int_equal(r->status, MGR_OK);
        assert_true(mgr_value_equal(&r->result, &ref));
        break;
      }
      if (r->status != MGR_ELIMIT)
        fail_msg("kind %u, allocation %llu failed: %s, not LIMIT", (unsigned)k,
                 (unsigned long long)n, mgr_err_name(r->status));
      r = mgri_h_call(&h, c, MGRI_OP_DUMP, id, NULL, 0);
      assert_non_null(r);
      assert_int_equal(r->status, MGR_OK);
      assert_true(mgr_value_equal(&r->result, &ref));
      mgri_h_clear(&h);
    }
    mgr_value_free(&ref);
    mgri_h_fini(&h);
  }
}

static int group_setup(void **st) {
  (void)st;
  memset(BIG, 'b', sizeof BIG - 1);
  BIG[sizeof BIG - 1] = '\0';
  return 0;
}

static int group_teardown(void **st) {
  (void)st;
  printf("alloc_fail: %u cases (x2: warm and cold arenas), %u runs, %u "
         "injected failures (%u of them in a request sent again after a "
         "failure); %u failed requests kept capacity they grew, %u used up an "
         "object id; the deadline heap array was kept in PARKED at %u "
         "teardowns; failed BATCHes: %u refused as a whole, %u answered LIMIT "
         "as a whole after running, %u answered with LIMIT slots\n",
         g_tot.cases, g_tot.runs, g_tot.injected, g_tot.again, g_kept, g_ids,
         g_heap_kept, g_tot.b_none, g_tot.b_all, g_tot.b_part);
  return 0;
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_dict_ops),
      cmocka_unit_test(test_list_ops),
      cmocka_unit_test(test_var_lock_ops),
      cmocka_unit_test(test_manager_ops),
      cmocka_unit_test(test_batch),
      cmocka_unit_test(test_dump_every_kind),
  };
  return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
