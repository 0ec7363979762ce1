#pragma once

// An OpenSSL EVP cipher context owned by a unique_ptr, shared by the two gossip ciphers.
// Internal to src/gossip: includes OpenSSL, so it is not included from public headers.

#include <memory>

#include <openssl/evp.h>

#include "core/check.h"

namespace libcluster::gossip_detail {

using CipherContext = std::unique_ptr<EVP_CIPHER_CTX, decltype(&EVP_CIPHER_CTX_free)>;

/// A fresh context; allocation failure is a bug-level condition (out of memory), so it aborts.
inline CipherContext newCipherContext() {
  CipherContext context(EVP_CIPHER_CTX_new(), &EVP_CIPHER_CTX_free);
  CHECK(context != nullptr, "OpenSSL could not allocate a cipher context");
  return context;
}

} // namespace libcluster::gossip_detail
