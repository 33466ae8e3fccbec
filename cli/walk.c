/* walk.c - PATH... to a list of image files: named files as given, folders
   searched recursively in a stable byte-wise order, with hidden names,
   non-images and symbolic-link loops passed over with a warning, never a stop. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "internal.h"

typedef struct walker {
    iris_cli_walk *w;
    iris_cli_walk_opts o;
    size_t cap;
    cli_strset paths;   /* every path kept, so nothing is listed twice */
    cli_strset visited; /* "dev:ino" of every folder entered */
    int oom;
} walker;

static void add(walker *k, const char *path, iris_cli_image_kind kind) {
    int added = cli_strset_add(&k->paths, path, strlen(path));
    if (added <= 0) {
        if (added < 0) k->oom = 1;
        return;
    }
    iris_cli_walk *w = k->w;
    if (w->n == k->cap) {
        size_t cap = k->cap ? k->cap * 2 : 256;
        iris_cli_file *f = realloc(w->files, cap * sizeof *f);
        if (!f) {
            k->oom = 1;
            return;
        }
        w->files = f;
        k->cap = cap;
    }
    char *copy = strdup(path);
    if (!copy) {
        k->oom = 1;
        return;
    }
    w->files[w->n++] = (iris_cli_file){copy, kind};
}

/* The format a name promises, for the warning when its bytes disagree. */
static const char *promised_format(const char *name) {
    static const char *const map[][2] = {
        {"jpg", "JPEG"}, {"jpeg", "JPEG"}, {"jpe", "JPEG"}, {"jfif", "JPEG"}, {"png", "PNG"},   {"gif", "GIF"},
        {"bmp", "BMP"},  {"dib", "BMP"},   {"webp", "WebP"}, {"ppm", "PNM"},  {"pgm", "PNM"},  {"pnm", "PNM"},
        {"tif", "TIFF"}, {"tiff", "TIFF"}, {"psd", "PSD"},  {"tga", "TGA"},   {"heic", "HEIC"}, {"heif", "HEIF"},
        {"avif", "AVIF"}, {"jxl", "JPEG XL"},
    };
    const char *base = strrchr(name, '/');
    base = base ? base + 1 : name;
    const char *dot = strrchr(base, '.');
    if (!dot || dot == base) return NULL;
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (!strcasecmp(dot + 1, map[i][0])) return map[i][1];
    return NULL;
}

/* Reads the first bytes; -1 (errno set) if the file cannot be read. */
static ssize_t head(const char *path, uint8_t *buf, size_t n) {
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0) return -1;
    ssize_t got = 0;
    while ((size_t)got < n) {
        ssize_t r = read(fd, buf + got, n - (size_t)got);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) {
            int e = errno;
            close(fd);
            errno = e;
            return -1;
        }
        if (r == 0) break;
        got += r;
    }
    close(fd);
    return got;
}

static void found_file(walker *k, const char *path) {
    uint8_t buf[32];
    ssize_t n = head(path, buf, sizeof buf);
    if (n < 0) {
        iris_cli_warn("%s: cannot read: %s", path, strerror(errno));
        k->w->n_errors++;
        return;
    }
    iris_cli_image_kind kind = iris_cli_sniff(buf, (size_t)n, path);
    if (kind != IRIS_CLI_NOT_IMAGE || k->o.all_files) {
        add(k, path, kind);
        return;
    }
    const char *fmt = promised_format(path);
    if (!fmt) {
        k->w->n_ignored++;
        return;
    }
    if (n == 0) iris_cli_warn("%s: empty file (skipped)", path);
    else iris_cli_warn("%s: not a %s file (skipped)", path, fmt);
    k->w->n_skipped++;
}

