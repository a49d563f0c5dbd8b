/* mgr — the frame reader: cuts a byte stream into frame bodies (4-byte
 * big-endian length, then the body). Bounded: the buffer never grows past
 * frame_max + header + MGRI_READER_SLACK, and a bad length is refused from its
 * 4 header bytes, before any of the body is buffered. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/limits.h"
#include "mgr/error.h"
#include "proto.h"

/* The reader owns r->in.data itself (through r->mem); it never calls the
 * mgri_buf_* functions, so its growth and compaction policy is its own. */

#define MIN_CAP 4096u
#define LARGE ((size_t)64 << 10)

static size_t bound(const mgri_reader *r) {
  return (size_t)r->frame_max + MGRI_FRAME_HEADER + MGRI_READER_SLACK;
}

static size_t pending(const mgri_reader *r) { return r->in.len - r->pos; }

static int fail(mgri_reader *r, int err) {
  r->err = err;
  return err;
}

void mgri_reader_init(mgri_reader *r, uint32_t frame_max) {
  memset(r, 0, sizeof *r);
  if (frame_max == 0) frame_max = MGRI_FRAME_MAX_DEFAULT;
  if (frame_max > MGRI_FRAME_MAX_CEIL) frame_max = MGRI_FRAME_MAX_CEIL;
  r->frame_max = frame_max;
  r->in.max = bound(r);
  r->keep = MGRI_IDLE_BUF_MAX;
}

void mgri_reader_fini(mgri_reader *r) {
  mgri_mem_free(r->mem, r->cat, r->in.data);
  memset(r, 0, sizeof *r);
}

void mgri_reader_set_mem(mgri_reader *r, mgri_mem *mem, unsigned cat) {
  r->mem = mem;
  r->cat = cat;
}

void mgri_reader_set_max(mgri_reader *r, uint32_t frame_max) {
  if (frame_max == 0) frame_max = MGRI_FRAME_MAX_DEFAULT;
  if (frame_max > MGRI_FRAME_MAX_CEIL) frame_max = MGRI_FRAME_MAX_CEIL;
  r->frame_max = frame_max;
  r->in.max = bound(r);
}

size_t mgri_reader_want(const mgri_reader *r) {
  size_t have = pending(r);
  if (have < MGRI_FRAME_HEADER) return MGRI_FRAME_HEADER - have;
  const uint8_t *h = r->in.data + r->pos;
  uint32_t n = (uint32_t)h[0] << 24 | (uint32_t)h[1] << 16 |
               (uint32_t)h[2] << 8 | (uint32_t)h[3];
  if (n == 0 || n > r->frame_max) return 0;
  size_t whole = MGRI_FRAME_HEADER + (size_t)n;
  return have >= whole ? 0 : whole - have;
}

/* Makes room for n more bytes after in.len (n <= bound - pending): first by
 * moving the unconsumed tail to the front when that suffices, else by growing
 * (geometrically, capped at the bound). */
static int room(mgri_reader *r, size_t n) {
  if (r->in.cap - r->in.len >= n) return MGR_OK;
  size_t keep = pending(r);
  if (r->pos > 0) {
    if (keep) memmove(r->in.data, r->in.data + r->pos, keep);
    r->offset += r->pos;
    r->in.len = keep;
    r->pos = 0;
    if (r->in.cap - keep >= n) return MGR_OK;
  }
  size_t need = keep + n, cap = r->in.cap ? r->in.cap : MIN_CAP;
  while (cap < need)
    cap *= 2;
  /* A large frame's whole length is asked for at once (want): its buffer,
   * which may be kept, grows to that (or double, if more), not to the next
   * power of two. */
  if (need > LARGE) cap = need < 2 * r->in.cap ? 2 * r->in.cap : need;
  if (cap > bound(r)) cap = bound(r);
  uint8_t *p = mgri_mem_realloc(r->mem, r->cat, r->in.data, cap);
  if (!p) {
    snprintf(r->errmsg, sizeof r->errmsg,
             "out of memory growing the input buffer to %zu bytes", cap);
    return fail(r, MGR_ENOMEM);
  }
  r->in.data = p;
  r->in.cap = cap;
  return MGR_OK;
}

/* An idle reader (nothing pending) gives back a buffer grown for a large
 * frame, as hiredis does, so thousands of idle connections do not each keep
 * frame_max bytes. Failing to shrink is harmless. */
static void shrink_idle(mgri_reader *r) {
  if (r->pos != r->in.len || r->in.cap <= MGRI_IDLE_BUF_MAX ||
      r->in.cap <= r->keep)
    return;
  r->offset += r->pos;
  r->pos = r->in.len = 0;
  /* Freed rather than shrunk in place: a realloc to a smaller size may keep
   * the whole block, and freeing cannot fail. */
  mgri_mem_free(r->mem, r->cat, r->in.data);
  r->in.data = NULL;
  r->in.cap = 0;
}

