/* result = (a + add) * multiply on FP32 "a" of any shape [N, 4]; params "add", "multiply".
 * Test switches: "fail" = initialize | execute | metadata returns an error code there;
 * "malform" = precision | size | name | null | count returns broken outputs from execute. */
#include <stdio.h>
#include "custom_node_interface.h"
#include "counted.h"

struct manager { float add, multiply; char fail[32], malform[32]; };

int initialize(void** out, const struct CustomNodeParam* params, int count) {
    if (strcmp(param(params, count, "fail", ""), "initialize") == 0) return 3;
    struct manager* m = malloc(sizeof *m);
    m->add = strtof(param(params, count, "add", "0"), NULL);
    m->multiply = strtof(param(params, count, "multiply", "1"), NULL);
    snprintf(m->fail, sizeof m->fail, "%s", param(params, count, "fail", ""));
    snprintf(m->malform, sizeof m->malform, "%s", param(params, count, "malform", ""));
    *out = m;
    return 0;
}

int deinitialize(void* manager) { free(manager); return 0; }

int execute(const struct CustomNodeTensor* inputs, int inputsCount, struct CustomNodeTensor** outputs,
            int* outputsCount, const struct CustomNodeParam* params, int paramsCount, void* manager) {
    (void)params; (void)paramsCount;
    struct manager* m = manager;
    if (strcmp(m->fail, "execute") == 0) return 7;
    if (inputsCount != 1 || strcmp(inputs[0].name, "a") != 0 || inputs[0].precision != FP32) return 2;
    const struct CustomNodeTensor* a = &inputs[0];
    if (strcmp(m->malform, "null") == 0) { *outputs = NULL; *outputsCount = 1; return 0; }
    struct CustomNodeTensor* out = counted_malloc(sizeof *out);
    *outputs = out;
    *outputsCount = 1;
    if (strcmp(m->malform, "count") == 0) { *outputsCount = 0; return 0; }
    out->name = strcmp(m->malform, "name") == 0 ? NULL : "result";
    out->dimsCount = a->dimsCount;
    out->dims = counted_malloc(a->dimsCount * sizeof(uint64_t));
    memcpy(out->dims, a->dims, a->dimsCount * sizeof(uint64_t));
    out->data = counted_malloc(a->dataBytes);
    out->dataBytes = strcmp(m->malform, "size") == 0 ? a->dataBytes - 4 : a->dataBytes;
    out->precision = strcmp(m->malform, "precision") == 0 ? UNSPECIFIED : FP32;
    const float* x = (const float*)a->data;
    float* y = (float*)out->data;
    for (uint64_t i = 0; i < a->dataBytes / sizeof(float); i++) y[i] = (x[i] + m->add) * m->multiply;
    return 0;
}

int getInputsInfo(struct CustomNodeTensorInfo** info, int* count, const struct CustomNodeParam* params,
                  int paramsCount, void* manager) {
    (void)params; (void)paramsCount; (void)manager;
    *info = one_info("a", 0, 4, FP32);
    *count = 1;
    return 0;
}

int getOutputsInfo(struct CustomNodeTensorInfo** info, int* count, const struct CustomNodeParam* params,
                   int paramsCount, void* manager) {
    (void)params; (void)paramsCount;
    if (strcmp(((struct manager*)manager)->fail, "metadata") == 0) return 5;
    *info = one_info("result", 0, 4, FP32);
    *count = 1;
    return 0;
}
