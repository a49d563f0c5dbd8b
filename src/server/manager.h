/* mgr — the manager ops' handlers (manager.c), for the store's op table. */
#ifndef MGRI_SERVER_MANAGER_H
#define MGRI_SERVER_MANAGER_H

#include "server/core.h"

extern const mgri_handler mgri_manager_ops[];
extern const size_t mgri_manager_nops;

#endif
