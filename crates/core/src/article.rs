//! Parsing one article, as copied from Wikipedia to plain text, into passages and citations.
//!
//! The copy has a shape but no markup: a header block (title, redirect, infobox lines), headings
//! and paragraphs separated by blank lines, reference markers such as `[3]` or `[5]: 527–530`,
//! and a References list of `N. ^ a b …` lines. Heading levels are lost in the copy, so the
//! section path is reconstructed from what the text still shows (see [`SectionTracker`]).
//!
//! Parsing never fails on text: whatever looks wrong becomes a [`ParseWarning`], and the
//! source text is never rewritten. Passages keep the exact text, oddities included.

use std::collections::BTreeSet;
use std::sync::LazyLock;

use regex::Regex;
use serde::{Deserialize, Serialize};

use crate::citation::{self, Citation, RefNumber};
use crate::passage::{Marker, MarkerTarget, Passage, PassageKind, SectionPath, Sentence};

/// Settings that shape passages.
#[derive(Debug, Clone, Copy)]
pub struct PassageLimits {
    /// A paragraph longer than this (in bytes) is cut at sentence boundaries into several
    /// passages, so one passage stays readable in a terminal or a Discord embed.
    pub max_passage_bytes: usize,
}

impl Default for PassageLimits {
    fn default() -> Self {
        PassageLimits {
            max_passage_bytes: 1500,
        }
    }
}

/// A line of the infobox under the title ("Other names Cutaneous calcification").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InfoboxLine {
    /// The infobox label when it is one Wikipedia uses ("Other names", "Specialty"), or `None`
    /// for a free line such as an image caption.
    pub label: Option<String>,
    pub value: String,
}

/// Something in the article that looks wrong but does not stop it from being used.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParseWarning {
    /// 1-based line number in the article file.
    pub line: usize,
    pub message: String,
}

/// One article, parsed.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Article {
    /// File name without `.txt`; used in passage ids and `--article`.
    pub slug: String,
    pub title: String,
    /// "(Redirected from Iatrogenic calcinosis cutis)" → "Iatrogenic calcinosis cutis".
    pub redirected_from: Option<String>,
    pub infobox: Vec<InfoboxLine>,
    /// Body passages in reading order, then notes, then one passage per reference entry.
    pub passages: Vec<Passage>,
    pub references: Vec<Citation>,
    pub warnings: Vec<ParseWarning>,
    /// For an article fetched from Wikipedia (`citebot add`): the revision it is.
    #[serde(default)]
    pub source: Option<ArticleSource>,
}

impl Article {
    /// Other names of the subject: the infobox's "Other names" and the redirect, which are
    /// what people may call it instead of the title.
    pub fn aliases(&self) -> Vec<String> {
        let mut aliases = Vec::new();
        for line in &self.infobox {
            if line.label.as_deref() == Some("Other names") {
                aliases.extend(
                    line.value
                        .split([',', ';'])
                        .map(|name| name.trim().to_string()),
                );
            }
        }
        aliases.extend(self.redirected_from.clone());
        aliases.retain(|alias| !alias.is_empty());
        aliases
    }

    /// The infobox value for `label`, e.g. "Specialty" → "Dermatology".
    pub fn infobox_value(&self, label: &str) -> Option<&str> {
        self.infobox
            .iter()
            .find(|line| line.label.as_deref() == Some(label))
            .map(|line| line.value.as_str())
    }

    /// Body passages only (no notes, no reference entries).
    pub fn body_passages(&self) -> impl Iterator<Item = &Passage> {
        self.passages
            .iter()
            .filter(|passage| passage.kind == PassageKind::Body)
    }
}

/// Infobox labels Wikipedia's medical-condition infobox uses. A label may be glued to its value
/// in the copy ("Other namesCutaneous calcification"), so these are matched as prefixes.
pub(crate) const INFOBOX_LABELS: &[&str] = &[
    "Other names",
    "Pronunciation",
    "Specialty",
    "Symptoms",
    "Complications",
    "Usual onset",
    "Duration",
    "Types",
    "Causes",
    "Risk factors",
    "Diagnostic method",
    "Differential diagnosis",
    "Prevention",
    "Treatment",
    "Medication",
    "Prognosis",
    "Frequency",
    "Deaths",
];

