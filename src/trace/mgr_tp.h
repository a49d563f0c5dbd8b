/* mgr — the LTTng-UST tracepoint provider "mgr" (issue 5).
 *
 * This header is read several times by lttng-ust's machinery: by libmgr's
 * sources through trace/trace.h (call sites and, in tp_define.c, the
 * tracepoint definitions), and by tp.c, which builds the probes into the
 * separate provider library libmgr-tp.so. Do not include it directly: include
 * "trace/trace.h" and use its MGRI_TRACE() macro.
 *
 * A call is named by (server, conn, rid): the server's pid (on the client,
 * the server_pid its HELLO reply gave; on the server, the vpid context of its
 * own events), the connection id (per server) and the request id (per
 * connection; a BATCH's sub-requests have bit 63 set, dispatch.c). pid, the
 * client's pid, is in every event too. So a client's call_begin/call_end pair
 * with the server's request/reply across processes, and two managers in one
 * trace do not mix.
 * The op, status, kind and wait-outcome fields are enums generated from the
 * project's X-macro lists (MGRI_OPS, MGR_ERRORS, MGRI_TRACE_KINDS,
 * MGRI_TRACE_WAITS), so a viewer shows names and the lists cannot drift.
 * Digests ("key", "value") are FNV-1a 64 of a value's canonical CBOR bytes
 * (src/trace/trace.c), 0 when there is none. */

#undef LTTNG_UST_TRACEPOINT_PROVIDER
#define LTTNG_UST_TRACEPOINT_PROVIDER mgr

#undef LTTNG_UST_TRACEPOINT_INCLUDE
#define LTTNG_UST_TRACEPOINT_INCLUDE "trace/mgr_tp.h"

#if !defined(MGRI_TRACE_MGR_TP_H) ||                                           \
    defined(LTTNG_UST_TRACEPOINT_HEADER_MULTI_READ)
#define MGRI_TRACE_MGR_TP_H

#include <lttng/tracepoint.h>
#include <stdint.h>

#include "mgr/error.h"
#include "proto/ops.h"
#include "trace/trace_lists.h"

/* Each X-macro entry becomes one enum label. Expanded anew on every pass of
 * the lttng machinery, which redefines lttng_ust_field_enum_value. */
