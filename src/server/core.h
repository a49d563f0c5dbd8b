/* mgr — the server's internal types, shared by the files of src/server/ and
 * its kinds (the loop, tests and fuzzers use store.h only). Who may call
 * whom, lowest first (tests/layers checks that no file calls up):
 *
 *   0 reply.c      replies, errors, scratch results, argument helpers
 *   1 objects.c    objects, names, sessions, references, stored values,
 *                  memory
 *   2 wait.c       parked requests: FIFO queues, deadlines, answers
 *   3 kinds/slot.c value-slot rules the kinds share; kinds/lockcore.c,
 *                  the lock Lock, RLock and Condition share
 *   4 kinds/(kind).c one file per kind; kinds never call each other
 *   5 kinds/kinds.c THE kind table; manager.c, the manager ops (HELLO ...
 *                  SHUTDOWN, STATS, DUMP): neither uses the other
 *   6 dispatch.c   THE dispatch path, BATCH, costs, the slow-request log
 *   7 store.c      creating and freeing the store, connections
 *   8 loop.c       the event loop (through store.h only)
 */
#ifndef MGRI_SERVER_CORE_H
#define MGRI_SERVER_CORE_H

#include <stdalign.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/arena.h"
#include "common/kinds.h"
#include "common/mem.h"
#include "common/siphash.h"
#include "common/u64map.h"
#include "store.h"

typedef struct mgri_kind mgri_kind;
typedef struct mgri_waiter mgri_waiter;
typedef struct mgri_obj mgri_obj;
typedef struct mgri_octx mgri_octx;
typedef struct mgri_handler mgri_handler;

/* The largest op code (ops.h codes are below it; checked in store.c). */
#define MGRI_OP_CODE_MAX 255u

struct mgri_obj {
  uint64_t id;
  const mgri_kind *kind;
  uint64_t refs;    /* sessions holding it + stored refs to it (spec 12.2) */
  uint64_t dropped; /* refs dropped by the current request, applied after
                       its reply */
  mgri_obj *dnext;  /* in the store's list of objects with dropped refs */
  size_t bytes;     /* heap bytes the object holds, this block included */
  uint64_t items;   /* data items stored in it, nested ones included (the
                       cost estimate's size: spec 14.2.4); kept by
                       mgri_sv_make/mgri_sv_drop */
  char *name;       /* NUL-terminated, or NULL */
  size_t namelen;
  uint64_t namehash;
  mgri_obj *name_next;
  mgri_obj *prev, *next;   /* all objects, ascending id */
  mgri_sconn *owner;       /* the connection owning it (locks), or NULL */
  mgri_obj *onext, *oprev; /* in the owner's list */
  bool on_drop_list;
  /* The kind's state (kind->state_size bytes) follows. */
  alignas(max_align_t) unsigned char state[];
};

/* The kind's state of o. */
static inline void *mgri_state(const mgri_obj *o) { return (void *)o->state; }

typedef struct mgri_session {
  uint64_t id;
  size_t nconns;
  mgri_u64map refs; /* object id -> (void *)1: a set */
} mgri_session;

struct mgri_sconn {
  uint64_t id;
  void *user;
  bool hello;
  uint64_t pid;
  mgri_session *sess;
  mgri_waiter *waiters; /* parked requests, linked by cnext */
  size_t nwaiters;
  mgri_obj *owned; /* objects it owns, linked by onext */
};

/* Values freed after the reply that borrows them: an op drops at most two
 * (DICT_POPITEM's key and value), a batch sub-request's are freed before
 * the next one runs. */
#define MGRI_LATER_MAX 8u

/* Stored blocks pinned at once (mgri_obj_pin); more are sent by copy. */
#define MGRI_PINS_MAX 64u

