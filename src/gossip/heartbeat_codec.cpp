#include "gossip/heartbeat_codec.h"

#include <climits>
#include <cstddef>
#include <cstring>
#include <optional>
#include <set>
#include <string>

#include <ei.h>

#include "core/check.h"
#include "core/names.h"

namespace libcluster {
namespace {

constexpr std::uint8_t kVersionMagic = 131;
// Containers nested deeper than this are refused; a heartbeat has depth 1.
constexpr int kMaxDepth = 32;
// binary_to_term refuses atoms of more than 255 characters: 255 bytes in Latin-1, 4 × 255 in UTF-8.
constexpr std::size_t kMaxLatin1AtomBytes = 255;
constexpr std::size_t kMaxUtf8AtomBytes = 4 * kMaxLatin1AtomBytes;

bool isAtomTag(std::uint8_t tag) {
  return tag == ERL_ATOM_EXT || tag == ERL_SMALL_ATOM_EXT || tag == ERL_ATOM_UTF8_EXT ||
         tag == ERL_SMALL_ATOM_UTF8_EXT;
}

/// A cursor over untrusted bytes: every read checks that the bytes exist.
class BoundedReader {
public:
  BoundedReader(std::span<const std::uint8_t> bytes, std::size_t at) : bytes_(bytes), at_(at) {}

  std::size_t at() const { return at_; }
  std::size_t remaining() const { return bytes_.size() - at_; }

  bool read8(std::uint32_t& value) { return readBigEndian(1, value); }
  bool read16(std::uint32_t& value) { return readBigEndian(2, value); }
  bool read32(std::uint32_t& value) { return readBigEndian(4, value); }

  bool skip(std::size_t count) {
    if (count > remaining()) {
      return false;
    }
    at_ += count;
    return true;
  }

private:
  bool readBigEndian(std::size_t width, std::uint32_t& value) {
    if (width > remaining()) {
      return false;
    }
    value = 0;
    for (std::size_t i = 0; i < width; ++i) {
      value = (value << 8) | bytes_[at_ + i];
    }
    at_ += width;
    return true;
  }

