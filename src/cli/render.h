// Presentation of probe results and diagnoses: the readable report (what
// `openssl s_client` shows, explained) and the stable JSON document
// (docs/probe-json.md).
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "originwatch/diagnose.h"
#include "originwatch/probe.h"

namespace originwatch::cli {

struct ProbeReportInput {
  std::string host;
  uint16_t port = 443;
  std::vector<std::string> addresses;
  std::string ca_description;
  int64_t now_s = 0;
  std::vector<ProbeResult> results;
  Diagnosis diagnosis;
};

std::string RenderProbeText(const ProbeReportInput& in, bool color);
nlohmann::json ProbeJson(const ProbeReportInput& in);
nlohmann::json ResultJson(const ProbeResult& r, int64_t now_s);
nlohmann::json CertJson(const CertInfo& c, int64_t now_s);
nlohmann::json FindingJson(const Finding& f);
// Dumps JSON replacing invalid UTF-8 (hostile servers put any bytes in
// certificate names) instead of throwing.
std::string DumpJson(const nlohmann::json& j, int indent = 2);
std::string IsoTime(int64_t unix_s);

}  // namespace originwatch::cli
