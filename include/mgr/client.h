/* mgr — the client: start or reach a manager, and proxies to its shared objects.
 *
 * Every function here returns MGR_OK (0) or a negative mgr_err. Errors the
 * manager sends back (MGR_EKEY, MGR_EINDEX, MGR_ETYPE ...) come with a detail
 * message, read with mgr_errmsg(). Unless a function says otherwise it is
 * thread-safe: each thread talks to the manager over its own connection, and
 * after fork() a child makes its own on first use and keeps the proxies it
 * inherited. */
#ifndef MGR_CLIENT_H
#define MGR_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "value.h"
#include "version.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mgr_client mgr_client; /* a manager, as this process sees it */
typedef struct mgr_proxy mgr_proxy;   /* a reference to one shared object */

/* Options of mgr_start() and mgr_connect(). Initialise with
 * mgr_options_init(), then set fields: the struct may grow in later
 * versions (new fields at the end), and `size`, which mgr_options_init sets
 * to the size your compiler saw, lets an older or newer library read it
 * safely. Durations in this API are milliseconds. */
typedef struct mgr_options {
  size_t size; /* set by mgr_options_init; do not change it */
  /* mgr_start(): where its server listens: a socket path (`unix:PATH` or a
   * bare path), or `tcp://HOST:PORT` (port 0 takes a free port; an authkey
   * is then required); NULL makes a private 0700 directory under $TMPDIR
   * (or /tmp) holding the socket, removed when the server exits.
   * mgr_address() tells where it listens. */
  const char *address;
  /* Per-call timeout in milliseconds; < 0 waits forever (the default). */
  int64_t timeout_ms;
  /* Largest frame either side may send; 0 for the default (1 MiB). A value
   * above 64 MiB, the protocol's ceiling, is lowered to it. */
  uint32_t max_frame;
  /* mgr_start(): the bytes the server may hold (mgr_server_options'
   * max_memory); 0 for the default (1 GiB). */
  size_t max_memory;
  /* mgr_connect(): accept a server that runs under another uid than this
   * process (one started with mgrd --allow-any-uid). Default false: such a
   * server is refused with MGR_EPERM (spec 2.3). */
  bool allow_other_uid;
  /* The authkey (spec 2.8, 7.8) this client proves to the manager and the
   * manager must prove back: authkey_len bytes (32 to 1024), or, when
   * authkey is NULL, the contents of the file authkey_file (a regular file
   * of this user's that group and others cannot read). With neither, a
   * tcp:// or tls:// address takes the file named by the environment
   * variable MGR_AUTHKEY_FILE, else the bytes of MGR_AUTHKEY; a Unix socket
   * then uses no key. mgr_start() gives its server the same key. The bytes
   * are copied; the caller may clear its own. */
  const void *authkey;
  size_t authkey_len;
  const char *authkey_file;
  /* TLS, for tls:// addresses (spec 2.9). tls_ca: PEM file of the CA
   * certificates the manager's certificate must chain to (NULL:
   * $MGR_TLS_CA, else the system's trust store). tls_server_name: the name
   * (or IP address) its certificate must carry (NULL: the address's host).
   * tls_cert and tls_key: a PEM certificate and key to present to a manager
   * that asks for one (NULL: $MGR_TLS_CERT and $MGR_TLS_KEY, else none). */
  const char *tls_ca;
  const char *tls_server_name;
  const char *tls_cert;
  const char *tls_key;
  /* TCP keepalive, as mgr_server_options': a manager whose host died or
   * whose link was cut is noticed within the bound (the calls waiting on it
   * fail with MGR_ECLOSED); mgr_start() gives its server the same. */
  uint32_t keepalive_idle_ms;     /* 0 for the default (15000) */
  uint32_t keepalive_interval_ms; /* 0 for the default (5000) */
  uint32_t keepalive_count;       /* 0 for the default (3) */
  /* mgr_connect(), mgr_start(): keep to the Unix socket; do not move
   * requests and replies to the shared-memory transport (spec 2.10), which
   * is used by default with a manager on a Unix socket that offers it. The
   * environment variable MGR_SHM=0 does the same. A tcp:// or tls://
   * manager never uses shared memory. */
  bool no_shm;
} mgr_options;

/* Fills *opt with the defaults (and its size). Not thread-safe on the same
 * opt; otherwise any thread. */
#define mgr_options_init(opt) mgr_options_init_((opt), sizeof *(opt))
/* What mgr_options_init() expands to: call the macro, which passes the size
 * your compiler saw. opt NULL, or a size too small for the size field, is a
 * no-op. Never fails. */
MGR_API void mgr_options_init_(mgr_options *opt, size_t size);

