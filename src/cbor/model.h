/* mgr — the value model (spec/protocol.md section 5, Python semantics):
 * UTF-8, equality, keyed hashing, ordering, single-block deep copies and the
 * structural checks. Pure: no I/O, no global state. One file per concern:
 * utf8.c, compare.c, hash.c, copy.c, repr.c; value.c holds the public
 * helpers of include/mgr/value.h. */
#ifndef MGRI_CBOR_MODEL_H
#define MGRI_CBOR_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/siphash.h"
#include "mgr/value.h"

/* utf8.c */
bool mgri_utf8_valid(const char *p, size_t n);

/* compare.c: Python ==. */
bool mgri_value_eq(const mgr_value *a, const mgr_value *b);
/* Orders a and b for sort: *out <0, 0, >0. MGR_OK or MGR_ETYPE (not
 * comparable: mixed kinds, NaN, nil, maps, refs). */
int mgri_value_cmp(const mgr_value *a, const mgr_value *b, int *out);
/* The value under key in map (by ==), NULL if none; tries pair `hint`
 * first. */
const mgr_value *mgri_map_find(const mgr_value *map, const mgr_value *key,
                               size_t hint);
/* Finds the first key (in map order) equal to an earlier one among
 * pairs[0..2*npairs), in O(n log n): 1 with *dup its pair index, 0 if none,
 * MGR_ENOMEM. Keys must be hashable. */
int mgri_map_find_dup(const mgr_value *pairs, size_t npairs, size_t *dup);

/* hash.c: MGR_OK when v can be a key; MGR_ETYPE when it is unhashable (a
 * map, or an array holding one, wherever a NaN sits); MGR_EVALUE for NaN or
 * an array holding NaN. */
int mgri_value_hashable(const mgr_value *v);
/* v's hash under key: SipHash-1-3 of v's canonical key bytes, equal for
 * equal keys (1, 1.0 and True hash alike). The same status as
 * mgri_value_hashable; *out is set only on MGR_OK. */
int mgri_value_hash(const mgr_value *v, const mgri_sipkey *key, uint64_t *out);

/* copy.c: the bytes an owned deep copy of v needs (one block), or SIZE_MAX
 * on overflow. */
size_t mgri_value_size(const mgr_value *v);
/* Deep copy of v into the single block mem of mgri_value_size(v) bytes;
 * *dst's root pointer is mem (for scalars mem is unused). */
void mgri_value_copy_into(mgr_value *dst, const mgr_value *v, void *mem);
/* The block an owned value holds (the root pointer), NULL for scalars and
 * empty containers. */
void *mgri_value_block(const mgr_value *v);
/* The number of refs inside v, calling fn(ctx, id) for each (fn may be NULL). */
size_t mgri_value_refs(const mgr_value *v, void (*fn)(void *ctx, uint64_t id),
                       void *ctx);
/* The data items of v (a scalar is 1, an array 1 + its items' ...), counting
 * no further than cap. */
size_t mgri_value_items(const mgr_value *v, size_t cap);
/* THE validation of a value the library is given (every proxy through the
 * encoder, every batch adder, mgr_value_copy): v, placed at nesting depth
 * `depth` of a message (a request's argument is at 3, a batch
 * sub-request's at 6, a lone value at 1), is one the peer would accept:
 * not NULL, no NULL pointer with a length, valid UTF-8 text, refs with a
 * known kind and an id in 1..2^63-1, map keys hashable, not NaN and not
 * repeated, no deeper than MGRI_DEPTH_MAX. MGR_OK, MGR_EINVAL or
 * MGR_ENOMEM. */
int mgri_value_valid(const mgr_value *v, unsigned depth);

#endif
