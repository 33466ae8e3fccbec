/* eltwise_simd.h - activation and binary-op loops written once against a small vector
   vocabulary; core/cpu/eltwise.c includes this file once per SIMD width (AVX2, AVX-512)
   after defining:
     VF, VM      vector of floats, comparison mask;   W  lanes;   TGT  target attribute
     SFX(name)   name with the width's suffix
     V_LD V_ST V_SET V_ADD V_SUB V_MUL V_DIV V_SQRT V_FMA(a,b,c)=a*b+c V_FNMA(a,b,c)=c-a*b
     V_ABS V_SIGNBIT (x & -0.f) V_MIN V_MAX (these two return the 2nd operand when either
                 is NaN, as the x86 instructions do: the clamps below rely on it to keep NaN)
     V_ROUND (to nearest even) V_XOR V_GT V_GE V_SEL(m,if_true,if_false)
     V_POW2(n)   2^n for integral n in [-126, 127]
     V_EXP       exp: vecmath.h's iris_vm_exp8 / iris_vm_exp16, the one vector exp
   It #undefs them all at its end. Not a header to include anywhere else.

   How each function is computed, and its worst error against double-precision libm found
   in a sweep of 4M points per function over its useful range (AVX2 and AVX-512 agree).
   tests/test_ops_eltwise.c (eltwise_act_ulp_vs_libm) sweeps 150K points per function on
   every path, prints the maxima and asserts bounds about 1 ulp above these:
     exp     (vecmath.h) x = n ln2 + r, |r| <= ln2/2 (Cody-Waite with a 2-part ln2; the first
             FMA is exact), exp(r) by its Taylor series to r^7 (truncation < 2^-27), then 2^n
             applied in two halves so subnormal results round once.         0.9 ulp
     expm1   same reduction; expm1(r) = r + r^2 P(r) keeps full relative accuracy near 0, then
             2^n expm1(r) + (2^n - 1) in one FMA.
     tanh    |tanh x| = -m / (2 + m), m = expm1(-2|x|): no cancellation at small |x|, no
             overflow at large |x|.                                         2.5 ulp
     sigmoid e = exp(-|x|): 1/(1+e) for x >= 0, e/(1+e) below, so the negative tail keeps its
             relative accuracy down to the subnormal range.                 2.3 ulp
     silu    x sigmoid(x).                                                  3.3 ulp
     gelu    Phi(-|x|) = 0.5 exp(-x^2/2) erfcx(|x|/sqrt2), x^2 split exactly with an FMA so the
             exponent carries no rounding error; erfcx(z) (1 + sqrt(pi) z) is a degree-9
             polynomial in t = (z-2)/(z+2) (fitted by weighted least squares at Chebyshev nodes
             against mpmath, relative error 1.6e-8 on z in [0, 10.5]); gelu = x Phi(-|x|) for
             x < 0 and x - x Phi(-|x|) above: accurate in both tails.       4.9 ulp
     mish    e = exp(x), tanh(softplus x) = e(e+2) / (e(e+2) + 2), x clamped to 20 for e.
                                                                            4.2 ulp
     quick_gelu = x sigmoid(z), z = 1.702 x;  gelu_tanh = x sigmoid(z), z = 2u, since
             0.5 (1 + tanh u) = sigmoid(2u): same values without the cancellation of
             1 + tanh u for x << 0. Rounding z to float costs up to ~2.2|z| ulp in the negative
             tail, where the result is ~x e^z: quick_gelu(-19) = -2e-13 is off by 39 ulp
             (2.4e-6 relative), gelu_tanh(-10) = -1e-36 by 190 ulp (1.3e-5). PyTorch's float32
             formulas round z the same way.                   4 ulp + 2.2|z| ulp
     sqrt, relu, leaky, scale: correctly rounded.
*/

