/* mgr example — the lost update, and two ways to avoid it.
 *
 * N workers each add 1 to a shared counter M times:
 *   racy:   v = c.get(); c.set(v + 1)   (Python's c.value += 1: two messages;
 *           another worker's set can land in between and is overwritten)
 *   atomic: mgr_var_incr_int           (one message, atomic on the server)
 *   locked: lock; get; set; unlock     (a manager Lock around the two)
 * Prints one parseable line per way:
 *   racy: expected=8000 got=5123 lost=2877
 * Usage: lost_update [--workers N] [--iterations M] [--only racy|atomic|locked]
 * (--only runs one way: traces/check records each alone). */
#include <mgr/mgr.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

enum way { RACY, ATOMIC, LOCKED };
static mgr_client *g_m;
static const char *const names[] = {"racy", "atomic", "locked"};

static int work(enum way way, mgr_proxy *c, mgr_proxy *lk, long iters) {
  for (long i = 0; i < iters; i++) {
    int rc;
    mgr_value v;
    switch (way) {
    case ATOMIC:
      rc = mgr_var_incr_int(c, 1, NULL);
      break;
    case LOCKED:
      rc = mgr_lock_acquire(lk, -1, NULL);
      if (rc != MGR_OK) break;
      /* fallthrough */
    case RACY:
      rc = mgr_var_get(c, &v);
      if (rc == MGR_OK) {
        mgr_value n = mgr_int(v.u.i + 1);
        rc = mgr_var_set(c, &n);
      }
      if (way == LOCKED) {
        int r2 = mgr_lock_release(lk);
        if (rc == MGR_OK) rc = r2;
      }
      break;
    }
    if (rc != MGR_OK) {
      fprintf(stderr, "%s: %s\n", mgr_err_name(rc), mgr_errmsg(g_m));
      return 1;
    }
  }
  return 0;
}

/* Runs the workers, released together by closing a pipe; the counter's final
 * value, or -1. */
static int64_t run(enum way way, mgr_proxy *c, mgr_proxy *lk, long workers,
                   long iters) {
  mgr_value zero = mgr_int(0);
  if (mgr_var_set(c, &zero) != MGR_OK) return -1;
  int go[2];
  if (pipe(go) < 0) return -1;
  fflush(stdout);
  pid_t *pids = calloc((size_t)workers, sizeof *pids);
  if (!pids) return -1;
  for (long w = 0; w < workers; w++) {
    pids[w] = fork();
    if (pids[w] == 0) {
      char b;
      close(go[1]);
      while (read(go[0], &b, 1) < 0) {
      }
      _exit(work(way, c, lk, iters));
    }
  }
  close(go[0]);
  close(go[1]);
  int failed = 0;
  for (long w = 0; w < workers; w++) {
    int st = 0;
    if (pids[w] < 0 || waitpid(pids[w], &st, 0) < 0 || !WIFEXITED(st) ||
        WEXITSTATUS(st) != 0)
      failed = 1;
  }
  free(pids);
  mgr_value v;
  if (failed || mgr_var_get(c, &v) != MGR_OK || v.type != MGR_T_INT) return -1;
  return v.u.i;
}

static long arg_long(const char *s) {
  char *end;
  long v = strtol(s, &end, 10);
  return *s && !*end && v > 0 && v <= 1000000 ? v : -1;
}

int main(int argc, char **argv) {
  long workers = 8, iters = 1000;
  int first = RACY, last = LOCKED;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--only") && i + 1 < argc) {
      const char *w = argv[++i];
      first = !strcmp(w, "racy")     ? RACY
              : !strcmp(w, "atomic") ? ATOMIC
              : !strcmp(w, "locked") ? LOCKED
                                     : -1;
      if (first < 0) {
        fprintf(stderr, "%s: --only racy|atomic|locked\n", argv[0]);
        return 2;
      }
      last = first;
      continue;
    }
    long *dst = !strcmp(argv[i], "--workers")      ? &workers
                : !strcmp(argv[i], "--iterations") ? &iters
                                                   : NULL;
    if (!dst || i + 1 >= argc || (*dst = arg_long(argv[++i])) < 0) {
      fprintf(stderr, "usage: %s [--workers N] [--iterations M] [--only WAY]\n",
              argv[0]);
      return 2;
    }
  }
  mgr_client *m;
  int rc = mgr_start(NULL, &m);
  if (rc != MGR_OK) {
    fprintf(stderr, "mgr_start: %s: %s\n", mgr_err_name(rc), mgr_errmsg(NULL));
    return 1;
  }
  g_m = m;
  mgr_proxy *c = NULL, *lk = NULL;
  int status = 0;
  if ((rc = mgr_var_new(m, NULL, &c)) != MGR_OK ||
      (rc = mgr_lock_new(m, &lk)) != MGR_OK) {
    fprintf(stderr, "create: %s: %s\n", mgr_err_name(rc), mgr_errmsg(m));
    status = 1;
  }
  int64_t expected = (int64_t)workers * iters;
  for (int way = first; status == 0 && way <= last; way++) {
    int64_t got = run((enum way)way, c, lk, workers, iters);
    if (got < 0) {
      fprintf(stderr, "%s: a worker failed\n", names[way]);
      status = 1;
      break;
    }
    printf("%s: expected=%lld got=%lld lost=%lld\n", names[way],
           (long long)expected, (long long)got, (long long)(expected - got));
    if (way != RACY && got != expected) status = 1;
  }
  mgr_release(lk);
  mgr_release(c);
  mgr_shutdown(m);
  return status;
}
