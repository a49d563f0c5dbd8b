/* mgr tests — the shared-memory transport's segment and rings (src/net/shm.c,
 * spec 2.10.3): checked copies (empty, full, wraparound, garbage positions),
 * making a sealed segment and the client's checks before it maps one. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "mgr/error.h"
#include "net/shm.h"

enum { RING = 16 };

static void test_empty_and_full(void **state) {
  (void)state;
  uint8_t d[RING] = {0}, out[RING + 4];
  uint64_t head = 0, tail = 0;
  /* Empty: nothing to read. */
  assert_int_equal(mgri_shm_read(d, RING, &head, tail, out, 4), 0);
  assert_int_equal(head, 0);
  /* Fill it exactly: the rest of a longer write does not fit. */
  uint8_t in[RING + 4];
  for (int i = 0; i < RING + 4; i++)
    in[i] = (uint8_t)(i + 1);
  assert_int_equal(mgri_shm_write(d, RING, &tail, head, in, RING + 4), RING);
  assert_int_equal(tail, RING);
  /* Full: no room at all. */
  assert_int_equal(mgri_shm_write(d, RING, &tail, head, in, 1), 0);
  assert_int_equal(mgri_shm_room(RING, tail, head), 0);
  assert_int_equal(mgri_shm_avail(RING, head, tail), RING);
  /* A read asks for more than there is: it gets what there is. */
  assert_int_equal(mgri_shm_read(d, RING, &head, tail, out, sizeof out), RING);
  assert_memory_equal(out, in, RING);
  assert_int_equal(head, tail);
  assert_int_equal(mgri_shm_read(d, RING, &head, tail, out, 1), 0);
}

static void test_wraparound(void **state) {
  (void)state;
  uint8_t d[RING], out[RING];
  memset(d, 0xee, sizeof d);
  /* Positions near the top of the u64 range: the stream wraps the ring and
   * the counter wraps 2^64, and both come out right. */
  uint64_t start = UINT64_MAX - 5;
  uint64_t head = start, tail = start;
  uint8_t in[3 * RING];
  for (size_t i = 0; i < sizeof in; i++)
    in[i] = (uint8_t)(i * 7 + 3);
  size_t wrote = 0, read = 0;
  /* Writes of 5 and reads of 3: every offset of the ring is crossed. */
  while (read < sizeof in) {
    if (wrote < sizeof in) {
      size_t n = sizeof in - wrote < 5 ? sizeof in - wrote : 5;
      int64_t w = mgri_shm_write(d, RING, &tail, head, in + wrote, n);
      assert_true(w >= 0);
      wrote += (size_t)w;
    }
    int64_t r = mgri_shm_read(d, RING, &head, tail, out, 3);
    assert_true(r >= 0);
    assert_memory_equal(out, in + read, (size_t)r);
    read += (size_t)r;
    assert_true(mgri_shm_avail(RING, head, tail) >= 0);
  }
  assert_int_equal(head, start + sizeof in);
  assert_int_equal(tail, head);
  /* A frame that crosses the end of the ring's data. */
  head = tail = 13;
  assert_int_equal(mgri_shm_write(d, RING, &tail, head, in, 8), 8);
  assert_memory_equal(d + 13, in, 3);
  assert_memory_equal(d, in + 3, 5);
  assert_int_equal(mgri_shm_read(d, RING, &head, tail, out, 8), 8);
  assert_memory_equal(out, in, 8);
}

/* R-2.10-k: a peer's position outside its window is garbage: nothing is
 * copied, nothing moves. */
static void test_bad_positions(void **state) {
  (void)state;
  uint8_t d[RING] = {0}, buf[RING];
  memset(buf, 1, sizeof buf);
  uint64_t head = 100;
  /* A tail beyond head + ring, a tail behind head, a huge one. */
  static const uint64_t tails[] = {100 + RING + 1, 99, 0, UINT64_MAX,
                                   100 + ((uint64_t)1 << 40)};
  for (size_t i = 0; i < sizeof tails / sizeof tails[0]; i++) {
    assert_int_equal(mgri_shm_avail(RING, head, tails[i]), -1);
    assert_int_equal(mgri_shm_read(d, RING, &head, tails[i], buf, 4), -1);
    assert_int_equal(head, 100);
  }
  /* tail = head + ring exactly is a full ring, not garbage. */
  assert_int_equal(mgri_shm_avail(RING, head, 100 + RING), RING);
  /* A reader's head ahead of our tail, or more than a ring behind. */
  uint64_t tail = 200;
  static const uint64_t heads[] = {201, 200 - RING - 1, UINT64_MAX, 0};
  for (size_t i = 0; i < sizeof heads / sizeof heads[0]; i++) {
    assert_int_equal(mgri_shm_room(RING, tail, heads[i]), -1);
    assert_int_equal(mgri_shm_write(d, RING, &tail, heads[i], buf, 4), -1);
    assert_int_equal(tail, 200);
  }
  assert_int_equal(mgri_shm_room(RING, tail, 200 - RING), 0);
  assert_int_equal(mgri_shm_room(RING, tail, 200), RING);
}

static int dup_fd(int fd) {
  int d = fcntl(fd, F_DUPFD_CLOEXEC, 0);
  assert_true(d >= 0);
  return d;
}

/* R-2.10-d: the client maps only a sealed segment of the announced size
 * with our header. */