/// Headings that are top-level sections in Wikipedia articles, whatever precedes them.
pub const TOP_LEVEL_HEADINGS: &[&str] = &[
    "signs and symptoms",
    "symptoms",
    "presentation",
    "causes",
    "cause",
    "risk factors",
    "pathophysiology",
    "mechanism",
    "diagnosis",
    "prevention",
    "treatment",
    "treatments",
    "management",
    "prognosis",
    "outcomes",
    "epidemiology",
    "history",
    "society and culture",
    "research",
    "other animals",
    "in animals",
    "gallery",
    "see also",
    "notes",
    "footnotes",
    "references",
    "citations",
    "sources",
    "works cited",
    "bibliography",
    "further reading",
    "external links",
];

/// Sections whose lines are the lists of references and notes.
pub const REFERENCE_SECTIONS: &[&str] = &[
    "notes",
    "footnotes",
    "references",
    "citations",
    "sources",
    "works cited",
];

/// Sections that hold navigation or reading lists, not article text.
pub const SKIPPED_SECTIONS: &[&str] = &[
    "gallery",
    "see also",
    "bibliography",
    "further reading",
    "external links",
];

/// Editorial tags Wikipedia puts in brackets where a citation would be.
const EDITORIAL_TAGS: &[&str] = &[
    "citation needed",
    "better source needed",
    "failed verification",
    "medical citation needed",
    "unreliable medical source?",
    "unreliable source?",
    "non-primary source needed",
    "clarification needed",
    "dubious – discuss",
    "page needed",
    "when?",
    "who?",
    "which?",
    "by whom?",
];

/// What may be a reference marker: `[3]`, `[a]`, `[note 1]`, `[citation needed]`, optionally
/// followed by a page locator `: 527–530` (the copy puts hair spaces U+200A around it, which `\s`
/// matches). Whether a bracketed word is a marker or the text's own is [`marker_target`]'s call.
static MARKER: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?x)
        \[ (?P<label> [0-9]{1,4} | [a-z]{1,2} | (?:note|nb|n)\s?[0-9]{1,3} | [a-z][a-z\x20\-–?]{2,40} ) \]
        (?: : [\s&&[^\n]]* (?P<locator>
                (?:pp?\.[\s&&[^\n]]*)? [0-9A-Za-z]{1,8}
                (?: [\s&&[^\n]]* [–—-] [\s&&[^\n]]* [0-9A-Za-z]{1,8} )?
                (?: ,[\s&&[^\n]]* [0-9]{1,6} (?: [–—-][0-9]{1,6} )? )*
            ) \x{200A}? )?",
    )
    .expect("marker regex is valid")
});

/// A block of consecutive non-blank lines.
struct Block<'a> {
    /// 1-based number of the first line.
    first_line: usize,
    lines: Vec<&'a str>,
}

impl Block<'_> {
    fn is_single_line(&self) -> bool {
        self.lines.len() == 1
    }
}

/// Splits text into blocks separated by blank lines. Accepts `\r\n` line ends.
fn blocks(text: &str) -> Vec<Block<'_>> {
    let mut blocks: Vec<Block<'_>> = Vec::new();
    let mut current: Option<Block<'_>> = None;
    for (index, raw_line) in text.split('\n').enumerate() {
        let line = raw_line.strip_suffix('\r').unwrap_or(raw_line);
        if line.trim().is_empty() {
            blocks.extend(current.take());
            continue;
        }
        current
            .get_or_insert_with(|| Block {
                first_line: index + 1,
                lines: Vec::new(),
            })
            .lines
            .push(line);
    }
    blocks.extend(current);
    blocks
}

