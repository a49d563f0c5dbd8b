/* mgr — the object store: objects by id, their memory, the values stored in
 * them and the references those hold, reference counts and destruction,
 * names, sessions, and owners (spec 12). Calls down to reply.c only; kinds
 * are reached through their mgri_kind. */
#ifndef MGRI_SERVER_OBJECTS_H
#define MGRI_SERVER_OBJECTS_H

#include "server/core.h"

/* --- objects ----------------------------------------------------------- */

mgri_obj *mgri_obj_find(const mgri_store *s, uint64_t id);
/* The ref naming o. */
mgr_value mgri_obj_ref(const mgri_obj *o);
/* Creates an object of kind (its init NULL when omitted, already checked
 * with kind->init_check), held by x's session, named when name != NULL.
 * MGR_OK and *out, or an error (message set) with nothing left behind. */
int mgri_obj_create(mgri_octx *x, const mgri_kind *kind, const mgr_value *init,
                    const char *name, size_t namelen, mgri_obj **out);
/* Checks o for destruction after the reply (its count may be 0 now that a
 * name or a session let go of it). */
void mgri_obj_recheck(mgri_store *s, mgri_obj *o);

/* Memory o holds: counted in o->bytes, in its kind's total and in the
 * server's OBJECTS category, against the limit. NULL when refused (limit,
 * injected failure, out of memory): the caller fails the op with
 * mgri_nomem and leaves o as it was. */
void *mgri_obj_alloc(mgri_store *s, mgri_obj *o, size_t n);
void *mgri_obj_realloc(mgri_store *s, mgri_obj *o, void *p, size_t n);
void mgri_obj_free(mgri_store *s, mgri_obj *o, void *p);
/* Block p of o shrunk to n bytes, or NULL when it stays as it was (never
 * refused: see mgri_mem_shrink). Nothing to undo either way. */
void *mgri_obj_shrink(mgri_store *s, mgri_obj *o, void *p, size_t n);

/* Pins block p (a stored string a reply refers to) so that freeing it
 * waits for the last unpin; false when too many are pinned (the caller
 * copies instead). Whether p is pinned (a setter must not overwrite it in
 * place). */
bool mgri_obj_pin(mgri_store *s, void *p);
void mgri_obj_unpin(mgri_store *s, void *p);
bool mgri_obj_pinned(const mgri_store *s, const void *p);

/* Makes c o's owner (o must have none) / o ownerless. */
void mgri_obj_own(mgri_obj *o, mgri_sconn *c);
void mgri_obj_unown(mgri_obj *o);

/* --- stored values (spec 12.2) -------------------------------------------- */

/* Checks that every ref inside v names a live object of that kind. MGR_OK
 * or MGR_ENOTFOUND (message set). */
int mgri_sv_check(mgri_octx *x, const mgr_value *v);
/* The bytes an owned copy of v takes from the allocator (0 for scalars), or
 * SIZE_MAX when it cannot exist: what an op adds to its need. */
size_t mgri_sv_need(const mgr_value *v);
/* An owned copy of src in *dst, held by o, counting its refs: MGR_OK,
 * MGR_ENOTFOUND or MGR_ELIMIT (message set). Scalars allocate nothing. */
int mgri_sv_make(mgri_octx *x, mgri_obj *o, const mgr_value *src,
                 mgr_value *dst);
/* Same, refs already checked (after mgri_sv_check). */
int mgri_sv_make_checked(mgri_octx *x, mgri_obj *o, const mgr_value *src,
                         mgr_value *dst);
/* Replaces owned value *slot of o with a copy of src (refs already
 * checked): in place when both are text or bytes and slot's block holds src
 * with at most half of it unused — a peer that sets large values of one
 * size again and again does not make the server allocate, fault in and free
 * a block for each — else a new copy (growth checked first, mgri_need) and
 * the old one dropped. MGR_OK, or MGR_ELIMIT (message set) with *slot as it
 * was. Only for a slot no result borrows (a setter's). */
int mgri_sv_replace(mgri_octx *x, mgri_obj *o, mgr_value *slot,
                    const mgr_value *src);
/* Drops an owned value of o: its refs are released after the reply; its
 * memory now (drop) or after the reply (drop_later, for a value the result
 * borrows). v becomes nil. Never allocates, never fails. */
void mgri_sv_drop(mgri_store *s, mgri_obj *o, mgr_value *v);
void mgri_sv_drop_later(mgri_store *s, mgri_obj *o, mgr_value *v);

/* --- names ----------------------------------------------------------------- */

/* The object named p[0..n), or NULL. */
mgri_obj *mgri_name_find(mgri_store *s, const char *p, size_t n);
/* Removes o's name (no-op when unnamed); o is rechecked after the reply. */
void mgri_name_remove(mgri_store *s, mgri_obj *o);

/* --- sessions ---------------------------------------------------------------- */

/* A new session (HELLO with session 0), or NULL (message set). */
mgri_session *mgri_session_new(mgri_octx *x);
mgri_session *mgri_session_find(const mgri_store *s, uint64_t id);
/* Adds o to x's session (a set: at most one reference). MGR_OK or LIMIT. */
int mgri_session_hold(mgri_octx *x, mgri_obj *o);
/* Makes room so that n more holds cannot fail (RETAIN is all or nothing). */
int mgri_session_reserve(mgri_octx *x, size_t n);
/* Removes object id from c's session; false when the session does not hold
 * it. The object is rechecked after the reply. */
bool mgri_session_release(mgri_store *s, mgri_sconn *c, uint64_t id);
/* One connection less: when it was the last, the session ends and its
 * references are dropped. */
void mgri_session_leave(mgri_store *s, mgri_session *se);

/* --- between requests ------------------------------------------------------- */

/* After each reply: frees the values the reply borrowed, applies reference
 * drops (destroying objects whose count reaches 0, iteratively), resets the
 * scratch arena. */
void mgri_store_after_reply(mgri_store *s);
/* Frees every object and session without counting or replying (the end of
 * mgri_store_free). */
void mgri_objects_free_all(mgri_store *s);

#endif
