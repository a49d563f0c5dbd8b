/* mgr reliability 2 — SIGKILL at random points. Worker processes (the
 * library: atomic incr, lock acquire + get + set + release, dict set, create
 * + release; raw sockets: half a frame written, or parked in a lock acquire)
 * are SIGKILLed at seeded random moments (MGR_TEST_SEED replays). Afterwards
 * the server is alive, every counter lies in [acked, acked + in-flight], the
 * lock can be taken (its dead owner's hold released), a dead waiter is never
 * granted the lock, and no unnamed object of a dead worker is left. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "rel_util.h"

#define TOTAL 150 /* workers spawned (and killed) */
#define MAXW 4    /* running at once */

enum {
  REL_INCR = 1,
  REL_LOCKED = 2,
  REL_HALF = 3,
  REL_PARKED = 4,
  REL_OWNER = 5
};
enum { W_LIB, W_HALF, W_WAIT };

static rel_server S;

static void block_forever(void) {
  for (;;)
    pause();
}

/* The library worker: loops until killed. */
static void lib_worker(int w) {
  mgr_client *m;
  REL_CHECK(1, mgr_connect(S.path, NULL, &m) == MGR_OK);
  mgr_proxy *ctr, *d, *lk, *mine;
  REL_CHECK(2,
            mgr_open(m, "ctr", MGR_K_VAR, NULL, false, &ctr, NULL) == MGR_OK);
  REL_CHECK(3, mgr_open(m, "d", MGR_K_DICT, NULL, false, &d, NULL) == MGR_OK);
  REL_CHECK(4, mgr_open(m, "lk", MGR_K_LOCK, NULL, false, &lk, NULL) == MGR_OK);
  REL_CHECK(5, mgr_dict_new(m, NULL, &mine) == MGR_OK); /* left for the kill */
  char key[32];
  snprintf(key, sizeof key, "w%d", (int)getpid());
  mgr_value k = mgr_text(key), x = mgr_text("x"), zero = mgr_int(0);
  for (int64_t it = 0;; it++) {
    REL_CHECK(6, mgr_var_incr_int(ctr, 1, NULL) == MGR_OK);
    rel_write_rec(w, REL_INCR);
    bool got = false;
    int rc = mgr_lock_acquire(lk, -1, &got);
    REL_CHECK(7, (rc == MGR_OK || rc == MGR_EOWNERDEAD) && got);
    mgr_value v;
    REL_CHECK(8, mgr_dict_get_default(d, &x, &zero, &v) == MGR_OK &&
                     v.type == MGR_T_INT);
    mgr_value nv = mgr_int(v.u.i + 1);
    REL_CHECK(9, mgr_dict_set(d, &x, &nv) == MGR_OK);
    REL_CHECK(10, mgr_lock_release(lk) == MGR_OK);
    rel_write_rec(w, REL_LOCKED);
    mgr_value iv = mgr_int(it);
    REL_CHECK(11, mgr_dict_set(d, &k, &iv) == MGR_OK);
    REL_CHECK(12, mgr_dict_set(mine, &k, &iv) == MGR_OK);
    mgr_proxy *tmp;
    REL_CHECK(13, mgr_var_new(m, &iv, &tmp) == MGR_OK);
    REL_CHECK(14, mgr_release(tmp) == MGR_OK);
  }
}

static uint64_t g_ctr, g_lk; /* object ids, for the raw workers */

/* Raw: one acked incr, then half of the next frame, then killed. With
 * `with_lock` it first takes the lock (so it dies owning it). */
static void half_worker(int w, int with_lock) {
  rconn *c = rel_open(S.path, 0);
  REL_CHECK(20, c != NULL);
  mgri_reply *r = rel_call(c, MGRI_OP_VAR_INCR, g_ctr, RA(mgr_int(1)));
  REL_CHECK(21, r && r->status == MGR_OK);
  rel_write_rec(w, REL_INCR);
  if (with_lock) {
    r = rel_call(c, MGRI_OP_LOCK_ACQUIRE, g_lk, RA(mgr_bool(true), mgr_nil()));
    REL_CHECK(22, r && r->status == MGR_OK && r->result.type == MGR_T_INT &&
                      r->result.u.i >= 1);
  }
  mgri_buf b;
  mgri_buf_init(&b, 0);
  REL_CHECK(23, rel_encode(&b, ++c->rid, MGRI_OP_VAR_INCR, g_ctr,
                           RA(mgr_int(1))) == MGR_OK);
  REL_CHECK(24, rel_write_all(c->fd, b.data, b.len / 2) == 0);
  rel_write_rec(w, REL_HALF);
  block_forever();
}

/* Raw: LOCK_ACQUIRE then PING on one connection. The PING's reply first
 * proves the acquire is parked (the server reads a connection in order). */
