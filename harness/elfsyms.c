/*
 * Reading an ELF file's dynamic symbol table (harness/elfsyms.h). The file
 * is untrusted: every offset and size is checked against the file before it
 * is read, and headers are copied out (memcpy) since the file's offsets
 * need not be aligned.
 */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/ecb.h"
#include "harness/elfsyms.h"

/* Linker-generated symbols some toolchains export from every object. */
static int linker_symbol(const char *s)
{
    static const char *const names[] = {"_init", "_fini", "_edata", "_end", "__bss_start"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++)
        if (strcmp(s, names[i]) == 0) return 1;
    return 0;
}

static int in_file(uint64_t off, uint64_t len, size_t size)
{
    return off <= size && len <= size - off;
}

int ecb_elf_exports(const char *path, const char *entry, size_t *count, int *ours, char *names,
                    size_t nsize)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return ecb_fail(ECB_EIO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || st.st_size < (off_t)sizeof(Elf64_Ehdr)) {
        close(fd);
        return ecb_fail(ECB_EFORMAT, "%s: not an ELF shared object (too small)", path);
    }
    size_t size = (size_t)st.st_size;
    const unsigned char *b = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (b == MAP_FAILED) return ecb_fail(ECB_EIO, "%s: cannot map: %s", path, strerror(errno));
    int rc = ECB_EFORMAT;
    const char *why = NULL;
    Elf64_Ehdr eh;
    memcpy(&eh, b, sizeof eh);
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    const unsigned char native = ELFDATA2LSB;
#else
    const unsigned char native = ELFDATA2MSB;
#endif
    int found = 0;
    Elf64_Shdr sh, strsh;
    if (memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0) {
        why = "not an ELF file";
        goto out;
    }
    if (eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_ident[EI_DATA] != native) {
        why = "not a 64-bit ELF object of this machine's byte order";
        goto out;
    }
    if (eh.e_shentsize < sizeof(Elf64_Shdr) ||
        !in_file(eh.e_shoff, (uint64_t)eh.e_shnum * eh.e_shentsize, size)) {
        why = "section headers outside the file";
        goto out;
    }
    for (size_t i = 0; i < eh.e_shnum && !found; i++) {
        memcpy(&sh, b + eh.e_shoff + i * eh.e_shentsize, sizeof sh);
        found = sh.sh_type == SHT_DYNSYM;
    }
    if (!found) {
        why = "no dynamic symbol table (.dynsym)";
        goto out;
    }
    if (sh.sh_link >= eh.e_shnum || sh.sh_entsize < sizeof(Elf64_Sym) ||
        !in_file(sh.sh_offset, sh.sh_size, size)) {
        why = ".dynsym malformed";
        goto out;
    }
    memcpy(&strsh, b + eh.e_shoff + (size_t)sh.sh_link * eh.e_shentsize, sizeof strsh);
    if (!in_file(strsh.sh_offset, strsh.sh_size, size)) {
        why = ".dynstr outside the file";
        goto out;
    }
    const char *strtab = (const char *)b + strsh.sh_offset;
    size_t off = 0;
    *count = 0;
    *ours = 0;
    names[0] = '\0';
    for (uint64_t i = 0; i < sh.sh_size / sh.sh_entsize; i++) {
        Elf64_Sym s;
        memcpy(&s, b + sh.sh_offset + i * sh.sh_entsize, sizeof s);
        unsigned bind = ELF64_ST_BIND(s.st_info), vis = ELF64_ST_VISIBILITY(s.st_other);
        if (s.st_shndx == SHN_UNDEF || s.st_shndx == SHN_ABS) continue; /* ABS: version nodes */
        if (bind != STB_GLOBAL && bind != STB_WEAK && bind != STB_GNU_UNIQUE) continue;
        if (vis == STV_HIDDEN || vis == STV_INTERNAL) continue;
        if (s.st_name >= strsh.sh_size ||
            !memchr(strtab + s.st_name, '\0', strsh.sh_size - s.st_name)) {
            why = ".dynsym names a string outside .dynstr";
            goto out;
        }
        const char *nm = strtab + s.st_name;
        if (!nm[0] || linker_symbol(nm)) continue;
        (*count)++;
        if (strcmp(nm, entry) == 0) (*ours)++;
        int w = snprintf(names + off, nsize - off, "%s%s", off ? ", " : "", nm);
        if (w > 0 && (size_t)w < nsize - off) off += (size_t)w;
    }
    rc = 0;
out:
    munmap((void *)b, size);
    return rc ? ecb_fail(rc, "%s: %s", path, why) : 0;
}
