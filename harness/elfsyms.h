/*
 * The exported dynamic symbols of an ELF shared object, read from the file
 * itself (its .dynsym), so that `ecbench check-plugin` needs no binutils:
 * a plugin must export exactly its entry symbol.
 */
#ifndef ECB_ELFSYMS_H
#define ECB_ELFSYMS_H

#include <stddef.h>

/* Counts the defined, visible (default or protected), global or weak
 * dynamic symbols of the 64-bit ELF object at path, leaving out
 * linker-generated ones (_init, _fini, _edata, _end, __bss_start) and
 * version nodes; *ours counts those named entry. names receives them
 * comma-separated (truncated to nsize). Returns 0, or ECB_EIO/ECB_EFORMAT
 * with a message naming the file and what is malformed. */
int ecb_elf_exports(const char *path, const char *entry, size_t *count, int *ours, char *names,
                    size_t nsize);

#endif
