/* mgr — manager addresses: parsing and printing (see addr.h, spec 2.1). */
#include "common/addr.h"

#include <stdio.h>
#include <string.h>

#include "mgr/error.h"

static int bad(char *err, size_t cap, const char *why, const char *text) {
  if (err && cap) snprintf(err, cap, "bad address '%.200s': %s", text, why);
  return MGR_EINVAL;
}

/* Characters of a host name or an IPv4 literal (letters, digits, '-', '.',
 * '_' as some local names have), or of an IPv6 literal in brackets (hex
 * digits, ':', '.', and '%' for a zone). */
static bool host_char(char c, bool v6) {
  if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
      (c >= 'A' && c <= 'F'))
    return true;
  if (v6)
    return c == ':' || c == '.' || c == '%' || (c >= 'g' && c <= 'z') ||
           (c >= 'G' && c <= 'Z');
  return (c >= 'g' && c <= 'z') || (c >= 'G' && c <= 'Z') || c == '-' ||
         c == '.' || c == '_';
}

static int parse_net(const char *text, const char *p, mgri_addr *a, char *err,
                     size_t cap) {
  const char *host, *hend, *colon;
  if (*p == '[') {
    host = p + 1;
    hend = strchr(host, ']');
    if (!hend) return bad(err, cap, "'[' without ']'", text);
    if (hend[1] != ':') return bad(err, cap, "no ':PORT' after ']'", text);
    colon = hend + 1;
    a->v6 = true;
  } else {
    host = p;
    colon = strrchr(p, ':');
    if (!colon) return bad(err, cap, "no ':PORT'", text);
    hend = colon;
    if (memchr(host, ':', (size_t)(hend - host)))
      return bad(err, cap, "an IPv6 address must be in brackets, [::1]:PORT",
                 text);
  }
  size_t hn = (size_t)(hend - host);
  if (hn == 0) return bad(err, cap, "no host", text);
  if (hn >= sizeof a->host) return bad(err, cap, "host too long", text);
  for (size_t i = 0; i < hn; i++)
    if (!host_char(host[i], a->v6))
      return bad(err, cap, "a character that cannot be in a host", text);
  memcpy(a->host, host, hn);
  a->host[hn] = '\0';
  const char *q = colon + 1;
  if (!*q) return bad(err, cap, "no port", text);
  unsigned long port = 0;
  for (; *q; q++) {
    if (*q < '0' || *q > '9') return bad(err, cap, "port not a number", text);
    port = port * 10 + (unsigned long)(*q - '0');
    if (port > 65535) return bad(err, cap, "port above 65535", text);
  }
  if (colon[1] == '0' && colon[2]) /* "007": one spelling per port */
    return bad(err, cap, "port with a leading zero", text);
  a->port = (uint16_t)port;
  return MGR_OK;
}

int mgri_addr_parse(const char *text, mgri_addr *a, char *err, size_t cap) {
  memset(a, 0, sizeof *a);
  if (err && cap) err[0] = '\0';
  if (!text || !*text) return bad(err, cap, "empty", text ? text : "");
  if (!strncmp(text, "tcp://", 6) || !strncmp(text, "tls://", 6)) {
    a->kind = text[1] == 'c' ? MGRI_ADDR_TCP : MGRI_ADDR_TLS;
    return parse_net(text, text + 6, a, err, cap);
  }
  const char *path = text;
  if (!strncmp(text, "unix:", 5)) {
    path = text + 5;
  } else {
    /* "udp://x", "http://x": a scheme we do not speak, not a relative path
     * (a path with "://" in it can still be given as unix:PATH). */
    const char *s = strstr(text, "://");
    if (s) return bad(err, cap, "unknown scheme (unix:, tcp://, tls://)", text);
  }
  size_t n = strlen(path);
  if (n == 0) return bad(err, cap, "empty path", text);
  if (n >= sizeof a->path)
    return bad(err, cap, "socket path longer than 107 bytes", text);
  a->kind = MGRI_ADDR_UNIX;
  memcpy(a->path, path, n + 1);
  return MGR_OK;
}

int mgri_addr_format(const mgri_addr *a, bool bare, char *buf, size_t cap) {
  int n;
  if (a->kind == MGRI_ADDR_UNIX)
    n = snprintf(buf, cap, "%s%s", bare ? "" : "unix:", a->path);
  else
    n = snprintf(buf, cap, "%s://%s%s%s:%u",
                 a->kind == MGRI_ADDR_TLS ? "tls" : "tcp", a->v6 ? "[" : "",
                 a->host, a->v6 ? "]" : "", (unsigned)a->port);
  return n >= 0 && (size_t)n < cap ? MGR_OK : MGR_EINVAL;
}
