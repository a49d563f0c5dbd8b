/* mgr fuzz targets — a second, lenient CBOR reader written from the RFC and
 * spec/DESIGN.md's profile, independent of src/cbor: it accepts any
 * well-formed CBOR, builds the value model's tree from it, and lists every
 * place where the input breaks the mgr profile (category and byte offset).
 * fuzz_diff checks our decoder's verdicts and error reasons against it. */
#ifndef MGR_FUZZ_PROFILE_H
#define MGR_FUZZ_PROFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mgr/value.h"

typedef enum prof_cat {
  P_NONSHORT,   /* integer or length head not in its shortest form */
  P_INDEF,      /* indefinite length */
  P_SIMPLE,     /* simple value other than false/true/null (0xe0-0xf3, 0xf8) */
  P_UNDEF,      /* undefined, 0xf7 */
  P_TAG,        /* a tag other than 28007 */
  P_REF,        /* tag 28007 not over [uint 1..5, uint >= 1] */
  P_INTRANGE,   /* integer outside int64 */
  P_NAN,        /* a NaN other than 0xf97e00 */
  P_FLOATWIDTH, /* a float that a shorter width holds exactly */
  P_DEPTH,      /* a value deeper than 32 (the top level is 1) */
  P_ITEMS,      /* more values than the items limit */
  P_UTF8,       /* text that is not valid UTF-8 */
  P_DUP,        /* a map key equal to an earlier one (Python key ==) */
  P_UNHASH,     /* a map key that is or holds a map */
  P_NANKEY,     /* a map key that is or holds a NaN */
  P_TRAILING,   /* bytes after the item */
  P_NCATS
} prof_cat;

typedef struct prof_hit {
  prof_cat cat;
  size_t off;
} prof_hit;

#define PROF_HITS_MAX 64

typedef struct prof_result {
  bool wellformed; /* RFC 8949 well-formed (then the tree below is built) */
  bool overflow;   /* the reader's own pools ran out: no verdict */
  mgr_value value; /* the value model's tree (valid until the next call) */
  size_t items;    /* value-model nodes (a ref counts 1) */
  size_t end;      /* offset just past the first item */
  unsigned cats;   /* bit set of prof_cat seen anywhere */
  prof_hit hits[PROF_HITS_MAX];
  size_t nhits;
} prof_result;

/* Reads p[0..n) with an items limit (for P_ITEMS). Not thread-safe (static
 * pools). */
void prof_read(const uint8_t *p, size_t n, size_t items_max, prof_result *r);
/* True when the category was seen at exactly that offset (hits beyond
 * PROF_HITS_MAX are only in r->cats: then any offset matches). */
bool prof_hit_at(const prof_result *r, prof_cat cat, size_t off);
const char *prof_cat_name(prof_cat c);
/* The category one of our decoder's error strings names, or P_NCATS. */
prof_cat prof_cat_of(const char *what);

#endif
