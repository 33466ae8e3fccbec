/* caption_output.c - CSV records appended whole, resume keys read back, photo.txt side files. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../core/file.h"
#include "caption_output.h"

struct iris_caption_csv {
    int fd, is_stdout, fsync_each;
    char *path;
    char **done; /* sorted first fields of the records found when resuming */
    size_t n_done, n_torn;
};

char *iris_caption_csv_field(const char *s) {
    size_t n = strlen(s), q = 0;
    int quote = n && (s[0] == ' ' || s[0] == '\t' || s[n - 1] == ' ' || s[n - 1] == '\t');
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '"') q++;
        if (s[i] == '"' || s[i] == ',' || s[i] == '\n' || s[i] == '\r') quote = 1;
    }
    char *out = malloc(n + q + 3), *o = out;
    if (!out) return NULL;
    if (quote) *o++ = '"';
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '"') *o++ = '"';
        *o++ = s[i];
    }
    if (quote) *o++ = '"';
    *o = 0;
    return out;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Reads the records; returns the length of the whole records (what is kept) and, with keys, their
   first fields (header excluded). */
static iris_status scan(iris_caption_csv *c, const char *data, size_t size, int keys, size_t *keep) {
    size_t rec_start = 0, n_rec = 0, cap = 0;
    int in_q = 0, field = 0;
    char *key = malloc(size + 1);
    size_t klen = 0;
    if (!key) return iris_fail(IRIS_ERR_NOMEM, "%s: out of memory", c->path);
    *keep = 0;
    for (size_t i = 0; i < size; i++) {
        char ch = data[i];
        if (in_q) {
            if (ch == '"' && i + 1 < size && data[i + 1] == '"') {
                if (!field) key[klen++] = '"';
                i++;
            } else if (ch == '"') {
                in_q = 0;
            } else if (!field) {
                key[klen++] = ch;
            }
        } else if (ch == '"') {
            in_q = 1;
        } else if (ch == ',') {
            field++;
        } else if (ch == '\n') {
            if (klen && key[klen - 1] == '\r' && !field) klen--;
            if (keys && n_rec > 0) {
                if (c->n_done == cap) {
                    char **nd = realloc(c->done, sizeof *nd * (cap = cap ? 2 * cap : 256));
                    if (!nd) break;
                    c->done = nd;
                }
                if (!(c->done[c->n_done] = strndup(key, klen))) break;
                c->n_done++;
            }
            n_rec++, rec_start = i + 1, field = 0, klen = 0;
            *keep = rec_start;
        } else if (!field) {
            key[klen++] = ch;
        }
    }
    (void)rec_start;
    free(key);
    if (c->n_done > 1) qsort(c->done, c->n_done, sizeof *c->done, cmp_str);
    return IRIS_OK;
}

static iris_status write_all(iris_caption_csv *c, const char *s, size_t n) {
    /* one write() for the whole record: O_APPEND keeps it in one piece */
    ssize_t w = write(c->fd, s, n);
    if (w == (ssize_t)n) {
        if (c->fsync_each && !c->is_stdout && fsync(c->fd))
            return iris_fail(IRIS_ERR_IO, "%s: %s", c->path, strerror(errno));
        return IRIS_OK;
    }
    int e = w < 0 ? errno : ENOSPC;
    if (w > 0 && !c->is_stdout) {
        /* cut the partial record away again */
        struct stat sb;
        if (!fstat(c->fd, &sb) && sb.st_size >= w && ftruncate(c->fd, sb.st_size - w)) { /* nothing more to do */ }
    }
    return iris_fail(IRIS_ERR_IO, "%s: %s", c->path, strerror(e));
}

