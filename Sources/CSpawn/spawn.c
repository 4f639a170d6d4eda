// fork and execve rather than posix_spawn, because the child must run code of its own
// before the command (posix_spawn runs none): PR_SET_PDEATHSIG. Between fork and execve
// the child of this multithreaded process makes only async-signal-safe calls and
// touches no memory but its own stack and what the parent prepared.
#define _GNU_SOURCE
#include "perflog_spawn.h"

#include <errno.h>
#include <string.h>

#ifdef __linux__
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

/// Evaluates `call` (an expression yielding -1 on failure) again while it fails with
/// EINTR, leaving its result in `result`.
#define RETRYING_EINTR(result, call) \
    do { (result) = (call); } while ((result) == -1 && errno == EINTR)

/// The child's side: never returns. Reports a failure by writing errno to `report`.
static void run_child(const char *path, char *const argv[], char *const envp[], int stdout_fd, int stderr_fd,
                      pid_t parent, int report) __attribute__((noreturn));

static void run_child(const char *path, char *const argv[], char *const envp[], int stdout_fd, int stderr_fd,
                      pid_t parent, int report) {
    int error;
    // Every signal is blocked (the parent blocked them around fork), so none of
    // perflog's handlers can run here before the dispositions are back to default.
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
    // The parent may have died between fork and prctl, too early for the death signal:
    // the child then has another parent (init or a subreaper) and must not run at all.
    if (getppid() != parent) _exit(127);
    if (stdout_fd >= 0 && dup2(stdout_fd, STDOUT_FILENO) < 0) goto failed;
    if (stderr_fd >= 0 && dup2(stderr_fd, STDERR_FILENO) < 0) goto failed;
    sigset_t none;
    sigemptyset(&none);
    if (sigprocmask(SIG_SETMASK, &none, NULL) != 0) goto failed;
    execve(path, argv, envp);
failed:
    error = errno;
    // A pipe write of 4 bytes is atomic; if it fails, the parent sees a child that
    // exited 127 with nothing reported, which is what a failed exec looks like anyway.
    ssize_t written;
    RETRYING_EINTR(written, write(report, &error, sizeof error));
    (void)written;
    _exit(127);
}

int perflog_spawn(const char *path, char *const argv[], char *const envp[], int stdout_fd, int stderr_fd,
                  pid_t *pid) {
    // The child reports a failed execve through this pipe; a successful one closes it
    // (close-on-exec), so the parent reads end of file.
    int report[2];
    if (pipe2(report, O_CLOEXEC) != 0) return errno;
    sigset_t every, previous;
    sigfillset(&every);
    int rc = pthread_sigmask(SIG_SETMASK, &every, &previous);
    if (rc != 0) {
        close(report[0]);
        close(report[1]);
        return rc;
    }
    pid_t parent = getpid();
    pid_t child = fork();
    if (child == 0) {
        close(report[0]);
        run_child(path, argv, envp, stdout_fd, stderr_fd, parent, report[1]);
    }
    int fork_error = errno;
    (void)pthread_sigmask(SIG_SETMASK, &previous, NULL);
    close(report[1]);
    if (child < 0) {
        close(report[0]);
        return fork_error;
    }
    int child_error = 0;
    ssize_t n;
    RETRYING_EINTR(n, read(report[0], &child_error, sizeof child_error));
    close(report[0]);
    if (n == (ssize_t)sizeof child_error) {
        // It did not run the command: reap it here, the caller has no pid to wait for.
        int status;
        pid_t reaped;
        RETRYING_EINTR(reaped, waitpid(child, &status, 0));
        (void)reaped;
        return child_error != 0 ? child_error : ECHILD;
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
