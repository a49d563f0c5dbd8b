/* mgr — the lock that Lock, RLock and Condition share (spec 13, 9.11), so
 * that no kind calls another: a Condition acquires its own RLock or the
 * Lock/RLock object it was made with through these functions.
 *
 * The lock's owner is its object's owner (mgri_obj_own: the connection whose
 * acquire was granted); its FIFO holds acquires (LOCK_ACQUIRE, COND_ACQUIRE)
 * and Condition waiters that were notified or timed out and now wait to get
 * the lock back (COND_WAIT, moved there with mgri_wait_move). A grant answers
 * each as its op says. */
#ifndef MGRI_SERVER_LOCKCORE_H
#define MGRI_SERVER_LOCKCORE_H

#include "server/core.h"
#include "server/wait.h"

typedef struct mgri_lockst {
  uint64_t depth;  /* recursion count while held (1 for a Lock) */
  bool recursive;  /* an RLock (a Condition's own lock is one) */
  bool owner_dead; /* the next grant tells (result 2, spec 13.4) */
  mgri_waitq q;
} mgri_lockst;

/* A COND_WAIT waiter's data while it waits for the lock: the recursion
 * count to restore and whether it was notified (bit 0 of its result). */
static inline uint64_t mgri_lock_wait_data(uint64_t depth, bool notified) {
  return depth << 1 | (notified ? 1u : 0u);
}

/* LOCK_ACQUIRE / COND_ACQUIRE [blocking, timeout] (args 0 and 1 of x) on
 * the lock lk of object lo (x->o itself, or the lock a Condition shares):
 * x->result 1, 2 or 0, MGRI_PARKED, or an error (message set). */
int mgri_lock_acquire(mgri_octx *x, mgri_obj *lo, mgri_lockst *lk);
/* LOCK_RELEASE / COND_RELEASE: MGR_OK or STATE (message set). A Lock may be
 * released by any connection, an RLock only by its owner. */
int mgri_lock_release(mgri_octx *x, mgri_obj *lo, mgri_lockst *lk);
/* Whether x's connection owns the lock. */
bool mgri_lock_owned(const mgri_octx *x, const mgri_obj *lo);
/* Releases the lock wholly for a COND_WAIT (the caller owns it): returns
 * its recursion count, and grants it to the next waiter. */
uint64_t mgri_lock_release_all(mgri_store *s, mgri_obj *lo, mgri_lockst *lk);
/* Makes w (a COND_WAIT waiter, of whatever object) a waiter of the lock, at
 * the tail of its FIFO, without a deadline (data: mgri_lock_wait_data), and
 * grants the lock at once when it is free. */
void mgri_lock_enqueue(mgri_store *s, mgri_obj *lo, mgri_lockst *lk,
                       mgri_waiter *w, uint64_t data);
/* The owner's connection closed: released wholly and marked (spec 13.4). */
void mgri_lock_owner_closed(mgri_store *s, mgri_obj *lo, mgri_lockst *lk);
/* An acquire reached its deadline: answered 0. */
void mgri_lock_expired(mgri_store *s, mgri_waiter *w);
/* Answers every waiter of the lock NOTFOUND (its object is destroyed). */
void mgri_lock_destroy(mgri_store *s, mgri_lockst *lk);
/* DUMP's fields: 5 pairs (locked, owner, depth, waiters, owner_died) into
 * kv[0..10). */
void mgri_lock_dump(const mgri_obj *lo, const mgri_lockst *lk, mgr_value *kv);

#endif
