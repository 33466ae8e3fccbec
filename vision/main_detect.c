/* main_detect.c - detect: YOLO object detection over photo folders.

   detect PATH... -o OUTDIR --cfg model.cfg --weights model.weights [--names coco.names]
   Appends one JSON line per photo to OUTDIR/detections.jsonl:
   {"file": ..., "width": W, "height": H, "detections": [{"class_id": 16, "name": "dog", "score": 0.93,
    "box": [x1, y1, x2, y2]}, ...]}, boxes in pixels of the upright photo; optionally COCO results,
   YOLO label files and annotated copies. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../cli/cli.h"
#include "../core/file.h"
#include "../core/image.h"
#include "detect_output.h"
#include "yolo.h"

static iris_cli_common common;
static const char *cfg_path, *weights_path, *names_path, *size_arg, *classes_arg, *coco_images;
static float thresh = 0.25f, nms = 0.45f;
static int batch = 4, letterbox, coco, yolo_txt, draw;
static iris_cli_list paths;

static const char *const letterbox_names[] = {"darknet", "opencv", "none", NULL};

static const iris_cli_opt opts[] = {
    IRIS_OPT_STRING("cfg", 'c', &cfg_path, "FILE", "darknet network description (.cfg)", .flags = IRIS_CLI_REQUIRED),
    IRIS_OPT_STRING("weights", 'w', &weights_path, "FILE", "darknet weights (.weights)", .flags = IRIS_CLI_REQUIRED),
    IRIS_OPT_STRING("names", 'n', &names_path, "FILE", "class names, one per line (coco.names)",
                    .def = "class numbers only"),
    IRIS_OPT_FLOAT("thresh", 0, &thresh, 0, 1, "P", "keep boxes scoring above P (objectness x class probability)"),
    IRIS_OPT_FLOAT("nms", 0, &nms, 0, 1, "IOU", "drop a box overlapping a stronger one of its class by more than IOU"),
    IRIS_OPT_STRING("size", 's', &size_arg, "N|WxH", "network input size (multiples of 32)", .def = "the cfg's"),
    IRIS_OPT_INT("batch", 'b', &batch, 1, 256, "N", "photos per forward pass"),
    IRIS_OPT_STRING("classes", 0, &classes_arg, "A,B", "keep only these classes (names from --names, or numbers)"),
    IRIS_OPT_ENUM("letterbox", 0, &letterbox, letterbox_names,
                  "how photos fit the input: darknet (its letterbox), opencv (same, cv2 resize), none (stretch)"),
    IRIS_OPT_FLAG("coco", 0, &coco, "also write OUTDIR/coco_results.json (COCO detection results)"),
    IRIS_OPT_STRING("coco-images", 0, &coco_images, "FILE", "COCO annotations whose image ids and categories to use"),
    IRIS_OPT_FLAG("yolo-txt", 0, &yolo_txt, "also write YOLO label files OUTDIR/labels/<photo>.txt"),
    IRIS_OPT_FLAG("draw", 0, &draw, "also write annotated copies OUTDIR/annotated/<photo> (JPEG or PNG)"),
    IRIS_CLI_COMMON_OPTS(&common),
    IRIS_OPT_STRING("output", 'o', &common.output, "DIR", "write detections.jsonl (and the rest) into DIR",
                    .def = "JSON lines to stdout"),
    IRIS_CLI_BATCH_REST(&common),
    IRIS_OPT_DECODE_THREADS(&common),
    IRIS_OPT_END,
};

static const iris_cli_opt args[] = {
    IRIS_ARG_LIST("PATH", &paths, "photos or folders (searched recursively, images found by content)"),
    IRIS_OPT_END,
};

static const iris_cli_spec spec = {
    .tool = "detect",
    .summary = "Find objects in photos with a darknet YOLO (v3, v4, v4-tiny, v4-csp, v7-tiny, Yolo-Fastest).",
    .opts = opts,
    .args = args,
    .description =
        "The network is built from its .cfg and .weights as darknet builds it. Photos are turned upright (EXIF), "
        "letterboxed as darknet does, and the boxes mapped back to the photo's pixels. Results are appended and "
        "flushed per photo, so an interrupted run loses nothing and --resume continues it without duplicates.",
    .epilog = "examples:\n"
              "  detect photos/ -o out/ --cfg yolov4-tiny.cfg --weights yolov4-tiny.weights --names coco.names\n"
              "  detect photos/ -o out/ -c yolo-fastest-1.1.cfg -w yolo-fastest-1.1.weights -n coco.names --draw\n"
              "  detect photos/ -o out/ ... --classes person,dog --thresh 0.4 --yolo-txt\n"
              "  detect photos/ -o out/ ... --resume\n",
};


/* "person,dog" or "0,16" -> keep[class] = 1; 0 after printing the error */
static int parse_classes(const char *arg, char **names, int n_names, int n_classes, unsigned char *keep) {
    char *copy = strdup(arg);
    int ok = copy != NULL;
    for (char *save = NULL, *t = ok ? strtok_r(copy, ",", &save) : NULL; t && ok; t = strtok_r(NULL, ",", &save)) {
        while (*t == ' ') t++;
        int id = -1;
        for (int k = 0; k < n_names && id < 0; k++)
            if (!strcmp(names[k], t)) id = k;
        char *end;
        long v = strtol(t, &end, 10);
        if (id < 0 && end != t && !*end && v >= 0 && v < n_classes) id = (int)v;
        if (id < 0) {
            int best = -1, bd = 1 << 30;
            for (int k = 0; k < n_names; k++) {
                int d = iris_cli_edit_distance(names[k], t);
                if (d < bd) bd = d, best = k;
            }
            if (best >= 0 && bd <= 3)
                iris_cli_error("--classes: no class '%s' (did you mean '%s'?)", t, names[best]);
            else
                iris_cli_error("--classes: no class '%s'%s", t, n_names ? "" : " (give --names, or class numbers)");
            ok = 0;
        } else {
            keep[id] = 1;
        }
    }
    free(copy);
    return ok;
}

