/* bench — the shared harness (see common.h). */
#include "common.h"

#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

const char *const bench_op_names[OP_N] = {
    "set", "get", "incr", "add", "lock", "rt", "qpair", "qpc", "qpcb", "sem"};

/* A child reports its own start and end (CLOCK_MONOTONIC is system-wide),
 * and what it received of a queue. */
typedef struct child_result {
  double t0, t1;
  int32_t status;
  int32_t idx;
  uint64_t items, hash;
} child_result;

/* --- the queue workloads ------------------------------------------------ */

bool bench_op_is_queue(int op) {
  return op == OP_QPAIR || op == OP_QPC || op == OP_QPCB;
}

static bool split(int op) { return op == OP_QPC || op == OP_QPCB; }

bool bench_is_producer(int op, int idx, int nclients) {
  return op == OP_QPAIR || (split(op) && idx < nclients / 2);
}

bool bench_is_consumer(int op, int idx, int nclients) {
  return op == OP_QPAIR || (split(op) && idx >= nclients / 2);
}

long bench_share(int op, int idx, int nclients, long ops) {
  if (op == OP_SEM) return ops; /* both sides do every round */
  if (split(op)) { /* ops items: put by one side, got by the other */
    int np = nclients / 2;
    if (idx >= np)
      idx -= np, nclients -= np;
    else
      nclients = np;
  }
  return ops / nclients + (idx < ops % nclients ? 1 : 0);
}

uint64_t bench_item(int producer, long seq) {
  return (uint64_t)producer << 32 | (uint64_t)seq;
}

/* splitmix64's finalizer: a sum of these over a multiset of items tells a
 * duplicate-plus-loss from the right items (2^-64 chance it does not). */
static uint64_t mix(uint64_t z) {
  z += 0x9e3779b97f4a7c15u;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
  return z ^ (z >> 31);
}

/* In a client process: what it got, and the last sequence number per
 * producer (items of one producer come out of a FIFO in order). */
static uint64_t got_items, got_hash;
static int64_t got_last[BENCH_MAX_CLIENTS];

static void got_reset(void) {
  got_items = got_hash = 0;
  for (int i = 0; i < BENCH_MAX_CLIENTS; i++)
    got_last[i] = -1;
}

int bench_got(uint64_t item) {
  uint64_t p = item >> 32;
  int64_t seq = (int64_t)(item & 0xffffffffu);
  if (p >= BENCH_MAX_CLIENTS) {
    fprintf(stderr, "bench: got item %#llx, which no producer puts\n",
            (unsigned long long)item);
    return -1;
  }
  if (seq <= got_last[p]) {
    fprintf(stderr,
            "bench: got item %lld of producer %d after its item %lld "
            "(a duplicate, or out of FIFO order)\n",
            (long long)seq, (int)p, (long long)got_last[p]);
    return -1;
  }
  got_last[p] = seq;
  got_items++;
  got_hash += mix(item);
  return 0;
}

/* What the last bench_run_clients' clients got, summed. */
static uint64_t run_items, run_hash;

/* Every item the producers of a measurement put was got exactly once. */
static int verify_items(const char *contender, int op, int nclients, long ops) {
  uint64_t items = 0, hash = 0;
  for (int i = 0; i < nclients; i++) {
    if (!bench_is_producer(op, i, nclients)) continue;
    long n = bench_share(op, i, nclients, ops);
    for (long s = 0; s < n; s++) {
      items++;
      hash += mix(bench_item(i, s));
    }
  }
  if (items != (uint64_t)ops || run_items != items || run_hash != hash) {
    fprintf(stderr,
            "bench: %s %s x%d: the consumers got %llu items (hash %016llx), "
            "the producers put %llu (hash %016llx)\n",
            contender, bench_op_names[op], nclients,
            (unsigned long long)run_items, (unsigned long long)run_hash,
            (unsigned long long)items, (unsigned long long)hash);
    return -1;
  }
  return 0;
}

