/* args.c - the command-line parser driven by a tool's option table.
   It never prints: every mistake becomes one line in `err`, so the same
   code serves iris_cli_start() and the tests. */
#include <ctype.h>
#include <errno.h>
#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

typedef struct parser {
    const iris_cli_spec *spec;
    char *err;
    size_t errlen;
} parser;

static iris_cli_parsed fail(parser *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static iris_cli_parsed fail(parser *p, const char *fmt, ...) {
    if (p->err && p->errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(p->err, p->errlen, fmt, ap);
        va_end(ap);
    }
    return IRIS_CLI_BAD_USAGE;
}

static int takes_value(iris_cli_kind k) { return k != IRIS_CLI_FLAG && k != IRIS_CLI_COUNT; }

static int n_entries(const iris_cli_opt *t) {
    int n = 0;
    while (t && t[n].name) n++;
    return n;
}

static const iris_cli_opt *find_long(const iris_cli_spec *s, const char *name, size_t len) {
    for (const iris_cli_opt *o = s->opts; o && o->name; o++)
        if (strlen(o->name) == len && !memcmp(o->name, name, len)) return o;
    return NULL;
}

static const iris_cli_opt *find_short(const iris_cli_spec *s, char c) {
    for (const iris_cli_opt *o = s->opts; c && o && o->name; o++)
        if (o->short_name == c) return o;
    return NULL;
}

/* Optimal string alignment distance: adjacent swaps ("tpo" -> "top") cost 1. */
int iris_cli_edit_distance(const char *a, const char *b) {
    size_t la = strlen(a), lb = strlen(b);
    if (la > 64 || lb > 64) return (int)(la > lb ? la : lb);
    int d[65][65];
    for (size_t i = 0; i <= la; i++) d[i][0] = (int)i;
    for (size_t j = 0; j <= lb; j++) d[0][j] = (int)j;
    for (size_t i = 1; i <= la; i++)
        for (size_t j = 1; j <= lb; j++) {
            int cost = tolower((unsigned char)a[i - 1]) != tolower((unsigned char)b[j - 1]);
            int v = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < v) v = d[i][j - 1] + 1;
            if (d[i - 1][j - 1] + cost < v) v = d[i - 1][j - 1] + cost;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] && d[i - 2][j - 2] + 1 < v)
                v = d[i - 2][j - 2] + 1;
            d[i][j] = v;
        }
    return d[la][lb];
}

/* The candidate nearest to `word`, if near enough to be a likely typo, or
   the only candidate that `word` starts (an abbreviation). */
typedef struct suggest {
    const char *word, *best;
    int best_d, n_prefix;
    const char *prefix_of;
} suggest;

static void consider(suggest *s, const char *cand) {
    size_t lw = strlen(s->word);
    int d = iris_cli_edit_distance(s->word, cand);
    int limit = lw <= 3 ? 1 : lw <= 6 ? 2 : 3;
    if (d <= limit && d < (int)strlen(cand) && (!s->best || d < s->best_d)) s->best = cand, s->best_d = d;
    if (lw >= 2 && !strncmp(cand, s->word, lw)) s->n_prefix++, s->prefix_of = cand;
}

static const char *suggestion(const suggest *s) {
    if (s->best) return s->best;
    return s->n_prefix == 1 ? s->prefix_of : NULL;
}

static const char *suggest_option(const iris_cli_spec *spec, const char *word) {
    suggest s = {.word = word};
    for (const iris_cli_opt *o = spec->opts; o && o->name; o++)
        if (!(o->flags & IRIS_CLI_HIDDEN)) consider(&s, o->name);
    consider(&s, "help");
    consider(&s, "version");
    return suggestion(&s);
}

