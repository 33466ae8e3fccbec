/* test_cli.c - the shared command-line layer: option tables and --help,
   exit codes and Ctrl-C, folder walking, JSONL output with resume, the
   progress bar. References: hand-worked strings and values (messages,
   durations, JSON lines), a temporary folder tree built here, /dev/full
   for a full disk. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../cli/cli.h"
#include "test.h"

/* ---- helpers ---- */

static char log_buf[16384];
static int log_lines;

static void sink(void *user, const char *line) {
    (void)user;
    size_t len = strlen(log_buf);
    snprintf(log_buf + len, sizeof log_buf - len, "%s\n", line);
    log_lines++;
}

static void capture_log(void) {
    log_buf[0] = 0;
    log_lines = 0;
    iris_cli_set_log_sink(sink, NULL);
}

static void release_log(void) { iris_cli_set_log_sink(NULL, NULL); }

static int starts(const char *s, const char *prefix) { return s && !strncmp(s, prefix, strlen(prefix)); }

static int count_lines(const char *s) {
    int n = 0;
    for (; *s; s++) n += *s == '\n';
    return n;
}

static char *read_all(const char *path) {
    char *s = NULL;
    size_t n;
    if (iris_read_file(path, &s, &n)) return NULL;
    return s;
}

static void write_file(const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f) {
        CHECK_MSG(0, "cannot create %s", path);
        return;
    }
    if (n) fwrite(data, 1, n, f);
    fclose(f);
}

static int rm_entry(const char *p, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb, (void)flag, (void)ftw;
    chmod(p, 0700);
    return remove(p);
}

static void rm_tree(const char *dir) { nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS); }

static char *make_temp_dir(char *buf, size_t n) {
    const char *t = getenv("TMPDIR");
    snprintf(buf, n, "%s/iris_cli_XXXXXX", t && *t ? t : "/tmp");
    return mkdtemp(buf);
}

/* Runs fn with fd (1 or 2) sent to a temporary file; returns what it wrote (malloc'd). */
static char *capture_fd(int fd, int (*fn)(void *), void *arg, int *ret) {
    char path[] = "/tmp/iris_cli_cap_XXXXXX";
    int tmp = mkstemp(path);
    if (tmp < 0) return NULL;
    fflush(stdout);
    fflush(stderr);
    int saved = dup(fd);
    dup2(tmp, fd);
    *ret = fn(arg);
    fflush(stdout);
    fflush(stderr);
    dup2(saved, fd);
    close(saved);
    close(tmp);
    char *s = read_all(path);
    unlink(path);
    return s;
}

/* ---- a table with every kind ---- */

typedef struct size2 {
    int w, h;
} size2;

static int parse_size(const char *v, void *dest, char *err, size_t n) {
    size2 *s = dest;
    char tail;
    if (sscanf(v, "%dx%d%c", &s->w, &s->h, &tail) != 2 || s->w < 1 || s->h < 1) {
        snprintf(err, n, "expected WxH, e.g. 512x512");
        return 1;
    }
    return 0;
}

static struct {
    int quiet, color, verbose, top, device;
    int64_t seed;
    float thresh;
    double scale;
    const char *model, *name;
    iris_cli_list labels, paths;
    size2 size;
} v;

static const char *const modes[] = {"auto", "cpu", "cuda", NULL};

static const iris_cli_opt opts[] = {
    IRIS_OPT_STRING("model", 'm', &v.model, "FILE", "weights to load", .flags = IRIS_CLI_REQUIRED),
    IRIS_OPT_INT("top", 'k', &v.top, 1, 1000, "N", "how many classes to report for each image"),
    IRIS_OPT_INT64("seed", 's', &v.seed, 0, 0, "SEED", "random seed"),
    IRIS_OPT_FLOAT("threshold", 0, &v.thresh, 0, 1, "P", "keep scores at or above P"),
    IRIS_OPT_DOUBLE("scale", 0, &v.scale, 0, 0, NULL, "guidance scale"),
    IRIS_OPT_STRING("name", 0, &v.name, NULL, "a name"),
    IRIS_OPT_LIST("label", 'l', &v.labels, "TEXT", "a label to look for"),
    IRIS_OPT_ENUM("device", 0, &v.device, modes, "where to run"),
    IRIS_OPT_CUSTOM("size", 0, &v.size, parse_size, "WxH", "output size", .def = "512x512"),
    IRIS_OPT_FLAG("quiet", 'q', &v.quiet, "no progress bar"),
    IRIS_OPT_FLAG("color", 0, &v.color, "colour the output"),
    IRIS_OPT_COUNT("verbose", 'v', &v.verbose, "more output"),
    IRIS_OPT_FLAG("secret", 0, &v.quiet, "not shown", .flags = IRIS_CLI_HIDDEN),
    IRIS_OPT_END,
};
static const iris_cli_opt args[] = {
    IRIS_ARG_LIST("PATH", &v.paths, "image files or folders"),
    IRIS_OPT_END,
};
static const iris_cli_spec spec = {
    .tool = "demo",
    .summary = "Try every kind of option.",
    .opts = opts,
    .args = args,
    .epilog = "examples:\n  demo -m w.safetensors photos/\n",
    .version = "9.8.7",
};

static void reset_values(void) {
    iris_cli_free(&spec);
    memset(&v, 0, sizeof v);
    v.top = 5;
    v.seed = 42;
    v.thresh = 0.25f;
    v.scale = 7.5;
    v.color = 1;
    v.device = 0;
    v.size = (size2){512, 512};
}

static char err[512];

static iris_cli_parsed parse_line(const char *line) {
    char buf[1024], *argv[64];
    int argc = 0;
    snprintf(buf, sizeof buf, "%s", line);
    argv[argc++] = "demo";
    for (char *t = strtok(buf, " "); t && argc < 63; t = strtok(NULL, " ")) argv[argc++] = t;
    argv[argc] = NULL;
    reset_values();
    /* argv points into buf: copy strings the table keeps */
    static char keep[8][1024];
    static int k;
    k = (k + 1) % 8;
    memcpy(keep[k], buf, sizeof buf);
    for (int i = 1; i < argc; i++) argv[i] = keep[k] + (argv[i] - buf);
    return iris_cli_parse(&spec, argc, argv, err, sizeof err);
}

TEST(cli_parse_every_kind) {
    CHECK_INT(parse_line("-m w.st --top 7 --seed=-123456789012 --threshold 0.5 --scale=3.25 --name bob "
                         "-l cat --label=dog -l fox --device cuda --size 640x480 -qvv --no-color a.jpg dir/"),
              IRIS_CLI_RUN);
    CHECK_MSG(err[0] == 0, "err: %s", err);
    CHECK(v.model && !strcmp(v.model, "w.st"));
    CHECK_INT(v.top, 7);
    CHECK(v.seed == -123456789012ll);
    CHECK_NEAR(v.thresh, 0.5, 0);
    CHECK_NEAR(v.scale, 3.25, 0);
    CHECK(v.name && !strcmp(v.name, "bob"));
    CHECK_INT(v.labels.n, 3);
    if (v.labels.n == 3) CHECK(!strcmp(v.labels.v[0], "cat") && !strcmp(v.labels.v[1], "dog") && !strcmp(v.labels.v[2], "fox"));
    CHECK_INT(v.device, 2);
    CHECK_INT(v.size.w, 640);
    CHECK_INT(v.size.h, 480);
    CHECK_INT(v.quiet, 1);
    CHECK_INT(v.verbose, 2);
    CHECK_INT(v.color, 0);
    CHECK_INT(v.paths.n, 2);
    if (v.paths.n == 2) CHECK(!strcmp(v.paths.v[0], "a.jpg") && !strcmp(v.paths.v[1], "dir/"));

    /* attached short values, options after positionals, "--" ends options, "-" is a value */
    CHECK_INT(parse_line("x.jpg -k3 -mw.st y.jpg -- -q --top"), IRIS_CLI_RUN);
    CHECK_INT(v.top, 3);
    CHECK(v.model && !strcmp(v.model, "w.st"));
    CHECK_INT(v.quiet, 0);
    CHECK_INT(v.paths.n, 4);
    if (v.paths.n == 4) CHECK(!strcmp(v.paths.v[2], "-q") && !strcmp(v.paths.v[3], "--top"));
    CHECK_INT(parse_line("-m - -"), IRIS_CLI_RUN);
    CHECK(v.model && !strcmp(v.model, "-"));
    CHECK_INT(v.paths.n, 1);

    /* untouched options keep their defaults; the last of a repeated option wins */
    CHECK_INT(parse_line("-m a -m b -k 2 -k 9 p"), IRIS_CLI_RUN);
    CHECK(!strcmp(v.model, "b"));
    CHECK_INT(v.top, 9);
    CHECK(v.seed == 42);
    CHECK_NEAR(v.thresh, 0.25, 0);
    CHECK_INT(v.color, 1);
    CHECK(v.name == NULL);
    CHECK_INT(v.labels.n, 0);

    /* range ends are inclusive; a negative number is a value, not an option */
    CHECK_INT(parse_line("-m a -k 1000 --threshold 1 --seed -5 p"), IRIS_CLI_RUN);
    CHECK_INT(v.top, 1000);
    CHECK(v.seed == -5);
    CHECK_INT(parse_line("-m a --threshold=0 -k 1 p"), IRIS_CLI_RUN);
    CHECK_INT(v.top, 1);
    reset_values();
}

