/* mgr example — workers in lock-step phases, the C port of:
 *
 *   def worker(b, results, k):
 *       for phase in range(PHASES):
 *           results[phase * N + k] = phase * 10 + k   # this phase's work
 *           b.wait()                                  # everyone finished it
 *           # ...so every result of the phase is there to read:
 *           assert all(results[phase * N + j] is not None for j in range(N))
 *   with Manager() as m:
 *       b = m.Barrier(N)
 *       results = m.list([None] * (N * PHASES))
 *
 * A worker that reads its peers' results after the barrier always finds
 * them: nobody passes the barrier until every party has reached it. */
#include <mgr/mgr.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

#define N 4
#define PHASES 5

static int worker(mgr_proxy *b, mgr_proxy *results, int k) {
  for (int phase = 0; phase < PHASES; phase++) {
    mgr_value v = mgr_int(phase * 10 + k);
    if (mgr_list_set(results, phase * N + k, &v) != MGR_OK) return 1;
    if (mgr_barrier_wait(b, -1, NULL) != MGR_OK) return 2;
    for (int j = 0; j < N; j++) {
      mgr_value r;
      if (mgr_list_get(results, phase * N + j, &r) != MGR_OK) return 3;
      bool there = r.type == MGR_T_INT && r.u.i == phase * 10 + j;
      mgr_value_free(&r);
      if (!there) return 4; /* a peer's result missing: the barrier failed */
    }
  }
  return 0;
}

int main(void) {
  mgr_client *m;
  int rc = mgr_start(NULL, &m);
  if (rc != MGR_OK) {
    fprintf(stderr, "mgr_start: %s: %s\n", mgr_err_name(rc), mgr_errmsg(NULL));
    return 1;
  }
  mgr_value none[N * PHASES];
  for (int i = 0; i < N * PHASES; i++)
    none[i] = mgr_nil();
  mgr_value init = mgr_array(none, N * PHASES);
  mgr_proxy *b = NULL, *results = NULL;
  if ((rc = mgr_barrier_new(m, N, -1, &b)) != MGR_OK ||
      (rc = mgr_list_new(m, &init, &results)) != MGR_OK) {
    fprintf(stderr, "create: %s: %s\n", mgr_err_name(rc), mgr_errmsg(m));
    mgr_shutdown(m);
    return 1;
  }
  fflush(stdout);
  pid_t pids[N];
  for (int k = 0; k < N; k++)
    if ((pids[k] = fork()) == 0) _exit(worker(b, results, k));
  int failed = 0;
  for (int k = 0; k < N; k++) {
    int st = 0;
    if (pids[k] < 0 || waitpid(pids[k], &st, 0) < 0 || !WIFEXITED(st) ||
        WEXITSTATUS(st) != 0)
      failed++;
  }
  mgr_value all;
  if ((rc = mgr_list_copy(results, &all)) == MGR_OK) {
    char buf[512];
    mgr_value_repr(&all, buf, sizeof buf);
    printf("%d workers, %d phases, each phase complete before the next: %s\n",
           N, PHASES, failed ? "NO" : "yes");
    printf("results: %s\n", buf);
    mgr_value_free(&all);
  }
  mgr_release(b);
  mgr_release(results);
  mgr_shutdown(m);
  return rc == MGR_OK && !failed ? 0 : 1;
}
