/* detect_output.c - detect's writers: JSON lines, YOLO label files, COCO results. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../cli/cli.h"
#include "../core/file.h"
#include "../core/image_draw.h"
#include "detect_output.h"

cJSON *iris_detect_record(const char *file, int width, int height, const iris_detection *d, int n,
                          const char *const *names, int n_names) {
    cJSON *rec = cJSON_CreateObject();
    cJSON_AddStringToObject(rec, "file", file);
    cJSON_AddNumberToObject(rec, "width", width);
    cJSON_AddNumberToObject(rec, "height", height);
    cJSON *arr = cJSON_AddArrayToObject(rec, "detections");
    for (int i = 0; i < n && arr; i++) {
        cJSON *e = cJSON_CreateObject();
        cJSON_AddNumberToObject(e, "class_id", d[i].class_id);
        if (names && d[i].class_id < n_names) cJSON_AddStringToObject(e, "name", names[d[i].class_id]);
        iris_cli_record_number(e, "score", d[i].score, 4);
        cJSON *box = cJSON_AddArrayToObject(e, "box");
        /* 1/100 pixel is plenty and keeps lines short */
        const float v[4] = {d[i].x1, d[i].y1, d[i].x2, d[i].y2};
        for (int k = 0; k < 4; k++) cJSON_AddItemToArray(box, cJSON_CreateNumber(((long long)(v[k] * 100 + (v[k] < 0 ? -0.5f : 0.5f))) / 100.0));
        cJSON_AddItemToArray(arr, e);
    }
    return rec;
}

static float clip01(float v) { return v < 0 ? 0 : v > 1 ? 1 : v; }

iris_status iris_detect_write_yolo_txt(const char *path, const iris_detection *d, int n, int width, int height) {
    size_t cap = (size_t)n * 64 + 1, len = 0;
    char *buf = malloc(cap);
    if (!buf) return iris_fail(IRIS_ERR_NOMEM, "%s: out of memory", path);
    for (int i = 0; i < n; i++) {
        float x1 = clip01(d[i].x1 / width), x2 = clip01(d[i].x2 / width);
        float y1 = clip01(d[i].y1 / height), y2 = clip01(d[i].y2 / height);
        if (x2 <= x1 || y2 <= y1) continue; /* wholly outside the photo */
        len += (size_t)snprintf(buf + len, cap - len, "%d %.6f %.6f %.6f %.6f\n", d[i].class_id, (x1 + x2) / 2,
                                (y1 + y2) / 2, x2 - x1, y2 - y1);
    }
    iris_status st = iris_make_parent_dirs(path);
    if (!st) st = iris_write_atomic(path, buf, len);
    free(buf);
    return st;
}

static const int coco80[80] = {1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11, 13, 14, 15, 16, 17, 18, 19, 20, 21,
                               22, 23, 24, 25, 27, 28, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44,
                               46, 47, 48, 49, 50, 51, 52, 53, 54, 55, 56, 57, 58, 59, 60, 61, 62, 63, 64, 65,
                               67, 70, 72, 73, 74, 75, 76, 77, 78, 79, 80, 81, 82, 84, 85, 86, 87, 88, 89, 90};

const int *iris_detect_coco80_ids(const char *const *names, int n_names) {
    if (!names || n_names != 80 || strcmp(names[0], "person") || strcmp(names[79], "toothbrush")) return NULL;
    return coco80;
}

static const char *base_name(const char *p) {
    const char *s = strrchr(p, '/');
    return s ? s + 1 : p;
}

const char *iris_detect_relative(const char *file, const char *const *roots, int n_roots) {
    for (int i = 0; i < n_roots; i++) {
        size_t n = strlen(roots[i]);
        while (n > 1 && roots[i][n - 1] == '/') n--;
        if (!strncmp(file, roots[i], n) && file[n] == '/' && file[n + 1]) return file + n + 1;
    }
    return base_name(file);
}

/* image id for a record: annotations by file name, digits of the name, or the line number */
static long long image_id(const cJSON *ann_images, const char *file, long long line) {
    const char *b = base_name(file);
    for (const cJSON *im = ann_images ? ann_images->child : NULL; im; im = im->next) {
        const cJSON *fn = cJSON_GetObjectItem(im, "file_name"), *id = cJSON_GetObjectItem(im, "id");
        if (cJSON_IsString(fn) && cJSON_IsNumber(id) && !strcmp(base_name(fn->valuestring), b)) return (long long)id->valuedouble;
    }
    const char *dot = strrchr(b, '.');
    size_t n = dot ? (size_t)(dot - b) : strlen(b);
    int digits = n > 0 && n < 19;
    for (size_t i = 0; i < n && digits; i++) digits = isdigit((unsigned char)b[i]);
    return digits ? strtoll(b, NULL, 10) : line;
}