int mgri_reader_feed(mgri_reader *r, const void *p, size_t n) {
  if (r->err) return r->err;
  shrink_idle(r);
  if (n == 0) return MGR_OK;
  if (n > bound(r) - pending(r))
    return MGR_EINVAL; /* drain with next() first */
  int rc = room(r, n);
  if (rc) return rc;
  memcpy(r->in.data + r->in.len, p, n);
  r->in.len += n;
  return MGR_OK;
}

uint8_t *mgri_reader_prepare(mgri_reader *r, size_t want, size_t *avail) {
  *avail = 0;
  if (r->err) return NULL;
  shrink_idle(r);
  size_t most = bound(r) - pending(r);
  if (want == 0) want = 1;
  if (want > most) want = most;
  if (want == 0) return NULL; /* whole frames wait: drain with next() first */
  if (room(r, want)) return NULL;
  *avail = r->in.cap - r->in.len;
  return r->in.data + r->in.len;
}

void mgri_reader_clear_nomem(mgri_reader *r) {
  if (r->err == MGR_ENOMEM) r->err = 0;
}

void mgri_reader_commit(mgri_reader *r, size_t n) {
  if (r->err) return;
  if (n > r->in.cap - r->in.len) n = r->in.cap - r->in.len; /* misuse */
  r->in.len += n;
}

int mgri_reader_next(mgri_reader *r, const uint8_t **body, size_t *len) {
  if (r->err) return r->err;
  size_t have = pending(r);
  if (have == 0) {
    /* Every frame taken: a buffer grown for a large one goes back now, not
     * when the peer next sends (the body returned before is no longer
     * valid: this is a next() call). */
    shrink_idle(r);
    return 0;
  }
  if (have < MGRI_FRAME_HEADER) return 0;
  const uint8_t *h = r->in.data + r->pos;
  uint32_t n = (uint32_t)h[0] << 24 | (uint32_t)h[1] << 16 |
               (uint32_t)h[2] << 8 | (uint32_t)h[3];
  uint64_t at = r->offset + r->pos;
  r->err_offset = at;
  if (n == 0) {
    snprintf(r->errmsg, sizeof r->errmsg,
             "zero frame length at stream offset %llu", (unsigned long long)at);
    return fail(r, MGR_EDECODE);
  }
  if (n > r->frame_max) {
    snprintf(r->errmsg, sizeof r->errmsg,
             "frame length %lu > limit %lu at stream offset %llu",
             (unsigned long)n, (unsigned long)r->frame_max,
             (unsigned long long)at);
    return fail(r, MGR_ETOOBIG);
  }
  if (have - MGRI_FRAME_HEADER < n) return 0;
  *body = h + MGRI_FRAME_HEADER;
  *len = n;
  r->pos += MGRI_FRAME_HEADER + (size_t)n;
  if (r->pos == r->in.len) {
    /* Everything consumed: start over at the front without moving a byte
     * (the body stays readable until the next feed/prepare). */
    r->offset += r->pos;
    r->pos = r->in.len = 0;
  }
  return 1;
}

size_t mgri_reader_pending(const mgri_reader *r) { return pending(r); }

void mgri_reader_shrink(mgri_reader *r) {
  if (!r->err) shrink_idle(r);
}

void mgri_reader_set_keep(mgri_reader *r, size_t keep) {
  r->keep = keep < MGRI_IDLE_BUF_MAX ? MGRI_IDLE_BUF_MAX : keep;
}

size_t mgri_reader_held(const mgri_reader *r) { return r->in.cap; }

const uint8_t *mgri_reader_peek(const mgri_reader *r, size_t *n) {
  *n = pending(r);
  return r->in.data ? r->in.data + r->pos : NULL;
}

size_t mgri_reader_excise(mgri_reader *r, size_t at, size_t n, void *to) {
  uint8_t *h = r->in.data + r->pos;
  uint32_t len = (uint32_t)h[0] << 24 | (uint32_t)h[1] << 16 |
                 (uint32_t)h[2] << 8 | (uint32_t)h[3];
  size_t from = MGRI_FRAME_HEADER + at; /* in the pending bytes */
  size_t have = pending(r), moved = 0;
  if (have > from) {
    moved = have - from < n ? have - from : n;
    memcpy(to, h + from, moved);
    memmove(h + from, h + from + moved, have - from - moved);
    r->in.len -= moved;
  }
  len -= (uint32_t)n;
  /* The stream holds the cut bytes too: later offsets count them (the
   * frame's own header was checked already). */
  r->offset += n;
  h[0] = (uint8_t)(len >> 24);
  h[1] = (uint8_t)(len >> 16);
  h[2] = (uint8_t)(len >> 8);
  h[3] = (uint8_t)len;
  return moved;
}

void mgri_reader_take(mgri_reader *r, size_t n, size_t past) {
  if (n > pending(r)) n = pending(r); /* misuse */
  r->pos += n;
  if (r->pos == r->in.len) {
    r->offset += r->pos;
    r->pos = r->in.len = 0;
  }
  r->offset += past;
}
