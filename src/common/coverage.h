/* mgr — coverage builds (-DMGR_COVERAGE=ON, tests/coverage): gcov writes a
 * process's counters when it exits through exit(), never through _exit() or
 * a signal. A server process ends with _exit() (the child of mgr_start(),
 * the servers tests fork) or after SIGTERM (turned into a return from
 * mgr_server_run() by its signalfd): MGRI_COVERAGE_FLUSH() writes the
 * counters so far and zeroes them (so that a later exit() adds only what
 * ran since). Nothing at all in other builds. */
#ifndef MGR_COMMON_COVERAGE_H
#define MGR_COMMON_COVERAGE_H

#ifdef MGR_COVERAGE
void __gcov_dump(void);
void __gcov_reset(void);
#define MGRI_COVERAGE_FLUSH() (__gcov_dump(), __gcov_reset())
#else
#define MGRI_COVERAGE_FLUSH() ((void)0)
#endif

#endif
