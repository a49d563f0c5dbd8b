/* mgr example — the C port of:
 *
 *   def worker(d, key): d[key] += 1
 *   with Manager() as manager:
 *       d = manager.dict({'a': 0, 'b': 1, 'c': 2})
 *       ps = [Process(target=worker, args=(d, k)) for k in d.keys()]
 *       ...
 *       print("Updated dictionary:", dict(d))
 *
 * One fork()ed worker per key; each increment is one atomic server op. */
#include <mgr/mgr.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

int main(void) {
  mgr_client *m;
  int rc = mgr_start(NULL, &m);
  if (rc != MGR_OK) {
    fprintf(stderr, "mgr_start: %s: %s\n", mgr_err_name(rc), mgr_errmsg(NULL));
    return 1;
  }
  mgr_value pairs[6] = {mgr_text("a"), mgr_int(0),    mgr_text("b"),
                        mgr_int(1),    mgr_text("c"), mgr_int(2)};
  mgr_value init = mgr_map(pairs, 3);
  mgr_proxy *d;
  if ((rc = mgr_dict_new(m, &init, &d)) != MGR_OK) {
    fprintf(stderr, "dict: %s: %s\n", mgr_err_name(rc), mgr_errmsg(m));
    mgr_shutdown(m);
    return 1;
  }
  mgr_value keys;
  if ((rc = mgr_dict_keys(d, &keys)) != MGR_OK) {
    fprintf(stderr, "keys: %s: %s\n", mgr_err_name(rc), mgr_errmsg(m));
    mgr_shutdown(m);
    return 1;
  }
  fflush(stdout);
  pid_t pids[16];
  size_t n = keys.u.a.len < 16 ? keys.u.a.len : 16;
  for (size_t i = 0; i < n; i++) {
    pids[i] = fork();
    if (pids[i] == 0)
      _exit(mgr_dict_incr_int(d, &keys.u.a.items[i], 1, false, NULL) == MGR_OK
                ? 0
                : 1);
  }
  int failed = 0;
  for (size_t i = 0; i < n; i++) {
    int st = 0;
    if (pids[i] < 0 || waitpid(pids[i], &st, 0) < 0 || !WIFEXITED(st) ||
        WEXITSTATUS(st) != 0)
      failed++;
  }
  mgr_value_free(&keys);
  mgr_value copy;
  if ((rc = mgr_dict_copy(d, &copy)) == MGR_OK) {
    char buf[256];
    mgr_value_repr(&copy, buf, sizeof buf);
    printf("Updated dictionary: %s\n", buf);
    mgr_value_free(&copy);
  }
  mgr_release(d);
  mgr_shutdown(m);
  return rc == MGR_OK && !failed ? 0 : 1;
}
