/* mgr reliability — the shared-memory transport against hostile and dying
 * peers (spec 2.10): raw clients that negotiate a segment by hand and then
 * scribble on their ring positions, send a frame over the limit, die with
 * half a frame written, never read their replies, or write on the socket
 * after the switch; the library's client across fork() and against a
 * server that dies; the wake-ups when both sides sleep. Each misbehaving
 * connection must end alone: the server stays up, another client's state
 * is intact, and the memory counted (STATS) goes back to what it was. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <sys/mman.h>

#include "net/shm.h"
#include "rel_util.h"

/* A raw connection on shared memory: its socket (past HELLO and SHM_OPEN),
 * the segment, the bell, our ring positions. */
typedef struct scon {
  rconn *c;
  mgri_shm s;
  int bell;
  uint64_t tail, head; /* request bytes written, reply bytes read */
  uint64_t rid;
  mgri_arena arena;
  mgri_reply rep;
} scon;

/* Receives SHM_OPEN's reply with its descriptors: 1 and the reply in *r,
 * or 0. */
static int recv_open_reply(scon *k, mgri_reply *r, int fds[2]) {
  uint8_t buf[256];
  struct iovec iov = {buf, sizeof buf};
  union {
    char b[CMSG_SPACE(2 * sizeof(int))];
    struct cmsghdr align;
  } u;
  struct msghdr mh;
  memset(&mh, 0, sizeof mh);
  mh.msg_iov = &iov;
  mh.msg_iovlen = 1;
  mh.msg_control = u.b;
  mh.msg_controllen = sizeof u.b;
  struct pollfd pf = {.fd = k->c->fd, .events = POLLIN};
  if (poll(&pf, 1, REL_WAIT_MS) != 1) return 0;
  ssize_t n = recvmsg(k->c->fd, &mh, MSG_CMSG_CLOEXEC);
  if (n < 5) return 0;
  struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
  if (!cm || cm->cmsg_type != SCM_RIGHTS ||
      cm->cmsg_len != CMSG_LEN(2 * sizeof(int)))
    return 0;
  memcpy(fds, CMSG_DATA(cm), 2 * sizeof(int));
  size_t len = (size_t)buf[0] << 24 | (size_t)buf[1] << 16 |
               (size_t)buf[2] << 8 | buf[3];
  if (len + 4 != (size_t)n) return 0;
  mgri_limits lim;
  mgri_limits_default(&lim);
  mgri_decode_error de;
  return mgri_reply_decode(buf + 4, len, &lim, &k->arena, r, &de) == MGR_OK;
}

/* A raw client on shared memory; NULL on failure. */
static scon *scon_open(const char *path) {
  scon *k = calloc(1, sizeof *k);
  assert_non_null(k);
  mgri_arena_init(&k->arena, 0);
  k->bell = -1;
  k->c = rel_open(path, 0);
  if (!k->c) goto fail;
  /* R-2.10-a: SHM_OPEN right after HELLO, nothing else in flight. */
  if (rel_send(k->c->fd, 1, MGRI_OP_SHM_OPEN, 0, NULL, 0) != MGR_OK) goto fail;
  mgri_reply r;
  int fds[2];
  if (!recv_open_reply(k, &r, fds) || r.status != MGR_OK || r.rid != 1 ||
      r.result.type != MGR_T_ARRAY || r.result.u.a.len != 2)
    goto fail;
  uint64_t ring = (uint64_t)r.result.u.a.items[0].u.i,
           bytes = (uint64_t)r.result.u.a.items[1].u.i;
  char err[160];
  int rc = mgri_shm_attach(fds[0], bytes, &k->s, err, sizeof err);
  close(fds[0]);
  k->bell = fds[1];
  if (rc != MGR_OK || k->s.ring != ring) goto fail;
  k->rid = 1;
  return k;
fail:
  if (k->c) rel_conn_free(k->c);
  if (k->bell >= 0) close(k->bell);
  mgri_arena_fini(&k->arena);
  free(k);
  return NULL;
}

