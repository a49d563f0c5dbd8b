/* mgr — extensible options structs (see xstruct.h). */
#include "common/xstruct.h"

#include <string.h>

#include "mgr/error.h"

int mgri_xstruct_in(void *out, size_t out_size, const void *in) {
  size_t in_size;
  memcpy(&in_size, in, sizeof in_size);
  if (in_size < sizeof in_size) return MGR_EINVAL; /* not initialised */
  if (in_size > out_size) {
    const unsigned char *extra = (const unsigned char *)in + out_size;
    for (size_t i = 0; i < in_size - out_size; i++)
      if (extra[i]) return MGR_EINVAL;
  }
  size_t n = in_size < out_size ? in_size : out_size;
  memcpy((unsigned char *)out + sizeof in_size,
         (const unsigned char *)in + sizeof in_size, n - sizeof in_size);
  memcpy(out, &out_size, sizeof out_size);
  return MGR_OK;
}
