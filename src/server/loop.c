/* mgr — the server's event loop: listeners (Unix sockets, TCP, TLS), epoll,
 * non-blocking connections each going through its TLS handshake and the
 * authkey exchange when the server has them (spec 2.9, 7.8), then a frame
 * reader and an output buffer; deadlines (parked requests, handshakes, idle
 * connections), SIGTERM/SIGINT through a signalfd. Every buffer is counted
 * in the store's memory accounting and given back when idle (spec 14.2);
 * each connection gets a fair share of the loop (MGRI_WORK_BUDGET items per
 * turn). Everything else is in the store. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "common/addr.h"
#include "common/coverage.h"
#include "common/xstruct.h"
#include "mgr/error.h"
#include "mgr/server.h"
#include "net/net.h"
#include "net/shm.h"
#include "proto/auth.h"
#include "server/store.h"
#include "trace/trace.h"

/* Bytes read from one connection per readiness before serving others. */
#define READ_BUDGET ((size_t)1 << 20)
/* Bytes asked of recv at a time when no frame needs more: small enough that
 * an idle connection's buffer stays within MGRI_IDLE_BUF_MAX. */
#define READ_CHUNK ((size_t)MGRI_IDLE_BUF_MAX - 1024)
/* Frames from this size on have their large string read into a block of
 * its own (split_start). */
#define SPLIT_MIN ((size_t)64 << 10)

/* A connection's phases: the TLS handshake (tls:// listeners), the authkey
 * exchange (servers with a key), then frames (HELLO and on). Before the
 * last the peer is not authenticated: it is sent nothing but TLS's own
 * records and the CHALLENGE, and a failure closes it without a word. */
enum { PH_TLS = 1, PH_AUTH = 2, PH_OPEN = 3 };

typedef struct listener {
  int fd;
  bool paused;    /* out of epoll: accept ran out of descriptors */
  mgri_addr addr; /* as bound (the port a TCP port 0 took) */
} listener;

typedef struct lconn lconn;
struct lconn {
  int fd;
  mgri_sconn *sc;
  mgri_reader rd;
  mgri_arena arena;
  mgri_buf out;
  uint32_t events; /* epoll interest now */
  bool uid_ok;
  bool eof;      /* the peer closed its side */
  bool closing;  /* close once the output is sent */
  bool dead;     /* closed, freed at the end of the iteration */
  bool dirty;    /* in the dirty list */
  bool hello;    /* past HELLO */
  bool in_hs;    /* in the handshake list */
  bool in_act;   /* in the activity list */
  bool backlog;  /* in the backlog: whole frames wait for its next turn */
  int64_t since; /* accepted (handshaking) or last request (live), ns */
  /* The buffer policy (spec 14.2.3): requests left during which large
   * buffers are kept, the bytes kept (counted in loop.kept), when the
   * connection last used them, and its place in the keepers list. */
  uint32_t keep_left;
  uint32_t since_large; /* requests since the last large one */
  size_t kept;
  int64_t kept_at;
  bool in_keep;
  lconn *kprev, *knext;
  /* The large string of the frame being read, read into a block of its
   * own (split_start): the block (counted in conn_in), the payload's
   * offset in the body, its length and the bytes read so far. */
  struct {
    uint8_t *blk;
    size_t at, n, got;
  } split;
  size_t sent;          /* bytes of out already sent (moved out lazily) */
  uint64_t turn;        /* the loop turn `spent` counts for */
  uint64_t spent;       /* estimated cost served in that turn */
  int phase;            /* PH_* */
  bool rd_wants_out;    /* TLS: the last read waits for the socket to drain */
  bool wr_wants_in;     /* TLS: the last write waits for bytes from the peer */
  bool tls_more;        /* TLS: decrypted bytes wait inside the session */
  struct ssl_st *ssl;   /* tls:// connections */
  mgri_auth_srv *auth;  /* during the authkey exchange */
  lconn *dnext;         /* dirty list */
  lconn *bnext, *bprev; /* backlog */
  lconn *prev, *next;   /* all connections */
  lconn *lprev, *lnext; /* handshake list (accept order) or activity
                              list (oldest request first) */
  /* The shared-memory transport (spec 2.10): the segment (made by
   * SHM_OPEN, used once its reply went out with it), the bell (an eventfd
   * the client writes when we said we sleep), the memfd until it is sent,
   * our own ring positions (the segment's copies are the peer's to
   * scribble on, never read back), the spin bound last told the client,
   * when its last request came, and the loop's list of such connections. */
  bool unix_sock; /* accepted on a Unix socket */
  bool shm_offer; /* a segment made, its SHM_OPEN reply not yet sent */
  bool shm_ok;    /* that reply was encoded as a success */
  bool shm_on;    /* requests and replies go through the rings */
  bool shm_bad;   /* the client's request tail was garbage: drop it */
  mgri_shm shm;
  int shm_fd, bell;
  uint64_t req_head, rep_tail;
  uint32_t spin_hint;
  int64_t shm_last;
  lconn *sprev, *snext;
};

/* A list of connections ordered by `since`: the head expires first. */
typedef struct clist {
  lconn *head, *tail;
  size_t n;
} clist;

typedef struct loop {
  int ep, sfd;
  listener ls[MGRI_LISTEN_MAX];
  size_t nls;
  mgri_store *st;
  mgri_mem *mem;
  mgri_store_stats *stats;
  mgri_limits lim;
  size_t outbuf_max;
  uid_t uid;
  bool any_uid;
  bool stop;
  bool quitting;                 /* replies are no longer delivered */
  bool listen_paused;            /* some listener is paused */
  uint8_t key[MGRI_AUTHKEY_MAX]; /* the authkey (spec 2.8) */
  size_t keylen;                 /* 0: none */
  struct ssl_ctx_st *tls;        /* for tls:// listeners */
  mgri_keepalive ka;
  int64_t handshake_ns, idle_ns; /* 0: none */
  size_t handshakes_max;
  uint64_t budget; /* a connection's share of one loop turn, items */
  uint64_t turn;   /* loop turns so far */
  lconn *all;
  lconn *dirty;
  lconn *grave;
  lconn *backlog;
  clist hs;  /* connections in the handshake */
  clist act; /* live connections, by last request */
  /* Connections keeping large buffers, least recently used first, and the
   * bytes they keep in all (at most keep_max). */
  lconn *khead, *ktail;
  size_t kept, keep_max;
  /* The shared-memory transport (spec 2.10): offered at all, the CPUs we
   * may run on, the connections using it, how long the loop spins over
   * their rings before it sleeps (adaptive), and when it went to sleep
   * with their bells armed (0: it did not). */
  bool shm;
  unsigned ncpu;
  lconn *shm_all;
  int64_t spin_ns;
  int64_t slept_at;
} loop;

static int64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int64_t clock_cb(void *ctx) {
  (void)ctx;
  return now_ns();
}

static void list_add(clist *l, lconn *c) {
  c->lprev = l->tail;
  c->lnext = NULL;
  if (l->tail)
    l->tail->lnext = c;
  else
    l->head = c;
  l->tail = c;
  l->n++;
}

static void list_del(clist *l, lconn *c) {
  if (c->lprev)
    c->lprev->lnext = c->lnext;
  else
    l->head = c->lnext;
  if (c->lnext)
    c->lnext->lprev = c->lprev;
  else
    l->tail = c->lprev;
  c->lprev = c->lnext = NULL;
  l->n--;
}

/* Reply bytes not yet sent. */
static size_t unsent(const lconn *c) {
  return mgri_buf_total(&c->out) - c->sent;
}

/* recv/send on c, through TLS when c has it: > 0 bytes, 0 end of stream
 * (recv), -1 with errno (EAGAIN: try again on readiness). */
static ssize_t shm_recv(lconn *c, void *p, size_t n);
static ssize_t shm_sendout(lconn *c);

static ssize_t c_recv(lconn *c, void *p, size_t n) {
  if (c->shm_on) return shm_recv(c, p, n);
  if (!c->ssl) return recv(c->fd, p, n, MSG_DONTWAIT);
  int want = 0;
  ssize_t r = mgri_tls_recv(c->ssl, p, n, &want);
  c->rd_wants_out = r < 0 && errno == EAGAIN && want == POLLOUT;
  return r;
}

static ssize_t c_send(lconn *c, const void *p, size_t n) {
  if (!c->ssl) return send(c->fd, p, n, MSG_NOSIGNAL | MSG_DONTWAIT);
  int want = 0;
  ssize_t r = mgri_tls_send(c->ssl, p, n, &want);
  c->wr_wants_in = r < 0 && errno == EAGAIN && want == POLLIN;
  return r;
}

/* Empties c's output, unpinning the stored strings it referred to. */
static void out_clear(loop *L, lconn *c) {
  for (size_t i = 0; i < c->out.nrefs; i++)
    mgri_store_unpin(L->st, (void *)c->out.refs[i].p);
  mgri_buf_clear(&c->out);
  c->sent = 0;
}