static void test_segment(void **state) {
  (void)state;
  mgri_shm s, c;
  int fd = -1;
  char err[160];
  assert_int_equal(mgri_shm_create(MGRI_SHM_RING, &s, &fd, err, sizeof err),
                   MGR_OK);
  assert_non_null(s.base);
  assert_int_equal(s.bytes, MGRI_SHM_HEADER + 2 * (size_t)MGRI_SHM_RING);
  int seals = fcntl(fd, F_GET_SEALS);
  assert_true(seals & F_SEAL_SHRINK);
  assert_true(seals & F_SEAL_GROW);
  assert_true(seals & F_SEAL_SEAL);
  /* Sealed: a peer cannot shrink it under the server. */
  assert_int_not_equal(ftruncate(fd, 4096), 0);
  /* The client's view: the same bytes, at another address. */
  assert_int_equal(mgri_shm_attach(fd, s.bytes, &c, err, sizeof err), MGR_OK);
  assert_int_equal(c.ring, MGRI_SHM_RING);
  mgri_shm_store64(&c, MGRI_SHM_O_REQ_TAIL, 42);
  assert_int_equal(mgri_shm_load64(&s, MGRI_SHM_O_REQ_TAIL), 42);
  c.req[c.ring - 1] = 0x5a;
  assert_int_equal(s.req[s.ring - 1], 0x5a);
  mgri_shm_detach(&c);
  assert_null(c.base);
  /* Another size than the memfd's. */
  assert_int_equal(mgri_shm_attach(fd, s.bytes - 4096, &c, err, sizeof err),
                   MGR_EPROTO);
  /* A header that is not ours: magic, version, ring size. */
  static const struct {
    size_t off;
    uint32_t v;
  } bad[] = {{MGRI_SHM_O_MAGIC, 0x12345678},
             {MGRI_SHM_O_VERSION, 2},
             {MGRI_SHM_O_RING, MGRI_SHM_RING - 1},
             {MGRI_SHM_O_RING, MGRI_SHM_RING / 2},
             {MGRI_SHM_O_RING, MGRI_SHM_RING_MIN / 2},
             {MGRI_SHM_O_RING, MGRI_SHM_RING_MAX * 2},
             {MGRI_SHM_O_BYTES, 4096}};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    uint32_t keep = *mgri_shm_w32(&s, bad[i].off);
    *mgri_shm_w32(&s, bad[i].off) = bad[i].v;
    assert_int_equal(mgri_shm_attach(fd, s.bytes, &c, err, sizeof err),
                     MGR_EPROTO);
    assert_null(c.base);
    *mgri_shm_w32(&s, bad[i].off) = keep;
  }
  assert_int_equal(mgri_shm_attach(fd, s.bytes, &c, err, sizeof err), MGR_OK);
  mgri_shm_detach(&c);
  mgri_shm_detach(&s);
  close(fd);
  /* An unsealed memfd of the right size and header is refused: the server
   * could not trust its size, nor can we. */
  int u = memfd_create("not-sealed", MFD_CLOEXEC);
  assert_true(u >= 0);
  size_t bytes = MGRI_SHM_HEADER + 2 * (size_t)MGRI_SHM_RING;
  assert_int_equal(ftruncate(u, (off_t)bytes), 0);
  uint32_t hdr[3] = {MGRI_SHM_MAGIC, MGRI_SHM_VERSION, MGRI_SHM_RING};
  assert_int_equal(pwrite(u, hdr, sizeof hdr, 0), (ssize_t)sizeof hdr);
  uint64_t b64 = bytes;
  assert_int_equal(pwrite(u, &b64, 8, MGRI_SHM_O_BYTES), 8);
  int u2 = dup_fd(u);
  assert_int_equal(mgri_shm_attach(u2, bytes, &c, err, sizeof err), MGR_EPROTO);
  close(u2);
  close(u);
  /* Sealed, but of a size no ring has: smaller than the least, larger
   * than the largest (a sparse file: nothing is written). */
  static const uint64_t sizes[] = {
      MGRI_SHM_HEADER + 2 * (uint64_t)MGRI_SHM_RING_MIN - 4096,
      MGRI_SHM_HEADER + 2 * (uint64_t)MGRI_SHM_RING_MAX + 4096};
  for (size_t i = 0; i < 2; i++) {
    int z = memfd_create("odd-size", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    assert_true(z >= 0);
    assert_int_equal(ftruncate(z, (off_t)sizes[i]), 0);
    assert_int_equal(fcntl(z, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW), 0);
    assert_int_equal(mgri_shm_attach(z, sizes[i], &c, err, sizeof err),
                     MGR_EPROTO);
    assert_null(c.base);
    close(z);
  }
  /* Not a descriptor at all. */
  assert_int_equal(mgri_shm_attach(-1, bytes, &c, err, sizeof err), MGR_ESYS);
  /* Not a memfd at all. */
  int p[2];
  assert_int_equal(pipe(p), 0);
  assert_int_equal(mgri_shm_attach(p[0], bytes, &c, err, sizeof err),
                   MGR_EPROTO);
  close(p[0]);
  close(p[1]);
}

/* The futex: a wait on a changed word returns at once; one on an unchanged
 * word ends at its bound. */
static void test_futex(void **state) {
  (void)state;
  uint32_t w = 7;
  struct timespec ts = {0, 1000000};
  assert_int_equal(mgri_shm_futex_wait(&w, 8, &ts), 0);
  assert_int_equal(mgri_shm_futex_wait(&w, 7, &ts), -1);
  mgri_shm_futex_wake(&w); /* nobody waits: harmless */
  assert_true(mgri_shm_cpus() >= 1);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_empty_and_full), cmocka_unit_test(test_wraparound),
      cmocka_unit_test(test_bad_positions),  cmocka_unit_test(test_segment),
      cmocka_unit_test(test_futex),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
