/* bench — remote managers (bench/README.md, "Remote"): one measurement of
 * one contender over loopback.
 *
 *   bench_remote --contender mgr-unix|mgr-tcp|mgr-tls|redis-tcp
 *                --op get|set|incr --clients P --ops N
 *                [--certs DIR] [--redis-port PORT]
 *
 * mgr-unix: mgr_start on a private socket (the reference); mgr-tcp:
 * mgr_start on tcp://127.0.0.1:0 with an authkey; mgr-tls: a forked
 * mgr_server_run on tls://127.0.0.1:0 (certificates from DIR, made by
 * tests/tls-certs), clients verifying its name; redis-tcp: hiredis to the
 * redis-server on 127.0.0.1:PORT that bench/remote starts. P clients are
 * forked, connect (the authkey exchange and TLS handshake happen there) and
 * warm up, report ready through a pipe and start together when the parent
 * closes the "go" pipe; each does N/P operations. Prints one line:
 *   run,CONTENDER,OP,P,N,SECONDS,OPS_PER_S
 * from the first client's start to the last one's end. After incr the
 * counter must be exactly N + the warm-up's increments. */
#define _GNU_SOURCE
#include <errno.h>
#include <hiredis/hiredis.h>
#include <mgr/mgr.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define WARMUP 200

static const char *contender = "mgr-tcp", *op = "get", *certs = NULL;
static int clients = 1, redis_port = 0;
static long ops = 20000;

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what, const char *why) {
  fprintf(stderr, "bench_remote: %s: %s\n", what, why);
  exit(1);
}

typedef struct {
  double t0, t1;
  int ok;
} result;

/* --- the mgr side --------------------------------------------------------- */

static uint8_t key[32];
static mgr_client *M;
static mgr_proxy *D;
static pid_t tls_server = -1;

static void mgr_up(void) {
  for (size_t i = 0; i < sizeof key; i++)
    key[i] = (uint8_t)(i * 37 + 11);
  mgr_options o;
  mgr_options_init(&o);
  o.authkey = key;
  o.authkey_len = sizeof key;
  int rc;
  if (!strcmp(contender, "mgr-unix")) {
    mgr_options u;
    mgr_options_init(&u);
    rc = mgr_start(&u, &M);
  } else if (!strcmp(contender, "mgr-tcp")) {
    o.address = "tcp://127.0.0.1:0";
    rc = mgr_start(&o, &M);
  } else {
    if (!certs) die("mgr-tls", "--certs DIR is required");
    static char cert[512], k[512], ca[512];
    snprintf(cert, sizeof cert, "%s/server.pem", certs);
    snprintf(k, sizeof k, "%s/server.key", certs);
    snprintf(ca, sizeof ca, "%s/ca.pem", certs);
    int p[2];
    if (pipe(p)) die("pipe", strerror(errno));
    fflush(NULL);
    tls_server = fork();
    if (tls_server == 0) {
      close(p[0]);
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      mgr_server_options so;
      mgr_server_options_init(&so);
      so.address = "tls://127.0.0.1:0";
      so.authkey = key;
      so.authkey_len = sizeof key;
      so.tls_cert = cert;
      so.tls_key = k;
      so.ready_fd = p[1];
      _exit(mgr_server_run(&so) == MGR_OK ? 0 : 1);
    }
    close(p[1]);
    char buf[512];
    ssize_t got = 0, r;
    while ((r = read(p[0], buf + got, sizeof buf - 1 - (size_t)got)) > 0)
      got += r;
    close(p[0]);
    buf[got > 0 ? got : 0] = '\0';
    char *nl = strchr(buf, '\n');
    if (got < 2 || !nl) die("mgr-tls", "the server did not start");
    *nl = '\0';
    o.tls_ca = ca;
    rc = mgr_connect(buf + 1, &o, &M);
  }
  if (rc != MGR_OK) die(contender, mgr_errmsg(NULL));
  mgr_value c = mgr_text("c"), zero = mgr_int(0);
  mgr_value init = mgr_map((mgr_value[]){c, zero}, 1);
  if (mgr_dict_new(M, &init, &D) != MGR_OK) die("dict", mgr_errmsg(M));
}

static int mgr_op(int me, long i) {
  char k[32];
  snprintf(k, sizeof k, "k%d", me);
  mgr_value kv = mgr_text(k), v;
  if (!strcmp(op, "set")) {
    mgr_value n = mgr_int(i);
    return mgr_dict_set(D, &kv, &n);
  }
  if (!strcmp(op, "get")) {
    int rc = mgr_dict_get(D, &kv, &v);
    if (rc == MGR_OK) mgr_value_free(&v);
    return rc == MGR_EKEY ? MGR_OK : rc;
  }
  mgr_value c = mgr_text("c");
  int64_t out;
  return mgr_dict_incr_int(D, &c, 1, true, &out);
}