/* Sends what c's output has from c->sent on: a gather when it refers to
 * stored strings. As c_send. */
static ssize_t c_sendout(lconn *c) {
  if (c->shm_on) return shm_sendout(c);
  if (!c->out.nrefs) return c_send(c, c->out.data + c->sent, unsent(c));
  struct iovec iov[2 * MGRI_BUF_REFS + 1];
  struct msghdr mh;
  memset(&mh, 0, sizeof mh);
  mh.msg_iov = iov;
  mh.msg_iovlen =
      mgri_buf_iov(&c->out, c->sent, iov, sizeof iov / sizeof iov[0]);
  return sendmsg(c->fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
}

/* --- the shared-memory transport's rings (spec 2.10) -------------------- */

/* Wakes the client if it sleeps on its futex (spec 2.10.4): `want` is what
 * it waits for (1 a reply, 2 room for its request; 0 either). */
static void shm_wake(lconn *c, uint32_t want) {
  uint32_t w = mgri_shm_load32(&c->shm, MGRI_SHM_O_CLI_WAIT);
  if (!w || (want && w != want)) return;
  __atomic_fetch_add(mgri_shm_w32(&c->shm, MGRI_SHM_O_CLI_FUTEX), 1,
                     __ATOMIC_SEQ_CST);
  mgri_shm_futex_wake(mgri_shm_w32(&c->shm, MGRI_SHM_O_CLI_FUTEX));
}

/* Request bytes, copied out of the ring into p before anything parses them
 * (the client may change the ring at any moment). As c_recv; EPROTO when
 * the client's tail is garbage (spec 2.10.6). */
static ssize_t shm_recv(lconn *c, void *p, size_t n) {
  uint64_t tail = mgri_shm_load64(&c->shm, MGRI_SHM_O_REQ_TAIL);
  int64_t r = mgri_shm_read(c->shm.req, c->shm.ring, &c->req_head, tail, p, n);
  if (r < 0) {
    c->shm_bad = true;
    errno = EPROTO;
    return -1;
  }
  if (r == 0) {
    errno = EAGAIN;
    return -1;
  }
  mgri_shm_store64(&c->shm, MGRI_SHM_O_REQ_HEAD, c->req_head);
  shm_wake(c, 2);
  return (ssize_t)r;
}

/* Reply bytes from c->sent on, into the reply ring. As c_send; EPROTO
 * when the client's head is garbage. */
static ssize_t shm_sendout(lconn *c) {
  uint64_t head = mgri_shm_load64(&c->shm, MGRI_SHM_O_REP_HEAD);
  struct iovec iov[2 * MGRI_BUF_REFS + 1];
  size_t k = mgri_buf_iov(&c->out, c->sent, iov, sizeof iov / sizeof iov[0]);
  size_t done = 0;
  for (size_t i = 0; i < k; i++) {
    int64_t w = mgri_shm_write(c->shm.rep, c->shm.ring, &c->rep_tail, head,
                               iov[i].iov_base, iov[i].iov_len);
    if (w < 0) {
      errno = EPROTO;
      return -1;
    }
    done += (size_t)w;
    if ((size_t)w < iov[i].iov_len) break;
  }
  if (!done) {
    errno = EAGAIN;
    return -1;
  }
  mgri_shm_store64(&c->shm, MGRI_SHM_O_REP_TAIL, c->rep_tail);
  shm_wake(c, 0);
  return (ssize_t)done;
}

/* Whether the peer has proven the authkey (or there is none to prove). */
static bool authed(const lconn *c) { return c->phase == PH_OPEN; }

/* Whether the large string of the next frame is still being read (the
 * frame is not whole, whatever its shortened header says). */
static bool split_reading(const lconn *c) {
  return c->split.blk && c->split.got < c->split.n;
}

/* Whether whole frames wait in c's reader. */
static bool frames_wait(const lconn *c) {
  return mgri_reader_pending(&c->rd) && mgri_reader_want(&c->rd) == 0 &&
         !split_reading(c);
}

static void backlog_add(loop *L, lconn *c) {
  if (c->backlog || c->dead) return;
  c->backlog = true;
  c->bprev = NULL;
  c->bnext = L->backlog;
  if (L->backlog) L->backlog->bprev = c;
  L->backlog = c;
}

static void backlog_del(loop *L, lconn *c) {
  if (!c->backlog) return;
  c->backlog = false;
  if (c->bprev)
    c->bprev->bnext = c->bnext;
  else
    L->backlog = c->bnext;
  if (c->bnext) c->bnext->bprev = c->bprev;
  c->bnext = c->bprev = NULL;
}

static void mark_dirty(loop *L, lconn *c) {
  if (c->dirty) return;
  c->dirty = true;
  c->dnext = L->dirty;
  L->dirty = c;
}

/* An error reply to rid, encoded straight into c's output. */
static int encode_error(loop *L, lconn *c, uint64_t rid, int code,
                        const char *msg) {
  mgri_reply r;
  memset(&r, 0, sizeof r);
  r.rid = rid;
  r.status = code;
  r.msg = msg;
  r.msglen = strlen(msg);
  return mgri_reply_encode(&c->out, &r, L->lim.frame_max);
}

/* The store's reply callback: encode into the connection's output buffer.
 * Undeliverable (false) when the peer will never read it: the server is
 * quitting, the connection is gone or closing, or the peer closed its side
 * (our clients never half-close: end of stream means the process is gone or
 * going). A closing connection gets nothing more: its last frame was the
 * error that closes it (spec 3.5), and a parked request answered between
 * that error and the connection's end (a deadline passing, a grant) is
 * dropped, as it would be at the end (fuzz/README.md, finding 4). */
static bool on_reply(void *ctx, mgri_sconn *sc, const mgri_reply *r) {
  loop *L = ctx;
  lconn *c = mgri_sconn_user(sc);
  if (L->quitting || !c || c->dead || c->closing) return false;
  bool live = !c->closing && !c->eof;
  /* A large stored string goes from where it is (spec 14.2.3: no copy
   * between the store and the socket): its block stays pinned until
   * sent. TLS copies into its records anyway. */
  size_t nrefs = c->out.nrefs;
  void *pin = NULL;
  if (mgri_store_reply_stored(L->st) && live && !c->ssl &&
      nrefs < MGRI_BUF_REFS &&
      (r->result.type == MGR_T_TEXT || r->result.type == MGR_T_BYTES) &&
      r->result.u.s.len >= MGRI_GATHER_MIN &&
      mgri_store_pin(L->st, (void *)r->result.u.s.ptr)) {
    pin = (void *)r->result.u.s.ptr;
    c->out.ref_min = MGRI_GATHER_MIN;
  }
  int rc = mgri_reply_encode(&c->out, r, L->lim.frame_max);
  c->out.ref_min = 0;
  if (pin && c->out.nrefs == nrefs) mgri_store_unpin(L->st, pin);
  /* Whatever the reply hands over reaches the peer only when it is sent as
   * it is: a LIMIT answered instead does not carry it. */
  live = live && rc == MGR_OK;
  if (rc == MGR_ETOOBIG || rc == MGR_EINVAL || rc == MGR_ENOMEM) {
    /* Spec 3.7 and 14.2: a reply that does not fit (the frame limit, the
     * depth, or the server's memory) is answered LIMIT; the connection
     * stays open. */
    char msg[128];
    snprintf(msg, sizeof msg,
             rc == MGR_ETOOBIG
                 ? "MemoryError: the reply exceeds the frame limit (%u bytes)"
             : rc == MGR_EINVAL
                 ? "MemoryError: the reply cannot be encoded (limit %u)"
                 : "MemoryError: the reply does not fit in the server's memory "
                   "limit (frame limit %u)",
             L->lim.frame_max);
    mgri_store_count_limit(L->st,
                           rc == MGR_ENOMEM ? MGRI_WHY_MEMORY : MGRI_WHY_REPLY);
    rc = encode_error(L, c, r->rid, MGR_ELIMIT, msg);
  }
  if (rc) c->closing = true; /* out of memory: give up on this peer */
  /* SHM_OPEN's reply (the only one in flight, shm_open_cb): the segment
   * goes with it only when it was encoded as a success. */
  if (c->shm_offer) c->shm_ok = rc == MGR_OK && r->status == MGR_OK;
  mark_dirty(L, c);
  return live;
}

/* An error reply written before (or without) any dispatch, then close. */
static void reject(loop *L, lconn *c, uint64_t rid, int code, const char *msg) {
  (void)encode_error(L, c, rid, code, msg);
  c->closing = true;
  mark_dirty(L, c);
}

static void send_error(loop *L, lconn *c, uint64_t rid, int code,
                       const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static void send_error(loop *L, lconn *c, uint64_t rid, int code,
                       const char *fmt, ...) {
  char msg[256];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  mgri_reply r;
  memset(&r, 0, sizeof r);
  r.rid = rid;
  r.status = code;
  r.msg = msg;
  r.msglen = strlen(msg);
  if (c->sc) (void)on_reply(L, c->sc, &r);
}

static void set_events(loop *L, lconn *c) {
  uint32_t ev = 0;
  /* On shared memory the socket only tells the peer's end (spec 2.10.5). */
  if (c->shm_on) {
    ev = c->eof ? 0 : EPOLLIN;
    if (ev == c->events) return;
    struct epoll_event e = {.events = ev, .data.ptr = c};
    if (epoll_ctl(L->ep, EPOLL_CTL_MOD, c->fd, &e) == 0) c->events = ev;
    return;
  }
  if (!c->closing && !c->eof && unsent(c) <= L->outbuf_max) ev |= EPOLLIN;
  /* A TLS write that needs the peer's bytes first: readable wakes flush()
   * (flush_dirty after on_conn), even while reading is held back. */
  if (c->wr_wants_in) ev |= EPOLLIN;
  if (unsent(c) || c->rd_wants_out) ev |= EPOLLOUT;
  if (ev == c->events) return;
  struct epoll_event e = {.events = ev, .data.ptr = c};
  if (epoll_ctl(L->ep, EPOLL_CTL_MOD, c->fd, &e) == 0) c->events = ev;
}

/* --- the buffer policy (spec 14.2.3) -------------------------------------
 * A connection that keeps moving large values keeps its buffers: from the
 * second request within MGRI_KEEP_REQS whose frame or reply exceeded
 * MGRI_IDLE_BUF_MAX, its frame reader's and output buffer's memory stays
 * for the next MGRI_KEEP_REQS requests (renewed by every large one), unless
 * it is idle MGRI_KEEP_IDLE_MS or the bytes kept by all connections would
 * pass keep_max: such a peer does not make the server map, fault in and
 * give back a new buffer for each value. A single large request keeps
 * nothing. Kept buffers stay counted in conn_in and conn_out. */

/* Counts a request served: large when its frame or its reply exceeded
 * MGRI_IDLE_BUF_MAX. The second large one within MGRI_KEEP_REQS requests
 * starts (or renews) a grace of MGRI_KEEP_REQS requests: a single large
 * request keeps nothing. */
static void keep_large(lconn *c, bool large, int64_t now) {
  if (large) {
    if (c->since_large < MGRI_KEEP_REQS) c->keep_left = MGRI_KEEP_REQS;
    c->since_large = 0;
  } else {
    if (c->since_large < UINT32_MAX) c->since_large++;
    if (c->keep_left) c->keep_left--;
  }
  if (c->keep_left) c->kept_at = now;
}

/* The bytes c's buffers hold beyond what any connection keeps. */
static size_t held_large(const lconn *c) {
  size_t r = mgri_reader_held(&c->rd), o = c->out.cap;
  return (r > MGRI_IDLE_BUF_MAX ? r : 0) + (o > MGRI_IDLE_BUF_MAX ? o : 0);
}

static void keep_unlink(loop *L, lconn *c) {
  if (!c->in_keep) return;
  if (c->kprev)
    c->kprev->knext = c->knext;
  else
    L->khead = c->knext;
  if (c->knext)
    c->knext->kprev = c->kprev;
  else
    L->ktail = c->kprev;
  c->kprev = c->knext = NULL;
  c->in_keep = false;
}

static void keep_forget(loop *L, lconn *c) {
  keep_unlink(L, c);
  L->kept -= c->kept;
  c->kept = 0;
}

/* Applies the policy to c after its requests were served and its output
 * flushed: keeps (and counts) its large buffers, or gives them back. */
static void keep_update(loop *L, lconn *c) {
  if (c->closing || c->dead) c->keep_left = 0;
  size_t held = c->keep_left ? held_large(c) : 0;
  if (held && L->kept - c->kept + held > L->keep_max)
    c->keep_left = 0; /* over the bound: this one's go back, not others' */
  if (!c->keep_left) {
    keep_forget(L, c);
    mgri_reader_set_keep(&c->rd, MGRI_IDLE_BUF_MAX);
    mgri_reader_shrink(&c->rd);
    if (!unsent(c)) mgri_buf_shrink(&c->out);
    return;
  }
  L->kept = L->kept - c->kept + held;
  c->kept = held;
  keep_unlink(L, c);
  if (!held) return;
  /* Most recently used last: the head is the first to go idle. */
  c->kprev = L->ktail;
  if (L->ktail)
    L->ktail->knext = c;
  else
    L->khead = c;
  L->ktail = c;
  c->in_keep = true;
}

/* Gives back the large buffers of connections idle for MGRI_KEEP_IDLE_MS. */
static void keep_expire(loop *L, int64_t now) {
  while (L->khead &&
         L->khead->kept_at + (int64_t)MGRI_KEEP_IDLE_MS * 1000000 <= now) {
    lconn *c = L->khead;
    c->keep_left = 0;
    keep_update(L, c);
  }
}

static void conn_drop(loop *L, lconn *c) {
  if (c->dead) return;
  c->dead = true;
  keep_forget(L, c);
  backlog_del(L, c);
  if (c->in_hs) {
    list_del(&L->hs, c);
    c->in_hs = false;
    L->stats->handshaking = L->hs.n;
  }
  if (c->in_act) {
    list_del(&L->act, c);
    c->in_act = false;
  }
  mgri_sconn *sc = c->sc;
  c->sc = NULL;
  /* Waiters past their deadline are answered 0 before this connection's
   * locks are granted to the next in line (spec 13.3). */
  mgri_store_tick(L->st, now_ns());
  if (sc) mgri_store_conn_close(L->st, sc); /* may reply to others */
  epoll_ctl(L->ep, EPOLL_CTL_DEL, c->fd, NULL);
  close(c->fd);
  if (c->shm_on) {
    /* Spec 2.10.5: the client may sleep on its futex; it learns the end
     * from GONE without waiting for its next look at the socket. */
    mgri_shm_store32(&c->shm, MGRI_SHM_O_SRV_GONE, 1);
    __atomic_fetch_add(mgri_shm_w32(&c->shm, MGRI_SHM_O_CLI_FUTEX), 1,
                       __ATOMIC_SEQ_CST);
    mgri_shm_futex_wake(mgri_shm_w32(&c->shm, MGRI_SHM_O_CLI_FUTEX));
    epoll_ctl(L->ep, EPOLL_CTL_DEL, c->bell, NULL);
    if (c->sprev)
      c->sprev->snext = c->snext;
    else
      L->shm_all = c->snext;
    if (c->snext) c->snext->sprev = c->sprev;
    c->sprev = c->snext = NULL;
  }
  out_clear(L, c); /* nothing more is sent: its pins go */
  if (c->prev)
    c->prev->next = c->next;
  else
    L->all = c->next;
  if (c->next) c->next->prev = c->prev;
  c->next = L->grave;
  L->grave = c;
  if (L->listen_paused) {
    L->listen_paused = false;
    for (size_t i = 0; i < L->nls; i++) {
      if (!L->ls[i].paused) continue;
      struct epoll_event e = {.events = EPOLLIN, .data.ptr = &L->ls[i]};
      if (epoll_ctl(L->ep, EPOLL_CTL_ADD, L->ls[i].fd, &e) == 0)
        L->ls[i].paused = false;
      else
        L->listen_paused = true;
    }
  }
}

/* Unmaps c's segment, closes its descriptors and uncounts it. */
static void shm_free(loop *L, lconn *c) {
  if (c->shm.base) {
    mgri_mem_discharge(L->mem, MGRI_MEM_CONN_IN,
                       MGRI_SHM_HEADER + (size_t)c->shm.ring);
    mgri_mem_discharge(L->mem, MGRI_MEM_CONN_OUT, c->shm.ring);
  }
  mgri_shm_detach(&c->shm);
  if (c->shm_fd >= 0) close(c->shm_fd);
  if (c->bell >= 0) close(c->bell);
  c->shm_fd = c->bell = -1;
  c->shm_on = c->shm_offer = c->shm_ok = false;
}

static void conn_free(loop *L, lconn *c) {
  shm_free(L, c);
  mgri_tls_free(c->ssl);
  if (c->auth) {
    explicit_bzero(c->auth, sizeof *c->auth);
    mgri_mem_free(L->mem, MGRI_MEM_STORE, c->auth);
  }
  mgri_reader_fini(&c->rd);
  mgri_mem_free(L->mem, MGRI_MEM_CONN_IN, c->split.blk);
  mgri_arena_fini(&c->arena);
  mgri_buf_fini(&c->out);
  mgri_mem_free(L->mem, MGRI_MEM_STORE, c);
}

/* Sends what can be sent now. -1 when the peer is gone. What was sent is
 * moved out of the buffer only when all of it was, or when it is most of a
 * large buffer: a slow reader of a long output costs no quadratic copying. */
static int flush(loop *L, lconn *c) {
  int rc = 0;
  while (unsent(c)) {
    ssize_t n = c_sendout(c);
    if (n > 0) {
      c->sent += (size_t)n;
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
    rc = -1;
    break;
  }
  if (c->sent == mgri_buf_total(&c->out)) {
    out_clear(L, c);
    /* Everything sent: a buffer grown for a large reply goes back, unless
     * the buffer policy keeps it (keep_update). */
    if (!c->keep_left) mgri_buf_shrink(&c->out);
  } else if (!c->out.nrefs && c->sent >= MGRI_IDLE_BUF_MAX &&
             c->sent >= c->out.len / 2) {
    mgri_buf_consume(&c->out, c->sent);
    c->sent = 0;
  }
  return rc;
}

/* The first successful HELLO: the connection leaves the handshake, gets the
 * full frame limit, and starts counting idle time. */
static void hello_done(loop *L, lconn *c, int64_t now) {
  c->hello = true;
  if (c->in_hs) {
    list_del(&L->hs, c);
    c->in_hs = false;
    L->stats->handshaking = L->hs.n;
  }
  mgri_reader_set_max(&c->rd, L->lim.frame_max);
  c->since = now;
  list_add(&L->act, c);
  c->in_act = true;
}

static void touch(loop *L, lconn *c, int64_t now) {
  if (!c->in_act) return;
  c->since = now;
  list_del(&L->act, c);
  list_add(&L->act, c);
}

/* A frame that could not be received for lack of memory (spec 14.2): LIMIT,
 * then close. */
static void refuse_memory(loop *L, lconn *c, const char *what) {
  L->stats->conn_mem_refused++;
  mgri_store_count_limit(L->st, MGRI_WHY_MEMORY);
  send_error(L, c, 0, MGR_ELIMIT,
             "MemoryError: %s does not fit in the server's memory limit", what);
  c->closing = true;
}

static void shm_switch(loop *L, lconn *c);

/* Dispatches the whole frames buffered, until the output is over its limit
 * (the rest waits for the peer to read) or this turn's work budget is spent
 * (the rest waits for the connection's next turn: the backlog). */
static void process(loop *L, lconn *c) {
  if (c->turn != L->turn) {
    c->turn = L->turn;
    c->spent = 0;
  }
  while (!c->closing && !L->stop && unsent(c) <= L->outbuf_max) {
    if (c->spent >= L->budget) {
      /* Whole frames wait for the next turn; without any, a peer that
       * hung up is done (its partial frame dropped): nothing else would
       * wake this connection, whose reading has stopped. */
      if (frames_wait(c))
        backlog_add(L, c);
      else if (c->eof)
        c->closing = true;
      break;
    }
    const uint8_t *body;
    size_t len;
    int r = split_reading(c) ? 0 : mgri_reader_next(&c->rd, &body, &len);
    if (r == 0) {
      if (c->eof) c->closing = true; /* a partial frame is dropped */
      break;
    }
    if (r < 0) {
      if (r == MGR_ENOMEM) {
        refuse_memory(L, c, "the frame");
        break;
      }
      send_error(L, c, 0, r, "%s",
                 c->rd.errmsg[0] ? c->rd.errmsg : mgr_strerror(r));
      c->closing = true;
      break;
    }
    /* A frame whose large string was read into a block of its own: the
     * decoder finds it there, and a setter may keep the block. */
    uint8_t *sblk = c->split.blk;
    mgri_hole hole = {c->split.at, sblk, c->split.n, false};
    if (sblk) {
      sblk[hole.n] = '\0';
      memset(&c->split, 0, sizeof c->split);
    }
    /* A large frame soon after another: the reader keeps its buffer for
     * the next requests (the policy, keep_large). */
    bool large = len > MGRI_IDLE_BUF_MAX || sblk;
    if (large && c->since_large < MGRI_KEEP_REQS)
      mgri_reader_set_keep(&c->rd, SIZE_MAX);
    mgri_arena_reset(&c->arena);
    mgri_request rq;
    mgri_decode_error de;
    memset(&de, 0, sizeof de);
    int rc = mgri_request_decode_hole(body, len, &L->lim, &c->arena, &rq, &de,
                                      sblk ? &hole : NULL);
    if (rc) mgri_mem_free(L->mem, MGRI_MEM_CONN_IN, sblk);
    if (rc == MGR_ENOMEM) {
      refuse_memory(L, c, "the decoded request");
      break;
    }
    if (rc) {
      /* rq.rid: the rid if the body was an array starting with a uint, else
       * 0 (spec 3.5). */
      send_error(L, c, rq.rid, rc, "%s: %s at byte %zu", mgr_strerror(rc),
                 de.what ? de.what : "invalid", de.offset);
      c->closing = true;
      break;
    }
    int64_t now = now_ns();
    mgri_store_adopt(L->st, sblk ? (void **)&sblk : NULL);
    int act = mgri_dispatch(L->st, c->sc, &rq, now);
    mgri_mem_free(L->mem, MGRI_MEM_CONN_IN, sblk); /* NULL if kept */
    c->spent += mgri_store_last_cost(L->st);
    keep_large(c, large || unsent(c) > MGRI_IDLE_BUF_MAX, now);
    if (!c->hello && mgri_sconn_hello(c->sc))
      hello_done(L, c, now);
    else
      touch(L, c, now);
    if (act == MGRI_DISPATCH_CLOSE)
      c->closing = true;
    else if (act == MGRI_DISPATCH_SHUTDOWN)
      L->stop = true;
    else if (act == MGRI_DISPATCH_SHM)
      shm_switch(L, c);
  }
  /* What the last request decoded into, and a reader buffer grown for a
   * large frame, go back above the idle size (spec 14.2.3): now, not when
   * the peer next sends. */
  mgri_arena_reset(&c->arena);
  mgri_reader_shrink(&c->rd);
  mark_dirty(L, c);
}

/* Closes c without a word: whatever it was to be sent is dropped (spec
 * 7.8: before authentication a refusal is a close). */
static void close_silently(loop *L, lconn *c) {
  out_clear(L, c);
  c->closing = true;
  mark_dirty(L, c);
}

/* Traces why an unauthenticated connection goes. */
static void trace_refusal(lconn *c, uint32_t why) {
  char peer[MGRI_ADDR_TEXT_MAX];
  MGRI_TRACE(auth_fail, c->sc ? mgri_sconn_id(c->sc) : 0, why,
             (mgri_net_peer(c->fd, peer, sizeof peer), peer));
  (void)peer;
  (void)why;
}

/* A failed TLS handshake or authkey exchange: counted, traced, closed. */
static void auth_fail(loop *L, lconn *c, uint32_t why) {
  L->stats->auth_failed++;
  if (why == MGRI_TRACE_AUTH_TLS) L->stats->tls_failed++;
  trace_refusal(c, why);
  close_silently(L, c);
}

/* The authkey exchange starts: a fresh nonce, and the TLS channel binding
 * when TLS carries it. With no key the connection is open at once. false
 * when it failed (c is closing). */
static bool auth_start(loop *L, lconn *c) {
  if (!L->keylen) {
    c->phase = PH_OPEN;
    return true;
  }
  uint8_t ns[MGRI_AUTH_NONCE], b[MGRI_AUTH_BINDING_MAX];
  c->auth = mgri_mem_calloc(L->mem, MGRI_MEM_STORE, sizeof *c->auth);
  if (!c->auth || mgri_random(ns, sizeof ns) != MGR_OK ||
      (c->ssl && mgri_tls_binding(c->ssl, b) != MGR_OK)) {
    auth_fail(L, c, MGRI_TRACE_AUTH_CRYPTO);
    return false;
  }
  mgri_auth_srv_init(c->auth, L->key, L->keylen, ns);
  if (c->ssl) mgri_auth_srv_bind(c->auth, b, sizeof b);
  c->phase = PH_AUTH;
  return true;
}

/* One step of a tls:// connection's handshake. true once it is done and
 * the next phase has begun. */
static bool tls_step(loop *L, lconn *c) {
  int want = 0;
  char err[160];
  int r = mgri_tls_handshake(c->ssl, &want, err, sizeof err);
  c->rd_wants_out = r == 0 && want == POLLOUT;
  if (r == 0) return false;
  if (r < 0) {
    auth_fail(L, c, MGRI_TRACE_AUTH_TLS);
    return false;
  }
  return auth_start(L, c);
}

/* Reads what the authkey exchange still needs, and no more (what follows
 * is frames); queues the CHALLENGE, then the PROOF. true once the peer is
 * authenticated. */
static bool auth_step(loop *L, lconn *c) {
  for (;;) {
    uint8_t in[MGRI_AUTH_IN_MAX];
    ssize_t n = c_recv(c, in, mgri_auth_srv_want(c->auth));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return false;
    if (n <= 0) { /* the end of the stream, or an error, mid-exchange */
      auth_fail(L, c, MGRI_TRACE_AUTH_TRUNCATED);
      return false;
    }
    uint8_t out[MGRI_AUTH_HELLO_LEN];
    size_t olen = 0, off = 0;
    int r = mgri_auth_srv_feed(c->auth, in, (size_t)n, out, &olen, &off);
    if (r < 0) {
      auth_fail(L, c, (uint32_t)c->auth->why);
      return false;
    }
    mgri_buf_append(&c->out, out, olen);
    mark_dirty(L, c);
    if (c->out.err) { /* no memory for 37 bytes: give up on it */
      auth_fail(L, c, MGRI_TRACE_AUTH_CRYPTO);
      return false;
    }
    /* The CHALLENGE goes out before the RESPONSE is read (spec 7.8.3). */
    if (olen && r == 0 && flush(L, c) < 0) {
      auth_fail(L, c, MGRI_TRACE_AUTH_TRUNCATED);
      return false;
    }
    if (r == 1) {
      explicit_bzero(c->auth, sizeof *c->auth);
      mgri_mem_free(L->mem, MGRI_MEM_STORE, c->auth);
      c->auth = NULL;
      c->phase = PH_OPEN;
      return true;
    }
  }
}

/* Decrypted bytes left inside c's TLS session wake no epoll: c is served
 * again in the next turn while it may read. */
static void tls_rearm(loop *L, lconn *c) {
  if (c->ssl && c->phase == PH_OPEN && !c->closing && !c->eof && !c->dead &&
      unsent(c) <= L->outbuf_max && mgri_tls_pending(c->ssl)) {
    c->tls_more = true;
    backlog_add(L, c);
  }
}

/* A large request's large string (a value being set) is read into a block
 * of its own, which the store may keep as the value: from the socket to
 * the store without a copy (spec 14.2.3). Started once the frame's first
 * bytes show where the string is (mgri_request_split); true when it was. */
static bool split_start(loop *L, lconn *c) {
  size_t have, at, n;
  const uint8_t *p = mgri_reader_peek(&c->rd, &have);
  if (!c->hello || !p || have < MGRI_FRAME_HEADER) return false;
  uint32_t len = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
                 (uint32_t)p[2] << 8 | (uint32_t)p[3];
  if (len < SPLIT_MIN || len > c->rd.frame_max ||
      have - MGRI_FRAME_HEADER >= len ||
      !mgri_request_split(p + MGRI_FRAME_HEADER, have - MGRI_FRAME_HEADER, len,
                          SPLIT_MIN / 2, &at, &n))
    return false;
  uint8_t *blk = mgri_mem_alloc(L->mem, MGRI_MEM_CONN_IN, n + 1);
  if (!blk) return false; /* read the ordinary way (which may refuse it) */
  c->split.blk = blk;
  c->split.at = at;
  c->split.n = n;
  c->split.got = mgri_reader_excise(&c->rd, at, n, blk);
  return true;
}

static void on_readable(loop *L, lconn *c) {
  if (c->phase == PH_TLS && !tls_step(L, c)) return;
  if (c->phase == PH_AUTH && !auth_step(L, c)) return;
  size_t total = 0;
  while (!c->eof && total < READ_BUDGET) {
    /* What the frame being received still needs, or a small chunk. */
    size_t want = mgri_reader_want(&c->rd);
    if (want > READ_CHUNK && !c->split.blk) (void)split_start(L, c);
    size_t avail;
    uint8_t *p;
    if (c->split.blk && c->split.got < c->split.n) {
      p = c->split.blk + c->split.got;
      avail = c->split.n - c->split.got;
    } else {
      if (want < READ_CHUNK) want = READ_CHUNK;
      p = mgri_reader_prepare(&c->rd, want, &avail);
      if (!p) break; /* the sticky error surfaces from mgri_reader_next */
    }
    ssize_t n = c_recv(c, p, avail);
    if (n > 0) {
      if (c->split.blk && c->split.got < c->split.n)
        c->split.got += (size_t)n;
      else
        mgri_reader_commit(&c->rd, (size_t)n);
      total += (size_t)n;
      /* A stalled partial frame must not hold the loop: stop at the first
       * short read (TLS returns one record at a time: read on). */
      if ((size_t)n < avail && !c->ssl) break;
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
    c->eof = true; /* 0, ECONNRESET, ETIMEDOUT (keepalive) ... */
  }
  process(L, c);
  tls_rearm(L, c);
}

/* Closes the oldest connection still in the handshake, to make room. */
static bool evict_handshake(loop *L) {
  lconn *old = L->hs.head;
  if (!old) return false;
  L->stats->handshake_evicted++;
  mgri_store_count_limit(L->st, MGRI_WHY_CONNS);
  if (authed(old)) {
    /* Best effort: it may never read it. */
    (void)encode_error(L, old, 0, MGR_ELIMIT,
                       "MemoryError: too many connections in the handshake; "
                       "this one, the oldest, was closed");
    (void)flush(L, old);
  } else {
    trace_refusal(old, MGRI_TRACE_AUTH_EVICTED);
  }
  conn_drop(L, old);
  return true;
}

/* A refusal at accept: an error reply, or, with a key, a close without a
 * word (spec 7.8). */
static void refuse(loop *L, lconn *c, int code, const char *msg) {
  if (L->keylen) {
    trace_refusal(c, MGRI_TRACE_AUTH_REFUSED);
    close_silently(L, c);
  } else {
    reject(L, c, 0, code, msg);
  }
}

static void on_accept(loop *L, listener *ls) {
  for (;;) {
    int fd = accept4(ls->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
          errno == ENOMEM) {
        /* Stop accepting until a connection closes (level-triggered epoll
         * would spin otherwise). */
        if (epoll_ctl(L->ep, EPOLL_CTL_DEL, ls->fd, NULL) == 0)
          ls->paused = L->listen_paused = true;
      }
      return;
    }
    bool net = ls->addr.kind != MGRI_ADDR_UNIX;
    /* Spec 2.6, 2.7: no Nagle delay on small replies; keepalive bounds how
     * long a vanished peer's locks and waits survive. */
    if (net) (void)mgri_net_tcp_tune(fd, &L->ka);
    lconn *c = mgri_mem_calloc(L->mem, MGRI_MEM_STORE, sizeof *c);
    if (!c) {
      close(fd);
      L->stats->conn_refused++;
      continue;
    }
    c->fd = fd;
    c->shm_fd = c->bell = -1;
    c->unix_sock = !net;
    c->since_large = UINT32_MAX;
    struct ucred cred;
    socklen_t cl = sizeof cred;
    /* TCP peers are authenticated by the authkey instead (spec 2.6). */
    c->uid_ok = net || L->any_uid ||
                (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &cl) == 0 &&
                 cred.uid == L->uid);
    /* Until HELLO, a tiny frame limit (spec 14.2). */
    mgri_reader_init(&c->rd, MGRI_HELLO_FRAME_MAX);
    mgri_reader_set_mem(&c->rd, L->mem, MGRI_MEM_CONN_IN);
    mgri_arena_init(&c->arena, 0);
    mgri_arena_set_mem(&c->arena, L->mem, MGRI_MEM_ARENAS);
    mgri_buf_init(&c->out, 0);
    mgri_buf_set_mem(&c->out, L->mem, MGRI_MEM_CONN_OUT);
    struct epoll_event e = {.events = EPOLLIN, .data.ptr = c};
    if (epoll_ctl(L->ep, EPOLL_CTL_ADD, fd, &e) != 0) {
      close(fd);
      conn_free(L, c);
      continue;
    }
    L->stats->accepted++;
    c->events = EPOLLIN;
    c->next = L->all;
    if (L->all) L->all->prev = c;
    L->all = c;
    /* Spec 2.3 and 7.6: refused before reading anything. */
    if (!c->uid_ok) {
      refuse(L, c, MGR_EPERM, "permission denied");
      continue;
    }
    /* Spec 14.2: at most handshakes_max connections in the handshake; a new
     * one pushes the oldest out, and so does one that finds every slot
     * taken while some are still in the handshake. */
    if (L->hs.n >= L->handshakes_max) evict_handshake(L);
    c->sc = mgri_store_conn_open(L->st, c);
    if (!c->sc && evict_handshake(L)) c->sc = mgri_store_conn_open(L->st, c);
    if (!c->sc) {
      L->stats->conn_refused++;
      mgri_store_count_limit(L->st, MGRI_WHY_CONNS);
      refuse(L, c, MGR_ELIMIT, "MemoryError: too many connections");
      continue;
    }
    c->since = now_ns();
    list_add(&L->hs, c);
    c->in_hs = true;
    L->stats->handshaking = L->hs.n;
    if (ls->addr.kind == MGRI_ADDR_TLS) {
      c->ssl = mgri_tls_new(L->tls, fd, NULL);
      if (!c->ssl) {
        auth_fail(L, c, MGRI_TRACE_AUTH_CRYPTO);
        continue;
      }
      c->phase = PH_TLS;
    } else {
      (void)auth_start(L, c);
    }
  }
}

static void shm_on_sock(loop *L, lconn *c, uint32_t ev);

static void on_conn(loop *L, lconn *c, uint32_t ev) {
  if (c->dead) return;
  if (c->shm_on) {
    shm_on_sock(L, c, ev);
    return;
  }
  if (((ev & (EPOLLIN | EPOLLHUP | EPOLLERR)) ||
       ((ev & EPOLLOUT) && c->rd_wants_out)) &&
      !c->closing && !c->eof && unsent(c) <= L->outbuf_max)
    on_readable(L, c);
  if (ev & EPOLLOUT) {
    if (flush(L, c) < 0) {
      conn_drop(L, c);
      return;
    }
    /* Drained below the limit: serve the frames that waited. */
    if (unsent(c) <= L->outbuf_max) process(L, c);
  }
  /* A peer that hung up is dropped once what it sent has been served and
   * answered (the frames a turn's budget left wait in the backlog). */
  if ((ev & (EPOLLHUP | EPOLLERR)) &&
      (c->closing || c->eof || c->events == EPOLLOUT) && !c->backlog) {
    if (flush(L, c) < 0 || !unsent(c)) conn_drop(L, c);
  }
  mark_dirty(L, c);
}

/* Gives each connection in the backlog its next turn. */
static void run_backlog(loop *L) {
  lconn *b = L->backlog;
  L->backlog = NULL;
  for (lconn *c = b; c; c = c->bnext)
    c->backlog = false;
  while (b && !L->stop) {
    lconn *c = b;
    b = c->bnext;
    c->bnext = c->bprev = NULL;
    /* May put c back, and drop none: drops come later. */
    if (c->tls_more) {
      c->tls_more = false;
      on_readable(L, c);
    } else {
      process(L, c);
    }
  }
}

/* Closes the connections whose handshake or idle deadline has passed. */
static void expire_conns(loop *L, int64_t now) {
  while (L->handshake_ns && L->hs.head &&
         L->hs.head->since + L->handshake_ns <= now) {
    lconn *c = L->hs.head;
    L->stats->handshake_timeouts++;
    if (authed(c)) {
      (void)encode_error(L, c, 0, MGR_EPROTO,
                         "no HELLO within the handshake deadline");
      (void)flush(L, c);
    } else {
      trace_refusal(c, MGRI_TRACE_AUTH_TIMEOUT);
    }
    conn_drop(L, c);
  }
  size_t n = L->act.n; /* each connection looked at once per call */
  while (L->idle_ns && n-- && L->act.head &&
         L->act.head->since + L->idle_ns <= now) {
    lconn *c = L->act.head;
    if (c->sc && mgri_sconn_parked(c->sc)) {
      touch(L, c, now); /* waiting on the server is not idle */
      continue;
    }
    L->stats->idle_closed++;
    conn_drop(L, c);
  }
}

/* Milliseconds until the next deadline of any kind, -1 when none, 0 when
 * a backlog waits. */
static int next_timeout(loop *L) {
  if (L->backlog) return 0;
  int64_t dl = mgri_store_next_deadline(L->st);
  if (L->handshake_ns && L->hs.head && L->hs.head->since + L->handshake_ns < dl)
    dl = L->hs.head->since + L->handshake_ns;
  if (L->idle_ns && L->act.head && L->act.head->since + L->idle_ns < dl)
    dl = L->act.head->since + L->idle_ns;
  if (L->khead && L->khead->kept_at + (int64_t)MGRI_KEEP_IDLE_MS * 1000000 < dl)
    dl = L->khead->kept_at + (int64_t)MGRI_KEEP_IDLE_MS * 1000000;
  if (dl == INT64_MAX) return -1;
  int64_t now = now_ns();
  int64_t ms = dl <= now ? 0 : (dl - now + 999999) / 1000000;
  return ms > INT_MAX ? INT_MAX : (int)ms;
}

/* Sends what every touched connection has, closes those that are done. */
static void flush_dirty(loop *L) {
  while (L->dirty) {
    lconn *c = L->dirty;
    L->dirty = c->dnext;
    c->dirty = false;
    if (c->dead) continue;
    if (flush(L, c) < 0 || (c->closing && !unsent(c) && !c->backlog)) {
      conn_drop(L, c);
      continue;
    }
    keep_update(L, c);
    /* The output drained below its limit with whole frames still read: they
     * are served in the next turn (nothing else would wake them). */
    if (!c->closing && unsent(c) <= L->outbuf_max && frames_wait(c))
      backlog_add(L, c);
    tls_rearm(L, c);
    set_events(L, c);
  }
}

/* --- the shared-memory transport (spec 2.10) ---------------------------- */

/* SHM_OPEN (the store's shm_open callback): makes c's segment and bell,
 * counted in conn_in (the header and the request ring) and conn_out (the
 * reply ring); they go out with the reply (shm_switch). */
static int shm_open_cb(void *ctx, mgri_sconn *sc, uint64_t *ring,
                       uint64_t *bytes, char *why, size_t cap) {
  loop *L = ctx;
  lconn *c = mgri_sconn_user(sc);
  if (!L->shm) {
    snprintf(why, cap,
             "RuntimeError: shared memory is turned off on this manager");
    return MGR_ESTATE;
  }
  if (!c || !c->unix_sock || c->ssl || c->shm_on || c->shm_offer) {
    snprintf(why, cap,
             "RuntimeError: shared memory is offered once, on a Unix socket");
    return MGR_ESTATE;
  }
  /* Spec 2.10.2: the only request in flight, so that its reply is the
   * last byte on the socket. */
  if (unsent(c) || mgri_reader_pending(&c->rd) || mgri_sconn_parked(sc)) {
    snprintf(why, cap,
             "RuntimeError: SHM_OPEN must be the only request in flight");
    return MGR_ESTATE;
  }
  uint32_t r = MGRI_SHM_RING;
  if (!mgri_mem_charge(L->mem, MGRI_MEM_CONN_IN, MGRI_SHM_HEADER + (size_t)r))
    goto limit;
  if (!mgri_mem_charge(L->mem, MGRI_MEM_CONN_OUT, r)) {
    mgri_mem_discharge(L->mem, MGRI_MEM_CONN_IN, MGRI_SHM_HEADER + (size_t)r);
    goto limit;
  }
  char err[160];
  int fd = -1;
  int rc = mgri_shm_create(r, &c->shm, &fd, err, sizeof err);
  int bell = rc == MGR_OK ? eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC) : -1;
  if (rc != MGR_OK || bell < 0) {
    if (rc == MGR_OK) snprintf(err, sizeof err, "eventfd: %s", strerror(errno));
    mgri_mem_discharge(L->mem, MGRI_MEM_CONN_IN, MGRI_SHM_HEADER + (size_t)r);
    mgri_mem_discharge(L->mem, MGRI_MEM_CONN_OUT, r);
    mgri_shm_detach(&c->shm);
    if (fd >= 0) close(fd);
    snprintf(why, cap, "RuntimeError: no shared memory: %s", err);
    return MGR_ESTATE;
  }
  c->shm_fd = fd;
  c->bell = bell;
  c->shm_offer = true;
  c->shm_ok = false;
  c->req_head = c->rep_tail = 0;
  c->spin_hint = L->ncpu > 1 ? MGRI_SHM_SPIN_NS : 0;
  mgri_shm_store32(&c->shm, MGRI_SHM_O_SPIN, c->spin_hint);
  *ring = r;
  *bytes = c->shm.bytes;
  return MGR_OK;
limit:
  mgri_store_count_limit(L->st, MGRI_WHY_MEMORY);
  snprintf(why, cap,
           "MemoryError: a shared-memory segment does not fit in the "
           "server's memory limit");
  return MGR_ELIMIT;
}

/* After SHM_OPEN's dispatch: its reply goes out with the memfd and the
 * bell (SCM_RIGHTS on its first byte), then the connection uses the
 * rings. A reply that failed, or that the socket does not take whole at
 * once (the client is not reading it), gives the segment back; the
 * latter closes the connection (spec 2.10.2). */
static void shm_switch(loop *L, lconn *c) {
  bool ok = c->shm_offer && c->shm_ok && !c->closing;
  if (ok) {
    struct iovec iov = {c->out.data + c->sent, unsent(c)};
    union {
      char b[CMSG_SPACE(2 * sizeof(int))];
      struct cmsghdr align;
    } u;
    memset(&u, 0, sizeof u);
    struct msghdr mh;
    memset(&mh, 0, sizeof mh);
    mh.msg_iov = &iov;
    mh.msg_iovlen = 1;
    mh.msg_control = u.b;
    mh.msg_controllen = sizeof u.b;
    struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
    cm->cmsg_level = SOL_SOCKET;
    cm->cmsg_type = SCM_RIGHTS;
    cm->cmsg_len = CMSG_LEN(2 * sizeof(int));
    int fds[2] = {c->shm_fd, c->bell};
    memcpy(CMSG_DATA(cm), fds, sizeof fds);
    ssize_t n = c->out.nrefs ? -1 : 0;
    while (n == 0) {
      n = sendmsg(c->fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n < 0 && errno == EINTR) n = 0;
    }
    /* Edge-triggered: each write of the client's is an edge (eventfd
     * wakes its waiters on every write), so the loop never reads it: one
     * system call less per wake-up. */
    struct epoll_event e = {.events = EPOLLIN | EPOLLET,
                            .data.u64 = (uint64_t)(uintptr_t)c | 1u};
    if (n != (ssize_t)iov.iov_len ||
        epoll_ctl(L->ep, EPOLL_CTL_ADD, c->bell, &e) != 0) {
      out_clear(L, c);
      c->closing = true;
      ok = false;
    }
  }
  if (!ok) {
    shm_free(L, c);
    return;
  }
  out_clear(L, c);
  close(c->shm_fd);
  c->shm_fd = -1;
  c->shm_offer = c->shm_ok = false;
  c->shm_on = true;
  c->shm_last = now_ns();
  c->sprev = NULL;
  c->snext = L->shm_all;
  if (L->shm_all) L->shm_all->sprev = c;
  L->shm_all = c;
  set_events(L, c);
}

/* A shared-memory connection's socket is readable or hung up: the end of
 * the peer (it is dropped: whatever it left in its ring was never a whole
 * exchange), or bytes it must not send there (a protocol error). */
static void shm_on_sock(loop *L, lconn *c, uint32_t ev) {
  if (ev & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
    char b;
    ssize_t n = recv(c->fd, &b, 1, MSG_DONTWAIT);
    if (n > 0 && !c->closing) {
      send_error(L, c, 0, MGR_EPROTO,
                 "a byte on the socket of a shared-memory connection");
      c->closing = true;
    } else if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK &&
                          errno != EINTR)) {
      c->eof = true;
    }
  }
  if (c->eof) {
    conn_drop(L, c);
    return;
  }
  mark_dirty(L, c);
}

