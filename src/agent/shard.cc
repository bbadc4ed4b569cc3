#include "agent/shard.h"

#include <algorithm>
#include <string>

#include "originwatch/agent.h"

namespace originwatch::agent_internal {
namespace {

void ReplaceAll(std::string* s, std::string_view from, const std::string& to) {
  for (size_t at = s->find(from); at != std::string::npos; at = s->find(from, at + to.size()))
    s->replace(at, from.size(), to);
}

}  // namespace

uint64_t ShardHash(const OriginConfig& o) { return Fnv1a64(o.upstream.empty() ? o.name : o.upstream); }

int ShardOf(const OriginConfig& o, int count) {
  return static_cast<int>(ShardHash(o) % static_cast<uint64_t>(std::max(count, 1))) + 1;
}

int EngineThreadOf(const OriginConfig& o, int count, int threads) {
  const uint64_t h = ShardHash(o) / static_cast<uint64_t>(std::max(count, 1));
  return static_cast<int>(h % static_cast<uint64_t>(std::max(threads, 1)));
}

void ApplyShard(AgentConfig* cfg, int index, int count) {
  // Without --shard the agent is the one shard of one: {shard} is 1.
  if (count <= 0) index = 1;
  if (count > 0) std::erase_if(cfg->origins, [&](const OriginConfig& o) { return ShardOf(o, count) != index; });
  ReplaceAll(&cfg->database, "{shard}", std::to_string(index));
  ReplaceAll(&cfg->listen, "{shard}", std::to_string(index));
}


}  // namespace originwatch::agent_internal

namespace originwatch {

bool ParseShardSpec(std::string_view text, int* index, int* count, std::string* error) {
  auto number = [](std::string_view s, int* out) {
    if (s.empty() || s.size() > 4) return false;
    int v = 0;
    for (char c : s) {
      if (c < '0' || c > '9') return false;
      v = v * 10 + (c - '0');
    }
    *out = v;
    return true;
  };
  const size_t slash = text.find('/');
  int i = 0, n = 0;
  if (slash == std::string_view::npos || !number(text.substr(0, slash), &i) || !number(text.substr(slash + 1), &n)) {
    *error = "bad --shard \"" + std::string(text) + "\": use i/N, e.g. 2/3";
    return false;
  }
  if (n < 1 || n > kMaxShards || i < 1 || i > n) {
    *error = "bad --shard \"" + std::string(text) + "\": need 1 <= i <= N <= " + std::to_string(kMaxShards);
    return false;
  }
  *index = i;
  *count = n;
  return true;
}

}  // namespace originwatch
