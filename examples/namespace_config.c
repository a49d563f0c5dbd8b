/* mgr example — a shared Namespace as a configuration and status board, the
 * C port of:
 *
 *   def worker(ns, k):
 *       while not ns.go: ...                 # an Event does the waiting here
 *       setattr(ns, "worker%d" % k, "done with %s" % ns.mode)
 *   with Manager() as m:
 *       ns = m.Namespace(mode="fast", retries=3)
 *       ...start N workers; set ns.go...
 *       print(vars(ns))
 *
 * Attributes are values held by the manager; any process reads and sets them
 * by name. An Event tells the workers when the configuration is ready. */
#include <mgr/mgr.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

#define N 3

static int worker(mgr_proxy *ns, mgr_proxy *ready, int k) {
  bool set = false;
  if (mgr_event_wait(ready, -1, &set) != MGR_OK || !set) return 1;
  mgr_value mode;
  if (mgr_ns_get(ns, "mode", &mode) != MGR_OK) return 2;
  char name[32], text[64];
  snprintf(name, sizeof name, "worker%d", k);
  snprintf(text, sizeof text, "done with %s", mode.u.s.ptr);
  mgr_value_free(&mode);
  mgr_value v = mgr_text(text);
  return mgr_ns_set(ns, name, &v) == MGR_OK ? 0 : 3;
}

int main(void) {
  mgr_client *m;
  int rc = mgr_start(NULL, &m);
  if (rc != MGR_OK) {
    fprintf(stderr, "mgr_start: %s: %s\n", mgr_err_name(rc), mgr_errmsg(NULL));
    return 1;
  }
  mgr_value kv[4] = {mgr_text("mode"), mgr_text("fast"), mgr_text("retries"),
                     mgr_int(3)};
  mgr_value init = mgr_map(kv, 2);
  mgr_proxy *ns = NULL, *ready = NULL;
  if ((rc = mgr_namespace_new(m, &init, &ns)) != MGR_OK ||
      (rc = mgr_event_new(m, &ready)) != MGR_OK) {
    fprintf(stderr, "create: %s: %s\n", mgr_err_name(rc), mgr_errmsg(m));
    mgr_shutdown(m);
    return 1;
  }
  fflush(stdout);
  pid_t pids[N];
  for (int k = 0; k < N; k++)
    if ((pids[k] = fork()) == 0) _exit(worker(ns, ready, k));
  /* The configuration is final: let them go. */
  mgr_value careful = mgr_text("careful");
  int failed = mgr_ns_set(ns, "mode", &careful) != MGR_OK;
  if (mgr_event_set(ready) != MGR_OK) failed++;
  for (int k = 0; k < N; k++) {
    int st = 0;
    if (pids[k] < 0 || waitpid(pids[k], &st, 0) < 0 || !WIFEXITED(st) ||
        WEXITSTATUS(st) != 0)
      failed++;
  }
  mgr_value items;
  if ((rc = mgr_ns_items(ns, &items)) == MGR_OK) {
    char buf[512];
    mgr_value_repr(&items, buf, sizeof buf);
    printf("vars(ns): %s\n", buf);
    for (int k = 0; k < N; k++) {
      char name[32];
      snprintf(name, sizeof name, "worker%d", k);
      mgr_value key = mgr_text(name), want = mgr_text("done with careful");
      const mgr_value *got = mgr_map_get(&items, &key);
      if (!got || !mgr_value_equal(got, &want)) failed++;
    }
    mgr_value_free(&items);
  }
  mgr_release(ns);
  mgr_release(ready);
  mgr_shutdown(m);
  return rc == MGR_OK && !failed ? 0 : 1;
}
