/* mgr — reading an extensible options struct (mgr_options,
 * mgr_server_options): the caller's struct starts with its size as the
 * caller's compiler saw it. A smaller struct (an older header) leaves the
 * newer fields at their defaults; a larger one (a newer header) is accepted
 * only when every field this library does not know is zero, so a setting it
 * cannot honour is never silently dropped. The rule that makes this work: a
 * field added later has 0 as its default (an older caller's tail padding,
 * zeroed by its init function, may be read as it). */
#ifndef MGRI_XSTRUCT_H
#define MGRI_XSTRUCT_H

#include <stddef.h>

/* Copies the caller's struct `in` over `out` (out_size bytes, already holding
 * the defaults, whose first member is the size). MGR_OK, or MGR_EINVAL when
 * in's size is smaller than its size field or it sets unknown fields. */
int mgri_xstruct_in(void *out, size_t out_size, const void *in);

#endif
