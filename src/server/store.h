/* mgr — the server's pure core: objects, sessions, references, names,
 * parked requests, memory accounting, and THE dispatch function. No sockets,
 * no clocks of its own: the loop (or a test, or a fuzzer) passes requests and
 * the current time in, and receives replies through a callback.
 * Single-threaded: nothing here is thread-safe. */
#ifndef MGRI_SERVER_STORE_H
#define MGRI_SERVER_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/kinds.h"
#include "common/limits.h"
#include "common/mem.h"
#include "proto/proto.h"
#include "mgr/value.h"

typedef struct mgri_store mgri_store;
typedef struct mgri_sconn mgri_sconn;
typedef struct mgri_kind mgri_kind;

/* Receives every reply: immediately for ordinary ops (before mgri_dispatch
 * returns), later for parked requests (from mgri_dispatch of another
 * connection's request, from mgri_store_tick at a deadline, or from
 * mgri_store_conn_close of the owner). The reply and everything it points to
 * are valid only during the call: encode it there. Returns whether the reply
 * will be sent: false when the connection is closing or gone (its peer will
 * never read it), so a kind that hands something over in a reply (a queue's
 * item, spec 9.8) can take it back. */
typedef bool (*mgri_reply_fn)(void *ctx, mgri_sconn *conn,
                              const mgri_reply *reply);

/* SHM_OPEN (spec 2.10): the loop makes connection conn's segment, to be
 * passed with the reply; MGR_OK with the ring's and the segment's bytes,
 * or an error code (ESTATE, LIMIT) with its message in why. */
typedef int (*mgri_shm_fn)(void *ctx, mgri_sconn *conn, uint64_t *ring,
                           uint64_t *bytes, char *why, size_t cap);

typedef struct mgri_store_config {
  mgri_limits limits;   /* frame_max is announced in HELLO */
  uint64_t server_pid;  /* announced in HELLO */
  size_t objects_max;   /* live objects; 0 = MGRI_OBJECTS_MAX_DEFAULT */
  size_t conns_max;     /* open connections; 0 = MGRI_CONNS_MAX_DEFAULT */
  size_t memory_max;    /* bytes held; 0 = MGRI_MEMORY_MAX_DEFAULT,
                            SIZE_MAX = no limit */
  uint64_t work_budget; /* items a BATCH may touch; 0 = MGRI_WORK_BUDGET */
  uint64_t slow_ns;     /* log requests slower than this; 0 = the default
                            (MGRI_SLOW_MS_DEFAULT), UINT64_MAX = never */
  /* The clock that times requests for the slow-request log, in ns: the
   * clock mgri_dispatch's now_ns is read from (a request's time is one more
   * reading minus now_ns). NULL: requests are not timed. */
  int64_t (*clock)(void *ctx);
  void *clock_ctx;
  /* The hash key; random (getrandom) unless hash_key_set. */
  bool hash_key_set;
  uint64_t hash_key[2];
  /* The kinds, indexed by id (MGRI_KIND_MAX + 1 entries); NULL: THE kind
   * table (kinds/kinds.c). */
  const mgri_kind *const *kinds;
  mgri_reply_fn reply; /* required */
  void *reply_ctx;
  /* NULL: no shared-memory transport (SHM_OPEN answers ESTATE). Called
   * with reply_ctx. */
  mgri_shm_fn shm_open;
} mgri_store_config;

/* Why a request was answered LIMIT (STATS "refused"). */
#define MGRI_LIMITS_WHY(X)                                                     \
  X(MEMORY, "memory")     /* the memory limit (mgrd --max-memory) */           \
  X(BUDGET, "budget")     /* a BATCH over the work budget */                   \
  X(REPLY, "reply")       /* a result larger than the frame limit */           \
  X(OBJECTS, "objects")   /* too many live objects */                          \
  X(PARKED, "parked")     /* too many parked requests on a connection */       \
  X(CONNS, "connections") /* too many connections or handshakes */             \
  X(SIZE, "size")         /* a size limit of the op (IMUL, RETAIN, BATCH) */

enum {
#define MGRI_WHY_ENUM_(name, s) MGRI_WHY_##name,
  MGRI_LIMITS_WHY(MGRI_WHY_ENUM_)
#undef MGRI_WHY_ENUM_
      MGRI_WHY_N
};

/* One slow request (STATS "slowlog"). */
typedef struct mgri_slow {
  uint64_t seq;      /* 1, 2 ... in the order they were logged */
  uint64_t duration; /* nanoseconds */
  uint64_t pid, conn, rid, op, oid;
  uint64_t cost; /* the request's estimated cost, items */
} mgri_slow;

/* What STATS reports. The loop fills the connection fields through
 * mgri_store_stats(); the store the rest. */
typedef struct mgri_store_stats {
  /* connections (the loop) */
  uint64_t accepted;
  uint64_t handshaking;        /* open, HELLO not yet done */
  uint64_t handshake_timeouts; /* closed at the handshake deadline */
  uint64_t handshake_evicted;  /* closed to make room for a newer one */
  uint64_t idle_closed;        /* closed by the idle timeout */
  uint64_t conn_refused;       /* refused at accept (too many) */
  uint64_t conn_mem_refused;   /* closed: a frame did not fit in memory */
  uint64_t auth_failed;        /* closed before authenticating (spec 7.8): a bad
                           or truncated exchange, a failed TLS handshake */
  uint64_t tls_failed;         /* of those, the TLS handshakes that failed */
  /* requests (the store) */
  uint64_t requests; /* top-level requests dispatched */
  uint64_t slow;     /* requests logged as slow */
  uint64_t refused[MGRI_WHY_N];
  uint64_t dict_probe_max; /* longest dict index probe sequence seen */
  uint64_t name_probe_max; /* longest name table chain walked */
  uint64_t kind_count[MGRI_KIND_MAX + 1];
  size_t kind_bytes[MGRI_KIND_MAX + 1];
  mgri_slow slowlog[MGRI_SLOWLOG_LEN]; /* a ring, the newest at slow - 1 */
} mgri_store_stats;

