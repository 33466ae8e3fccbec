/* quantize.c - re-quantizing a GGUF model tensor by tensor, streamed to the writer,
   rows split over threads. */
#include "quantize.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "../core/gguf.h"
#include "../core/quant.h"

typedef struct {
    const iris_gguf *g;
    const iris_gguf_tensor_info *ti;
    iris_dtype to;
    int n_threads;
} job;

typedef struct {
    const job *j;
    char *dst;
    int64_t r0, r1;
    iris_status st;
} part;

static void *convert_rows(void *arg) {
    part *p = arg;
    const iris_gguf_tensor_info *ti = p->j->ti;
    int64_t K = ti->ne[0];
    size_t src_row = iris_row_bytes(ti->dtype, K), dst_row = iris_row_bytes(p->j->to, K);
    float *tmp = malloc((size_t)K * sizeof *tmp);
    if (!tmp) { p->st = iris_fail(IRIS_ERR_NOMEM, "quantize: out of memory"); return NULL; }
    const uint8_t *src = p->j->g->data + ti->offset;
    for (int64_t r = p->r0; r < p->r1 && !p->st; r++) {
        iris_dequantize_row(ti->dtype, src + r * src_row, tmp, K);
        if (p->j->to == IRIS_F32) memcpy(p->dst + r * dst_row, tmp, dst_row);
        else p->st = iris_quantize_row(p->j->to, tmp, p->dst + r * dst_row, K);
    }
    free(tmp);
    return NULL;
}

static iris_status fill(void *user, const char *name, void *dst, size_t nbytes) {
    (void)name, (void)nbytes;
    const job *j = user;
    int64_t rows = 1;
    for (int d = 1; d < j->ti->n_dims; d++) rows *= j->ti->ne[d];
    int nt = j->n_threads < 1 ? 1 : j->n_threads > 64 ? 64 : j->n_threads;
    if (rows < nt * 4) nt = 1;
    part parts[64];
    pthread_t th[64];
    for (int t = 0; t < nt; t++) {
        parts[t] = (part){j, dst, rows * t / nt, rows * (t + 1) / nt, IRIS_OK};
        if (t && pthread_create(&th[t], NULL, convert_rows, &parts[t])) {
            parts[t].st = IRIS_OK;
            convert_rows(&parts[t]); /* no thread: do it here */
            th[t] = 0;
        }
    }
    convert_rows(&parts[0]);
    for (int t = 1; t < nt; t++)
        if (th[t]) pthread_join(th[t], NULL);
    for (int t = 0; t < nt; t++)
        if (parts[t].st) return parts[t].st;
    return IRIS_OK;
}

/* the type one tensor is written in */
static iris_dtype choose(const iris_gguf_tensor_info *ti, iris_dtype want) {
    if (iris_dtype_get(ti->dtype)->is_quantized) return ti->dtype;
    if (ti->n_dims < 2) return IRIS_F32;
    int64_t K = ti->ne[0];
    if (!strcmp(ti->name, "output.weight") && want != IRIS_Q8_0) return K % 256 == 0 ? IRIS_Q6_K : K % 32 == 0 ? IRIS_Q8_0 : IRIS_F16;
    if (want == IRIS_Q4_K) return K % 256 == 0 ? IRIS_Q4_K : K % 32 == 0 ? IRIS_Q5_0 : IRIS_F16;
    return K % 32 == 0 ? want : IRIS_F16;
}

iris_status iris_llama_quantize(const char *in_path, const char *out_path, iris_dtype want, int n_threads,
                                iris_quantize_stats *stats) {
    uint32_t ftype;
    if (want == IRIS_Q4_0) ftype = 2;
    else if (want == IRIS_Q8_0) ftype = 7;
    else if (want == IRIS_Q4_K) ftype = 14; /* "Q4_K_S": Q4_K everywhere it fits */
    else return iris_fail(IRIS_ERR_UNSUPPORTED, "quantize: to %s is not supported (q4_0, q8_0, q4_k)", iris_dtype_name(want));
    iris_quantize_stats s;
    memset(&s, 0, sizeof s);
    iris_gguf g;
    iris_status st = iris_gguf_open(&g, in_path);
    if (st) return st;
    job *jobs = calloc((size_t)(g.n_tensors ? g.n_tensors : 1), sizeof *jobs);
    iris_gguf_writer *w = NULL;
    st = jobs ? iris_gguf_writer_new(&w) : iris_fail(IRIS_ERR_NOMEM, "quantize: out of memory");
    if (!st) st = iris_gguf_writer_copy_kvs(w, &g);
    if (!st) st = iris_gguf_writer_set_u32(w, "general.file_type", ftype);
    if (!st) st = iris_gguf_writer_set_u32(w, "general.quantization_version", 2);
    for (int64_t i = 0; i < g.n_tensors && !st; i++) {
        const iris_gguf_tensor_info *ti = &g.tensors[i];
        jobs[i] = (job){&g, ti, choose(ti, want), n_threads};
        int64_t shape[IRIS_GGUF_MAX_DIMS];
        for (int d = 0; d < ti->n_dims; d++) shape[d] = ti->ne[ti->n_dims - 1 - d];
        if (jobs[i].to == ti->dtype)
            st = iris_gguf_writer_add_tensor(w, ti->name, ti->dtype, ti->n_dims, shape, g.data + ti->offset);
        else
            st = iris_gguf_writer_add_tensor_fn(w, ti->name, jobs[i].to, ti->n_dims, shape, fill, &jobs[i]);
        s.in_bytes += ti->nbytes;
        int64_t rows = 1;
        for (int d = 1; d < ti->n_dims; d++) rows *= ti->ne[d];
        s.out_bytes += iris_row_bytes(jobs[i].to, ti->ne[0]) * (size_t)rows;
        if (jobs[i].to == want) s.n_quantized++;
        else if (ti->n_dims >= 2) s.n_other++;
    }
    if (!st) st = iris_gguf_writer_write(w, out_path);
    iris_gguf_writer_free(w);
    iris_gguf_close(&g);
    free(jobs);
    if (stats) *stats = s;
    return st;
}
