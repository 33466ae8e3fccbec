/* test_caption_cli.c - the caption command end to end on the tiny LLaVA 1.5 model: the three formats
   parse back to the same captions, a corrupt photo is skipped, .txt files are kept unless --overwrite,
   a run killed at any moment resumes without losing or repeating a photo (jsonl and csv), --shard
   partitions; and the CSV writer's quoting, torn-record repair and resume keys. */
#include <cjson/cJSON.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../core/file.h"
#include "../vision/caption_output.h"
#include "test.h"

#define TMP "build/test_caption_cli"
#define MODEL "-m tests/ref/llava/llava15_model.gguf --mmproj tests/ref/llava/llava15_mmproj.gguf -n 6 -t 1"

/* TMP/p: the two test photos and a PNG that breaks off after its signature */
static void fresh(void) {
    mkdir("build", 0755);
    CHECK_INT(system("rm -rf " TMP " && mkdir -p " TMP "/p && cp tests/ref/llava/photo_*.png " TMP "/p/ && "
                     "printf '\\211PNG\\r\\n\\032\\nbroken' > " TMP "/p/corrupt.png"), 0);
}

static const char *caption_of(const cJSON *arr, const char *file) {
    for (const cJSON *r = arr->child; r; r = r->next)
        if (!strcmp(cJSON_GetObjectItem(r, "file")->valuestring, file))
            return cJSON_GetObjectItem(r, "caption")->valuestring;
    return NULL;
}

/* An RFC 4180 reader, written from the RFC and independent of the writer: records of fields. */
typedef struct {
    char *f[8][4]; /* up to 8 records of 4 fields */
    int n_rec, n_fields[8], ok;
} csv_doc;

static void csv_parse(csv_doc *d, const char *s) {
    memset(d, 0, sizeof *d);
    d->ok = 1;
    char field[4096];
    size_t len = 0;
    int in_q = 0, nf = 0;
    for (const char *p = s; *p && d->ok; p++) {
        if (in_q) {
            if (*p == '"' && p[1] == '"') field[len++] = '"', p++;
            else if (*p == '"') in_q = 0;
            else field[len++] = *p;
        } else if (*p == '"' && len == 0) {
            in_q = 1;
        } else if (*p == ',' || *p == '\n') {
            if (d->n_rec >= 8 || nf >= 4) { d->ok = 0; break; }
            field[len] = 0;
            d->f[d->n_rec][nf++] = strdup(field);
            len = 0;
            if (*p == '\n') d->n_fields[d->n_rec++] = nf, nf = 0;
        } else if (*p == '"') {
            d->ok = 0; /* a quote inside an unquoted field */
        } else {
            field[len++] = *p;
        }
        if (len >= sizeof field - 1) d->ok = 0;
    }
    if (in_q || nf || len) d->ok = 0; /* torn last record */
}

static void csv_free(csv_doc *d) {
    for (int r = 0; r < 8; r++)
        for (int k = 0; k < 4; k++) free(d->f[r][k]);
}