/* What a decode thread hands over: the photo's upright size, then the network input. */
typedef struct {
    int w, h;           /* the picture the input was made from */
    int full_w, full_h; /* the upright photo (larger when the JPEG was decoded scaled down) */
    float x[];
} slot_t;

typedef struct {
    const iris_cli_walk *w;
    const iris_yolo_info *info;
} load_job;

static iris_status load_slot(void *user, size_t index, void *slot) {
    const load_job *j = user;
    slot_t *s = slot;
    iris_image img;
    iris_image_read_params rp = iris_image_default_read_params();
    rp.channels = 3;
    /* a JPEG much larger than the input decodes at 1/2..1/8 by DCT scaling, keeping at least twice
       the input size (so the resize still averages over several pixels) */
    rp.min_w = 2 * j->info->width, rp.min_h = 2 * j->info->height;
    iris_status st = iris_image_load(&img, j->w->files[index].path, &rp);
    if (st) return st;
    /* boxes are mapped onto the reduced picture, then scaled to the full one */
    s->w = img.w, s->h = img.h;
    s->full_w = img.full_w ? img.full_w : img.w, s->full_h = img.full_h ? img.full_h : img.h;
    st = iris_yolo_preprocess(j->info, &img, (iris_yolo_resize)letterbox, s->x);
    iris_image_free(&img);
    return st;
}

static int ends_with(const char *s, const char *suf) {
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && !strcasecmp(s + a - b, suf);
}

/* OUTDIR/sub/<path below its root><ext>, the photo's extension replaced by ext when given */
static void out_path(char *buf, size_t n, const char *sub, const char *file, const char *ext) {
    const char *rel = iris_detect_relative(file, paths.v, paths.n);
    while (rel[0] == '.' && rel[1] == '.' && rel[2] == '/') rel += 3;
    while (*rel == '/') rel++;
    int len = snprintf(buf, n, "%s/%s/%s", common.output, sub, rel);
    if (ext && len > 0 && (size_t)len < n) {
        char *dot = strrchr(buf, '.'), *slash = strrchr(buf, '/');
        if (dot && dot > slash) *dot = 0;
        snprintf(buf + strlen(buf), n - strlen(buf), "%s", ext);
    }
}

