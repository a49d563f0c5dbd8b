/* mgr client: the call helpers of the typed proxies (see pcall.h). */
#include "pcall.h"

#include "internal.h"
#include "mgr/error.h"

int mgri_pcall(mgr_proxy *p, uint64_t op, const mgr_value *args, size_t n,
               mgr_value *res) {
  if (!p) return MGR_EINVAL;
  return mgri_callm(p->m, op, p->id, args, n, res);
}

/* A result the caller owns (out may be NULL: not wanted). */
int mgri_pcall_out(mgr_proxy *p, uint64_t op, const mgr_value *args, size_t n,
                   mgr_value *out) {
  mgr_value res;
  if (out) *out = mgr_nil();
  int rc = mgri_pcall(p, op, args, n, &res);
  if (rc != MGR_OK || !out) return rc;
  return mgri_result_out(&res, out);
}

int mgri_pcall_bad(mgr_proxy *p, const char *want) {
  mgri_seterr(p->m, "the manager's result is not %s", want);
  return MGR_EPROTO;
}

int mgri_pcall_int(mgr_proxy *p, uint64_t op, const mgr_value *args, size_t n,
                   int64_t *out) {
  mgr_value res;
  int rc = mgri_pcall(p, op, args, n, &res);
  if (rc != MGR_OK) return rc;
  if (res.type != MGR_T_INT) return mgri_pcall_bad(p, "an int");
  if (out) *out = res.u.i;
  return MGR_OK;
}

/* The *_incr_int calls: the new value must be an int. A float entry plus an
 * int delta is a float (spec 11.1): no int can say it, so MGR_ETYPE — after
 * the server applied the increment, which the message says. */
int mgri_pcall_incr_int(mgr_proxy *p, uint64_t op, const mgr_value *args,
                        size_t n, int64_t *out) {
  mgr_value res;
  int rc = mgri_pcall(p, op, args, n, &res);
  if (rc != MGR_OK) return rc;
  if (res.type == MGR_T_FLOAT) {
    mgri_seterr(p->m,
                "the new value is a float (%.17g), not an int: the increment "
                "was applied; read it with the mgr_*_incr call",
                res.u.f);
    return MGR_ETYPE;
  }
  if (res.type != MGR_T_INT) return mgri_pcall_bad(p, "an int");
  if (out) *out = res.u.i;
  return MGR_OK;
}

int mgri_pcall_size(mgr_proxy *p, uint64_t op, const mgr_value *args, size_t n,
                    size_t *out) {
  int64_t v = 0;
  int rc = mgri_pcall_int(p, op, args, n, &v);
  if (rc != MGR_OK) return rc;
  if (v < 0) return mgri_pcall_bad(p, "a size");
  if (out) *out = (size_t)v;
  return MGR_OK;
}

int mgri_pcall_bool(mgr_proxy *p, uint64_t op, const mgr_value *args, size_t n,
                    bool *out) {
  mgr_value res;
  int rc = mgri_pcall(p, op, args, n, &res);
  if (rc != MGR_OK) return rc;
  if (res.type != MGR_T_BOOL) return mgri_pcall_bad(p, "a bool");
  if (out) *out = res.u.b;
  return MGR_OK;
}

/* [swapped, current] */
int mgri_pcall_cas(mgr_proxy *p, uint64_t op, const mgr_value *args, size_t n,
                   bool *swapped, mgr_value *current) {
  mgr_value res;
  if (current) *current = mgr_nil();
  int rc = mgri_pcall(p, op, args, n, &res);
  if (rc != MGR_OK) return rc;
  if (res.type != MGR_T_ARRAY || res.u.a.len != 2 ||
      res.u.a.items[0].type != MGR_T_BOOL)
    return mgri_pcall_bad(p, "[swapped, current]");
  if (swapped) *swapped = res.u.a.items[0].u.b;
  return current ? mgri_result_out(&res.u.a.items[1], current) : MGR_OK;
}

mgr_value mgri_wire_bound(mgr_bound b) {
  return b.given ? mgr_int(b.value) : mgr_nil();
}

int mgri_pcall_wait(mgr_proxy *p, uint64_t op, const mgr_value *args, size_t n,
                    mgr_value *res, int64_t wait_ms) {
  if (!p) return MGR_EINVAL;
  return mgri_callm_wait(p->m, op, p->id, args, n, res, wait_ms);
}

mgr_value mgri_wire_timeout(int64_t timeout_ms) {
  if (timeout_ms < 0) return mgr_nil();
  if (timeout_ms % 1000 == 0) return mgr_int(timeout_ms / 1000);
  return mgr_float((double)timeout_ms / 1000.0);
}

void mgri_wire_block(int64_t timeout_ms, mgr_value out[2]) {
  out[0] = mgr_bool(timeout_ms != 0);
  out[1] = timeout_ms > 0 ? mgri_wire_timeout(timeout_ms) : mgr_nil();
}
