/* mgr client: the Semaphore and BoundedSemaphore proxies
 * (manager.Semaphore(), manager.BoundedSemaphore(), spec 9.12). */
#include "internal.h"
#include "mgr/error.h"
#include "mgr/sync.h"
#include "pcall.h"

/* Both kinds take the initial value as init; a negative one is the
 * server's VALUE, with its message. */
int mgr_semaphore_new(mgr_client *m, int64_t value, mgr_proxy **out) {
  mgr_value init = mgr_int(value);
  return mgri_create(m, MGR_K_SEMAPHORE, &init, out);
}

int mgr_bounded_semaphore_new(mgr_client *m, int64_t value, mgr_proxy **out) {
  mgr_value init = mgr_int(value);
  return mgri_create(m, MGR_K_BSEMAPHORE, &init, out);
}

int mgr_sem_acquire(mgr_proxy *s, int64_t timeout_ms, bool *acquired) {
  if (acquired) *acquired = false;
  /* < 0 [true, nil], 0 [false, nil] (Python refuses a timeout with
   * blocking false), > 0 [true, seconds]. */
  mgr_value a[2], res;
  mgri_wire_block(timeout_ms, a);
  int rc = mgri_pcall_wait(s, MGRI_OP_SEM_ACQUIRE, a, 2, &res, timeout_ms);
  if (rc != MGR_OK) return rc;
  if (res.type != MGR_T_BOOL) return mgri_pcall_bad(s, "a bool");
  if (acquired) *acquired = res.u.b;
  return MGR_OK;
}

int mgr_sem_release(mgr_proxy *s, int64_t n) {
  mgr_value a[1] = {mgr_int(n)};
  return mgri_pcall(s, MGRI_OP_SEM_RELEASE, a, 1, NULL);
}

int mgr_sem_value(mgr_proxy *s, int64_t *out) {
  if (!out) return MGR_EINVAL;
  return mgri_pcall_int(s, MGRI_OP_SEM_VALUE, NULL, 0, out);
}
