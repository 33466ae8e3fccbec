/* progress.c - the progress bar and the closing summary line. The
   formatting is pure (testable without a terminal or a clock); drawing is
   throttled to 10 frames a second and happens only on a terminal. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "internal.h"

double iris_cli_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

char *iris_cli_fmt_duration(char *buf, size_t n, double s) {
    if (!isfinite(s) || s < 0 || s > 1e9) {
        snprintf(buf, n, "--");
        return buf;
    }
    long long t = (long long)(s + 0.5);
    if (t < 60) snprintf(buf, n, "%llds", t);
    else if (t < 3600) snprintf(buf, n, "%lldm%02llds", t / 60, t % 60);
    else if (t < 100 * 3600) snprintf(buf, n, "%lldh%02lldm", t / 3600, t / 60 % 60);
    else snprintf(buf, n, "%lldh", t / 3600);
    return buf;
}

char *iris_cli_fmt_rate(char *buf, size_t n, double r) {
    if (!isfinite(r) || r < 0) snprintf(buf, n, "--");
    else if (r < 1) snprintf(buf, n, "%.2f", r);
    else if (r < 99.95) snprintf(buf, n, "%.1f", r);
    else snprintf(buf, n, "%.0f", r);
    return buf;
}

/* Start of the last `keep` bytes of s, moved forward past UTF-8 continuation bytes. */
static const char *tail(const char *s, size_t keep) {
    size_t len = strlen(s);
    const char *t = len > keep ? s + len - keep : s;
    while (((unsigned char)*t & 0xc0) == 0x80) t++;
    return t;
}

char *iris_cli_fmt_bar(char *buf, size_t n, size_t done, size_t total, double elapsed, size_t n_timed,
                       const char *unit, const char *current, int width) {
    if (!n) return buf;
    size_t limit = width > 1 ? (size_t)width - 1 : 0;
    if (limit >= n) limit = n - 1;
    double rate = n_timed > 0 && elapsed > 0 ? (double)n_timed / elapsed : NAN;
    char r[32], eta[32];
    iris_cli_fmt_rate(r, sizeof r, rate);
    int len;
    if (total > 0) {
        char bar[40];
        int bw = width >= 100 ? 30 : width >= 60 ? 20 : 10;
        size_t d = done < total ? done : total;
        int k = (int)((double)d * bw / (double)total);
        for (int i = 0; i < bw; i++) bar[i] = i < k ? '=' : (i == k && d > 0 ? '>' : ' ');
        bar[bw] = 0;
        iris_cli_fmt_duration(eta, sizeof eta, isfinite(rate) ? (double)(total - d) / rate : NAN);
        len = snprintf(buf, n, "[%s] %zu/%zu %s %s/s ETA %s", bar, done, total, r, unit ? unit : "it", eta);
    } else {
        len = snprintf(buf, n, "%zu %s %s/s", done, r, unit ? unit : "it");
    }
    size_t used = len < 0 ? 0 : (size_t)len;
    if (used > limit) used = limit;
    buf[used] = 0;
    if (current && *current && used + 2 + 8 <= limit) {
        size_t room = limit - used - 2;
        if (strlen(current) <= room) snprintf(buf + used, n - used, "  %s", current);
        else snprintf(buf + used, n - used, "  ...%s", tail(current, room - 3));
    }
    return buf;
}

char *iris_cli_fmt_summary(char *buf, size_t n, const iris_cli_progress *p, double seconds) {
    const char *noun = p->noun ? p->noun : "item";
    size_t len = 0;
    int w = snprintf(buf, n, "%s %zu %s%s, %zu failed, %zu skipped", p->verb ? p->verb : "processed", p->n_ok, noun,
                     p->n_ok == 1 ? "" : "s", p->n_failed, p->n_skipped);
    if (w > 0) len = (size_t)w < n ? (size_t)w : n - 1;
    if (p->n_resumed && len < n) {
        w = snprintf(buf + len, n - len, ", %zu already done", p->n_resumed);
        if (w > 0) len += (size_t)w < n - len ? (size_t)w : n - len - 1;
    }
    if (len < n) {
        size_t timed = p->n_ok + p->n_failed;
        char r[32];
        if (timed && seconds > 0)
            snprintf(buf + len, n - len, ", %.1f s (%s %s/s)", seconds, iris_cli_fmt_rate(r, sizeof r, timed / seconds),
                     p->unit ? p->unit : "it");
        else snprintf(buf + len, n - len, ", %.1f s", seconds > 0 ? seconds : 0.0);
    }
    return buf;
}

static int term_width(void) {
    struct winsize ws;
    if (ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col >= 20) return ws.ws_col;
    const char *c = getenv("COLUMNS");
    int v = c ? atoi(c) : 0;
    return v >= 20 ? v : 80;
}

static void draw(iris_cli_progress *p) {
    if (!p->tty) return;
    double now = iris_cli_now();
    if (p->t_drawn >= 0 && now - p->t_drawn < 0.1) return;
    p->t_drawn = now;
    char line[1024];
    iris_cli_fmt_bar(line, sizeof line, p->n_ok + p->n_failed + p->n_skipped, p->total, now - p->t_start,
                     p->n_ok + p->n_failed, p->unit, p->current, term_width());
    cli_status_show(line);
}

void iris_cli_progress_begin(iris_cli_progress *p, size_t total, const char *verb, const char *noun, const char *unit,
                             int quiet) {
    memset(p, 0, sizeof *p);
    p->verb = verb, p->noun = noun, p->unit = unit;
    p->total = total;
    p->quiet = quiet;
    const char *term = getenv("TERM");
    p->tty = !quiet && isatty(STDERR_FILENO) && !(term && !strcmp(term, "dumb"));
    p->t_start = iris_cli_now();
    p->t_drawn = -1;
}

void iris_cli_progress_current(iris_cli_progress *p, const char *name) {
    snprintf(p->current, sizeof p->current, "%s", name ? name : "");
    draw(p);
}

void iris_cli_progress_count(iris_cli_progress *p, iris_cli_item outcome) {
    if (outcome == IRIS_CLI_ITEM_OK) p->n_ok++;
    else if (outcome == IRIS_CLI_ITEM_FAILED) p->n_failed++;
    else p->n_skipped++;
    draw(p);
}

void iris_cli_progress_end(iris_cli_progress *p) {
    if (p->tty) cli_status_clear();
    if (p->quiet) return;
    char line[512], msg[600];
    iris_cli_fmt_summary(line, sizeof line, p, iris_cli_now() - p->t_start);
    snprintf(msg, sizeof msg, "%s%s", iris_cli_interrupted() ? "interrupted: " : "", line);
    cli_log_line(msg);
}
