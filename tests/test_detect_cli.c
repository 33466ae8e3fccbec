/* test_detect_cli.c - the detect command end to end on the shared photos: its JSON lines agree
   with the library, the COCO and YOLO files parse back to the same boxes, bad inputs are
   skipped, and a run killed at any moment resumes without losing or repeating a photo. */
#include <cjson/cJSON.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../core/file.h"
#include "../vision/detect_output.h"
#include "test.h"

#define TMP "build/test_detect_cli"

static char model_args[13000];

/* "--cfg ... --weights ... --names ..." for Yolo-Fastest 1.1, or 0 after a recorded skip/failure */
static int have_model(void) {
    char cfg[4096], w[4096];
    const char *p = test_data("yolo/yolo-fastest-1.1.cfg");
    if (!p) return 0;
    snprintf(cfg, sizeof cfg, "%s", p);
    if (!(p = test_data("yolo/yolo-fastest-1.1.weights"))) return 0;
    snprintf(w, sizeof w, "%s", p);
    if (!(p = test_data("yolo/coco.names"))) return 0;
    snprintf(model_args, sizeof model_args, "--cfg %s --weights %s --names %s", cfg, w, p);
    return 1;
}

static void fresh(void) {
    mkdir("build", 0755);
    CHECK_INT(system("rm -rf " TMP " && mkdir -p " TMP), 0);
}

/* the records of a JSON-lines file, keyed by "file" */
static const cJSON *find_file(const cJSON *arr, const char *suffix) {
    for (const cJSON *r = arr->child; r; r = r->next) {
        const char *f = cJSON_GetObjectItem(r, "file")->valuestring;
        size_t a = strlen(f), b = strlen(suffix);
        if (a >= b && !strcmp(f + a - b, suffix)) return r;
    }
    return NULL;
}

TEST(detect_cli_usage_errors) {
    fresh();
    CHECK_INT(test_run(TMP "/stderr.txt", "./bin/detect --help >" TMP "/help.txt"), 0);
    char *h = test_slurp(TMP "/help.txt");
    CHECK(h && strstr(h, "--cfg") && strstr(h, "--classes") && strstr(h, "--letterbox") && strstr(h, "exit status"));
    free(h);
    CHECK_INT(test_run(TMP "/stderr.txt", "./bin/detect x.jpg"), 2); /* --cfg and --weights are required */
    CHECK_INT(test_run(TMP "/stderr.txt", "./bin/detect x.jpg --cfg a.cfg --weights a.weights --size 100"), 2);
    CHECK_INT(test_run(TMP "/stderr.txt", "./bin/detect x.jpg --cfg a.cfg --weights a.weights --draw"), 2); /* needs -o */
    CHECK_INT(test_run(TMP "/stderr.txt", "./bin/detect x.jpg --cfg " TMP "/none.cfg --weights " TMP "/none.weights -o " TMP "/o"), 3);
    char *err = test_slurp(TMP "/stderr.txt");
    CHECK_MSG(err && strstr(err, "none."), "%s", err);
    free(err);
    if (!have_model()) return;
    CHECK_INT(test_run(TMP "/stderr.txt", "./bin/detect x.jpg %s --classes persn -o " TMP "/o", model_args), 2);
    err = test_slurp(TMP "/stderr.txt");
    CHECK_MSG(err && strstr(err, "did you mean 'person'"), "%s", err);
    free(err);
}

