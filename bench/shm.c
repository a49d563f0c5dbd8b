/* bench — the shared-memory transport (issue 15, items 1 and 2): set, get
 * and incr through shared memory ("shm") beside the same calls over the
 * Unix socket ("sock", mgr_options.no_shm) and a raw Unix-socket ping-pong
 * ("floor", floor.c's: a 16-byte request frame, a 12-byte reply frame, a
 * forked epoll server), interleaved in one window, for P = 1, 4, 16
 * clients.
 *
 * One manager (mgr_start) serves both mgr contenders: a client chooses its
 * transport. Each measurement forks P clients that connect, warm up and
 * start together (bench_run_clients: pipes, no sleeps) and do N/P calls
 * each; its rate is all N calls over the span from the first start to the
 * last end. Its CPU cost is the CPU time (ns, /proc/PID/schedstat) the
 * clients spent in their calls plus what the server process spent over the
 * measurement (its warm-up included), per call. A block runs the three
 * contenders back to back in a rotating order; per block the ratios
 * shm/floor, shm/sock and sock/floor; printed: the median rate of each,
 * its CPU per call, and each ratio's median [min-max] over the blocks.
 * incr's counter is checked after every measurement (exactly N).
 *
 * usage: bench_shm [--ops N] [--blocks B] [--clients 1,4,16]
 *                  [--only set,get,incr] [--pin]
 *   --pin  both servers on CPU 0, every client on CPU 1 (sched_setaffinity):
 *          what each transport does when the two sides have a CPU each,
 *          whatever else the machine runs (the scheduler is otherwise free
 *          to put a client and the server on one CPU, where neither can
 *          spin while the other works)
 * Machine-readable lines: "shm,<op>,<P>,<floor_ops>,<sock_ops>,<shm_ops>,
 * <floor_cpu_us>,<sock_cpu_us>,<shm_cpu_us>,<ratio>,<med>,<min>,<max>..." */
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common.h"
#include "mgr/mgr.h"

/* --- CPU time --------------------------------------------------------- */

/* CPU time of pid (0: this process) in ns, from schedstat. */
static double cpu_ns(pid_t pid) {
  char path[64];
  if (pid)
    snprintf(path, sizeof path, "/proc/%d/schedstat", (int)pid);
  else
    snprintf(path, sizeof path, "/proc/self/schedstat");
  FILE *f = fopen(path, "r");
  if (!f) return 0;
  unsigned long long ns = 0;
  if (fscanf(f, "%llu", &ns) != 1) ns = 0;
  fclose(f);
  return (double)ns;
}

/* Client CPU per measurement, in a page every child writes its slot of. */
static double *g_cpu;

/* --- the floor ------------------------------------------------------------ */

enum { REQ = 16, REP = 12 }; /* bench_floor_serve's frames (common.h) */

/* --- the contenders -------------------------------------------------------- */

enum { C_FLOOR, C_SOCK, C_SHM, C_N };
static const char *const cname[C_N] = {"floor", "sock", "shm"};

typedef struct ctx {
  int which;
  bool pin;
  int warmup;
  struct sockaddr_un floor_addr;
  mgr_client *m[C_N]; /* sock, shm */
  mgr_proxy *d[C_N];
  int fd; /* floor, in the child */
} ctx;

static int one(ctx *x, int op, int idx, unsigned char *req,
               unsigned char *rep) {
  if (x->which == C_FLOOR) {
    if (bench_write_all(x->fd, req, REQ)) return -1;
    return bench_read_all(x->fd, rep, REP);
  }
  char key[32];
  snprintf(key, sizeof key, "k%d", idx);
  mgr_proxy *d = x->d[x->which];
  mgr_value k = mgr_text(key), v = mgr_int(idx);
  int e;
  switch (op) {
  case OP_SET:
    e = mgr_dict_set(d, &k, &v);
    break;
  case OP_GET: {
    mgr_value got;
    e = mgr_dict_get(d, &k, &got);
    if (!e && (got.type != MGR_T_INT || got.u.i != idx)) e = MGR_EVALUE;
    break;
  }
  default: {
    mgr_value c = mgr_text("c");
    e = mgr_dict_incr_int(d, &c, 1, true, NULL);
  }
  }
  if (e)
    fprintf(stderr, "bench_shm %s %s: %s (%s)\n", cname[x->which],
            bench_op_names[op], mgr_err_name(e), mgr_errmsg(x->m[x->which]));
  return e ? -1 : 0;
}

static void pin_to(pid_t pid, int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  if (sched_setaffinity(pid, sizeof set, &set))
    bench_die("sched_setaffinity", strerror(errno));
}