static void scon_free(scon *k) {
  if (!k) return;
  mgri_shm_detach(&k->s);
  if (k->bell >= 0) close(k->bell);
  rel_conn_free(k->c);
  mgri_arena_fini(&k->arena);
  free(k);
}

static void ring_bell(scon *k) {
  uint64_t one = 1;
  assert_int_equal(write(k->bell, &one, sizeof one), (ssize_t)sizeof one);
}

/* Publishes n raw bytes in the request ring (all must fit now) and rings
 * the bell whatever SRV_BELL says (a bell too many is harmless). */
static void put_raw(scon *k, const void *p, size_t n) {
  uint64_t head = mgri_shm_load64(&k->s, MGRI_SHM_O_REQ_HEAD);
  assert_int_equal(mgri_shm_write(k->s.req, k->s.ring, &k->tail, head, p, n),
                   (int64_t)n);
  mgri_shm_store64(&k->s, MGRI_SHM_O_REQ_TAIL, k->tail);
  ring_bell(k);
}

/* Waits (futex slices, a watchdog) until the reply ring holds bytes or the
 * server closed: 1 bytes, 0 closed with nothing left, -1 watchdog. */
static int wait_reply(scon *k) {
  double end = rel_now() + REL_WAIT_MS / 1000.0;
  uint32_t *fw = mgri_shm_w32(&k->s, MGRI_SHM_O_CLI_FUTEX);
  for (;;) {
    mgri_shm_store32(&k->s, MGRI_SHM_O_CLI_WAIT, 1);
    uint32_t v = __atomic_load_n(fw, __ATOMIC_SEQ_CST);
    if (mgri_shm_load64(&k->s, MGRI_SHM_O_REP_TAIL) != k->head) return 1;
    if (mgri_shm_load32(&k->s, MGRI_SHM_O_SRV_GONE)) return 0;
    if (rel_now() > end) return -1;
    struct timespec ts = {0, 20000000};
    (void)mgri_shm_futex_wait(fw, v, &ts);
  }
}

static int get_raw(scon *k, uint8_t *p, size_t n) {
  while (n) {
    int w = wait_reply(k);
    if (w != 1) return w;
    uint64_t tail = mgri_shm_load64(&k->s, MGRI_SHM_O_REP_TAIL);
    int64_t r = mgri_shm_read(k->s.rep, k->s.ring, &k->head, tail, p, n);
    assert_true(r > 0);
    mgri_shm_store64(&k->s, MGRI_SHM_O_REP_HEAD, k->head);
    if (mgri_shm_load32(&k->s, MGRI_SHM_O_SRV_BELL)) ring_bell(k);
    p += r;
    n -= (size_t)r;
  }
  return 1;
}

/* The next reply frame from the ring into k->rep: 1, 0 closed, -1 watchdog,
 * -2 undecodable. */
static int next_reply(scon *k) {
  uint8_t h[4];
  int r = get_raw(k, h, 4);
  if (r != 1) return r;
  size_t n = (size_t)h[0] << 24 | (size_t)h[1] << 16 | (size_t)h[2] << 8 | h[3];
  if (n == 0 || n > MGRI_FRAME_MAX_DEFAULT) return -2;
  uint8_t *body = malloc(n);
  assert_non_null(body);
  r = get_raw(k, body, n);
  if (r == 1) {
    mgri_limits lim;
    mgri_limits_default(&lim);
    mgri_decode_error de;
    mgri_arena_reset(&k->arena);
    r = mgri_reply_decode(body, n, &lim, &k->arena, &k->rep, &de) == MGR_OK
            ? 1
            : -2;
  }
  free(body);
  return r;
}

static void put_request(scon *k, uint64_t op, uint64_t oid, const mgr_value *a,
                        size_t n) {
  mgri_buf b;
  mgri_buf_init(&b, 0);
  assert_int_equal(rel_encode(&b, ++k->rid, op, oid, a, n), MGR_OK);
  put_raw(k, b.data, b.len);
  mgri_buf_fini(&b);
}