static void wait_worker(int w) {
  rconn *c = rel_open(S.path, 0);
  REL_CHECK(30, c != NULL);
  REL_CHECK(31, rel_send(c->fd, 1, MGRI_OP_LOCK_ACQUIRE, g_lk,
                         RA(mgr_bool(true), mgr_nil())) == MGR_OK);
  REL_CHECK(32, rel_send(c->fd, 2, MGRI_OP_PING, 0, RA0) == MGR_OK);
  REL_CHECK(33,
            rel_next_reply(c, REL_WAIT_MS * 3) == 1 && c->rep.status == MGR_OK);
  rel_write_rec(w, c->rep.rid == 2 ? REL_PARKED : REL_OWNER);
  block_forever();
}

typedef struct wk {
  pid_t pid;
  int fd;
  int kind;
  int limit; /* records before the kill */
  int seen;
} wk;

static long acked_incr, acked_locked, kills_lib, kills_half, kills_wait,
    parked_kills;

static void tally(wk *w, int64_t rec) {
  w->seen++;
  if (rec == REL_INCR)
    acked_incr++;
  else if (rec == REL_LOCKED)
    acked_locked++;
  else if (rec == REL_PARKED)
    parked_kills++;
}

static pid_t spawn(wk *w, int kind, int limit) {
  int p[2];
  assert_int_equal(pipe(p), 0);
  fflush(NULL);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    close(p[0]);
    if (kind == W_LIB)
      lib_worker(p[1]);
    else if (kind == W_HALF)
      half_worker(p[1], limit & 1);
    else
      wait_worker(p[1]);
    _exit(99);
  }
  close(p[1]);
  w->pid = pid;
  w->fd = p[0];
  w->kind = kind;
  w->limit = limit;
  w->seen = 0;
  return pid;
}

/* Kills w, reaps it and counts the records it wrote before dying. */
static void kill_worker(wk *w) {
  kill(w->pid, SIGKILL);
  int st = rel_wait_status(w->pid);
  if (st != 1000 + SIGKILL)
    fail_msg("worker %d (kind %d) died early: status %d", (int)w->pid, w->kind,
             st);
  int64_t rec;
  while (rel_read_rec(w->fd, &rec, REL_WAIT_MS) == 1)
    tally(w, rec);
  close(w->fd);
  if (w->kind == W_LIB)
    kills_lib++;
  else if (w->kind == W_HALF)
    kills_half++;
  else
    kills_wait++;
  w->pid = 0;
}

static int kill_due(const wk *w, int64_t last) {
  if (w->kind == W_LIB) return w->seen >= w->limit;
  if (w->kind == W_HALF) return last == REL_HALF;
  return last == REL_PARKED || last == REL_OWNER;
}

