/* fuzz.h - what every libFuzzer target shares; include it from the target's one file.

   The sanitizers are built in recover mode, so UBSan would only print a finding and go on:
   this hook makes it stop the run, as an ASan finding does. */
#ifndef IRIS_FUZZ_H
#define IRIS_FUZZ_H

const char *__ubsan_default_options(void);
const char *__ubsan_default_options(void) { return "halt_on_error=1:print_stacktrace=1"; }

#endif