/* One call through the rings; NULL when no reply came. */
static mgri_reply *scall(scon *k, uint64_t op, uint64_t oid, const mgr_value *a,
                         size_t n) {
  put_request(k, op, oid, a, n);
  if (next_reply(k) != 1 || k->rep.rid != k->rid) return NULL;
  return &k->rep;
}

/* Whether the server closed k: SRV_GONE, or its end on the socket. */
static int closed_by_server(scon *k) {
  double end = rel_now() + REL_WAIT_MS / 1000.0;
  while (!mgri_shm_load32(&k->s, MGRI_SHM_O_SRV_GONE)) {
    if (rel_now() > end) return 0;
    struct timespec ts = {0, 20000000};
    uint32_t *fw = mgri_shm_w32(&k->s, MGRI_SHM_O_CLI_FUTEX);
    mgri_shm_store32(&k->s, MGRI_SHM_O_CLI_WAIT, 1);
    uint32_t v = __atomic_load_n(fw, __ATOMIC_SEQ_CST);
    if (mgri_shm_load32(&k->s, MGRI_SHM_O_SRV_GONE)) break;
    (void)mgri_shm_futex_wait(fw, v, &ts);
  }
  uint8_t b;
  return rel_read_n(k->c->fd, &b, 1, REL_WAIT_MS) == 0;
}

/* --- the witness: another client whose state must stay intact ------------ */

typedef struct witness {
  mgr_client *m;
  mgr_proxy *d;
  rel_stats base;
} witness;

/* The witness's own calls, the same each time: its own buffers in the
 * server end in the same state before each STATS. */
static void witness_touch(witness *w) {
  mgr_value k = mgr_text("w"), got;
  int64_t n = 0;
  assert_int_equal(mgr_dict_incr_int(w->d, &k, 1, false, &n), MGR_OK);
  assert_int_equal(n, 42);
  assert_int_equal(mgr_dict_get(w->d, &k, &got), MGR_OK);
  assert_int_equal(got.u.i, 42);
  mgr_value v = mgr_int(41);
  assert_int_equal(mgr_dict_set(w->d, &k, &v), MGR_OK);
}

static void witness_start(witness *w, const char *path) {
  assert_int_equal(mgr_connect(path, NULL, &w->m), MGR_OK);
  assert_int_equal(mgr_dict_new(w->m, NULL, &w->d), MGR_OK);
  mgr_value k = mgr_text("w"), v = mgr_int(41);
  assert_int_equal(mgr_dict_set(w->d, &k, &v), MGR_OK);
  witness_touch(w);
  assert_int_equal(rel_stats_read(w->m, &w->base), MGR_OK);
  witness_touch(w);
  assert_int_equal(rel_stats_read(w->m, &w->base), MGR_OK);
}

/* R-2.10-h: the witness's entry is intact, and once the other connections
 * are gone the counted memory is back where it was (polled: the server
 * sees an end in its own time; the watchdog bounds the wait). */
static void witness_check(witness *w) {
  witness_touch(w);
  rel_stats now;
  double end = rel_now() + REL_WAIT_MS / 1000.0;
  for (;;) {
    assert_int_equal(rel_stats_read(w->m, &now), MGR_OK);
    if ((now.open == w->base.open && now.conn_in == w->base.conn_in &&
         now.conn_out == w->base.conn_out) ||
        rel_now() > end)
      break;
  }
  assert_int_equal(now.open, w->base.open);
  assert_int_equal(now.conn_in, w->base.conn_in);
  assert_int_equal(now.conn_out, w->base.conn_out);
}

static void witness_end(witness *w) {
  mgr_release(w->d);
  mgr_close(w->m);
}

/* --- tests ------------------------------------------------------------------ */

/* The library's client uses shared memory by default on a Unix socket, and
 * not with MGR_SHM=0 or no_shm: its segment shows in /proc/self/maps. */
static int shm_maps(void) {
  FILE *f = fopen("/proc/self/maps", "r");
  if (!f) return -1;
  char line[512];
  int n = 0;
  while (fgets(line, sizeof line, f))
    if (strstr(line, "memfd:mgr-shm")) n++;
  fclose(f);
  return n;
}