/* Starts a manager server in a child process, as Python's Manager() does, and
 * connects to it. The child is made with fork() and runs the server from this
 * library's code (no exec, so no binary path is needed); it dies with its
 * parent (PR_SET_PDEATHSIG). Call it before creating threads, as with Python's
 * fork start method, or run mgrd and use mgr_connect(). opt may be NULL.
 * On success *out is yours; release it with mgr_shutdown() or mgr_close().
 * Errors: MGR_EINVAL (out NULL, opt not initialised with mgr_options_init()
 * or setting fields this library does not know, a socket path too long, a
 * tcp:// address without an authkey, a tls:// address: run mgrd for TLS),
 * MGR_ESYS (the directory, pipe or fork failed, or the server did not start),
 * MGR_ENOMEM, and mgr_connect()'s. mgr_errmsg(NULL) gives the detail. */
MGR_API int mgr_start(const mgr_options *opt, mgr_client **out);

/* Connects to a running manager at address: a Unix socket path
 * (`unix:PATH` or a bare path), `tcp://HOST:PORT` or `tls://HOST:PORT`
 * (HOST a name, an IPv4 address or an [IPv6] one; spec 2.1). opt may be
 * NULL; opt->address is ignored; the authkey and TLS settings may come
 * from the environment (mgr_options). On success *out is yours, as
 * mgr_start()'s. Errors: MGR_ECONNECT (no manager there, a name that does
 * not resolve), MGR_EVERSION, MGR_ENOMEM, MGR_ESYS; MGR_EPERM (the manager
 * runs under another uid; or it refused this client's authkey, did not
 * prove its own, or its TLS certificate failed verification: the detail
 * says which); MGR_EINVAL (address or out NULL or malformed, opt as for
 * mgr_start(), a tcp:// or tls:// address without an authkey, an authkey
 * file of the wrong size, TLS files that cannot be loaded); MGR_EPROTO
 * (the peer broke the handshake, or sent no authentication challenge to a
 * client with a key: it has none); MGR_ELIMIT (the manager has too many
 * connections); MGR_ETIMEDOUT. mgr_errmsg(NULL) gives the detail. */
MGR_API int mgr_connect(const char *address, const mgr_options *opt,
                        mgr_client **out);

/* --- the common errors of every call to the manager -----------------------
 * The common errors: every function below that sends a request (the calls on
 * m, on a proxy, and mgr_batch_run()) may return these; its own comment lists
 * only its other errors, and "Only the common errors" means it has none.
 *   MGR_EINVAL     a NULL proxy, a NULL value pointer the call needs, or a
 *                  value the manager would not accept (what mgr_value_copy()
 *                  checks; as an argument a value may nest at most 30
 *                  levels). Nothing is sent.
 *   MGR_ENOMEM     out of memory in this process.
 *   MGR_ETOOBIG    the request does not fit in a frame: nothing is sent.
 *   MGR_ETIMEDOUT  no reply within the timeout (mgr_set_timeout()); whether
 *                  the operation ran is unknown; its late reply is discarded.
 *   MGR_ECLOSED    the connection to the manager was lost.
 *   MGR_EPROTO, MGR_EDECODE, MGR_ETOOBIG, MGR_ESHUTDOWN
 *                  the reply broke the protocol, or the manager is stopping.
 *                  When the stream itself broke (and after MGR_ECLOSED) the
 *                  calling thread's connection is closed for good: its
 *                  later calls on m return the same error.
 *   MGR_ELIMIT     the manager's memory (max_memory) or another of its
 *                  resource limits would be exceeded; nothing changed.
 *   MGR_EUNKNOWN   an error code this library does not know.
 *   MGR_ENOTFOUND, MGR_EBADOP
 *                  the proxy does not name a live object of its kind (its
 *                  reference was lost, as when a parent released the object
 *                  before its forked child's first call, or it was made
 *                  from a forged ref value).
 * A thread's first call on m, and a forked child's, opens that thread's
 * connection and may also return mgr_connect()'s errors.
 *
 * Storing a value that holds a ref to no live object of the ref's kind (a
 * "dead ref") fails with MGR_ENOTFOUND and changes nothing; the functions
 * that store values list it. */

/* Asks the manager to stop, waits for a server this process started, and
 * frees m. Proxies of m must not be used afterwards (release them first to
 * free their memory). Returns the shutdown request's status: only the common
 * errors, or MGR_EINVAL when m is NULL; m is freed in every case. Not
 * thread-safe with other calls on m. */
MGR_API int mgr_shutdown(mgr_client *m);

/* Disconnects and frees m; the manager keeps running. The same caveats as
 * mgr_shutdown(). NULL is a no-op. Never fails. */
