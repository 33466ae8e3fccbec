/* yolo_random.c - random darknet .weights bytes for a YOLO cfg, equal to tests/ref/yolo_random.py's.

   Spec (keep in step with tests/ref/yolo_random.py):
     PRNG splitmix64, state = seed; each draw:
         state += 0x9E3779B97F4A7C15; z = state
         z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9
         z = (z ^ (z >> 27)) * 0x94D049BB133111EB
         z ^= z >> 31
         u = ((z >> 40) + 0.5) / 2^24 * 2 - 1        (double, in (-1, 1))
     Every value is computed in double and rounded once to float32.
     .weights = int32 major 0, minor 2, revision 5, uint64 seen 0, then for each
     [convolutional] in cfg order (n = filters, c = input channels, g = groups,
     k = size, fan_in = c/g*k*k), all draws from one stream seeded with `seed`:
         batch_normalize=1: biases[n] = 0.1u, scales[n] = 1 + 0.2u,
                            rolling_mean[n] = 0.1u, rolling_var[n] = 1 + 0.5u
         otherwise:         biases[n] = 0.1u
         then weights[n][c/g][k][k] = u * (gain * sqrt(A / fan_in)), where A = 6
         (He-uniform) unless activation=linear, then A = 3; gain = 0.2 for the last
         layer before a [shortcut] (not counting [dropout]), the end of a residual
         branch, else 1. (Missing activation = darknet's default, logistic.)
     Input: x = (u + 1) * 0.5 from a second stream seeded with seed + 1.
   Plain He-uniform made the residual nets blow up (yolov3's heads reached std 5e4);
   A and gain keep every layer of the target cfgs at std 0.05..2.5.

   Every product is rounded to double before it is added (see put_affine). */
#include "yolo_random.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../core/error.h"

#define MAX_ROUTE 16

static double next_u(uint64_t *state) {
    *state += 0x9E3779B97F4A7C15ull;
    uint64_t z = *state;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    return ((double)(z >> 40) + 0.5) / 16777216.0 * 2.0 - 1.0; /* every step exact */
}

void yolo_random_input(uint64_t seed, float *x, size_t n) {
    uint64_t s = seed + 1;
    for (size_t i = 0; i < n; i++) x[i] = (float)((next_u(&s) + 1.0) * 0.5);
}

/* One layer's output shape, and for a conv what its weights need. */
typedef struct {
    int c, h, w;
    int is_conv, n, in_c, groups, k, bn, linear, residual;
} layer_info;

static int get_int(iris_darknet_section *s, const char *key, int def, int *out) {
    return iris_darknet_int(s, key, def, out);
}

static int walk_conv(iris_darknet_section *s, const layer_info *in, layer_info *o) {
    int n, k, stride, pad, padding, groups, bn, st;
    if ((st = get_int(s, "filters", 1, &n)) || (st = get_int(s, "size", 1, &k)) ||
        (st = get_int(s, "stride", 1, &stride)) || (st = get_int(s, "pad", 0, &pad)) ||
        (st = get_int(s, "padding", 0, &padding)) || (st = get_int(s, "groups", 1, &groups)) ||
        (st = get_int(s, "batch_normalize", 0, &bn)))
        return st;
    if (n < 1 || k < 1 || stride < 1 || groups < 1 || padding < 0)
        return iris_fail(IRIS_ERR_FORMAT, "%s:%d: [%s] filters, size, stride and groups must be >= 1", s->file,
                         s->line, s->type);
    if (in->c % groups)
        return iris_fail(IRIS_ERR_SHAPE, "%s:%d: [%s] %d input channels do not split into groups=%d", s->file,
                         s->line, s->type, in->c, groups);
    if (iris_darknet_value(s, "share_index") || iris_darknet_value(s, "antialiasing"))
        return iris_fail(IRIS_ERR_UNSUPPORTED, "%s:%d: [%s] share_index/antialiasing are not handled", s->file,
                         s->line, s->type);
    if (pad) padding = k / 2;
    *o = (layer_info){.c = n,
                      .h = (in->h + 2 * padding - k) / stride + 1,
                      .w = (in->w + 2 * padding - k) / stride + 1,
                      .is_conv = 1, .n = n, .in_c = in->c, .groups = groups, .k = k, .bn = bn == 1,
                      .linear = !strcmp(iris_darknet_str(s, "activation", "logistic"), "linear")};
    return IRIS_OK;
}

