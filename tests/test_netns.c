/* mgr tests — two hosts for real (spec 2.6-2.9, 7.8, 13): mgrd in one
 * network namespace, clients in another, joined by a veth pair (ip netns,
 * as root; the test exits 77, skipped, with a message where that is not
 * possible).
 *
 * 1. A worker in the client namespace increments a counter held by mgrd in
 *    the server namespace, through tcp:// with an authkey, and another
 *    through tls:// (the certificate checked by name).
 * 2. A worker there holds a lock; a local client waits for it. The link is
 *    cut (the worker's end of the veth set down: its host is gone as far as
 *    the server can tell; nothing is sent). Keepalive (idle 1 s, interval
 *    1 s, 2 probes: a bound of 3000 ms) closes the dead connection, and the
 *    waiter gets the lock with MGR_EOWNERDEAD. The wait for that grant is the
 *    one unavoidable wait: a read of the waiter's pipe, whose timestamp is
 *    asserted within the bound (plus 1000 ms: the kernel's keepalive timers
 *    run at about one-second granularity); the watchdog is 4 x the bound.
 * Synchronisation: readiness descriptors and pipes; the waiter is known to
 * be parked from STATS (the protocol). */
/* clang-format off */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
/* clang-format on */

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "mgr/mgr.h"
#include "net/net.h"

#define KA_IDLE_MS 1000u
#define KA_INTERVAL_MS 1000u
#define KA_COUNT 2u
#define SLACK_MS 1000 /* the kernel's timer granularity */

static char ns_s[32], ns_c[32], veth_s[16], veth_c[16];
static char dir[64], keyfile[128], sock[128];
static pid_t mgrd = -1;
static char tcp_addr[128], tls_addr[128];