static void expect_error(const char *line, const char *want) {
    iris_cli_parsed r = parse_line(line);
    CHECK_MSG(r == IRIS_CLI_BAD_USAGE, "'%s' parsed as %d", line, (int)r);
    CHECK_MSG(!strcmp(err, want), "'%s'\n      got  \"%s\"\n      want \"%s\"", line, err, want);
}

TEST(cli_parse_errors) {
    expect_error("-m a --tpo 3 p", "unknown option '--tpo' (did you mean '--top'?)");
    expect_error("-m a --treshold 0.3 p", "unknown option '--treshold' (did you mean '--threshold'?)");
    expect_error("-m a --thr 0.3 p", "unknown option '--thr' (did you mean '--threshold'?)");
    expect_error("-m a --vers p", "unknown option '--vers' (did you mean '--version'?)"); /* the only name it starts */
    expect_error("-m a --verb p", "unknown option '--verb' (did you mean '--verbose'?)");
    expect_error("-m a --ver p", "unknown option '--ver'"); /* verbose or version: no guess */
    expect_error("-m a --helpp p", "unknown option '--helpp' (did you mean '--help'?)");
    expect_error("-m a --frobnicate p", "unknown option '--frobnicate'");
    expect_error("-m a -x p", "unknown option '-x'");
    expect_error("-m a -qx p", "unknown option '-x'");
    expect_error("-m a -top 3 p", "unknown option '-top' (did you mean '--top'?)");
    expect_error("p -m a --top", "--top: missing value (N)");
    expect_error("p -m --top 3", "--model: missing value (FILE)");
    expect_error("p -m a -k", "--top: missing value (N)");
    expect_error("-m a --top abc p", "--top: 'abc' is not an integer");
    expect_error("-m a --top 5x p", "--top: '5x' is not an integer");
    expect_error("-m a --top= p", "--top: '' is not an integer");
    expect_error("-m a --top 2.5 p", "--top: '2.5' is not an integer");
    expect_error("-m a --top 0 p", "--top: 0 is out of range (1 to 1000)");
    expect_error("-m a -k 1001 p", "--top: 1001 is out of range (1 to 1000)");
    expect_error("-m a --top 99999999999 p", "--top: 99999999999 is too large");
    expect_error("-m a --seed 99999999999999999999 p", "--seed: 99999999999999999999 is too large");
    expect_error("-m a --threshold x p", "--threshold: 'x' is not a number");
    expect_error("-m a --threshold nan p", "--threshold: 'nan' is not a number");
    expect_error("-m a --threshold 1.5 p", "--threshold: 1.5 is out of range (0 to 1)");
    expect_error("-m a --scale 1e999 p", "--scale: 1e999 is too large");
    expect_error("-m a --device metal p", "--device: 'metal' is not one of: auto, cpu, cuda");
    expect_error("-m a --device cdua p", "--device: 'cdua' is not one of: auto, cpu, cuda (did you mean 'cuda'?)");
    expect_error("-m a --quiet=1 p", "--quiet takes no value");
    expect_error("-m a --no-color=1 p", "--no-color takes no value");
    expect_error("-m a --no-top p", "unknown option '--no-top'");
    expect_error("-m a --size big p", "--size: 'big': expected WxH, e.g. 512x512");
    expect_error("-m a", "missing PATH... (one or more)");
    expect_error("p", "--model is required");
    /* the first mistake is the one reported */
    expect_error("-m a --top 0 --device gpu p", "--top: 0 is out of range (1 to 1000)");
    reset_values();
}

TEST(cli_help_and_version_win) {
    CHECK_INT(parse_line("--top abc --help"), IRIS_CLI_HELP);
    CHECK_INT(parse_line("-h"), IRIS_CLI_HELP);
    CHECK_INT(parse_line("-qh"), IRIS_CLI_HELP);
    CHECK_INT(parse_line("--bogus --version"), IRIS_CLI_VERSION);
    /* after "--" they are just paths */
    CHECK_INT(parse_line("-m a -- --help"), IRIS_CLI_RUN);
    CHECK_INT(v.paths.n, 1);
    CHECK_INT(parse_line("-m a -- --bogus"), IRIS_CLI_RUN);
    reset_values();
}

TEST(cli_positionals) {
    static const char *in, *out;
    static iris_cli_list rest;
    static int n;
    static const iris_cli_opt o[] = {IRIS_OPT_INT("n", 'n', &n, 0, 0, NULL, "n"), IRIS_OPT_END};
    static const iris_cli_opt a[] = {
        IRIS_ARG_STRING("IN", &in, "input"),
        IRIS_ARG_STRING("OUT", &out, "output", .flags = IRIS_CLI_OPTIONAL),
        IRIS_OPT_END,
    };
    static const iris_cli_spec s = {.tool = "conv", .opts = o, .args = a};
    char *argv1[] = {"conv", "x.gguf", NULL};
    in = out = NULL;
    CHECK_INT(iris_cli_parse(&s, 2, argv1, err, sizeof err), IRIS_CLI_RUN);
    CHECK(in && !strcmp(in, "x.gguf") && out == NULL);
    char *argv2[] = {"conv", "x.gguf", "-n", "3", "y.gguf", NULL};
    CHECK_INT(iris_cli_parse(&s, 5, argv2, err, sizeof err), IRIS_CLI_RUN);
    CHECK(out && !strcmp(out, "y.gguf"));
    CHECK_INT(n, 3);
    char *argv3[] = {"conv", "x", "y", "z", NULL};
    CHECK_INT(iris_cli_parse(&s, 4, argv3, err, sizeof err), IRIS_CLI_BAD_USAGE);
    CHECK(!strcmp(err, "unexpected argument 'z'"));
    char *argv4[] = {"conv", NULL};
    CHECK_INT(iris_cli_parse(&s, 1, argv4, err, sizeof err), IRIS_CLI_BAD_USAGE);
    CHECK(!strcmp(err, "missing IN"));
    char *u = iris_cli_usage(&s);
    CHECK(u && !strcmp(u, "usage: conv [OPTIONS] IN [OUT]"));
    free(u);

    /* zero-or-more list */
    static const iris_cli_opt a2[] = {IRIS_ARG_LIST("FILE", &rest, "files", .flags = IRIS_CLI_OPTIONAL), IRIS_OPT_END};
    static const iris_cli_spec s2 = {.tool = "ls", .opts = o, .args = a2};
    CHECK_INT(iris_cli_parse(&s2, 1, argv4, err, sizeof err), IRIS_CLI_RUN);
    CHECK_INT(rest.n, 0);
    u = iris_cli_usage(&s2);
    CHECK(u && !strcmp(u, "usage: ls [OPTIONS] [FILE...]"));
    free(u);
    iris_cli_free(&s2);
}

