/* mgr fuzz target — the client's call path against a scripted malicious
 * server. A thread of this process listens on a Unix socket in a private
 * temporary directory and plays the server; the input is a program for the
 * client (the fuzzer's thread: connect, set the timeout, call the API
 * functions of every kind, batches, release proxies, close or shut down)
 * and, for each connection, a script the server follows request by
 * request: the right reply (its result shaped for the op and carrying a
 * token: the request's rid), a reply of the wrong type, an error reply of
 * any code (unknown and local-only codes included), replies with another
 * rid first (stale, future, 0, huge), holding the reply back until the
 * client timed out and sending it later (an orphan: a lock, a semaphore's
 * unit or a queue's item the client must give back), fatal statuses with
 * any rid, frames of garbage CBOR, a zero or huge length, a truncated
 * frame, a reply dribbled byte by byte, malformed reply arrays, closing
 * the connection; and HELLO replies of every shape (versions out of
 * range, too few or more fields, conn_id, session or max_frame 0, a
 * max_frame tiny or over the ceiling, error statuses).
 *
 * Invariants, checked after every call:
 *  - no crash, leak or undefined behaviour (the sanitizers);
 *  - every call returns a documented code: MGR_OK, the common errors of
 *    mgr/client.h, the call's own local errors, or a status the server sent
 *    in a reply to that very call (or a fatal one, with any rid);
 *  - no reply is given to the wrong call: MGR_OK only when the server sent
 *    an OK reply with the call's rid, and then the result carries the
 *    call's token (a value, a size, a proxy id, a batch's results);
 *  - a broken connection stays broken: every later call returns the same
 *    error without sending anything (the server never sees a request with
 *    a later rid), and its socket is closed;
 *  - mgr_connect succeeds only on a valid HELLO reply (then
 *    mgr_server_pid() is the one it announced) and fails as the spec says
 *    on an invalid one (EVERSION, EPROTO, the status sent, ECONNECT);
 *  - mgr_errmsg() is always a string. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "client/internal.h"
#include "common/kinds.h"
#include "fuzz.h"
#include "mgr/client.h"
#include "mgr/error.h"
#include "mgr/sync.h"
#include "proto/proto.h"

#define SCONNS 8   /* connections per input */
#define RIDS 512   /* rids recorded per connection */
#define HELD 16    /* replies held back per connection */
#define CLIENTS 2  /* clients alive at once */
#define PROXIES 12 /* proxies per client */
#define SERVER_PID 4242

/* --- the scripted server ------------------------------------------------- */

typedef struct held {
  uint64_t rid, op, oid;
} held;

typedef struct sconn {
  int fd; /* -1: closed */
  const uint8_t *script;
  size_t slen, spos;
  size_t inlen;
  int64_t tmo; /* the client's per-call timeout (the fuzzer's thread sets it) */
  uint64_t nreq;         /* requests received */
  uint64_t max_rid;      /* the largest rid received (valid when nreq) */
  uint16_t ok[RIDS];     /* OK replies sent with this rid */
  bool tok[RIDS];        /* the last one's result carries the token */
  uint64_t errs[RIDS];   /* bit c: an error reply with wire code c (< 64) */
  bool errs_other[RIDS]; /* an error reply with a code >= 64 */
  uint64_t fatal;        /* bit c: a fatal code c sent, any rid */
  bool broke;            /* garbage, a bad header or a truncated frame sent */
  int hello_expect;      /* what mgr_connect must return; 1: anything */
  held held[HELD];
  size_t nheld;
  bool cbroke;         /* the client's side broke ... */
  uint64_t cbroke_rid; /* ... when its next rid was this */
  uint8_t in[1 << 16]; /* requests received, not yet served (last: the
                          rest of the struct is reset per connection) */
} sconn;

typedef struct server {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int lfd, wake[2];
  bool quit;
  sconn conns[SCONNS];
  size_t nconns;
  const uint8_t *next_script; /* for the next connection accepted */
  size_t next_slen;
  int64_t next_tmo;
  mgri_arena arena;
  char dir[64], path[100];
} server;

static server S;

static uint8_t script_u8(sconn *sc) {
  return sc->spos < sc->slen ? sc->script[sc->spos++] : 0;
}

/* A raw CBOR head (no checks: the server may send what it likes). */
static size_t head(uint8_t *p, unsigned major, uint64_t n) {
  if (n < 24) {
    p[0] = (uint8_t)(major << 5 | n);
    return 1;
  }
  unsigned bytes = n <= 0xff ? 1 : n <= 0xffff ? 2 : n <= 0xffffffffu ? 4 : 8;
  p[0] = (uint8_t)(major << 5 | (bytes == 1   ? 24
                                 : bytes == 2 ? 25
                                 : bytes == 4 ? 26
                                              : 27));
  for (unsigned i = 0; i < bytes; i++)
    p[1 + i] = (uint8_t)(n >> (8 * (bytes - 1 - i)));
  return 1 + bytes;
}

/* Sends all of p, or closes the connection when the client does not read
 * it within 200 ms (the fuzzer's thread may be waiting for the server's
 * lock, not reading): a connection never blocks the server. */
static void send_all_fd(sconn *sc, const void *p, size_t n) {
  const uint8_t *b = p;
  while (n && sc->fd >= 0) {
    ssize_t w = send(sc->fd, b, n, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0 && errno == EAGAIN) {
      struct pollfd pf = {.fd = sc->fd, .events = POLLOUT};
      if (poll(&pf, 1, 200) > 0) continue;
      shutdown(sc->fd, SHUT_RDWR);
      return;
    }
    if (w <= 0) return; /* the client is gone: nothing more to say */
    b += w;
    n -= (size_t)w;
  }
}

/* One frame: the 4-byte length and the body. */
static void send_frame(sconn *sc, const uint8_t *body, size_t n, bool dribble) {
  uint8_t h[4] = {(uint8_t)(n >> 24), (uint8_t)(n >> 16), (uint8_t)(n >> 8),
                  (uint8_t)n};
  if (!dribble) {
    uint8_t buf[4096];
    if (n <= sizeof buf - 4) {
      memcpy(buf, h, 4);
      memcpy(buf + 4, body, n);
      send_all_fd(sc, buf, n + 4);
      return;
    }
    send_all_fd(sc, h, 4);
    send_all_fd(sc, body, n);
    return;
  }
  for (size_t i = 0; i < 4; i++)
    send_all_fd(sc, &h[i], 1);
  for (size_t i = 0; i < n; i++)
    send_all_fd(sc, &body[i], 1);
}

/* An error reply [rid, code, text] (code may be one the encoder refuses:
 * local-only, unknown). */
static void send_error(sconn *sc, uint64_t rid, uint64_t code,
                       const char *msg) {
  uint8_t b[512];
  size_t n = 0, len = strlen(msg);
  if (len > 256) len = 256;
  n += head(b + n, 4, 3);
  n += head(b + n, 0, rid);
  n += head(b + n, 0, code);
  n += head(b + n, 3, len);
  memcpy(b + n, msg, len);
  n += len;
  if (rid < RIDS) {
    if (code < 64)
      sc->errs[rid] |= UINT64_C(1) << code;
    else
      sc->errs_other[rid] = true;
  }
  if (code == 20 || code == 21 || code == 22 || code == 23 || code == 24 ||
      code == 48)
    sc->fatal |= UINT64_C(1) << code;
  send_frame(sc, b, n, false);
}

