/* sd_infotext.c - the PNG "parameters" text in AUTOMATIC1111's format, so that A1111's PNG
   Info tab, its "send to txt2img" and image sites read our prompt, seed and settings back.

   Follows create_infotext() of A1111 1.10.1 (modules/processing.py): the prompt, a
   "Negative prompt: " line when there is one, then "key: value" pairs joined by ", " in the
   order of its generation_params dict, each value passed through infotext_utils.quote(); the
   whole text is strip()ped. Of its keys we write those we have: Steps, Sampler, Schedule type,
   CFG scale, Seed, Size, Model, Denoising strength, Clip skip, RNG, Eta. Left out: Model hash
   (the first 10 hex digits of the file's SHA-256: reading gigabytes for a label), VAE / VAE
   hash (we have no separate VAE), Version (we are not A1111) and the options we do not have. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sd_infotext.h"

typedef struct text {
    char *s;
    size_t len, cap;
    int ok;
} text;

static void put(text *t, const char *s, size_t n) {
    if (!t->ok) return;
    if (t->len + n + 1 > t->cap) {
        size_t cap = t->cap ? t->cap : 256;
        while (cap < t->len + n + 1) cap *= 2;
        char *ns = realloc(t->s, cap);
        if (!ns) {
            t->ok = 0;
            return;
        }
        t->s = ns, t->cap = cap;
    }
    memcpy(t->s + t->len, s, n);
    t->len += n;
    t->s[t->len] = 0;
}

static void puts_(text *t, const char *s) { put(t, s, strlen(s)); }

static void printf_(text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void printf_(text *t, const char *fmt, ...) {
    char buf[128];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (n > 0) put(t, buf, (size_t)n < sizeof buf ? (size_t)n : sizeof buf - 1);
}

/* json.dumps(s, ensure_ascii=False): quotes, backslash and control characters escaped, the
   rest (UTF-8) as it is. */
static void put_json_string(text *t, const char *s) {
    puts_(t, "\"");
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        switch (c) {
        case '"': puts_(t, "\\\""); break;
        case '\\': puts_(t, "\\\\"); break;
        case '\n': puts_(t, "\\n"); break;
        case '\r': puts_(t, "\\r"); break;
        case '\t': puts_(t, "\\t"); break;
        case '\b': puts_(t, "\\b"); break;
        case '\f': puts_(t, "\\f"); break;
        default:
            if (c < 0x20) printf_(t, "\\u%04x", c);
            else put(t, s, 1);
        }
    }
    puts_(t, "\"");
}

/* infotext_utils.quote(): a value holding ',', ':' or a newline would break the "k: v, k: v"
   line, so it becomes a JSON string. */
static void put_value(text *t, const char *v) {
    if (strpbrk(v, ",:\n")) put_json_string(t, v);
    else puts_(t, v);
}

static void put_param(text *t, int *first, const char *key, const char *value) {
    if (!*first) puts_(t, ", ");
    *first = 0;
    puts_(t, key);
    puts_(t, ": ");
    put_value(t, value);
}

/* A float as the user typed it: the shortest decimal that reads back as the same float
   ("7", "7.5", "0.75"), as A1111's sliders hand over 7 rather than 7.0. */
static void fmt_float(char *buf, size_t n, float v) {
    for (int prec = 1; prec <= 9; prec++) {
        snprintf(buf, n, "%.*g", prec, (double)v);
        if (strtof(buf, NULL) == v) return;
    }
}

/* Python's str.strip(): the ASCII whitespace it removes (Unicode spaces beyond ASCII are
   left; prompts hardly start or end with them). */
static int py_space(unsigned char c) { return c == ' ' || (c >= '\t' && c <= '\r') || (c >= 0x1c && c <= 0x1f); }

const char *iris_sd_schedule_label(iris_schedule_kind k) {
    /* discrete is written "Uniform", not "Automatic": A1111's Automatic means the sampler's
       preferred schedule, which is Karras for DPM++ 2M, DPM++ 2S a and DPM2. */
    switch (k) {
    case IRIS_SCHEDULE_DISCRETE: return "Uniform";
    case IRIS_SCHEDULE_KARRAS: return "Karras";
    case IRIS_SCHEDULE_EXPONENTIAL: return "Exponential";
    default: return NULL;
    }
}

char *iris_sd_infotext(const iris_sd_info *info, const iris_sd_params *p) {
    text t = {.ok = 1};
    char v[64];
    int first = 1;
    puts_(&t, p->prompt ? p->prompt : "");
    if (p->negative && *p->negative) {
        puts_(&t, "\nNegative prompt: ");
        puts_(&t, p->negative);
    }
    puts_(&t, "\n");

    snprintf(v, sizeof v, "%d", p->steps);
    put_param(&t, &first, "Steps", v);
    const char *sampler = iris_sampler_a1111_name(p->sampler);
    if (sampler) put_param(&t, &first, "Sampler", sampler);
    const char *schedule = iris_sd_schedule_label(p->schedule);
    if (schedule) put_param(&t, &first, "Schedule type", schedule);
    fmt_float(v, sizeof v, p->cfg);
    put_param(&t, &first, "CFG scale", v);
    snprintf(v, sizeof v, "%llu", (unsigned long long)p->seed);
    put_param(&t, &first, "Seed", v);
    int native = info && info->native_size > 0 ? info->native_size : 512;
    snprintf(v, sizeof v, "%dx%d", p->width > 0 ? p->width : native, p->height > 0 ? p->height : native);
    put_param(&t, &first, "Size", v);
    if (info && info->name && *info->name) put_param(&t, &first, "Model", info->name);
    if (p->init_image) {
        fmt_float(v, sizeof v, p->strength);
        put_param(&t, &first, "Denoising strength", v);
    }
    if (p->clip_skip > 1) { /* A1111 writes it from 2 on: 1 is the last layer, its default */
        snprintf(v, sizeof v, "%d", p->clip_skip);
        put_param(&t, &first, "Clip skip", v);
    }
    if (p->rng == IRIS_RNG_CPU) put_param(&t, &first, "RNG", "CPU"); /* its "GPU" default is not written */
    /* A1111 notes an eta other than 1 for the k-diffusion samplers that take one */
    if ((p->sampler == IRIS_SAMPLER_EULER_A || p->sampler == IRIS_SAMPLER_DPMPP_2S_A) && p->eta != 1.0f) {
        fmt_float(v, sizeof v, p->eta);
        put_param(&t, &first, "Eta", v);
    }

    if (!t.ok) {
        free(t.s);
        iris_fail(IRIS_ERR_NOMEM, "parameters text: out of memory");
        return NULL;
    }
    /* strip() the whole text, as A1111 does: an empty prompt leaves no blank first line */
    size_t a = 0, b = t.len;
    while (a < b && py_space((unsigned char)t.s[a])) a++;
    while (b > a && py_space((unsigned char)t.s[b - 1])) b--;
    memmove(t.s, t.s + a, b - a);
    t.s[b - a] = 0;
    return t.s;
}

char *iris_sd_parameters_text(const iris_sd *sd, const iris_sd_params *p) {
    if (!p) {
        iris_fail(IRIS_ERR_ARG, "parameters text: no parameters");
        return NULL;
    }
    return iris_sd_infotext(sd ? iris_sd_get_info(sd) : NULL, p);
}
