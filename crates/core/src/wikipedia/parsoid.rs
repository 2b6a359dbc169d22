//! Parsoid HTML (what MediaWiki's REST API returns for a revision) → the same
//! [`Article`] a browser copy gives.
//!
//! Parsoid's output follows a published specification (mediawiki.org, "Specs/HTML"): the
//! sections are nested `<section data-mw-section-id>` elements whose first child is the
//! heading (`<h2>`…`<h6>`, possibly wrapped in `<div class="mw-heading">`), a citation is a
//! `<sup class="mw-ref reference" typeof="mw:Extension/ref">` whose link text is its label
//! (`[3]`, or `[a]` in a notes group), and each references list is an
//! `<ol class="mw-references">` of `<li id="cite_note-…">` entries holding a
//! `<span class="mw-reference-text">`. Reading that markup, rather than guessing from text:
//!
//! - headings have their real levels, so section paths need no reconstruction;
//! - each list item is its own passage (the copy flattens lists, or loses them);
//! - infoboxes, navigation boxes, tables and figures are never passages (the infobox's rows
//!   still give the article's other names, as the copy's header does);
//! - a reference's identifiers (DOI, PMID, PMC, ISBN, hdl, ISSN, arXiv, S2CID, OCLC, URL) come
//!   from the links its citation template printed, not from its text.
//!
//! A paragraph's text is what a reader sees: text nodes with runs of HTML whitespace
//! collapsed, each reference marker as its label in brackets (`[5]`), a page locator as
//! printed after it (`[5]: 527–530`). From there the copy's own sentence and marker rules
//! ([`crate::article::split_sentences`]) apply unchanged.
//!
//! The HTML parser is html5ever (through `scraper`), so any input gives a tree; a document
//! that has no Parsoid body (no sections) is reported by [`parse_parsoid`] as not Parsoid.

use ego_tree::NodeRef;
use scraper::{ElementRef, Html, Node};

use crate::article::{
    assemble, Article, ArticleParts, ArticleSource, InfoboxLine, ParseWarning, PassageLimits,
    REFERENCE_SECTIONS, SKIPPED_SECTIONS,
};
use crate::citation::{self, Citation, RefNumber};
use crate::passage::SectionPath;

/// Why a document cannot be read as an article.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParsoidProblem {
    /// No `<section data-mw-section-id>` at all: not Parsoid HTML (an error page, a
    /// truncated or mangled body).
    NotParsoid,
    /// The page is a disambiguation page: a list of articles, not one.
    Disambiguation {
        /// A few of the articles it lists, to suggest.
        suggestions: Vec<String>,
    },
    /// The page is a redirect whose content is only the link to its target.
    Redirect { target: String },
}

/// What a Parsoid document says about itself.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DocumentFacts {
    /// The article's canonical address, from `<link rel="dc:isVersionOf">`
    /// ("//en.wikipedia.org/wiki/Morphea" → "https://en.wikipedia.org/wiki/Morphea").
    pub canonical_url: Option<String>,
}

/// What the Parsoid reader found besides the passages: used by `citebot add` to refuse pages
/// that are not articles before anything is written.
pub fn check_document(html: &str) -> Result<DocumentFacts, ParsoidProblem> {
    let document = Html::parse_document(html);
    let mut facts = DocumentFacts::default();
    let mut has_section = false;
    let mut disambiguation = false;
    let mut redirect = None;
    for node in document.tree.root().descendants() {
        let Some(element) = node.value().as_element() else {
            continue;
        };
        match element.name() {
            "section" if element.attr("data-mw-section-id").is_some() => has_section = true,
            "meta" if element.attr("property") == Some("mw:PageProp/disambiguation") => {
                disambiguation = true
            }
            "link" if element.attr("rel") == Some("mw:PageProp/redirect") => {
                redirect = element.attr("href").map(title_of_href);
            }
            "link" if element.attr("rel") == Some("dc:isVersionOf") => {
                facts.canonical_url = element.attr("href").map(|href| {
                    if href.starts_with("//") {
                        format!("https:{href}")
                    } else {
                        href.to_string()
                    }
                });
            }
            _ => {}
        }
        if element.attr("id") == Some("disambigbox") || has_class(element, "dmbox-disambig") {
            disambiguation = true;
        }
    }
    if let Some(target) = redirect {
        return Err(ParsoidProblem::Redirect { target });
    }
    if disambiguation {
        let suggestions = document
            .tree
            .root()
            .descendants()
            .filter_map(ElementRef::wrap)
            .filter(|element| element.value().name() == "li")
            .filter_map(|item| {
                item.descendants()
                    .filter_map(ElementRef::wrap)
                    .find(|link| link.value().attr("rel") == Some("mw:WikiLink"))
                    .and_then(|link| link.value().attr("href"))
                    .map(title_of_href)
            })
            .take(3)
            .collect();
        return Err(ParsoidProblem::Disambiguation { suggestions });
    }
    if !has_section {
        return Err(ParsoidProblem::NotParsoid);
    }
    Ok(facts)
}

