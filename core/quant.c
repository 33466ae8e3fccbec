/* quant.c - the GGUF block formats: decoding, the reference encoders, dot dispatch.

   Decoding defines the bit order of every block type (quant.h points here).
   The encoders reproduce the GGUF reference quantizers operation for
   operation, because files are compared block for block with what
   llama.cpp/gguf-py write: the same float expressions, evaluated in the same
   order, without fused multiply-adds. The dot-product kernels themselves
   live in cpu/quant_dot.c.
*/
#include "quant.h"

#include <float.h>
#include <math.h>
#include <string.h>

#include "cpu/cpu.h"
#include "cpu/quant_dot.h"

/* Bit-exact agreement with the reference needs every a*b+c rounded twice. */
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#endif

#define MAXI(a, b) ((a) > (b) ? (a) : (b))
#define MINI(a, b) ((a) < (b) ? (a) : (b))

static inline float h2f(iris_half h) { return iris_f16_to_f32(h); }
static inline iris_half f2h(float f) { return iris_f32_to_f16(f); }

/* ------------------------------------------------------------------ decoding */

static void dequant_q4_0(const iris_block_q4_0 *b, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, y += 32) {
        const float d = h2f(b[i].d);
        for (int j = 0; j < 16; j++) {
            y[j] = (float)((b[i].qs[j] & 15) - 8) * d;
            y[j + 16] = (float)((b[i].qs[j] >> 4) - 8) * d;
        }
    }
}

static void dequant_q4_1(const iris_block_q4_1 *b, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, y += 32) {
        const float d = h2f(b[i].d), m = h2f(b[i].m);
        for (int j = 0; j < 16; j++) {
            y[j] = (float)(b[i].qs[j] & 15) * d + m;
            y[j + 16] = (float)(b[i].qs[j] >> 4) * d + m;
        }
    }
}

static void dequant_q5_0(const iris_block_q5_0 *b, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, y += 32) {
        const float d = h2f(b[i].d);
        const uint32_t qh = iris_qdot_u32le(b[i].qh);
        for (int j = 0; j < 16; j++) {
            int lo = (b[i].qs[j] & 15) | (int)((qh >> j) & 1) << 4;
            int hi = (b[i].qs[j] >> 4) | (int)((qh >> (j + 16)) & 1) << 4;
            y[j] = (float)(lo - 16) * d;
            y[j + 16] = (float)(hi - 16) * d;
        }
    }
}

static void dequant_q5_1(const iris_block_q5_1 *b, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, y += 32) {
        const float d = h2f(b[i].d), m = h2f(b[i].m);
        const uint32_t qh = iris_qdot_u32le(b[i].qh);
        for (int j = 0; j < 16; j++) {
            int lo = (b[i].qs[j] & 15) | (int)((qh >> j) & 1) << 4;
            int hi = (b[i].qs[j] >> 4) | (int)((qh >> (j + 16)) & 1) << 4;
            y[j] = (float)lo * d + m;
            y[j + 16] = (float)hi * d + m;
        }
    }
}

static void dequant_q8_0(const iris_block_q8_0 *b, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, y += 32) {
        const float d = h2f(b[i].d);
        for (int j = 0; j < 32; j++) y[j] = (float)b[i].qs[j] * d;
    }
}

/* Q2_K: element 128h + 32s + l takes bits 2s..2s+1 of qs[32h + l]; 16 sub-blocks of 16. */
static void dequant_q2_k(const iris_block_q2_k *b, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, y += 256) {
        const float d = h2f(b[i].d), dmin = h2f(b[i].dmin);
        for (int e = 0; e < 256; e += 16) {
            const uint8_t sc = b[i].scales[e / 16];
            const float dl = d * (float)(sc & 15), ml = dmin * (float)(sc >> 4);
            const uint8_t *q = b[i].qs + 32 * (e / 128) + e % 32;
            const int shift = 2 * ((e / 32) % 4);
            for (int l = 0; l < 16; l++) y[e + l] = dl * (float)((q[l] >> shift) & 3) - ml;
        }
    }
}

/* Q3_K: low 2 bits as Q2_K; bit (k / 32) of hmask[k % 32] set means no -4 offset. */
static void dequant_q3_k(const iris_block_q3_k *b, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, y += 256) {
        const float d = h2f(b[i].d);
        for (int e = 0; e < 256; e += 16) {
            const float dl = d * (float)iris_qdot_q3_k_scale(b[i].scales, e / 16);
            const uint8_t *q = b[i].qs + 32 * (e / 128) + e % 32, *hm = b[i].hmask + e % 32;
            const int shift = 2 * ((e / 32) % 4), hbit = e / 32;
            for (int l = 0; l < 16; l++) {
                const int v = ((q[l] >> shift) & 3) - (((hm[l] >> hbit) & 1) ? 0 : 4);
                y[e + l] = dl * (float)v;
            }
        }
    }
}

