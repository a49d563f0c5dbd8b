/* mgr — Python's repr() of a value, for error messages and mgrctl:
 * shortest round-tripping floats, quoted and escaped strings. */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cbor/model.h"
#include "common/kinds.h"

/* --- repr ------------------------------------------------------------------ */

typedef struct out {
  char *buf;
  size_t cap, len;
} out;

static void put(out *o, const char *s, size_t n) {
  if (o->len < o->cap) {
    size_t room = o->cap - o->len;
    memcpy(o->buf + o->len, s, n < room ? n : room);
  }
  o->len += n;
}

static void puts_(out *o, const char *s) { put(o, s, strlen(s)); }

static void putc_(out *o, char c) { put(o, &c, 1); }

/* Python's float repr: the shortest digits that round-trip, fixed notation
 * for decimal exponents -4..15, else d.ddde+XX. */
static void repr_float(out *o, double d) {
  if (isnan(d)) return puts_(o, "nan");
  if (isinf(d)) return puts_(o, d < 0 ? "-inf" : "inf");
  char tmp[40];
  for (int prec = 0; prec <= 16; prec++) {
    snprintf(tmp, sizeof tmp, "%.*e", prec, d);
    if (strtod(tmp, NULL) == d) break;
  }
  char digits[24];
  size_t nd = 0;
  const char *p = tmp;
  bool neg = *p == '-';
  if (neg) p++;
  for (; *p && *p != 'e'; p++)
    if (*p >= '0' && *p <= '9') digits[nd++] = *p;
  int e = atoi(p + 1);
  while (nd > 1 && digits[nd - 1] == '0')
    nd--;
  if (neg) putc_(o, '-');
  if (e < -4 || e >= 16) {
    putc_(o, digits[0]);
    if (nd > 1) {
      putc_(o, '.');
      put(o, digits + 1, nd - 1);
    }
    char ex[16];
    snprintf(ex, sizeof ex, "e%c%02d", e < 0 ? '-' : '+', e < 0 ? -e : e);
    return puts_(o, ex);
  }
  if (e < 0) {
    puts_(o, "0.");
    for (int i = -1; i > e; i--)
      putc_(o, '0');
    return put(o, digits, nd);
  }
  size_t ip = (size_t)e + 1; /* digits before the point */
  for (size_t i = 0; i < ip; i++)
    putc_(o, i < nd ? digits[i] : '0');
  putc_(o, '.');
  if (nd > ip)
    put(o, digits + ip, nd - ip);
  else
    putc_(o, '0');
}

/* Code points Python's str.isprintable() rejects beyond ASCII controls (an
 * approximation: separators, format controls, private use, specials). */
static bool unprintable(uint32_t c) {
  return (c >= 0x7f && c <= 0xa0) || c == 0xad || c == 0x1680 ||
         (c >= 0x2000 && c <= 0x200f) || (c >= 0x2028 && c <= 0x202f) ||
         (c >= 0x205f && c <= 0x206f) || c == 0x3000 ||
         (c >= 0xe000 && c <= 0xf8ff) || c == 0xfeff ||
         (c >= 0xfff0 && c <= 0xfffb) || c == 0xfffe || c == 0xffff ||
         c >= 0xf0000;
}

static void repr_str(out *o, const uint8_t *s, size_t n, bool bytes) {
  /* An empty text may have no bytes at all (s NULL): memchr must not see
   * it. */
  bool sq = n && memchr(s, '\'', n), dq = n && memchr(s, '"', n);
  char q = sq && !dq ? '"' : '\'';
  char esc[12];
  if (bytes) putc_(o, 'b');
  putc_(o, q);
  for (size_t i = 0; i < n;) {
    uint8_t c = s[i];
    if (c == '\\' || c == (uint8_t)q) {
      putc_(o, '\\');
      putc_(o, (char)c);
    } else if (c == '\n') {
      puts_(o, "\\n");
    } else if (c == '\r') {
      puts_(o, "\\r");
    } else if (c == '\t') {
      puts_(o, "\\t");
    } else if (c < 0x20 || c == 0x7f || (bytes && c >= 0x80)) {
      snprintf(esc, sizeof esc, "\\x%02x", c);
      puts_(o, esc);
    } else if (c < 0x80) {
      putc_(o, (char)c);
    } else {
      /* Valid UTF-8 is assumed (the value model guarantees it). */
      size_t k = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : 2;
      if (k > n - i) k = n - i;
      uint32_t cp = c & (0x7f >> k);
      for (size_t j = 1; j < k; j++)
        cp = cp << 6 | (s[i + j] & 0x3f);
      if (unprintable(cp)) {
        if (cp <= 0xff)
          snprintf(esc, sizeof esc, "\\x%02" PRIx32, cp);
        else if (cp <= 0xffff)
          snprintf(esc, sizeof esc, "\\u%04" PRIx32, cp);
        else
          snprintf(esc, sizeof esc, "\\U%08" PRIx32, cp);
        puts_(o, esc);
      } else {
        put(o, (const char *)s + i, k);
      }
      i += k;
      continue;
    }
    i++;
  }
  putc_(o, q);
}

static void repr_rec(out *o, const mgr_value *v) {
  char tmp[48];
  switch (v->type) {
  case MGR_T_NIL:
    return puts_(o, "None");
  case MGR_T_BOOL:
    return puts_(o, v->u.b ? "True" : "False");
  case MGR_T_INT:
    snprintf(tmp, sizeof tmp, "%" PRId64, v->u.i);
    return puts_(o, tmp);
  case MGR_T_FLOAT:
    return repr_float(o, v->u.f);
  case MGR_T_TEXT:
  case MGR_T_BYTES:
    return repr_str(o, (const uint8_t *)v->u.s.ptr, v->u.s.ptr ? v->u.s.len : 0,
                    v->type == MGR_T_BYTES);
  case MGR_T_ARRAY:
    putc_(o, '[');
    for (size_t i = 0; i < v->u.a.len; i++) {
      if (i) puts_(o, ", ");
      repr_rec(o, &v->u.a.items[i]);
    }
    return putc_(o, ']');
  case MGR_T_MAP:
    putc_(o, '{');
    for (size_t i = 0; i < v->u.a.len; i++) {
      if (i) puts_(o, ", ");
      repr_rec(o, &v->u.a.items[2 * i]);
      puts_(o, ": ");
      repr_rec(o, &v->u.a.items[2 * i + 1]);
    }
    return putc_(o, '}');
  case MGR_T_REF:
    snprintf(tmp, sizeof tmp, "<%s #%" PRIu64 ">",
             mgri_kind_short(v->u.ref.kind), v->u.ref.id);
    return puts_(o, tmp);
  default:
    return puts_(o, "<?>");
  }
}

size_t mgr_value_repr(const mgr_value *v, char *buf, size_t cap) {
  out o = {buf, cap, 0};
  if (!v) {
    puts_(&o, "NULL");
  } else {
    repr_rec(&o, v);
  }
  if (cap) buf[o.len < cap ? o.len : cap - 1] = '\0';
  return o.len;
}