static void test_sigkill(void **st) {
  (void)st;
  unsigned seed = rel_seed("sigkill");
  assert_int_equal(rel_server_start(&S, 0), 0);
  mgr_client *m;
  assert_int_equal(mgr_connect(S.path, NULL, &m), MGR_OK);
  mgr_set_timeout(m, REL_WAIT_MS);
  mgr_proxy *ctr, *d, *lk;
  mgr_value zero = mgr_int(0);
  assert_int_equal(mgr_open(m, "ctr", MGR_K_VAR, &zero, true, &ctr, NULL),
                   MGR_OK);
  assert_int_equal(mgr_open(m, "d", MGR_K_DICT, NULL, true, &d, NULL), MGR_OK);
  assert_int_equal(mgr_open(m, "lk", MGR_K_LOCK, NULL, true, &lk, NULL),
                   MGR_OK);
  g_ctr = mgr_proxy_id(ctr);
  g_lk = mgr_proxy_id(lk);
  long rss0 = rel_rss_kb(S.pid);

  wk ws[MAXW];
  memset(ws, 0, sizeof ws);
  int spawned = 0, running = 0;
  double t0 = rel_now();
  while (spawned < TOTAL || running > 0) {
    for (int i = 0; i < MAXW && spawned < TOTAL; i++)
      if (!ws[i].pid) {
        int r = rand_r(&seed) % 10;
        int kind = r < 6 ? W_LIB : r < 8 ? W_HALF : W_WAIT;
        int limit = kind == W_LIB ? 1 + rand_r(&seed) % 60 : rand_r(&seed) % 2;
        spawn(&ws[i], kind, limit);
        spawned++;
        running++;
      }
    struct pollfd pf[MAXW];
    int idx[MAXW], n = 0;
    for (int i = 0; i < MAXW; i++)
      if (ws[i].pid) {
        pf[n].fd = ws[i].fd;
        pf[n].events = POLLIN;
        idx[n++] = i;
      }
    int pr = poll(pf, (nfds_t)n, REL_WAIT_MS * 3);
    if (pr < 0 && errno == EINTR) continue;
    if (pr == 0)
      fail_msg("no worker made progress in %d ms (server hung?)",
               REL_WAIT_MS * 3);
    for (int j = 0; j < n; j++) {
      if (!(pf[j].revents & (POLLIN | POLLHUP))) continue;
      wk *w = &ws[idx[j]];
      int64_t rec;
      int rr = rel_read_rec(w->fd, &rec, REL_WAIT_MS);
      if (rr != 1) {
        int stc = rel_wait_status(w->pid);
        fail_msg("worker kind %d ended by itself: status %d", w->kind, stc);
      }
      tally(w, rec);
      if (kill_due(w, rec)) {
        kill_worker(w);
        running--;
      }
    }
  }
  double dt = rel_now() - t0;
  long faults = kills_lib + kills_half + kills_wait;

  /* The server is alive and serves. */
  assert_true(rel_alive(S.pid));
  assert_int_equal(mgr_ping(m), MGR_OK);

  /* A new client can take the lock: the dead owners' holds are released. */
  mgr_client *m2;
  assert_int_equal(mgr_connect(S.path, NULL, &m2), MGR_OK);
  mgr_set_timeout(m2, REL_WAIT_MS * 2);
  mgr_proxy *lk2;
  assert_int_equal(mgr_open(m2, "lk", MGR_K_LOCK, NULL, false, &lk2, NULL),
                   MGR_OK);
  bool got = false;
  int rc = mgr_lock_acquire(lk2, REL_WAIT_MS, &got);
  if (!((rc == MGR_OK || rc == MGR_EOWNERDEAD) && got))
    fail_msg("lock not acquirable after its owners died: %s acquired=%d",
             mgr_err_name(rc), got);
  const char *lock_rc = mgr_err_name(rc);

  /* Counters: every acknowledged operation is there, at most one more per
   * killed library worker (in flight when killed). Half frames never count. */
  int64_t c = 0, x = 0;
  mgr_value v;
  assert_int_equal(mgr_var_get(ctr, &v), MGR_OK);
  c = v.u.i;
  mgr_value xk = mgr_text("x");
  assert_int_equal(mgr_dict_get_default(d, &xk, &zero, &v), MGR_OK);
  x = v.u.i;
  assert_int_equal(mgr_lock_release(lk2), MGR_OK);

  /* No unnamed object of a dead worker is left (the server has seen every
   * EOF: each death happened before the round trips above were sent). */
  long unnamed = rel_unnamed_objects(m);
  for (int i = 0; unnamed != 0 && i < 100; i++) {
    assert_int_equal(mgr_ping(m), MGR_OK);
    unnamed = rel_unnamed_objects(m);
  }

  /* Mid-wait, deterministic: the parent holds the lock, a raw worker parks
   * an acquire (proved by PING), is killed; after the parent releases, the
   * lock is free for a new client (never granted to the dead waiter). */
  got = false;
  rc = mgr_lock_acquire(lk, 0, &got);
  assert_true((rc == MGR_OK || rc == MGR_EOWNERDEAD) && got);
  wk ww;
  spawn(&ww, W_WAIT, 0);
  int64_t rec = 0;
  assert_int_equal(rel_read_rec(ww.fd, &rec, REL_WAIT_MS * 3), 1);
  assert_int_equal(rec, REL_PARKED);
  ww.seen = 0;
  kill_worker(&ww);
  parked_kills++;
  faults++;
  assert_int_equal(mgr_ping(m), MGR_OK);
  assert_int_equal(mgr_lock_release(lk), MGR_OK);
  got = false;
  rc = mgr_lock_acquire(lk2, 0, &got);
  int dead_waiter_granted = !(rc == MGR_OK && got);
  if (got) assert_int_equal(mgr_lock_release(lk2), MGR_OK);
  long rss1 = rel_rss_kb(S.pid);

  long ops = acked_incr + acked_locked;
  long lost = (c < acked_incr ? (long)(acked_incr - c) : 0) +
              (x < acked_locked ? (long)(acked_locked - x) : 0);
  char extra[320];
  snprintf(
      extra, sizeof extra,
      "kills_lib=%ld kills_half=%ld kills_wait=%ld parked_kills=%ld ctr=%lld "
      "acked_incr=%ld x=%lld acked_locked=%ld lock_after=%s unnamed_left=%ld "
      "rss_kb=%ld->%ld seconds=%.2f",
      kills_lib, kills_half, kills_wait, parked_kills, (long long)c, acked_incr,
      (long long)x, acked_locked, lock_rc, unnamed, rss0, rss1, dt);
  rel_report("sigkill", spawned + 1, faults, ops, lost, extra);
  assert_int_equal(lost, 0);
  assert_true(c <= acked_incr + kills_lib);
  assert_true(x <= acked_locked + kills_lib);
  assert_int_equal(unnamed, 0);
  assert_int_equal(dead_waiter_granted, 0);

  mgr_release(lk2);
  mgr_close(m2);
  mgr_release(ctr);
  mgr_release(d);
  mgr_release(lk);
  mgr_close(m);
  assert_int_equal(rel_server_stop(&S), 0);
}

int main(void) {
  signal(SIGPIPE, SIG_IGN);
  alarm(110);
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_sigkill)};
  return cmocka_run_group_tests_name("reliability_sigkill", tests, NULL, NULL);
}
