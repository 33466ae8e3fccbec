/* jsonl.c - the output file of a batch run: whole lines only, appended with
   one write() each, so a run killed at any moment leaves a valid file that
   a resumed run continues without repeating or losing a record. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "internal.h"

struct iris_cli_out {
    int fd;
    int is_stdout, stdout_tty;
    int own_file;  /* opened by us with O_APPEND: `size` is where the next line lands */
    int fsync_each;
    off_t size;
    char *name;    /* for messages */
    char *key;
    cli_strset done;
    size_t n_torn;
};

static iris_status io_fail(const iris_cli_out *o, const char *what, int e) {
    return iris_fail(IRIS_ERR_IO, "%s: %s%s%s", o->name, what, *what ? ": " : "", strerror(e));
}

/* Cuts a last line that has no newline (a run killed mid-write on a system
   where that can happen, or a file from elsewhere). */
static iris_status cut_torn_line(iris_cli_out *o) {
    if (o->size == 0) return IRIS_OK;
    char buf[4096];
    off_t end = o->size;
    while (end > 0) {
        size_t n = end > (off_t)sizeof buf ? sizeof buf : (size_t)end;
        ssize_t r = pread(o->fd, buf, n, end - (off_t)n);
        if (r < 0 && errno == EINTR) continue;
        if (r != (ssize_t)n) return io_fail(o, "cannot read", r < 0 ? errno : EIO);
        size_t i = n;
        while (i > 0 && buf[i - 1] != '\n') i--;
        if (i > 0) {
            end = end - (off_t)n + (off_t)i;
            break;
        }
        end -= (off_t)n;
    }
    if (end == o->size) return IRIS_OK;
    if (ftruncate(o->fd, end) != 0) return io_fail(o, "cannot cut an incomplete last line", errno);
    o->n_torn = (size_t)(o->size - end);
    iris_cli_warn("%s: removed an incomplete last line (%zu bytes) left by an interrupted run", o->name, o->n_torn);
    o->size = end;
    return IRIS_OK;
}

static void remember(iris_cli_out *o, const char *line, size_t len, size_t *n_bad) {
    if (!len) return;
    cJSON *j = cJSON_ParseWithLength(line, len);
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, o->key);
    if (cJSON_IsString(v) && v->valuestring) {
        if (cli_strset_add(&o->done, v->valuestring, strlen(v->valuestring)) < 0) (*n_bad)++;
    } else {
        (*n_bad)++;
    }
    cJSON_Delete(j);
}

#define MAX_LINE ((size_t)64 << 20) /* longer lines are not ours: ignored for resume */

/* Every complete line's key goes into o->done. */
static iris_status read_done(iris_cli_out *o) {
    size_t cap = 1 << 16, have = 0, n_bad = 0;
    int skipping = 0; /* inside an over-long line */
    char *buf = malloc(cap);
    if (!buf) return iris_fail(IRIS_ERR_NOMEM, "%s: out of memory reading it", o->name);
    off_t pos = 0;
    while (pos < o->size) {
        if (have == cap && cap >= MAX_LINE) { /* no record is this long: drop it */
            skipping = 1;
            have = 0;
        }
        if (have == cap) { /* a line longer than the buffer */
            char *nb = realloc(buf, cap * 2);
            if (!nb) {
                free(buf);
                return iris_fail(IRIS_ERR_NOMEM, "%s: out of memory reading it", o->name);
            }
            buf = nb, cap *= 2;
        }
        size_t want = cap - have;
        if ((off_t)want > o->size - pos) want = (size_t)(o->size - pos);
        ssize_t r = pread(o->fd, buf + have, want, pos);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) {
            free(buf);
            return io_fail(o, "cannot read", r < 0 ? errno : EIO);
        }
        pos += r;
        have += (size_t)r;
        size_t start = 0;
        for (size_t i = 0; i < have; i++)
            if (buf[i] == '\n') {
                if (skipping) n_bad++, skipping = 0;
                else remember(o, buf + start, i - start, &n_bad);
                start = i + 1;
            }
        memmove(buf, buf + start, have - start);
        have -= start;
    }
    free(buf);
    if (n_bad) iris_cli_warn("%s: %zu lines without a \"%s\" were ignored for --resume", o->name, n_bad, o->key);
    return IRIS_OK;
}

