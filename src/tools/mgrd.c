/* mgrd — runs a manager server in the foreground until SHUTDOWN, SIGTERM or
 * SIGINT. Exit status: 0 clean, 1 runtime error, 2 usage. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mgr/mgr.h"

static void usage(FILE *f) {
  fprintf(f,
          "usage: mgrd --address PATH [--max-frame N] [--allow-any-uid]\n"
          "            [--ready-fd FD]\n"
          "       mgrd --help | --version\n"
          "\n"
          "Runs an mgr manager server on the Unix socket PATH, in the\n"
          "foreground, until a client sends SHUTDOWN or SIGTERM/SIGINT "
          "arrive.\n"
          "  --address PATH   socket path (its directory should be private)\n"
          "  --max-frame N    largest frame accepted or sent, bytes "
          "(default 1048576,\n"
          "                   at most 67108864)\n"
          "  --allow-any-uid  accept clients of any uid (default: own uid "
          "only)\n"
          "  --ready-fd FD    write one byte to FD, then close it, once "
          "listening\n");
}

int main(int argc, char **argv) {
  mgr_server_options opt;
  mgr_server_options_init(&opt);
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    const char *val = NULL;
    size_t alen = strlen(a);
    const char *eq = strchr(a, '=');
    if (eq) alen = (size_t)(eq - a);
    bool takes = (alen == 9 && !strncmp(a, "--address", alen)) ||
                 (alen == 11 && !strncmp(a, "--max-frame", alen)) ||
                 (alen == 10 && !strncmp(a, "--ready-fd", alen));
    if (takes) {
      if (eq) val = eq + 1;
      else if (i + 1 < argc) val = argv[++i];
      else {
        fprintf(stderr, "mgrd: %s needs a value\n", a);
        return 2;
      }
    }
    if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
      usage(stdout);
      return 0;
    } else if (!strcmp(a, "--version")) {
      printf("mgrd %s (protocol %d..%d)\n", mgr_version_string(),
             MGR_PROTOCOL_MIN, MGR_PROTOCOL_MAX);
      return 0;
    } else if (!strcmp(a, "--allow-any-uid")) {
      opt.allow_any_uid = 1;
    } else if (takes && a[2] == 'a') {
      opt.address = val;
    } else if (takes && a[2] == 'r') {
      char *end;
      errno = 0;
      long fd = strtol(val, &end, 10);
      if (errno || end == val || *end || fd < 0 || fd > 65535) {
        fprintf(stderr, "mgrd: --ready-fd must be a descriptor, not '%s'\n",
                val);
        return 2;
      }
      opt.ready_fd = (int)fd;
    } else if (takes) {
      char *end;
      errno = 0;
      unsigned long long n = strtoull(val, &end, 10);
      if (errno || end == val || *end || val[0] == '-' || n < 64 ||
          n > 64ull * 1024 * 1024) {
        fprintf(stderr, "mgrd: --max-frame must be 64..67108864, not '%s'\n",
                val);
        return 2;
      }
      opt.max_frame = (uint32_t)n;
    } else {
      fprintf(stderr, "mgrd: unknown argument '%s'\n", a);
      usage(stderr);
      return 2;
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
