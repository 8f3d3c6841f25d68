// WriteReport: the document (sections.cpp) rendered twice, to Markdown and to one
// self-contained HTML page, and written with its plots as one folder.
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <sstream>

#include <fmt/format.h>

#include "common/error.h"
#include "common/files.h"
#include "orchestrator/report/document.h"

namespace sims::report {
namespace fs = std::filesystem;
namespace {

std::string MarkdownCell(const std::string& text) {
  std::string out;
  for (char ch : text) {
    if (ch == '|') out += '\\';
    out += ch;
  }
  return out;
}

std::string RenderMarkdown(const Document& d, const std::string& out_dir) {
  std::ostringstream md;
  for (const Block& b : d.blocks) {
    switch (b.kind) {
      case Block::Kind::kHeading:
        md << std::string(b.level, '#') << ' ' << b.text << "\n\n";
        break;
      case Block::Kind::kParagraph:
      case Block::Kind::kVerdict:
        md << b.text << "\n\n";
        break;
      case Block::Kind::kNote:
        md << '*' << b.text << "*\n\n";
        break;
      case Block::Kind::kCode:
        md << "```\n" << b.text << "\n```\n\n";
        break;
      case Block::Kind::kTable: {
        auto line = [&](const std::vector<std::string>& cells) {
          md << '|';
          for (const std::string& cell : cells) md << ' ' << MarkdownCell(cell) << " |";
          md << '\n';
        };
        line(b.table.header);
        md << '|';
        for (size_t i = 0; i < b.table.header.size(); ++i) md << (i ? " ---: |" : " --- |");
        md << '\n';
        for (const auto& row : b.table.rows) line(row);
        md << '\n';
        break;
      }
      case Block::Kind::kFigure: {
        std::string svg = fs::relative(b.figure->files.svg, out_dir).string();
        std::string png = fs::relative(b.figure->files.png, out_dir).string();
        md << "![" << b.figure->title << "](" << svg << ")\n\n*" << b.figure->caption
           << "* (PNG: [" << png << "](" << png << "))\n\n";
        break;
      }
    }
  }
  return md.str();
}

std::string HtmlEscape(const std::string& text) {
  std::string out;
  for (char ch : text) {
    switch (ch) {
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '&': out += "&amp;"; break;
      case '"': out += "&quot;"; break;
      default: out += ch;
    }
  }
  return out;
}

std::string Base64(const std::string& bytes) {
  static const char* kAlphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    uint32_t v = (uint8_t(bytes[i]) << 16) | (uint8_t(bytes[i + 1]) << 8) | uint8_t(bytes[i + 2]);
    for (int s = 18; s >= 0; s -= 6) out += kAlphabet[(v >> s) & 63];
  }
  if (i < bytes.size()) {
    uint32_t v = uint8_t(bytes[i]) << 16;
    if (i + 1 < bytes.size()) v |= uint8_t(bytes[i + 1]) << 8;
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += i + 1 < bytes.size() ? kAlphabet[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

// Numbers are right-aligned so their digits line up; words ("irreducible loss") read from the
// left.
bool IsNumberCell(const std::string& cell) {
  if (cell.empty() || cell == "-" || cell == "n/a" || cell.starts_with("unbounded")) return true;
  const char c = cell.front();
  return (c >= '0' && c <= '9') || c == '-' || c == '+' || c == '.';
}

const char* kCss = R"(
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; color: #222;
       max-width: 1100px; margin: 2em auto; padding: 0 1.5em; line-height: 1.5; }
h1 { border-bottom: 2px solid #1f77b4; padding-bottom: .3em; }
h2 { border-bottom: 1px solid #ddd; padding-bottom: .2em; margin-top: 2em; }
h3 { margin-top: 1.5em; }
table { border-collapse: collapse; margin: 1em 0; font-size: 0.92em; }
th, td { border: 1px solid #ccc; padding: .35em .7em; }
td { text-align: right; font-variant-numeric: tabular-nums; }
td:first-child, td.text { text-align: left; }
td:not(.text) { white-space: nowrap; }
th { background: #f3f6fa; }
tr:nth-child(even) td { background: #fafafa; }
figure { margin: 1.5em 0; }
figure img { width: 100%; max-width: 1000px; border: 1px solid #eee; }
figcaption { color: #555; font-size: 0.92em; max-width: 1000px; }
.verdict { background: #f3f6fa; border-left: 4px solid #1f77b4; padding: .8em 1em; }
.note { color: #666; font-style: italic; }
pre { background: #f6f6f6; padding: .8em; overflow-x: auto; }
)";

std::string RenderHtml(const Document& d, const std::string& out_dir) {
  std::ostringstream html;
  std::string title = d.blocks.empty() ? "sims report" : d.blocks.front().text;
  html << "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>"
       << HtmlEscape(title) << "</title>\n<style>" << kCss << "</style>\n</head>\n<body>\n";
  for (const Block& b : d.blocks) {
    switch (b.kind) {
      case Block::Kind::kHeading:
        html << "<h" << b.level << ">" << HtmlEscape(b.text) << "</h" << b.level << ">\n";
        break;
      case Block::Kind::kParagraph:
        html << "<p>" << HtmlEscape(b.text) << "</p>\n";
        break;
      case Block::Kind::kVerdict:
        html << "<p class=\"verdict\">" << HtmlEscape(b.text) << "</p>\n";
        break;
      case Block::Kind::kNote:
        html << "<p class=\"note\">" << HtmlEscape(b.text) << "</p>\n";
        break;
      case Block::Kind::kCode:
        html << "<pre>" << HtmlEscape(b.text) << "</pre>\n";
        break;
      case Block::Kind::kTable:
        html << "<table>\n<tr>";
        for (const std::string& cell : b.table.header) html << "<th>" << HtmlEscape(cell) << "</th>";
        html << "</tr>\n";
        for (const auto& row : b.table.rows) {
          html << "<tr>";
          for (const std::string& cell : row) {
            html << (IsNumberCell(cell) ? "<td>" : "<td class=\"text\">") << HtmlEscape(cell)
                 << "</td>";
          }
          html << "</tr>\n";
        }
        html << "</table>\n";
        break;
      case Block::Kind::kFigure: {
        // The SVG goes in as a data URI (self-contained, and gnuplot's element ids cannot clash
        // between figures the way they would if the SVGs were pasted inline).
        std::string svg = fs::relative(b.figure->files.svg, out_dir).string();
        html << "<figure>\n<a href=\"" << HtmlEscape(svg) << "\"><img alt=\""
             << HtmlEscape(b.figure->title) << "\" src=\"data:image/svg+xml;base64,"
             << Base64(ReadWholeFile(b.figure->files.svg)) << "\"></a>\n<figcaption>"
             << HtmlEscape(b.figure->caption) << "</figcaption>\n</figure>\n";
        break;
      }
    }
  }
  html << "</body>\n</html>\n";
  return html.str();
}

}  // namespace

bool IsReportFolder(const std::string& dir) {
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    if (name != "report.md" && name != "report.html" && name != "plots") return false;
  }
  return !ec;
}

namespace {

StagedFolderOptions ReportFolderOptions() {
  StagedFolderOptions o;
  o.what = "report";
  o.replace = true;  // a report is always rewritten
  o.is_ours = IsReportFolder;
  o.is_ours_rule = "it holds files other than report.md, report.html and plots/";
  return o;
}

}  // namespace

void CheckReportFolder(const std::string& out_dir) {
  StagedFolder probe(out_dir, ReportFolderOptions());  // throws now; its destructor cleans up
}

ReportFiles WriteReport(const Analysis& analysis, const std::string& out_dir) {
  // The whole set is built in a sibling temporary folder and swapped in (common/files.h), so a
  // killed `sims report` leaves the old report or the new one, never a mix.
  StagedFolder staged(out_dir, ReportFolderOptions());
  const fs::path temp = staged.path();
  std::vector<Figure> figures = DrawFigures(analysis, (temp / "plots").string());
  Document document = BuildDocument(analysis, figures);
  WriteFileAtomically((temp / "report.md").string(), RenderMarkdown(document, temp.string()));
  WriteFileAtomically((temp / "report.html").string(), RenderHtml(document, temp.string()));
  staged.Commit();
  ReportFiles files;
  files.markdown = (fs::path(staged.final_path()) / "report.md").string();
  files.html = (fs::path(staged.final_path()) / "report.html").string();
  for (const Figure& f : figures) {
    if (!f.left_out.empty()) continue;
    files.plots.push_back(staged.FinalPathOf(f.files.svg));
    files.plots.push_back(staged.FinalPathOf(f.files.png));
  }
  return files;
}

}  // namespace sims::report
