/* mgr — the server's pure core: objects, sessions, references, names, lock
 * waiters, and THE dispatch function. No sockets, no clocks: the loop (or a
 * test, or a fuzzer) passes requests and the current time in, and receives
 * replies through a callback. Single-threaded: nothing here is thread-safe. */
#ifndef MGRI_SERVER_STORE_H
#define MGRI_SERVER_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../common/limits.h"
#include "../proto/proto.h"
#include "mgr/value.h"

typedef struct mgri_store mgri_store;
typedef struct mgri_sconn mgri_sconn;

/* Receives every reply: immediately for ordinary ops (before mgri_dispatch
 * returns), later for parked lock acquires (from mgri_dispatch of another
 * connection's release, from mgri_store_tick at a deadline, or from
 * mgri_store_conn_close of the owner). The reply and everything it points to
 * are valid only during the call: encode it there. */
typedef void (*mgri_reply_fn)(void *ctx, mgri_sconn *conn,
                              const mgri_reply *reply);

typedef struct mgri_store_config {
  mgri_limits limits;    /* frame_max is announced in HELLO */
  uint64_t server_pid;   /* announced in HELLO */
  size_t objects_max;    /* live objects; 0 = MGRI_OBJECTS_MAX_DEFAULT */
  size_t conns_max;      /* open connections; 0 = MGRI_CONNS_MAX_DEFAULT */
  mgri_reply_fn reply;   /* required */
  void *reply_ctx;
} mgri_store_config;

/* Defaults: limits from mgri_limits_default, pid 0, no callback. */
void mgri_store_config_init(mgri_store_config *cfg);

/* A new empty store (copies cfg), or NULL when out of memory. */
mgri_store *mgri_store_new(const mgri_store_config *cfg);
/* Frees every object, session and connection. Sends no replies. */
void mgri_store_free(mgri_store *s);

/* A new connection (not yet past HELLO), or NULL when out of memory or when
 * conns_max connections are open. user is the caller's, returned by
 * mgri_sconn_user(). */
mgri_sconn *mgri_store_conn_open(mgri_store *s, void *user);
/* Closes c: drops its parked requests (no reply), releases every lock it owns
 * (the next grant of each answers 2), and, when c was its session's last
 * connection, drops the session's references (destroying objects whose count
 * reaches 0). May send replies to OTHER connections (lock grants). c is freed. */
void mgri_store_conn_close(mgri_store *s, mgri_sconn *c);
void *mgri_sconn_user(const mgri_sconn *c);
uint64_t mgri_sconn_id(const mgri_sconn *c);
uint64_t mgri_sconn_session(const mgri_sconn *c); /* 0 before HELLO */

/* What the caller must do after mgri_dispatch. */
enum {
  MGRI_DISPATCH_OK = 0,       /* keep going */
  MGRI_DISPATCH_CLOSE = 1,    /* send what was replied, then close conn */
  MGRI_DISPATCH_SHUTDOWN = 2  /* send what was replied, then stop the server */
};

/* THE dispatch function: every request of every connection goes through it.
 * Checks the handshake, looks the op up in the op table, checks arity and the
 * object's kind once, runs the op, and replies through the callback (or parks
 * a blocking lock acquire). now_ns is a monotonic clock reading (only lock
 * timeouts use it). Arguments must be valid values (as the decoder produces:
 * valid UTF-8, refs with kind 1..5). Returns MGRI_DISPATCH_*. */
int mgri_dispatch(mgri_store *s, mgri_sconn *c, const mgri_request *rq,
                  int64_t now_ns);

/* Answers 0 to every parked acquire whose deadline is <= now_ns. */
void mgri_store_tick(mgri_store *s, int64_t now_ns);
/* The earliest deadline of a parked acquire, or INT64_MAX when none. */
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
/* Parked requests of all connections. */
size_t mgri_store_parked_count(const mgri_store *s);

#endif