static void mgr_down(void) {
  if (!strcmp(op, "incr")) {
    mgr_value c = mgr_text("c"), v;
    if (mgr_dict_get(D, &c, &v) != MGR_OK ||
        v.u.i != ops / clients * clients + (long)WARMUP * clients)
      die("incr", "the counter lost updates");
  }
  mgr_release(D);
  mgr_shutdown(M);
  if (tls_server > 0) waitpid(tls_server, NULL, 0);
}

/* --- the redis side ------------------------------------------------------- */

static redisContext *R;

static int redis_op(int me, long i) {
  redisReply *r;
  if (!strcmp(op, "set"))
    r = redisCommand(R, "HSET h k%d %ld", me, i);
  else if (!strcmp(op, "get"))
    r = redisCommand(R, "HGET h k%d", me);
  else
    r = redisCommand(R, "HINCRBY h c 1");
  int ok = r && r->type != REDIS_REPLY_ERROR;
  freeReplyObject(r);
  return ok ? 0 : -1;
}

/* --- one measurement ------------------------------------------------------ */

static bool is_redis(void) { return !strcmp(contender, "redis-tcp"); }

static void client(int me, int ready, int go, int out) {
  if (is_redis()) {
    R = redisConnect("127.0.0.1", redis_port);
    if (!R || R->err) _exit(2); /* hiredis sets TCP_NODELAY itself */
  }
  long n = ops / clients;
  for (long i = 0; i < WARMUP; i++)
    if ((is_redis() ? redis_op(me, i) : mgr_op(me, i)) != 0) _exit(3);
  char b = 1;
  if (write(ready, &b, 1) != 1) _exit(4);
  while (read(go, &b, 1) < 0 && errno == EINTR) {
  }
  result res = {now(), 0, 1};
  for (long i = 0; i < n; i++)
    if ((is_redis() ? redis_op(me, i) : mgr_op(me, i)) != 0) {
      res.ok = 0;
      break;
    }
  res.t1 = now();
  if (write(out, &res, sizeof res) != (ssize_t)sizeof res) _exit(5);
  _exit(res.ok ? 0 : 6);
}

int main(int argc, char **argv) {
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!strcmp(argv[i], "--contender"))
      contender = argv[i + 1];
    else if (!strcmp(argv[i], "--op"))
      op = argv[i + 1];
    else if (!strcmp(argv[i], "--clients"))
      clients = atoi(argv[i + 1]);
    else if (!strcmp(argv[i], "--ops"))
      ops = atol(argv[i + 1]);
    else if (!strcmp(argv[i], "--certs"))
      certs = argv[i + 1];
    else if (!strcmp(argv[i], "--redis-port"))
      redis_port = atoi(argv[i + 1]);
    else
      die("usage", argv[i]);
  }
  if (clients < 1 || ops < clients) die("usage", "--clients P --ops N, N >= P");
  if (is_redis()) {
    if (!redis_port) die("redis-tcp", "--redis-port is required");
    redisContext *c = redisConnect("127.0.0.1", redis_port);
    if (!c || c->err) die("redis", "cannot connect");
    freeReplyObject(redisCommand(c, "DEL h"));
    freeReplyObject(redisCommand(c, "HSET h c 0"));
    redisFree(c);
  } else {
    mgr_up();
  }
  int rp[2], gp[2], op_[2];
  if (pipe(rp) || pipe(gp) || pipe(op_)) die("pipe", strerror(errno));
  pid_t *pids = calloc((size_t)clients, sizeof *pids);
  fflush(NULL);
  for (int c = 0; c < clients; c++) {
    pids[c] = fork();
    if (pids[c] == 0) {
      close(rp[0]);
      close(gp[1]);
      close(op_[0]);
      client(c, rp[1], gp[0], op_[1]);
    }
  }
  close(rp[1]);
  close(gp[0]);
  close(op_[1]);
  for (int c = 0; c < clients; c++) {
    char b;
    if (read(rp[0], &b, 1) != 1) die("client", "failed to start");
  }
  close(gp[1]); /* go */
  double t0 = 1e300, t1 = 0;
  for (int c = 0; c < clients; c++) {
    result r;
    if (read(op_[0], &r, sizeof r) != (ssize_t)sizeof r || !r.ok)
      die("client", "failed");
    if (r.t0 < t0) t0 = r.t0;
    if (r.t1 > t1) t1 = r.t1;
  }
  for (int c = 0; c < clients; c++)
    waitpid(pids[c], NULL, 0);
  long n = ops / clients * clients;
  if (is_redis()) {
    if (!strcmp(op, "incr")) {
      redisContext *c = redisConnect("127.0.0.1", redis_port);
      redisReply *r = c ? redisCommand(c, "HGET h c") : NULL;
      if (!r || r->type != REDIS_REPLY_STRING ||
          atol(r->str) != n + (long)WARMUP * clients)
        die("incr", "redis lost updates");
      freeReplyObject(r);
      redisFree(c);
    }
  } else {
    mgr_down();
  }
  printf("run,%s,%s,%d,%ld,%.6f,%.1f\n", contender, op, clients, n, t1 - t0,
         (double)n / (t1 - t0));
  free(pids);
  return 0;
}
