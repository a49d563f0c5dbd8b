/* mgr tests — the MUSTs of spec/protocol.md that no other test named
 * (tests/reqs/check_reqs.py): the socket's private directory (2.2), the peer
 * uid check (2.3), the manager ops' oid (8.3). A real server in a forked
 * child (readiness by pipe), raw frames. */
#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "mgr/mgr.h"
#include "proto/proto.h"

#define A(...)                                                                 \
  (mgr_value[]){__VA_ARGS__},                                                  \
      sizeof((mgr_value[]){__VA_ARGS__}) / sizeof(mgr_value)
#define WAIT_MS 20000 /* a watchdog against a hung server, not a timing */

static char dir[64];
static char path[128];
static pid_t server;

/* Runs a server on path in a child; 0 when it said it was ready, -1 when it
 * exited first (its exit status in *status). */
static int run_server(int *status) {
  int p[2];
  if (pipe(p)) return -1;
  server = fork();
  if (server < 0) return -1;
  if (server == 0) {
    close(p[0]);
    mgr_server_options o;
    mgr_server_options_init(&o);
    o.address = path;
    o.ready_fd = p[1];
    _exit(mgr_server_run(&o) == MGR_OK ? 0 : 1);
  }
  close(p[1]);
  char b;
  ssize_t r;
  do
    r = read(p[0], &b, 1);
  while (r < 0 && errno == EINTR);
  close(p[0]);
  if (r == 1) return 0;
  while (waitpid(server, status, 0) < 0 && errno == EINTR) {
  }
  server = 0;
  return -1;
}

static void stop_server(void) {
  if (server > 0) {
    kill(server, SIGTERM);
    int st;
    while (waitpid(server, &st, 0) < 0 && errno == EINTR) {
    }
  }
  server = 0;
  unlink(path);
  rmdir(dir);
}

static int connect_to(void) {
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  struct sockaddr_un sa;
  memset(&sa, 0, sizeof sa);
  sa.sun_family = AF_UNIX;
  memcpy(sa.sun_path, path, strlen(path) + 1);
  if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

static int write_all(int fd, const void *p, size_t n) {
  const uint8_t *b = p;
  while (n) {
    ssize_t w = send(fd, b, n, MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return -1;
    b += w;
    n -= (size_t)w;
  }
  return 0;
}

static int send_req(int fd, uint64_t rid, uint64_t op, uint64_t oid,
                    const mgr_value *args, size_t nargs) {
  mgri_buf b;
  mgri_buf_init(&b, 0);
  mgri_request rq = {
      .rid = rid, .op = op, .oid = oid, .args = args, .nargs = nargs};
  int rc = mgri_request_encode(&b, &rq, MGRI_FRAME_MAX_DEFAULT) == MGR_OK
               ? write_all(fd, b.data, b.len)
               : -1;
  int e = errno; /* write_all's, for the caller */
  mgri_buf_fini(&b);
  errno = e;
  return rc;
}

/* Reads exactly n bytes: 1, or 0 at EOF (or reset) first, -1 on timeout. */
static int read_n(int fd, uint8_t *p, size_t n) {
  while (n) {
    struct pollfd pf = {.fd = fd, .events = POLLIN};
    int pr = poll(&pf, 1, WAIT_MS);
    if (pr < 0 && errno == EINTR) continue;
    if (pr == 0) return -1;
    ssize_t r = read(fd, p, n);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return 0;
    p += r;
    n -= (size_t)r;
  }
  return 1;
}

/* The next reply into *rep (decoded in arena): 1, 0 at EOF, -1 otherwise. */
static int next_reply(int fd, mgri_arena *arena, mgri_reply *rep) {
  uint8_t h[4];
  int r = read_n(fd, h, 4);
  if (r != 1) return r == 0 ? 0 : -1;
  size_t n = (size_t)h[0] << 24 | (size_t)h[1] << 16 | (size_t)h[2] << 8 | h[3];
  if (n == 0 || n > MGRI_FRAME_MAX_DEFAULT) return -1;
  uint8_t *body = malloc(n);
  if (!body) return -1;
  if (read_n(fd, body, n) != 1) {
    free(body);
    return -1;
  }
  mgri_limits lim;
  mgri_limits_default(&lim);
  mgri_arena_reset(arena);
  mgri_decode_error de;
  int rc = mgri_reply_decode(body, n, &lim, arena, rep, &de);
  free(body);
  return rc == MGR_OK ? 1 : -1;
}

static void make_dir(mode_t mode) {
  snprintf(dir, sizeof dir, "/tmp/mgr-test-reqs.XXXXXX");
  assert_non_null(mkdtemp(dir));
  assert_int_equal(chmod(dir, mode), 0);
  snprintf(path, sizeof path, "%s/s", dir);
}

/* Checks spec R-2.2-a: the server refuses a socket directory that group or
 * others may enter, and listens in a private one. */
static void test_private_dir(void **st) {
  (void)st;
  static const mode_t open_modes[] = {0755, 0750, 0705, 0770, 0777, 0701};
  for (size_t i = 0; i < sizeof open_modes / sizeof *open_modes; i++) {
    make_dir(open_modes[i]);
    int status = 0;
    if (run_server(&status) == 0) {
      stop_server();
      fail_msg("the server listened in a directory of mode %o",
               (unsigned)open_modes[i]);
    }
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) != 0);
    struct stat sb;
    assert_int_not_equal(stat(path, &sb), 0); /* no socket made */
    rmdir(dir);
  }
  make_dir(0700);
  int status = 0;
  assert_int_equal(run_server(&status), 0);
  stop_server();
}

