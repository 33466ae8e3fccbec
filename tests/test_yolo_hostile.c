/* test_yolo_hostile.c - broken cfgs and weights give one clear error naming the file and line. */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../vision/yolo.h"
#include "test.h"

#define TMP "build/test_yolo_hostile"

static const char *write_cfg(const char *name, const char *text) {
    static char path[256];
    mkdir("build", 0755);
    mkdir(TMP, 0755);
    snprintf(path, sizeof path, TMP "/%s", name);
    FILE *f = fopen(path, "w");
    if (f) fputs(text, f), fclose(f);
    return path;
}

/* a small valid net: conv 3->4 (bn), maxpool, conv 4->21 (bias), yolo with 2 classes... */
#define NET "[net]\nwidth=32\nheight=32\nchannels=3\n"
#define CONV1 "[convolutional]\nbatch_normalize=1\nfilters=4\nsize=3\nstride=1\npad=1\nactivation=leaky\n"
#define POOL "[maxpool]\nsize=2\nstride=2\n"
#define HEAD "[convolutional]\nfilters=21\nsize=1\nstride=1\nactivation=linear\n" \
             "[yolo]\nmask=0,1,2\nanchors=4,4, 8,8, 16,16\nclasses=2\nnum=3\n"
/* floats: conv1 4 bias + 12 bn + 4*3*9 weights = 124; conv2 21 + 21*4 = 105 */
#define N_FLOATS (124 + 105)

static uint8_t *weights_blob(size_t n_floats, size_t *n) {
    *n = 20 + 4 * n_floats;
    uint8_t *b = calloc(1, *n);
    int32_t hdr[3] = {0, 2, 5};
    memcpy(b, hdr, 12);
    float *f = (float *)(b + 20);
    for (size_t i = 0; i < n_floats; i++) f[i] = 0.5f + 0.001f * (float)i; /* positive: valid variances */
    return b;
}

static void expect_error(const char *cfg_text, size_t n_floats, iris_status want, const char *const *parts) {
    const char *cfg = write_cfg("net.cfg", cfg_text);
    size_t n;
    uint8_t *w = weights_blob(n_floats, &n);
    iris_yolo *net = NULL;
    iris_status st = iris_yolo_load_mem(&net, cfg, w, n, "net.weights", NULL, IRIS_CPU);
    const char *msg = iris_last_error();
    CHECK_MSG(st == want, "status %s (want %s): %s", iris_status_name(st), iris_status_name(want), msg);
    CHECK(net == NULL);
    for (; parts && *parts; parts++) CHECK_MSG(strstr(msg, *parts), "no '%s' in: %s", *parts, msg);
    CHECK_MSG(!strchr(msg, '\n'), "multi-line message: %s", msg);
    iris_yolo_free(net);
    free(w);
}

TEST(yolo_small_net_loads_and_runs) {
    const char *cfg = write_cfg("ok.cfg", NET CONV1 POOL HEAD);
    size_t n;
    uint8_t *w = weights_blob(N_FLOATS, &n);
    iris_yolo *net = NULL;
    CHECK_OK(iris_yolo_load_mem(&net, cfg, w, n, "ok.weights", NULL, IRIS_CPU));
    if (net) {
        const iris_yolo_info *info = iris_yolo_get_info(net);
        CHECK_INT(info->n_heads, 1);
        CHECK_INT(info->heads[0].grid_w, 16);
        CHECK_INT(info->n_params, N_FLOATS - 12); /* the folded bn statistics are gone */
        iris_ctx *ctx = test_ctx(1);
        int64_t shape[4] = {2, 3, 32, 32};
        float *x = calloc(2 * 3 * 32 * 32, sizeof *x);
        iris_tensor *heads[IRIS_YOLO_MAX_HEADS];
        CHECK_OK(iris_yolo_forward(ctx, net, iris_ctx_upload(ctx, IRIS_F32, 4, shape, x), heads));
        CHECK(heads[0] && heads[0]->ne[0] == 2 && heads[0]->ne[1] == 21 && heads[0]->ne[2] == 16);
        /* a wrong input size is refused */
        int64_t bad[4] = {1, 3, 64, 32};
        CHECK(iris_yolo_forward(ctx, net, iris_ctx_upload(ctx, IRIS_F32, 4, bad, x), heads) == IRIS_ERR_SHAPE);
        free(x);
    }
    iris_yolo_free(net);
    free(w);
}

