/* mgr example — the C port of:
 *
 *   def worker(shared, i): shared[i] += 1
 *   with Manager() as manager:
 *       shared = manager.list([0, 1, 2, 3, 4])
 *       ps = [Process(target=worker, args=(shared, i)) for i in range(5)]
 *       ...
 *       print("Updated list:", list(shared))
 *
 * Each worker is a fork()ed child using the proxy it inherited. The increment
 * is mgr_list_incr_int: ONE atomic operation on the server (Python's
 * shared[i] += 1 is a get and a set, which only works here because each
 * worker has its own index). */
#include <mgr/mgr.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

#define N 5

int main(void) {
  mgr_client *m;
  int rc = mgr_start(NULL, &m);
  if (rc != MGR_OK) {
    fprintf(stderr, "mgr_start: %s: %s\n", mgr_err_name(rc), mgr_errmsg(NULL));
    return 1;
  }
  mgr_value items[N];
  for (int i = 0; i < N; i++)
    items[i] = mgr_int(i);
  mgr_value init = mgr_array(items, N);
  mgr_proxy *shared;
  if ((rc = mgr_list_new(m, &init, &shared)) != MGR_OK) {
    fprintf(stderr, "list: %s: %s\n", mgr_err_name(rc), mgr_errmsg(m));
    mgr_shutdown(m);
    return 1;
  }
  fflush(stdout);
  pid_t pids[N];
  for (int i = 0; i < N; i++) {
    pids[i] = fork();
    if (pids[i] == 0)
      _exit(mgr_list_incr_int(shared, i, 1, NULL) == MGR_OK ? 0 : 1);
  }
  int failed = 0;
  for (int i = 0; i < N; i++) {
    int st = 0;
    if (pids[i] < 0 || waitpid(pids[i], &st, 0) < 0 || !WIFEXITED(st) ||
        WEXITSTATUS(st) != 0)
      failed++;
  }
  mgr_value copy;
  if ((rc = mgr_list_copy(shared, &copy)) == MGR_OK) {
    char buf[256];
    mgr_value_repr(&copy, buf, sizeof buf);
    printf("Updated list: %s\n", buf);
    mgr_value_free(&copy);
  }
  mgr_release(shared);
  mgr_shutdown(m);
  return rc == MGR_OK && !failed ? 0 : 1;
}
