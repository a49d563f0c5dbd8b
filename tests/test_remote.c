/* mgr tests — remote managers (spec 2.1, 2.6-2.9, 7.8): addresses and port
 * 0, a server that refuses TCP without an authkey, the authkey exchange
 * against every bad client (wrong key, HELLO first, truncated, replayed,
 * reflected, talking before the proof) and every bad server (no challenge,
 * a reflected or replayed proof), the pre-authentication deadline and cap,
 * TCP options, fork, and TLS (a plain client, an expired, wrongly named or
 * unknown certificate, client certificates). Every refusal is checked to
 * have processed nothing: the server's STATS count no request beyond the
 * observer's own, and an object it holds is unchanged. Synchronisation is by
 * the protocol (a refused peer reads the end of the stream) and by pipes;
 * the poll timeouts are watchdogs, never delays. */
/* clang-format off */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
/* clang-format on */

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "client/internal.h"
#include "mgr/mgr.h"
#include "net/net.h"
#include "proto/auth.h"
#include "proto/proto.h"

#define WATCHDOG_MS 20000

static char dir[64];      /* keys, certificates, sockets */
static char keypath[128]; /* the authkey file */
static uint8_t key[32];

/* --- servers -------------------------------------------------------------- */

typedef struct srv {
  pid_t pid;
  char addr[4][MGRI_ADDR_TEXT_MAX]; /* as reported, in order */
  size_t n;
} srv;

/* Forks mgr_server_run(o) (its ready_fd set here); the addresses it
 * reports. -1 when it failed to start. */
