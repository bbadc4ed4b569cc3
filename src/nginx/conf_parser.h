// nginx's configuration language, read as nginx reads it: a tree of
// directives (name, arguments, optional block), each with its file:line, and
// `include` replaced by the directives of the files it names.
//
// Tokens (ngx_conf_file.c): whitespace separates; `;`, `{` and `}` end a
// directive or open/close a block; `#` starts a comment only where a token
// could start; "..." and '...' quote (with \" \' \\ \n \r \t inside), a
// backslash outside quotes takes the next character as is; `${name}` keeps its
// braces. Pure: no I/O besides reading the files (ReadConfigFile).
#pragma once

#include <map>
#include <string>
#include <vector>

#include "originwatch/status.h"

namespace originwatch::nginx {

struct Directive {
  std::string name;
  std::vector<std::string> args;
  std::string file;
  int line = 0;
  bool has_block = false;
  std::vector<Directive> block;
  std::string Where() const { return file + ":" + std::to_string(line); }
};

// Parses one file's text into directives (includes left as they are).
// InvalidArgument "file:line: message" on unbalanced braces, an unterminated
// quote or a directive missing its ";".
Result<std::vector<Directive>> ParseConfigText(const std::string& text, const std::string& file);

// Where the text of each file comes from: the disk, or an `nginx -T` dump.
class FileSource {
 public:
  virtual ~FileSource() = default;
  // Text of one file; NotFound when absent.
  virtual Result<std::string> Read(const std::string& path) const = 0;
  // Paths matching a glob pattern, sorted (as glob(3) does).
  virtual std::vector<std::string> Glob(const std::string& pattern) const = 0;
};

class DiskSource : public FileSource {
 public:
  Result<std::string> Read(const std::string& path) const override;
  std::vector<std::string> Glob(const std::string& pattern) const override;
};

// The files of an `nginx -T` dump: the sections after each
// "# configuration file PATH:" line. The first is the main file.
class DumpSource : public FileSource {
 public:
  // InvalidArgument when the text holds no such section.
  static Result<DumpSource> FromDump(const std::string& text);
  Result<std::string> Read(const std::string& path) const override;
  std::vector<std::string> Glob(const std::string& pattern) const override;
  const std::string& main_file() const { return main_; }

 private:
  std::map<std::string, std::string> files_;
  std::string main_;
};

// Parses `main_file` and every file its includes name (recursively, at most 32
// deep); a relative include resolves against `prefix`. An include without
// glob characters must name an existing file (as nginx: "open() failed"); a
// glob matching nothing is fine.
Result<std::vector<Directive>> LoadConfigTree(const FileSource& source, const std::string& main_file,
                                              const std::string& prefix);

// True when the text contains a variable ($name or ${name}).
bool HasVariable(const std::string& s);

}  // namespace originwatch::nginx