static void test_default_on(void **state) {
  (void)state;
  rel_server s;
  assert_int_equal(rel_server_start(&s, 0), 0);
  int before = shm_maps();
  mgr_client *m;
  assert_int_equal(mgr_connect(s.path, NULL, &m), MGR_OK);
  assert_int_equal(mgr_ping(m), MGR_OK);
  assert_int_equal(shm_maps(), before + 1);
  /* Its segment is counted (spec 2.10.6): conn_in holds the header and the
   * request ring, conn_out the reply ring. */
  rel_stats st;
  assert_int_equal(rel_stats_read(m, &st), MGR_OK);
  assert_true(st.conn_in >= MGRI_SHM_HEADER + MGRI_SHM_RING);
  assert_true(st.conn_out >= MGRI_SHM_RING);
  mgr_close(m);
  assert_int_equal(shm_maps(), before);
  mgr_options o;
  mgr_options_init(&o);
  o.no_shm = true;
  assert_int_equal(mgr_connect(s.path, &o, &m), MGR_OK);
  assert_int_equal(mgr_ping(m), MGR_OK);
  assert_int_equal(shm_maps(), before);
  mgr_close(m);
  setenv("MGR_SHM", "0", 1);
  assert_int_equal(mgr_connect(s.path, NULL, &m), MGR_OK);
  assert_int_equal(mgr_ping(m), MGR_OK);
  assert_int_equal(shm_maps(), before);
  mgr_close(m);
  unsetenv("MGR_SHM");
  /* A server that offers none (mgrd --no-shm): the client stays on the
   * socket and works. */
  rel_server s2;
  mgr_server_options so;
  mgr_server_options_init(&so);
  so.no_shm = 1;
  assert_int_equal(rel_server_start_opts(&s2, 0, &so), 0);
  assert_int_equal(mgr_connect(s2.path, NULL, &m), MGR_OK);
  assert_int_equal(mgr_ping(m), MGR_OK);
  assert_int_equal(shm_maps(), before);
  mgr_close(m);
  assert_int_equal(rel_server_stop(&s2), 0);
  assert_int_equal(rel_server_stop(&s), 0);
}

/* R-2.10-b: SHM_OPEN is refused (ESTATE, the socket stays) when another
 * request is in flight (pipelined, or parked on the server), and on a
 * connection already on shared memory. */
