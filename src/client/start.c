/* mgr client: starting a manager in a child process (as Python's Manager()
 * does), connecting to one, and shutting it down. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/coverage.h"
#include "internal.h"
#include "mgr/error.h"
#include "mgr/server.h"

int mgr_connect(const char *address, const mgr_options *opt, mgr_client **out) {
  if (!address || !out) return MGR_EINVAL;
  mgr_client *m;
  int rc = mgri_client_new(address, opt, &m);
  if (rc != MGR_OK) return rc;
  mgri_conn *c = mgri_conn_get(m, &rc);
  if (!c) {
    mgri_client_free(m);
    return rc;
  }
  *out = m;
  return MGR_OK;
}

static void reap(pid_t pid) {
  int st;
  while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
  }
}

/* Closes every descriptor the server child inherited but stdio and keep, so
 * that it holds no pipe or socket of the application's (a peer waiting for
 * their end-of-file would wait forever). One close() each, not close_range():
 * under LTTng's liblttng-ust-fd.so (traces/record preloads it) close() leaves
 * the tracer's own descriptors alone; close_range() and dup2() would pull
 * them out from under it. The library's own connections were closed by its
 * atfork child handler already. */
static void close_inherited(int keep) {
  DIR *d = opendir("/proc/self/fd");
  if (!d) return;
  int self = dirfd(d), *fds = NULL;
  size_t n = 0, cap = 0;
  struct dirent *e;
  while ((e = readdir(d))) {
    int fd = atoi(e->d_name);
    if (fd <= 2 || fd == keep || fd == self || e->d_name[0] == '.') continue;
    if (n == cap) {
      int *nf = realloc(fds, (cap = cap ? 2 * cap : 64) * sizeof *fds);
      if (!nf) break;
      fds = nf;
    }
    fds[n++] = fd;
  }
  closedir(d);
  for (size_t i = 0; i < n; i++)
    close(fds[i]);
  free(fds);
}

/* The server child: runs the server from this library's code. */
static void serve(const char *path, const char *dir, const mgr_options *o,
                  const uint8_t *key, size_t keylen, pid_t parent, int ready) {
  prctl(PR_SET_PDEATHSIG, SIGTERM);
  if (getppid() != parent) _exit(1); /* the parent died before prctl */
  close_inherited(ready);
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, NULL);
  signal(SIGPIPE, SIG_IGN);
  mgr_server_options so;
  mgr_server_options_init(&so);
  so.address = path;
  so.max_frame = o->max_frame;
  so.max_memory = o->max_memory;
  so.ready_fd = ready;
  so.authkey = keylen ? key : NULL;
  so.authkey_len = keylen;
  so.keepalive_idle_ms = o->keepalive_idle_ms;
  so.keepalive_interval_ms = o->keepalive_interval_ms;
  so.keepalive_count = o->keepalive_count;
  int rc = mgr_server_run(&so);
  if (dir) {
    unlink(path);
    rmdir(dir);
  }
  MGRI_COVERAGE_FLUSH(); /* _exit() writes no coverage counters */
  _exit(rc == MGR_OK ? 0 : 1);
}

