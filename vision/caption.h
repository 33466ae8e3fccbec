/* caption.h - describe photos in words with a LLaVA-style model: a language-model GGUF (the Llama
   core) and a vision projector GGUF (mmproj, llama.cpp's `clip.*` layout).

       iris_caption_params cp = iris_caption_default_params();    // greedy, one-sentence prompt
       iris_caption_ctx *cc;
       if (iris_caption_load(&cc, "llava-v1.5-7b-Q4_K.gguf", "mmproj-model-f16.gguf", &cp)) {
           puts(iris_last_error()); return 3;
       }
       iris_image img[2];  // decoded RGB photos (iris_image_load)
       iris_caption_result r[2];
       if (iris_caption_images(cc, img, 2, r)) puts(iris_last_error());   // a failure of the whole run
       for (int i = 0; i < 2; i++) {
           if (r[i].status) printf("failed: %s\n", r[i].error);            // this photo's own problem
           else printf("%s (%d tokens, %.2f s)\n", r[i].text, r[i].n_tokens, r[i].seconds);
           iris_caption_result_free(&r[i]);
       }
       iris_caption_free(cc);

   What runs per photo: the vision tower and projector (vision/llava.h) give the image's rows; the
   prompt template of the model family puts them at its placeholder (the rows go to the language
   model through iris_llama_eval_embd, the text around them as tokens); decoding is greedy unless
   temp > 0, and stops at an end-of-generation token or after max_tokens. The caption is the
   generated text with surrounding white space removed (and invalid UTF-8 replaced by U+FFFD).
   Up to `batch` photos are in flight at once, each with its own KV cache; a photo that finishes
   frees its place for the next one.

   Templates (docs/CAPTION.md gives the exact text and the sources):
     llava      the original LLaVA's conv_llava_v1 (LLaVA 1.5, and 1.6 on Vicuna):
                "<system> USER: <image>\n{prompt} ASSISTANT:"
     mistral    LLaVA 1.6 on Mistral (conv_mistral_instruct): "[INST] <image>\n{prompt} [/INST]"
     minigptv2  MiniGPT-v2: "[INST] <Img><image></Img> [caption] {prompt} [/INST]"
   auto (the default) takes minigptv2 for a projector of type "minigptv2", mistral when the language
   model's chat template uses [INST] or its name or architecture says mistral, else llava.

   For tools that decode photos on other threads (cli/prefetch.c), the work splits in two:
   iris_caption_prepare (thread-safe, into a buffer of iris_caption_prepared_bytes) and
   iris_caption_run, which pulls prepared photos from a source as places free up. */
#ifndef IRIS_CAPTION_H
#define IRIS_CAPTION_H

#include <stddef.h>
#include <stdint.h>

#include "../core/ctx.h"
#include "../core/image.h"

typedef enum iris_caption_template {
    IRIS_CAPTION_TEMPLATE_AUTO = 0,
    IRIS_CAPTION_TEMPLATE_LLAVA,
    IRIS_CAPTION_TEMPLATE_MISTRAL,
    IRIS_CAPTION_TEMPLATE_MINIGPTV2,
} iris_caption_template;

/* "auto", "llava", "mistral", "minigptv2" (index = the enum), NULL-terminated. */
extern const char *const iris_caption_template_names[];

#define IRIS_CAPTION_DEFAULT_PROMPT "Provide a one-sentence caption for the provided image."

typedef struct iris_caption_params {
    const char *prompt;       /* the instruction; NULL: IRIS_CAPTION_DEFAULT_PROMPT (copied at load) */
    iris_caption_template tmpl;
    int max_tokens;           /* generated tokens at most (default 64) */
    float temp;               /* 0: greedy (default); > 0 samples (top-k 40, top-p 0.95 as the sampler) */
    uint64_t seed;            /* for temp > 0: photo i of a call draws from seed + i */
    int batch;                /* photos in flight at once (default 1) */
    iris_ctx_params ctx;      /* device and threads (ctx.device IRIS_CPU or IRIS_CUDA) */
    int kv_f32;               /* 1: F32 KV cache (default 0: F16, as llama.cpp) */
    int exact;                /* the Llama core's exact mode (iris_llama_state_params.exact; default 1) */
    int ignore_eos;           /* 1: end tokens are never drawn, every caption has max_tokens (benchmarks) */
} iris_caption_params;

