/* mgr — the strict, bounded CBOR subset of spec/protocol.md ("CBOR profile").
 * Pure: no I/O, no global state. The value model it decodes into is in
 * model.h (included). */
#ifndef MGRI_CBOR_H
#define MGRI_CBOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../common/arena.h"
#include "../common/buf.h"
#include "../common/limits.h"
#include "cbor/model.h"
#include "mgr/value.h"

/* The tag of a ref: tag(28007, [kind, id]). */
#define MGRI_TAG_REF 28007u

/* What a decode error says. `what` is a static string naming the rule broken
 * ("non-shortest integer", "invalid UTF-8", "duplicate map key" ...); offset
 * is the byte offset, from the start of the decoded item, where the offending
 * head or byte starts. */
typedef struct mgri_decode_error {
  int code; /* MGR_EDECODE, MGR_ETOOBIG or MGR_ENOMEM */
  size_t offset;
  const char *what;
} mgri_decode_error;

/* --- encoder: appends the canonical form to b; errors are sticky in b->err -- */
void mgri_cbor_head(mgri_buf *b, unsigned major, uint64_t arg);
void mgri_cbor_uint(mgri_buf *b, uint64_t v);
void mgri_cbor_int(mgri_buf *b, int64_t v);
void mgri_cbor_bool(mgri_buf *b, bool v);
void mgri_cbor_nil(mgri_buf *b);
void mgri_cbor_float(mgri_buf *b,
                     double v); /* preferred (shortest exact) width */
void mgri_cbor_text(mgri_buf *b, const char *p,
                    size_t n); /* caller checked UTF-8 */
void mgri_cbor_bytes(mgri_buf *b, const void *p, size_t n);
void mgri_cbor_array(mgri_buf *b, size_t n);
void mgri_cbor_map(mgri_buf *b, size_t npairs);
void mgri_cbor_ref(mgri_buf *b, uint32_t kind, uint64_t id);
/* Encodes a whole value, checking what the decoder would reject (invalid UTF-8,
 * depth > MGRI_DEPTH_MAX, duplicate or unhashable map keys, NaN keys, bad ref
 * kind/id, NULL pointer with length). Returns MGR_OK, MGR_EINVAL (nothing of v
 * appended) or b->err. */
int mgri_cbor_value(mgri_buf *b, const mgr_value *v);
/* The same for v nested inside a message at `depth` (the frame's top item is
 * 1, so a reply's result is at 2, a request's argument at 3): MGR_EINVAL when
 * v's own nesting would take the item past MGRI_DEPTH_MAX. */
int mgri_cbor_value_at(mgri_buf *b, const mgr_value *v, unsigned depth);

/* The bytes mgri_cbor_value would append for a valid v, computed without
 * encoding; the walk stops once the count passes cap, so the result is
 * exact when <= cap and some number > cap otherwise. */
size_t mgri_cbor_size(const mgr_value *v, size_t cap);

/* --- decoder ----------------------------------------------------------------
 * Decodes exactly one item spanning all of p[0..n) into *out; the tree and its
 * strings (NUL-terminated copies) live in arena a, except strings of at least
 * lim->borrow_min bytes when it is set, which point into p (not
 * NUL-terminated). Returns MGR_OK, or an error
 * with *err filled (err may be NULL). Never reads past p+n; allocates nothing
 * from a declared length before checking that the input could hold it. */
int mgri_cbor_decode(const uint8_t *p, size_t n, const mgri_limits *lim,
                     mgri_arena *a, mgr_value *out, mgri_decode_error *err);

/* A string whose payload is not in the input (a large one a receiver read
 * into a block of its own): the text or bytes head ending at input offset
 * `at` declares n bytes, and they are at p instead of following the head.
 * The decoded string points to p; `used` says whether the decoder met it
 * (a decoding that succeeds without meeting it is refused: EDECODE).
 * Offsets in errors count the hole's bytes where they belong. */
typedef struct mgri_hole {
  size_t at;
  const uint8_t *p;
  size_t n;
  bool used;
} mgri_hole;
/* mgri_cbor_decode over an input with a hole (NULL: none). */
int mgri_cbor_decode_hole(const uint8_t *p, size_t n, const mgri_limits *lim,
                          mgri_arena *a, mgr_value *out, mgri_decode_error *err,
                          mgri_hole *hole);

#endif
