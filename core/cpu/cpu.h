/* cpu.h - CPU backend internals: thread pool, SIMD dispatch, kernel entry points.

   Kernels are plain C with SIMD paths compiled per function
   (IRIS_AVX2 / IRIS_AVX512 attributes), chosen at run time from
   iris_cpu_features(), so one binary runs on any x86-64 and elsewhere the
   portable path is used. IRIS_SIMD=scalar|avx2|avx512 in the environment
   caps the chosen path (tests use it to check every path on one machine).
*/
#ifndef IRIS_CPU_H
#define IRIS_CPU_H

#include <stdint.h>

#include "../backend.h"
#include "../ops.h"

/* ---- thread pool (pool.c) ---- */
typedef struct iris_pool iris_pool;
iris_status iris_pool_new(iris_pool **out, int n_threads);
void iris_pool_free(iris_pool *p);
int iris_pool_size(const iris_pool *p);
/* Runs fn(arg, tid, nth) once on each of the nth threads (the caller is tid 0); returns when all are done. */
void iris_pool_run(iris_pool *p, void (*fn)(void *arg, int tid, int nth), void *arg);
/* Splits [0, n) into chunks of at least `grain` and runs fn(arg, begin, end, tid) on them in parallel. */
typedef void (*iris_range_fn)(void *arg, int64_t begin, int64_t end, int tid);
void iris_pool_for(iris_pool *p, int64_t n, int64_t grain, iris_range_fn fn, void *arg);

/* ---- SIMD ---- */
enum { IRIS_SIMD_SCALAR = 0, IRIS_SIMD_AVX2 = 1, IRIS_SIMD_AVX512 = 2 };
/* Best SIMD level usable here (after the IRIS_SIMD cap); cached. */
int iris_cpu_simd(void);
/* Re-reads IRIS_SIMD (tests switch paths at run time). */
void iris_cpu_simd_refresh(void);

#if defined(__x86_64__) || defined(__i386__)
#define IRIS_X86 1
#define IRIS_AVX2 __attribute__((target("avx2,fma,f16c")))
#define IRIS_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,fma,f16c")))
#endif

/* ---- per-context state ---- */
typedef struct iris_cpu {
    iris_pool *pool;
    int n_threads;
    /* scratch: per-thread buffers kernels may use (grown on demand, kept across ops) */
    void **scratch;
    size_t *scratch_size;
} iris_cpu;

/* Per-thread scratch of at least `bytes` (64-byte aligned); NULL on out of memory. */
void *iris_cpu_scratch(iris_cpu *cpu, int tid, size_t bytes);

/* ---- kernels: one per op, each in the file named after its family ---- */
iris_status iris_cpu_copy(void *state, const iris_op_call *c);       /* copy.c */
iris_status iris_cpu_concat(void *state, const iris_op_call *c);     /* copy.c */
iris_status iris_cpu_get_rows(void *state, const iris_op_call *c);   /* copy.c */
iris_status iris_cpu_linear(void *state, const iris_op_call *c);     /* linear.c */
iris_status iris_cpu_matmul(void *state, const iris_op_call *c);     /* linear.c */
iris_status iris_cpu_conv2d(void *state, const iris_op_call *c);     /* conv.c */
iris_status iris_cpu_pool2d(void *state, const iris_op_call *c);     /* resample.c */
iris_status iris_cpu_upsample(void *state, const iris_op_call *c);   /* resample.c */
iris_status iris_cpu_group_norm(void *state, const iris_op_call *c); /* norm.c */
iris_status iris_cpu_layer_norm(void *state, const iris_op_call *c); /* norm.c */
iris_status iris_cpu_rms_norm(void *state, const iris_op_call *c);   /* norm.c */
iris_status iris_cpu_softmax(void *state, const iris_op_call *c);    /* norm.c */
iris_status iris_cpu_attention(void *state, const iris_op_call *c);  /* attention.c */
iris_status iris_cpu_unary(void *state, const iris_op_call *c);      /* eltwise.c */
iris_status iris_cpu_binary(void *state, const iris_op_call *c);     /* eltwise.c */
iris_status iris_cpu_rope(void *state, const iris_op_call *c);       /* rope.c */

/* ---- shared helpers other kernels call ---- */
/* C[M,N] (ldc) = alpha * A[M,K] (lda) @ B + beta * C, B is [K,N] (ldb) or, if trans_b, [N,K]. Row-major,
   F32, threaded on the pool. OpenBLAS when built with it, else the built-in blocked kernel. (gemm.c) */
void iris_cpu_sgemm(iris_cpu *cpu, int trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float *A,
                    int64_t lda, const float *B, int64_t ldb, float beta, float *C, int64_t ldc);
/* The same product on the calling thread only, for kernels that split their work over the pool
   themselves; `work` holds iris_cpu_sgemm_work_bytes(M, N, K) bytes (e.g. part of the thread's
   scratch; may be NULL, then a slow unblocked loop runs). (gemm.c) */
size_t iris_cpu_sgemm_work_bytes(int64_t M, int64_t N, int64_t K);
void iris_cpu_sgemm_1t(int trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float *A, int64_t lda,
                       const float *B, int64_t ldb, float beta, float *C, int64_t ldc, void *work);