/* One Q4_K super-block: element 64c + l (l < 32) is the low nibble of qs[32c + l], 64c + 32 + l
   the high one. Q5_K adds bit j of qh[l] (qh NULL for Q4_K) as the fifth bit of element 32j + l. */
static void dequant_k4_block(iris_half hd, iris_half hdmin, const uint8_t scales[12], const uint8_t *qs,
                             const uint8_t *qh, float *y) {
    const float d = h2f(hd), dmin = h2f(hdmin);
    for (int j = 0; j < 8; j++) {
        int sc, m;
        iris_qdot_k4_scale_min(scales, j, &sc, &m);
        const float d1 = d * (float)sc, m1 = dmin * (float)m;
        const uint8_t *q = qs + 32 * (j / 2);
        const int shift = 4 * (j & 1);
        for (int l = 0; l < 32; l++) {
            int v = ((q[l] >> shift) & 15) | (qh ? ((qh[l] >> j) & 1) << 4 : 0);
            y[32 * j + l] = d1 * (float)v - m1;
        }
    }
}

static void dequant_q4_k(const iris_block_q4_k *b, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, y += 256) dequant_k4_block(b[i].d, b[i].dmin, b[i].scales, b[i].qs, NULL, y);
}

static void dequant_q5_k(const iris_block_q5_k *b, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, y += 256) dequant_k4_block(b[i].d, b[i].dmin, b[i].scales, b[i].qs, b[i].qh, y);
}

/* Q6_K: in each half h of 128, element 64s + l (l < 64) is nibble s of ql[64h + l], with its
   top 2 bits from bits 2*(l/32 + 2s) of qh[32h + l % 32]; value q - 32, scale per 16. */
static void dequant_q6_k(const iris_block_q6_k *b, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, y += 256) {
        const float d = h2f(b[i].d);
        for (int h = 0; h < 2; h++) {
            const uint8_t *ql = b[i].ql + 64 * h, *qh = b[i].qh + 32 * h;
            const int8_t *sc = b[i].scales + 8 * h;
            float *o = y + 128 * h;
            for (int l = 0; l < 32; l++) {
                const int s = l / 16;
                o[l] = d * (float)sc[s] * (float)(((ql[l] & 15) | (qh[l] & 3) << 4) - 32);
                o[l + 32] = d * (float)sc[s + 2] * (float)(((ql[l + 32] & 15) | ((qh[l] >> 2) & 3) << 4) - 32);
                o[l + 64] = d * (float)sc[s + 4] * (float)(((ql[l] >> 4) | ((qh[l] >> 4) & 3) << 4) - 32);
                o[l + 96] = d * (float)sc[s + 6] * (float)(((ql[l + 32] >> 4) | ((qh[l] >> 6) & 3) << 4) - 32);
            }
        }
    }
}

static void dequant_q8_k(const iris_block_q8_k *b, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, y += 256)
        for (int j = 0; j < 256; j++) y[j] = b[i].d * (float)b[i].qs[j];
}

void iris_dequantize_row(iris_dtype t, const void *src, float *dst, int64_t n) {
    const iris_dtype_info *info = iris_dtype_get(t);
    if (n <= 0) return;
    if (!info) {
        memset(dst, 0, (size_t)n * sizeof *dst);
        return;
    }
    const int64_t nb = n / info->block_size, done = nb * info->block_size;
    switch (t) {
    case IRIS_F32: memcpy(dst, src, (size_t)n * 4); break;
    case IRIS_F16: {
        const uint16_t *s = src;
        for (int64_t i = 0; i < n; i++) dst[i] = iris_f16_to_f32(s[i]);
        break;
    }
    case IRIS_BF16: {
        const uint16_t *s = src;
        for (int64_t i = 0; i < n; i++) dst[i] = iris_bf16_to_f32(s[i]);
        break;
    }
    case IRIS_I32: {
        const int32_t *s = src;
        for (int64_t i = 0; i < n; i++) dst[i] = (float)s[i];
        break;
    }
    case IRIS_Q4_0: dequant_q4_0(src, dst, nb); break;
    case IRIS_Q4_1: dequant_q4_1(src, dst, nb); break;
    case IRIS_Q5_0: dequant_q5_0(src, dst, nb); break;
    case IRIS_Q5_1: dequant_q5_1(src, dst, nb); break;
    case IRIS_Q8_0: dequant_q8_0(src, dst, nb); break;
    case IRIS_Q2_K: dequant_q2_k(src, dst, nb); break;
    case IRIS_Q3_K: dequant_q3_k(src, dst, nb); break;
    case IRIS_Q4_K: dequant_q4_k(src, dst, nb); break;
    case IRIS_Q5_K: dequant_q5_k(src, dst, nb); break;
    case IRIS_Q6_K: dequant_q6_k(src, dst, nb); break;
    case IRIS_Q8_K: dequant_q8_k(src, dst, nb); break;
    default: memset(dst, 0, (size_t)n * sizeof *dst); return;
    }
    /* a ragged tail (n not a whole number of blocks) is a caller bug: zeros, never a read past src */
    if (done < n) memset(dst + done, 0, (size_t)(n - done) * sizeof *dst);
}