/// "./Calcinosis_cutis#Types" → "Calcinosis cutis".
fn title_of_href(href: &str) -> String {
    let path = href.trim_start_matches("./");
    let path = path.split(['#', '?']).next().unwrap_or(path);
    percent_encoding::percent_decode_str(path)
        .decode_utf8_lossy()
        .replace('_', " ")
}

/// Parses a fetched article's Parsoid HTML into passages and citations, exactly as
/// [`crate::article::parse_article`] parses a copy. `title` is the page's title and `source`
/// its revision; parsing never fails (an odd document gives fewer passages and warnings).
pub fn parse_parsoid(
    slug: &str,
    title: &str,
    redirected_from: Option<String>,
    html: &str,
    source: Option<ArticleSource>,
    limits: PassageLimits,
) -> Article {
    let document = Html::parse_document(html);
    let mut reader = Reader::default();
    let body = document.tree.root().descendants().find(|node| {
        node.value()
            .as_element()
            .is_some_and(|e| e.name() == "body")
    });
    if let Some(body) = body {
        reader.block_children(body);
    }
    let Reader {
        paragraphs,
        reference_lists,
        infobox,
        ..
    } = reader;

    let mut warnings = Vec::new();
    let mut references: Vec<Citation> = Vec::new();
    let mut notes: Vec<(String, String)> = Vec::new();
    for list in reference_lists {
        match list.group.as_deref() {
            None | Some("") => {
                for (position, entry) in list.entries.into_iter().enumerate() {
                    references.push(entry.into_citation(RefNumber(position as u32 + 1)));
                }
            }
            Some(group) => {
                for (position, entry) in list.entries.into_iter().enumerate() {
                    notes.push((group_label(group, position + 1), entry.text));
                }
            }
        }
    }
    if references.is_empty() && notes.is_empty() && paragraphs.is_empty() {
        warnings.push(ParseWarning {
            line: 0,
            message: "no article body found in the Parsoid HTML".to_string(),
        });
    }
    let paragraph_refs: Vec<(SectionPath, &str, usize)> = paragraphs
        .iter()
        .map(|(path, text)| (path.clone(), text.as_str(), 0))
        .collect();
    assemble(
        ArticleParts {
            slug,
            title: title.to_string(),
            redirected_from,
            infobox,
            paragraphs: paragraph_refs,
            references,
            notes,
            warnings,
            source,
        },
        limits,
    )
}

/// The label Cite prints for entry `position` of a named group: `lower-alpha` 1 → "a".
fn group_label(group: &str, position: usize) -> String {
    let letter = |base: u8| -> String {
        // a…z, then aa, ab… as Cite's CSS counters do
        let mut n = position;
        let mut label = Vec::new();
        while n > 0 {
            n -= 1;
            label.push(base + (n % 26) as u8);
            n /= 26;
        }
        label.reverse();
        String::from_utf8(label).unwrap_or_default()
    };
    match group {
        "lower-alpha" | "lower-latin" => letter(b'a'),
        "upper-alpha" | "upper-latin" => letter(b'A'),
        "lower-roman" => roman(position).to_lowercase(),
        "upper-roman" => roman(position),
        other => format!("{other} {position}"),
    }
}

fn roman(mut n: usize) -> String {
    const DIGITS: &[(usize, &str)] = &[
        (1000, "M"),
        (900, "CM"),
        (500, "D"),
        (400, "CD"),
        (100, "C"),
        (90, "XC"),
        (50, "L"),
        (40, "XL"),
        (10, "X"),
        (9, "IX"),
        (5, "V"),
        (4, "IV"),
        (1, "I"),
    ];
    let mut out = String::new();
    for &(value, digits) in DIGITS {
        while n >= value {
            out.push_str(digits);
            n -= value;
        }
    }
    out
}

