#pragma once
// SHA-256 (FIPS 180-4) of a byte string, as 64 lowercase hex characters. Used for stable run
// ids and for provenance hashes of input files; not for anything security-related.
#include <string>
#include <string_view>

namespace sims {

std::string Sha256Hex(std::string_view data);

}  // namespace sims
