// vfork and execve rather than posix_spawn, because the child must run code of its own
// before the command (posix_spawn runs none): PR_SET_PDEATHSIG. vfork rather than fork
// because the child shares the parent's memory instead of copying its page tables, and
// the parent, suspended until the child has executed the command or exited, learns the
// outcome without a pipe; glibc's posix_spawn starts its children the same way. So
// between vfork and execve the child makes only async-signal-safe system calls, writes
// nothing but its own locals and `outcome`, and never returns from the function that
// called vfork.
#define _GNU_SOURCE
#include "perflog_spawn.h"

#include <errno.h>
#include <string.h>

#ifdef __linux__
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

/// Evaluates `call` (an expression yielding -1 on failure) again while it fails with
/// EINTR, leaving its result in `result`.
#define RETRYING_EINTR(result, call) \
    do { (result) = (call); } while ((result) == -1 && errno == EINTR)

/// Marks every descriptor above standard error close-on-exec, in the child, so that
/// the command gets the standard streams and nothing else: also a descriptor another
/// thread of the parent opened a moment before the vfork.
static void close_others_on_exec(void) {
#ifdef CLOSE_RANGE_CLOEXEC
    if (close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) == 0) return;
#endif
    // Kernels before 5.11: every descriptor the limit allows, up to a bound that keeps
    // this short when the limit is huge (fcntl on a closed one fails at once).
    struct rlimit limit;
    rlim_t last = 65536;
    if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < last) last = limit.rlim_cur;
    for (rlim_t fd = 3; fd < last; fd++) (void)fcntl((int)fd, F_SETFD, FD_CLOEXEC);
}

/// The child's side: never returns. Reports a failure by storing errno in `*outcome`.
static void run_child(const char *path, char *const argv[], char *const envp[], int stdout_fd, int stderr_fd,
                      pid_t parent, volatile int *outcome) __attribute__((noreturn));

static void run_child(const char *path, char *const argv[], char *const envp[], int stdout_fd, int stderr_fd,
                      pid_t parent, volatile int *outcome) {
    // Every signal is blocked (the parent blocked them around vfork), so none of
    // perflog's handlers can run here, in the parent's memory, before the dispositions
    // are back to default.
    struct sigaction fallback;
    memset(&fallback, 0, sizeof fallback);
    fallback.sa_handler = SIG_DFL;
    sigemptyset(&fallback.sa_mask);
    for (int s = 1; s < NSIG; s++) {
        if (s == SIGKILL || s == SIGSTOP) continue;
        // Fails harmlessly for the signals glibc reserves for itself.
        (void)sigaction(s, &fallback, NULL);
    }
    // Tied to the thread that forked: it must live as long as the command is waited for.
    if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) != 0) goto failed;
    // The parent may have died between vfork and prctl, too early for the death signal:
    // the child then has another parent (init or a subreaper) and must not run at all.
    if (getppid() != parent) _exit(127);
    if (stdout_fd >= 0 && dup2(stdout_fd, STDOUT_FILENO) < 0) goto failed;
    if (stderr_fd >= 0 && dup2(stderr_fd, STDERR_FILENO) < 0) goto failed;
    close_others_on_exec();
    sigset_t none;
    sigemptyset(&none);
    if (sigprocmask(SIG_SETMASK, &none, NULL) != 0) goto failed;
    execve(path, argv, envp);
failed:
    // errno here is the parent thread's, which is suspended and reads it from `outcome`.
    *outcome = errno != 0 ? errno : ECHILD;
    _exit(127);
}

int perflog_spawn(const char *path, char *const argv[], char *const envp[], int stdout_fd, int stderr_fd,
                  pid_t *pid) {
    sigset_t every, previous;
    sigfillset(&every);
    int rc = pthread_sigmask(SIG_SETMASK, &every, &previous);
    if (rc != 0) return rc;
    // Written by the child when it cannot execute the command, read once it has gone.
    volatile int outcome = 0;
    pid_t parent = getpid();
    pid_t child = vfork();
    if (child == 0) run_child(path, argv, envp, stdout_fd, stderr_fd, parent, &outcome);
    int vfork_error = child < 0 ? errno : 0;
    (void)pthread_sigmask(SIG_SETMASK, &previous, NULL);
    if (child < 0) return vfork_error;
    int child_error = outcome;
    if (child_error != 0) {
        // It did not run the command: reap it here, the caller has no pid to wait for.
        int status;
        pid_t reaped;
        RETRYING_EINTR(reaped, waitpid(child, &status, 0));
        (void)reaped;
        return child_error;
    }
    *pid = child;
    return 0;
}

#else

int perflog_spawn(const char *path, char *const argv[], char *const envp[], int stdout_fd, int stderr_fd,
                  pid_t *pid) {
    (void)path; (void)argv; (void)envp; (void)stdout_fd; (void)stderr_fd; (void)pid;
    return ENOSYS;
}

#endif