typedef struct iris_caption_result {
    iris_status status;       /* IRIS_OK, or this photo's problem (then text is NULL) */
    char error[256];          /* the message when status != IRIS_OK */
    char *text;               /* the caption, NUL-terminated UTF-8 (malloc'd) */
    int32_t *tokens;          /* the generated ids (end token included when it stopped there) */
    int n_tokens;
    int n_prompt;             /* positions before the first generated token (text + image rows) */
    int stopped_by_eog;       /* 1: an end-of-generation token, 0: max_tokens */
    double seconds;           /* from the photo's vision pass to its last token */
} iris_caption_result;

typedef struct iris_caption_ctx iris_caption_ctx;

iris_caption_params iris_caption_default_params(void);
/* Loads both files; any problem is a one-line error naming the file. */
iris_status iris_caption_load(iris_caption_ctx **out, const char *model_path, const char *mmproj_path,
                              const iris_caption_params *p);
void iris_caption_free(iris_caption_ctx *c);

/* The template in use (auto resolved), and the prompt's token ids as they go to the language model:
   the ids before the image and after it (*pre, *post are the context's own; valid until freed). */
iris_caption_template iris_caption_get_template(const iris_caption_ctx *c);
void iris_caption_prompt_ids(const iris_caption_ctx *c, const int32_t **pre, int *n_pre, const int32_t **post,
                             int *n_post);
/* The language model and the context the passes run in (for tests and tools that print details). */
const struct iris_llama *iris_caption_llama(const iris_caption_ctx *c);

/* Called as each photo finishes, failed ones included, in the order they finish; return nonzero to
   stop (the photos in flight are dropped). */
typedef int (*iris_caption_result_fn)(void *user, size_t index, const iris_caption_result *r);

/* Captions n photos; results[i] for images[i] (free each with iris_caption_result_free). A photo's
   own problem goes to its result; the return value is not IRIS_OK only when the run itself failed
   (out of memory, a failing pass) or was stopped by on_result, and then the results not reached hold
   that status. */
iris_status iris_caption_images(iris_caption_ctx *c, const iris_image *images, size_t n,
                                iris_caption_result *results, iris_caption_result_fn on_result, void *user);
void iris_caption_result_free(iris_caption_result *r);

/* ---- the split for decode-ahead pipelines ---- */

/* Bytes one prepared photo takes at most (the largest tile grid the model can ask for). */
size_t iris_caption_prepared_bytes(const iris_caption_ctx *c);
/* Preprocesses an image into buf (size bytes, 16-byte aligned); thread-safe, touches only buf. */
iris_status iris_caption_prepare(const iris_caption_ctx *c, const iris_image *img, void *buf, size_t size);

/* Where iris_caption_run takes its photos from: next() gives the next prepared buffer and the index it
   is reported under (return 1), or returns 0 when there are no more (-1: stop the run as the
   callback's stop does); done() hands the buffer back once
   its vision pass has run (it is not read afterwards). */
typedef struct iris_caption_source {
    int (*next)(void *user, size_t *index, const void **prepared);
    void (*done)(void *user, size_t index, const void *prepared);
    void *user;
} iris_caption_source;

/* Captions every photo the source gives, reporting each through on_result (required here; the result
   is freed by iris_caption_run after the call). Returns IRIS_OK when the source ran dry, the callback's
   stop as IRIS_ERR_CANCELLED, or a failing pass (with iris_fail's message). */
iris_status iris_caption_run(iris_caption_ctx *c, const iris_caption_source *src, iris_caption_result_fn on_result,
                             void *user);

#endif