double bench_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void bench_die(const char *what, const char *msg) {
  fprintf(stderr, "bench: %s: %s\n", what, msg);
  exit(1);
}

static int parse_op(const char *s) {
  for (int i = 0; i < OP_N; i++)
    if (strcmp(s, bench_op_names[i]) == 0) return i;
  bench_die("unknown op", s);
  return -1;
}

static long parse_long(const char *s, const char *what) {
  char *end;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (errno || *end || v < 0) bench_die(what, s);
  return v;
}

void bench_parse(int argc, char **argv, bench_opts *o, const int *default_ops,
                 int ndefault_ops) {
  memset(o, 0, sizeof *o);
  o->ops = 20000;
  o->clients[0] = 1;
  o->clients[1] = 4;
  o->clients[2] = 16;
  o->nclients = 3;
  for (int i = 0; i < ndefault_ops; i++)
    o->opset[i] = default_ops[i];
  o->nops = ndefault_ops;
  o->warmup = 200;
  /* mgr's dict-incr frames once rids need 3 bytes (rid 256..65535):
   * request [rid, 30, oid, ["c", 1, 0]] = 4 + 12 bytes, reply [rid, 0, n] = 4
   * + 8. */
  o->req_size = 16;
  o->rep_size = 12;
  o->tmpdir = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";

  static const struct option longopts[] = {
      {"ops", required_argument, 0, 'n'},
      {"clients", required_argument, 0, 'c'},
      {"only", required_argument, 0, 'o'},
      {"mem", required_argument, 0, 'm'},
      {"warmup", required_argument, 0, 'w'},
      {"req-size", required_argument, 0, 'q'},
      {"rep-size", required_argument, 0, 'r'},
      {"tmpdir", required_argument, 0, 't'},
      {0, 0, 0, 0}};
  int ch;
  while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
    char *s, *save, *tok;
    switch (ch) {
    case 'n':
      o->ops = parse_long(optarg, "--ops");
      break;
    case 'm':
      o->mem = parse_long(optarg, "--mem");
      break;
    case 'w':
      o->warmup = (int)parse_long(optarg, "--warmup");
      break;
    case 'q':
      o->req_size = (int)parse_long(optarg, "--req-size");
      break;
    case 'r':
      o->rep_size = (int)parse_long(optarg, "--rep-size");
      break;
    case 't':
      o->tmpdir = optarg;
      break;
    case 'c':
      o->nclients = 0;
      s = strdup(optarg);
      for (tok = strtok_r(s, ",", &save); tok;
           tok = strtok_r(NULL, ",", &save)) {
        long v = parse_long(tok, "--clients");
        if (v < 1 || v > BENCH_MAX_CLIENTS || o->nclients == BENCH_MAX_CLIENTS)
          bench_die("--clients", tok);
        o->clients[o->nclients++] = (int)v;
      }
      free(s);
      break;
    case 'o':
      o->nops = 0;
      s = strdup(optarg);
      for (tok = strtok_r(s, ",", &save); tok;
           tok = strtok_r(NULL, ",", &save)) {
        if (o->nops == BENCH_MAX_OPS) bench_die("--only", "too many ops");
        o->opset[o->nops++] = parse_op(tok);
      }
      free(s);
      break;
    default:
      exit(2);
    }
  }
  if (o->req_size < 5 || o->rep_size < 5 || o->req_size > 4096 ||
      o->rep_size > 4096)
    bench_die("frame sizes", "must be 5..4096 bytes");
}

