/* cli.h - the shared command-line layer of the iris tools (classify, detect,
   caption, sdgen, llm): argument tables, exit codes, Ctrl-C, folder walking,
   --shard K/N, decoding ahead on a few threads, JSON-lines output with
   resume, the progress bar and warnings.

   A batch tool reads top to bottom:

       static iris_cli_common c;          // --threads --device -q -v -o --resume --shard ...
       static const char *model;
       static int top = 5;
       static iris_cli_list paths;        // filled by the parser
       static const iris_cli_opt opts[] = {
           IRIS_OPT_STRING("model", 'm', &model, "FILE", "weights (.safetensors)", .flags = IRIS_CLI_REQUIRED),
           IRIS_OPT_INT("top", 'k', &top, 1, 1000, "N", "classes to report per image"),
           IRIS_CLI_COMMON_OPTS(&c),
           IRIS_CLI_BATCH_OPTS(&c, "write JSON lines to FILE (default: stdout)"),
           IRIS_OPT_END};
       static const iris_cli_opt args[] = {
           IRIS_ARG_LIST("PATH", &paths, "image files or folders (searched recursively)"), IRIS_OPT_END};
       static const iris_cli_spec spec = {"classify", "Label images with an ImageNet classifier.",
                                          .opts = opts, .args = args, .epilog = "examples:\n  classify photos/\n"};

       int main(int argc, char **argv) {
           c = iris_cli_common_defaults();
           int rc = iris_cli_start(&spec, argc, argv);    // help, version, usage errors, Ctrl-C handler
           if (rc >= 0) return rc;
           iris_cli_set_verbosity(c.quiet, c.verbose);
           iris_cli_walk w;
           iris_cli_walk_paths(&w, paths.v, paths.n, &(iris_cli_walk_opts){.hidden = c.hidden});
           iris_cli_walk_shard(&w, c.shard.k, c.shard.n);  // --shard K/N: this machine's part
           iris_cli_out *out;
           if (iris_cli_out_open(&out, c.output, &(iris_cli_out_params){.resume = c.resume, .fsync = c.fsync}))
               return iris_cli_fatal(IRIS_CLI_EXIT_OUTPUT, "%s", iris_last_error());
           // ... load the model or return iris_cli_fatal(IRIS_CLI_EXIT_LOAD, ...)
           iris_cli_progress bar;
           iris_cli_progress_begin(&bar, w.n - <already done>, "classified", "image", "img", c.quiet);
           for (size_t i = 0; i < w.n && !iris_cli_interrupted(); i++) {  // iris_cli_prefetch: decode ahead
               if (iris_cli_out_is_done(out, w.files[i].path)) continue;
               iris_cli_progress_current(&bar, w.files[i].path);
               ... cJSON *rec = iris_cli_record(path); iris_cli_record_topk(rec, ...);
               if (iris_cli_out_write(out, rec)) { ... exit code IRIS_CLI_EXIT_OUTPUT }
               iris_cli_progress_count(&bar, IRIS_CLI_ITEM_OK);
           }
           iris_cli_progress_end(&bar);                   // "classified 998 images, 2 failed, ..."
           if (iris_cli_out_close(out)) return IRIS_CLI_EXIT_OUTPUT;
           return iris_cli_exit_status(bar.n_failed + w.n_errors);
       }

   What it does not do: read images (core/image.h does), or run models.
   Everything that prints goes to stderr except --help/--version (stdout)
   and JSON lines written to stdout when no -o is given. Parsing never
   prints: iris_cli_parse() returns a status and a one-line message;
   iris_cli_start() is the convenience that prints it.

   Exit codes, the same for every tool (also printed at the end of --help):
     0    success
     1    the run completed but some inputs failed (or could not be read)
     2    usage error (bad option or argument)
     3    cannot load the model or another required file
     4    cannot write the output (e.g. disk full)
     130  interrupted by Ctrl-C (the output written so far is valid)
*/
#ifndef IRIS_CLI_H
#define IRIS_CLI_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "../core/ctx.h"
#include "../core/error.h"

