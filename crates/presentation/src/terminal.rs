//! Text output for people: `ask`, `search`, `refs`. Plain text that reads well piped into a
//! file; on a terminal the answering sentence is bold.

use std::io::{self, Write};

use citebot_core::answer::{Answer, Hit, Verdict};
use citebot_core::citation::{Citation, RefNumber};
use citebot_core::corpus::ArticleInfo;
use citebot_core::engine::Engine;
use citebot_core::passage::{PassageKind, SectionPath};

/// How to mark the answering sentence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// ANSI bold, for a terminal.
    Terminal,
    /// No escape codes: the sentence is repeated on its own line instead.
    Plain,
}

impl Style {
    /// Bold on a terminal unless NO_COLOR is set (https://no-color.org).
    pub fn detect() -> Style {
        if io::IsTerminal::is_terminal(&io::stdout()) && std::env::var_os("NO_COLOR").is_none() {
            Style::Terminal
        } else {
            Style::Plain
        }
    }
}

const BOLD: &str = "\x1b[1m";
const RESET: &str = "\x1b[0m";

/// Writes the answer to a question for a person.
pub fn write_answer(
    out: &mut dyn Write,
    engine: &Engine,
    answer: &Answer,
    style: Style,
) -> io::Result<()> {
    // A corpus of thousands of articles is not listed in full: a "no answer" names the
    // articles only when there are a few, and a footer names only the articles it quotes.
    let total = engine.article_count();
    let articles = if total <= LISTED_ARTICLES {
        engine.articles()
    } else {
        Vec::new()
    };
    match &answer.verdict {
        Verdict::Abstained(reason) => write_no_answer(
            out,
            &articles,
            total,
            reason.explain(),
            &answer.not_in_article,
        ),
        Verdict::Answered => {
            let Some((first, rest)) = answer.hits_worth_showing().split_first() else {
                return write_no_answer(out, &articles, total, "no passage matched", &[]);
            };
            if answer.closest_only {
                writeln!(out, "{}", citebot_core::answer::CLOSEST_ONLY_NOTICE)?;
                writeln!(out)?;
            }
            write_hit_heading(out, first)?;
            if let Some(sentence) = first.best_sentence() {
                writeln!(out, "» {}", one_line(sentence))?;
                writeln!(out)?;
            }
            writeln!(out, "{}", indent(&highlight(first, style)))?;
            if !rest.is_empty() {
                writeln!(out)?;
                writeln!(out, "Also in the article:")?;
                for (position, hit) in rest.iter().enumerate() {
                    let sentence = hit.best_sentence().unwrap_or(hit.passage.text.as_str());
                    writeln!(
                        out,
                        "  {}. {} — {}",
                        position + 2,
                        hit_place(hit),
                        one_line(sentence)
                    )?;
                }
            }
            write_sources(out, engine, answer)?;
            write_footer(out, engine, answer.hits_worth_showing())
        }
    }
}

fn write_hit_heading(out: &mut dyn Write, hit: &Hit) -> io::Result<()> {
    writeln!(out, "{}  ({})", hit_place(hit), hit.passage.article_title)?;
    writeln!(out)
}

/// Where a passage sits: its section path, or "References › 15".
fn hit_place(hit: &Hit) -> String {
    match hit.passage.kind {
        PassageKind::Reference(number) => format!("References › [{number}]"),
        _ => hit.passage.section_path.display(),
    }
}

/// The passage text with its best sentences in bold (on a terminal).
fn highlight(hit: &Hit, style: Style) -> String {
    if style == Style::Plain || hit.best_sentences.is_empty() {
        return hit.passage.text.clone();
    }
    let mut sorted = hit.best_sentences.clone();
    sorted.sort_unstable();
    let text = &hit.passage.text;
    let mut out = String::with_capacity(text.len() + 16);
    let mut cursor = 0;
    for index in sorted {
        let sentence = &hit.passage.sentences[index];
        out.push_str(&text[cursor..sentence.start]);
        out.push_str(BOLD);
        out.push_str(&text[sentence.start..sentence.end]);
        out.push_str(RESET);
        cursor = sentence.end;
    }
    out.push_str(&text[cursor..]);
    out
}