/* Programmer mistakes in the table, found before any user input is trusted. */
static iris_cli_parsed check_spec(parser *p) {
    const iris_cli_spec *s = p->spec;
    if (!s->tool || !*s->tool) return fail(p, "option table: the tool has no name");
    for (const iris_cli_opt *o = s->opts; o && o->name; o++) {
        if (!*o->name || o->name[0] == '-' || strchr(o->name, '=') || strchr(o->name, ' '))
            return fail(p, "option table: bad long name '%s'", o->name);
        if (!strcmp(o->name, "help") || !strcmp(o->name, "version") || o->short_name == 'h')
            return fail(p, "option table: --%s clashes with the built-in --help/--version", o->name);
        if (o->short_name && (o->short_name == '-' || !isgraph((unsigned char)o->short_name)))
            return fail(p, "option table: --%s has a bad short name", o->name);
        if (!o->dest) return fail(p, "option table: --%s has no destination", o->name);
        if ((unsigned)o->kind > IRIS_CLI_CUSTOM) return fail(p, "option table: --%s has a bad kind", o->name);
        if (o->kind == IRIS_CLI_CUSTOM && !o->parse) return fail(p, "option table: --%s has no parse function", o->name);
        if (o->kind == IRIS_CLI_ENUM) {
            if (!o->choices || !o->choices[0]) return fail(p, "option table: --%s has no choices", o->name);
            int n = 0, v = *(const int *)o->dest;
            while (o->choices[n]) n++;
            if (v < 0 || v >= n) return fail(p, "option table: --%s default %d is not a choice", o->name, v);
        }
        for (const iris_cli_opt *q = s->opts; q != o; q++) {
            if (!strcmp(q->name, o->name)) return fail(p, "option table: --%s appears twice", o->name);
            if (o->short_name && q->short_name == o->short_name)
                return fail(p, "option table: -%c is used by --%s and --%s", o->short_name, q->name, o->name);
        }
    }
    int n_args = n_entries(s->args), seen_optional = 0;
    for (int i = 0; i < n_args; i++) {
        const iris_cli_opt *a = &s->args[i];
        if (!a->dest) return fail(p, "option table: argument %s has no destination", a->name);
        if (!takes_value(a->kind)) return fail(p, "option table: argument %s cannot be a flag", a->name);
        if (a->kind == IRIS_CLI_LIST && i != n_args - 1)
            return fail(p, "option table: only the last argument can be a list (%s)", a->name);
        if (seen_optional && !(a->flags & IRIS_CLI_OPTIONAL))
            return fail(p, "option table: required argument %s follows an optional one", a->name);
        seen_optional |= (a->flags & IRIS_CLI_OPTIONAL) != 0;
    }
    return IRIS_CLI_RUN;
}

static int list_append(iris_cli_list *l, const char *v) {
    const char **nv = realloc(l->v, (size_t)(l->n + 1) * sizeof *nv);
    if (!nv) return -1;
    nv[l->n++] = v;
    l->v = nv;
    return 0;
}

static int is_blank_or_signed_ws(const char *v) { return !*v || isspace((unsigned char)*v); }