MGR_API void mgr_close(mgr_client *m);

/* The manager's address as mgr_connect() takes it: the one given, or for
 * mgr_start() the one its server listens on (with the port a tcp:// port 0
 * took; a Unix socket as a bare path). Owned by m, valid until m is freed.
 * Never fails. */
MGR_API const char *mgr_address(const mgr_client *m);

/* The pid of the manager's server process, as its handshake reported it.
 * Never fails. */
MGR_API int64_t mgr_server_pid(const mgr_client *m);

/* The detail message of the calling thread's last failed call on m (owned by
 * m, valid until the thread's next call on m); "" when there is none. Decode
 * errors name the byte offset. A call refused MGR_EINVAL for a NULL pointer
 * argument before anything is sent sets no message: the text is then that
 * of an earlier call. m NULL: the detail of the calling thread's
 * last failed mgr_start() or mgr_connect(). Never fails. */
MGR_API const char *mgr_errmsg(const mgr_client *m);

/* Sets the per-call timeout (milliseconds, < 0 forever) for all threads. A
 * call that times out returns MGR_ETIMEDOUT; its late reply is discarded,
 * never given to a later call. m NULL is a no-op. Never fails. Thread-safe. */
MGR_API void mgr_set_timeout(mgr_client *m, int64_t timeout_ms);

/* One round trip to the manager. Only the common errors. */
MGR_API int mgr_ping(mgr_client *m);

/* The manager's objects as an owned array of [id, kind, name or nil, refs]
 * (out must not be NULL). Only the common errors. */
MGR_API int mgr_objects(mgr_client *m, mgr_value *out);

/* The manager's resources (STATS, spec/protocol.md 14.2.8) as an owned map:
 * memory by category against its limit, connections, objects by kind,
 * requests refused and why, hash probe lengths, the slow-request log (out
 * must not be NULL). MGR_ELIMIT when it is too large to send. */
MGR_API int mgr_stats(mgr_client *m, mgr_value *out);

/* One object as tools show it (DUMP): an owned map of its id, kind, name,
 * refs, bytes held, owner and kind-specific state. Any live object id (no
 * proxy needed; out must not be NULL). Errors: MGR_ENOTFOUND, MGR_ELIMIT (too
 * large to send), MGR_EINVAL (id 0 or above INT64_MAX). */
MGR_API int mgr_dump(mgr_client *m, uint64_t id, mgr_value *out);

/* --- creating and naming shared objects ---------------------------------
 * Each returns a new proxy in *out (yours: mgr_release() it). The proxy holds
 * a reference that keeps the object alive for this process. m or out NULL is
 * MGR_EINVAL; MGR_ELIMIT also when the manager has as many live objects as it
 * allows. */

/* manager.dict(init): init is a map value or NULL. MGR_ETYPE when init is not
 * a map; MGR_ENOTFOUND (dead ref). */
MGR_API int mgr_dict_new(mgr_client *m, const mgr_value *init, mgr_proxy **out);
/* manager.list(init): init is an array value or NULL. MGR_ETYPE when init is
 * not an array; MGR_ENOTFOUND (dead ref). */
MGR_API int mgr_list_new(mgr_client *m, const mgr_value *init, mgr_proxy **out);
/* manager.Value(init): init is any value, NULL for nil. MGR_ENOTFOUND (dead
 * ref). */
MGR_API int mgr_var_new(mgr_client *m, const mgr_value *init, mgr_proxy **out);
/* manager.Lock(): a new unlocked lock. Only the common errors. */
MGR_API int mgr_lock_new(mgr_client *m, mgr_proxy **out);
/* manager.RLock(): a new unlocked reentrant lock. Only the common errors. */
MGR_API int mgr_rlock_new(mgr_client *m, mgr_proxy **out);

/* Opens the object called name, creating it (of kind, from init) when it does
 * not exist and create is true. Unrelated processes share objects this way. A
 * named object lives until mgr_unlink(). *created (may be NULL) tells whether
 * this call made it. Errors: MGR_ENOTFOUND (absent, create false; or a dead
 * ref in init), MGR_ETYPE (exists with another kind, or init does not suit
 * kind), MGR_EVALUE (bad name: empty or longer than 255 bytes; or kind out of
 * range), MGR_EINVAL (m, name or out NULL). */
MGR_API int mgr_open(mgr_client *m, const char *name, mgr_kind kind,
                     const mgr_value *init, bool create, mgr_proxy **out,
                     bool *created);

/* Removes a name; the object lives on while referenced. MGR_ENOTFOUND when
 * no object has that name; MGR_EINVAL (m or name NULL). */
MGR_API int mgr_unlink(mgr_client *m, const char *name);