/* Checks spec R-2.3-a, R-2.3-b, R-2.3-c, R-2.3-d: a peer of another uid gets
 * [0, 24, "permission denied"] and the connection closes; its requests are
 * not processed (the PING it sent is never answered). Needs root (to take
 * another uid); the directory is opened up after the server checked it so
 * that the other uid can reach the socket at all. */
static void test_peer_uid(void **st) {
  (void)st;
  if (geteuid() != 0) {
    skip();
    return;
  }
  make_dir(0700);
  int status = 0;
  assert_int_equal(run_server(&status), 0);
  assert_int_equal(chmod(dir, 0711), 0);
  assert_int_equal(chmod(path, 0777), 0);
  pid_t child = fork();
  assert_true(child >= 0);
  if (child == 0) {
    if (setgid(65534) != 0 || setuid(65534) != 0) _exit(10);
    int fd = connect_to();
    if (fd < 0) _exit(11);
    /* Both requests are sent before anything is read: neither may run.
     * The server may have refused and closed before they are sent (it
     * reads nothing from this peer): the send fails with EPIPE or
     * ECONNRESET, and the refusal is still there to read. */
    if (send_req(fd, 0, MGRI_OP_HELLO, 0,
                 A(mgr_int(1), mgr_int(1), mgr_int(getpid()), mgr_int(0))) == 0)
      (void)send_req(fd, 1, MGRI_OP_PING, 0, A(mgr_int(7)));
    else if (errno != EPIPE && errno != ECONNRESET)
      _exit(12);
    mgri_arena arena;
    mgri_arena_init(&arena, 0);
    mgri_reply rep;
    if (next_reply(fd, &arena, &rep) != 1) _exit(13);
    if (rep.rid != 0 || rep.status != MGR_EPERM) _exit(14);
    if (rep.msglen != strlen("permission denied") ||
        memcmp(rep.msg, "permission denied", rep.msglen) != 0)
      _exit(15);
    if (next_reply(fd, &arena, &rep) != 0)
      _exit(16); /* closed, no PING reply */
    mgri_arena_fini(&arena);
    _exit(0);
  }
  int cs;
  while (waitpid(child, &cs, 0) < 0 && errno == EINTR) {
  }
  /* The server is still there for its own uid. */
  int fd = connect_to();
  assert_true(fd >= 0);
  assert_int_equal(
      send_req(fd, 0, MGRI_OP_HELLO, 0,
               A(mgr_int(1), mgr_int(1), mgr_int(getpid()), mgr_int(0))),
      0);
  mgri_arena arena;
  mgri_arena_init(&arena, 0);
  mgri_reply rep;
  assert_int_equal(next_reply(fd, &arena, &rep), 1);
  assert_int_equal(rep.status, MGR_OK);
  mgri_arena_fini(&arena);
  close(fd);
  stop_server();
  assert_true(WIFEXITED(cs));
  assert_int_equal(WEXITSTATUS(cs), 0);
}

/* Checks spec R-8.3-a: a manager op other than RELEASE and DUMP with an oid
 * other than 0 is BADOP, the connection open. */
static void test_manager_oid(void **st) {
  (void)st;
  make_dir(0700);
  int status = 0;
  assert_int_equal(run_server(&status), 0);
  int fd = connect_to();
  assert_true(fd >= 0);
  mgri_arena arena;
  mgri_arena_init(&arena, 0);
  mgri_reply rep;
  assert_int_equal(
      send_req(fd, 0, MGRI_OP_HELLO, 0,
               A(mgr_int(1), mgr_int(1), mgr_int(getpid()), mgr_int(0))),
      0);
  assert_int_equal(next_reply(fd, &arena, &rep), 1);
  assert_int_equal(rep.status, MGR_OK);
  /* An object to name: CREATE a dict (oid 0). */
  assert_int_equal(send_req(fd, 1, MGRI_OP_CREATE, 0, A(mgr_int(MGR_K_DICT))),
                   0);
  assert_int_equal(next_reply(fd, &arena, &rep), 1);
  assert_int_equal(rep.status, MGR_OK);
  assert_int_equal(rep.result.type, MGR_T_REF);
  uint64_t id = rep.result.u.ref.id;
  static const uint64_t ops[] = {MGRI_OP_PING, MGRI_OP_CREATE, MGRI_OP_LIST,
                                 MGRI_OP_STATS};
  for (size_t i = 0; i < sizeof ops / sizeof *ops; i++) {
    const uint64_t oids[] = {id, id + 1000};
    for (size_t j = 0; j < 2; j++) {
      uint64_t rid = 10 + i * 2 + j;
      if (ops[i] == MGRI_OP_CREATE)
        assert_int_equal(
            send_req(fd, rid, ops[i], oids[j], A(mgr_int(MGR_K_DICT))), 0);
      else
        assert_int_equal(send_req(fd, rid, ops[i], oids[j], NULL, 0), 0);
      assert_int_equal(next_reply(fd, &arena, &rep), 1);
      assert_int_equal(rep.rid, rid);
      if (rep.status != MGR_EBADOP)
        fail_msg("op %llu with oid %llu: %d, not BADOP",
                 (unsigned long long)ops[i], (unsigned long long)oids[j],
                 rep.status);
    }
  }
  /* Still open, and nothing was created by the refused CREATEs. */
  assert_int_equal(send_req(fd, 99, MGRI_OP_LIST, 0, NULL, 0), 0);
  assert_int_equal(next_reply(fd, &arena, &rep), 1);
  assert_int_equal(rep.status, MGR_OK);
  assert_int_equal(rep.result.type, MGR_T_ARRAY);
  assert_int_equal(rep.result.u.a.len, 1);
  mgri_arena_fini(&arena);
  close(fd);
  stop_server();
}

int main(void) {
  signal(SIGPIPE, SIG_IGN);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_private_dir),
      cmocka_unit_test(test_peer_uid),
      cmocka_unit_test(test_manager_oid),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
