/* mgr — UTF-8 validation (spec 4.5): well-formed, shortest form, no
 * surrogates, nothing above U+10FFFF. */
#include <stdint.h>

#include "cbor/model.h"

bool mgri_utf8_valid(const char *s, size_t n) {
  const uint8_t *p = (const uint8_t *)s;
  size_t i = 0;
  while (i < n) {
    uint8_t c = p[i];
    if (c < 0x80) {
      i++;
      continue;
    }
    size_t k;
    uint8_t lo = 0x80, hi = 0xbf; /* range of the second byte */
    if (c >= 0xc2 && c <= 0xdf) {
      k = 1;
    } else if (c >= 0xe0 && c <= 0xef) {
      k = 2;
      if (c == 0xe0) lo = 0xa0; /* overlong */
      if (c == 0xed) hi = 0x9f; /* surrogates */
    } else if (c >= 0xf0 && c <= 0xf4) {
      k = 3;
      if (c == 0xf0) lo = 0x90; /* overlong */
      if (c == 0xf4) hi = 0x8f; /* > U+10FFFF */
    } else {
      return false;
    }
    if (n - i <= k) return false;
    if (p[i + 1] < lo || p[i + 1] > hi) return false;
    for (size_t j = 2; j <= k; j++)
      if ((p[i + j] & 0xc0) != 0x80) return false;
    i += k + 1;
  }
  return true;
}
