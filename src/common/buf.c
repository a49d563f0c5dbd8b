/* mgr — a growable byte buffer with a hard maximum and a sticky error: the
 * encoder's output and connections' input/output buffers. */
#include "common/buf.h"

#include <string.h>

#include "common/limits.h"
#include "mgr/error.h"

#define BUF_MIN 64u

void mgri_buf_init(mgri_buf *b, size_t max) {
  b->data = NULL;
  b->len = 0;
  b->cap = 0;
  b->max = max ? max : SIZE_MAX;
  b->err = 0;
  b->mem = NULL;
  b->cat = 0;
}

void mgri_buf_set_mem(mgri_buf *b, mgri_mem *mem, unsigned cat) {
  b->mem = mem;
  b->cat = cat;
}

void mgri_buf_fini(mgri_buf *b) {
  mgri_mem_free(b->mem, b->cat, b->data);
  b->data = NULL;
  b->len = b->cap = 0;
}

int mgri_buf_reserve(mgri_buf *b, size_t n) {
  if (b->err) return b->err;
  size_t max = b->max ? b->max : SIZE_MAX;
  if (n > max || b->len > max - n) return b->err = MGR_ETOOBIG;
  size_t need = b->len + n;
  if (need <= b->cap) return MGR_OK;
  size_t cap = b->cap ? b->cap : BUF_MIN;
  while (cap < need) cap = cap > SIZE_MAX / 2 ? SIZE_MAX : cap * 2;
  if (cap > max) cap = max;
  uint8_t *d = mgri_mem_realloc(b->mem, b->cat, b->data, cap);
  if (!d) return b->err = MGR_ENOMEM;
  b->data = d;
  b->cap = cap;
  return MGR_OK;
}

uint8_t *mgri_buf_room_slow(mgri_buf *b, size_t n) {
  return mgri_buf_reserve(b, n) == MGR_OK ? b->data + b->len : NULL;
}

void mgri_buf_consume(mgri_buf *b, size_t n) {
  if (n >= b->len) {
    b->len = 0;
    return;
  }
  memmove(b->data, b->data + n, b->len - n);
  b->len -= n;
}

void mgri_buf_clear(mgri_buf *b) {
  b->len = 0;
  b->err = 0;
}

void mgri_buf_shrink(mgri_buf *b) {
  if (b->len || b->cap <= MGRI_IDLE_BUF_MAX) return;
  mgri_mem_free(b->mem, b->cat, b->data);
  b->data = NULL;
  b->cap = 0;
}