/* An OK reply [rid, 0, result]. */
static void send_ok(sconn *sc, uint64_t rid, const mgr_value *result, bool tok,
                    bool dribble) {
  mgri_reply r;
  memset(&r, 0, sizeof r);
  r.rid = rid;
  r.status = MGR_OK;
  r.result = *result;
  mgri_buf b;
  mgri_buf_init(&b, 0);
  int rc = mgri_reply_encode(&b, &r, MGRI_FRAME_MAX_CEIL);
  FUZZ_CHECK(rc == MGR_OK);
  if (rid < RIDS) {
    sc->ok[rid]++;
    sc->tok[rid] = tok;
  }
  send_frame(sc, b.data + 4, b.len - 4, dribble);
  mgri_buf_fini(&b);
}

static mgr_value ref_to(uint32_t kind, uint64_t id) {
  mgr_value v = mgr_nil();
  v.type = MGR_T_REF;
  v.u.ref.kind = kind;
  v.u.ref.id = id;
  return v;
}

/* The right result for rq: shaped as the op promises, carrying the token
 * (the rid) where the client hands the result back (*tok). */
static mgr_value result_for(const mgri_request *rq, mgr_value *cells, bool *tok,
                            uint8_t v) {
  int64_t t = (int64_t)rq->rid;
  *tok = true;
  switch (rq->op) {
  case MGRI_OP_PING:
    *tok = false;
    return rq->nargs ? rq->args[0] : mgr_nil();
  case MGRI_OP_CREATE: {
    uint32_t kind = rq->nargs && rq->args[0].type == MGR_T_INT &&
                            rq->args[0].u.i >= 1 &&
                            rq->args[0].u.i <= MGRI_KIND_MAX
                        ? (uint32_t)rq->args[0].u.i
                        : 1;
    return ref_to(kind, (uint64_t)t + 1);
  }
  case MGRI_OP_OPEN: {
    uint32_t kind = rq->nargs > 1 && rq->args[1].type == MGR_T_INT &&
                            rq->args[1].u.i >= 1 &&
                            rq->args[1].u.i <= MGRI_KIND_MAX
                        ? (uint32_t)rq->args[1].u.i
                        : 1;
    cells[0] = ref_to(kind, (uint64_t)t + 1);
    cells[1] = mgr_bool(v & 1);
    return mgr_array(cells, 2);
  }
  case MGRI_OP_LIST:
    *tok = false;
    return mgr_array(cells, 0);
  case MGRI_OP_STATS:
    *tok = false;
    return mgr_map(cells, 0);
  case MGRI_OP_DUMP:
    cells[0] = mgr_text("id");
    cells[1] = mgr_int((int64_t)rq->oid);
    *tok = false;
    return mgr_map(cells, 1);
  case MGRI_OP_BATCH: {
    size_t n =
        rq->nargs && rq->args[0].type == MGR_T_ARRAY ? rq->args[0].u.a.len : 0;
    if (n > 8) n = 8; /* the client sends at most 4 */
    for (size_t i = 0; i < n; i++) {
      cells[8 + 2 * i] = mgr_int(0);
      cells[8 + 2 * i + 1] = mgr_int(t);
      cells[i] = mgr_array(&cells[8 + 2 * i], 2);
    }
    return mgr_array(cells, n);
  }
  case MGRI_OP_DICT_GET:
  case MGRI_OP_DICT_POP:
  case MGRI_OP_DICT_SETDEFAULT:
  case MGRI_OP_LIST_GET:
  case MGRI_OP_LIST_POP:
  case MGRI_OP_VAR_GET:
  case MGRI_OP_QUEUE_GET:
  case MGRI_OP_NS_GET:
  case MGRI_OP_ARRAY_GET:
  case MGRI_OP_DICT_LEN:
  case MGRI_OP_LIST_LEN:
  case MGRI_OP_ARRAY_LEN:
  case MGRI_OP_QUEUE_QSIZE:
  case MGRI_OP_LIST_COUNT:
  case MGRI_OP_LIST_INDEX:
  case MGRI_OP_DICT_INCR:
  case MGRI_OP_LIST_INCR:
  case MGRI_OP_VAR_INCR:
  case MGRI_OP_ARRAY_INCR:
  case MGRI_OP_SEM_VALUE:
  case MGRI_OP_BARRIER_PARTIES:
  case MGRI_OP_BARRIER_N_WAITING:
  case MGRI_OP_BARRIER_WAIT:
    return mgr_int(t);
  case MGRI_OP_DICT_CAS:
  case MGRI_OP_LIST_CAS:
  case MGRI_OP_VAR_CAS:
  case MGRI_OP_ARRAY_CAS:
    cells[0] = mgr_bool(v & 1);
    cells[1] = mgr_int(t);
    return mgr_array(cells, 2);
  case MGRI_OP_DICT_CONTAINS:
  case MGRI_OP_LIST_CONTAINS:
  case MGRI_OP_LOCK_LOCKED:
  case MGRI_OP_QUEUE_EMPTY:
  case MGRI_OP_QUEUE_FULL:
  case MGRI_OP_EVENT_IS_SET:
  case MGRI_OP_BARRIER_BROKEN:
  case MGRI_OP_EVENT_WAIT:
  case MGRI_OP_SEM_ACQUIRE:
  case MGRI_OP_QUEUE_JOIN:
    return mgr_bool(t & 1);
  case MGRI_OP_LOCK_ACQUIRE:
  case MGRI_OP_COND_ACQUIRE:
    *tok = false;
    return mgr_int(v % 3);
  case MGRI_OP_COND_WAIT:
    *tok = false;
    return mgr_int(v % 4);
  case MGRI_OP_DICT_KEYS:
  case MGRI_OP_DICT_VALUES:
  case MGRI_OP_DICT_COPY:
  case MGRI_OP_LIST_COPY:
  case MGRI_OP_LIST_GETSLICE:
  case MGRI_OP_ARRAY_GETSLICE:
    cells[0] = mgr_int(t);
    return mgr_array(cells, 1);
  case MGRI_OP_DICT_ITEMS:
    cells[0] = mgr_int(t);
    cells[1] = mgr_int(t);
    cells[2] = mgr_array(cells, 2);
    return mgr_array(&cells[2], 1);
  case MGRI_OP_NS_ITEMS:
    cells[0] = mgr_text("a");
    cells[1] = mgr_int(t);
    return mgr_map(cells, 1);
  case MGRI_OP_ARRAY_TYPECODE:
    *tok = false;
    return mgr_text("i");
  default:
    *tok = false;
    return mgr_nil();
  }
}

/* A result of some other shape. */
static mgr_value wrong_result(uint8_t v, mgr_value *cells) {
  switch (v % 9) {
  case 0:
    return mgr_nil();
  case 1:
    return mgr_int(-5);
  case 2:
    return mgr_text("x");
  case 3:
    return mgr_bool(true);
  case 4:
    return mgr_float(2.5);
  case 5:
    cells[0] = mgr_int(1);
    return mgr_array(cells, 1);
  case 6:
    return ref_to(1 + v / 9 % MGRI_KIND_MAX, 1 + v);
  case 7:
    cells[0] = mgr_int(1);
    cells[1] = mgr_int(2);
    return mgr_map(cells, 1);
  default:
    return mgr_int(INT64_MAX);
  }
}

/* How long (ms) the client may wait for rq, -1 without limit: its per-call
 * timeout after the op's own wait (a blocking op's timeout argument). */