/* Converts and stores one value; `who` is "--top" or "PATH". */
static iris_cli_parsed set_value(parser *p, const iris_cli_opt *o, const char *who, const char *v) {
    int ranged = o->min < o->max;
    switch (o->kind) {
    case IRIS_CLI_INT:
    case IRIS_CLI_INT64: {
        char *end;
        errno = 0;
        long long x = is_blank_or_signed_ws(v) ? 0 : strtoll(v, &end, 10);
        if (is_blank_or_signed_ws(v) || *end) return fail(p, "%s: '%s' is not an integer", who, v);
        if (errno == ERANGE || (o->kind == IRIS_CLI_INT && (x < INT_MIN || x > INT_MAX)))
            return fail(p, "%s: %s is too large", who, v);
        if (ranged && ((double)x < o->min || (double)x > o->max))
            return fail(p, "%s: %s is out of range (%.15g to %.15g)", who, v, o->min, o->max);
        if (o->kind == IRIS_CLI_INT) *(int *)o->dest = (int)x;
        else *(int64_t *)o->dest = (int64_t)x;
        return IRIS_CLI_RUN;
    }
    case IRIS_CLI_FLOAT:
    case IRIS_CLI_DOUBLE: {
        char *end;
        double x = is_blank_or_signed_ws(v) ? 0 : strtod(v, &end);
        if (is_blank_or_signed_ws(v) || *end || isnan(x)) return fail(p, "%s: '%s' is not a number", who, v);
        if (!isfinite(x) || (o->kind == IRIS_CLI_FLOAT && fabs(x) > FLT_MAX))
            return fail(p, "%s: %s is too large", who, v);
        if (ranged && (x < o->min || x > o->max))
            return fail(p, "%s: %s is out of range (%.15g to %.15g)", who, v, o->min, o->max);
        if (o->kind == IRIS_CLI_FLOAT) *(float *)o->dest = (float)x;
        else *(double *)o->dest = x;
        return IRIS_CLI_RUN;
    }
    case IRIS_CLI_STRING: *(const char **)o->dest = v; return IRIS_CLI_RUN;
    case IRIS_CLI_LIST:
        if (list_append(o->dest, v)) return fail(p, "%s: out of memory", who);
        return IRIS_CLI_RUN;
    case IRIS_CLI_ENUM: {
        suggest s = {.word = v};
        char list[512];
        size_t len = 0;
        list[0] = 0;
        for (int i = 0; o->choices[i]; i++) {
            if (!strcmp(o->choices[i], v)) {
                *(int *)o->dest = i;
                return IRIS_CLI_RUN;
            }
            consider(&s, o->choices[i]);
            int w = snprintf(list + len, sizeof list - len, "%s%s", i ? ", " : "", o->choices[i]);
            if (w > 0 && (size_t)w < sizeof list - len) len += (size_t)w;
        }
        const char *near = suggestion(&s);
        if (near) return fail(p, "%s: '%s' is not one of: %s (did you mean '%s'?)", who, v, list, near);
        return fail(p, "%s: '%s' is not one of: %s", who, v, list);
    }
    case IRIS_CLI_CUSTOM: {
        char why[256] = "invalid value";
        if (o->parse(v, o->dest, why, sizeof why)) return fail(p, "%s: '%s': %s", who, v, why);
        return IRIS_CLI_RUN;
    }
    case IRIS_CLI_FLAG: *(int *)o->dest = 1; return IRIS_CLI_RUN;
    case IRIS_CLI_COUNT: (*(int *)o->dest)++; return IRIS_CLI_RUN;
    }
    return fail(p, "%s: bad option kind", who);
}

/* A following argument that is itself an option is not taken as a value:
   "--model --top 3" is a missing FILE, not a model named "--top". */
static int looks_like_option(const iris_cli_spec *s, const char *v) {
    if (v[0] != '-' || !v[1]) return 0;
    if (v[1] != '-') return v[1] == 'h' || find_short(s, v[1]) != NULL;
    if (!v[2]) return 0;
    const char *name = v + 2, *eq = strchr(name, '=');
    size_t len = eq ? (size_t)(eq - name) : strlen(name);
    if (find_long(s, name, len)) return 1;
    return (len == 4 && !memcmp(name, "help", 4)) || (len == 7 && !memcmp(name, "version", 7));
}