static int walk_route(iris_darknet_section *s, const layer_info *L, int li, layer_info *o) {
    int idx[MAX_ROUTE], n_idx, groups, group_id, st;
    if ((st = iris_darknet_ints(s, "layers", idx, MAX_ROUTE, &n_idx)) || (st = get_int(s, "groups", 1, &groups)) ||
        (st = get_int(s, "group_id", 0, &group_id)))
        return st;
    if (!n_idx) return iris_fail(IRIS_ERR_FORMAT, "%s:%d: [route] has no layers=", s->file, s->line);
    if (groups < 1 || group_id < 0 || group_id >= groups)
        return iris_fail(IRIS_ERR_FORMAT, "%s:%d: [route] group_id=%d outside groups=%d", s->file, s->line, group_id,
                         groups);
    *o = (layer_info){0};
    int first = -1;
    for (int j = 0; j < n_idx; j++) {
        int r = idx[j] < 0 ? li + idx[j] : idx[j];
        if (r < 0 || r >= li)
            return iris_fail(IRIS_ERR_FORMAT, "%s:%d: [route] layer %d is not an earlier layer", s->file, s->line,
                             idx[j]);
        if (L[r].c % groups)
            return iris_fail(IRIS_ERR_SHAPE, "%s:%d: [route] layer %d's %d channels do not split into groups=%d",
                             s->file, s->line, r, L[r].c, groups);
        if (j && (L[r].h != o->h || L[r].w != o->w))
            return iris_fail(IRIS_ERR_SHAPE, "%s:%d: [route] layer %d is %dx%d, layer %d is %dx%d", s->file, s->line,
                             r, L[r].w, L[r].h, first, o->w, o->h);
        if (!j) first = r;
        o->h = L[r].h;
        o->w = L[r].w;
        o->c += L[r].c / groups;
    }
    return IRIS_OK;
}

/* Output shape of layer li (section li + 1) from the earlier ones. */
static int walk_layer(iris_darknet_section *s, layer_info *L, int li, const layer_info *input) {
    const layer_info *prev = li ? &L[li - 1] : input;
    layer_info *o = &L[li];
    const char *t = s->type;
    int st, k, stride, padding;
    if (!strcmp(t, "convolutional")) return walk_conv(s, prev, o);
    if (!strcmp(t, "route")) return walk_route(s, L, li, o);
    *o = (layer_info){.c = prev->c, .h = prev->h, .w = prev->w};
    if (!strcmp(t, "maxpool")) {
        if ((st = get_int(s, "stride", 1, &stride)) || (st = get_int(s, "size", stride, &k)) ||
            (st = get_int(s, "padding", k - 1, &padding)))
            return st;
        if (stride < 1 || k < 1 || padding < 0)
            return iris_fail(IRIS_ERR_FORMAT, "%s:%d: [maxpool] needs size, stride >= 1", s->file, s->line);
        o->h = (prev->h + padding - k) / stride + 1;
        o->w = (prev->w + padding - k) / stride + 1;
    } else if (!strcmp(t, "avgpool")) {
        o->h = o->w = 1;
    } else if (!strcmp(t, "upsample")) {
        if ((st = get_int(s, "stride", 2, &stride))) return st;
        if (stride < 1)
            return iris_fail(IRIS_ERR_UNSUPPORTED, "%s:%d: [upsample] stride=%d is not handled", s->file, s->line,
                             stride);
        o->h *= stride;
        o->w *= stride;
    } else if (!strcmp(t, "shortcut")) {
        int from[2], n_from;
        if ((st = iris_darknet_ints(s, "from", from, 2, &n_from))) return st;
        int r = n_from == 1 ? (from[0] < 0 ? li + from[0] : from[0]) : -1;
        if (n_from != 1 || r < 0 || r >= li)
            return iris_fail(IRIS_ERR_FORMAT, "%s:%d: [shortcut] needs one earlier layer in from=", s->file, s->line);
        if (strcmp(iris_darknet_str(s, "weights_type", "none"), "none"))
            return iris_fail(IRIS_ERR_UNSUPPORTED, "%s:%d: [shortcut] weights_type is not handled", s->file, s->line);
        int j = li - 1; /* the end of the residual branch */
        while (j > 0 && !strcmp(s[j - li].type, "dropout")) j--;
        if (L[j].is_conv) L[j].residual = 1;
    } else if (strcmp(t, "yolo") && strcmp(t, "dropout")) {
        return iris_fail(IRIS_ERR_UNSUPPORTED, "%s:%d: layer [%s] is not handled by the random-weights walker",
                         s->file, s->line, t);
    }
    return IRIS_OK;
}

