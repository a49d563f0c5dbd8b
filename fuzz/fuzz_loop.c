/* mgr fuzz target — the server's real read loop (src/server/loop.c) fed
 * through a socket. loop.c's read step (on_readable: mgri_reader_want,
 * mgri_reader_prepare, recv into the buffer, mgri_reader_commit, then
 * process(): mgri_reader_next, mgri_request_decode, mgri_dispatch, the
 * frame limit raised after HELLO, the reader shrunk) is static and tied to
 * its epoll loop, so this target runs the whole loop: mgr_server_run in a
 * thread of the target, on a Unix socket in a private temporary directory
 * (no authkey: the bytes go straight to the frame reader; the authkey
 * exchange before it has its own target, fuzz_auth), and writes the input
 * to one connection in chunks whose sizes the input chooses, waiting after
 * each until the server has read it all (SIOCOUTQ 0), so that each chunk
 * is what one of the server's recv calls gets.
 *
 * Input: byte 0 = the server's max_frame (bits 0-1: default, 64, 300,
 * 4096) and the number of chunk sizes (bits 4-7); then the sizes (each + 1
 * bytes, cycled); then the stream. The same stream is also sent whole to a
 * fresh server, and:
 *  - every frame the server sends is a valid reply, and the server stops
 *    sending (closes) after an error reply for a framing or decoding error
 *    (DECODE, TOOBIG, PROTO), whose rid is 0 or the rid of a body that is
 *    an array starting with a uint (spec 3.5);
 *  - the replies to the requests before the first one that could park
 *    (a blocking op, answered by the server's clock) are the same, byte
 *    for byte (STATS and DUMP, which count the allocator's sizes: rid and
 *    status), and as many, however the stream was cut;
 *  - a partial frame at the end is dropped and the connection closed;
 *  - after the connection is gone, a new connection's STATS shows one
 *    open connection, nothing parked, no connection in the handshake, and
 *    the input buffers given back (spec 14.2.3), and SHUTDOWN stops the
 *    server (mgr_server_run returns MGR_OK: no descriptor or memory kept,
 *    which LeakSanitizer checks). */
#include <errno.h>
#include <fcntl.h>
#include <linux/sockios.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "fuzz.h"
#include "mgr/error.h"
#include "mgr/server.h"
#include "proto/proto.h"

#define REPLY_MAX (8u << 20) /* reply bytes kept per run */

static char dir[64], path[100];

typedef struct srv {
  pthread_t t;
  mgr_server_options opt;
  int rc;
} srv;

static void *srv_main(void *p) {
  srv *s = p;
  s->rc = mgr_server_run(&s->opt);
  return NULL;
}

/* The directory goes with the process (each server removes its socket). */
static void cleanup(void) {
  unlink(path);
  rmdir(dir);
}

static void setup(void) {
  if (dir[0]) return;
  signal(SIGPIPE, SIG_IGN);
  const char *tmp = getenv("TMPDIR");
  snprintf(dir, sizeof dir, "%s/mgr-fuzz-loop-XXXXXX",
           tmp && strlen(tmp) < 32 ? tmp : "/tmp");
  FUZZ_CHECK(mkdtemp(dir) != NULL); /* 0700: what the server requires */
  snprintf(path, sizeof path, "%s/s", dir);
  atexit(cleanup);
}

/* Starts a server with max_frame; returns once it listens. */
static void srv_start(srv *s, uint32_t max_frame) {
  int ready[2];
  FUZZ_CHECK(pipe2(ready, O_CLOEXEC) == 0);
  mgr_server_options_init(&s->opt);
  s->opt.address = path;
  s->opt.max_frame = max_frame;
  s->opt.ready_fd = ready[1];
  s->opt.slow_ms = UINT32_MAX; /* no slow-request log: no clock in STATS */
  /* The socket's byte stream is what this target compares cut and whole:
   * an SHM_OPEN in the input would move the rest of the stream to rings
   * this target does not write, with an outcome that depends on where the
   * stream was cut (spec 2.10.2: bytes after it on the socket). Shared
   * memory's peers are tests/reliability/rel_shm's. */
  s->opt.no_shm = 1;
  /* 64 MiB: a request may build a 16M-item list (MGRI_IMUL_ITEMS_MAX), which
   * takes seconds and most of a GiB; LIMIT is as good a path to fuzz. */
  s->opt.max_memory = (size_t)64 << 20;
  s->rc = -1;
  FUZZ_CHECK(pthread_create(&s->t, NULL, srv_main, s) == 0);
  char b[1];
  ssize_t n;
  while ((n = read(ready[0], b, 1)) < 0 && errno == EINTR) {
  }
  close(ready[0]);
  FUZZ_CHECK(n == 1 && b[0] == 1); /* it listens */
}