static int srv_start(srv *s, mgr_server_options *o) {
  memset(s, 0, sizeof *s);
  int p[2];
  if (pipe(p)) return -1;
  fflush(NULL);
  s->pid = fork();
  if (s->pid < 0) return -1;
  if (s->pid == 0) {
    close(p[0]);
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    o->ready_fd = p[1];
    _exit(mgr_server_run(o) == MGR_OK ? 0 : 1);
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
  if (got < 2 || buf[0] != 1) return -1;
  for (char *line = buf + 1, *nl; s->n < 4 && (nl = strchr(line, '\n'));
       line = nl + 1) {
    *nl = '\0';
    size_t l = strlen(line);
    if (l >= sizeof s->addr[0]) return -1;
    memcpy(s->addr[s->n++], line, l + 1);
  }
  return 0;
}

/* Its exit status (1000 + the signal when one ended it), after SIGTERM
 * when term, else once it exits by itself. */
static int srv_end(srv *s, int term) {
  int st = 0;
  if (s->pid > 0) {
    if (term) kill(s->pid, SIGTERM);
    while (waitpid(s->pid, &st, 0) < 0 && errno == EINTR) {
    }
  }
  s->pid = 0;
  return WIFEXITED(st) ? WEXITSTATUS(st) : 1000 + WTERMSIG(st);
}

static int srv_stop(srv *s) { return srv_end(s, 1); }

/* After a SHUTDOWN: the server is already on its way out, so no SIGTERM,
 * which could land after mgr_server_run() has given the caller's signal
 * mask back (its default action then kills the process: a coverage
 * build's counters, written there, made that window wide). */
static int srv_wait(srv *s) { return srv_end(s, 0); }

static void opts_key(mgr_options *o) {
  mgr_options_init(o);
  o->authkey = key;
  o->authkey_len = sizeof key;
}

static mgr_client *connect_ok(const char *addr, mgr_options *o) {
  mgr_client *m = NULL;
  int rc = mgr_connect(addr, o, &m);
  if (rc != MGR_OK)
    fail_msg("mgr_connect %s: %s (%s)", addr, mgr_err_name(rc),
             mgr_errmsg(NULL));
  mgr_set_timeout(m, WATCHDOG_MS);
  return m;
}

/* STATS numbers: requests dispatched, and connection counters. */
typedef struct counts {
  int64_t requests, auth_failed, tls_failed, timeouts, evicted, accepted;
} counts;

static int64_t get(const mgr_value *map, const char *k1, const char *k2) {
  for (size_t i = 0; i < map->u.a.len; i++) {
    const mgr_value *k = &map->u.a.items[2 * i],
                    *v = &map->u.a.items[2 * i + 1];
    if (k->type != MGR_T_TEXT || strlen(k1) != k->u.s.len ||
        memcmp(k->u.s.ptr, k1, k->u.s.len))
      continue;
    if (!k2) return v->type == MGR_T_INT ? v->u.i : -1;
    return get(v, k2, NULL);
  }
  return -1;
}

static counts stats(mgr_client *m) {
  mgr_value v;
  int rc = mgr_stats(m, &v);
  if (rc != MGR_OK) fail_msg("stats: %s", mgr_err_name(rc));
  counts c = {get(&v, "requests", "total"),
              get(&v, "connections", "auth_failed"),
              get(&v, "connections", "tls_failed"),
              get(&v, "connections", "handshake_timeouts"),
              get(&v, "connections", "handshake_evicted"),
              get(&v, "connections", "accepted")};
  mgr_value_free(&v);
  assert_true(c.requests >= 0 && c.auth_failed >= 0 && c.tls_failed >= 0);
  return c;
}

/* The observer: a trusted client, and an object it checks is unchanged. */
typedef struct observer {
  mgr_client *m;
  mgr_proxy *v; /* a var holding 7 */
  counts before;
  int64_t per_stats; /* requests one STATS adds */
} observer;

static void watch(observer *ob, const char *addr, mgr_options *o) {
  ob->m = connect_ok(addr, o);
  mgr_value seven = mgr_int(7);
  assert_int_equal(mgr_var_new(ob->m, &seven, &ob->v), MGR_OK);
  counts a = stats(ob->m);
  ob->before = stats(ob->m);
  ob->per_stats = ob->before.requests - a.requests;
}

/* Nothing was processed since watch(): no request but the observer's own
 * STATS, the var still 7. Returns the counts now. */
static counts unchanged(observer *ob) {
  counts now = stats(ob->m);
  assert_int_equal(now.requests - ob->before.requests, ob->per_stats);
  mgr_value v;
  assert_int_equal(mgr_var_get(ob->v, &v), MGR_OK);
  assert_int_equal(v.type, MGR_T_INT);
  assert_int_equal(v.u.i, 7);
  ob->before = stats(ob->m);
  return now;
}

static void unwatch(observer *ob) {
  mgr_release(ob->v);
  mgr_close(ob->m);
}

/* --- raw connections ------------------------------------------------------- */

static int raw(const char *addr) {
  mgri_addr a;
  assert_int_equal(mgri_addr_parse(addr, &a, NULL, 0), MGR_OK);
  int fd = -1;
  char err[256];
  if (mgri_net_connect(&a, WATCHDOG_MS, false, NULL, &fd, err, sizeof err))
    fail_msg("connect %s: %s", addr, err);
  return fd;
}

static void send_all(int fd, const void *p, size_t n) {
  assert_int_equal(send(fd, p, n, MSG_NOSIGNAL), (ssize_t)n);
}

/* Reads until n bytes came or the stream ended (the watchdog fails the
 * test). The bytes read. */
static size_t recv_upto(int fd, uint8_t *buf, size_t n) {
  size_t got = 0;
  while (got < n) {
    struct pollfd p = {.fd = fd, .events = POLLIN};
    int k = poll(&p, 1, WATCHDOG_MS);
    if (k == 0) fail_msg("watchdog: no data nor end of stream");
    ssize_t r = recv(fd, buf + got, n - got, 0);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break; /* the end, or a reset */
    got += (size_t)r;
  }
  return got;
}

/* The server closes: nothing more comes, then the end of the stream. */
static void expect_closed(int fd) {
  uint8_t b[64];
  assert_int_equal(recv_upto(fd, b, sizeof b), 0);
  close(fd);
}

/* Reads a CHALLENGE; its nonce into ns. */
static void read_challenge(int fd, uint8_t ns[32]) {
  uint8_t ch[MGRI_AUTH_HELLO_LEN];
  assert_int_equal(recv_upto(fd, ch, sizeof ch), sizeof ch);
  assert_memory_equal(ch, "MGRA\x01", 5);
  memcpy(ns, ch + 5, 32);
}

/* A whole good exchange by hand on fd with nonce nc; Mc into mc. */
static void exchange(int fd, const uint8_t nc[32], uint8_t mc[32],
                     uint8_t ns[32]) {
  uint8_t open[MGRI_AUTH_HELLO_LEN], ms[32], proof[32];
  mgri_auth_open(nc, open);
  send_all(fd, open, sizeof open);
  read_challenge(fd, ns);
  assert_int_equal(
      mgri_auth_mac(key, sizeof key, MGRI_AUTH_CLIENT, nc, ns, NULL, 0, mc),
      MGR_OK);
  send_all(fd, mc, 32);
  assert_int_equal(recv_upto(fd, proof, 32), 32);
  assert_int_equal(
      mgri_auth_mac(key, sizeof key, MGRI_AUTH_SERVER, nc, ns, NULL, 0, ms),
      MGR_OK);
  assert_memory_equal(proof, ms, 32);
}

/* A HELLO frame, as a client without a key sends first. */
static size_t hello_frame(uint8_t *out, size_t cap) {
  mgri_buf b;
  mgri_buf_init(&b, 0);
  mgr_value args[4] = {mgr_int(1), mgr_int(1), mgr_int(getpid()), mgr_int(0)};
  mgri_request rq = {
      .rid = 0, .op = MGRI_OP_HELLO, .oid = 0, .args = args, .nargs = 4};
  assert_int_equal(mgri_request_encode(&b, &rq, MGRI_FRAME_MAX_DEFAULT),
                   MGR_OK);
  assert_true(b.len <= cap);
  memcpy(out, b.data, b.len);
  size_t n = b.len;
  mgri_buf_fini(&b);
  return n;
}

/* --- the plain server: tcp and a Unix socket, with a key ------------------ */

static srv S; /* tcp://127.0.0.1:0 and DIR/s */

static int group_setup(void **state) {
  (void)state;
  unsetenv("MGR_AUTHKEY_FILE");
  unsetenv("MGR_AUTHKEY");
  unsetenv("MGR_TLS_CA");
  snprintf(dir, sizeof dir, "/tmp/mgr-remote.XXXXXX");
  if (!mkdtemp(dir)) return -1;
  if (mgri_random(key, sizeof key)) return -1;
  snprintf(keypath, sizeof keypath, "%s/key", dir);
  int fd = open(keypath, O_WRONLY | O_CREAT | O_EXCL, 0600);
  if (fd < 0 || write(fd, key, sizeof key) != (ssize_t)sizeof key) return -1;
  close(fd);
  char cmd[256];
  snprintf(cmd, sizeof cmd, "%s/tests/tls-certs '%s/tls' >/dev/null",
           MGR_SOURCE_DIR, dir);
  if (system(cmd) != 0) return -1;
  char path[128];
  snprintf(path, sizeof path, "%s/s", dir);
  static char unixaddr[128];
  snprintf(unixaddr, sizeof unixaddr, "%s", path);
  static const char *more[1];
  more[0] = unixaddr;
  mgr_server_options o;
  mgr_server_options_init(&o);
  o.address = "tcp://127.0.0.1:0";
  o.listen = more;
  o.nlisten = 1;
  o.authkey_file = keypath;
  return srv_start(&S, &o);
}

static int group_teardown(void **state) {
  (void)state;
  int st = srv_stop(&S);
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  if (system(cmd) != 0) return -1;
  return st == 0 ? 0 : -1;
}

/* Port 0 took a port, and the ready message says which; both addresses
 * serve a client with the key. */
static void test_addresses(void **state) {
  (void)state;
  assert_int_equal(S.n, 2);
  assert_int_equal(strncmp(S.addr[0], "tcp://127.0.0.1:", 16), 0);
  assert_int_not_equal(atoi(S.addr[0] + 16), 0);
  char path[128];
  snprintf(path, sizeof path, "%s/s", dir);
  assert_string_equal(S.addr[1], path);
  mgr_options o;
  opts_key(&o);
  for (size_t i = 0; i < 2; i++) {
    mgr_client *m = connect_ok(S.addr[i], &o);
    assert_int_equal(mgr_ping(m), MGR_OK);
    assert_string_equal(mgr_address(m), S.addr[i]);
    assert_int_equal(mgr_server_pid(m), S.pid);
    mgr_close(m);
  }
  /* The same through the environment, as a remote worker takes it; a
   * Unix socket uses no key from there (and is refused without one). */
  setenv("MGR_AUTHKEY_FILE", keypath, 1);
  mgr_client *m = connect_ok(S.addr[0], NULL);
  assert_int_equal(mgr_ping(m), MGR_OK);
  mgr_close(m);
  assert_int_equal(mgr_connect(S.addr[1], NULL, &m), MGR_ECONNECT);
  assert_non_null(strstr(mgr_errmsg(NULL), "require an authkey"));
  unsetenv("MGR_AUTHKEY_FILE");
  /* IPv6 loopback, when the host has it. */
  srv s6;
  mgr_server_options so;
  mgr_server_options_init(&so);
  so.address = "tcp://[::1]:0";
  so.authkey = key;
  so.authkey_len = sizeof key;
  if (srv_start(&s6, &so) == 0) {
    assert_int_equal(strncmp(s6.addr[0], "tcp://[::1]:", 12), 0);
    m = connect_ok(s6.addr[0], &o);
    assert_int_equal(mgr_ping(m), MGR_OK);
    assert_int_equal(mgr_shutdown(m), MGR_OK);
    assert_int_equal(srv_wait(&s6), 0);
  } else {
    printf("# no IPv6 loopback: [::1] not tested\n");
    srv_stop(&s6);
  }
}

/* TCP without a key: the server refuses to start, the client to connect. */
/* Checks spec R-2.6-a (spec/protocol.md; tests/reqs/check_reqs.py). */
static void test_tcp_needs_key(void **state) {
  (void)state;
  mgr_server_options so;
  mgr_server_options_init(&so);
  so.address = "tcp://127.0.0.1:0";
  assert_int_equal(mgr_server_run(&so), MGR_EINVAL);
  so.address = "tls://127.0.0.1:0";
  assert_int_equal(mgr_server_run(&so), MGR_EINVAL);
  uint8_t k31[31] = {0};
  so.address = "tcp://127.0.0.1:0";
  so.authkey = k31;
  so.authkey_len = sizeof k31;
  assert_int_equal(mgr_server_run(&so), MGR_EINVAL);
  /* A tls:// address with a key but no certificate. */
  so.address = "tls://127.0.0.1:0";
  so.authkey = key;
  so.authkey_len = sizeof key;
  assert_int_equal(mgr_server_run(&so), MGR_EINVAL);
  /* More than 16 addresses; a malformed one. */
  const char *many[16];
  for (int i = 0; i < 16; i++)
    many[i] = "tcp://127.0.0.1:0";
  so.address = "tcp://127.0.0.1:0";
  so.listen = many;
  so.nlisten = 16;
  assert_int_equal(mgr_server_run(&so), MGR_EINVAL);
  so.nlisten = 1;
  const char *badaddr[1] = {"udp://x:1"};
  so.listen = badaddr;
  assert_int_equal(mgr_server_run(&so), MGR_EINVAL);
  /* A group-readable key file. */
  char path[128];
  snprintf(path, sizeof path, "%s/open-key", dir);
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0640);
  assert_true(fd >= 0);
  assert_int_equal(write(fd, key, sizeof key), (ssize_t)sizeof key);
  close(fd);
  assert_int_equal(chmod(path, 0640), 0);
  mgr_server_options_init(&so);
  so.address = "tcp://127.0.0.1:0";
  so.authkey_file = path;
  assert_int_equal(mgr_server_run(&so), MGR_EPERM);
  /* The client. */
  mgr_client *m = NULL;
  assert_int_equal(mgr_connect(S.addr[0], NULL, &m), MGR_EINVAL);
  assert_non_null(strstr(mgr_errmsg(NULL), "needs an authkey"));
  mgr_options o;
  mgr_options_init(&o);
  o.authkey_file = path;
  assert_int_equal(mgr_connect(S.addr[0], &o, &m), MGR_EPERM);
  assert_non_null(strstr(mgr_errmsg(NULL), "chmod 600"));
  o.address = "tcp://127.0.0.1:0";
  o.authkey_file = NULL;
  assert_int_equal(mgr_start(&o, &m), MGR_EINVAL);
  o.address = "tls://127.0.0.1:0";
  o.authkey = key;
  o.authkey_len = sizeof key;
  assert_int_equal(mgr_start(&o, &m), MGR_EINVAL);
}

