/* caption_template.c - the prompt around the image, as each model family's own code writes it.

   llava      LLaVA's conversation.py, conv_llava_v1 (SeparatorStyle.TWO, sep " "): system + " " +
              "USER: " + "<image>\n" + prompt + " " + "ASSISTANT:"; llava-v1.5-* and llava-v1.6-vicuna-*
              run with it (run_llava.py picks it for names with "v1").
   mistral    conv_mistral_instruct (SeparatorStyle.LLAMA_2, empty system and sep):
              "[INST] " + "<image>\n" + prompt + " [/INST]"
   minigptv2  MiniGPT-v2 (minigpt4/conversation CONV_VISION_minigptv2 and the caption datasets):
              "[INST] " + "<Img><ImageHere></Img> [caption] " + prompt + " [/INST]"; one BOS, as in
              training (its demo writes "<s>" into the text and also lets the tokenizer add one).
   The image goes where <image> / <ImageHere> stands. Like LLaVA's tokenizer_image_token and
   MiniGPT-v2's get_context_emb, the text on each side is tokenized on its own, BOS only before the
   first part. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../core/gguf.h"
#include "caption_impl.h"

const char *const iris_caption_template_names[] = {"auto", "llava", "mistral", "minigptv2", NULL};

#define LLAVA_SYSTEM                                                                   \
    "A chat between a curious human and an artificial intelligence assistant. "        \
    "The assistant gives helpful, detailed, and polite answers to the human's questions."

void iris_caption_template_text(iris_caption_template t, const char **before, const char **after_1,
                                const char **after_2) {
    switch (t) {
    case IRIS_CAPTION_TEMPLATE_MISTRAL:
        *before = "[INST] ", *after_1 = "\n", *after_2 = " [/INST]";
        break;
    case IRIS_CAPTION_TEMPLATE_MINIGPTV2:
        *before = "[INST] <Img>", *after_1 = "</Img> [caption] ", *after_2 = " [/INST]";
        break;
    default:
        *before = LLAVA_SYSTEM " USER: ", *after_1 = "\n", *after_2 = " ASSISTANT:";
        break;
    }
}

static int contains(const char *s, const char *what) { return s && strstr(s, what) != NULL; }

static int contains_nocase(const char *s, const char *what) {
    if (!s) return 0;
    size_t n = strlen(what);
    for (; *s; s++)
        if (!strncasecmp(s, what, n)) return 1;
    return 0;
}

iris_caption_template iris_caption_template_pick(const char *projector, const iris_llama *m) {
    if (projector && !strcmp(projector, "minigptv2")) return IRIS_CAPTION_TEMPLATE_MINIGPTV2;
    const char *chat = NULL;
    if (m && iris_gguf_get_str(&m->gguf, "tokenizer.chat_template", &chat)) chat = NULL;
    if (contains(chat, "[INST]")) return IRIS_CAPTION_TEMPLATE_MISTRAL;
    if (m && (contains_nocase(m->arch, "mistral") || contains_nocase(m->name, "mistral")))
        return IRIS_CAPTION_TEMPLATE_MISTRAL;
    return IRIS_CAPTION_TEMPLATE_LLAVA;
}

iris_status iris_caption_template_tokens(const iris_vocab *v, iris_caption_template t, const char *prompt,
                                         int32_t **pre, int *n_pre, int32_t **post, int *n_post) {
    *pre = *post = NULL, *n_pre = *n_post = 0;
    const char *before, *a1, *a2;
    iris_caption_template_text(t, &before, &a1, &a2);
    size_t la = strlen(a1), lp = strlen(prompt), lb = strlen(a2);
    char *after = malloc(la + lp + lb + 1);
    int32_t *ids = NULL, *ids2 = NULL;
    int n = 0, n2 = 0;
    iris_status st = after ? IRIS_OK : iris_fail(IRIS_ERR_NOMEM, "caption: out of memory");
    if (!st) {
        memcpy(after, a1, la), memcpy(after + la, prompt, lp), memcpy(after + la + lp, a2, lb + 1);
        st = iris_tokenize(v, before, strlen(before), 0, 0, &ids, &n);
    }
    if (!st) st = iris_tokenize(v, after, strlen(after), 0, 0, &ids2, &n2);
    free(after);
    int32_t *p = st ? NULL : malloc(sizeof *p * (size_t)(n + 1));
    if (!st && !p) st = iris_fail(IRIS_ERR_NOMEM, "caption: out of memory");
    if (st) {
        free(ids), free(ids2);
        return st;
    }
    int k = 0;
    if (iris_vocab_bos(v) >= 0) p[k++] = iris_vocab_bos(v);
    memcpy(p + k, ids, sizeof *p * (size_t)n);
    free(ids);
    *pre = p, *n_pre = k + n, *post = ids2, *n_post = n2;
    return IRIS_OK;
}

/* length of the valid UTF-8 sequence at s (1..4), or 0 */
static int utf8_len(const unsigned char *s, size_t n) {
    unsigned c = s[0];
    int len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    if (!len || (size_t)len > n) return 0;
    for (int i = 1; i < len; i++)
        if ((s[i] & 0xC0) != 0x80) return 0;
    unsigned cp = len == 1 ? c : len == 2 ? c & 0x1F : len == 3 ? c & 0x0F : c & 0x07;
    for (int i = 1; i < len; i++) cp = cp << 6 | (s[i] & 0x3F);
    static const unsigned min[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < min[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
    return len;
}

char *iris_caption_clean_text(const char *s, size_t len) {
    const unsigned char *u = (const unsigned char *)s;
    while (len && (u[0] == ' ' || u[0] == '\t' || u[0] == '\n' || u[0] == '\r')) u++, len--;
    while (len && (u[len - 1] == ' ' || u[len - 1] == '\t' || u[len - 1] == '\n' || u[len - 1] == '\r')) len--;
    char *out = malloc(3 * len + 1), *o = out;
    if (!out) return NULL;
    for (size_t i = 0; i < len;) {
        int l = utf8_len(u + i, len - i);
        if (l) memcpy(o, u + i, (size_t)l), o += l, i += (size_t)l;
        else memcpy(o, "\xEF\xBF\xBD", 3), o += 3, i++;
    }
    *o = 0;
    return out;
}