static void test_open_refused(void **state) {
  (void)state;
  rel_server s;
  assert_int_equal(rel_server_start(&s, 0), 0);
  rconn *c = rel_open(s.path, 0);
  assert_non_null(c);
  /* Pipelined behind a PING: not the only exchange. */
  mgri_buf b;
  mgri_buf_init(&b, 0);
  assert_int_equal(rel_encode(&b, 1, MGRI_OP_PING, 0, NULL, 0), MGR_OK);
  assert_int_equal(rel_encode(&b, 2, MGRI_OP_SHM_OPEN, 0, NULL, 0), MGR_OK);
  assert_int_equal(rel_write_all(c->fd, b.data, b.len), 0);
  mgri_buf_fini(&b);
  assert_int_equal(rel_next_reply(c, REL_WAIT_MS), 1);
  assert_int_equal(c->rep.rid, 1);
  assert_int_equal(rel_next_reply(c, REL_WAIT_MS), 1);
  assert_int_equal(c->rep.rid, 2);
  assert_int_equal(c->rep.status, MGR_ESTATE);
  /* Still on the socket. */
  c->rid = 2;
  mgri_reply *r = rel_call(c, MGRI_OP_PING, 0, NULL, 0);
  assert_non_null(r);
  assert_int_equal(r->status, MGR_OK);
  /* Behind a request parked on the server (an Event.wait()): refused the
   * same way; the wait goes on and is answered. */
  uint64_t ev = rel_create(c, MGR_K_EVENT, NULL);
  assert_true(ev != 0);
  uint64_t wrid = ++c->rid;
  assert_int_equal(rel_send(c->fd, wrid, MGRI_OP_EVENT_WAIT, ev, RA(mgr_nil())),
                   MGR_OK);
  r = rel_call(c, MGRI_OP_SHM_OPEN, 0, NULL, 0);
  assert_non_null(r);
  assert_int_equal(r->status, MGR_ESTATE);
  assert_non_null(memmem(r->msg, r->msglen, "the only request in flight", 26));
  uint64_t srid = ++c->rid;
  assert_int_equal(rel_send(c->fd, srid, MGRI_OP_EVENT_SET, ev, RA0), MGR_OK);
  bool got_wait = false, got_set = false;
  for (int i = 0; i < 2; i++) {
    assert_int_equal(rel_next_reply(c, REL_WAIT_MS), 1);
    assert_int_equal(c->rep.status, MGR_OK);
    if (c->rep.rid == wrid) {
      assert_int_equal(c->rep.result.type, MGR_T_BOOL);
      assert_true(c->rep.result.u.b);
      got_wait = true;
    } else {
      assert_int_equal(c->rep.rid, srid);
      got_set = true;
    }
  }
  assert_true(got_wait && got_set);
  rel_conn_free(c);
  /* Once on shared memory, another SHM_OPEN (through the ring) is
   * refused; the connection goes on. */
  scon *k = scon_open(s.path);
  assert_non_null(k);
  r = scall(k, MGRI_OP_SHM_OPEN, 0, NULL, 0);
  assert_non_null(r);
  assert_int_equal(r->status, MGR_ESTATE);
  r = scall(k, MGRI_OP_PING, 0, RA(mgr_int(7)));
  assert_non_null(r);
  assert_int_equal(r->status, MGR_OK);
  assert_int_equal(r->result.u.i, 7);
  scon_free(k);
  assert_int_equal(rel_server_stop(&s), 0);
  /* A server whose memory limit has no room for a segment: LIMIT, and the
   * library's client stays on the socket and works. */
  mgr_server_options so;
  mgr_server_options_init(&so);
  so.max_memory = 96 << 10;
  assert_int_equal(rel_server_start_opts(&s, 0, &so), 0);
  c = rel_open(s.path, 0);
  assert_non_null(c);
  r = rel_call(c, MGRI_OP_SHM_OPEN, 0, NULL, 0);
  assert_non_null(r);
  assert_int_equal(r->status, MGR_ELIMIT);
  r = rel_call(c, MGRI_OP_PING, 0, NULL, 0);
  assert_non_null(r);
  assert_int_equal(r->status, MGR_OK);
  rel_conn_free(c);
  int maps = shm_maps();
  mgr_client *m;
  assert_int_equal(mgr_connect(s.path, NULL, &m), MGR_OK);
  assert_int_equal(mgr_ping(m), MGR_OK);
  assert_int_equal(shm_maps(), maps);
  mgr_close(m);
  assert_int_equal(rel_server_stop(&s), 0);
}

/* R-2.10-j, R-2.10-k, R-2.10-l: garbage positions, garbage bytes and a
 * frame over the limit each end their own connection, and only it. */
