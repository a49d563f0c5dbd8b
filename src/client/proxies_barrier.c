/* mgr client: the Barrier proxy (manager.Barrier(), spec 9.13). */
#include "internal.h"
#include "mgr/error.h"
#include "mgr/sync.h"
#include "pcall.h"

int mgr_barrier_new(mgr_client *m, int64_t parties, int64_t timeout_ms,
                    mgr_proxy **out) {
  /* Without a default timeout the init is just parties (Python's
   * Barrier(parties)); else [parties, seconds]. */
  mgr_value pair[2] = {mgr_int(parties), mgri_wire_timeout(timeout_ms)};
  mgr_value init = timeout_ms < 0 ? pair[0] : mgr_array(pair, 2);
  return mgri_create(m, MGR_K_BARRIER, &init, out);
}

int mgr_barrier_wait(mgr_proxy *b, int64_t timeout_ms, int64_t *index) {
  if (index) *index = -1;
  /* No timeout is Python's wait(None): the argument omitted, so the
   * barrier's default applies. How long that is the client does not know:
   * the local wait is then unbounded (-1), as for a wait without one. */
  mgr_value a[1] = {mgri_wire_timeout(timeout_ms)};
  mgr_value res;
  int rc = mgri_pcall_wait(b, MGRI_OP_BARRIER_WAIT, a, timeout_ms < 0 ? 0 : 1,
                           &res, timeout_ms < 0 ? -1 : timeout_ms);
  if (rc != MGR_OK) return rc;
  if (res.type != MGR_T_INT || res.u.i < 0)
    return mgri_pcall_bad(b, "an index");
  if (index) *index = res.u.i;
  return MGR_OK;
}

int mgr_barrier_reset(mgr_proxy *b) {
  return mgri_pcall(b, MGRI_OP_BARRIER_RESET, NULL, 0, NULL);
}

int mgr_barrier_abort(mgr_proxy *b) {
  return mgri_pcall(b, MGRI_OP_BARRIER_ABORT, NULL, 0, NULL);
}

int mgr_barrier_parties(mgr_proxy *b, int64_t *out) {
  if (!out) return MGR_EINVAL;
  return mgri_pcall_int(b, MGRI_OP_BARRIER_PARTIES, NULL, 0, out);
}

int mgr_barrier_n_waiting(mgr_proxy *b, int64_t *out) {
  if (!out) return MGR_EINVAL;
  return mgri_pcall_int(b, MGRI_OP_BARRIER_N_WAITING, NULL, 0, out);
}

int mgr_barrier_broken(mgr_proxy *b, bool *out) {
  if (!out) return MGR_EINVAL;
  return mgri_pcall_bool(b, MGRI_OP_BARRIER_BROKEN, NULL, 0, out);
}
