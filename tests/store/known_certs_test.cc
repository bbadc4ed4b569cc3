// Proves that the store keeps Options::known_certs equal to the certificates
// it holds (filled at open, grown by commits, shrunk by retention), that a
// result whose certificates carry no DER links to the stored rows without
// touching their DER or stores the facts of a row retention deleted, and that
// a commit that fails inside a batch rolls back alone.
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <memory>
#include <string>

#include "originwatch/known_certs.h"
#include "originwatch/store.h"
#include "scalar.h"
#include "support/results.h"

namespace originwatch::testing {
namespace {

constexpr int64_t kT0 = 1700000000000;
constexpr int64_t kNowS = kT0 / 1000;

class KnownCertsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (std::filesystem::temp_directory_path() / "ow-known-certs-XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    path_ = dir_ + "/history.db";
    leaf_ = TestLeaf("shop.example", {"shop.example"}, kNowS, 60);
    inter_ = TestIntermediate(kNowS);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::unique_ptr<Store> Open(std::shared_ptr<KnownCertificates> known) {
    Store::Options o;
    o.path = path_;
    o.known_certs = std::move(known);
    auto s = Store::Open(o);
    EXPECT_TRUE(s.ok()) << s.status().message();
    return s.ok() ? std::move(s).value() : nullptr;
  }

  std::string Scalar(const std::string& sql) {
    return ScalarOf(path_, sql);
  }

  ProbeResult Ok(int64_t ts, std::vector<CertInfo> chain, const std::string& origin = "shop") {
    return WithNamesCovered(OkResult(
        TestSpec(origin, origin + ".example", "192.0.2.1", origin + ".example"), ts, std::move(chain)));
  }

  static CertInfo WithoutDer(CertInfo c) {
    c.der.clear();
    return c;
  }

  std::string dir_;
  std::string path_;
  CertInfo leaf_, inter_;
};

TEST_F(KnownCertsTest, OpenFillsTheSetWithEveryStoredCertificate) {
  {
    auto store = Open(nullptr);
    ASSERT_TRUE(store);
    ASSERT_TRUE(store->Enqueue(Ok(kT0, {leaf_, inter_})));
    store->Close();
  }
  auto known = std::make_shared<KnownCertificates>();
  auto store = Open(known);
  ASSERT_TRUE(store);
  EXPECT_EQ(known->size(), 2u);
  EXPECT_TRUE(known->Contains(leaf_.sha256_hex));
  EXPECT_TRUE(known->Contains(inter_.sha256_hex));
}

TEST_F(KnownCertsTest, ACommitAddsTheCertificatesItStored) {
  auto known = std::make_shared<KnownCertificates>();
  auto store = Open(known);
  ASSERT_TRUE(store);
  EXPECT_EQ(known->size(), 0u);
  ASSERT_TRUE(store->Enqueue(Ok(kT0, {leaf_, inter_})));
  store->Flush();
  EXPECT_EQ(known->size(), 2u);
  EXPECT_TRUE(known->Contains(leaf_.sha256_hex));
  EXPECT_TRUE(known->Contains(inter_.sha256_hex));
}

TEST_F(KnownCertsTest, RetentionRemovesTheCertificatesItDeletes) {
  auto known = std::make_shared<KnownCertificates>();
  auto store = Open(known);
  ASSERT_TRUE(store);
  const CertInfo new_leaf = TestLeaf("shop.example", {"shop.example"}, kNowS, 80, KeyType::kEc,
                                     FakeSha256("renewed"));
  const int64_t cutoff = kT0 + 60'000;
  ASSERT_TRUE(store->Enqueue(Ok(kT0, {leaf_, inter_})));
  ASSERT_TRUE(store->Enqueue(Ok(cutoff + 1, {new_leaf, inter_}, "blog")));
  store->Flush();
  ASSERT_EQ(known->size(), 3u);
  ASSERT_TRUE(store->Prune(cutoff).ok());
  EXPECT_EQ(Scalar("SELECT count(*) FROM certificates"), "2");
  EXPECT_FALSE(known->Contains(leaf_.sha256_hex));
  EXPECT_TRUE(known->Contains(new_leaf.sha256_hex));
  EXPECT_TRUE(known->Contains(inter_.sha256_hex));
  EXPECT_EQ(known->size(), 2u);
}

TEST_F(KnownCertsTest, AnEmptyDerOfAStoredCertificateLinksToItsRowAndKeepsItsDer) {
  auto known = std::make_shared<KnownCertificates>();
  {
    auto store = Open(known);
    ASSERT_TRUE(store);
    ASSERT_TRUE(store->Enqueue(Ok(kT0, {leaf_, inter_})));
    // The same chain without DER, and a new chain (the leaf alone) of the same
    // certificate without DER, within the same run (cached ids).
    ASSERT_TRUE(store->Enqueue(Ok(kT0 + 1, {WithoutDer(leaf_), WithoutDer(inter_)})));
    ASSERT_TRUE(store->Enqueue(Ok(kT0 + 2, {WithoutDer(leaf_)}, "blog")));
    store->Close();
    EXPECT_EQ(store->stats().committed, 3u);
    EXPECT_EQ(store->stats().certs_without_der, 0u);
  }
  {
    // After a restart (no cached ids): one more chain of the stored leaf.
    auto store = Open(known);
    ASSERT_TRUE(store);
    ASSERT_TRUE(store->Enqueue(Ok(kT0 + 3, {WithoutDer(inter_)}, "api")));
    store->Close();
    EXPECT_EQ(store->stats().certs_without_der, 0u);
    EXPECT_EQ(store->stats().write_errors, 0u);
  }
  EXPECT_EQ(Scalar("SELECT count(*) FROM certificates"), "2");
  EXPECT_EQ(Scalar("SELECT count(*) FROM chains"), "3");
  EXPECT_EQ(Scalar("SELECT count(*) FROM certificates WHERE length(der) = 0"), "0");
  EXPECT_EQ(Scalar("SELECT hex(der) = '30820100' || hex('" + leaf_.sha256_hex +
                   "') FROM certificates WHERE sha256 = '" + leaf_.sha256_hex + "'"),
            "1");
  EXPECT_EQ(Scalar("SELECT count(DISTINCT ch.leaf_cert_id) FROM chains ch JOIN probes p "
                   "ON p.chain_id = ch.id WHERE p.ts IN (" +
                   std::to_string(kT0) + ", " + std::to_string(kT0 + 1) + ", " +
                   std::to_string(kT0 + 2) + ")"),
            "1");
}

TEST_F(KnownCertsTest, AnEmptyDerOfAnUnknownCertificateStoresItsFactsUntilTheDerComes) {
  auto known = std::make_shared<KnownCertificates>();
  auto store = Open(known);
  ASSERT_TRUE(store);
  // The engine believed both stored; retention had deleted them.
  ASSERT_TRUE(store->Enqueue(Ok(kT0, {WithoutDer(leaf_), WithoutDer(inter_)})));
  store->Flush();
  EXPECT_EQ(store->stats().certs_without_der, 2u);
  EXPECT_EQ(store->stats().write_errors, 0u);
  EXPECT_EQ(Scalar("SELECT count(*) FROM certificates WHERE length(der) = 0"), "2");
  EXPECT_EQ(Scalar("SELECT subject || '|' || not_after || '|' || sans FROM certificates WHERE "
                   "sha256 = '" + leaf_.sha256_hex + "'"),
            "CN=shop.example|" + std::to_string(leaf_.not_after) + "|shop.example");
  EXPECT_EQ(Scalar("SELECT leaf_subject FROM latest"), "CN=shop.example");
  // Without its DER the row stays unknown, so the engine sends the DER again.
  EXPECT_FALSE(known->Contains(leaf_.sha256_hex));
  ASSERT_TRUE(store->Enqueue(Ok(kT0 + 1, {leaf_, inter_})));
  store->Flush();
  EXPECT_EQ(Scalar("SELECT count(*) FROM certificates WHERE length(der) = 0"), "0");
  EXPECT_EQ(Scalar("SELECT count(*) FROM certificates"), "2");
  EXPECT_TRUE(known->Contains(leaf_.sha256_hex));
  EXPECT_TRUE(known->Contains(inter_.sha256_hex));
  EXPECT_EQ(store->stats().certs_without_der, 2u);
}

TEST_F(KnownCertsTest, AFailingCommitInABatchRollsBackAloneAndTheOthersAreWritten) {
  auto store = Open(nullptr);
  ASSERT_TRUE(store);
  store->Flush();
  // A real trigger of SQLite refuses one alert state.
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path_.c_str(), &db), SQLITE_OK);
  EXPECT_EQ(sqlite3_exec(db,
                         "CREATE TRIGGER poison BEFORE INSERT ON alert_state "
                         "WHEN NEW.key = 'poison' BEGIN SELECT RAISE(ABORT, 'poisoned'); END;",
                         nullptr, nullptr, nullptr),
            SQLITE_OK);
  sqlite3_close(db);
  for (int i = 0; i < 3; ++i) {
    Commit c;
    c.probe = Ok(kT0 + i, {leaf_, inter_});
    c.at_ms = kT0 + i;
    c.states.push_back({i == 1 ? "poison" : "variant:" + std::to_string(i), "{}", false});
    ASSERT_TRUE(store->Enqueue(std::move(c)));
  }
  store->Flush();
  const Store::Stats st = store->stats();
  EXPECT_EQ(st.write_errors, 1u);
  EXPECT_EQ(st.committed, 2u);
  EXPECT_EQ(Scalar("SELECT group_concat(ts) FROM (SELECT ts FROM probes ORDER BY ts)"),
            std::to_string(kT0) + "," + std::to_string(kT0 + 2));
  EXPECT_EQ(Scalar("SELECT group_concat(key) FROM (SELECT key FROM alert_state ORDER BY key)"),
            "variant:0,variant:2");
  EXPECT_EQ(Scalar("SELECT consecutive_successes FROM variant_state"), "2");
  EXPECT_EQ(Scalar("SELECT count(*) FROM certificates"), "2");
}

}  // namespace
}  // namespace originwatch::testing
