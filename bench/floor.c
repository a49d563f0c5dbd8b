/* bench — the floor: a raw Unix-socket ping-pong with mgr's frame sizes.
 *
 * The client writes one request frame (4-byte big-endian length + body, as
 * large as mgr's dict-incr request) and reads one reply frame; the server is a
 * forked single-threaded epoll loop that answers every whole frame it reads.
 * No encoding, no dispatch: what is left is the kernel's round trip, the
 * physical limit any manager on this socket type can approach. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common.h"

typedef struct floor_ctx {
  struct sockaddr_un addr;
  int req_size, rep_size, warmup;
  int fd; /* the client's connection, in the child */
} floor_ctx;

#define MAXCONN 256
static int roundtrip(floor_ctx *x, unsigned char *req, unsigned char *rep) {
  if (bench_write_all(x->fd, req, (size_t)x->req_size)) return -1;
  return bench_read_all(x->fd, rep, (size_t)x->rep_size);
}

static int f_setup(void *ctx, int op, int idx, int nclients) {
  (void)op, (void)idx, (void)nclients;
  floor_ctx *x = ctx;
  x->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (x->fd < 0 ||
      connect(x->fd, (struct sockaddr *)&x->addr, sizeof x->addr)) {
    perror("floor: connect");
    return -1;
  }
  unsigned char req[4096], rep[4096];
  memset(req, 0x5a, sizeof req);
  bench_put_be32(req, (uint32_t)x->req_size - 4);
  for (int i = 0; i < x->warmup; i++)
    if (roundtrip(x, req, rep)) return -1;
  return 0;
}

static int f_run(void *ctx, int op, int idx, int nclients, long n) {
  (void)op, (void)idx, (void)nclients;
  floor_ctx *x = ctx;
  unsigned char req[4096], rep[4096];
  memset(req, 0x5a, sizeof req);
  bench_put_be32(req, (uint32_t)x->req_size - 4);
  for (long i = 0; i < n; i++)
    if (roundtrip(x, req, rep)) {
      perror("floor: round trip");
      return -1;
    }
  if (bench_get_be32(rep) != (uint32_t)x->rep_size - 4) return -1;
  return 0;
}

int main(int argc, char **argv) {
  static const int ops[] = {OP_RT};
  bench_opts o;
  bench_parse(argc, argv, &o, ops, 1);
  floor_ctx x;
  memset(&x, 0, sizeof x);
  x.req_size = o.req_size;
  x.rep_size = o.rep_size;
  x.warmup = o.warmup;
  x.addr.sun_family = AF_UNIX;
  snprintf(x.addr.sun_path, sizeof x.addr.sun_path,
           "%s/mgr-bench-floor.%d.sock", o.tmpdir, (int)getpid());
  unlink(x.addr.sun_path);
  int lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (lfd < 0 || bind(lfd, (struct sockaddr *)&x.addr, sizeof x.addr) ||
      listen(lfd, 128))
    bench_die("floor: listen", strerror(errno));
  fflush(NULL);
  pid_t srv = fork();
  if (srv < 0) bench_die("fork", strerror(errno));
  if (srv == 0) bench_floor_serve(lfd, (size_t)o.rep_size);
  close(lfd);

  bench_client c = {f_setup, f_run, NULL, NULL, &x};
  int fails = bench_sweep("floor", &o, &c);
  kill(srv, SIGTERM);
  waitpid(srv, NULL, 0);
  unlink(x.addr.sun_path);
  return fails ? 1 : 0;
}