static int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int sh(const char *fmt, ...) {
  char cmd[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(cmd, sizeof cmd, fmt, ap);
  va_end(ap);
  int st = system(cmd);
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* Enters network namespace name (this process). */
static int enter(const char *name) {
  char path[128];
  snprintf(path, sizeof path, "/run/netns/%s", name);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  int r = setns(fd, CLONE_NEWNET);
  close(fd);
  return r;
}

static void teardown_net(void) {
  if (ns_s[0]) sh("ip netns del %s 2>/dev/null", ns_s);
  if (ns_c[0]) sh("ip netns del %s 2>/dev/null", ns_c);
}

/* Two namespaces, a veth pair between them, 10.77.0.1 (server) and
 * 10.77.0.2 (client). false (and a reason printed) when it cannot be done
 * here. */
static bool setup_net(void) {
  if (geteuid() != 0) {
    printf("test_netns: SKIPPED: needs root (ip netns, veth)\n");
    return false;
  }
  if (sh("command -v ip >/dev/null") != 0) {
    printf("test_netns: SKIPPED: no ip command (Debian: iproute2)\n");
    return false;
  }
  pid_t p = getpid();
  snprintf(ns_s, sizeof ns_s, "mgr-s-%ld", (long)p);
  snprintf(ns_c, sizeof ns_c, "mgr-c-%ld", (long)p);
  snprintf(veth_s, sizeof veth_s, "mgs%ld", (long)p % 10000000);
  snprintf(veth_c, sizeof veth_c, "mgc%ld", (long)p % 10000000);
  if (sh("ip netns add %s 2>/dev/null", ns_s) != 0) {
    ns_s[0] = '\0';
    printf("test_netns: SKIPPED: 'ip netns add' failed (no CAP_SYS_ADMIN, or "
           "a container without network namespaces)\n");
    return false;
  }
  if (sh("ip netns add %s && ip link add %s type veth peer name %s && "
         "ip link set %s netns %s && ip link set %s netns %s && "
         "ip -n %s addr add 10.77.0.1/24 dev %s && "
         "ip -n %s addr add 10.77.0.2/24 dev %s && "
         "ip -n %s link set %s up && ip -n %s link set %s up && "
         "ip -n %s link set lo up && ip -n %s link set lo up",
         ns_c, veth_s, veth_c, veth_s, ns_s, veth_c, ns_c, ns_s, veth_s, ns_c,
         veth_c, ns_s, veth_s, ns_c, veth_c, ns_s, ns_c) != 0) {
    printf("test_netns: SKIPPED: cannot make the veth pair\n");
    teardown_net();
    return false;
  }
  return true;
}

/* mgrd in the server namespace: tcp:// and tls:// on 10.77.0.1, a Unix
 * socket for this (root namespace) process, short keepalive. */
static void start_mgrd(void) {
  int p[2];
  assert_int_equal(pipe(p), 0);
  char ready[8], idle[16], intvl[16], cnt[16], tlsl[64], cert[160], key[160];
  snprintf(ready, sizeof ready, "%d", p[1]);
  snprintf(idle, sizeof idle, "%u", KA_IDLE_MS);
  snprintf(intvl, sizeof intvl, "%u", KA_INTERVAL_MS);
  snprintf(cnt, sizeof cnt, "%u", KA_COUNT);
  snprintf(tlsl, sizeof tlsl, "tls://10.77.0.1:0");
  snprintf(cert, sizeof cert, "%s/tls/server.pem", dir);
  snprintf(key, sizeof key, "%s/tls/server.key", dir);
  fflush(NULL);
  mgrd = fork();
  assert_true(mgrd >= 0);
  if (mgrd == 0) {
    close(p[0]);
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (enter(ns_s) != 0) _exit(126);
    char *argv[] = {MGR_BINARY_DIR "/mgrd",
                    "--listen",
                    "tcp://10.77.0.1:0",
                    "--listen",
                    tlsl,
                    "--listen",
                    sock,
                    "--authkey-file",
                    keyfile,
                    "--tls-cert",
                    cert,
                    "--tls-key",
                    key,
                    "--keepalive-idle",
                    idle,
                    "--keepalive-interval",
                    intvl,
                    "--keepalive-count",
                    cnt,
                    "--ready-fd",
                    ready,
                    NULL};
    int nul = open("/dev/null", O_WRONLY);
    dup2(nul, 1); /* its "listening on" lines: we read the ready fd */
    execv(argv[0], argv);
    _exit(127);
  }
  close(p[1]);
  char buf[1024];
  size_t got = 0;
  ssize_t r;
  while (got < sizeof buf - 1 &&
         ((r = read(p[0], buf + got, sizeof buf - 1 - got)) > 0 ||
          (r < 0 && errno == EINTR)))
    if (r > 0) got += (size_t)r;
  close(p[0]);
  buf[got] = '\0';
  if (got < 2 || buf[0] != 1) fail_msg("mgrd did not start in %s", ns_s);
  char *save = NULL;
  for (char *l = strtok_r(buf + 1, "\n", &save); l;
       l = strtok_r(NULL, "\n", &save)) {
    if (!strncmp(l, "tcp://", 6)) snprintf(tcp_addr, sizeof tcp_addr, "%s", l);
    if (!strncmp(l, "tls://", 6)) snprintf(tls_addr, sizeof tls_addr, "%s", l);
  }
  assert_true(tcp_addr[0] && tls_addr[0]);
}

static void opts(mgr_options *o) {
  mgr_options_init(o);
  o->authkey_file = keyfile;
  o->keepalive_idle_ms = KA_IDLE_MS;
  o->keepalive_interval_ms = KA_INTERVAL_MS;
  o->keepalive_count = KA_COUNT;
}

static mgr_client *local(void) {
  mgr_options o;
  opts(&o);
  mgr_client *m = NULL;
  int rc = mgr_connect(sock, &o, &m);
  if (rc != MGR_OK)
    fail_msg("connect %s: %s (%s)", sock, mgr_err_name(rc), mgr_errmsg(NULL));
  return m;
}

/* A worker in the client namespace. Exit 0 ok, 10+ the failed step. */
static void worker(const char *addr, bool tls, int n, bool hold, int say,
                   int wait) {
  if (enter(ns_c) != 0) _exit(10);
  mgr_options o;
  opts(&o);
  char ca[160];
  if (tls) {
    snprintf(ca, sizeof ca, "%s/tls/ca.pem", dir);
    o.tls_ca = ca;
    o.tls_server_name = "localhost"; /* the certificate's name */
  }
  mgr_client *m = NULL;
  if (mgr_connect(addr, &o, &m) != MGR_OK) {
    fprintf(stderr, "worker: %s: %s\n", addr, mgr_errmsg(NULL));
    _exit(11);
  }
  mgr_proxy *ctr = NULL, *lk = NULL;
  if (mgr_open(m, "counter", MGR_K_VAR, NULL, false, &ctr, NULL) != MGR_OK)
    _exit(12);
  for (int i = 0; i < n; i++) {
    int64_t v;
    if (mgr_var_incr_int(ctr, 1, &v) != MGR_OK) _exit(13);
  }
  if (hold) {
    bool got = false;
    if (mgr_open(m, "lock", MGR_K_LOCK, NULL, false, &lk, NULL) != MGR_OK ||
        mgr_lock_acquire(lk, -1, &got) != MGR_OK || !got)
      _exit(14);
    char b = 'H';
    if (write(say, &b, 1) != 1) _exit(15);
    /* Holds it, silent, until killed: its link is cut meanwhile. */
    while (read(wait, &b, 1) < 0 && errno == EINTR) {
    }
  }
  _exit(0);
}

static pid_t spawn_worker(const char *addr, bool tls, int n, bool hold,
                          int *say, int *wait) {
  int a[2] = {-1, -1}, b[2] = {-1, -1};
  if (hold) {
    assert_int_equal(pipe(a), 0);
    assert_int_equal(pipe(b), 0);
  }
  fflush(NULL);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (hold) {
      close(a[0]);
      close(b[1]);
    }
    worker(addr, tls, n, hold, a[1], b[0]);
  }
  if (hold) {
    close(a[1]);
    close(b[0]);
    *say = a[0];
    *wait = b[1];
  }
  return pid;
}

static int wait_status(pid_t pid) {
  int st = 0;
  while (waitpid(pid, &st, 0) < 0)
    if (errno != EINTR) return -1;
  return WIFEXITED(st) ? WEXITSTATUS(st) : 1000 + WTERMSIG(st);
}

static int64_t stat_of(mgr_client *m, const char *k1, const char *k2) {
  mgr_value v;
  assert_int_equal(mgr_stats(m, &v), MGR_OK);
  int64_t out = -1;
  for (size_t i = 0; i < v.u.a.len; i++) {
    const mgr_value *k = &v.u.a.items[2 * i], *x = &v.u.a.items[2 * i + 1];
    if (k->type != MGR_T_TEXT || strncmp(k->u.s.ptr, k1, k->u.s.len)) continue;
    for (size_t j = 0; j < x->u.a.len; j++) {
      const mgr_value *kk = &x->u.a.items[2 * j],
                      *xx = &x->u.a.items[2 * j + 1];
      if (kk->type == MGR_T_TEXT && strlen(k2) == kk->u.s.len &&
          !memcmp(kk->u.s.ptr, k2, kk->u.s.len))
        out = xx->u.i;
    }
  }
  mgr_value_free(&v);
  return out;
}

static void test_two_hosts(void **state) {
  (void)state;
  mgr_client *m = local();
  mgr_proxy *ctr, *lk;
  mgr_value zero = mgr_int(0);
  assert_int_equal(mgr_open(m, "counter", MGR_K_VAR, &zero, true, &ctr, NULL),
                   MGR_OK);
  assert_int_equal(mgr_open(m, "lock", MGR_K_LOCK, NULL, true, &lk, NULL),
                   MGR_OK);

  /* 1. Workers in the other namespace: 1000 increments over TCP, 500 over
   * TLS, at once. */
  pid_t w1 = spawn_worker(tcp_addr, false, 1000, false, NULL, NULL);
  pid_t w2 = spawn_worker(tls_addr, true, 500, false, NULL, NULL);
  assert_int_equal(wait_status(w1), 0);
  assert_int_equal(wait_status(w2), 0);
  mgr_value v;
  assert_int_equal(mgr_var_get(ctr, &v), MGR_OK);
  assert_int_equal(v.u.i, 1500);

  /* 2. A remote worker holds the lock. */
  int say = -1, wake = -1;
  pid_t holder = spawn_worker(tcp_addr, false, 1, true, &say, &wake);
  char b;
  assert_int_equal(read(say, &b, 1), 1);
  bool locked = false;
  assert_int_equal(mgr_lock_locked(lk, &locked), MGR_OK);
  assert_true(locked);
  /* A local waiter (another process: this one must cut the link). */
  int tp[2];
  assert_int_equal(pipe(tp), 0);
  fflush(NULL);
  pid_t waiter = fork();
  assert_true(waiter >= 0);
  if (waiter == 0) {
    close(tp[0]);
    mgr_options o;
    opts(&o);
    mgr_client *wm = NULL;
    mgr_proxy *wl = NULL;
    if (mgr_connect(sock, &o, &wm) != MGR_OK ||
        mgr_open(wm, "lock", MGR_K_LOCK, NULL, false, &wl, NULL) != MGR_OK)
      _exit(20);
    bool got = false;
    int rc = mgr_lock_acquire(wl, -1, &got);
    int64_t t = now_ms();
    if (rc != MGR_EOWNERDEAD || !got) _exit(21);
    if (write(tp[1], &t, sizeof t) != (ssize_t)sizeof t) _exit(22);
    _exit(0);
  }
  close(tp[1]);
  /* Parked: the server says so (each STATS is one round trip). */
  while (stat_of(m, "requests", "parked") < 1) {
  }
  /* Cut the link: the worker's end down. The worker lives on, silent; no
   * FIN, no RST reaches the server. */
  int64_t t0 = now_ms();
  assert_int_equal(sh("ip -n %s link set dev %s down", ns_c, veth_c), 0);
  mgri_keepalive ka = {KA_IDLE_MS, KA_INTERVAL_MS, KA_COUNT};
  int64_t bound = (int64_t)mgri_keepalive_bound_ms(&ka);
  struct pollfd pf = {.fd = tp[0], .events = POLLIN};
  int n = poll(&pf, 1, (int)(4 * bound)); /* a watchdog */
  if (n != 1)
    fail_msg("the lock was not released within %lld ms",
             (long long)(4 * bound));
  int64_t t1 = 0;
  assert_int_equal(read(tp[0], &t1, sizeof t1), (ssize_t)sizeof t1);
  assert_int_equal(wait_status(waiter), 0); /* it got MGR_EOWNERDEAD */
  int64_t took = t1 - t0;
  printf("# link cut: the waiter got the lock (MGR_EOWNERDEAD) after %lld ms; "
         "keepalive bound %lld ms\n",
         (long long)took, (long long)bound);
  assert_true(took >= 0);
  assert_true(took <= bound + SLACK_MS);
  kill(holder, SIGKILL);
  assert_int_equal(wait_status(holder), 1000 + SIGKILL);
  close(say);
  close(wake);
  close(tp[0]);
  assert_int_equal(mgr_var_get(ctr, &v), MGR_OK);
  assert_int_equal(v.u.i, 1501);
  mgr_release(ctr);
  mgr_release(lk);
  assert_int_equal(mgr_shutdown(m), MGR_OK);
  assert_int_equal(wait_status(mgrd), 0);
  mgrd = -1;
}

static int setup(void **state) {
  (void)state;
  snprintf(dir, sizeof dir, "/tmp/mgr-netns.XXXXXX");
  if (!mkdtemp(dir)) return -1;
  snprintf(keyfile, sizeof keyfile, "%s/key", dir);
  snprintf(sock, sizeof sock, "%s/s", dir);
  /* As hex (client_util.h says why). */
  if (sh("(umask 077; head -c 32 /dev/urandom | od -An -vtx1 | "
         "tr -d ' \\n' > '%s') && "
         "%s/tests/tls-certs '%s/tls' >/dev/null",
         keyfile, MGR_SOURCE_DIR, dir) != 0)
    return -1;
  start_mgrd();
  return 0;
}

static int teardown(void **state) {
  (void)state;
  if (mgrd > 0) {
    kill(mgrd, SIGKILL);
    wait_status(mgrd);
  }
  teardown_net();
  sh("rm -rf '%s'", dir);
  return 0;
}

int main(void) {
  if (!setup_net()) return 77;
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_two_hosts, setup, teardown),
  };
  int rc = cmocka_run_group_tests(tests, NULL, NULL);
  teardown_net();
  return rc;
}