/* Defaults: limits from mgri_limits_default, pid 0, no callback. */
void mgri_store_config_init(mgri_store_config *cfg);

/* A new empty store (copies cfg), or NULL when out of memory or when no
 * random hash key can be had. */
mgri_store *mgri_store_new(const mgri_store_config *cfg);
/* Frees every object, session and connection. Sends no replies. */
void mgri_store_free(mgri_store *s);

/* The store's memory accounting: the loop counts its connection buffers
 * here, and tests read and inject failures. */
mgri_mem *mgri_store_mem(mgri_store *s);
/* The statistics STATS reports; the loop keeps the connection fields. */
mgri_store_stats *mgri_store_stats_of(mgri_store *s);
/* Counts a LIMIT answered outside dispatch (the loop's refusals). */
void mgri_store_count_limit(mgri_store *s, int why);

/* A new connection (not yet past HELLO), or NULL when out of memory or when
 * conns_max connections are open. user is the caller's, returned by
 * mgri_sconn_user(). */
mgri_sconn *mgri_store_conn_open(mgri_store *s, void *user);
/* Closes c: drops its parked requests (no reply), tells the kinds of the
 * objects it owns (locks are released; the next grant of each answers 2),
 * and, when c was its session's last connection, drops the session's
 * references (destroying objects whose count reaches 0). May send replies
 * to OTHER connections (lock grants). c is freed. */
void mgri_store_conn_close(mgri_store *s, mgri_sconn *c);
void *mgri_sconn_user(const mgri_sconn *c);
uint64_t mgri_sconn_id(const mgri_sconn *c);
uint64_t mgri_sconn_session(const mgri_sconn *c); /* 0 before HELLO */
bool mgri_sconn_hello(const mgri_sconn *c);       /* HELLO succeeded */
size_t mgri_sconn_parked(const mgri_sconn *c);    /* its parked requests */

/* What the caller must do after mgri_dispatch. */
enum {
  MGRI_DISPATCH_OK = 0,       /* keep going */
  MGRI_DISPATCH_CLOSE = 1,    /* send what was replied, then close conn */
  MGRI_DISPATCH_SHUTDOWN = 2, /* send what was replied, then stop the server */
  MGRI_DISPATCH_SHM = 3 /* SHM_OPEN replied: send it with the segment, then
                           switch the connection to it (spec 2.10) */
};

/* THE dispatch function: every request of every connection goes through it.
 * Checks the handshake, looks the op up in the op table, checks arity and the
 * object's kind once, runs the op, and replies through the callback (or parks
 * a blocking request). now_ns is a monotonic clock reading (deadlines use
 * it). Arguments must be valid values (as the decoder produces: valid UTF-8,
 * refs with kind 1..MGRI_KIND_MAX). Returns MGRI_DISPATCH_*. */
int mgri_dispatch(mgri_store *s, mgri_sconn *c, const mgri_request *rq,
                  int64_t now_ns);
/* For the next mgri_dispatch only: *block (counted in conn_in, a
 * NUL-terminated copy of one of the request's string arguments, read into
 * a block of its own) may be kept by a setter as the stored value instead
 * of being copied; *block is then set to NULL and the store owns it.
 * NULL: none. */
void mgri_store_adopt(mgri_store *s, void **block);
/* The estimated cost (items touched, spec 14.2) of the last request
 * dispatched. */
uint64_t mgri_store_last_cost(const mgri_store *s);

/* Inside the reply callback: whether the reply's result is a value an
 * object holds as it is (a getter's result), which stays unchanged until
 * the next request unless pinned. */
bool mgri_store_reply_stored(const mgri_store *s);
/* A reply's stored result (mgri_store_reply_stored) sent from where it is: pins
 * its string's block p until the loop has sent it (unpin). false when too
 * many are pinned: the loop copies it then. */
bool mgri_store_pin(mgri_store *s, void *p);
void mgri_store_unpin(mgri_store *s, void *p);

/* Answers every parked request whose deadline is <= now_ns. */
void mgri_store_tick(mgri_store *s, int64_t now_ns);
/* The earliest deadline of a parked request, or INT64_MAX when none. */
int64_t mgri_store_next_deadline(const mgri_store *s);

/* Answers every parked request ESHUTDOWN (spec 8.6), before the loop closes
 * the connections. */
void mgri_store_shutdown(mgri_store *s);

/* Introspection for tests and tools. */
size_t mgri_store_object_count(const mgri_store *s);
/* MGR_OK and the object's kind, count (sessions + stored refs) and name (NULL
 * if none; valid until the object changes), or MGR_ENOTFOUND. */
int mgri_store_object_info(const mgri_store *s, uint64_t id, uint32_t *kind,
                           uint64_t *refs, const char **name);
/* The heap bytes the object holds (0 when there is none). */
size_t mgri_store_object_bytes(const mgri_store *s, uint64_t id);
/* Calls fn(ctx, id) for every ref stored inside object id's state. */
void mgri_store_object_refs(const mgri_store *s, uint64_t id,
                            void (*fn)(void *ctx, uint64_t ref), void *ctx);
/* Parked requests of all connections. */
size_t mgri_store_parked_count(const mgri_store *s);

#endif
