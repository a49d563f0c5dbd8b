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
#define MGRI_DEPTH_MAX 32u               /* nesting; the top-level item is 1 */
#define MGRI_ITEMS_MAX_DEFAULT (1u << 20) /* data items in one frame */

/* Messages. */
#define MGRI_ARGS_MAX 8u     /* arguments in one request */
#define MGRI_NAME_MAX 255u   /* bytes in an object name */
#define MGRI_RETAIN_MAX 4096u /* ids in one RETAIN */
#define MGRI_BATCH_MAX 1024u  /* sub-requests in one BATCH */

/* Server. */
#define MGRI_CONNS_MAX_DEFAULT 4096u      /* open connections */
#define MGRI_OBJECTS_MAX_DEFAULT (1u << 22) /* live objects */
#define MGRI_PENDING_MAX 64u /* parked (blocking) requests per connection */
/* A connection whose unsent replies exceed this is not read from until they
 * drain (a client that never reads cannot grow the server's memory). */
#define MGRI_OUTBUF_MAX(frame_max) (4u * (size_t)(frame_max))

/* Limits that a server or connection may override (never above the ceilings
 * above). */
typedef struct mgri_limits {
  uint32_t frame_max; /* <= MGRI_FRAME_MAX_CEIL */
  uint32_t depth_max; /* <= MGRI_DEPTH_MAX */
  uint32_t items_max; /* data items per frame */
} mgri_limits;

/* The defaults. */
void mgri_limits_default(mgri_limits *lim);

#endif
