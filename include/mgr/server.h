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
  /* Socket path (required). Unless allow_any_uid, its directory must be
   * private: owned by this uid, no group or other access (mgr_server_run()
   * fails with MGR_ESYS otherwise). */
  const char *address;
  /* Largest frame accepted or sent; 0 for the default (1 MiB). At most
   * 64 MiB, the protocol's ceiling. */
  uint32_t max_frame;
  /* Accept peers of any uid (default: only the server's own uid). */
  int allow_any_uid;
  /* When >= 0, a descriptor the server writes one byte to once it listens,
   * then closes (readiness notification). -1 for none. */
  int ready_fd;
  /* Bytes the server may hold (objects, buffers, parked requests): 0 for
   * the default (1 GiB), SIZE_MAX for no limit. An operation that would
   * exceed it is answered MGR_ELIMIT and changes nothing. */
  size_t max_memory;
  /* Milliseconds a new connection has to complete HELLO: 0 for the default
   * (10000). */
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
 * listens at address ...), MGR_EINVAL (opt NULL, no address or one too long
 * for a socket, max_frame above the ceiling or too small for any message,
 * options not initialised, or options from a newer header with fields this
 * library does not know set), MGR_ENOMEM. Not thread-safe: one server per
 * thread. */
MGR_API int mgr_server_run(const mgr_server_options *opt);

#ifdef __cplusplus
}
#endif

#endif
