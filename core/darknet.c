/* darknet.c - .cfg parsing with strict typed getters; .weights header and float cursor. */
#include "darknet.h"

#include <errno.h>
#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- .cfg */

static int is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f' || c == '\n'; }

/* Trims [*b, *e) in place and NUL-terminates it; returns the start. */
static char *trim(char *b, char *e) {
    while (b < e && is_space(*b)) b++;
    while (e > b && is_space(e[-1])) e--;
    *e = 0;
    return b;
}

static void free_cfg(iris_darknet_cfg *cfg) {
    free(cfg->sections);
    free(cfg->all_opts);
    free(cfg->text);
    free(cfg->path);
    memset(cfg, 0, sizeof *cfg);
}

static int grow(void **arr, int *cap, int n, size_t elem) {
    if (n < *cap) return 1;
    int nc = *cap ? *cap * 2 : 16;
    void *p = realloc(*arr, (size_t)nc * elem);
    if (!p) return 0;
    *arr = p;
    *cap = nc;
    return 1;
}

static iris_status parse_lines(iris_darknet_cfg *cfg, size_t n) {
    const char *file = cfg->path;
    char *p = cfg->text, *end = cfg->text + n;
    int cap_s = 0, cap_o = 0, n_opts = 0;
    for (int line = 1; p < end; line++) {
        char *eol = memchr(p, '\n', (size_t)(end - p));
        if (!eol) eol = end;
        if (memchr(p, 0, (size_t)(eol - p)))
            return iris_fail(IRIS_ERR_FORMAT, "%s:%d: line contains a NUL byte", file, line);
        char *cut = p;
        while (cut < eol && *cut != '#' && *cut != ';') cut++;
        char *s = trim(p, cut);
        p = eol + 1;
        if (!*s) continue;
        if (*s == '[') {
            size_t len = strlen(s);
            if (s[len - 1] != ']')
                return iris_fail(IRIS_ERR_FORMAT, "%s:%d: section header '%.40s' lacks ']'", file, line, s);
            char *tb = s + 1, *te = s + len - 1;
            while (tb < te && is_space(*tb)) tb++;
            while (te > tb && is_space(te[-1])) te--;
            if (tb == te || memchr(tb, '[', (size_t)(te - tb)) || memchr(tb, ']', (size_t)(te - tb)) ||
                memchr(tb, '=', (size_t)(te - tb)))
                return iris_fail(IRIS_ERR_FORMAT, "%s:%d: bad section name '%.40s'", file, line, s);
            char *type = trim(tb, te);
            if (!grow((void **)&cfg->sections, &cap_s, cfg->n_sections, sizeof *cfg->sections))
                return iris_fail(IRIS_ERR_NOMEM, "%s: out of memory", file);
            iris_darknet_section *sec = &cfg->sections[cfg->n_sections++];
            memset(sec, 0, sizeof *sec);
            sec->type = type;
            sec->line = line;
            sec->file = file;
            continue;
        }
        char *eq = strchr(s, '=');
        if (!eq)
            return iris_fail(IRIS_ERR_FORMAT, "%s:%d: expected key=value or [section], got '%.40s'", file, line, s);
        if (!cfg->n_sections)
            return iris_fail(IRIS_ERR_FORMAT, "%s:%d: option '%.40s' comes before the first [section]", file, line, s);
        char *key = trim(s, eq), *value = trim(eq + 1, eq + 1 + strlen(eq + 1));
        if (!*key) return iris_fail(IRIS_ERR_FORMAT, "%s:%d: option without a key", file, line);
        if (!*value) return iris_fail(IRIS_ERR_FORMAT, "%s:%d: option '%.40s' has no value", file, line, key);
        if (!grow((void **)&cfg->all_opts, &cap_o, n_opts, sizeof *cfg->all_opts))
            return iris_fail(IRIS_ERR_NOMEM, "%s: out of memory", file);
        cfg->all_opts[n_opts++] = (iris_darknet_option){key, value, line, 0};
        cfg->sections[cfg->n_sections - 1].n_opts++;
    }
    /* sections own consecutive runs of options, in file order */
    int first = 0;
    for (int i = 0; i < cfg->n_sections; i++) {
        cfg->sections[i].opts = cfg->sections[i].n_opts ? cfg->all_opts + first : NULL;
        first += cfg->sections[i].n_opts;
    }
    return IRIS_OK;
}

iris_status iris_darknet_cfg_parse(iris_darknet_cfg *cfg, const char *text, size_t n, const char *name) {
    memset(cfg, 0, sizeof *cfg);
    if (!name) name = "cfg";
    cfg->path = strdup(name);
    cfg->text = malloc(n + 1);
    if (!cfg->path || !cfg->text) {
        free_cfg(cfg);
        return iris_fail(IRIS_ERR_NOMEM, "%s: out of memory", name);
    }
    if (n) memcpy(cfg->text, text, n);
    cfg->text[n] = 0;
    iris_status rc = parse_lines(cfg, n);
    if (rc) free_cfg(cfg);
    return rc;
}

