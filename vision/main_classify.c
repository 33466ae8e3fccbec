/* main_classify.c - classify: label images in files and folders with a ResNet.

   classify PATH... --model resnet50.safetensors [--labels imagenet.txt] [-o results.jsonl]
   One JSON line per image: {"file": ..., "top": [{"index": 3, "label": "cat", "prob": 0.91}, ...]}
   or, with --features, {"file": ..., "features": [...]} (the pooled embedding). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../cli/cli.h"
#include "../core/image.h"
#include "resnet.h"

static iris_cli_common common;
static const char *model_path, *labels_path, *mean_arg, *std_arg;
static int top = 5, batch = 8, features, input_size, resize_size, no_crop, interp;
static iris_cli_list paths;

static const char *const interp_names[] = {"auto", "bilinear", "bicubic", "area", NULL};

static const iris_cli_opt opts[] = {
    IRIS_OPT_STRING("model", 'm', &model_path, "FILE", "ResNet weights (.safetensors, torchvision or timm names)",
                    .flags = IRIS_CLI_REQUIRED),
    IRIS_OPT_STRING("labels", 'l', &labels_path, "FILE", "class names, one per line (default: indices only)"),
    IRIS_OPT_INT("top", 'k', &top, 1, 100000, "N", "classes to report per image"),
    IRIS_OPT_INT("batch", 'b', &batch, 1, 4096, "N", "images per forward pass"),
    IRIS_OPT_FLAG("features", 0, &features, "write the pooled embedding instead of classes"),
    IRIS_OPT_INT("size", 0, &input_size, 0, 8192, "PX", "network input side", .def = "the model's: 224, CIFAR 32"),
    IRIS_OPT_INT("resize", 0, &resize_size, 0, 16384, "PX", "shorter side before the centre crop",
                 .def = "256 for 224 inputs; no crop for CIFAR"),
    IRIS_OPT_FLAG("no-crop", 0, &no_crop, "resize the whole image to the input size instead of resize + crop"),
    IRIS_OPT_ENUM("interp", 0, &interp, interp_names, "resampling (auto: area when shrinking, bilinear when enlarging)"),
    IRIS_OPT_STRING("mean", 0, &mean_arg, "R,G,B", "normalisation mean", .def = "the model's (ImageNet)"),
    IRIS_OPT_STRING("std", 0, &std_arg, "R,G,B", "normalisation std", .def = "the model's (ImageNet)"),
    IRIS_CLI_COMMON_OPTS(&common),
    IRIS_CLI_BATCH_OPTS(&common, "append JSON lines to FILE (default: stdout)"),
    IRIS_OPT_DECODE_THREADS(&common),
    IRIS_OPT_END,
};

static const iris_cli_opt args[] = {
    IRIS_ARG_LIST("PATH", &paths, "image files or folders (searched recursively, images found by content)"),
    IRIS_OPT_END,
};

static const iris_cli_spec spec = {
    .tool = "classify",
    .summary = "Label images with a ResNet classifier (ResNet-18..152, CIFAR ResNet-20..56).",
    .opts = opts,
    .args = args,
    .description = "The architecture is read from the weights. ImageNet models see the shorter side resized "
                   "to 256 and a 224 centre crop; CIFAR models the whole image at 32x32. Results are appended "
                   "and flushed per image, so an interrupted run loses nothing and --resume continues it.",
    .epilog = "examples:\n"
              "  classify photos/ -m resnet50.safetensors -l imagenet.txt -o labels.jsonl\n"
              "  classify photos/ -m resnet50.safetensors -o labels.jsonl --resume\n"
              "  classify a.jpg b.png -m resnet20.safetensors -l cifar10.txt --top 3\n"
              "  classify photos/ -m resnet50.safetensors --features -o embeddings.jsonl\n"
              "  classify photos/ -m resnet50.safetensors --shard 0/4 -o part-0.jsonl   (and 1/4, 2/4, 3/4)\n",
};

/* "0.5,0.5,0.5" -> v[3] */
static int parse_triple(const char *s, float *v, const char *what) {
    char *end;
    for (int i = 0; i < 3; i++) {
        v[i] = strtof(s, &end);
        if (end == s || (i < 2 && *end != ',') || (i == 2 && *end)) {
            iris_cli_error("--%s: '%s' is not three comma-separated numbers", what, s);
            return 0;
        }
        s = end + 1;
    }
    return 1;
}