/* expm1(y) for y <= 0 (the only range tanh needs). */
static TGT inline VF SFX(vexpm1_neg)(VF y) {
    y = V_MAX(V_SET(-40.f), y);
    VF n = V_ROUND(V_MUL(y, V_SET(IRIS_EXP_LOG2E)));
    VF r = V_FNMA(n, V_SET(IRIS_EXP_LN2_HI), y);
    r = V_FNMA(n, V_SET(IRIS_EXP_LN2_LO), r);
    VF p = V_SET(1.f / 40320);
    p = V_FMA(p, r, V_SET(1.f / 5040));
    p = V_FMA(p, r, V_SET(1.f / 720));
    p = V_FMA(p, r, V_SET(1.f / 120));
    p = V_FMA(p, r, V_SET(1.f / 24));
    p = V_FMA(p, r, V_SET(1.f / 6));
    p = V_FMA(p, r, V_SET(0.5f));
    VF m = V_FMA(V_MUL(r, r), p, r);  /* expm1(r) */
    VF s = V_POW2(n);                 /* n in [-58, 0] */
    return V_FMA(s, m, V_SUB(s, V_SET(1.f)));
}


static TGT inline VF SFX(vtanh)(VF x) {
    VF m = SFX(vexpm1_neg)(V_MUL(V_SET(-2.f), V_ABS(x)));
    VF t = V_DIV(V_SUB(V_SET(0.f), m), V_ADD(V_SET(2.f), m));
    return V_XOR(V_ABS(t), V_SIGNBIT(x));
}

static TGT inline VF SFX(vsigmoid)(VF x) {
    VF e = V_EXP(V_SUB(V_SET(0.f), V_ABS(x)));
    return V_DIV(V_SEL(V_GE(x, V_SET(0.f)), V_SET(1.f), e), V_ADD(V_SET(1.f), e));
}

static TGT inline VF SFX(vgelu)(VF x) {
    static const float c[10] = {1.160749793e+00f,  -1.308122128e-01f, -1.196474731e-01f, 1.364052594e-01f,
                                -4.761101678e-02f, -6.350100506e-03f, 7.547129877e-03f,  1.058345893e-03f,
                                -1.076389104e-03f, -3.392259241e-04f};
    VF a = V_MIN(V_SET(15.f), V_ABS(x)); /* Phi(-15) underflows to 0 */
    VF hi = V_MUL(a, a), lo = V_FMA(a, a, V_SUB(V_SET(0.f), hi)); /* a^2 = hi + lo exactly */
    VF e = V_EXP(V_MUL(V_SET(-0.5f), hi));
    e = V_FNMA(e, V_MUL(V_SET(0.5f), lo), e); /* exp(-hi/2) * (1 - lo/2) */
    VF z = V_MUL(a, V_SET(0.70710678118654752f));
    VF t = V_DIV(V_SUB(z, V_SET(2.f)), V_ADD(z, V_SET(2.f)));
    VF p = V_SET(c[9]);
    for (int k = 8; k >= 0; k--) p = V_FMA(p, t, V_SET(c[k]));
    VF q = V_DIV(V_MUL(V_MUL(V_SET(0.5f), e), p), V_FMA(z, V_SET(1.77245385090551603f), V_SET(1.f)));
    /* x - x q, with x clamped where q = 0 anyway so that gelu(inf) = inf */
    return V_SEL(V_GE(x, V_SET(0.f)), V_FNMA(V_XOR(a, V_SIGNBIT(x)), q, x), V_MUL(x, q));
}

static TGT inline VF SFX(vmish)(VF x) {
    VF e = V_EXP(V_MIN(V_SET(20.f), x));
    VF n = V_MUL(e, V_ADD(e, V_SET(2.f)));
    return V_MUL(x, V_DIV(n, V_ADD(n, V_SET(2.f))));
}