/* The counters: each refusal adds one auth_failed. */
static void expect_failures(observer *ob, int64_t n) {
  int64_t before = ob->before.auth_failed;
  counts c = unchanged(ob);
  assert_int_equal(c.auth_failed - before, n);
}

/* A wrong key, over TCP and the Unix socket: refused by the server (its
 * counter says so: not merely by the client's check of the PROOF),
 * nothing processed. */
static void test_wrong_key(void **state) {
  (void)state;
  mgr_options o;
  opts_key(&o);
  observer ob;
  watch(&ob, S.addr[0], &o);
  uint8_t other[32];
  memcpy(other, key, sizeof other);
  other[31] ^= 1;
  o.authkey = other;
  for (size_t i = 0; i < 2; i++) {
    mgr_client *m = NULL;
    assert_int_equal(mgr_connect(S.addr[i], &o, &m), MGR_EPERM);
    assert_non_null(strstr(mgr_errmsg(NULL), "authentication failed"));
  }
  expect_failures(&ob, 2);
  unwatch(&ob);
}

/* A client without a key sends HELLO first: refused at its first byte,
 * sent nothing, on both transports. */
static void test_hello_first(void **state) {
  (void)state;
  mgr_options o;
  opts_key(&o);
  observer ob;
  watch(&ob, S.addr[0], &o);
  uint8_t f[64];
  size_t n = hello_frame(f, sizeof f);
  for (size_t i = 0; i < 2; i++) {
    int fd = raw(S.addr[i]);
    send_all(fd, f, n);
    expect_closed(fd);
  }
  expect_failures(&ob, 2);
  /* And the library's own client without a key, on the Unix socket. */
  mgr_client *m = NULL;
  assert_int_equal(mgr_connect(S.addr[1], NULL, &m), MGR_ECONNECT);
  expect_failures(&ob, 1);
  unwatch(&ob);
}

