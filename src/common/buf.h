/* mgr — a growable byte buffer with a hard maximum and a sticky error, used
 * by the encoder and by connections' input/output. */
#ifndef MGRI_BUF_H
#define MGRI_BUF_H

#include <stddef.h>
#include <stdint.h>

typedef struct mgri_buf {
  uint8_t *data;
  size_t len; /* bytes held */
  size_t cap; /* bytes allocated */
  size_t max; /* len may never exceed it; 0 = SIZE_MAX */
  int err;    /* first error (MGR_ENOMEM, MGR_ETOOBIG), sticky; 0 if none */
} mgri_buf;

void mgri_buf_init(mgri_buf *b, size_t max);
void mgri_buf_fini(mgri_buf *b);
/* Ensures room for n more bytes. MGR_OK, or sets and returns b->err. */
int mgri_buf_reserve(mgri_buf *b, size_t n);
/* Appends n bytes (no-op once b->err is set). */
void mgri_buf_append(mgri_buf *b, const void *p, size_t n);
/* Drops the first n bytes (n <= len). */
void mgri_buf_consume(mgri_buf *b, size_t n);
/* len = 0, err = 0; keeps the memory. */
void mgri_buf_clear(mgri_buf *b);

#endif
