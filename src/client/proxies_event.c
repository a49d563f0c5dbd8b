/* mgr client: the Event proxy (manager.Event(), spec 9.10). */
#include "internal.h"
#include "pcall.h"
#include "mgr/error.h"
#include "mgr/sync.h"

int mgr_event_new(mgr_client *m, mgr_proxy **out) {
  return mgri_create(m, MGR_K_EVENT, NULL, out);
}

int mgr_event_set(mgr_proxy *e) {
  return mgri_pcall(e, MGRI_OP_EVENT_SET, NULL, 0, NULL);
}

int mgr_event_clear(mgr_proxy *e) {
  return mgri_pcall(e, MGRI_OP_EVENT_CLEAR, NULL, 0, NULL);
}

int mgr_event_is_set(mgr_proxy *e, bool *out) {
  if (!out) return MGR_EINVAL;
  return mgri_pcall_bool(e, MGRI_OP_EVENT_IS_SET, NULL, 0, out);
}

int mgr_event_wait(mgr_proxy *e, int64_t timeout_ms, bool *out) {
  if (out) *out = false;
  /* No timeout is Python's wait(None): the argument omitted. */
  mgr_value a[1] = {mgri_wire_timeout(timeout_ms)};
  mgr_value res;
  int rc = mgri_pcall_wait(e, MGRI_OP_EVENT_WAIT, a, timeout_ms < 0 ? 0 : 1,
                           &res, timeout_ms);
  if (rc != MGR_OK) return rc;
  if (res.type != MGR_T_BOOL) return mgri_pcall_bad(e, "a bool");
  if (out) *out = res.u.b;
  return MGR_OK;
}
