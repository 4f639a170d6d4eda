#define _GNU_SOURCE
#include "faultguard.h"
#include <errno.h>
#include <pthread.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

// Set once by install (before the handlers can run) and only read afterwards, in the
// handlers; replaced strings are leaked on purpose, as a handler may be reading them.
static const char *volatile guard_prefix;
static const char *volatile guard_suffix;
static const char *volatile guard_data_path;
static const char *volatile guard_marker_path;
static volatile int guard_status = 74;
static volatile sig_atomic_t guard_armed;
static volatile sig_atomic_t guard_firing;

static size_t text_length(const char *s) {
    size_t n = 0;
    while (s && s[n]) n++;
    return n;
}

static void write_all(int fd, const char *s, size_t n) {
    while (n > 0) {
        ssize_t w = write(fd, s, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return;
        s += w;
        n -= (size_t)w;
    }
}

static void write_text(int fd, const char *s) { write_all(fd, s, text_length(s)); }

/// Appends `value` in decimal to `out` (which has room for 21 more bytes).
static size_t put_decimal(char *out, uint64_t value) {
    char digits[21];
    size_t n = 0;
    do { digits[n++] = (char)('0' + value % 10); value /= 10; } while (value);
    for (size_t i = 0; i < n; i++) out[i] = digits[n - 1 - i];
    return n;
}

/// Copies `s` without line breaks (a marker line and a stderr line stay one line).
static void write_one_line(int fd, const char *s) {
    char buffer[256];
    size_t n = 0;
    for (; s && *s; s++) {
        buffer[n++] = (*s == '\n' || *s == '\r') ? ' ' : *s;
        if (n == sizeof buffer) { write_all(fd, buffer, n); n = 0; }
    }
    write_all(fd, buffer, n);
}

static void write_marker(const char *found_a, const char *found_b) {
    const char *marker = guard_marker_path;
    if (!marker) return;
    int fd = open(marker, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) return;
    char line[96];
    struct stat st;
    if (guard_data_path && stat(guard_data_path, &st) == 0) {
        size_t n = 0;
        memcpy(line, "device=", 7); n = 7;
        n += put_decimal(line + n, (uint64_t)st.st_dev);
        line[n++] = '\n';
        memcpy(line + n, "inode=", 6); n += 6;
        n += put_decimal(line + n, (uint64_t)st.st_ino);
        line[n++] = '\n';
        write_all(fd, line, n);
    }
    struct timespec now;
    if (clock_gettime(CLOCK_REALTIME, &now) == 0) {
        size_t n = 0;
        memcpy(line, "time=", 5); n = 5;
        n += put_decimal(line + n, (uint64_t)now.tv_sec);
        line[n++] = '\n';
        write_all(fd, line, n);
    }
    write_text(fd, "found=");
    write_one_line(fd, found_a);
    write_one_line(fd, found_b);
    write_text(fd, "\n");
    close(fd);
}

static void report_and_exit(const char *found_a, const char *found_b) {
    // A second fault while reporting (or in another thread) must not recurse.
    if (guard_firing) _exit(guard_status);
    guard_firing = 1;
    write_text(2, guard_prefix);
    write_one_line(2, found_a);
    write_one_line(2, found_b);
    write_text(2, guard_suffix);
    write_marker(found_a, found_b);
    _exit(guard_status);
}

static void on_fault(int signo, siginfo_t *info, void *context) {
    (void)info;
    (void)context;
    if (signo == SIGBUS)
        report_and_exit("reading its file faulted (SIGBUS: a page the file says it holds is missing)", "");
    else
        report_and_exit("reading its file faulted (SIGSEGV: a pointer in the file leads outside it)", "");
}

static void on_lmdb_assert(MDB_env *env, const char *message) {
    (void)env;
    if (!guard_armed) return;
    report_and_exit("LMDB found it inconsistent: ", message);
}

// The handler runs on its own stack so that a fault that exhausted a thread's stack
// (runaway recursion over a cyclic tree) is still reported. An alternate stack belongs
// to one thread: each thread that reads an environment gets its own on its first
// transaction (perflog_fault_guard_enter_thread), freed when the thread ends.
static pthread_key_t stack_key;
static pthread_once_t stack_key_once = PTHREAD_ONCE_INIT;
static __thread int thread_has_stack;

static void free_thread_stack(void *stack) {
    stack_t off = {.ss_sp = NULL, .ss_size = 0, .ss_flags = SS_DISABLE};
    sigaltstack(&off, NULL);
    free(stack);
}

static void make_stack_key(void) { pthread_key_create(&stack_key, free_thread_stack); }

static int give_thread_stack(void) {
    if (thread_has_stack) return 0;
    size_t size = SIGSTKSZ > 65536 ? SIGSTKSZ : 65536;
    stack_t alt = {.ss_sp = malloc(size), .ss_size = size, .ss_flags = 0};
    if (!alt.ss_sp) return ENOMEM;
    if (sigaltstack(&alt, NULL) != 0) {
        int e = errno;
        free(alt.ss_sp);
        return e;
    }
    pthread_once(&stack_key_once, make_stack_key);
    pthread_setspecific(stack_key, alt.ss_sp);
    thread_has_stack = 1;
    return 0;
}

void perflog_fault_guard_enter_thread(void) {
    if (guard_armed) (void)give_thread_stack();
}

int perflog_fault_guard_install(const char *prefix, const char *suffix, const char *data_path,
                                const char *marker_path, int status) {
    char *p = strdup(prefix), *s = strdup(suffix), *d = strdup(data_path), *m = strdup(marker_path);
    if (!p || !s || !d || !m) { free(p); free(s); free(d); free(m); return ENOMEM; }
    guard_prefix = p;
    guard_suffix = s;
    guard_data_path = d;
    guard_marker_path = m;
    guard_status = status;
    if (guard_armed) return 0;

    int rc = give_thread_stack();
    if (rc != 0) return rc;
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_sigaction = on_fault;
    action.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_NODEFER;
    sigfillset(&action.sa_mask);
    if (sigaction(SIGSEGV, &action, NULL) != 0) return errno;
    if (sigaction(SIGBUS, &action, NULL) != 0) return errno;
    guard_armed = 1;
    return 0;
}

int perflog_fault_guard_installed(void) { return guard_armed; }

void perflog_fault_guard_attach(MDB_env *env) { mdb_env_set_assert(env, on_lmdb_assert); }
