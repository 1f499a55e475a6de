#!/usr/bin/env python3
"""Look-alike domains of brands, made by dnstwist's own fuzzers (no DNS, no network).

Reads brand names, one per line, on standard input; writes `fuzzer<TAB>brand<TAB>domain`
lines for `<brand>.com` to standard output. The fuzzers that do not make a look-alike of the
brand's label (`subdomain`, `tld-swap`, `various`) and the original are left out.

The dictionary fuzzer gets the words phishers put around a brand. They are kept here on purpose
and differ in part from certhound's suspicious words, so the measurement is not of a list
against itself.

Used by actors/tests/lookalikes.rs, with the Python of the tests' venv (DNSTWIST_PYTHON).
"""
import sys

import dnstwist

SKIP = {"*original", "subdomain", "tld-swap", "various"}
DICTIONARY = [
    "login", "secure", "account", "verify", "support", "update", "help", "online",
    "service", "signin", "wallet", "pay", "billing", "auth", "portal", "my",
]


def main():
    brands = [line.strip() for line in sys.stdin if line.strip()]
    out = sys.stdout
    for brand in brands:
        fuzz = dnstwist.Fuzzer(brand + ".com", dictionary=DICTIONARY)
        fuzz.generate()
        for d in sorted(fuzz.domains, key=lambda d: (d["fuzzer"], d["domain"])):
            if d["fuzzer"] in SKIP:
                continue
            out.write("%s\t%s\t%s\n" % (d["fuzzer"], brand, d["domain"]))


if __name__ == "__main__":
    main()