static int by_name(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static int by_path(const void *a, const void *b) {
    return strcmp(((const iris_cli_file *)a)->path, ((const iris_cli_file *)b)->path);
}

static char *join(const char *dir, const char *name) {
    size_t ld = strlen(dir), ln = strlen(name);
    int slash = ld > 0 && dir[ld - 1] != '/';
    char *p = malloc(ld + (size_t)slash + ln + 1);
    if (!p) return NULL;
    memcpy(p, dir, ld);
    if (slash) p[ld] = '/';
    memcpy(p + ld + slash, name, ln + 1);
    return p;
}

/* 1 the first time this folder is seen, 0 after, -1 out of memory. */
static int first_visit(walker *k, const struct stat *st) {
    char key[64];
    int n = snprintf(key, sizeof key, "%llx:%llx", (unsigned long long)st->st_dev, (unsigned long long)st->st_ino);
    int r = cli_strset_add(&k->visited, key, (size_t)n);
    if (r < 0) k->oom = 1;
    return r;
}

static void walk_dir(walker *k, const char *dir) {
    DIR *d = opendir(dir);
    if (!d) {
        iris_cli_warn("%s: cannot open folder: %s", dir, strerror(errno));
        k->w->n_errors++;
        return;
    }
    /* names first, then close: deep trees must not hold one descriptor per level */
    char **names = NULL;
    size_t n = 0, cap = 0;
    for (;;) {
        errno = 0;
        struct dirent *e = readdir(d);
        if (!e) {
            if (errno) {
                iris_cli_warn("%s: cannot list folder: %s", dir, strerror(errno));
                k->w->n_errors++;
            }
            break;
        }
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        if (e->d_name[0] == '.' && !k->o.hidden) {
            k->w->n_hidden++;
            continue;
        }
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            char **nn = realloc(names, cap * sizeof *nn);
            if (!nn) {
                k->oom = 1;
                break;
            }
            names = nn;
        }
        if (!(names[n] = strdup(e->d_name))) {
            k->oom = 1;
            break;
        }
        n++;
    }
    closedir(d);
    if (n) qsort(names, n, sizeof *names, by_name);

    for (size_t i = 0; i < n && !k->oom; i++) {
        char *path = join(dir, names[i]);
        if (!path) {
            k->oom = 1;
            break;
        }
        struct stat lst, st;
        if (lstat(path, &lst) != 0) {
            iris_cli_warn("%s: %s", path, strerror(errno));
            k->w->n_errors++;
        } else if (S_ISLNK(lst.st_mode) && stat(path, &st) != 0) {
            iris_cli_warn("%s: broken symbolic link (skipped)", path);
            k->w->n_skipped++;
        } else {
            if (!S_ISLNK(lst.st_mode)) st = lst;
            if (S_ISDIR(st.st_mode)) {
                int first = first_visit(k, &st);
                if (first > 0) {
                    walk_dir(k, path);
                } else if (first == 0 && S_ISLNK(lst.st_mode)) {
                    iris_cli_warn("%s: link to a folder already searched (loop?), skipped", path);
                    k->w->n_loops++;
                }
            } else if (S_ISREG(st.st_mode)) {
                found_file(k, path);
            } else {
                k->w->n_ignored++; /* fifos, sockets, devices */
            }
        }
        free(path);
    }
    for (size_t i = 0; i < n; i++) free(names[i]);
    free(names);
}

iris_status iris_cli_walk_paths(iris_cli_walk *w, const char *const *paths, int n_paths, const iris_cli_walk_opts *o) {
    memset(w, 0, sizeof *w);
    walker k = {.w = w};
    if (o) k.o = *o;
    for (int i = 0; i < n_paths && !k.oom; i++) {
        char *p = strdup(paths[i]);
        if (!p) {
            k.oom = 1;
            break;
        }
        for (size_t len = strlen(p); len > 1 && p[len - 1] == '/'; len--) p[len - 1] = 0;
        struct stat st;
        if (!*p) {
            iris_cli_warn("empty path (skipped)");
            w->n_errors++;
        } else if (stat(p, &st) != 0) {
            iris_cli_warn("%s: %s", p, strerror(errno));
            w->n_errors++;
        } else if (S_ISDIR(st.st_mode)) {
            size_t start = w->n;
            if (first_visit(&k, &st) > 0) walk_dir(&k, p);
            if (w->n - start > 1) qsort(w->files + start, w->n - start, sizeof *w->files, by_path);
        } else {
            /* named on the command line: kept whatever it holds */
            uint8_t buf[32];
            ssize_t got = S_ISREG(st.st_mode) ? head(p, buf, sizeof buf) : -1;
            add(&k, p, got > 0 ? iris_cli_sniff(buf, (size_t)got, p) : IRIS_CLI_NOT_IMAGE);
        }
        free(p);
    }
    cli_strset_free(&k.paths);
    cli_strset_free(&k.visited);
    if (k.oom) {
        iris_cli_walk_free(w);
        return iris_fail(IRIS_ERR_NOMEM, "walking the input folders: out of memory");
    }
    return IRIS_OK;
}

void iris_cli_walk_free(iris_cli_walk *w) {
    for (size_t i = 0; i < w->n; i++) free(w->files[i].path);
    free(w->files);
    memset(w, 0, sizeof *w);
}
