/* mgr — server internals shared by store.c, dispatch.c and the type files
 * (dict.c, list.c, var.c, lock.c). Not for the loop, tests or fuzzers: they use
 * store.h. */
#ifndef MGRI_SERVER_OBJ_H
#define MGRI_SERVER_OBJ_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store.h"

/* uint64 -> pointer map, open addressing with linear probing, key 0 unused. */
typedef struct mgri_u64map {
  uint64_t *keys;
  void **vals;
  size_t cap; /* 0 or a power of two */
  size_t len;
} mgri_u64map;

void *mgri_u64map_get(const mgri_u64map *m, uint64_t key);
int mgri_u64map_put(mgri_u64map *m, uint64_t key, void *val); /* OK/ENOMEM */
bool mgri_u64map_del(mgri_u64map *m, uint64_t key);
void mgri_u64map_fini(mgri_u64map *m);

/* A dict key or value without its type: mgr_value's payload (u) as an owned
 * copy makes it, or text and bytes of up to 15 bytes inline (NUL-terminated,
 * like an owned copy), so small entries need no heap block. */
typedef union mgri_dpay {
  uint64_t w[2];
  char inl[16];
} mgri_dpay;

#define MGRI_DPAY_INL_MAX 15
#define MGRI_DENTRY_DEAD 0xff /* in ktype: a deleted entry */

/* 40 bytes: the small entry ("key:0000042" -> 42) lives here whole. */
typedef struct mgri_dentry {
  mgri_dpay k, v;
  uint32_t hash;      /* the low 32 bits of the key's hash */
  uint8_t ktype;      /* mgr_type, or MGRI_DENTRY_DEAD */
  uint8_t vtype;      /* mgr_type */
  uint8_t kinl, vinl; /* inline: length + 1; 0: the payload is mgr_value's */
} mgri_dentry;

typedef struct mgri_dict {
  mgri_dentry *e; /* dense, insertion order; dead entries until a rebuild */
  size_t n;       /* entries used in e (live + dead) */
  size_t ecap;
  size_t live;
  int32_t *index; /* icap slots: -1 empty, -2 deleted, else entry index */
  size_t icap;
  size_t fill; /* slots not empty (live + deleted) */
} mgri_dict;

typedef struct mgri_list {
  mgr_value *v; /* owned items */
  size_t len, cap;
} mgri_list;

typedef struct mgri_waiter mgri_waiter;
typedef struct mgri_obj mgri_obj;

typedef struct mgri_lock {
  mgri_sconn *owner; /* NULL: free */
  uint64_t depth;    /* rlock recursion */
  bool owner_dead;   /* the next grant answers 2 */
  mgri_waiter *head, *tail;
  mgri_obj *onext, *oprev; /* in owner's list of owned locks */
} mgri_lock;

struct mgri_obj {
  uint64_t id;
  uint32_t kind;
  uint64_t refs; /* sessions holding it + stored refs to it */
  char *name;    /* NUL-terminated, or NULL */
  size_t namelen;
  uint64_t namehash;
  mgri_obj *name_next;
  mgri_obj *prev, *next; /* all objects, ascending id */
  union {
    mgri_dict d;
    mgri_list l;
    mgr_value var; /* owned */
    mgri_lock lk;
  } u;
};

struct mgri_waiter {
  mgri_sconn *conn;
  mgri_obj *lock;
  uint64_t rid;
  int64_t deadline; /* INT64_MAX: none */
  size_t heap_idx;  /* SIZE_MAX: not in the heap */
  mgri_waiter *lnext, *lprev; /* lock's FIFO */
  mgri_waiter *cnext, *cprev; /* connection's parked list */
};

typedef struct mgri_session {
  uint64_t id;
  size_t nconns;
  mgri_u64map refs; /* object id -> (void *)1 */
} mgri_session;

struct mgri_sconn {
  uint64_t id;
  void *user;
  bool hello;
  uint64_t pid;
  mgri_session *sess;
  mgri_waiter *waiters;
  size_t nwaiters;
  mgri_obj *owned; /* locks owned, linked by u.lk.onext */
};

