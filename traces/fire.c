/* mgr — fires every mgr:* tracepoint from three real processes, the way a
 * hooked client and server would, so the provider, traces/record,
 * traces/analyze and traces/mgr.xml can be tested before (and besides) the
 * real hooks. Built as mgr_trace_fire by src/trace/CMakeLists.txt.
 *
 *   mgr_trace_fire            run the scenario (needs MGR_TRACE=1 to emit)
 *   mgr_trace_fire --check    also: digests == FNV-1a of the encoder's bytes,
 *                             and the provider is loaded iff MGR_TRACE=1
 *   mgr_trace_fire --bench    ns per disabled call site, with a digest arg
 *   --steady N (200) calls after the scenario, --gap-us US (200) between
 *   events, --pause-ms MS (0) after forking, before the first event
 *
 * Processes: the parent is client A; it forks client B and the "server" S
 * (forked like mgr_start's server: its events must carry its own vpid). The
 * parent conducts: each step of the script runs in the process that owns it,
 * passed over pipes, so the events interleave as in a real run. The script
 * contains one lost update (A: GET k; B: SET k; A: SET k), one lock wait
 * (B waits for the lock A holds) and one error reply, then a steady stream of
 * calls for the per-second and latency views. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cbor/cbor.h"
#include "common/buf.h"
#include "mgr/error.h"
#include "proto/ops.h"
#include "trace/trace.h"

#if !MGR_TRACING
#error "mgr_trace_fire is built only with MGR_TRACING=ON"
#endif

enum { A, B, S, NPROC };

typedef struct step {
  int who;    /* process that fires it */
  int ev;     /* event */
  int client; /* A or B: whose pid/conn/rid */
  uint64_t rid, op, oid;
  int status; /* or outcome */
  int key;    /* index in keys[] or -1 */
  int val;    /* index in vals[] or -1 (the written value / the result) */
} step;

enum {
  E_CALL_BEGIN,
  E_CALL_END,
  E_REQUEST,
  E_REPLY,
  E_WAIT_BEGIN,
  E_WAIT_END,
  E_CONN_OPEN,
  E_CONN_CLOSE,
  E_OBJ_CREATE,
  E_OBJ_DESTROY
};

static pid_t pids[NPROC];
static const uint64_t conns[2] = {1, 2}, sessions[2] = {1, 2};
static mgr_value keys[2], vals[4];

#define OID_DICT 1
#define OID_LOCK 2

static void fire(const step *s) {
  int64_t pid = s->client == A || s->client == B ? (int64_t)pids[s->client] : 0;
  uint64_t conn = s->client == A || s->client == B ? conns[s->client] : 0;
  const mgr_value *key = s->key >= 0 ? &keys[s->key] : NULL;
  const mgr_value *val = s->val >= 0 ? &vals[s->val] : NULL;
  mgr_value args[2];
  size_t nargs = 0;
  if (key) args[nargs++] = *key;
  if (val) args[nargs++] = *val;
  const mgri_opinfo *oi = mgri_op_info(s->op);
  /* reads: val is the result; writes: val is the last argument */
  int reads = oi && (oi->flags & MGRI_OPF_R);
  switch (s->ev) {
  case E_CALL_BEGIN:
    MGRI_TRACE(call_begin, mgri_trace_pid(), (int64_t)pids[S], conn, s->rid,
               s->op, s->oid, mgri_trace_kind(s->op),
               mgri_trace_key(s->op, args, nargs), (uint64_t)(16 + 8 * nargs));
    break;
  case E_CALL_END:
    MGRI_TRACE(call_end, mgri_trace_pid(), (int64_t)pids[S], conn, s->rid,
               s->op, s->status, (uint64_t)(reads ? 12 : 4));
    break;
  case E_REQUEST:
    MGRI_TRACE(request, pid, conn, s->rid, s->op, s->oid,
               mgri_trace_key(s->op, args, nargs));
    break;
  case E_REPLY:
    MGRI_TRACE(reply, pid, conn, s->rid, s->op, s->status,
               mgri_trace_value(s->op, args,
                                reads ? (size_t)(key != NULL) : nargs,
                                s->status, reads ? val : NULL));
    break;
  case E_WAIT_BEGIN:
    MGRI_TRACE(wait_begin, pid, conn, s->rid, s->oid);
    break;
  case E_WAIT_END:
    MGRI_TRACE(wait_end, pid, conn, s->rid, s->oid, s->status);
    break;
  case E_CONN_OPEN:
    MGRI_TRACE(conn_open, pid, conn, sessions[s->client]);
    break;
  case E_CONN_CLOSE:
    MGRI_TRACE(conn_close, pid, conn, sessions[s->client]);
    break;
  case E_OBJ_CREATE:
    MGRI_TRACE(object_create, pid, conn, s->rid, s->oid, (uint32_t)s->status);
    break;
  case E_OBJ_DESTROY:
    MGRI_TRACE(object_destroy, s->oid, (uint32_t)s->status);
    break;
  }
}