int bench_write_all(int fd, const void *p, size_t n) {
  const char *c = p;
  while (n) {
    ssize_t w = write(fd, c, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return -1;
    c += w;
    n -= (size_t)w;
  }
  return 0;
}

int bench_read_all(int fd, void *p, size_t n) {
  char *c = p;
  while (n) {
    ssize_t r = read(fd, c, n);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return -1;
    c += r;
    n -= (size_t)r;
  }
  return 0;
}

/* Waits for fd to be readable, for at most ms; 0 when readable. */
static int wait_readable(int fd, int ms) {
  struct pollfd p = {.fd = fd, .events = POLLIN};
  for (;;) {
    int r = poll(&p, 1, ms);
    if (r < 0 && errno == EINTR) continue;
    return r == 1 ? 0 : -1;
  }
}

int bench_run_clients(const bench_client *c, int op, int nclients, long ops,
                      double *ops_per_s, double *lat_us) {
  int ready[2], go[2], res[2];
  pid_t pids[BENCH_MAX_CLIENTS];
  if (pipe(ready) || pipe(go) || pipe(res)) bench_die("pipe", strerror(errno));
  fflush(NULL);
  for (int i = 0; i < nclients; i++) {
    pid_t pid = fork();
    if (pid < 0) bench_die("fork", strerror(errno));
    if (pid == 0) {
      close(ready[0]);
      close(go[1]);
      close(res[0]);
      /* Client i does its share; the first ones take the remainder. */
      long n = bench_share(op, i, nclients, ops);
      child_result r = {0, 0, 0, i, 0, 0};
      r.status = c->setup ? c->setup(c->ctx, op, i, nclients) : 0;
      got_reset(); /* the warm-up's items do not count */
      char b = r.status ? 'e' : 'r';
      if (bench_write_all(ready[1], &b, 1)) _exit(3);
      if (r.status == 0) {
        char x;
        /* The parent closes its end of go when everyone is ready: EOF. */
        while (read(go[0], &x, 1) < 0 && errno == EINTR) {
        }
        r.t0 = bench_now();
        r.status = c->run(c->ctx, op, i, nclients, n);
        r.t1 = bench_now();
        r.items = got_items;
        r.hash = got_hash;
      }
      if (bench_write_all(res[1], &r, sizeof r)) _exit(3);
      _exit(r.status ? 1 : 0);
    }
    pids[i] = pid;
  }
  close(ready[1]);
  close(go[0]);
  close(res[1]);

  int failed = 0;
  for (int i = 0; i < nclients; i++) {
    char b = 0;
    if (wait_readable(ready[0], 300000) || bench_read_all(ready[0], &b, 1) ||
        b != 'r') {
      failed = 1;
      break;
    }
  }
  close(go[1]); /* start */
  double t0 = 1e300, t1 = 0, lat = 0;
  int got = 0;
  run_items = run_hash = 0;
  if (failed)
    for (int i = 0; i < nclients; i++)
      kill(pids[i], SIGKILL);
  for (int i = 0; i < nclients && !failed; i++) {
    child_result r;
    /* A generous bound: a wedged contender must not hang the whole run. */
    if (wait_readable(res[0], 1800000) ||
        bench_read_all(res[0], &r, sizeof r) || r.status) {
      failed = 1;
      for (int j = 0; j < nclients; j++)
        kill(pids[j], SIGKILL);
      break;
    }
    long n = bench_share(op, r.idx, nclients, ops);
    run_items += r.items;
    run_hash += r.hash;
    if (r.t0 < t0) t0 = r.t0;
    if (r.t1 > t1) t1 = r.t1;
    if (n > 0) lat += (r.t1 - r.t0) / (double)n;
    got++;
  }
  for (int i = 0; i < nclients; i++) {
    int st;
    while (waitpid(pids[i], &st, 0) < 0 && errno == EINTR) {
    }
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) failed = 1;
  }
  close(ready[0]);
  close(res[0]);
  if (failed || got != nclients || t1 <= t0) return -1;
  *ops_per_s = (double)ops / (t1 - t0);
  *lat_us = lat / got * 1e6;
  return 0;
}

