// libFuzzer's driver, linked by `-sanitize=fuzzer` (compiler-rt's libclang_rt.fuzzer). SwiftPM links executables
// with their own `main` (it renames the module's entry point), so a fuzz target's `@main` hands control to the
// driver with its callback instead of relying on libFuzzer's `main`.
#ifndef FWX_CLIBFUZZER_H
#define FWX_CLIBFUZZER_H
#include <stddef.h>
#include <stdint.h>

typedef int (*FWXFuzzCallback)(const uint8_t *data, size_t size);

/// Runs libFuzzer with the command line `argc`/`argv` (its options, corpus folders, inputs) over `callback`.
/// Returns the process exit status libFuzzer chose (0, or non-zero after a crash, leak, timeout or out-of-memory).
int LLVMFuzzerRunDriver(int *argc, char ***argv, FWXFuzzCallback callback);

#endif
