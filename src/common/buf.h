/* mgr — a growable byte buffer with a hard maximum and a sticky error, used
 * by the encoder and by connections' input/output. */
#ifndef MGRI_BUF_H
#define MGRI_BUF_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "common/mem.h"

/* Strings at least this long are sent from where they are (gather)
 * rather than copied into a connection's output buffer. */
#define MGRI_GATHER_MIN 4096u

/* Most referenced segments one buffer holds (mgri_buf_append_ref). */
#define MGRI_BUF_REFS 4

/* A segment of the buffer's contents held by reference: n bytes at p, which
 * come logically before data[at]. */
typedef struct mgri_buf_ref {
  size_t at;
  const uint8_t *p;
  size_t n;
} mgri_buf_ref;

typedef struct mgri_buf {
  uint8_t *data;
  size_t len;    /* bytes held */
  size_t cap;    /* bytes allocated */
  size_t max;    /* len may never exceed it; 0 = SIZE_MAX */
  int err;       /* first error (MGR_ENOMEM, MGR_ETOOBIG), sticky; 0 if none */
  mgri_mem *mem; /* NULL: plain malloc */
  unsigned cat;
  /* Gather: with ref_min > 0, mgri_buf_append_ref takes a run of at least
   * ref_min bytes by reference instead of copying it (the caller keeps it
   * alive and unchanged until the buffer is cleared), up to MGRI_BUF_REFS
   * runs. The contents are then data with refs[i] inserted before
   * data[refs[i].at]: mgri_buf_total() bytes, sent with mgri_buf_iov().
   * A referenced run counts against max as if it were copied. */
  size_t ref_min;
  size_t nrefs;
  size_t ref_bytes; /* the refs' bytes */
  mgri_buf_ref refs[MGRI_BUF_REFS];
} mgri_buf;

void mgri_buf_init(mgri_buf *b, size_t max);
/* Counts the buffer's memory in mem/cat from now on (before it allocates). */
void mgri_buf_set_mem(mgri_buf *b, mgri_mem *mem, unsigned cat);
void mgri_buf_fini(mgri_buf *b);
/* Ensures room for n more bytes. MGR_OK, or sets and returns b->err. */
int mgri_buf_reserve(mgri_buf *b, size_t n);
/* Room for n more bytes at the end (not yet counted in len), or NULL with
 * b->err set (also NULL once b->err is set). The caller writes up to n bytes
 * there and adds what it wrote to len. */
uint8_t *mgri_buf_room_slow(mgri_buf *b, size_t n);
static inline uint8_t *mgri_buf_room(mgri_buf *b, size_t n) {
  /* The encoder's hot path: no call while the bytes fit (cap and max). */
  size_t max = b->max ? b->max : SIZE_MAX;
  if (!b->err && n <= b->cap - b->len && b->len <= max && n <= max - b->len)
    return b->data + b->len;
  return mgri_buf_room_slow(b, n);
}
/* Appends n bytes (no-op once b->err is set). */
static inline void mgri_buf_append(mgri_buf *b, const void *p, size_t n) {
  if (n == 0) return;
  uint8_t *d = mgri_buf_room(b, n);
  if (!d) return;
  memcpy(d, p, n);
  b->len += n;
}
/* Appends n bytes, by reference when b->ref_min allows (see mgri_buf). */
void mgri_buf_append_ref_slow(mgri_buf *b, const void *p, size_t n);
static inline void mgri_buf_append_ref(mgri_buf *b, const void *p, size_t n) {
  if (b->ref_min && n >= b->ref_min && b->nrefs < MGRI_BUF_REFS)
    mgri_buf_append_ref_slow(b, p, n);
  else
    mgri_buf_append(b, p, n);
}
/* The contents' length: len plus the referenced bytes. */
static inline size_t mgri_buf_total(const mgri_buf *b) {
  return b->len + b->ref_bytes;
}
/* Drops the references after data offset at (a failed frame's: one at
 * `at` itself comes before data[at], the end of what went before). */
void mgri_buf_drop_refs(mgri_buf *b, size_t at);
struct iovec;
/* Fills up to max iovecs with the contents from offset off (of
 * mgri_buf_total()) on; returns how many (0 when nothing is left). */
size_t mgri_buf_iov(const mgri_buf *b, size_t off, struct iovec *iov,
                    size_t max);
/* Drops the first n bytes (n <= len). */
void mgri_buf_consume(mgri_buf *b, size_t n);
/* len = 0, err = 0, no references; keeps the memory. */
void mgri_buf_clear(mgri_buf *b);
/* Gives the memory back when the buffer is empty and holds more than
 * MGRI_IDLE_BUF_MAX bytes. */
void mgri_buf_shrink(mgri_buf *b);

#endif