int bench_sweep(const char *contender, const bench_opts *o,
                const bench_client *c) {
  int fails = 0;
  for (int ci = 0; ci < o->nclients; ci++) {
    for (int oi = 0; oi < o->nops; oi++) {
      int op = o->opset[oi], p = o->clients[ci];
      double tput, lat;
      if ((op == OP_SEM && p != 2) ||
          ((op == OP_QPC || op == OP_QPCB) && p < 2)) {
        fprintf(stderr, "bench: %s %s x%d: %s\n", contender, bench_op_names[op],
                p,
                op == OP_SEM ? "needs exactly 2 clients"
                             : "needs 2 clients or more");
        fails++;
        continue;
      }
      if (c->prepare && c->prepare(c->ctx, op)) {
        fprintf(stderr, "bench: %s %s x%d: prepare failed\n", contender,
                bench_op_names[op], p);
        fails++;
        continue;
      }
      if (bench_run_clients(c, op, p, o->ops, &tput, &lat) ||
          (bench_op_is_queue(op) && verify_items(contender, op, p, o->ops)) ||
          (c->check && c->check(c->ctx, op, o->ops))) {
        fprintf(stderr, "bench: %s %s x%d failed\n", contender,
                bench_op_names[op], p);
        fails++;
        continue;
      }
      printf("run,%s,%s,%d,%ld,%.1f,%.3f\n", contender, bench_op_names[op], p,
             o->ops, tput, lat);
      fflush(stdout);
      fprintf(stderr, "  %-6s %-5s x%-2d %10.0f ops/s %8.2f us\n", contender,
              bench_op_names[op], p, tput, lat);
    }
  }
  return fails;
}

void bench_print_mem(const char *contender, long entries, long before,
                     long after) {
  double per =
      entries > 0 ? (double)(after - before) * 1024.0 / (double)entries : 0;
  printf("mem,%s,dict_entry,1,%ld,%.1f,%ld,%ld\n", contender, entries, per,
         before, after);
  fflush(stdout);
  fprintf(stderr,
          "  %-6s memory: %ld entries, RSS %ld -> %ld kB, %.1f B/entry\n",
          contender, entries, before, after, per);
}

long bench_rss_kb(pid_t pid) {
  char path[64], line[256];
  snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
  FILE *f = fopen(path, "r");
  if (!f) return -1;
  long kb = -1;
  while (fgets(line, sizeof line, f))
    if (strncmp(line, "VmRSS:", 6) == 0) {
      kb = strtol(line + 6, NULL, 10);
      break;
    }
  fclose(f);
  return kb;
}

void bench_client_key(char *buf, size_t cap, int idx) {
  snprintf(buf, cap, "k%x", idx);
}

void bench_mem_key(char *buf, size_t cap, long i) {
  snprintf(buf, cap, "key:%07ld", i);
}

/* --- the floor's server (floor.c, shm.c) ------------------------------ */

#define BUFSZ 65536

typedef struct conn {
  int fd;
  size_t len;
  unsigned char buf[BUFSZ];
} conn;

void bench_put_be32(unsigned char *p, uint32_t v) {
  p[0] = (unsigned char)(v >> 24);
  p[1] = (unsigned char)(v >> 16);
  p[2] = (unsigned char)(v >> 8);
  p[3] = (unsigned char)v;
}

uint32_t bench_get_be32(const unsigned char *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 |
         p[3];
}

/* The server: frames in, one reply frame out per whole request frame. */
void bench_floor_serve(int lfd, size_t rep_size) {
  int ep = epoll_create1(0);
  struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
  epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
  unsigned char reply[4096];
  memset(reply, 0xa5, sizeof reply);
  bench_put_be32(reply, (uint32_t)(rep_size - 4));
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
        uint32_t body = bench_get_be32(c->buf + pos);
        if (body == 0 || body > BUFSZ - 4) _exit(2);
        if (c->len - pos < 4 + body) break;
        pos += 4 + body;
        if (bench_write_all(c->fd, reply, rep_size)) break;
      }
      memmove(c->buf, c->buf + pos, c->len - pos);
      c->len -= pos;
    }
  }
}
