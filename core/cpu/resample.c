/* resample.c - max/average pooling and nearest-neighbour upsampling, NCHW.

   Both are memory-bound and cheap next to the convolutions around them, so they are plain
   loops threaded over planes; inputs may be strided views.
*/
#include <math.h>

#include "cpu.h"

static inline int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }
static inline int64_t max64(int64_t a, int64_t b) { return a > b ? a : b; }

typedef struct {
    const iris_tensor *x;
    float *y;
    int64_t C, H, W, Ho, Wo;
    int avg, kh, kw, sh, sw, ph, pw, include_pad;
    int64_t xs[4]; /* x strides in floats */
} pool_job;

static void pool_planes(void *arg, int64_t begin, int64_t end, int tid) {
    pool_job *j = arg;
    (void)tid;
    for (int64_t pl = begin; pl < end; pl++) {
        int64_t n = pl / j->C, c = pl % j->C;
        const float *xp = (const float *)j->x->data + n * j->xs[0] + c * j->xs[1];
        float *yp = j->y + pl * j->Ho * j->Wo;
        for (int64_t ho = 0; ho < j->Ho; ho++) {
            int64_t h0 = ho * j->sh - j->ph, h1 = min64(h0 + j->kh, j->H);
            int64_t hs = max64(h0, 0);
            for (int64_t wo = 0; wo < j->Wo; wo++) {
                int64_t w0 = wo * j->sw - j->pw, w1 = min64(w0 + j->kw, j->W);
                int64_t ws = max64(w0, 0);
                float v;
                if (j->avg) {
                    float s = 0;
                    for (int64_t h = hs; h < h1; h++)
                        for (int64_t w = ws; w < w1; w++) s += xp[h * j->xs[2] + w * j->xs[3]];
                    /* without ceil mode a window never reaches past the padding, so the padded
                       window is always kh x kw */
                    int64_t cnt = j->include_pad ? (int64_t)j->kh * j->kw : (h1 - hs) * (w1 - ws);
                    v = cnt > 0 ? s / (float)cnt : 0.0f;
                } else {
                    v = -INFINITY;
                    for (int64_t h = hs; h < h1; h++)
                        for (int64_t w = ws; w < w1; w++) {
                            float e = xp[h * j->xs[2] + w * j->xs[3]];
                            if (e > v || isnan(e)) v = e; /* NaN propagates, as in PyTorch */
                        }
                }
                yp[ho * j->Wo + wo] = v;
            }
        }
    }
}

iris_status iris_cpu_pool2d(void *state, const iris_op_call *c) {
    iris_cpu *cpu = state;
    const iris_tensor *x = c->src[0];
    pool_job j = {.x = x, .y = c->dst->data, .C = x->ne[1], .H = x->ne[2], .W = x->ne[3], .Ho = c->dst->ne[2],
                  .Wo = c->dst->ne[3], .avg = c->ip[0], .kh = c->ip[1], .kw = c->ip[2], .sh = c->ip[3], .sw = c->ip[4],
                  .ph = c->ip[5], .pw = c->ip[6], .include_pad = c->ip[7]};
    for (int d = 0; d < 4; d++) j.xs[d] = x->nb[d] / 4;
    int64_t planes = x->ne[0] * j.C, per = j.Ho * j.Wo * (int64_t)j.kh * j.kw;
    iris_pool_for(cpu->pool, planes, per >= 4096 ? 1 : 4096 / (per + 1) + 1, pool_planes, &j);
    return IRIS_OK;
}

typedef struct {
    const iris_tensor *x;
    float *y;
    int64_t C, H, W, sh, sw;
    int64_t xs[4];
} up_job;

/* One item per input row: it becomes sh identical output rows, each input element sw times. */
static void up_rows(void *arg, int64_t begin, int64_t end, int tid) {
    up_job *j = arg;
    (void)tid;
    int64_t Wo = j->W * j->sw;
    for (int64_t r = begin; r < end; r++) {
        int64_t h = r % j->H, pl = r / j->H, n = pl / j->C, c = pl % j->C;
        const float *xr = (const float *)j->x->data + n * j->xs[0] + c * j->xs[1] + h * j->xs[2];
        float *y0 = j->y + (pl * j->H + h) * j->sh * Wo;
        for (int64_t w = 0; w < j->W; w++) {
            float v = xr[w * j->xs[3]];
            for (int64_t s = 0; s < j->sw; s++) y0[w * j->sw + s] = v;
        }
        for (int64_t s = 1; s < j->sh; s++)
            for (int64_t q = 0; q < Wo; q++) y0[s * Wo + q] = y0[q];
    }
}

iris_status iris_cpu_upsample(void *state, const iris_op_call *c) {
    iris_cpu *cpu = state;
    const iris_tensor *x = c->src[0];
    up_job j = {.x = x, .y = c->dst->data, .C = x->ne[1], .H = x->ne[2], .W = x->ne[3], .sh = c->ip[0], .sw = c->ip[1]};
    for (int d = 0; d < 4; d++) j.xs[d] = x->nb[d] / 4;
    int64_t rows = x->ne[0] * j.C * j.H, per = j.W * j.sw * j.sh;
    iris_pool_for(cpu->pool, rows, per >= 4096 ? 1 : 4096 / (per + 1) + 1, up_rows, &j);
    return IRIS_OK;
}
