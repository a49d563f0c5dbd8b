/* mgr — what dispatch.c gives the store's op table: the BATCH handler (it
 * re-enters dispatch, so it lives there). */
#ifndef MGRI_SERVER_DISPATCH_H
#define MGRI_SERVER_DISPATCH_H

#include "server/core.h"

extern const mgri_handler mgri_batch_op;

#endif