/* Decodes and preprocesses one image into dst (3 x size x size floats). */
static iris_status preprocess(const char *path, float *dst, int size, int short_side, const iris_normalize *norm) {
    iris_image img, a = {0}, b = {0};
    iris_image_read_params rp = iris_image_default_read_params();
    rp.channels = 3;
    iris_status st = iris_image_load(&img, path, &rp);
    if (st) return st;
    const iris_image *cur = &img;
    int crop = short_side > 0;
    int tw = crop ? short_side : size, th = crop ? short_side : size;
    if (crop) { /* shorter side -> short_side, the other as torchvision computes it */
        if (img.w < img.h) th = (int)((long long)short_side * img.h / img.w);
        else tw = (int)((long long)short_side * img.w / img.h);
    }
    if (img.w != tw || img.h != th) { /* an image already at the input size is not resampled */
        iris_resize_mode m = interp == 1 ? IRIS_RESIZE_BILINEAR : interp == 2 ? IRIS_RESIZE_BICUBIC
                           : interp == 3 ? IRIS_RESIZE_AREA
                           : (tw <= img.w && th <= img.h) ? IRIS_RESIZE_AREA : IRIS_RESIZE_BILINEAR;
        st = iris_image_resize(&a, cur, tw, th, m);
        cur = &a;
    }
    if (!st && crop) {
        st = iris_image_center_crop(&b, cur, size, size);
        cur = &b;
    }
    if (!st) st = iris_image_to_nchw(cur, dst, norm);
    iris_image_free(&img);
    iris_image_free(&a);
    iris_image_free(&b);
    return st;
}

/* What a decode thread needs to preprocess item i of the walk. */
typedef struct {
    const iris_cli_walk *w;
    int size, short_side;
    const iris_normalize *norm;
} decode_job;

static iris_status load_item(void *user, size_t i, void *slot) {
    const decode_job *j = user;
    return preprocess(j->w->files[i].path, slot, j->size, j->short_side, j->norm);
}

typedef struct {
    int idx;
    float p;
} scored;

static int by_prob(const void *x, const void *y) {
    const scored *a = x, *b = y;
    return a->p < b->p ? 1 : a->p > b->p ? -1 : a->idx - b->idx;
}

static cJSON *make_record(const char *file, const float *row, int n, char **labels, int n_labels) {
    cJSON *rec = cJSON_CreateObject();
    cJSON_AddStringToObject(rec, "file", file);
    if (features) {
        cJSON *arr = cJSON_AddArrayToObject(rec, "features");
        for (int i = 0; i < n; i++) cJSON_AddItemToArray(arr, cJSON_CreateNumber(iris_cli_round_sig(row[i], 7)));
        return rec;
    }
    /* softmax in double: logits can be large */
    double mx = row[0], sum = 0;
    for (int i = 1; i < n; i++) mx = row[i] > mx ? row[i] : mx;
    scored *s = malloc(sizeof *s * (size_t)n);
    if (!s) { cJSON_Delete(rec); return NULL; }
    for (int i = 0; i < n; i++) sum += exp(row[i] - mx);
    for (int i = 0; i < n; i++) s[i] = (scored){i, (float)(exp(row[i] - mx) / sum)};
    qsort(s, (size_t)n, sizeof *s, by_prob);
    cJSON *arr = cJSON_AddArrayToObject(rec, "top");
    for (int i = 0; i < top && i < n; i++) {
        cJSON *e = cJSON_CreateObject();
        cJSON_AddNumberToObject(e, "index", s[i].idx);
        if (labels && s[i].idx < n_labels) cJSON_AddStringToObject(e, "label", labels[s[i].idx]);
        cJSON_AddItemToObject(e, "prob", cJSON_CreateNumber(iris_cli_round_sig(s[i].p, 6)));
        cJSON_AddItemToArray(arr, e);
    }
    free(s);
    return rec;
}

