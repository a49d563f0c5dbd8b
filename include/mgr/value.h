/* mgr — the value model: what a shared object holds and what travels on the wire
 * (spec/protocol.md, "Value model"). */
#ifndef MGR_VALUE_H
#define MGR_VALUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "version.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum mgr_type {
  MGR_T_NIL = 0,   /* Python None */
  MGR_T_BOOL = 1,  /* bool */
  MGR_T_INT = 2,   /* int, limited to int64 */
  MGR_T_FLOAT = 3, /* float (IEEE double) */
  MGR_T_TEXT = 4,  /* str, UTF-8 */
  MGR_T_BYTES = 5, /* bytes */
  MGR_T_ARRAY = 6, /* list (and tuple) */
  MGR_T_MAP = 7,   /* dict, insertion-ordered */
  MGR_T_REF = 8    /* a proxy of another shared object */
} mgr_type;

/* Kinds of shared object (the "type" of a ref). */
typedef enum mgr_kind {
  MGR_K_DICT = 1,        /* manager.dict() */
  MGR_K_LIST = 2,        /* manager.list() */
  MGR_K_VAR = 3,         /* manager.Value() */
  MGR_K_LOCK = 4,        /* manager.Lock() */
  MGR_K_RLOCK = 5,       /* manager.RLock() */
  MGR_K_QUEUE = 6,       /* manager.Queue() */
  MGR_K_JQUEUE = 7,      /* manager.JoinableQueue() */
  MGR_K_NAMESPACE = 8,   /* manager.Namespace() */
  MGR_K_EVENT = 9,       /* manager.Event() */
  MGR_K_CONDITION = 10,  /* manager.Condition() */
  MGR_K_SEMAPHORE = 11,  /* manager.Semaphore() */
  MGR_K_BSEMAPHORE = 12, /* manager.BoundedSemaphore() */
  MGR_K_BARRIER = 13,    /* manager.Barrier() */
  MGR_K_ARRAY = 14       /* manager.Array() */
} mgr_kind;

/* A value. Small (24 bytes), passed by pointer.
 *
 * Ownership: a value you build yourself with the constructors below borrows the
 * memory you point it at; the library only reads it, during the call. A value
 * the library gives you (an out-parameter) is owned by you, held in a single
 * allocation, and released with mgr_value_free(). Never mgr_value_free() a value
 * you built yourself. Text is valid UTF-8; text the library gives you is also
 * NUL-terminated (len excludes the NUL). */
typedef struct mgr_value {
  mgr_type type;
  union {
    bool b;
    int64_t i;
    double f;
    struct {
      const char *ptr;
      size_t len;
    } s; /* text and bytes */
    struct {
      struct mgr_value *items;
      size_t len;
    } a; /* array: len items; map: len pairs, items[2k] key, items[2k+1] value */
    struct {
      uint64_t id;
      uint32_t kind; /* mgr_kind */
    } ref;
  } u;
} mgr_value;

static inline mgr_value mgr_nil(void) {
  mgr_value v;
  memset(&v, 0, sizeof v);
  v.type = MGR_T_NIL;
  return v;
}
static inline mgr_value mgr_bool(bool b) {
  mgr_value v = mgr_nil();
  v.type = MGR_T_BOOL;
  v.u.b = b;
  return v;
}
static inline mgr_value mgr_int(int64_t i) {
  mgr_value v = mgr_nil();
  v.type = MGR_T_INT;
  v.u.i = i;
  return v;
}
static inline mgr_value mgr_float(double f) {
  mgr_value v = mgr_nil();
  v.type = MGR_T_FLOAT;
  v.u.f = f;
  return v;
}
/* Borrows p (len bytes, need not be NUL-terminated). */
static inline mgr_value mgr_textn(const char *p, size_t len) {
  mgr_value v = mgr_nil();
  v.type = MGR_T_TEXT;
  v.u.s.ptr = p;
  v.u.s.len = len;
  return v;
}
/* Borrows the NUL-terminated string s. */
static inline mgr_value mgr_text(const char *s) {
  return mgr_textn(s, strlen(s));
}
static inline mgr_value mgr_bytes(const void *p, size_t len) {
  mgr_value v = mgr_textn((const char *)p, len);
  v.type = MGR_T_BYTES;
  return v;
}
/* Borrows items[0..n). */
static inline mgr_value mgr_array(mgr_value *items, size_t n) {
  mgr_value v = mgr_nil();
  v.type = MGR_T_ARRAY;
  v.u.a.items = items;
  v.u.a.len = n;
  return v;
}
/* Borrows pairs[0..2*npairs): key, value, key, value ... */
static inline mgr_value mgr_map(mgr_value *pairs, size_t npairs) {
  mgr_value v = mgr_array(pairs, npairs);
  v.type = MGR_T_MAP;
  return v;
}

/* Releases a value the library gave you (one free) and sets *v to nil.
 * NULL and nil are no-ops. Never fails. Thread-safe for distinct values. */
MGR_API void mgr_value_free(mgr_value *v);

/* Deep-copies src into *dst as an owned value (one allocation).
 * Returns MGR_OK, MGR_ENOMEM, or MGR_EINVAL when src is not a value the
 * manager accepts — the same check every call and batch adder makes: NULL,
 * a NULL pointer with a non-zero length, invalid UTF-8 in text, nesting
 * deeper than the protocol's limit, a ref with an unknown kind or id 0, a
 * map key that is unhashable, NaN or repeated. On error *dst is nil (when dst
 * is not NULL). Thread-safe. */
MGR_API int mgr_value_copy(mgr_value *dst, const mgr_value *src);

/* Python ==: True == 1 == 1.0; NaN != NaN; maps compare as dicts (order
 * ignored); text never equals bytes. A NULL pointer equals only NULL. Never
 * fails. Thread-safe. */
MGR_API bool mgr_value_equal(const mgr_value *a, const mgr_value *b);

/* Writes Python's repr() of v ("{'a': 1, 'b': [1, 2.5, None]}") into buf
 * (always NUL-terminated when cap > 0) and returns the length the full text
 * needs, excluding the NUL, as snprintf does. Refs print as <dict #3>; v NULL
 * as NULL. Never fails. Thread-safe. */
MGR_API size_t mgr_value_repr(const mgr_value *v, char *buf, size_t cap);

/* In a map value, the value stored under key (by Python key equality),
 * borrowed from map; NULL when absent, or when map is NULL or not a map.
 * Never fails. Thread-safe. */
MGR_API const mgr_value *mgr_map_get(const mgr_value *map,
                                     const mgr_value *key);

/* The kind's short name as refs print it and the tools show it ("dict",
 * "queue", "bsemaphore" ...), or NULL for a number that is no mgr_kind.
 * Never fails. Thread-safe. */
MGR_API const char *mgr_kind_name(int kind);

#ifdef __cplusplus
}
#endif

#endif