/* A connection to the server, or -1 when it no longer listens (a
 * SHUTDOWN in the stream stopped it). */
static int dial_or_stopped(void) {
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  FUZZ_CHECK(fd >= 0);
  struct sockaddr_un sa;
  memset(&sa, 0, sizeof sa);
  sa.sun_family = AF_UNIX;
  snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
  int rc;
  while ((rc = connect(fd, (struct sockaddr *)&sa, sizeof sa)) != 0 &&
         errno == EINTR) {
  }
  if (rc == 0) return fd;
  FUZZ_CHECK(errno == ENOENT || errno == ECONNREFUSED);
  close(fd);
  return -1;
}

static int dial(void) {
  int fd = dial_or_stopped();
  FUZZ_CHECK(fd >= 0);
  return fd;
}

typedef struct buf {
  uint8_t *p;
  size_t len;
  bool eof;
} buf;

/* Reads what is there (waiting up to ms for something). */
static void drain(int fd, buf *b, int ms) {
  if (b->eof) return;
  struct pollfd pf = {.fd = fd, .events = POLLIN};
  if (poll(&pf, 1, ms) <= 0) return;
  for (;;) {
    uint8_t tmp[16384];
    ssize_t n = recv(fd, tmp, sizeof tmp, MSG_DONTWAIT);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    if (n <= 0) { /* closed (or reset: closed with our bytes unread) */
      b->eof = true;
      return;
    }
    size_t keep =
        b->len + (size_t)n <= REPLY_MAX ? (size_t)n : REPLY_MAX - b->len;
    memcpy(b->p + b->len, tmp, keep);
    b->len += keep;
  }
}

static void sleep_us(long us) {
  struct timespec ts = {0, us * 1000};
  nanosleep(&ts, NULL);
}

/* Sends p[0..n) in chunks (sizes cycled; none: whole), each read by the
 * server before the next is sent, collecting the replies; then closes the
 * sending side and reads until the server closes. */
static void feed(const uint8_t *p, size_t n, const uint8_t *sizes,
                 size_t nsizes, buf *out) {
  int fd = dial();
  size_t off = 0, k = 0;
  while (off < n && !out->eof) {
    size_t chunk = nsizes ? (size_t)sizes[k++ % nsizes] + 1 : n - off;
    if (chunk > n - off) chunk = n - off;
    ssize_t w = send(fd, p + off, chunk, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0 && errno == EAGAIN) { /* the server stopped reading for now */
      drain(fd, out, 1);
      continue;
    }
    if (w <= 0) break; /* closed by the server */
    off += (size_t)w;
    /* Until the server has read it all, or closed. */
    for (int spin = 0; !out->eof; spin++) {
      int q = 0;
      if (ioctl(fd, SIOCOUTQ, &q) == 0 && q == 0) break;
      drain(fd, out, 0);
      if (spin > 2000) {
        drain(fd, out, 1); /* backpressure: our unread replies */
      } else if (spin > 50) {
        sleep_us(20);
      } else {
        sched_yield();
      }
      FUZZ_CHECK(spin < 200000); /* the server never reads it */
    }
    drain(fd, out, 0);
  }
  shutdown(fd, SHUT_WR);
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  while (!out->eof) {
    drain(fd, out, 10);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    /* A peer that hung up is dropped once its requests are served. */
    FUZZ_CHECK(t1.tv_sec - t0.tv_sec < 20);
  }
  close(fd);
}