static uint8_t *put_f32(uint8_t *p, double v) {
    float f = (float)v;
    uint32_t b;
    memcpy(&b, &f, 4);
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(b >> (8 * i));
    return p + 4;
}

static uint8_t *put_u32(uint8_t *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
    return p + 4;
}

/* n values b + a*u. The product goes through a volatile so that no compiler setting
   (gnu11's -ffp-contract=fast with -march=native) can fuse it into an FMA with one
   rounding fewer than numpy's. */
static uint8_t *put_affine(uint8_t *p, uint64_t *rng, size_t n, double a, double b) {
    for (size_t i = 0; i < n; i++) {
        volatile double prod = a * next_u(rng);
        p = put_f32(p, b + prod);
    }
    return p;
}

int yolo_random_weights_cfg(iris_darknet_cfg *cfg, uint64_t seed, uint8_t **buf, size_t *n) {
    *buf = NULL;
    *n = 0;
    if (cfg->n_sections < 2 || strcmp(cfg->sections[0].type, "net"))
        return iris_fail(IRIS_ERR_FORMAT, "%s: a cfg starts with [net] and has layers", cfg->path);
    iris_darknet_section *net = &cfg->sections[0];
    layer_info input = {0};
    int st;
    if ((st = get_int(net, "channels", 3, &input.c)) || (st = get_int(net, "height", 416, &input.h)) ||
        (st = get_int(net, "width", 416, &input.w)))
        return st;
    int n_layers = cfg->n_sections - 1;
    layer_info *L = calloc((size_t)n_layers, sizeof *L);
    if (!L) return iris_fail(IRIS_ERR_NOMEM, "%s: no memory for %d layers", cfg->path, n_layers);
    size_t floats = 0;
    for (int li = 0; li < n_layers; li++) {
        if ((st = walk_layer(&cfg->sections[li + 1], L, li, &input))) goto done;
        if (L[li].c < 1 || L[li].h < 1 || L[li].w < 1) {
            iris_darknet_section *s = &cfg->sections[li + 1];
            st = iris_fail(IRIS_ERR_SHAPE, "%s:%d: [%s] output %dx%dx%d is empty", s->file, s->line, s->type, L[li].c,
                           L[li].h, L[li].w);
            goto done;
        }
        if (L[li].is_conv) {
            size_t per = (size_t)(L[li].in_c / L[li].groups) * (size_t)L[li].k * (size_t)L[li].k;
            floats += (size_t)L[li].n * ((L[li].bn ? 4 : 1) + per);
        }
        if (floats > ((size_t)1 << 31)) {
            st = iris_fail(IRIS_ERR_UNSUPPORTED, "%s: more than 2^31 weights", cfg->path);
            goto done;
        }
    }
    uint8_t *p = *buf = malloc(20 + 4 * floats);
    if (!p) {
        st = iris_fail(IRIS_ERR_NOMEM, "%s: no memory for %zu weights", cfg->path, floats);
        goto done;
    }
    p = put_u32(put_u32(put_u32(p, 0), 2), 5);
    p = put_u32(put_u32(p, 0), 0); /* seen, 64 bits */
    uint64_t rng = seed;
    for (int li = 0; li < n_layers; li++) {
        const layer_info *c = &L[li];
        if (!c->is_conv) continue;
        size_t nn = (size_t)c->n, fan_in = (size_t)(c->in_c / c->groups) * (size_t)c->k * (size_t)c->k;
        p = put_affine(p, &rng, nn, 0.1, 0.0);
        if (c->bn) {
            p = put_affine(p, &rng, nn, 0.2, 1.0);
            p = put_affine(p, &rng, nn, 0.1, 0.0);
            p = put_affine(p, &rng, nn, 0.5, 1.0);
        }
        double scale = (c->residual ? 0.2 : 1.0) * sqrt((c->linear ? 3.0 : 6.0) / (double)fan_in);
        p = put_affine(p, &rng, nn * fan_in, scale, 0.0);
    }
    *n = (size_t)(p - *buf);
    st = IRIS_OK;
done:
    free(L);
    return st;
}

int yolo_random_weights(const char *cfg_path, uint64_t seed, uint8_t **buf, size_t *n) {
    *buf = NULL;
    *n = 0;
    iris_darknet_cfg cfg;
    int st = iris_darknet_cfg_open(&cfg, cfg_path);
    if (st) return st;
    st = yolo_random_weights_cfg(&cfg, seed, buf, n);
    iris_darknet_cfg_close(&cfg);
    return st;
}
