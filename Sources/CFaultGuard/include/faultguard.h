#ifndef PERFLOG_FAULTGUARD_H
#define PERFLOG_FAULTGUARD_H

#include <lmdb.h>

/// Installs, for the whole process, handlers for SIGSEGV and SIGBUS that run on an
/// alternate stack (the calling thread's; other threads get theirs from
/// perflog_fault_guard_enter_thread), and arms the LMDB assertion callback that
/// perflog_fault_guard_attach installs. When either fires, the process writes
/// `prefix`, a few words naming the fault, and `suffix` to standard error, writes the
/// marker file `marker_path` (lines `device=`, `inode=` of `data_path`, `time=` in
/// seconds since the epoch, `found=`), and ends with `_exit(status)`: no core dump, no
/// signal death. Only async-signal-safe calls are made once a fault happened.
/// Calling it again replaces the texts. Returns 0, or an errno value.
int perflog_fault_guard_install(const char *prefix, const char *suffix, const char *data_path,
                                const char *marker_path, int status);

/// Gives the calling thread its own alternate signal stack, once, if the guard is
/// installed (so that a stack overflow in that thread is reported too); freed when the
/// thread ends. Cheap after the first call: one thread-local test.
void perflog_fault_guard_enter_thread(void);

/// Whether perflog_fault_guard_install has been called.
int perflog_fault_guard_installed(void);

/// Sets the assertion callback of `env` (mdb_env_set_assert). Until the guard is
/// installed the callback returns at once and LMDB aborts as it would without it.
void perflog_fault_guard_attach(MDB_env *env);

#endif