/* ------------------------------------------------------------ rounding helpers */

/* C's (int)v for the small ranges the legacy encoders produce; out-of-range and NaN give 0. */
static inline int trunc_int(float v) { return v > -32768.f && v < 32768.f ? (int)v : 0; }

/* --------------------------------------------------- legacy 32-element encoders */

/* The value of largest magnitude, the first one on ties. */
static inline float signed_absmax(const float *x, int n) {
    float amax = 0, max = 0;
    for (int j = 0; j < n; j++)
        if (amax < fabsf(x[j])) {
            amax = fabsf(x[j]);
            max = x[j];
        }
    return max;
}

static void quant_q4_0(const float *x, iris_block_q4_0 *b, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, x += 32) {
        const float d = signed_absmax(x, 32) / -8;
        const float id = d != 0 ? 1.0f / d : 0.0f;
        b[i].d = f2h(d);
        for (int j = 0; j < 16; j++) {
            int lo = MINI(15, trunc_int(x[j] * id + 8.5f));
            int hi = MINI(15, trunc_int(x[j + 16] * id + 8.5f));
            b[i].qs[j] = (uint8_t)(lo | hi << 4);
        }
    }
}

static void minmax(const float *x, int n, float *mn, float *mx) {
    float lo = FLT_MAX, hi = -FLT_MAX;
    for (int j = 0; j < n; j++) {
        if (x[j] < lo) lo = x[j];
        if (x[j] > hi) hi = x[j];
    }
    *mn = lo, *mx = hi;
}

static void quant_q4_1(const float *x, iris_block_q4_1 *b, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, x += 32) {
        float mn, mx;
        minmax(x, 32, &mn, &mx);
        const float d = (mx - mn) / 15;
        const float id = d != 0 ? 1.0f / d : 0.0f;
        b[i].d = f2h(d);
        b[i].m = f2h(mn);
        for (int j = 0; j < 16; j++) {
            int lo = MINI(15, trunc_int((x[j] - mn) * id + 0.5f));
            int hi = MINI(15, trunc_int((x[j + 16] - mn) * id + 0.5f));
            b[i].qs[j] = (uint8_t)(lo | hi << 4);
        }
    }
}

static void store_u32le(uint8_t *p, uint32_t v) {
    for (int k = 0; k < 4; k++) p[k] = (uint8_t)(v >> 8 * k);
}

static void quant_q5_0(const float *x, iris_block_q5_0 *b, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, x += 32) {
        const float d = signed_absmax(x, 32) / -16;
        const float id = d != 0 ? 1.0f / d : 0.0f;
        b[i].d = f2h(d);
        uint32_t qh = 0;
        for (int j = 0; j < 16; j++) {
            int lo = MINI(31, trunc_int(x[j] * id + 16.5f));
            int hi = MINI(31, trunc_int(x[j + 16] * id + 16.5f));
            b[i].qs[j] = (uint8_t)((lo & 15) | (hi & 15) << 4);
            qh |= (uint32_t)(lo >> 4 & 1) << j | (uint32_t)(hi >> 4 & 1) << (j + 16);
        }
        store_u32le(b[i].qh, qh);
    }
}

static void quant_q5_1(const float *x, iris_block_q5_1 *b, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, x += 32) {
        float mn, mx;
        minmax(x, 32, &mn, &mx);
        const float d = (mx - mn) / 31;
        const float id = d != 0 ? 1.0f / d : 0.0f;
        b[i].d = f2h(d);
        b[i].m = f2h(mn);
        uint32_t qh = 0;
        for (int j = 0; j < 16; j++) {
            int lo = MINI(31, trunc_int((x[j] - mn) * id + 0.5f));
            int hi = MINI(31, trunc_int((x[j + 16] - mn) * id + 0.5f));
            b[i].qs[j] = (uint8_t)((lo & 15) | (hi & 15) << 4);
            qh |= (uint32_t)(lo >> 4 & 1) << j | (uint32_t)(hi >> 4 & 1) << (j + 16);
        }
        store_u32le(b[i].qh, qh);
    }
}

