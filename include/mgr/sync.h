/* mgr — the rest of Python's SyncManager: Queue, JoinableQueue, Namespace,
 * Event, Condition, Semaphore, BoundedSemaphore, Barrier and Array, as
 * proxies of a mgr_client (client.h). The semantics of each operation are
 * those of spec/protocol.md 9.7-9.14, which follow Python's.
 *
 * Waiting. Every call that may wait takes timeout_ms: < 0 waits until
 * answered, 0 does not wait (Python's block=False / get_nowait / timeout 0),
 * > 0 waits up to that many milliseconds, measured by the manager. The wait
 * happens in the manager, never blocking it or the other clients; the
 * calling thread's connection waits for the reply. The per-call timeout
 * (mgr_set_timeout) bounds how long the manager may take beyond the wait
 * itself: a call that waits up to T ms returns MGR_ETIMEDOUT only after T
 * plus that timeout, and one that waits without a timeout is not cut short
 * by it. When that happens anyway (a manager that stopped answering), what
 * the late reply grants is given back by the thread's next call: a lock or
 * a semaphore's unit is released, a queue's item put back at its tail.
 *
 * A wait ends early when its object is destroyed (MGR_ENOTFOUND) or the
 * manager shuts down (MGR_ESHUTDOWN). The common errors of client.h may
 * answer every call here (MGR_EINVAL for a NULL client, proxy or out;
 * MGR_EBADOP for a proxy of another kind; MGR_ELIMIT when the manager has
 * as many parked requests of this connection as it allows ...), which its
 * comment does not repeat. Thread-safe as the rest of the client. */
#ifndef MGR_SYNC_H
#define MGR_SYNC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "client.h"
#include "error.h"
#include "value.h"

