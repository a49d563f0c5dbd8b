/* bench — Redis through hiredis on a Unix socket, the dict analogues:
 *   set  HSET h k<i> v          get  HGET h k<i>
 *   incr HINCRBY h c 1          add  HGET h a, then HSET h a v+1 (two round
 *                               trips)
 *   lock SET lock 1 NX (retried until it succeeds), HGET h l, HSET h l v+1,
 *        DEL lock
 * and the queue analogues (a list):
 *   qpair LPUSH q item, then RPOP q (the non-blocking pair)
 *   qpc   producers LPUSH q item, consumers BRPOP q 30 (the blocking pop: the
 *         counterpart of a waiting get)
 *   qpcb  Redis has no bounded list: the usual emulation, a list qt of
 *         BENCH_QUEUE_MAXSIZE tokens; a producer BRPOP qt 30, then LPUSH q
 *         item; a consumer BRPOP q 30, then LPUSH qt 1 (two round trips a
 *         side where mgr and Python need one)
 *   sem   none: Redis has no semaphore (refused)
 * The bench starts its own redis-server (no persistence), waits for it by
 * pinging, and stops it by pid. */
#include <errno.h>
#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common.h"

typedef struct redis_ctx {
  char sock[256];
  pid_t pid;
  int warmup;
  redisContext *rc; /* the child's connection, or the parent's */
} redis_ctx;

static redisContext *connect_redis(const char *sock) {
  redisContext *rc = redisConnectUnix(sock);
  if (!rc || rc->err) {
    if (rc) redisFree(rc);
    return NULL;
  }
  return rc;
}

/* One command whose reply must not be an error; returns the integer reply, or
 * the string reply parsed as an integer (nil as 0), in *out. */
static int cmd(redisContext *rc, long long *out, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  redisReply *r = redisvCommand(rc, fmt, ap);
  va_end(ap);
  if (!r) {
    fprintf(stderr, "redis: %s\n", rc->errstr);
    return -1;
  }
  int ret = 0;
  if (r->type == REDIS_REPLY_ERROR) {
    fprintf(stderr, "redis: %s\n", r->str);
    ret = -1;
  } else if (out) {
    if (r->type == REDIS_REPLY_INTEGER)
      *out = r->integer;
    else if (r->type == REDIS_REPLY_STRING)
      *out = strtoll(r->str, NULL, 10);
    else if (r->type == REDIS_REPLY_NIL)
      *out = 0;
    else if (r->type == REDIS_REPLY_STATUS)
      *out = 1; /* "OK" (SET NX succeeded) */
  }
  freeReplyObject(r);
  return ret;
}

/* RPOP (wait < 0) or BRPOP key wait; the item into *item. nil (an empty
 * list, or BRPOP's timeout) is an error. */
static int pop(redisContext *rc, const char *key, int wait, uint64_t *item) {
  redisReply *r = wait < 0 ? redisCommand(rc, "RPOP %s", key)
                           : redisCommand(rc, "BRPOP %s %d", key, wait);
  if (!r) {
    fprintf(stderr, "redis: %s\n", rc->errstr);
    return -1;
  }
  const redisReply *v = r;
  if (r->type == REDIS_REPLY_ARRAY && r->elements == 2) v = r->element[1];
  int ret = 0;
  if (v->type != REDIS_REPLY_STRING) {
    fprintf(stderr, "redis: %s %s: %s\n", wait < 0 ? "RPOP" : "BRPOP", key,
            r->type == REDIS_REPLY_NIL     ? "nil (empty, or timed out)"
            : r->type == REDIS_REPLY_ERROR ? r->str
                                           : "not a string");
    ret = -1;
  } else {
    *item = strtoull(v->str, NULL, 10);
  }
  freeReplyObject(r);
  return ret;
}

/* The queue workloads, n of them as client idx (warm: on list w, nothing
 * counted). */
