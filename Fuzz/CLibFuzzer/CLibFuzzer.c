// Nothing to compile: the header declares libFuzzer's own entry point (see include/CLibFuzzer.h).
#include "CLibFuzzer.h"
