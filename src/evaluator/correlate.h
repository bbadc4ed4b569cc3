// Private to src/evaluator: upstream correlation. A front that names its
// upstream (`upstream = "NAME"` on its [[origin]]) and answers 502 or 504 has
// its finding rewritten to say why, from the upstream origin's CURRENT
// diagnosis (the evaluator's latest for that origin). Pure: no I/O, no clock.
#pragma once

#include <string>
#include <vector>

#include "originwatch/diagnose.h"
#include "originwatch/probe.h"

namespace originwatch::evaluator_internal {

struct UpstreamView {
  std::string name;  // the upstream's origin name
  std::string host;  // its configured host
  // Its latest diagnosis; nullptr when it has not been probed yet.
  const Diagnosis* diagnosis = nullptr;
  // The latest results that diagnosis was made of (nullptr: not known).
  const std::vector<ProbeResult>* latest = nullptr;
};

// True for the finding codes correlation rewrites (bad_gateway, gateway_timeout).
bool IsGatewayFinding(const std::string& code);

// Rewrites f (a bad_gateway or gateway_timeout finding whose evidence is the
// front's result `front`) so its summary starts "<host/path> answers 502
// because its upstream <host> <why>" and its fix names the directive that
// repairs it. Findings of other codes are left as they are.
void ExplainByUpstream(Finding& f, const ProbeResult& front, const UpstreamView& up);

}  // namespace originwatch::evaluator_internal