/* dst[i] = f(src[i]); dst may equal src. */
static TGT void SFX(act)(iris_act act, float alpha, const float *src, float *dst, int64_t n) {
    const VF al = V_SET(alpha), zero = V_SET(0.f);
#define ACT_LOOP(EXPR)                                     \
    do {                                                   \
        int64_t i = 0;                                     \
        for (; i + W <= n; i += W) {                       \
            VF x = V_LD(src + i);                          \
            V_ST(dst + i, EXPR);                           \
        }                                                  \
        if (i < n) {                                       \
            float buf[W] = {0};                            \
            memcpy(buf, src + i, (size_t)(n - i) * 4);     \
            VF x = V_LD(buf);                              \
            V_ST(buf, EXPR);                               \
            memcpy(dst + i, buf, (size_t)(n - i) * 4);     \
        }                                                  \
    } while (0)
    switch (act) {
    case IRIS_ACT_RELU: ACT_LOOP(V_MAX(zero, x)); break; /* NaN stays NaN, as in PyTorch */
    case IRIS_ACT_LEAKY: ACT_LOOP(V_SEL(V_GT(x, zero), x, V_MUL(al, x))); break;
    case IRIS_ACT_SILU: ACT_LOOP(V_MUL(x, SFX(vsigmoid)(x))); break;
    case IRIS_ACT_GELU: ACT_LOOP(SFX(vgelu)(x)); break;
    case IRIS_ACT_GELU_TANH:
        ACT_LOOP(V_MUL(x, SFX(vsigmoid)(V_MUL(x, V_FMA(V_MUL(x, x), V_SET(0.0713548162726002527f),
                                                       V_SET(1.59576912160573071f))))));
        break;
    case IRIS_ACT_QUICK_GELU: ACT_LOOP(V_MUL(x, SFX(vsigmoid)(V_MUL(V_SET(1.702f), x)))); break;
    case IRIS_ACT_MISH: ACT_LOOP(SFX(vmish)(x)); break;
    case IRIS_ACT_SIGMOID: ACT_LOOP(SFX(vsigmoid)(x)); break;
    case IRIS_ACT_TANH: ACT_LOOP(SFX(vtanh)(x)); break;
    case IRIS_ACT_SCALE: ACT_LOOP(V_MUL(al, x)); break;
    case IRIS_ACT_EXP: ACT_LOOP(V_EXP(x)); break;
    case IRIS_ACT_SQRT: ACT_LOOP(V_SQRT(x)); break;
    default:
        if (dst != src) memmove(dst, src, (size_t)n * 4);
        break;
    }
#undef ACT_LOOP
}

/* d = a op b elementwise (vv) or against one scalar b (vs). */
static TGT void SFX(binary_vv)(iris_binop op, const float *a, const float *b, float *d, int64_t n) {
#define BIN_LOOP(VOP, SOP)                                                 \
    do {                                                                   \
        int64_t i = 0;                                                     \
        for (; i + W <= n; i += W) V_ST(d + i, VOP(V_LD(a + i), V_LD(b + i))); \
        for (; i < n; i++) d[i] = a[i] SOP b[i];                           \
    } while (0)
    switch (op) {
    case IRIS_BIN_ADD: BIN_LOOP(V_ADD, +); break;
    case IRIS_BIN_SUB: BIN_LOOP(V_SUB, -); break;
    case IRIS_BIN_MUL: BIN_LOOP(V_MUL, *); break;
    default: BIN_LOOP(V_DIV, /); break;
    }
#undef BIN_LOOP
}

static TGT void SFX(binary_vs)(iris_binop op, const float *a, float s, float *d, int64_t n) {
    const VF vs = V_SET(s);
#define BIN_LOOP(VOP, SOP)                                           \
    do {                                                             \
        int64_t i = 0;                                               \
        for (; i + W <= n; i += W) V_ST(d + i, VOP(V_LD(a + i), vs)); \
        for (; i < n; i++) d[i] = a[i] SOP s;                        \
    } while (0)
    switch (op) {
    case IRIS_BIN_ADD: BIN_LOOP(V_ADD, +); break;
    case IRIS_BIN_SUB: BIN_LOOP(V_SUB, -); break;
    case IRIS_BIN_MUL: BIN_LOOP(V_MUL, *); break;
    default: BIN_LOOP(V_DIV, /); break;
    }
#undef BIN_LOOP
}

/* the vocabulary is defined afresh for each width */
#undef VF
#undef VM
#undef W
#undef TGT
#undef SFX
#undef V_LD
#undef V_ST
#undef V_SET
#undef V_ADD
#undef V_SUB
#undef V_MUL
#undef V_DIV
#undef V_SQRT
#undef V_FMA
#undef V_FNMA
#undef V_MIN
#undef V_MAX
#undef V_ROUND
#undef V_EXP
#undef V_XOR
#undef V_ABS
#undef V_SIGNBIT
#undef V_GT
#undef V_GE
#undef V_SEL
#undef V_POW2