struct mgri_store {
  mgri_store_config cfg;
  mgri_mem mem;
  mgri_sipkey hkey; /* the key of every hash the clients can aim at */
  const mgri_kind *const *kinds; /* [kind id]: NULL where none */
  const mgri_handler *ops[MGRI_KIND_MAX + 1][MGRI_OP_CODE_MAX + 1];
  mgri_u64map objs;
  mgri_obj *first, *last;
  size_t nobjs;
  uint64_t next_id;
  mgri_obj **names; /* chained hash, names_cap buckets (power of two) */
  size_t names_cap, nnames;
  mgri_u64map sessions;
  uint64_t next_session, next_conn;
  size_t nconns;
  mgri_obj *dropped; /* objects whose refs were dropped (dnext) */
  bool in_drop;
  mgr_value later[MGRI_LATER_MAX];
  size_t nlater;
  /* Stored strings a connection's unsent output refers to (the loop sends
   * large results from where they are): a block freed while pinned waits
   * for its last unpin, counted in conn_out meanwhile. */
  struct {
    void *p;
    uint32_t n; /* pins */
    bool freed; /* its owner let go: free it at the last unpin */
  } pins[MGRI_PINS_MAX];
  size_t npins;
  /* The next request's string block that a setter may keep instead of
   * copying (mgri_store_adopt): *adopt is set to NULL when one does. */
  void **adopt;
  /* While the reply callback runs: its result is a value an object holds
   * as it is (mgri_store_reply_stored). */
  bool emit_stored;
  mgri_arena scratch; /* results of the current request */
  mgri_arena batch;   /* a BATCH's copied results, until its reply */
  mgri_waiter **heap; /* min-heap of the waiters that have a deadline */
  size_t nheap, heap_cap;
  mgri_waiter *waiters; /* every parked request (anext) */
  size_t nparked;
  int64_t now;   /* the latest clock reading given to dispatch or tick */
  uint64_t cost; /* the estimated cost of the request being dispatched */
  mgri_store_stats st;
};

/* The context of one op. */
struct mgri_octx {
  mgri_store *s;
  mgri_sconn *c;
  mgri_obj *o; /* the target object (object ops), else NULL */
  const mgri_request *rq;
  const mgr_value *args;
  size_t nargs;
  int64_t now;
  mgr_value result;   /* borrowed (object, scratch or args); nil by default */
  bool result_stored; /* result is a value o holds, as it is stored (a
                         getter's): the reply may pin its block */
  void **adopt;       /* the request's string block a setter may keep (the
                   store's adopt; NULL in a batch's sub-requests) */
  int action;         /* MGRI_DISPATCH_* */
  char msg[320];
};

/* An op returns MGR_OK (result in x->result), a negative mgr_err (message in
 * x->msg via mgri_fail), or MGRI_PARKED (no reply now). */
#define MGRI_PARKED 1
typedef int (*mgri_op_fn)(mgri_octx *x);

/* How an op's cost (the items it touches, spec 14.2) is estimated before it
 * runs, from the target's size (len: kind->len) and its arguments' items. */
enum {
  MGRI_COST_ONE,      /* 1 */
  MGRI_COST_LEN,      /* 1 + len: walks, copies or shifts the object */
  MGRI_COST_ARGS,     /* 1 + the arguments' items: copies them in */
  MGRI_COST_LEN_ARGS, /* both */
  MGRI_COST_SORT,     /* 1 + len * log2(len) */
  MGRI_COST_IMUL,     /* 1 + len * max(n, 1) (n the first argument) */
  MGRI_COST_OBJECTS,  /* 1 + live objects (LIST) */
  /* 1 + min(len, d), d the index argument's distance from the end it counts
   * from (i for i >= 0, -i for i < 0, 1 when omitted: -1): a list op that
   * shifts the items on the shorter side of the index (LIST_POP, LIST_DEL) */
  MGRI_COST_END,
  MGRI_COST_END_ARGS /* that + the arguments' items (LIST_INSERT) */
};

/* One op of a kind (or of the manager): its code in ops.h, its handler,
 * its cost class. */
struct mgri_handler {
  uint32_t code;
  mgri_op_fn fn;
  uint8_t cost;
};

#endif
