/* mgr — manager addresses (spec 2.1): `unix:PATH` or a bare PATH (a Unix
 * socket), `tcp://HOST:PORT` and `tls://HOST:PORT` (HOST a name, a dotted
 * IPv4 address or a bracketed IPv6 one). Parsing and printing only: no
 * sockets, no name lookups (src/net/ does those). */
#ifndef MGRI_ADDR_H
#define MGRI_ADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum { MGRI_ADDR_UNIX = 1, MGRI_ADDR_TCP = 2, MGRI_ADDR_TLS = 3 };

/* sun_path's size on Linux: a path takes at most 107 bytes. */
#define MGRI_ADDR_PATH_MAX 108u
/* A host name takes at most 253 bytes (RFC 1035); a literal less. */
#define MGRI_ADDR_HOST_MAX 256u
/* The longest address text: "tls://[" host "]:65535". */
#define MGRI_ADDR_TEXT_MAX (MGRI_ADDR_HOST_MAX + 16u)

typedef struct mgri_addr {
  int kind;                      /* MGRI_ADDR_* */
  char path[MGRI_ADDR_PATH_MAX]; /* unix */
  char host[MGRI_ADDR_HOST_MAX]; /* tcp, tls: without brackets */
  bool v6;                       /* host was written in brackets */
  uint16_t port;                 /* tcp, tls; 0 lets a server pick */
} mgri_addr;

/* Parses text into *a. MGR_OK, or MGR_EINVAL with a reason in err (cap
 * bytes, may be NULL): empty, a path too long for a socket, an unknown
 * scheme ("udp://"), no port, a port not in 0..65535, a host empty, too
 * long, with a character that cannot be in a name or literal, or an IPv6
 * literal without brackets. */
int mgri_addr_parse(const char *text, mgri_addr *a, char *err, size_t cap);

/* The address as text a client can be given: `unix:PATH` (bare PATH when
 * bare is true), `tcp://HOST:PORT` or `tls://HOST:PORT` with an IPv6
 * literal in brackets. MGR_OK or MGR_EINVAL (buf too small). */
int mgri_addr_format(const mgri_addr *a, bool bare, char *buf, size_t cap);

/* Whether the address needs TCP (tcp or tls). */
static inline bool mgri_addr_is_net(const mgri_addr *a) {
  return a->kind == MGRI_ADDR_TCP || a->kind == MGRI_ADDR_TLS;
}

#endif
