/* bench — single calls interleaved (issue 15, item 5): set, get and incr on
 * one mgr connection and the raw ping-pong of floor.c, in blocks of B calls
 * that take turns (the first op rotating), so that every op is measured in
 * the same moments and a change of load or of CPU placement moves them all
 * alike. bench/run measures each (op, contender) in a process of its own,
 * one after the other: on this VM two such windows can differ by 2x.
 *
 * usage: bench_interleave [--blocks N] [--block B] [--same-cpu]
 *   --same-cpu  pins the client, the manager and the ping-pong server to
 *               CPU 0 (a round trip is then two context switches on one CPU)
 * Prints, for each op, the median over the blocks of the µs per call and its
 * ratio to the floor's (time / floor time: 1.00 is at the floor). */
#define _GNU_SOURCE
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "mgr/mgr.h"

enum { O_SET, O_GET, O_INCR, O_FLOOR, O_N };
static const char *const names[O_N] = {"set", "get", "incr", "floor"};

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* The ping-pong server of floor.c over a socketpair: an epoll loop that
 * answers each 16-byte request with a 12-byte reply. */
static void floor_serve(int fd) {
  int ep = epoll_create1(0);
  struct epoll_event ev = {.events = EPOLLIN};
  epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
  unsigned char rq[16], rp[12] = {0, 0, 0, 8};
  for (;;) {
    if (epoll_wait(ep, &ev, 1, -1) < 1) continue;
    size_t got = 0;
    while (got < sizeof rq) {
      ssize_t k = recv(fd, rq + got, sizeof rq - got, 0);
      if (k <= 0) _exit(0);
      got += (size_t)k;
    }
    if (send(fd, rp, sizeof rp, 0) != (ssize_t)sizeof rp) _exit(1);
  }
}

static int floor_call(int fd) {
  unsigned char rq[16] = {0, 0, 0, 12}, rp[12];
  if (write(fd, rq, sizeof rq) != (ssize_t)sizeof rq) return -1;
  for (size_t got = 0; got < sizeof rp;) {
    ssize_t k = read(fd, rp + got, sizeof rp - got);
    if (k <= 0) return -1;
    got += (size_t)k;
  }
  return 0;
}

static int cmpd(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static int pin0(pid_t pid) {
  cpu_set_t s;
  CPU_ZERO(&s);
  CPU_SET(0, &s);
  return sched_setaffinity(pid, sizeof s, &s);
}

int main(int argc, char **argv) {
  int blocks = 100, bs = 200;
  bool same = false;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--blocks") && i + 1 < argc)
      blocks = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--block") && i + 1 < argc)
      bs = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--same-cpu"))
      same = true;
    else {
      fprintf(stderr, "usage: %s [--blocks N] [--block B] [--same-cpu]\n",
              argv[0]);
      return 2;
    }
  }
  if (blocks < 1 || bs < 1) return 2;
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv)) return perror("socketpair"), 1;
  pid_t fpid = fork();
  if (fpid == 0) {
    close(sv[0]);
    floor_serve(sv[1]);
  }
  close(sv[1]);
  mgr_client *m;
  mgr_proxy *d;
  int e = mgr_start(NULL, &m);
  if (!e) e = mgr_dict_new(m, NULL, &d);
  if (e) return fprintf(stderr, "mgr: %s\n", mgr_err_name(e)), 1;
  if (same && (pin0(0) || pin0(fpid) || pin0((pid_t)mgr_server_pid(m))))
    return perror("sched_setaffinity"), 1;
  mgr_value k0 = mgr_text("k0"), c = mgr_text("c"), v;
  double *t[O_N];
  for (int o = 0; o < O_N; o++)
    t[o] = calloc((size_t)blocks, sizeof(double));
  for (int b = -1; b < blocks; b++) /* block -1: warm-up */
    for (int j = 0; j < O_N; j++) {
      int o = (j + b + 1) % O_N;
      double t0 = now();
      for (int i = 0; i < bs; i++) {
        switch (o) {
        case O_SET:
          v = mgr_int(i);
          e = mgr_dict_set(d, &k0, &v);
          break;
        case O_GET:
          e = mgr_dict_get(d, &k0, &v);
          if (!e) mgr_value_free(&v);
          break;
        case O_INCR:
          e = mgr_dict_incr_int(d, &c, 1, true, NULL);
          break;
        default:
          e = floor_call(sv[0]) ? MGR_ECLOSED : MGR_OK;
        }
        if (e) return fprintf(stderr, "%s: %s\n", names[o], mgr_err_name(e)), 1;
      }
      if (b >= 0) t[o][b] = (now() - t0) * 1e6 / bs;
    }
  double med[O_N];
  for (int o = 0; o < O_N; o++) {
    qsort(t[o], (size_t)blocks, sizeof(double), cmpd);
    med[o] = t[o][blocks / 2];
  }
  printf("%s, %d blocks of %d calls (median of the blocks' us per call)\n",
         same ? "one CPU" : "CPUs as the scheduler places them", blocks, bs);
  for (int o = 0; o < O_N; o++)
    printf("%-5s %7.2f us  floor/this %.3f\n", names[o], med[o],
           med[O_FLOOR] / med[o]);
  mgr_shutdown(m);
  close(sv[0]);
  return 0;
}