static int c_setup(void *p, int op, int idx, int nclients) {
  (void)nclients;
  ctx *x = p;
  if (x->pin) pin_to(0, 1);
  if (x->which == C_FLOOR) {
    x->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (x->fd < 0 || connect(x->fd, (struct sockaddr *)&x->floor_addr,
                             sizeof x->floor_addr)) {
      perror("floor: connect");
      return -1;
    }
  }
  unsigned char req[REQ], rep[REP];
  memset(req, 0x5a, sizeof req);
  bench_put_be32(req, REQ - 4);
  /* get needs its key; the warm-up also makes the connection. */
  if (x->which != C_FLOOR && op == OP_GET && one(x, OP_SET, idx, req, rep))
    return -1;
  for (int i = 0; i < x->warmup; i++)
    if (one(x, op == OP_INCR ? OP_GET : op, idx, req, rep)) return -1;
  return 0;
}

static int c_run(void *p, int op, int idx, int nclients, long n) {
  (void)nclients;
  ctx *x = p;
  unsigned char req[REQ], rep[REP];
  memset(req, 0x5a, sizeof req);
  bench_put_be32(req, REQ - 4);
  double c0 = cpu_ns(0);
  for (long i = 0; i < n; i++)
    if (one(x, op, idx, req, rep)) return -1;
  g_cpu[idx] = cpu_ns(0) - c0;
  return 0;
}

static int c_prepare(void *p, int op) {
  ctx *x = p;
  if (x->which == C_FLOOR || op != OP_INCR) return 0;
  mgr_value k = mgr_text("c"), z = mgr_int(0);
  return mgr_dict_set(x->d[x->which], &k, &z);
}

static int c_check(void *p, int op, long ops) {
  ctx *x = p;
  if (x->which == C_FLOOR || op != OP_INCR) return 0;
  mgr_value k = mgr_text("c"), got;
  int e = mgr_dict_get(x->d[x->which], &k, &got);
  if (e || got.type != MGR_T_INT || got.u.i != ops) {
    fprintf(stderr, "bench_shm %s incr: the counter is not %ld\n",
            cname[x->which], ops);
    return -1;
  }
  return 0;
}

