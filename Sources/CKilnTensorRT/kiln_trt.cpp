#include "kiln_trt.h"

extern "C" int kiln_trt_compiled_with_headers(void) { return 0; }
