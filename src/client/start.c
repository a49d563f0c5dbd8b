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
  for (size_t i = 0; i < n; i++) close(fds[i]);
  free(fds);
}

/* The server child: runs the server from this library's code. */
static void serve(const char *path, const char *dir, const mgr_options *o,
                  pid_t parent, int ready) {
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
  int rc = mgr_server_run(&so);
  if (dir) {
    unlink(path);
    rmdir(dir);
  }
  _exit(rc == MGR_OK ? 0 : 1);
}

int mgr_start(const mgr_options *opt, mgr_client **out) {
  if (!out) return MGR_EINVAL;
  mgr_options o;
  if (mgri_options_get(opt, &o)) return MGR_EINVAL;
  char *dir = NULL;
  char path[sizeof ((struct sockaddr_un *)0)->sun_path];
  if (!o.address) {
    const char *tmp = getenv("TMPDIR");
    if (!tmp || !*tmp) tmp = "/tmp";
    if (asprintf(&dir, "%s/mgr-XXXXXX", tmp) < 0) return MGR_ENOMEM;
    if (!mkdtemp(dir)) { /* mkdtemp makes it 0700 */
      mgri_seterr(NULL, "mkdtemp %s: %s", dir, strerror(errno));
      free(dir);
      return MGR_ESYS;
    }
    if ((size_t)snprintf(path, sizeof path, "%s/mgr.sock", dir) >= sizeof path) {
      mgri_seterr(NULL, "socket path too long under %s", tmp);
      rmdir(dir);
      free(dir);
      return MGR_EINVAL;
    }
  } else {
    if ((size_t)snprintf(path, sizeof path, "%s", o.address) >= sizeof path) {
      mgri_seterr(NULL, "socket path too long");
      return MGR_EINVAL;
    }
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
    serve(path, dir, &o, parent, pfd[1]);
  }
  close(pfd[1]);
  char b;
  ssize_t n;
  do {
    n = read(pfd[0], &b, 1);
  } while (n < 0 && errno == EINTR);
  close(pfd[0]);
  int rc = MGR_OK;
  mgr_client *m = NULL;
  if (n != 1) {
    mgri_seterr(NULL, "the manager process failed to start");
    rc = MGR_ESYS;
  } else {
    rc = mgr_connect(path, &o, &m);
  }
  if (rc != MGR_OK) {
    if (n == 1) kill(pid, SIGTERM);
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