static int queue_run(redisContext *rc, int op, int idx, int nclients, long n,
                     bool warm) {
  uint64_t item;
  if (op == OP_SEM) {
    fprintf(stderr, "redis: sem: Redis has no semaphore\n");
    return -1;
  }
  if (warm) {
    for (long i = 0; i < n; i++)
      if (cmd(rc, NULL, "LPUSH w 0") || pop(rc, "w", BENCH_WAIT_S, &item))
        return -1;
    return 0;
  }
  bool bounded = op == OP_QPCB;
  if (op == OP_QPAIR) {
    for (long i = 0; i < n; i++)
      if (cmd(rc, NULL, "LPUSH q %llu",
              (unsigned long long)bench_item(idx, i)) ||
          pop(rc, "q", -1, &item) || bench_got(item))
        return -1;
  } else if (bench_is_producer(op, idx, nclients)) {
    for (long i = 0; i < n; i++)
      if ((bounded && pop(rc, "qt", BENCH_WAIT_S, &item)) ||
          cmd(rc, NULL, "LPUSH q %llu", (unsigned long long)bench_item(idx, i)))
        return -1;
  } else {
    for (long i = 0; i < n; i++)
      if (pop(rc, "q", BENCH_WAIT_S, &item) || bench_got(item) ||
          (bounded && cmd(rc, NULL, "LPUSH qt 1")))
        return -1;
  }
  return 0;
}

static bool is_queue_op(int op) {
  return bench_op_is_queue(op) || op == OP_SEM;
}

static int lock_incr(redisContext *rc, const char *key) {
  long long ok = 0, v;
  do {
    if (cmd(rc, &ok, "SET lock 1 NX")) return -1;
  } while (!ok);
  if (cmd(rc, &v, "HGET h %s", key) ||
      cmd(rc, NULL, "HSET h %s %lld", key, v + 1) || cmd(rc, NULL, "DEL lock"))
    return -1;
  return 0;
}

static int one(redisContext *rc, int op, const char *key, long i, int warm) {
  long long v;
  switch (op) {
  case OP_SET:
    return cmd(rc, NULL, "HSET h %s %ld", key, i);
  case OP_GET:
    return cmd(rc, NULL, "HGET h %s", key);
  case OP_INCR:
    return cmd(rc, NULL, "HINCRBY h %s 1", warm ? "w" : "c");
  case OP_ADD:
    if (cmd(rc, &v, "HGET h a")) return -1;
    return cmd(rc, NULL, "HSET h a %lld", v + 1);
  case OP_LOCK:
    return lock_incr(rc, warm ? "w" : "l");
  }
  return -1;
}

static int r_setup(void *ctx, int op, int idx, int nclients) {
  redis_ctx *x = ctx;
  redisFree(x->rc); /* the parent's, inherited: not ours to use */
  x->rc = connect_redis(x->sock);
  if (!x->rc) return -1;
  if (is_queue_op(op))
    return queue_run(x->rc, op, idx, nclients, x->warmup, true);
  char key[16];
  bench_client_key(key, sizeof key, idx);
  for (int i = 0; i < x->warmup; i++)
    if (one(x->rc, op, key, i, 1)) return -1;
  return 0;
}

static int r_run(void *ctx, int op, int idx, int nclients, long n) {
  redis_ctx *x = ctx;
  if (is_queue_op(op)) return queue_run(x->rc, op, idx, nclients, n, false);
  char key[16];
  bench_client_key(key, sizeof key, idx);
  for (long i = 0; i < n; i++)
    if (one(x->rc, op, key, i, 0)) return -1;
  return 0;
}

static int r_prepare(void *ctx, int op) {
  redis_ctx *x = ctx;
  if (is_queue_op(op)) {
    if (cmd(x->rc, NULL, "DEL q qt w")) return -1;
    for (int i = 0; op == OP_QPCB && i < BENCH_QUEUE_MAXSIZE; i++)
      if (cmd(x->rc, NULL, "LPUSH qt 1")) return -1;
    return 0;
  }
  if (cmd(x->rc, NULL, "DEL h lock")) return -1;
  /* get reads an entry that exists */
  for (int i = 0; i < BENCH_MAX_CLIENTS; i++) {
    char key[16];
    bench_client_key(key, sizeof key, i);
    if (cmd(x->rc, NULL, "HSET h %s 1", key)) return -1;
  }
  return 0;
}

