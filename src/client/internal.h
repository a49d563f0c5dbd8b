/* mgr client internals: the client, its per-thread connections, proxies, and
 * the one call path every proxied operation goes through (conn.c). */
#ifndef MGRI_CLIENT_INTERNAL_H
#define MGRI_CLIENT_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "../common/addr.h"
#include "../common/arena.h"
#include "../common/buf.h"
#include "../common/limits.h"
#include "../net/net.h"
#include "../net/shm.h"
#include "../proto/proto.h"
#include "mgr/client.h"

/* Stale replies of calls that timed out are discarded; for an op whose late
 * reply may grant something (a lock, a semaphore's unit, a queue's item)
 * we remember (rid, oid, op) so that it is given back at once instead of
 * being held by nobody who knows. The last 8 such calls of a connection:
 * more would take a thread that keeps timing out against a stalled manager,
 * and the oldest slot is reused then. */
#define MGRI_ORPHANS_MAX 8

typedef struct mgri_orphan {
  uint64_t rid;
  uint64_t oid; /* 0: free slot */
  uint64_t op;
} mgri_orphan;

/* One connection: used by exactly one thread (or by nobody, for the primary
 * connection of a thread that exited). */
typedef struct mgri_conn {
  struct mgr_client *m;
  struct mgri_conn *next; /* in m->conns, under m->mu */
  int fd;                 /* -1 once closed */
  struct ssl_st *ssl;     /* tls:// (the socket is then non-blocking) */
  short want;             /* TLS: the readiness its last would-block needs */
  bool primary;           /* holds the session alive; owned by m */
  bool broken;            /* the stream is unusable: every call is ECLOSED */
  int broken_err;
  uint64_t next_rid;   /* HELLO is rid 0 */
  uint64_t conn_id;    /* from HELLO */
  size_t reply_len;    /* body length of the last reply read (tracing) */
  uint32_t keep_calls; /* calls left that keep a large reply buffer */
  uint32_t send_max;   /* min(our max_frame, the server's; before HELLO's
                          reply the default, spec 3.6) */
  mgri_buf out;        /* encoded request, reused */
  mgri_reader rd;      /* reply frames, up to max(our max_frame, the
                          server's) */
  mgri_arena arena;    /* decoded reply, reset per call */
  mgri_limits lim;
  mgri_orphan orphans[MGRI_ORPHANS_MAX];
  /* The shared-memory transport (spec 2.10): the segment once SHM_OPEN
   * succeeded (the socket then only tells the manager's end), the bell
   * (an eventfd we write when the manager said it sleeps), our own ring
   * positions, how long we spin before sleeping (adaptive), and the
   * descriptors that came with SHM_OPEN's reply. */
  bool shm_on;
  bool shm_expect; /* SHM_OPEN in flight: receive descriptors */
  mgri_shm shm;
  int bell;
  int shm_fds[2];
  uint64_t req_tail, rep_head;
  int64_t spin_ns;
  char errmsg[256];
} mgri_conn;

typedef struct mgri_ref {
  uint64_t id;    /* 0: empty slot */
  uint64_t count; /* local proxies of this object */
} mgri_ref;

struct mgr_client {
  struct mgr_client *reg_next; /* the global registry (atfork handlers) */
  char *address;
  pthread_key_t key;  /* this thread's mgri_conn */
  pthread_mutex_t mu; /* session, conns list, ref table */
  _Atomic int64_t timeout_ms;
  bool allow_other_uid; /* mgr_options.allow_other_uid */
  mgri_addr addr;       /* address, parsed */
  uint8_t *authkey;     /* the authkey (spec 2.8), or NULL */
  size_t authkeylen;
  struct ssl_ctx_st *tls; /* tls:// */
  char *tls_name;         /* the name the server's certificate must carry */
  mgri_keepalive ka;
  uint32_t max_frame;
  bool no_shm;      /* mgr_options.no_shm, $MGR_SHM=0, or a failed switch */
  uint64_t session; /* 0: none yet in this process (fresh, or after fork) */
  _Atomic int64_t server_pid; /* every HELLO stores it; read by any thread */
  mgri_conn *conns;           /* every connection of this process */
  mgri_conn *primary;         /* the one that created the session */
  /* oid -> local proxy count, open addressing, linear probing. */
  mgri_ref *refs;
  size_t nrefs, caprefs;
  /* A server this process started (mgr_start). */
  pid_t child;
  pid_t starter; /* the process that started it (waitpid only there) */
  char *tmpdir;  /* private directory to remove, or NULL */
};

struct mgr_proxy {
  struct mgr_client *m;
  uint64_t id;
  mgr_kind kind;
};

/* The fork generation: incremented in the child of every fork(). */
extern _Atomic uint64_t mgri_fork_gen;

/* The options in opt (NULL: the defaults) as this library's struct.
 * MGR_OK or MGR_EINVAL (opt not initialised, or sets fields this library
 * does not know). */