static void quant_q8_0(const float *x, iris_block_q8_0 *b, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, x += 32) {
        float amax = 0;
        for (int j = 0; j < 32; j++) amax = MAXI(amax, fabsf(x[j]));
        const float d = amax / 127;
        const float id = d != 0 ? 1.0f / d : 0.0f;
        b[i].d = f2h(d);
        for (int j = 0; j < 32; j++) {
            float v = roundf(x[j] * id); /* ties away from zero, as the reference */
            b[i].qs[j] = (int8_t)(v >= -128 && v <= 127 ? v : 0);
        }
    }
}

/* -------------------------------------------------------------- K-quant encoders

   The super-block encoders first fit each sub-block on its own (scale and,
   for the asymmetric types, a min), then quantize those scales to 4, 6 or
   8 bits against one f16 super-scale, and finally requantize every element
   against its reconstructed sub-block scale. */

/* Symmetric fit: L[i] in [0, 2*nmax), x ~ scale * (L - nmax). rmse_type 1 weights the error by x^2
   and tries 18 scales around nmax/max; 0 takes nmax/max as is. */
static float fit_symmetric(int n, int nmax, const float *x, int8_t *L, int rmse_type) {
    float max = 0, amax = 0;
    for (int i = 0; i < n; i++) {
        float ax = fabsf(x[i]);
        if (ax > amax) amax = ax, max = x[i];
    }
    if (amax < 1e-15f) {
        memset(L, 0, (size_t)n);
        return 0.f;
    }
    float iscale = -nmax / max;
    if (rmse_type == 0) {
        for (int i = 0; i < n; i++)
            L[i] = (int8_t)(nmax + MAXI(-nmax, MINI(nmax - 1, iris_qdot_nearest_int(iscale * x[i]))));
        return 1 / iscale;
    }
    float sumlx = 0, suml2 = 0;
    for (int i = 0; i < n; i++) {
        int l = MAXI(-nmax, MINI(nmax - 1, iris_qdot_nearest_int(iscale * x[i])));
        L[i] = (int8_t)(l + nmax);
        float w = x[i] * x[i];
        sumlx += w * x[i] * l;
        suml2 += w * l * l;
    }
    float scale = suml2 != 0 ? sumlx / suml2 : 0.0f;
    float best = scale * sumlx;
    for (int is = -9; is <= 9; is++) {
        if (is == 0) continue;
        iscale = -(nmax + 0.1f * is) / max;
        sumlx = suml2 = 0;
        for (int i = 0; i < n; i++) {
            int l = MAXI(-nmax, MINI(nmax - 1, iris_qdot_nearest_int(iscale * x[i])));
            float w = x[i] * x[i];
            sumlx += w * x[i] * l;
            suml2 += w * l * l;
        }
        if (suml2 > 0 && sumlx * sumlx > best * suml2) {
            for (int i = 0; i < n; i++)
                L[i] = (int8_t)(nmax + MAXI(-nmax, MINI(nmax - 1, iris_qdot_nearest_int(iscale * x[i]))));
            scale = sumlx / suml2;
            best = scale * sumlx;
        }
    }
    return scale;
}

/* Q3_K's symmetric fit: start at nmax/max, then up to 5 passes of moving single elements to the
   level that most improves the x^2-weighted least-squares fit. L[i] in [0, 2*nmax). */
static float fit_symmetric_q3(int n, int nmax, const float *x, int8_t *L) {
    float max = 0, amax = 0;
    for (int i = 0; i < n; i++) {
        float ax = fabsf(x[i]);
        if (ax > amax) amax = ax, max = x[i];
    }
    if (amax < 1e-15f) {
        memset(L, 0, (size_t)n);
        return 0.f;
    }
    const float iscale = -nmax / max;
    float sumlx = 0, suml2 = 0;
    for (int i = 0; i < n; i++) {
        int l = MAXI(-nmax, MINI(nmax - 1, iris_qdot_nearest_int(iscale * x[i])));
        L[i] = (int8_t)l;
        float w = x[i] * x[i];
        sumlx += w * x[i] * l;
        suml2 += w * l * l;
    }
    for (int pass = 0; pass < 5; pass++) {
        int changed = 0;
        for (int i = 0; i < n; i++) {
            float w = x[i] * x[i];
            float slx = sumlx - w * x[i] * L[i];
            if (slx > 0) {
                float sl2 = suml2 - w * L[i] * L[i];
                int nl = MAXI(-nmax, MINI(nmax - 1, iris_qdot_nearest_int(x[i] * sl2 / slx)));
                if (nl != L[i]) {
                    slx += w * x[i] * nl;
                    sl2 += w * nl * nl;
                    if (sl2 > 0 && slx * slx * suml2 > sumlx * sumlx * sl2) {
                        L[i] = (int8_t)nl;
                        sumlx = slx;
                        suml2 = sl2;
                        changed++;
                    }
                }
            }
        }
        if (!changed) break;
    }
    for (int i = 0; i < n; i++) L[i] = (int8_t)(L[i] + nmax);
    return suml2 > 0.0f ? sumlx / suml2 : 0.0f;
}