#ifdef __cplusplus
extern "C" {
#endif

#ifndef IRIS_VERSION_STRING
#define IRIS_VERSION_STRING "0.1.0"
#endif

/* ---- exit codes ---- */

enum {
    IRIS_CLI_EXIT_OK = 0,
    IRIS_CLI_EXIT_PARTIAL = 1,     /* some inputs failed; the run completed */
    IRIS_CLI_EXIT_USAGE = 2,       /* bad command line */
    IRIS_CLI_EXIT_LOAD = 3,        /* model or required file cannot be loaded */
    IRIS_CLI_EXIT_OUTPUT = 4,      /* output cannot be written */
    IRIS_CLI_EXIT_INTERRUPTED = 130,
};

/* The exit-code table as printed at the end of every --help. */
#define IRIS_CLI_EXIT_STATUS_HELP                                       \
    "exit status:\n"                                                    \
    "  0    success\n"                                                  \
    "  1    the run completed but some inputs failed\n"                 \
    "  2    usage error\n"                                              \
    "  3    cannot load the model or another required file\n"          \
    "  4    cannot write the output (e.g. disk full)\n"                 \
    "  130  interrupted (Ctrl-C); the output written so far is valid\n"

/* 130 after Ctrl-C, else 1 when n_failed > 0, else 0. */
int iris_cli_exit_status(size_t n_failed);

/* ---- Ctrl-C ----
   The first SIGINT only sets a flag that the tool polls between items, so it
   can finish the current line of output and print its summary; a second one
   ends the process at once with status 130. */
void iris_cli_install_sigint(void);
int iris_cli_interrupted(void);
/* Clears the flag (tests, or a tool that asks "really quit?"). */
void iris_cli_clear_interrupt(void);

/* ---- argument tables ----
   One table per tool is the single source of both the parser and --help.
   -h/--help and --version are built in. Long options take "--name value" or
   "--name=value"; short ones "-k 5", "-k5", and flags combine ("-qv").
   "--no-NAME" clears a flag. "--" ends the options; options may also follow
   positional arguments. A repeated option keeps its last value (lists append). */

typedef enum iris_cli_kind {
    IRIS_CLI_FLAG,   /* int: set to 1 ("--no-NAME" sets 0) */
    IRIS_CLI_COUNT,  /* int: +1 per use ("-vv" = 2) */
    IRIS_CLI_INT,    /* int */
    IRIS_CLI_INT64,  /* int64_t */
    IRIS_CLI_FLOAT,  /* float */
    IRIS_CLI_DOUBLE, /* double */
    IRIS_CLI_STRING, /* const char *, pointing into argv */
    IRIS_CLI_LIST,   /* iris_cli_list: each use appends one value */
    IRIS_CLI_ENUM,   /* int: index into .choices */
    IRIS_CLI_CUSTOM, /* any: .parse converts the value */
} iris_cli_kind;

enum {
    IRIS_CLI_REQUIRED = 1u << 0, /* an option that must be given */
    IRIS_CLI_OPTIONAL = 1u << 1, /* a positional that may be absent (a list: zero or more) */
    IRIS_CLI_HIDDEN = 1u << 2,   /* parsed but not shown by --help */
};

/* Values of a repeatable option or of a PATH... argument; the strings
   point into argv. Start it zeroed; free v with iris_cli_free(). */
typedef struct iris_cli_list {
    const char **v;
    int n;
} iris_cli_list;

/* Converts `value` into *dest; on failure writes a reason (without the
   option name) into err and returns nonzero. */
typedef int (*iris_cli_parse_fn)(const char *value, void *dest, char *err, size_t errlen);

typedef struct iris_cli_opt {
    const char *name;           /* long name without "--"; for a positional its metavar ("PATH") */
    char short_name;            /* 0: none */
    iris_cli_kind kind;
    void *dest;
    const char *metavar;        /* in help ("N", "FILE"); NULL: by kind */
    const char *help;
    const char *def;            /* default as shown in help; NULL: printed from *dest */
    double min, max;            /* numeric range, checked when min < max */
    const char *const *choices; /* ENUM: NULL-terminated allowed values */
    iris_cli_parse_fn parse;    /* CUSTOM */
    unsigned flags;             /* IRIS_CLI_REQUIRED | IRIS_CLI_OPTIONAL | IRIS_CLI_HIDDEN */
} iris_cli_opt;

typedef struct iris_cli_spec {
    const char *tool;         /* "classify" */
    const char *summary;      /* one line under the usage */
    const iris_cli_opt *opts; /* ends with IRIS_OPT_END */
    const iris_cli_opt *args; /* positionals, in order; ends with IRIS_OPT_END; may be NULL */
    const char *description;  /* optional paragraph, wrapped */
    const char *epilog;       /* printed as written, e.g. "examples:\n  classify -o out.jsonl photos/\n" */
    const char *version;      /* NULL: IRIS_VERSION_STRING */
} iris_cli_spec;

/* Table entries. The destination's type is checked at compile time; extra
   designated initializers may follow, e.g. .def = "all cores", .flags = IRIS_CLI_REQUIRED. */
#define IRIS_CLI_DEST_(type, d) ((void *)_Generic((d), type: (d)))
#define IRIS_OPT_FLAG(lname, sh, d, hlp, ...) \
    {.name = lname, .short_name = sh, .kind = IRIS_CLI_FLAG, .dest = IRIS_CLI_DEST_(int *, d), .help = hlp, __VA_ARGS__}
#define IRIS_OPT_COUNT(lname, sh, d, hlp, ...) \
    {.name = lname, .short_name = sh, .kind = IRIS_CLI_COUNT, .dest = IRIS_CLI_DEST_(int *, d), .help = hlp, __VA_ARGS__}
#define IRIS_OPT_INT(lname, sh, d, lo, hi, mv, hlp, ...)                                                 \
    {.name = lname, .short_name = sh, .kind = IRIS_CLI_INT, .dest = IRIS_CLI_DEST_(int *, d), .min = lo, \
     .max = hi, .metavar = mv, .help = hlp, __VA_ARGS__}
#define IRIS_OPT_INT64(lname, sh, d, lo, hi, mv, hlp, ...)                                                     \
    {.name = lname, .short_name = sh, .kind = IRIS_CLI_INT64, .dest = IRIS_CLI_DEST_(int64_t *, d), .min = lo, \
     .max = hi, .metavar = mv, .help = hlp, __VA_ARGS__}
#define IRIS_OPT_FLOAT(lname, sh, d, lo, hi, mv, hlp, ...)                                                   \
    {.name = lname, .short_name = sh, .kind = IRIS_CLI_FLOAT, .dest = IRIS_CLI_DEST_(float *, d), .min = lo, \
     .max = hi, .metavar = mv, .help = hlp, __VA_ARGS__}
#define IRIS_OPT_DOUBLE(lname, sh, d, lo, hi, mv, hlp, ...)                                                    \
    {.name = lname, .short_name = sh, .kind = IRIS_CLI_DOUBLE, .dest = IRIS_CLI_DEST_(double *, d), .min = lo, \
     .max = hi, .metavar = mv, .help = hlp, __VA_ARGS__}
#define IRIS_OPT_STRING(lname, sh, d, mv, hlp, ...)                                                       \
    {.name = lname, .short_name = sh, .kind = IRIS_CLI_STRING, .dest = IRIS_CLI_DEST_(const char **, d), \
     .metavar = mv, .help = hlp, __VA_ARGS__}
#define IRIS_OPT_LIST(lname, sh, d, mv, hlp, ...)                                                        \
    {.name = lname, .short_name = sh, .kind = IRIS_CLI_LIST, .dest = IRIS_CLI_DEST_(iris_cli_list *, d), \
     .metavar = mv, .help = hlp, __VA_ARGS__}
#define IRIS_OPT_ENUM(lname, sh, d, values, hlp, ...)                                                       \
    {.name = lname, .short_name = sh, .kind = IRIS_CLI_ENUM, .dest = IRIS_CLI_DEST_(int *, d), .choices = values, \
     .help = hlp, __VA_ARGS__}
#define IRIS_OPT_CUSTOM(lname, sh, d, fn, mv, hlp, ...)                                                         \
    {.name = lname, .short_name = sh, .kind = IRIS_CLI_CUSTOM, .dest = (d), .parse = fn, .metavar = mv, .help = hlp, \
     __VA_ARGS__}
/* Positionals: one value, or (last only) a list of one or more (add
   .flags = IRIS_CLI_OPTIONAL for "may be absent" / "zero or more"). */
#define IRIS_ARG_STRING(mv, d, hlp, ...) \
    {.name = mv, .kind = IRIS_CLI_STRING, .dest = IRIS_CLI_DEST_(const char **, d), .help = hlp, __VA_ARGS__}
#define IRIS_ARG_LIST(mv, d, hlp, ...) \
    {.name = mv, .kind = IRIS_CLI_LIST, .dest = IRIS_CLI_DEST_(iris_cli_list *, d), .help = hlp, __VA_ARGS__}
#define IRIS_OPT_END {.name = NULL}

typedef enum iris_cli_parsed {
    IRIS_CLI_RUN = 0,   /* options parsed: run the tool */
    IRIS_CLI_HELP,      /* -h/--help was given (nothing else was parsed) */
    IRIS_CLI_VERSION,   /* --version was given */
    IRIS_CLI_BAD_USAGE, /* err holds one line, e.g. "--top: 'abc' is not an integer" */
} iris_cli_parsed;

/* Parses argv[1..argc-1] into the table's destinations; prints nothing.
   The table itself is checked first (duplicate names, an enum without
   choices, ...), which is reported as a usage error starting "option table:". */
iris_cli_parsed iris_cli_parse(const iris_cli_spec *spec, int argc, char **argv, char *err, size_t errlen);

/* The whole --help text (usage, summary, arguments, options with their
   defaults, epilog, exit status), wrapped to `width` columns; malloc'd. */
char *iris_cli_help(const iris_cli_spec *spec, int width);
/* "usage: classify [OPTIONS] PATH..." (no newline); malloc'd. */
char *iris_cli_usage(const iris_cli_spec *spec);

/* What main() calls: parses; prints help or version to stdout (returns 0)
   or "<tool>: <message>\ntry '<tool> --help'" to stderr (returns 2); else
   installs the Ctrl-C handler and returns -1 to let the tool run. */
int iris_cli_start(const iris_cli_spec *spec, int argc, char **argv);

/* Frees what parsing allocated (list values) and zeroes those lists. */
void iris_cli_free(const iris_cli_spec *spec);

/* Edit distance (insert, delete, substitute, swap adjacent) behind "did you mean". */
int iris_cli_edit_distance(const char *a, const char *b);

/* ---- options every tool spells the same way ---- */

enum { IRIS_CLI_DEVICE_AUTO = 0, IRIS_CLI_DEVICE_CPU, IRIS_CLI_DEVICE_CUDA };
extern const char *const iris_cli_device_names[]; /* "auto", "cpu", "cuda", NULL */

/* --shard K/N as parsed: 0 <= k < n. */
typedef struct iris_cli_shard {
    int k, n;
} iris_cli_shard;

typedef struct iris_cli_common {
    int threads;        /* -t/--threads N: CPU threads, 0 = all cores */
    int device;         /* --device auto|cpu|cuda (IRIS_CLI_DEVICE_*) */
    int quiet;          /* -q/--quiet: no progress bar, no summary */
    int verbose;        /* -v/--verbose, repeatable */
    const char *output; /* -o/--output FILE; NULL or "-" = stdout */
    int resume;         /* --resume: skip inputs already in the output file */
    int fsync;          /* --fsync: fsync the output after every line */
    int hidden;         /* --hidden: also walk hidden files and folders */
    iris_cli_shard shard; /* --shard K/N: only part K of N of the inputs; {0, 1} (default) = all */
    int decode_threads; /* --decode-threads N: threads decoding inputs ahead of the model (default 2) */
} iris_cli_common;

iris_cli_common iris_cli_common_defaults(void);

#define IRIS_OPT_THREADS(c) \
    IRIS_OPT_INT("threads", 't', &(c)->threads, 0, 1024, "N", "CPU threads to use", .def = "0 = all cores")
#define IRIS_OPT_DEVICE(c) \
    IRIS_OPT_ENUM("device", 0, &(c)->device, iris_cli_device_names, "where to run; auto: CUDA when available, else the CPU")
#define IRIS_OPT_QUIET(c) IRIS_OPT_FLAG("quiet", 'q', &(c)->quiet, "no progress bar or summary (warnings still shown)")
#define IRIS_OPT_VERBOSE(c) IRIS_OPT_COUNT("verbose", 'v', &(c)->verbose, "more detail on stderr (repeat for more)")
#define IRIS_OPT_OUTPUT(c, hlp) IRIS_OPT_STRING("output", 'o', &(c)->output, "FILE", hlp)
#define IRIS_OPT_RESUME(c) \
    IRIS_OPT_FLAG("resume", 0, &(c)->resume, "skip inputs already recorded in the output file (needs -o)")
#define IRIS_OPT_FSYNC(c) IRIS_OPT_FLAG("fsync", 0, &(c)->fsync, "fsync the output after every line")
#define IRIS_OPT_HIDDEN(c) IRIS_OPT_FLAG("hidden", 0, &(c)->hidden, "also read hidden files and folders (.name)")
/* "K/N" into an iris_cli_shard (the parse function behind --shard): K from 0,
   N >= 1, K < N; the reason otherwise, e.g. "K counts from 0, so it must be
   below N: 0/4 .. 3/4 (a Slurm array: --array=0-3)". */
int iris_cli_parse_shard(const char *value, void *dest, char *err, size_t errlen);
#define IRIS_OPT_SHARD(c)                                                                                      \
    IRIS_OPT_CUSTOM("shard", 0, &(c)->shard, iris_cli_parse_shard, "K/N",                                     \
                    "do only part K of N of the inputs, K from 0 (parts by a hash of each path, the same on any " \
                    "machine); Slurm: --array=0-(N-1) and $SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT; "      \
                    "Kubernetes Indexed Job: $JOB_COMPLETION_INDEX/N; one output file per part",               \
                    .def = "0/1, everything")
#define IRIS_OPT_DECODE_THREADS(c)                                                                            \
    IRIS_OPT_INT("decode-threads", 0, &(c)->decode_threads, 0, 256, "N",                                     \
                 "threads decoding the next images while the model runs (0: decode between batches)")
/* Every tool: --threads --device --quiet --verbose. */
#define IRIS_CLI_COMMON_OPTS(c) IRIS_OPT_THREADS(c), IRIS_OPT_DEVICE(c), IRIS_OPT_QUIET(c), IRIS_OPT_VERBOSE(c)
/* Tools that turn many inputs into JSON lines: -o --resume --fsync --hidden --shard.
   (A tool decoding through iris_cli_prefetch adds IRIS_OPT_DECODE_THREADS(c).) */
#define IRIS_CLI_BATCH_OPTS(c, output_help) IRIS_OPT_OUTPUT(c, output_help), IRIS_CLI_BATCH_REST(c)
/* The same without -o, for a tool whose output option says something else (detect's DIR). */
#define IRIS_CLI_BATCH_REST(c) IRIS_OPT_RESUME(c), IRIS_OPT_FSYNC(c), IRIS_OPT_HIDDEN(c), IRIS_OPT_SHARD(c)

/* A context as --device/--threads ask: auto tries CUDA, then falls back to the
   CPU (noted with -v). `base` (may be NULL) supplies the other parameters. */
iris_status iris_cli_ctx_create(iris_ctx **out, const iris_cli_common *c, const iris_ctx_params *base);

/* ---- messages on stderr ----
   Each message is one line, printed so that it never interleaves with the
   progress bar (the bar is cleared and redrawn around it). */
void iris_cli_set_verbosity(int quiet, int verbose);
void iris_cli_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));  /* "warning: ..." */
void iris_cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2))); /* "error: ..." */
void iris_cli_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));  /* not with --quiet */
void iris_cli_debug(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3))); /* -v count >= level */
/* iris_cli_error() then returns `code`: `return iris_cli_fatal(IRIS_CLI_EXIT_LOAD, "%s", iris_last_error());` */
int iris_cli_fatal(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Sends every message line (without its newline) to `fn` instead of stderr;
   NULL restores stderr. Tests use it to check warnings. */
void iris_cli_set_log_sink(void (*fn)(void *user, const char *line), void *user);

/* ---- small text files ----
   The non-empty lines of a file (trailing CR and blanks cut), malloc'd; NULL after
   recording the error. Free with iris_cli_free_lines. */
char **iris_cli_read_lines(const char *path, int *n);
void iris_cli_free_lines(char **v, int n);

/* ---- walking PATH... ----
   Files named on the command line are always kept (the decoder reports a
   bad one). Folders are searched recursively; a file found there is kept
   only if its first bytes are an image (JPEG, PNG, GIF, BMP, WebP, PNM
   P5/P6, TIFF, PSD; TGA has no magic and goes by its .tga extension).
   Files under one named folder come in byte-wise order of their paths.
   Hidden names (".x") are passed over unless asked; symbolic links are
   followed, but a folder reached a second time (a link loop) is not
   entered again. Problems are warnings, never a stop. */

typedef enum iris_cli_image_kind {
    IRIS_CLI_NOT_IMAGE = 0,
    IRIS_CLI_JPEG,
    IRIS_CLI_PNG,
    IRIS_CLI_GIF,
    IRIS_CLI_BMP,
    IRIS_CLI_WEBP,
    IRIS_CLI_PNM,
    IRIS_CLI_TIFF,
    IRIS_CLI_PSD,
    IRIS_CLI_TGA,
} iris_cli_image_kind;

/* Kind from the first bytes (32 are enough); `name` (may be NULL) only
   decides TGA, by extension. */
iris_cli_image_kind iris_cli_sniff(const uint8_t *buf, size_t n, const char *name);
const char *iris_cli_image_kind_name(iris_cli_image_kind k); /* "jpeg", "png", ... "none" */

typedef struct iris_cli_walk_opts {
    int hidden;      /* enter hidden folders and keep hidden files */
    int all_files;   /* keep every regular file found in folders, image or not */
} iris_cli_walk_opts;

typedef struct iris_cli_file {
    char *path;               /* as named, or "<named folder>/<sub>/<name>" */
    iris_cli_image_kind kind; /* NOT_IMAGE for a named file that is not one (or all_files) */
} iris_cli_file;

typedef struct iris_cli_walk {
    iris_cli_file *files;
    size_t n;
    size_t n_skipped; /* files in folders named like images that are not (each warned) */
    size_t n_ignored; /* other files in folders that are not images (silent) */
    size_t n_hidden;  /* hidden names passed over */
    size_t n_loops;   /* folders reached again through a symbolic link (warned) */
    size_t n_errors;  /* missing paths, unreadable folders or files (warned): count them as failed inputs */
    size_t n_other_shards; /* files iris_cli_walk_shard left to the other shards */
} iris_cli_walk;

/* Fails only when out of memory; `o` may be NULL. Free with iris_cli_walk_free. */
iris_status iris_cli_walk_paths(iris_cli_walk *w, const char *const *paths, int n, const iris_cli_walk_opts *o);
void iris_cli_walk_free(iris_cli_walk *w);

/* ---- --shard K/N ----
   Keeps only the files of part k of n (0 <= k < n), in their walk order,
   and frees the rest (counted in n_other_shards). Every file, named or found
   in a folder, belongs to exactly one part: part fmix64(fnv1a64(path)) mod n
   of its path as listed (the bytes of "photos/2021/a.jpg" when the tool was
   given "photos"), so it does not depend on the machine, the walk's order
   or the other files, and a growing library moves no file between parts.
   All parts must therefore be given the same PATH arguments, spelled the
   same way. n <= 1 with k = 0 keeps everything; a bad k/n is IRIS_ERR_ARG.
   Paths named but missing are warned about (and counted) by every part. */
iris_status iris_cli_walk_shard(iris_cli_walk *w, int k, int n);
uint64_t iris_cli_shard_hash(const char *path); /* fmix64(fnv1a64(path bytes)) */
int iris_cli_shard_of(const char *path, int n);  /* hash mod n; 0 when n <= 1 */

/* ---- decoding ahead: the prefetch pool ----
   n_threads workers call load() for the next items of a list while the tool
   runs its model; the tool takes the items strictly in list order:

       static iris_status load(void *user, size_t i, void *slot) {   // runs on a worker thread
           job *j = user;
           return preprocess(j->w->files[i].path, slot, j);            // decode into the slot
       }
       iris_cli_prefetch *pf;
       iris_cli_prefetch_start(&pf, &(iris_cli_prefetch_params){.n_items = n_todo, .items = todo,
           .slot_bytes = sizeof(float) * 3 * 224 * 224, .n_slots = 2 * batch,
           .n_threads = c.decode_threads, .load = load, .user = &j});
       size_t i; void *slot; iris_status st;
       while (!iris_cli_interrupted() && iris_cli_prefetch_next(pf, &i, &slot, &st) > 0) {
           if (st) iris_cli_warn("%s (skipped)", iris_last_error());   // this item's own message
           else memcpy(batch_buf + k++ * per, slot, bytes);              // or use it in place
           iris_cli_prefetch_release(pf, slot);
           ...
       }
       iris_cli_prefetch_free(pf);                                       // stops and joins the workers

   Each item is loaded into its own slot of slot_bytes (64-byte aligned)
   owned by the pool; at most n_slots items are loaded or held at once, so
   memory is bounded. A slot holds plain data: items loaded but never taken
   (after a stop) are dropped without a call. load() runs on several threads
   at once and must only touch its own slot and read shared state. With
   n_threads = 0 nothing runs ahead: next() calls load() itself. */

/* Loads input `index` into `slot`; IRIS_OK, or a status with iris_fail's message. */
typedef iris_status (*iris_cli_load_fn)(void *user, size_t index, void *slot);

typedef struct iris_cli_prefetch_params {
    size_t n_items;       /* how many items */
    const size_t *items;  /* the indices to load, in order (e.g. those not done yet; copied); NULL: 0..n_items-1 */
    size_t slot_bytes;    /* bytes load() writes per item */
    int n_slots;          /* items loaded ahead or held; 0: 2 * n_threads (at least 2). A tool that copies
                             each item out and releases it at once: batch; one that holds a batch of slots
                             while the model runs: 2 * batch */
    int n_threads;        /* worker threads; 0: load synchronously inside next() */
    iris_cli_load_fn load;
    void *user;           /* handed to load() */
} iris_cli_prefetch_params;

typedef struct iris_cli_prefetch iris_cli_prefetch;

/* Starts the workers (which block every signal, so Ctrl-C reaches the
   tool's thread). Fails with IRIS_ERR_ARG (no load function) or IRIS_ERR_NOMEM. */
iris_status iris_cli_prefetch_start(iris_cli_prefetch **p, const iris_cli_prefetch_params *params);
/* The next item of the list, waiting for it if need be: 1 with its index,
   its slot and load()'s status (when not IRIS_OK, iris_last_error() on the
   calling thread holds that item's message); 0 after the last item or
   after a stop; -1 (IRIS_ERR_ARG recorded) when all n_slots slots are held,
   which would otherwise wait for ever. Every slot handed out, failed or
   not, goes back with iris_cli_prefetch_release. */
int iris_cli_prefetch_next(iris_cli_prefetch *p, size_t *index, void **slot, iris_status *status);
void iris_cli_prefetch_release(iris_cli_prefetch *p, void *slot);
/* No new loads start (those under way finish); next() returns 0 from now on. */
void iris_cli_prefetch_stop(iris_cli_prefetch *p);
/* Stops, joins the workers and frees everything; NULL is fine. */
void iris_cli_prefetch_free(iris_cli_prefetch *p);

/* ---- JSON-lines output ----
   One record per line, each written with a single write() of the whole line
   (O_APPEND), so a killed run leaves only whole lines and nothing is
   buffered in the process. An existing file is appended to, never
   overwritten; a torn last line (no newline) from a crash is cut away first.
   With resume, the "file" value (params.key) of every existing record is
   remembered and iris_cli_out_is_done() answers from it. Another process
   appending to the same file at the same time is refused (flock). */

typedef struct iris_cli_out iris_cli_out;

typedef struct iris_cli_out_params {
    int resume;       /* read the existing records first (not with stdout) */
    int fsync;        /* fsync after every line (a power cut loses nothing written) */
    const char *key;  /* member that names a record's input; NULL: "file" */
} iris_cli_out_params;

/* path NULL or "-": stdout. Fails (IRIS_ERR_IO, or IRIS_ERR_ARG for resume
   on stdout) with a message naming the file. */
iris_status iris_cli_out_open(iris_cli_out **out, const char *path, const iris_cli_out_params *p);
/* 1 if a record for `input` was in the file when it was opened with resume. */
int iris_cli_out_is_done(const iris_cli_out *o, const char *input);
/* Records with a key found when resuming. */
size_t iris_cli_out_n_done(const iris_cli_out *o);
/* Bytes of a torn last line that opening cut away (0 if none). */
size_t iris_cli_out_n_torn(const iris_cli_out *o);
/* Writes `rec` compact plus '\n'. On failure (IRIS_ERR_IO: "out.jsonl: No
   space left on device") any partial line is cut away again where possible;
   the tool then exits with IRIS_CLI_EXIT_OUTPUT. */
iris_status iris_cli_out_write(iris_cli_out *o, const cJSON *rec);
/* The same for a ready JSON text (no newline in it). */
iris_status iris_cli_out_write_line(iris_cli_out *o, const char *json);
/* Closes (stdout is flushed, not closed) and frees; reports a failing close. */
iris_status iris_cli_out_close(iris_cli_out *o);

/* ---- records ----
   Builders for the usual lines; all return the object or NULL when out of
   memory (adding to a NULL record is a no-op, so check once at the end).
   Scores and coordinates are rounded to 6 significant digits so lines stay short. */
cJSON *iris_cli_record(const char *key, const char *input); /* {"file": input}; key NULL = "file" */
cJSON *iris_cli_record_error(const char *key, const char *input, const char *message); /* + "error" */
/* rec[name] = [{"id": ids[i], "label": labels[ids[i]], "score": scores[i]}, ...]; labels may be NULL. */
cJSON *iris_cli_record_topk(cJSON *rec, const char *name, const int *ids, const float *scores, int k,
                            const char *const *labels, int n_labels);
/* Appends {"id", "label", "score", "box": [x0, y0, x1, y1]} to the array rec[name] (created if absent). */
cJSON *iris_cli_record_box(cJSON *rec, const char *name, int id, const char *label, float score, float x0, float y0,
                           float x1, float y1);
/* A number rounded to `digits` significant digits (1..17). */
cJSON *iris_cli_record_number(cJSON *rec, const char *name, double v, int digits);
double iris_cli_round_sig(double v, int digits);

/* ---- progress ----
   "[=====>    ] 123/1000 12.3 img/s ETA 1m11s  photos/cat.jpg" on stderr,
   redrawn at most 10 times a second, only when stderr is a terminal and
   not quiet; iris_cli_progress_end prints the summary line unless quiet:
   "classified 998 images, 2 failed, 0 skipped, 81.2 s (12.3 img/s)".
   Use from one thread. */

typedef enum { IRIS_CLI_ITEM_OK, IRIS_CLI_ITEM_FAILED, IRIS_CLI_ITEM_SKIPPED } iris_cli_item;

typedef struct iris_cli_progress {
    const char *verb, *noun, *unit; /* "classified", "image" (+s), "img" (rate) */
    size_t total;                   /* items expected (0: unknown) */
    size_t n_ok, n_failed, n_skipped;
    size_t n_resumed;               /* set by the tool: already done before this run */
    int quiet, tty;
    double t_start, t_drawn;
    char current[256];
} iris_cli_progress;

void iris_cli_progress_begin(iris_cli_progress *p, size_t total, const char *verb, const char *noun,
                             const char *unit, int quiet);
/* The item now being worked on (shown at the end of the bar). */
void iris_cli_progress_current(iris_cli_progress *p, const char *name);
void iris_cli_progress_count(iris_cli_progress *p, iris_cli_item outcome);
/* Clears the bar and prints the summary (prefixed "interrupted: " after Ctrl-C). */
void iris_cli_progress_end(iris_cli_progress *p);
double iris_cli_now(void); /* monotonic seconds */

/* Pure formatting behind the bar, each writes into buf and returns it:
   71 -> "1m11s", 5 -> "5s", 3725 -> "1h02m", negative/NaN/inf -> "--". */
char *iris_cli_fmt_duration(char *buf, size_t n, double seconds);
/* 12.34 -> "12.3", 123.4 -> "123", 0.456 -> "0.46". */
char *iris_cli_fmt_rate(char *buf, size_t n, double per_second);
/* One bar line for `width` columns (never longer than width - 1 characters). */
char *iris_cli_fmt_bar(char *buf, size_t n, size_t done, size_t total, double elapsed, size_t n_timed,
                       const char *unit, const char *current, int width);
/* The summary line (no newline) for the counts in p after `seconds`. */
char *iris_cli_fmt_summary(char *buf, size_t n, const iris_cli_progress *p, double seconds);

#ifdef __cplusplus
}
#endif
#endif