/* --- the script ------------------------------------------------------------ */

static step script[4096];
static size_t nscript;
static uint64_t next_rid[2] = {1, 1};

static void add(step s) {
  if (nscript < sizeof script / sizeof *script) script[nscript++] = s;
}

/* A whole call: client begin, server request (+ extra), reply, client end. */
static void call(int c, uint64_t op, uint64_t oid, int key, int val,
                 int status) {
  uint64_t rid = next_rid[c]++;
  uint64_t target = op == MGRI_OP_CREATE ? 0 : oid; /* manager ops: oid 0 */
  add((step){c, E_CALL_BEGIN, c, rid, op, target, 0, key, val});
  add((step){S, E_REQUEST, c, rid, op, target, 0, key, val});
  if (op == MGRI_OP_CREATE && status == MGR_OK)
    add((step){S, E_OBJ_CREATE, c, rid, op, oid,
               oid == OID_LOCK ? MGRI_TRACE_KIND_LOCK : MGRI_TRACE_KIND_DICT,
               -1, -1});
  add((step){S, E_REPLY, c, rid, op, target, status, key, val});
  add((step){c, E_CALL_END, c, rid, op, target, status, key, val});
}

static void build_script(int steady) {
  add((step){S, E_CONN_OPEN, A, 0, MGRI_OP_HELLO, 0, 0, -1, -1});
  add((step){S, E_CONN_OPEN, B, 0, MGRI_OP_HELLO, 0, 0, -1, -1});
  call(A, MGRI_OP_CREATE, OID_DICT, -1, -1, MGR_OK);
  call(B, MGRI_OP_CREATE, OID_LOCK, -1, -1, MGR_OK);
  call(A, MGRI_OP_DICT_SET, OID_DICT, 0, 0, MGR_OK);
  /* The lost update: A reads k, B writes k, A writes k from its stale read. */
  call(A, MGRI_OP_DICT_GET, OID_DICT, 0, 0, MGR_OK);
  call(B, MGRI_OP_DICT_GET, OID_DICT, 0, 0, MGR_OK);
  call(B, MGRI_OP_DICT_SET, OID_DICT, 0, 1, MGR_OK);
  call(A, MGRI_OP_DICT_SET, OID_DICT, 0, 1, MGR_OK);
  /* A missing key: an error reply. */
  call(B, MGRI_OP_DICT_GET, OID_DICT, 1, -1, MGR_EKEY);
  /* A lock wait: A holds the lock; B's acquire parks until A releases. */
  call(A, MGRI_OP_LOCK_ACQUIRE, OID_LOCK, -1, -1, MGR_OK);
  uint64_t brid = next_rid[B]++;
  add((step){B, E_CALL_BEGIN, B, brid, MGRI_OP_LOCK_ACQUIRE, OID_LOCK, 0, -1,
             -1});
  add((step){S, E_REQUEST, B, brid, MGRI_OP_LOCK_ACQUIRE, OID_LOCK, 0, -1, -1});
  add((step){S, E_WAIT_BEGIN, B, brid, MGRI_OP_LOCK_ACQUIRE, OID_LOCK, 0, -1,
             -1});
  for (int i = 0; i < 3; i++)
    call(A, MGRI_OP_DICT_LEN, OID_DICT, -1, 2, MGR_OK);
  uint64_t arid = next_rid[A]++;
  add((step){A, E_CALL_BEGIN, A, arid, MGRI_OP_LOCK_RELEASE, OID_LOCK, 0, -1,
             -1});
  add((step){S, E_REQUEST, A, arid, MGRI_OP_LOCK_RELEASE, OID_LOCK, 0, -1, -1});
  add((step){S, E_REPLY, A, arid, MGRI_OP_LOCK_RELEASE, OID_LOCK, 0, -1, -1});
  add((step){S, E_WAIT_END, B, brid, MGRI_OP_LOCK_ACQUIRE, OID_LOCK,
             MGRI_TRACE_WAIT_GRANTED, -1, -1});
  add((step){S, E_REPLY, B, brid, MGRI_OP_LOCK_ACQUIRE, OID_LOCK, 0, -1, -1});
  add((step){A, E_CALL_END, A, arid, MGRI_OP_LOCK_RELEASE, OID_LOCK, 0, -1,
             -1});
  add((step){B, E_CALL_END, B, brid, MGRI_OP_LOCK_ACQUIRE, OID_LOCK, 0, -1,
             -1});
  call(B, MGRI_OP_LOCK_RELEASE, OID_LOCK, -1, -1, MGR_OK);
  /* Atomic increments: no lost update. */
  for (int i = 0; i < steady; i++) {
    call(i % 2 ? B : A, MGRI_OP_DICT_INCR, OID_DICT, 0, 3, MGR_OK);
    call(i % 2 ? A : B, MGRI_OP_DICT_CONTAINS, OID_DICT, 0, -1, MGR_OK);
  }
  add((step){S, E_CONN_CLOSE, A, 0, 0, 0, 0, -1, -1});
  add((step){S, E_CONN_CLOSE, B, 0, 0, 0, 0, -1, -1});
  add((step){S, E_OBJ_DESTROY, 0, 0, 0, OID_DICT, MGRI_TRACE_KIND_DICT, -1,
             -1});
  add((step){S, E_OBJ_DESTROY, 0, 0, 0, OID_LOCK, MGRI_TRACE_KIND_LOCK, -1,
             -1});
}

