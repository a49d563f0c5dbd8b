/* mgr — the shared-memory transport both sides share (spec 2.10): a
 * segment (a sealed memfd the server makes and passes over the Unix socket)
 * holding a request ring and a reply ring that carry the same frames as the
 * socket, the control words of both rings, and the waiting protocol (spin,
 * then a futex for the client, an eventfd "bell" for the server's loop).
 * Every word read from the segment is the peer's and may be garbage: the
 * ring functions check it, and bytes are copied out of a ring before
 * anything parses them. */
#ifndef MGRI_NET_SHM_H
#define MGRI_NET_SHM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "common/limits.h"

/* The segment's layout (spec 2.10.3): byte offsets, native byte order. */
#define MGRI_SHM_MAGIC 0x314d4853u /* "SHM1" in the first four bytes */
#define MGRI_SHM_VERSION 1u
#define MGRI_SHM_O_MAGIC 0       /* u32 */
#define MGRI_SHM_O_VERSION 4     /* u32 */
#define MGRI_SHM_O_RING 8        /* u32: bytes of each ring */
#define MGRI_SHM_O_BYTES 16      /* u64: bytes of the segment */
#define MGRI_SHM_O_REQ_TAIL 64   /* u64, client: request bytes written */
#define MGRI_SHM_O_REP_HEAD 72   /* u64, client: reply bytes read */
#define MGRI_SHM_O_CLI_WAIT 80   /* u32, client: 1 while it may sleep */
#define MGRI_SHM_O_CLI_CPU 84    /* u32, client: the CPU it last ran on */
#define MGRI_SHM_O_REQ_HEAD 128  /* u64, server: request bytes read */
#define MGRI_SHM_O_REP_TAIL 136  /* u64, server: reply bytes written */
#define MGRI_SHM_O_CLI_FUTEX 144 /* u32, server: the client's futex word */
#define MGRI_SHM_O_SRV_BELL 148  /* u32, server: 1 = ring the bell */
#define MGRI_SHM_O_SRV_GONE 152  /* u32, server: 1 = the connection closed */
#define MGRI_SHM_O_SPIN 156      /* u32, server: the client's spin, ns */
#define MGRI_SHM_O_SRV_CPU 160   /* u32, server: the CPU it last ran on */

/* A mapped segment. */
typedef struct mgri_shm {
  uint8_t *base; /* NULL: none */
  size_t bytes;  /* MGRI_SHM_HEADER + 2 x ring */
  uint32_t ring; /* bytes of each ring (a power of two) */
  uint8_t *req;  /* the request ring's data */
  uint8_t *rep;  /* the reply ring's data */
} mgri_shm;

static inline uint64_t *mgri_shm_w64(const mgri_shm *s, size_t off) {
  return (uint64_t *)(void *)(s->base + off);
}
static inline uint32_t *mgri_shm_w32(const mgri_shm *s, size_t off) {
  return (uint32_t *)(void *)(s->base + off);
}
static inline uint64_t mgri_shm_load64(const mgri_shm *s, size_t off) {
  return __atomic_load_n(mgri_shm_w64(s, off), __ATOMIC_SEQ_CST);
}
static inline void mgri_shm_store64(const mgri_shm *s, size_t off, uint64_t v) {
  __atomic_store_n(mgri_shm_w64(s, off), v, __ATOMIC_SEQ_CST);
}
static inline uint32_t mgri_shm_load32(const mgri_shm *s, size_t off) {
  return __atomic_load_n(mgri_shm_w32(s, off), __ATOMIC_SEQ_CST);
}
static inline void mgri_shm_store32(const mgri_shm *s, size_t off, uint32_t v) {
  __atomic_store_n(mgri_shm_w32(s, off), v, __ATOMIC_SEQ_CST);
}

/* Bytes readable in a ring whose reader is at head (its own copy) and
 * whose writer's word says tail: -1 when tail is not within
 * [head, head + ring] (a peer that scribbled on its words). */
static inline int64_t mgri_shm_avail(uint32_t ring, uint64_t head,
                                     uint64_t tail) {
  uint64_t n = tail - head;
  return n > ring ? -1 : (int64_t)n;
}
/* Room in a ring whose writer is at tail (its own copy) and whose reader's
 * word says head: -1 when head is not within [tail - ring, tail]. */
static inline int64_t mgri_shm_room(uint32_t ring, uint64_t tail,
                                    uint64_t head) {
  uint64_t used = tail - head;
  return used > ring ? -1 : (int64_t)(ring - used);
}

/* Reads up to n bytes of ring data d (ring bytes, a power of two) from
 * stream position *head, the writer at tail: copies them into dst and
 * advances *head. The bytes copied (0: empty), or -1 when tail is garbage
 * (nothing copied). */
int64_t mgri_shm_read(const uint8_t *d, uint32_t ring, uint64_t *head,
                      uint64_t tail, void *dst, size_t n);
/* Writes up to n bytes of src into ring data d at stream position *tail,
 * the reader at head; advances *tail. The bytes written (0: full), or -1
 * when head is garbage (nothing written). */
int64_t mgri_shm_write(uint8_t *d, uint32_t ring, uint64_t *tail, uint64_t head,
                       const void *src, size_t n);

/* mgri_shm_create and mgri_shm_attach write why they failed into err, of
 * cap > 0 bytes (required). */
/* The server's side: a new segment with rings of `ring` bytes in a sealed
 * memfd (it can be neither shrunk nor grown: a peer holding it cannot make
 * the server's accesses fault). *fd is the memfd to pass. MGR_OK,
 * MGR_ESYS (detail in err). */
int mgri_shm_create(uint32_t ring, mgri_shm *s, int *fd, char *err, size_t cap);
/* The client's side: maps the memfd it was passed, checking its size, its
 * seals and the header (magic, version, a ring size within
 * MGRI_SHM_RING_MIN..MGRI_SHM_RING_MAX, a power of two, the bytes). The
 * mapping is not inherited by fork() (MADV_DONTFORK): a child never
 * touches its parent's rings. MGR_OK, MGR_EPROTO (not a segment of ours),
 * MGR_ESYS. */
int mgri_shm_attach(int fd, uint64_t bytes, mgri_shm *s, char *err, size_t cap);
void mgri_shm_detach(mgri_shm *s);

/* The futex of word w (shared between processes): waits while *w == val,
 * at most rel (NULL: no limit). 0 woken or *w != val, -1 with errno
 * (ETIMEDOUT, EINTR). */
int mgri_shm_futex_wait(uint32_t *w, uint32_t val, const struct timespec *rel);
void mgri_shm_futex_wake(uint32_t *w);
/* Spinning's pause. */
static inline void mgri_shm_pause(void) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  __asm__ __volatile__("yield");
#else
  __atomic_signal_fence(__ATOMIC_SEQ_CST);
#endif
}
/* The CPUs this process may run on (sched_getaffinity; 1 when unknown). */
unsigned mgri_shm_cpus(void);
/* The CPU this thread runs on now (sched_getcpu; UINT32_MAX unknown). */
uint32_t mgri_shm_cpu(void);
/* A monotonic clock in nanoseconds. */
int64_t mgri_shm_now(void);

#endif
