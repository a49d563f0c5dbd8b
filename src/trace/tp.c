/* mgr — the tracepoint provider library libmgr-tp.so: the probes of every
 * mgr:* event, registered with liblttng-ust when the library is loaded (by
 * libmgr when MGR_TRACE=1, or by LD_PRELOAD). See tp_define.c. */
#define LTTNG_UST_TRACEPOINT_CREATE_PROBES
#include "trace/mgr_tp.h"