/* A wrong magic or version: refused at that byte, before the rest came. */
static void test_bad_open(void **state) {
  (void)state;
  mgr_options o;
  opts_key(&o);
  observer ob;
  watch(&ob, S.addr[0], &o);
  static const char *const heads[] = {"MGRB", "MGRA\x02", "X"};
  for (size_t i = 0; i < 3; i++) {
    int fd = raw(S.addr[0]);
    send_all(fd, heads[i], i == 1 ? 5 : strlen(heads[i]));
    expect_closed(fd); /* without the other 33 bytes */
  }
  expect_failures(&ob, 3);
  unwatch(&ob);
}

/* The stream ends inside the OPEN or inside the RESPONSE. */
static void test_truncated(void **state) {
  (void)state;
  mgr_options o;
  opts_key(&o);
  observer ob;
  watch(&ob, S.addr[0], &o);
  uint8_t nc[32] = {1}, open[MGRI_AUTH_HELLO_LEN], ns[32];
  mgri_auth_open(nc, open);
  int fd = raw(S.addr[0]);
  send_all(fd, open, 20);
  shutdown(fd, SHUT_WR);
  expect_closed(fd);
  fd = raw(S.addr[0]);
  send_all(fd, open, sizeof open);
  read_challenge(fd, ns);
  uint8_t mc[32];
  mgri_auth_mac(key, sizeof key, MGRI_AUTH_CLIENT, nc, ns, NULL, 0, mc);
  send_all(fd, mc, 31); /* all but the last byte of the right MAC */
  shutdown(fd, SHUT_WR);
  expect_closed(fd);
  expect_failures(&ob, 2);
  unwatch(&ob);
}

/* A RESPONSE recorded from one exchange, replayed in another: Ns differs. */
static void test_replay(void **state) {
  (void)state;
  mgr_options o;
  opts_key(&o);
  observer ob;
  watch(&ob, S.addr[0], &o);
  uint8_t nc[32], mc[32], ns1[32], ns2[32], open[MGRI_AUTH_HELLO_LEN];
  assert_int_equal(mgri_random(nc, sizeof nc), MGR_OK);
  int fd1 = raw(S.addr[0]);
  exchange(fd1, nc, mc, ns1); /* a good one, recorded */
  close(fd1);
  int fd = raw(S.addr[0]);
  mgri_auth_open(nc, open);
  send_all(fd, open, sizeof open);
  read_challenge(fd, ns2);
  assert_memory_not_equal(ns1, ns2, 32); /* a fresh nonce */
  send_all(fd, mc, sizeof mc);
  expect_closed(fd); /* no PROOF */
  /* The exchange that passed was authenticated but sent no request: the
   * observer's counts must not move beyond its failures. */
  expect_failures(&ob, 1);
  unwatch(&ob);
}

/* The server's own label: a MAC "from the server" reflected as the
 * client's. */
static void test_reflect(void **state) {
  (void)state;
  mgr_options o;
  opts_key(&o);
  observer ob;
  watch(&ob, S.addr[0], &o);
  uint8_t nc[32] = {9}, ns[32], ms[32], open[MGRI_AUTH_HELLO_LEN];
  mgri_auth_open(nc, open);
  int fd = raw(S.addr[0]);
  send_all(fd, open, sizeof open);
  read_challenge(fd, ns);
  mgri_auth_mac(key, sizeof key, MGRI_AUTH_SERVER, nc, ns, NULL, 0, ms);
  send_all(fd, ms, sizeof ms);
  expect_closed(fd);
  expect_failures(&ob, 1);
  unwatch(&ob);
}

/* A client that talks before it is authenticated: an OPEN, a RESPONSE it
 * cannot have computed (it has not read the CHALLENGE), and requests, all
 * at once. Refused; the frames are never read. */
static void test_talk_first(void **state) {
  (void)state;
  mgr_options o;
  opts_key(&o);
  observer ob;
  watch(&ob, S.addr[0], &o);
  uint8_t buf[512], nc[32] = {3};
  mgri_auth_open(nc, buf);
  memset(buf + 37, 0xab, 32);
  size_t n = 69 + hello_frame(buf + 69, sizeof buf - 69);
  int fd = raw(S.addr[0]);
  send_all(fd, buf, n);
  uint8_t got[128];
  /* Only the CHALLENGE comes back: 37 bytes, then the end. */
  assert_int_equal(recv_upto(fd, got, sizeof got), MGRI_AUTH_HELLO_LEN);
  close(fd);
  expect_failures(&ob, 1);
  unwatch(&ob);
}

/* What an unauthenticated peer learns: the CHALLENGE, a fresh nonce each
 * time, and nothing else (no version, no error text). */
