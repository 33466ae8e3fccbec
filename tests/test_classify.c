/* test_classify.c - bin/classify end to end on real photos.
   Reference: PyTorch softmax of the CIFAR ResNet-20 for the shared photos
   (shared/data/resnet/reference/resnet20_logits.json, OpenCV INTER_AREA to 32x32). */
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test.h"

#define TMP "build/test_classify"

static int run(const char *cmd) {
    char full[8400];
    snprintf(full, sizeof full, "%s 2>" TMP "/stderr.txt", cmd);
    int st = system(full);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* Lines of a JSONL file as parsed objects (NULL-terminated array). */
static cJSON **read_jsonl(const char *path, int *n) {
    char *text;
    *n = 0;
    if (iris_read_file(path, &text, NULL)) return NULL;
    cJSON **v = calloc(4096, sizeof *v);
    for (char *line = strtok(text, "\n"); line && *n < 4095; line = strtok(NULL, "\n")) v[(*n)++] = cJSON_Parse(line);
    free(text);
    return v;
}

static void free_jsonl(cJSON **v, int n) {
    for (int i = 0; i < n; i++) cJSON_Delete(v[i]);
    free(v);
}

static int file_contains(const char *path, const char *needle) {
    char *text;
    if (iris_read_file(path, &text, NULL)) return 0;
    int found = strstr(text, needle) != NULL;
    free(text);
    return found;
}

static const char *model(char *buf, size_t n) {
    const char *p = test_data("resnet/resnet20.safetensors");
    if (!p) return NULL;
    snprintf(buf, n, "%s", p);
    return buf;
}

TEST(classify_matches_pytorch_on_photos) {
    char m[4096], cmd[8192];
    if (!model(m, sizeof m)) return;
    const char *ref = test_data("resnet/reference/resnet20_logits.json");
    if (!ref) return;
    cJSON *root = test_json(ref);
    if (!root) return;
    const char *images = test_data("images");
    mkdir("build", 0755);
    mkdir(TMP, 0755);
    unlink(TMP "/out.jsonl");
    snprintf(cmd, sizeof cmd, "./bin/classify %s -m %s --top 10 -q -o " TMP "/out.jsonl", images, m);
    CHECK_INT(run(cmd), 0);
    int n;
    cJSON **lines = read_jsonl(TMP "/out.jsonl", &n);
    CHECK_INT(n, 12); /* every photo in the folder */
    int matched = 0;
    for (const cJSON *r = cJSON_GetObjectItem(root, "results")->child; r; r = r->next) {
        const char *img = cJSON_GetObjectItem(r, "image")->valuestring; /* "images/dog.jpg" */
        for (int i = 0; i < n; i++) {
            const char *f = cJSON_GetObjectItem(lines[i], "file")->valuestring;
            if (strcmp(f + strlen(f) - strlen(img), img)) continue;
            matched++;
            const cJSON *sm = cJSON_GetObjectItem(r, "softmax");
            const cJSON *top = cJSON_GetObjectItem(lines[i], "top");
            CHECK_INT(cJSON_GetArraySize(top), 10);
            float got[10], want[10];
            int k = 0;
            for (const cJSON *e = top->child; e && k < 10; e = e->next, k++) {
                int idx = cJSON_GetObjectItem(e, "index")->valueint;
                got[k] = (float)cJSON_GetObjectItem(e, "prob")->valuedouble;
                want[k] = (float)cJSON_GetArrayItem(sm, idx)->valuedouble;
                if (k) CHECK(got[k] <= got[k - 1]); /* sorted */
            }
            CHECK_CLOSE(got, want, 10, 2e-5, 1e-4);
        }
    }
    CHECK_INT(matched, 8);
    free_jsonl(lines, n);
    cJSON_Delete(root);
}

TEST(classify_resume_and_bad_images) {
    char m[4096], cmd[8192];
    if (!model(m, sizeof m)) return;
    const char *eagle = test_data("images/eagle.jpg");
    if (!eagle) return;
    mkdir("build", 0755);
    mkdir(TMP, 0755);
    system("rm -rf " TMP "/photos && mkdir -p " TMP "/photos/sub");
    char buf[8192];
    snprintf(buf, sizeof buf, "cp %s " TMP "/photos/a.jpg && cp %s " TMP "/photos/sub/b.jpg", eagle, eagle);
    CHECK_INT(system(buf), 0);
    /* a text file named like a JPEG, and a truncated JPEG */
    FILE *f = fopen(TMP "/photos/fake.jpg", "w");
    fputs("not an image\n", f);
    fclose(f);
    snprintf(buf, sizeof buf, "head -c 3000 %s > " TMP "/photos/sub/cut.jpg", eagle);
    CHECK_INT(system(buf), 0);
    unlink(TMP "/out.jsonl");
    snprintf(cmd, sizeof cmd, "./bin/classify " TMP "/photos -m %s -o " TMP "/out.jsonl --batch 2", m);
    CHECK_INT(run(cmd), 1); /* completed, one input failed */
    CHECK(file_contains(TMP "/stderr.txt", "cut.jpg"));
    CHECK(file_contains(TMP "/stderr.txt", "fake.jpg"));
    int n;
    cJSON **lines = read_jsonl(TMP "/out.jsonl", &n);
    CHECK_INT(n, 2);
    free_jsonl(lines, n);
    /* resume: nothing new; then a new photo appears and only it is added */
    snprintf(cmd, sizeof cmd, "./bin/classify " TMP "/photos -m %s -o " TMP "/out.jsonl --resume -q", m);
    run(cmd);
    lines = read_jsonl(TMP "/out.jsonl", &n);
    CHECK_INT(n, 2);
    free_jsonl(lines, n);
    snprintf(buf, sizeof buf, "cp %s " TMP "/photos/c.jpg", eagle);
    CHECK_INT(system(buf), 0);
    run(cmd);
    lines = read_jsonl(TMP "/out.jsonl", &n);
    CHECK_INT(n, 3);
    CHECK(n == 3 && lines[2] && strstr(cJSON_GetObjectItem(lines[2], "file")->valuestring, "c.jpg"));
    free_jsonl(lines, n);
}

TEST(classify_features_and_errors) {
    char m[4096], cmd[8192];
    if (!model(m, sizeof m)) return;
    const char *eagle = test_data("images/eagle.jpg");
    if (!eagle) return;
    mkdir("build", 0755);
    mkdir(TMP, 0755);
    unlink(TMP "/feat.jsonl");
    snprintf(cmd, sizeof cmd, "./bin/classify %s -m %s --features -q -o " TMP "/feat.jsonl", eagle, m);
    CHECK_INT(run(cmd), 0);
    int n;
    cJSON **lines = read_jsonl(TMP "/feat.jsonl", &n);
    CHECK_INT(n, 1);
    if (n == 1) CHECK_INT(cJSON_GetArraySize(cJSON_GetObjectItem(lines[0], "features")), 64);
    free_jsonl(lines, n);
    CHECK_INT(run("./bin/classify --help > " TMP "/help.txt"), 0);
    CHECK(file_contains(TMP "/help.txt", "--model"));
    CHECK(file_contains(TMP "/help.txt", "--resume"));
    CHECK(file_contains(TMP "/help.txt", "exit status"));
    snprintf(cmd, sizeof cmd, "./bin/classify %s -m %s --top abc", eagle, m);
    CHECK_INT(run(cmd), 2);
    CHECK(file_contains(TMP "/stderr.txt", "--top"));
    snprintf(cmd, sizeof cmd, "./bin/classify %s -m " TMP "/missing.safetensors", eagle);
    CHECK_INT(run(cmd), 3);
    CHECK(file_contains(TMP "/stderr.txt", "missing.safetensors"));
    snprintf(cmd, sizeof cmd, "./bin/classify %s -m %s -o /dev/full", eagle, m);
    CHECK_INT(run(cmd), 4);
}

/* Sorted lines of a file joined by '\n' (malloc'd); NULL if unreadable. */
static int by_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }
static char *sorted_lines(const char *const *paths, int n_paths, int *n_lines) {
    char *lines[256], *texts[8];
    int n = 0;
    for (int f = 0; f < n_paths; f++) {
        if (iris_read_file(paths[f], &texts[f], NULL)) {
            while (f--) free(texts[f]);
            return NULL;
        }
        for (char *l = strtok(texts[f], "\n"); l && n < 256; l = strtok(NULL, "\n")) lines[n++] = l;
    }
    qsort(lines, (size_t)n, sizeof *lines, by_str);
    size_t len = 1;
    for (int i = 0; i < n; i++) len += strlen(lines[i]) + 1;
    char *out = malloc(len), *p = out;
    for (int i = 0; i < n; i++) p += sprintf(p, "%s\n", lines[i]);
    *p = 0;
    for (int f = 0; f < n_paths; f++) free(texts[f]);
    *n_lines = n;
    return out;
}

