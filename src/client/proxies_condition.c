/* mgr client: the Condition proxies (manager.Condition(), spec 9.11), and
 * wait_for, which loops on the client as Python's proxy does. */
#include <time.h>

#include "internal.h"
#include "mgr/error.h"
#include "mgr/sync.h"
#include "pcall.h"

int mgr_condition_new(mgr_client *m, mgr_proxy *lock, mgr_proxy **out) {
  if (!lock) return mgri_create(m, MGR_K_CONDITION, NULL, out);
  if (out) *out = NULL;
  /* A proxy of another client names an object of another manager. */
  if (!m || lock->m != m) return MGR_EINVAL;
  mgr_value init = mgr_proxy_value(lock);
  return mgri_create(m, MGR_K_CONDITION, &init, out);
}

int mgr_cond_acquire(mgr_proxy *c, int64_t timeout_ms, bool *acquired) {
  if (acquired) *acquired = false;
  mgr_value a[2], res;
  mgri_wire_block(timeout_ms, a);
  int rc = mgri_pcall_wait(c, MGRI_OP_COND_ACQUIRE, a, 2, &res, timeout_ms);
  if (rc != MGR_OK) return rc;
  if (res.type != MGR_T_INT || res.u.i < 0 || res.u.i > 2)
    return mgri_pcall_bad(c, "0, 1 or 2");
  if (acquired) *acquired = res.u.i != 0;
  return res.u.i == 2 ? MGR_EOWNERDEAD : MGR_OK;
}

int mgr_cond_release(mgr_proxy *c) {
  return mgri_pcall(c, MGRI_OP_COND_RELEASE, NULL, 0, NULL);
}

int mgr_cond_wait(mgr_proxy *c, int64_t timeout_ms, bool *notified) {
  if (notified) *notified = false;
  mgr_value a[1] = {mgri_wire_timeout(timeout_ms)}, res;
  /* The reply comes once the lock is back, however long after the timeout
   * that takes: the wait has no limit the per-call timeout could follow,
   * and a call cut short could not give the lock back. */
  int rc = mgri_pcall_wait(c, MGRI_OP_COND_WAIT, a, timeout_ms < 0 ? 0 : 1,
                           &res, -1);
  if (rc != MGR_OK) return rc;
  if (res.type != MGR_T_INT || res.u.i < 0 || res.u.i > 3)
    return mgri_pcall_bad(c, "0, 1, 2 or 3");
  if (notified) *notified = res.u.i & 1;
  return res.u.i & 2 ? MGR_EOWNERDEAD : MGR_OK;
}

static int64_t now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

/* As Python's ConditionProxy.wait_for: the predicate first, then waits
 * until it holds or the time is up, the remaining time measured here. */
int mgr_cond_wait_for(mgr_proxy *c, bool (*pred)(void *ctx), void *ctx,
                      int64_t timeout_ms, bool *result) {
  if (result) *result = false;
  if (!c || !pred) return MGR_EINVAL;
  bool r = pred(ctx);
  int64_t end = INT64_MAX; /* none */
  if (timeout_ms >= 0) {
    int64_t now = now_ns();
    if (timeout_ms < (INT64_MAX - now) / 1000000)
      end = now + timeout_ms * 1000000;
  }
  int rc = MGR_OK;
  while (!r) {
    int64_t wait_ms = -1;
    if (end != INT64_MAX) {
      int64_t left = end - now_ns();
      if (left <= 0) break;
      wait_ms = (left + 999999) / 1000000;
    }
    rc = mgr_cond_wait(c, wait_ms, NULL);
    if (rc != MGR_OK && rc != MGR_EOWNERDEAD) return rc;
    r = pred(ctx);
    /* The lock came back from an owner that died holding it: what it
     * guards may be half done, so the caller hears of it at once. */
    if (rc == MGR_EOWNERDEAD) break;
  }
  if (result) *result = r;
  return rc;
}

int mgr_cond_notify(mgr_proxy *c, int64_t n) {
  mgr_value a = mgr_int(n);
  return mgri_pcall(c, MGRI_OP_COND_NOTIFY, &a, 1, NULL);
}

int mgr_cond_notify_all(mgr_proxy *c) {
  return mgri_pcall(c, MGRI_OP_COND_NOTIFY_ALL, NULL, 0, NULL);
}