/// A reference marker's label as the reader sees it: "[a]" stays "a"; Parsoid's older
/// "[lower-alpha 1]" (turned into "a" by CSS in a browser) becomes "a" too.
fn marker_label(link_text: &str) -> String {
    let inner = link_text
        .trim()
        .trim_start_matches('[')
        .trim_end_matches(']')
        .trim();
    if let Some((group, number)) = inner.rsplit_once(' ') {
        if let Ok(position) = number.parse::<usize>() {
            let label = group_label(group, position);
            if !label.contains(' ') {
                return label;
            }
        }
    }
    inner.to_string()
}

/// One entry of a references list: its reader-visible text and the links in it.
struct ReferenceEntry {
    text: String,
    links: Vec<(String, String)>,
}

impl ReferenceEntry {
    /// The citation: fields from the text (the copy's parser), identifiers from the links.
    fn into_citation(self, number: RefNumber) -> Citation {
        let mut citation = citation::parse_entry(number, &self.text);
        let identifiers = identifiers_from_links(&self.links);
        citation.doi = identifiers.doi.or(citation.doi);
        citation.pmid = identifiers.pmid.or(citation.pmid);
        citation.pmc = identifiers.pmc.or(citation.pmc);
        citation.isbn = identifiers.isbn.or(citation.isbn);
        citation.issn = identifiers.issn.or(citation.issn);
        citation.hdl = identifiers.hdl.or(citation.hdl);
        citation.arxiv = identifiers.arxiv.or(citation.arxiv);
        citation.s2cid = identifiers.s2cid.or(citation.s2cid);
        citation.oclc = identifiers.oclc.or(citation.oclc);
        citation.url = identifiers.url.or(citation.url);
        citation
    }
}

/// Identifiers read from a citation's links.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct LinkedIdentifiers {
    pub doi: Option<String>,
    pub pmid: Option<String>,
    pub pmc: Option<String>,
    pub isbn: Option<String>,
    pub issn: Option<String>,
    pub hdl: Option<String>,
    pub arxiv: Option<String>,
    pub s2cid: Option<String>,
    pub oclc: Option<String>,
    /// The cited work's own address: the first external link that is none of the above and
    /// not an archive copy.
    pub url: Option<String>,
}

/// Reads identifiers from `(href, link text)` pairs as CS1 templates print them:
/// `https://doi.org/10.1111%2Fj…`, `https://pubmed.ncbi.nlm.nih.gov/22741938`,
/// `https://www.ncbi.nlm.nih.gov/pmc/articles/PMC4390718`, `./Special:BookSources/978-…`, …
pub fn identifiers_from_links(links: &[(String, String)]) -> LinkedIdentifiers {
    let mut found = LinkedIdentifiers::default();
    for (href, text) in links {
        if let Some(isbn) = href
            .split_once("Special:BookSources/")
            .map(|(_, isbn)| isbn)
        {
            let shown = text.trim();
            let isbn = if shown.chars().any(|c| c.is_ascii_digit()) {
                shown.to_string()
            } else {
                decode(isbn)
            };
            found.isbn.get_or_insert(isbn);
            continue;
        }
        let absolute = if href.starts_with("//") {
            format!("https:{href}")
        } else {
            href.clone()
        };
        let Ok(url) = url::Url::parse(&absolute) else {
            continue;
        };
        if !matches!(url.scheme(), "http" | "https") {
            continue;
        }
        let host = url.host_str().unwrap_or("").trim_start_matches("www.");
        let path = decode(url.path().trim_start_matches('/'));
        let last_segment = path.trim_end_matches('/').rsplit('/').next().unwrap_or("");
        match host {
            "doi.org" | "dx.doi.org" if path.starts_with("10.") => {
                found.doi.get_or_insert(path.clone());
            }
            "pubmed.ncbi.nlm.nih.gov" if is_digits(last_segment) => {
                found.pmid.get_or_insert(last_segment.to_string());
            }
            "ncbi.nlm.nih.gov" if path.starts_with("pubmed/") && is_digits(last_segment) => {
                found.pmid.get_or_insert(last_segment.to_string());
            }
            "ncbi.nlm.nih.gov" | "pmc.ncbi.nlm.nih.gov"
                if last_segment.starts_with("PMC") && is_digits(&last_segment[3..]) =>
            {
                found.pmc.get_or_insert(last_segment[3..].to_string());
            }
            "hdl.handle.net" => {
                found.hdl.get_or_insert(path.clone());
            }
            "arxiv.org" if path.starts_with("abs/") => {
                found.arxiv.get_or_insert(path["abs/".len()..].to_string());
            }
            "api.semanticscholar.org" if path.starts_with("CorpusID:") => {
                found
                    .s2cid
                    .get_or_insert(path["CorpusID:".len()..].to_string());
            }
            "worldcat.org" | "search.worldcat.org" if path.starts_with("issn/") => {
                found.issn.get_or_insert(last_segment.to_string());
            }
            "portal.issn.org" => {
                found.issn.get_or_insert(last_segment.to_string());
            }
            "worldcat.org" | "search.worldcat.org" if path.starts_with("oclc/") => {
                found.oclc.get_or_insert(last_segment.to_string());
            }
            "web.archive.org" | "archive.org" | "archive.today" | "archive.ph" => {}
            _ => {
                found.url.get_or_insert(absolute);
            }
        }
    }
    found
}

