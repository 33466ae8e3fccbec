/* test.h - the tiny test framework every tests/test_*.c uses.

       TEST(linear_matches_torch) {
           iris_safetensors *ref = test_ref("linear.safetensors");   // tests/ref/, made by tests/ref/gen_*.py
           ...
           CHECK_CLOSE(got, want, n, 1e-5, 1e-4);
       }

   Tests register themselves (no central list); `bin/test_iris [filter]`
   runs them and ends with "N passed, N failed, N skipped". A test passes
   when every CHECK in it held and it checked at least one thing.
*/
#ifndef IRIS_TEST_H
#define IRIS_TEST_H

#include <math.h>
#include <stdint.h>
#include <stdio.h>

#include "../core/iris.h"
#include "../core/image.h"

void test_register(const char *name, void (*fn)(void), const char *file);
int test_check(int ok, const char *file, int line, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
void test_skip(const char *why);
int test_close(const float *got, const float *want, int64_t n, double atol, double rtol, const char *file,
               int line, const char *what);

#define TEST(fn)                                                                           \
    static void fn(void);                                                                  \
    __attribute__((constructor)) static void reg_##fn(void) { test_register(#fn, fn, __FILE__); } \
    static void fn(void)

#define CHECK(c) test_check(!!(c), __FILE__, __LINE__, "%s", #c)
#define CHECK_MSG(c, ...) test_check(!!(c), __FILE__, __LINE__, __VA_ARGS__)
#define CHECK_INT(a, b)                                                                               \
    do {                                                                                              \
        long long a_ = (long long)(a), b_ = (long long)(b);                                           \
        test_check(a_ == b_, __FILE__, __LINE__, "%s == %s (%lld vs %lld)", #a, #b, a_, b_);          \
    } while (0)
#define CHECK_NEAR(a, b, tol)                                                                           \
    do {                                                                                                \
        double a_ = (a), b_ = (b);                                                                      \
        test_check(fabs(a_ - b_) <= (tol), __FILE__, __LINE__, "%s ~ %s (%.8g vs %.8g, tol %g)", #a, #b, \
                   a_, b_, (double)(tol));                                                              \
    } while (0)
/* An iris call that must succeed; on failure the message says why. */
#define CHECK_OK(call)                                                                                  \
    do {                                                                                                \
        int st_ = (call);                                                                               \
        test_check(st_ == 0, __FILE__, __LINE__, "%s -> %s: %s", #call, iris_status_name(st_),          \
                   iris_last_error());                                                                  \
    } while (0)
/* |got - want| <= atol + rtol*|want| elementwise; reports the worst element. */
#define CHECK_CLOSE(got, want, n, atol, rtol) test_close(got, want, n, atol, rtol, __FILE__, __LINE__, #got)
#define SKIP(why) do { test_skip(why); return; } while (0)

/* Shared real models and photos (../shared/data unless IRIS_DATA is set). Returns the
   full path of `rel` inside it, or NULL after recording a skip -- or a failure when
   CI=true, where missing data must not pass silently. */
const char *test_data(const char *rel);
/* Opens tests/ref/<file> (cached for the whole run); NULL after a recorded failure. */
struct iris_safetensors *test_ref(const char *file);
/* F32 contents of a reference tensor as a malloc'd array (n elements written to *n). */
float *test_ref_f32(const char *file, const char *tensor, int64_t *n);
/* A CPU context with `threads` threads, created once per thread count and reset per call. */
iris_ctx *test_ctx(int threads);
/* Parses a JSON file (cJSON_Delete it); NULL after a recorded failure naming the file. */
struct cJSON *test_json(const char *path);
/* tests/ref/llava/photo_<name>.png as RGB (the captioner's test photos); 0 after a recorded failure. */
int test_llava_photo(iris_image *img, const char *name);
/* The records of a JSON-lines file as a cJSON array (n set); a line that is not JSON is a failure. */
struct cJSON *test_jsonl(const char *path, int *n);
/* A whole file, NUL-terminated and malloc'd, or NULL. */
char *test_slurp(const char *path);
/* Runs a shell command (printf-style) with its stderr into stderr_path; its exit status, -1 if killed. */
int test_run(const char *stderr_path, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Reads a tensor produced by ops into a malloc'd float array (converting F16/BF16). */
float *test_read_f32(const iris_tensor *t);

#endif