/* Which kernel both of the above use. AUTO: OpenBLAS when built in and its detected core has SIMD at
   least as wide as iris_cpu_simd() (a generic-core OpenBLAS is several times slower than the built-in
   kernel), else built-in. IRIS_GEMM=auto|builtin|openblas in the environment sets it at start; tests and
   benchmarks switch it. OPENBLAS without OpenBLAS built in acts as BUILTIN. Returns the previous setting. */
enum { IRIS_GEMM_AUTO = 0, IRIS_GEMM_BUILTIN, IRIS_GEMM_OPENBLAS };
int iris_cpu_sgemm_select(int impl);
/* 1 if the calls above use OpenBLAS under the current selection and SIMD level. */
int iris_cpu_sgemm_uses_openblas(void);
/* Packed-operand GEMM on the built-in kernel, for convolutions: the weights are packed once per call,
   im2col writes its columns straight into the packed layout, and each tile of C is computed from both.
   The layout is that of the kernel of the current SIMD level (iris_cpu_gemm_dims). K is cut into blocks
   of kc. A (M x K) packs into Mp * Kp floats (Mp = M rounded up to mr, Kp = K rounded up to kc): block b
   is a row-major Mp x kc matrix at b*kc*Mp. B (K x N) packs into Kp' * Np floats (Np = N rounded up to
   nr): block b (kb rows: kc, or what is left for the last) starts at b*kc*Np and holds panels of nr
   columns, each kb x nr floats, k-major. Padding rows/columns are zero; buffers 64-byte aligned. (gemm.c) */
typedef struct iris_gemm_dims {
    int mr, nr, kc;
} iris_gemm_dims;
iris_gemm_dims iris_cpu_gemm_dims(void);
/* A (M x K, lda) into rows [m0, m0 + M) of a packed matrix of Mp rows at Ap; m0 is a multiple of mr,
   and rows past M up to the next multiple of mr are zeroed. */
void iris_cpu_gemm_pack_a(int64_t M, int64_t K, const float *A, int64_t lda, float *Ap, int64_t Mp, int64_t m0);
/* C (m x n, ldc) = rows [m0, m0 + m) of packed A (Mp padded rows) @ columns [n0, n0 + n) of packed B
   (Np padded columns); m0 is a multiple of mr and n0 of nr. */
void iris_cpu_sgemm_packed(int64_t m, int64_t n, int64_t K, const float *Ap, int64_t Mp, int64_t m0,
                           const float *Bp, int64_t Np, int64_t n0, float *C, int64_t ldc);
/* The same adding the product to C, for a K cut over several calls (Winograd's kernels are
   transformed a K block at a time, so that they are used while in L2). */
void iris_cpu_sgemm_packed_add(int64_t m, int64_t n, int64_t K, const float *Ap, int64_t Mp, int64_t m0,
                               const float *Bp, int64_t Np, int64_t n0, float *C, int64_t ldc);
/* The same with A unpacked (m x K, lda), packed a panel at a time into `work`
   (iris_cpu_sgemm_packed_b_work_bytes(K) bytes): for weights used by too few columns to repay packing
   them whole. */
size_t iris_cpu_sgemm_packed_b_work_bytes(int64_t K);
void iris_cpu_sgemm_packed_b(int64_t m, int64_t n, int64_t K, const float *A, int64_t lda, const float *Bp,
                             int64_t Np, int64_t n0, float *C, int64_t ldc, void *work);
/* fn(arg, i, i + 1, tid) for every i in [0, n), threads taking the next item one at a time: for a few
   large GEMM tiles, which iris_pool_for would hand out in chunks of several. (gemm.c) */
void iris_cpu_for_each_tile(iris_cpu *cpu, int64_t n, iris_range_fn fn, void *arg);
/* 3x3 stride-1 convolutions (dilation 1, one group) by Winograd F(4x4, 3x3) (conv_winograd.c).
   iris_cpu_winograd_wanted says whether a conv2d call takes that path: under AUTO when the shape is
   large enough to gain (measured), under WINOGRAD for every 3x3 stride-1 shape, never under DIRECT.
   IRIS_CONV=auto|direct|winograd in the environment sets the mode at start; tests and benchmarks
   switch it with iris_cpu_conv_select, which returns the previous mode. DIRECT also keeps thin 1x1
   convs on the GEMM (conv.c's register-tiled path runs under the other two). bias: f32 [O] or NULL. */
enum { IRIS_CONV_AUTO = 0, IRIS_CONV_DIRECT, IRIS_CONV_WINOGRAD };
int iris_cpu_conv_select(int mode);
int iris_cpu_conv_mode(void);
int iris_cpu_winograd_wanted(const iris_op_call *c);
iris_status iris_cpu_conv2d_winograd(iris_cpu *cpu, const iris_op_call *c, const float *bias);
/* One dot product of n f32 values in a llama.cpp summation order (see ops.h), the same bits on every
   SIMD level; rest_f64: the VEC order's tail is summed in double, as ggml does for F16 data. The kernel
   is that of the current SIMD level. (dot_order.c) */
typedef float (*iris_dot_fn)(int64_t n, const float *x, const float *y, int rest_f64);
iris_dot_fn iris_cpu_dot_ordered(iris_dot_order order);
/* Converts n elements of any dtype at src (contiguous row) to f32. (copy.c) */
void iris_cpu_to_f32(iris_dtype t, const void *src, float *dst, int64_t n);
/* Applies a fused activation in place (eltwise.c). */
void iris_cpu_act(iris_act act, float alpha, float *x, int64_t n);

#endif