static int64_t wait_bound(const sconn *sc, const mgri_request *rq) {
  if (sc->tmo < 0) return -1;
  const mgri_opinfo *oi = mgri_op_info(rq->op);
  if (!oi || !(oi->flags & MGRI_OPF_B)) return sc->tmo;
  /* A COND_WAIT is answered once the lock is back, however long after its
   * timeout: the client waits without limit (proxies_condition.c). */
  if (rq->op == MGRI_OP_COND_WAIT) return -1;
  int bi = MGRI_OPF_BARG_OF(oi->flags);
  size_t ti = bi >= 0 ? (size_t)bi + 1 : 0;
  if (bi >= 0 && (size_t)bi < rq->nargs && rq->args[bi].type == MGR_T_BOOL &&
      !rq->args[bi].u.b)
    return sc->tmo;
  if (ti >= rq->nargs) return -1;
  const mgr_value *t = &rq->args[ti];
  if (t->type == MGR_T_INT && t->u.i >= 0 && t->u.i < 1000000)
    return sc->tmo + t->u.i * 1000;
  if (t->type == MGR_T_FLOAT && t->u.f >= 0 && t->u.f < 1000)
    return sc->tmo + (int64_t)(t->u.f * 1000) + 1;
  return -1;
}

static void hello_reply(sconn *sc, size_t idx, uint8_t a) {
  mgr_value f[6] = {mgr_int(MGR_PROTOCOL_MAX),       mgr_int(SERVER_PID),
                    mgr_int((int64_t)idx + 1),       mgr_int(7),
                    mgr_int(MGRI_FRAME_MAX_DEFAULT), mgr_int(99)};
  size_t n = 5;
  int expect = MGR_OK;
  uint8_t v = script_u8(sc);
  switch (a % 12) {
  case 0:
  case 1:
  case 2:
  case 3: {
    static const int64_t frames[] = {
        MGRI_FRAME_MAX_DEFAULT,     64, 4096, MGRI_FRAME_MAX_CEIL,
        2 * MGRI_FRAME_MAX_DEFAULT, 1};
    f[4] = mgr_int(frames[v % 6]);
    if (v & 0x80) n = 6; /* a later version's extra field: ignored */
    break;
  }
  case 4:
    f[0] = mgr_int((v & 1) ? 0 : MGR_PROTOCOL_MAX + 1 + (v >> 1));
    expect = MGR_EVERSION;
    break;
  case 5:
    n = v % 5; /* too few fields */
    expect = MGR_EPROTO;
    break;
  case 6:
    f[v % 5] = (v & 0x10)   ? mgr_int(-1)
               : (v & 0x20) ? mgr_float(1.0)
                            : mgr_text("1");
    expect = MGR_EPROTO;
    break;
  case 7: {
    static const int field[] = {2, 3, 4, 4};
    f[field[v % 4]] =
        mgr_int((v % 4) == 3 ? (int64_t)MGRI_FRAME_MAX_CEIL + 1 : 0);
    expect = MGR_EPROTO;
    break;
  }
  case 8: {
    static const uint64_t codes[] = {23, 24, 45, 47, 20, 48, 40, 5, 1000};
    static const int as[] = {MGR_EVERSION, MGR_EPERM,    MGR_ENOTFOUND,
                             MGR_ELIMIT,   MGR_EPROTO,   MGR_ESHUTDOWN,
                             MGR_EKEY,     MGR_EUNKNOWN, MGR_EUNKNOWN};
    send_error(sc, 0, codes[v % 9], "no");
    sc->hello_expect = as[v % 9];
    return;
  }
  case 9: {
    mgr_value x = mgr_text("hello");
    send_ok(sc, 0, &x, false, false);
    sc->hello_expect = MGR_EPROTO;
    return;
  }
  case 10:
    shutdown(sc->fd, SHUT_RDWR);
    sc->hello_expect = MGR_ECONNECT;
    return;
  default:
    sc->hello_expect = 1; /* something else: see below */
    return;
  }
  mgr_value res = mgr_array(f, n);
  send_ok(sc, 0, &res, false, (v & 0x40) != 0);
  sc->hello_expect = expect;
}

/* Replies to one request as the script says. */
static void serve(sconn *sc, size_t idx, const mgri_request *rq) {
  sc->nreq++;
  if (rq->rid > sc->max_rid || sc->nreq == 1) sc->max_rid = rq->rid;
  mgr_value cells[32];
  bool first = true;
  for (int iter = 0; iter < 8 && sc->fd >= 0; iter++) {
    uint8_t a = script_u8(sc);
    if (rq->op == MGRI_OP_HELLO && first) {
      first = false;
      hello_reply(sc, idx, a);
      if (sc->hello_expect != 1) return;
      a = script_u8(sc); /* then anything else */
    }
    first = false;
    uint8_t v = script_u8(sc);
    bool tok;
    switch (a % 16) {
    case 5: { /* a result of the wrong shape */
      mgr_value r = wrong_result(v, cells);
      send_ok(sc, rq->rid, &r, false, false);
      return;
    }
    case 6: { /* an error, any code */
      static const uint64_t codes[] = {
          25, 40, 41, 42, 43, 44,   45,
          46, 47, 49, 50, 51, 52,   1,
          5,  8,  19, 53, 60, 1000, (uint64_t)INT64_MAX,
          20, 48};
      send_error(sc, rq->rid, codes[v % 23], (v & 0x80) ? "" : "error text");
      return;
    }
    case 7: { /* a reply with another rid first, then go on */
      uint64_t rids[] = {
          rq->rid + 1, rq->rid + 5,       rq->rid ? rq->rid - 1 : 0,
          0,           UINT64_C(1) << 62, sc->nheld ? sc->held[0].rid : 3};
      uint64_t other = rids[v % 6];
      if (v & 0x40) {
        send_error(sc, other, 40, "stale");
      } else {
        mgr_value r = mgr_int((int64_t)other);
        send_ok(sc, other, &r, true, false);
      }
      continue;
    }
    case 8: { /* hold the reply back until the client has timed out */
      int64_t bound = wait_bound(sc, rq);
      if (bound < 0 || bound > 12 || sc->nheld == HELD)
        break; /* answer instead */
      sc->held[sc->nheld++] = (held){rq->rid, rq->op, rq->oid};
      return;
    }
    case 9: /* the held replies now (late: orphans), then go on */
      for (size_t i = 0; i < sc->nheld; i++) {
        mgri_request hq = {sc->held[i].rid, sc->held[i].op, sc->held[i].oid,
                           NULL, 0};
        mgr_value r = result_for(&hq, cells, &tok, v | 1);
        send_ok(sc, hq.rid, &r, tok, false);
      }
      sc->nheld = 0;
      continue;
    case 10: /* close */
      shutdown(sc->fd, SHUT_RDWR);
      return;
    case 11: { /* a frame of garbage */
      uint8_t g[16];
      size_t n = 1 + v % 12;
      for (size_t i = 0; i < n; i++)
        g[i] = script_u8(sc);
      sc->broke = true;
      send_frame(sc, g, n, false);
      return;
    }
    case 12: { /* a bad header: 0, over any limit, or over the default */
      static const uint32_t lens[] = {0, 0xffffffffu, MGRI_FRAME_MAX_CEIL + 1,
                                      MGRI_FRAME_MAX_DEFAULT + 1};
      uint32_t n = lens[v % 4];
      uint8_t h[4] = {(uint8_t)(n >> 24), (uint8_t)(n >> 16), (uint8_t)(n >> 8),
                      (uint8_t)n};
      sc->broke = true;
      send_all_fd(sc, h, 4);
      if (v % 4 == 3) { /* a body that never comes whole */
        uint8_t z[64] = {0x83};
        send_all_fd(sc, z, sizeof z);
        shutdown(sc->fd, SHUT_RDWR);
      }
      return;
    }
    case 13: { /* a truncated frame, then close */
      uint8_t h[6] = {0, 0, 0, 9, 0x83, (uint8_t)rq->rid};
      sc->broke = true;
      send_all_fd(sc, h, 4 + v % 3);
      shutdown(sc->fd, SHUT_RDWR);
      return;
    }
    case 14: { /* a reply of the wrong structure */
      uint8_t b[16];
      size_t n = 0;
      switch (v % 6) {
      case 0: /* [rid] */
        n += head(b + n, 4, 1);
        n += head(b + n, 0, rq->rid);
        break;
      case 1: /* [rid, 0, nil, nil] */
        n += head(b + n, 4, 4);
        n += head(b + n, 0, rq->rid);
        b[n++] = 0, b[n++] = 0xf6, b[n++] = 0xf6;
        break;
      case 2: /* [rid, 42, nil]: an error without text */
        n += head(b + n, 4, 3);
        n += head(b + n, 0, rq->rid);
        n += head(b + n, 0, 42);
        b[n++] = 0xf6;
        break;
      case 3: /* [-1, 0, nil] */
        n += head(b + n, 4, 3);
        b[n++] = 0x20, b[n++] = 0, b[n++] = 0xf6;
        break;
      case 4: /* {rid: 0} */
        n += head(b + n, 5, 1);
        n += head(b + n, 0, rq->rid);
        b[n++] = 0;
        break;
      default: /* [rid, 0, result] and trailing bytes */
        n += head(b + n, 4, 3);
        n += head(b + n, 0, rq->rid);
        b[n++] = 0, b[n++] = 0xf6, b[n++] = 0x00;
        break;
      }
      sc->broke = true;
      send_frame(sc, b, n, false);
      return;
    }
    case 15: { /* a fatal status with any rid */
      static const uint64_t fat[] = {20, 21, 22, 23, 24, 48};
      uint64_t rid = (v & 0x40) ? rq->rid + 100 : rq->rid;
      send_error(sc, rid, fat[v % 6], "fatal");
      return;
    }
    default:
      break;
    }
    /* The right reply (0-4, and what could not be done). */
    mgr_value r = result_for(rq, cells, &tok, v);
    send_ok(sc, rq->rid, &r, tok, (a % 16) == 4 && (v & 0x10));
    return;
  }
  /* Out of actions: the right reply. */
  if (sc->fd >= 0) {
    bool tok;
    mgr_value r = result_for(rq, cells, &tok, 0);
    send_ok(sc, rq->rid, &r, tok, false);
  }
}

