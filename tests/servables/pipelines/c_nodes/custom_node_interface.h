/* OVMS's custom node C ABI, written from its documented declaration (spec §8.5). */
#pragma once
#include <stdint.h>

typedef enum { UNSPECIFIED, FP32, FP16, U8, I8, I16, U16, I32, FP64, I64 } CustomNodeTensorPrecision;

struct CustomNodeTensor {
    const char* name;
    uint8_t* data;
    uint64_t dataBytes;
    uint64_t* dims;
    uint64_t dimsCount;
    CustomNodeTensorPrecision precision;
};

struct CustomNodeTensorInfo {
    const char* name;
    uint64_t* dims;
    uint64_t dimsCount;
    CustomNodeTensorPrecision precision;
};

struct CustomNodeParam {
    const char* key;
    const char* value;
};

int initialize(void** manager, const struct CustomNodeParam* params, int paramsCount);
int deinitialize(void* manager);
int execute(const struct CustomNodeTensor* inputs, int inputsCount, struct CustomNodeTensor** outputs,
            int* outputsCount, const struct CustomNodeParam* params, int paramsCount, void* manager);
int getInputsInfo(struct CustomNodeTensorInfo** info, int* infoCount, const struct CustomNodeParam* params,
                  int paramsCount, void* manager);
int getOutputsInfo(struct CustomNodeTensorInfo** info, int* infoCount, const struct CustomNodeParam* params,
                   int paramsCount, void* manager);
int release(void* ptr, void* manager);
