/* mgr — THE kind table: one row per kind (common/kinds.h lists the same
 * ids; tests/test_kinds.c checks that every kind's ops are the op table's
 * ops of that kind). */
#include "server/kinds/kinds.h"

const mgri_kind *const mgri_kinds[MGRI_KIND_MAX + 1] = {
    [MGR_K_DICT] = &mgri_kind_dict,   [MGR_K_LIST] = &mgri_kind_list,
    [MGR_K_VAR] = &mgri_kind_var,     [MGR_K_LOCK] = &mgri_kind_lock,
    [MGR_K_RLOCK] = &mgri_kind_rlock,
};