/// Parses one article. `slug` names it in passage ids. Never fails: see the module docs.
pub fn parse_article(slug: &str, text: &str, limits: PassageLimits) -> Article {
    let text = text.strip_prefix('\u{FEFF}').unwrap_or(text);
    let blocks = blocks(text);
    let mut warnings = Vec::new();

    let mut body_blocks = blocks.iter().peekable();
    let header = parse_header(body_blocks.next());

    let mut tracker = SectionTracker::default();
    let mut paragraphs: Vec<(SectionPath, &str, usize)> = Vec::new();
    let mut reference_lines: Vec<(&str, usize)> = Vec::new();

    for block in body_blocks {
        if block.is_single_line() && looks_like_heading(block.lines[0]) {
            tracker.heading(block.lines[0].trim());
            continue;
        }
        let section = tracker.top_level();
        if REFERENCE_SECTIONS.contains(&section.as_str()) {
            for (offset, line) in block.lines.iter().enumerate() {
                reference_lines.push((line, block.first_line + offset));
            }
            continue;
        }
        if SKIPPED_SECTIONS.contains(&section.as_str()) {
            continue;
        }
        // A flattened list keeps its lines together: one item per line is still one passage.
        let start = block.lines[0].as_ptr() as usize - text.as_ptr() as usize;
        let last = block.lines[block.lines.len() - 1];
        let end = last.as_ptr() as usize - text.as_ptr() as usize + last.len();
        let paragraph = &text[start..end];
        tracker.paragraph(paragraph);
        paragraphs.push((tracker.path(), paragraph, block.first_line));
    }

    let (references, notes) = parse_reference_lines(&reference_lines, &mut warnings);
    assemble(
        ArticleParts {
            slug,
            title: header.title,
            redirected_from: header.redirected_from,
            infobox: header.infobox,
            paragraphs,
            references,
            notes,
            warnings,
            source: None,
        },
        limits,
    )
}

/// An article before it is cut into passages: what a reader of one stored form (the
/// browser copy here, Parsoid HTML in [`crate::wikipedia::parsoid`]) found in it. Both forms
/// become the same [`Passage`]s through [`assemble`].
pub(crate) struct ArticleParts<'a> {
    pub slug: &'a str,
    pub title: String,
    pub redirected_from: Option<String>,
    pub infobox: Vec<InfoboxLine>,
    /// Each paragraph (or list item) with its section path and the 1-based line it starts on
    /// (0 where the stored form has no lines).
    pub paragraphs: Vec<(SectionPath, &'a str, usize)>,
    pub references: Vec<Citation>,
    /// Notes-list entries: label and text.
    pub notes: Vec<(String, String)>,
    pub warnings: Vec<ParseWarning>,
    pub source: Option<ArticleSource>,
}

/// Where a fetched article comes from: the revision its text is, for attribution.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArticleSource {
    /// The article's address ("https://en.wikipedia.org/wiki/Morphea").
    pub url: String,
    /// The licence as people know it ("CC BY-SA 4.0").
    pub licence: String,
    /// The revision id the text is.
    pub revision: u64,
    /// When that revision was saved (ISO 8601, UTC).
    pub timestamp: String,
    /// The permanent address of that revision ("…/w/index.php?oldid=N").
    pub permalink: String,
}