iris_status iris_darknet_cfg_open(iris_darknet_cfg *cfg, const char *path) {
    memset(cfg, 0, sizeof *cfg);
    char *text;
    size_t n;
    iris_status rc = iris_read_file(path, &text, &n);
    if (rc) return rc;
    rc = iris_darknet_cfg_parse(cfg, text, n, path);
    free(text);
    return rc;
}

void iris_darknet_cfg_close(iris_darknet_cfg *cfg) { free_cfg(cfg); }

int iris_darknet_count(const iris_darknet_cfg *cfg, const char *type) {
    int c = 0;
    for (int i = 0; i < cfg->n_sections; i++) c += !strcmp(cfg->sections[i].type, type);
    return c;
}

int iris_darknet_find(const iris_darknet_cfg *cfg, const char *type, int k) {
    for (int i = 0; i < cfg->n_sections; i++)
        if (!strcmp(cfg->sections[i].type, type) && k-- == 0) return i;
    return -1;
}

static iris_darknet_option *find_opt(const iris_darknet_section *s, const char *key) {
    for (int i = 0; i < s->n_opts; i++)
        if (!strcmp(s->opts[i].key, key)) return &s->opts[i];
    return NULL;
}

const char *iris_darknet_value(iris_darknet_section *s, const char *key) {
    iris_darknet_option *o = find_opt(s, key);
    if (!o) return NULL;
    o->used = 1;
    return o->value;
}

const char *iris_darknet_str(iris_darknet_section *s, const char *key, const char *def) {
    const char *v = iris_darknet_value(s, key);
    return v ? v : def;
}

/* Whole-string numbers: digits only (with sign), in range. */
static int parse_int(const char *v, int *out) {
    if (!*v) return 0;
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (*end || errno || x < INT_MIN || x > INT_MAX) return 0;
    *out = (int)x;
    return 1;
}

static int parse_float(const char *v, float *out) {
    if (!*v) return 0;
    char *end;
    double x = strtod(v, &end);
    if (*end || !isfinite(x) || fabs(x) > FLT_MAX) return 0;
    *out = (float)x;
    return 1;
}

static iris_status bad_number(const iris_darknet_section *s, const iris_darknet_option *o, const char *what) {
    return iris_fail(IRIS_ERR_FORMAT, "%s:%d: [%s] '%s' is not %s: '%.40s'", s->file, o->line, s->type, o->key, what,
                     o->value);
}

iris_status iris_darknet_int(iris_darknet_section *s, const char *key, int def, int *out) {
    iris_darknet_option *o = find_opt(s, key);
    *out = def;
    if (!o) return IRIS_OK;
    o->used = 1;
    return parse_int(o->value, out) ? IRIS_OK : bad_number(s, o, "an integer");
}

iris_status iris_darknet_float(iris_darknet_section *s, const char *key, float def, float *out) {
    iris_darknet_option *o = find_opt(s, key);
    *out = def;
    if (!o) return IRIS_OK;
    o->used = 1;
    return parse_float(o->value, out) ? IRIS_OK : bad_number(s, o, "a finite number");
}

int iris_darknet_list_len(const iris_darknet_section *s, const char *key) {
    const iris_darknet_option *o = find_opt(s, key);
    if (!o) return 0;
    int n = 1;
    for (const char *c = o->value; *c; c++) n += *c == ',';
    return n;
}

/* Splits the value at commas into a scratch copy and parses each trimmed item. */
static iris_status parse_list(iris_darknet_section *s, const char *key, void *out, int max, int *n, int is_int) {
    *n = 0;
    iris_darknet_option *o = find_opt(s, key);
    if (!o) return IRIS_OK;
    o->used = 1;
    int count = iris_darknet_list_len(s, key);
    if (count > max)
        return iris_fail(IRIS_ERR_FORMAT, "%s:%d: [%s] '%s' has %d items, at most %d allowed", s->file, o->line,
                         s->type, key, count, max);
    char *copy = strdup(o->value);
    if (!copy) return iris_fail(IRIS_ERR_NOMEM, "%s: out of memory", s->file);
    iris_status rc = IRIS_OK;
    char *item = copy;
    for (int i = 0; i < count && !rc; i++) {
        char *comma = strchr(item, ',');
        char *e = comma ? comma : item + strlen(item);
        char *t = trim(item, e);
        int ok = is_int ? parse_int(t, (int *)out + i) : parse_float(t, (float *)out + i);
        if (!ok)
            rc = iris_fail(IRIS_ERR_FORMAT, "%s:%d: [%s] '%s' item %d is not %s: '%.40s'", s->file, o->line, s->type,
                           key, i + 1, is_int ? "an integer" : "a finite number", t);
        item = e + 1;
    }
    free(copy);
    if (!rc) *n = count;
    return rc;
}

