/* mgr — a concurrent run for trace validation (traces/validate): forked
 * workers contend on one manager's Lock, RLock, Queue (maxsize 2),
 * Semaphore and BoundedSemaphore with
 * every kind of wait (none, 0, short deadlines, no deadline), and two of them
 * die holding or waiting:
 *
 *   mgr_trace_contend [--workers N] [--rounds K] [--seed S]
 *
 * 1. N workers, K rounds each, random steps: acquire the Lock (no wait, a
 *    short deadline or none) and release it; acquire the RLock twice and
 *    release it twice; put to and get from the Queue (no wait, a deadline,
 *    none: a getter without deadline is always matched by a put of the
 *    same worker's round, so nobody waits for ever); acquire and release the
 *    Semaphore (2) and the BoundedSemaphore (1). Waits are real: the Lock is
 *    held across a few calls, so others park behind it in FIFO order.
 * 2. Owner death: a worker takes the Lock and tells the parent (a pipe);
 *    the parent waits until two other workers are parked on it (STATS
 *    "parked", no sleeps), then kills the holder with SIGKILL: the manager
 *    must tell the first waiter its owner died (OWNER_DEAD) and the second
 *    a plain grant.
 * 3. Waits that happen whatever the scheduler did in 1: two acquires parked
 *    on the BoundedSemaphore woken in turn, two getters parked on the empty
 *    Queue handed the next puts' items, a put parked on the full Queue
 *    stored when a get frees a slot.
 * 4. A getter killed while parked on the empty Queue; the item put next
 *    goes to the next getter.
 *
 * Exit status 0 when every call answered as the protocol allows; what the
 * manager did is judged by traces/validate on the recorded trace. */
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mgr/mgr.h"
#include "mgr/sync.h"