/// Cuts paragraphs into passages and adds the Notes and References entries: the part of
/// parsing that every stored form shares.
pub(crate) fn assemble(parts: ArticleParts<'_>, limits: PassageLimits) -> Article {
    let ArticleParts {
        slug,
        title,
        redirected_from,
        infobox,
        paragraphs,
        references,
        notes,
        mut warnings,
        source,
    } = parts;
    let header = Header {
        title,
        redirected_from,
        infobox,
    };

    let mut passages = Vec::new();
    let known_refs: BTreeSet<RefNumber> = references.iter().map(|c| c.number).collect();
    let note_labels = NoteLabels::of(notes.iter().map(|(label, _)| label.as_str()));
    let mut body_index = 0;
    for (section_path, paragraph, line) in &paragraphs {
        // Each marker once, where it stands: a marker is lent to every sentence before it that
        // has none, so warning per sentence said one problem several times.
        for found in find_markers(paragraph, &note_labels) {
            let problem = match &found.marker.target {
                MarkerTarget::Reference(number) if !known_refs.contains(number) => {
                    format!("marker [{number}] points to no entry of the References list")
                }
                MarkerTarget::Note(label) if !note_labels.contains(label) => {
                    format!("marker [{label}] points to no entry of the Notes list")
                }
                _ => continue,
            };
            warnings.push(ParseWarning {
                line: line + paragraph[..found.start].matches('\n').count(),
                message: format!(
                    "{problem}, after {:?}",
                    words_before(paragraph, found.start, found.end)
                ),
            });
        }
        for chunk in split_paragraph(paragraph, limits, &note_labels) {
            passages.push(Passage {
                id: format!("{slug}#p{body_index:02}"),
                article: slug.to_string(),
                article_title: header.title.clone(),
                section_path: section_path.clone(),
                kind: PassageKind::Body,
                text: chunk.text.to_string(),
                sentences: chunk.sentences,
            });
            body_index += 1;
        }
    }
    let mut note_ids: BTreeSet<String> = BTreeSet::new();
    for (label, text) in notes {
        let sentences = split_sentences(&text, &note_labels);
        // A label used twice in the Notes list still gets ids of its own.
        let mut id = format!("{slug}#note-{label}");
        let mut repeat = 1;
        while note_ids.contains(&id) {
            repeat += 1;
            id = format!("{slug}#note-{label}-{repeat}");
        }
        note_ids.insert(id.clone());
        passages.push(Passage {
            id,
            article: slug.to_string(),
            article_title: header.title.clone(),
            section_path: SectionPath(vec!["Notes".to_string()]),
            kind: PassageKind::Note,
            text,
            sentences,
        });
    }
    for citation in &references {
        let text = citation.raw.clone();
        // An entry with no text (a fetched list item left empty) keeps its number for
        // `refs`, but is no passage: it has nothing to answer with, and a passage's sentences
        // must be non-empty slices of its text.
        if text.trim().is_empty() {
            continue;
        }
        passages.push(Passage {
            id: format!("{slug}#ref{}", citation.number),
            article: slug.to_string(),
            article_title: header.title.clone(),
            section_path: SectionPath(vec!["References".to_string()]),
            kind: PassageKind::Reference(citation.number),
            sentences: vec![Sentence {
                start: 0,
                end: text.len(),
                markers: Vec::new(),
            }],
            text,
        });
    }
    if references.is_empty() {
        warnings.push(ParseWarning {
            line: 1,
            message: "no References list: answers from this article cannot be cited".to_string(),
        });
    }

    Article {
        slug: slug.to_string(),
        title: header.title,
        redirected_from: header.redirected_from,
        infobox: header.infobox,
        passages,
        references,
        warnings,
        source,
    }
}

struct Header {
    title: String,
    redirected_from: Option<String>,
    infobox: Vec<InfoboxLine>,
}

/// The first block: "From Wikipedia…", "(Redirected from …)", the title, then infobox lines.
fn parse_header(block: Option<&Block<'_>>) -> Header {
    let mut header = Header {
        title: String::new(),
        redirected_from: None,
        infobox: Vec::new(),
    };
    let Some(block) = block else {
        return header;
    };
    for line in &block.lines {
        let line = line.trim();
        if line.starts_with("From Wikipedia") {
            continue;
        }
        if let Some(rest) = line.strip_prefix("(Redirected from ") {
            header.redirected_from = Some(rest.trim_end_matches(')').trim().to_string());
            continue;
        }
        if header.title.is_empty() {
            header.title = line.to_string();
            continue;
        }
        header.infobox.push(parse_infobox_line(line));
    }
    header
}

fn parse_infobox_line(line: &str) -> InfoboxLine {
    for label in INFOBOX_LABELS {
        if let Some(rest) = line.strip_prefix(label) {
            let value = rest
                .trim_end_matches("Edit this on Wikidata")
                .trim_matches(|c: char| c.is_whitespace() || c == ':');
            if !value.is_empty() {
                return InfoboxLine {
                    label: Some(label.to_string()),
                    value: value.to_string(),
                };
            }
        }
    }
    InfoboxLine {
        label: None,
        value: line.to_string(),
    }
}

