/* bench — batching: one client (P = 1) doing atomic dict increments, one per
 * round trip and `depth` per round trip (mgr: a BATCH of depth DICT_INCRs;
 * Redis: depth HINCRBYs pipelined with redisAppendCommand, then depth
 * redisGetReply). Not part of bench/run's table (bench/README.md, "Batching").
 *
 *   build/bench/bench_batch [--ops N] [--depth D] [--tmpdir DIR]
 *
 * Output, one line per measurement (the run line format of common.h):
 *   run,<contender>,<op>,1,<ops>,<ops_per_s>,<lat_us>
 * with op incr (one per round trip) or batch<D> / pipe<D>. Every measurement
 * checks the counter afterwards. */
#include <errno.h>
#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <mgr/mgr.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common.h"

static void line(const char *who, const char *op, long ops, double secs) {
  printf("run,%s,%s,1,%ld,%.0f,%.3f\n", who, op, ops, ops / secs,
         secs * 1e6 / ops);
  fflush(stdout);
}

/* --- mgr ------------------------------------------------------------------ */

static void mgr_bench(long ops, int depth) {
  mgr_client *m;
  if (mgr_start(NULL, &m) != MGR_OK) bench_die("mgr_start", mgr_errmsg(NULL));
  mgr_proxy *d;
  if (mgr_dict_new(m, NULL, &d) != MGR_OK)
    bench_die("mgr_dict_new", mgr_errmsg(m));
  mgr_value key = mgr_text("c");
  for (int i = 0; i < 200; i++)
    mgr_dict_incr_int(d, &key, 1, true, NULL);

  int64_t base = 0, end = 0;
  mgr_dict_incr_int(d, &key, 0, true, &base);
  double t0 = bench_now();
  for (long i = 0; i < ops; i++)
    if (mgr_dict_incr_int(d, &key, 1, true, NULL) != MGR_OK)
      bench_die("mgr_dict_incr_int", mgr_errmsg(m));
  double t1 = bench_now();
  mgr_dict_incr_int(d, &key, 0, true, &end);
  if (end - base != ops) bench_die("mgr incr", "lost increments");
  line("mgr", "incr", ops, t1 - t0);

  /* The builder is filled once and run again and again: the steady state of
   * a client that batches the same shape of work. */
  mgr_batch *b;
  if (mgr_batch_new(m, &b) != MGR_OK) bench_die("mgr_batch_new", "no memory");
  for (int k = 0; k < depth; k++)
    if (mgr_batch_dict_incr_int(b, d, &key, 1, true) != MGR_OK)
      bench_die("mgr_batch_dict_incr_int", mgr_errmsg(m));
  long runs = ops / depth;
  for (int i = 0; i < 20; i++)
    mgr_batch_run(b, NULL);
  mgr_dict_incr_int(d, &key, 0, true, &base);
  t0 = bench_now();
  for (long i = 0; i < runs; i++)
    if (mgr_batch_run(b, NULL) != MGR_OK || mgr_batch_status(b, 0) != MGR_OK)
      bench_die("mgr_batch_run", mgr_errmsg(m));
  t1 = bench_now();
  mgr_dict_incr_int(d, &key, 0, true, &end);
  if (end - base != runs * depth) bench_die("mgr batch", "lost increments");
  char op[32];
  snprintf(op, sizeof op, "batch%d", depth);
  line("mgr", op, runs * depth, t1 - t0);
  mgr_batch_free(b);
  mgr_release(d);
  mgr_shutdown(m);
}

/* --- redis ----------------------------------------------------------------- */

static long long hincr(redisContext *rc, long long by) {
  redisReply *r = redisCommand(rc, "HINCRBY h c %lld", by);
  if (!r || r->type != REDIS_REPLY_INTEGER) bench_die("HINCRBY", rc->errstr);
  long long v = r->integer;
  freeReplyObject(r);
  return v;
}

static void redis_bench(long ops, int depth, const char *tmpdir) {
  char sock[256];
  snprintf(sock, sizeof sock, "%s/mgr-bench-batch-redis.%d.sock", tmpdir,
           (int)getpid());
  unlink(sock);
  fflush(NULL);
  pid_t pid = fork();
  if (pid < 0) bench_die("fork", strerror(errno));
  if (pid == 0) {
    int null = open("/dev/null", O_WRONLY);
    if (null >= 0) {
      dup2(null, 1);
      dup2(null, 2);
    }
    execlp("redis-server", "redis-server", "--port", "0", "--unixsocket", sock,
           "--unixsocketperm", "700", "--save", "", "--appendonly", "no",
           "--daemonize", "no", (char *)NULL);
    _exit(127);
  }
  redisContext *rc = NULL;
  for (int i = 0; i < 2000 && !rc; i++) {
    rc = redisConnectUnix(sock);
    if (rc && rc->err) {
      redisFree(rc);
      rc = NULL;
    }
    if (rc) break;
    int st;
    if (waitpid(pid, &st, WNOHANG) == pid) bench_die("redis-server", "exited");
    struct timespec ts = {0, 5 * 1000 * 1000};
    nanosleep(&ts, NULL);
  }
  if (!rc) bench_die("redis-server", "no answer within 10 s");
  for (int i = 0; i < 200; i++)
    hincr(rc, 1);

  long long base = hincr(rc, 0);
  double t0 = bench_now();
  for (long i = 0; i < ops; i++)
    hincr(rc, 1);
  double t1 = bench_now();
  if (hincr(rc, 0) - base != ops) bench_die("redis incr", "lost increments");
  line("redis", "incr", ops, t1 - t0);

  long runs = ops / depth;
  base = hincr(rc, 0);
  t0 = bench_now();
  for (long i = 0; i < runs; i++) {
    for (int k = 0; k < depth; k++)
      redisAppendCommand(rc, "HINCRBY h c 1");
    for (int k = 0; k < depth; k++) {
      void *r = NULL;
      if (redisGetReply(rc, &r) != REDIS_OK)
        bench_die("redisGetReply", rc->errstr);
      freeReplyObject(r);
    }
  }
  t1 = bench_now();
  if (hincr(rc, 0) - base != runs * depth)
    bench_die("redis pipe", "lost increments");
  char op[32];
  snprintf(op, sizeof op, "pipe%d", depth);
  line("redis", op, runs * depth, t1 - t0);
  redisFree(rc);
  kill(pid, SIGTERM);
  waitpid(pid, NULL, 0);
  unlink(sock);
}

int main(int argc, char **argv) {
  long ops = 160000;
  int depth = 16;
  const char *tmpdir = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
  bool only_mgr = false, only_redis = false;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--ops") && i + 1 < argc)
      ops = atol(argv[++i]);
    else if (!strcmp(argv[i], "--depth") && i + 1 < argc)
      depth = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--tmpdir") && i + 1 < argc)
      tmpdir = argv[++i];
    else if (!strcmp(argv[i], "--only") && i + 1 < argc) {
      i++;
      only_mgr = !strcmp(argv[i], "mgr");
      only_redis = !strcmp(argv[i], "redis");
    } else
      bench_die("usage", "bench_batch [--ops N] [--depth D] [--tmpdir DIR] "
                         "[--only mgr|redis]");
  }
  if (depth < 1 || depth > 1024 || ops < depth)
    bench_die("options", "bad --ops/--depth");
  if (!only_redis) mgr_bench(ops, depth);
  if (!only_mgr) redis_bench(ops, depth, tmpdir);
  return 0;
}
