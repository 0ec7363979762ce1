#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "gossip/authenticated_cipher.h"

namespace libcluster {

/// Bytes from hex digits; spaces are skipped so vectors can be written as in the reference.
inline std::vector<std::uint8_t> fromHex(std::string_view hex) {
  std::vector<std::uint8_t> out;
  int high = -1;
  for (char c : hex) {
    int digit = (c >= '0' && c <= '9')   ? c - '0'
                : (c >= 'a' && c <= 'f') ? c - 'a' + 10
                : (c >= 'A' && c <= 'F') ? c - 'A' + 10
                                         : -1;
    if (digit < 0) {
      continue;
    }
    if (high < 0) {
      high = digit;
    } else {
      out.push_back(static_cast<std::uint8_t>(high * 16 + digit));
      high = -1;
    }
  }
  return out;
}

/// A key of consecutive bytes from `first` (first, first+1, ...): distinct test keys by one number.
inline GossipKey keyOf(std::uint8_t first) {
  GossipKey key{};
  for (std::size_t i = 0; i < key.size(); ++i) {
    key[i] = static_cast<std::uint8_t>(first + i);
  }
  return key;
}

inline std::string toHex(const std::vector<std::uint8_t>& bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  for (std::uint8_t byte : bytes) {
    out.push_back(kDigits[byte >> 4]);
    out.push_back(kDigits[byte & 0xf]);
  }
  return out;
}

inline std::vector<std::uint8_t> bytesOf(std::string_view text) {
  return std::vector<std::uint8_t>(text.begin(), text.end());
}

inline std::vector<std::uint8_t> concat(std::vector<std::uint8_t> a,
                                        const std::vector<std::uint8_t>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

// libcluster-reference.md §3.4, verbatim.
inline constexpr std::string_view kPlainMyappHex =
    "6865617274626561743a3a 8374000000016400046e6f646564000e6d796170704031302e302e302e31";
inline constexpr std::string_view kNonodeCaptureHex =
    "6865617274626561743a3a8374000000016400046e6f646564000d6e6f6e6f6465406e6f686f7374";
inline constexpr std::string_view kOtp26TermHex =
    "83 74 00000001 77 04 6e6f6465 77 0e 6d79617070403130 2e302e302e31";
inline constexpr std::string_view kSecretMyappHex =
    "000102030405060708090a0b0c0d0e0f"
    "0293fcf646d248542d82eea283216c73a6414ea34a4ea772cbe345f5e011158233e06105288188bb23905ee63b2c24"
    "a0";

} // namespace libcluster