static void test_hostile(void **state) {
  (void)state;
  rel_server s;
  assert_int_equal(rel_server_start(&s, 0), 0);
  witness w;
  witness_start(&w, s.path);
  static const char *const what[] = {"tail beyond the ring", "tail behind",
                                     "head garbage", "frame over the limit",
                                     "garbage bytes"};
  for (int i = 0; i < 5; i++) {
    scon *k = scon_open(s.path);
    assert_non_null(k);
    mgri_reply *r = scall(k, MGRI_OP_PING, 0, NULL, 0);
    assert_non_null(r);
    switch (i) {
    case 0:
      mgri_shm_store64(&k->s, MGRI_SHM_O_REQ_TAIL, k->tail + k->s.ring + 1);
      ring_bell(k);
      break;
    case 1:
      mgri_shm_store64(&k->s, MGRI_SHM_O_REQ_TAIL, k->tail - 1);
      ring_bell(k);
      break;
    case 2: /* a reply to write, and our head says garbage */
      mgri_shm_store64(&k->s, MGRI_SHM_O_REP_HEAD, k->head + 12345);
      put_request(k, MGRI_OP_PING, 0, NULL, 0);
      break;
    case 3: { /* frame_max + 1: TOOBIG, then the end (spec 3.3) */
      uint32_t n = MGRI_FRAME_MAX_DEFAULT + 1;
      uint8_t h[4] = {(uint8_t)(n >> 24), (uint8_t)(n >> 16), (uint8_t)(n >> 8),
                      (uint8_t)n};
      put_raw(k, h, 4);
      assert_int_equal(next_reply(k), 1);
      assert_int_equal(k->rep.status, MGR_ETOOBIG);
      break;
    }
    default: { /* a whole frame of garbage: DECODE, then the end */
      uint8_t f[12] = {0, 0, 0, 8, 0xff, 0xfe, 0xfd, 0xfc, 1, 2, 3, 4};
      put_raw(k, f, sizeof f);
      assert_int_equal(next_reply(k), 1);
      assert_int_equal(k->rep.status, MGR_EDECODE);
    }
    }
    if (!closed_by_server(k)) fail_msg("%s: not closed", what[i]);
    scon_free(k);
    witness_check(&w);
  }
  witness_end(&w);
  assert_int_equal(rel_server_stop(&s), 0);
}

/* R-2.10-h: a client that dies with half a frame in its ring. */
static void test_die_mid_write(void **state) {
  (void)state;
  rel_server s;
  assert_int_equal(rel_server_start(&s, 0), 0);
  witness w;
  witness_start(&w, s.path);
  for (int i = 0; i < 3; i++) {
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
      scon *k = scon_open(s.path);
      if (!k) _exit(2);
      mgri_buf b;
      mgri_buf_init(&b, 0);
      mgr_value v = mgr_text("half a frame, and then nothing");
      if (rel_encode(&b, 2, MGRI_OP_PING, 0, &v, 1) != MGR_OK) _exit(3);
      put_raw(k, b.data, b.len / 2 + (size_t)i);
      _exit(0);
    }
    assert_int_equal(rel_wait_status(pid), 0);
    witness_check(&w);
  }
  witness_end(&w);
  assert_int_equal(rel_server_stop(&s), 0);
}

/* R-2.10-l: a client that never reads its replies: the reply ring fills,
 * the server's output for it stays within its bound and it is no longer
 * read; others are served; its end gives everything back. */
static void test_noread(void **state) {
  (void)state;
  rel_server s;
  mgr_server_options so;
  mgr_server_options_init(&so);
  so.max_frame = 65536;
  assert_int_equal(rel_server_start_opts(&s, 0, &so), 0);
  witness w;
  witness_start(&w, s.path);
  scon *k = scon_open(s.path);
  assert_non_null(k);
  static uint8_t payload[16000];
  memset(payload, 'x', sizeof payload);
  mgr_value v = mgr_bytes(payload, sizeof payload);
  mgri_buf b;
  mgri_buf_init(&b, 0);
  size_t sent = 0;
  /* Requests until the server stops taking them (each asks for a 16 kB
   * reply): the request ring stays full. 2000 requests are 32 MB of
   * replies, far over the bound. */
  for (int i = 0; i < 2000; i++) {
    mgri_buf_clear(&b);
    assert_int_equal(rel_encode(&b, ++k->rid, MGRI_OP_PING, 0, &v, 1), MGR_OK);
    uint64_t head = mgri_shm_load64(&k->s, MGRI_SHM_O_REQ_HEAD);
    if (mgri_shm_room(k->s.ring, k->tail, head) < (int64_t)b.len) break;
    put_raw(k, b.data, b.len);
    sent++;
  }
  assert_true(sent > 0);
  /* Whatever the moment, its counted output stays within the bound
   * (MGRI_OUTBUF_MAX plus the frame being encoded) and the others are
   * served. */
  for (int i = 0; i < 20; i++) {
    rel_stats st;
    assert_int_equal(rel_stats_read(w.m, &st), MGR_OK);
    assert_true(st.conn_out <= (int64_t)(MGRI_OUTBUF_MAX(65536) + 2 * 65536 +
                                         MGRI_SHM_RING + w.base.conn_out));
  }
  mgri_buf_fini(&b);
  scon_free(k); /* its end: everything it held goes back */
  witness_check(&w);
  witness_end(&w);
  assert_int_equal(rel_server_stop(&s), 0);
}

