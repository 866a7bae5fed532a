/* Allocation bookkeeping shared by the test libraries: every buffer handed to the server is
 * counted, every release() too, so tests can assert that the server released everything. */
#pragma once
#include <stdlib.h>
#include <string.h>

static long handed_out = 0;
static long released = 0;

static inline void* counted_malloc(size_t size) {
    __atomic_add_fetch(&handed_out, 1, __ATOMIC_SEQ_CST);
    return malloc(size ? size : 1);
}

int release(void* ptr, void* manager) {
    (void)manager;
    __atomic_add_fetch(&released, 1, __ATOMIC_SEQ_CST);
    free(ptr);
    return 0;
}

/* Not part of the ABI: read by the tests through ctypes. */
long test_handed_out(void) { return __atomic_load_n(&handed_out, __ATOMIC_SEQ_CST); }
long test_released(void) { return __atomic_load_n(&released, __ATOMIC_SEQ_CST); }

static inline const char* param(const struct CustomNodeParam* params, int count, const char* key, const char* fallback) {
    for (int i = 0; i < count; i++)
        if (strcmp(params[i].key, key) == 0) return params[i].value;
    return fallback;
}

static inline struct CustomNodeTensorInfo* one_info(const char* name, uint64_t d0, uint64_t d1, CustomNodeTensorPrecision p) {
    struct CustomNodeTensorInfo* info = counted_malloc(sizeof *info);
    info->name = name;
    info->dimsCount = 2;
    info->dims = counted_malloc(2 * sizeof(uint64_t));
    info->dims[0] = d0;
    info->dims[1] = d1;
    info->precision = p;
    return info;
}
