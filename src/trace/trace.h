/* mgr — tracing: the macros the client call path and the server dispatch
 * call (issue 5; traces/README.md says how to record and read a trace).
 *
 *   MGRI_TRACE(event, args...)   fires mgr:event when a session enables it
 *   MGRI_TRACE_ON(event)         true when mgr:event is enabled
 *
 * The events and their argument lists are in src/trace/mgr_tp.h:
 *
 *   call_begin (pid, server, conn, rid, op, oid, kind, key, size)  client
 *   call_end   (pid, server, conn, rid, op, status, size)      client
 *   request    (pid, conn, rid, op, oid, key)                  server
 *   reply      (pid, conn, rid, op, status, value)             server
 *   wait_begin (pid, conn, rid, oid)                           server
 *   wait_end   (pid, conn, rid, oid, outcome)                  server
 *   conn_open  (pid, conn, session)                            server
 *   conn_close (pid, conn, session)                            server
 *   object_create  (pid, conn, rid, oid, kind)                 server
 *   object_destroy (oid, kind)                                 server
 *   slow_request (pid, conn, rid, op, oid, duration_ns, cost)  server
 *   auth_fail  (conn, reason, peer)                            server
 *
 * pid is always the CLIENT's pid (the server passes the pid its HELLO gave).
 * server (client events) is the server's pid from the HELLO reply: the
 * server's own events carry it as their vpid context, so a call's key is
 * (server, conn, rid) on both sides (connection ids are per server).
 *
 * Cost: the arguments are evaluated only inside the enabled branch, so pass
 * the digest helpers below directly as arguments: when the event is disabled
 * a call site costs one load and one not-taken branch. With MGR_TRACING off
 * (the CMake option) a call site generates no code at all; its arguments are
 * still type-checked (inside sizeof). The helpers exist only when tracing is
 * on: call them only as MGRI_TRACE arguments.
 *
 * Runtime: libmgr holds the tracepoint definitions (tp_define.c) but does not
 * link liblttng-ust. The probes are in libmgr-tp.so, loaded with dlopen when
 * MGR_TRACE=1 is in the environment when libmgr is loaded (or when it is
 * LD_PRELOADed). Without it every tracepoint stays disabled. */
#ifndef MGRI_TRACE_H
#define MGRI_TRACE_H

#include <stddef.h>
#include <stdint.h>

#include "mgr/value.h"
#include "trace/trace_lists.h"

#if MGR_TRACING

/* libmgr's sources are one module: keep the tracepoint symbols out of its
 * dynamic symbol table, and reach them PC-relative (no GOT load). */
#ifndef LTTNG_UST_TRACEPOINT_HIDDEN_DEFINITION
#define LTTNG_UST_TRACEPOINT_HIDDEN_DEFINITION
#endif
#include "trace/mgr_tp.h"

#define MGRI_TRACE_ON(event) lttng_ust_tracepoint_enabled(mgr, event)

/* Not lttng_ust_tracepoint(): where SDT integration is configured it
 * evaluates the arguments even when the tracepoint is disabled. */
#define MGRI_TRACE(event, ...)                                                 \
  do {                                                                         \
    if (lttng_ust_tracepoint_enabled(mgr, event))                              \
      lttng_ust_do_tracepoint(mgr, event, __VA_ARGS__);                        \
  } while (0)

#else /* !MGR_TRACING */

/* No code: the arguments sit in sizeof, never evaluated and never linked,
 * but still compiled, so a hook's arguments stay type-checked and the
 * variables they name count as used when tracing is off. */
int mgri_trace_off_(int, ...);
#define MGRI_TRACE_ON(event) 0
#define MGRI_TRACE(event, ...) ((void)sizeof(mgri_trace_off_(0, __VA_ARGS__)))

#endif

/* FNV-1a 64 over v's canonical CBOR encoding (the bytes the wire carries for
 * it), computed without allocating. 0 for NULL. Equal values in the model's
 * sense that encode differently (1 and 1.0) digest differently. */
uint64_t mgri_trace_digest(const mgr_value *v);
/* The key digest of a request: digest(args[0]) when op's first argument is a
 * key or index (flag K in the op table), else 0. */
uint64_t mgri_trace_key(uint64_t op, const mgr_value *args, size_t nargs);
/* The value digest of a reply on a dict, list or var: on success, the digest
 * of the result for ops that read (flag R: the value read, or for INCR the
 * value now stored), else of the last argument for ops that only write (the
 * value written); for a waiting op (flag B) of any kind, the digest of its
 * result (a lock acquire's 0, 1 or 2); 0 otherwise. */
uint64_t mgri_trace_value(uint64_t op, const mgr_value *args, size_t nargs,
                          int status, const mgr_value *result);
/* The object kind op addresses, from the op table (locks: LOCK). */
uint32_t mgri_trace_kind(uint64_t op);
/* This process's pid (for the client's events). */
int64_t mgri_trace_pid(void);
/* 1 when the provider library is loaded in this process (tests). */
int mgri_trace_loaded(void);

#endif
