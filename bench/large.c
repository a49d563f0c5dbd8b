/* bench — large values at the floor (issue 15, item 3): mgr_var_set and
 * mgr_var_get of one bytes value of 64 KiB, 1 MiB and 16 MiB against a raw
 * socket round trip that carries the same payload, interleaved in one
 * window.
 *
 * The raw round trip ("raw set", "raw get") runs over a socketpair to a
 * forked epoll server that works as mgr's does (non-blocking reads after
 * epoll_wait until the frame is whole): raw set sends a frame of 4 + N
 * bytes and reads a 12-byte reply; raw get sends a 16-byte request and
 * reads a frame of 4 + N bytes. Both sides keep their buffers, allocated
 * and touched once: no page faults, no copies but the kernel's — the
 * floor any transport over this socket can reach. mgr runs over the
 * transport it chooses (MGR_SHM=0 in the environment keeps it on the
 * socket), with the frame limit raised to 32 MiB on both sides.
 *
 * usage: bench_large [--sizes 65536,1048576,16777216] [--blocks N]
 *                    [--bytes B] [--transport socket|shm|both]
 *   --bytes   payload bytes per block and op (default 64 MiB; at least 2
 *             ops per block)
 * Each block runs raw set, mgr set, raw get, mgr get (the first rotating);
 * per block the ratio raw time / mgr time (1.00 = at the floor). Prints
 * one line per size and op: the median µs per op of each, the GB/s, and
 * the ratio's median [min-max] over the blocks; and machine-readable
 * lines "large,<transport>,<op>,<size>,<mgr_us>,<raw_us>,<ratio_med>,
 * <ratio_min>,<ratio_max>". */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "mgr/mgr.h"

#define FRAME_MAX (32u << 20)

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

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

