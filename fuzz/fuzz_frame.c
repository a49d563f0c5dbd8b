/* mgr fuzz target — the frame reader fed in pieces whose sizes the input
 * chooses: the first byte picks the mode (whole, byte by byte, or chunk sizes
 * taken from the input itself). Any split must yield the same frames as
 * feeding the stream whole. */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "mgr/error.h"
#include "proto/proto.h"

#define FRAME_MAX 4096u

/* Feeds all of p[0..n) to a fresh reader in the given chunking and returns a
 * digest of the frames seen: count, total length, a rolling hash, and the
 * final status. */
typedef struct {
  size_t frames, bytes;
  uint64_t hash;
  int status;
} result;

static void drain(mgri_reader *r, result *res) {
  const uint8_t *body;
  size_t len;
  int rc;
  while ((rc = mgri_reader_next(r, &body, &len)) == 1) {
    FUZZ_CHECK(len > 0 && len <= FRAME_MAX);
    res->frames++;
    res->bytes += len;
    for (size_t i = 0; i < len; i++)
      res->hash = res->hash * 131 + body[i];
  }
  if (rc < 0) res->status = rc;
}

static result run(const uint8_t *p, size_t n, int mode, const uint8_t *sizes,
                  size_t nsizes) {
  mgri_reader r;
  mgri_reader_init(&r, FRAME_MAX);
  result res = {0, 0, 0, 0};
  size_t off = 0, k = 0;
  while (off < n && res.status == 0) {
    size_t chunk = n - off;
    if (mode == 1) chunk = 1;
    if (mode == 2 && nsizes) chunk = (size_t)sizes[k++ % nsizes] + 1;
    if (chunk > n - off) chunk = n - off;
    if (mode == 3) {
      size_t avail = 0;
      uint8_t *dst = mgri_reader_prepare(&r, chunk, &avail);
      if (!dst) {
        res.status = r.err;
        break;
      }
      if (chunk > avail) chunk = avail;
      memcpy(dst, p + off, chunk);
      mgri_reader_commit(&r, chunk);
    } else if (mgri_reader_feed(&r, p + off, chunk) != MGR_OK) {
      res.status = r.err;
      break;
    }
    off += chunk;
    drain(&r, &res);
  }
  mgri_reader_fini(&r);
  return res;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 2) return 0;
  size_t nsizes = data[0] % 16;
  if (nsizes + 1 > size) return 0;
  const uint8_t *sizes = data + 1;
  const uint8_t *p = data + 1 + nsizes;
  size_t n = size - 1 - nsizes;
  result whole = run(p, n, 0, NULL, 0);
  for (int mode = 1; mode <= 3; mode++) {
    result r = run(p, n, mode, sizes, nsizes);
    FUZZ_CHECK(r.frames == whole.frames && r.bytes == whole.bytes &&
               r.hash == whole.hash && r.status == whole.status);
  }
  return 0;
}
