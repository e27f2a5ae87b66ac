/* Program archives (spec/library-and-archive.md): tar + xz through
 * libarchive, holding one request ELF and optionally one storage ELF whose
 * entry name ends in "storage". Packing is reproducible (fixed mtimes,
 * owners, modes and order: the same ELFs give the same bytes); reading
 * takes our archives, hand-made `tar -cJf` ones and a raw ELF, and treats
 * every byte as hostile (sizes capped, nothing written to disk). */
#ifndef TKVM_PACKAGER_ARCHIVE_H
#define TKVM_PACKAGER_ARCHIVE_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "packager/program_settings.h"
#include "runner/error.h"

/* Limits on what reading accepts (a program larger than this cannot fit a
 * VM anyway; they stop decompression bombs). Sizes are counted as bytes
 * come out of the decompressor, never taken from tar headers: the total
 * bounds the whole decompressed tar stream and, separately, the entry data
 * read (sparse entries can expand beyond the stream). */
#define ARCHIVE_MAX_ELF_BYTES (512u << 20)
#define ARCHIVE_MAX_TOTAL_BYTES (1024u << 20)
#define ARCHIVE_MAX_ENTRIES 4096

struct archive_programs {
	bool raw_elf;          /* the input was an ELF, not an archive */
	char *request_name;    /* base name of its entry ("hello" for "./dir/hello"); NULL for a raw ELF */
	uint8_t *request_elf;  /* never NULL after success */
	size_t request_size;   /* > 0 */
	char *storage_name;    /* base name as above; NULL when there is no storage ELF */
	uint8_t *storage_elf;
	size_t storage_size;
};

/* Entry name of the request ELF for program `name`: the name itself, or
 * name + ".elf" when it ends in "storage" (which would mark a storage ELF).
 * Writes into buf (truncated to size); returns buf. */
const char *archive_request_entry_name(const char *name, char *buf, size_t size);

/* Packs request_elf_path (and storage_elf_path when not NULL, as entry
 * "<name>_storage") into a tar.xz in memory (*out malloc'd). The format is
 * ustar (no pax or GNU headers) under single-threaded xz level 6 (CRC64).
 * Entries are regular files, mode 0755, uid/gid 0, owner "root", mtime 0,
 * in that order; the files must be non-empty ELFs of at most
 * ARCHIVE_MAX_ELF_BYTES. name must be plain ASCII without '/' or spaces
 * and at most 92 characters (so "<name>_storage" fits a ustar name).
 * Returns 0 or a negative code with err naming the file. */
int archive_pack(const char *name, const char *request_elf_path, const char *storage_elf_path, uint8_t **out,
		 size_t *out_size, struct tkvm_error *err);

/* Reads a program from fetched bytes: a raw ELF (the first four bytes
 * decide) or a tar.xz (ustar, pax or GNU tar inside exactly one layer of
 * xz; other compressions and plain tar are refused, as the VMOD does). The
 * whole xz stream is decoded and checked (CRC, index, footer) before the
 * tar is read, so that cuts and flipped bits are caught. In an
 * archive, directories, links and other non-regular entries are skipped;
 * regular files that are not ELFs (empty ones included) are skipped with a
 * warning; among ELF files, one whose base name ends in "storage" is the
 * storage program and exactly one other must be the request program.
 * Errors are one line and say what was wrong ("archive.tar.xz: 2 request
 * programs (a, b); an archive holds exactly one"); entry names in messages
 * show control and non-ASCII bytes as \xNN. source names the bytes in
 * messages; warn may be NULL. On error *out holds nothing. */
int archive_read_programs(const uint8_t *data, size_t size, const char *source, struct archive_programs *out,
			  settings_warning_fn warn, void *warn_context, struct tkvm_error *err);
void archive_programs_free(struct archive_programs *programs);
#endif