static void sconn_close(sconn *sc) {
  if (sc->fd >= 0) close(sc->fd);
  sc->fd = -1;
}

static void on_readable(size_t idx) {
  sconn *sc = &S.conns[idx];
  if (sc->inlen == sizeof sc->in) {
    sconn_close(sc); /* a request larger than the client may send here */
    return;
  }
  ssize_t n =
      recv(sc->fd, sc->in + sc->inlen, sizeof sc->in - sc->inlen, MSG_DONTWAIT);
  if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
  if (n <= 0) {
    sconn_close(sc);
    return;
  }
  sc->inlen += (size_t)n;
  while (sc->fd >= 0 && sc->inlen >= 4) {
    size_t len = (size_t)sc->in[0] << 24 | (size_t)sc->in[1] << 16 |
                 (size_t)sc->in[2] << 8 | sc->in[3];
    FUZZ_CHECK(len > 0 &&
               len <= sizeof sc->in - 4); /* the client frames well */
    if (sc->inlen < 4 + len) break;
    mgri_arena_reset(&S.arena);
    mgri_limits lim;
    mgri_limits_default(&lim);
    mgri_request rq;
    int rc = mgri_request_decode(sc->in + 4, len, &lim, &S.arena, &rq, NULL);
    FUZZ_CHECK(rc == MGR_OK); /* the client sends valid requests */
    serve(sc, idx, &rq);
    memmove(sc->in, sc->in + 4 + len, sc->inlen - 4 - len);
    sc->inlen -= 4 + len;
  }
}

static bool all_closed(void) {
  for (size_t i = 0; i < S.nconns; i++)
    if (S.conns[i].fd >= 0) return false;
  return true;
}

static void *server_main(void *arg) {
  (void)arg;
  for (;;) {
    struct pollfd p[2 + SCONNS];
    size_t np = 0, map[2 + SCONNS];
    pthread_mutex_lock(&S.mu);
    if (S.quit) {
      pthread_mutex_unlock(&S.mu);
      return NULL;
    }
    p[np++] = (struct pollfd){.fd = S.wake[0], .events = POLLIN};
    if (S.nconns < SCONNS)
      p[np++] = (struct pollfd){.fd = S.lfd, .events = POLLIN};
    for (size_t i = 0; i < S.nconns; i++)
      if (S.conns[i].fd >= 0) {
        map[np] = i;
        p[np++] = (struct pollfd){.fd = S.conns[i].fd, .events = POLLIN};
      }
    pthread_mutex_unlock(&S.mu);
    if (poll(p, np, -1) < 0) continue;
    pthread_mutex_lock(&S.mu);
    if (p[0].revents) {
      char b[64];
      while (read(S.wake[0], b, sizeof b) > 0) {
      }
    }
    for (size_t k = 1; k < np; k++) {
      if (!p[k].revents) continue;
      if (p[k].fd == S.lfd) {
        int fd = accept4(S.lfd, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0) continue;
        sconn *sc = &S.conns[S.nconns++];
        memset(sc, 0, offsetof(sconn, in));
        sc->hello_expect = 1;
        sc->fd = fd;
        sc->script = S.next_script;
        sc->slen = S.next_slen;
        sc->tmo = S.next_tmo;
        S.next_script = NULL;
        S.next_slen = 0;
      } else {
        on_readable(map[k]);
      }
    }
    pthread_cond_broadcast(&S.cv);
    pthread_mutex_unlock(&S.mu);
  }
}

/* The socket and its directory go with the process. */
static void cleanup(void) {
  unlink(S.path);
  rmdir(S.dir);
}

static void server_start(void) {
  if (S.lfd > 0) return;
  signal(SIGPIPE, SIG_IGN);
  pthread_mutex_init(&S.mu, NULL);
  pthread_cond_init(&S.cv, NULL);
  const char *tmp = getenv("TMPDIR");
  snprintf(S.dir, sizeof S.dir, "%s/mgr-fuzz-XXXXXX",
           tmp && strlen(tmp) < 32 ? tmp : "/tmp");
  FUZZ_CHECK(mkdtemp(S.dir) != NULL); /* 0700: private */
  snprintf(S.path, sizeof S.path, "%s/s", S.dir);
  S.lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  FUZZ_CHECK(S.lfd >= 0);
  struct sockaddr_un sa;
  memset(&sa, 0, sizeof sa);
  sa.sun_family = AF_UNIX;
  snprintf(sa.sun_path, sizeof sa.sun_path, "%s", S.path);
  FUZZ_CHECK(bind(S.lfd, (struct sockaddr *)&sa, sizeof sa) == 0);
  FUZZ_CHECK(listen(S.lfd, 16) == 0);
  atexit(cleanup);
  FUZZ_CHECK(pipe2(S.wake, O_NONBLOCK | O_CLOEXEC) == 0);
  mgri_arena_init(&S.arena, 0);
  pthread_t t;
  FUZZ_CHECK(pthread_create(&t, NULL, server_main, NULL) == 0);
  pthread_detach(t);
}