/* Asymmetric fit x ~ scale * L - min with L in [0, nmax] and min >= 0, minimizing the weighted
   error (absolute if use_mad, else squared) over nstep+1 trial scales. Returns scale; *neg_min
   receives the min (a positive offset that is subtracted). */
static float fit_affine(int n, int nmax, const float *x, const float *w, uint8_t *L, float *neg_min, float rmin,
                        float rdelta, int nstep, int use_mad) {
    uint8_t Laux[32];
    float min = x[0], max = x[0];
    float sum_w = w[0], sum_x = sum_w * x[0];
    for (int i = 1; i < n; i++) {
        if (x[i] < min) min = x[i];
        if (x[i] > max) max = x[i];
        sum_w += w[i];
        sum_x += w[i] * x[i];
    }
    if (min > 0) min = 0;
    if (max == min) {
        memset(L, 0, (size_t)n);
        *neg_min = -min;
        return 0.f;
    }
    float iscale = nmax / (max - min);
    float scale = 1 / iscale;
    float best_error = 0;
    for (int i = 0; i < n; i++) {
        int l = iris_qdot_nearest_int(iscale * (x[i] - min));
        L[i] = (uint8_t)MAXI(0, MINI(nmax, l));
        float diff = scale * L[i] + min - x[i];
        diff = use_mad ? fabsf(diff) : diff * diff;
        best_error += w[i] * diff;
    }
    for (int is = 0; is <= nstep; is++) {
        iscale = (rmin + rdelta * is + nmax) / (max - min);
        float sum_l = 0, sum_l2 = 0, sum_xl = 0;
        for (int i = 0; i < n; i++) {
            int l = MAXI(0, MINI(nmax, iris_qdot_nearest_int(iscale * (x[i] - min))));
            Laux[i] = (uint8_t)l;
            sum_l += w[i] * l;
            sum_l2 += w[i] * l * l;
            sum_xl += w[i] * l * x[i];
        }
        float D = sum_w * sum_l2 - sum_l * sum_l;
        if (D > 0) {
            float this_scale = (sum_w * sum_xl - sum_x * sum_l) / D;
            float this_min = (sum_l2 * sum_x - sum_l * sum_xl) / D;
            if (this_min > 0) {
                this_min = 0;
                this_scale = sum_xl / sum_l2;
            }
            float err = 0;
            for (int i = 0; i < n; i++) {
                float diff = this_scale * Laux[i] + this_min - x[i];
                diff = use_mad ? fabsf(diff) : diff * diff;
                err += w[i] * diff;
            }
            if (err < best_error) {
                memcpy(L, Laux, (size_t)n);
                best_error = err;
                scale = this_scale;
                min = this_min;
            }
        }
    }
    *neg_min = -min;
    return scale;
}

/* Packs 2-bit levels of 256 elements the Q2_K/Q3_K way (see dequant_q2_k). */
static void pack_2bit(const uint8_t *L, uint8_t *qs) {
    for (int h = 0; h < 2; h++)
        for (int l = 0; l < 32; l++) {
            const uint8_t *p = L + 128 * h + l;
            qs[32 * h + l] = (uint8_t)(p[0] | p[32] << 2 | p[64] << 4 | p[96] << 6);
        }
}