/* A proxy for a ref value read from a shared container (a dict inside a
 * list, as Python's nested proxies). Takes a reference. MGR_ETYPE if ref is not
 * a ref; MGR_ENOTFOUND if the object is gone; MGR_EINVAL (m or out NULL). */
MGR_API int mgr_proxy_from_value(mgr_client *m, const mgr_value *ref,
                                 mgr_proxy **out);

/* A borrowed ref value naming p's object, to store it inside another shared
 * object. Never fails. */
MGR_API mgr_value mgr_proxy_value(const mgr_proxy *p);

/* The id of p's object (ids are never reused while the manager runs).
 * Never fails. */
MGR_API uint64_t mgr_proxy_id(const mgr_proxy *p);
/* The kind of p's object. Never fails. */
MGR_API mgr_kind mgr_proxy_kind(const mgr_proxy *p);

/* Frees p. When p was this process's last proxy of its object, the process's
 * reference is dropped (the object is freed when no one references it and it
 * has no name). NULL is a no-op. p is freed in every case; the result is
 * that of dropping the reference. Only the common errors. Not thread-safe
 * with other calls on p. */
MGR_API int mgr_release(mgr_proxy *p);

/* --- dict (Python dict through a DictProxy) -------------------------------
 * Keys are any value but a map (TypeError) or NaN (ValueError); 1, 1.0 and
 * True are one key, as in Python. Values you get are owned: mgr_value_free().
 * Out-parameters may be NULL (result not wanted). In this section the common
 * errors also include, for every call that takes a key, MGR_ETYPE for an
 * unhashable key (a map, or an array holding one) and MGR_EVALUE for NaN (or
 * an array holding NaN). */

/* d[key] as an owned value. MGR_EKEY when key is missing. */
MGR_API int mgr_dict_get(mgr_proxy *d, const mgr_value *key, mgr_value *out);
/* d.get(key, dflt); dflt NULL means None. Only the common errors: never
 * MGR_EKEY. */
MGR_API int mgr_dict_get_default(mgr_proxy *d, const mgr_value *key,
                                 const mgr_value *dflt, mgr_value *out);
/* d[key] = val. MGR_ENOTFOUND (dead ref in key or val). */
MGR_API int mgr_dict_set(mgr_proxy *d, const mgr_value *key,
                         const mgr_value *val);
/* del d[key]. MGR_EKEY when key is missing. */
MGR_API int mgr_dict_del(mgr_proxy *d, const mgr_value *key);
/* key in d. Only the common errors. */
MGR_API int mgr_dict_contains(mgr_proxy *d, const mgr_value *key, bool *out);
/* len(d). Only the common errors. */
MGR_API int mgr_dict_len(mgr_proxy *d, size_t *out);
/* list(d.keys()): a snapshot in insertion order, as an owned array. Only the
 * common errors. */
MGR_API int mgr_dict_keys(mgr_proxy *d, mgr_value *out);
/* list(d.values()): a snapshot, as mgr_dict_keys(). Only the common errors. */
MGR_API int mgr_dict_values(mgr_proxy *d, mgr_value *out);
/* list(d.items()): a snapshot, as mgr_dict_keys(), of [key, value] arrays.
 * Only the common errors. */
MGR_API int mgr_dict_items(mgr_proxy *d, mgr_value *out);
/* d.pop(key) when dflt is NULL, else d.pop(key, dflt). MGR_EKEY when key is
 * missing and dflt is NULL. */
MGR_API int mgr_dict_pop(mgr_proxy *d, const mgr_value *key,
                         const mgr_value *dflt, mgr_value *out);
/* d.popitem(): the last inserted pair, removed, into *key and *val (owned;
 * either may be NULL). MGR_EKEY when empty. */
MGR_API int mgr_dict_popitem(mgr_proxy *d, mgr_value *key, mgr_value *val);
/* d.setdefault(key, dflt); dflt NULL means None. out gets the value now
 * stored. MGR_ENOTFOUND (dead ref in key or dflt, checked even when the key
 * is present). */
MGR_API int mgr_dict_setdefault(mgr_proxy *d, const mgr_value *key,
                                const mgr_value *dflt, mgr_value *out);
/* d.update(other): other is a map, or an array of [key, value] pairs. All or
 * nothing: on error d is unchanged. MGR_ETYPE (other neither, an element not
 * an array, an unhashable key), MGR_EVALUE (an element not a pair, a NaN
 * key), MGR_ENOTFOUND (dead ref). */
