/* mgr tests — helpers for the integration tests (test_client, test_incr,
 * test_fork, test_model): value shorthands, repr, forked children. Include
 * after cmocka.h. */
#ifndef MGR_TEST_CLIENT_UTIL_H
#define MGR_TEST_CLIENT_UTIL_H

#include <errno.h>
#include <mgr/mgr.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define I(x) mgr_int(x)
#define T(s) mgr_text(s)

/* Asserts rc == want, printing both names and the manager's message. */
#define assert_rc(m, rc, want)                                                 \
  do {                                                                         \
    int rc_ = (rc), want_ = (want);                                            \
    if (rc_ != want_)                                                          \
      fail_msg("%s: got %s, want %s (%s)", #rc, mgr_err_name(rc_),             \
               mgr_err_name(want_), mgr_errmsg(m));                            \
  } while (0)
#define assert_ok(m, rc) assert_rc(m, rc, MGR_OK)

/* repr into a rotating static buffer (for assert_string_equal). */
static inline const char *cu_repr(const mgr_value *v) {
  static char bufs[4][4096];
  static int k;
  char *b = bufs[k++ & 3];
  mgr_value_repr(v, b, sizeof bufs[0]);
  return b;
}

/* Asserts repr(v) == want and frees v. */
#define assert_repr(v, want)                                                   \
  do {                                                                         \
    mgr_value *v_ = &(v);                                                      \
    assert_string_equal(cu_repr(v_), want);                                    \
    mgr_value_free(v_);                                                        \
  } while (0)

/* A manager for a test: started (mgr_start) unless $MGR_TEST_ADDRESS names a
 * running one (tests/extra runs the suite against mgrd under valgrind). */
static inline mgr_client *cu_start(void) {
  mgr_client *m = NULL;
  const char *addr = getenv("MGR_TEST_ADDRESS");
  int rc = addr ? mgr_connect(addr, NULL, &m) : mgr_start(NULL, &m);
  if (rc != MGR_OK)
    fail_msg("%s: %s (%s)", addr ? "mgr_connect" : "mgr_start",
             mgr_err_name(rc), mgr_errmsg(NULL));
  return m;
}

/* Ends a test's manager: shuts down one it started, disconnects from an
 * external one (which must outlive the test). */
static inline int cu_stop(mgr_client *m) {
  if (getenv("MGR_TEST_ADDRESS")) {
    mgr_close(m);
    return MGR_OK;
  }
  return mgr_shutdown(m);
}

/* Child exit codes: 0 ok; 100 + k for "check k failed". A child must leave
 * with _exit() (no cmocka, no atexit, no sanitizer leak pass over the parent's
 * heap). */
#define CU_CHECK(k, cond)                                                      \
  do {                                                                         \
    if (!(cond)) {                                                             \
      fprintf(stderr, "child check %d failed: %s (line %d)\n", (k), #cond,     \
              __LINE__);                                                       \
      _exit(100 + (k));                                                        \
    }                                                                          \
  } while (0)

static inline int cu_wait(pid_t pid) {
  int st = 0;
  while (waitpid(pid, &st, 0) < 0)
    if (errno != EINTR) return -1;
  if (WIFEXITED(st)) return WEXITSTATUS(st);
  if (WIFSIGNALED(st)) return 1000 + WTERMSIG(st);
  return -1;
}

#define assert_child_ok(pid) assert_int_equal(cu_wait(pid), 0)

/* A pipe used as a one-shot signal between processes. */
typedef struct cu_pipe {
  int r, w;
} cu_pipe;

static inline cu_pipe cu_pipe_new(void) {
  int fds[2];
  if (pipe(fds) < 0) fail_msg("pipe: %s", strerror(errno));
  cu_pipe p = {fds[0], fds[1]};
  return p;
}
static inline void cu_signal(cu_pipe p) {
  char b = 1;
  while (write(p.w, &b, 1) < 0 && errno == EINTR) {
  }
}
/* 1 when signalled, 0 at end of stream (writer gone). */
static inline int cu_waitsig(cu_pipe p) {
  char b;
  ssize_t n;
  while ((n = read(p.r, &b, 1)) < 0 && errno == EINTR) {
  }
  return n == 1;
}
static inline void cu_pipe_close(cu_pipe p) {
  close(p.r);
  close(p.w);
}

/* True when the manager lists an object with this id. */
static inline int cu_has_object(mgr_client *m, uint64_t id) {
  mgr_value objs;
  if (mgr_objects(m, &objs) != MGR_OK) return -1;
  int found = 0;
  for (size_t i = 0; i < objs.u.a.len; i++) {
    const mgr_value *o = &objs.u.a.items[i];
    if (o->type == MGR_T_ARRAY && o->u.a.len >= 1 &&
        o->u.a.items[0].type == MGR_T_INT &&
        (uint64_t)o->u.a.items[0].u.i == id)
      found = 1;
  }
  mgr_value_free(&objs);
  return found;
}

#endif