TEST(yolo_hostile_cfgs) {
    expect_error(NET CONV1 "[bogus]\nx=1\n" POOL HEAD, N_FLOATS, IRIS_ERR_UNSUPPORTED,
                 (const char *[]){"net.cfg:12:", "[bogus]", NULL});
    expect_error(NET "[convolutional]\nbatch_normalize=1\nfilters=4\nsize=3\nstride=1\npad=1\nactivation=leaky\nfilterz=3\n" POOL HEAD,
                 N_FLOATS, IRIS_ERR_UNSUPPORTED, (const char *[]){"net.cfg:12", "filterz", NULL});
    expect_error(NET "[convolutional]\nfilters=4x\n", N_FLOATS, IRIS_ERR_FORMAT, (const char *[]){"net.cfg:6", "filters", NULL});
    expect_error(NET CONV1 "[route]\nlayers=-5\n" HEAD, N_FLOATS, IRIS_ERR_FORMAT,
                 (const char *[]){"net.cfg:13", "layers=-5", NULL});
    expect_error(NET CONV1 POOL "[shortcut]\nfrom=-2\nactivation=linear\n" HEAD, N_FLOATS, IRIS_ERR_SHAPE,
                 (const char *[]){"net.cfg:16", "[shortcut]", NULL});
    expect_error(NET CONV1 POOL "[route]\nlayers=-1,-2\n" HEAD, N_FLOATS, IRIS_ERR_SHAPE,
                 (const char *[]){"net.cfg:16", "differ in size", NULL});
    expect_error(NET CONV1 POOL "[convolutional]\nfilters=20\nsize=1\nactivation=linear\n[yolo]\nmask=0,1,2\nanchors=4,4, 8,8, 16,16\nclasses=2\nnum=3\n",
                 N_FLOATS - 4, IRIS_ERR_SHAPE, (const char *[]){"[yolo]", "20 channels", NULL});
    expect_error(NET CONV1 POOL "[convolutional]\nfilters=21\nsize=1\nactivation=swirl\n", N_FLOATS, IRIS_ERR_UNSUPPORTED,
                 (const char *[]){"activation=swirl", NULL});
    expect_error(NET CONV1 POOL "[convolutional]\nfilters=21\nsize=1\nactivation=linear\n[yolo]\nmask=0,1,7\nanchors=4,4, 8,8, 16,16\nclasses=2\nnum=3\n",
                 N_FLOATS, IRIS_ERR_FORMAT, (const char *[]){"mask 7", NULL});
    expect_error(NET CONV1 POOL "[convolutional]\nfilters=21\nsize=1\nactivation=linear\n[yolo]\nanchors=4,4, 8,8\nclasses=2\nnum=3\n",
                 N_FLOATS, IRIS_ERR_FORMAT, (const char *[]){"anchors", NULL});
    expect_error("[convolutional]\nfilters=4\n", N_FLOATS, IRIS_ERR_FORMAT, (const char *[]){"net.cfg:1", "[net]", NULL});
    expect_error(NET CONV1 POOL, 124, IRIS_ERR_FORMAT, (const char *[]){"no [yolo]", NULL});
    expect_error(NET "[convolutional]\nfilters=4\nsize=3\ngroups=2\nactivation=leaky\n" HEAD, N_FLOATS, IRIS_ERR_FORMAT,
                 (const char *[]){"groups=2", NULL});
    expect_error(NET "[convolutional]\nfilters=4\nsize=33\nactivation=leaky\n" HEAD, N_FLOATS, IRIS_ERR_SHAPE,
                 (const char *[]){"does not fit", NULL});
}

TEST(yolo_hostile_weights) {
    /* one float short: names the file and the layer */
    expect_error(NET CONV1 POOL HEAD, N_FLOATS - 1, IRIS_ERR_FORMAT, (const char *[]){"net.weights", "layer 2", NULL});
    /* one float too many: the weights belong to another cfg */
    expect_error(NET CONV1 POOL HEAD, N_FLOATS + 1, IRIS_ERR_FORMAT, (const char *[]){"net.weights", "left over", NULL});
    /* a header only, and a header cut short */
    const char *cfg = write_cfg("net.cfg", NET CONV1 POOL HEAD);
    size_t n;
    uint8_t *w = weights_blob(0, &n);
    iris_yolo *net = NULL;
    CHECK(iris_yolo_load_mem(&net, cfg, w, n, "net.weights", NULL, IRIS_CPU) == IRIS_ERR_FORMAT);
    CHECK(iris_yolo_load_mem(&net, cfg, w, 10, "net.weights", NULL, IRIS_CPU) == IRIS_ERR_FORMAT);
    CHECK_MSG(strstr(iris_last_error(), "net.weights"), "%s", iris_last_error());
    /* a transposed (major > 1000) file */
    int32_t major = 1001;
    memcpy(w, &major, 4);
    CHECK(iris_yolo_load_mem(&net, cfg, w, n, "net.weights", NULL, IRIS_CPU) != IRIS_OK);
    CHECK(net == NULL);
    free(w);
    /* missing files */
    CHECK(iris_yolo_load(&net, TMP "/none.cfg", TMP "/none.weights", NULL, IRIS_CPU) == IRIS_ERR_IO);
    CHECK_MSG(strstr(iris_last_error(), "none.weights") || strstr(iris_last_error(), "none.cfg"), "%s", iris_last_error());
}