static int write_all(int fd, const unsigned char *p, size_t n) {
  while (n) {
    ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return -1;
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

static int read_all(int fd, unsigned char *p, size_t n) {
  while (n) {
    ssize_t r = recv(fd, p, n, 0);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return -1;
    p += r;
    n -= (size_t)r;
  }
  return 0;
}

/* The raw server: a request whose body is 12 bytes asks for a frame of the
 * size its first 4 body bytes give (get); any other is a payload answered
 * with 12 bytes (set). Reads as mgr's loop does: epoll_wait, then
 * non-blocking reads until EAGAIN. */
static void raw_serve(int fd, size_t max) {
  unsigned char *in = malloc(max + 4), *out = malloc(max + 4);
  if (!in || !out) _exit(1);
  memset(in, 1, max + 4);
  memset(out, 0xa5, max + 4);
  int ep = epoll_create1(0);
  struct epoll_event ev = {.events = EPOLLIN};
  epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
  size_t have = 0;
  for (;;) {
    if (epoll_wait(ep, &ev, 1, -1) < 1) continue;
    for (;;) {
      size_t want = have < 4 ? 4 - have : 4 + get_be32(in) - have;
      if (want == 0) {
        uint32_t body = get_be32(in);
        size_t n = body == 12 ? get_be32(in + 4) : 8;
        put_be32(out, (uint32_t)n);
        if (write_all(fd, out, 4 + n)) _exit(0);
        have = 0;
        continue;
      }
      ssize_t r = recv(fd, in + have, want, MSG_DONTWAIT);
      if (r < 0 && errno == EINTR) continue;
      if (r < 0 && errno == EAGAIN) break;
      if (r <= 0) _exit(0);
      have += (size_t)r;
    }
  }
}

static int cmpd(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

enum { RAW_SET, MGR_SET, RAW_GET, MGR_GET, K_N };
static const char *const names[K_N] = {"raw set", "mgr set", "raw get",
                                       "mgr get"};

int main(int argc, char **argv) {
  size_t sizes[8] = {65536, 1048576, 16777216};
  int nsizes = 3, blocks = 15;
  double bytes = 64.0 * 1048576;
  const char *transport = "both";
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--sizes") && i + 1 < argc) {
      nsizes = 0;
      for (char *s = strtok(argv[++i], ","); s && nsizes < 8;
           s = strtok(NULL, ","))
        sizes[nsizes++] = (size_t)strtoull(s, NULL, 10);
    } else if (!strcmp(argv[i], "--blocks") && i + 1 < argc) {
      blocks = atoi(argv[++i]);
    } else if (!strcmp(argv[i], "--bytes") && i + 1 < argc) {
      bytes = atof(argv[++i]);
    } else if (!strcmp(argv[i], "--transport") && i + 1 < argc) {
      transport = argv[++i];
    } else {
      fprintf(stderr,
              "usage: %s [--sizes A,B,..] [--blocks N] [--bytes B] "
              "[--transport socket|shm|both]\n",
              argv[0]);
      return 2;
    }
  }
  size_t max = 0;
  for (int s = 0; s < nsizes; s++) {
    if (sizes[s] < 16 || sizes[s] > FRAME_MAX - 64) return 2;
    if (sizes[s] > max) max = sizes[s];
  }
  if (blocks < 1) return 2;
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv))
    return perror("socketpair"), 1;
  fflush(NULL);
  pid_t rpid = fork();
  if (rpid == 0) {
    close(sv[0]);
    raw_serve(sv[1], max);
  }
  close(sv[1]);
  unsigned char *rin = malloc(max + 4), *rout = malloc(max + 4),
                *payload = malloc(max);
  if (!rin || !rout || !payload) return 1;
  memset(rin, 2, max + 4);
  memset(rout, 0x5a, max + 4);
  for (size_t i = 0; i < max; i++)
    payload[i] = (unsigned char)(i * 131 + 7);

  const char *ts[2] = {"socket", "shm"};
  for (int t = 0; t < 2; t++) {
    if (strcmp(transport, "both") && strcmp(transport, ts[t])) continue;
    mgr_options o;
    mgr_options_init(&o);
    o.max_frame = FRAME_MAX;
    o.max_memory = (size_t)4 << 30;
    if (t == 0)
      setenv("MGR_SHM", "0", 1);
    else
      unsetenv("MGR_SHM");
    mgr_client *m;
    mgr_proxy *v;
    mgr_value nil = mgr_nil();
    int e = mgr_start(&o, &m);
    if (!e) e = mgr_var_new(m, &nil, &v);
    if (e)
      return fprintf(stderr, "mgr: %s (%s)\n", mgr_err_name(e),
                     mgr_errmsg(NULL)),
             1;
    for (int s = 0; s < nsizes; s++) {
      size_t n = sizes[s];
      int bs = (int)(bytes / (double)n);
      if (bs < 2) bs = 2;
      if (bs > 400) bs = 400;
      double *tm[K_N];
      for (int k = 0; k < K_N; k++)
        tm[k] = calloc((size_t)blocks, sizeof(double));
      mgr_value val = mgr_bytes(payload, n);
      for (int b = -1; b < blocks; b++) /* block -1: warm-up */
        for (int j = 0; j < K_N; j++) {
          int k = (j + b + 1) % K_N;
          double t0 = now();
          for (int i = 0; i < bs; i++) {
            switch (k) {
            case RAW_SET:
              put_be32(rout, (uint32_t)n);
              if (write_all(sv[0], rout, 4 + n) || read_all(sv[0], rin, 12))
                return fprintf(stderr, "raw set failed\n"), 1;
              break;
            case RAW_GET:
              put_be32(rout, 12);
              put_be32(rout + 4, (uint32_t)n);
              if (write_all(sv[0], rout, 16) || read_all(sv[0], rin, 4 + n) ||
                  get_be32(rin) != n)
                return fprintf(stderr, "raw get failed\n"), 1;
              break;
            case MGR_SET:
              e = mgr_var_set(v, &val);
              if (e)
                return fprintf(stderr, "mgr set: %s (%s)\n", mgr_err_name(e),
                               mgr_errmsg(m)),
                       1;
              break;
            default: {
              mgr_value got;
              e = mgr_var_get(v, &got);
              if (e)
                return fprintf(stderr, "mgr get: %s (%s)\n", mgr_err_name(e),
                               mgr_errmsg(m)),
                       1;
              if (got.type != MGR_T_BYTES || got.u.s.len != n ||
                  memcmp(got.u.s.ptr, payload, 64) ||
                  memcmp(got.u.s.ptr + n - 64, payload + n - 64, 64))
                return fprintf(stderr, "mgr get: wrong value\n"), 1;
              mgr_value_free(&got);
            }
            }
          }
          if (b >= 0) tm[k][b] = (now() - t0) * 1e6 / bs;
        }
      for (int op = 0; op < 2; op++) {
        int raw = op ? RAW_GET : RAW_SET, mg = op ? MGR_GET : MGR_SET;
        double *r = calloc((size_t)blocks, sizeof(double));
        for (int b = 0; b < blocks; b++)
          r[b] = tm[raw][b] / tm[mg][b];
        qsort(r, (size_t)blocks, sizeof(double), cmpd);
        qsort(tm[raw], (size_t)blocks, sizeof(double), cmpd);
        qsort(tm[mg], (size_t)blocks, sizeof(double), cmpd);
        double mu = tm[mg][blocks / 2], ru = tm[raw][blocks / 2];
        printf("%-6s %-8s %9zu B  mgr %9.1f us (%5.2f GB/s)  raw %9.1f us "
               "(%5.2f GB/s)  raw/mgr %.2f [%.2f-%.2f]\n",
               ts[t], names[mg] + 4, n, mu, (double)n / mu / 1e3, ru,
               (double)n / ru / 1e3, r[blocks / 2], r[0], r[blocks - 1]);
        printf("large,%s,%s,%zu,%.1f,%.1f,%.3f,%.3f,%.3f\n", ts[t],
               names[mg] + 4, n, mu, ru, r[blocks / 2], r[0], r[blocks - 1]);
        fflush(stdout);
        free(r);
      }
      for (int k = 0; k < K_N; k++)
        free(tm[k]);
    }
    mgr_release(v);
    mgr_shutdown(m);
  }
  close(sv[0]);
  return 0;
}
