/* mgr — THE kind table: one row per kind (common/kinds.h lists the same
 * ids; tests/test_kinds.c checks that every kind's ops are the op table's
 * ops of that kind). */
#include "server/kinds/kinds.h"

const mgri_kind *const mgri_kinds[MGRI_KIND_MAX + 1] = {
    [MGR_K_DICT] = &mgri_kind_dict,
    [MGR_K_LIST] = &mgri_kind_list,
    [MGR_K_VAR] = &mgri_kind_var,
    [MGR_K_LOCK] = &mgri_kind_lock,
    [MGR_K_RLOCK] = &mgri_kind_rlock,
    [MGR_K_QUEUE] = &mgri_kind_queue,
    [MGR_K_JQUEUE] = &mgri_kind_jqueue,
    [MGR_K_NAMESPACE] = &mgri_kind_namespace,
    [MGR_K_EVENT] = &mgri_kind_event,
    [MGR_K_CONDITION] = &mgri_kind_condition,
    [MGR_K_SEMAPHORE] = &mgri_kind_semaphore,
    [MGR_K_BSEMAPHORE] = &mgri_kind_bsemaphore,
    [MGR_K_BARRIER] = &mgri_kind_barrier,
    [MGR_K_ARRAY] = &mgri_kind_array,
};
