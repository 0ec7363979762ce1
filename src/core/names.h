#pragma once

#include <string_view>

namespace libcluster {

// The project's one set of name checks. Each is hand-written (no std::regex: it is slow to build,
// recursive on long input, and breaks the sanitizer build with g++ 12), works on bytes, and
// accepts ASCII only: any byte >= 0x80, a NUL or a control character is refused.

/// An Erlang node name `alive@host` as libcluster and this project write it: alive is
/// [A-Za-z0-9_-]+, host is [A-Za-z0-9_.:-]+ (a hostname, an IPv4 or an IPv6 address without
/// brackets), exactly one '@', at most 255 bytes (an atom's limit). The one node-name validator.
bool isNodeName(std::string_view name);

/// The part before '@' that the project puts on every node of a topology: [A-Za-z0-9_-]{1,64}.
bool isNodeBasename(std::string_view basename);

/// An Erlang module atom written without quotes: [a-z][A-Za-z0-9_@.]* or Elixir.[A-Za-z0-9_.]+,
/// at most 255 bytes.
bool isErlangModuleName(std::string_view name);

/// An Erlang function atom written without quotes: [a-z][A-Za-z0-9_@]*, at most 255 bytes.
bool isErlangFunctionName(std::string_view name);

/// A Kubernetes DNS-1123 label (a namespace name): [a-z0-9]([-a-z0-9]*[a-z0-9])?, at most 63.
bool isDns1123Label(std::string_view name);

/// A Kubernetes DNS-1123 subdomain (most object names): dot-separated DNS-1123 labels, at most
/// 253 bytes.
bool isDns1123Subdomain(std::string_view name);

/// A topology's name in the agent configuration: [A-Za-z0-9_][A-Za-z0-9_.-]{0,62}.
bool isTopologyName(std::string_view name);

/// The number forms of a YAML 1.2 core-schema plain scalar (the agent configuration's YAML):
/// Integer [-+]?[0-9]+, Octal 0o[0-7]+, Hex 0x[0-9a-fA-F]+, Float
/// [-+]?(.[0-9]+|[0-9]+(.[0-9]*)?)([eE][-+]?[0-9]+)?; NotANumber for anything else.
enum class YamlNumberForm { NotANumber, Integer, Octal, Hex, Float };
YamlNumberForm yamlNumberForm(std::string_view text);

} // namespace libcluster
