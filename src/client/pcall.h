/* mgr client: the call helpers every typed proxy uses (proxies.c and the
 * proxies of each kind): one request on the proxy's object, its result
 * checked for the type the op promises (a reply of another shape is
 * MGR_EPROTO with a message), and the wire forms of the API's arguments. */
#ifndef MGRI_CLIENT_PCALL_H
#define MGRI_CLIENT_PCALL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mgr/client.h"
#include "mgr/value.h"

/* op on p's object; *res (may be NULL) borrowed until the thread's next
 * call. MGR_EINVAL when p is NULL. */
int mgri_pcall(mgr_proxy *p, uint64_t op, const mgr_value *args, size_t n,
               mgr_value *res);
/* The same for an op that may wait in the manager up to wait_ms (< 0: until
 * answered): the per-call timeout counts from the end of that wait (see
 * mgr/sync.h). */
int mgri_pcall_wait(mgr_proxy *p, uint64_t op, const mgr_value *args, size_t n,
                    mgr_value *res, int64_t wait_ms);
/* The result as an owned value (out may be NULL: not wanted). */
int mgri_pcall_out(mgr_proxy *p, uint64_t op, const mgr_value *args, size_t n,
                   mgr_value *out);
/* The result must be an int / a size (an int >= 0) / a bool. */
int mgri_pcall_int(mgr_proxy *p, uint64_t op, const mgr_value *args, size_t n,
                   int64_t *out);
int mgri_pcall_size(mgr_proxy *p, uint64_t op, const mgr_value *args, size_t n,
                    size_t *out);
int mgri_pcall_bool(mgr_proxy *p, uint64_t op, const mgr_value *args, size_t n,
                    bool *out);
/* The *_incr_int calls: the new value must be an int (a float is
 * MGR_ETYPE, the increment applied, as the message says). */
int mgri_pcall_incr_int(mgr_proxy *p, uint64_t op, const mgr_value *args,
                        size_t n, int64_t *out);
/* The result must be [swapped, current]. */
int mgri_pcall_cas(mgr_proxy *p, uint64_t op, const mgr_value *args, size_t n,
                   bool *swapped, mgr_value *current);
/* MGR_EPROTO with "the manager's result is not <want>". */
int mgri_pcall_bad(mgr_proxy *p, const char *want);

/* CREATE [kind, init] (init NULL: omitted) and a new proxy for the result:
 * the mgr_<kind>_new functions. */
int mgri_create(mgr_client *m, mgr_kind kind, const mgr_value *init,
                mgr_proxy **out);

/* A slice bound: nil (Python None) when omitted. */
mgr_value mgri_wire_bound(mgr_bound b);
/* A timeout in ms as the protocol's seconds (spec 9.7): nil for < 0, an int
 * for whole seconds, else the nearest double. */
mgr_value mgri_wire_timeout(int64_t timeout_ms);
/* The [block, timeout] pair of a waiting op for timeout_ms: < 0 [true,
 * nil], 0 [false, nil], > 0 [true, seconds]. */
void mgri_wire_block(int64_t timeout_ms, mgr_value out[2]);

#endif
