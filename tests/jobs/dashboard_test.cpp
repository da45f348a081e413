// The embedded dashboard: every file the page names is embedded and served, with its
// Content-Type, in front of the API.
#include <gtest/gtest.h>

#include <regex>
#include <set>
#include <string>

#include "orca/jobs/dashboard.hpp"

namespace {

std::string dashboard_body(std::string_view path) {
  for (const orca::http::StaticFile& f : orca::jobs::dashboard_files())
    if (f.path == path) return std::string(f.body);
  return {};
}

TEST(Dashboard, EmbedsThePageAndChartJs) {
  std::set<std::string_view> paths;
  for (const orca::http::StaticFile& f : orca::jobs::dashboard_files()) {
    paths.insert(f.path);
    EXPECT_FALSE(f.body.empty()) << f.path;
    EXPECT_TRUE(f.etag.starts_with('"') && f.etag.ends_with('"')) << f.path << ": " << f.etag;
  }
  ASSERT_TRUE(paths.count("/")) << "no page at /";
  EXPECT_NE(dashboard_body("/assets/chart.min.js").find("Chart.js"), std::string::npos);
}

// A script or stylesheet the page loads, or a module a script imports, that is not
// embedded would be a 404 in the browser.
TEST(Dashboard, EveryAssetThePageNamesIsEmbedded) {
  std::set<std::string> paths;
  for (const orca::http::StaticFile& f : orca::jobs::dashboard_files())
    paths.emplace(f.path);
  const std::regex in_page(R"re((?:src|href)="(/assets/[^"]+)")re");
  const std::string page = dashboard_body("/");
  int named = 0;
  for (std::sregex_iterator it(page.begin(), page.end(), in_page), end; it != end; ++it, ++named)
    EXPECT_TRUE(paths.count((*it)[1].str())) << "index.html names " << (*it)[1] << ", not embedded";
  EXPECT_GE(named, 3) << "got " << named << " assets named in index.html, want the page's own";
  const std::regex import(R"re(from "\./([^"]+)")re");
  for (const std::string& path : paths) {
    if (!path.ends_with(".js") || path == "/assets/chart.min.js") continue;
    const std::string text = dashboard_body(path);
    for (std::sregex_iterator it(text.begin(), text.end(), import), end; it != end; ++it)
      EXPECT_TRUE(paths.count("/assets/" + (*it)[1].str()))
          << path << " imports " << (*it)[1] << ", not embedded";
  }
}

// No inline script or style: the page's Content-Security-Policy would block them.
TEST(Dashboard, PageHasNoInlineScriptOrStyle) {
  const std::string page = dashboard_body("/");
  EXPECT_EQ(page.find("style="), std::string::npos);
  EXPECT_EQ(page.find("<style"), std::string::npos);
  const std::regex inline_script(R"re(<script(?![^>]*\bsrc=)[^>]*>)re");
  EXPECT_FALSE(std::regex_search(page, inline_script)) << "an inline <script> in index.html";
}

}  // namespace
