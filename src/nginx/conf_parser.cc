#include "nginx/conf_parser.h"

#include <fnmatch.h>
#include <glob.h>

#include <cctype>
#include <fstream>
#include <sstream>

namespace originwatch::nginx {
namespace {

struct Token {
  std::string text;
  int line = 0;
  bool quoted = false;
  char special = 0;  // ';', '{', '}' or 0 for a word
};

Status Error(const std::string& file, int line, const std::string& what) {
  return Status::InvalidArgument(file + ":" + std::to_string(line) + ": " + what);
}

// After a backslash, quoted or not (ngx_conf_read_token): \" \' \\ \t \r \n
// are translated; any other character keeps its backslash (so regexes such as
// ~^www\.example\.com$ reach PCRE unchanged).
void Unescape(char e, std::string* out) {
  switch (e) {
    case '"': case '\'': case '\\': *out += e; return;
    case 't': *out += '\t'; return;
    case 'r': *out += '\r'; return;
    case 'n': *out += '\n'; return;
    default: *out += '\\'; *out += e;
  }
}

bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

Result<std::vector<Token>> Tokenize(const std::string& text, const std::string& file) {
  std::vector<Token> out;
  int line = 1;
  size_t i = 0;
  const size_t n = text.size();
  while (i < n) {
    char c = text[i];
    if (c == '\n') {
      ++line;
      ++i;
      continue;
    }
    if (IsSpace(c)) {
      ++i;
      continue;
    }
    if (c == '#') {
      while (i < n && text[i] != '\n') ++i;
      continue;
    }
    if (c == ';' || c == '{' || c == '}') {
      out.push_back(Token{std::string(1, c), line, false, c});
      ++i;
      continue;
    }
    Token t;
    t.line = line;
    if (c == '"' || c == '\'') {
      const char q = c;
      t.quoted = true;
      ++i;
      bool closed = false;
      while (i < n) {
        char d = text[i];
        if (d == '\\' && i + 1 < n) {
          Unescape(text[i + 1], &t.text);
          if (text[i + 1] == '\n') ++line;
          i += 2;
          continue;
        }
        if (d == q) {
          closed = true;
          ++i;
          break;
        }
        if (d == '\n') ++line;
        t.text += d;
        ++i;
      }
      if (!closed) return Error(file, t.line, "unexpected end of file: unterminated quote");
      // nginx wants a separator after the closing quote.
      if (i < n && !IsSpace(text[i]) && text[i] != ';' && text[i] != '{' && text[i] != '}') {
        return Error(file, line, std::string("unexpected \"") + text[i] + "\" after a quoted string");
      }
      out.push_back(std::move(t));
      continue;
    }
    while (i < n) {
      char d = text[i];
      if (IsSpace(d) || d == ';' || d == '{' || d == '}') {
        // "${" keeps its brace: a variable, not a block.
        if (d == '{' && !t.text.empty() && t.text.back() == '$') {
          size_t close = text.find('}', i);
          if (close == std::string::npos) return Error(file, line, "unterminated ${...}");
          t.text.append(text, i, close - i + 1);
          i = close + 1;
          continue;
        }
        break;
      }
      if (d == '\\' && i + 1 < n) {
        Unescape(text[i + 1], &t.text);
        if (text[i + 1] == '\n') ++line;
        i += 2;
        continue;
      }
      t.text += d;
      ++i;
    }
    out.push_back(std::move(t));
  }
  // A sentinel line for "unexpected end of file".
  out.push_back(Token{"", line, false, 'E'});
  return out;
}

// Recursive descent over the tokens: directives until '}' (inside a block) or
// the end (at the top).
Result<std::vector<Directive>> ParseBlock(const std::vector<Token>& toks, size_t* pos,
                                          const std::string& file, bool inside, int depth) {
  if (depth > 64) return Error(file, toks[*pos].line, "blocks nested too deep");
  std::vector<Directive> out;
  while (true) {
    const Token& t = toks[*pos];
    if (t.special == 'E') {
      if (inside) return Error(file, t.line, "unexpected end of file, expecting \"}\"");
      return out;
    }
    if (t.special == '}') {
      if (!inside) return Error(file, t.line, "unexpected \"}\"");
      ++*pos;
      return out;
    }
    if (t.special == ';' || t.special == '{') {
      return Error(file, t.line, std::string("unexpected \"") + t.special + "\"");
    }
    Directive d;
    d.name = t.text;
    d.file = file;
    d.line = t.line;
    ++*pos;
    while (true) {
      const Token& a = toks[*pos];
      if (a.special == 0) {
        d.args.push_back(a.text);
        ++*pos;
        continue;
      }
      if (a.special == ';') {
        ++*pos;
        break;
      }
      if (a.special == '{') {
        ++*pos;
        auto inner = ParseBlock(toks, pos, file, true, depth + 1);
        if (!inner.ok()) return inner.status();
        d.has_block = true;
        d.block = std::move(inner.value());
        break;
      }
      if (a.special == 'E') {
        return Error(file, a.line, "unexpected end of file, expecting \";\" or \"}\"");
      }
      return Error(file, a.line, "unexpected \"}\": directive \"" + d.name + "\" is missing its \";\"");
    }
    out.push_back(std::move(d));
  }
}

bool HasGlob(const std::string& s) { return s.find_first_of("*?[") != std::string::npos; }

std::string Dirname(const std::string& path) {
  size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

Status Expand(const FileSource& source, std::vector<Directive>* dirs, const std::string& prefix,
              int depth) {
  std::vector<Directive> out;
  for (Directive& d : *dirs) {
    if (d.name == "include" && !d.has_block) {
      if (d.args.size() != 1) return Error(d.file, d.line, "invalid number of arguments in \"include\"");
      if (depth > 32) return Error(d.file, d.line, "includes nested too deep (a loop?)");
      std::string pattern = d.args[0];
      if (pattern.empty() || pattern[0] != '/') pattern = prefix + "/" + pattern;
      std::vector<std::string> files;
      if (HasGlob(pattern)) {
        files = source.Glob(pattern);
      } else {
        files.push_back(pattern);
      }
      for (const std::string& f : files) {
        auto text = source.Read(f);
        if (!text.ok()) {
          return Error(d.file, d.line, "include \"" + d.args[0] + "\": " + text.status().message());
        }
        auto parsed = ParseConfigText(text.value(), f);
        if (!parsed.ok()) return parsed.status();
        Status s = Expand(source, &parsed.value(), prefix, depth + 1);
        if (!s.ok()) return s;
        for (Directive& x : parsed.value()) out.push_back(std::move(x));
      }
      continue;
    }
    if (d.has_block) {
      Status s = Expand(source, &d.block, prefix, depth);
      if (!s.ok()) return s;
    }
    out.push_back(std::move(d));
  }
  *dirs = std::move(out);
  return Status::Ok();
}

}  // namespace

Result<std::vector<Directive>> ParseConfigText(const std::string& text, const std::string& file) {
  auto toks = Tokenize(text, file);
  if (!toks.ok()) return toks.status();
  size_t pos = 0;
  return ParseBlock(toks.value(), &pos, file, false, 0);
}

Result<std::string> DiskSource::Read(const std::string& path) const {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::NotFound("cannot open \"" + path + "\"");
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::vector<std::string> DiskSource::Glob(const std::string& pattern) const {
  std::vector<std::string> out;
  glob_t g{};
  if (glob(pattern.c_str(), 0, nullptr, &g) == 0) {
    for (size_t i = 0; i < g.gl_pathc; ++i) out.emplace_back(g.gl_pathv[i]);
  }
  globfree(&g);
  return out;
}

Result<DumpSource> DumpSource::FromDump(const std::string& text) {
  static const std::string kHead = "# configuration file ";
  DumpSource d;
  std::istringstream in(text);
  std::string line, current;
  bool any = false;
  while (std::getline(in, line)) {
    if (line.rfind(kHead, 0) == 0 && line.size() > kHead.size() + 1 && line.back() == ':') {
      current = line.substr(kHead.size(), line.size() - kHead.size() - 1);
      if (!any) d.main_ = current;
      any = true;
      d.files_[current];  // present even when empty
      continue;
    }
    if (!any) continue;  // "nginx: the configuration file ... syntax is ok" and the like
    d.files_[current] += line;
    d.files_[current] += '\n';
  }
  if (!any) {
    return Status::InvalidArgument(
        "-:1: not the output of nginx -T (no \"# configuration file PATH:\" line)");
  }
  return d;
}

Result<std::string> DumpSource::Read(const std::string& path) const {
  auto it = files_.find(path);
  if (it == files_.end()) return Status::NotFound("\"" + path + "\" is not in the nginx -T output");
  return it->second;
}

std::vector<std::string> DumpSource::Glob(const std::string& pattern) const {
  std::vector<std::string> out;
  for (const auto& [path, text] : files_) {
    if (fnmatch(pattern.c_str(), path.c_str(), FNM_PATHNAME) == 0) out.push_back(path);
  }
  return out;  // std::map: sorted
}

Result<std::vector<Directive>> LoadConfigTree(const FileSource& source, const std::string& main_file,
                                              const std::string& prefix) {
  auto text = source.Read(main_file);
  if (!text.ok()) return Status::InvalidArgument(main_file + ":0: " + text.status().message());
  auto tree = ParseConfigText(text.value(), main_file);
  if (!tree.ok()) return tree.status();
  Status s = Expand(source, &tree.value(), prefix.empty() ? Dirname(main_file) : prefix, 0);
  if (!s.ok()) return s;
  return tree;
}

bool HasVariable(const std::string& s) {
  for (size_t i = 0; i + 1 < s.size(); ++i) {
    if (s[i] == '$' && (s[i + 1] == '{' || s[i + 1] == '_' || std::isalnum(static_cast<unsigned char>(s[i + 1])))) {
      return true;
    }
  }
  return false;
}

}  // namespace originwatch::nginx