struct mgri_store {
  mgri_store_config cfg;
  mgri_u64map objs;
  mgri_obj *first, *last;
  size_t nobjs;
  uint64_t next_id;
  mgri_obj **names; /* chained hash, names_cap buckets (power of two) */
  size_t names_cap, nnames;
  mgri_u64map sessions;
  uint64_t next_session, next_conn;
  size_t nconns;
  uint64_t *drop; /* pending decrefs, processed after each reply */
  size_t ndrop, drop_cap;
  mgr_value *later; /* owned values freed after the reply that borrows them */
  size_t nlater, later_cap;
  mgri_arena scratch; /* result arrays, reset after each dispatch */
  mgri_arena batch;   /* a BATCH's copied results, reset after its reply */
  mgri_waiter **heap; /* min-heap of timed waiters by deadline */
  size_t nheap, heap_cap;
  mgri_waiter *free_waiters;
  size_t nparked;
  bool in_drop;
  int64_t now; /* the latest clock reading given to dispatch or tick */
};

/* The context of one op. */
typedef struct mgri_octx {
  mgri_store *s;
  mgri_sconn *c;
  mgri_obj *o;
  const mgri_request *rq;
  const mgr_value *args;
  size_t nargs;
  int64_t now;
  mgr_value result; /* borrowed (object, scratch or args); nil by default */
  int action;       /* MGRI_DISPATCH_* */
  char msg[320];
} mgri_octx;

/* An op returns MGR_OK (result in x->result), a negative mgr_err (message in
 * x->msg via mgri_fail), or MGRI_PARKED (no reply now). */
#define MGRI_PARKED 1
typedef int (*mgri_op_fn)(mgri_octx *x);

int mgri_fail(mgri_octx *x, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* repr(v) into buf, shortened with "..." when longer than cap. */
const char *mgri_repr(const mgr_value *v, char *buf, size_t cap);
/* Python's type name of v ("int", "str", "dict" ...). */
const char *mgri_tname(const mgr_value *v);
const char *mgri_kind_name(uint32_t kind);
/* Scratch memory for results (n values), NULL -> the op fails with ELIMIT. */
mgr_value *mgri_scratch(mgri_octx *x, size_t n);
/* Checks that every ref inside v names a live object of that kind. MGR_OK or
 * MGR_ENOTFOUND (message set). */
int mgri_sv_check(mgri_octx *x, const mgr_value *v);
/* An owned copy of src in *dst, counting its refs: MGR_OK, MGR_ENOTFOUND,
 * MGR_ELIMIT (message set). Scalars allocate nothing. */
int mgri_sv_make(mgri_octx *x, const mgr_value *src, mgr_value *dst);
/* Same, refs already checked (after mgri_sv_check). */
int mgri_sv_make_checked(mgri_octx *x, const mgr_value *src, mgr_value *dst);
/* Drops an owned value: its refs are released after the reply; its memory now
 * (drop) or after the reply (drop_later, for values the result borrows). */
void mgri_sv_drop(mgri_store *s, mgr_value *v);
void mgri_sv_drop_later(mgri_store *s, mgr_value *v);
/* Emits a reply through the store's callback. */
void mgri_emit(mgri_store *s, mgri_sconn *c, uint64_t rid, int status,
               const mgr_value *result, const char *msg);
/* Frees an object's contents (refs queued for release). */
void mgri_obj_clear(mgri_store *s, mgri_obj *o);
mgri_obj *mgri_obj_find(const mgri_store *s, uint64_t id);
/* After each reply: frees deferred values, processes reference drops,
 * resets the scratch arena. */
void mgri_store_after_reply(mgri_store *s);

/* Compare-and-swap of an owned slot (dict.c; used by list and var):
 * result [swapped, current]. */
int mgri_cas_slot(mgri_octx *x, mgr_value *slot, const mgr_value *expected,
                  const mgr_value *desired);

/* Numbers (var.c). */
int mgri_num_add(mgri_octx *x, const mgr_value *cur, const mgr_value *delta,
                 mgr_value *out);
/* Argument helpers: *out = int argument, MGR_ETYPE otherwise (msg set). */
int mgri_arg_int(mgri_octx *x, size_t i, const char *what, int64_t *out);

/* Object constructors and destructors per kind. init may be NULL. */
int mgri_dict_init(mgri_octx *x, mgri_obj *o, const mgr_value *init);
void mgri_dict_clear(mgri_store *s, mgri_dict *d);
int mgri_list_init(mgri_octx *x, mgri_obj *o, const mgr_value *init);
void mgri_list_clear(mgri_store *s, mgri_list *l);
void mgri_lock_destroy(mgri_store *s, mgri_obj *o);
void mgri_lock_conn_close(mgri_store *s, mgri_sconn *c);

/* Op handlers, looked up by dispatch from the op table's codes. */
#define MGRI_DECL_OP_(name, code, kind, mn, mx, fl, py)                       \
  int mgri_op_##name(mgri_octx *x);
MGRI_OPS(MGRI_DECL_OP_)
#undef MGRI_DECL_OP_

#endif