/// A heading is a short single line with no sentence punctuation at its end and no marker.
fn looks_like_heading(line: &str) -> bool {
    let line = line.trim();
    let Some(first) = line.chars().next() else {
        return false;
    };
    let words = line.split_whitespace().count();
    (first.is_uppercase() || first.is_ascii_digit())
        && line.len() <= 100
        && words <= 12
        && !line.ends_with(['.', ':', ';', ',', '!', '?', '"'])
        && !MARKER.is_match(line)
        && citation::split_reference_line(line).is_none()
}

/// Rebuilds heading nesting that the plain-text copy lost, from what the text still shows:
/// - a well-known top-level heading ("Diagnosis", "Treatment", "References") starts a new
///   top-level section;
/// - a heading right after another heading is its child ("Diagnosis" → "Classification");
/// - a heading after a paragraph that introduces a list ("…divided into the following types:")
///   is a child of the current section;
/// - any other heading is a sibling of the previous one.
#[derive(Default)]
struct SectionTracker {
    stack: Vec<String>,
    previous: Previous,
}

#[derive(Default, PartialEq)]
enum Previous {
    #[default]
    Nothing,
    Heading,
    Paragraph,
    ListIntroduction,
}

impl SectionTracker {
    fn heading(&mut self, heading: &str) {
        if TOP_LEVEL_HEADINGS.contains(&heading.to_lowercase().as_str()) {
            self.stack.clear();
        } else {
            match self.previous {
                Previous::Heading | Previous::ListIntroduction => {}
                Previous::Paragraph | Previous::Nothing => {
                    self.stack.pop();
                }
            }
        }
        self.stack.push(heading.to_string());
        self.previous = Previous::Heading;
    }

    fn paragraph(&mut self, paragraph: &str) {
        let without_markers = MARKER.replace_all(paragraph, "");
        self.previous = if without_markers.trim_end().ends_with(':') {
            Previous::ListIntroduction
        } else {
            Previous::Paragraph
        };
    }

    fn path(&self) -> SectionPath {
        SectionPath(self.stack.clone())
    }

    /// The top-level section, lowercased ("" in the lead).
    fn top_level(&self) -> String {
        self.stack
            .first()
            .map(|heading| heading.to_lowercase())
            .unwrap_or_default()
    }
}

/// Parses the lines of the References and Notes sections.
fn parse_reference_lines(
    lines: &[(&str, usize)],
    warnings: &mut Vec<ParseWarning>,
) -> (Vec<Citation>, Vec<(String, String)>) {
    let mut references: Vec<Citation> = Vec::new();
    let mut notes = Vec::new();
    for &(line, line_number) in lines {
        if let Some((number, entry)) = citation::split_reference_line(line) {
            if references.iter().any(|c| c.number == number) {
                warnings.push(ParseWarning {
                    line: line_number,
                    message: format!("reference {number} appears twice: the first is kept"),
                });
                continue;
            }
            references.push(citation::parse_entry(number, entry));
        } else if let Some((label, entry)) = citation::split_note_line(line) {
            notes.push((label, entry.to_string()));
        } else {
            warnings.push(ParseWarning {
                line: line_number,
                message: format!(
                    "line in the references is not a numbered entry and was skipped: {:?}",
                    truncate(line.trim(), 60)
                ),
            });
        }
    }
    references.sort_by_key(|c| c.number);
    (references, notes)
}

fn truncate(text: &str, max_chars: usize) -> String {
    match text.char_indices().nth(max_chars) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_string(),
    }
}

/// A piece of a paragraph that becomes one passage.
struct Chunk<'a> {
    text: &'a str,
    sentences: Vec<Sentence>,
}