/* --- processes --------------------------------------------------------------*/

static int to[NPROC][2]; /* conductor -> process: step index (int) */
static int ack[2];       /* any -> conductor */

static void sleep_us(long us) {
  struct timespec ts = {us / 1000000, (us % 1000000) * 1000};
  while (nanosleep(&ts, &ts) && errno == EINTR) {
  }
}

static int rd(int fd, void *p, size_t n) {
  for (size_t got = 0; got < n;) {
    ssize_t r = read(fd, (char *)p + got, n - got);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return -1;
    got += (size_t)r;
  }
  return 0;
}

static int wr(int fd, const void *p, size_t n) {
  return write(fd, p, n) == (ssize_t)n ? 0 : -1;
}

static _Noreturn void worker(int me) {
  int idx;
  /* First the pids of all three (each event names the client and, on the
   * client side, the server), then the steps. */
  if (rd(to[me][0], pids, sizeof pids)) _exit(1);
  while (rd(to[me][0], &idx, sizeof idx) == 0 && idx >= 0) {
    fire(&script[idx]);
    if (wr(ack[1], &idx, sizeof idx)) break;
  }
  _exit(0);
}

static pid_t spawn(int me) {
  pid_t p = fork();
  if (p == 0) worker(me);
  return p;
}

static int run(int steady, long gap_us, long pause_ms) {
  build_script(steady);
  for (int i = 0; i < NPROC; i++)
    if (pipe(to[i])) return 1;
  if (pipe(ack)) return 1;
  pids[A] = getpid();
  pids[B] = spawn(B);
  pids[S] = spawn(S);
  if (pids[B] < 0 || pids[S] < 0) return 1;
  for (int i = B; i < NPROC; i++)
    if (wr(to[i][1], pids, sizeof pids)) return 1;
  if (pause_ms) sleep_us(pause_ms * 1000); /* e.g. start a session now */
  int rc = 0;
  for (size_t i = 0; i < nscript && rc == 0; i++) {
    int idx = (int)i, got;
    if (script[i].who == A) {
      fire(&script[i]);
    } else if (wr(to[script[i].who][1], &idx, sizeof idx) ||
               rd(ack[0], &got, sizeof got) || got != idx) {
      rc = 1;
    }
    if (gap_us) sleep_us(gap_us);
  }
  int stop = -1;
  for (int i = B; i < NPROC; i++)
    (void)wr(to[i][1], &stop, sizeof stop);
  for (int i = B; i < NPROC; i++) {
    int st;
    if (waitpid(pids[i], &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st))
      rc = 1;
  }
  printf(
      "fire: %zu events; client A pid %ld, client B pid %ld, server pid %ld\n",
      nscript, (long)pids[A], (long)pids[B], (long)pids[S]);
  return rc;
}

