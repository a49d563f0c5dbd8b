/* mgr — PLACEHOLDER until the kind is implemented (issue 11): refuses to
 * create objects. Replaced wholesale by the kind's implementation. */
#include "mgr/error.h"
#include "server/kind.h"
#include "server/kinds/kinds.h"
#include "server/reply.h"

static int ph_init_check(mgri_octx *x, uint32_t kind, const mgr_value *init) {
  (void)init;
  return mgri_fail(x, MGR_EVALUE, "ValueError: %s is not implemented yet",
                   mgri_kind_name(kind));
}
static int ph_create(mgri_octx *x, mgri_obj *o, const mgr_value *init) {
  (void)o;
  (void)init;
  return mgri_fail(x, MGR_EVALUE, "ValueError: not implemented yet");
}
static void ph_destroy(mgri_store *s, mgri_obj *o) {
  (void)s;
  (void)o;
}
static void ph_refs(const mgri_obj *o, void (*fn)(void *, uint64_t), void *ctx) {
  (void)o;
  (void)fn;
  (void)ctx;
}
static int ph_dump(mgri_octx *x, mgri_obj *o, mgr_value *out) {
  (void)x;
  (void)o;
  *out = mgr_nil();
  return MGR_OK;
}
static size_t ph_len(const mgri_obj *o) {
  (void)o;
  return 1;
}

const mgri_kind mgri_kind_semaphore = {.id = MGR_K_SEMAPHORE, .state_size = 1, .init_check = ph_init_check, .create = ph_create, .destroy = ph_destroy, .refs = ph_refs, .dump = ph_dump, .len = ph_len};
const mgri_kind mgri_kind_bsemaphore = {.id = MGR_K_BSEMAPHORE, .state_size = 1, .init_check = ph_init_check, .create = ph_create, .destroy = ph_destroy, .refs = ph_refs, .dump = ph_dump, .len = ph_len};
