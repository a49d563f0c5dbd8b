/* mgr tests — mgr_start()'s refusals and where it puts its socket (spec
 * 2.2): options never initialised, an address that does not parse, a
 * TMPDIR that is empty, missing or too deep for a socket path, a manager
 * that cannot listen where it is told; each refused with its code and
 * message, with no process and no directory left behind. */
/* clang-format off */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
/* clang-format on */

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mgr/client.h"
#include "mgr/error.h"

static char dir[64];

static int setup(void **state) {
  (void)state;
  snprintf(dir, sizeof dir, "/tmp/mgr-start.XXXXXX");
  return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state) {
  (void)state;
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  return system(cmd) == 0 ? 0 : -1;
}

static void has(const char *msg, const char *want) {
  if (!strstr(msg, want)) fail_msg("'%s' lacks '%s'", msg, want);
}

/* No child of ours is left, running or unreaped. */
static void no_child(void) {
  assert_int_equal(waitpid(-1, NULL, WNOHANG), -1);
  assert_int_equal(errno, ECHILD);
}

static size_t entries(const char *path) {
  DIR *d = opendir(path);
  assert_non_null(d);
  size_t n = 0;
  struct dirent *e;
  while ((e = readdir(d)))
    if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) n++;
  closedir(d);
  return n;
}

/* Options never initialised (size 0) and an address that does not parse:
 * MGR_EINVAL before anything is made. */
static void test_refused_options(void **state) {
  (void)state;
  mgr_client *m = NULL;
  mgr_options o;
  memset(&o, 0, sizeof o);
  assert_int_equal(mgr_start(&o, &m), MGR_EINVAL);
  assert_null(m);
  mgr_options_init(&o);
  o.address = "tcp://127.0.0.1";
  assert_int_equal(mgr_start(&o, &m), MGR_EINVAL);
  assert_null(m);
  assert_true(*mgr_errmsg(NULL));
  no_child();
}

/* TMPDIR empty or unset: /tmp. A TMPDIR that does not exist: MGR_ESYS,
 * saying mkdtemp. One so deep that DIR/mgr-XXXXXX/mgr.sock does not fit a
 * socket path: MGR_EINVAL, the directory it made removed. */
static void test_tmpdir(void **state) {
  (void)state;
  mgr_client *m = NULL;
  const char *old = getenv("TMPDIR");
  char *saved = old ? strdup(old) : NULL;

  assert_int_equal(setenv("TMPDIR", "", 1), 0);
  assert_int_equal(mgr_start(NULL, &m), MGR_OK);
  assert_int_equal(strncmp(mgr_address(m), "/tmp/mgr-", 9), 0);
  assert_int_equal(mgr_ping(m), MGR_OK);
  char path[256];
  snprintf(path, sizeof path, "%s", mgr_address(m));
  assert_int_equal(mgr_shutdown(m), MGR_OK);
  assert_int_equal(access(path, F_OK), -1); /* socket and directory gone */
  *strrchr(path, '/') = '\0';
  assert_int_equal(access(path, F_OK), -1);
  no_child();

  char missing[128];
  snprintf(missing, sizeof missing, "%s/none", dir);
  assert_int_equal(setenv("TMPDIR", missing, 1), 0);
  m = NULL;
  assert_int_equal(mgr_start(NULL, &m), MGR_ESYS);
  assert_null(m);
  has(mgr_errmsg(NULL), "mkdtemp ");
  has(mgr_errmsg(NULL), missing);
  no_child();

  /* 80 more bytes: with "/mgr-XXXXXX/mgr.sock" past the 107 a path holds. */
  char deep[256];
  int n = snprintf(deep, sizeof deep, "%s/", dir);
  memset(deep + n, 'd', 80);
  deep[n + 80] = '\0';
  assert_int_equal(mkdir(deep, 0700), 0);
  assert_int_equal(setenv("TMPDIR", deep, 1), 0);
  assert_int_equal(mgr_start(NULL, &m), MGR_EINVAL);
  assert_null(m);
  has(mgr_errmsg(NULL), "socket path too long under ");
  assert_int_equal(entries(deep), 0);
  no_child();

  if (saved) {
    assert_int_equal(setenv("TMPDIR", saved, 1), 0);
    free(saved);
  } else {
    assert_int_equal(unsetenv("TMPDIR"), 0);
  }
}

/* A Unix socket path in a directory that does not exist: the manager
 * process cannot listen and says nothing; mgr_start gives MGR_ESYS, having
 * reaped it. The same path in a private directory works. */
static void test_cannot_listen(void **state) {
  (void)state;
  char path[128];
  snprintf(path, sizeof path, "%s/none/mgr.sock", dir);
  mgr_options o;
  mgr_options_init(&o);
  o.address = path;
  mgr_client *m = NULL;
  assert_int_equal(mgr_start(&o, &m), MGR_ESYS);
  assert_null(m);
  has(mgr_errmsg(NULL), "the manager process failed to start");
  no_child();

  snprintf(path, sizeof path, "%s/mgr.sock", dir);
  assert_int_equal(mgr_start(&o, &m), MGR_OK);
  assert_string_equal(mgr_address(m), path);
  assert_int_equal(mgr_ping(m), MGR_OK);
  assert_int_equal(mgr_shutdown(m), MGR_OK);
  no_child();
}

/* mgr_shutdown() from a process that did not start the manager (a fork
 * child of the starter): the manager is told to shut down, but only the
 * starter reaps it, when it calls mgr_shutdown() in turn (whatever that
 * call finds: the manager still answering, or already gone, MGR_ECLOSED or
 * MGR_ECONNECT); the socket and its directory are gone after. */
static void test_shutdown_not_starter(void **state) {
  (void)state;
  mgr_client *m = NULL;
  assert_int_equal(mgr_start(NULL, &m), MGR_OK);
  char path[256];
  snprintf(path, sizeof path, "%s", mgr_address(m));
  fflush(stdout);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) _exit(mgr_shutdown(m) == MGR_OK ? 0 : 1);
  int st;
  assert_int_equal(waitpid(pid, &st, 0), pid);
  assert_true(WIFEXITED(st));
  assert_int_equal(WEXITSTATUS(st), 0);
  /* The manager is on its way out (the child's SHUTDOWN); whether the
   * starter's own SHUTDOWN still finds it depends on that timing. */
  int rc = mgr_shutdown(m);
  if (rc != MGR_OK && rc != MGR_ECLOSED && rc != MGR_ECONNECT)
    fail_msg("the starter's mgr_shutdown: %s", mgr_err_name(rc));
  assert_int_equal(access(path, F_OK), -1);
  *strrchr(path, '/') = '\0';
  assert_int_equal(access(path, F_OK), -1);
  no_child();
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_refused_options),
      cmocka_unit_test(test_tmpdir),
      cmocka_unit_test(test_cannot_listen),
      cmocka_unit_test(test_shutdown_not_starter),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
