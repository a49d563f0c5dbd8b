/* mgr — the shared-memory segment (spec 2.10): making it (server), mapping
 * and checking it (client), the rings' checked copies, the futex. */
#include "net/shm.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "mgr/error.h"

/* err (cap > 0 bytes) is required: every caller says why a segment failed. */
#define ERR(...) ((void)snprintf(err, cap, __VA_ARGS__))

int64_t mgri_shm_read(const uint8_t *d, uint32_t ring, uint64_t *head,
                      uint64_t tail, void *dst, size_t n) {
  int64_t avail = mgri_shm_avail(ring, *head, tail);
  if (avail < 0) return -1;
  if ((uint64_t)avail < n) n = (size_t)avail;
  size_t o = (size_t)(*head & (ring - 1)), first = ring - o < n ? ring - o : n;
  memcpy(dst, d + o, first);
  if (n > first) memcpy((uint8_t *)dst + first, d, n - first);
  *head += n;
  return (int64_t)n;
}

int64_t mgri_shm_write(uint8_t *d, uint32_t ring, uint64_t *tail, uint64_t head,
                       const void *src, size_t n) {
  int64_t room = mgri_shm_room(ring, *tail, head);
  if (room < 0) return -1;
  if ((uint64_t)room < n) n = (size_t)room;
  size_t o = (size_t)(*tail & (ring - 1)), first = ring - o < n ? ring - o : n;
  memcpy(d + o, src, first);
  if (n > first) memcpy(d, (const uint8_t *)src + first, n - first);
  *tail += n;
  return (int64_t)n;
}

static void layout(mgri_shm *s, uint8_t *base, uint32_t ring) {
  s->base = base;
  s->ring = ring;
  s->bytes = MGRI_SHM_HEADER + 2 * (size_t)ring;
  s->req = base + MGRI_SHM_HEADER;
  s->rep = s->req + ring;
}

int mgri_shm_create(uint32_t ring, mgri_shm *s, int *fd, char *err,
                    size_t cap) {
  memset(s, 0, sizeof *s);
  *fd = -1;
  size_t bytes = MGRI_SHM_HEADER + 2 * (size_t)ring;
  int f = memfd_create("mgr-shm", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (f < 0) {
    ERR("memfd_create: %s", strerror(errno));
    return MGR_ESYS;
  }
  if (ftruncate(f, (off_t)bytes) != 0 ||
      fcntl(f, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) != 0) {
    int e = errno;
    ERR("shared memory: %s", strerror(e));
    close(f);
    errno = e;
    return MGR_ESYS;
  }
  void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, f, 0);
  if (p == MAP_FAILED) {
    int e = errno;
    ERR("mmap: %s", strerror(e));
    close(f);
    errno = e;
    return MGR_ESYS;
  }
  /* A process embedding the server that forks keeps its rings to itself. */
  (void)madvise(p, bytes, MADV_DONTFORK);
  layout(s, p, ring);
  *mgri_shm_w32(s, MGRI_SHM_O_VERSION) = MGRI_SHM_VERSION;
  *mgri_shm_w32(s, MGRI_SHM_O_RING) = ring;
  *mgri_shm_w64(s, MGRI_SHM_O_BYTES) = bytes;
  mgri_shm_store32(s, MGRI_SHM_O_MAGIC, MGRI_SHM_MAGIC);
  *fd = f;
  return MGR_OK;
}

int mgri_shm_attach(int fd, uint64_t bytes, mgri_shm *s, char *err,
                    size_t cap) {
  memset(s, 0, sizeof *s);
  struct stat st;
  if (fstat(fd, &st) != 0) {
    ERR("shared memory: %s", strerror(errno));
    return MGR_ESYS;
  }
  int seals = fcntl(fd, F_GET_SEALS);
  if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size != bytes ||
      bytes < MGRI_SHM_HEADER + 2 * (uint64_t)MGRI_SHM_RING_MIN ||
      bytes > MGRI_SHM_HEADER + 2 * (uint64_t)MGRI_SHM_RING_MAX || seals < 0 ||
      (seals & (F_SEAL_SHRINK | F_SEAL_GROW)) !=
          (F_SEAL_SHRINK | F_SEAL_GROW)) {
    ERR("the manager's shared memory is not a sealed segment of %llu bytes",
        (unsigned long long)bytes);
    return MGR_EPROTO;
  }
  void *p =
      mmap(NULL, (size_t)bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED) {
    ERR("mmap: %s", strerror(errno));
    return MGR_ESYS;
  }
  /* Spec 2.10.7: a forked child never uses its parent's rings. */
  (void)madvise(p, (size_t)bytes, MADV_DONTFORK);
  const uint8_t *b = p;
  uint32_t magic, version, ring;
  uint64_t have;
  memcpy(&magic, b + MGRI_SHM_O_MAGIC, 4);
  memcpy(&version, b + MGRI_SHM_O_VERSION, 4);
  memcpy(&ring, b + MGRI_SHM_O_RING, 4);
  memcpy(&have, b + MGRI_SHM_O_BYTES, 8);
  if (magic != MGRI_SHM_MAGIC || version != MGRI_SHM_VERSION ||
      ring < MGRI_SHM_RING_MIN || ring > MGRI_SHM_RING_MAX ||
      (ring & (ring - 1)) || have != bytes ||
      bytes != MGRI_SHM_HEADER + 2 * (uint64_t)ring) {
    munmap(p, (size_t)bytes);
    ERR("the manager's shared memory has an unknown layout");
    return MGR_EPROTO;
  }
  layout(s, p, ring);
  return MGR_OK;
}

void mgri_shm_detach(mgri_shm *s) {
  if (s->base) munmap(s->base, s->bytes);
  memset(s, 0, sizeof *s);
}

int mgri_shm_futex_wait(uint32_t *w, uint32_t val, const struct timespec *rel) {
  long r = syscall(SYS_futex, w, FUTEX_WAIT, val, rel, NULL, 0);
  if (r == 0 || errno == EAGAIN) return 0;
  return -1;
}

void mgri_shm_futex_wake(uint32_t *w) {
  (void)syscall(SYS_futex, w, FUTEX_WAKE, 1, NULL, NULL, 0);
}

unsigned mgri_shm_cpus(void) {
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof set, &set) != 0) return 1;
  int n = CPU_COUNT(&set);
  return n > 0 ? (unsigned)n : 1;
}

uint32_t mgri_shm_cpu(void) {
  int c = sched_getcpu();
  return c < 0 ? UINT32_MAX : (uint32_t)c;
}

int64_t mgri_shm_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}
