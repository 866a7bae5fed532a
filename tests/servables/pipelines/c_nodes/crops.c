/* Image crops in the manner of OVMS's object-detection node: "image" FP32 [1, C, H, W] and
 * "boxes" I32 [K, 2] (x, y origins) → "crops" FP32 [K, 1, C, height, width] and "origins"
 * I32 [K, 1, 2]; params "width", "height" (default 2). K is only known at run time. */
#include "custom_node_interface.h"
#include "counted.h"

struct manager { uint64_t width, height; };

int initialize(void** out, const struct CustomNodeParam* params, int count) {
    struct manager* m = malloc(sizeof *m);
    m->width = strtoull(param(params, count, "width", "2"), NULL, 10);
    m->height = strtoull(param(params, count, "height", "2"), NULL, 10);
    *out = m;
    return 0;
}

int deinitialize(void* manager) { free(manager); return 0; }

static const struct CustomNodeTensor* find(const struct CustomNodeTensor* inputs, int count, const char* name) {
    for (int i = 0; i < count; i++)
        if (strcmp(inputs[i].name, name) == 0) return &inputs[i];
    return NULL;
}

static uint64_t* dims_of(uint64_t count, const uint64_t* values) {
    uint64_t* dims = counted_malloc(count * sizeof(uint64_t));
    memcpy(dims, values, count * sizeof(uint64_t));
    return dims;
}

int execute(const struct CustomNodeTensor* inputs, int inputsCount, struct CustomNodeTensor** outputs,
            int* outputsCount, const struct CustomNodeParam* params, int paramsCount, void* manager) {
    (void)params; (void)paramsCount;
    struct manager* m = manager;
    const struct CustomNodeTensor* image = find(inputs, inputsCount, "image");
    const struct CustomNodeTensor* boxes = find(inputs, inputsCount, "boxes");
    if (!image || !boxes || image->dimsCount != 4 || boxes->dimsCount != 2 || boxes->dims[1] != 2) return 1;
    if (image->precision != FP32 || boxes->precision != I32) return 1;
    uint64_t C = image->dims[1], H = image->dims[2], W = image->dims[3], K = boxes->dims[0];
    const int32_t* xy = (const int32_t*)boxes->data;
    for (uint64_t k = 0; k < K; k++)
        if (xy[2 * k] < 0 || xy[2 * k + 1] < 0 || xy[2 * k] + m->width > W || xy[2 * k + 1] + m->height > H) return 4;
    struct CustomNodeTensor* out = counted_malloc(2 * sizeof *out);
    uint64_t crop_dims[5] = {K, 1, C, m->height, m->width};
    out[0].name = "crops";
    out[0].dimsCount = 5;
    out[0].dims = dims_of(5, crop_dims);
    out[0].dataBytes = K * C * m->height * m->width * sizeof(float);
    out[0].data = counted_malloc(out[0].dataBytes);
    out[0].precision = FP32;
    const float* src = (const float*)image->data;
    float* dst = (float*)out[0].data;
    for (uint64_t k = 0; k < K; k++)
        for (uint64_t c = 0; c < C; c++)
            for (uint64_t y = 0; y < m->height; y++)
                for (uint64_t x = 0; x < m->width; x++)
                    *dst++ = src[(c * H + xy[2 * k + 1] + y) * W + xy[2 * k] + x];
    uint64_t origin_dims[3] = {K, 1, 2};
    out[1].name = "origins";
    out[1].dimsCount = 3;
    out[1].dims = dims_of(3, origin_dims);
    out[1].dataBytes = K * 2 * sizeof(int32_t);
    out[1].data = counted_malloc(out[1].dataBytes);
    memcpy(out[1].data, boxes->data, out[1].dataBytes);
    out[1].precision = I32;
    *outputs = out;
    *outputsCount = 2;
    return 0;
}

int getInputsInfo(struct CustomNodeTensorInfo** info, int* count, const struct CustomNodeParam* params,
                  int paramsCount, void* manager) {
    (void)params; (void)paramsCount; (void)manager;
    struct CustomNodeTensorInfo* infos = counted_malloc(2 * sizeof *infos);
    uint64_t image[4] = {1, 0, 0, 0}, boxes[2] = {0, 2};
    infos[0] = (struct CustomNodeTensorInfo){"image", dims_of(4, image), 4, FP32};
    infos[1] = (struct CustomNodeTensorInfo){"boxes", dims_of(2, boxes), 2, I32};
    *info = infos;
    *count = 2;
    return 0;
}

int getOutputsInfo(struct CustomNodeTensorInfo** info, int* count, const struct CustomNodeParam* params,
                   int paramsCount, void* manager) {
    (void)params; (void)paramsCount;
    struct manager* m = manager;
    struct CustomNodeTensorInfo* infos = counted_malloc(2 * sizeof *infos);
    uint64_t crops[5] = {0, 1, 0, m->height, m->width}, origins[3] = {0, 1, 2};
    infos[0] = (struct CustomNodeTensorInfo){"crops", dims_of(5, crops), 5, FP32};
    infos[1] = (struct CustomNodeTensorInfo){"origins", dims_of(3, origins), 3, I32};
    *info = infos;
    *count = 2;
    return 0;
}
