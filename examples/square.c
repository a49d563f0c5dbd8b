/* mgr example — the C port of:
 *
 *   def square(x, result): result[x] = x * x
 *   with Manager() as manager:
 *       result = manager.dict()
 *       ps = [Process(target=square, args=(x, result)) for x in (1, 22)]
 *       ...
 *       print(f"[Main] result = {dict(sorted(result.items()))}")
 *
 * The workers race, so the dict's insertion order varies; the result is
 * printed in key order to be the same every run. */
#include <mgr/mgr.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

int main(void) {
  static const int64_t xs[2] = {1, 22};
  mgr_client *m;
  int rc = mgr_start(NULL, &m);
  if (rc != MGR_OK) {
    fprintf(stderr, "mgr_start: %s: %s\n", mgr_err_name(rc), mgr_errmsg(NULL));
    return 1;
  }
  mgr_proxy *result;
  if ((rc = mgr_dict_new(m, NULL, &result)) != MGR_OK) {
    fprintf(stderr, "dict: %s: %s\n", mgr_err_name(rc), mgr_errmsg(m));
    mgr_shutdown(m);
    return 1;
  }
  fflush(stdout);
  pid_t pids[2];
  for (int i = 0; i < 2; i++) {
    pids[i] = fork();
    if (pids[i] == 0) {
      mgr_value k = mgr_int(xs[i]), v = mgr_int(xs[i] * xs[i]);
      _exit(mgr_dict_set(result, &k, &v) == MGR_OK ? 0 : 1);
    }
  }
  int failed = 0;
  for (int i = 0; i < 2; i++) {
    int st = 0;
    if (pids[i] < 0 || waitpid(pids[i], &st, 0) < 0 || !WIFEXITED(st) ||
        WEXITSTATUS(st) != 0)
      failed++;
  }
  /* Rebuild the dict in key order for a stable print. */
  mgr_value got[2] = {mgr_nil(), mgr_nil()};
  mgr_value pairs[4];
  for (int i = 0; i < 2 && rc == MGR_OK; i++) {
    mgr_value k = mgr_int(xs[i]);
    rc = mgr_dict_get(result, &k, &got[i]);
    pairs[2 * i] = k;
    pairs[2 * i + 1] = got[i];
  }
  if (rc == MGR_OK) {
    mgr_value sorted = mgr_map(pairs, 2);
    char buf[128];
    mgr_value_repr(&sorted, buf, sizeof buf);
    printf("[Main] result = %s\n", buf);
  } else {
    fprintf(stderr, "get: %s: %s\n", mgr_err_name(rc), mgr_errmsg(m));
  }
  for (int i = 0; i < 2; i++)
    mgr_value_free(&got[i]);
  mgr_release(result);
  mgr_shutdown(m);
  return rc == MGR_OK && !failed ? 0 : 1;
}
