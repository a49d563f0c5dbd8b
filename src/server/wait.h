/* mgr — parked requests (spec 8.4): a blocking op that cannot complete now
 * parks as a waiter in its object's FIFO and on its connection, with an
 * optional deadline in a min-heap; it is answered later by its kind (a
 * grant), at its deadline (kind->expired), when its object is destroyed, or
 * at shutdown; it is dropped without a reply when its connection closes
 * (kind->gone first). Every wait begins and ends here, so it is traced
 * here. Calls down to reply.c only. */
#ifndef MGRI_SERVER_WAIT_H
#define MGRI_SERVER_WAIT_H

#include "server/core.h"

/* One object's waiters, oldest first. Embedded in the kind's state. */
typedef struct mgri_waitq {
  mgri_waiter *head, *tail;
  size_t n;
} mgri_waitq;

struct mgri_waiter {
  mgri_sconn *conn;
  mgri_obj *obj;
  mgri_waitq *q;
  uint64_t rid;
  uint64_t op;
  int64_t deadline;           /* INT64_MAX: none */
  size_t heap_idx;            /* SIZE_MAX: not in the heap */
  uint64_t data;              /* the kind's */
  mgri_waiter *qnext, *qprev; /* the object's FIFO */
  mgri_waiter *cnext, *cprev; /* the connection's parked list */
  mgri_waiter *anext, *aprev; /* every parked request */
};

/* What a timeout argument says. */
enum {
  MGRI_TIMEOUT_NONE, /* nil or -1: no timeout */
  MGRI_TIMEOUT_ZERO, /* 0 (or -0.0): try once */
  MGRI_TIMEOUT_SET   /* positive (+inf: a deadline that never comes) */
};
/* Parses a timeout argument (spec 13.2): a number or nil, else TYPE; nil or
 * -1 mean none; other negatives and NaN are VALUE. *deadline gets x->now +
 * timeout, INT64_MAX when none or beyond the clock (+inf), and *what one of
 * MGRI_TIMEOUT_*. MGR_OK or TYPE/VALUE (message set). */
int mgri_arg_timeout(mgri_octx *x, size_t i, int64_t *deadline, int *what);
/* Parks x's request in q (the tail) with deadline (INT64_MAX: none) and
 * the kind's data. MGRI_PARKED, or LIMIT when the connection already has
 * MGRI_PENDING_MAX parked requests or memory is short (message set). */
int mgri_wait_park(mgri_octx *x, mgri_waitq *q, int64_t deadline,
                   uint64_t data);
/* Answers w (status, result or message), traces wait_end with outcome
 * (MGRI_TRACE_WAIT_*), and frees it. Returns whether the reply will be
 * delivered (mgri_emit): a kind that handed something over in result takes
 * it back when not. */
bool mgri_wait_answer(mgri_store *s, mgri_waiter *w, int status,
                      const mgr_value *result, const char *msg, int outcome);
/* Moves w to the tail of q, the FIFO of object obj (another object's, or
 * another FIFO of its own), without a deadline, with new kind data: a
 * Condition's waiter becomes a waiter of its lock (spec 9.11). Never fails. */
void mgri_wait_move(mgri_store *s, mgri_waiter *w, mgri_obj *obj, mgri_waitq *q,
                    uint64_t data);
/* Answers every waiter of q with status and message (a destroyed object:
 * NOTFOUND). */
void mgri_wait_cancel_all(mgri_store *s, mgri_waitq *q, int status,
                          const char *msg);
/* Drops every parked request of c without a reply (its connection
 * closes), telling each kind first (kind->gone). */
void mgri_wait_conn_closed(mgri_store *s, mgri_sconn *c);

#endif