/* R-2.10-g: a byte on the socket after the switch is a protocol error. */
static void test_socket_byte(void **state) {
  (void)state;
  rel_server s;
  assert_int_equal(rel_server_start(&s, 0), 0);
  witness w;
  witness_start(&w, s.path);
  scon *k = scon_open(s.path);
  assert_non_null(k);
  assert_non_null(scall(k, MGRI_OP_PING, 0, NULL, 0));
  uint8_t z = 0;
  assert_int_equal(rel_write_all(k->c->fd, &z, 1), 0);
  assert_int_equal(next_reply(k), 1);
  assert_int_equal(k->rep.status, MGR_EPROTO);
  assert_true(closed_by_server(k));
  scon_free(k);
  witness_check(&w);
  witness_end(&w);
  assert_int_equal(rel_server_stop(&s), 0);
}

/* R-2.10-e, R-2.10-f: two threads hand a lock back and forth through the
 * manager, each on its own shared-memory connection: every grant reaches a
 * client that sleeps on its futex (the grant waits for the other thread's
 * release), and every release reaches a loop that may sleep (its bell). A
 * lost wake-up hangs the test (the watchdog fails it). */
typedef struct pingpong {
  mgr_proxy *lk, *d;
  int rounds, errors;
} pingpong;

static void *pp_main(void *p) {
  pingpong *x = p;
  mgr_value k = mgr_text("n");
  for (int i = 0; i < x->rounds; i++) {
    bool got = false;
    if (mgr_lock_acquire(x->lk, -1, &got) != MGR_OK || !got) x->errors++;
    int64_t n;
    if (mgr_dict_incr_int(x->d, &k, 1, true, &n) != MGR_OK) x->errors++;
    if (mgr_lock_release(x->lk) != MGR_OK) x->errors++;
  }
  return NULL;
}

static void test_wakeups(void **state) {
  (void)state;
  rel_server s;
  assert_int_equal(rel_server_start(&s, 0), 0);
  mgr_client *m;
  pingpong x[2];
  mgr_proxy *lk, *d;
  /* One client, a connection per thread (spec 2.4): the lock's owner is
   * the connection. */
  assert_int_equal(mgr_connect(s.path, NULL, &m), MGR_OK);
  assert_int_equal(mgr_lock_new(m, &lk), MGR_OK);
  assert_int_equal(mgr_dict_new(m, NULL, &d), MGR_OK);
  pthread_t th[2];
  for (int i = 0; i < 2; i++) {
    x[i].lk = lk;
    x[i].d = d;
    x[i].rounds = 2000;
    x[i].errors = 0;
    assert_int_equal(pthread_create(&th[i], NULL, pp_main, &x[i]), 0);
  }
  for (int i = 0; i < 2; i++)
    pthread_join(th[i], NULL);
  assert_int_equal(x[0].errors + x[1].errors, 0);
  mgr_value k = mgr_text("n"), got;
  assert_int_equal(mgr_dict_get(d, &k, &got), MGR_OK);
  assert_int_equal(got.u.i, 4000);
  mgr_release(lk);
  mgr_release(d);
  mgr_close(m);
  assert_int_equal(rel_server_stop(&s), 0);
}

/* R-2.10-i: a client waiting on shared memory for a server that dies gets
 * ECLOSED (it looks at the socket between futex slices), not a hang. */
typedef struct waiter {
  mgr_client *m;
  mgr_proxy *lk;
  int rc;
  int ready[2];
} waiter;