TEST(caption_csv_quoting_and_resume) {
    const char *cases[][2] = {{"plain", "plain"}, {"a, b", "\"a, b\""}, {"say \"hi\"", "\"say \"\"hi\"\"\""},
                              {"two\nlines", "\"two\nlines\""}, {" edge", "\" edge\""}, {"", ""}};
    for (int i = 0; i < 6; i++) {
        char *q = iris_caption_csv_field(cases[i][0]);
        CHECK_MSG(q && !strcmp(q, cases[i][1]), "'%s' -> '%s'", cases[i][0], q ? q : "(null)");
        free(q);
    }
    mkdir("build", 0755);
    CHECK_INT(system("rm -rf " TMP "q && mkdir -p " TMP "q"), 0);
    const char *path = TMP "q/c.csv";
    iris_caption_csv *c = NULL;
    CHECK_OK(iris_caption_csv_open(&c, path, 0, 0));
    if (!c) return;
    CHECK_OK(iris_caption_csv_write(c, "dir/a,1.png", "a dog, \"happy\"\non grass", 7, 0.5));
    CHECK_OK(iris_caption_csv_write(c, "b.png", "plain", 2, 0.25));
    CHECK_OK(iris_caption_csv_close(c));
    /* a run killed inside a write would leave a torn record: opening cuts it away */
    FILE *f = fopen(path, "a");
    fputs("c.png,\"torn cap", f);
    fclose(f);
    CHECK_OK(iris_caption_csv_open(&c, path, 1, 0));
    if (!c) return;
    CHECK_INT(iris_caption_csv_n_torn(c), 15);
    CHECK_INT(iris_caption_csv_n_done(c), 2);
    CHECK(iris_caption_csv_is_done(c, "dir/a,1.png") && iris_caption_csv_is_done(c, "b.png"));
    CHECK(!iris_caption_csv_is_done(c, "c.png") && !iris_caption_csv_is_done(c, "file"));
    CHECK_OK(iris_caption_csv_write(c, "c.png", "third", 1, 1));
    CHECK_OK(iris_caption_csv_close(c));
    char *text = test_slurp(path);
    csv_doc d;
    csv_parse(&d, text ? text : "");
    CHECK(d.ok);
    CHECK_INT(d.n_rec, 4);
    if (d.ok && d.n_rec == 4) {
        CHECK(!strcmp(d.f[0][0], "file") && !strcmp(d.f[0][1], "caption") && !strcmp(d.f[0][3], "seconds"));
        CHECK(!strcmp(d.f[1][0], "dir/a,1.png") && !strcmp(d.f[1][1], "a dog, \"happy\"\non grass"));
        CHECK(!strcmp(d.f[1][2], "7") && !strcmp(d.f[2][1], "plain") && !strcmp(d.f[3][0], "c.png"));
        for (int r = 0; r < 4; r++) CHECK_INT(d.n_fields[r], 4);
    }
    csv_free(&d);
    free(text);
    char buf[64];
    CHECK(iris_caption_txt_path("a.b/photo.jpg", buf, sizeof buf) && !strcmp(buf, "a.b/photo.txt"));
    CHECK(iris_caption_txt_path("a.b/noext", buf, sizeof buf) && !strcmp(buf, "a.b/noext.txt"));
    CHECK(iris_caption_txt_path("dir/.hidden", buf, sizeof buf) && !strcmp(buf, "dir/.hidden.txt"));
    CHECK(!iris_caption_txt_path("photo.jpg", buf, 6));
}

TEST(caption_cli_usage_errors) {
    fresh();
    CHECK_INT(test_run(TMP "/stderr.txt", "./bin/caption " TMP "/p -m x.gguf"), 2); /* --mmproj missing */
    CHECK_INT(test_run(TMP "/stderr.txt", "./bin/caption " TMP "/p " MODEL " -f txt -o " TMP "/x.jsonl"), 2);
    CHECK_INT(test_run(TMP "/stderr.txt", "./bin/caption " TMP "/p " MODEL " --overwrite -o " TMP "/x.jsonl"), 2);
    CHECK_INT(test_run(TMP "/stderr.txt", "./bin/caption " TMP "/p " MODEL " --resume"), 2);
    CHECK_INT(test_run(TMP "/stderr.txt", "./bin/caption " TMP "/p " MODEL " --shard 3/3 -o " TMP "/x.jsonl"), 2);
    CHECK_INT(test_run(TMP "/stderr.txt", "./bin/caption " TMP "/p -m " TMP "/none.gguf --mmproj tests/ref/llava/llava15_mmproj.gguf -o "
                  TMP "/x.jsonl"), 3);
    char *err = test_slurp(TMP "/stderr.txt");
    CHECK(err && strstr(err, "none.gguf"));
    free(err);
    CHECK_INT(test_run(TMP "/stderr.txt", "./bin/caption --help > " TMP "/help.txt"), 0);
    char *help = test_slurp(TMP "/help.txt");
    CHECK(help && strstr(help, "--format") && strstr(help, "examples:") && strstr(help, "exit status"));
    free(help);
}