TEST(detect_cli_outputs_agree) {
    fresh();
    if (!have_model()) return;
    const char *images = test_data("images");
    if (!images) return;
    /* a corrupt photo among the good ones is reported and skipped */
    char imgs[4096];
    snprintf(imgs, sizeof imgs, "%s", images);
    CHECK_INT(system("mkdir -p " TMP "/photos"), 0);
    char cmd[8400];
    snprintf(cmd, sizeof cmd, "cp %s/*.jpg " TMP "/photos/ && head -c 3000 %s/dog.jpg > " TMP "/photos/zz_truncated.jpg",
             imgs, imgs);
    CHECK_INT(system(cmd), 0);
    int rc = test_run(TMP "/stderr.txt", "./bin/detect " TMP "/photos -o " TMP "/out %s -t 2 --coco --yolo-txt --draw -b 3", model_args);
    char *err = test_slurp(TMP "/stderr.txt");
    CHECK_MSG(rc == 1, "rc %d: %s", rc, err ? err : ""); /* one photo failed */
    CHECK_MSG(err && strstr(err, "zz_truncated.jpg") && strstr(err, "skipped"), "%s", err);
    free(err);
    int n;
    cJSON *recs = test_jsonl(TMP "/out/detections.jsonl", &n);
    CHECK_INT(n, 12);
    const cJSON *dog = find_file(recs, "/dog.jpg");
    CHECK(dog != NULL);
    if (dog) {
        CHECK_INT(cJSON_GetObjectItem(dog, "width")->valueint, 768);
        CHECK_INT(cJSON_GetObjectItem(dog, "height")->valueint, 576);
        const cJSON *d0 = cJSON_GetArrayItem(cJSON_GetObjectItem(dog, "detections"), 0);
        /* darknet's strongest box in dog.jpg: dog 0.607778 at 114.937,190.087,406.254,507.815 */
        CHECK_INT(cJSON_GetObjectItem(d0, "class_id")->valueint, 16);
        CHECK(!strcmp(cJSON_GetObjectItem(d0, "name")->valuestring, "dog"));
        CHECK_NEAR(cJSON_GetObjectItem(d0, "score")->valuedouble, 0.6078, 0.002);
        CHECK_NEAR(cJSON_GetArrayItem(cJSON_GetObjectItem(d0, "box"), 0)->valuedouble, 114.94, 1.0);
        CHECK_NEAR(cJSON_GetArrayItem(cJSON_GetObjectItem(d0, "box"), 3)->valuedouble, 507.82, 1.0);
    }
    /* COCO results: one entry per JSON-lines detection, dog = category 18, bbox = x, y, w, h */
    char *coco = test_slurp(TMP "/out/coco_results.json");
    cJSON *cr = coco ? cJSON_Parse(coco) : NULL;
    CHECK(cJSON_IsArray(cr));
    int total = 0;
    for (const cJSON *r = recs->child; r; r = r->next) total += cJSON_GetArraySize(cJSON_GetObjectItem(r, "detections"));
    CHECK_INT(cJSON_GetArraySize(cr), total);
    int found_dog = 0;
    for (const cJSON *e = cr ? cr->child : NULL; e; e = e->next)
        if (cJSON_GetObjectItem(e, "category_id")->valueint == 18 &&
            fabs(cJSON_GetArrayItem(cJSON_GetObjectItem(e, "bbox"), 2)->valuedouble - (406.25 - 114.94)) < 1.0)
            found_dog = 1;
    CHECK(found_dog);
    cJSON_Delete(cr);
    free(coco);
    /* YOLO labels: dog.txt's lines are the boxes relative to the photo */
    char *txt = test_slurp(TMP "/out/labels/dog.txt");
    CHECK(txt != NULL);
    if (txt && dog) {
        int cls;
        float cx, cy, bw, bh;
        CHECK_INT(sscanf(txt, "%d %f %f %f %f", &cls, &cx, &cy, &bw, &bh), 5);
        CHECK_INT(cls, 16);
        CHECK_NEAR(cx, (114.94 + 406.25) / 2 / 768, 1e-3);
        CHECK_NEAR(bh, (507.82 - 190.09) / 576, 1e-3);
        int lines = 0;
        for (char *p = txt; *p; p++) lines += *p == '\n';
        CHECK_INT(lines, cJSON_GetArraySize(cJSON_GetObjectItem(dog, "detections")));
    }
    free(txt);
    char *empty = test_slurp(TMP "/out/labels/baboon.txt"); /* no objects: an empty label file */
    CHECK(empty && !*empty);
    free(empty);
    /* annotated copies: same size, JPEG as the input */
    iris_image img;
    CHECK_OK(iris_image_load(&img, TMP "/out/annotated/dog.jpg", NULL));
    CHECK(img.w == 768 && img.h == 576);
    iris_image_free(&img);
    cJSON_Delete(recs);
    /* --classes keeps only those */
    CHECK_INT(test_run(TMP "/stderr.txt", "./bin/detect " TMP "/photos/dog.jpg %s --classes dog,car -q >/dev/null", model_args), 0);
    CHECK_INT(test_run(TMP "/stderr.txt", "./bin/detect " TMP "/photos/dog.jpg %s --classes dog,2 >" TMP "/cls.jsonl", model_args), 0);
    recs = test_jsonl(TMP "/cls.jsonl", &n);
    CHECK_INT(n, 1);
    const cJSON *dets = cJSON_GetObjectItem(recs->child, "detections");
    CHECK(cJSON_GetArraySize(dets) >= 2);
    for (const cJSON *d = dets ? dets->child : NULL; d; d = d->next) {
        int c = cJSON_GetObjectItem(d, "class_id")->valueint;
        CHECK_MSG(c == 16 || c == 2, "class %d", c);
    }
    cJSON_Delete(recs);
}

