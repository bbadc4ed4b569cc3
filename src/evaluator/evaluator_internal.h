// Private helpers of the evaluator: state keys and the comparison that decides
// whether a state changed enough to be written.
#pragma once

#include <string_view>

#include "originwatch/alert.h"

namespace originwatch::evaluator_internal {

inline constexpr std::string_view kVariantPrefix = "variant:";
inline constexpr std::string_view kCertPrefix = "cert:";
inline constexpr std::string_view kDnsPrefix = "dns:";
inline constexpr std::string_view kAddressesPrefix = "addresses:";

// True when b differs from a only in what a restart can do without: the time
// of the newest result, the last success time, and success counters beyond
// `cap` (the largest threshold that reads them). A healthy variant is then
// written once, not once per probe; a failing one is written per failure (its
// count is what the `failing` view shows).
bool DurableEqual(const VariantAlertState& a, const VariantAlertState& b, int cap);
bool DurableEqual(const RuleTrack& a, const RuleTrack& b, int cap);

}  // namespace originwatch::evaluator_internal