#ifdef __cplusplus
extern "C" {
#endif

/* --- Queue and JoinableQueue (manager.Queue(), manager.JoinableQueue()) ----
 * FIFO queues of values. Items you get are owned: mgr_value_free(). */

/* manager.Queue(maxsize): maxsize <= 0 is unbounded. Only the common
 * errors. */
MGR_API int mgr_queue_new(mgr_client *m, int64_t maxsize, mgr_proxy **out);
/* manager.JoinableQueue(maxsize): a Queue that also counts unfinished tasks
 * (mgr_queue_task_done, mgr_queue_join). Only the common errors. */
MGR_API int mgr_joinable_queue_new(mgr_client *m, int64_t maxsize,
                                   mgr_proxy **out);
/* q.put(item, timeout): MGR_EFULL when the queue stays full (timeout_ms 0:
 * at once); MGR_ENOTFOUND also for a dead ref inside item. */
MGR_API int mgr_queue_put(mgr_proxy *q, const mgr_value *item,
                          int64_t timeout_ms);
/* q.get(timeout) into *out: MGR_EEMPTY when the queue stays empty
 * (timeout_ms 0: at once). */
MGR_API int mgr_queue_get(mgr_proxy *q, int64_t timeout_ms, mgr_value *out);
/* q.qsize(). Only the common errors. */
MGR_API int mgr_queue_qsize(mgr_proxy *q, size_t *out);
/* q.empty(). Only the common errors. */
MGR_API int mgr_queue_empty(mgr_proxy *q, bool *out);
/* q.full() (false when unbounded). Only the common errors. */
MGR_API int mgr_queue_full(mgr_proxy *q, bool *out);
/* q.task_done() of a JoinableQueue: MGR_EVALUE when called more times than
 * items were put; MGR_EBADOP on a plain Queue. */
MGR_API int mgr_queue_task_done(mgr_proxy *q);
/* q.join() of a JoinableQueue: waits until every item put has been marked
 * done; *done (may be NULL) is false when timeout_ms (as above; Python's
 * join has none: pass -1) passed first. MGR_EBADOP on a plain Queue. */
MGR_API int mgr_queue_join(mgr_proxy *q, int64_t timeout_ms, bool *done);

/* --- Namespace (manager.Namespace()) --------------------------------------
 * Named attributes holding values. A name is a NUL-terminated UTF-8 string
 * (MGR_EINVAL, nothing sent, when it is not UTF-8), not empty, not starting
 * with '_' (Python keeps those on the proxy) and not longer than 255 bytes:
 * MGR_EVALUE otherwise. */

/* manager.Namespace(**init): init is a map of names to values, or NULL.
 * MGR_ETYPE when init is not a map or a key is not text, MGR_EVALUE for a
 * bad name. */
MGR_API int mgr_namespace_new(mgr_client *m, const mgr_value *init,
                              mgr_proxy **out);
/* ns.name into *out (owned; out must not be NULL): MGR_EATTR when it has
 * no such attribute; MGR_EVALUE (bad name). */
MGR_API int mgr_ns_get(mgr_proxy *ns, const char *name, mgr_value *out);
/* ns.name = val: MGR_EVALUE (bad name); MGR_ENOTFOUND also for a dead ref
 * inside val. */
MGR_API int mgr_ns_set(mgr_proxy *ns, const char *name, const mgr_value *val);
/* del ns.name: MGR_EATTR when absent; MGR_EVALUE (bad name). */
MGR_API int mgr_ns_del(mgr_proxy *ns, const char *name);
/* vars(ns): an owned map of names to values, in the order they were first
 * set (out must not be NULL). Only the common errors. */
MGR_API int mgr_ns_items(mgr_proxy *ns, mgr_value *out);
/* str(ns) as CPython prints it (the Namespace's repr), "Namespace(a=1,
 * b='x')": each attribute as name=repr(value), these texts sorted (so
 * "a0=1" comes before "a=2") and joined with ", ", as an owned text value
 * (out must not be NULL). Only the common errors. */
MGR_API int mgr_ns_repr(mgr_proxy *ns, mgr_value *out);

/* --- Event (manager.Event()) ---------------------------------------------- */

/* manager.Event(): a new event, not set. Only the common errors. */
MGR_API int mgr_event_new(mgr_client *m, mgr_proxy **out);
/* e.set(): sets the flag and wakes every waiter. Only the common errors. */
MGR_API int mgr_event_set(mgr_proxy *e);
/* e.clear(). Only the common errors. */
MGR_API int mgr_event_clear(mgr_proxy *e);
/* e.is_set() into *out (must not be NULL). Only the common errors. */
MGR_API int mgr_event_is_set(mgr_proxy *e, bool *out);
/* e.wait(timeout): *out (may be NULL) is the flag when the wait ended: false
 * when it timed out. timeout_ms < 0 waits until the event is set (Python's
 * wait(None); its wait(-1) does not wait: pass 0 for that). Only the common
 * errors. */
MGR_API int mgr_event_wait(mgr_proxy *e, int64_t timeout_ms, bool *out);

/* --- Condition (manager.Condition(lock)) -----------------------------------
 * A condition variable over a lock owned by the calling thread's
 * connection, as the lock calls of client.h. */

/* manager.Condition(lock): lock is a Lock or RLock proxy the condition
 * shares (acquiring the condition acquires it; the condition keeps it
 * alive), or NULL for a new RLock of its own. MGR_ETYPE when lock is not a
 * Lock or RLock; MGR_EINVAL when it is a proxy of another client;
 * MGR_ENOTFOUND when its object is gone. */
MGR_API int mgr_condition_new(mgr_client *m, mgr_proxy *lock, mgr_proxy **out);
/* c.acquire(timeout): as mgr_lock_acquire (MGR_EOWNERDEAD: acquired, its
 * previous owner died holding it; MGR_ESTATE: a certain self-deadlock). */
MGR_API int mgr_cond_acquire(mgr_proxy *c, int64_t timeout_ms, bool *acquired);
/* c.release(): MGR_ESTATE when the caller does not hold the lock (a shared
 * Lock: when nobody does). */
MGR_API int mgr_cond_release(mgr_proxy *c);
/* c.wait(timeout): releases the lock (wholly, an RLock whatever its
 * recursion count), waits for a notify or the timeout, and takes the lock
 * back (with that count) before returning, whatever the result: the call
 * returns only when the lock is back, so the per-call timeout does not
 * apply to it. *notified (may be NULL) is false when it timed out.
 * MGR_ESTATE when the caller does not hold the lock; MGR_EOWNERDEAD when
 * the lock came back from an owner that died holding it (the caller holds
 * it; *notified is set). */
MGR_API int mgr_cond_wait(mgr_proxy *c, int64_t timeout_ms, bool *notified);
/* c.wait_for(predicate, timeout): calls pred(ctx) (with the lock held) and
 * waits until it returns true or the timeout passes (measured here, on the
 * monotonic clock; 0: pred once, no wait); *result (may be NULL) is pred's
 * last value. MGR_EINVAL when pred is NULL. Errors as mgr_cond_wait:
 * MGR_EOWNERDEAD ends the loop after pred ran once more (*result is its
 * value, the caller holds the lock); after another error *result is false. */
MGR_API int mgr_cond_wait_for(mgr_proxy *c, bool (*pred)(void *ctx), void *ctx,
                              int64_t timeout_ms, bool *result);
/* c.notify(n): wakes up to n (>= 0) waiters. MGR_ESTATE when the caller
 * does not hold the lock; MGR_EVALUE for n < 0. */
MGR_API int mgr_cond_notify(mgr_proxy *c, int64_t n);
/* c.notify_all(). MGR_ESTATE when the caller does not hold the lock. */
MGR_API int mgr_cond_notify_all(mgr_proxy *c);

/* --- Semaphore and BoundedSemaphore ----------------------------------------
 * A counter that acquire takes from and release adds to; any thread of any
 * process may release. */

/* manager.Semaphore(value): value >= 0 (MGR_EVALUE otherwise). */
MGR_API int mgr_semaphore_new(mgr_client *m, int64_t value, mgr_proxy **out);
/* manager.BoundedSemaphore(value): a release may not take the counter above
 * value. MGR_EVALUE for value < 0. */
MGR_API int mgr_bounded_semaphore_new(mgr_client *m, int64_t value,
                                      mgr_proxy **out);
/* s.acquire(timeout): *acquired (may be NULL) is false when the counter
 * stayed 0. Only the common errors. */
MGR_API int mgr_sem_acquire(mgr_proxy *s, int64_t timeout_ms, bool *acquired);
/* s.release(n), n >= 1: MGR_EVALUE for n < 1, or when a BoundedSemaphore
 * would go above its initial value; MGR_EOVERFLOW when the counter would
 * pass INT64_MAX (the counter is unchanged in both cases). */
MGR_API int mgr_sem_release(mgr_proxy *s, int64_t n);
/* The counter now (for tools and tests: it may change at once). Only the
 * common errors. */
MGR_API int mgr_sem_value(mgr_proxy *s, int64_t *out);

/* --- Barrier (manager.Barrier(parties, timeout)) ---------------------------- */

/* manager.Barrier(parties, timeout): parties >= 1 (MGR_EVALUE otherwise);
 * timeout_ms is the default of every wait, < 0 for none. */
MGR_API int mgr_barrier_new(mgr_client *m, int64_t parties, int64_t timeout_ms,
                            mgr_proxy **out);
/* b.wait(timeout): waits until `parties` waits arrived; *index (may be NULL)
 * is this party's, 0 .. parties - 1 in arrival order. timeout_ms < 0 uses
 * the barrier's default. MGR_EBROKEN when the barrier is or becomes broken
 * (a timeout, an abort, a reset, a party whose process died). */
MGR_API int mgr_barrier_wait(mgr_proxy *b, int64_t timeout_ms, int64_t *index);
/* b.reset(): waiters get MGR_EBROKEN; the barrier is whole again. Only the
 * common errors. */
MGR_API int mgr_barrier_reset(mgr_proxy *b);
/* b.abort(): breaks the barrier until a reset. Only the common errors. */
MGR_API int mgr_barrier_abort(mgr_proxy *b);
/* b.parties. Only the common errors. */
MGR_API int mgr_barrier_parties(mgr_proxy *b, int64_t *out);
/* b.n_waiting. Only the common errors. */
MGR_API int mgr_barrier_n_waiting(mgr_proxy *b, int64_t *out);
/* b.broken. Only the common errors. */
MGR_API int mgr_barrier_broken(mgr_proxy *b, bool *out);

/* --- Array (manager.Array(typecode, sequence)) ------------------------------
 * A fixed-length array of C numbers. typecode is one of Python's array
 * codes: 'b' 'B' 'h' 'H' 'i' 'I' 'l' 'L' 'q' 'Q' (signed and unsigned 8,
 * 16, 32, 64, 64, 64 bits) or 'f' 'd' (float, double). Elements read as
 * ints, or floats for 'f' and 'd' (an 'f' element is stored in single
 * precision: 0.1 reads back as 0.10000000149011612). A store checks as
 * Python's array does: MGR_EOVERFLOW for an int out of the type's range,
 * MGR_ETYPE for a float into an integer array or a non-number; a bool
 * stores 0 or 1. 'L' and 'Q' hold 0 to INT64_MAX only (a protocol int is
 * signed 64-bit). Indices and slices as the list's. */

/* manager.Array(typecode, init): init is an int n >= 0 (n zeros, as
 * multiprocessing.Array(typecode, n)) or an array of numbers; Python's
 * manager.Array needs one too: NULL is MGR_EINVAL. MGR_EVALUE for a bad
 * typecode or n < 0; MGR_ETYPE, MGR_EOVERFLOW for an element as above;
 * MGR_ELIMIT for more elements than the manager allows (spec 14.1) or
 * memory. */
MGR_API int mgr_array_new(mgr_client *m, char typecode, const mgr_value *init,
                          mgr_proxy **out);
/* a[index] into *out: MGR_EINDEX when out of range. */
MGR_API int mgr_array_get(mgr_proxy *a, int64_t index, mgr_value *out);
/* a[index] = val: MGR_EINDEX, MGR_ETYPE, MGR_EOVERFLOW. */
MGR_API int mgr_array_set(mgr_proxy *a, int64_t index, const mgr_value *val);
/* len(a). MGR_EBADOP for a proxy of another kind (no other error but the
 * common ones). */
MGR_API int mgr_array_len(mgr_proxy *a, size_t *out);
/* a[start:stop:step] as an array value: MGR_EVALUE for step 0. */
MGR_API int mgr_array_getslice(mgr_proxy *a, mgr_bound start, mgr_bound stop,
                               mgr_bound step, mgr_value *out);
/* a[start:stop:step] = items: items must be as many as the slice selects
 * (the length never changes: MGR_EVALUE otherwise, and for step 0);
 * MGR_ETYPE, MGR_EOVERFLOW for an item (nothing is stored then). */
MGR_API int mgr_array_setslice(mgr_proxy *a, mgr_bound start, mgr_bound stop,
                               mgr_bound step, const mgr_value *items);
/* a[index] += delta, atomically; *out (may be NULL) the new value.
 * MGR_EINDEX; MGR_ETYPE (a float delta into an integer array, a
 * non-number); MGR_EOVERFLOW (the sum leaves the type's range: unchanged). */
MGR_API int mgr_array_incr(mgr_proxy *a, int64_t index, const mgr_value *delta,
                           mgr_value *out);
/* mgr_array_incr with an int delta on an integer array; *out (may be NULL)
 * the new value. Errors as mgr_array_incr; MGR_ETYPE on an 'f' or 'd'
 * array, whose new value is a float: the increment WAS applied (as
 * mgr_dict_incr_int's; mgr_errmsg says the value). */
MGR_API int mgr_array_incr_int(mgr_proxy *a, int64_t index, int64_t delta,
                               int64_t *out);
/* Compare-and-swap of a[index]: when it equals expected, store desired.
 * *swapped and *current (the element after the call; both may be NULL)
 * tell. MGR_EINDEX; MGR_ETYPE, MGR_EOVERFLOW for desired as a store. */
MGR_API int mgr_array_cas(mgr_proxy *a, int64_t index,
                          const mgr_value *expected, const mgr_value *desired,
                          bool *swapped, mgr_value *current);
/* a.typecode into *out (Python's ArrayProxy does not expose it). MGR_EBADOP
 * for a proxy of another kind (no other error but the common ones). */
MGR_API int mgr_array_typecode(mgr_proxy *a, char *out);

#ifdef __cplusplus
}
#endif

#endif
