/* mgr tests — helpers for the integration tests (test_client, test_incr,
 * test_fork, test_model): value shorthands, repr, forked children. Include
 * after cmocka.h. */
#ifndef MGR_TEST_CLIENT_UTIL_H
#define MGR_TEST_CLIENT_UTIL_H

#include <errno.h>
#include <mgr/mgr.h>
#include <stdio.h>
#include <stdlib.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
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

/* The transport the client tests run over: $MGR_TEST_TRANSPORT is unix
 * (the default: mgr_start on a private socket, the shared-memory transport
 * of spec 2.10 on top of it), unix-socket (the same with MGR_SHM=0
 * exported, so every client of the test, forked ones too, keeps to the
 * socket), tcp (mgr_start on
 * tcp://127.0.0.1:0 with an authkey) or tls (a server forked here with
 * mgr_server_run on tls://127.0.0.1:0, an authkey and certificates made by
 * tests/tls-certs). For tcp and tls the key file and the CA are exported
 * as MGR_AUTHKEY_FILE and MGR_TLS_CA, so every mgr_connect() of a test and
 * every mgrctl it runs finds them, as a remote worker would (spec 2.8). */
static inline const char *cu_transport(void) {
  const char *t = getenv("MGR_TEST_TRANSPORT");
  if (!t || !*t) return "unix";
  if (strcmp(t, "unix") && strcmp(t, "unix-socket") && strcmp(t, "tcp") &&
      strcmp(t, "tls"))
    fail_msg("MGR_TEST_TRANSPORT=%s: not unix, unix-socket, tcp or tls", t);
  return t;
}

/* The directory of the key and certificates (made once per process,
 * removed at exit by the process that made it). */
static char cu_secrets[64];
static pid_t cu_secrets_owner;

static inline void cu_secrets_rm(void) {
  if (getpid() != cu_secrets_owner || !cu_secrets[0]) return;
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", cu_secrets);
  if (system(cmd) != 0) fprintf(stderr, "cannot remove %s\n", cu_secrets);
}

static inline const char *cu_secrets_dir(bool tls) {
  if (cu_secrets[0]) return cu_secrets;
  snprintf(cu_secrets, sizeof cu_secrets, "/tmp/mgr-test-keys.XXXXXX");
  if (!mkdtemp(cu_secrets)) fail_msg("mkdtemp: %s", strerror(errno));
  cu_secrets_owner = getpid();
  atexit(cu_secrets_rm);
  char path[128], cmd[256];
  snprintf(path, sizeof path, "%s/authkey", cu_secrets);
  /* As hex: 32 random bytes ending in LF (1 in 256) would be read as 31
   * (spec 2.8: one trailing LF is not part of the key) and refused. */
  snprintf(cmd, sizeof cmd,
           "(umask 077; head -c 32 /dev/urandom | od -An -vtx1 | "
           "tr -d ' \\n' > '%s')",
           path);
  if (system(cmd) != 0) fail_msg("cannot make %s", path);
  setenv("MGR_AUTHKEY_FILE", path, 1);
  if (tls) {
    snprintf(cmd, sizeof cmd, "%s/tests/tls-certs '%s/tls' >/dev/null",
             MGR_SOURCE_DIR, cu_secrets);
    if (system(cmd) != 0) fail_msg("tests/tls-certs failed (openssl missing?)");
    snprintf(path, sizeof path, "%s/tls/ca.pem", cu_secrets);
    setenv("MGR_TLS_CA", path, 1);
  }
  return cu_secrets;
}

/* The TLS managers cu_start forked, to reap in cu_stop. */
static struct {
  mgr_client *m;
  pid_t pid;
} cu_forked[8];

/* Forks a server on tls://127.0.0.1:0 and connects to it. */
static inline int cu_start_tls(mgr_client **out) {
  const char *dir = cu_secrets_dir(true);
  char cert[128], key[128];
  snprintf(cert, sizeof cert, "%s/tls/server.pem", dir);
  snprintf(key, sizeof key, "%s/tls/server.key", dir);
  int p[2];
  if (pipe(p) != 0) return MGR_ESYS;
  fflush(NULL);
  pid_t pid = fork();
  if (pid < 0) return MGR_ESYS;
  if (pid == 0) {
    close(p[0]);
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    mgr_server_options so;
    mgr_server_options_init(&so);
    so.address = "tls://127.0.0.1:0";
    so.authkey_file = getenv("MGR_AUTHKEY_FILE");
    so.tls_cert = cert;
    so.tls_key = key;
    so.ready_fd = p[1];
    int rc = mgr_server_run(&so);
    /* The parent sees only the pipe closed without a ready message: say
     * why here (the library never prints). */
    if (rc != MGR_OK)
      fprintf(stderr, "cu_start_tls: the server did not start: %s (%s)\n",
              mgr_err_name(rc), strerror(errno));
    _exit(rc == MGR_OK ? 0 : 1);
  }
  close(p[1]);
  char ready[512];
  size_t got = 0;
  ssize_t r;
  while (got < sizeof ready - 1 &&
         ((r = read(p[0], ready + got, sizeof ready - 1 - got)) > 0 ||
          (r < 0 && errno == EINTR)))
    if (r > 0) got += (size_t)r;
  close(p[0]);
  ready[got] = '\0';
  char *nl = strchr(ready, '\n');
  if (got < 2 || ready[0] != 1 || !nl) return MGR_ESYS;
  *nl = '\0';
  int rc = mgr_connect(ready + 1, NULL, out);
  if (rc != MGR_OK) {
    kill(pid, SIGTERM);
    waitpid(pid, NULL, 0);
    return rc;
  }
  for (size_t i = 0; i < sizeof cu_forked / sizeof cu_forked[0]; i++)
    if (!cu_forked[i].m) {
      cu_forked[i].m = *out;
      cu_forked[i].pid = pid;
      break;
    }
  return MGR_OK;
}

/* A manager for a test: started over $MGR_TEST_TRANSPORT unless
 * $MGR_TEST_ADDRESS names a running one (tests/extra runs the suite against
 * mgrd under valgrind). */
static inline mgr_client *cu_start(void) {
  mgr_client *m = NULL;
  const char *addr = getenv("MGR_TEST_ADDRESS");
  const char *t = cu_transport();
  int rc;
  if (addr) {
    rc = mgr_connect(addr, NULL, &m);
  } else if (!strcmp(t, "tls")) {
    rc = cu_start_tls(&m);
  } else if (!strcmp(t, "tcp")) {
    cu_secrets_dir(false);
    mgr_options o;
    mgr_options_init(&o);
    o.address = "tcp://127.0.0.1:0";
    rc = mgr_start(&o, &m);
  } else {
    if (!strcmp(t, "unix-socket")) setenv("MGR_SHM", "0", 1);
    rc = mgr_start(NULL, &m);
  }
  if (rc != MGR_OK)
    fail_msg("%s (%s): %s (%s)", addr ? "mgr_connect" : "mgr_start", t,
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
  pid_t pid = 0;
  for (size_t i = 0; i < sizeof cu_forked / sizeof cu_forked[0]; i++)
    if (cu_forked[i].m == m) {
      pid = cu_forked[i].pid;
      cu_forked[i].m = NULL;
    }
  int rc = mgr_shutdown(m);
  if (pid > 0)
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {
    }
  return rc;
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