/// Splits a paragraph into passages no longer than the limit, cutting only between sentences.
fn split_paragraph<'a>(
    paragraph: &'a str,
    limits: PassageLimits,
    note_labels: &NoteLabels,
) -> Vec<Chunk<'a>> {
    let sentences = split_sentences(paragraph, note_labels);
    if paragraph.len() <= limits.max_passage_bytes || sentences.len() <= 1 {
        return vec![Chunk {
            text: paragraph,
            sentences,
        }];
    }
    let mut chunks = Vec::new();
    let mut group: Vec<Sentence> = Vec::new();
    for sentence in sentences {
        let group_start = group.first().map(|s| s.start).unwrap_or(sentence.start);
        if !group.is_empty() && sentence.end - group_start > limits.max_passage_bytes {
            chunks.push(chunk_of(paragraph, std::mem::take(&mut group)));
        }
        group.push(sentence);
    }
    if !group.is_empty() {
        chunks.push(chunk_of(paragraph, group));
    }
    chunks
}

fn chunk_of(paragraph: &str, sentences: Vec<Sentence>) -> Chunk<'_> {
    let start = sentences.first().map(|s| s.start).unwrap_or(0);
    let end = sentences.last().map(|s| s.end).unwrap_or(paragraph.len());
    let sentences = sentences
        .into_iter()
        .map(|s| Sentence {
            start: s.start - start,
            end: s.end - start,
            markers: s.markers,
        })
        .collect();
    Chunk {
        text: &paragraph[start..end],
        sentences,
    }
}

/// The labels of an article's Notes list (`a. ^ …` → "a"). A bracketed lowercase word is a
/// footnote marker when it is one of them: quotations carry editorial brackets (`"a duty for [me]
/// to record it"`, `work[ed]`, `implore[s]`) that look just like `[a]` or `[b]`.
#[derive(Debug, Clone, Default)]
pub struct NoteLabels(BTreeSet<String>);

impl NoteLabels {
    /// The labels of a Notes list, in any order.
    pub fn of<'a>(labels: impl IntoIterator<Item = &'a str>) -> NoteLabels {
        NoteLabels(labels.into_iter().map(str::to_string).collect())
    }

    pub fn contains(&self, label: &str) -> bool {
        self.0.contains(label)
    }
}

/// A marker found in a text, with its byte span.
struct FoundMarker {
    start: usize,
    end: usize,
    marker: Marker,
}

fn find_markers(text: &str, note_labels: &NoteLabels) -> Vec<FoundMarker> {
    MARKER
        .captures_iter(text)
        .filter_map(|captures| {
            let whole = captures.get(0)?;
            let label = captures.name("label")?.as_str();
            let attached_to_word = text[..whole.start()]
                .chars()
                .next_back()
                .is_some_and(char::is_alphabetic);
            let target = marker_target(label, attached_to_word, note_labels)?;
            Some(FoundMarker {
                start: whole.start(),
                end: whole.end(),
                marker: Marker {
                    target,
                    locator: captures
                        .name("locator")
                        .map(|locator| locator.as_str().trim().to_string()),
                },
            })
        })
        .collect()
}

/// What a bracketed label cites, or `None` when the brackets are part of the text.
///
/// - A number is a reference (`[3]`, also glued to a word: `2007[3]`).
/// - `[note 1]`, `[nb 2]`, `[n 3]` are footnotes, and so is a lowercase word that is a label of
///   the Notes list (`[a]`, even glued to a word: `Yehe Yuan Ulus[a]`).
/// - A single letter that is not glued to a word (`…triplet oxygen.[b]`) is a footnote even
///   when the Notes list lacks it: the copy lost the list, which is worth a warning.
/// - Wikipedia's inline tags (`[citation needed]`) mark a claim without a source.
/// - Anything else is the text's own: `[sic]`, `[me]`, `work[ed]`, `implore[s]`, `Z[i]`.
fn marker_target(
    label: &str,
    attached_to_word: bool,
    note_labels: &NoteLabels,
) -> Option<MarkerTarget> {
    if let Ok(number) = label.parse::<u32>() {
        return Some(MarkerTarget::Reference(RefNumber(number)));
    }
    let lowered = label.to_lowercase();
    let is_numbered_note = ["note", "nb", "n"].iter().any(|prefix| {
        lowered
            .strip_prefix(prefix)
            .is_some_and(|number| number.trim_start().parse::<u32>().is_ok())
    });
    if is_numbered_note {
        return Some(MarkerTarget::Note(label.to_string()));
    }
    if EDITORIAL_TAGS.contains(&lowered.as_str()) {
        return Some(MarkerTarget::CitationNeeded);
    }
    let is_word = label.chars().all(|c| c.is_ascii_lowercase());
    let is_single_letter = label.len() == 1;
    if is_word && (note_labels.contains(label) || (is_single_letter && !attached_to_word)) {
        return Some(MarkerTarget::Note(label.to_string()));
    }
    None
}