int mgri_options_get(const mgr_options *opt, mgr_options *o);

/* Creates the client struct (not connected) and registers it for the atfork
 * handlers. */
int mgri_client_new(const char *address, const mgr_options *opt,
                    mgr_client **out);
/* Closes every connection, unregisters and frees m. */
void mgri_client_free(mgr_client *m);

/* The calling thread's connection to m, opened (and joined to the session,
 * re-taking references after fork) on first use. NULL with *err set. */
mgri_conn *mgri_conn_get(mgr_client *m, int *err);

/* THE call path. Sends [rid, op, oid, args] on c and waits for its reply.
 * On MGR_OK *result (may be NULL) is the result, borrowed from c's arena until
 * c's next call. On a server error returns it and keeps its message in
 * c->errmsg. */
int mgri_call(mgri_conn *c, uint64_t op, uint64_t oid, const mgr_value *args,
              size_t nargs, mgr_value *result);

/* mgri_conn_get + mgri_call. */
int mgri_callm(mgr_client *m, uint64_t op, uint64_t oid, const mgr_value *args,
               size_t nargs, mgr_value *result);

/* mgri_callm for an op that may wait in the manager up to wait_ms (< 0:
 * without limit): the per-call timeout counts from the end of that wait. */
int mgri_callm_wait(mgr_client *m, uint64_t op, uint64_t oid,
                    const mgr_value *args, size_t nargs, mgr_value *result,
                    int64_t wait_ms);

/* Sets the calling thread's error message for m (printf-style). */
void mgri_seterr(mgr_client *m, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Ref table (call with m->mu held). */
uint64_t *mgri_ref_slot(mgr_client *m, uint64_t id, bool create);
void mgri_ref_remove(mgr_client *m, uint64_t id);

/* --- the transports (transport.c, spec 2 and 7.8) --- */

/* The authkey opt gives for address a (or the environment, for tcp:// and
 * tls://) into key. MGR_OK (*len 0: none), MGR_EINVAL, MGR_EPERM, MGR_ESYS,
 * with the detail in err. */
int mgri_transport_key(const mgr_options *opt, const mgri_addr *a,
                       uint8_t key[MGRI_AUTHKEY_MAX], size_t *len, char *err,
                       size_t cap);
/* Parses m->address and sets up what its transport needs: the key, the
 * TLS context, keepalive. MGR_OK or an error with the detail in err. */
int mgri_transport_setup(mgr_client *m, const mgr_options *opt, char *err,
                         size_t cap);
void mgri_transport_teardown(mgr_client *m);
/* Connects c (c->m's address) within m's timeout: the uid check of a Unix
 * socket, the TLS handshake, the authkey exchange. MGR_OK, or an error with
 * c->errmsg set (c->fd then closed). */
int mgri_transport_open(mgri_conn *c);
/* send/recv on c, through TLS when it has it: as send(2)/recv(2); after
 * -1 with EAGAIN, mgri_transport_events() says what to poll for. flags:
 * send's (MSG_DONTWAIT); MSG_NOSIGNAL is always added. */
ssize_t mgri_transport_send(mgri_conn *c, const void *p, size_t n, int flags);
ssize_t mgri_transport_recv(mgri_conn *c, void *p, size_t n);
/* Sends b's contents from offset off on (a gather of its referenced runs
 * on a plain socket; TLS connections encode without references). As
 * mgri_transport_send. */
ssize_t mgri_transport_sendb(mgri_conn *c, const mgri_buf *b, size_t off,
                             int flags);
short mgri_transport_events(mgri_conn *c, short dflt);
/* Whether bytes already wait inside c (TLS): read before polling. */
bool mgri_transport_buffered(mgri_conn *c);
/* Closes c's socket (and its TLS session, its shared memory). */
void mgri_transport_close(mgri_conn *c);
/* The shared-memory transport (spec 2.10), once c->shm_on. Receives up to
 * n reply bytes, waiting for them until dl (NULL: no limit): > 0 bytes,
 * 0 the manager is gone, -1 its words are garbage (errno EPROTO), -2 timed
 * out. */
ssize_t mgri_shm_recv(mgri_conn *c, void *p, size_t n,
                      const struct timespec *dl);
/* Writes b's contents from *off on into the request ring, waiting for
 * room until dl; *off advances. MGR_OK, MGR_ETIMEDOUT, MGR_ECLOSED. */
int mgri_shm_send(mgri_conn *c, const mgri_buf *b, size_t *off,
                  const struct timespec *dl);
/* After SHM_OPEN's reply [ring, bytes]: maps the segment that came with
 * it. MGR_OK, or an error (c->errmsg set). */
int mgri_shm_start(mgri_conn *c, uint64_t ring, uint64_t bytes);

/* Copies a borrowed result to an owned value; scalars without allocating. */
int mgri_result_out(const mgr_value *res, mgr_value *out);

#endif