static void test_nothing_revealed(void **state) {
  (void)state;
  uint8_t nc[32] = {5}, open[MGRI_AUTH_HELLO_LEN], a[128], b[128];
  mgri_auth_open(nc, open);
  int fd1 = raw(S.addr[0]), fd2 = raw(S.addr[0]);
  send_all(fd1, open, sizeof open);
  send_all(fd2, open, sizeof open);
  uint8_t junk[32] = {0};
  assert_int_equal(recv_upto(fd1, a, 37), 37);
  assert_int_equal(recv_upto(fd2, b, 37), 37);
  send_all(fd1, junk, sizeof junk);
  send_all(fd2, junk, sizeof junk);
  assert_int_equal(recv_upto(fd1, a + 37, sizeof a - 37), 0);
  assert_int_equal(recv_upto(fd2, b + 37, sizeof b - 37), 0);
  assert_memory_equal(a, "MGRA\x01", 5);
  assert_memory_not_equal(a + 5, b + 5, 32);
  close(fd1);
  close(fd2);
}

/* Client side: a server that reflects the client's own OPEN and RESPONSE
 * back, and one that replays a CHALLENGE and PROOF recorded from a real
 * exchange. The client refuses both (PERM) and sends no HELLO. So it does
 * a CHALLENGE of a version it does not speak (PROTO), one cut short by the
 * end of the stream (PERM), and a manager that never sends its PROOF
 * (TIMEDOUT, at the connect's deadline). */
static void fake_server(int lfd, int mode, const uint8_t *recorded) {
  int fd = accept(lfd, NULL, NULL);
  if (fd < 0) _exit(2);
  uint8_t open[37], resp[32], rest[64];
  if (recv_upto(fd, open, 37) != 37) _exit(3);
  if (mode == 0) { /* reflect */
    send_all(fd, open, 37);
    if (recv_upto(fd, resp, 32) != 32) _exit(4);
    send_all(fd, resp, 32);
  } else if (mode == 1) { /* replay */
    send_all(fd, recorded, 37);
    if (recv_upto(fd, resp, 32) != 32) _exit(4);
    send_all(fd, recorded + 37, 32);
  } else if (mode == 2) { /* a CHALLENGE of another version */
    uint8_t ch[37];
    memcpy(ch, recorded, 37);
    ch[4] = 2;
    send_all(fd, ch, 37);
  } else if (mode == 3) { /* a third of a CHALLENGE, then the end */
    send_all(fd, recorded, 12);
    close(fd);
    _exit(0);
  } else { /* a CHALLENGE, and no PROOF ever */
    send_all(fd, recorded, 37);
    if (recv_upto(fd, resp, 32) != 32) _exit(4);
  }
  /* The client closes without sending HELLO. */
  _exit(recv_upto(fd, rest, sizeof rest) == 0 ? 0 : 5);
}

static void test_fake_servers(void **state) {
  (void)state;
  /* A real CHALLENGE and PROOF, recorded by watching a real exchange. */
  uint8_t rec[69], nc[32] = {7}, mc[32], ns[32], ms[32];
  int fd = raw(S.addr[0]);
  exchange(fd, nc, mc, ns);
  close(fd);
  memcpy(rec, "MGRA\x01", 5);
  memcpy(rec + 5, ns, 32);
  mgri_auth_mac(key, sizeof key, MGRI_AUTH_SERVER, nc, ns, NULL, 0, ms);
  memcpy(rec + 37, ms, 32);
  for (int mode = 0; mode < 5; mode++) {
    mgri_addr a;
    mgri_addr_parse("tcp://127.0.0.1:0", &a, NULL, 0);
    mgri_addr bound;
    int lfd;
    assert_int_equal(mgri_net_listen(&a, false, &lfd, &bound, NULL, 0), MGR_OK);
    int fl = fcntl(lfd, F_GETFL);
    fcntl(lfd, F_SETFL, fl & ~O_NONBLOCK);
    char addr[MGRI_ADDR_TEXT_MAX];
    mgri_addr_format(&bound, false, addr, sizeof addr);
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) fake_server(lfd, mode, rec);
    close(lfd);
    mgr_options o;
    opts_key(&o);
    /* Mode 4 never proves itself: the connect's own deadline ends it. */
    if (mode == 4) o.timeout_ms = 200;
    mgr_client *m = NULL;
    static const struct {
      int rc;
      const char *msg;
    } want[] = {
        {MGR_EPERM, "did not prove the authkey"},
        {MGR_EPERM, "did not prove the authkey"},
        {MGR_EPROTO, "without an authentication challenge"},
        {MGR_EPERM, "authentication failed: "},
        {MGR_ETIMEDOUT, "authentication timed out"},
    };
    assert_int_equal(mgr_connect(addr, &o, &m), want[mode].rc);
    assert_non_null(strstr(mgr_errmsg(NULL), want[mode].msg));
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
  }
  /* And a manager with no key at all: it answers the OPEN with an error
   * frame, not a CHALLENGE. */
  char sock[128];
  snprintf(sock, sizeof sock, "%s/nokey", dir);
  srv plain;
  mgr_server_options so;
  mgr_server_options_init(&so);
  so.address = sock;
  assert_int_equal(srv_start(&plain, &so), 0);
  mgr_options o;
  opts_key(&o);
  mgr_client *m = NULL;
  assert_int_equal(mgr_connect(sock, &o, &m), MGR_EPROTO);
  assert_non_null(
      strstr(mgr_errmsg(NULL), "without an authentication challenge"));
  assert_int_equal(srv_stop(&plain), 0);
}

/* The deadline and the cap cover connections not yet authenticated; they
 * are closed without a word. */
