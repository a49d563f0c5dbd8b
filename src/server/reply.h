/* mgr — what every op uses to answer: errors with messages, LIMIT with its
 * reason counted, scratch memory for results, argument helpers, Python's
 * names for types, and the emission of a reply. The lowest file of
 * src/server/: it calls no other server file. */
#ifndef MGRI_SERVER_REPLY_H
#define MGRI_SERVER_REPLY_H

#include "server/core.h"

/* Sets x->msg from fmt and returns code. */
int mgri_fail(mgri_octx *x, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* MGR_ELIMIT with a message, counting why (MGRI_WHY_*) for STATS. */
int mgri_limit(mgri_octx *x, int why, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* MGR_OK when n more bytes fit the server's memory limit, else LIMIT
 * (MEMORY, message set). Ops call it with what they will allocate before
 * allocating any of it. */
int mgri_need(mgri_octx *x, size_t n);
/* LIMIT (MEMORY) for an allocation that failed. */
int mgri_nomem(mgri_octx *x);
/* repr(v) into buf, shortened with "..." when longer than cap. */
const char *mgri_repr(const mgr_value *v, char *buf, size_t cap);
/* Python's type name of v ("int", "str", "dict", "DictProxy" ...). */
const char *mgri_tname(const mgr_value *v);
/* Python's name of a kind ("dict", "Lock" ...). */
const char *mgri_kind_name(uint32_t kind);
/* Scratch memory for a result of n values, freed after the reply, or NULL
 * with the op failed LIMIT: more values than the reply frame could carry
 * (each encodes to at least one byte), or the memory limit. */
mgr_value *mgri_scratch(mgri_octx *x, size_t n);
/* *out = argument i when it is an int, else TYPE ("what must be int"). */
int mgri_arg_int(mgri_octx *x, size_t i, const char *what, int64_t *out);
/* Sends a reply through the store's callback; false when it cannot be
 * delivered (the connection is closing or gone: see mgri_reply_fn).
 * stored: result is a value an object holds as it is (mgri_reply.stored). */
bool mgri_emit(mgri_store *s, mgri_sconn *c, uint64_t rid, int status,
               const mgr_value *result, const char *msg, bool stored);

#endif