fn decode(text: &str) -> String {
    percent_encoding::percent_decode_str(text)
        .decode_utf8_lossy()
        .into_owned()
}

fn is_digits(text: &str) -> bool {
    !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit())
}

/// A references list (`<ol class="mw-references">`) and its group ("" for References).
struct ReferenceList {
    group: Option<String>,
    entries: Vec<ReferenceEntry>,
}

/// Walks the body in reading order, keeping the heading stack with real levels.
#[derive(Default)]
struct Reader {
    /// (level, heading) from the outermost section in.
    headings: Vec<(u8, String)>,
    paragraphs: Vec<(SectionPath, String)>,
    reference_lists: Vec<ReferenceList>,
    infobox: Vec<InfoboxLine>,
}

fn has_class(element: &scraper::node::Element, class: &str) -> bool {
    element
        .attr("class")
        .is_some_and(|classes| classes.split_ascii_whitespace().any(|c| c == class))
}

fn typeof_has(element: &scraper::node::Element, kind: &str) -> bool {
    element
        .attr("typeof")
        .is_some_and(|types| types.split_ascii_whitespace().any(|t| t == kind))
}

/// Blocks that are never article text: navigation, maintenance boxes, figures, styles.
fn is_furniture(element: &scraper::node::Element) -> bool {
    const CLASSES: &[&str] = &[
        "navbox",
        "navbox-styles",
        "hatnote",
        "shortdescription",
        "ambox",
        "metadata",
        "sistersitebox",
        "side-box",
        "thumb",
        "mw-empty-elt",
        "portalbox",
        "noprint",
        "mw-editsection",
    ];
    matches!(
        element.name(),
        "style" | "script" | "link" | "meta" | "figure" | "img" | "audio" | "video" | "math"
    ) || element.attr("role") == Some("navigation")
        || element.attr("role") == Some("note")
        || CLASSES.iter().any(|class| has_class(element, class))
}

impl Reader {
    fn section_path(&self) -> SectionPath {
        SectionPath(self.headings.iter().map(|(_, h)| h.clone()).collect())
    }

    /// The top-level section, lowercased ("" in the lead).
    fn top_level(&self) -> String {
        self.headings
            .first()
            .map(|(_, heading)| heading.to_lowercase())
            .unwrap_or_default()
    }

    /// Whether paragraphs here are article text (not References, Notes, See also…).
    fn in_text_section(&self) -> bool {
        let top = self.top_level();
        !REFERENCE_SECTIONS.contains(&top.as_str()) && !SKIPPED_SECTIONS.contains(&top.as_str())
    }

    fn heading(&mut self, level: u8, text: String) {
        while self.headings.last().is_some_and(|(l, _)| *l >= level) {
            self.headings.pop();
        }
        self.headings.push((level, text));
    }

    fn paragraph(&mut self, text: String) {
        if !text.is_empty() && self.in_text_section() {
            let path = self.section_path();
            self.paragraphs.push((path, text));
        }
    }

    fn block_children(&mut self, parent: NodeRef<'_, Node>) {
        for child in parent.children() {
            self.block(child);
        }
    }

