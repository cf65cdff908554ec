/*
 * Cell isolation: fork, limits in the child, a watchdog in the parent, the
 * child's output back through a pipe (see isolate.h). The parent reads the
 * pipe while the child runs, so output larger than the pipe buffer cannot
 * deadlock, and it never blocks in wait4 on a child that could hang: once
 * the pipe is closed it polls for the exit until the deadline.
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

#include "common/install.h"
#include "harness/isolate.h"


#define ISO_MAGIC 0x49424345u /* "ECBI" */

typedef struct {
    uint32_t magic;
    int32_t code;
    uint64_t len;
} iso_header;

/* Signal state of a sweep: the only mutable file-scope data of the core,
 * because a signal handler can reach nothing else. */
static volatile sig_atomic_t g_signal;
static volatile pid_t g_child;
static pid_t g_parent; /* for the child: who forked it */
static struct sigaction g_old_int, g_old_term;
static int g_installed;

static const char *sig_name(int sig)
{
    switch (sig) {
    case SIGSEGV: return "SIGSEGV";
    case SIGBUS: return "SIGBUS";
    case SIGABRT: return "SIGABRT";
    case SIGFPE: return "SIGFPE";
    case SIGILL: return "SIGILL";
    case SIGKILL: return "SIGKILL";
    case SIGTERM: return "SIGTERM";
    case SIGINT: return "SIGINT";
    case SIGTRAP: return "SIGTRAP";
    case SIGSYS: return "SIGSYS";
    case SIGPIPE: return "SIGPIPE";
    case SIGXCPU: return "SIGXCPU";
    case SIGXFSZ: return "SIGXFSZ";
    default: return "signal";
    }
}

static void say(const char *s)
{
    ssize_t r = write(STDERR_FILENO, s, strlen(s));
    (void)r;
}

static void on_signal(int sig)
{
    if (!g_signal) {
        g_signal = sig;
        say(sig == SIGINT ? "\necbench: interrupted (SIGINT): finishing the current cell, then "
                            "stopping; send it again to stop now\n"
                          : "\necbench: terminated (SIGTERM): finishing the current cell, then "
                            "stopping; send it again to stop now\n");
        return;
    }
    pid_t c = g_child;
    if (c > 0) kill(c, SIGKILL);
    say("ecbench: stopped at once; the running cell is not recorded (re-run to resume)\n");
    _exit(128 + sig);
}

void ecb_interrupt_install(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    g_signal = 0;
    g_child = 0;
    sigaction(SIGINT, &sa, &g_old_int);
    sigaction(SIGTERM, &sa, &g_old_term);
    g_installed = 1;
}

void ecb_interrupt_restore(void)
{
    if (!g_installed) return;
    sigaction(SIGINT, &g_old_int, NULL);
    sigaction(SIGTERM, &g_old_term, NULL);
    g_installed = 0;
}

int ecb_interrupted(void) { return (int)g_signal; }

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int write_all(int fd, const void *p, size_t n)
{
    const char *c = p;
    while (n > 0) {
        ssize_t w = write(fd, c, n);
        if (w < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        c += w;
        n -= (size_t)w;
    }
    return 0;
}

static void child_main(int wfd, const ecb_iso_limits *lim, ecb_iso_fn fn, void *arg)
{
    /* The parent decides what a Ctrl-C means; a dead parent takes the child
     * with it, so no orphan keeps computing a cell nobody will record. */
    signal(SIGINT, SIG_IGN);
    signal(SIGTERM, SIG_IGN);
    signal(SIGPIPE, SIG_DFL);
    /* crash handlers of the parent (a test framework's, say) must not turn
     * the child's crash into something else */
    signal(SIGSEGV, SIG_DFL);
    signal(SIGBUS, SIG_DFL);
    signal(SIGFPE, SIG_DFL);
    signal(SIGILL, SIG_DFL);
    signal(SIGABRT, SIG_DFL);
#ifdef __linux__
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != g_parent) _exit(3); /* the parent died before prctl */
#endif
    struct rlimit rl = {0, 0};
    setrlimit(RLIMIT_CORE, &rl); /* deliberate crashes should not litter cores */
    if (lim && lim->memory_limit_mb > 0) {
        double b = lim->memory_limit_mb * 1048576.0;
        rlim_t v = b >= (double)RLIM_INFINITY ? RLIM_INFINITY : (rlim_t)b;
        rl.rlim_cur = v;
        rl.rlim_max = v;
        setrlimit(RLIMIT_AS, &rl);
    }
    char *text = NULL;
    size_t len = 0;
    int code = fn(arg, &text, &len);
    iso_header h = {ISO_MAGIC, code, text ? len : 0};
    int bad = write_all(wfd, &h, sizeof h) || (h.len && write_all(wfd, text, len));
    close(wfd);
    _exit(bad ? 3 : 0);
}

