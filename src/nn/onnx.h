/* onnx.h - ONNX models in and out.
 *
 * Spec: ONNX IR (onnx/onnx.proto, field numbers of ModelProto, GraphProto,
 * NodeProto, AttributeProto, TensorProto, ValueInfoProto) and the operator
 * definitions of the default domain (onnx/docs/Operators.md).  Read and
 * written with our own protobuf code (protobuf.h).
 *
 * Import: a graph of 4-D float tensors made of Conv, Relu, LeakyRelu, LRN,
 * MaxPool, AveragePool, GlobalAveragePool, GlobalMaxPool, Gemm, MatMul
 * (+ Add of a constant: the bias), Flatten or Reshape to (batch, -1) before
 * the fully connected layers, Dropout, Identity, Concat (channels), Add and
 * Sum of two tensors, Constant, a constant zero Pad of height and width
 * before a Conv or AveragePool (folded into its padding; PyTorch writes
 * padded average pooling this way), BatchNormalization in its inference
 * form anywhere (a batchnorm layer, its momentum 1 - ONNX's), and Softmax / LogSoftmax as the last
 * operator (dropped: a Traitscope model outputs logits).  The input is one
 * (N, 3 or 4, S, S) float tensor.  Weights come from initializers
 * (float_data, raw_data or double_data; external data files are refused).
 * The result is an ordinary model: an architecture description (arch.h)
 * plus weights.  An unsupported operator or attribute is TS_ERR_UNSUPPORTED
 * naming the operator and node; a damaged file TS_ERR_FORMAT naming the
 * file and byte offset.
 *
 * Metadata: an ONNX file carries no input normalisation, so a model
 * imported from elsewhere gets the defaults of ts_model_new (ImageNet
 * mean/std on pixel/255, RGB, the torchvision convention); files we wrote
 * carry our metadata in metadata_props ("traitscope.classes", ...: see
 * netbuild.h) and read back exactly.
 *
 * Export: opset 13, IR version 7.  Input "data" (N, C, S, S) float, output
 * "logits" (N, classes); conv2d -> Conv, relu -> Relu, leaky_relu ->
 * LeakyRelu, lrn -> LRN, pools -> MaxPool / AveragePool (count_include_pad
 * = 1, ceil_mode for Caffe rounding) or the Global variants, fc -> Flatten +
 * Gemm (transB = 1), concat -> Concat (axis 1), add -> Sum, batchnorm ->
 * BatchNormalization (inputs "<layer>.weight", ".bias", ".running_mean",
 * ".running_var"; momentum = 1 - ours, ONNX's convention); dropout is the
 * identity at inference and is left out.  Initializers are named
 * "<layer>.weight" / "<layer>.bias" and stored as raw little-endian floats.
 * The file is written atomically (fileio.h).
 */
#ifndef TS_ONNX_H
#define TS_ONNX_H

#include <stddef.h>
#include <stdint.h>

#include "nn/model.h"

/* Largest ONNX file read (weights are inside). */
#define TS_ONNX_MAX_FILE ((size_t)4 << 30)

/* transfer: full (*out, ts_model_free). */
ts_status ts_onnx_import(const char *path, ts_model **out);
/* From memory; `name` appears in error messages (the fuzz entry point). */
ts_status ts_onnx_import_buffer(const uint8_t *buf, size_t len, const char *name, ts_model **out);

ts_status ts_onnx_export(const ts_model *m, const char *path);
/* The serialised ModelProto.  transfer: full (*buf, free()). */
ts_status ts_onnx_export_buffer(const ts_model *m, uint8_t **buf, size_t *len);

#endif