    fn block(&mut self, node: NodeRef<'_, Node>) {
        let Some(element_ref) = ElementRef::wrap(node) else {
            // Text directly in a section (rare: Parsoid wraps text in <p>) is a paragraph.
            if let Node::Text(text) = node.value() {
                let collapsed = collapse_whitespace(text);
                let trimmed = trim_html_whitespace(&collapsed);
                if !trimmed.is_empty() {
                    self.paragraph(trimmed.to_string());
                }
            }
            return;
        };
        let element = element_ref.value();
        let name = element.name();
        if let Some(level) = heading_level(name) {
            let text = inline_text(node, InlineMode::Heading);
            if !text.is_empty() {
                self.heading(level, text);
            }
            return;
        }
        if name == "section" {
            // A section's own heading comes first among its children; leaving the section
            // ends it, whatever heading follows.
            let depth = self.headings.len();
            self.block_children(node);
            self.headings.truncate(depth);
            return;
        }
        if is_reference_list(element) {
            self.reference_list(element_ref);
            return;
        }
        if typeof_has(element, "mw:Extension/references") || has_class(element, "reflist") {
            for list in element_ref
                .descendants()
                .filter_map(ElementRef::wrap)
                .filter(|e| is_reference_list(e.value()))
            {
                self.reference_list(list);
            }
            return;
        }
        if name == "table" {
            if has_class(element, "infobox") {
                self.infobox_rows(element_ref);
            }
            return;
        }
        if is_furniture(element) {
            return;
        }
        match name {
            "p" => {
                let text = inline_text(node, InlineMode::Text);
                self.paragraph(text);
            }
            "ul" | "ol" | "dl" => self.list(node),
            "blockquote" | "div" | "center" | "span" => {
                if has_block_child(node) {
                    self.block_children(node);
                } else {
                    let text = inline_text(node, InlineMode::Text);
                    self.paragraph(text);
                }
            }
            _ => {}
        }
    }

    /// Each item is its own passage; a nested list's items follow their parent item.
    fn list(&mut self, list: NodeRef<'_, Node>) {
        for item in list.children() {
            let Some(element) = item.value().as_element() else {
                continue;
            };
            if !matches!(element.name(), "li" | "dd" | "dt") || is_furniture(element) {
                continue;
            }
            let text = inline_text(item, InlineMode::ListItem);
            self.paragraph(text);
            for nested in item.children() {
                if nested
                    .value()
                    .as_element()
                    .is_some_and(|e| matches!(e.name(), "ul" | "ol" | "dl"))
                {
                    self.list(nested);
                }
            }
        }
    }

    fn reference_list(&mut self, list: ElementRef<'_>) {
        // The group is on the list itself in current Parsoid, only in the wrapper's data-mw
        // in older output; the nearest one that names a group wins.
        let group = reference_group(list.value()).or_else(|| {
            list.ancestors()
                .filter_map(ElementRef::wrap)
                .find_map(|ancestor| reference_group(ancestor.value()))
        });
        let mut entries = Vec::new();
        for item in list.children().filter_map(ElementRef::wrap) {
            if item.value().name() != "li" {
                continue;
            }
            let content = item.descendants().filter_map(ElementRef::wrap).find(|e| {
                has_class(e.value(), "mw-reference-text") || has_class(e.value(), "reference-text")
            });
            let Some(content) = content else {
                entries.push(ReferenceEntry {
                    text: String::new(),
                    links: Vec::new(),
                });
                continue;
            };
            let links = content
                .descendants()
                .filter_map(ElementRef::wrap)
                .filter(|e| e.value().name() == "a")
                .filter_map(|a| {
                    let href = a.value().attr("href")?;
                    Some((href.to_string(), a.text().collect::<String>()))
                })
                .collect();
            entries.push(ReferenceEntry {
                text: inline_text(*content, InlineMode::Text),
                links,
            });
        }
        self.reference_lists.push(ReferenceList { group, entries });
    }

    fn infobox_rows(&mut self, table: ElementRef<'_>) {
        for row in table
            .descendants()
            .filter_map(ElementRef::wrap)
            .filter(|e| e.value().name() == "tr")
        {
            let cells: Vec<ElementRef<'_>> = row
                .children()
                .filter_map(ElementRef::wrap)
                .filter(|e| matches!(e.value().name(), "th" | "td"))
                .collect();
            match cells.as_slice() {
                [label, value] if label.value().name() == "th" && value.value().name() == "td" => {
                    let label = inline_text(**label, InlineMode::Heading);
                    let value = inline_text(**value, InlineMode::Heading);
                    if !label.is_empty() && !value.is_empty() {
                        self.infobox.push(InfoboxLine {
                            label: Some(label),
                            value,
                        });
                    }
                }
                [only] if has_class(only.value(), "infobox-image") => {
                    let caption = only
                        .descendants()
                        .filter_map(ElementRef::wrap)
                        .find(|e| has_class(e.value(), "infobox-caption"));
                    if let Some(caption) = caption {
                        let text = inline_text(*caption, InlineMode::Heading);
                        if !text.is_empty() {
                            self.infobox.push(InfoboxLine {
                                label: None,
                                value: text,
                            });
                        }
                    }
                }
                _ => {}
            }
        }
    }
}