/* --- checks ----------------------------------------------------------------*/

static uint64_t fnv_bytes(const uint8_t *p, size_t n) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (size_t i = 0; i < n; i++) {
    h ^= p[i];
    h *= 0x100000001b3ull;
  }
  return h;
}

static int check_digests(void) {
  static const char blob[] = "\x00\x01\xff";
  mgr_value inner[3] = {mgr_int(-1), mgr_text("x"), mgr_nil()};
  mgr_value pairs[4] = {mgr_text("a"), mgr_float(1.5), mgr_int(7),
                        mgr_array(inner, 3)};
  mgr_value ref = mgr_nil();
  ref.type = MGR_T_REF;
  ref.u.ref.id = 123456789;
  ref.u.ref.kind = MGR_K_LIST;
  const double floats[] = {0.0,
                           -0.0,
                           1.0,
                           -2.5,
                           65504.0,
                           65505.0,
                           1e-8,
                           5.960464477539063e-08,
                           6.103515625e-05,
                           3.0517578125e-05,
                           1.0 / 3.0,
                           1e300,
                           3.4e38,
                           1.401298464324817e-45,
                           100000.0,
                           0.1,
                           __builtin_inf(),
                           -__builtin_inf(),
                           __builtin_nan("")};
  const int64_t ints[] = {0,     1,     23,         24,         255,       256,
                          65535, 65536, 4294967295, 4294967296, INT64_MAX, -1,
                          -24,   -25,   -256,       -257,       INT64_MIN};
  mgr_value vs[64];
  size_t n = 0;
  for (size_t i = 0; i < sizeof ints / sizeof *ints; i++)
    vs[n++] = mgr_int(ints[i]);
  for (size_t i = 0; i < sizeof floats / sizeof *floats; i++)
    vs[n++] = mgr_float(floats[i]);
  vs[n++] = mgr_nil();
  vs[n++] = mgr_bool(true);
  vs[n++] = mgr_bool(false);
  vs[n++] = mgr_text("");
  vs[n++] = mgr_text("counter");
  vs[n++] = mgr_bytes(blob, 3);
  vs[n++] = mgr_array(inner, 3);
  vs[n++] = mgr_map(pairs, 2);
  vs[n++] = ref;
  int bad = 0;
  for (size_t i = 0; i < n; i++) {
    mgri_buf b;
    mgri_buf_init(&b, 0);
    int rc = mgri_cbor_value(&b, &vs[i]);
    uint64_t want = fnv_bytes(b.data, b.len), got = mgri_trace_digest(&vs[i]);
    if (rc != MGR_OK || want != got) {
      fprintf(stderr,
              "digest mismatch for value %zu (type %d): rc %d, %016llx != "
              "%016llx\n",
              i, (int)vs[i].type, rc, (unsigned long long)got,
              (unsigned long long)want);
      bad = 1;
    }
    mgri_buf_fini(&b);
  }
  if (mgri_trace_digest(NULL) != 0) bad = 1;
  if (mgri_trace_key(MGRI_OP_DICT_LEN, vs, 1) != 0 ||
      mgri_trace_key(MGRI_OP_DICT_GET, vs, 1) != mgri_trace_digest(vs))
    bad = 1;
  if (mgri_trace_kind(MGRI_OP_LIST_APPEND) != MGRI_TRACE_KIND_LIST) bad = 1;
  printf("fire: %zu digests checked against the encoder: %s\n", n,
         bad ? "MISMATCH" : "ok");
  return bad;
}

