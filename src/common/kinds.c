/* mgr — the kinds' names, from THE list (kinds.h). */
#include "common/kinds.h"

#include "mgr/value.h"

#define ROW_(NAME, id, s, py, proxy) [id] = {s, py, proxy},
static const struct {
  const char *s, *py, *proxy;
} rows[MGRI_KIND_MAX + 1] = {MGRI_KINDS(ROW_)};
#undef ROW_

#define COUNT_(NAME, id, s, py, proxy) +1
_Static_assert(0 MGRI_KINDS(COUNT_) == MGRI_KIND_MAX,
               "kind ids are 1..MGRI_KIND_MAX, each once");
#undef COUNT_

const char *mgri_kind_short(uint32_t kind) {
  return kind && kind <= MGRI_KIND_MAX && rows[kind].s ? rows[kind].s : "ref";
}

uint32_t mgri_kind_base(uint32_t kind) {
  switch (kind) {
  case MGRI_KIND_RLOCK_ID:
    return MGRI_KIND_LOCK_ID;
  case MGRI_KIND_JQUEUE_ID:
    return MGRI_KIND_QUEUE_ID;
  case MGRI_KIND_BSEMAPHORE_ID:
    return MGRI_KIND_SEMAPHORE_ID;
  default:
    return 0;
  }
}

MGR_API const char *mgr_kind_name(int kind) {
  return kind > 0 && (unsigned)kind <= MGRI_KIND_MAX ? rows[kind].s : NULL;
}

const char *mgri_kind_python(uint32_t kind) {
  return kind && kind <= MGRI_KIND_MAX && rows[kind].py ? rows[kind].py
                                                        : "object";
}

const char *mgri_kind_proxy(uint32_t kind) {
  return kind && kind <= MGRI_KIND_MAX && rows[kind].proxy ? rows[kind].proxy
                                                           : "BaseProxy";
}