static int r_check(void *ctx, int op, long ops) {
  redis_ctx *x = ctx;
  long long v = 0, w = 0, t = 0;
  if (is_queue_op(op)) { /* the items: bench_sweep */
    if (cmd(x->rc, &v, "LLEN q") || cmd(x->rc, &w, "LLEN w") ||
        cmd(x->rc, &t, "LLEN qt"))
      return -1;
    if (v || w || t != (op == OP_QPCB ? BENCH_QUEUE_MAXSIZE : 0)) {
      fprintf(
          stderr,
          "redis: after %s: %lld items, %lld warm-up items, %lld tokens left\n",
          bench_op_names[op], v, w, t);
      return -1;
    }
    return 0;
  }
  if (op != OP_INCR && op != OP_LOCK) return 0;
  if (cmd(x->rc, &v, "HGET h %s", op == OP_INCR ? "c" : "l")) return -1;
  if (v != ops) {
    fprintf(stderr, "redis: %s counted %lld, expected %ld\n",
            bench_op_names[op], v, ops);
    return -1;
  }
  return 0;
}

static void start_server(redis_ctx *x, const char *tmpdir) {
  snprintf(x->sock, sizeof x->sock, "%s/mgr-bench-redis.%d.sock", tmpdir,
           (int)getpid());
  unlink(x->sock);
  fflush(NULL);
  x->pid = fork();
  if (x->pid < 0) bench_die("fork", strerror(errno));
  if (x->pid == 0) {
    int null = open("/dev/null", O_WRONLY);
    if (null >= 0) {
      dup2(null, 1);
      dup2(null, 2);
    }
    execlp("redis-server", "redis-server", "--port", "0", "--unixsocket",
           x->sock, "--unixsocketperm", "700", "--save", "", "--appendonly",
           "no", "--daemonize", "no", (char *)NULL);
    _exit(127);
  }
  /* Ready when it answers PING; a bounded poll, not a sleep for correctness. */
  for (int i = 0; i < 2000; i++) {
    x->rc = connect_redis(x->sock);
    if (x->rc) {
      long long ok = 0;
      if (cmd(x->rc, &ok, "PING") == 0 && ok) return;
      redisFree(x->rc);
      x->rc = NULL;
    }
    int st;
    if (waitpid(x->pid, &st, WNOHANG) == x->pid)
      bench_die("redis-server", "exited at start");
    struct timespec ts = {0, 5 * 1000 * 1000};
    nanosleep(&ts, NULL);
  }
  bench_die("redis-server", "did not answer PING within 10 s");
}

static void stop_server(redis_ctx *x) {
  redisFree(x->rc);
  x->rc = NULL;
  kill(x->pid, SIGTERM);
  waitpid(x->pid, NULL, 0);
  unlink(x->sock);
}

/* RSS growth of redis-server for o->mem small hash entries. Pipelined in
 * chunks: the entries stored are the same as one at a time, only faster. */
static int measure_mem(redis_ctx *x, long n) {
  if (cmd(x->rc, NULL, "HSET m key:init 0") ||
      cmd(x->rc, NULL, "HDEL m key:init"))
    return -1;
  long before = bench_rss_kb(x->pid);
  char key[32];
  for (long i = 0; i < n;) {
    long chunk = 0;
    for (; chunk < 1000 && i < n; chunk++, i++) {
      bench_mem_key(key, sizeof key, i);
      redisAppendCommand(x->rc, "HSET m %s %ld", key, i);
    }
    for (long j = 0; j < chunk; j++) {
      redisReply *r;
      if (redisGetReply(x->rc, (void **)&r) != REDIS_OK) return -1;
      int bad = r->type == REDIS_REPLY_ERROR;
      freeReplyObject(r);
      if (bad) return -1;
    }
  }
  long long len = 0;
  if (cmd(x->rc, &len, "HLEN m") || len != n) return -1;
  bench_print_mem("redis", n, before, bench_rss_kb(x->pid));
  return 0;
}

int main(int argc, char **argv) {
  static const int ops[] = {OP_SET, OP_GET, OP_INCR, OP_ADD, OP_LOCK};
  bench_opts o;
  bench_parse(argc, argv, &o, ops, 5);
  redis_ctx x;
  memset(&x, 0, sizeof x);
  x.warmup = o.warmup;
  start_server(&x, o.tmpdir);
  int fails;
  if (o.mem > 0) {
    fails = measure_mem(&x, o.mem) ? 1 : 0;
  } else {
    bench_client c = {r_setup, r_run, r_prepare, r_check, &x};
    fails = bench_sweep("redis", &o, &c);
  }
  stop_server(&x);
  return fails ? 1 : 0;
}