iris_status iris_darknet_ints(iris_darknet_section *s, const char *key, int *out, int max, int *n) {
    return parse_list(s, key, out, max, n, 1);
}

iris_status iris_darknet_floats(iris_darknet_section *s, const char *key, float *out, int max, int *n) {
    return parse_list(s, key, out, max, n, 0);
}

iris_status iris_darknet_check_unused(const iris_darknet_section *s) {
    for (int i = 0; i < s->n_opts; i++) {
        const iris_darknet_option *o = &s->opts[i];
        if (o->used) continue;
        const iris_darknet_option *first = find_opt(s, o->key);
        if (first != o) /* getters only ever see the first of two equal keys */
            return iris_fail(IRIS_ERR_UNSUPPORTED, "%s:%d: [%s] option '%s' is repeated; line %d's value is the one used",
                             s->file, o->line, s->type, o->key, first->line);
        return iris_fail(IRIS_ERR_UNSUPPORTED, "%s:%d: [%s] option '%s = %.40s' is not supported", s->file, o->line,
                         s->type, o->key, o->value);
    }
    return IRIS_OK;
}

/* ---------------------------------------------------------------- .weights */

static uint32_t le32(const uint8_t *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24; }

static iris_status parse_weights(iris_darknet_weights *w, const uint8_t *data, size_t size) {
    const char *file = w->map.path;
    w->data = data;
    w->size = size;
    if (size < 16)
        return iris_fail(IRIS_ERR_FORMAT, "%s: %zu bytes is too short for a darknet weights header", file, size);
    w->major = (int32_t)le32(data);
    w->minor = (int32_t)le32(data + 4);
    w->revision = (int32_t)le32(data + 8);
    if (w->major < 0 || w->minor < 0)
        return iris_fail(IRIS_ERR_FORMAT, "%s: negative weights version %d.%d", file, w->major, w->minor);
    /* darknet reads major or minor > 1000 as "transposed connected layers", an old
       layout no file we support uses; in practice it means a file that is not darknet */
    if (w->major > 1000 || w->minor > 1000)
        return iris_fail(IRIS_ERR_UNSUPPORTED, "%s: weights version %d.%d (transposed layout) is not supported", file,
                         w->major, w->minor);
    int wide = (int64_t)w->major * 10 + w->minor >= 2;
    w->header_bytes = wide ? 20 : 16;
    if (size < w->header_bytes)
        return iris_fail(IRIS_ERR_FORMAT, "%s: %zu bytes is too short for a version %d.%d header (%zu bytes)", file,
                         size, w->major, w->minor, w->header_bytes);
    w->seen = wide ? (uint64_t)le32(data + 12) | (uint64_t)le32(data + 16) << 32 : le32(data + 12);
    if ((size - w->header_bytes) % 4)
        return iris_fail(IRIS_ERR_FORMAT, "%s: the %zu bytes after the header are not a whole number of floats", file,
                         size - w->header_bytes);
    w->pos = w->header_bytes;
    return IRIS_OK;
}

iris_status iris_darknet_weights_parse(iris_darknet_weights *w, const uint8_t *data, size_t size, const char *name) {
    memset(w, 0, sizeof *w);
    snprintf(w->map.path, sizeof w->map.path, "%s", name ? name : "weights");
    iris_status rc = parse_weights(w, data, size);
    if (rc) w->data = NULL, w->size = 0;
    return rc;
}

iris_status iris_darknet_weights_open(iris_darknet_weights *w, const char *path) {
    memset(w, 0, sizeof *w);
    iris_status rc = iris_map_open(&w->map, path);
    if (rc) return rc;
    rc = parse_weights(w, w->map.data, w->map.size);
    if (rc) iris_darknet_weights_close(w);
    return rc;
}

void iris_darknet_weights_close(iris_darknet_weights *w) {
    iris_map_close(&w->map);
    w->data = NULL;
    w->size = w->pos = 0;
}

uint64_t iris_darknet_weights_remaining(const iris_darknet_weights *w) {
    return w->pos < w->size ? (w->size - w->pos) / 4 : 0;
}

iris_status iris_darknet_weights_read(iris_darknet_weights *w, float *dst, size_t n, const char *what) {
    uint64_t left = iris_darknet_weights_remaining(w);
    if (n > left)
        return iris_fail(IRIS_ERR_FORMAT, "%s: %s needs %zu floats but only %llu remain (at float %llu)", w->map.path,
                         what ? what : "read", n, (unsigned long long)left,
                         (unsigned long long)((w->pos - w->header_bytes) / 4));
    if (dst && n) memcpy(dst, w->data + w->pos, n * 4);
    w->pos += n * 4;
    return IRIS_OK;
}
