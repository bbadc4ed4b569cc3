// The status page (status_page.h). Plain HTML with an inline style sheet:
// readable without CSS, in a terminal browser, and with JavaScript off.
#include "agent/status_page.h"

#include "agent/api_json.h"

namespace originwatch::agent_internal {
namespace {

constexpr std::string_view kStyle = R"(
body{font:14px/1.4 system-ui,sans-serif;margin:0;background:#f6f7f9;color:#1d2330}
header{background:#1d2330;color:#fff;padding:10px 20px}header h1{font-size:18px;margin:0}
header a{color:#fff;text-decoration:none}main{padding:12px 20px}
.origin{background:#fff;border:1px solid #d8dce3;border-left:6px solid #9aa3b2;border-radius:4px;margin:0 0 12px;padding:10px 14px}
.origin.ok{border-left-color:#2f9e44}.origin.warning{border-left-color:#f08c00}.origin.critical{border-left-color:#e03131}
.origin h2{font-size:16px;margin:0 0 4px}.state{font-size:12px;text-transform:uppercase;padding:1px 6px;border-radius:3px;background:#e9ecef;margin-left:8px}
.state.ok{background:#d3f9d8}.state.warning{background:#ffe8cc}.state.critical{background:#ffe3e3}
.meta{color:#5c6577;font-size:12px}.finding{margin:6px 0;padding:6px 8px;background:#f8f9fa;border-radius:3px}
.finding code{font-weight:600}.fix{color:#364fc7}.sev-critical{color:#c92a2a}.sev-warning{color:#d9480f}.sev-info{color:#5c6577}
table{border-collapse:collapse;margin-top:6px;font-size:12px}td,th{padding:2px 8px;text-align:left;border-bottom:1px solid #eceef2}
.strip{display:inline-flex;gap:2px;vertical-align:middle}.strip span{display:inline-block;width:7px;height:14px;border-radius:1px;background:#2f9e44}
.strip span.bad{background:#e03131}footer{color:#5c6577;font-size:12px;padding:8px 20px}
)";

std::string Head(std::string_view title) {
  std::string out = "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">";
  out += "<meta name=\"viewport\" content=\"width=device-width\"><title>";
  out += HtmlEscape(title);
  out += "</title><style>";
  out += kStyle;
  out += "</style></head><body><header><h1><a href=\"/\">originwatch</a></h1></header><main>\n";
  return out;
}

std::string Foot(int64_t now_ms) {
  return "</main><footer>generated " + IsoTime(now_ms / 1000) +
         " &middot; <a href=\"/api/v1/origins\">JSON</a> &middot; <a href=\"/metrics\">metrics</a></footer></body></html>\n";
}

// Percent-encodes a path segment (origin names are [A-Za-z0-9._-], but the
// page does not rely on it).
std::string PathSegment(std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (isalnum(c) || c == '.' || c == '_' || c == '-') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

std::string Expiry(const OriginView& o, int64_t now_ms) {
  if (o.cert_not_after == 0) return "no certificate seen";
  const int64_t left = o.cert_not_after - now_ms / 1000;
  std::string days = left >= 0 ? std::to_string(left / 86400) + " days left" : "expired";
  return "certificate " + HtmlEscape(o.cert_subject) + " expires " + IsoTime(o.cert_not_after) + " (" + days + ")";
}

void Findings(std::string& out, const OriginView& o) {
  for (const FindingView& f : o.findings) {
    out += "<div class=\"finding\" data-code=\"" + HtmlEscape(f.code) + "\"><code>" + HtmlEscape(f.code) +
           "</code> <span class=\"sev-" + HtmlEscape(f.severity) + "\">" + HtmlEscape(f.severity) + "</span>: " +
           HtmlEscape(f.summary);
    if (!f.fix.empty()) out += "<div class=\"fix\">Fix: " + HtmlEscape(f.fix) + "</div>";
    out += "</div>\n";
  }
}

void Variants(std::string& out, const OriginView& o) {
  if (o.variants.empty()) {
    out += "<p class=\"meta\">no probe result yet</p>\n";
    return;
  }
  out += "<table><tr><th>address</th><th>SNI</th><th>profile</th><th>last</th><th>handshake</th><th>recent</th></tr>\n";
  for (const VariantView& v : o.variants) {
    std::string result(OutcomeCode(v.last.outcome));
    if (v.last.spec.http && v.last.http.status > 0) result += " HTTP " + std::to_string(v.last.http.status);
    out += "<tr><td>" + HtmlEscape(v.address) + "</td><td>" + HtmlEscape(v.sni) + "</td><td>" +
           HtmlEscape(v.profile) + "</td><td>" + HtmlEscape(result) + "</td><td>" +
           (v.last.handshake_ms >= 0 ? std::to_string(v.last.handshake_ms) + " ms" : "&ndash;") +
           "</td><td><span class=\"strip\">";
    for (const ProbeMark& m : v.recent) {
      out += std::string("<span") + (m.passed ? "" : " class=\"bad\"") + " title=\"" +
             IsoTime(m.at_ms / 1000) + " " + HtmlEscape(OutcomeCode(m.outcome)) +
             (m.http_status > 0 ? " HTTP " + std::to_string(m.http_status) : std::string()) + "\"></span>";
    }
    out += "</span></td></tr>\n";
  }
  out += "</table>\n";
}

void OriginCard(std::string& out, const OriginView& o, int64_t now_ms, bool link) {
  out += "<section class=\"origin " + HtmlEscape(o.state) + "\" id=\"origin-" + HtmlEscape(o.name) + "\"><h2>";
  if (link) {
    out += "<a href=\"/origin/" + PathSegment(o.name) + "\">" + HtmlEscape(o.name) + "</a>";
  } else {
    out += HtmlEscape(o.name);
  }
  out += "<span class=\"state " + HtmlEscape(o.state) + "\">" + HtmlEscape(o.state) + "</span></h2>\n";
  out += "<div class=\"meta\">" + HtmlEscape(o.host) + " &middot; " + Expiry(o, now_ms) + "</div>\n";
  Findings(out, o);
  Variants(out, o);
  out += "</section>\n";
}

void Table(std::string& out, const QueryResult& q) {
  out += "<table><tr>";
  for (const std::string& c : q.columns) out += "<th>" + HtmlEscape(c) + "</th>";
  out += "</tr>\n";
  for (const auto& row : q.rows) {
    out += "<tr>";
    for (const auto& cell : row) out += "<td>" + (cell ? HtmlEscape(*cell) : std::string()) + "</td>";
    out += "</tr>\n";
  }
  out += "</table>\n";
}

}  // namespace

std::string HtmlEscape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default:
        // Control characters from hostile servers are shown, not interpreted.
        if (static_cast<unsigned char>(c) < 0x20 && c != '\n' && c != '\t') {
          out += "&#xFFFD;";
        } else {
          out += c;
        }
    }
  }
  return out;
}

std::string RenderStatusPage(const std::vector<std::shared_ptr<const OriginView>>& origins, int64_t now_ms) {
  std::string out = Head("originwatch status");
  size_t bad = 0;
  for (const auto& o : origins) bad += o->state == "ok" ? 0 : 1;
  out += "<p class=\"meta\" id=\"summary\">" + std::to_string(origins.size()) + " origins, " + std::to_string(bad) +
         " not ok</p>\n";
  for (const auto& o : origins) OriginCard(out, *o, now_ms, true);
  out += Foot(now_ms);
  return out;
}

std::string RenderOriginPage(const OriginView& origin, const QueryResult* history, const QueryResult* events,
                             const std::string& note, int64_t now_ms) {
  std::string out = Head(origin.name + " - originwatch");
  OriginCard(out, origin, now_ms, false);
  if (!origin.open_alerts.empty()) {
    out += "<h3>Open alerts</h3><table><tr><th>rule</th><th>variant</th><th>severity</th><th>since</th><th>detail</th></tr>\n";
    for (const AlertView& a : origin.open_alerts) {
      out += "<tr><td>" + HtmlEscape(a.rule) + "</td><td>" + HtmlEscape(a.variant) + "</td><td>" +
             HtmlEscape(a.severity) + "</td><td>" + IsoTime(a.since_ms / 1000) + "</td><td>" + HtmlEscape(a.detail) +
             "</td></tr>\n";
    }
    out += "</table>\n";
  }
  if (!note.empty()) out += "<p class=\"meta\">" + HtmlEscape(note) + "</p>\n";
  if (history != nullptr) {
    out += "<h3>History</h3>\n";
    Table(out, *history);
  }
  if (events != nullptr) {
    out += "<h3>Alert events</h3>\n";
    Table(out, *events);
  }
  out += Foot(now_ms);
  return out;
}

std::string RenderNotFoundPage(std::string_view what) {
  return Head("not found") + "<p>" + HtmlEscape(what) + " not found.</p></main></body></html>\n";
}

}  // namespace originwatch::agent_internal