/* Side files first: a photo counts as done only once its JSON line is written. */
static iris_status write_outputs(iris_cli_out *out, const char *file, int w, int h, const iris_detection *d, int n,
                                 char **names, int n_names) {
    iris_status st = IRIS_OK;
    char path[8192];
    if (yolo_txt) {
        out_path(path, sizeof path, "labels", file, ".txt");
        st = iris_detect_write_yolo_txt(path, d, n, w, h);
    }
    if (!st && draw) {
        /* decoded again here: the decode threads hand over only the network input */
        iris_image img;
        iris_image_read_params rp = iris_image_default_read_params();
        rp.channels = 3;
        int jpeg = ends_with(file, ".jpg") || ends_with(file, ".jpeg");
        out_path(path, sizeof path, "annotated", file, jpeg ? NULL : ".png");
        st = iris_image_load(&img, file, &rp);
        if (!st) st = iris_detect_draw(&img, d, n, (const char *const *)names, n_names);
        if (!st) st = iris_make_parent_dirs(path);
        if (!st) st = jpeg ? iris_image_save_jpeg(path, &img, 92) : iris_image_save_png(path, &img, NULL, 0);
        iris_image_free(&img);
    }
    if (!st) {
        cJSON *rec = iris_detect_record(file, w, h, d, n, (const char *const *)names, n_names);
        st = rec ? iris_cli_out_write(out, rec) : iris_fail(IRIS_ERR_NOMEM, "out of memory");
        cJSON_Delete(rec);
    }
    return st;
}

