/* runner.c - runs every registered test and prints "N passed, N failed, N skipped". */
#include <cjson/cJSON.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test.h"

typedef struct {
    const char *name, *file;
    void (*fn)(void);
} test_case;

static test_case *tests;
static int n_tests, cap_tests;
static int cur_failed, cur_checks, cur_skipped;
static long total_checks, total_failed_checks;
static char skip_reason[4200];

void test_register(const char *name, void (*fn)(void), const char *file) {
    if (n_tests == cap_tests) {
        cap_tests = cap_tests ? cap_tests * 2 : 64;
        tests = realloc(tests, (size_t)cap_tests * sizeof *tests);
        if (!tests) abort();
    }
    tests[n_tests++] = (test_case){name, file, fn};
}

int test_check(int ok, const char *file, int line, const char *fmt, ...) {
    cur_checks++;
    total_checks++;
    if (!ok) {
        cur_failed++;
        total_failed_checks++;
        if (cur_failed <= 10) {
            va_list ap;
            va_start(ap, fmt);
            fprintf(stdout, "    %s:%d: check failed: ", file, line);
            vfprintf(stdout, fmt, ap);
            fputc('\n', stdout);
            va_end(ap);
        }
    }
    return ok;
}

void test_skip(const char *why) {
    cur_skipped = 1;
    snprintf(skip_reason, sizeof skip_reason, "%s", why);
}

int test_close(const float *got, const float *want, int64_t n, double atol, double rtol, const char *file,
               int line, const char *what) {
    if (!got || !want) return test_check(0, file, line, "%s: missing data", what);
    int64_t worst = -1, bad = 0;
    double worst_excess = 0;
    for (int64_t i = 0; i < n; i++) {
        double g = got[i], w = want[i], lim = atol + rtol * fabs(w);
        double err = fabs(g - w);
        if (!(err <= lim)) { /* also catches NaN */
            bad++;
            double ex = isnan(err) ? INFINITY : err - lim;
            if (worst < 0 || ex > worst_excess) worst = i, worst_excess = ex;
        }
    }
    if (!bad) return test_check(1, file, line, "%s", what);
    return test_check(0, file, line, "%s: %lld of %lld elements off, worst [%lld] got %.7g want %.7g (atol %g rtol %g)",
                      what, (long long)bad, (long long)n, (long long)worst, got[worst], want[worst], atol, rtol);
}

const char *test_data(const char *rel) {
    static char path[4096];
    const char *root = getenv("IRIS_DATA");
    if (!root) root = "../shared/data";
    snprintf(path, sizeof path, "%s/%s", root, rel);
    if (access(path, R_OK) == 0) return path;
    const char *ci = getenv("CI");
    if (ci && !strcmp(ci, "true")) {
        test_check(0, __FILE__, __LINE__, "shared data %s is missing (required in CI)", path);
        return NULL;
    }
    char why[sizeof path + 32];
    snprintf(why, sizeof why, "shared data %s not found", path);
    test_skip(why);
    return NULL;
}

typedef struct {
    char *file;
    iris_safetensors st;
} ref_entry;
static ref_entry refs[64];
static int n_refs;

iris_safetensors *test_ref(const char *file) {
    for (int i = 0; i < n_refs; i++)
        if (!strcmp(refs[i].file, file)) return &refs[i].st;
    if (n_refs == 64) return NULL;
    char path[1024];
    snprintf(path, sizeof path, "tests/ref/%s", file);
    if (iris_safetensors_open(&refs[n_refs].st, path)) {
        test_check(0, __FILE__, __LINE__, "reference %s: %s", path, iris_last_error());
        return NULL;
    }
    refs[n_refs].file = strdup(file);
    return &refs[n_refs++].st;
}

static float *to_f32_copy(const iris_tensor *t, const void *host) {
    int64_t n = iris_nelements(t);
    float *out = malloc((size_t)(n ? n : 1) * sizeof(float));
    if (!out) return NULL;
    for (int64_t i = 0; i < n; i++) {
        switch (t->dtype) {
        case IRIS_F32: out[i] = ((const float *)host)[i]; break;
        case IRIS_F16: out[i] = iris_f16_to_f32(((const uint16_t *)host)[i]); break;
        case IRIS_BF16: out[i] = iris_bf16_to_f32(((const uint16_t *)host)[i]); break;
        case IRIS_I32: out[i] = (float)((const int32_t *)host)[i]; break;
        case IRIS_I64: out[i] = (float)((const int64_t *)host)[i]; break;
        case IRIS_F64: out[i] = (float)((const double *)host)[i]; break;
        default: free(out); return NULL;
        }
    }
    return out;
}