static void test_preauth_bounds(void **state) {
  (void)state;
  srv s;
  mgr_server_options so;
  mgr_server_options_init(&so);
  so.address = "tcp://127.0.0.1:0";
  so.authkey = key;
  so.authkey_len = sizeof key;
  /* The six connections below must all be accepted within the first one's
   * deadline for the two oldest to be evicted rather than timed out: 2 s
   * leaves room for a loaded machine; the other four then wait it out. */
  so.handshake_timeout_ms = 2000;
  so.max_handshakes = 4;
  assert_int_equal(srv_start(&s, &so), 0);
  int fds[6];
  uint8_t nc[32] = {2}, open[37];
  mgri_auth_open(nc, open);
  for (int i = 0; i < 6; i++) {
    fds[i] = raw(s.addr[0]);
    send_all(fds[i], open, 10); /* a third of an OPEN */
  }
  /* The two oldest were pushed out by the 5th and 6th: closed, nothing
   * sent. The connect() returns before the server accepts, so each
   * eviction is seen as the end of its stream. */
  expect_closed(fds[0]);
  expect_closed(fds[1]);
  /* The other four: closed at the deadline, nothing sent. */
  for (int i = 2; i < 6; i++)
    expect_closed(fds[i]);
  mgr_options o;
  opts_key(&o);
  mgr_client *m = connect_ok(s.addr[0], &o);
  counts c = stats(m);
  assert_int_equal(c.evicted, 2);
  assert_int_equal(c.timeouts, 4);
  assert_int_equal(c.auth_failed, 0); /* those are counted above */
  assert_int_equal(mgr_shutdown(m), MGR_OK);
  assert_int_equal(srv_wait(&s), 0);
}

/* Reads one reply frame from fd (blocking, within the watchdog) into *r,
 * its values in ar. */
static void read_reply(int fd, mgri_arena *ar, mgri_reply *r) {
  static uint8_t body[4096];
  uint8_t h[4];
  assert_int_equal(recv_upto(fd, h, 4), 4);
  size_t n = (size_t)h[0] << 24 | (size_t)h[1] << 16 | (size_t)h[2] << 8 | h[3];
  assert_true(n > 0 && n <= sizeof body);
  assert_int_equal(recv_upto(fd, body, n), n);
  mgri_limits lim;
  mgri_limits_default(&lim);
  mgri_arena_reset(ar);
  mgri_decode_error de;
  assert_int_equal(mgri_reply_decode(body, n, &lim, ar, r, &de), MGR_OK);
}

static bool msg_is(const mgri_reply *r, const char *want) {
  return r->msg && r->msglen == strlen(want) &&
         !memcmp(r->msg, want, r->msglen);
}

/* A client that proved the key but sends no HELLO within the handshake
 * deadline: the server says why (PROTO, "no HELLO within the handshake
 * deadline", rid 0), then closes, and counts it with the handshake
 * timeouts. */
static void test_no_hello_after_auth(void **state) {
  (void)state;
  srv s;
  mgr_server_options so;
  mgr_server_options_init(&so);
  so.address = "tcp://127.0.0.1:0";
  so.authkey = key;
  so.authkey_len = sizeof key;
  so.handshake_timeout_ms = 500;
  assert_int_equal(srv_start(&s, &so), 0);
  int fd = raw(s.addr[0]);
  uint8_t nc[32] = {5}, mc[32], ns[32];
  exchange(fd, nc, mc, ns);
  mgri_arena ar;
  mgri_arena_init(&ar, 0);
  mgri_reply r;
  read_reply(fd, &ar, &r);
  assert_int_equal(r.rid, 0);
  assert_int_equal(r.status, MGR_EPROTO);
  assert_true(msg_is(&r, "no HELLO within the handshake deadline"));
  expect_closed(fd);
  close(fd);
  /* Spec 2.10.2: shared memory is offered on a Unix socket only; over TCP
   * SHM_OPEN is refused (STATE) and the connection goes on. */
  fd = raw(s.addr[0]);
  exchange(fd, nc, mc, ns);
  uint8_t hello[128];
  send_all(fd, hello, hello_frame(hello, sizeof hello));
  read_reply(fd, &ar, &r);
  assert_int_equal(r.status, MGR_OK);
  mgri_buf b;
  mgri_buf_init(&b, 0);
  mgri_request rq = {.rid = 1, .op = MGRI_OP_SHM_OPEN};
  assert_int_equal(mgri_request_encode(&b, &rq, MGRI_FRAME_MAX_DEFAULT),
                   MGR_OK);
  rq.rid = 2;
  rq.op = MGRI_OP_PING;
  assert_int_equal(mgri_request_encode(&b, &rq, MGRI_FRAME_MAX_DEFAULT),
                   MGR_OK);
  send_all(fd, b.data, b.len);
  mgri_buf_fini(&b);
  read_reply(fd, &ar, &r);
  assert_int_equal(r.rid, 1);
  assert_int_equal(r.status, MGR_ESTATE);
  assert_true(msg_is(
      &r, "RuntimeError: shared memory is offered once, on a Unix socket"));
  read_reply(fd, &ar, &r);
  assert_int_equal(r.rid, 2);
  assert_int_equal(r.status, MGR_OK);
  close(fd);
  mgri_arena_fini(&ar);
  mgr_options o;
  opts_key(&o);
  mgr_client *m = connect_ok(s.addr[0], &o);
  counts c = stats(m);
  assert_int_equal(c.timeouts, 1);
  assert_int_equal(c.auth_failed, 0);
  assert_int_equal(mgr_shutdown(m), MGR_OK);
  assert_int_equal(srv_wait(&s), 0);
}

/* TCP_NODELAY and keepalive on the client's socket, as configured, and on
 * the server's end of it as the server was configured: the server's socket
 * is copied into this process with pidfd_getfd(2) (the server is our
 * child) and found by its peer address. */