MGR_API int mgr_dict_update(mgr_proxy *d, const mgr_value *other);
/* d.clear(). Only the common errors. */
MGR_API int mgr_dict_clear(mgr_proxy *d);
/* d.copy(): an owned map. Only the common errors. */
MGR_API int mgr_dict_copy(mgr_proxy *d, mgr_value *out);
/* Atomic d[key] += delta on the server. dflt NULL: a missing key is MGR_EKEY;
 * else the entry starts at *dflt. out (may be NULL) gets the new value.
 * MGR_EOVERFLOW leaves the entry unchanged; MGR_ETYPE for non-numbers;
 * MGR_ENOTFOUND (dead ref in a key it inserts). */
MGR_API int mgr_dict_incr(mgr_proxy *d, const mgr_value *key,
                          const mgr_value *delta, const mgr_value *dflt,
                          mgr_value *out);
/* The int shortcut of mgr_dict_incr: a missing key starts at 0 when
 * use_default is true (else MGR_EKEY). out (may be NULL) gets the new value.
 * MGR_EOVERFLOW leaves the entry unchanged. MGR_ETYPE when the new value is
 * not an int (the entry held a float: the increment WAS applied, the entry is
 * a float; mgr_errmsg says its value, mgr_dict_incr reads it), or when the
 * entry is not a number (nothing changed). */
MGR_API int mgr_dict_incr_int(mgr_proxy *d, const mgr_value *key, int64_t delta,
                              bool use_default, int64_t *out);
/* Atomic: if d[key] == expected, d[key] = desired. *swapped tells; current
 * (may be NULL) gets the entry's value after the operation. MGR_EKEY;
 * MGR_ENOTFOUND (dead ref in desired, checked whether or not it swaps). */
MGR_API int mgr_dict_cas(mgr_proxy *d, const mgr_value *key,
                         const mgr_value *expected, const mgr_value *desired,
                         bool *swapped, mgr_value *current);

/* --- list (Python list through a ListProxy) -------------------------------
 * Indices may be negative, counted from the end, as in Python. Values you get
 * are owned: mgr_value_free(). Out-parameters may be NULL (result not
 * wanted). */

/* A slice bound, slice step or index bound that may be omitted (Python's
 * None): every int64 can be given, so l[0:-2**63] is expressible. */
typedef struct mgr_bound {
  int64_t value;
  bool given;
} mgr_bound;
/* The bound i, and the omitted bound. */
static inline mgr_bound mgr_at(int64_t i) {
  mgr_bound b;
  b.value = i;
  b.given = true;
  return b;
}
static inline mgr_bound mgr_omit(void) {
  mgr_bound b;
  b.value = 0;
  b.given = false;
  return b;
}
#define MGR_OMIT mgr_omit()
/* l[index] as an owned value. MGR_EINDEX when out of range. */
MGR_API int mgr_list_get(mgr_proxy *l, int64_t index, mgr_value *out);
/* l[index] = val. MGR_EINDEX when out of range; MGR_ENOTFOUND (dead ref). */
MGR_API int mgr_list_set(mgr_proxy *l, int64_t index, const mgr_value *val);
/* del l[index]. MGR_EINDEX when out of range. */
MGR_API int mgr_list_del(mgr_proxy *l, int64_t index);
/* len(l). Only the common errors. */
MGR_API int mgr_list_len(mgr_proxy *l, size_t *out);
/* val in l (Python ==). Only the common errors. */
MGR_API int mgr_list_contains(mgr_proxy *l, const mgr_value *val, bool *out);
/* l[start:stop:step] as an owned array; MGR_OMIT for an omitted part
 * (mgr_at(i) for a given one). MGR_EVALUE for step 0. */
MGR_API int mgr_list_getslice(mgr_proxy *l, mgr_bound start, mgr_bound stop,
                              mgr_bound step, mgr_value *out);
/* l[start:stop:step] = items (an array). An extended slice (step not 1) needs
 * as many items as it selects (MGR_EVALUE, also for step 0). MGR_ETYPE when
 * items is not an array; MGR_ENOTFOUND (dead ref). */
MGR_API int mgr_list_setslice(mgr_proxy *l, mgr_bound start, mgr_bound stop,
                              mgr_bound step, const mgr_value *items);
/* del l[start:stop:step]. MGR_EVALUE for step 0. */
MGR_API int mgr_list_delslice(mgr_proxy *l, mgr_bound start, mgr_bound stop,
                              mgr_bound step);
/* l.append(val). MGR_ENOTFOUND (dead ref). */
MGR_API int mgr_list_append(mgr_proxy *l, const mgr_value *val);
/* l.extend(items), also l += items. MGR_ETYPE when items is not an array;
 * MGR_ENOTFOUND (dead ref). */
MGR_API int mgr_list_extend(mgr_proxy *l, const mgr_value *items);
/* l.insert(index, val); the index is clamped as Python does. MGR_ENOTFOUND
 * (dead ref). */