/* The replies in b, decoded one by one: calls fn for each. Returns the
 * number of whole frames; *rest gets the bytes after them. */
typedef struct reply_at {
  mgri_reply r;
  const uint8_t *body;
  size_t len;
} reply_at;

static size_t parse(const buf *b, reply_at *rs, size_t cap, mgri_arena *a,
                    size_t *rest) {
  size_t off = 0, n = 0;
  mgri_limits lim;
  mgri_limits_default(&lim);
  lim.frame_max = MGRI_FRAME_MAX_CEIL;
  lim.items_max = MGRI_FRAME_MAX_CEIL;
  while (b->len - off >= 4) {
    size_t len = (size_t)b->p[off] << 24 | (size_t)b->p[off + 1] << 16 |
                 (size_t)b->p[off + 2] << 8 | b->p[off + 3];
    if (b->len - off - 4 < len) break;
    FUZZ_CHECK(len > 0);
    mgri_reply r;
    int rc = mgri_reply_decode(b->p + off + 4, len, &lim, a, &r, NULL);
    FUZZ_CHECK(rc == MGR_OK); /* the server sends valid replies only */
    if (n < cap) rs[n] = (reply_at){r, b->p + off + 4, len};
    n++;
    off += 4 + len;
  }
  *rest = b->len - off;
  return n;
}

/* --- the control connection ------------------------------------------------ */

static void ctl_send(int fd, uint64_t rid, uint64_t op, const mgr_value *args,
                     size_t nargs) {
  mgri_request rq = {rid, op, 0, args, nargs};
  mgri_buf b;
  mgri_buf_init(&b, 0);
  FUZZ_CHECK(mgri_request_encode(&b, &rq, 0) == MGR_OK);
  ssize_t w;
  while ((w = send(fd, b.data, b.len, MSG_NOSIGNAL)) < 0 && errno == EINTR) {
  }
  (void)w; /* a stopping server: EPIPE */
  mgri_buf_fini(&b);
}

/* Reads one reply (blocking) into the arena; status 1 when the server
 * closed instead (it was stopping). */
static mgri_reply ctl_recv(int fd, mgri_arena *a) {
  uint8_t h[4];
  size_t got = 0;
  while (got < 4) {
    ssize_t n = recv(fd, h + got, 4 - got, 0);
    if (n < 0 && errno == EINTR) continue; /* libFuzzer's SIGALRM */
    if (n <= 0 && got == 0) {
      mgri_reply none;
      memset(&none, 0, sizeof none);
      none.status = 1;
      return none;
    }
    FUZZ_CHECK(n > 0);
    got += (size_t)n;
  }
  size_t len =
      (size_t)h[0] << 24 | (size_t)h[1] << 16 | (size_t)h[2] << 8 | h[3];
  uint8_t *body = mgri_arena_alloc(a, len);
  FUZZ_CHECK(body != NULL);
  for (got = 0; got < len;) {
    ssize_t n = recv(fd, body + got, len - got, 0);
    if (n < 0 && errno == EINTR) continue;
    FUZZ_CHECK(n > 0);
    got += (size_t)n;
  }
  mgri_limits lim;
  mgri_limits_default(&lim);
  mgri_reply r;
  FUZZ_CHECK(mgri_reply_decode(body, len, &lim, a, &r, NULL) == MGR_OK);
  return r;
}

static int64_t stat_of(const mgr_value *st, const char *group,
                       const char *key) {
  mgr_value g = mgr_text(group), k = mgr_text(key);
  const mgr_value *m = mgr_map_get(st, &g);
  FUZZ_CHECK(m != NULL);
  const mgr_value *v = mgr_map_get(m, &k);
  FUZZ_CHECK(v && v->type == MGR_T_INT);
  return v->u.i;
}

/* After the input's connection: the server holds nothing for it; then
 * SHUTDOWN. */