/* Whether c's rings hold work for the loop: requests it may read, or room
 * for replies that wait (or words that are garbage: reading finds out). */
static bool shm_work(loop *L, lconn *c) {
  if (c->dead) return false;
  if (!c->closing && !c->eof && unsent(c) <= L->outbuf_max &&
      mgri_shm_load64(&c->shm, MGRI_SHM_O_REQ_TAIL) != c->req_head)
    return true;
  if (unsent(c)) {
    int64_t room = mgri_shm_room(c->shm.ring, c->rep_tail,
                                 mgri_shm_load64(&c->shm, MGRI_SHM_O_REP_HEAD));
    return room != 0;
  }
  return false;
}

/* Serves every shared-memory connection with work (each turn). A client
 * whose request tail was garbage is dropped at once (spec 2.10.6). */
static void shm_scan(loop *L) {
  int64_t now = 0;
  lconn *next;
  for (lconn *c = L->shm_all; c && !L->stop; c = next) {
    next = c->snext;
    if (!shm_work(L, c)) continue;
    if (!c->closing && !c->eof && unsent(c) <= L->outbuf_max &&
        mgri_shm_load64(&c->shm, MGRI_SHM_O_REQ_TAIL) != c->req_head) {
      if (!now) now = now_ns();
      c->shm_last = now;
      on_readable(L, c);
    }
    if (c->shm_bad) {
      conn_drop(L, c);
      continue;
    }
    mark_dirty(L, c);
  }
}

