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
#define BUFSZ 65536

typedef struct conn {
  int fd;
  size_t len;
  unsigned char buf[BUFSZ];
} conn;

static void put_be32(unsigned char *p, uint32_t v) {
  p[0] = (unsigned char)(v >> 24);
  p[1] = (unsigned char)(v >> 16);
  p[2] = (unsigned char)(v >> 8);
  p[3] = (unsigned char)v;
}

static uint32_t get_be32(const unsigned char *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 |
         p[3];
}

/* The server: frames in, one reply frame out per whole request frame. */
static void serve(int lfd, int rep_size) {
  int ep = epoll_create1(0);
  struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
  epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
  unsigned char reply[4096];
  memset(reply, 0xa5, sizeof reply);
  put_be32(reply, (uint32_t)rep_size - 4);
  struct epoll_event evs[64];
  for (;;) {
    int n = epoll_wait(ep, evs, 64, -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      _exit(1);
    }
    for (int i = 0; i < n; i++) {
      conn *c = evs[i].data.ptr;
      if (!c) {
        int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0) continue;
        c = calloc(1, sizeof *c);
        c->fd = fd;
        struct epoll_event cev = {.events = EPOLLIN, .data.ptr = c};
        epoll_ctl(ep, EPOLL_CTL_ADD, fd, &cev);
        continue;
      }
      ssize_t r = read(c->fd, c->buf + c->len, sizeof c->buf - c->len);
      if (r <= 0) {
        if (r < 0 && errno == EINTR) continue;
        epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
        close(c->fd);
        free(c);
        continue;
      }
      c->len += (size_t)r;
      size_t pos = 0;
      while (c->len - pos >= 4) {
        uint32_t body = get_be32(c->buf + pos);
        if (body == 0 || body > BUFSZ - 4) _exit(2);
        if (c->len - pos < 4 + body) break;
        pos += 4 + body;
        if (bench_write_all(c->fd, reply, (size_t)rep_size)) break;
      }
      memmove(c->buf, c->buf + pos, c->len - pos);
      c->len -= pos;
    }
  }
}

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
  put_be32(req, (uint32_t)x->req_size - 4);
  for (int i = 0; i < x->warmup; i++)
    if (roundtrip(x, req, rep)) return -1;
  return 0;
}

static int f_run(void *ctx, int op, int idx, int nclients, long n) {
  (void)op, (void)idx, (void)nclients;
  floor_ctx *x = ctx;
  unsigned char req[4096], rep[4096];
  memset(req, 0x5a, sizeof req);
  put_be32(req, (uint32_t)x->req_size - 4);
  for (long i = 0; i < n; i++)
    if (roundtrip(x, req, rep)) {
      perror("floor: round trip");
      return -1;
    }
  if (get_be32(rep) != (uint32_t)x->rep_size - 4) return -1;
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
  if (srv == 0) serve(lfd, o.rep_size);
  close(lfd);

  bench_client c = {f_setup, f_run, NULL, NULL, &x};
  int fails = bench_sweep("floor", &o, &c);
  kill(srv, SIGTERM);
  waitpid(srv, NULL, 0);
  unlink(x.addr.sun_path);
  return fails ? 1 : 0;
}
