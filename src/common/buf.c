/* mgr — a growable byte buffer with a hard maximum and a sticky error: the
 * encoder's output and connections' input/output buffers. */
#include "common/buf.h"

#include <string.h>
#include <sys/uio.h>

#include "common/limits.h"
#include "mgr/error.h"

#define BUF_MIN 64u
#define BUF_LARGE ((size_t)64 << 10)

void mgri_buf_init(mgri_buf *b, size_t max) {
  b->data = NULL;
  b->len = 0;
  b->cap = 0;
  b->max = max ? max : SIZE_MAX;
  b->err = 0;
  b->mem = NULL;
  b->cat = 0;
  b->ref_min = 0;
  b->nrefs = 0;
  b->ref_bytes = 0;
}

void mgri_buf_set_mem(mgri_buf *b, mgri_mem *mem, unsigned cat) {
  b->mem = mem;
  b->cat = cat;
}

void mgri_buf_fini(mgri_buf *b) {
  mgri_mem_free(b->mem, b->cat, b->data);
  b->data = NULL;
  b->len = b->cap = 0;
  b->nrefs = b->ref_bytes = 0;
}

int mgri_buf_reserve(mgri_buf *b, size_t n) {
  if (b->err) return b->err;
  size_t max = b->max ? b->max : SIZE_MAX;
  if (n > max || b->len > max - n) return b->err = MGR_ETOOBIG;
  size_t need = b->len + n;
  if (need <= b->cap) return MGR_OK;
  size_t cap = b->cap ? b->cap : BUF_MIN;
  while (cap < need)
    cap = cap > SIZE_MAX / 2 ? SIZE_MAX : cap * 2;
  /* A large buffer grows to what is needed when that is more than double
   * (a 16 MiB value's buffer is not 32 MiB); small ones by powers of two,
   * as ever. */
  if (need > BUF_LARGE)
    cap = b->cap <= SIZE_MAX / 2 && need < 2 * b->cap ? 2 * b->cap : need;
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
  b->nrefs = 0;
  b->ref_bytes = 0;
}

void mgri_buf_append_ref_slow(mgri_buf *b, const void *p, size_t n) {
  if (b->err) return;
  /* Counted against max as a copy would be: the frame's cap holds. */
  size_t max = b->max ? b->max : SIZE_MAX;
  if (n > max || b->len > max - n) {
    b->err = MGR_ETOOBIG;
    return;
  }
  b->refs[b->nrefs].at = b->len;
  b->refs[b->nrefs].p = p;
  b->refs[b->nrefs].n = n;
  b->nrefs++;
  b->ref_bytes += n;
  b->max = max - n;
}

void mgri_buf_drop_refs(mgri_buf *b, size_t at) {
  while (b->nrefs && b->refs[b->nrefs - 1].at > at) {
    b->nrefs--;
    b->ref_bytes -= b->refs[b->nrefs].n;
  }
}

size_t mgri_buf_iov(const mgri_buf *b, size_t off, struct iovec *iov,
                    size_t max) {
  size_t k = 0, from = 0; /* from: data offset the next piece starts at */
  for (size_t i = 0; i <= b->nrefs && k < max; i++) {
    size_t to = i < b->nrefs ? b->refs[i].at : b->len;
    /* data[from, to), then refs[i] */
    size_t n = to - from;
    if (off >= n) {
      off -= n;
    } else {
      iov[k].iov_base = b->data + from + off;
      iov[k].iov_len = n - off;
      k++;
      off = 0;
    }
    from = to;
    if (i == b->nrefs || k == max) break;
    n = b->refs[i].n;
    if (off >= n) {
      off -= n;
    } else {
      iov[k].iov_base = (void *)(b->refs[i].p + off);
      iov[k].iov_len = n - off;
      k++;
      off = 0;
    }
  }
  return k;
}

void mgri_buf_shrink(mgri_buf *b) {
  if (b->len || b->cap <= MGRI_IDLE_BUF_MAX) return;
  mgri_mem_free(b->mem, b->cat, b->data);
  b->data = NULL;
  b->cap = 0;
}