static int cmpd(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static double median(double *v, int n) {
  qsort(v, (size_t)n, sizeof *v, cmpd);
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

int main(int argc, char **argv) {
  long ops = 40000;
  int blocks = 7, clients[8] = {1, 4, 16}, ncl = 3;
  int opset[3] = {OP_SET, OP_GET, OP_INCR}, nops = 3;
  bool pin = false;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--pin")) {
      pin = true;
    } else if (!strcmp(argv[i], "--ops") && i + 1 < argc) {
      ops = atol(argv[++i]);
    } else if (!strcmp(argv[i], "--blocks") && i + 1 < argc) {
      blocks = atoi(argv[++i]);
    } else if (!strcmp(argv[i], "--clients") && i + 1 < argc) {
      ncl = 0;
      for (char *s = strtok(argv[++i], ","); s && ncl < 8;
           s = strtok(NULL, ","))
        clients[ncl++] = atoi(s);
    } else if (!strcmp(argv[i], "--only") && i + 1 < argc) {
      nops = 0;
      for (char *s = strtok(argv[++i], ","); s && nops < 3;
           s = strtok(NULL, ","))
        opset[nops++] = !strcmp(s, "set")   ? OP_SET
                        : !strcmp(s, "get") ? OP_GET
                                            : OP_INCR;
    } else {
      fprintf(stderr,
              "usage: %s [--ops N] [--blocks B] [--clients 1,4,16] "
              "[--only set,get,incr] [--pin]\n",
              argv[0]);
      return 2;
    }
  }
  if (ops < 16 || blocks < 1 || blocks > 64) return 2;
  for (int i = 0; i < ncl; i++)
    if (clients[i] < 1 || clients[i] > BENCH_MAX_CLIENTS) return 2;
  g_cpu = mmap(NULL, sizeof(double) * BENCH_MAX_CLIENTS, PROT_READ | PROT_WRITE,
               MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (g_cpu == MAP_FAILED) return 1;

  ctx x;
  memset(&x, 0, sizeof x);
  x.warmup = 50;
  x.pin = pin;
  const char *tmp = getenv("TMPDIR");
  x.floor_addr.sun_family = AF_UNIX;
  snprintf(x.floor_addr.sun_path, sizeof x.floor_addr.sun_path,
           "%s/mgr-bench-shm-floor.%d.sock", tmp && *tmp ? tmp : "/tmp",
           (int)getpid());
  unlink(x.floor_addr.sun_path);
  int lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (lfd < 0 ||
      bind(lfd, (struct sockaddr *)&x.floor_addr, sizeof x.floor_addr) ||
      listen(lfd, 128))
    bench_die("floor: listen", strerror(errno));
  fflush(NULL);
  pid_t fpid = fork();
  if (fpid < 0) bench_die("fork", strerror(errno));
  if (fpid == 0) bench_floor_serve(lfd, REP);
  close(lfd);

  /* One manager; the sock client keeps to the socket, the shm client uses
   * the shared-memory transport (the default). */
  mgr_options o;
  mgr_options_init(&o);
  mgr_client *boss;
  int e = mgr_start(&o, &boss);
  if (e) bench_die("mgr_start", mgr_errmsg(NULL));
  pid_t spid = (pid_t)mgr_server_pid(boss);
  if (pin) {
    pin_to(spid, 0);
    pin_to(fpid, 0);
  }
  for (int c = C_SOCK; c <= C_SHM; c++) {
    mgr_options_init(&o);
    o.no_shm = c == C_SOCK;
    e = mgr_connect(mgr_address(boss), &o, &x.m[c]);
    if (!e) e = mgr_dict_new(x.m[c], NULL, &x.d[c]);
    if (e) bench_die("mgr", mgr_errmsg(x.m[c]));
  }
  printf("# bench_shm: %ld calls per measurement, %d blocks, server pid %d%s\n",
         ops, blocks, (int)spid,
         pin ? ", pinned (servers CPU 0, clients CPU 1)" : "");
  printf("# %-4s %3s  %10s %10s %10s  %8s %8s %8s  %-20s %-20s %-20s\n", "op",
         "P", "floor/s", "sock/s", "shm/s", "floor", "sock", "shm", "shm/floor",
         "shm/sock", "sock/floor");
  printf("# %-4s %3s  %10s %10s %10s  %26s\n", "", "", "", "", "",
         "CPU us per call (both sides)");
  int fails = 0;
  for (int ci = 0; ci < ncl; ci++)
    for (int oi = 0; oi < nops; oi++) {
      int P = clients[ci], op = opset[oi];
      double rate[C_N][64], cpu[C_N][64], r_sf[64], r_ss[64], r_kf[64];
      for (int b = -1; b < blocks; b++) { /* block -1: warm-up */
        for (int j = 0; j < C_N; j++) {
          int w = (j + b + 1) % C_N;
          x.which = w;
          bench_client bc = {c_setup, c_run, c_prepare, c_check, &x};
          if (c_prepare(&x, op)) bench_die("prepare", "failed");
          memset(g_cpu, 0, sizeof(double) * BENCH_MAX_CLIENTS);
          pid_t srv = w == C_FLOOR ? fpid : spid;
          double s0 = cpu_ns(srv), ps, lat;
          if (bench_run_clients(&bc, op, P, ops, &ps, &lat) ||
              c_check(&x, op, ops)) {
            fails++;
            ps = 0;
          }
          double s1 = cpu_ns(srv), ccpu = 0;
          for (int i = 0; i < P; i++)
            ccpu += g_cpu[i];
          if (b >= 0) {
            rate[w][b] = ps;
            cpu[w][b] = (ccpu + (s1 - s0)) / (double)ops / 1e3;
          }
        }
        if (b >= 0) {
          r_sf[b] = rate[C_SHM][b] / rate[C_FLOOR][b];
          r_ss[b] = rate[C_SHM][b] / rate[C_SOCK][b];
          r_kf[b] = rate[C_SOCK][b] / rate[C_FLOOR][b];
        }
      }
      double med[C_N], cmed[C_N], rr[3][3];
      for (int c = 0; c < C_N; c++) {
        med[c] = median(rate[c], blocks);
        cmed[c] = median(cpu[c], blocks);
      }
      double *rs[3] = {r_sf, r_ss, r_kf};
      for (int k = 0; k < 3; k++) {
        rr[k][0] = median(rs[k], blocks); /* sorts: min, max at the ends */
        rr[k][1] = rs[k][0];
        rr[k][2] = rs[k][blocks - 1];
      }
      char t[3][40];
      for (int k = 0; k < 3; k++)
        snprintf(t[k], sizeof t[k], "%.2f [%.2f-%.2f]", rr[k][0], rr[k][1],
                 rr[k][2]);
      printf("  %-4s %3d  %10.0f %10.0f %10.0f  %8.2f %8.2f %8.2f  %-20s "
             "%-20s %-20s\n",
             bench_op_names[op], P, med[C_FLOOR], med[C_SOCK], med[C_SHM],
             cmed[C_FLOOR], cmed[C_SOCK], cmed[C_SHM], t[0], t[1], t[2]);
      printf("shm,%s,%d,%.0f,%.0f,%.0f,%.3f,%.3f,%.3f,%.3f,%.3f,%.3f,%.3f,%.3f,"
             "%.3f,%.3f,%.3f,%.3f\n",
             bench_op_names[op], P, med[C_FLOOR], med[C_SOCK], med[C_SHM],
             cmed[C_FLOOR], cmed[C_SOCK], cmed[C_SHM], rr[0][0], rr[0][1],
             rr[0][2], rr[1][0], rr[1][1], rr[1][2], rr[2][0], rr[2][1],
             rr[2][2]);
      fflush(stdout);
    }
  for (int c = C_SOCK; c <= C_SHM; c++)
    mgr_close(x.m[c]);
  mgr_close(boss);
  kill(fpid, SIGTERM);
  waitpid(fpid, NULL, 0);
  unlink(x.floor_addr.sun_path);
  return fails ? 1 : 0;
}
