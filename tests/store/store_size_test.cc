// Proves that a probe row stays within the size budget documented in
// docs/storage.md, and measures it: 200,000 probes of 1,000 variants written
// through the store, then VACUUM, then file size / rows.
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <stdlib.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <random>

#include "originwatch/store.h"

namespace originwatch::testing {
namespace {

constexpr int kVariants = 1000;
constexpr int kRounds = 200;  // one probe per variant per minute
// The budgets docs/storage.md promises, after VACUUM: a probe row with its two
// indexes (measured: 80), and the whole file per row with 1,000 distinct
// certificate chains in it (measured: 95).
constexpr double kBudgetProbeBytesPerRow = 90;
constexpr double kBudgetFileBytesPerRow = 105;

CertInfo Cert(const std::string& cn, int n, int der_bytes) {
  CertInfo c;
  c.subject = "CN=" + cn + ",O=Example Corp,C=US";
  c.issuer = "CN=Example Issuing CA " + std::to_string(n % 3) + ",O=Example CA,C=US";
  c.common_name = cn;
  c.serial_hex = "04A1B2C3D4E5F60718293A4B5C6D7E8F";
  c.dns_names = {cn, "www." + cn};
  c.not_before = 1690000000;
  c.not_after = 1690000000 + 90 * 86400;
  c.key_type = KeyType::kEc;
  c.key_bits = 256;
  c.key_curve = "prime256v1";
  c.signature_algorithm = "ecdsa-with-SHA256";
  char hex[65];
  std::snprintf(hex, sizeof hex, "%064x", n);
  c.sha256_hex = hex;
  c.der.assign(static_cast<size_t>(der_bytes), static_cast<char>(n));
  return c;
}

int64_t Pages(sqlite3* db, const char* sql) {
  sqlite3_stmt* st = nullptr;
  int64_t v = -1;
  if (sqlite3_prepare_v2(db, sql, -1, &st, nullptr) == SQLITE_OK &&
      sqlite3_step(st) == SQLITE_ROW) {
    v = sqlite3_column_int64(st, 0);
  }
  sqlite3_finalize(st);
  return v;
}

TEST(StoreSizeTest, ProbeRowsStayWithinTheDocumentedBudget) {
  char tmpl[] = "/tmp/ow-store-size-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  const std::string dir = tmpl;
  const std::string path = dir + "/size.db";
  Store::Options o;
  o.path = path;
  auto store = Store::Open(o);
  ASSERT_TRUE(store.ok()) << store.status().message();

  std::vector<CertInfo> intermediates;
  for (int i = 0; i < 3; ++i)
    intermediates.push_back(Cert("Example Issuing CA", 1000000 + i, 1100));
  std::vector<CertInfo> leaves;
  for (int v = 0; v < kVariants; ++v)
    leaves.push_back(Cert("o" + std::to_string(v) + ".example.com", v, 1300));

  std::mt19937 rng(42);
  const int64_t t0 = 1700000000000;
  const auto start = std::chrono::steady_clock::now();
  for (int round = 0; round < kRounds; ++round) {
    for (int v = 0; v < kVariants; ++v) {
      ProbeResult r;
      r.spec.origin = "o" + std::to_string(v);
      r.spec.host = r.spec.origin + ".example.com";
      r.spec.address = "10.0." + std::to_string(v / 256) + "." + std::to_string(v % 256);
      r.spec.sni = r.spec.host;
      r.started_at_ms = t0 + round * 60000 + v * 37 + static_cast<int64_t>(rng() % 1000);
      r.connect_ms = 1 + rng() % 150;
      if (rng() % 100 < 2) {  // 2% failures
        r.outcome = Outcome::kConnectTimeout;
        r.connect_ms = -1;
        r.total_ms = 5000;
        r.error_text = "connect timed out after 5000 ms";
      } else {
        r.outcome = Outcome::kOk;
        r.handshake_ms = 5 + rng() % 400;
        r.total_ms = r.connect_ms + r.handshake_ms;
        r.version = v % 4 ? "TLSv1.3" : "TLSv1.2";
        r.cipher = v % 4 ? "TLS_AES_256_GCM_SHA384" : "ECDHE-ECDSA-AES128-GCM-SHA256";
        r.group = "X25519";
        r.alpn = "h2";
        r.chain = {leaves[v], intermediates[v % 3]};
        r.chain_verified = true;
        r.verify_code = 0;
        r.names = {{r.spec.host, true}};
      }
      while (!(*store)->Enqueue(r)) (*store)->Flush();
    }
  }
  (*store)->Close();
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const auto st = (*store)->stats();
  ASSERT_EQ(st.committed, static_cast<uint64_t>(kVariants * kRounds));
  const double rows = kVariants * kRounds;
  const auto before = std::filesystem::file_size(path);

  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "VACUUM", nullptr, nullptr, nullptr), SQLITE_OK);
  const int64_t probe_bytes = Pages(
      db,
      "SELECT sum(pgsize) FROM dbstat WHERE name IN ('probes', 'probes_variant_ts', 'probes_ts')");
  const int64_t table_bytes = Pages(db, "SELECT sum(pgsize) FROM dbstat WHERE name = 'probes'");
  sqlite3_close(db);
  const auto after = std::filesystem::file_size(path);
  std::printf(
      "rows=%.0f write=%.2fs (%.0f rows/s) file_before_vacuum=%ju file_after_vacuum=%ju\n"
      "bytes/row: file %.1f (before VACUUM %.1f), probes table+indexes %.1f "
      "(table %.1f)\n",
      rows, seconds, rows / seconds, static_cast<uintmax_t>(before), static_cast<uintmax_t>(after),
      after / rows, before / rows, probe_bytes / rows, table_bytes / rows);
  std::filesystem::remove_all(dir);
  ASSERT_GT(probe_bytes, 0) << "dbstat unavailable";
  EXPECT_LT(probe_bytes / rows, kBudgetProbeBytesPerRow);
  EXPECT_LT(after / rows, kBudgetFileBytesPerRow);
}

}  // namespace
}  // namespace originwatch::testing
