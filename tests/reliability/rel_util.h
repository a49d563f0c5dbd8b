/* mgr reliability tests — shared helpers: a server in a forked child
 * (mgr_server_run, readiness by pipe), raw connections speaking frames built
 * with the message layer, /proc readers, the seed, the report line.
 * Include after cmocka.h. Synchronisation is by pipes, waitpid and poll();
 * every timeout here is a watchdog against a hung server, never a delay that
 * makes a test pass. */
#ifndef MGR_REL_UTIL_H
#define MGR_REL_UTIL_H

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "mgr/mgr.h"
#include "proto/proto.h"

#define RA(...)                                                                \
  (mgr_value[]){__VA_ARGS__},                                                  \
      sizeof((mgr_value[]){__VA_ARGS__}) / sizeof(mgr_value)
#define RA0 NULL, 0

/* Watchdog for one reply (a broken server fails the test, never hangs it). */
#ifndef REL_WAIT_MS
#define REL_WAIT_MS 20000
#endif

#if defined(__SANITIZE_ADDRESS__)
#define REL_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define REL_ASAN 1
#endif
#endif
#ifndef REL_ASAN
#define REL_ASAN 0
#endif

/* Keep ASan's quarantine small so that RSS measures live memory. */
const char *__asan_default_options(void);
const char *__asan_default_options(void) {
  return "quarantine_size_mb=8:detect_leaks=1";
}

typedef struct rel_server {
  char dir[64];
  char path[128];
  pid_t pid;
} rel_server;

static inline double rel_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Raises RLIMIT_NOFILE's soft limit towards want (at most the hard limit);
 * returns the soft limit now in force. */
static inline long rel_raise_nofile(long want) {
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return -1;
  rlim_t w = (rlim_t)want;
  if (rl.rlim_max != RLIM_INFINITY && w > rl.rlim_max) w = rl.rlim_max;
  if (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur >= w)
    return (long)rl.rlim_cur;
  rl.rlim_cur = w;
  if (setrlimit(RLIMIT_NOFILE, &rl) != 0) return -1;
  return (long)rl.rlim_cur;
}

/* Starts mgr_server_run in a forked child; nofile > 0 sets the child's
 * RLIMIT_NOFILE soft limit first. The child dies with this process. */
/* Starts a server with options `base` (NULL: the defaults; its address
 * and ready_fd are set here) under an fd limit (0: as is). */
static inline int rel_server_start_opts(rel_server *s, long nofile,
                                        const mgr_server_options *base) {
  memset(s, 0, sizeof *s);
  snprintf(s->dir, sizeof s->dir, "/tmp/mgr-rel.XXXXXX");
  if (!mkdtemp(s->dir)) return -1;
  snprintf(s->path, sizeof s->path, "%s/s", s->dir);
  int p[2];
  if (pipe(p)) return -1;
  fflush(NULL);
  s->pid = fork();
  if (s->pid < 0) return -1;
  if (s->pid == 0) {
    close(p[0]);
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (nofile > 0) {
      struct rlimit rl;
      getrlimit(RLIMIT_NOFILE, &rl);
      rl.rlim_cur = (rlim_t)nofile;
      if (setrlimit(RLIMIT_NOFILE, &rl) != 0) _exit(2);
    }
    mgr_server_options o;
    mgr_server_options_init(&o);
    if (base) o = *base;
    o.address = s->path;
    o.ready_fd = p[1];
    _exit(mgr_server_run(&o) == MGR_OK ? 0 : 1);
  }
  close(p[1]);
  char b;
  ssize_t r;
  do
    r = read(p[0], &b, 1);
  while (r < 0 && errno == EINTR);
  close(p[0]);
  return r == 1 ? 0 : -1;
}

static inline int rel_server_start(rel_server *s, long nofile) {
  return rel_server_start_opts(s, nofile, NULL);
}