int main(int argc, char **argv) {
    common = iris_cli_common_defaults();
    int rc = iris_cli_start(&spec, argc, argv);
    if (rc >= 0) return rc;
    iris_cli_set_verbosity(common.quiet, common.verbose);
    int to_dir = common.output && strcmp(common.output, "-");
    if (!to_dir && (common.resume || coco || yolo_txt || draw))
        return iris_cli_fatal(IRIS_CLI_EXIT_USAGE, "--resume, --coco, --yolo-txt and --draw need an output folder (-o DIR)");
    if (coco_images) coco = 1;

    iris_yolo_params yp = iris_yolo_default_params();
    if (size_arg) {
        char *end;
        long w = strtol(size_arg, &end, 10), h = w;
        if (*end == 'x' || *end == 'X') h = strtol(end + 1, &end, 10);
        if (*end || w < 32 || h < 32 || w > 8192 || h > 8192 || w % 32 || h % 32)
            return iris_cli_fatal(IRIS_CLI_EXIT_USAGE, "--size %s: give N or WxH, multiples of 32 from 32 to 8192",
                                  size_arg);
        yp.width = (int)w, yp.height = (int)h;
    }

    iris_ctx *ctx;
    if (iris_cli_ctx_create(&ctx, &common, NULL)) return iris_cli_fatal(IRIS_CLI_EXIT_LOAD, "%s", iris_last_error());
    iris_yolo *net;
    double t0 = iris_cli_now();
    if (iris_yolo_load(&net, cfg_path, weights_path, &yp, iris_ctx_device(ctx)))
        return iris_cli_fatal(IRIS_CLI_EXIT_LOAD, "%s", iris_last_error());
    const iris_yolo_info *info = iris_yolo_get_info(net);
    iris_cli_debug(1, "%s: %d layers, %d heads, %d classes, %dx%d input, %.2f GFLOP per photo, loaded in %.2f s",
                   cfg_path, info->n_layers, info->n_heads, info->n_classes, info->width, info->height, info->gflops,
                   iris_cli_now() - t0);

    int n_names = 0;
    char **names = NULL;
    if (names_path) {
        if (!(names = iris_cli_read_lines(names_path, &n_names))) return iris_cli_fatal(IRIS_CLI_EXIT_LOAD, "%s", iris_last_error());
        if (n_names != info->n_classes)
            iris_cli_warn("%s has %d names but %s has %d classes", names_path, n_names, cfg_path, info->n_classes);
    }
    unsigned char *keep = calloc((size_t)info->n_classes, 1);
    if (!keep) return iris_cli_fatal(IRIS_CLI_EXIT_LOAD, "out of memory");
    if (classes_arg) {
        if (!parse_classes(classes_arg, names, n_names, info->n_classes, keep)) return IRIS_CLI_EXIT_USAGE;
    } else {
        memset(keep, 1, (size_t)info->n_classes);
    }

    char jsonl[4096];
    if (to_dir) {
        if ((size_t)snprintf(jsonl, sizeof jsonl, "%s/detections.jsonl", common.output) >= sizeof jsonl ||
            iris_make_parent_dirs(jsonl))
            return iris_cli_fatal(IRIS_CLI_EXIT_OUTPUT, "%s", iris_last_error());
    }
    iris_cli_walk w;
    if (iris_cli_walk_paths(&w, paths.v, paths.n, &(iris_cli_walk_opts){.hidden = common.hidden}) ||
        iris_cli_walk_shard(&w, common.shard.k, common.shard.n))
        return iris_cli_fatal(IRIS_CLI_EXIT_LOAD, "%s", iris_last_error());
    iris_cli_out *out;
    if (iris_cli_out_open(&out, to_dir ? jsonl : NULL, &(iris_cli_out_params){.resume = common.resume, .fsync = common.fsync}))
        return iris_cli_fatal(IRIS_CLI_EXIT_OUTPUT, "%s", iris_last_error());

    size_t *todo = malloc(sizeof *todo * (w.n ? w.n : 1)), n_todo = 0;
    if (!todo) return iris_cli_fatal(IRIS_CLI_EXIT_LOAD, "out of memory");
    for (size_t i = 0; i < w.n; i++)
        if (!iris_cli_out_is_done(out, w.files[i].path)) todo[n_todo++] = i;
    iris_cli_progress bar;
    iris_cli_progress_begin(&bar, n_todo, "detected", "photo", "img", common.quiet);
    bar.n_resumed = w.n - n_todo;
    if (bar.n_resumed) iris_cli_info("resuming: %zu photos already in %s", bar.n_resumed, jsonl);

    size_t per = (size_t)3 * info->width * info->height;
    float *x = malloc(sizeof *x * per * (size_t)batch);
    const char **files = calloc((size_t)batch, sizeof *files);
    iris_detection **dets = calloc((size_t)batch, sizeof *dets);
    int *n_dets = calloc((size_t)batch, sizeof *n_dets), *pw = calloc((size_t)batch, sizeof *pw),
        *ph = calloc((size_t)batch, sizeof *ph), *fw = calloc((size_t)batch, sizeof *fw),
        *fh = calloc((size_t)batch, sizeof *fh);
    size_t *per_class = calloc((size_t)info->n_classes, sizeof *per_class);
    if (!x || !files || !dets || !n_dets || !pw || !ph || !fw || !fh || !per_class)
        return iris_cli_fatal(IRIS_CLI_EXIT_LOAD, "out of memory for a batch of %d", batch);
    iris_yolo_detect_params dp = iris_yolo_default_detect_params();
    dp.thresh = thresh, dp.nms = nms, dp.how = (iris_yolo_resize)letterbox;

    /* the next batch decodes on the decode threads while this one runs */
    load_job lj = {&w, info};
    iris_cli_prefetch *pf;
    if (iris_cli_prefetch_start(&pf, &(iris_cli_prefetch_params){.n_items = n_todo, .items = todo,
                                                                 .slot_bytes = sizeof(slot_t) + per * sizeof(float),
                                                                 .n_slots = 2 * batch, .n_threads = common.decode_threads,
                                                                 .load = load_slot, .user = &lj}))
        return iris_cli_fatal(IRIS_CLI_EXIT_LOAD, "%s", iris_last_error());
    int exit_code = -1, more = 1;
    while (more && exit_code < 0 && !iris_cli_interrupted()) {
        int nb = 0;
        while (nb < batch && !iris_cli_interrupted()) {
            size_t idx;
            void *slot;
            iris_status st;
            if (iris_cli_prefetch_next(pf, &idx, &slot, &st) <= 0) {
                more = 0;
                break;
            }
            const char *p = w.files[idx].path;
            iris_cli_progress_current(&bar, p);
            if (st) {
                iris_cli_warn("%s (skipped)", iris_last_error());
                iris_cli_progress_count(&bar, IRIS_CLI_ITEM_FAILED);
            } else {
                const slot_t *s = slot;
                memcpy(x + per * (size_t)nb, s->x, per * sizeof(float));
                pw[nb] = s->w, ph[nb] = s->h, fw[nb] = s->full_w, fh[nb] = s->full_h, files[nb] = p;
                nb++;
            }
            iris_cli_prefetch_release(pf, slot);
        }
        if (!nb) break;
        iris_ctx_reset(ctx);
        int64_t shape[4] = {nb, 3, info->height, info->width};
        iris_tensor *in = iris_ctx_upload(ctx, IRIS_F32, 4, shape, x);
        if (!in || iris_yolo_detect(ctx, net, in, pw, ph, &dp, dets, n_dets)) {
            iris_cli_error("%s", iris_last_error());
            exit_code = IRIS_CLI_EXIT_PARTIAL;
            break;
        }
        for (int k = 0; k < nb && exit_code < 0; k++) {
            int n = 0;
            float sx = (float)fw[k] / pw[k], sy = (float)fh[k] / ph[k];
            for (int d = 0; d < n_dets[k]; d++)
                if (keep[dets[k][d].class_id]) {
                    iris_detection e = dets[k][d];
                    if (sx != 1 || sy != 1) e.x1 *= sx, e.x2 *= sx, e.y1 *= sy, e.y2 *= sy;
                    dets[k][n++] = e;
                }
            iris_status st = write_outputs(out, files[k], fw[k], fh[k], dets[k], n, names, n_names);
            if (st) {
                iris_cli_error("%s", iris_last_error());
                exit_code = IRIS_CLI_EXIT_OUTPUT;
                break;
            }
            for (int d = 0; d < n; d++) per_class[dets[k][d].class_id]++;
            iris_cli_progress_count(&bar, IRIS_CLI_ITEM_OK);
        }
        for (int k = 0; k < nb; k++) free(dets[k]), dets[k] = NULL;
    }
    iris_cli_prefetch_free(pf);
    iris_cli_progress_end(&bar);
    if (!common.quiet) {
        /* "detections: 12 person, 3 dog" (most frequent first) */
        char line[1024];
        size_t len = (size_t)snprintf(line, sizeof line, "detections:"), total = 0;
        for (int c = 0; c < info->n_classes; c++) total += per_class[c];
        for (int shown = 0; shown < 12; shown++) {
            int best = -1;
            for (int c = 0; c < info->n_classes; c++)
                if (per_class[c] && (best < 0 || per_class[c] > per_class[best])) best = c;
            if (best < 0) break;
            char id[16];
            snprintf(id, sizeof id, "%d", best);
            len += (size_t)snprintf(line + len, len < sizeof line ? sizeof line - len : 0, "%s %zu %s", shown ? "," : "",
                                    per_class[best], best < n_names ? names[best] : id);
            per_class[best] = 0;
        }
        if (!total) snprintf(line + len, len < sizeof line ? sizeof line - len : 0, " none");
        iris_cli_info("%s", line);
    }
    if (iris_cli_out_close(out) && exit_code < 0) {
        iris_cli_error("%s", iris_last_error());
        exit_code = IRIS_CLI_EXIT_OUTPUT;
    }
    if (coco && exit_code != IRIS_CLI_EXIT_OUTPUT) {
        /* from the whole file, so a resumed run's results are complete */
        char cp[4200];
        snprintf(cp, sizeof cp, "%s/coco_results.json", common.output);
        if (iris_detect_write_coco(cp, jsonl, coco_images, (const char *const *)names, n_names)) {
            iris_cli_error("%s", iris_last_error());
            exit_code = IRIS_CLI_EXIT_OUTPUT;
        }
    }
    if (exit_code < 0) exit_code = iris_cli_exit_status(bar.n_failed + w.n_errors);
    free(x), free(files), free(todo), free(dets), free(n_dets), free(pw), free(ph), free(fw), free(fh), free(per_class), free(keep);
    iris_cli_free_lines(names, n_names);
    iris_cli_walk_free(&w);
    iris_cli_free(&spec);
    iris_yolo_free(net);
    iris_ctx_free(ctx);
    return exit_code;
}
