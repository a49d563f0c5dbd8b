/* mgr — every limit, in one place. spec/protocol.md ("Limits") lists the same
 * numbers; tests/test_limits.c checks that the two agree. */
#ifndef MGRI_LIMITS_H
#define MGRI_LIMITS_H

#include <stddef.h>
#include <stdint.h>

/* Frames: 4-byte big-endian length, then one CBOR item of that many bytes. */
#define MGRI_FRAME_HEADER 4u
#define MGRI_FRAME_MAX_DEFAULT (1u << 20) /* 1 MiB, both directions */
#define MGRI_FRAME_MAX_CEIL (64u << 20)   /* no configuration may exceed it */

/* Decoding. */
#define MGRI_DEPTH_MAX 32u                /* nesting; the top-level item is 1 */
#define MGRI_ITEMS_MAX_DEFAULT (1u << 20) /* data items in one frame */

/* Messages. */
#define MGRI_ARGS_MAX 8u      /* arguments in one request */
#define MGRI_NAME_MAX 255u    /* bytes in an object name */
#define MGRI_RETAIN_MAX 4096u /* ids in one RETAIN */
#define MGRI_BATCH_MAX 1024u  /* sub-requests in one BATCH */

/* Server. */
#define MGRI_CONNS_MAX_DEFAULT 4096u        /* open connections */
#define MGRI_OBJECTS_MAX_DEFAULT (1u << 22) /* live objects */
#define MGRI_PENDING_MAX 64u /* parked (blocking) requests per connection */
/* A connection whose unsent replies exceed this is not read from until they
 * drain (a client that never reads cannot grow the server's memory). */
#define MGRI_OUTBUF_MAX(frame_max) (4u * (size_t)(frame_max))

/* Resource bounds (spec 14.2). */
#define MGRI_MEMORY_MAX_DEFAULT                                                \
  (1u << 30) /* bytes the server may hold: 1 GiB */
#define MGRI_IDLE_BUF_MAX                                                      \
  (16u << 10) /* bytes a reader, arena or output
                                         buffer keeps between requests */
/* Large buffers kept across requests (spec 14.2.3): after a request whose
 * frame or reply exceeded MGRI_IDLE_BUF_MAX a connection keeps its buffers
 * for the next MGRI_KEEP_REQS requests while it is not idle for
 * MGRI_KEEP_IDLE_MS, all connections' kept bytes together within
 * MGRI_KEEP_MAX_DEFAULT and an eighth of memory_max. */
#define MGRI_KEEP_REQS 16u
#define MGRI_KEEP_IDLE_MS 1000u
#define MGRI_KEEP_MAX_DEFAULT (128u << 20)
#define MGRI_HELLO_FRAME_MAX                                                   \
  256u /* largest frame body before HELLO completes */
#define MGRI_HANDSHAKE_MS_DEFAULT 10000u /* HELLO must complete within this */
#define MGRI_HANDSHAKES_MAX_DEFAULT 64u  /* connections not yet past HELLO */
#define MGRI_IDLE_MS_DEFAULT 0u          /* idle timeout; 0 = none */
#define MGRI_WORK_BUDGET                                                       \
  (1u << 22)                           /* items one BATCH may touch; also a
                                       connection's share of one loop turn */
#define MGRI_IMUL_ITEMS_MAX (1u << 24) /* items LIST_IMUL may produce */
#define MGRI_ARRAY_LEN_MAX (1u << 24)  /* elements of an Array (spec 9.14) */
#define MGRI_SLOW_MS_DEFAULT 10u /* requests slower than this are logged */
#define MGRI_SLOWLOG_LEN 128u    /* slow requests remembered */
#define MGRI_PROBE_BOUND 96u /* longest dict or name probe sequence, tested */

/* The shared-memory transport (spec 2.10): each ring's bytes, the
 * segment's header, the sizes a client accepts, and how long each side
 * spins before it sleeps (the server tells the client its bound in the
 * segment: 0 when more clients are busy than there are CPUs). */
#define MGRI_SHM_RING (64u << 10)
#define MGRI_SHM_HEADER 4096u
#define MGRI_SHM_RING_MIN 4096u
#define MGRI_SHM_RING_MAX (16u << 20)
#define MGRI_SHM_SPIN_NS 50000u     /* the client's spin, at most */
#define MGRI_SHM_SRV_SPIN_NS 50000u /* the server's spin, at most */
#define MGRI_SHM_SLICE_MS                                                      \
  20u /* a sleeping client checks the socket this often */

/* Remote managers: TCP, the authkey exchange, TLS (spec 2.6-2.9, 7.8). */
#define MGRI_LISTEN_MAX 16u    /* addresses one server listens on */
#define MGRI_AUTHKEY_MIN 32u   /* bytes of an authkey, at least */
#define MGRI_AUTHKEY_MAX 1024u /* bytes of an authkey, at most */
#define MGRI_AUTH_NONCE 32u    /* bytes of each side's nonce */
#define MGRI_AUTH_IN_MAX                                                       \
  69u /* bytes a server reads before the peer is
                                 authenticated: OPEN (37) + RESPONSE (32) */
#define MGRI_KEEPALIVE_IDLE_MS_DEFAULT 15000u    /* silence before probing */
#define MGRI_KEEPALIVE_INTERVAL_MS_DEFAULT 5000u /* between probes */
#define MGRI_KEEPALIVE_COUNT_DEFAULT 3u /* unanswered probes that end it */
#define MGRI_KEEPALIVE_BOUND_MS_DEFAULT                                        \
  30000u /* idle + interval x count:
                                                  a dead peer is dropped
                                                  within this */

/* Limits that a server or connection may override (never above the ceilings
 * above). */
typedef struct mgri_limits {
  uint32_t frame_max; /* <= MGRI_FRAME_MAX_CEIL */
  uint32_t depth_max; /* <= MGRI_DEPTH_MAX */
  uint32_t items_max; /* data items per frame */
  /* Decoding: text and bytes of at least this many bytes are not copied
   * into the arena but refer into the decoded input, which must then stay
   * unchanged while the value is used (text so borrowed is not
   * NUL-terminated); 0 copies every string (the default). Not a protocol
   * limit: what a receiver does with its own buffer. */
  uint32_t borrow_min;
} mgri_limits;

/* The defaults. */
void mgri_limits_default(mgri_limits *lim);

#endif
