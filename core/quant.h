/* quant.h - placeholder, being written. */
#ifndef IRIS_QUANT_H
#define IRIS_QUANT_H
#include "tensor.h"
#endif
