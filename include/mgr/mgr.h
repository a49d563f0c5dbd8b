/* mgr — a manager server and proxies for sharing state between processes, the
 * C counterpart of Python's multiprocessing.Manager(). The umbrella header. */
#ifndef MGR_MGR_H
#define MGR_MGR_H

#include "version.h"
#include "error.h"
#include "value.h"
#include "client.h"
#include "sync.h"
#include "server.h"

#endif
