/* mgr — THE kind table: every kind the server knows, by id. */
#ifndef MGRI_SERVER_KINDS_H
#define MGRI_SERVER_KINDS_H

#include "server/kind.h"

extern const mgri_kind mgri_kind_dict;
extern const mgri_kind mgri_kind_list;
extern const mgri_kind mgri_kind_var;
extern const mgri_kind mgri_kind_lock;
extern const mgri_kind mgri_kind_rlock;
extern const mgri_kind mgri_kind_queue;
extern const mgri_kind mgri_kind_jqueue;
extern const mgri_kind mgri_kind_namespace;
extern const mgri_kind mgri_kind_event;
extern const mgri_kind mgri_kind_condition;
extern const mgri_kind mgri_kind_semaphore;
extern const mgri_kind mgri_kind_bsemaphore;
extern const mgri_kind mgri_kind_barrier;
extern const mgri_kind mgri_kind_array;

/* [id] -> kind, MGRI_KIND_MAX + 1 entries; [0] is NULL (the manager). */
extern const mgri_kind *const mgri_kinds[MGRI_KIND_MAX + 1];

#endif