static int server_socket(pid_t pid, int client_fd) {
  struct sockaddr_storage me, peer;
  socklen_t ml = sizeof me;
  getsockname(client_fd, (struct sockaddr *)&me, &ml);
  int pfd = (int)syscall(SYS_pidfd_open, pid, 0);
  if (pfd < 0) return -1;
  for (int fd = 3; fd < 1024; fd++) {
    int x = (int)syscall(SYS_pidfd_getfd, pfd, fd, 0);
    if (x < 0) continue;
    socklen_t pl = sizeof peer;
    if (getpeername(x, (struct sockaddr *)&peer, &pl) == 0 && pl == ml &&
        !memcmp(&peer, &me, ml)) {
      close(pfd);
      return x;
    }
    close(x);
  }
  close(pfd);
  return -1;
}

static void check_tcp(int fd, int idle_s, int intvl_s, int cnt, unsigned user) {
  int v = 0;
  socklen_t l = sizeof v;
  getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &v, &l);
  assert_int_equal(v, 1);
  getsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &v, &l);
  assert_int_equal(v, 1);
  getsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &v, &l);
  assert_int_equal(v, idle_s);
  getsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &v, &l);
  assert_int_equal(v, intvl_s);
  getsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &v, &l);
  assert_int_equal(v, cnt);
  unsigned u = 0;
  l = sizeof u;
  getsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &u, &l);
  assert_int_equal(u, user);
}

static void test_tcp_options(void **state) {
  (void)state;
  mgr_options o;
  opts_key(&o);
  o.keepalive_idle_ms = 2500; /* 3 s: whole seconds, rounded up */
  o.keepalive_interval_ms = 1000;
  o.keepalive_count = 4;
  mgr_client *m = connect_ok(S.addr[0], &o);
  assert_int_equal(mgr_ping(m), MGR_OK);
  int fd = m->conns->fd;
  check_tcp(fd, 3, 1, 4, 7000);
  /* The server's end: S runs with the defaults (spec 2.7). */
  int sfd = server_socket(S.pid, fd);
  if (sfd < 0) {
    printf("# pidfd_getfd unavailable (%s): the server's socket not checked\n",
           strerror(errno));
  } else {
    check_tcp(sfd, MGRI_KEEPALIVE_IDLE_MS_DEFAULT / 1000,
              MGRI_KEEPALIVE_INTERVAL_MS_DEFAULT / 1000,
              MGRI_KEEPALIVE_COUNT_DEFAULT, MGRI_KEEPALIVE_BOUND_MS_DEFAULT);
    close(sfd);
  }
  mgr_close(m);
}

/* After fork() a child opens and authenticates its own connection. */
static void test_fork_reauth(void **state) {
  (void)state;
  mgr_options o;
  opts_key(&o);
  mgr_client *m = connect_ok(S.addr[0], &o);
  mgr_proxy *v;
  mgr_value zero = mgr_int(0);
  assert_int_equal(mgr_var_new(m, &zero, &v), MGR_OK);
  int64_t before = stats(m).accepted;
  fflush(NULL);
  pid_t pid = fork();
  if (pid == 0) {
    int64_t got = 0;
    _exit(mgr_var_incr_int(v, 5, &got) == MGR_OK && got == 5 ? 0 : 1);
  }
  int st;
  assert_int_equal(waitpid(pid, &st, 0), pid);
  assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
  mgr_value now;
  assert_int_equal(mgr_var_get(v, &now), MGR_OK);
  assert_int_equal(now.u.i, 5);
  assert_true(stats(m).accepted > before); /* the child's own connection */
  mgr_release(v);
  mgr_close(m);
}

/* mgr_start on tcp://127.0.0.1:0: the address it reports has the port. */
static void test_start_tcp(void **state) {
  (void)state;
  mgr_options o;
  opts_key(&o);
  o.address = "tcp://127.0.0.1:0";
  mgr_client *m = NULL;
  assert_int_equal(mgr_start(&o, &m), MGR_OK);
  assert_int_equal(strncmp(mgr_address(m), "tcp://127.0.0.1:", 16), 0);
  assert_int_not_equal(atoi(mgr_address(m) + 16), 0);
  mgr_client *b = connect_ok(mgr_address(m), &o);
  assert_int_equal(mgr_ping(b), MGR_OK);
  mgr_close(b);
  assert_int_equal(mgr_shutdown(m), MGR_OK);
}

/* --- TLS -------------------------------------------------------------------- */

/* A TLS server with the certificate NAME (and client CAs), plus a Unix
 * socket for the observer. */
static void tls_server(srv *s, const char *name, const char *client_ca) {
  static char cert[160], keyf[160], ca[160], sock[160];
  snprintf(cert, sizeof cert, "%s/tls/%s.pem", dir, name);
  snprintf(keyf, sizeof keyf, "%s/tls/%s.key", dir, name);
  snprintf(ca, sizeof ca, "%s/tls/%s.pem", dir, client_ca ? client_ca : "");
  snprintf(sock, sizeof sock, "%s/tls-%s", dir, name);
  static const char *more[1];
  more[0] = sock;
  mgr_server_options so;
  mgr_server_options_init(&so);
  so.address = "tls://127.0.0.1:0";
  so.listen = more;
  so.nlisten = 1;
  so.authkey = key;
  so.authkey_len = sizeof key;
  so.tls_cert = cert;
  so.tls_key = keyf;
  so.tls_ca = client_ca ? ca : NULL;
  assert_int_equal(srv_start(s, &so), 0);
  assert_int_equal(s->n, 2);
}

static void tls_opts(mgr_options *o, char *ca, size_t cap) {
  opts_key(o);
  snprintf(ca, cap, "%s/tls/ca.pem", dir);
  o->tls_ca = ca;
}

/* A client that must be refused by server name (its certificate, or the
 * client's own), with errmsg holding why; nothing processed there. */
