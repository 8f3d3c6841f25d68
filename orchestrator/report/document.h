#pragma once
// The report as a list of blocks (headings, paragraphs, tables, figures), built section by
// section from an Analysis (sections.cpp) and rendered twice (render.cpp), to Markdown and to
// one HTML page, so the two never disagree. Internal to sims_report.
#include <string>
#include <vector>

#include "orchestrator/report/plots.h"
#include "orchestrator/report/report.h"

namespace sims::report {

struct Table {
  std::vector<std::string> header;
  std::vector<std::vector<std::string>> rows;
};

// One block of the document; `kind` says which members are used.
struct Block {
  enum class Kind { kHeading, kParagraph, kVerdict, kNote, kTable, kFigure, kCode };
  Kind kind = Kind::kParagraph;
  int level = 2;                  // kHeading
  std::string text;               // kHeading, kParagraph, kVerdict, kNote, kCode
  Table table;                    // kTable
  const Figure* figure = nullptr;  // kFigure
};

struct Document {
  std::vector<Block> blocks;

  void Heading(int level, std::string text) { Add(Block::Kind::kHeading, std::move(text)).level = level; }
  void Paragraph(std::string text) { Add(Block::Kind::kParagraph, std::move(text)); }
  // The conclusion, set apart on the page.
  void Verdict(std::string text) { Add(Block::Kind::kVerdict, std::move(text)); }
  // One line saying what was left out and why (a section with no data, a figure not drawn).
  void Note(std::string text) { Add(Block::Kind::kNote, std::move(text)); }
  void AddTable(Table table) { Add(Block::Kind::kTable, "").table = std::move(table); }
  void AddFigure(const Figure& figure) { Add(Block::Kind::kFigure, "").figure = &figure; }
  void Code(std::string text) { Add(Block::Kind::kCode, std::move(text)); }

 private:
  Block& Add(Block::Kind kind, std::string text) {
    Block& block = blocks.emplace_back();
    block.kind = kind;
    block.text = std::move(text);
    return block;
  }
};

// Every section in order, from the analysis and the figures drawn for it (which must outlive
// the document).
Document BuildDocument(const Analysis& analysis, const std::vector<Figure>& figures);

}  // namespace sims::report