static void *wait_main(void *p) {
  waiter *x = p;
  /* This thread's own connection first: the server is killed after it. */
  if (mgr_ping(x->m) != MGR_OK) return NULL;
  char b = 1;
  assert_int_equal(write(x->ready[1], &b, 1), 1);
  bool got = false;
  x->rc = mgr_lock_acquire(x->lk, -1, &got);
  return NULL;
}

static void test_server_dies(void **state) {
  (void)state;
  rel_server s;
  assert_int_equal(rel_server_start(&s, 0), 0);
  mgr_client *a, *b;
  assert_int_equal(mgr_connect(s.path, NULL, &a), MGR_OK);
  assert_int_equal(mgr_connect(s.path, NULL, &b), MGR_OK);
  mgr_proxy *lk, *lk2;
  assert_int_equal(mgr_lock_new(a, &lk), MGR_OK);
  bool got = false;
  assert_int_equal(mgr_lock_acquire(lk, -1, &got), MGR_OK);
  assert_true(got);
  /* b's own proxy of the lock, through its own connection. */
  mgr_value ref = mgr_proxy_value(lk);
  assert_int_equal(mgr_proxy_from_value(b, &ref, &lk2), MGR_OK);
  waiter x = {b, lk2, 1, {-1, -1}};
  assert_int_equal(pipe(x.ready), 0);
  pthread_t th;
  assert_int_equal(pthread_create(&th, NULL, wait_main, &x), 0);
  char c;
  assert_int_equal(read(x.ready[0], &c, 1), 1);
  /* Whether its request is parked yet or not, the end must reach it. */
  kill(s.pid, SIGKILL);
  pthread_join(th, NULL);
  assert_int_equal(x.rc, MGR_ECLOSED);
  close(x.ready[0]);
  close(x.ready[1]);
  mgr_release(lk2);
  mgr_release(lk);
  mgr_close(b);
  mgr_close(a);
  rel_server_stop(&s);
}

/* R-2.10-m: a forked child does not see its parent's segment (no mapping)
 * and makes its own connection; the parent's goes on. */
static void test_fork(void **state) {
  (void)state;
  rel_server s;
  assert_int_equal(rel_server_start(&s, 0), 0);
  mgr_client *m;
  assert_int_equal(mgr_connect(s.path, NULL, &m), MGR_OK);
  mgr_proxy *d;
  assert_int_equal(mgr_dict_new(m, NULL, &d), MGR_OK);
  mgr_value k = mgr_text("k"), v = mgr_int(1);
  assert_int_equal(mgr_dict_set(d, &k, &v), MGR_OK);
  int before = shm_maps();
  assert_true(before >= 1);
  fflush(NULL);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    /* No mapping of the parent's rings here. */
    if (shm_maps() != 0) _exit(2);
    int64_t n = 0;
    if (mgr_dict_incr_int(d, &k, 1, false, &n) != MGR_OK || n != 2) _exit(3);
    /* Its own segment now. */
    if (shm_maps() != 1) _exit(4);
    _exit(0);
  }
  assert_int_equal(rel_wait_status(pid), 0);
  int64_t n = 0;
  assert_int_equal(mgr_dict_incr_int(d, &k, 1, false, &n), MGR_OK);
  assert_int_equal(n, 3);
  assert_int_equal(shm_maps(), before);
  mgr_release(d);
  mgr_close(m);
  assert_int_equal(rel_server_stop(&s), 0);
}

int main(void) {
  alarm(110);
  signal(SIGPIPE, SIG_IGN);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_default_on), cmocka_unit_test(test_open_refused),
      cmocka_unit_test(test_hostile),    cmocka_unit_test(test_die_mid_write),
      cmocka_unit_test(test_noread),     cmocka_unit_test(test_socket_byte),
      cmocka_unit_test(test_wakeups),    cmocka_unit_test(test_server_dies),
      cmocka_unit_test(test_fork),
  };
  int rc = cmocka_run_group_tests(tests, NULL, NULL);
  rel_report("shm", 2, 9, 0, 0, NULL);
  return rc;
}