iris_status iris_cli_out_open(iris_cli_out **out, const char *path, const iris_cli_out_params *p) {
    *out = NULL;
    iris_cli_out_params prm = p ? *p : (iris_cli_out_params){0};
    int to_stdout = !path || !strcmp(path, "-");
    if (to_stdout && prm.resume) return iris_fail(IRIS_ERR_ARG, "--resume needs an output file (-o FILE)");
    iris_cli_out *o = calloc(1, sizeof *o);
    if (!o) return iris_fail(IRIS_ERR_NOMEM, "output: out of memory");
    o->fd = -1;
    o->fsync_each = prm.fsync;
    o->name = strdup(to_stdout ? "<stdout>" : path);
    o->key = strdup(prm.key ? prm.key : "file");
    iris_status st = IRIS_OK;
    if (!o->name || !o->key) {
        st = iris_fail(IRIS_ERR_NOMEM, "output: out of memory");
        goto fail;
    }
    if (to_stdout) {
        o->fd = STDOUT_FILENO;
        o->is_stdout = 1;
        o->stdout_tty = isatty(STDOUT_FILENO);
        *out = o;
        return IRIS_OK;
    }
    o->fd = open(path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (o->fd < 0) {
        st = io_fail(o, "cannot open", errno);
        goto fail;
    }
    if (flock(o->fd, LOCK_EX | LOCK_NB) != 0 && errno == EWOULDBLOCK) {
        st = iris_fail(IRIS_ERR_IO, "%s: another process is writing to it", path);
        goto fail;
    }
    struct stat sb;
    if (fstat(o->fd, &sb) != 0) {
        st = io_fail(o, "cannot stat", errno);
        goto fail;
    }
    if (S_ISREG(sb.st_mode)) {
        o->own_file = 1;
        o->size = sb.st_size;
        if ((st = cut_torn_line(o))) goto fail;
        if (prm.resume && (st = read_done(o))) goto fail;
    } else if (prm.resume) {
        st = iris_fail(IRIS_ERR_ARG, "%s: --resume needs a regular file", path);
        goto fail;
    }
    *out = o;
    return IRIS_OK;
fail:
    if (o->fd >= 0) close(o->fd);
    cli_strset_free(&o->done);
    free(o->name);
    free(o->key);
    free(o);
    return st;
}

int iris_cli_out_is_done(const iris_cli_out *o, const char *input) {
    return o && input && cli_strset_has(&o->done, input, strlen(input));
}

size_t iris_cli_out_n_done(const iris_cli_out *o) { return o ? o->done.n : 0; }

size_t iris_cli_out_n_torn(const iris_cli_out *o) { return o ? o->n_torn : 0; }

static iris_status write_all(iris_cli_out *o, const char *buf, size_t n) {
    size_t done = 0;
    while (done < n) {
        ssize_t w = write(o->fd, buf + done, n - done);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            int e = w < 0 ? errno : ENOSPC;
            /* leave no half line behind for the next run to trip over */
            if (o->own_file && done) {
                int r = ftruncate(o->fd, o->size);
                (void)r;
            }
            return io_fail(o, "cannot write", e);
        }
        done += (size_t)w;
    }
    o->size += (off_t)n;
    if (o->fsync_each && fsync(o->fd) != 0 && errno != EINVAL && errno != EROFS)
        return io_fail(o, "cannot sync", errno);
    return IRIS_OK;
}

iris_status iris_cli_out_write_line(iris_cli_out *o, const char *json) {
    size_t n = strlen(json);
    if (memchr(json, '\n', n)) return iris_fail(IRIS_ERR_ARG, "%s: a record must not contain a newline", o->name);
    char small[4096], *buf = n + 1 <= sizeof small ? small : malloc(n + 1);
    if (!buf) return iris_fail(IRIS_ERR_NOMEM, "%s: out of memory", o->name);
    memcpy(buf, json, n);
    buf[n] = '\n';
    if (o->stdout_tty) cli_status_suspend();
    iris_status st = write_all(o, buf, n + 1);
    if (o->stdout_tty) cli_status_resume();
    if (buf != small) free(buf);
    return st;
}

iris_status iris_cli_out_write(iris_cli_out *o, const cJSON *rec) {
    char *s = cJSON_PrintUnformatted(rec);
    if (!s) return iris_fail(IRIS_ERR_NOMEM, "%s: cannot format a record (out of memory)", o->name);
    iris_status st = iris_cli_out_write_line(o, s);
    cJSON_free(s);
    return st;
}

iris_status iris_cli_out_close(iris_cli_out *o) {
    if (!o) return IRIS_OK;
    iris_status st = IRIS_OK;
    if (!o->is_stdout && o->fd >= 0 && close(o->fd) != 0) st = io_fail(o, "cannot close", errno);
    cli_strset_free(&o->done);
    free(o->name);
    free(o->key);
    free(o);
    return st;
}