int mgr_start(const mgr_options *opt, mgr_client **out) {
  if (!out) return MGR_EINVAL;
  mgr_options o;
  if (mgri_options_get(opt, &o)) return MGR_EINVAL;
  char *dir = NULL;
  char path[MGRI_ADDR_TEXT_MAX];
  mgri_addr a;
  uint8_t key[MGRI_AUTHKEY_MAX];
  size_t keylen = 0;
  char err[256];
  if (o.address) {
    if (mgri_addr_parse(o.address, &a, err, sizeof err) != MGR_OK) {
      mgri_seterr(NULL, "%s", err);
      return MGR_EINVAL;
    }
    if (a.kind == MGRI_ADDR_TLS) {
      mgri_seterr(NULL, "mgr_start() does not start TLS managers: run mgrd "
                        "--tls-cert --tls-key (or mgr_server_run) and "
                        "mgr_connect()");
      return MGR_EINVAL;
    }
    /* The server gets the key its first client will prove. */
    int rc = mgri_transport_key(&o, &a, key, &keylen, err, sizeof err);
    if (rc == MGR_OK && a.kind == MGRI_ADDR_TCP && !keylen) {
      snprintf(err, sizeof err,
               "%s: a manager over TCP needs an authkey (mgr_options.authkey "
               "or authkey_file, or $MGR_AUTHKEY_FILE)",
               o.address);
      rc = MGR_EINVAL;
    }
    if (rc != MGR_OK) {
      mgri_seterr(NULL, "%s", err);
      return rc;
    }
  }
  if (!o.address) {
    /* Not from a setuid caller's environment. */
    const char *tmp = secure_getenv("TMPDIR");
    if (!tmp || !*tmp) tmp = "/tmp";
    if (asprintf(&dir, "%s/mgr-XXXXXX", tmp) < 0) return MGR_ENOMEM;
    if (!mkdtemp(dir)) { /* mkdtemp makes it 0700 */
      mgri_seterr(NULL, "mkdtemp %s: %s", dir, strerror(errno));
      free(dir);
      return MGR_ESYS;
    }
    if ((size_t)snprintf(path, sizeof path, "%s/mgr.sock", dir) >=
        MGRI_ADDR_PATH_MAX) {
      mgri_seterr(NULL, "socket path too long under %s", tmp);
      rmdir(dir);
      free(dir);
      return MGR_EINVAL;
    }
  } else {
    snprintf(path, sizeof path, "%s", o.address);
  }
  int pfd[2];
  if (pipe2(pfd, O_CLOEXEC) < 0) {
    mgri_seterr(NULL, "pipe: %s", strerror(errno));
    if (dir) rmdir(dir);
    free(dir);
    return MGR_ESYS;
  }
  pid_t parent = getpid();
  pid_t pid = fork();
  if (pid < 0) {
    mgri_seterr(NULL, "fork: %s", strerror(errno));
    close(pfd[0]);
    close(pfd[1]);
    if (dir) rmdir(dir);
    free(dir);
    return MGR_ESYS;
  }
  if (pid == 0) {
    close(pfd[0]);
    serve(path, dir, &o, key, keylen, parent, pfd[1]);
  }
  explicit_bzero(key, sizeof key);
  close(pfd[1]);
  /* Readiness: a byte, then the address it listens on (a TCP port 0
   * replaced by the one it took), then the end of the stream. */
  char ready[1 + MGRI_ADDR_TEXT_MAX + 1];
  size_t got = 0;
  for (;;) {
    ssize_t r = read(pfd[0], ready + got, sizeof ready - 1 - got);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    got += (size_t)r;
    if (got == sizeof ready - 1) break;
  }
  ready[got] = '\0';
  close(pfd[0]);
  int rc = MGR_OK;
  mgr_client *m = NULL;
  char *nl = got > 1 ? strchr(ready + 1, '\n') : NULL;
  if (!got || ready[0] != 1 || !nl) {
    mgri_seterr(NULL, "the manager process failed to start");
    rc = MGR_ESYS;
  } else {
    *nl = '\0';
    rc = mgr_connect(ready + 1, &o, &m);
  }
  if (rc != MGR_OK) {
    if (got) kill(pid, SIGTERM);
    reap(pid);
    if (dir) {
      unlink(path);
      rmdir(dir);
    }
    free(dir);
    return rc;
  }
  m->child = pid;
  m->starter = parent;
  m->tmpdir = dir;
  *out = m;
  return MGR_OK;
}

int mgr_shutdown(mgr_client *m) {
  if (!m) return MGR_EINVAL;
  int rc = mgri_callm(m, MGRI_OP_SHUTDOWN, 0, NULL, 0, NULL);
  pid_t child = m->child;
  bool ours = child > 0 && m->starter == getpid();
  char *dir = m->tmpdir;
  char *path = strdup(m->address);
  m->tmpdir = NULL;
  mgri_client_free(m);
  if (ours) {
    if (rc != MGR_OK && rc != MGR_ECLOSED) kill(child, SIGTERM);
    reap(child);
    if (dir) {
      if (path) unlink(path);
      rmdir(dir);
    }
  }
  free(path);
  free(dir);
  return rc;
}

void mgr_close(mgr_client *m) { mgri_client_free(m); }

int mgr_ping(mgr_client *m) {
  if (!m) return MGR_EINVAL;
  return mgri_callm(m, MGRI_OP_PING, 0, NULL, 0, NULL);
}

int mgr_objects(mgr_client *m, mgr_value *out) {
  if (!m || !out) return MGR_EINVAL;
  *out = mgr_nil();
  mgr_value res;
  int rc = mgri_callm(m, MGRI_OP_LIST, 0, NULL, 0, &res);
  if (rc != MGR_OK) return rc;
  return mgri_result_out(&res, out);
}

int mgr_stats(mgr_client *m, mgr_value *out) {
  if (!m || !out) return MGR_EINVAL;
  *out = mgr_nil();
  mgr_value res;
  int rc = mgri_callm(m, MGRI_OP_STATS, 0, NULL, 0, &res);
  if (rc != MGR_OK) return rc;
  return mgri_result_out(&res, out);
}

int mgr_dump(mgr_client *m, uint64_t id, mgr_value *out) {
  if (!m || !out) return MGR_EINVAL;
  *out = mgr_nil();
  if (id == 0 || id > INT64_MAX) return MGR_EINVAL;
  mgr_value res;
  int rc = mgri_callm(m, MGRI_OP_DUMP, id, NULL, 0, &res);
  if (rc != MGR_OK) return rc;
  return mgri_result_out(&res, out);
}