static void quant_q2_k(const float *x, iris_block_q2_k *b, int64_t nb) {
    uint8_t L[256];
    float w[16], mins[16], scales[16];
    for (int64_t i = 0; i < nb; i++, x += 256) {
        float max_scale = 0, max_min = 0;
        for (int j = 0; j < 16; j++) {
            for (int l = 0; l < 16; l++) w[l] = fabsf(x[16 * j + l]);
            scales[j] = fit_affine(16, 3, x + 16 * j, w, L + 16 * j, &mins[j], -0.5f, 0.1f, 15, 1);
            if (scales[j] > max_scale) max_scale = scales[j];
            if (mins[j] > max_min) max_min = mins[j];
        }
        if (max_scale > 0) {
            const float iscale = 15.f / max_scale;
            for (int j = 0; j < 16; j++) b[i].scales[j] = (uint8_t)iris_qdot_nearest_int(iscale * scales[j]);
            b[i].d = f2h(max_scale / 15.f);
        } else {
            memset(b[i].scales, 0, 16);
            b[i].d = f2h(0.f);
        }
        if (max_min > 0) {
            const float iscale = 15.f / max_min;
            for (int j = 0; j < 16; j++) b[i].scales[j] |= (uint8_t)(iris_qdot_nearest_int(iscale * mins[j]) << 4);
            b[i].dmin = f2h(max_min / 15.f);
        } else {
            b[i].dmin = f2h(0.f);
        }
        for (int j = 0; j < 16; j++) {
            const float d = h2f(b[i].d) * (float)(b[i].scales[j] & 15);
            if (d == 0) continue;
            const float dm = h2f(b[i].dmin) * (float)(b[i].scales[j] >> 4);
            for (int l = 0; l < 16; l++)
                L[16 * j + l] = (uint8_t)MAXI(0, MINI(3, iris_qdot_nearest_int((x[16 * j + l] + dm) / d)));
        }
        pack_2bit(L, b[i].qs);
    }
}

static void quant_q3_k(const float *x, iris_block_q3_k *b, int64_t nb) {
    int8_t L[256];
    float scales[16];
    for (int64_t i = 0; i < nb; i++, x += 256) {
        float max_scale = 0, amax = 0;
        for (int j = 0; j < 16; j++) {
            scales[j] = fit_symmetric_q3(16, 4, x + 16 * j, L + 16 * j);
            if (fabsf(scales[j]) > amax) amax = fabsf(scales[j]), max_scale = scales[j];
        }
        memset(b[i].scales, 0, 12);
        if (max_scale != 0) {
            const float iscale = -32.f / max_scale;
            for (int j = 0; j < 16; j++) {
                int l = (int8_t)iris_qdot_nearest_int(iscale * scales[j]); /* the reference keeps it in an int8 */
                l = MAXI(-32, MINI(31, l)) + 32;
                if (j < 8) b[i].scales[j] = (uint8_t)(l & 15);
                else b[i].scales[j - 8] |= (uint8_t)((l & 15) << 4);
                b[i].scales[8 + j % 4] |= (uint8_t)((l >> 4) << (2 * (j / 4)));
            }
            b[i].d = f2h(1 / iscale);
        } else {
            b[i].d = f2h(0.f);
        }
        for (int j = 0; j < 16; j++) {
            const float d = h2f(b[i].d) * (float)iris_qdot_q3_k_scale(b[i].scales, j);
            if (d == 0) continue;
            for (int l = 0; l < 16; l++)
                L[16 * j + l] = (int8_t)(MAXI(-4, MINI(3, iris_qdot_nearest_int(x[16 * j + l] / d))) + 4);
        }
        memset(b[i].hmask, 0, 32);
        for (int k = 0; k < 256; k++)
            if (L[k] > 3) {
                b[i].hmask[k % 32] |= (uint8_t)(1 << (k / 32));
                L[k] -= 4;
            }
        pack_2bit((const uint8_t *)L, b[i].qs);
    }
}

/* Shared by Q4_K and Q5_K: per 32-element sub-block affine fits, 6-bit scales and mins. */
static void fit_k4_scales(const float *x, int nmax, float rmin, int nstep, uint8_t *L, uint8_t scales12[12],
                          iris_half *d, iris_half *dmin) {
    float w[32], mins[8], scales[8];
    float max_scale = 0, max_min = 0;
    for (int j = 0; j < 8; j++) {
        const float *xs = x + 32 * j;
        float sum_x2 = 0;
        for (int l = 0; l < 32; l++) sum_x2 += xs[l] * xs[l];
        const float av_x = sqrtf(sum_x2 / 32);
        for (int l = 0; l < 32; l++) w[l] = av_x + fabsf(xs[l]);
        scales[j] = fit_affine(32, nmax, xs, w, L + 32 * j, &mins[j], rmin, 0.1f, nstep, 0);
        if (scales[j] > max_scale) max_scale = scales[j];
        if (mins[j] > max_min) max_min = mins[j];
    }
    const float inv_scale = max_scale > 0 ? 63.f / max_scale : 0.f;
    const float inv_min = max_min > 0 ? 63.f / max_min : 0.f;
    for (int j = 0; j < 8; j++) {
        uint8_t ls = (uint8_t)iris_qdot_nearest_int(inv_scale * scales[j]);
        uint8_t lm = (uint8_t)iris_qdot_nearest_int(inv_min * mins[j]);
        ls = MINI(63, ls);
        lm = MINI(63, lm);
        if (j < 4) {
            scales12[j] = ls;
            scales12[j + 4] = lm;
        } else {
            scales12[j + 4] = (uint8_t)((ls & 15) | (lm & 15) << 4);
            scales12[j - 4] |= (uint8_t)((ls >> 4) << 6);
            scales12[j] |= (uint8_t)((lm >> 4) << 6);
        }
    }
    *d = f2h(max_scale / 63.f);
    *dmin = f2h(max_min / 63.f);
    for (int j = 0; j < 8; j++) {
        int sc, m;
        iris_qdot_k4_scale_min(scales12, j, &sc, &m);
        const float dd = h2f(*d) * (float)sc;
        if (dd == 0) continue;
        const float dm = h2f(*dmin) * (float)m;
        for (int l = 0; l < 32; l++)
            L[32 * j + l] = (uint8_t)MAXI(0, MINI(nmax, iris_qdot_nearest_int((x[32 * j + l] + dm) / dd)));
    }
}

