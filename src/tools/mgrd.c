/* mgrd — runs a manager server in the foreground until SHUTDOWN, SIGTERM or
 * SIGINT. Exit status: 0 clean, 1 runtime error, 2 usage. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/limits.h"
#include "mgr/mgr.h"

/* The defaults printed come from limits.h: the help cannot drift from the
 * code. */
static void usage(FILE *f) {
  fprintf(f,
          "usage: mgrd --address PATH [--max-frame N] [--max-memory N]\n"
          "            [--handshake-timeout MS] [--max-handshakes N]\n"
          "            [--idle-timeout MS] [--slow-ms MS] [--allow-any-uid]\n"
          "            [--ready-fd FD]\n"
          "       mgrd --help | --version\n"
          "\n"
          "Runs an mgr manager server on the Unix socket PATH, in the\n"
          "foreground, until a client sends SHUTDOWN or SIGTERM/SIGINT "
          "arrive.\n"
          "  --address PATH          socket path (its directory should be "
          "private)\n"
          "  --max-frame N           largest frame accepted or sent, bytes\n"
          "                          (default %u, 64..%u)\n"
          "  --max-memory N          bytes the server may hold: objects, "
          "buffers,\n"
          "                          parked requests (default %uM; K, M, G "
          "suffixes;\n"
          "                          'none' for no limit)\n"
          "  --handshake-timeout MS  a connection must send HELLO within MS\n"
          "                          (default %u)\n"
          "  --max-handshakes N      connections in the handshake at once; "
          "the\n"
          "                          oldest is closed for a new one (default "
          "%u)\n"
          "  --idle-timeout MS       close connections silent for MS that "
          "wait\n"
          "                          for nothing (default: never)\n"
          "  --slow-ms MS            log requests slower than MS\n"
          "                          (default %u, 'none' for never; see\n"
          "                          mgrctl stats)\n"
          "  --allow-any-uid         accept clients of any uid (default: own "
          "uid only)\n"
          "  --ready-fd FD           write one byte to FD, then close it, "
          "once\n"
          "                          listening\n",
          MGRI_FRAME_MAX_DEFAULT, MGRI_FRAME_MAX_CEIL,
          (unsigned)(MGRI_MEMORY_MAX_DEFAULT >> 20), MGRI_HANDSHAKE_MS_DEFAULT,
          MGRI_HANDSHAKES_MAX_DEFAULT, MGRI_SLOW_MS_DEFAULT);
}

/* An unsigned decimal in [lo, hi] with an optional K/M/G (binary) suffix
 * when suffix is true; false when s is anything else. */
static bool parse_num(const char *s, unsigned long long lo,
                      unsigned long long hi, bool suffix,
                      unsigned long long *out) {
  char *end;
  errno = 0;
  if (!*s || *s == '-' || *s == '+') return false;
  unsigned long long n = strtoull(s, &end, 10);
  if (errno || end == s) return false;
  if (suffix && *end) {
    unsigned shift = *end == 'K' || *end == 'k'   ? 10
                     : *end == 'M' || *end == 'm' ? 20
                     : *end == 'G' || *end == 'g' ? 30
                                                  : 0;
    if (!shift || end[1] || n > (~0ull >> shift)) return false;
    n <<= shift;
    end++;
  }
  if (*end || n < lo || n > hi) return false;
  *out = n;
  return true;
}

typedef struct flag {
  const char *name;
  const char *what; /* the value's description, for errors */
  unsigned long long lo, hi;
  bool suffix;
} flag;

enum {
  F_ADDRESS,
  F_MAX_FRAME,
  F_MAX_MEMORY,
  F_HANDSHAKE,
  F_HANDSHAKES,
  F_IDLE,
  F_SLOW,
  F_READY,
  F_N
};

