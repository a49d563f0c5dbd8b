/* mgr — the small value lists of the trace events that are not already a
 * project X-macro (ops come from MGRI_OPS, statuses from MGR_ERRORS). Each list
 * makes both a C enum (here) and an LTTng enum (mgr_tp.h), so they agree. */
#ifndef MGRI_TRACE_LISTS_H
#define MGRI_TRACE_LISTS_H

/* X(NAME, value): the kind of the object an op addresses. 1..14 are
 * mgr_kind's values (trace.c checks it); 0 is the manager (oid 0). */
#define MGRI_TRACE_KINDS(X)                                                    \
  X(MANAGER, 0)                                                                \
  X(DICT, 1)                                                                   \
  X(LIST, 2)                                                                   \
  X(VAR, 3)                                                                    \
  X(LOCK, 4)                                                                   \
  X(RLOCK, 5)                                                                  \
  X(QUEUE, 6)                                                                  \
  X(JQUEUE, 7)                                                                 \
  X(NAMESPACE, 8)                                                              \
  X(EVENT, 9)                                                                  \
  X(CONDITION, 10)                                                             \
  X(SEMAPHORE, 11)                                                             \
  X(BSEMAPHORE, 12)                                                            \
  X(BARRIER, 13)                                                               \
  X(ARRAY, 14)

/* X(NAME, value): how a parked request ended (wait_end's outcome). */
#define MGRI_TRACE_WAITS(X)                                                    \
  X(GRANTED, 0)    /* what it waited for came: a lock, a permit, an item,    \
                       room, a set flag, a notify, the last party */ \
  X(OWNER_DEAD, 1) /* a lock granted; its previous owner died holding it */    \
  X(TIMEOUT, 2)    /* its deadline passed (not acquired, EMPTY, FULL ...) */   \
  X(CANCELLED, 3)  /* its connection closed (no reply), its object was       \
                       destroyed or the manager shut down */ \
  X(BROKEN, 4)     /* a Barrier broke while it waited (EBROKEN) */

/* X(NAME, value): why a connection was closed before it authenticated
 * (auth_fail's reason, spec 7.8). 1..3 are proto/auth.h's MGRI_AUTH_*. */
#define MGRI_TRACE_AUTHS(X)                                                    \
  X(BAD_OPEN, 1)  /* not "MGRA" 01: no key, or not an mgr client */            \
  X(BAD_MAC, 2)   /* wrong key, or a replayed or reflected exchange */         \
  X(CRYPTO, 3)    /* OpenSSL failed */                                         \
  X(TRUNCATED, 4) /* the peer closed in the middle of the exchange */          \
  X(TIMEOUT, 5)   /* the handshake deadline passed */                          \
  X(EVICTED, 6)   /* closed for a newer connection (handshakes_max) */         \
  X(TLS, 7)       /* the TLS handshake failed */                               \
  X(REFUSED, 8)   /* refused at accept: another uid, too many connections */

enum {
#define MGRI_TRACE_KIND_ENUM_(name, value) MGRI_TRACE_KIND_##name = value,
  MGRI_TRACE_KINDS(MGRI_TRACE_KIND_ENUM_)
#undef MGRI_TRACE_KIND_ENUM_
};

enum {
#define MGRI_TRACE_WAIT_ENUM_(name, value) MGRI_TRACE_WAIT_##name = value,
  MGRI_TRACE_WAITS(MGRI_TRACE_WAIT_ENUM_)
#undef MGRI_TRACE_WAIT_ENUM_
};

enum {
#define MGRI_TRACE_AUTH_ENUM_(name, value) MGRI_TRACE_AUTH_##name = value,
  MGRI_TRACE_AUTHS(MGRI_TRACE_AUTH_ENUM_)
#undef MGRI_TRACE_AUTH_ENUM_
};

#endif
