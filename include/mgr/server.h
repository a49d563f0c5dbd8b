/* mgr — running a manager server inside a program (what mgrd does). */
#ifndef MGR_SERVER_H
#define MGR_SERVER_H

#include <stdint.h>

#include "version.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mgr_server_options {
  /* Socket path (required). Its directory should be private (0700). */
  const char *address;
  /* Largest frame accepted or sent; 0 for the default (1 MiB). */
  uint32_t max_frame;
  /* Accept peers of any uid (default: only the server's own uid). */
  int allow_any_uid;
  /* When >= 0, a descriptor the server writes one byte to once it listens,
   * then closes (readiness notification). -1 for none. */
  int ready_fd;
} mgr_server_options;

MGR_API void mgr_server_options_init(mgr_server_options *opt);

/* Runs a manager server in the calling thread until a client sends SHUTDOWN
 * or SIGTERM/SIGINT arrive (the server installs handlers for both while it
 * runs). Removes the socket on return. Returns MGR_OK, or MGR_ESYS (cannot bind,
 * listen ...), MGR_EINVAL, MGR_ENOMEM. */
MGR_API int mgr_server_run(const mgr_server_options *opt);

#ifdef __cplusplus
}
#endif

#endif