int main(int argc, char **argv) {
    common = iris_cli_common_defaults();
    int rc = iris_cli_start(&spec, argc, argv);
    if (rc >= 0) return rc;
    iris_cli_set_verbosity(common.quiet, common.verbose);
    if (common.resume && (!common.output || !strcmp(common.output, "-")))
        return iris_cli_fatal(IRIS_CLI_EXIT_USAGE, "--resume needs an output file (-o FILE)");

    iris_ctx *ctx;
    if (iris_cli_ctx_create(&ctx, &common, NULL)) return iris_cli_fatal(IRIS_CLI_EXIT_LOAD, "%s", iris_last_error());
    iris_resnet *net;
    double t_load = iris_cli_now();
    if (iris_resnet_load(&net, model_path, iris_ctx_device(ctx)))
        return iris_cli_fatal(IRIS_CLI_EXIT_LOAD, "%s", iris_last_error());
    const iris_resnet_info *info = iris_resnet_get_info(net);
    iris_cli_debug(1, "%s: %s, %d classes, %d-d features, loaded in %.2f s on %s with %d threads", model_path,
                   info->arch, info->n_classes, info->feature_dim, iris_cli_now() - t_load,
                   iris_device_name(iris_ctx_device(ctx)), iris_ctx_threads(ctx));

    int n_labels = 0;
    char **labels = NULL;
    if (labels_path) {
        labels = iris_cli_read_lines(labels_path, &n_labels);
        if (!labels) return iris_cli_fatal(IRIS_CLI_EXIT_LOAD, "%s", iris_last_error());
        if (n_labels != info->n_classes)
            iris_cli_warn("%s has %d labels but the model has %d classes", labels_path, n_labels, info->n_classes);
    }

    int size = input_size ? input_size : info->input_size;
    int short_side = 0;
    if (!no_crop && !info->cifar) short_side = resize_size ? resize_size : size * 256 / 224;
    if (!no_crop && info->cifar && resize_size) short_side = resize_size;
    if (short_side && short_side < size)
        return iris_cli_fatal(IRIS_CLI_EXIT_USAGE, "--resize %d is smaller than the input size %d", short_side, size);
    iris_normalize norm = {{info->mean[0], info->mean[1], info->mean[2], 0}, {info->std[0], info->std[1], info->std[2], 1}, 0};
    if (mean_arg && !parse_triple(mean_arg, norm.mean, "mean")) return IRIS_CLI_EXIT_USAGE;
    if (std_arg && !parse_triple(std_arg, norm.std, "std")) return IRIS_CLI_EXIT_USAGE;

    iris_cli_walk w;
    if (iris_cli_walk_paths(&w, paths.v, paths.n, &(iris_cli_walk_opts){.hidden = common.hidden}))
        return iris_cli_fatal(IRIS_CLI_EXIT_LOAD, "%s", iris_last_error());
    iris_cli_walk_shard(&w, common.shard.k, common.shard.n); /* parsed, so k/n are valid */
    if (common.shard.n > 1)
        iris_cli_debug(1, "shard %d/%d: %zu of %zu images", common.shard.k, common.shard.n, w.n, w.n + w.n_other_shards);
    iris_cli_out *out;
    if (iris_cli_out_open(&out, common.output, &(iris_cli_out_params){.resume = common.resume, .fsync = common.fsync}))
        return iris_cli_fatal(IRIS_CLI_EXIT_OUTPUT, "%s", iris_last_error());

    size_t todo = 0, *todo_idx = malloc(sizeof *todo_idx * (w.n ? w.n : 1));
    if (!todo_idx) return iris_cli_fatal(IRIS_CLI_EXIT_LOAD, "out of memory");
    for (size_t i = 0; i < w.n; i++)
        if (!iris_cli_out_is_done(out, w.files[i].path)) todo_idx[todo++] = i;
    iris_cli_progress bar;
    iris_cli_progress_begin(&bar, todo, features ? "embedded" : "classified", "image", "img", common.quiet);
    bar.n_resumed = w.n - todo;
    if (bar.n_resumed) iris_cli_info("resuming: %zu images already in %s", bar.n_resumed, common.output);

    size_t per = (size_t)3 * size * size;
    float *x = malloc(sizeof *x * per * (size_t)batch);
    const char **names = malloc(sizeof *names * (size_t)batch);
    int width = features ? info->feature_dim : info->n_classes;
    float *res = malloc(sizeof *res * (size_t)width * (size_t)batch);
    if (!x || !names || !res) return iris_cli_fatal(IRIS_CLI_EXIT_LOAD, "out of memory for a batch of %d", batch);
    /* the next batch decodes while this one runs: each image is copied into x
       and its slot released at once, so one batch of slots is enough */
    decode_job job = {&w, size, short_side, &norm};
    iris_cli_prefetch *pf;
    if (iris_cli_prefetch_start(&pf, &(iris_cli_prefetch_params){.n_items = todo, .items = todo_idx,
                                                               .slot_bytes = sizeof *x * per, .n_slots = batch,
                                                               .n_threads = common.decode_threads,
                                                               .load = load_item, .user = &job}))
        return iris_cli_fatal(IRIS_CLI_EXIT_LOAD, "%s", iris_last_error());
    int exit_code = -1, more = 1;
    while (more > 0 && exit_code < 0 && !iris_cli_interrupted()) {
        /* gather a batch of decodable images */
        int nb = 0;
        size_t i;
        void *slot;
        iris_status st;
        while (nb < batch && !iris_cli_interrupted() && (more = iris_cli_prefetch_next(pf, &i, &slot, &st)) > 0) {
            const char *p = w.files[i].path;
            iris_cli_progress_current(&bar, p);
            if (st) {
                iris_cli_warn("%s (skipped)", iris_last_error());
                iris_cli_progress_count(&bar, IRIS_CLI_ITEM_FAILED);
            } else {
                memcpy(x + per * (size_t)nb, slot, sizeof *x * per);
                names[nb++] = p;
            }
            iris_cli_prefetch_release(pf, slot);
        }
        if (more < 0) {
            iris_cli_error("%s", iris_last_error());
            exit_code = IRIS_CLI_EXIT_PARTIAL;
        }
        if (!nb) break;
        iris_ctx_reset(ctx);
        int64_t shape[4] = {nb, 3, size, size};
        iris_tensor *in = iris_ctx_upload(ctx, IRIS_F32, 4, shape, x), *logits = NULL, *feat = NULL;
        if (!in || iris_resnet_forward(ctx, net, in, features ? NULL : &logits, features ? &feat : NULL) ||
            iris_tensor_read(features ? feat : logits, res, sizeof *res * (size_t)width * (size_t)nb)) {
            iris_cli_error("%s", iris_last_error());
            exit_code = IRIS_CLI_EXIT_PARTIAL;
            break;
        }
        for (int k = 0; k < nb; k++) {
            cJSON *rec = make_record(names[k], res + (size_t)width * k, width, labels, n_labels);
            iris_status st = rec ? iris_cli_out_write(out, rec) : iris_fail(IRIS_ERR_NOMEM, "out of memory");
            cJSON_Delete(rec);
            if (st) {
                iris_cli_error("%s", iris_last_error());
                exit_code = IRIS_CLI_EXIT_OUTPUT;
                break;
            }
            iris_cli_progress_count(&bar, IRIS_CLI_ITEM_OK);
        }
    }
    iris_cli_prefetch_free(pf);
    iris_cli_progress_end(&bar);
    iris_cli_debug(1, "activation memory: peak %.1f MiB", iris_ctx_peak_bytes(ctx) / 1048576.0);
    if (iris_cli_out_close(out) && exit_code < 0) {
        iris_cli_error("%s", iris_last_error());
        exit_code = IRIS_CLI_EXIT_OUTPUT;
    }
    if (exit_code < 0) exit_code = iris_cli_exit_status(bar.n_failed + w.n_errors);
    free(x);
    free(todo_idx);
    free(names);
    free(res);
    iris_cli_free_lines(labels, n_labels);
    iris_cli_walk_free(&w);
    iris_cli_free(&spec);
    iris_resnet_free(net);
    iris_ctx_free(ctx);
    return exit_code;
}
