/* mgr — the arena: a chunked bump allocator. A reset keeps one chunk no
 * larger than MGRI_IDLE_BUF_MAX, so decoding one small message after another
 * allocates nothing, and one large message leaves nothing large behind. */
#include "common/arena.h"

#include <stdint.h>

#include "common/limits.h"

#define ALIGN 16u
#define CHUNK_MIN 4096u

struct mgri_arena_chunk {
  mgri_arena_chunk *next;
  size_t size; /* usable bytes after the header */
  size_t used;
  size_t pad_; /* keeps the data after the header 16-byte aligned */
};

_Static_assert(sizeof(mgri_arena_chunk) % ALIGN == 0, "chunk header alignment");
_Static_assert(CHUNK_MIN + sizeof(mgri_arena_chunk) <= MGRI_IDLE_BUF_MAX,
               "the first chunk is kept across resets");

static uint8_t *chunk_data(mgri_arena_chunk *c) { return (uint8_t *)(c + 1); }

void mgri_arena_init(mgri_arena *a, size_t limit) {
  a->head = NULL;
  a->used = 0;
  a->limit = limit;
  a->mem = NULL;
  a->cat = 0;
}

void mgri_arena_set_mem(mgri_arena *a, mgri_mem *mem, unsigned cat) {
  a->mem = mem;
  a->cat = cat;
}

void *mgri_arena_alloc(mgri_arena *a, size_t n) {
  if (n > SIZE_MAX - (ALIGN - 1)) return NULL;
  size_t need = (n + ALIGN - 1) & ~(size_t)(ALIGN - 1);
  if (a->limit && (need > a->limit || a->used > a->limit - need)) return NULL;
  mgri_arena_chunk *c = a->head;
  if (!c || c->size - c->used < need) {
    /* Doubling keeps the number of chunks logarithmic in the message size. */
    size_t size = c && c->size <= SIZE_MAX / 2 ? c->size * 2 : CHUNK_MIN;
    if (size < need) size = need;
    if (size < CHUNK_MIN) size = CHUNK_MIN;
    if (size > SIZE_MAX - sizeof *c) return NULL;
    mgri_arena_chunk *nc = mgri_mem_alloc(a->mem, a->cat, sizeof *nc + size);
    if (!nc) return NULL;
    nc->next = c;
    nc->size = size;
    nc->used = 0;
    nc->pad_ = 0;
    a->head = c = nc;
  }
  void *p = chunk_data(c) + c->used;
  c->used += need;
  a->used += need;
  return p;
}

void mgri_arena_reset(mgri_arena *a) {
  /* The common case, once per request: one small chunk, kept as it is. */
  mgri_arena_chunk *h = a->head;
  if (h && !h->next && sizeof *h + h->size <= MGRI_IDLE_BUF_MAX) {
    h->used = 0;
    a->used = 0;
    return;
  }
  /* Keep the largest chunk that is small enough. */
  mgri_arena_chunk *keep = NULL;
  for (mgri_arena_chunk *c = a->head; c; c = c->next)
    if (sizeof *c + c->size <= MGRI_IDLE_BUF_MAX &&
        (!keep || c->size > keep->size))
      keep = c;
  mgri_arena_chunk *c = a->head;
  while (c) {
    mgri_arena_chunk *next = c->next;
    if (c != keep) mgri_mem_free(a->mem, a->cat, c);
    c = next;
  }
  if (keep) {
    keep->next = NULL;
    keep->used = 0;
  }
  a->head = keep;
  a->used = 0;
}

void mgri_arena_fini(mgri_arena *a) {
  mgri_arena_chunk *c = a->head;
  while (c) {
    mgri_arena_chunk *next = c->next;
    mgri_mem_free(a->mem, a->cat, c);
    c = next;
  }
  a->head = NULL;
  a->used = 0;
}

size_t mgri_arena_held(const mgri_arena *a) {
  size_t n = 0;
  for (const mgri_arena_chunk *c = a->head; c; c = c->next)
    n += sizeof *c + c->size;
  return n;
}