fn indent(text: &str) -> String {
    text.lines()
        .map(|line| format!("  {line}"))
        .collect::<Vec<_>>()
        .join("\n")
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The references cited by what was shown, with short citations and links.
fn write_sources(out: &mut dyn Write, engine: &Engine, answer: &Answer) -> io::Result<()> {
    let mut shown: Vec<(String, RefNumber)> = Vec::new();
    for (position, hit) in answer.hits_worth_showing().iter().enumerate() {
        // The first passage is shown whole, so all its references; the others by one sentence.
        let numbers = if position == 0 {
            hit.passage.refs()
        } else {
            hit.best_refs()
        };
        for number in numbers {
            let key = (hit.passage.article.clone(), number);
            if !shown.contains(&key) {
                shown.push(key);
            }
        }
    }
    if shown.is_empty() {
        return Ok(());
    }
    writeln!(out)?;
    writeln!(out, "Sources:")?;
    for (article, number) in shown {
        match engine.citation_of(&article, number) {
            Some(citation) => writeln!(out, "  [{number}] {}", source_line(&citation))?,
            None => writeln!(out, "  [{number}] (not in the article's References list)")?,
        }
    }
    Ok(())
}

/// "Gutierrez & Wetter 2012, Dermatologic Therapy · doi:10.1111/… · PMID 22741938".
fn source_line(citation: &Citation) -> String {
    let mut parts = vec![citation.short()];
    if let Some(doi) = &citation.doi {
        parts.push(format!("doi:{doi}"));
    }
    if let Some(pmid) = &citation.pmid {
        parts.push(format!("PMID {pmid}"));
    }
    if let Some(pmc) = &citation.pmc {
        parts.push(format!("PMC{pmc}"));
    }
    if let Some(isbn) = &citation.isbn {
        parts.push(format!("ISBN {isbn}"));
    }
    parts.join(" · ")
}

fn write_footer(out: &mut dyn Write, engine: &Engine, hits: &[Hit]) -> io::Result<()> {
    writeln!(out)?;
    let mut used: Vec<&str> = Vec::new();
    for hit in hits {
        if !used.contains(&hit.passage.article.as_str()) {
            used.push(&hit.passage.article);
        }
    }
    for info in used
        .into_iter()
        .filter_map(|slug| engine.article_info(slug))
    {
        writeln!(out, "{}", info.attribution())?;
    }
    writeln!(out, "This is the article's text, not medical advice.")
}

/// Up to this many articles, a "no answer" names each and what it covers.
const LISTED_ARTICLES: usize = 3;

fn write_no_answer(
    out: &mut dyn Write,
    articles: &[ArticleInfo],
    total: usize,
    why: &str,
    not_in_article: &[String],
) -> io::Result<()> {
    let titles: Vec<String> = articles
        .iter()
        .map(|a| format!("\"{}\"", a.title))
        .collect();
    let one = total == 1;
    let subject = if articles.is_empty() {
        format!("the {total} articles of the corpus")
    } else {
        format!(
            "the article{} {}",
            if one { "" } else { "s" },
            titles.join(", ")
        )
    };
    if not_in_article.is_empty() {
        writeln!(
            out,
            "No answer: {subject} do{} not answer this: {why}.",
            if one { "es" } else { "" }
        )?;
    } else {
        let named: Vec<String> = not_in_article.iter().map(|w| format!("\"{w}\"")).collect();
        writeln!(
            out,
            "No answer: {subject} never mention{} {}, so citebot cannot answer this from {}.",
            if one { "s" } else { "" },
            named.join(" or "),
            if one { "it" } else { "them" },
        )?;
    }
    for info in articles {
        writeln!(out)?;
        writeln!(
            out,
            "\"{}\" covers: {}.",
            info.title,
            covered_sections(&info.sections)
        )?;
    }
    writeln!(out)?;
    writeln!(
        out,
        "Try other words, or `citebot search \"…\"` to see the closest passages."
    )
}

/// "Lead, Signs and symptoms, Diagnosis (Classification: Dystrophic calcinosis cutis, …), Treatment".
pub fn covered_sections(sections: &[SectionPath]) -> String {
    let mut top: Vec<(String, Vec<String>)> = Vec::new();
    for path in sections {
        let head = path
            .0
            .first()
            .cloned()
            .unwrap_or_else(|| "Lead".to_string());
        let entry = match top.iter_mut().position(|(name, _)| *name == head) {
            Some(position) => &mut top[position],
            None => {
                top.push((head, Vec::new()));
                let last = top.len() - 1;
                &mut top[last]
            }
        };
        if let Some(leaf) = path
            .0
            .get(1..)
            .filter(|rest| !rest.is_empty())
            .and_then(|rest| rest.last())
        {
            if !entry.1.contains(leaf) {
                entry.1.push(leaf.clone());
            }
        }
    }
    top.into_iter()
        .map(|(head, subsections)| {
            if subsections.is_empty() {
                head
            } else {
                format!("{head} ({})", subsections.join(", "))
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// `citebot search` as text: ranked passages with scores.
pub fn write_search(out: &mut dyn Write, answer: &Answer) -> io::Result<()> {
    if let Verdict::Abstained(reason) = &answer.verdict {
        writeln!(out, "no answer: {}", reason.explain())?;
        return Ok(());
    }
    for (rank, hit) in answer.hits.iter().enumerate() {
        let refs: Vec<String> = hit.passage.refs().iter().map(|n| n.to_string()).collect();
        writeln!(
            out,
            "{}. {}  [{}]  score {:.3}  refs {}",
            rank + 1,
            hit_place(hit),
            hit.passage.id,
            hit.score,
            if refs.is_empty() {
                "-".to_string()
            } else {
                refs.join(",")
            }
        )?;
        writeln!(out, "{}", indent(&hit.passage.text))?;
        writeln!(out)?;
    }
    Ok(())
}

/// `citebot refs`: one line per reference.
pub fn write_citation_list(out: &mut dyn Write, citations: &[Citation]) -> io::Result<()> {
    for citation in citations {
        writeln!(out, "[{}] {}", citation.number, source_line(citation))?;
    }
    Ok(())
}

/// `citebot refs N`: the full citation, its fields and links.
pub fn write_citation(
    out: &mut dyn Write,
    citation: &Citation,
    all: &[Citation],
) -> io::Result<()> {
    writeln!(out, "[{}] {}", citation.number, citation.full())?;
    writeln!(out)?;
    let fields: [(&str, Option<String>); 12] = [
        (
            "authors",
            (!citation.authors.is_empty()).then(|| citation.authors.join("; ")),
        ),
        ("date", citation.date.clone()),
        ("title", citation.title.clone()),
        ("in", citation.container.clone()),
        ("volume", citation.volume.clone()),
        ("issue", citation.issue.clone()),
        ("pages", citation.pages.clone()),
        ("publisher", citation.publisher.clone()),
        ("isbn", citation.isbn.clone()),
        ("issn", citation.issn.clone()),
        ("hdl", citation.hdl.clone()),
        ("retrieved", citation.retrieved.clone()),
    ];
    for (label, value) in fields {
        if let Some(value) = value {
            writeln!(out, "  {label:<10} {value}")?;
        }
    }
    let links = citation.links();
    if !links.is_empty() {
        writeln!(out)?;
        for link in links {
            writeln!(out, "  {:<10} {}", link.label, link.url)?;
        }
    }
    let same: Vec<String> = citebot_core::citation::group_same_works(all)
        .into_iter()
        .find(|group| group.contains(&citation.number))
        .map(|group| {
            group
                .into_iter()
                .filter(|n| *n != citation.number)
                .map(|n| format!("[{n}]"))
                .collect()
        })
        .unwrap_or_default();
    if !same.is_empty() {
        writeln!(out)?;
        writeln!(out, "  The same work is also cited as {}.", same.join(", "))?;
    }
    Ok(())
}