static const flag flags[F_N] = {
    [F_ADDRESS] = {"--address", "a path", 0, 0, false},
    [F_MAX_FRAME] = {"--max-frame", "64..67108864", 64, MGRI_FRAME_MAX_CEIL,
                     false},
    [F_MAX_MEMORY] = {"--max-memory", "bytes (K/M/G), at least 1M, or 'none'",
                      1ull << 20, ~0ull, true},
    [F_HANDSHAKE] = {"--handshake-timeout", "1..3600000 ms", 1, 3600000, false},
    [F_HANDSHAKES] = {"--max-handshakes", "1..65536", 1, 65536, false},
    [F_IDLE] = {"--idle-timeout", "0..86400000 ms (0: never)", 0, 86400000,
                false},
    [F_SLOW] = {"--slow-ms", "1..86400000 ms, or 'none'", 1, 86400000, false},
    [F_READY] = {"--ready-fd", "a descriptor 0..65535", 0, 65535, false},
};

int main(int argc, char **argv) {
  mgr_server_options opt;
  mgr_server_options_init(&opt);
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
      usage(stdout);
      return 0;
    }
    if (!strcmp(a, "--version")) {
      printf("mgrd %s (protocol %d..%d)\n", mgr_version_string(),
             MGR_PROTOCOL_MIN, MGR_PROTOCOL_MAX);
      return 0;
    }
    if (!strcmp(a, "--allow-any-uid")) {
      opt.allow_any_uid = 1;
      continue;
    }
    const char *eq = strchr(a, '=');
    size_t alen = eq ? (size_t)(eq - a) : strlen(a);
    int f = 0;
    while (f < F_N && !(strlen(flags[f].name) == alen &&
                        !strncmp(a, flags[f].name, alen)))
      f++;
    if (f == F_N) {
      fprintf(stderr, "mgrd: unknown argument '%s'\n", a);
      usage(stderr);
      return 2;
    }
    const char *val = eq ? eq + 1 : i + 1 < argc ? argv[++i] : NULL;
    if (!val) {
      fprintf(stderr, "mgrd: %s needs a value\n", flags[f].name);
      return 2;
    }
    if (f == F_ADDRESS) {
      opt.address = val;
      continue;
    }
    unsigned long long n = 0;
    bool none = (f == F_MAX_MEMORY || f == F_SLOW) && !strcmp(val, "none");
    if (!none && !parse_num(val, flags[f].lo, flags[f].hi, flags[f].suffix, &n)) {
      fprintf(stderr, "mgrd: %s must be %s, not '%s'\n", flags[f].name,
              flags[f].what, val);
      return 2;
    }
    switch (f) {
    case F_MAX_FRAME: opt.max_frame = (uint32_t)n; break;
    case F_MAX_MEMORY:
      opt.max_memory = none || n > SIZE_MAX ? SIZE_MAX : (size_t)n;
      break;
    case F_HANDSHAKE: opt.handshake_timeout_ms = (uint32_t)n; break;
    case F_HANDSHAKES: opt.max_handshakes = (uint32_t)n; break;
    case F_IDLE: opt.idle_timeout_ms = (uint32_t)n; break;
    case F_SLOW: opt.slow_ms = none ? UINT32_MAX : (uint32_t)n; break;
    default: opt.ready_fd = (int)n; break;
    }
  }
  if (!opt.address || !*opt.address) {
    fprintf(stderr, "mgrd: --address PATH is required\n");
    usage(stderr);
    return 2;
  }
  int rc = mgr_server_run(&opt);
  if (rc != MGR_OK) {
    int e = errno;
    fprintf(stderr, "mgrd: %s: %s%s%s\n", opt.address, mgr_strerror(rc),
            rc == MGR_ESYS ? ": " : "", rc == MGR_ESYS ? strerror(e) : "");
    if (rc == MGR_ESYS && e == EPERM)
      fprintf(stderr, "mgrd: the socket's directory must be owned by you with "
                      "mode 0700 (or run with --allow-any-uid)\n");
    if (rc == MGR_EINVAL)
      fprintf(stderr, "mgrd: the path must be shorter than 108 bytes\n");
    return 1;
  }
  return 0;
}