/* jsonl, csv and txt give the same captions; the corrupt photo is warned about and counted (exit 1) */
TEST(caption_cli_formats_agree) {
    fresh();
    CHECK_INT(test_run(TMP "/stderr.txt", "./bin/caption " TMP "/p " MODEL " -o " TMP "/c.jsonl -q"), 1);
    char *err = test_slurp(TMP "/stderr.txt");
    CHECK_MSG(err && strstr(err, "corrupt.png") && strstr(err, "skipped"), "stderr: %s", err ? err : "");
    free(err);
    CHECK_INT(test_run(TMP "/stderr.txt", "./bin/caption " TMP "/p " MODEL " -f csv -o " TMP "/c.csv -q -b 2"), 1);
    CHECK_INT(test_run(TMP "/stderr.txt", "./bin/caption " TMP "/p " MODEL " -f txt -q"), 1);
    int n;
    cJSON *js = test_jsonl(TMP "/c.jsonl", &n);
    CHECK_INT(n, 2);
    const char *files[] = {TMP "/p/photo_tall.png", TMP "/p/photo_wide.png"};
    const char *txts[] = {TMP "/p/photo_tall.txt", TMP "/p/photo_wide.txt"};
    char *csv = test_slurp(TMP "/c.csv");
    csv_doc d;
    csv_parse(&d, csv ? csv : "");
    CHECK(d.ok && d.n_rec == 3);
    for (int i = 0; i < 2; i++) {
        const char *cap = caption_of(js, files[i]);
        CHECK_MSG(cap != NULL, "%s missing from the jsonl", files[i]);
        if (!cap) continue;
        const cJSON *rec = js->child;
        while (rec && strcmp(cJSON_GetObjectItem(rec, "file")->valuestring, files[i])) rec = rec->next;
        CHECK(cJSON_IsNumber(cJSON_GetObjectItem(rec, "tokens")) && cJSON_IsNumber(cJSON_GetObjectItem(rec, "seconds")));
        CHECK(cJSON_GetObjectItem(rec, "tokens")->valueint >= 1 && cJSON_GetObjectItem(rec, "tokens")->valueint <= 6);
        int found = 0;
        for (int r = 1; d.ok && r < d.n_rec; r++)
            if (!strcmp(d.f[r][0], files[i])) found = 1, CHECK_MSG(!strcmp(d.f[r][1], cap), "csv caption of %s", files[i]);
        CHECK_MSG(found, "%s missing from the csv", files[i]);
        char *t = test_slurp(txts[i]);
        size_t l = t ? strlen(t) : 0;
        CHECK_MSG(t && l && t[l - 1] == '\n' && !strncmp(t, cap, l - 1) && strlen(cap) == l - 1, "%s", txts[i]);
        free(t);
    }
    struct stat sb;
    CHECK(stat(TMP "/p/corrupt.txt", &sb) != 0);
    csv_free(&d);
    free(csv);
    cJSON_Delete(js);
}

/* an existing .txt is kept unless --overwrite; --resume passes over photos that have one */
TEST(caption_cli_txt_overwrite) {
    fresh();
    CHECK_INT(system("rm " TMP "/p/corrupt.png && echo 'my own caption' > " TMP "/p/photo_wide.txt"), 0);
    CHECK_INT(test_run(TMP "/stderr.txt", "./bin/caption " TMP "/p " MODEL " -f txt -q"), 0);
    char *w = test_slurp(TMP "/p/photo_wide.txt"), *t = test_slurp(TMP "/p/photo_tall.txt");
    CHECK(w && !strcmp(w, "my own caption\n"));
    CHECK(t && strlen(t) > 1);
    free(w), free(t);
    CHECK_INT(system("echo 'old' > " TMP "/p/photo_tall.txt"), 0);
    CHECK_INT(test_run(TMP "/stderr.txt", "./bin/caption " TMP "/p " MODEL " -f txt -q --resume"), 0);
    t = test_slurp(TMP "/p/photo_tall.txt");
    CHECK(t && !strcmp(t, "old\n"));
    free(t);
    CHECK_INT(test_run(TMP "/stderr.txt", "./bin/caption " TMP "/p " MODEL " -f txt -q --overwrite"), 0);
    w = test_slurp(TMP "/p/photo_wide.txt"), t = test_slurp(TMP "/p/photo_tall.txt");
    CHECK(w && strcmp(w, "my own caption\n") && t && strcmp(t, "old\n"));
    free(w), free(t);
}

/* 24 photos; the run is killed without warning once a few are written, then resumed with another batch
   size: every photo appears exactly once, with the caption an uninterrupted run gives it */
