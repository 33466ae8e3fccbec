/* file.c - mmap for loaders, temp-and-rename for writers. */
#include "file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

iris_status iris_map_open(iris_map *m, const char *path) {
    memset(m, 0, sizeof *m);
    snprintf(m->path, sizeof m->path, "%s", path);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return iris_fail(IRIS_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) < 0) {
        int e = errno;
        close(fd);
        return iris_fail(IRIS_ERR_IO, "%s: cannot stat: %s", path, strerror(e));
    }
    if (!S_ISREG(sb.st_mode)) {
        close(fd);
        return iris_fail(IRIS_ERR_IO, "%s: not a regular file", path);
    }
    m->size = (size_t)sb.st_size;
    if (m->size) {
        void *p = mmap(NULL, m->size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (p == MAP_FAILED) {
            int e = errno;
            close(fd);
            return iris_fail(IRIS_ERR_IO, "%s: cannot map: %s", path, strerror(e));
        }
        m->data = p;
    }
    close(fd);
    return IRIS_OK;
}

void iris_map_close(iris_map *m) {
    if (m->data) munmap((void *)m->data, m->size);
    m->data = NULL;
    m->size = 0;
}

int iris_map_range(const iris_map *m, uint64_t off, uint64_t len) {
    return off <= m->size && len <= m->size - off;
}

iris_status iris_write_atomic(const char *path, const void *data, size_t n) {
    char tmp[4096];
    if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid()) >= sizeof tmp)
        return iris_fail(IRIS_ERR_ARG, "%s: path too long", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return iris_fail(IRIS_ERR_IO, "%s: cannot create: %s", tmp, strerror(errno));
    const char *p = data;
    size_t left = n;
    while (left) {
        ssize_t w = write(fd, p, left);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            int e = w < 0 ? errno : ENOSPC;
            close(fd);
            unlink(tmp);
            return iris_fail(IRIS_ERR_IO, "%s: write failed: %s", path, strerror(e));
        }
        p += w;
        left -= (size_t)w;
    }
    if (fsync(fd) < 0 && errno != EINVAL) {
        int e = errno;
        close(fd);
        unlink(tmp);
        return iris_fail(IRIS_ERR_IO, "%s: write failed: %s", path, strerror(e));
    }
    if (close(fd) < 0) {
        int e = errno;
        unlink(tmp);
        return iris_fail(IRIS_ERR_IO, "%s: write failed: %s", path, strerror(e));
    }
    if (rename(tmp, path) < 0) {
        int e = errno;
        unlink(tmp);
        return iris_fail(IRIS_ERR_IO, "%s: cannot rename temporary file: %s", path, strerror(e));
    }
    return IRIS_OK;
}

iris_status iris_read_file(const char *path, char **out, size_t *size) {
    *out = NULL;
    if (size) *size = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return iris_fail(IRIS_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        size_t r = fread(buf + n, 1, cap - n - 1, f);
        n += r;
        if (n + 1 < cap) break;
        char *nb = realloc(buf, cap * 2);
        if (!nb) { free(buf); buf = NULL; break; }
        buf = nb;
        cap *= 2;
    }
    int err = ferror(f);
    fclose(f);
    if (!buf) return iris_fail(IRIS_ERR_NOMEM, "%s: out of memory reading file", path);
    if (err) { free(buf); return iris_fail(IRIS_ERR_IO, "%s: read error", path); }
    buf[n] = 0;
    *out = buf;
    if (size) *size = n;
    return IRIS_OK;
}

iris_status iris_make_parent_dirs(const char *path) {
    char buf[4096];
    size_t n = strlen(path);
    if (n >= sizeof buf) return iris_fail(IRIS_ERR_ARG, "%s: path too long", path);
    memcpy(buf, path, n + 1);
    char *slash = strrchr(buf, '/');
    if (!slash || slash == buf) return IRIS_OK;
    *slash = 0;
    for (char *p = buf + 1; ; p++) {
        if (*p == '/' || !*p) {
            char c = *p;
            *p = 0;
            if (mkdir(buf, 0755) < 0 && errno != EEXIST)
                return iris_fail(IRIS_ERR_IO, "%s: cannot create folder %s: %s", path, buf, strerror(errno));
            *p = c;
            if (!c) break;
        }
    }
    struct stat st;
    if (stat(buf, &st) < 0 || !S_ISDIR(st.st_mode))
        return iris_fail(IRIS_ERR_IO, "%s: %s is not a folder", path, buf);
    return IRIS_OK;
}