TEST(cli_table_checked) {
    static int a, b, bad_enum = 7;
    static iris_cli_list l;
    static const char *s1;
    char *argv[] = {"t", NULL};
    const iris_cli_opt dup_long[] = {IRIS_OPT_FLAG("x", 0, &a, ""), IRIS_OPT_FLAG("x", 0, &b, ""), IRIS_OPT_END};
    const iris_cli_opt dup_short[] = {IRIS_OPT_FLAG("xa", 'x', &a, ""), IRIS_OPT_FLAG("xb", 'x', &b, ""), IRIS_OPT_END};
    const iris_cli_opt help_clash[] = {IRIS_OPT_INT("height", 'h', &a, 0, 0, NULL, ""), IRIS_OPT_END};
    const iris_cli_opt enum_bad[] = {IRIS_OPT_ENUM("mode", 0, &bad_enum, modes, ""), IRIS_OPT_END};
    const iris_cli_opt no_dest[] = {{.name = "z", .kind = IRIS_CLI_INT}, IRIS_OPT_END};
    const iris_cli_opt list_first[] = {IRIS_ARG_LIST("A", &l, ""), IRIS_ARG_STRING("B", &s1, ""), IRIS_OPT_END};
    struct {
        const iris_cli_opt *o, *a;
        const char *want;
    } cases[] = {
        {dup_long, NULL, "option table: --x appears twice"},
        {dup_short, NULL, "option table: -x is used by --xa and --xb"},
        {help_clash, NULL, "option table: --height clashes with the built-in --help/--version"},
        {enum_bad, NULL, "option table: --mode default 7 is not a choice"},
        {no_dest, NULL, "option table: --z has no destination"},
        {NULL, list_first, "option table: only the last argument can be a list (A)"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        iris_cli_spec s = {.tool = "t", .opts = cases[i].o, .args = cases[i].a};
        CHECK_INT(iris_cli_parse(&s, 1, argv, err, sizeof err), IRIS_CLI_BAD_USAGE);
        CHECK_MSG(!strcmp(err, cases[i].want), "got \"%s\" want \"%s\"", err, cases[i].want);
    }
}

TEST(cli_edit_distance) {
    CHECK_INT(iris_cli_edit_distance("top", "top"), 0);
    CHECK_INT(iris_cli_edit_distance("tpo", "top"), 1);
    CHECK_INT(iris_cli_edit_distance("kitten", "sitting"), 3);
    CHECK_INT(iris_cli_edit_distance("", "abc"), 3);
    CHECK_INT(iris_cli_edit_distance("treshold", "threshold"), 1);
    CHECK_INT(iris_cli_edit_distance("ca", "abc"), 3); /* OSA, not full Damerau (which gives 2) */
}

static int max_line(const char *s) {
    int best = 0, cur = 0;
    for (; *s; s++) {
        if (*s == '\n') cur = 0;
        else if (++cur > best) best = cur;
    }
    return best;
}

/* The line of `h` that contains `needle` (copied into line). */
static const char *line_with(const char *h, const char *needle, char *line, size_t n) {
    const char *p = strstr(h, needle);
    if (!p) return NULL;
    while (p > h && p[-1] != '\n') p--;
    size_t len = strcspn(p, "\n");
    snprintf(line, n, "%.*s", (int)len, p);
    return line;
}

TEST(cli_help_text) {
    reset_values();
    char *h = iris_cli_help(&spec, 80);
    CHECK(h != NULL);
    if (!h) return;
    static const char head[] = "usage: demo -m FILE [OPTIONS] PATH...\n\nTry every kind of option.\n\narguments:\n";
    CHECK_MSG(!strncmp(h, head, sizeof head - 1), "%s", h);
    for (const iris_cli_opt *o = opts; o->name; o++) {
        char name[64];
        snprintf(name, sizeof name, "--%s", o->name);
        if (o->kind == IRIS_CLI_FLAG && *(int *)o->dest) snprintf(name, sizeof name, "--[no-]%s", o->name);
        if (o->flags & IRIS_CLI_HIDDEN) CHECK_MSG(!strstr(h, name), "hidden %s shown", name);
        else CHECK_MSG(strstr(h, name) != NULL, "%s missing from help", name);
    }
    char line[256];
    CHECK(line_with(h, "--top", line, sizeof line) &&
          !strcmp(line, "  -k, --top N        how many classes to report for each image (range 1..1000,"));
    CHECK(strstr(h, "\n                     default: 5)\n") != NULL); /* wrapped under the help column */
    CHECK(line_with(h, "--model", line, sizeof line) &&
          !strcmp(line, "  -m, --model FILE   weights to load (required)"));
    CHECK(line_with(h, "--seed", line, sizeof line) && strstr(line, "(default: 42)"));
    CHECK(line_with(h, "--threshold", line, sizeof line) && strstr(line, "(range 0..1, default: 0.25)"));
    CHECK(line_with(h, "--scale", line, sizeof line) && strstr(line, "--scale X") && strstr(line, "(default: 7.5)"));
    CHECK(line_with(h, "--label", line, sizeof line) && strstr(line, "-l, --label TEXT") && strstr(line, "(repeatable)"));
    CHECK(line_with(h, "--name", line, sizeof line) && !strstr(line, "default"));
    CHECK(line_with(h, "--size", line, sizeof line) && strstr(line, "--size WxH") && strstr(line, "(default: 512x512)"));
    CHECK(line_with(h, "colour the output", line, sizeof line) && !strcmp(line, "      --[no-]color   colour the output"));
    CHECK(line_with(h, "--quiet", line, sizeof line) && strstr(line, "-q, --quiet "));
    CHECK(strstr(h, "--device {auto,cpu,cuda}\n") != NULL); /* too wide: help on the next line */
    CHECK(strstr(h, "\n                     where to run (default: auto)\n") != NULL);
    CHECK(strstr(h, "\narguments:\n  PATH...            image files or folders\n\noptions:\n") != NULL);
    CHECK(strstr(h, "  -h, --help         show this help and exit\n") != NULL);
    CHECK(strstr(h, "      --version      show the version and exit\n") != NULL);
    CHECK(strstr(h, "\nexamples:\n  demo -m w.safetensors photos/\n") != NULL);
    CHECK(strstr(h, "\nexit status:\n  0    success\n") != NULL);
    CHECK(strstr(h, "  130  interrupted") != NULL);
    CHECK_INT(max_line(h), 78); /* the --top line; nothing passes 80 */
    free(h);

    /* defaults come from the destinations, so help follows the code */
    v.top = 17;
    v.device = 1;
    v.color = 0;
    h = iris_cli_help(&spec, 80);
    CHECK(h && strstr(h, "default: 17)") && strstr(h, "(default: cpu)") && !strstr(h, "[no-]"));
    free(h);

    /* narrow terminals wrap every line */
    h = iris_cli_help(&spec, 50);
    CHECK(h && max_line(h) <= 75);
    int over = 0;
    for (const char *p = h; p && *p;) {
        size_t len = strcspn(p, "\n");
        if (len > 50 && strncmp(p, "  1", 3) && strncmp(p, "  4", 3) && strncmp(p, "  3", 3) && strncmp(p, "  130", 5))
            over++;
        p += len + (p[len] == '\n');
    }
    CHECK_INT(over, 0);
    free(h);
    reset_values();
}

typedef struct start_args {
    int argc;
    char **argv;
} start_args;

static int run_start(void *p) {
    start_args *a = p;
    return iris_cli_start(&spec, a->argc, a->argv);
}

TEST(cli_start_prints) {
    reset_values();
    int rc = -7;
    char *bad[] = {"demo", "-m", "a", "--top", "abc", "x", NULL};
    start_args a = {6, bad};
    char *out = capture_fd(2, run_start, &a, &rc);
    CHECK_INT(rc, IRIS_CLI_EXIT_USAGE);
    CHECK(out && !strcmp(out, "demo: --top: 'abc' is not an integer\ntry 'demo --help'\n"));
    free(out);

    char *help[] = {"demo", "--help", NULL};
    a = (start_args){2, help};
    out = capture_fd(1, run_start, &a, &rc);
    CHECK_INT(rc, 0);
    char *want = iris_cli_help(&spec, 80);
    CHECK(out && want && !strcmp(out, want));
    free(want);
    free(out);

    char *ver[] = {"demo", "--version", NULL};
    a = (start_args){2, ver};
    out = capture_fd(1, run_start, &a, &rc);
    CHECK_INT(rc, 0);
    CHECK(out && !strcmp(out, "demo (iris) 9.8.7\n"));
    free(out);

    char *ok[] = {"demo", "-m", "a", "x", NULL};
    a = (start_args){4, ok};
    out = capture_fd(2, run_start, &a, &rc);
    CHECK_INT(rc, -1);
    CHECK(out && !*out);
    free(out);
    signal(SIGINT, SIG_DFL); /* iris_cli_start installed the tool's handler */
    reset_values();
}

TEST(cli_common_options) {
    static iris_cli_common c;
    static const iris_cli_opt o[] = {IRIS_CLI_COMMON_OPTS(&c), IRIS_CLI_BATCH_OPTS(&c, "JSON lines go here"), IRIS_OPT_END};
    static const iris_cli_spec s = {.tool = "classify", .opts = o};
    c = iris_cli_common_defaults();
    char *h = iris_cli_help(&s, 80);
    CHECK(h && strstr(h, "-t, --threads N") && strstr(h, "(range 0..1024, default: 0 = all cores)"));
    CHECK(h && strstr(h, "--device {auto,cpu,cuda}") && strstr(h, "(default: auto)"));
    CHECK(h && strstr(h, "-q, --quiet") && strstr(h, "-v, --verbose") && strstr(h, "-o, --output FILE"));
    CHECK(h && strstr(h, "--resume") && strstr(h, "--fsync") && strstr(h, "--hidden"));
    free(h);
    char *argv[] = {"classify", "-t", "4", "--device", "cpu", "-qvv", "-o", "out.jsonl", "--resume", "--fsync",
                    "--hidden", NULL};
    CHECK_INT(iris_cli_parse(&s, 11, argv, err, sizeof err), IRIS_CLI_RUN);
    CHECK_INT(c.threads, 4);
    CHECK_INT(c.device, IRIS_CLI_DEVICE_CPU);
    CHECK_INT(c.quiet, 1);
    CHECK_INT(c.verbose, 2);
    CHECK(c.output && !strcmp(c.output, "out.jsonl"));
    CHECK(c.resume && c.fsync && c.hidden);
    char *bad[] = {"classify", "--threads", "-1", NULL};
    CHECK_INT(iris_cli_parse(&s, 3, bad, err, sizeof err), IRIS_CLI_BAD_USAGE);
    CHECK(!strcmp(err, "--threads: -1 is out of range (0 to 1024)"));

    iris_ctx *ctx = NULL;
    c.device = IRIS_CLI_DEVICE_CPU;
    c.threads = 3;
    CHECK_OK(iris_cli_ctx_create(&ctx, &c, NULL));
    CHECK(ctx && iris_ctx_device(ctx) == IRIS_CPU && iris_ctx_threads(ctx) == 3);
    iris_ctx_free(ctx);
#ifndef IRIS_WITH_CUDA
    c.device = IRIS_CLI_DEVICE_AUTO; /* falls back to the CPU */
    ctx = NULL;
    CHECK_OK(iris_cli_ctx_create(&ctx, &c, NULL));
    CHECK(ctx && iris_ctx_device(ctx) == IRIS_CPU);
    iris_ctx_free(ctx);
    c.device = IRIS_CLI_DEVICE_CUDA; /* asked for explicitly: an error */
    ctx = NULL;
    CHECK(iris_cli_ctx_create(&ctx, &c, NULL) == IRIS_ERR_UNSUPPORTED && ctx == NULL);
#endif
}

/* ---- exit codes and Ctrl-C ---- */

TEST(cli_sigint) {
    CHECK_INT(iris_cli_exit_status(0), 0);
    CHECK_INT(iris_cli_exit_status(3), 1);
    CHECK(!iris_cli_interrupted());

    /* second Ctrl-C ends the process with 130 at once */
    pid_t pid = fork();
    if (pid == 0) {
        iris_cli_install_sigint();
        raise(SIGINT);
        if (!iris_cli_interrupted() || iris_cli_exit_status(0) != 130) _exit(10);
        raise(SIGINT);
        _exit(11);
    }
    int status = 0;
    CHECK(pid > 0 && waitpid(pid, &status, 0) == pid);
    CHECK_MSG(WIFEXITED(status) && WEXITSTATUS(status) == 130, "child status %d", status);

    /* first one only sets the flag: the summary says so, the exit code is 130 */
    iris_cli_install_sigint();
    raise(SIGINT);
    CHECK(iris_cli_interrupted());
    CHECK_INT(iris_cli_exit_status(0), IRIS_CLI_EXIT_INTERRUPTED);
    capture_log();
    iris_cli_progress p;
    iris_cli_progress_begin(&p, 10, "classified", "image", "img", 0);
    iris_cli_progress_count(&p, IRIS_CLI_ITEM_OK);
    iris_cli_progress_end(&p);
    release_log();
    CHECK_MSG(starts(log_buf, "interrupted: classified 1 image, 0 failed, 0 skipped, "), "%s", log_buf);
    iris_cli_clear_interrupt();
    signal(SIGINT, SIG_DFL);
    CHECK(!iris_cli_interrupted());
    CHECK_INT(iris_cli_exit_status(0), 0);
}

/* ---- messages ---- */

TEST(cli_log_levels) {
    capture_log();
    iris_cli_set_verbosity(0, 1);
    iris_cli_warn("%s: not a JPEG file (skipped)", "photos/x.jpg");
    iris_cli_error("cannot load %s", "m.st");
    iris_cli_info("loaded %d classes", 1000);
    iris_cli_debug(1, "level one");
    iris_cli_debug(2, "level two");
    CHECK_INT(iris_cli_fatal(IRIS_CLI_EXIT_LOAD, "x\ny"), 3);
    iris_cli_set_verbosity(1, 0);
    iris_cli_info("hidden by quiet");
    iris_cli_warn("shown even when quiet");
    iris_cli_set_verbosity(0, 0);
    release_log();
    CHECK(!strcmp(log_buf, "warning: photos/x.jpg: not a JPEG file (skipped)\n"
                           "error: cannot load m.st\n"
                           "loaded 1000 classes\n"
                           "level one\n"
                           "error: x\n"
                           "warning: shown even when quiet\n"));
}

/* ---- sniffing ---- */

TEST(cli_sniff_formats) {
    static const uint8_t jpeg[] = {0xff, 0xd8, 0xff, 0xe0, 0, 0x10, 'J', 'F', 'I', 'F'};
    static const uint8_t png[] = {0x89, 'P', 'N', 'G', 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13};
    static const uint8_t bmp[18] = {'B', 'M', 0x46, 0, 0, 0, 0, 0, 0, 0, 0x36, 0, 0, 0, 40, 0, 0, 0};
    static const uint8_t bm_text[18] = "BMW service notes";
    static const uint8_t webp[16] = {'R', 'I', 'F', 'F', 1, 2, 3, 4, 'W', 'E', 'B', 'P', 'V', 'P', '8', ' '};
    static const uint8_t wav[16] = {'R', 'I', 'F', 'F', 1, 2, 3, 4, 'W', 'A', 'V', 'E', 'f', 'm', 't', ' '};
    static const uint8_t tiff_le[] = {'I', 'I', 42, 0, 8, 0, 0, 0};
    static const uint8_t tiff_be[] = {'M', 'M', 0, 42, 0, 0, 0, 8};
    static const uint8_t psd[] = {'8', 'B', 'P', 'S', 0, 1, 0, 0};
    CHECK_INT(iris_cli_sniff(jpeg, sizeof jpeg, "a.png"), IRIS_CLI_JPEG); /* bytes win over the name */
    CHECK_INT(iris_cli_sniff(jpeg, 2, "a.jpg"), IRIS_CLI_NOT_IMAGE);
    CHECK_INT(iris_cli_sniff(png, sizeof png, NULL), IRIS_CLI_PNG);
    CHECK_INT(iris_cli_sniff(png, 7, NULL), IRIS_CLI_NOT_IMAGE);
    CHECK_INT(iris_cli_sniff((const uint8_t *)"GIF89a\x01\x00", 8, NULL), IRIS_CLI_GIF);
    CHECK_INT(iris_cli_sniff((const uint8_t *)"GIF90a\x01\x00", 8, NULL), IRIS_CLI_NOT_IMAGE);
    CHECK_INT(iris_cli_sniff(bmp, sizeof bmp, NULL), IRIS_CLI_BMP);
    CHECK_INT(iris_cli_sniff(bm_text, sizeof bm_text, "x.bmp"), IRIS_CLI_NOT_IMAGE);
    CHECK_INT(iris_cli_sniff(webp, sizeof webp, NULL), IRIS_CLI_WEBP);
    CHECK_INT(iris_cli_sniff(wav, sizeof wav, NULL), IRIS_CLI_NOT_IMAGE);
    CHECK_INT(iris_cli_sniff((const uint8_t *)"P6\n3 2\n255\n", 11, NULL), IRIS_CLI_PNM);
    CHECK_INT(iris_cli_sniff((const uint8_t *)"P5 3 2 255 ", 11, NULL), IRIS_CLI_PNM);
    CHECK_INT(iris_cli_sniff((const uint8_t *)"P3\n3 2\n255\n", 11, NULL), IRIS_CLI_NOT_IMAGE);
    CHECK_INT(iris_cli_sniff((const uint8_t *)"P6x", 3, NULL), IRIS_CLI_NOT_IMAGE);
    CHECK_INT(iris_cli_sniff(tiff_le, sizeof tiff_le, NULL), IRIS_CLI_TIFF);
    CHECK_INT(iris_cli_sniff(tiff_be, sizeof tiff_be, NULL), IRIS_CLI_TIFF);
    CHECK_INT(iris_cli_sniff(psd, sizeof psd, NULL), IRIS_CLI_PSD);
    CHECK_INT(iris_cli_sniff((const uint8_t *)"\0\0\2\0", 4, "dir.v2/pic.TGA"), IRIS_CLI_TGA);
    CHECK_INT(iris_cli_sniff((const uint8_t *)"\0\0\2\0", 4, "pic.tga.txt"), IRIS_CLI_NOT_IMAGE);
    CHECK_INT(iris_cli_sniff((const uint8_t *)"", 0, "empty.tga"), IRIS_CLI_NOT_IMAGE);
    CHECK_INT(iris_cli_sniff((const uint8_t *)"<html>", 6, "x.jpg"), IRIS_CLI_NOT_IMAGE);
    CHECK_INT(iris_cli_sniff(NULL, 0, NULL), IRIS_CLI_NOT_IMAGE);
    CHECK(!strcmp(iris_cli_image_kind_name(IRIS_CLI_WEBP), "webp"));
    CHECK(!strcmp(iris_cli_image_kind_name(IRIS_CLI_NOT_IMAGE), "none"));
}

/* ---- walking ---- */

static const uint8_t JPEG_HEAD[] = {0xff, 0xd8, 0xff, 0xe0, 0, 0x10, 'J', 'F', 'I', 'F', 0};
static const uint8_t PNG_HEAD[] = {0x89, 'P', 'N', 'G', 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13, 'I', 'H', 'D', 'R'};
static const uint8_t BMP_HEAD[18] = {'B', 'M', 0x46, 0, 0, 0, 0, 0, 0, 0, 0x36, 0, 0, 0, 40, 0, 0, 0};

static void put(const char *root, const char *rel, const void *data, size_t n) {
    char p[1024];
    snprintf(p, sizeof p, "%s/%s", root, rel);
    write_file(p, data, n);
}

static void mkdir_in(const char *root, const char *rel) {
    char p[1024];
    snprintf(p, sizeof p, "%s/%s", root, rel);
    CHECK_MSG(mkdir(p, 0755) == 0, "mkdir %s", p);
}

static void link_in(const char *root, const char *target, const char *rel) {
    char p[1024];
    snprintf(p, sizeof p, "%s/%s", root, rel);
    CHECK_MSG(symlink(target, p) == 0, "symlink %s", p);
}

/* files[i].path relative to root, ";"-joined, for one readable comparison */
static void listing(const iris_cli_walk *w, const char *root, char *out, size_t n) {
    size_t lr = strlen(root), len = 0;
    out[0] = 0;
    for (size_t i = 0; i < w->n; i++) {
        const char *p = w->files[i].path;
        if (!strncmp(p, root, lr) && p[lr] == '/') p += lr + 1;
        int k = snprintf(out + len, n - len, "%s%s", i ? ";" : "", p);
        if (k > 0 && (size_t)k < n - len) len += (size_t)k;
    }
}

static void build_tree(const char *r) {
    put(r, "B.jpg", JPEG_HEAD, sizeof JPEG_HEAD);
    put(r, "a-b.jpg", JPEG_HEAD, sizeof JPEG_HEAD);
    put(r, "a.jpg", JPEG_HEAD, sizeof JPEG_HEAD);
    mkdir_in(r, "a");
    put(r, "a/z.jpg", JPEG_HEAD, sizeof JPEG_HEAD);
    put(r, "b.png", PNG_HEAD, sizeof PNG_HEAD);
    put(r, "fake.jpg", "<html>not found</html>\n", 23);
    put(r, "empty.png", "", 0);
    put(r, "notes.txt", "hello\n", 6);
    put(r, "noext", PNG_HEAD, sizeof PNG_HEAD);
    put(r, "t.tga", "\0\0\2\0\0\0\0\0", 8);
    put(r, ".hidden.jpg", JPEG_HEAD, sizeof JPEG_HEAD);
    mkdir_in(r, ".cache");
    put(r, ".cache/x.jpg", JPEG_HEAD, sizeof JPEG_HEAD);
    mkdir_in(r, "sub");
    put(r, "sub/c.gif", "GIF89a\1\0\1\0", 10);
    mkdir_in(r, "sub/deeper");
    put(r, "sub/deeper/d.bmp", BMP_HEAD, sizeof BMP_HEAD);
    link_in(r, "..", "sub/loop");         /* back to the root: a loop */
    link_in(r, "sub", "sub2");            /* the same folder again */
    link_in(r, "b.png", "link.png");      /* a link to a file: followed */
    link_in(r, "missing.jpg", "dangling.jpg");
}

/* 0 if the walk of `root` with sub/deeper unreadable went as it should, else which check failed */
static int unreadable_folder_walk(const char *root) {
    iris_cli_walk w;
    const char *paths[] = {root};
    capture_log();
    iris_status st = iris_cli_walk_paths(&w, paths, 1, NULL);
    release_log();
    char want[700];
    snprintf(want, sizeof want, "warning: %s/sub/deeper: cannot open folder: Permission denied\n", root);
    int bad = st != IRIS_OK ? 1 : w.n != 9 ? 2 : w.n_errors != 1 ? 3 : !strstr(log_buf, want) ? 4 : 0;
    iris_cli_walk_free(&w);
    return bad;
}

TEST(cli_walk_tree) {
    char root[512];
    if (!make_temp_dir(root, sizeof root)) {
        CHECK_MSG(0, "mkdtemp: %s", strerror(errno));
        return;
    }
    build_tree(root);
    capture_log();
    iris_cli_walk w;
    const char *paths[] = {root};
    CHECK_OK(iris_cli_walk_paths(&w, paths, 1, NULL));
    release_log();
    char got[4096];
    listing(&w, root, got, sizeof got);
    /* byte-wise: 'B' < 'a'; "a-b" < "a.jpg" < "a/z" ('-' < '.' < '/') */
    CHECK_MSG(!strcmp(got, "B.jpg;a-b.jpg;a.jpg;a/z.jpg;b.png;link.png;noext;sub/c.gif;sub/deeper/d.bmp;t.tga"),
              "got %s", got);
    CHECK_INT(w.n, 10);
    if (w.n == 10) {
        CHECK_INT(w.files[0].kind, IRIS_CLI_JPEG);
        CHECK_INT(w.files[4].kind, IRIS_CLI_PNG);
        CHECK_INT(w.files[6].kind, IRIS_CLI_PNG);
        CHECK_INT(w.files[7].kind, IRIS_CLI_GIF);
        CHECK_INT(w.files[8].kind, IRIS_CLI_BMP);
        CHECK_INT(w.files[9].kind, IRIS_CLI_TGA);
    }
    CHECK_INT(w.n_skipped, 3); /* fake.jpg, empty.png, dangling.jpg */
    CHECK_INT(w.n_ignored, 1); /* notes.txt */
    CHECK_INT(w.n_hidden, 2);  /* .hidden.jpg, .cache */
    CHECK_INT(w.n_loops, 2);   /* sub/loop, sub2 */
    CHECK_INT(w.n_errors, 0);
    char want[1200];
    snprintf(want, sizeof want, "warning: %s/fake.jpg: not a JPEG file (skipped)\n", root);
    CHECK_MSG(strstr(log_buf, want) != NULL, "log:\n%s", log_buf);
    snprintf(want, sizeof want, "warning: %s/empty.png: empty file (skipped)\n", root);
    CHECK(strstr(log_buf, want) != NULL);
    snprintf(want, sizeof want, "warning: %s/dangling.jpg: broken symbolic link (skipped)\n", root);
    CHECK(strstr(log_buf, want) != NULL);
    snprintf(want, sizeof want, "warning: %s/sub/loop: link to a folder already searched (loop?), skipped\n", root);
    CHECK(strstr(log_buf, want) != NULL);
    CHECK_INT(log_lines, 5);
    iris_cli_walk_free(&w);

    /* hidden on; a trailing slash does not double; every file (all_files) */
    char slashed[600];
    snprintf(slashed, sizeof slashed, "%s//", root);
    const char *p2[] = {slashed};
    capture_log();
    CHECK_OK(iris_cli_walk_paths(&w, p2, 1, &(iris_cli_walk_opts){.hidden = 1, .all_files = 1}));
    release_log();
    listing(&w, root, got, sizeof got);
    CHECK_MSG(!strcmp(got, ".cache/x.jpg;.hidden.jpg;B.jpg;a-b.jpg;a.jpg;a/z.jpg;b.png;empty.png;fake.jpg;link.png;"
                           "noext;notes.txt;sub/c.gif;sub/deeper/d.bmp;t.tga"),
              "got %s", got);
    CHECK_INT(w.n_hidden, 0);
    CHECK_INT(w.n_skipped, 1); /* only the dangling link */
    iris_cli_walk_free(&w);

    /* named files are kept whatever they hold, once each, in the given order;
       a missing path is a warning and an error count, not a stop */
    char fake[600], notes[600], missing[600], sub[600], a[600];
    snprintf(fake, sizeof fake, "%s/fake.jpg", root);
    snprintf(notes, sizeof notes, "%s/notes.txt", root);
    snprintf(missing, sizeof missing, "%s/nope.jpg", root);
    snprintf(sub, sizeof sub, "%s/a", root);
    snprintf(a, sizeof a, "%s/a.jpg", root);
    const char *p3[] = {fake, missing, notes, sub, a, fake, ""};
    capture_log();
    CHECK_OK(iris_cli_walk_paths(&w, p3, 7, NULL));
    release_log();
    listing(&w, root, got, sizeof got);
    CHECK_MSG(!strcmp(got, "fake.jpg;notes.txt;a/z.jpg;a.jpg"), "got %s", got);
    if (w.n == 4) CHECK(w.files[0].kind == IRIS_CLI_NOT_IMAGE && w.files[3].kind == IRIS_CLI_JPEG);
    CHECK_INT(w.n_errors, 2);
    snprintf(want, sizeof want, "warning: %s: No such file or directory\n", missing);
    CHECK(strstr(log_buf, want) != NULL);
    CHECK(strstr(log_buf, "warning: empty path (skipped)\n") != NULL);
    iris_cli_walk_free(&w);

    /* an unreadable folder is a warning; the rest is still walked. Root reads
       every folder, so as root this part runs in a child as "nobody". */
    char deeper[600];
    snprintf(deeper, sizeof deeper, "%s/sub/deeper", root);
    chmod(deeper, 0);
    if (geteuid() != 0) {
        CHECK_INT(unreadable_folder_walk(root), 0);
    } else {
        chmod(root, 0755);
        pid_t pid = fork();
        if (pid == 0) _exit(setgid(65534) || setuid(65534) ? 99 : unreadable_folder_walk(root));
        int status = 0;
        CHECK(pid > 0 && waitpid(pid, &status, 0) == pid);
        CHECK_MSG(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status %d", status);
    }
    chmod(deeper, 0755);

    /* nothing at all */
    CHECK_OK(iris_cli_walk_paths(&w, NULL, 0, NULL));
    CHECK(w.n == 0 && w.files == NULL);
    iris_cli_walk_free(&w);
    rm_tree(root);
}

/* ---- JSON lines ---- */

TEST(cli_records) {
    static const char *const labels[] = {"tench", "goldfish", "great white shark"};
    int ids[2] = {2, 0};
    float scores[2] = {0.912345678f, 0.0000123456789f};
    cJSON *rec = iris_cli_record(NULL, "photos/a b\"c.jpg");
    CHECK(iris_cli_record_topk(rec, "top", ids, scores, 2, labels, 3) == rec);
    CHECK(iris_cli_record_number(rec, "ms", 12.3456789, 3) == rec);
    char *s = cJSON_PrintUnformatted(rec);
    CHECK_MSG(s && !strcmp(s, "{\"file\":\"photos/a b\\\"c.jpg\",\"top\":[{\"id\":2,\"label\":\"great white shark\","
                              "\"score\":0.912346},{\"id\":0,\"label\":\"tench\",\"score\":1.23457e-05}],\"ms\":12.3}"),
              "%s", s);
    cJSON_free(s);
    cJSON_Delete(rec);

    rec = iris_cli_record("image", "x.png");
    CHECK(iris_cli_record_box(rec, "boxes", 16, "dog", 0.87654321f, 10.25f, 20.5f, 300.123456f, 400) == rec);
    CHECK(iris_cli_record_box(rec, "boxes", 7, NULL, 0.5f, 0, 0, 1, 1) == rec);
    s = cJSON_PrintUnformatted(rec);
    CHECK_MSG(s && !strcmp(s, "{\"image\":\"x.png\",\"boxes\":[{\"id\":16,\"label\":\"dog\",\"score\":0.876543,"
                              "\"box\":[10.25,20.5,300.123,400]},{\"id\":7,\"score\":0.5,\"box\":[0,0,1,1]}]}"),
              "%s", s);
    cJSON_free(s);
    /* boxes into a member that is not an array fail cleanly */
    CHECK(iris_cli_record_box(rec, "image", 1, "x", 1, 0, 0, 1, 1) == NULL);
    cJSON_Delete(rec);

    rec = iris_cli_record_error(NULL, "bad.jpg", "bad.jpg: JPEG: premature end of data");
    s = cJSON_PrintUnformatted(rec);
    CHECK(s && !strcmp(s, "{\"file\":\"bad.jpg\",\"error\":\"bad.jpg: JPEG: premature end of data\"}"));
    cJSON_free(s);
    cJSON_Delete(rec);
    CHECK(iris_cli_record_topk(NULL, "top", ids, scores, 2, NULL, 0) == NULL);

    CHECK_NEAR(iris_cli_round_sig(0.912345678, 6), 0.912346, 1e-15);
    CHECK_NEAR(iris_cli_round_sig(-1234567.0, 3), -1230000.0, 0);
    CHECK_NEAR(iris_cli_round_sig(0, 6), 0, 0);
    CHECK(isinf(iris_cli_round_sig(INFINITY, 6)));
}

static void write_record(iris_cli_out *o, const char *file) {
    cJSON *rec = iris_cli_record(NULL, file);
    cJSON_AddNumberToObject(rec, "n", (double)strlen(file));
    CHECK_OK(iris_cli_out_write(o, rec));
    cJSON_Delete(rec);
}

/* Every line parses and has a "file"; returns the number of lines. */
static int valid_lines(const char *text, int *n_bad) {
    int n = 0;
    *n_bad = 0;
    for (const char *p = text; *p;) {
        const char *nl = strchr(p, '\n');
        if (!nl) {
            (*n_bad)++;
            break;
        }
        cJSON *j = cJSON_ParseWithLength(p, (size_t)(nl - p));
        if (!cJSON_IsString(cJSON_GetObjectItemCaseSensitive(j, "file"))) (*n_bad)++;
        cJSON_Delete(j);
        n++;
        p = nl + 1;
    }
    return n;
}

/* A fresh temporary folder in dir and "<dir>/out.jsonl" in path; 0 after a failed check. */
static int jsonl_temp(char *dir, size_t dn, char *path, size_t pn) {
    if (!make_temp_dir(dir, dn)) return CHECK_MSG(0, "mkdtemp failed");
    snprintf(path, pn, "%s/out.jsonl", dir);
    return 1;
}

TEST(cli_jsonl_resume_torn_line) {
    char dir[512], path[600];
    if (!jsonl_temp(dir, sizeof dir, path, sizeof path)) return;
    static const char torn[] = "{\"file\":\"a.jpg\",\"top\":1}\n{\"file\":\"b.jpg\",\"top\":2}\n{\"file\":\"c.jp";
    write_file(path, torn, sizeof torn - 1);

    capture_log();
    iris_cli_out *o = NULL;
    CHECK_OK(iris_cli_out_open(&o, path, &(iris_cli_out_params){.resume = 1}));
    release_log();
    if (!o) return;
    CHECK_INT(iris_cli_out_n_torn(o), 13);
    CHECK_INT(iris_cli_out_n_done(o), 2);
    CHECK(iris_cli_out_is_done(o, "a.jpg") && iris_cli_out_is_done(o, "b.jpg"));
    CHECK(!iris_cli_out_is_done(o, "c.jpg") && !iris_cli_out_is_done(o, "c.jp") && !iris_cli_out_is_done(o, NULL));
    char want[800];
    snprintf(want, sizeof want, "warning: %s: removed an incomplete last line (13 bytes) left by an interrupted run\n", path);
    CHECK_MSG(!strcmp(log_buf, want), "log: %s", log_buf);
    /* the file is whole again before anything new is written */
    char *text = read_all(path);
    CHECK(text && !strcmp(text, "{\"file\":\"a.jpg\",\"top\":1}\n{\"file\":\"b.jpg\",\"top\":2}\n"));
    free(text);
    write_record(o, "c.jpg");
    CHECK_OK(iris_cli_out_close(o));
    text = read_all(path);
    CHECK(text && !strcmp(text, "{\"file\":\"a.jpg\",\"top\":1}\n{\"file\":\"b.jpg\",\"top\":2}\n"
                                "{\"file\":\"c.jpg\",\"n\":5}\n"));
    free(text);

    /* a file that is one torn line becomes empty; no resume needed for the repair */
    write_file(path, "{\"fi", 4);
    capture_log();
    CHECK_OK(iris_cli_out_open(&o, path, NULL));
    release_log();
    CHECK_INT(iris_cli_out_n_torn(o), 4);
    CHECK_INT(iris_cli_out_n_done(o), 0);
    CHECK_OK(iris_cli_out_close(o));
    text = read_all(path);
    CHECK(text && !*text);
    free(text);
    rm_tree(dir);
}

TEST(cli_jsonl_resume_no_duplicates) {
    char dir[512], path[600];
    if (!jsonl_temp(dir, sizeof dir, path, sizeof path)) return;
    const char *inputs[13] = {"p/01.jpg", "p/02.jpg", "p/03.jpg", "p/04.jpg", "p/05.jpg", "p/06.jpg", "p/07.jpg",
                              "p/08.jpg", "p/09.jpg", "p/10.jpg", "p/11.jpg", "p/12.jpg", "p/13.jpg"};
    /* three runs, each stopped early, then one that finishes */
    int stops[4] = {4, 5, 1, 13}, written = 0;
    for (int run = 0; run < 4; run++) {
        iris_cli_out *o = NULL;
        capture_log();
        CHECK_OK(iris_cli_out_open(&o, path, &(iris_cli_out_params){.resume = 1}));
        release_log();
        if (!o) return;
        CHECK_INT(iris_cli_out_n_done(o), written);
        int did = 0;
        for (int i = 0; i < 13 && did < stops[run]; i++) {
            if (iris_cli_out_is_done(o, inputs[i])) continue;
            write_record(o, inputs[i]);
            did++;
        }
        written += did;
        CHECK_OK(iris_cli_out_close(o));
    }
    CHECK_INT(written, 13);
    char *text = read_all(path);
    int bad;
    CHECK_INT(valid_lines(text ? text : "", &bad), 13);
    CHECK_INT(bad, 0);
    /* in input order, each once */
    const char *p = text;
    for (int i = 0; i < 13 && p; i++) {
        char want[64];
        snprintf(want, sizeof want, "{\"file\":\"%s\",\"n\":8}\n", inputs[i]);
        CHECK_MSG(!strncmp(p, want, strlen(want)), "line %d", i);
        p = strchr(p, '\n');
        if (p) p++;
    }
    free(text);

    /* without --resume an existing file is appended to, never truncated */
    iris_cli_out *o = NULL;
    CHECK_OK(iris_cli_out_open(&o, path, NULL));
    CHECK_INT(iris_cli_out_n_done(o), 0);
    CHECK(!iris_cli_out_is_done(o, "p/01.jpg"));
    write_record(o, "extra.jpg");
    /* a second writer on the same file is refused while this one holds it */
    iris_cli_out *o2 = NULL;
    CHECK(iris_cli_out_open(&o2, path, NULL) == IRIS_ERR_IO && o2 == NULL);
    CHECK(strstr(iris_last_error(), "another process is writing to it") != NULL);
    CHECK_OK(iris_cli_out_close(o));
    text = read_all(path);
    CHECK_INT(count_lines(text ? text : ""), 14);
    free(text);
    rm_tree(dir);
}

TEST(cli_jsonl_odd_files) {
    char dir[512], path[600];
    if (!jsonl_temp(dir, sizeof dir, path, sizeof path)) return;
    /* junk and key-less lines are ignored (one warning), a long line is read whole,
       another key can name the input */
    size_t big = 200000;
    char *text = malloc(big + 200);
    size_t len = (size_t)sprintf(text, "not json\n{\"prompt\":\"a red fox\"}\n\n{\"prompt\":\"");
    memset(text + len, 'x', big);
    len += big;
    len += (size_t)sprintf(text + len, "\"}\n[1,2]\n{\"prompt\":7}\n");
    write_file(path, text, len);
    capture_log();
    iris_cli_out *o = NULL;
    CHECK_OK(iris_cli_out_open(&o, path, &(iris_cli_out_params){.resume = 1, .key = "prompt", .fsync = 1}));
    release_log();
    CHECK_INT(iris_cli_out_n_done(o), 2);
    CHECK(iris_cli_out_is_done(o, "a red fox"));
    memset(text, 'x', big);
    text[big] = 0;
    CHECK(iris_cli_out_is_done(o, text));
    CHECK(strstr(log_buf, ": 3 lines without a \"prompt\" were ignored for --resume\n") != NULL);
    CHECK(iris_cli_out_write_line(o, "{\"a\":1}\n{\"b\":2}") == IRIS_ERR_ARG);
    CHECK_OK(iris_cli_out_write_line(o, "{\"prompt\":\"b\"}"));
    CHECK_OK(iris_cli_out_close(o));
    free(text);
    text = read_all(path);
    CHECK(text && len + 15 == strlen(text) && !strcmp(text + len, "{\"prompt\":\"b\"}\n"));
    free(text);

    /* resume needs a file */
    CHECK(iris_cli_out_open(&o, NULL, &(iris_cli_out_params){.resume = 1}) == IRIS_ERR_ARG && o == NULL);
    CHECK(iris_cli_out_open(&o, "-", &(iris_cli_out_params){.resume = 1}) == IRIS_ERR_ARG);
    /* a folder that does not exist: the message names the file */
    char nodir[700];
    snprintf(nodir, sizeof nodir, "%s/no/such/out.jsonl", dir);
    CHECK(iris_cli_out_open(&o, nodir, NULL) == IRIS_ERR_IO);
    CHECK(strstr(iris_last_error(), nodir) && strstr(iris_last_error(), "No such file or directory"));
    rm_tree(dir);

    /* a full disk is an I/O error the tool turns into exit code 4 */
    if (access("/dev/full", W_OK) == 0) {
        CHECK_OK(iris_cli_out_open(&o, "/dev/full", NULL));
        cJSON *rec = iris_cli_record(NULL, "a.jpg");
        CHECK(iris_cli_out_write(o, rec) == IRIS_ERR_IO);
        CHECK_MSG(!strcmp(iris_last_error(), "/dev/full: cannot write: No space left on device"), "%s",
                  iris_last_error());
        cJSON_Delete(rec);
        CHECK_OK(iris_cli_out_close(o));
    }
}

static int write_to_stdout(void *arg) {
    (void)arg;
    iris_cli_out *o = NULL;
    if (iris_cli_out_open(&o, "-", NULL)) return 1;
    cJSON *rec = iris_cli_record(NULL, "x.jpg");
    int st = iris_cli_out_write(o, rec) || iris_cli_out_write_line(o, "{\"file\":\"y.jpg\"}");
    cJSON_Delete(rec);
    return st | iris_cli_out_close(o);
}

TEST(cli_jsonl_stdout) {
    int rc = -1;
    char *out = capture_fd(1, write_to_stdout, NULL, &rc);
    CHECK_INT(rc, 0);
    CHECK(out && !strcmp(out, "{\"file\":\"x.jpg\"}\n{\"file\":\"y.jpg\"}\n"));
    free(out);
}

/* ---- progress ---- */

TEST(cli_progress_format) {
    char b[256];
    CHECK(!strcmp(iris_cli_fmt_duration(b, sizeof b, 71), "1m11s"));
    CHECK(!strcmp(iris_cli_fmt_duration(b, sizeof b, 5), "5s"));
    CHECK(!strcmp(iris_cli_fmt_duration(b, sizeof b, 0), "0s"));
    CHECK(!strcmp(iris_cli_fmt_duration(b, sizeof b, 59.6), "1m00s"));
    CHECK(!strcmp(iris_cli_fmt_duration(b, sizeof b, 3599), "59m59s"));
    CHECK(!strcmp(iris_cli_fmt_duration(b, sizeof b, 3725), "1h02m"));
    CHECK(!strcmp(iris_cli_fmt_duration(b, sizeof b, 360000), "100h"));
    CHECK(!strcmp(iris_cli_fmt_duration(b, sizeof b, -1), "--"));
    CHECK(!strcmp(iris_cli_fmt_duration(b, sizeof b, NAN), "--"));
    CHECK(!strcmp(iris_cli_fmt_duration(b, sizeof b, INFINITY), "--"));
    CHECK(!strcmp(iris_cli_fmt_rate(b, sizeof b, 12.34), "12.3"));
    CHECK(!strcmp(iris_cli_fmt_rate(b, sizeof b, 123.4), "123"));
    CHECK(!strcmp(iris_cli_fmt_rate(b, sizeof b, 0.456), "0.46"));
    CHECK(!strcmp(iris_cli_fmt_rate(b, sizeof b, 99.96), "100"));
    CHECK(!strcmp(iris_cli_fmt_rate(b, sizeof b, NAN), "--"));

    /* 5 of 10 in 2 s: 2.5/s, 5 left -> 2 s; 20-wide bar at 80 columns, half full */
    iris_cli_fmt_bar(b, sizeof b, 5, 10, 2.0, 5, "img", "photos/cat.jpg", 80);
    CHECK_MSG(!strcmp(b, "[==========>         ] 5/10 2.5 img/s ETA 2s  photos/cat.jpg"), "%s", b);
    /* 123 of 1000 at 12.3/s: 877 left -> 71 s */
    iris_cli_fmt_bar(b, sizeof b, 123, 1000, 10.0, 123, "img", NULL, 80);
    CHECK_MSG(!strcmp(b, "[==>                 ] 123/1000 12.3 img/s ETA 1m11s"), "%s", b);
    iris_cli_fmt_bar(b, sizeof b, 0, 1000, 0.5, 0, "img", NULL, 80);
    CHECK_MSG(!strcmp(b, "[                    ] 0/1000 -- img/s ETA --"), "%s", b);
    iris_cli_fmt_bar(b, sizeof b, 7, 7, 1.0, 7, "img", NULL, 120);
    CHECK_MSG(!strcmp(b, "[==============================] 7/7 7.0 img/s ETA 0s"), "%s", b);
    iris_cli_fmt_bar(b, sizeof b, 42, 0, 2.0, 42, "tok", "x", 80);
    CHECK_MSG(!strcmp(b, "42 21.0 tok/s  x"), "%s", b);
    /* a long name keeps its tail and the line stays inside the terminal */
    const char *longname = "photos/2023/summer/holiday/beach/very/deep/folder/IMG_20230801_123456.jpg";
    iris_cli_fmt_bar(b, sizeof b, 5, 10, 2.0, 5, "img", longname, 60);
    CHECK_MSG(strlen(b) == 59, "%zu: %s", strlen(b), b);
    CHECK_MSG(starts(b, "[==========>         ] 5/10 2.5 img/s ETA 2s  ...") && !strcmp(b + strlen(b) - 10, "123456.jpg"), "%s", b);
    iris_cli_fmt_bar(b, sizeof b, 5, 10, 2.0, 5, "img", longname, 30);
    CHECK_MSG(strlen(b) <= 29, "%zu: %s", strlen(b), b);

    iris_cli_progress p = {.verb = "classified", .noun = "image", .unit = "img", .n_ok = 998, .n_failed = 2};
    CHECK_MSG(!strcmp(iris_cli_fmt_summary(b, sizeof b, &p, 81.2),
                      "classified 998 images, 2 failed, 0 skipped, 81.2 s (12.3 img/s)"),
              "%s", b);
    p = (iris_cli_progress){.verb = "captioned", .noun = "image", .unit = "img", .n_ok = 1, .n_skipped = 3,
                            .n_resumed = 990};
    CHECK_MSG(!strcmp(iris_cli_fmt_summary(b, sizeof b, &p, 4.0),
                      "captioned 1 image, 0 failed, 3 skipped, 990 already done, 4.0 s (0.25 img/s)"),
              "%s", b);
    p = (iris_cli_progress){.verb = "generated", .noun = "image", .unit = "img"};
    CHECK(!strcmp(iris_cli_fmt_summary(b, sizeof b, &p, 0.04), "generated 0 images, 0 failed, 0 skipped, 0.0 s"));
    char tiny[16];
    p.n_ok = 123456;
    iris_cli_fmt_summary(tiny, sizeof tiny, &p, 1.0);
    CHECK_INT(strlen(tiny), 15);
}

TEST(cli_progress_counts_and_summary) {
    capture_log();
    iris_cli_progress p;
    iris_cli_progress_begin(&p, 4, "detected", "image", "img", 0);
    iris_cli_progress_current(&p, "a.jpg");
    iris_cli_progress_count(&p, IRIS_CLI_ITEM_OK);
    iris_cli_progress_current(&p, "b.jpg");
    iris_cli_progress_count(&p, IRIS_CLI_ITEM_FAILED);
    iris_cli_progress_count(&p, IRIS_CLI_ITEM_SKIPPED);
    iris_cli_progress_count(&p, IRIS_CLI_ITEM_OK);
    CHECK(!strcmp(p.current, "b.jpg"));
    iris_cli_progress_end(&p);
    CHECK_INT(p.n_ok, 2);
    CHECK_INT(p.n_failed, 1);
    CHECK_INT(p.n_skipped, 1);
    CHECK_INT(log_lines, 1);
    CHECK_MSG(starts(log_buf, "detected 2 images, 1 failed, 1 skipped, "), "%s", log_buf);
    /* quiet: no summary */
    iris_cli_progress_begin(&p, 1, "detected", "image", "img", 1);
    iris_cli_progress_count(&p, IRIS_CLI_ITEM_OK);
    iris_cli_progress_end(&p);
    release_log();
    CHECK_INT(log_lines, 1);
    CHECK(!p.tty);
}

/* ---- --shard K/N ---- */

TEST(cli_shard_parse) {
    static iris_cli_common c;
    static const iris_cli_opt o[] = {IRIS_CLI_BATCH_OPTS(&c, "out"), IRIS_OPT_END};
    static const iris_cli_spec s = {.tool = "detect", .opts = o};
    c = iris_cli_common_defaults();
    CHECK(c.shard.k == 0 && c.shard.n == 1);
    char *h = iris_cli_help(&s, 100);
    CHECK(h && strstr(h, "--shard K/N") && strstr(h, "K from 0") && strstr(h, "SLURM_ARRAY_TASK_ID"));
    free(h);
    char *ok[] = {"detect", "--shard", "3/4", NULL};
    CHECK_INT(iris_cli_parse(&s, 3, ok, err, sizeof err), IRIS_CLI_RUN);
    CHECK(c.shard.k == 3 && c.shard.n == 4);
    char *ok1[] = {"detect", "--shard=0/1", NULL};
    CHECK_INT(iris_cli_parse(&s, 2, ok1, err, sizeof err), IRIS_CLI_RUN);
    CHECK(c.shard.k == 0 && c.shard.n == 1);
    static const struct {
        const char *v, *msg;
    } bad[] = {
        {"4/4", "--shard: '4/4': K counts from 0, so it must be below N: 0/4 .. 3/4 (a Slurm array: --array=0-3)"},
        {"10/10", "--shard: '10/10': K counts from 0, so it must be below N: 0/10 .. 9/10 (a Slurm array: --array=0-9)"},
        {"0/0", "--shard: '0/0': N must be at least 1"},
        {"2", "--shard: '2': expected K/N, e.g. 0/4 (part K of N, counting from 0)"},
        {"-1/4", "--shard: '-1/4': expected K/N, e.g. 0/4 (part K of N, counting from 0)"},
        {"1/-4", "--shard: '1/-4': expected K/N, e.g. 0/4 (part K of N, counting from 0)"},
        {"1/+4", "--shard: '1/+4': expected K/N, e.g. 0/4 (part K of N, counting from 0)"},
        {" 1/4", "--shard: ' 1/4': expected K/N, e.g. 0/4 (part K of N, counting from 0)"},
        {"1/4 ", "--shard: '1/4 ': expected K/N, e.g. 0/4 (part K of N, counting from 0)"},
        {"1/4/8", "--shard: '1/4/8': expected K/N, e.g. 0/4 (part K of N, counting from 0)"},
        {"/4", "--shard: '/4': expected K/N, e.g. 0/4 (part K of N, counting from 0)"},
        {"1/", "--shard: '1/': expected K/N, e.g. 0/4 (part K of N, counting from 0)"},
        {"a/b", "--shard: 'a/b': expected K/N, e.g. 0/4 (part K of N, counting from 0)"},
        {"", "--shard: '': expected K/N, e.g. 0/4 (part K of N, counting from 0)"},
        {"1/99999999999", "--shard: '1/99999999999': too large"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        c = iris_cli_common_defaults();
        char *argv[] = {"detect", "--shard", (char *)bad[i].v, NULL};
        CHECK_INT(iris_cli_parse(&s, 3, argv, err, sizeof err), IRIS_CLI_BAD_USAGE);
        CHECK_MSG(!strcmp(err, bad[i].msg), "'%s': got %s", bad[i].v, err);
        CHECK(c.shard.k == 0 && c.shard.n == 1); /* untouched */
    }
}

/* Reference values from a separate Python implementation of the rule in cli.h
   (FNV-1a 64 of the bytes, then MurmurHash3's fmix64). */
TEST(cli_shard_hash) {
    CHECK(iris_cli_shard_hash("") == 0xefd01f60ba992926ull);
    CHECK(iris_cli_shard_hash("photos/a.jpg") == 0x2ac1078e26da1e18ull);
    CHECK(iris_cli_shard_hash("/data/photos/2021/IMG_0001.JPG") == 0x47ec432e3376cf09ull);
    CHECK_INT(iris_cli_shard_of("photos/a.jpg", 4), 0);
    CHECK_INT(iris_cli_shard_of("photos/a.jpg", 10), 4);
    CHECK_INT(iris_cli_shard_of("/data/photos/2021/IMG_0001.JPG", 10), 5);
    CHECK_INT(iris_cli_shard_of("photos/a.jpg", 1), 0);
    CHECK_INT(iris_cli_shard_of("photos/a.jpg", 0), 0);
    /* camera-style names spread evenly, also over a power of two: 1000 names
       over 4 parts expect 250 each, binomial sd 13.7; 60 is over 4 sd */
    int count[4] = {0};
    char name[64];
    for (int i = 0; i < 1000; i++) {
        snprintf(name, sizeof name, "DCIM/100CANON/IMG_%04d.JPG", i);
        count[iris_cli_shard_of(name, 4)]++;
    }
    for (int k = 0; k < 4; k++) CHECK_MSG(count[k] > 190 && count[k] < 310, "part %d has %d", k, count[k]);
}

/* Walks `paths` and keeps part k of n; the kept paths go to out[] (strdup'd). */
static size_t walk_part(const char *const *paths, int n_paths, int k, int n, char **out, size_t cap) {
    iris_cli_walk w;
    capture_log();
    iris_status st = iris_cli_walk_paths(&w, paths, n_paths, NULL);
    release_log();
    CHECK_OK(st);
    size_t total = w.n;
    CHECK_OK(iris_cli_walk_shard(&w, k, n));
    CHECK_INT(w.n + w.n_other_shards, total);
    for (size_t i = 0; i < w.n && i < cap; i++) out[i] = strdup(w.files[i].path);
    size_t got = w.n;
    iris_cli_walk_free(&w);
    return got;
}

TEST(cli_shard_partition) {
    char root[512];
    if (!make_temp_dir(root, sizeof root)) {
        CHECK_MSG(0, "mkdtemp: %s", strerror(errno));
        return;
    }
    /* 40 images in three folders, plus two named on the command line */
    mkdir_in(root, "lib");
    mkdir_in(root, "lib/2020");
    mkdir_in(root, "lib/2021");
    char rel[64];
    for (int i = 0; i < 40; i++) {
        snprintf(rel, sizeof rel, "lib/%s/p%02d.jpg", i < 10 ? "." : i < 25 ? "2020" : "2021", i);
        put(root, rel, JPEG_HEAD, sizeof JPEG_HEAD);
    }
    mkdir_in(root, "loose");
    put(root, "loose/x.png", PNG_HEAD, sizeof PNG_HEAD);
    put(root, "loose/y.txt", "not an image", 12); /* named: kept, so sharded too */
    char lib[600], x[600], y[600];
    snprintf(lib, sizeof lib, "%s/lib", root);
    snprintf(x, sizeof x, "%s/loose/x.png", root);
    snprintf(y, sizeof y, "%s/loose/y.txt", root);
    const char *paths[] = {x, lib, y};

    enum { ALL = 42 };
    char *all[ALL + 1] = {0};
    CHECK_INT(walk_part(paths, 3, 0, 1, all, ALL + 1), ALL);
    static const int ns[] = {1, 2, 3, 7, 42, 100};
    for (size_t t = 0; t < sizeof ns / sizeof ns[0]; t++) {
        int n = ns[t], seen[ALL] = {0}; /* 42 and 100: as many parts as files, and more */
        size_t sum = 0;
        for (int k = 0; k < n; k++) {
            char *part[ALL + 1] = {0};
            size_t m = walk_part(paths, 3, k, n, part, ALL + 1);
            sum += m;
            size_t at = 0; /* in walk order: a subsequence of the whole list */
            for (size_t i = 0; i < m && i <= ALL; i++) {
                while (at < ALL && strcmp(all[at], part[i])) at++;
                CHECK_MSG(at < ALL, "n=%d k=%d: %s out of order or unknown", n, k, part[i]);
                if (at < ALL) seen[at]++;
                CHECK_INT(iris_cli_shard_of(part[i], n), k);
                free(part[i]);
            }
        }
        CHECK_INT(sum, ALL);
        for (int i = 0; i < ALL; i++) CHECK_MSG(seen[i] == 1, "n=%d: %s in %d parts", n, all[i], seen[i]);
    }

    /* a growing library moves nothing: the old files keep their parts */
    int before[ALL];
    for (int i = 0; i < ALL; i++) before[i] = iris_cli_shard_of(all[i], 7);
    for (int i = 40; i < 60; i++) {
        snprintf(rel, sizeof rel, "lib/2021/new%02d.jpg", i);
        put(root, rel, JPEG_HEAD, sizeof JPEG_HEAD);
    }
    for (int k = 0; k < 7; k++) {
        char *part[80] = {0};
        size_t m = walk_part(paths, 3, k, 7, part, 80);
        for (size_t i = 0; i < m && i < 80; i++) {
            for (int j = 0; j < ALL; j++)
                if (!strcmp(all[j], part[i])) CHECK_MSG(before[j] == k, "%s moved", part[i]);
            free(part[i]);
        }
    }

    /* a bad part is an error, never a silent "everything" */
    iris_cli_walk w;
    capture_log();
    CHECK_OK(iris_cli_walk_paths(&w, paths, 3, NULL));
    release_log();
    size_t n0 = w.n;
    CHECK_INT(iris_cli_walk_shard(&w, 4, 4), IRIS_ERR_ARG);
    CHECK_INT(iris_cli_walk_shard(&w, 1, 0), IRIS_ERR_ARG);
    CHECK_INT(iris_cli_walk_shard(&w, -1, 3), IRIS_ERR_ARG);
    CHECK_INT(w.n, n0);
    CHECK_OK(iris_cli_walk_shard(&w, 0, 0)); /* a zeroed iris_cli_common: everything */
    CHECK_INT(w.n, n0);
    iris_cli_walk_free(&w);
    for (int i = 0; i < ALL; i++) free(all[i]);
    rm_tree(root);
}
