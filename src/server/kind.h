/* mgr — THE kind interface. Each kind of shared object (dict, list, var,
 * lock, rlock ...) is one file under kinds/ that fills in one mgri_kind;
 * the object store and dispatch know kinds only through it. Adding a kind:
 * its file, its row in kinds/kinds.c, its row in common/kinds.h, its ops in
 * proto/ops.h and the spec. Nothing else in the server changes.
 *
 * Memory: a kind allocates everything an object holds through
 * mgri_obj_alloc/realloc/free and stores values with mgri_sv_make (objects.h),
 * so the bytes an object holds are counted for it (DUMP, STATS) and against
 * the server's limit without the kind computing them. An op that grows an
 * object checks with mgri_need() what it will need before it allocates
 * anything, and leaves the object's contents unchanged when it fails (room
 * it reserved first may stay: spec 14.2.2). */
#ifndef MGRI_SERVER_KIND_H
#define MGRI_SERVER_KIND_H

#include "server/core.h"

struct mgri_kind {
  uint32_t id;       /* the mgr_kind id (common/kinds.h) */
  size_t state_size; /* bytes of its per-object state (mgri_state) */
  /* Checks the shape of a CREATE/OPEN init argument (NULL: omitted) for the
   * kind `kind` (this one's id) without
   * creating anything: OPEN checks it even when the object exists. The refs
   * inside are checked by the caller. MGR_OK or an error (message set). */
  int (*init_check)(mgri_octx *x, uint32_t kind, const mgr_value *init);
  /* Fills o's zeroed state from init (checked; NULL: omitted). On error
   * it leaves nothing allocated. */
  int (*create)(mgri_octx *x, mgri_obj *o, const mgr_value *init);
  /* Frees everything o holds, dropping the refs stored in it, and answers
   * its parked requests NOTFOUND (spec 12.7). The object block itself is
   * the store's. */
  void (*destroy)(mgri_store *s, mgri_obj *o);
  /* Calls fn(ctx, id) for every ref stored in o (the references it holds). */
  void (*refs)(const mgri_obj *o, void (*fn)(void *ctx, uint64_t id),
               void *ctx);
  /* o's owner (mgri_obj_own) closed its connection: locks are released and
   * marked (spec 13.4). NULL when the kind has no owners. */
  void (*owner_closed)(mgri_store *s, mgri_obj *o);
  /* A parked request of o reached its deadline: answer it (mgri_wait_answer)
   * or take its deadline away (mgri_wait_move: a Condition's waiter goes on
   * to wait for the lock). NULL when the kind never parks. */
  void (*expired)(mgri_store *s, mgri_waiter *w);
  /* A parked request of o is dropped without a reply (its connection
   * closed), before it is freed. May be NULL. */
  void (*gone)(mgri_store *s, mgri_waiter *w);
  /* The kind whose ops this one runs too (its handlers come first): an RLock
   * runs the Lock's, a JoinableQueue the Queue's, a BoundedSemaphore the
   * Semaphore's (spec 5.2 "extends"); 0 for none. */
  uint32_t extends;
  /* The kind-specific part of DUMP (mgrctl dump): a value in scratch
   * memory or borrowed from o. */
  int (*dump)(mgri_octx *x, mgri_obj *o, mgr_value *out);
  /* Items o holds, for the cost estimate (a dict's entries, a list's items,
   * 1 for a var). */
  size_t (*len)(const mgri_obj *o);
  /* Its ops: those of ops.h whose kind is this kind's (kinds 4 and 5 share
   * the lock ops). */
  const mgri_handler *ops;
  size_t nops;
};

#endif