/* Kill -9 part way (after the first line appears), then --resume: every photo exactly once,
   with the same results as one clean run. */
TEST(detect_cli_kill_and_resume) {
    fresh();
    if (!have_model()) return;
    const char *images = test_data("images");
    if (!images) return;
    char cmd[8400];
    /* 48 photos (the 12, four times over) so the run lasts long enough to be killed */
    snprintf(cmd, sizeof cmd, "for k in 1 2 3 4; do mkdir -p " TMP "/p$k && cp %s/*.jpg " TMP "/p$k/; done", images);
    CHECK_INT(system(cmd), 0);
    CHECK_INT(test_run(TMP "/stderr.txt", "./bin/detect " TMP " -o " TMP "/clean %s -t 1 -b 1 -q", model_args), 0);
    int killed_early = 0;
    for (int attempt = 0; attempt < 3 && !killed_early; attempt++) {
        CHECK_INT(system("rm -rf " TMP "/out"), 0);
        pid_t pid = fork();
        if (pid == 0) {
            char args[14000];
            snprintf(args, sizeof args, "exec ./bin/detect " TMP " -o " TMP "/out %s -t 1 -b 1 -q 2>/dev/null", model_args);
            execl("/bin/sh", "sh", "-c", args, (char *)NULL);
            _exit(127);
        }
        /* wait for some lines, then kill without warning */
        for (int i = 0; i < 4000; i++) {
            struct stat st;
            if (!stat(TMP "/out/detections.jsonl", &st) && st.st_size > 2000 + attempt * 1000) break;
            usleep(1000);
        }
        kill(pid, SIGKILL);
        int status;
        waitpid(pid, &status, 0);
        int n;
        cJSON *part = test_jsonl(TMP "/out/detections.jsonl", &n);
        killed_early = WIFSIGNALED(status) && n < 48;
        cJSON_Delete(part);
    }
    CHECK_MSG(killed_early, "the run always finished before it could be killed");
    CHECK_INT(test_run(TMP "/stderr.txt", "./bin/detect " TMP " -o " TMP "/out %s -t 1 -b 2 --resume -q", model_args), 0);
    int n_clean, n_out;
    cJSON *clean = test_jsonl(TMP "/clean/detections.jsonl", &n_clean), *out = test_jsonl(TMP "/out/detections.jsonl", &n_out);
    CHECK_INT(n_clean, 48);
    CHECK_INT(n_out, 48);
    for (const cJSON *r = clean->child; r; r = r->next) {
        const char *f = cJSON_GetObjectItem(r, "file")->valuestring;
        int times = 0;
        const cJSON *match = NULL;
        for (const cJSON *o = out->child; o; o = o->next)
            if (!strcmp(cJSON_GetObjectItem(o, "file")->valuestring, f)) times++, match = o;
        CHECK_MSG(times == 1, "%s appears %d times", f, times);
        if (match) {
            char *a = cJSON_PrintUnformatted(r), *b = cJSON_PrintUnformatted(match);
            CHECK_MSG(!strcmp(a, b), "%s differs after resume", f);
            free(a), free(b);
        }
    }
    cJSON_Delete(clean);
    cJSON_Delete(out);
}