static void shm_disarm(loop *L) {
  for (lconn *c = L->shm_all; c; c = c->snext)
    mgri_shm_store32(&c->shm, MGRI_SHM_O_SRV_BELL, 0);
}

/* Before the loop sleeps for up to tmo ms (spec 2.10.4): tells each client
 * how long it may spin (0 when more clients are busy than the CPUs left
 * beside the loop's), spins over the rings while that pays, then arms the
 * bells and looks once more (a client that wrote before it saw the bell
 * is seen here). The timeout to sleep with: 0 when work was found. */
static int shm_presleep(loop *L, int tmo) {
  if (!L->shm_all || tmo == 0) return tmo;
  int64_t now = now_ns();
  unsigned hot = 0;
  /* A busy client on the CPU we run on would only be kept from running
   * by our spin (and we would tell it not to spin by our CPU word). */
  uint32_t cpu = mgri_shm_cpu();
  bool shared = false;
  for (lconn *c = L->shm_all; c; c = c->snext) {
    mgri_shm_store32(&c->shm, MGRI_SHM_O_SRV_CPU, cpu);
    if (now - c->shm_last >= 1000000) continue;
    hot++;
    shared = shared || mgri_shm_load32(&c->shm, MGRI_SHM_O_CLI_CPU) == cpu;
  }
  bool spin = hot + 1 <= L->ncpu;
  uint32_t hint = spin ? MGRI_SHM_SPIN_NS : 0;
  for (lconn *c = L->shm_all; c; c = c->snext) {
    if (c->spin_hint == hint) continue;
    c->spin_hint = hint;
    mgri_shm_store32(&c->shm, MGRI_SHM_O_SPIN, hint);
  }
  if (spin && hot && !shared && L->spin_ns > 0) {
    int64_t end = now + L->spin_ns;
    for (unsigned i = 1;; i++) {
      for (lconn *c = L->shm_all; c; c = c->snext)
        if (shm_work(L, c)) {
          L->spin_ns = L->spin_ns * 2 > MGRI_SHM_SRV_SPIN_NS
                           ? MGRI_SHM_SRV_SPIN_NS
                           : L->spin_ns * 2;
          return 0;
        }
      mgri_shm_pause();
      if (!(i & 31) && now_ns() >= end) break;
    }
    L->spin_ns /= 2; /* it did not pay: less next time */
  }
  for (lconn *c = L->shm_all; c; c = c->snext)
    mgri_shm_store32(&c->shm, MGRI_SHM_O_SRV_BELL, 1);
  for (lconn *c = L->shm_all; c; c = c->snext)
    if (shm_work(L, c)) {
      shm_disarm(L);
      return 0;
    }
  L->slept_at = now_ns();
  return tmo;
}

