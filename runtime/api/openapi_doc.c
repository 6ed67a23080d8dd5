/* openapi_doc.c — docs/openapi.json, embedded in the binary at build time
 * (the Makefile makes this object depend on the file), so GET /openapi.json
 * serves the document in docs/ from an installed binary too, whatever
 * mts_root() is. mts_openapi_json .. mts_openapi_json_end: its bytes (a NUL
 * follows, not counted). The assembler reads the file relative to the build's
 * working directory: the repository's top (make runs there). */
__asm__(".section .rodata\n"
        ".balign 16\n"
        ".globl mts_openapi_json\n"
        ".hidden mts_openapi_json\n"
        "mts_openapi_json:\n"
        ".incbin \"docs/openapi.json\"\n"
        ".globl mts_openapi_json_end\n"
        ".hidden mts_openapi_json_end\n"
        "mts_openapi_json_end:\n"
        ".byte 0\n"
        ".previous\n");