#define OK(call)                                                               \
  do {                                                                         \
    int rc_ = (call);                                                          \
    if (rc_ != MGR_OK) {                                                       \
      fprintf(stderr, "contend: %s:%d: %s: %s (%s)\n", __FILE__, __LINE__,     \
              #call, mgr_strerror(rc_), mgr_errmsg(NULL));                     \
      _exit(1);                                                                \
    }                                                                          \
  } while (0)

static mgr_client *M;
static mgr_proxy *lk, *rl, *q, *sem, *bsem;

static unsigned rnd(unsigned *s) {
  *s = *s * 1103515245u + 12345u;
  return (*s >> 16) & 0x7fff;
}

/* A deadline: none (-1), none at all (0) or a short one (1..3 ms). */
static int64_t some_wait(unsigned *s) {
  unsigned r = rnd(s) % 4;
  return r == 0 ? 0 : r == 1 ? -1 : (int64_t)(1 + rnd(s) % 3);
}

static void lock_step(unsigned *s) {
  bool got = false;
  int rc = mgr_lock_acquire(lk, some_wait(s), &got);
  if (rc != MGR_OK && rc != MGR_EOWNERDEAD) {
    fprintf(stderr, "contend: lock acquire: %s\n", mgr_strerror(rc));
    _exit(1);
  }
  if (!got) return;
  /* Held across a few calls (others park), sometimes many (short deadlines
   * pass). */
  int hold = rnd(s) % 4 ? 3 : 40;
  for (int i = 0; i < hold; i++) {
    bool locked = false;
    OK(mgr_lock_locked(lk, &locked));
    if (!locked) {
      fprintf(stderr, "contend: the lock this worker holds is not locked\n");
      _exit(1);
    }
  }
  OK(mgr_lock_release(lk));
}

static void rlock_step(unsigned *s) {
  bool got = false;
  int rc = mgr_lock_acquire(rl, some_wait(s), &got);
  if (rc != MGR_OK && rc != MGR_EOWNERDEAD) _exit(1);
  if (!got) return;
  OK(mgr_lock_acquire(rl, 0, &got)); /* re-entry: at once */
  if (!got) _exit(1);
  OK(mgr_lock_release(rl));
  OK(mgr_lock_release(rl));
}

static void queue_step(unsigned *s, int w, int i) {
  mgr_value item = mgr_int((int64_t)w * 100000 + i), out;
  int rc = mgr_queue_put(q, &item, some_wait(s) == 0 ? 0 : 2);
  if (rc != MGR_OK && rc != MGR_EFULL) _exit(1);
  rc = mgr_queue_get(q, rnd(s) % 2 ? 0 : 2, &out);
  if (rc == MGR_OK)
    mgr_value_free(&out);
  else if (rc != MGR_EEMPTY)
    _exit(1);
}

static void sem_step(unsigned *s) {
  bool got = false;
  mgr_proxy *p = rnd(s) % 2 ? sem : bsem;
  OK(mgr_sem_acquire(p, some_wait(s), &got));
  if (got) OK(mgr_sem_release(p, 1));
}

static void worker(int w, int rounds, unsigned seed) {
  unsigned s = seed * 7919u + (unsigned)w;
  for (int i = 0; i < rounds; i++) {
    switch (rnd(&s) % 4) {
    case 0:
      lock_step(&s);
      break;
    case 1:
      rlock_step(&s);
      break;
    case 2:
      queue_step(&s, w, i);
      break;
    default:
      sem_step(&s);
      break;
    }
  }
  _exit(0);
}

static int64_t stat_of(const char *group, const char *name) {
  mgr_value st;
  OK(mgr_stats(M, &st));
  mgr_value g = mgr_text(group), n = mgr_text(name);
  const mgr_value *a = mgr_map_get(&st, &g);
  const mgr_value *b = a ? mgr_map_get(a, &n) : NULL;
  int64_t v = b && b->type == MGR_T_INT ? b->u.i : -1;
  mgr_value_free(&st);
  return v;
}

static void await_stat(const char *group, const char *name, int64_t want) {
  for (long i = 0; i < 4000000; i++) {
    if (stat_of(group, name) == want) return;
    for (int y = 0; y < 20; y++)
      sched_yield(); /* fewer polls in the trace */
  }
  fprintf(stderr, "contend: %s.%s never reached %lld\n", group, name,
          (long long)want);
  exit(1);
}

static int reap(pid_t pid) {
  int st;
  while (waitpid(pid, &st, 0) < 0)
    if (errno != EINTR) return -1;
  return st;
}

/* 2: a holder killed while two workers wait for the lock. */
static void owner_death(void) {
  int p[2];
  if (pipe(p) != 0) exit(1);
  pid_t holder = fork();
  if (holder == 0) {
    close(p[0]);
    bool got = false;
    OK(mgr_lock_acquire(lk, -1, &got));
    char b = 1;
    if (write(p[1], &b, 1) != 1) _exit(1);
    for (;;)
      pause();
  }
  close(p[1]);
  char b;
  if (read(p[0], &b, 1) != 1) exit(1);
  close(p[0]);
  pid_t waiters[2];
  for (int i = 0; i < 2; i++) {
    waiters[i] = fork();
    if (waiters[i] == 0) {
      bool got = false;
      int rc = mgr_lock_acquire(lk, -1, &got);
      /* The first waiter is told the owner died; the second is not. */
      if (!got || (rc != MGR_OK && rc != MGR_EOWNERDEAD)) _exit(1);
      OK(mgr_lock_release(lk));
      _exit(rc == MGR_EOWNERDEAD ? 10 : 11);
    }
    await_stat("requests", "parked", i + 1);
  }
  kill(holder, SIGKILL);
  reap(holder);
  int a = reap(waiters[0]), c = reap(waiters[1]);
  if (!WIFEXITED(a) || WEXITSTATUS(a) != 10 || !WIFEXITED(c) ||
      WEXITSTATUS(c) != 11) {
    fprintf(stderr,
            "contend: owner death: the waiters exited %d and %d "
            "(want 10: told, 11: not told)\n",
            a, c);
    exit(1);
  }
  printf("contend: owner death told to the next owner only\n");
}

/* 3: waits that always happen, whatever the scheduler did in 1: two
 * acquires parked on the BoundedSemaphore, woken one by one by releases; two
 * getters parked on the empty Queue, each handed a put's item; a put parked
 * on the full Queue, stored when a get frees a slot. */
static pid_t child_then_parked(int kind, int64_t parked) {
  pid_t pid = fork();
  if (pid == 0) {
    bool got = false;
    mgr_value out, item = mgr_int(7);
    if (kind == 0) {
      OK(mgr_sem_acquire(bsem, -1, &got));
      if (!got) _exit(1);
      OK(mgr_sem_release(bsem, 1)); /* wakes the next waiter */
    } else if (kind == 1) {
      OK(mgr_queue_get(q, -1, &out));
      mgr_value_free(&out);
    } else {
      OK(mgr_queue_put(q, &item, -1));
    }
    _exit(0);
  }
  await_stat("requests", "parked", parked);
  return pid;
}

static void sure_waits(void) {
  bool got = false;
  mgr_value out;
  OK(mgr_sem_acquire(bsem, 0, &got));
  if (!got) exit(1);
  pid_t a = child_then_parked(0, 1), b = child_then_parked(0, 2);
  OK(mgr_sem_release(bsem, 1));
  int sa = reap(a), sb = reap(b);
  while (mgr_queue_get(q, 0, &out) == MGR_OK)
    mgr_value_free(&out);
  pid_t c = child_then_parked(1, 1), d = child_then_parked(1, 2);
  mgr_value one = mgr_int(1), two = mgr_int(2);
  OK(mgr_queue_put(q, &one, 0));
  OK(mgr_queue_put(q, &two, 0));
  int sc = reap(c), sd = reap(d);
  OK(mgr_queue_put(q, &one, 0));
  OK(mgr_queue_put(q, &two, 0));
  pid_t e = child_then_parked(2, 1);
  OK(mgr_queue_get(q, 0, &out));
  mgr_value_free(&out);
  int se = reap(e);
  while (mgr_queue_get(q, 0, &out) == MGR_OK)
    mgr_value_free(&out);
  if (sa || sb || sc || sd || se) {
    fprintf(stderr, "contend: the sure waits failed\n");
    exit(1);
  }
  printf("contend: semaphore, getters and a putter woken in turn\n");
}

/* 4: a getter killed while parked on the empty queue. */
static void dead_getter(void) {
  mgr_value out;
  while (mgr_queue_get(q, 0, &out) == MGR_OK)
    mgr_value_free(&out);
  pid_t g = fork();
  if (g == 0) {
    OK(mgr_queue_get(q, -1, &out));
    _exit(0);
  }
  await_stat("requests", "parked", 1);
  kill(g, SIGKILL);
  reap(g);
  await_stat("requests", "parked", 0);
  mgr_value item = mgr_int(-1);
  OK(mgr_queue_put(q, &item, 0));
  OK(mgr_queue_get(q, 0, &out));
  if (out.type != MGR_T_INT || out.u.i != -1) {
    fprintf(stderr, "contend: the item after a dead getter was lost\n");
    exit(1);
  }
  printf("contend: a getter killed while parked took nothing\n");
}

int main(int argc, char **argv) {
  int workers = 6, rounds = 150;
  unsigned seed = 1;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!strcmp(argv[i], "--workers"))
      workers = atoi(argv[i + 1]);
    else if (!strcmp(argv[i], "--rounds"))
      rounds = atoi(argv[i + 1]);
    else if (!strcmp(argv[i], "--seed"))
      seed = (unsigned)strtoul(argv[i + 1], NULL, 10);
    else {
      fprintf(
          stderr,
          "usage: mgr_trace_contend [--workers N] [--rounds K] [--seed S]\n");
      return 2;
    }
  }
  mgr_options o;
  mgr_options_init(&o);
  OK(mgr_start(&o, &M));
  OK(mgr_lock_new(M, &lk));
  OK(mgr_rlock_new(M, &rl));
  OK(mgr_queue_new(M, 2, &q));
  OK(mgr_semaphore_new(M, 2, &sem));
  OK(mgr_bounded_semaphore_new(M, 1, &bsem));
  pid_t pids[64];
  if (workers > 64) workers = 64;
  for (int w = 0; w < workers; w++) {
    pids[w] = fork();
    if (pids[w] < 0) return 1;
    if (pids[w] == 0) worker(w, rounds, seed);
  }
  int bad = 0;
  for (int w = 0; w < workers; w++) {
    int st = reap(pids[w]);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) bad++;
  }
  if (bad) {
    fprintf(stderr, "contend: %d workers failed\n", bad);
    return 1;
  }
  printf("contend: %d workers x %d rounds\n", workers, rounds);
  owner_death();
  sure_waits();
  dead_getter();
  mgr_release(lk);
  mgr_release(rl);
  mgr_release(q);
  mgr_release(sem);
  mgr_release(bsem);
  OK(mgr_shutdown(M));
  return 0;
}