static void tls_refused(const char *name, const char *client_ca,
                        const char *cert, const char *ckey, int want_rc,
                        const char *why) {
  srv s;
  tls_server(&s, name, client_ca);
  mgr_options o;
  char ca[160], c[160], k[160];
  tls_opts(&o, ca, sizeof ca);
  observer ob;
  watch(&ob, s.addr[1], &o);
  if (cert) {
    snprintf(c, sizeof c, "%s/tls/%s", dir, cert);
    snprintf(k, sizeof k, "%s/tls/%s", dir, ckey);
    o.tls_cert = c;
    o.tls_key = k;
  }
  mgr_client *m = NULL;
  int rc = mgr_connect(s.addr[0], &o, &m);
  if (rc != want_rc)
    fail_msg("%s: %s, not %s (%s)", name, mgr_err_name(rc),
             mgr_err_name(want_rc), mgr_errmsg(NULL));
  if (!strstr(mgr_errmsg(NULL), why))
    fail_msg("%s: '%s' lacks '%s'", name, mgr_errmsg(NULL), why);
  int64_t tls_before = ob.before.tls_failed;
  counts now = unchanged(&ob);
  assert_int_equal(now.tls_failed - tls_before, 1);
  unwatch(&ob);
  assert_int_equal(srv_stop(&s), 0);
}

static void test_tls(void **state) {
  (void)state;
  srv s;
  tls_server(&s, "server", NULL);
  mgr_options o;
  char ca[160];
  tls_opts(&o, ca, sizeof ca);
  /* By address and by name: the certificate names both. */
  mgr_client *m = connect_ok(s.addr[0], &o);
  assert_int_equal(mgr_ping(m), MGR_OK);
  mgr_close(m);
  /* The CA from $MGR_TLS_CA when the options name none; an empty one is
   * not set (the system's CAs, which do not know the test CA). */
  o.tls_ca = NULL;
  setenv("MGR_TLS_CA", ca, 1);
  m = connect_ok(s.addr[0], &o);
  assert_int_equal(mgr_ping(m), MGR_OK);
  mgr_close(m);
  setenv("MGR_TLS_CA", "", 1);
  m = NULL;
  assert_int_equal(mgr_connect(s.addr[0], &o, &m), MGR_EPERM);
  assert_non_null(strstr(mgr_errmsg(NULL), "certificate verification failed"));
  assert_null(m);
  unsetenv("MGR_TLS_CA");
  o.tls_ca = ca;
  char byname[MGRI_ADDR_TEXT_MAX];
  snprintf(byname, sizeof byname, "tls://localhost:%d",
           atoi(strrchr(s.addr[0], ':') + 1));
  m = connect_ok(byname, &o);
  mgr_value one = mgr_int(1);
  mgr_proxy *v;
  assert_int_equal(mgr_var_new(m, &one, &v), MGR_OK);
  /* A large value through TLS records (several 16 KiB records). */
  static char big[200000];
  memset(big, 'x', sizeof big - 1);
  mgr_value bv = mgr_text(big), back;
  assert_int_equal(mgr_var_set(v, &bv), MGR_OK);
  assert_int_equal(mgr_var_get(v, &back), MGR_OK);
  assert_int_equal(back.u.s.len, sizeof big - 1);
  mgr_value_free(&back);
  mgr_release(v);
  mgr_close(m);
  /* A plain client against the TLS port; the wrong key inside TLS. */
  observer ob;
  watch(&ob, s.addr[1], &o);
  char plain[MGRI_ADDR_TEXT_MAX + 8];
  snprintf(plain, sizeof plain, "tcp://%.*s", (int)(MGRI_ADDR_TEXT_MAX - 8),
           s.addr[0] + 6);
  int64_t tls_before = ob.before.tls_failed;
  assert_int_equal(mgr_connect(plain, &o, &m), MGR_ECONNECT);
  counts c = unchanged(&ob);
  assert_int_equal(c.tls_failed - tls_before, 1);
  uint8_t other[32] = {0};
  o.authkey = other;
  assert_int_equal(mgr_connect(s.addr[0], &o, &m), MGR_EPERM);
  expect_failures(&ob, 1);
  unwatch(&ob);
  assert_int_equal(srv_stop(&s), 0);
  /* Certificates that must not verify. */
  tls_refused("expired", NULL, NULL, NULL, MGR_EPERM, "expired");
  tls_refused("wrongname", NULL, NULL, NULL, MGR_EPERM, "address mismatch");
  tls_refused("unknown-ca", NULL, NULL, NULL, MGR_EPERM, "local issuer");
  /* Client certificates: none, or one from a CA the server does not
   * trust, are refused; the right one passes. */
  tls_refused("server", "ca", NULL, NULL, MGR_ECONNECT,
              "without an authentication");
  tls_refused("server", "ca", "rogue-client.pem", "rogue-client.key",
              MGR_ECONNECT, "without an authentication");
  tls_server(&s, "server", "ca");
  tls_opts(&o, ca, sizeof ca);
  char c2[160], k2[160];
  snprintf(c2, sizeof c2, "%s/tls/client.pem", dir);
  snprintf(k2, sizeof k2, "%s/tls/client.key", dir);
  o.tls_cert = c2;
  o.tls_key = k2;
  m = connect_ok(s.addr[0], &o);
  assert_int_equal(mgr_ping(m), MGR_OK);
  assert_int_equal(mgr_shutdown(m), MGR_OK);
  assert_int_equal(srv_wait(&s), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_addresses),
      cmocka_unit_test(test_tcp_needs_key),
      cmocka_unit_test(test_wrong_key),
      cmocka_unit_test(test_hello_first),
      cmocka_unit_test(test_bad_open),
      cmocka_unit_test(test_truncated),
      cmocka_unit_test(test_replay),
      cmocka_unit_test(test_reflect),
      cmocka_unit_test(test_talk_first),
      cmocka_unit_test(test_nothing_revealed),
      cmocka_unit_test(test_fake_servers),
      cmocka_unit_test(test_preauth_bounds),
      cmocka_unit_test(test_no_hello_after_auth),
      cmocka_unit_test(test_tcp_options),
      cmocka_unit_test(test_fork_reauth),
      cmocka_unit_test(test_start_tcp),
      cmocka_unit_test(test_tls),
  };
  return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