static inline int rel_wait_status(pid_t pid) {
  int st = 0;
  while (waitpid(pid, &st, 0) < 0)
    if (errno != EINTR) return -1;
  if (WIFEXITED(st)) return WEXITSTATUS(st);
  if (WIFSIGNALED(st)) return 1000 + WTERMSIG(st);
  return -1;
}

/* Stops the server with SIGTERM (when still running); its exit status, or
 * 1000 + signal. */
static inline int rel_server_stop(rel_server *s) {
  int st = 0;
  if (s->pid > 0) {
    kill(s->pid, SIGTERM);
    st = rel_wait_status(s->pid);
  }
  s->pid = 0;
  unlink(s->path);
  rmdir(s->dir);
  return st;
}

static inline int rel_alive(pid_t pid) {
  int st;
  return waitpid(pid, &st, WNOHANG) == 0;
}

/* VmRSS of pid in KiB, -1 when unreadable. */
static inline long rel_rss_kb(pid_t pid) {
  char fn[64], line[256];
  snprintf(fn, sizeof fn, "/proc/%d/status", (int)pid);
  FILE *f = fopen(fn, "r");
  if (!f) return -1;
  long kb = -1;
  while (fgets(line, sizeof line, f))
    if (strncmp(line, "VmRSS:", 6) == 0) kb = strtol(line + 6, NULL, 10);
  fclose(f);
  return kb;
}

/* Open descriptors of pid. */
static inline int rel_nfds(pid_t pid) {
  char fn[64];
  snprintf(fn, sizeof fn, "/proc/%d/fd", (int)pid);
  DIR *d = opendir(fn);
  if (!d) return -1;
  int n = 0;
  struct dirent *e;
  while ((e = readdir(d)))
    if (e->d_name[0] != '.') n++;
  closedir(d);
  return n;
}

/* The seed: $MGR_TEST_SEED or the clock; printed so a run can be replayed. */
static inline unsigned rel_seed(const char *scenario) {
  const char *e = getenv("MGR_TEST_SEED");
  unsigned seed = e && *e ? (unsigned)strtoul(e, NULL, 0)
                          : (unsigned)time(NULL) ^ (unsigned)getpid();
  printf("reliability: %s seed=%u (replay: MGR_TEST_SEED=%u)\n", scenario, seed,
         seed);
  fflush(stdout);
  return seed;
}

static inline void rel_report(const char *scenario, long clients, long faults,
                              long ops, long lost, const char *extra) {
  printf("reliability: %s clients=%ld faults=%ld ops=%ld lost=%ld%s%s\n",
         scenario, clients, faults, ops, lost, extra ? " " : "",
         extra ? extra : "");
  fflush(stdout);
}

/* --- raw connections -------------------------------------------------------*/

typedef struct rconn {
  int fd;
  mgri_arena arena;
  mgri_reply rep;
  uint64_t rid;
  int err; /* local status of the last failed next_reply */
} rconn;

/* Connects (blocking); -1 with errno on failure. */
static inline int rel_connect_fd(const char *path, int nonblock) {
  int fd = socket(
      AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | (nonblock ? SOCK_NONBLOCK : 0), 0);
  if (fd < 0) return -1;
  struct sockaddr_un sa;
  memset(&sa, 0, sizeof sa);
  sa.sun_family = AF_UNIX;
  memcpy(sa.sun_path, path, strlen(path) + 1);
  if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
    int e = errno;
    close(fd);
    errno = e;
    return -1;
  }
  return fd;
}

/* Writes all of p (blocking fd); 0 on success, -1 on error. */
static inline int rel_write_all(int fd, const void *p, size_t n) {
  const uint8_t *b = p;
  while (n) {
    ssize_t w = send(fd, b, n, MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      struct pollfd pf = {.fd = fd, .events = POLLOUT};
      if (poll(&pf, 1, REL_WAIT_MS) <= 0) return -1;
      continue;
    }
    if (w <= 0) return -1;
    b += w;
    n -= (size_t)w;
  }
  return 0;
}