/* --shard K/N: the parts together hold every photo exactly once, each as the unsharded run has it */
TEST(detect_cli_shards_partition) {
    fresh();
    if (!have_model()) return;
    const char *images = test_data("images");
    if (!images) return;
    char imgs[4096];
    snprintf(imgs, sizeof imgs, "%s", images);
    CHECK_INT(test_run(TMP "/stderr.txt", "./bin/detect %s -o " TMP "/all %s -q", imgs, model_args), 0);
    for (int k = 0; k < 3; k++)
        CHECK_INT(test_run(TMP "/stderr.txt", "./bin/detect %s -o " TMP "/s%d %s -q --shard %d/3 --decode-threads %d", imgs, k, model_args, k, k), 0);
    CHECK_INT(system("cat " TMP "/s0/detections.jsonl " TMP "/s1/detections.jsonl " TMP "/s2/detections.jsonl | sort > " TMP
                     "/merged.jsonl && sort " TMP "/all/detections.jsonl > " TMP "/all_sorted.jsonl"), 0);
    char *a = test_slurp(TMP "/merged.jsonl"), *b = test_slurp(TMP "/all_sorted.jsonl");
    CHECK(a && b && strlen(b) > 1000 && !strcmp(a, b));
    free(a), free(b);
    CHECK_INT(test_run(TMP "/stderr.txt", "./bin/detect %s -o " TMP "/bad %s -q --shard 3/3", imgs, model_args), 2);
}

/* A photo far larger than the input decodes DCT-scaled; its boxes still come out in full-size pixels. */
TEST(detect_cli_large_jpeg_boxes_in_full_pixels) {
    fresh();
    if (!have_model()) return;
    const char *dog = test_data("images/dog.jpg");
    if (!dog) return;
    iris_image img, big;
    CHECK_OK(iris_image_load(&img, dog, NULL));
    CHECK_OK(iris_image_resize(&big, &img, 768 * 4, 576 * 4, IRIS_RESIZE_BILINEAR));
    CHECK_OK(iris_image_save_jpeg(TMP "/big.jpg", &big, 95));
    iris_image_free(&img), iris_image_free(&big);
    CHECK_INT(test_run(TMP "/stderr.txt", "./bin/detect " TMP "/big.jpg %s -q >" TMP "/big.jsonl", model_args), 0);
    int n;
    cJSON *recs = test_jsonl(TMP "/big.jsonl", &n);
    CHECK_INT(n, 1);
    const cJSON *r = recs->child;
    if (r) {
        CHECK_INT(cJSON_GetObjectItem(r, "width")->valueint, 3072);
        CHECK_INT(cJSON_GetObjectItem(r, "height")->valueint, 2304);
        /* the strongest dog box at 4x dog.jpg's 114.94,190.09,406.25,507.82, within the few pixels
           that decoding at 1/4 and resampling move it */
        const cJSON *best = NULL;
        for (const cJSON *d = cJSON_GetObjectItem(r, "detections")->child; d; d = d->next)
            if (cJSON_GetObjectItem(d, "class_id")->valueint == 16) { best = d; break; }
        CHECK(best != NULL);
        if (best) {
            const cJSON *b = cJSON_GetObjectItem(best, "box");
            const double want[4] = {114.94 * 4, 190.09 * 4, 406.25 * 4, 507.82 * 4};
            for (int k = 0; k < 4; k++) CHECK_NEAR(cJSON_GetArrayItem(b, k)->valuedouble, want[k], 30);
        }
    }
    cJSON_Delete(recs);
}