/* After the sleep: the bells are disarmed; a sleep a spin would have
 * covered makes the next spin longer (spinning pays again). */
static void shm_woke(loop *L) {
  if (!L->slept_at) return;
  shm_disarm(L);
  int64_t d = now_ns() - L->slept_at;
  L->slept_at = 0;
  if (d < (int64_t)MGRI_SHM_SRV_SPIN_NS)
    L->spin_ns = L->spin_ns * 2 < 2000                   ? 2000
                 : L->spin_ns * 2 > MGRI_SHM_SRV_SPIN_NS ? MGRI_SHM_SRV_SPIN_NS
                                                         : L->spin_ns * 2;
}

/* Writes all of p to fd (the ready descriptor). */
static void write_all(int fd, const char *p, size_t n) {
  while (n) {
    ssize_t w = write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return;
    p += w;
    n -= (size_t)w;
  }
}

/* The addresses of opt: address, then listen[]. MGR_EINVAL when there is
 * none, one does not parse, or there are too many. */
static int addresses(const mgr_server_options *opt, mgri_addr *out, size_t *n) {
  *n = 0;
  if (opt->nlisten && !opt->listen) return MGR_EINVAL;
  size_t total = (opt->address ? 1 : 0) + opt->nlisten;
  if (total == 0 || total > MGRI_LISTEN_MAX) return MGR_EINVAL;
  for (size_t i = 0; i < total; i++) {
    const char *a =
        opt->address ? (i ? opt->listen[i - 1] : opt->address) : opt->listen[i];
    if (!a || mgri_addr_parse(a, &out[i], NULL, 0) != MGR_OK) return MGR_EINVAL;
  }
  *n = total;
  return MGR_OK;
}

