/* vocab_data.c - the built-in merge list (clip/vocab/merges.txt, MIT, OpenAI CLIP), embedded at
   build time so that a user with a single-file checkpoint needs no vocabulary files.

   The assembler's .incbin does it: gcc and clang both accept it (ELF targets), it needs no
   build step or generated source, and the path is relative to the repository root, where make
   runs. The Makefile makes this object depend on the data file. */

__asm__(".pushsection .rodata\n"
        ".balign 16\n"
        ".globl iris_clip_merges_data\n"
        "iris_clip_merges_data:\n"
        ".incbin \"clip/vocab/merges.txt\"\n"
        ".globl iris_clip_merges_end\n"
        "iris_clip_merges_end:\n"
        ".byte 0\n"
        ".popsection\n");