iris_status iris_detect_write_coco(const char *out_path, const char *jsonl_path, const char *annotations,
                                   const char *const *names, int n_names) {
    char *text = NULL, *ann_text = NULL;
    cJSON *ann = NULL, *out = NULL;
    iris_status st = iris_read_file(jsonl_path, &text, NULL);
    if (!st && annotations) {
        st = iris_read_file(annotations, &ann_text, NULL);
        if (!st && !(ann = cJSON_Parse(ann_text)))
            st = iris_fail(IRIS_ERR_FORMAT, "%s: not a JSON file (COCO annotations expected)", annotations);
    }
    const cJSON *ann_images = ann ? cJSON_GetObjectItem(ann, "images") : NULL;
    const cJSON *cats = ann ? cJSON_GetObjectItem(ann, "categories") : NULL;
    if (!st && ann && !cJSON_IsArray(ann_images))
        st = iris_fail(IRIS_ERR_FORMAT, "%s: no \"images\" list (COCO annotations expected)", annotations);
    /* category id per class */
    int *cat = NULL;
    if (!st) {
        cat = malloc(sizeof *cat * (size_t)(n_names > 0 ? n_names : 1));
        if (!cat) st = iris_fail(IRIS_ERR_NOMEM, "out of memory");
        const int *c80 = iris_detect_coco80_ids(names, n_names);
        for (int k = 0; !st && k < n_names; k++) {
            cat[k] = c80 ? c80[k] : k;
            for (const cJSON *c = cJSON_IsArray(cats) ? cats->child : NULL; c; c = c->next) {
                const cJSON *nm = cJSON_GetObjectItem(c, "name"), *id = cJSON_GetObjectItem(c, "id");
                if (cJSON_IsString(nm) && cJSON_IsNumber(id) && !strcmp(nm->valuestring, names[k])) cat[k] = id->valueint;
            }
        }
    }
    if (!st && !(out = cJSON_CreateArray())) st = iris_fail(IRIS_ERR_NOMEM, "out of memory");
    long long line = 0;
    for (char *save = NULL, *l = st ? NULL : strtok_r(text, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        line++;
        cJSON *rec = cJSON_Parse(l);
        const cJSON *file = cJSON_GetObjectItem(rec, "file"), *dets = cJSON_GetObjectItem(rec, "detections");
        if (!cJSON_IsString(file) || !cJSON_IsArray(dets)) {
            cJSON_Delete(rec);
            continue; /* a line of another kind (an error record) */
        }
        long long id = image_id(ann_images, file->valuestring, line);
        for (const cJSON *d = dets->child; d; d = d->next) {
            const cJSON *cls = cJSON_GetObjectItem(d, "class_id"), *score = cJSON_GetObjectItem(d, "score"),
                        *box = cJSON_GetObjectItem(d, "box");
            if (!cJSON_IsNumber(cls) || !cJSON_IsNumber(score) || cJSON_GetArraySize(box) != 4) continue;
            double b[4];
            for (int k = 0; k < 4; k++) b[k] = cJSON_GetArrayItem(box, k)->valuedouble;
            cJSON *e = cJSON_CreateObject();
            cJSON_AddNumberToObject(e, "image_id", (double)id);
            int c = cls->valueint;
            cJSON_AddNumberToObject(e, "category_id", c >= 0 && c < n_names ? cat[c] : c);
            cJSON *bb = cJSON_AddArrayToObject(e, "bbox");
            const double v[4] = {b[0], b[1], b[2] - b[0], b[3] - b[1]};
            for (int k = 0; k < 4; k++) cJSON_AddItemToArray(bb, cJSON_CreateNumber(v[k]));
            cJSON_AddNumberToObject(e, "score", score->valuedouble);
            cJSON_AddItemToArray(out, e);
        }
        cJSON_Delete(rec);
    }
    if (!st) {
        char *js = cJSON_PrintUnformatted(out);
        if (!js) st = iris_fail(IRIS_ERR_NOMEM, "out of memory");
        else {
            size_t n = strlen(js);
            js[n] = '\n';
            st = iris_make_parent_dirs(out_path);
            if (!st) st = iris_write_atomic(out_path, js, n + 1);
            free(js);
        }
    }
    cJSON_Delete(out);
    cJSON_Delete(ann);
    free(cat), free(text), free(ann_text);
    return st;
}

/* Weakest first, so the strongest boxes and their labels end up on top. */
iris_status iris_detect_draw(iris_image *img, const iris_detection *d, int n, const char *const *names, int n_names) {
    for (int i = n - 1; i >= 0; i--) {
        uint8_t rgb[3];
        iris_image_class_color(d[i].class_id, rgb);
        char label[160];
        if (names && d[i].class_id < n_names) snprintf(label, sizeof label, "%s %.2f", names[d[i].class_id], d[i].score);
        else snprintf(label, sizeof label, "%d %.2f", d[i].class_id, d[i].score);
        iris_status st = iris_image_draw_label_box(img, d[i].x1, d[i].y1, d[i].x2, d[i].y2, rgb, label, 0, 0);
        if (st) return st;
    }
    return IRIS_OK;
}