static void quant_q4_k(const float *x, iris_block_q4_k *b, int64_t nb) {
    uint8_t L[256];
    for (int64_t i = 0; i < nb; i++, x += 256) {
        fit_k4_scales(x, 15, -1.f, 20, L, b[i].scales, &b[i].d, &b[i].dmin);
        for (int c = 0; c < 4; c++)
            for (int l = 0; l < 32; l++) b[i].qs[32 * c + l] = (uint8_t)(L[64 * c + l] | L[64 * c + 32 + l] << 4);
    }
}

static void quant_q5_k(const float *x, iris_block_q5_k *b, int64_t nb) {
    uint8_t L[256];
    for (int64_t i = 0; i < nb; i++, x += 256) {
        fit_k4_scales(x, 31, -0.5f, 15, L, b[i].scales, &b[i].d, &b[i].dmin);
        memset(b[i].qh, 0, 32);
        for (int k = 0; k < 256; k++)
            if (L[k] > 15) b[i].qh[k % 32] |= (uint8_t)(1 << (k / 32));
        for (int c = 0; c < 4; c++)
            for (int l = 0; l < 32; l++)
                b[i].qs[32 * c + l] = (uint8_t)((L[64 * c + l] & 15) | (L[64 * c + 32 + l] & 15) << 4);
    }
}

static void quant_q6_k(const float *x, iris_block_q6_k *b, int64_t nb) {
    int8_t L[256];
    float scales[16];
    for (int64_t i = 0; i < nb; i++, x += 256) {
        float max_scale = 0, max_abs = 0;
        for (int j = 0; j < 16; j++) {
            scales[j] = fit_symmetric(16, 32, x + 16 * j, L + 16 * j, 1);
            if (fabsf(scales[j]) > max_abs) max_abs = fabsf(scales[j]), max_scale = scales[j];
        }
        if (max_abs < 1e-15f) {
            memset(&b[i], 0, sizeof b[i]);
            continue;
        }
        const float iscale = -128.f / max_scale;
        b[i].d = f2h(1 / iscale);
        for (int j = 0; j < 16; j++) b[i].scales[j] = (int8_t)MINI(127, iris_qdot_nearest_int(iscale * scales[j]));
        for (int j = 0; j < 16; j++) {
            const float d = h2f(b[i].d) * (float)b[i].scales[j];
            if (d == 0) continue;
            for (int l = 0; l < 16; l++)
                L[16 * j + l] = (int8_t)(MAXI(-32, MINI(31, iris_qdot_nearest_int(x[16 * j + l] / d))) + 32);
        }
        for (int h = 0; h < 2; h++)
            for (int l = 0; l < 32; l++) {
                const int8_t *p = L + 128 * h + l;
                b[i].ql[64 * h + l] = (uint8_t)((p[0] & 15) | (p[64] & 15) << 4);
                b[i].ql[64 * h + 32 + l] = (uint8_t)((p[32] & 15) | (p[96] & 15) << 4);
                b[i].qh[32 * h + l] = (uint8_t)(p[0] >> 4 | (p[32] >> 4) << 2 | (p[64] >> 4) << 4 | (p[96] >> 4) << 6);
            }
    }
}

static void quant_q8_k(const float *x, iris_block_q8_k *b, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, x += 256) {
        float max = 0, amax = 0;
        for (int j = 0; j < 256; j++)
            if (fabsf(x[j]) > amax) amax = fabsf(x[j]), max = x[j];
        memset(&b[i], 0, sizeof b[i]);
        if (amax == 0) continue;
        const float iscale = -127.f / max;
        for (int j = 0; j < 256; j++) b[i].qs[j] = (int8_t)MINI(127, iris_qdot_nearest_int(iscale * x[j]));
        for (int g = 0; g < 16; g++) {
            int s = 0;
            for (int l = 0; l < 16; l++) s += b[i].qs[16 * g + l];
            b[i].bsums[g] = (int16_t)s;
        }
        b[i].d = 1 / iscale;
    }
}

