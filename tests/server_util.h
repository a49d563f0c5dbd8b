/* mgr tests — helpers for the server's pure tests (test_dict, test_list,
 * test_store, test_var_lock): one harness driving mgri_dispatch without
 * sockets (tests/harness.h), requests, and reply checks. Include after
 * cmocka.h. */
#ifndef MGR_TEST_SERVER_UTIL_H
#define MGR_TEST_SERVER_UTIL_H

#include <string.h>

#include "harness.h"

/* Arguments: A(x, y) expands to (array, count). */
#define A(...)                                                                 \
  (mgr_value[]){__VA_ARGS__},                                                  \
      sizeof((mgr_value[]){__VA_ARGS__}) / sizeof(mgr_value)

static mgri_harness H;
static mgri_sconn *C; /* the default connection, HELLO done */

static inline int su_setup(void **st) {
  (void)st;
  if (mgri_h_init(&H)) return -1;
  C = mgri_h_conn(&H, 0);
  return C ? 0 : -1;
}

static inline int su_teardown(void **st) {
  (void)st;
  mgri_h_fini(&H);
  return 0;
}

/* A request on connection c; the replies of earlier calls are forgotten.
 * NULL when the request was parked (a lock wait) and has no reply yet. */
static inline mgri_hreply *callc(mgri_sconn *c, uint64_t op, uint64_t oid,
                                 const mgr_value *a, size_t n) {
  mgri_h_clear(&H);
  return mgri_h_call(&H, c, op, oid, a, n);
}

/* A request on C that must be answered at once. */
static inline mgri_hreply *call(uint64_t op, uint64_t oid, const mgr_value *a,
                                size_t n) {
  mgri_hreply *r = callc(C, op, oid, a, n);
  assert_non_null(r);
  return r;
}

static inline void ok(mgri_hreply *r) {
  assert_non_null(r);
  if (r->status != MGR_OK)
    fail_msg("expected OK, got %d (%s)", r->status, r->msg);
}

/* The reply is error code, and its message holds text (when not NULL). */
static inline void err(mgri_hreply *r, int code, const char *text) {
  assert_non_null(r);
  if (r->status != code)
    fail_msg("expected %d, got %d (%s)", code, r->status, r->msg);
  if (text && !strstr(r->msg, text))
    fail_msg("message '%s' lacks '%s'", r->msg, text);
}

#endif