int ecb_isolate_run(const ecb_iso_limits *lim, ecb_iso_fn fn, void *arg, ecb_iso_tick_fn tick,
                    void *tick_arg, ecb_iso_result *res)
{
    memset(res, 0, sizeof *res);
    int pfd[2];
    if (pipe(pfd) != 0)
        return ecb_fail(ECB_EIO, "isolation: cannot create a pipe: %s", strerror(errno));
    fflush(stdout);
    fflush(stderr);
    double t0 = now_s();
    g_parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        int e = errno;
        close(pfd[0]);
        close(pfd[1]);
        return ecb_fail(ECB_EIO, "isolation: fork failed: %s", strerror(e));
    }
    if (pid == 0) {
        close(pfd[0]);
        child_main(pfd[1], lim, fn, arg);
    }
    g_child = pid;
    close(pfd[1]);
    double limit = lim ? lim->time_limit_s : 0;
    double deadline = limit > 0 ? t0 + limit : 0;
    char *buf = NULL;
    size_t len = 0, cap = 0;
    int eof = 0, killed = 0, oom_read = 0;
    double last_tick = t0;
    /* 1: read the output until EOF (or the deadline) */
    while (!eof) {
        double now = now_s();
        if (deadline && now >= deadline) {
            kill(pid, SIGKILL);
            killed = 1;
            break;
        }
        int wait_ms = 1000;
        if (deadline && (deadline - now) * 1000.0 < wait_ms) wait_ms = (int)((deadline - now) * 1000.0) + 1;
        struct pollfd p = {pfd[0], POLLIN, 0};
        int pr = poll(&p, 1, wait_ms);
        if (pr > 0) {
            if (cap - len < 65536) {
                size_t nc = cap ? cap * 2 : 131072;
                char *nb = realloc(buf, nc);
                if (!nb) { /* cannot hold the output: drop the child */
                    kill(pid, SIGKILL);
                    oom_read = 1;
                    break;
                }
                buf = nb;
                cap = nc;
            }
            ssize_t r = read(pfd[0], buf + len, cap - len - 1);
            if (r > 0) len += (size_t)r;
            else if (r == 0) eof = 1;
            else if (errno != EINTR && errno != EAGAIN) eof = 1;
        } else if (pr < 0 && errno != EINTR) {
            eof = 1;
        }
        now = now_s();
        if (tick && now - last_tick >= 1.0) {
            last_tick = now;
            tick(tick_arg, now - t0);
        }
    }
    close(pfd[0]);
    /* 2: reap, without blocking past the deadline */
    int st = 0;
    struct rusage ru;
    memset(&ru, 0, sizeof ru);
    for (;;) {
        pid_t w = wait4(pid, &st, killed ? 0 : WNOHANG, &ru);
        if (w == pid) break;
        if (w < 0 && errno != EINTR) {
            st = 0;
            break;
        }
        if (w == 0) {
            double now = now_s();
            if (deadline && now >= deadline) {
                kill(pid, SIGKILL);
                killed = 1;
                continue;
            }
            struct timespec ts = {0, 20 * 1000 * 1000};
            nanosleep(&ts, NULL);
            if (tick && now - last_tick >= 1.0) {
                last_tick = now;
                tick(tick_arg, now - t0);
            }
        }
    }
    g_child = 0;
    res->seconds = now_s() - t0;
    res->peak_rss_mb = (double)ru.ru_maxrss / 1024.0;

    iso_header h;
    int complete = len >= sizeof h;
    if (complete) {
        memcpy(&h, buf, sizeof h);
        complete = h.magic == ISO_MAGIC && h.len == len - sizeof h;
    }
    if (killed && !(complete && WIFEXITED(st) && WEXITSTATUS(st) == 0)) {
        res->status = ECB_ISO_TIMEOUT;
        snprintf(res->reason, sizeof res->reason,
                 "no result after %g s (time_limit_s): killed with SIGKILL", limit);
    } else if (oom_read) {
        res->status = ECB_ISO_OOM;
        snprintf(res->reason, sizeof res->reason,
                 "the parent ran out of memory reading the cell's output (%zu bytes so far)", len);
    } else if (WIFSIGNALED(st)) {
        int sig = WTERMSIG(st);
        if (sig == SIGKILL) {
            res->status = ECB_ISO_OOM;
            snprintf(res->reason, sizeof res->reason,
                     "killed by signal 9 (SIGKILL), not sent by ecbench: most likely the kernel's "
                     "out-of-memory killer (peak RSS %.0f MiB)", res->peak_rss_mb);
        } else {
            res->status = ECB_ISO_CRASHED;
            if (lim && lim->memory_limit_mb > 0)
                snprintf(res->reason, sizeof res->reason,
                         "killed by signal %d (%s); memory_limit_mb was %g", sig, sig_name(sig),
                         lim->memory_limit_mb);
            else
                snprintf(res->reason, sizeof res->reason, "killed by signal %d (%s)", sig,
                         sig_name(sig));
        }
    } else if (!complete || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        res->status = ECB_ISO_CRASHED;
        snprintf(res->reason, sizeof res->reason,
                 "the cell's process exited with status %d without a complete result "
                 "(%zu bytes received)", WIFEXITED(st) ? WEXITSTATUS(st) : -1, len);
    } else {
        res->status = ECB_ISO_OK;
        res->code = h.code;
        res->len = (size_t)h.len;
        memmove(buf, buf + sizeof h, res->len);
        buf[res->len] = '\0';
        res->text = buf;
        buf = NULL;
    }
    free(buf);
    return 0;
}

void ecb_iso_result_release(ecb_iso_result *res)
{
    if (!res) return;
    free(res->text);
    res->text = NULL;
    res->len = 0;
}

static int same_dir(const char *dir_of_file, const char *dir)
{
    char a[PATH_MAX], b[PATH_MAX];
    if (!realpath(dir_of_file, a) || !realpath(dir, b)) return 0;
    char *slash = strrchr(a, '/');
    if (!slash) return 0;
    *slash = '\0';
    return strcmp(a, b) == 0;
}

int ecb_plugin_is_external(const ecb_plugin *p)
{
    if (!p || !p->path) return 1;
    char own[PATH_MAX];
    if (ecb_install_dir(ECB_DIR_METHODS, own, sizeof own) != 0) {
        ecb_clear_error();
        return 1;
    }
    return !same_dir(p->path, own);
}