float *test_ref_f32(const char *file, const char *tensor, int64_t *n) {
    iris_safetensors *st = test_ref(file);
    if (!st) return NULL;
    iris_tensor *t;
    if (iris_safetensors_get(st, tensor, &t)) {
        test_check(0, __FILE__, __LINE__, "reference %s: %s", file, iris_last_error());
        return NULL;
    }
    float *out = to_f32_copy(t, t->data);
    if (n) *n = iris_nelements(t);
    iris_tensor_free(t);
    return out;
}

float *test_read_f32(const iris_tensor *t) {
    if (!t) return NULL;
    size_t nb = iris_nbytes(t);
    void *host = malloc(nb ? nb : 1);
    if (!host) return NULL;
    if (iris_tensor_read(t, host, nb)) {
        test_check(0, __FILE__, __LINE__, "read %s: %s", t->name, iris_last_error());
        free(host);
        return NULL;
    }
    float *out = to_f32_copy(t, host);
    free(host);
    return out;
}

cJSON *test_json(const char *path) {
    char *text;
    if (iris_read_file(path, &text, NULL)) {
        test_check(0, __FILE__, __LINE__, "%s", iris_last_error());
        return NULL;
    }
    cJSON *j = cJSON_Parse(text);
    free(text);
    test_check(j != NULL, __FILE__, __LINE__, "%s: not JSON", path);
    return j;
}

static iris_ctx *ctxs[65];

iris_ctx *test_ctx(int threads) {
    if (threads < 1 || threads > 64) threads = 1;
    if (!ctxs[threads]) {
        iris_ctx_params p = iris_ctx_default_params();
        p.n_threads = threads;
        p.arena_bytes = (size_t)8 << 30;
        if (iris_ctx_create(&ctxs[threads], &p)) {
            test_check(0, __FILE__, __LINE__, "context: %s", iris_last_error());
            return NULL;
        }
    }
    iris_ctx_reset(ctxs[threads]);
    return ctxs[threads];
}

int main(int argc, char **argv) {
    int passed = 0, failed = 0, skipped = 0;
    setvbuf(stdout, NULL, _IOLBF, 0);
    for (int i = 0; i < n_tests; i++) {
        test_case *t = &tests[i];
        if (argc > 1) {
            int match = 0;
            for (int a = 1; a < argc; a++) match |= strstr(t->name, argv[a]) || strstr(t->file, argv[a]);
            if (!match) continue;
        }
        cur_failed = cur_checks = cur_skipped = 0;
        iris_clear_error();
        t->fn();
        if (cur_failed) {
            printf("FAIL %s (%s)\n", t->name, t->file);
            failed++;
        } else if (cur_skipped) {
            printf("SKIP %s: %s\n", t->name, skip_reason);
            skipped++;
        } else if (!cur_checks) {
            printf("FAIL %s: checked nothing\n", t->name);
            failed++;
        } else {
            printf("ok   %s (%d checks)\n", t->name, cur_checks);
            passed++;
        }
    }
    for (int i = 0; i < 65; i++) iris_ctx_free(ctxs[i]);
    for (int i = 0; i < n_refs; i++) iris_safetensors_close(&refs[i].st), free(refs[i].file);
    printf("assertions: %ld checked, %ld failed\n", total_checks, total_failed_checks);
    printf("%d passed, %d failed, %d skipped\n", passed, failed, skipped);
    free(tests);
    return failed ? 1 : 0;
}

int test_llava_photo(iris_image *img, const char *name) {
    char path[256];
    snprintf(path, sizeof path, "tests/ref/llava/photo_%s.png", name);
    iris_image_read_params rp = iris_image_default_read_params();
    rp.channels = 3;
    iris_status st = iris_image_load(img, path, &rp);
    CHECK_OK(st);
    return st == IRIS_OK;
}

char *test_slurp(const char *path) {
    char *s = NULL;
    return iris_read_file(path, &s, NULL) ? NULL : s;
}

cJSON *test_jsonl(const char *path, int *n) {
    char *text = test_slurp(path);
    cJSON *arr = cJSON_CreateArray();
    *n = 0;
    for (char *save = NULL, *l = text ? strtok_r(text, "\n", &save) : NULL; l; l = strtok_r(NULL, "\n", &save)) {
        cJSON *r = cJSON_Parse(l);
        test_check(r != NULL, __FILE__, __LINE__, "%s: a line is not JSON: %.80s", path, l);
        if (r) cJSON_AddItemToArray(arr, r), (*n)++;
    }
    free(text);
    return arr;
}

int test_run(const char *stderr_path, const char *fmt, ...) {
    char cmd[20000], full[20600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    snprintf(full, sizeof full, "%s 2>%s", cmd, stderr_path);
    int st = system(full);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}