static void kill_and_resume(const char *fmt, const char *ext) {
    fresh();
    CHECK_INT(system("rm " TMP "/p/corrupt.png && for k in 1 2 3 4 5 6 7 8 9 10 11 12; do mkdir -p " TMP
                     "/many/d$k && cp " TMP "/p/*.png " TMP "/many/d$k/; done"), 0);
    char clean[256], out[256];
    snprintf(clean, sizeof clean, TMP "/clean.%s", ext);
    snprintf(out, sizeof out, TMP "/out.%s", ext);
    CHECK_INT(test_run(TMP "/stderr.txt", "./bin/caption " TMP "/many " MODEL " -f %s -o %s -q", fmt, clean), 0);
    int killed_early = 0;
    for (int attempt = 0; attempt < 3 && !killed_early; attempt++) {
        unlink(out);
        pid_t pid = fork();
        if (pid == 0) {
            char args[1024];
            snprintf(args, sizeof args, "exec ./bin/caption " TMP "/many " MODEL " -f %s -o %s -q 2>/dev/null", fmt, out);
            execl("/bin/sh", "sh", "-c", args, (char *)NULL);
            _exit(127);
        }
        for (int i = 0; i < 20000; i++) {
            struct stat st;
            if (!stat(out, &st) && st.st_size > 400 + attempt * 300) break;
            usleep(500);
        }
        kill(pid, SIGKILL);
        int status;
        waitpid(pid, &status, 0);
        char *text = test_slurp(out);
        int lines = 0;
        for (char *p = text; p && *p; p++) lines += *p == '\n';
        free(text);
        killed_early = WIFSIGNALED(status) && lines < 24;
    }
    CHECK_MSG(killed_early, "the run always finished before it could be killed");
    CHECK_INT(test_run(TMP "/stderr.txt", "./bin/caption " TMP "/many " MODEL " -f %s -o %s -q -b 3 --resume", fmt, out), 0);
    /* compare file -> caption, ignoring the times */
    CHECK_INT(system("rm -f " TMP "/a.txt " TMP "/b.txt"), 0);
    if (!strcmp(fmt, "jsonl")) {
        int na, nb;
        cJSON *a = test_jsonl(clean, &na), *b = test_jsonl(out, &nb);
        CHECK_INT(na, 24);
        CHECK_INT(nb, 24);
        for (const cJSON *r = a->child; r; r = r->next) {
            const char *f = cJSON_GetObjectItem(r, "file")->valuestring;
            int times = 0;
            for (const cJSON *o = b->child; o; o = o->next) {
                if (strcmp(cJSON_GetObjectItem(o, "file")->valuestring, f)) continue;
                times++;
                CHECK_MSG(!strcmp(cJSON_GetObjectItem(o, "caption")->valuestring,
                                  cJSON_GetObjectItem(r, "caption")->valuestring), "%s differs after resume", f);
            }
            CHECK_MSG(times == 1, "%s appears %d times", f, times);
        }
        cJSON_Delete(a), cJSON_Delete(b);
    } else {
        /* cut the seconds column, sort, compare */
        char cmd[1024];
        snprintf(cmd, sizeof cmd, "sed -E 's/,[0-9.]+$//' %s | sort > " TMP "/a.txt && sed -E 's/,[0-9.]+$//' %s | sort > " TMP "/b.txt",
                 clean, out);
        CHECK_INT(system(cmd), 0);
        char *a = test_slurp(TMP "/a.txt"), *b = test_slurp(TMP "/b.txt");
        CHECK(a && b && !strcmp(a, b));
        int lines = 0;
        for (char *p = b; p && *p; p++) lines += *p == '\n';
        CHECK_MSG(lines >= 25, "%d lines", lines); /* header + 24 (captions with a newline add more) */
        free(a), free(b);
    }
}

TEST(caption_cli_kill_and_resume_jsonl) { kill_and_resume("jsonl", "jsonl"); }
TEST(caption_cli_kill_and_resume_csv) { kill_and_resume("csv", "csv"); }

/* --shard K/N: the parts together hold every photo exactly once */
TEST(caption_cli_shards_partition) {
    fresh();
    CHECK_INT(system("rm " TMP "/p/corrupt.png && for k in 1 2 3; do mkdir -p " TMP "/s/d$k && cp " TMP
                     "/p/*.png " TMP "/s/d$k/; done"), 0);
    CHECK_INT(test_run(TMP "/stderr.txt", "./bin/caption " TMP "/s " MODEL " -o " TMP "/all.jsonl -q"), 0);
    for (int k = 0; k < 3; k++) CHECK_INT(test_run(TMP "/stderr.txt", "./bin/caption " TMP "/s " MODEL " -o " TMP "/s%d.jsonl -q --shard %d/3", k, k), 0);
    int n_all, n[3], total = 0;
    cJSON *all = test_jsonl(TMP "/all.jsonl", &n_all), *part[3];
    for (int k = 0; k < 3; k++) part[k] = test_jsonl(k == 0 ? TMP "/s0.jsonl" : k == 1 ? TMP "/s1.jsonl" : TMP "/s2.jsonl", &n[k]), total += n[k];
    CHECK_INT(n_all, 6);
    CHECK_INT(total, 6);
    for (const cJSON *r = all->child; r; r = r->next) {
        const char *f = cJSON_GetObjectItem(r, "file")->valuestring;
        int times = 0;
        for (int k = 0; k < 3; k++) {
            const char *c = caption_of(part[k], f);
            if (c) times++, CHECK(!strcmp(c, cJSON_GetObjectItem(r, "caption")->valuestring));
        }
        CHECK_MSG(times == 1, "%s in %d parts", f, times);
    }
    cJSON_Delete(all);
    for (int k = 0; k < 3; k++) cJSON_Delete(part[k]);
}
