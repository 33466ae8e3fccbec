/* gguf.h - placeholder, being written. */
#ifndef IRIS_GGUF_H
#define IRIS_GGUF_H
#include "tensor.h"
#endif
