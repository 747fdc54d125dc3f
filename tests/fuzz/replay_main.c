/*
 * replay_main.c - a harness without libFuzzer: every regular file of
 * each directory named on the command line (or each file named) goes
 * once to LLVMFuzzerTestOneInput(), in name order.
 *
 *   fuzz_json_long_replay tests/fuzz/corpus/json_long
 *
 * Exits 0 when every input ran, 1 when a directory holds no input or
 * a file cannot be read; a failing input aborts, as under libFuzzer,
 * after its name was printed.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"

/* Feed one file; false when it cannot be read. */
static bool
replay_file(const char *path)
{
	FILE		*fp;
	struct stat	 st;
	uint8_t		*buf;
	size_t		 n;

	if ((fp = fopen(path, "rb")) == NULL || fstat(fileno(fp), &st) != 0) {
		fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
		if (fp != NULL)
			fclose(fp);
		return false;
	}
	/* Exactly its size: a read past the end is the sanitizer's. */
	if ((buf = malloc(st.st_size > 0 ? (size_t)st.st_size : 1)) == NULL)
		abort();
	n = fread(buf, 1, (size_t)st.st_size, fp);
	fclose(fp);
	if (n != (size_t)st.st_size) {
		fprintf(stderr, "replay: %s: short read\n", path);
		free(buf);
		return false;
	}
	fprintf(stderr, "replay: %s (%zu bytes)\n", path, n);
	LLVMFuzzerTestOneInput(buf, n);
	free(buf);
	return true;
}

static int
replay_dir(const char *dir)
{
	struct dirent	**names;
	char		  path[4096];
	int		  n, i, ran = 0, bad = 0;

	if ((n = scandir(dir, &names, NULL, alphasort)) < 0) {
		fprintf(stderr, "replay: %s: %s\n", dir, strerror(errno));
		return -1;
	}
	for (i = 0; i < n; i++) {
		struct stat	st;

		snprintf(path, sizeof(path), "%s/%s", dir, names[i]->d_name);
		if (names[i]->d_name[0] != '.' && stat(path, &st) == 0 &&
		    S_ISREG(st.st_mode)) {
			if (replay_file(path))
				ran++;
			else
				bad++;
		}
		free(names[i]);
	}
	free(names);
	if (ran == 0)
		fprintf(stderr, "replay: %s: no input\n", dir);
	return bad > 0 || ran == 0 ? -1 : ran;
}

int
main(int argc, char *argv[])
{
	struct stat	st;
	int		i, n, total = 0, rc = 0;

	if (argc < 2) {
		fprintf(stderr, "usage: %s CORPUS_DIR|FILE ...\n", argv[0]);
		return 2;
	}
	for (i = 1; i < argc; i++) {
		if (stat(argv[i], &st) == 0 && S_ISDIR(st.st_mode))
			n = replay_dir(argv[i]);
		else
			n = replay_file(argv[i]) ? 1 : -1;
		if (n < 0)
			rc = 1;
		else
			total += n;
	}
	printf("replayed %d inputs\n", total);
	return rc;
}