#define MGRI_TP_OP_(name, code, kind, mn, mx, fl, py)                          \
  lttng_ust_field_enum_value(#name, code)
#define MGRI_TP_ERR_(name, value, py, msg)                                     \
  lttng_ust_field_enum_value(#name, value)
#define MGRI_TP_PAIR_(name, value) lttng_ust_field_enum_value(#name, value)

LTTNG_UST_TRACEPOINT_ENUM(mgr, op,
                          LTTNG_UST_TP_ENUM_VALUES(MGRI_OPS(MGRI_TP_OP_)))
LTTNG_UST_TRACEPOINT_ENUM(mgr, status,
                          LTTNG_UST_TP_ENUM_VALUES(MGR_ERRORS(MGRI_TP_ERR_)))
LTTNG_UST_TRACEPOINT_ENUM(
    mgr, kind, LTTNG_UST_TP_ENUM_VALUES(MGRI_TRACE_KINDS(MGRI_TP_PAIR_)))
LTTNG_UST_TRACEPOINT_ENUM(
    mgr, outcome, LTTNG_UST_TP_ENUM_VALUES(MGRI_TRACE_WAITS(MGRI_TP_PAIR_)))
LTTNG_UST_TRACEPOINT_ENUM(
    mgr, auth_reason, LTTNG_UST_TP_ENUM_VALUES(MGRI_TRACE_AUTHS(MGRI_TP_PAIR_)))

/* --- client: one pair per mgri_call() ------------------------------------ */

LTTNG_UST_TRACEPOINT_EVENT(
    mgr, call_begin,
    LTTNG_UST_TP_ARGS(int64_t, pid, int64_t, server, uint64_t, conn, uint64_t,
                      rid, uint64_t, op, uint64_t, oid, uint32_t, kind,
                      uint64_t, key, uint64_t, size),
    LTTNG_UST_TP_FIELDS(
        lttng_ust_field_integer(int64_t, pid, pid) lttng_ust_field_integer(
            int64_t, server, server) lttng_ust_field_integer(uint64_t, conn,
                                                             conn)
            lttng_ust_field_integer(uint64_t, rid, rid)
                lttng_ust_field_enum(mgr, op, uint64_t, op, op)
                    lttng_ust_field_integer(uint64_t, oid, oid)
                        lttng_ust_field_enum(mgr, kind, uint32_t, kind, kind)
                            lttng_ust_field_integer_hex(uint64_t, key, key)
                                lttng_ust_field_integer(uint64_t, size, size)))

LTTNG_UST_TRACEPOINT_EVENT(
    mgr, call_end,
    LTTNG_UST_TP_ARGS(int64_t, pid, int64_t, server, uint64_t, conn, uint64_t,
                      rid, uint64_t, op, int32_t, status, uint64_t, size),
    LTTNG_UST_TP_FIELDS(
        lttng_ust_field_integer(int64_t, pid, pid)
            lttng_ust_field_integer(int64_t, server, server)
                lttng_ust_field_integer(uint64_t, conn, conn)
                    lttng_ust_field_integer(uint64_t, rid, rid)
                        lttng_ust_field_enum(mgr, op, uint64_t, op, op)
                            lttng_ust_field_enum(mgr, status, int32_t, status,
                                                 status)
                                lttng_ust_field_integer(uint64_t, size, size)))

/* --- server: one pair per dispatched request, in the server's serial order */

LTTNG_UST_TRACEPOINT_EVENT(
    mgr, request,
    LTTNG_UST_TP_ARGS(int64_t, pid, uint64_t, conn, uint64_t, rid, uint64_t, op,
                      uint64_t, oid, uint64_t, key),
    LTTNG_UST_TP_FIELDS(
        lttng_ust_field_integer(int64_t, pid, pid)
            lttng_ust_field_integer(uint64_t, conn, conn)
                lttng_ust_field_integer(uint64_t, rid, rid)
                    lttng_ust_field_enum(mgr, op, uint64_t, op, op)
                        lttng_ust_field_integer(uint64_t, oid, oid)
                            lttng_ust_field_integer_hex(uint64_t, key, key)))

LTTNG_UST_TRACEPOINT_EVENT(
    mgr, reply,
    LTTNG_UST_TP_ARGS(int64_t, pid, uint64_t, conn, uint64_t, rid, uint64_t, op,
                      int32_t, status, uint64_t, value),
    LTTNG_UST_TP_FIELDS(
        lttng_ust_field_integer(int64_t, pid, pid) lttng_ust_field_integer(
            uint64_t, conn, conn) lttng_ust_field_integer(uint64_t, rid, rid)
            lttng_ust_field_enum(mgr, op, uint64_t, op, op)
                lttng_ust_field_enum(mgr, status, int32_t, status, status)
                    lttng_ust_field_integer_hex(uint64_t, value, value)))

/* --- server: lock waits (a parked LOCK_ACQUIRE) ---------------------------- */

LTTNG_UST_TRACEPOINT_EVENT(
    mgr, wait_begin,
    LTTNG_UST_TP_ARGS(int64_t, pid, uint64_t, conn, uint64_t, rid, uint64_t,
                      oid),
    LTTNG_UST_TP_FIELDS(lttng_ust_field_integer(int64_t, pid, pid)
                            lttng_ust_field_integer(uint64_t, conn, conn)
                                lttng_ust_field_integer(uint64_t, rid, rid)
                                    lttng_ust_field_integer(uint64_t, oid,
                                                            oid)))

LTTNG_UST_TRACEPOINT_EVENT(
    mgr, wait_end,
    LTTNG_UST_TP_ARGS(int64_t, pid, uint64_t, conn, uint64_t, rid, uint64_t,
                      oid, int32_t, outcome),
    LTTNG_UST_TP_FIELDS(lttng_ust_field_integer(int64_t, pid, pid)
                            lttng_ust_field_integer(uint64_t, conn, conn)
                                lttng_ust_field_integer(uint64_t, rid, rid)
                                    lttng_ust_field_integer(uint64_t, oid, oid)
                                        lttng_ust_field_enum(mgr, outcome,
                                                             int32_t, outcome,
                                                             outcome)))

/* --- server: connections and objects -------------------------------------- */

LTTNG_UST_TRACEPOINT_EVENT(
    mgr, conn_open,
    LTTNG_UST_TP_ARGS(int64_t, pid, uint64_t, conn, uint64_t, session),
    LTTNG_UST_TP_FIELDS(lttng_ust_field_integer(int64_t, pid, pid)
                            lttng_ust_field_integer(uint64_t, conn, conn)
                                lttng_ust_field_integer(uint64_t, session,
                                                        session)))

LTTNG_UST_TRACEPOINT_EVENT(
    mgr, conn_close,
    LTTNG_UST_TP_ARGS(int64_t, pid, uint64_t, conn, uint64_t, session),
    LTTNG_UST_TP_FIELDS(lttng_ust_field_integer(int64_t, pid, pid)
                            lttng_ust_field_integer(uint64_t, conn, conn)
                                lttng_ust_field_integer(uint64_t, session,
                                                        session)))

LTTNG_UST_TRACEPOINT_EVENT(
    mgr, object_create,
    LTTNG_UST_TP_ARGS(int64_t, pid, uint64_t, conn, uint64_t, rid, uint64_t,
                      oid, uint32_t, kind),
    LTTNG_UST_TP_FIELDS(
        lttng_ust_field_integer(int64_t, pid, pid)
            lttng_ust_field_integer(uint64_t, conn, conn)
                lttng_ust_field_integer(uint64_t, rid, rid)
                    lttng_ust_field_integer(uint64_t, oid, oid)
                        lttng_ust_field_enum(mgr, kind, uint32_t, kind, kind)))

LTTNG_UST_TRACEPOINT_EVENT(
    mgr, object_destroy, LTTNG_UST_TP_ARGS(uint64_t, oid, uint32_t, kind),
    LTTNG_UST_TP_FIELDS(lttng_ust_field_integer(uint64_t, oid, oid)
                            lttng_ust_field_enum(mgr, kind, uint32_t, kind,
                                                 kind)))

/* --- server: a connection closed before it authenticated (spec 7.8) ------- */

LTTNG_UST_TRACEPOINT_EVENT(
    mgr, auth_fail,
    LTTNG_UST_TP_ARGS(uint64_t, conn, uint32_t, reason, const char *, peer),
    LTTNG_UST_TP_FIELDS(lttng_ust_field_integer(uint64_t, conn, conn)
                            lttng_ust_field_enum(mgr, auth_reason, uint32_t,
                                                 reason, reason)
                                lttng_ust_field_string(peer, peer)))

/* --- server: the slow-request log (STATS "slowlog") ------------------------ */

LTTNG_UST_TRACEPOINT_EVENT(
    mgr, slow_request,
    LTTNG_UST_TP_ARGS(int64_t, pid, uint64_t, conn, uint64_t, rid, uint64_t, op,
                      uint64_t, oid, uint64_t, duration_ns, uint64_t, cost),
    LTTNG_UST_TP_FIELDS(
        lttng_ust_field_integer(int64_t, pid, pid) lttng_ust_field_integer(
            uint64_t, conn, conn) lttng_ust_field_integer(uint64_t, rid, rid)
            lttng_ust_field_enum(mgr, op, uint64_t, op, op)
                lttng_ust_field_integer(uint64_t, oid, oid)
                    lttng_ust_field_integer(uint64_t, duration_ns, duration_ns)
                        lttng_ust_field_integer(uint64_t, cost, cost)))

#endif /* MGRI_TRACE_MGR_TP_H */

#include <lttng/tracepoint-event.h>