static void server_wake(void) {
  char c = 1;
  (void)!write(S.wake[1], &c, 1);
}

/* --- the client's side ------------------------------------------------- */

typedef struct client {
  mgr_client *m;
  size_t sidx; /* its connection at the server */
  mgr_proxy *px[PROXIES];
  size_t npx;
  bool broke; /* its connection broke */
  int broke_err;
  uint64_t broke_rid; /* the next rid when it broke */
} client;

typedef struct prog {
  fuzz_in in;
  client cl[CLIENTS];
  size_t ncl;
} prog;

static prog P;

static mgri_conn *conn_of(mgr_client *m) { return pthread_getspecific(m->key); }

/* Local codes a call may return beyond the common ones (mgr/client.h). */
enum {
  X_OWNERDEAD = 1, /* lock, condition acquire and wait */
  X_TYPE = 2,      /* *_incr_int: a float result */
  X_CONNECT = 4,   /* a thread's first call, mgr_connect */
  X_VALUE = 8      /* mgr_batch_run: no operations */
};

static bool is_common(int rc) {
  switch (rc) {
  case MGR_OK:
  case MGR_EINVAL:
  case MGR_ENOMEM:
  case MGR_ETOOBIG:
  case MGR_ETIMEDOUT:
  case MGR_ECLOSED:
  case MGR_EPROTO:
  case MGR_EDECODE:
  case MGR_ESHUTDOWN:
  case MGR_ELIMIT:
  case MGR_EUNKNOWN:
  case MGR_ENOTFOUND:
  case MGR_EBADOP:
    return true;
  default:
    return false;
  }
}

/* Whether the server sent rc (an error reply) for rid, or rc as a fatal
 * code with any rid. */
static bool server_sent(const sconn *sc, uint64_t rid, int rc) {
  uint64_t code = mgri_err_to_wire(rc);
  if (code && code < 64 && (sc->fatal >> code & 1)) return true;
  if (rid >= RIDS) return true; /* not recorded */
  if (rc == MGR_EUNKNOWN) {
    /* Unknown and local-only codes decode as EUNKNOWN. */
    if (sc->errs_other[rid]) return true;
    for (uint64_t c = 1; c < 64; c++)
      if ((sc->errs[rid] >> c & 1) && mgri_err_from_wire(c) == MGR_EUNKNOWN)
        return true;
    return false;
  }
  return code && code < 64 && (sc->errs[rid] >> code & 1);
}

/* The checks after one call on client k whose request had rid (the
 * connection's next rid before the call); val: the token the call handed
 * back (NULL: none to check). */
static void after(client *k, uint64_t rid, bool was_broken, int rc,
                  unsigned extra, const int64_t *val) {
  pthread_mutex_lock(&S.mu);
  const sconn *sc = &S.conns[k->sidx];
  bool ok = is_common(rc) || server_sent(sc, rid, rc) ||
            ((extra & X_OWNERDEAD) && rc == MGR_EOWNERDEAD) ||
            ((extra & X_TYPE) && rc == MGR_ETYPE) ||
            ((extra & X_VALUE) && rc == MGR_EVALUE);
  /* A server-side code (not a local one the client may produce itself)
   * came in a reply to this call, or as a fatal one. */
  if (rc == MGR_ENOTFOUND || rc == MGR_EBADOP || rc == MGR_ELIMIT ||
      rc == MGR_ESHUTDOWN || rc == MGR_EUNKNOWN)
    ok = ok && (server_sent(sc, rid, rc) || was_broken || k->broke);
  if (!ok)
    fprintf(stderr, "fuzz_client: rid %llu returned %s, not documented\n",
            (unsigned long long)rid, mgr_err_name(rc));
  FUZZ_CHECK(ok);
  if (rc == MGR_OK || rc == MGR_EOWNERDEAD) {
    /* Only the reply to this very call, and its token. */
    FUZZ_CHECK(rid >= RIDS || sc->ok[rid] > 0);
    if (val && rid < RIDS && sc->tok[rid]) {
      if (*val != (int64_t)rid)
        fprintf(stderr, "fuzz_client: rid %llu got the token %lld\n",
                (unsigned long long)rid, (long long)*val);
      FUZZ_CHECK(*val == (int64_t)rid);
    }
  }
  pthread_mutex_unlock(&S.mu);
  const char *msg = mgr_errmsg(k->m);
  FUZZ_CHECK(msg && strlen(msg) < 256);
  mgri_conn *c = conn_of(k->m);
  if (was_broken) {
    /* Broken for good: the same error, nothing sent. */
    FUZZ_CHECK(rc == k->broke_err);
    FUZZ_CHECK(c && c->broken && c->next_rid == k->broke_rid && c->fd < 0);
    return;
  }
  if (c && c->broken) {
    k->broke = true;
    k->broke_err = c->broken_err;
    k->broke_rid = c->next_rid;
    FUZZ_CHECK(c->fd < 0);
    if (rc != c->broken_err)
      fprintf(stderr,
              "fuzz_client: rid %llu broke the connection with %s but returned "
              "%s (%s)\n",
              (unsigned long long)rid, mgr_err_name(c->broken_err),
              mgr_err_name(rc), mgr_errmsg(k->m));
    FUZZ_CHECK(rc == c->broken_err);
    pthread_mutex_lock(&S.mu);
    S.conns[k->sidx].cbroke = true;
    S.conns[k->sidx].cbroke_rid = c->next_rid;
    pthread_mutex_unlock(&S.mu);
  }
}

/* Everything a call needs before it runs. */
typedef struct pre {
  uint64_t rid;
  bool broken;
} pre;

static pre before(client *k) {
  mgri_conn *c = conn_of(k->m);
  FUZZ_CHECK(c != NULL);
  return (pre){c->next_rid, k->broke};
}

static int64_t timeout_of(uint8_t b) {
  static const int64_t t[] = {-1, 0, 1, 2, 3, -1, 1, 1000};
  return t[b % 8];
}

static mgr_value small_value(prog *p, mgr_value *cells) {
  uint8_t b = fuzz_u8(&p->in);
  switch (b % 6) {
  case 0:
    return mgr_int(b);
  case 1:
    return mgr_text("v");
  case 2:
    return mgr_nil();
  case 3:
    cells[0] = mgr_int(1);
    cells[1] = mgr_text("two");
    return mgr_array(cells, 2);
  case 4: {
    /* Large enough to pass a small max_frame the server announced. */
    static char big[300];
    memset(big, 'b', sizeof big - 1);
    return mgr_text(big);
  }
  default:
    return mgr_float(0.5);
  }
}