/* Appends one encoded request frame to b (MGR_OK or an encoder error). */
static inline int rel_encode(mgri_buf *b, uint64_t rid, uint64_t op,
                             uint64_t oid, const mgr_value *args,
                             size_t nargs) {
  mgri_request rq = {
      .rid = rid, .op = op, .oid = oid, .args = args, .nargs = nargs};
  return mgri_request_encode(b, &rq, MGRI_FRAME_MAX_DEFAULT);
}

static inline int rel_send(int fd, uint64_t rid, uint64_t op, uint64_t oid,
                           const mgr_value *args, size_t nargs) {
  mgri_buf b;
  mgri_buf_init(&b, 0);
  int rc = rel_encode(&b, rid, op, oid, args, nargs);
  if (rc == MGR_OK)
    rc = rel_write_all(fd, b.data, b.len) == 0 ? MGR_OK : MGR_ECLOSED;
  mgri_buf_fini(&b);
  return rc;
}

/* Reads exactly n bytes within timeout_ms overall per poll: 1 done, 0 EOF or
 * reset, -1 timeout. */
static inline int rel_read_n(int fd, uint8_t *p, size_t n, int timeout_ms) {
  while (n) {
    struct pollfd pf = {.fd = fd, .events = POLLIN};
    int pr = poll(&pf, 1, timeout_ms);
    if (pr < 0 && errno == EINTR) continue;
    if (pr == 0) return -1;
    ssize_t r = read(fd, p, n);
    if (r < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (r <= 0) return 0;
    p += r;
    n -= (size_t)r;
  }
  return 1;
}

/* The next reply into c->rep: 1; 0 at EOF; -1 on timeout; -2 undecodable. */
static inline int rel_next_reply(rconn *c, int timeout_ms) {
  uint8_t h[4];
  int r = rel_read_n(c->fd, h, 4, timeout_ms);
  if (r != 1) return r;
  size_t n = (size_t)h[0] << 24 | (size_t)h[1] << 16 | (size_t)h[2] << 8 | h[3];
  if (n == 0 || n > MGRI_FRAME_MAX_DEFAULT) return -2;
  uint8_t *body = malloc(n);
  if (!body) return -2;
  r = rel_read_n(c->fd, body, n, timeout_ms);
  if (r != 1) {
    free(body);
    return r == 0 ? -2 : r;
  }
  mgri_limits lim;
  mgri_limits_default(&lim);
  mgri_arena_reset(&c->arena);
  mgri_decode_error de;
  int rc = mgri_reply_decode(body, n, &lim, &c->arena, &c->rep, &de);
  free(body);
  return rc == MGR_OK ? 1 : -2;
}

/* One call on c; NULL when no matching reply arrived (EOF, timeout, bad). */
static inline mgri_reply *rel_call(rconn *c, uint64_t op, uint64_t oid,
                                   const mgr_value *a, size_t n) {
  uint64_t rid = ++c->rid;
  if (rel_send(c->fd, rid, op, oid, a, n) != MGR_OK) return NULL;
  if (rel_next_reply(c, REL_WAIT_MS) != 1) return NULL;
  if (c->rep.rid != rid) return NULL;
  return &c->rep;
}

static inline void rel_conn_free(rconn *c) {
  if (!c) return;
  if (c->fd >= 0) close(c->fd);
  mgri_arena_fini(&c->arena);
  free(c);
}

/* A connection that has done HELLO (session 0 = new); NULL on any failure. */
static inline rconn *rel_open(const char *path, uint64_t session) {
  rconn *c = calloc(1, sizeof *c);
  if (!c) return NULL;
  mgri_arena_init(&c->arena, 0);
  c->fd = rel_connect_fd(path, 0);
  if (c->fd < 0) {
    c->fd = -1;
    rel_conn_free(c);
    return NULL;
  }
  if (rel_send(c->fd, 0, MGRI_OP_HELLO, 0,
               RA(mgr_int(1), mgr_int(1), mgr_int(getpid()),
                  mgr_int((int64_t)session))) != MGR_OK ||
      rel_next_reply(c, REL_WAIT_MS) != 1 || c->rep.status != MGR_OK) {
    rel_conn_free(c);
    return NULL;
  }
  return c;
}

/* CREATE kind on c: the new object's id, 0 on failure. */
static inline uint64_t rel_create(rconn *c, uint32_t kind,
                                  const mgr_value *init) {
  mgri_reply *r = init
                      ? rel_call(c, MGRI_OP_CREATE, 0, RA(mgr_int(kind), *init))
                      : rel_call(c, MGRI_OP_CREATE, 0, RA(mgr_int(kind)));
  if (!r || r->status != MGR_OK || r->result.type != MGR_T_REF) return 0;
  return r->result.u.ref.id;
}

/* Counts the manager's objects without a name (LIST entries whose name is
 * nil), -1 on error. */
static inline long rel_unnamed_objects(mgr_client *m) {
  mgr_value objs;
  if (mgr_objects(m, &objs) != MGR_OK) return -1;
  long n = 0;
  for (size_t i = 0; i < objs.u.a.len; i++) {
    const mgr_value *o = &objs.u.a.items[i];
    if (o->type == MGR_T_ARRAY && o->u.a.len >= 3 &&
        o->u.a.items[2].type == MGR_T_NIL)
      n++;
  }
  mgr_value_free(&objs);
  return n;
}

/* Child exit codes: 0 ok; 100 + k for "check k failed". Children leave with
 * _exit(). */
#define REL_CHECK(k, cond)                                                     \
  do {                                                                         \
    if (!(cond)) {                                                             \
      fprintf(stderr, "child %d check %d failed: %s (line %d)\n",              \
              (int)getpid(), (k), #cond, __LINE__);                            \
      _exit(100 + (k));                                                        \
    }                                                                          \
  } while (0)

/* Reads one int64 record from a pipe within timeout_ms: 1, 0 EOF, -1 timeout. */
static inline int rel_read_rec(int fd, int64_t *v, int timeout_ms) {
  return rel_read_n(fd, (uint8_t *)v, sizeof *v, timeout_ms);
}
static inline void rel_write_rec(int fd, int64_t v) {
  const uint8_t *b = (const uint8_t *)&v;
  size_t n = sizeof v;
  while (n) {
    ssize_t w = write(fd, b, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return;
    b += w;
    n -= (size_t)w;
  }
}

#endif

/* --- attack helpers */
/* For the rel_attack_* tests (spec 14.2): the server's own counters (STATS)
 * read into a struct, raw connections that never say HELLO, a batch built
 * as a value. */
#ifndef MGR_REL_ATTACK_HELPERS
#define MGR_REL_ATTACK_HELPERS

#include <stddef.h>

typedef struct rel_stats {
  /* memory */
  int64_t limit, used, peak, mem_refused, objects, conn_in, conn_out, arenas,
      parked, store;
  /* connections */
  int64_t open, conns_max, handshaking, accepted, handshake_timeouts,
      handshake_evicted, idle_closed, conn_refused, memory_closed;
  /* objects, requests */
  int64_t nobjects, requests, slow;
  /* refused (LIMIT answers by reason) */
  int64_t r_memory, r_budget, r_reply, r_objects, r_parked, r_connections,
      r_size;
  /* hash */
  int64_t dict_probe_max, name_probe_max, probe_bound;
} rel_stats;

/* stats[sect][key] as an int, -1 when absent or not an int. */
static inline int64_t rel_stat_get(const mgr_value *st, const char *sect,
                                   const char *key) {
  mgr_value k = mgr_text(sect);
  const mgr_value *s = mgr_map_get(st, &k);
  if (!s || s->type != MGR_T_MAP) return -1;
  k = mgr_text(key);
  const mgr_value *v = mgr_map_get(s, &k);
  return v && v->type == MGR_T_INT ? v->u.i : -1;
}

/* One STATS through m into *o: MGR_OK, the call's error, or MGR_EPROTO when
 * a key of spec 14.2.8 is missing. */
static inline int rel_stats_read(mgr_client *m, rel_stats *o) {
  static const struct {
    const char *sect, *key;
    size_t off;
  } f[] = {
#define REL_SF_(s, k, field) {s, k, offsetof(rel_stats, field)}
      REL_SF_("memory", "limit", limit),
      REL_SF_("memory", "used", used),
      REL_SF_("memory", "peak", peak),
      REL_SF_("memory", "refused", mem_refused),
      REL_SF_("memory", "objects", objects),
      REL_SF_("memory", "conn_in", conn_in),
      REL_SF_("memory", "conn_out", conn_out),
      REL_SF_("memory", "arenas", arenas),
      REL_SF_("memory", "parked", parked),
      REL_SF_("memory", "store", store),
      REL_SF_("connections", "open", open),
      REL_SF_("connections", "max", conns_max),
      REL_SF_("connections", "handshaking", handshaking),
      REL_SF_("connections", "accepted", accepted),
      REL_SF_("connections", "handshake_timeouts", handshake_timeouts),
      REL_SF_("connections", "handshake_evicted", handshake_evicted),
      REL_SF_("connections", "idle_closed", idle_closed),
      REL_SF_("connections", "refused", conn_refused),
      REL_SF_("connections", "memory_closed", memory_closed),
      REL_SF_("objects", "count", nobjects),
      REL_SF_("requests", "total", requests),
      REL_SF_("requests", "slow", slow),
      REL_SF_("refused", "memory", r_memory),
      REL_SF_("refused", "budget", r_budget),
      REL_SF_("refused", "reply", r_reply),
      REL_SF_("refused", "objects", r_objects),
      REL_SF_("refused", "parked", r_parked),
      REL_SF_("refused", "connections", r_connections),
      REL_SF_("refused", "size", r_size),
      REL_SF_("hash", "dict_probe_max", dict_probe_max),
      REL_SF_("hash", "name_probe_max", name_probe_max),
      REL_SF_("hash", "probe_bound", probe_bound),
#undef REL_SF_
  };
  mgr_value st;
  int rc = mgr_stats(m, &st);
  if (rc != MGR_OK) return rc;
  for (size_t i = 0; i < sizeof f / sizeof f[0]; i++) {
    int64_t v = rel_stat_get(&st, f[i].sect, f[i].key);
    *(int64_t *)((char *)o + f[i].off) = v;
    if (v < 0) rc = MGR_EPROTO;
  }
  mgr_value_free(&st);
  return rc;
}

/* The bytes the per-connection buffers hold (spec 14.2.3's three). */
static inline int64_t rel_stats_buffers(const rel_stats *s) {
  return s->conn_in + s->conn_out + s->arenas;
}

/* A connection that has sent nothing (no HELLO); NULL on failure. */
static inline rconn *rel_raw(const char *path) {
  rconn *c = calloc(1, sizeof *c);
  if (!c) return NULL;
  mgri_arena_init(&c->arena, 0);
  c->fd = rel_connect_fd(path, 0);
  if (c->fd < 0) {
    c->fd = -1;
    rel_conn_free(c);
    return NULL;
  }
  return c;
}

/* Sub-request i of a batch being built in cells (3 values each) and its
 * args: [op, oid, args]. */
static inline mgr_value rel_sub(mgr_value *cells, uint64_t op, uint64_t oid,
                                mgr_value *args, size_t nargs) {
  cells[0] = mgr_int((int64_t)op);
  cells[1] = mgr_int((int64_t)oid);
  cells[2] = mgr_array(args, nargs);
  return mgr_array(cells, 3);
}

#endif