/// Up to six words before a marker, and the marker, for a warning to say where it is.
fn words_before(text: &str, marker_start: usize, marker_end: usize) -> String {
    let start = text[..marker_start]
        .split_whitespace()
        .rev()
        .take(6)
        .last()
        .map_or(marker_start, |word| {
            word.as_ptr() as usize - text.as_ptr() as usize
        });
    let context = text[start..marker_end]
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    // Six long words (a URL) would hide the marker: keep the end, where it is.
    let kept_from = context
        .char_indices()
        .rev()
        .nth(79)
        .map_or(0, |(index, _)| index);
    let ellipsis = if start > 0 || kept_from > 0 {
        "…"
    } else {
        ""
    };
    format!("{ellipsis}{}", &context[kept_from..])
}

/// Words after which a period does not end a sentence.
const ABBREVIATIONS: &[&str] = &[
    "e.g", "i.e", "etc", "al", "vs", "dr", "mr", "mrs", "ms", "prof", "st", "approx", "fig", "no",
    "vol", "pp", "p", "ca", "cf", "jr", "sr", "inc", "ltd", "co", "mt",
];

/// Splits a paragraph into sentences, each with the markers that cite it.
///
/// A sentence ends at `.`, `!` or `?` followed by a space and a capital, or after the marker
/// run that follows such punctuation ("…body. [1] Five kinds…"). A marker in mid-sentence
/// ("…venipuncture, [2] and it…") belongs to the sentence it sits in. A sentence without a
/// marker of its own is cited by the next marker run of the paragraph.
pub fn split_sentences(text: &str, note_labels: &NoteLabels) -> Vec<Sentence> {
    let markers = find_markers(text, note_labels);
    let mut boundaries: Vec<usize> = Vec::new();

    // Boundaries after marker runs that follow sentence punctuation.
    let mut index = 0;
    while index < markers.len() {
        let run_start = markers[index].start;
        let mut run_end = markers[index].end;
        let mut next = index + 1;
        while next < markers.len() && text[run_end..markers[next].start].trim().is_empty() {
            run_end = markers[next].end;
            next += 1;
        }
        let before = text[..run_start].trim_end();
        let before = before.trim_end_matches(['"', '\'', ')', '”', '’']);
        if before.ends_with(['.', '!', '?']) && !ends_with_abbreviation(before) {
            boundaries.push(run_end);
        }
        index = next;
    }

    // Boundaries at punctuation followed by a new sentence, where no marker follows.
    let bytes = text.as_bytes();
    for (position, character) in text.char_indices() {
        if character == '\n' {
            boundaries.push(position);
            continue;
        }
        if !matches!(character, '.' | '!' | '?') {
            continue;
        }
        let mut end = position + 1;
        while end < bytes.len() && matches!(bytes[end], b'"' | b'\'' | b')') {
            end += 1;
        }
        let rest = &text[end..];
        let after_space = rest.trim_start();
        if after_space.len() == rest.len() || after_space.is_empty() {
            continue;
        }
        let Some(next_char) = after_space.chars().next() else {
            continue;
        };
        if next_char == '['
            && markers
                .iter()
                .any(|m| m.start == text.len() - after_space.len())
        {
            continue;
        }
        let starts_sentence =
            next_char.is_uppercase() || next_char.is_ascii_digit() || next_char == '"';
        if starts_sentence && !ends_with_abbreviation(&text[..position + 1]) {
            boundaries.push(end);
        }
    }

    boundaries.push(text.len());
    boundaries.sort_unstable();
    boundaries.dedup();

    let mut sentences: Vec<Sentence> = Vec::new();
    let mut start = 0;
    for boundary in boundaries {
        let piece = &text[start..boundary];
        let leading = piece.len() - piece.trim_start().len();
        let trailing = piece.len() - piece.trim_end().len();
        let sentence_start = start + leading;
        start = boundary;
        if sentence_start >= boundary - trailing {
            continue;
        }
        // A marker's locator may end in a hair space, which trimming would cut off.
        let sentence_end = markers
            .iter()
            .filter(|m| m.start >= sentence_start && m.start < boundary)
            .map(|m| m.end)
            .fold(boundary - trailing, usize::max);
        let own_markers = markers
            .iter()
            .filter(|m| m.start >= sentence_start && m.end <= sentence_end)
            .map(|m| m.marker.clone())
            .collect();
        sentences.push(Sentence {
            start: sentence_start,
            end: sentence_end,
            markers: own_markers,
        });
    }

    // Wikipedia puts one marker after the sentences it covers: lend it backwards.
    let mut inherited: Vec<Marker> = Vec::new();
    for sentence in sentences.iter_mut().rev() {
        if sentence.markers.is_empty() {
            sentence.markers = inherited.clone();
        } else {
            inherited = trailing_run(text, sentence, &markers);
        }
    }
    sentences
}