MGR_API int mgr_list_insert(mgr_proxy *l, int64_t index, const mgr_value *val);
/* l.pop(index); index -1 is Python's l.pop(). MGR_EINDEX when the list is
 * empty or index out of range. */
MGR_API int mgr_list_pop(mgr_proxy *l, int64_t index, mgr_value *out);
/* l.remove(val): removes the first element equal to val. MGR_EVALUE when val
 * is absent. */
MGR_API int mgr_list_remove(mgr_proxy *l, const mgr_value *val);
/* l.index(val, start, stop); MGR_OMIT for omitted bounds. MGR_EVALUE when
 * val is not in l[start:stop]. */
MGR_API int mgr_list_index(mgr_proxy *l, const mgr_value *val, mgr_bound start,
                           mgr_bound stop, int64_t *out);
/* l.count(val) (Python ==). Only the common errors. */
MGR_API int mgr_list_count(mgr_proxy *l, const mgr_value *val, size_t *out);
/* l.reverse(). Only the common errors. */
MGR_API int mgr_list_reverse(mgr_proxy *l);
/* Sorts comparable values (numbers with numbers, text with text ...), stably;
 * MGR_ETYPE otherwise, leaving the list unchanged. */
MGR_API int mgr_list_sort(mgr_proxy *l, bool reverse);
/* l.clear(). Only the common errors. */
MGR_API int mgr_list_clear(mgr_proxy *l);
/* l[:] as an owned array. Only the common errors. */
MGR_API int mgr_list_copy(mgr_proxy *l, mgr_value *out);
/* l *= n; n <= 0 empties the list. MGR_ELIMIT when the result would be larger
 * than the manager allows (the list is unchanged). */
MGR_API int mgr_list_imul(mgr_proxy *l, int64_t n);
/* Atomic l[index] += delta; out (may be NULL) gets the new value. MGR_EINDEX,
 * MGR_EOVERFLOW (the element unchanged), MGR_ETYPE (not numbers). */
MGR_API int mgr_list_incr(mgr_proxy *l, int64_t index, const mgr_value *delta,
                          mgr_value *out);
/* The int shortcut of mgr_list_incr: MGR_EINDEX, MGR_EOVERFLOW, and MGR_ETYPE
 * as mgr_dict_incr_int's. */
MGR_API int mgr_list_incr_int(mgr_proxy *l, int64_t index, int64_t delta,
                              int64_t *out);
/* Atomic: if l[index] == expected, l[index] = desired, as mgr_dict_cas().
 * MGR_EINDEX; MGR_ENOTFOUND (dead ref in desired). */
MGR_API int mgr_list_cas(mgr_proxy *l, int64_t index, const mgr_value *expected,
                         const mgr_value *desired, bool *swapped,
                         mgr_value *current);

/* --- var (manager.Value) --------------------------------------------------
 * Values you get are owned: mgr_value_free(). Out-parameters may be NULL
 * (result not wanted). */

/* v.value as an owned value. Only the common errors. */
MGR_API int mgr_var_get(mgr_proxy *v, mgr_value *out);
/* v.value = val. MGR_ENOTFOUND (dead ref). */
MGR_API int mgr_var_set(mgr_proxy *v, const mgr_value *val);
/* Atomic v.value += delta; dflt (may be NULL) is used when v holds None.
 * MGR_ETYPE (not numbers, or None without dflt), MGR_EOVERFLOW (unchanged). */
MGR_API int mgr_var_incr(mgr_proxy *v, const mgr_value *delta,
                         const mgr_value *dflt, mgr_value *out);
/* The int shortcut of mgr_var_incr (no default: a var holding None is
 * MGR_ETYPE): MGR_EOVERFLOW, and MGR_ETYPE as mgr_dict_incr_int's. */
MGR_API int mgr_var_incr_int(mgr_proxy *v, int64_t delta, int64_t *out);
/* Atomic: if v.value == expected, v.value = desired, as mgr_dict_cas().
 * MGR_ENOTFOUND (dead ref in desired). */
MGR_API int mgr_var_cas(mgr_proxy *v, const mgr_value *expected,
                        const mgr_value *desired, bool *swapped,
                        mgr_value *current);

/* --- lock and rlock ---------------------------------------------------------
 * Owned by the calling thread's connection. timeout_ms < 0 blocks until
 * acquired, 0 tries once, > 0 waits up to that many milliseconds (measured
 * on the server). *acquired tells. Returns MGR_OK, or MGR_EOWNERDEAD when
 * acquired but the previous owner died holding it (the caller owns the lock
 * and should repair the state it protects). */

