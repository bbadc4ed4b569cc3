// Pure checks on the strings a configuration holds: DNS names, IP literals,
// identifiers, URLs, and the edit distance behind "did you mean". No I/O.
#pragma once

#include <span>
#include <string>
#include <string_view>

namespace originwatch::config_internal {

// LDH labels of 1..63 characters, not starting or ending with '-', at most 253
// characters, no trailing dot, and a last label that is not all digits (so
// "192.0.2.300" is neither a name nor an address).
bool IsDnsName(std::string_view s);
// A numeric IPv4 or IPv6 address as inet_pton reads it (no brackets, no zone).
bool IsIpLiteral(std::string_view s);
// A DNS server as [agent] resolvers spells it (the resolver's own rule):
// "127.0.0.1", "127.0.0.1:53", "[::1]", "[::1]:5353" or a bare "::1"; a port
// is 1..65535. A bare IPv6 address takes no port ("::1:53" is the address
// ::1:53).
bool IsDnsServer(std::string_view s);
// [A-Za-z0-9._-]+: origin, webhook and profile names.
bool IsIdentifier(std::string_view s);
// [A-Za-z_][A-Za-z0-9_]*
bool IsEnvName(std::string_view s);
// "http://" or "https://" (any case), then a non-empty host (a DNS name, an IPv4
// literal or a bracketed IPv6 literal), an optional :port of 1..65535, then
// optionally a path/query starting with '/' or '?'. No spaces or control bytes.
bool IsHttpUrl(std::string_view s);
// Optimal string alignment distance (an adjacent transposition costs 1).
int EditDistance(std::string_view a, std::string_view b);
// The candidate closest to word within distance 2, or "" (ties: the first).
std::string_view Closest(std::string_view word, std::span<const std::string_view> candidates);
// At most this many bytes of a key or value appear in any config message.
inline constexpr size_t kQuotedLimit = 80;
// s in double quotes, with '"', '\\' and control bytes escaped; beyond
// kQuotedLimit bytes of s, the rest is left out and `...` follows the quotes.
std::string Quoted(std::string_view s);
// A message from toml++ made safe to print: control bytes escaped, each
// '...' excerpt it quotes cut to kQuotedLimit bytes, at most 240 bytes in all.
std::string SafeMessage(std::string_view message);

}  // namespace originwatch::config_internal