/// The markers at the end of a sentence (its last marker run), which cover the sentences
/// before it that have none.
fn trailing_run(text: &str, sentence: &Sentence, markers: &[FoundMarker]) -> Vec<Marker> {
    let inside: Vec<&FoundMarker> = markers
        .iter()
        .filter(|m| m.start >= sentence.start && m.end <= sentence.end)
        .collect();
    let mut run: Vec<Marker> = Vec::new();
    let mut cursor = sentence.end;
    for found in inside.iter().rev() {
        if !text[found.end..cursor].trim().is_empty() {
            break;
        }
        run.insert(0, found.marker.clone());
        cursor = found.start;
    }
    if run.is_empty() {
        // A sentence whose markers all sit mid-sentence still lends its last one.
        run.extend(inside.last().map(|m| m.marker.clone()));
    }
    run
}

fn ends_with_abbreviation(text_before_period: &str) -> bool {
    let without_period = text_before_period.trim_end_matches('.');
    let word = without_period
        .rsplit(|c: char| c.is_whitespace() || c == '(')
        .next()
        .unwrap_or("");
    if word.chars().count() == 1 && word.chars().all(char::is_uppercase) {
        // An initial: "Paul M. Bedocs".
        return true;
    }
    ABBREVIATIONS.contains(&word.to_lowercase().as_str())
}

/// The text with each reference marker (and its page locator) replaced by as many spaces as
/// it has bytes: every other word keeps its byte offset, so words can still be matched to the
/// sentences they belong to.
///
/// Markers are read as in an article without a Notes list: a bracketed word that only the
/// Notes list could make a footnote (`Ulus[a]`) stays, which costs a search nothing.
pub fn blank_markers(text: &str) -> String {
    let mut blanked = String::with_capacity(text.len());
    let mut cursor = 0;
    for found in find_markers(text, &NoteLabels::default()) {
        blanked.push_str(&text[cursor..found.start]);
        blanked.extend(std::iter::repeat_n(' ', found.end - found.start));
        cursor = found.end;
    }
    blanked.push_str(&text[cursor..]);
    blanked
}

/// The text with its reference markers (and their page locators) replaced by spaces, read as
/// [`blank_markers`] reads them.
pub fn strip_markers(text: &str) -> String {
    let mut stripped = String::with_capacity(text.len());
    let mut cursor = 0;
    for found in find_markers(text, &NoteLabels::default()) {
        stripped.push_str(&text[cursor..found.start]);
        stripped.push(' ');
        cursor = found.end;
    }
    stripped.push_str(&text[cursor..]);
    stripped
}