/* lock.acquire(). acquired may be NULL. Errors: MGR_EOWNERDEAD (acquired, see
 * above); MGR_ESTATE for a Lock this thread already holds with timeout_ms < 0
 * (a certain deadlock); MGR_ETIMEDOUT when the manager does not answer
 * within timeout_ms plus the per-call timeout (mgr_set_timeout; a wait
 * without limit is not cut short by it), a later grant being given back by
 * this thread's next call (mgr/sync.h, "Waiting"); MGR_ELIMIT when this
 * thread has too many requests waiting on the manager. */
MGR_API int mgr_lock_acquire(mgr_proxy *lk, int64_t timeout_ms, bool *acquired);
/* lock.release(); a Lock may be released by any thread, as threading.Lock.
 * MGR_ESTATE when not held (RLock: not held by the caller). */
MGR_API int mgr_lock_release(mgr_proxy *lk);
/* lock.locked(): whether anyone holds it. Only the common errors. */
MGR_API int mgr_lock_locked(mgr_proxy *lk, bool *out);

/* --- batches: several operations, one frame, one round trip ----------------
 * A batch builder collects operations on proxies of one client, then sends
 * them as ONE request (BATCH, spec/protocol.md 9.6) and gets one reply. The
 * manager runs the operations one after another, in order; EACH is atomic,
 * the batch as a whole is NOT (another client's request may run between two
 * of them), and a failed operation does not stop the ones after it (as Redis
 * pipelining). Each operation has its own status and result.
 *
 *   mgr_batch *b;
 *   mgr_batch_new(m, &b);
 *   mgr_batch_dict_set(b, d, &key, &val);
 *   mgr_batch_dict_incr_int(b, d, &hits, 1, true);
 *   mgr_batch_list_append(b, l, &val);
 *   mgr_value res;                       // array, one result per operation
 *   if (mgr_batch_run(b, &res) == MGR_OK)
 *     for (size_t i = 0; i < mgr_batch_len(b); i++)
 *       if (mgr_batch_status(b, i) != MGR_OK) ... mgr_batch_errmsg(b, i) ...
 *   mgr_value_free(&res);
 *   mgr_batch_free(b);
 *
 * The adders copy their arguments into the builder at once: the caller's
 * values need not outlive the call. The common errors of an adder, which
 * sends nothing: MGR_EINVAL (a NULL or foreign proxy, an op of another kind,
 * more than 8 arguments, an argument nested deeper than 27 levels or
 * otherwise not sendable), MGR_ELIMIT (more than 1024 operations), MGR_ENOMEM.
 * An adder that fails adds nothing, and its error is STICKY: later adds and
 * mgr_batch_run() return it until mgr_batch_clear(). Errors the manager finds
 * in one operation (MGR_EKEY ...) are that operation's status, never an
 * adder's. A builder is not thread-safe (use it from one thread at a time);
 * it runs on the calling thread's connection, and may be used in a child
 * after fork(). */
typedef struct mgr_batch mgr_batch;

/* A new empty builder for m in *out (yours: mgr_batch_free()). MGR_ENOMEM,
 * MGR_EINVAL (m or out NULL). */
MGR_API int mgr_batch_new(mgr_client *m, mgr_batch **out);
/* Frees b and everything it holds. NULL is a no-op. Never fails. */
MGR_API void mgr_batch_free(mgr_batch *b);
/* Forgets the operations, the statuses and a sticky error; keeps the memory
 * for reuse. NULL is a no-op. Never fails. */
MGR_API void mgr_batch_clear(mgr_batch *b);
/* The number of operations added (since new or clear); 0 for NULL. Never
 * fails. */
MGR_API size_t mgr_batch_len(const mgr_batch *b);

/* Adds any operation by its spec name ("DICT_GET", see spec/protocol.md 9)
 * with positional arguments, on p's object (p NULL: a manager op, oid 0).
 * MGR_EINVAL for an unknown name. The manager refuses HELLO, BATCH, SHUTDOWN
 * and a blocking LOCK_ACQUIRE in that operation's status (MGR_EVALUE). */
MGR_API int mgr_batch_add(mgr_batch *b, mgr_proxy *p, const char *op,
                          const mgr_value *args, size_t nargs);

/* Typed adders: the same arguments as the direct calls above; the result
 * arrives in the operation's slot of mgr_batch_run()'s results (nil for
 * operations that return nothing). Every add error, a NULL argument pointer
 * included, is sticky. */

/* d[key] (mgr_dict_get()). Only the common errors. */
MGR_API int mgr_batch_dict_get(mgr_batch *b, mgr_proxy *d,
                               const mgr_value *key);