/* COCO results: ids from an annotations file (by file name, categories by name), else from a
   numeric file name, else the line number; bbox is x, y, w, h. */
TEST(detect_coco_writer_ids) {
    fresh();
    FILE *f = fopen(TMP "/d.jsonl", "w");
    CHECK(f != NULL);
    if (!f) return;
    fputs("{\"file\":\"a/dog.jpg\",\"width\":10,\"height\":10,\"detections\":[{\"class_id\":16,\"name\":\"dog\",\"score\":0.9,\"box\":[1,2,4,8]}]}\n"
          "{\"file\":\"b/000000397133.jpg\",\"width\":10,\"height\":10,\"detections\":[{\"class_id\":0,\"score\":0.5,\"box\":[0,0,1,1]}]}\n"
          "{\"file\":\"c/cat.png\",\"error\":\"unreadable\"}\n"
          "{\"file\":\"c/zebra.png\",\"width\":10,\"height\":10,\"detections\":[{\"class_id\":79,\"score\":0.3,\"box\":[0,0,2,2]}]}\n",
          f);
    fclose(f);
    f = fopen(TMP "/ann.json", "w");
    if (f) fputs("{\"images\":[{\"id\":42,\"file_name\":\"dog.jpg\"}],\"categories\":[{\"id\":77,\"name\":\"dog\"}]}", f), fclose(f);
    const char *names80[80];
    for (int i = 0; i < 80; i++) names80[i] = "x";
    names80[0] = "person", names80[16] = "dog", names80[79] = "toothbrush";
    CHECK_OK(iris_detect_write_coco(TMP "/coco.json", TMP "/d.jsonl", TMP "/ann.json", names80, 80));
    char *s = test_slurp(TMP "/coco.json");
    cJSON *a = s ? cJSON_Parse(s) : NULL;
    CHECK_INT(cJSON_GetArraySize(a), 3);
    const cJSON *e0 = cJSON_GetArrayItem(a, 0), *e1 = cJSON_GetArrayItem(a, 1), *e2 = cJSON_GetArrayItem(a, 2);
    if (e0 && e1 && e2) {
        CHECK_INT(cJSON_GetObjectItem(e0, "image_id")->valuedouble, 42);    /* from the annotations */
        CHECK_INT(cJSON_GetObjectItem(e0, "category_id")->valueint, 77);    /* their category for "dog" */
        CHECK_NEAR(cJSON_GetArrayItem(cJSON_GetObjectItem(e0, "bbox"), 2)->valuedouble, 3, 1e-9);
        CHECK_NEAR(cJSON_GetArrayItem(cJSON_GetObjectItem(e0, "bbox"), 3)->valuedouble, 6, 1e-9);
        CHECK_INT(cJSON_GetObjectItem(e1, "image_id")->valuedouble, 397133); /* digits of the name */
        CHECK_INT(cJSON_GetObjectItem(e1, "category_id")->valueint, 1);      /* COCO's id for person */
        CHECK_INT(cJSON_GetObjectItem(e2, "image_id")->valuedouble, 4);      /* the line number */
        CHECK_INT(cJSON_GetObjectItem(e2, "category_id")->valueint, 90);     /* toothbrush */
    }
    cJSON_Delete(a);
    free(s);
    /* a broken annotations file is an error naming it */
    f = fopen(TMP "/bad.json", "w");
    if (f) fputs("{\"images\": [", f), fclose(f);
    CHECK(iris_detect_write_coco(TMP "/coco2.json", TMP "/d.jsonl", TMP "/bad.json", names80, 80) == IRIS_ERR_FORMAT);
    CHECK_MSG(strstr(iris_last_error(), "bad.json"), "%s", iris_last_error());
}
