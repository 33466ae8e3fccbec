/* log.c - one-line messages on stderr that share the terminal with the
   progress bar: the bar is wiped before a message and redrawn after it. */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "internal.h"

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static char status[1024]; /* the bar, "" when none */
static int status_visible;
static int quiet, verbose;
static void (*sink)(void *user, const char *line);
static void *sink_user;

static void draw_locked(void) {
    fprintf(stderr, "\r%s\033[K", status);
    fflush(stderr);
    status_visible = 1;
}

static void hide_locked(void) {
    if (!status_visible) return;
    fputs("\r\033[K", stderr);
    fflush(stderr);
    status_visible = 0;
}

void cli_status_show(const char *line) {
    pthread_mutex_lock(&mu);
    snprintf(status, sizeof status, "%s", line);
    draw_locked();
    pthread_mutex_unlock(&mu);
}

void cli_status_clear(void) {
    pthread_mutex_lock(&mu);
    hide_locked();
    status[0] = 0;
    pthread_mutex_unlock(&mu);
}

void cli_status_suspend(void) {
    pthread_mutex_lock(&mu);
    hide_locked();
    pthread_mutex_unlock(&mu);
}

void cli_status_resume(void) {
    pthread_mutex_lock(&mu);
    if (status[0] && !status_visible) draw_locked();
    pthread_mutex_unlock(&mu);
}

int cli_log_quiet(void) { return quiet; }

void iris_cli_set_verbosity(int q, int v) {
    quiet = q;
    verbose = v;
}

void iris_cli_set_log_sink(void (*fn)(void *user, const char *line), void *user) {
    pthread_mutex_lock(&mu);
    sink = fn;
    sink_user = user;
    pthread_mutex_unlock(&mu);
}

static void emit(const char *prefix, const char *fmt, va_list ap) {
    char line[2048];
    size_t n = (size_t)snprintf(line, sizeof line, "%s", prefix);
    vsnprintf(line + n, sizeof line - n, fmt, ap);
    line[strcspn(line, "\n")] = 0; /* one message, one line */
    pthread_mutex_lock(&mu);
    if (sink) {
        sink(sink_user, line);
    } else {
        int was = status_visible;
        hide_locked();
        fprintf(stderr, "%s\n", line);
        if (was) draw_locked();
        else fflush(stderr);
    }
    pthread_mutex_unlock(&mu);
}

static void emit_f(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void emit_f(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    emit("", fmt, ap);
    va_end(ap);
}

void cli_log_line(const char *line) { emit_f("%s", line); }

void iris_cli_warn(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    emit("warning: ", fmt, ap);
    va_end(ap);
}

void iris_cli_error(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    emit("error: ", fmt, ap);
    va_end(ap);
}

int iris_cli_fatal(int code, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    emit("error: ", fmt, ap);
    va_end(ap);
    return code;
}

void iris_cli_info(const char *fmt, ...) {
    if (quiet) return;
    va_list ap;
    va_start(ap, fmt);
    emit("", fmt, ap);
    va_end(ap);
}

void iris_cli_debug(int level, const char *fmt, ...) {
    if (verbose < level) return;
    va_list ap;
    va_start(ap, fmt);
    emit("", fmt, ap);
    va_end(ap);
}
