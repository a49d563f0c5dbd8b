/* mgr client: the Queue and JoinableQueue proxies (manager.Queue(),
 * manager.JoinableQueue(), spec 9.8). A get whose reply comes after the
 * call timed out locally has its item put back by the thread's next call
 * (conn.c, orphan replies). */
#include "internal.h"
#include "mgr/error.h"
#include "mgr/sync.h"
#include "pcall.h"

int mgr_queue_new(mgr_client *m, int64_t maxsize, mgr_proxy **out) {
  mgr_value init = mgr_int(maxsize);
  return mgri_create(m, MGR_K_QUEUE, &init, out);
}

int mgr_joinable_queue_new(mgr_client *m, int64_t maxsize, mgr_proxy **out) {
  mgr_value init = mgr_int(maxsize);
  return mgri_create(m, MGR_K_JQUEUE, &init, out);
}

int mgr_queue_put(mgr_proxy *q, const mgr_value *item, int64_t timeout_ms) {
  if (!item) return MGR_EINVAL;
  mgr_value a[3];
  a[0] = *item;
  mgri_wire_block(timeout_ms, a + 1);
  return mgri_pcall_wait(q, MGRI_OP_QUEUE_PUT, a, 3, NULL, timeout_ms);
}

int mgr_queue_get(mgr_proxy *q, int64_t timeout_ms, mgr_value *out) {
  if (!out) return MGR_EINVAL;
  *out = mgr_nil();
  mgr_value a[2], res;
  mgri_wire_block(timeout_ms, a);
  int rc = mgri_pcall_wait(q, MGRI_OP_QUEUE_GET, a, 2, &res, timeout_ms);
  if (rc != MGR_OK) return rc;
  return mgri_result_out(&res, out);
}

int mgr_queue_qsize(mgr_proxy *q, size_t *out) {
  if (!out) return MGR_EINVAL;
  return mgri_pcall_size(q, MGRI_OP_QUEUE_QSIZE, NULL, 0, out);
}

int mgr_queue_empty(mgr_proxy *q, bool *out) {
  if (!out) return MGR_EINVAL;
  return mgri_pcall_bool(q, MGRI_OP_QUEUE_EMPTY, NULL, 0, out);
}

int mgr_queue_full(mgr_proxy *q, bool *out) {
  if (!out) return MGR_EINVAL;
  return mgri_pcall_bool(q, MGRI_OP_QUEUE_FULL, NULL, 0, out);
}

int mgr_queue_task_done(mgr_proxy *q) {
  return mgri_pcall(q, MGRI_OP_QUEUE_TASK_DONE, NULL, 0, NULL);
}

int mgr_queue_join(mgr_proxy *q, int64_t timeout_ms, bool *done) {
  if (done) *done = false;
  /* No timeout is Python's join(): [nil]. */
  mgr_value a[1] = {mgri_wire_timeout(timeout_ms)}, res;
  int rc = mgri_pcall_wait(q, MGRI_OP_QUEUE_JOIN, a, 1, &res, timeout_ms);
  if (rc != MGR_OK) return rc;
  if (res.type != MGR_T_BOOL) return mgri_pcall_bad(q, "a bool");
  if (done) *done = res.u.b;
  return MGR_OK;
}
