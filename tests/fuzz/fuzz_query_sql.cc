// Fuzzes `originwatch query`: the input is the SQL text given to StreamQuery
// against a real database made by Store::Open. Whatever the text, the database
// file keeps its bytes, no other file appears beside it or in the working
// directory (ATTACH, VACUUM INTO and the file PRAGMAs are refused), and the sink sees at most max_rows rows
// between one Begin and one End.
#include <dirent.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <set>
#include <string>
#include <vector>

#include "fuzz_check.h"
#include "originwatch/store.h"

namespace {

constexpr int64_t kMaxRows = 50;

struct Db {
  std::string dir;
  std::string path;
  size_t digest = 0;
  std::set<std::string> files;
  std::string cwd;                  // where a relative path in the SQL (ATTACH 'x.db') lands
  std::set<std::string> cwd_files;
};

size_t Digest(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  return std::hash<std::string>{}(bytes);
}

// The files of dir but SQLite's -wal and -shm companions, which a reader may
// create and remove.
std::set<std::string> Files(const std::string& dir) {
  std::set<std::string> out;
  DIR* d = opendir(dir.c_str());
  FUZZ_CHECK(d != nullptr);
  while (dirent* e = readdir(d)) {
    std::string n = e->d_name;
    if (n == "." || n == ".." || n.ends_with("-wal") || n.ends_with("-shm")) continue;
    out.insert(n);
  }
  closedir(d);
  return out;
}

const Db& TheDb() {
  static const Db* db = [] {
    auto* d = new Db;  // lives for the process
    std::string templ = (std::filesystem::temp_directory_path() / "ow-fuzz-XXXXXX").string();
    std::vector<char> buf(templ.begin(), templ.end());
    buf.push_back('\0');
    FUZZ_CHECK(mkdtemp(buf.data()) != nullptr);
    d->dir = buf.data();
    d->path = d->dir + "/originwatch.db";
    {
      originwatch::Store::Options options;
      options.path = d->path;
      auto store = originwatch::Store::Open(options);
      FUZZ_CHECK(store.ok());
    }  // closed: the WAL is checkpointed into the file
    originwatch::LimitSqliteHeap(64 << 20);
    d->digest = Digest(d->path);
    d->files = Files(d->dir);
    d->cwd = std::filesystem::current_path().string();
    d->cwd_files = Files(d->cwd);
    return d;
  }();
  return *db;
}

class CountingSink : public originwatch::RowSink {
 public:
  void Begin(const std::vector<std::string>&) override {
    FUZZ_CHECK(begins == 0 && ends == 0);
    ++begins;
  }
  bool Row(const std::vector<originwatch::QueryCell>&) override {
    FUZZ_CHECK(begins == 1 && ends == 0);
    ++rows;
    return true;
  }
  bool End() override {
    FUZZ_CHECK(begins == 1 && ends == 0);
    ++ends;
    return true;
  }
  int begins = 0;
  int ends = 0;
  int64_t rows = 0;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const Db& db = TheDb();
  std::string sql(reinterpret_cast<const char*>(data), size);
  originwatch::QueryLimits limits;
  limits.max_rows = kMaxRows;
  limits.timeout_ms = 200;
  CountingSink sink;
  auto r = originwatch::StreamQuery(db.path, sql, {}, limits, sink);
  FUZZ_CHECK(sink.rows <= kMaxRows);
  if (r.ok()) {
    FUZZ_CHECK(r->rows == sink.rows);
    FUZZ_CHECK(sink.ends == sink.begins);
  } else {
    FUZZ_CHECK(!r.status().ToString().empty());
  }
  FUZZ_CHECK(Digest(db.path) == db.digest);
  FUZZ_CHECK(Files(db.dir) == db.files);
  FUZZ_CHECK(Files(db.cwd) == db.cwd_files);
  return 0;
}