/* d.get(key, dflt) (mgr_dict_get_default()); dflt NULL is None, as there.
 * Only the common errors. */
MGR_API int mgr_batch_dict_get_default(mgr_batch *b, mgr_proxy *d,
                                       const mgr_value *key,
                                       const mgr_value *dflt);
/* d[key] = val (mgr_dict_set()). Only the common errors. */
MGR_API int mgr_batch_dict_set(mgr_batch *b, mgr_proxy *d, const mgr_value *key,
                               const mgr_value *val);
/* del d[key] (mgr_dict_del()). Only the common errors. */
MGR_API int mgr_batch_dict_del(mgr_batch *b, mgr_proxy *d,
                               const mgr_value *key);
/* key in d (mgr_dict_contains()): the result is a bool. Only the common
 * errors. */
MGR_API int mgr_batch_dict_contains(mgr_batch *b, mgr_proxy *d,
                                    const mgr_value *key);
/* len(d) (mgr_dict_len()): the result is an int. Only the common errors. */
MGR_API int mgr_batch_dict_len(mgr_batch *b, mgr_proxy *d);
/* Result: the new value; a missing key starts at 0 when use_default. Its
 * status is never the client-side MGR_ETYPE of mgr_dict_incr_int(): a float
 * result is given as it is. Only the common errors. */
MGR_API int mgr_batch_dict_incr_int(mgr_batch *b, mgr_proxy *d,
                                    const mgr_value *key, int64_t delta,
                                    bool use_default);
/* l[index] (mgr_list_get()). Only the common errors. */
MGR_API int mgr_batch_list_get(mgr_batch *b, mgr_proxy *l, int64_t index);
/* l[index] = val (mgr_list_set()). Only the common errors. */
MGR_API int mgr_batch_list_set(mgr_batch *b, mgr_proxy *l, int64_t index,
                               const mgr_value *val);
/* l.append(val) (mgr_list_append()). Only the common errors. */
MGR_API int mgr_batch_list_append(mgr_batch *b, mgr_proxy *l,
                                  const mgr_value *val);
/* len(l) (mgr_list_len()): the result is an int. Only the common errors. */
MGR_API int mgr_batch_list_len(mgr_batch *b, mgr_proxy *l);
/* l[index] += delta (mgr_list_incr_int()); the result as in
 * mgr_batch_dict_incr_int(). Only the common errors. */
MGR_API int mgr_batch_list_incr_int(mgr_batch *b, mgr_proxy *l, int64_t index,
                                    int64_t delta);
/* v.value (mgr_var_get()). Only the common errors. */
MGR_API int mgr_batch_var_get(mgr_batch *b, mgr_proxy *v);
/* v.value = val (mgr_var_set()). Only the common errors. */
MGR_API int mgr_batch_var_set(mgr_batch *b, mgr_proxy *v, const mgr_value *val);
/* v.value += delta (mgr_var_incr_int()); the result as in
 * mgr_batch_dict_incr_int(). Only the common errors. */
MGR_API int mgr_batch_var_incr_int(mgr_batch *b, mgr_proxy *v, int64_t delta);

/* Sends the operations as one BATCH request and waits for its reply. MGR_OK
 * when the manager ran the batch, whatever each operation's status: read them
 * with mgr_batch_status(). results (may be NULL: not wanted, nothing is
 * copied) gets an owned array (mgr_value_free()) with one entry per operation
 * in order: its result, or nil when it failed. The operations stay in b: run
 * it again, or mgr_batch_clear() it. Errors for the batch as a whole: the
 * sticky add error; MGR_EINVAL (b NULL); MGR_EVALUE (no operations);
 * MGR_ELIMIT (refused as a whole: over the manager's work budget, when
 * nothing ran, or a reply over the frame limit or the manager's memory, when
 * the operations HAVE run; mgr_errmsg() says which); MGR_ETOOBIG (the request
 * does not fit in a frame: nothing ran); the common errors (MGR_ECLOSED,
 * MGR_ETIMEDOUT: whether the operations ran is unknown). */
MGR_API int mgr_batch_run(mgr_batch *b, mgr_value *results);
/* Operation i's status after the last mgr_batch_run(): MGR_OK or the error
 * the manager answered (MGR_EKEY ...); the run's error when the run failed;
 * MGR_EINVAL when i is out of range or b has not run since its last change. */
MGR_API int mgr_batch_status(const mgr_batch *b, size_t i);
/* Operation i's error detail (owned by b, valid until its next run, clear or
 * free); "" when it succeeded or has no status. Never fails. */
MGR_API const char *mgr_batch_errmsg(const mgr_batch *b, size_t i);

#ifdef __cplusplus
}
#endif

#endif
