/*
 * fuzz_bundle.c: the configuration bundle parser (manager/bundle.c) on
 * arbitrary bytes: bundle_parse, then bundle_verify with a fixed test
 * key, so that inputs that keep a valid signature (the seeds in
 * t/fuzz/bundle/ are signed with it) go on past the signature check.
 * The test key's private half is the 32 bytes 0, 1, ..., 31; it signs
 * nothing outside this corpus.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "bundle.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

/* fuzz_key: the fixed Ed25519 test key. */
static EVP_PKEY *
fuzz_key(void)
{
	static EVP_PKEY	*key;
	uint8_t		 seed[32];
	size_t		 i;

	if (key == NULL) {
		for (i = 0; i < sizeof(seed); i++)
			seed[i] = (uint8_t)i;
		key = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL,
		    seed, sizeof(seed));
		if (key == NULL)
			abort();
	}
	return key;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	EVP_PKEY	*keys[1];
	struct bundle	*b;
	char		 err[256];
	size_t		 body, i;

	b = bundle_parse(data, size, &body, err, sizeof(err));
	if (b != NULL) {
		if (body + 2 + BUNDLE_SIG_LEN != size)
			abort();
		for (i = 0; i < b->nfiles; i++)
			if (!bundle_path_ok(b->files[i].path,
			    strlen(b->files[i].path)))
				abort();
	}
	bundle_free(b);
	keys[0] = fuzz_key();
	bundle_free(bundle_verify(data, size, keys, 1, 0, err, sizeof(err)));
	return 0;
}
