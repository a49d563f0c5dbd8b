/* mgr example — producers and consumers over a shared queue, the C port of:
 *
 *   def producer(q, k):
 *       for i in range(ITEMS): q.put(k * 1000 + i)
 *   def consumer(q, total):
 *       while (item := q.get()) is not None:
 *           total.value += item      # under a lock in Python; atomic here
 *           q.task_done()
 *       q.task_done()
 *   with Manager() as m:
 *       q = m.JoinableQueue(8)      # bounded: producers wait for room
 *       ...start 3 producers, 2 consumers...
 *       q.join()                    # every item consumed
 *       for _ in consumers: q.put(None)
 *
 * The queue lives in the manager; a put on a full queue and a get on an empty
 * one wait there (never spinning, never blocking the manager or the other
 * workers). The sum of every item is checked against the expected total. */
#include <mgr/mgr.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

#define PRODUCERS 3
#define CONSUMERS 2
#define ITEMS 200

static int producer(mgr_proxy *q, int k) {
  for (int i = 0; i < ITEMS; i++) {
    mgr_value item = mgr_int(k * 1000 + i);
    if (mgr_queue_put(q, &item, -1) != MGR_OK) return 1;
  }
  return 0;
}

static int consumer(mgr_proxy *q, mgr_proxy *total) {
  for (;;) {
    mgr_value item;
    if (mgr_queue_get(q, -1, &item) != MGR_OK) return 1;
    bool stop = item.type == MGR_T_NIL;
    if (!stop && mgr_var_incr_int(total, item.u.i, NULL) != MGR_OK) return 1;
    mgr_value_free(&item);
    if (mgr_queue_task_done(q) != MGR_OK) return 1;
    if (stop) return 0;
  }
}

static int wait_all(pid_t *pids, int n) {
  int failed = 0;
  for (int i = 0; i < n; i++) {
    int st = 0;
    if (pids[i] < 0 || waitpid(pids[i], &st, 0) < 0 || !WIFEXITED(st) ||
        WEXITSTATUS(st) != 0)
      failed++;
  }
  return failed;
}

int main(void) {
  mgr_client *m;
  int rc = mgr_start(NULL, &m);
  if (rc != MGR_OK) {
    fprintf(stderr, "mgr_start: %s: %s\n", mgr_err_name(rc), mgr_errmsg(NULL));
    return 1;
  }
  mgr_proxy *q = NULL, *total = NULL;
  mgr_value zero = mgr_int(0);
  if ((rc = mgr_joinable_queue_new(m, 8, &q)) != MGR_OK ||
      (rc = mgr_var_new(m, &zero, &total)) != MGR_OK) {
    fprintf(stderr, "create: %s: %s\n", mgr_err_name(rc), mgr_errmsg(m));
    mgr_shutdown(m);
    return 1;
  }
  fflush(stdout);
  pid_t cons[CONSUMERS], prods[PRODUCERS];
  for (int i = 0; i < CONSUMERS; i++)
    if ((cons[i] = fork()) == 0) _exit(consumer(q, total));
  for (int k = 0; k < PRODUCERS; k++)
    if ((prods[k] = fork()) == 0) _exit(producer(q, k));
  int failed = wait_all(prods, PRODUCERS);
  bool done = false;
  if ((rc = mgr_queue_join(q, -1, &done)) != MGR_OK || !done) failed++;
  /* One None per consumer: each stops at its first. */
  mgr_value none = mgr_nil();
  for (int i = 0; i < CONSUMERS; i++)
    if (mgr_queue_put(q, &none, -1) != MGR_OK) failed++;
  failed += wait_all(cons, CONSUMERS);

  int64_t want = 0;
  for (int k = 0; k < PRODUCERS; k++)
    for (int i = 0; i < ITEMS; i++)
      want += k * 1000 + i;
  mgr_value got;
  if ((rc = mgr_var_get(total, &got)) == MGR_OK) {
    printf("%d items from %d producers through a queue of 8 to %d consumers: "
           "sum %lld (expected %lld)\n",
           PRODUCERS * ITEMS, PRODUCERS, CONSUMERS, (long long)got.u.i,
           (long long)want);
    if (got.type != MGR_T_INT || got.u.i != want) failed++;
  }
  mgr_release(q);
  mgr_release(total);
  mgr_shutdown(m);
  return rc == MGR_OK && !failed ? 0 : 1;
}