fn heading_level(name: &str) -> Option<u8> {
    match name {
        "h1" => Some(1),
        "h2" => Some(2),
        "h3" => Some(3),
        "h4" => Some(4),
        "h5" => Some(5),
        "h6" => Some(6),
        _ => None,
    }
}

fn is_reference_list(element: &scraper::node::Element) -> bool {
    element.name() == "ol" && has_class(element, "mw-references")
}

/// The group of a `<references>` wrapper: `data-mw-group`, else its `data-mw` attributes.
fn reference_group(element: &scraper::node::Element) -> Option<String> {
    if let Some(group) = element.attr("data-mw-group") {
        return Some(group.to_string());
    }
    let data: serde_json::Value = serde_json::from_str(element.attr("data-mw")?).ok()?;
    data.pointer("/attrs/group")
        .and_then(|group| group.as_str())
        .map(str::to_string)
}

/// Whether an element holds blocks (paragraphs, lists, sections, tables) rather than only
/// inline text.
fn has_block_child(node: NodeRef<'_, Node>) -> bool {
    node.children().any(|child| {
        child.value().as_element().is_some_and(|e| {
            matches!(
                e.name(),
                "p" | "div"
                    | "ul"
                    | "ol"
                    | "dl"
                    | "table"
                    | "section"
                    | "blockquote"
                    | "figure"
                    | "h2"
                    | "h3"
                    | "h4"
                    | "h5"
                    | "h6"
                    | "style"
                    | "link"
                    | "meta"
            )
        })
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum InlineMode {
    /// A paragraph: markers kept as printed.
    Text,
    /// A list item: nested lists are items of their own, not part of this one's text.
    ListItem,
    /// A heading or an infobox cell: markers left out.
    Heading,
}

/// HTML whitespace (space, tab, line feed, form feed, carriage return) collapses to one space;
/// no-break and hair spaces are text and stay.
fn collapse_whitespace(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut in_space = false;
    for character in text.chars() {
        if matches!(character, ' ' | '\t' | '\n' | '\r' | '\x0C') {
            if !in_space {
                out.push(' ');
            }
            in_space = true;
        } else {
            out.push(character);
            in_space = false;
        }
    }
    out
}

/// The text a reader sees in an element, trimmed.
fn inline_text(node: NodeRef<'_, Node>, mode: InlineMode) -> String {
    let mut out = String::new();
    for child in node.children() {
        push_inline(&mut out, child, mode);
    }
    // Spaces around a line break are the markup's, not the text's; a hair or no-break space
    // is the text's own (a page locator ends in one), so only HTML whitespace is trimmed.
    let lines: Vec<&str> = out.split('\n').map(trim_html_whitespace).collect();
    trim_html_whitespace(&lines.join("\n")).to_string()
}

fn is_html_whitespace(character: char) -> bool {
    matches!(character, ' ' | '\t' | '\n' | '\r' | '\x0C')
}

fn trim_html_whitespace(text: &str) -> &str {
    text.trim_matches(is_html_whitespace)
}

fn push_text(out: &mut String, text: &str) {
    let collapsed = collapse_whitespace(text);
    if out.ends_with(' ') || out.is_empty() || out.ends_with('\n') {
        out.push_str(collapsed.strip_prefix(' ').unwrap_or(&collapsed));
    } else {
        out.push_str(&collapsed);
    }
}

fn push_inline(out: &mut String, node: NodeRef<'_, Node>, mode: InlineMode) {
    let element = match node.value() {
        Node::Text(text) => {
            push_text(out, text);
            return;
        }
        Node::Element(element) => element,
        _ => return,
    };
    let name = element.name();
    if name == "br" {
        out.push('\n');
        return;
    }
    if name == "math" {
        // MathML's presentation text ("CK", "x2"), without the TeX source in <annotation>.
        let shown: String = node
            .descendants()
            .filter(|d| {
                !d.ancestors().any(|a| {
                    a.value()
                        .as_element()
                        .is_some_and(|e| e.name() == "annotation")
                })
            })
            .filter_map(|d| d.value().as_text().map(|t| t.to_string()))
            .collect();
        push_text(out, &shown);
        return;
    }
    if matches!(
        name,
        "style" | "script" | "link" | "meta" | "img" | "figure" | "figure-inline" | "table"
    ) || has_class(element, "mw-editsection")
        || has_class(element, "mwe-math-fallback-image-inline")
        || has_class(element, "mwe-math-fallback-image-display")
    {
        return;
    }
    if mode == InlineMode::ListItem && matches!(name, "ul" | "ol" | "dl") {
        return;
    }
    let is_marker = name == "sup"
        && (typeof_has(element, "mw:Extension/ref")
            || has_class(element, "reference")
            || has_class(element, "noprint"));
    if is_marker && mode == InlineMode::Heading {
        return;
    }
    if name == "sup" && typeof_has(element, "mw:Extension/ref") {
        let link_text: String = ElementRef::wrap(node)
            .map(|e| e.text().collect())
            .unwrap_or_default();
        out.push('[');
        out.push_str(&marker_label(&link_text));
        out.push(']');
        return;
    }
    for child in node.children() {
        push_inline(out, child, mode);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn links(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(h, t)| (h.to_string(), t.to_string()))
            .collect()
    }

    #[test]
    fn identifiers_come_from_the_links_cs1_prints() {
        let found = identifiers_from_links(&links(&[
            ("./Doi_(identifier)", "doi"),
            (
                "https://doi.org/10.1016%2F0190-9622(95)91803-5",
                "10.1016/0190-9622(95)91803-5",
            ),
            ("https://pubmed.ncbi.nlm.nih.gov/7593766", "7593766"),
            (
                "https://www.ncbi.nlm.nih.gov/pmc/articles/PMC4390718",
                "4390718",
            ),
            (
                "./Special:BookSources/978-0-7216-2921-6",
                "978-0-7216-2921-6",
            ),
            ("https://hdl.handle.net/11586%2F171759", "11586/171759"),
            ("https://search.worldcat.org/issn/0003-987X", "0003-987X"),
            ("https://api.semanticscholar.org/CorpusID:123", "123"),
            ("https://web.archive.org/web/2020/https://x.org", "Archived"),
            ("https://medlineplus.gov/ency/imagepages/17175.htm", "CREST"),
        ]));
        assert_eq!(found.doi.as_deref(), Some("10.1016/0190-9622(95)91803-5"));
        assert_eq!(found.pmid.as_deref(), Some("7593766"));
        assert_eq!(found.pmc.as_deref(), Some("4390718"));
        assert_eq!(found.isbn.as_deref(), Some("978-0-7216-2921-6"));
        assert_eq!(found.hdl.as_deref(), Some("11586/171759"));
        assert_eq!(found.issn.as_deref(), Some("0003-987X"));
        assert_eq!(found.s2cid.as_deref(), Some("123"));
        assert_eq!(
            found.url.as_deref(),
            Some("https://medlineplus.gov/ency/imagepages/17175.htm")
        );
    }

    #[test]
    fn group_labels_follow_cite() {
        assert_eq!(group_label("lower-alpha", 1), "a");
        assert_eq!(group_label("lower-alpha", 27), "aa");
        assert_eq!(group_label("upper-roman", 4), "IV");
        assert_eq!(group_label("note", 2), "note 2");
        assert_eq!(marker_label("[lower-alpha 2]"), "b");
        assert_eq!(marker_label("[a]"), "a");
        assert_eq!(marker_label("[12]"), "12");
    }

    #[test]
    fn markup_gives_levels_items_markers_and_no_furniture() {
        let html = r#"<!DOCTYPE html><html><head><title>T</title></head><body>
<section data-mw-section-id="0"><table class="infobox"><tbody>
<tr><th class="infobox-label">Other names</th><td class="infobox-data">Local scleroderma<sup class="mw-ref reference" typeof="mw:Extension/ref"><a href="./T#cite_note-1"><span class="mw-reflink-text">[1]</span></a></sup></td></tr>
</tbody></table>
<p>Lead  text.<sup class="mw-ref reference" typeof="mw:Extension/ref"><a href="./T#cite_note-1"><span class="mw-reflink-text">[1]</span></a></sup><sup class="reference nowrap" typeof="mw:Transclusion"><span title="Page: 12">:&#8202;12</span></sup> More.<sup class="mw-ref reference" typeof="mw:Extension/ref" data-mw-group="lower-alpha"><a href="./T#cite_note-n1"><span class="mw-reflink-text">[a]</span></a></sup></p></section>
<section data-mw-section-id="1"><h2 id="Types">Types</h2>
<p>Kinds:</p><ul><li>One kind.<ul><li>Nested kind.</li></ul></li><li>Two.</li></ul>
<section data-mw-section-id="2"><h3 id="Deep">Deep</h3><p>Deep text.</p>
<div role="navigation" class="navbox"><table><tr><td>Nav text.</td></tr></table></div></section></section>
<section data-mw-section-id="3"><h2 id="Notes">Notes</h2><div class="mw-references-wrap" typeof="mw:Extension/references" data-mw='{"name":"references","attrs":{"group":"lower-alpha"}}'><ol class="mw-references references" data-mw-group="lower-alpha"><li id="cite_note-n1"><span class="mw-reference-text">A note.</span></li></ol></div></section>
<section data-mw-section-id="4"><h2 id="References">References</h2><div class="mw-references-wrap" typeof="mw:Extension/references"><ol class="mw-references references"><li id="cite_note-1"><span class="mw-reference-text"><cite class="citation journal cs1">Smith, J. (2001). "A title". <i>J</i>. <a rel="mw:WikiLink" href="./PMID_(identifier)">PMID</a>&nbsp;<a rel="mw:ExtLink nofollow" href="https://pubmed.ncbi.nlm.nih.gov/42" class="external text">42</a>.</cite></span></li></ol></div></section>
</body></html>"#;
        assert_eq!(check_document(html), Ok(DocumentFacts::default()));
        let article = parse_parsoid("t", "T", None, html, None, PassageLimits::default());
        let body: Vec<(String, String)> = article
            .body_passages()
            .map(|p| (p.section_path.display(), p.text.clone()))
            .collect();
        assert_eq!(
            body,
            vec![
                ("Lead".into(), "Lead text.[1]:\u{200A}12 More.[a]".into()),
                ("Types".into(), "Kinds:".into()),
                ("Types".into(), "One kind.".into()),
                ("Types".into(), "Nested kind.".into()),
                ("Types".into(), "Two.".into()),
                ("Types › Deep".into(), "Deep text.".into()),
            ]
        );
        let lead = article.body_passages().next().unwrap();
        assert_eq!(lead.sentences[0].markers[0].locator.as_deref(), Some("12"));
        assert_eq!(article.references[0].pmid.as_deref(), Some("42"));
        assert_eq!(article.aliases(), vec!["Local scleroderma".to_string()]);
        assert!(article
            .passages
            .iter()
            .any(|p| p.id == "t#note-a" && p.text == "A note."));
    }

    #[test]
    fn pages_that_are_not_articles_are_named() {
        assert_eq!(
            check_document("<html><body><p>Service unavailable</p></body></html>"),
            Err(ParsoidProblem::NotParsoid)
        );
        let disambiguation = r#"<html><head><meta property="mw:PageProp/disambiguation"/></head><body><section data-mw-section-id="0"><p>Mercury may refer to:</p><ul><li><a rel="mw:WikiLink" href="./Mercury_(planet)">Mercury (planet)</a></li></ul></section></body></html>"#;
        assert_eq!(
            check_document(disambiguation),
            Err(ParsoidProblem::Disambiguation {
                suggestions: vec!["Mercury (planet)".to_string()]
            })
        );
    }

    /// Found by the fuzz smoke run (fuzz/seeds/parse_parsoid/empty-reference-entry.bin): a
    /// references list item with no text became a passage with an empty sentence.
    #[test]
    fn an_empty_reference_entry_is_no_passage() {
        let data = include_bytes!("../../../../fuzz/seeds/parse_parsoid/empty-reference-entry.bin");
        let (first, rest) = data.split_first().expect("not empty");
        let html = String::from_utf8_lossy(rest);
        let limits = PassageLimits {
            max_passage_bytes: 200 + usize::from(*first) * 8,
        };
        let article = parse_parsoid("fuzz", "Fuzz", None, &html, None, limits);
        for passage in &article.passages {
            for sentence in &passage.sentences {
                assert!(
                    sentence.start < sentence.end && sentence.end <= passage.text.len(),
                    "{}: sentence {}..{} of {} bytes",
                    passage.id,
                    sentence.start,
                    sentence.end,
                    passage.text.len()
                );
            }
        }
    }
}
