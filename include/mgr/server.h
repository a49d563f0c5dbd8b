/* mgr — running a manager server inside a program (what mgrd does). */
#ifndef MGR_SERVER_H
#define MGR_SERVER_H

#include <stddef.h>
#include <stdint.h>

#include "version.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Options of mgr_server_run(). Initialise with mgr_server_options_init(),
 * then set fields: as mgr_options, the struct may grow at its end and `size`
 * lets libraries of other versions read it safely. */
typedef struct mgr_server_options {
  size_t size; /* set by mgr_server_options_init; do not change it */
  /* An address to listen on (spec 2.1): a Unix socket path (`unix:PATH` or
   * a bare path; unless allow_any_uid, its directory must be private:
   * owned by this uid, no group or other access, or mgr_server_run() fails
   * with MGR_ESYS), `tcp://HOST:PORT` or `tls://HOST:PORT` (HOST a name, an
   * IPv4 address or an [IPv6] one; port 0 takes a free port, see on_listen
   * and ready_fd). Required unless `listen` gives addresses. */
  const char *address;
  /* Largest frame accepted or sent; 0 for the default (1 MiB). At most
   * 64 MiB, the protocol's ceiling. */
  uint32_t max_frame;
  /* Accept peers of any uid (default: only the server's own uid). */
  int allow_any_uid;
  /* When >= 0, a descriptor the server writes to once it listens, then
   * closes (readiness notification): one byte (1), then each address it
   * listens on as a line "ADDRESS\n" in the form clients give it (a TCP
   * port 0 replaced by the port taken), all in one write. -1 for none. */
  int ready_fd;
  /* Bytes the server may hold (objects, buffers, parked requests): 0 for
   * the default (1 GiB), SIZE_MAX for no limit. An operation that would
   * exceed it is answered MGR_ELIMIT and changes nothing. */
  size_t max_memory;
  /* Milliseconds a new connection has to complete HELLO (its TLS handshake
   * and the authkey exchange included): 0 for the default (10000). */
  uint32_t handshake_timeout_ms;
  /* Connections allowed to be in the handshake at once: 0 for the default
   * (64). When full, the oldest is closed to make room. */
  uint32_t max_handshakes;
  /* Milliseconds after which a connection that sent nothing and has no
   * parked request is closed: 0 (the default) for never. */
  uint32_t idle_timeout_ms;
  /* Requests slower than this many milliseconds are logged (STATS): 0 for
   * the default (10), UINT32_MAX for never. */
  uint32_t slow_ms;
  /* More addresses to listen on, as `address`: nlisten of them (with
   * address, at most 16 in all). */
  const char *const *listen;
  size_t nlisten;
  /* The authkey (spec 2.8, 7.8): authkey_len bytes (32 to 1024), or, when
   * authkey is NULL, read from the file authkey_file (a regular file of
   * this user's that group and others cannot read: MGR_EPERM otherwise).
   * Required when an address is tcp:// or tls:// (MGR_EINVAL without one).
   * With a key, every connection (Unix ones too) must prove it before
   * anything else, and one that does not is closed without a word. The
   * bytes are copied; the caller may clear its own. */
  const void *authkey;
  size_t authkey_len;
  const char *authkey_file;
  /* TLS for tls:// addresses (spec 2.9): the certificate chain and the
   * private key, PEM files (both required with a tls:// address); with
   * tls_ca (a PEM file of CA certificates), every client must present a
   * certificate issued by one of them. */
  const char *tls_cert;
  const char *tls_key;
  const char *tls_ca;
  /* TCP keepalive (spec 2.7): a peer silent for keepalive_idle_ms is
   * probed every keepalive_interval_ms, and after keepalive_count
   * unanswered probes its connection is closed as if it had closed it (its
   * locks released, its waits dropped). The kernel counts in whole seconds
   * (rounded up). With the defaults a dead peer's connection is closed
   * within 30000 milliseconds. */
  uint32_t keepalive_idle_ms;     /* 0 for the default (15000) */
  uint32_t keepalive_interval_ms; /* 0 for the default (5000) */
  uint32_t keepalive_count;       /* 0 for the default (3) */
  /* Called once per address the server listens on, before ready_fd is
   * written, with the address as clients give it (see ready_fd). NULL for
   * none. */
  void (*on_listen)(void *ctx, const char *address);
  void *on_listen_ctx;
  /* Offer no shared-memory transport (spec 2.10): clients on a Unix socket
   * keep to the socket (mgrd --no-shm). Default false: a client on the same
   * host may move its requests and replies to shared-memory rings. */
  int no_shm;
} mgr_server_options;

/* Fills *opt with the defaults (and its size). Not thread-safe on the same
 * opt; otherwise any thread. */
#define mgr_server_options_init(opt)                                           \
  mgr_server_options_init_((opt), sizeof *(opt))
/* What mgr_server_options_init() expands to: call the macro, which passes the
 * size your compiler saw. opt NULL, or a size too small for the size field,
 * is a no-op. Never fails. */
MGR_API void mgr_server_options_init_(mgr_server_options *opt, size_t size);

/* Runs a manager server in the calling thread until a client sends SHUTDOWN
 * or SIGTERM/SIGINT arrive (while it runs, the calling thread blocks both
 * signals and reads them through a signalfd). Removes the socket on return.
 * Returns MGR_OK, or MGR_ESYS (cannot bind, listen, or get random bytes for
 * its hash key; the socket's directory is not private; a live server already
 * listens at address; the authkey file cannot be read ...), MGR_EINVAL (opt
 * NULL, no address, a malformed one or one too long for a socket, more than
 * 16 addresses, a tcp:// or tls:// address without an authkey, an authkey
 * too short or too long, a tls:// address without a certificate and key or
 * with ones that cannot be loaded, max_frame above the ceiling or too small
 * for any message, options not initialised, or options from a newer header
 * with fields this library does not know set), MGR_EPERM (the authkey
 * file's owner or mode), MGR_ENOMEM. Not thread-safe: one server per
 * thread. */
MGR_API int mgr_server_run(const mgr_server_options *opt);

#ifdef __cplusplus
}
#endif

#endif
