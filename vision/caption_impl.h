/* caption_impl.h - what the pieces of the captioner share: templates and text clean-up. */
#ifndef IRIS_CAPTION_IMPL_H
#define IRIS_CAPTION_IMPL_H

#include "../llama/model.h"
#include "caption.h"

/* The template for a projector type ("mlp", "minigptv2", ...) and a language model. */
iris_caption_template iris_caption_template_pick(const char *projector, const iris_llama *m);
/* The filled template split at the image: BOS and the text before it, the text after it, tokenized as
   the model family's own code does (each part as a fresh text, so SentencePiece vocabularies put their
   space prefix before both). Both arrays malloc'd. */
iris_status iris_caption_template_tokens(const iris_vocab *v, iris_caption_template t, const char *prompt,
                                         int32_t **pre, int *n_pre, int32_t **post, int *n_post);
/* The two texts themselves (static parts around the prompt): *before + image + *after_1 prompt *after_2. */
void iris_caption_template_text(iris_caption_template t, const char **before, const char **after_1,
                                const char **after_2);
/* Trims white space at both ends and replaces invalid UTF-8 by U+FFFD, into a new string. */
char *iris_caption_clean_text(const char *s, size_t len);

#endif