/* --shard: three parts (each decoding with a different number of threads)
   together hold exactly the lines of one unsharded run. --batch 1 makes
   every image's numbers independent of which images share its batch, so
   the lines must be equal byte for byte. */
TEST(classify_shards_cover_the_folder) {
    char m[4096], cmd[8192];
    if (!model(m, sizeof m)) return;
    const char *images = test_data("images");
    if (!images) return;
    mkdir("build", 0755);
    mkdir(TMP, 0755);
    system("rm -f " TMP "/all.jsonl " TMP "/part-*.jsonl");
    snprintf(cmd, sizeof cmd, "./bin/classify %s -m %s --batch 1 -q -o " TMP "/all.jsonl --decode-threads 0", images, m);
    CHECK_INT(run(cmd), 0);
    for (int k = 0; k < 3; k++) {
        snprintf(cmd, sizeof cmd, "./bin/classify %s -m %s --batch 1 -q --shard %d/3 --decode-threads %d -o " TMP
                 "/part-%d.jsonl", images, m, k, 2 * k, k);
        CHECK_INT(run(cmd), 0);
    }
    const char *all[] = {TMP "/all.jsonl"}, *parts[] = {TMP "/part-0.jsonl", TMP "/part-1.jsonl", TMP "/part-2.jsonl"};
    int n_all = 0, n_parts = 0;
    char *a = sorted_lines(all, 1, &n_all), *b = sorted_lines(parts, 3, &n_parts);
    CHECK(a && b);
    CHECK_INT(n_all, 12);
    CHECK_INT(n_parts, 12);
    CHECK(a && b && !strcmp(a, b));
    free(a);
    free(b);
    /* a bad part is a usage error */
    snprintf(cmd, sizeof cmd, "./bin/classify %s -m %s --shard 3/3", images, m);
    CHECK_INT(run(cmd), 2);
    CHECK(file_contains(TMP "/stderr.txt", "K counts from 0"));
}