static void srv_finish(srv *s, mgri_arena *a) {
  int fd = dial_or_stopped();
  mgri_reply r;
  if (fd >= 0) {
    mgr_value hello[4] = {mgr_int(1), mgr_int(1), mgr_int(1), mgr_int(0)};
    ctl_send(fd, 0, MGRI_OP_HELLO, hello, 4);
    r = ctl_recv(fd, a);
  }
  if (fd < 0 || r.status == 1) { /* stopped by a SHUTDOWN in the stream */
    if (fd >= 0) close(fd);
    pthread_join(s->t, NULL);
    FUZZ_CHECK(s->rc == MGR_OK);
    return;
  }
  FUZZ_CHECK(r.status == MGR_OK);
  bool stats = true;
  for (uint64_t rid = 1;; rid++) {
    ctl_send(fd, rid, MGRI_OP_STATS, NULL, 0);
    r = ctl_recv(fd, a);
    if (r.status == MGR_ELIMIT) { /* STATS does not fit in a tiny frame */
      stats = false;
      break;
    }
    FUZZ_CHECK(r.status == MGR_OK && r.result.type == MGR_T_MAP);
    /* The input's connection may not be dropped yet (the server sees our
     * close asynchronously). */
    if (stat_of(&r.result, "connections", "open") == 1) break;
    FUZZ_CHECK(rid < 20000);
    sleep_us(100);
  }
  if (stats) {
    FUZZ_CHECK(stat_of(&r.result, "requests", "parked") == 0);
    FUZZ_CHECK(stat_of(&r.result, "connections", "handshaking") == 0);
    /* Only the control connection's buffers: within the idle bounds (spec
     * 14.2.3), counted as the allocator holds them (malloc_usable_size:
     * glibc gives 16392 bytes for 16384). */
    const int64_t slack = 256;
    FUZZ_CHECK(stat_of(&r.result, "memory", "conn_in") <=
               (int64_t)MGRI_IDLE_BUF_MAX + slack);
    FUZZ_CHECK(stat_of(&r.result, "memory", "conn_out") <=
               (int64_t)MGRI_IDLE_BUF_MAX + slack);
  }
  ctl_send(fd, 100000, MGRI_OP_SHUTDOWN, NULL, 0);
  r = ctl_recv(fd, a);
  if (r.status != MGR_OK)
    fprintf(stderr, "fuzz_loop: SHUTDOWN answered %d (%s) %.*s\n", r.status,
            r.status == 1 ? "closed" : mgr_err_name(r.status), (int)r.msglen,
            r.msg ? r.msg : "");
  FUZZ_CHECK(r.status == MGR_OK);
  close(fd);
  pthread_join(s->t, NULL);
  FUZZ_CHECK(s->rc == MGR_OK);
}

/* The stream's requests, as far as they decode: how many come before the
 * first one that could park, and the op of each. */
static size_t deterministic_prefix(const uint8_t *p, size_t n, uint64_t *ops,
                                   size_t cap, mgri_arena *a) {
  mgri_reader rd;
  mgri_reader_init(&rd, MGRI_FRAME_MAX_CEIL);
  size_t count = 0;
  if (mgri_reader_feed(&rd, p, n) == MGR_OK) {
    const uint8_t *body;
    size_t len;
    mgri_limits lim;
    mgri_limits_default(&lim);
    while (mgri_reader_next(&rd, &body, &len) == 1 && count < cap) {
      mgri_request rq;
      if (mgri_request_decode(body, len, &lim, a, &rq, NULL) != MGR_OK) break;
      const mgri_opinfo *oi = mgri_op_info(rq.op);
      if (rq.op == MGRI_OP_BATCH || rq.op == MGRI_OP_SHUTDOWN ||
          (oi && (oi->flags & MGRI_OPF_B)))
        break; /* a BATCH may answer parked requests' deadlines */
      ops[count++] = rq.op;
    }
  }
  mgri_reader_fini(&rd);
  return count;
}

static bool is_fatal(int status) {
  return status == MGR_EDECODE || status == MGR_ETOOBIG || status == MGR_EPROTO;
}