iris_status iris_quantize_row(iris_dtype t, const float *src, void *dst, int64_t n) {
    const iris_dtype_info *info = iris_dtype_get(t);
    if (!info) return iris_fail(IRIS_ERR_ARG, "quantize: unknown dtype %d", (int)t);
    if (n < 0 || n % info->block_size)
        return iris_fail(IRIS_ERR_SHAPE, "quantize to %s: %lld elements is not a whole number of %d-element blocks",
                         info->name, (long long)n, info->block_size);
    const int64_t nb = n / info->block_size;
    switch (t) {
    case IRIS_F32: memmove(dst, src, (size_t)n * 4); break;
    case IRIS_F16: {
        uint16_t *d = dst;
        for (int64_t i = 0; i < n; i++) d[i] = iris_f32_to_f16(src[i]);
        break;
    }
    case IRIS_BF16: {
        uint16_t *d = dst;
        for (int64_t i = 0; i < n; i++) d[i] = iris_f32_to_bf16(src[i]);
        break;
    }
    case IRIS_Q4_0: quant_q4_0(src, dst, nb); break;
    case IRIS_Q4_1: quant_q4_1(src, dst, nb); break;
    case IRIS_Q5_0: quant_q5_0(src, dst, nb); break;
    case IRIS_Q5_1: quant_q5_1(src, dst, nb); break;
    case IRIS_Q8_0: quant_q8_0(src, dst, nb); break;
    case IRIS_Q2_K: quant_q2_k(src, dst, nb); break;
    case IRIS_Q3_K: quant_q3_k(src, dst, nb); break;
    case IRIS_Q4_K: quant_q4_k(src, dst, nb); break;
    case IRIS_Q5_K: quant_q5_k(src, dst, nb); break;
    case IRIS_Q6_K: quant_q6_k(src, dst, nb); break;
    case IRIS_Q8_K: quant_q8_k(src, dst, nb); break;
    default: return iris_fail(IRIS_ERR_UNSUPPORTED, "quantize: no encoder for %s", info->name);
    }
    return IRIS_OK;
}

/* ------------------------------------------------------------- dot products */

iris_dtype iris_vec_dot_type(iris_dtype w) {
    switch (w) {
    case IRIS_Q4_0:
    case IRIS_Q4_1:
    case IRIS_Q5_0:
    case IRIS_Q5_1:
    case IRIS_Q8_0: return IRIS_Q8_0;
    case IRIS_Q2_K:
    case IRIS_Q3_K:
    case IRIS_Q4_K:
    case IRIS_Q5_K:
    case IRIS_Q6_K:
    case IRIS_Q8_K: return IRIS_Q8_K;
    case IRIS_F16: return IRIS_F16;
    default: return IRIS_F32;
    }
}

iris_status iris_quantize_row_dot(iris_dtype t, const float *src, void *dst, int64_t n) {
    if (t == IRIS_Q8_0) {
        if (n < 0 || n % IRIS_QK)
            return iris_fail(IRIS_ERR_SHAPE, "quantize to q8_0: %lld elements is not a whole number of 32-element blocks",
                             (long long)n);
        iris_qdot_quantize_q8_0(src, dst, n, iris_cpu_simd());
        return IRIS_OK;
    }
    if (t == IRIS_Q8_K && n >= 0 && n % IRIS_QK_K == 0 && iris_qdot_quantize_q8_k(src, dst, n, iris_cpu_simd()))
        return IRIS_OK;
    return iris_quantize_row(t, src, dst, n);
}

float iris_vec_dot(iris_dtype wt, int64_t n, const void *w, const void *x) {
    iris_qdot_fn fn = iris_qdot_kernel(wt, iris_cpu_simd());
    const iris_dtype_info *info = iris_dtype_get(wt);
    if (!fn || n <= 0 || n % info->block_size) return 0.0f;
    return fn(n, w, x);
}

void iris_vec_dot_rows(iris_dtype wt, int64_t n, int64_t nrows, const void *w, size_t w_stride, const void *x,
                       float *out) {
    iris_qdot_fn fn = iris_qdot_kernel(wt, iris_cpu_simd());
    const iris_dtype_info *info = iris_dtype_get(wt);
    if (!fn || n <= 0 || n % info->block_size) {
        for (int64_t r = 0; r < nrows; r++) out[r] = 0.0f;
        return;
    }
    const char *row = w;
    for (int64_t r = 0; r < nrows; r++, row += w_stride) out[r] = fn(n, row, x);
}