iris_status iris_caption_csv_open(iris_caption_csv **out, const char *path, int resume, int fsync_each) {
    *out = NULL;
    int is_stdout = !path || !strcmp(path, "-");
    if (is_stdout && resume) return iris_fail(IRIS_ERR_ARG, "--resume needs an output file (-o)");
    iris_caption_csv *c = calloc(1, sizeof *c);
    if (!c || !(c->path = strdup(is_stdout ? "stdout" : path))) {
        free(c);
        return iris_fail(IRIS_ERR_NOMEM, "out of memory");
    }
    c->is_stdout = is_stdout, c->fsync_each = fsync_each;
    c->fd = is_stdout ? STDOUT_FILENO : open(path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    iris_status st = c->fd < 0 ? iris_fail(IRIS_ERR_IO, "%s: %s", path, strerror(errno)) : IRIS_OK;
    off_t size = 0;
    if (!st && !is_stdout) {
        struct stat sb;
        if (fstat(c->fd, &sb)) st = iris_fail(IRIS_ERR_IO, "%s: %s", path, strerror(errno));
        else size = sb.st_size;
    }
    if (!st && size > 0) {
        char *data = malloc((size_t)size);
        ssize_t got = data ? pread(c->fd, data, (size_t)size, 0) : -1;
        size_t keep = 0;
        if (got != size) st = iris_fail(IRIS_ERR_IO, "%s: cannot read it back", path);
        if (!st) st = scan(c, data, (size_t)size, resume, &keep);
        if (!st && keep < (size_t)size) {
            c->n_torn = (size_t)size - keep;
            if (ftruncate(c->fd, (off_t)keep)) st = iris_fail(IRIS_ERR_IO, "%s: %s", path, strerror(errno));
            size = (off_t)keep;
        }
        free(data);
    }
    static const char header[] = "file,caption,tokens,seconds\n";
    if (!st && size == 0) st = write_all(c, header, sizeof header - 1);
    if (st) {
        iris_caption_csv_close(c);
        return st;
    }
    *out = c;
    return IRIS_OK;
}

int iris_caption_csv_is_done(const iris_caption_csv *c, const char *file) {
    return c->n_done && bsearch(&file, c->done, c->n_done, sizeof *c->done, cmp_str) != NULL;
}

size_t iris_caption_csv_n_done(const iris_caption_csv *c) { return c->n_done; }
size_t iris_caption_csv_n_torn(const iris_caption_csv *c) { return c->n_torn; }

iris_status iris_caption_csv_write(iris_caption_csv *c, const char *file, const char *caption, int tokens,
                                   double seconds) {
    char *f = iris_caption_csv_field(file), *t = iris_caption_csv_field(caption);
    size_t n = (f ? strlen(f) : 0) + (t ? strlen(t) : 0) + 64;
    char *line = f && t ? malloc(n) : NULL;
    iris_status st = line ? IRIS_OK : iris_fail(IRIS_ERR_NOMEM, "out of memory");
    if (!st) {
        int len = snprintf(line, n, "%s,%s,%d,%.3f\n", f, t, tokens, seconds);
        st = write_all(c, line, (size_t)len);
    }
    free(f), free(t), free(line);
    return st;
}

iris_status iris_caption_csv_close(iris_caption_csv *c) {
    if (!c) return IRIS_OK;
    iris_status st = IRIS_OK;
    if (!c->is_stdout && c->fd >= 0 && close(c->fd)) st = iris_fail(IRIS_ERR_IO, "%s: %s", c->path, strerror(errno));
    for (size_t i = 0; i < c->n_done; i++) free(c->done[i]);
    free(c->done), free(c->path), free(c);
    return st;
}

int iris_caption_txt_path(const char *image, char *buf, size_t n) {
    size_t len = strlen(image);
    const char *slash = strrchr(image, '/'), *dot = strrchr(image, '.');
    if (dot && (!slash || dot > slash + 1)) len = (size_t)(dot - image);
    if (len + 5 > n) return 0;
    memcpy(buf, image, len);
    memcpy(buf + len, ".txt", 5);
    return 1;
}

iris_status iris_caption_txt_write(const char *path, const char *text) {
    size_t n = strlen(text);
    char *s = malloc(n + 2);
    if (!s) return iris_fail(IRIS_ERR_NOMEM, "out of memory");
    memcpy(s, text, n);
    s[n] = '\n';
    iris_status st = iris_write_atomic(path, s, n + 1);
    free(s);
    return st;
}
