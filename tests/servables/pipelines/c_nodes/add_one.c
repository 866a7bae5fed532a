/* The behaviour of OVMS's public sample node "add_one", written here from its documentation:
 * "input_numbers" FP32 [1, 10] → "output_numbers" FP32 [1, 10] = input + add_number - sub_number
 * (params, integers >= 0, defaults 1 and 0); any other input is refused with a non-zero code. */
#include <stdio.h>
#include "custom_node_interface.h"
#include "counted.h"

static int int_param(const struct CustomNodeParam* params, int count, const char* key, int fallback) {
    const char* value = param(params, count, key, NULL);
    return value ? atoi(value) : fallback;
}

int initialize(void** manager, const struct CustomNodeParam* params, int count) {
    (void)params; (void)count;
    *manager = NULL;
    return 0;
}

int deinitialize(void* manager) { (void)manager; return 0; }

int execute(const struct CustomNodeTensor* inputs, int inputsCount, struct CustomNodeTensor** outputs,
            int* outputsCount, const struct CustomNodeParam* params, int paramsCount, void* manager) {
    (void)manager;
    if (inputsCount != 1 || strcmp(inputs[0].name, "input_numbers") != 0) return 1;
    const struct CustomNodeTensor* in = &inputs[0];
    if (in->precision != FP32 || in->dimsCount != 2 || in->dims[0] != 1 || in->dims[1] != 10) return 1;
    int add = int_param(params, paramsCount, "add_number", 1);
    int sub = int_param(params, paramsCount, "sub_number", 0);
    if (add < 0 || sub < 0) return 1;
    struct CustomNodeTensor* out = counted_malloc(sizeof *out);
    out->name = "output_numbers";
    out->dimsCount = 2;
    out->dims = counted_malloc(2 * sizeof(uint64_t));
    out->dims[0] = 1;
    out->dims[1] = 10;
    out->dataBytes = in->dataBytes;
    out->data = counted_malloc(in->dataBytes);
    out->precision = FP32;
    for (int i = 0; i < 10; i++) ((float*)out->data)[i] = ((const float*)in->data)[i] + add - sub;
    *outputs = out;
    *outputsCount = 1;
    return 0;
}

int getInputsInfo(struct CustomNodeTensorInfo** info, int* count, const struct CustomNodeParam* params,
                  int paramsCount, void* manager) {
    (void)params; (void)paramsCount; (void)manager;
    *info = one_info("input_numbers", 1, 10, FP32);
    *count = 1;
    return 0;
}

int getOutputsInfo(struct CustomNodeTensorInfo** info, int* count, const struct CustomNodeParam* params,
                   int paramsCount, void* manager) {
    (void)params; (void)paramsCount; (void)manager;
    *info = one_info("output_numbers", 1, 10, FP32);
    *count = 1;
    return 0;
}