/* The key and the TLS context the addresses need (spec 2.6, 2.8, 2.9). */
static int security(loop *L, const mgr_server_options *opt, const mgri_addr *as,
                    size_t n) {
  bool net = false, tls = false;
  for (size_t i = 0; i < n; i++) {
    net = net || mgri_addr_is_net(&as[i]);
    tls = tls || as[i].kind == MGRI_ADDR_TLS;
  }
  if (opt->authkey) {
    if (opt->authkey_len < MGRI_AUTHKEY_MIN ||
        opt->authkey_len > MGRI_AUTHKEY_MAX)
      return MGR_EINVAL;
    memcpy(L->key, opt->authkey, opt->authkey_len);
    L->keylen = opt->authkey_len;
  } else if (opt->authkey_file) {
    int rc = mgri_authkey_file(opt->authkey_file, L->key, &L->keylen, NULL, 0);
    if (rc != MGR_OK) return rc;
  } else if (opt->authkey_len) {
    return MGR_EINVAL;
  }
  /* Spec 2.6: TCP only with a key. */
  if (net && !L->keylen) return MGR_EINVAL;
  if (tls)
    return mgri_tls_server_ctx(opt->tls_cert, opt->tls_key, opt->tls_ca,
                               &L->tls, NULL, 0);
  return MGR_OK;
}