iris_cli_parsed iris_cli_parse(const iris_cli_spec *spec, int argc, char **argv, char *err, size_t errlen) {
    parser p = {spec, err, errlen};
    if (err && errlen) err[0] = 0;
    iris_cli_parsed r = check_spec(&p);
    if (r != IRIS_CLI_RUN) return r;

    /* --help and --version win over everything, before any value is stored,
       so help shows the table's defaults. */
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--")) break;
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) return IRIS_CLI_HELP;
        if (!strcmp(argv[i], "--version")) return IRIS_CLI_VERSION;
    }

    int n_opts = n_entries(spec->opts);
    char *seen = calloc((size_t)n_opts + 1, 1);
    const char **pos = malloc(((size_t)argc + 1) * sizeof *pos);
    int n_pos = 0;
    if (!seen || !pos) {
        free(seen);
        free(pos);
        return fail(&p, "out of memory");
    }
    r = IRIS_CLI_RUN;
    int only_pos = 0;
    for (int i = 1; i < argc && r == IRIS_CLI_RUN; i++) {
        const char *a = argv[i];
        if (only_pos || a[0] != '-' || !a[1]) {
            pos[n_pos++] = a;
            continue;
        }
        if (!strcmp(a, "--")) {
            only_pos = 1;
            continue;
        }
        if (a[1] == '-') {
            const char *name = a + 2, *eq = strchr(name, '=');
            size_t len = eq ? (size_t)(eq - name) : strlen(name);
            const iris_cli_opt *o = find_long(spec, name, len);
            char who[128];
            snprintf(who, sizeof who, "--%.*s", (int)(len < 100 ? len : 100), name);
            if (!o && len > 3 && !memcmp(name, "no-", 3)) {
                const iris_cli_opt *f = find_long(spec, name + 3, len - 3);
                if (f && f->kind == IRIS_CLI_FLAG) {
                    if (eq) r = fail(&p, "%s takes no value", who);
                    else *(int *)f->dest = 0, seen[f - spec->opts] = 1;
                    continue;
                }
            }
            if (!o) {
                char word[128];
                snprintf(word, sizeof word, "%.*s", (int)(len < 100 ? len : 100), name);
                const char *near = suggest_option(spec, word);
                if (near) r = fail(&p, "unknown option '%s' (did you mean '--%s'?)", who, near);
                else r = fail(&p, "unknown option '%s'", who);
                continue;
            }
            seen[o - spec->opts] = 1;
            if (!takes_value(o->kind)) {
                if (eq) r = fail(&p, "%s takes no value", who);
                else r = set_value(&p, o, who, NULL);
                continue;
            }
            const char *v = eq ? eq + 1 : NULL;
            if (!v && i + 1 < argc && !looks_like_option(spec, argv[i + 1])) v = argv[++i];
            if (!v) {
                r = fail(&p, "%s: missing value (%s)", who,
                         o->metavar ? o->metavar : o->kind == IRIS_CLI_ENUM ? "one of its choices" : "a value");
                continue;
            }
            r = set_value(&p, o, who, v);
            continue;
        }
        /* "-top" is a long option written with one dash more often than a
           cluster of -t -o -p */
        if (a[2] && find_long(spec, a + 1, strlen(a + 1))) {
            r = fail(&p, "unknown option '%s' (did you mean '-%s'?)", a, a);
            continue;
        }
        for (int j = 1; a[j] && r == IRIS_CLI_RUN; j++) {
            const iris_cli_opt *o = find_short(spec, a[j]);
            if (!o && a[j] == 'h') { /* "-qh" */
                r = IRIS_CLI_HELP;
                break;
            }
            if (!o) {
                r = fail(&p, "unknown option '-%c'", a[j]);
                break;
            }
            seen[o - spec->opts] = 1;
            char who[128];
            snprintf(who, sizeof who, "--%s", o->name);
            if (!takes_value(o->kind)) {
                r = set_value(&p, o, who, NULL);
                continue;
            }
            const char *v = a[j + 1] ? a + j + 1 : NULL;
            if (!v && i + 1 < argc && !looks_like_option(spec, argv[i + 1])) v = argv[++i];
            if (!v) r = fail(&p, "%s: missing value (%s)", who, o->metavar ? o->metavar : "a value");
            else r = set_value(&p, o, who, v);
            break;
        }
    }

    /* positionals, in order; a list takes the rest */
    int k = 0;
    for (const iris_cli_opt *a = spec->args; r == IRIS_CLI_RUN && a && a->name; a++) {
        int optional = (a->flags & IRIS_CLI_OPTIONAL) != 0;
        if (a->kind == IRIS_CLI_LIST) {
            if (k == n_pos && !optional) r = fail(&p, "missing %s... (one or more)", a->name);
            while (r == IRIS_CLI_RUN && k < n_pos) r = set_value(&p, a, a->name, pos[k++]);
        } else if (k < n_pos) {
            r = set_value(&p, a, a->name, pos[k++]);
        } else if (!optional) {
            r = fail(&p, "missing %s", a->name);
        }
    }
    if (r == IRIS_CLI_RUN && k < n_pos) r = fail(&p, "unexpected argument '%s'", pos[k]);
    for (int i = 0; r == IRIS_CLI_RUN && i < n_opts; i++)
        if ((spec->opts[i].flags & IRIS_CLI_REQUIRED) && !seen[i]) r = fail(&p, "--%s is required", spec->opts[i].name);
    free(seen);
    free(pos);
    return r;
}

static void free_lists(const iris_cli_opt *t) {
    for (; t && t->name; t++)
        if (t->kind == IRIS_CLI_LIST && t->dest) {
            iris_cli_list *l = t->dest;
            free(l->v);
            l->v = NULL;
            l->n = 0;
        }
}

void iris_cli_free(const iris_cli_spec *spec) {
    free_lists(spec->opts);
    free_lists(spec->args);
}