static void connect_step(prog *p) {
  if (p->ncl == CLIENTS) return;
  pthread_mutex_lock(&S.mu);
  bool room = S.nconns < SCONNS;
  pthread_mutex_unlock(&S.mu);
  if (!room) return;
  uint8_t b = fuzz_u8(&p->in);
  size_t len = 2 + (size_t)(fuzz_u8(&p->in) % 64);
  size_t got;
  const uint8_t *script = fuzz_take(&p->in, len, &got);
  mgr_options o;
  mgr_options_init(&o);
  o.timeout_ms = timeout_of(b);
  static const uint32_t frames[] = {0, 0, 128, 4096};
  o.max_frame = frames[(b >> 3) % 4];
  /* The scripted server speaks the socket's frames; shared memory (spec
   * 2.10) is not scripted here (the reliability tests and test_shm cover
   * its peers' misbehaviour). */
  o.no_shm = true;
  pthread_mutex_lock(&S.mu);
  size_t idx = S.nconns;
  S.next_script = script;
  S.next_slen = got;
  S.next_tmo = o.timeout_ms;
  pthread_mutex_unlock(&S.mu);
  mgr_client *m = NULL;
  int rc = mgr_connect(S.path, &o, &m);
  pthread_mutex_lock(&S.mu);
  /* The server accepted before the HELLO reply; when the client gave up
   * first (a timeout), it accepts the connection now or soon: wait for it,
   * so that the next connection is the next one accepted. */
  struct timespec dl;
  clock_gettime(CLOCK_REALTIME, &dl);
  dl.tv_sec += 1;
  while (S.nconns == idx) {
    if (rc == MGR_OK)
      pthread_cond_wait(&S.cv, &S.mu);
    else if (pthread_cond_timedwait(&S.cv, &S.mu, &dl) == ETIMEDOUT)
      break;
  }
  bool accepted = S.nconns > idx;
  int expect = accepted ? S.conns[idx].hello_expect : 1;
  bool err_known = accepted && server_sent(&S.conns[idx], 0, rc);
  if (!accepted) {
    /* Not accepted yet (a timeout of 0): the script goes unused. */
    S.next_script = NULL;
    S.next_slen = 0;
  }
  pthread_mutex_unlock(&S.mu);
  const char *msg = mgr_errmsg(NULL);
  FUZZ_CHECK(msg && strlen(msg) < 256);
  bool ok = is_common(rc) || rc == MGR_ECONNECT || rc == MGR_EVERSION ||
            rc == MGR_EPERM || err_known;
  if (!ok)
    fprintf(stderr, "fuzz_client: mgr_connect returned %s\n", mgr_err_name(rc));
  FUZZ_CHECK(ok);
  if (expect != 1 && rc != MGR_ETIMEDOUT) {
    /* The HELLO reply came as such: the spec says what follows from it. */
    if (rc != expect)
      fprintf(stderr, "fuzz_client: mgr_connect returned %s, expected %s\n",
              mgr_err_name(rc), mgr_err_name(expect));
    FUZZ_CHECK(rc == expect);
  }
  if (rc != MGR_OK) {
    FUZZ_CHECK(m == NULL);
    return;
  }
  FUZZ_CHECK(mgr_server_pid(m) == SERVER_PID);
  client *k = &p->cl[p->ncl++];
  memset(k, 0, sizeof *k);
  k->m = m;
  k->sidx = idx;
  mgri_conn *c = conn_of(m);
  FUZZ_CHECK(c && !c->broken && c->next_rid == 1);
}

static void release_all(client *k) {
  while (k->npx) {
    pre pr = before(k);
    mgr_proxy *px = k->px[--k->npx];
    /* The last proxy of its object sends RELEASE. */
    bool sends = true;
    for (size_t i = 0; i < k->npx; i++)
      if (mgr_proxy_id(k->px[i]) == mgr_proxy_id(px)) sends = false;
    int rc = mgr_release(px);
    if (sends)
      after(k, pr.rid, pr.broken, rc, 0, NULL);
    else
      FUZZ_CHECK(rc == MGR_OK);
  }
}

static void close_client(prog *p, size_t i, bool shut) {
  client *k = &p->cl[i];
  release_all(k);
  if (shut) {
    pre pr = before(k);
    int rc = mgr_shutdown(k->m);
    /* m is gone: check the code alone. */
    pthread_mutex_lock(&S.mu);
    bool ok = is_common(rc) || server_sent(&S.conns[k->sidx], pr.rid, rc);
    if (rc == MGR_OK)
      ok = ok && (pr.rid >= RIDS || S.conns[k->sidx].ok[pr.rid]);
    pthread_mutex_unlock(&S.mu);
    if (pr.broken) FUZZ_CHECK(rc == k->broke_err);
    FUZZ_CHECK(ok);
  } else {
    mgr_close(k->m);
  }
  p->cl[i] = p->cl[--p->ncl];
}

/* A proxy of kind (0: any) of k, or NULL. */
static mgr_proxy *proxy(prog *p, client *k, mgr_kind kind) {
  uint8_t b = fuzz_u8(&p->in);
  for (size_t i = 0; i < k->npx; i++) {
    mgr_proxy *x = k->px[(b + i) % k->npx];
    if (!kind || mgr_proxy_kind(x) == kind) return x;
  }
  return NULL;
}

/* The calls that make proxies run only while there is room (a release
 * here would be a second request in the call). */
static void keep(client *k, mgr_proxy *px) {
  FUZZ_CHECK(k->npx < PROXIES);
  k->px[k->npx++] = px;
}

