/* mgr — version macros. The one place the version is written; CMake parses it. */
#ifndef MGR_VERSION_H
#define MGR_VERSION_H

#define MGR_VERSION_MAJOR 0
#define MGR_VERSION_MINOR 1
#define MGR_VERSION_PATCH 0
#define MGR_VERSION_STRING "0.1.0"
/* Encoded for comparisons: 0xMMmmpp. */
#define MGR_VERSION_HEX                                                        \
  ((MGR_VERSION_MAJOR << 16) | (MGR_VERSION_MINOR << 8) | MGR_VERSION_PATCH)

/* The wire protocol versions this library speaks (spec/protocol.md). */
#define MGR_PROTOCOL_MIN 1
#define MGR_PROTOCOL_MAX 1

/* Export macro: the library is built with -fvisibility=hidden and only MGR_API
 * symbols are exported. */
#if defined(MGR_STATIC_DEFINE)
#define MGR_API
#elif defined(__GNUC__) || defined(__clang__)
#define MGR_API __attribute__((visibility("default")))
#else
#define MGR_API
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* The runtime version, MGR_VERSION_HEX of the library actually linked.
 * Never fails. Thread-safe. */
MGR_API unsigned mgr_version(void);
/* The runtime version as a static string ("0.1.0"). Never fails.
 * Thread-safe. */
MGR_API const char *mgr_version_string(void);

#ifdef __cplusplus
}
#endif

#endif