/* One run: a fresh server, the stream fed in the chunks given. */
static void run(const uint8_t *p, size_t n, const uint8_t *sizes, size_t nsizes,
                uint32_t max_frame, buf *out) {
  srv s;
  srv_start(&s, max_frame);
  out->len = 0;
  out->eof = false;
  feed(p, n, sizes, nsizes, out);
  mgri_arena a;
  mgri_arena_init(&a, 0);
  srv_finish(&s, &a);
  mgri_arena_fini(&a);
}

static buf chunked, whole;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  setup();
  if (size < 1) return 0;
  static const uint32_t frames[] = {0, 64, 300, 4096};
  uint32_t max_frame = frames[data[0] & 3];
  size_t nsizes = data[0] >> 4;
  if (1 + nsizes > size) return 0;
  const uint8_t *sizes = data + 1, *p = data + 1 + nsizes;
  size_t n = size - 1 - nsizes;
  if (!chunked.p) {
    chunked.p = malloc(REPLY_MAX);
    whole.p = malloc(REPLY_MAX);
    FUZZ_CHECK(chunked.p && whole.p);
  }
  run(p, n, sizes, nsizes, max_frame, &chunked);
  run(p, n, NULL, 0, max_frame, &whole);

  mgri_arena a;
  mgri_arena_init(&a, 0);
  static reply_at r1[256], r2[256];
  static uint64_t ops[256];
  size_t rest1, rest2;
  size_t n1 = parse(&chunked, r1, 256, &a, &rest1);
  size_t n2 = parse(&whole, r2, 256, &a, &rest2);
  /* Whole frames only, and nothing after an error that closes. */
  FUZZ_CHECK(rest1 == 0 && rest2 == 0);
  /* A reply that closes (a framing, decoding or handshake error) is the
   * last one. */
  const reply_at *sets[2] = {r1, r2};
  size_t counts[2] = {n1, n2};
  for (int k = 0; k < 2; k++)
    for (size_t i = 0; i + 1 < counts[k] && i < 256; i++) {
      if (is_fatal(sets[k][i].r.status)) {
        fprintf(stderr,
                "fuzz_loop: %s run: reply %zu of %zu closes (rid %llu %s "
                "%.*s); then:\n",
                k ? "whole" : "chunked", i, counts[k],
                (unsigned long long)sets[k][i].r.rid,
                mgr_err_name(sets[k][i].r.status), (int)sets[k][i].r.msglen,
                sets[k][i].r.msg ? sets[k][i].r.msg : "");
        for (size_t j = i + 1; j < counts[k] && j < 256; j++)
          fprintf(stderr, "  rid %llu %s %.*s\n",
                  (unsigned long long)sets[k][j].r.rid,
                  mgr_err_name(sets[k][j].r.status), (int)sets[k][j].r.msglen,
                  sets[k][j].r.msg ? sets[k][j].r.msg : "");
      }
      FUZZ_CHECK(!is_fatal(sets[k][i].r.status));
    }
  /* The replies to the requests before anything could park: the same. */
  size_t det = deterministic_prefix(p, n, ops, 256, &a);
  size_t m1 = n1 < det ? n1 : det, m2 = n2 < det ? n2 : det;
  if (m1 != m2)
    fprintf(stderr,
            "fuzz_loop: %zu replies chunked, %zu whole (of %zu requests)\n", m1,
            m2, det);
  FUZZ_CHECK(m1 == m2);
  for (size_t i = 0; i < m1 && i < 256; i++) {
    FUZZ_CHECK(r1[i].r.rid == r2[i].r.rid && r1[i].r.status == r2[i].r.status);
    /* STATS and DUMP say what the heap holds (malloc_usable_size), which
     * depends on which free blocks the allocator reused. */
    if ((ops[i] == MGRI_OP_STATS || ops[i] == MGRI_OP_DUMP) &&
        r1[i].r.status == MGR_OK)
      continue;
    FUZZ_CHECK(r1[i].len == r2[i].len &&
               memcmp(r1[i].body, r2[i].body, r1[i].len) == 0);
  }
  mgri_arena_fini(&a);
  return 0;
}