  std::span<const std::uint8_t> bytes_;
  std::size_t at_;
};

bool skipTerm(BoundedReader& in, int depth);

bool skipAtom(BoundedReader& in) {
  std::uint32_t tag = 0;
  std::uint32_t length = 0;
  if (!in.read8(tag)) {
    return false;
  }
  switch (tag) {
  case ERL_ATOM_EXT:
    return in.read16(length) && length <= kMaxLatin1AtomBytes && in.skip(length);
  case ERL_ATOM_UTF8_EXT:
    return in.read16(length) && length <= kMaxUtf8AtomBytes && in.skip(length);
  case ERL_SMALL_ATOM_EXT:
  case ERL_SMALL_ATOM_UTF8_EXT:
    return in.read8(length) && in.skip(length);
  default:
    return false;
  }
}

bool skipTerms(BoundedReader& in, std::uint64_t count, int depth) {
  // Every term takes at least one byte, so a count beyond the bytes left is a lie; refusing it
  // early keeps the work proportional to the datagram, not to the claimed size.
  if (count > in.remaining()) {
    return false;
  }
  for (std::uint64_t i = 0; i < count; ++i) {
    if (!skipTerm(in, depth)) {
      return false;
    }
  }
  return true;
}

/// Steps over one complete term, checking every length against the bytes present. Tags a
/// heartbeat never carries and that need more than a length to check (funs, compressed and
/// cached terms, old references) are refused.
bool skipTerm(BoundedReader& in, int depth) {
  if (depth > kMaxDepth || in.remaining() == 0) {
    return false;
  }
  BoundedReader peek = in;
  std::uint32_t tag = 0;
  if (!peek.read8(tag)) {
    return false;
  }
  if (isAtomTag(static_cast<std::uint8_t>(tag))) {
    return skipAtom(in);
  }
  in = peek;
  std::uint32_t n = 0;
  switch (tag) {
  case ERL_SMALL_INTEGER_EXT:
    return in.skip(1);
  case ERL_INTEGER_EXT:
    return in.skip(4);
  case ERL_FLOAT_EXT:
    return in.skip(31);
  case NEW_FLOAT_EXT:
    return in.skip(8);
  case ERL_NIL_EXT:
    return true;
  case ERL_STRING_EXT:
    return in.read16(n) && in.skip(n);
  case ERL_BINARY_EXT:
    return in.read32(n) && in.skip(n);
  case ERL_BIT_BINARY_EXT:
    return in.read32(n) && in.skip(std::size_t{1} + n);
  case ERL_SMALL_BIG_EXT:
    return in.read8(n) && in.skip(std::size_t{1} + n);
  case ERL_LARGE_BIG_EXT:
    return in.read32(n) && in.skip(std::size_t{1} + n);
  case ERL_SMALL_TUPLE_EXT:
    return in.read8(n) && skipTerms(in, n, depth + 1);
  case ERL_LARGE_TUPLE_EXT:
    return in.read32(n) && skipTerms(in, n, depth + 1);
  case ERL_LIST_EXT:
    return in.read32(n) && skipTerms(in, std::uint64_t{n} + 1, depth + 1); // elements and tail
  case ERL_MAP_EXT:
    return in.read32(n) && skipTerms(in, std::uint64_t{n} * 2, depth + 1);
  case ERL_PID_EXT:
    return skipAtom(in) && in.skip(9);
  case ERL_NEW_PID_EXT:
    return skipAtom(in) && in.skip(12);
  case ERL_PORT_EXT:
    return skipAtom(in) && in.skip(5);
  case ERL_NEW_PORT_EXT:
    return skipAtom(in) && in.skip(8);
  case ERL_V4_PORT_EXT:
    return skipAtom(in) && in.skip(12);
  case ERL_NEW_REFERENCE_EXT:
    return in.read16(n) && n <= 5 && skipAtom(in) && in.skip(1 + 4 * std::size_t{n});
  case ERL_NEWER_REFERENCE_EXT:
    return in.read16(n) && n <= 5 && skipAtom(in) && in.skip(4 + 4 * std::size_t{n});
  case ERL_EXPORT_EXT:
    return skipTerms(in, 3, depth + 1);
  default:
    return false;
  }
}

/// One atom through ei, at an index the bounded walk has already vouched for. An atom holding a
/// NUL byte is returned raw (ei's C string would cut it short), so it can neither equal "node"
/// nor pass isNodeName.
bool decodeAtom(std::span<const std::uint8_t> term, int& index, std::string& out) {
  BoundedReader header(term, static_cast<std::size_t>(index));
  std::uint32_t tag = 0;
  std::uint32_t length = 0;
  header.read8(tag);
  bool small = tag == ERL_SMALL_ATOM_EXT || tag == ERL_SMALL_ATOM_UTF8_EXT;
  if (!(small ? header.read8(length) : header.read16(length)) || length > header.remaining()) {
    return false;
  }
  std::span<const std::uint8_t> raw = term.subspan(header.at(), length);

  char name[MAXATOMLEN_UTF8];
  erlang_char_encoding was = ERLANG_ASCII;
  erlang_char_encoding result = ERLANG_ASCII;
  if (ei_decode_atom_as(reinterpret_cast<const char*>(term.data()), &index, name, sizeof name,
                        ERLANG_UTF8, &was, &result) < 0) {
    return false;
  }
  if (std::memchr(raw.data(), 0, raw.size()) != nullptr) {
    out.assign(reinterpret_cast<const char*>(raw.data()), raw.size());
  } else {
    out = name;
  }
  return true;
}

void skipAt(std::span<const std::uint8_t> term, int& index) {
  BoundedReader in(term, static_cast<std::size_t>(index));
  bool skipped = skipTerm(in, 1);
  CHECK(skipped, "the whole term was validated before decoding");
  index = static_cast<int>(in.at());
}

void appendAtom(std::vector<std::uint8_t>& out, std::string_view name, AtomEncoding encoding) {
  if (encoding == AtomEncoding::Latin1) {
    out.push_back(ERL_ATOM_EXT);
    out.push_back(static_cast<std::uint8_t>(name.size() >> 8));
  } else {
    out.push_back(ERL_SMALL_ATOM_UTF8_EXT);
  }
  out.push_back(static_cast<std::uint8_t>(name.size() & 0xff));
  out.insert(out.end(), name.begin(), name.end());
}

} // namespace

std::vector<std::uint8_t> encodeNodeTerm(std::string_view node, AtomEncoding encoding) {
  CHECK(isNodeName(node), "only valid node names are sent");
  std::vector<std::uint8_t> out{kVersionMagic, ERL_MAP_EXT, 0, 0, 0, 1};
  out.reserve(out.size() + std::size_t{2} * 3 + 4 + node.size());
  appendAtom(out, "node", encoding);
  appendAtom(out, node, encoding);
  return out;
}

std::vector<std::uint8_t> encodeHeartbeat(std::string_view node, AtomEncoding encoding) {
  std::vector<std::uint8_t> out(kHeartbeatPrefix.begin(), kHeartbeatPrefix.end());
  std::vector<std::uint8_t> term = encodeNodeTerm(node, encoding);
  out.insert(out.end(), term.begin(), term.end());
  return out;
}

HeartbeatDecoding decodeNodeTerm(std::span<const std::uint8_t> term) {
  HeartbeatDecoding malformed{GossipOutcome::Malformed, {}};
  // ei's decoders trust the lengths inside the term and take no buffer size, so the whole term
  // is walked with bounds checks first; ei then only reads bytes that walk has vouched for.
  if (term.empty() || term[0] != kVersionMagic || term.size() > INT_MAX / 2) {
    return malformed;
  }
  BoundedReader walk(term, 1);
  if (!skipTerm(walk, 0)) {
    return malformed;
  }

  const char* buf = reinterpret_cast<const char*>(term.data());
  int index = 0;
  int version = 0;
  int type = 0;
  int size = 0;
  int arity = 0;
  if (ei_decode_version(buf, &index, &version) < 0 || ei_get_type(buf, &index, &type, &size) < 0) {
    return malformed;
  }
  if (type != ERL_MAP_EXT) {
    return {GossipOutcome::UnexpectedTerm, {}};
  }
  if (ei_decode_map_header(buf, &index, &arity) < 0) {
    return malformed;
  }

  std::set<std::string> atomKeys;
  std::optional<std::string> node;
  bool nodeKeyHoldsAtom = false;
  for (int i = 0; i < arity; ++i) {
    bool keyIsNode = false;
    if (isAtomTag(term[static_cast<std::size_t>(index)])) {
      std::string key;
      if (!decodeAtom(term, index, key)) {
        return malformed;
      }
      // binary_to_term refuses a map with a repeated key.
      if (!atomKeys.insert(key).second) {
        return malformed;
      }
      keyIsNode = key == "node";
    } else {
      skipAt(term, index);
    }
    if (keyIsNode && isAtomTag(term[static_cast<std::size_t>(index)])) {
      std::string value;
      if (!decodeAtom(term, index, value)) {
        return malformed;
      }
      node = std::move(value);
      nodeKeyHoldsAtom = true;
    } else {
      skipAt(term, index);
    }
  }
  if (!nodeKeyHoldsAtom) {
    return {GossipOutcome::UnexpectedTerm, {}};
  }
  if (!isNodeName(*node)) {
    return {GossipOutcome::InvalidNode, {}};
  }
  return {GossipOutcome::Accepted, std::move(*node)};
}

HeartbeatDecoding decodeHeartbeat(std::span<const std::uint8_t> packet) {
  if (packet.size() < kHeartbeatPrefix.size() ||
      std::memcmp(packet.data(), kHeartbeatPrefix.data(), kHeartbeatPrefix.size()) != 0) {
    return {GossipOutcome::NotHeartbeat, {}};
  }
  return decodeNodeTerm(packet.subspan(kHeartbeatPrefix.size()));
}

} // namespace libcluster
