/* mgr — value-model helpers shared by cbor.c and value.c (not part of the
 * cbor.h interface other modules use). */
#ifndef MGRI_VALUE_INTERNAL_H
#define MGRI_VALUE_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

#include "mgr/value.h"

/* Finds the first key (in map order) equal to an earlier one among
 * pairs[0..2*npairs), in O(n log n): 1 with *dup its pair index, 0 if none,
 * MGR_ENOMEM. Keys must be hashable. */
int mgri_map_find_dup(const mgr_value *pairs, size_t npairs, size_t *dup);
/* Validates v at nesting depth `depth`: UTF-8, NULL pointers, depth; with
 * wire also what the decoder rejects (ref kind/id, unhashable, NaN or
 * duplicate map keys). MGR_OK, MGR_EINVAL or MGR_ENOMEM. */
int mgri_value_check(const mgr_value *v, unsigned depth, bool wire);

#endif