static int check_loaded(void) {
  const char *e = getenv("MGR_TRACE");
  int want = e && *e && strcmp(e, "0") != 0;
  int loaded = mgri_trace_loaded();
  printf("fire: provider %s (MGR_TRACE=%s)\n", loaded ? "loaded" : "not loaded",
         e ? e : "");
  return want != loaded;
}

/* Disabled call sites: the argument (a digest of a 64-item array) is never
 * computed. Compares against a loop with no call site at all. */
static volatile uint64_t sink;
static int bench(void) {
  mgr_value items[64];
  for (int i = 0; i < 64; i++)
    items[i] = mgr_int(i * 1000003);
  mgr_value big = mgr_array(items, 64);
  const long N = 50 * 1000 * 1000;
  struct timespec t0, t1, t2;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  for (long i = 0; i < N; i++)
    sink = (uint64_t)i;
  clock_gettime(CLOCK_MONOTONIC, &t1);
  for (long i = 0; i < N; i++) {
    sink = (uint64_t)i;
    MGRI_TRACE(request, 1, 2, (uint64_t)i, MGRI_OP_DICT_GET, 3,
               mgri_trace_digest(&big));
  }
  clock_gettime(CLOCK_MONOTONIC, &t2);
  double base = ((double)(t1.tv_sec - t0.tv_sec) * 1e9 +
                 (double)(t1.tv_nsec - t0.tv_nsec)) /
                (double)N;
  double with = ((double)(t2.tv_sec - t1.tv_sec) * 1e9 +
                 (double)(t2.tv_nsec - t1.tv_nsec)) /
                (double)N;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  for (int i = 0; i < 1000; i++)
    sink = mgri_trace_digest(&big);
  clock_gettime(CLOCK_MONOTONIC, &t1);
  double dig = ((double)(t1.tv_sec - t0.tv_sec) * 1e9 +
                (double)(t1.tv_nsec - t0.tv_nsec)) /
               1000.0;
  printf("fire: loop %.2f ns/iter, with a %s call site %.2f ns/iter "
         "(the digest it would compute: %.0f ns)\n",
         base, MGRI_TRACE_ON(request) ? "ENABLED" : "disabled", with, dig);
  return 0;
}

int main(int argc, char **argv) {
  int steady = 200;
  long gap_us = 200, pause_ms = 0;
  int check = 0;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--check"))
      check = 1;
    else if (!strcmp(argv[i], "--bench"))
      return bench();
    else if (!strcmp(argv[i], "--steady") && i + 1 < argc)
      steady = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--gap-us") && i + 1 < argc)
      gap_us = atol(argv[++i]);
    else if (!strcmp(argv[i], "--pause-ms") && i + 1 < argc)
      pause_ms = atol(argv[++i]);
    else {
      fprintf(stderr,
              "usage: %s [--check] [--bench] [--steady N] [--gap-us US] "
              "[--pause-ms MS]\n",
              argv[0]);
      return 2;
    }
  }
  if (steady < 0 || steady > 1000) steady = 1000;
  keys[0] = mgr_text("counter");
  keys[1] = mgr_text("missing");
  vals[0] = mgr_int(0);
  vals[1] = mgr_int(1);
  vals[2] = mgr_int(1);
  vals[3] = mgr_int(1);
  int rc = 0;
  if (check) rc |= check_digests() | check_loaded();
  rc |= run(steady, gap_us, pause_ms);
  return rc ? 1 : 0;
}