/* The calls, each checked by after(). */
static void call_step(prog *p, client *k) {
  uint8_t sel = fuzz_u8(&p->in);
  uint8_t b = fuzz_u8(&p->in);
  mgr_value cells[8], out = mgr_nil();
  int64_t iv = 0, *tv = NULL;
  size_t sz = 0;
  bool bv = false;
  unsigned extra = 0;
  int rc;
  pre pr = before(k);
  mgr_proxy *x;
#define TOKV(v)                                                                \
  ((v).type == MGR_T_INT ? (iv = (v).u.i, tv = &iv) : (iv = -1, tv = &iv))
  switch (sel % 24) {
  case 0:
    rc = mgr_ping(k->m);
    break;
  case 1:
    rc = mgr_objects(k->m, &out);
    break;
  case 2:
    rc = mgr_stats(k->m, &out);
    break;
  case 3:
    rc = mgr_dump(k->m, 1 + b, &out);
    break;
  case 4:
  case 5: { /* a new proxy of some kind */
    if (k->npx == PROXIES) return;
    mgr_proxy *np = NULL;
    mgr_value init = small_value(p, cells);
    switch (b % 14) {
    case 0:
      rc = mgr_dict_new(k->m, NULL, &np);
      break;
    case 1:
      rc = mgr_list_new(k->m, (b & 0x80) ? &init : NULL, &np);
      break;
    case 2:
      rc = mgr_var_new(k->m, &init, &np);
      break;
    case 3:
      rc = mgr_lock_new(k->m, &np);
      break;
    case 4:
      rc = mgr_rlock_new(k->m, &np);
      break;
    case 5:
      rc = mgr_queue_new(k->m, b >> 5, &np);
      break;
    case 6:
      rc = mgr_joinable_queue_new(k->m, 0, &np);
      break;
    case 7:
      rc = mgr_namespace_new(k->m, NULL, &np);
      break;
    case 8:
      rc = mgr_event_new(k->m, &np);
      break;
    case 9:
      rc = mgr_condition_new(k->m, NULL, &np);
      break;
    case 10:
      rc = mgr_semaphore_new(k->m, 1, &np);
      break;
    case 11:
      rc = mgr_bounded_semaphore_new(k->m, 2, &np);
      break;
    case 12:
      rc = mgr_barrier_new(k->m, 2, (b & 0x80) ? 1 : -1, &np);
      break;
    default: {
      mgr_value n = mgr_int(3);
      rc = mgr_array_new(k->m, 'i', &n, &np);
      break;
    }
    }
    if (rc == MGR_OK) {
      iv = (int64_t)mgr_proxy_id(np) -
           1; /* the token is the rid, the id rid + 1 */
      tv = &iv;
      keep(k, np);
    } else {
      FUZZ_CHECK(np == NULL);
    }
    break;
  }
  case 6: { /* OPEN */
    if (k->npx == PROXIES) return;
    mgr_proxy *np = NULL;
    bool created = false;
    static const char *const nm[] = {"a", "counter", "", "n\xc3\xa9"};
    rc = mgr_open(k->m, nm[b % 4], (mgr_kind)(1 + (b >> 2) % MGRI_KIND_MAX),
                  NULL, b & 0x80, &np, &created);
    if (rc == MGR_OK) {
      iv = (int64_t)mgr_proxy_id(np) - 1;
      tv = &iv;
      keep(k, np);
    }
    break;
  }
  case 7: { /* RELEASE, or a proxy from a ref value (RETAIN) */
    if (b & 1) {
      if (!k->npx) return;
      size_t i = (b >> 1) % k->npx;
      mgr_proxy *px = k->px[i];
      k->px[i] = k->px[--k->npx];
      bool sends = true;
      for (size_t j = 0; j < k->npx; j++)
        if (mgr_proxy_id(k->px[j]) == mgr_proxy_id(px)) sends = false;
      rc = mgr_release(px);
      if (!sends) {
        FUZZ_CHECK(rc == MGR_OK);
        return;
      }
      break;
    }
    if (k->npx == PROXIES) return;
    mgr_proxy *np = NULL;
    mgr_value ref = mgr_nil();
    ref.type = MGR_T_REF;
    ref.u.ref.kind = 1 + b % MGRI_KIND_MAX;
    ref.u.ref.id =
        (k->npx && (b & 2)) ? mgr_proxy_id(k->px[0]) : (uint64_t)1000 + b;
    bool had = false;
    for (size_t j = 0; j < k->npx; j++)
      had |= mgr_proxy_id(k->px[j]) == ref.u.ref.id;
    rc = mgr_proxy_from_value(k->m, &ref, &np);
    if (rc == MGR_OK) keep(k, np);
    if (had) { /* already held: nothing sent */
      FUZZ_CHECK(rc == MGR_OK);
      return;
    }
    break;
  }
  case 8: { /* dict */
    if (!(x = proxy(p, k, MGR_K_DICT))) return;
    mgr_value key = mgr_int(b & 3), val = small_value(p, cells);
    switch (b >> 4 & 7) {
    case 0:
      rc = mgr_dict_get(x, &key, &out);
      if (!rc) TOKV(out);
      break;
    case 1:
      rc = mgr_dict_set(x, &key, &val);
      break;
    case 2:
      rc = mgr_dict_len(x, &sz);
      iv = (int64_t)sz, tv = &iv;
      break;
    case 3:
      rc = mgr_dict_contains(x, &key, &bv);
      break;
    case 4:
      rc = mgr_dict_items(x, &out);
      break;
    case 5:
      rc = mgr_dict_pop(x, &key, (b & 8) ? &val : NULL, &out);
      if (!rc) TOKV(out);
      break;
    case 6:
      rc = mgr_dict_incr_int(x, &key, 1, b & 8, &iv);
      tv = &iv;
      extra = X_TYPE;
      break;
    default:
      rc = mgr_dict_cas(x, &key, &val, &val, &bv, &out);
      if (!rc) TOKV(out);
      break;
    }
    break;
  }
  case 9: { /* list */
    if (!(x = proxy(p, k, MGR_K_LIST))) return;
    mgr_value val = small_value(p, cells);
    switch (b >> 4 & 7) {
    case 0:
      rc = mgr_list_get(x, b & 3, &out);
      if (!rc) TOKV(out);
      break;
    case 1:
      rc = mgr_list_len(x, &sz);
      iv = (int64_t)sz, tv = &iv;
      break;
    case 2:
      rc = mgr_list_append(x, &val);
      break;
    case 3:
      rc = mgr_list_pop(x, -1, &out);
      if (!rc) TOKV(out);
      break;
    case 4:
      rc = mgr_list_getslice(x, mgr_at(0), MGR_OMIT, MGR_OMIT, &out);
      break;
    case 5:
      rc = mgr_list_incr_int(x, 0, 2, &iv);
      tv = &iv;
      extra = X_TYPE;
      break;
    case 6:
      rc = mgr_list_count(x, &val, &sz);
      iv = (int64_t)sz, tv = &iv;
      break;
    default:
      rc = mgr_list_cas(x, 0, &val, &val, &bv, &out);
      if (!rc) TOKV(out);
      break;
    }
    break;
  }
  case 10: { /* var */
    if (!(x = proxy(p, k, MGR_K_VAR))) return;
    mgr_value val = small_value(p, cells);
    switch (b >> 4 & 3) {
    case 0:
      rc = mgr_var_get(x, &out);
      if (!rc) TOKV(out);
      break;
    case 1:
      rc = mgr_var_set(x, &val);
      break;
    case 2:
      rc = mgr_var_incr_int(x, 5, &iv);
      tv = &iv;
      extra = X_TYPE;
      break;
    default:
      rc = mgr_var_cas(x, &val, &val, &bv, &out);
      if (!rc) TOKV(out);
      break;
    }
    break;
  }
  case 11: { /* lock and rlock */
    if (!(x = proxy(p, k, (b & 1) ? MGR_K_RLOCK : MGR_K_LOCK))) return;
    switch (b >> 4 & 3) {
    case 0:
    case 1:
      rc = mgr_lock_acquire(x, timeout_of(b >> 1), &bv);
      extra = X_OWNERDEAD;
      break;
    case 2:
      rc = mgr_lock_release(x);
      break;
    default:
      rc = mgr_lock_locked(x, &bv);
      break;
    }
    break;
  }
  case 12: { /* queue */
    if (!(x = proxy(p, k, (b & 1) ? MGR_K_JQUEUE : MGR_K_QUEUE))) return;
    mgr_value val = small_value(p, cells);
    switch (b >> 4 & 7) {
    case 0:
      rc = mgr_queue_put(x, &val, timeout_of(b >> 1));
      break;
    case 1:
    case 2:
      rc = mgr_queue_get(x, timeout_of(b >> 1), &out);
      if (!rc) TOKV(out);
      break;
    case 3:
      rc = mgr_queue_qsize(x, &sz);
      iv = (int64_t)sz, tv = &iv;
      break;
    case 4:
      rc = mgr_queue_empty(x, &bv);
      break;
    case 5:
      rc = mgr_queue_task_done(x);
      break;
    case 6:
      rc = mgr_queue_join(x, timeout_of(b >> 1), &bv);
      break;
    default:
      rc = mgr_queue_full(x, &bv);
      break;
    }
    break;
  }
  case 13: { /* semaphores */
    if (!(x = proxy(p, k, (b & 1) ? MGR_K_BSEMAPHORE : MGR_K_SEMAPHORE)))
      return;
    switch (b >> 4 & 3) {
    case 0:
    case 1:
      rc = mgr_sem_acquire(x, timeout_of(b >> 1), &bv);
      break;
    case 2:
      rc = mgr_sem_release(x, 1);
      break;
    default:
      rc = mgr_sem_value(x, &iv);
      tv = &iv;
      break;
    }
    break;
  }
  case 14: { /* condition */
    if (!(x = proxy(p, k, MGR_K_CONDITION))) return;
    switch (b >> 4 & 7) {
    case 0:
      rc = mgr_cond_acquire(x, timeout_of(b >> 1), &bv);
      extra = X_OWNERDEAD;
      break;
    case 1:
      rc = mgr_cond_release(x);
      break;
    case 2:
    case 3:
      rc = mgr_cond_wait(x, timeout_of(b >> 1), &bv);
      extra = X_OWNERDEAD;
      break;
    case 4:
      rc = mgr_cond_notify(x, 1);
      break;
    default:
      rc = mgr_cond_notify_all(x);
      break;
    }
    break;
  }
  case 15: { /* event */
    if (!(x = proxy(p, k, MGR_K_EVENT))) return;
    switch (b >> 4 & 3) {
    case 0:
      rc = mgr_event_set(x);
      break;
    case 1:
      rc = mgr_event_clear(x);
      break;
    case 2:
      rc = mgr_event_is_set(x, &bv);
      break;
    default:
      rc = mgr_event_wait(x, timeout_of(b >> 1), &bv);
      break;
    }
    break;
  }
  case 16: { /* barrier */
    if (!(x = proxy(p, k, MGR_K_BARRIER))) return;
    switch (b >> 4 & 7) {
    case 0:
    case 1:
      rc = mgr_barrier_wait(x, timeout_of(b >> 1), &iv);
      tv = &iv;
      break;
    case 2:
      rc = mgr_barrier_reset(x);
      break;
    case 3:
      rc = mgr_barrier_abort(x);
      break;
    case 4:
      rc = mgr_barrier_parties(x, &iv);
      tv = &iv;
      break;
    case 5:
      rc = mgr_barrier_n_waiting(x, &iv);
      tv = &iv;
      break;
    default:
      rc = mgr_barrier_broken(x, &bv);
      break;
    }
    break;
  }
  case 17: { /* namespace */
    if (!(x = proxy(p, k, MGR_K_NAMESPACE))) return;
    mgr_value val = small_value(p, cells);
    switch (b >> 4 & 7) {
    case 0:
    case 1:
      rc = mgr_ns_get(x, "a", &out);
      if (!rc) TOKV(out);
      break;
    case 2:
      rc = mgr_ns_set(x, "a", &val);
      break;
    case 3:
      rc = mgr_ns_del(x, "a");
      break;
    case 4:
      rc = mgr_ns_items(x, &out);
      break;
    default:
      rc = mgr_ns_repr(x, &out);
      break;
    }
    break;
  }
  case 18: { /* array */
    if (!(x = proxy(p, k, MGR_K_ARRAY))) return;
    mgr_value val = mgr_int(b & 7);
    char tc = 0;
    switch (b >> 4 & 7) {
    case 0:
      rc = mgr_array_get(x, b & 3, &out);
      if (!rc) TOKV(out);
      break;
    case 1:
      rc = mgr_array_set(x, b & 3, &val);
      break;
    case 2:
      rc = mgr_array_len(x, &sz);
      iv = (int64_t)sz, tv = &iv;
      break;
    case 3:
      rc = mgr_array_getslice(x, MGR_OMIT, MGR_OMIT, MGR_OMIT, &out);
      break;
    case 4:
      rc = mgr_array_incr_int(x, 0, 1, &iv);
      tv = &iv;
      extra = X_TYPE;
      break;
    case 5:
      rc = mgr_array_cas(x, 0, &val, &val, &bv, &out);
      if (!rc) TOKV(out);
      break;
    default:
      rc = mgr_array_typecode(x, &tc);
      break;
    }
    break;
  }
  case 19:
  case 20: { /* a batch of 1 to 4 operations */
    mgr_batch *bt = NULL;
    if (mgr_batch_new(k->m, &bt) != MGR_OK) return;
    size_t n = 1 + b % 4;
    mgr_value key = mgr_int(1), val = small_value(p, cells);
    for (size_t i = 0; i < n; i++) {
      mgr_proxy *d = proxy(p, k, MGR_K_DICT), *v = proxy(p, k, MGR_K_VAR);
      if (d && (i & 1))
        mgr_batch_dict_get(bt, d, &key);
      else if (d)
        mgr_batch_dict_set(bt, d, &key, &val);
      else if (v)
        mgr_batch_var_get(bt, v);
      else
        mgr_batch_add(bt, NULL, "PING", NULL, 0);
    }
    size_t len = mgr_batch_len(bt);
    rc = mgr_batch_run(bt, &out);
    extra = X_VALUE;
    if (rc == MGR_OK) {
      FUZZ_CHECK(out.type == MGR_T_ARRAY && out.u.a.len == len);
      for (size_t i = 0; i < len; i++) {
        int st = mgr_batch_status(bt, i);
        FUZZ_CHECK(st <= 0 && mgr_batch_errmsg(bt, i) != NULL);
        /* Every slot of the right reply carries the token. */
        if (st == MGR_OK && out.u.a.items[i].type == MGR_T_INT) {
          iv = out.u.a.items[i].u.i;
          tv = &iv;
        }
      }
    }
    mgr_batch_free(bt);
    break;
  }
  default: /* the timeout, then a ping */
    mgr_set_timeout(k->m, timeout_of(b));
    pthread_mutex_lock(&S.mu);
    S.conns[k->sidx].tmo = timeout_of(b);
    pthread_mutex_unlock(&S.mu);
    pr = before(k);
    rc = mgr_ping(k->m);
    break;
  }
#undef TOKV
  after(k, pr.rid, pr.broken, rc, extra, tv);
  mgr_value_free(&out);
}

