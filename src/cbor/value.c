/* mgr — the public value helpers of include/mgr/value.h: free, copy,
 * equality and map lookup, over the value model (model.h). */
#include <stdlib.h>

#include "cbor/model.h"
#include "mgr/error.h"

/* --- public helpers ------------------------------------------------------- */

void mgr_value_free(mgr_value *v) {
  if (!v) return;
  switch (v->type) {
  case MGR_T_TEXT:
  case MGR_T_BYTES:
    free((void *)v->u.s.ptr);
    break;
  case MGR_T_ARRAY:
  case MGR_T_MAP:
    free(v->u.a.items);
    break;
  default:
    break;
  }
  *v = mgr_nil();
}

int mgr_value_copy(mgr_value *dst, const mgr_value *src) {
  if (!dst) return MGR_EINVAL;
  *dst = mgr_nil();
  int rc = mgri_value_valid(src, 1);
  if (rc != MGR_OK) return rc;
  size_t size = mgri_value_size(src);
  if (size == SIZE_MAX) return MGR_ENOMEM;
  void *mem = NULL;
  if (size) {
    mem = malloc(size);
    if (!mem) return MGR_ENOMEM;
  }
  mgri_value_copy_into(dst, src, mem);
  return MGR_OK;
}

bool mgr_value_equal(const mgr_value *a, const mgr_value *b) {
  if (!a || !b) return a == b;
  return mgri_value_eq(a, b);
}

const mgr_value *mgr_map_get(const mgr_value *map, const mgr_value *key) {
  if (!map || !key || map->type != MGR_T_MAP) return NULL;
  return mgri_map_find(map, key, SIZE_MAX);
}
