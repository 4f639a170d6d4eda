#ifndef PERFLOG_SPAWN_H
#define PERFLOG_SPAWN_H

#include <sys/types.h>

/// Starts `path` (not searched for in PATH) with the NULL-terminated `argv` and `envp`
/// in a child process that cannot outlive the calling thread: on Linux the child asks
/// for SIGKILL when its parent thread ends (PR_SET_PDEATHSIG) before it executes the
/// command, and exits at once if the parent has already ended by then.
///
/// In the child every signal disposition is reset to the default and the signal mask is
/// emptied, as posix_spawn's POSIX_SPAWN_SETSIGDEF and POSIX_SPAWN_SETSIGMASK do;
/// `stdout_fd` and `stderr_fd`, when not -1, become its standard output and error; every
/// other descriptor above standard error is closed when the command starts.
///
/// Returns 0 and stores the child's pid in `pid`, or an errno value: that of vfork, or
/// that of the child's execve (ENOENT, EACCES, ENOEXEC, ...), in which case the child
/// has been reaped already. On platforms without PR_SET_PDEATHSIG it returns ENOSYS:
/// use posix_spawn there.
int perflog_spawn(const char *path, char *const argv[], char *const envp[], int stdout_fd, int stderr_fd,
                  pid_t *pid);

#endif
