/* help.c - --help text generated from the same table the parser reads, so
   the two cannot drift: names, metavars, ranges and defaults all come from it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "internal.h"

#define LEFT_MAX 30 /* a left column wider than this puts the help on the next line */

static const char *metavar(const iris_cli_opt *o, char *buf, size_t n) {
    if (o->metavar) return o->metavar;
    switch (o->kind) {
    case IRIS_CLI_INT:
    case IRIS_CLI_INT64: return "N";
    case IRIS_CLI_FLOAT:
    case IRIS_CLI_DOUBLE: return "X";
    case IRIS_CLI_ENUM: {
        size_t len = 0;
        buf[0] = 0;
        for (int i = 0; o->choices[i]; i++) {
            int w = snprintf(buf + len, n - len, "%s%s", i ? "," : "{", o->choices[i]);
            if (w < 0 || (size_t)w >= n - len) break;
            len += (size_t)w;
        }
        if (len + 2 <= n) buf[len++] = '}', buf[len] = 0;
        return buf;
    }
    default: return "VALUE";
    }
}

/* "  -k, --top N" */
static void left_column(cli_text *t, const iris_cli_opt *o) {
    char mv[256];
    cli_text_puts(t, "  ");
    if (o->short_name) cli_text_printf(t, "-%c, ", o->short_name);
    else cli_text_puts(t, "    ");
    int negatable = o->kind == IRIS_CLI_FLAG && *(const int *)o->dest;
    cli_text_printf(t, "--%s%s", negatable ? "[no-]" : "", o->name);
    if (o->kind != IRIS_CLI_FLAG && o->kind != IRIS_CLI_COUNT) cli_text_printf(t, " %s", metavar(o, mv, sizeof mv));
}

/* Default as the table holds it right now (before parsing). */
static int default_text(const iris_cli_opt *o, char *buf, size_t n) {
    if (o->def) return snprintf(buf, n, "%s", o->def) > 0;
    switch (o->kind) {
    case IRIS_CLI_INT: snprintf(buf, n, "%d", *(const int *)o->dest); return 1;
    case IRIS_CLI_INT64: snprintf(buf, n, "%lld", (long long)*(const int64_t *)o->dest); return 1;
    case IRIS_CLI_FLOAT: snprintf(buf, n, "%g", (double)*(const float *)o->dest); return 1;
    case IRIS_CLI_DOUBLE: snprintf(buf, n, "%g", *(const double *)o->dest); return 1;
    case IRIS_CLI_STRING: {
        const char *s = *(const char *const *)o->dest;
        if (!s) return 0;
        snprintf(buf, n, "%s", s);
        return 1;
    }
    case IRIS_CLI_ENUM: snprintf(buf, n, "%s", o->choices[*(const int *)o->dest]); return 1;
    default: return 0;
    }
}

/* Words of `s` from the current column on, wrapped to `width` with later
   lines indented to `indent`; '\n' in s starts a new indented line. */
static void wrap(cli_text *t, const char *s, size_t indent, size_t width) {
    size_t line_start = t->len;
    while (line_start > 0 && t->s[line_start - 1] != '\n') line_start--;
    size_t col = t->len - line_start;
    int first = 1;
    while (*s) {
        if (*s == '\n') {
            cli_text_puts(t, "\n");
            cli_text_pad(t, indent);
            col = indent;
            first = 1;
            s++;
            continue;
        }
        if (*s == ' ') {
            s++;
            continue;
        }
        size_t w = strcspn(s, " \n");
        if (!first && col + 1 + w > width) {
            cli_text_puts(t, "\n");
            cli_text_pad(t, indent);
            col = indent;
            first = 1;
        }
        if (!first) cli_text_puts(t, " "), col++;
        cli_text_put(t, s, w);
        col += w;
        first = 0;
        s += w;
    }
    cli_text_puts(t, "\n");
}

static void describe(cli_text *t, const iris_cli_opt *o, int positional, size_t col, size_t width) {
    size_t start = t->len;
    if (positional) {
        cli_text_printf(t, "  %s%s", o->name, o->kind == IRIS_CLI_LIST ? "..." : "");
    } else {
        left_column(t, o);
    }
    if (t->len - start + 2 > col) {
        cli_text_puts(t, "\n");
    }
    cli_text_pad(t, col);

    cli_text h = {.ok = 1};
    cli_text_puts(&h, o->help ? o->help : "");
    char def[256];
    int has_def = !positional && default_text(o, def, sizeof def) && def[0];
    int ranged = o->min < o->max && o->kind >= IRIS_CLI_INT && o->kind <= IRIS_CLI_DOUBLE;
    if (!positional && (o->flags & IRIS_CLI_REQUIRED)) {
        cli_text_puts(&h, " (required)");
    } else if (ranged || has_def || (o->kind == IRIS_CLI_LIST && !positional)) {
        cli_text_puts(&h, " (");
        const char *sep = "";
        if (o->kind == IRIS_CLI_LIST && !positional) cli_text_puts(&h, "repeatable"), sep = ", ";
        if (ranged) cli_text_printf(&h, "%srange %.15g..%.15g", sep, o->min, o->max), sep = ", ";
        if (has_def) cli_text_printf(&h, "%sdefault: %s", sep, def);
        cli_text_puts(&h, ")");
    }
    if (h.ok && h.s) wrap(t, h.s, col, width);
    else cli_text_puts(t, "\n");
    if (!h.ok) t->ok = 0;
    free(h.s);
}