void mgr_server_options_init_(mgr_server_options *opt, size_t size) {
  if (!opt || size < sizeof(size_t)) return;
  memset(opt, 0, size);
  mgr_server_options d;
  memset(&d, 0, sizeof d);
  d.ready_fd = -1;
  memcpy(opt, &d, size < sizeof d ? size : sizeof d);
  opt->size = size;
}

int mgr_server_run(const mgr_server_options *given) {
  if (!given) return MGR_EINVAL;
  mgr_server_options o;
  mgr_server_options_init(&o);
  if (mgri_xstruct_in(&o, sizeof o, given)) return MGR_EINVAL;
  const mgr_server_options *opt = &o;
  mgri_addr as[MGRI_LISTEN_MAX];
  size_t nas = 0;
  if (addresses(opt, as, &nas) != MGR_OK ||
      opt->max_frame > MGRI_FRAME_MAX_CEIL ||
      (opt->max_frame && opt->max_frame < 64))
    return MGR_EINVAL;
  loop L;
  memset(&L, 0, sizeof L);
  L.ep = L.sfd = -1;
  int rc = security(&L, opt, as, nas);
  if (rc != MGR_OK) {
    explicit_bzero(L.key, sizeof L.key);
    return rc;
  }
  L.ka.idle_ms = opt->keepalive_idle_ms;
  L.ka.interval_ms = opt->keepalive_interval_ms;
  L.ka.count = opt->keepalive_count;
  mgri_keepalive_fill(&L.ka);
  mgri_limits_default(&L.lim);
  if (opt->max_frame) L.lim.frame_max = opt->max_frame;
  L.outbuf_max = MGRI_OUTBUF_MAX(L.lim.frame_max);
  L.uid = geteuid();
  L.any_uid = opt->allow_any_uid != 0;
  L.handshake_ns =
      (int64_t)(opt->handshake_timeout_ms ? opt->handshake_timeout_ms
                                          : MGRI_HANDSHAKE_MS_DEFAULT) *
      1000000;
  L.idle_ns = (int64_t)opt->idle_timeout_ms * 1000000;
  L.handshakes_max =
      opt->max_handshakes ? opt->max_handshakes : MGRI_HANDSHAKES_MAX_DEFAULT;
  L.budget = MGRI_WORK_BUDGET;
  /* Spec 14.2.3: large buffers kept across requests, within an eighth of
   * the memory limit. */
  {
    size_t mm = opt->max_memory ? opt->max_memory : MGRI_MEMORY_MAX_DEFAULT;
    L.keep_max =
        mm / 8 < MGRI_KEEP_MAX_DEFAULT ? mm / 8 : MGRI_KEEP_MAX_DEFAULT;
  }
  /* Large strings of a request stay in the frame reader's buffer while
   * it is served (the store copies what it keeps). */
  L.lim.borrow_min = MGRI_BORROW_MIN;

  mgri_store_config cfg;
  mgri_store_config_init(&cfg);
  cfg.limits = L.lim;
  cfg.server_pid = (uint64_t)getpid();
  cfg.memory_max = opt->max_memory;
  cfg.slow_ns = opt->slow_ms == UINT32_MAX ? UINT64_MAX
                : opt->slow_ms             ? (uint64_t)opt->slow_ms * 1000000
                                           : 0;
  cfg.clock = clock_cb;
  cfg.reply = on_reply;
  cfg.reply_ctx = &L;
  cfg.shm_open = shm_open_cb;
  L.shm = !opt->no_shm;
  L.ncpu = mgri_shm_cpus();
  L.spin_ns = MGRI_SHM_SRV_SPIN_NS;
  L.st = mgri_store_new(&cfg);
  if (!L.st) {
    int e = errno;
    mgri_tls_ctx_free(L.tls);
    explicit_bzero(L.key, sizeof L.key);
    errno = e;
    return e == ENOMEM ? MGR_ENOMEM : MGR_ESYS;
  }
  L.mem = mgri_store_mem(L.st);
  L.stats = mgri_store_stats_of(L.st);

  sigset_t mask, old;
  sigemptyset(&mask);
  sigaddset(&mask, SIGTERM);
  sigaddset(&mask, SIGINT);
  pthread_sigmask(SIG_BLOCK, &mask, &old);

  L.sfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
  L.ep = epoll_create1(EPOLL_CLOEXEC);
  if (L.sfd < 0 || L.ep < 0) {
    rc = MGR_ESYS;
    goto out;
  }
  struct epoll_event es = {.events = EPOLLIN, .data.ptr = &L.sfd};
  if (epoll_ctl(L.ep, EPOLL_CTL_ADD, L.sfd, &es) != 0) {
    rc = MGR_ESYS;
    goto out;
  }
  /* Readiness (ready_fd): one byte, then each address as clients give it. */
  char ready[1 + MGRI_LISTEN_MAX * (MGRI_ADDR_TEXT_MAX + 1)];
  size_t rlen = 0;
  ready[rlen++] = 1;
  for (size_t i = 0; i < nas; i++) {
    listener *ls = &L.ls[L.nls];
    rc = mgri_net_listen(&as[i], L.any_uid, &ls->fd, &ls->addr, NULL, 0);
    if (rc) goto out;
    L.nls++;
    struct epoll_event e = {.events = EPOLLIN, .data.ptr = ls};
    if (epoll_ctl(L.ep, EPOLL_CTL_ADD, ls->fd, &e) != 0) {
      rc = MGR_ESYS;
      goto out;
    }
    char text[MGRI_ADDR_TEXT_MAX];
    /* A Unix address is reported as it was written (a bare path stays
     * bare). */
    const char *spelt =
        opt->address ? (i ? opt->listen[i - 1] : opt->address) : opt->listen[i];
    if (mgri_addr_format(&ls->addr, strncmp(spelt, "unix:", 5) != 0, text,
                         sizeof text) != MGR_OK)
      text[0] = '\0';
    size_t tl = strlen(text);
    memcpy(ready + rlen, text, tl);
    rlen += tl;
    ready[rlen++] = '\n';
    if (opt->on_listen) opt->on_listen(opt->on_listen_ctx, text);
  }
  if (opt->ready_fd >= 0) {
    write_all(opt->ready_fd, ready, rlen);
    close(opt->ready_fd);
  }

  struct epoll_event evs[64];
  while (!L.stop) {
    L.turn++;
    int n = epoll_wait(L.ep, evs, 64, shm_presleep(&L, next_timeout(&L)));
    shm_woke(&L);
    if (n < 0) {
      if (errno == EINTR) continue;
      rc = MGR_ESYS;
      break;
    }
    for (int i = 0; i < n && !L.stop; i++) {
      void *p = evs[i].data.ptr;
      if ((uintptr_t)p & 1u) {
        /* A bell (spec 2.10.4): it only woke us; shm_scan serves the
         * rings. */
      } else if ((uintptr_t)p - (uintptr_t)L.ls < sizeof L.ls) {
        on_accept(&L, p);
      } else if (p == &L.sfd) {
        struct signalfd_siginfo si;
        while (read(L.sfd, &si, sizeof si) == (ssize_t)sizeof si)
          L.stop = true;
      } else {
        on_conn(&L, p, evs[i].events);
      }
    }
    if (L.shm_all && !L.stop) shm_scan(&L);
    if (L.backlog) run_backlog(&L);
    int64_t now = now_ns();
    mgri_store_tick(L.st, now);
    expire_conns(&L, now);
    flush_dirty(&L);
    keep_expire(&L, now);
    while (L.grave) {
      lconn *c = L.grave;
      L.grave = c->next;
      conn_free(&L, c);
    }
  }

out:;
  int saved_errno = errno;
  /* Parked requests get ESHUTDOWN (spec 8.6); send what is ready (the
   * SHUTDOWN reply above all), then close all. */
  mgri_store_shutdown(L.st);
  for (lconn *c = L.all; c; c = c->next)
    if (!c->dead) (void)flush(&L, c);
  L.quitting = true;
  while (L.all)
    conn_drop(&L, L.all);
  while (L.grave) {
    lconn *c = L.grave;
    L.grave = c->next;
    conn_free(&L, c);
  }
  mgri_store_free(L.st);
  for (size_t i = 0; i < L.nls; i++) {
    close(L.ls[i].fd);
    if (L.ls[i].addr.kind == MGRI_ADDR_UNIX) unlink(L.ls[i].addr.path);
  }
  mgri_tls_ctx_free(L.tls);
  explicit_bzero(L.key, sizeof L.key);
  if (L.ep >= 0) close(L.ep);
  if (L.sfd >= 0) {
    struct signalfd_siginfo si;
    while (read(L.sfd, &si, sizeof si) == (ssize_t)sizeof si) {
    }
    close(L.sfd);
  }
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  /* A coverage build: the server's process usually ends with _exit() next
   * (mgr_start's child, a test's forked server), which writes no counters. */
  MGRI_COVERAGE_FLUSH();
  errno = saved_errno;
  return rc;
}