/* Waits until the server has seen every connection of this input closed. */
static void server_drain(void) {
  struct timespec dl;
  clock_gettime(CLOCK_REALTIME, &dl);
  dl.tv_sec += 10;
  pthread_mutex_lock(&S.mu);
  server_wake();
  while (!all_closed()) {
    int e = pthread_cond_timedwait(&S.cv, &S.mu, &dl);
    if (e == ETIMEDOUT) break;
  }
  bool closed = all_closed();
  pthread_mutex_unlock(&S.mu);
  /* The client closed every socket it had. */
  FUZZ_CHECK(closed);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  server_start();
  prog *p = &P;
  memset(p, 0, sizeof *p);
  p->in = (fuzz_in){data, size, 0};
  /* Every program starts with a connection. */
  connect_step(p);
  for (int steps = 0; fuzz_more(&p->in) && steps < 64; steps++) {
    uint8_t op = fuzz_u8(&p->in);
    switch (op % 16) {
    case 0:
      connect_step(p);
      break;
    case 1:
      if (p->ncl) close_client(p, (op >> 4) % p->ncl, op & 0x80);
      break;
    default:
      if (p->ncl) call_step(p, &p->cl[(op >> 4) % p->ncl]);
      break;
    }
  }
  while (p->ncl)
    close_client(p, 0, false);
  server_drain();
  /* A connection that broke never sent a later rid. */
  pthread_mutex_lock(&S.mu);
  for (size_t i = 0; i < S.nconns; i++)
    if (S.conns[i].cbroke && S.conns[i].nreq)
      FUZZ_CHECK(S.conns[i].max_rid < S.conns[i].cbroke_rid);
  S.nconns = 0;
  server_wake(); /* the listener is polled again */
  pthread_mutex_unlock(&S.mu);
  return 0;
}