static void usage_line(cli_text *t, const iris_cli_spec *s) {
    char mv[256];
    cli_text_printf(t, "usage: %s", s->tool);
    for (const iris_cli_opt *o = s->opts; o && o->name; o++)
        if (o->flags & IRIS_CLI_REQUIRED) {
            if (o->short_name) cli_text_printf(t, " -%c", o->short_name);
            else cli_text_printf(t, " --%s", o->name);
            if (o->kind != IRIS_CLI_FLAG && o->kind != IRIS_CLI_COUNT) cli_text_printf(t, " %s", metavar(o, mv, sizeof mv));
        }
    cli_text_puts(t, " [OPTIONS]");
    for (const iris_cli_opt *a = s->args; a && a->name; a++) {
        int opt = (a->flags & IRIS_CLI_OPTIONAL) != 0;
        cli_text_printf(t, " %s%s%s%s", opt ? "[" : "", a->name, a->kind == IRIS_CLI_LIST ? "..." : "", opt ? "]" : "");
    }
}

char *iris_cli_usage(const iris_cli_spec *spec) {
    cli_text t = {.ok = 1};
    usage_line(&t, spec);
    if (!t.ok) free(t.s);
    return t.ok ? t.s : NULL;
}

char *iris_cli_help(const iris_cli_spec *spec, int width) {
    size_t w = width < 40 ? 40 : (size_t)width;
    static int unused;
    static const iris_cli_opt builtin[] = {
        {.name = "help", .short_name = 'h', .kind = IRIS_CLI_COUNT, .dest = &unused, .help = "show this help and exit"},
        {.name = "version", .kind = IRIS_CLI_COUNT, .dest = &unused, .help = "show the version and exit"},
    };
    cli_text t = {.ok = 1};

    /* the help column: just right of the widest left part that fits */
    size_t col = 0;
    for (int pass = 0; pass < 3; pass++) {
        const iris_cli_opt *tab = pass == 0 ? spec->opts : pass == 1 ? spec->args : builtin;
        for (int i = 0; tab && (pass == 2 ? i < 2 : tab[i].name != NULL); i++) {
            if (tab[i].flags & IRIS_CLI_HIDDEN) continue;
            cli_text l = {.ok = 1};
            if (pass == 1) cli_text_printf(&l, "  %s%s", tab[i].name, tab[i].kind == IRIS_CLI_LIST ? "..." : "");
            else left_column(&l, &tab[i]);
            if (l.ok && l.len + 2 <= LEFT_MAX && l.len + 2 > col) col = l.len + 2;
            free(l.s);
        }
    }
    if (col < 16) col = 16;

    cli_text u = {.ok = 1};
    usage_line(&u, spec);
    if (u.ok && u.s) {
        /* a long usage wraps under the tool name */
        char *sp = strchr(u.s + 7, ' ');
        size_t indent = sp ? (size_t)(sp - u.s) + 1 : 8;
        cli_text_put(&t, u.s, sp ? (size_t)(sp - u.s) : u.len);
        if (sp) cli_text_puts(&t, " "), wrap(&t, sp + 1, indent > w / 2 ? 8 : indent, w);
        else cli_text_puts(&t, "\n");
    }
    free(u.s);
    if (spec->summary) cli_text_puts(&t, "\n"), wrap(&t, spec->summary, 0, w);
    if (spec->description) cli_text_puts(&t, "\n"), wrap(&t, spec->description, 0, w);

    if (spec->args && spec->args[0].name) {
        cli_text_puts(&t, "\narguments:\n");
        for (const iris_cli_opt *a = spec->args; a->name; a++)
            if (!(a->flags & IRIS_CLI_HIDDEN)) describe(&t, a, 1, col, w);
    }
    cli_text_puts(&t, "\noptions:\n");
    for (const iris_cli_opt *o = spec->opts; o && o->name; o++)
        if (!(o->flags & IRIS_CLI_HIDDEN)) describe(&t, o, 0, col, w);
    for (int i = 0; i < 2; i++) describe(&t, &builtin[i], 0, col, w);

    if (spec->epilog && spec->epilog[0]) {
        cli_text_puts(&t, "\n");
        cli_text_puts(&t, spec->epilog);
        if (spec->epilog[strlen(spec->epilog) - 1] != '\n') cli_text_puts(&t, "\n");
    }
    cli_text_puts(&t, "\n" IRIS_CLI_EXIT_STATUS_HELP);
    if (!t.ok) free(t.s);
    return t.ok ? t.s : NULL;
}

int iris_cli_start(const iris_cli_spec *spec, int argc, char **argv) {
    char err[512];
    switch (iris_cli_parse(spec, argc, argv, err, sizeof err)) {
    case IRIS_CLI_HELP: {
        iris_cli_free(spec);
        char *h = iris_cli_help(spec, 80);
        if (!h) {
            fprintf(stderr, "%s: out of memory\n", spec->tool);
            return IRIS_CLI_EXIT_USAGE;
        }
        fputs(h, stdout);
        free(h);
        return fflush(stdout) ? IRIS_CLI_EXIT_OUTPUT : IRIS_CLI_EXIT_OK;
    }
    case IRIS_CLI_VERSION:
        printf("%s (iris) %s\n", spec->tool, spec->version ? spec->version : IRIS_VERSION_STRING);
        return fflush(stdout) ? IRIS_CLI_EXIT_OUTPUT : IRIS_CLI_EXIT_OK;
    case IRIS_CLI_BAD_USAGE:
        iris_cli_free(spec);
        fprintf(stderr, "%s: %s\ntry '%s --help'\n", spec->tool ? spec->tool : "iris", err,
                spec->tool ? spec->tool : "iris");
        return IRIS_CLI_EXIT_USAGE;
    case IRIS_CLI_RUN: break;
    }
    iris_cli_install_sigint();
    return -1;
}
