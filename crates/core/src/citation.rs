//! References-list entries parsed into structured citations.
//!
//! A Wikipedia reference as copied to plain text looks like
//! `15. ^ a b Grenader, Tal; Shavit, Linda (Aug 18, 2011). "Scrotal Calcinosis". New England
//! Journal of Medicine. 365 (7): 647. doi: 10.1056/NEJMicm1013803. PMID 21848465.`
//! This module turns such a line into a [`Citation`]. It never fails: whatever cannot be
//! recognised stays in [`Citation::raw`], which is always the entry's exact text.
//!
//! The parser follows the shape Wikipedia's citation templates (CS1) print, in small steps:
//! authors and date, then the title, then the bibliographic segments up to the first
//! identifier (`doi:`, `PMID`, `ISBN`, `Retrieved` …), and the identifiers themselves from
//! the rest. Each step only takes what it recognises, so an odd entry loses fields, never text.

use std::collections::HashMap;
use std::sync::LazyLock;

use regex::Regex;
use serde::{Deserialize, Serialize};

/// A reference number as printed in the article (`[15]` cites reference 15).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RefNumber(pub u32);

impl std::fmt::Display for RefNumber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// One entry of an article's References list, parsed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Citation {
    /// The entry's number in the References list.
    pub number: RefNumber,
    /// Authors as written ("Gutierrez Jr, Albert"); empty for works without authors.
    pub authors: Vec<String>,
    /// Whether the author list ended with "et al.".
    pub et_al: bool,
    /// The date as written inside the parentheses ("2023-07-10", "Aug 18, 2011", "2006").
    pub date: Option<String>,
    /// The year, when the date has one.
    pub year: Option<u16>,
    /// The work's title, without its quotes.
    pub title: Option<String>,
    /// Journal, book series, publisher or web site the work appeared in.
    pub container: Option<String>,
    pub volume: Option<String>,
    pub issue: Option<String>,
    /// Pages or article number ("195–206", "rjv036").
    pub pages: Option<String>,
    pub publisher: Option<String>,
    pub doi: Option<String>,
    pub pmid: Option<String>,
    pub pmc: Option<String>,
    pub isbn: Option<String>,
    pub issn: Option<String>,
    pub hdl: Option<String>,
    pub url: Option<String>,
    /// "Retrieved 2024-02-28" → "2024-02-28".
    pub retrieved: Option<String>,
    /// The entry exactly as in the article, without the leading "N. ^ a b" back-links.
    pub raw: String,
    /// Edition as written inside its parentheses ("2nd ed."); books only.
    pub edition: Option<String>,
    /// arXiv identifier ("2101.00001", "hep-th/9901001").
    pub arxiv: Option<String>,
    /// Semantic Scholar corpus id, digits only.
    pub s2cid: Option<String>,
    /// WorldCat OCLC number, digits only.
    pub oclc: Option<String>,
}

/// A web link to the cited work, for surfaces that can show links.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Link {
    /// What the link resolves through: "doi", "PubMed", "PMC", "hdl", "arXiv" or "URL".
    pub label: &'static str,
    pub url: String,
}

/// Compiles a regex written in this file; a failure is a bug in the pattern, not in input.
fn re(pattern: &str) -> Regex {
    Regex::new(pattern).unwrap_or_else(|e| panic!("bad built-in regex {pattern:?}: {e}"))
}

/// Month names as CS1 prints them, full or abbreviated ("Aug", "August", "Sept.").
const MONTH: &str = r"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)[a-z]*\.?";

/// The date shapes CS1 prints; most specific first because alternation is leftmost-first.
static DATE_PATTERN: LazyLock<String> = LazyLock::new(|| {
    format!(
        r"[0-9]{{4}}-[0-9]{{2}}-[0-9]{{2}}|[0-9]{{4}}-[0-9]{{2}}|[0-9]{{1,2}}\s+{MONTH}\s+[0-9]{{4}}|{MONTH}\s+[0-9]{{1,2}},?\s+[0-9]{{4}}|(?:(?:Spring|Summer|Autumn|Fall|Winter|{MONTH})\s+)?[0-9]{{4}}"
    )
});

/// `  15. ^ a b entry`: number, dot, caret (or the ↑ some copies show), then the rest.
static REF_LINE: LazyLock<Regex> = LazyLock::new(|| re(r"(?s)^\s*([0-9]{1,9})\.\s+[\^↑]\s*(.*)$"));
/// `a. ^ entry` in a Notes list.
static NOTE_LINE: LazyLock<Regex> = LazyLock::new(|| re(r"(?s)^\s*([a-z]{1,3})\.\s+[\^↑]\s*(.*)$"));

/// Authors then `(date).` before any quote: the CS1 opening whenever authors are given.
/// Digits are barred from the authors so a free-text sentence with numbers is not read as names.
static AUTHORS_DATE: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r#"^(?P<authors>[^"0-9]*?)\s*\((?P<date>[^()"]{0,30}?(?:[0-9]{4}|n\.d\.)[^()"]{0,30})\)(?:[.,]|$)\s*"#,
    )
});
/// A Vancouver-style name: surname then up to four capital initials ("El Fassi J", "Yazami OE").
static VANCOUVER_NAME: LazyLock<Regex> =
    LazyLock::new(|| re(r"^\p{Lu}[\p{L}'’\-]*(?:\s+\p{L}[\p{L}'’\-]*)*\s+\p{Lu}{1,4}$"));
/// "et al." closing a name list or a single name, with any spacing (`et\u{a0}al.` in the article).
static ET_AL: LazyLock<Regex> = LazyLock::new(|| re(r"(?i)(?:^|\s)et\s+al(?:ii)?\.?$"));
/// What may follow a title's closing quote besides `.`: format or translation notes,
/// `"Title" (PDF).` or `"Titre" [Title].`.
static TITLE_SUFFIX: LazyLock<Regex> =
    LazyLock::new(|| re(r#"^\s*(?:\([^()"]*\)|\[[^\]"]*\])+\s*(?:[.,]|$)"#));
/// The notes and punctuation between a title's closing quote and the next segment.
static AFTER_TITLE: LazyLock<Regex> =
    LazyLock::new(|| re(r"^\s*(?:\([^()]*\)\s*|\[[^\]]*\]\s*)*[.,]?\s*"));
/// Where the identifiers start: a segment opening with a label, or a bare URL.
static IDENTIFIERS_START: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"(?:^|[.,;]\s+)(?:(?:doi|hdl|arXiv|Bibcode|CiteSeerX):|(?:PMID|PMC|ISBN(?:-1[03])?|e?ISSN|S2CID|OCLC|JSTOR|LCCN|SSRN|OSTI|Retrieved|Accessed|Archived)[:\s]|https?://)",
    )
});
/// A chapter's "In Editor (ed.)." lead-in, which names the book's editors, not the container.
static IN_EDITORS: LazyLock<Regex> =
    LazyLock::new(|| re(r"^In:?\s+(?:[^()]*?\((?:eds?|Hrsg)\.?\)[.,]?\s+)?"));
static EDITION: LazyLock<Regex> = LazyLock::new(|| {
    re(r"^(?P<text>.*?)\s*\((?P<edition>[^()]*\b(?:ed|eds|edition|Aufl|éd)\.?)\)$")
});
static PAGES_SEGMENT: LazyLock<Regex> = LazyLock::new(|| re(r"^pp?\.\s*(?P<pages>\S.*)$"));
static DATE_SEGMENT: LazyLock<Regex> =
    LazyLock::new(|| re(&format!(r"^(?:{}|n\.d\.?)$", *DATE_PATTERN)));
/// `25 (2): 195–206`, `2015 (4)`, `12: 100`, `Vol. 3`.
static VOLUME_ISSUE_PAGES: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"^(?:(?:Vol\.|vol\.|Volume)\s*)?(?P<volume>[0-9][0-9A-Za-z\-–]*)?\s*(?:\((?P<issue>[^()]+)\))?\s*(?::\s*(?P<pages>\S.*))?$",
    )
});
/// Page numbers or an article number: `805–812`, `rjv036`, `e123`, `95–7`, `1, 4–6`.
const PAGES: &str =
    r"[A-Za-z]{0,4}[0-9][0-9A-Za-z]*(?:\s*[–\-,]\s*[A-Za-z]{0,4}[0-9][0-9A-Za-z]*)*";
/// `Elsevier BV: 805–812`, which CS1 prints after `volume (issue).` when a publisher is given.
static PUBLISHER_PAGES: LazyLock<Regex> =
    LazyLock::new(|| re(&format!(r"^(?P<publisher>.*\S)\s*:\s*(?P<pages>{PAGES})$")));

static DOI: LazyLock<Regex> = LazyLock::new(|| re(r"\b(?i:doi):?\s*(10\.\S+)"));
static PMID: LazyLock<Regex> = LazyLock::new(|| re(r"\bPMID:?\s*([0-9]+)"));
static PMC: LazyLock<Regex> = LazyLock::new(|| re(r"\bPMC:?\s*([0-9]+)"));
static ISBN: LazyLock<Regex> =
    LazyLock::new(|| re(r"\bISBN(?:-1[03])?:?\s*([0-9][0-9\-]{8,16}[0-9Xx])"));
static ISSN: LazyLock<Regex> = LazyLock::new(|| re(r"\be?ISSN:?\s*([0-9]{4}-?[0-9]{3}[0-9Xx])"));
static HDL: LazyLock<Regex> = LazyLock::new(|| re(r"\bhdl:\s*(\S+)"));
static ARXIV: LazyLock<Regex> = LazyLock::new(|| re(r"\barXiv:\s*(\S+)"));
static S2CID: LazyLock<Regex> = LazyLock::new(|| re(r"\bS2CID:?\s*([0-9]+)"));
static OCLC: LazyLock<Regex> = LazyLock::new(|| re(r"\bOCLC:?\s*([0-9]+)"));
static URL: LazyLock<Regex> = LazyLock::new(|| re(r#"\bhttps?://[^\s"<>]+"#));
static RETRIEVED: LazyLock<Regex> = LazyLock::new(|| {
    re(&format!(
        r"\b(?:Retrieved|Accessed)(?:\s+on)?:?\s+({})",
        *DATE_PATTERN
    ))
});
/// A plausible publication year, not part of a longer number.
static YEAR: LazyLock<Regex> =
    LazyLock::new(|| re(r"(?:^|[^0-9])((?:1[5-9]|20)[0-9]{2})(?:[^0-9]|$)"));

/// Splits a References-list line into its number and its entry text.
///
/// Wikipedia prints back-link letters (`^ a b c`) only for a reference cited more than once,
/// so they always run `a b …` from `a` with at least two labels; requiring exactly that
/// keeps an entry that merely begins with a one-letter word intact. The one ambiguity left is
/// an entry of a once-cited reference that itself begins "a b …", which would lose those words.
/// Lines without the `N. ^` shape, and entries with no text, give `None`.
pub fn split_reference_line(line: &str) -> Option<(RefNumber, &str)> {
    let caps = REF_LINE.captures(line)?;
    let number = caps.get(1)?.as_str().parse::<u32>().ok()?;
    let entry = strip_backlinks(caps.get(2)?.as_str()).trim();
    (!entry.is_empty()).then_some((RefNumber(number), entry))
}

/// Splits a Notes-list line (`a. ^ text`, the explanatory footnotes some articles keep apart
/// from their References) into its label and text, with the same back-link rules as
/// [`split_reference_line`].
pub fn split_note_line(line: &str) -> Option<(String, &str)> {
    let caps = NOTE_LINE.captures(line)?;
    let label = caps.get(1)?.as_str().to_string();
    let entry = strip_backlinks(caps.get(2)?.as_str()).trim();
    (!entry.is_empty()).then_some((label, entry))
}

/// The n-th back-link label as MediaWiki numbers them: a … z, then aa, ab, ….
fn backlink_label(mut n: usize) -> String {
    let mut label = Vec::new();
    loop {
        label.push(b'a' + (n % 26) as u8);
        if n < 26 {
            break;
        }
        n = n / 26 - 1;
    }
    label.reverse();
    String::from_utf8_lossy(&label).into_owned()
}

fn strip_backlinks(text: &str) -> &str {
    let mut rest = text.trim_start();
    let mut count = 0;
    loop {
        let label = backlink_label(count);
        let Some(after) = rest.strip_prefix(label.as_str()) else {
            break;
        };
        if !after.starts_with(char::is_whitespace) {
            break;
        }
        rest = after.trim_start();
        count += 1;
    }
    if count >= 2 {
        rest
    } else {
        text
    }
}

/// Parses one References-list entry (the text after the back-links).
///
/// Never fails: fields that cannot be recognised stay `None`, and free text that follows no
/// citation style keeps only `raw`, its year and whatever identifiers it names.
pub fn parse_entry(number: RefNumber, entry: &str) -> Citation {
    let mut citation = Citation::empty(number, entry);
    let mut rest = entry.trim();
    let mut structured = false;

    if let Some(after) = take_authors_and_date(&mut citation, rest) {
        rest = after;
        structured = true;
    }
    let mut quoted_title = false;
    if let Some((title, after)) = take_quoted_title(rest) {
        citation.title = (!title.is_empty()).then(|| title.to_string());
        rest = after;
        structured = true;
        quoted_title = true;
    }
    // Identifiers are read only after the title so a title that mentions a PMID is not taken
    // for one.
    take_identifiers(&mut citation, rest);
    let middle = IDENTIFIERS_START
        .find(rest)
        .map_or(rest, |m| &rest[..m.start()]);
    // An unquoted book (`Title. Publisher. ISBN …`) has no other mark of being a citation.
    structured |= citation.isbn.is_some() || citation.oclc.is_some();
    if structured {
        take_segments(&mut citation, middle, quoted_title);
    }
    citation.year = match &citation.date {
        Some(date) => year_in(date),
        None if !structured => year_in(middle),
        None => None,
    };
    citation
}

/// Takes `Authors (date).` from the start of `text`, returning what follows.
fn take_authors_and_date<'a>(citation: &mut Citation, text: &'a str) -> Option<&'a str> {
    let caps = AUTHORS_DATE.captures(text)?;
    let (authors, date, whole) = (caps.name("authors")?, caps.name("date")?, caps.get(0)?);
    let (names, et_al) = split_authors(authors.as_str());
    citation.authors = names;
    citation.et_al = et_al;
    citation.date = Some(date.as_str().trim().to_string());
    Some(&text[whole.end()..])
}

/// Splits an author list: `Last, First; Last, First` or Vancouver `Last AB, Last C`.
///
/// A comma list is read as Vancouver only when every name ends in capital initials, because a
/// lone `Last, First` (or an organisation with a comma) must stay one author.
fn split_authors(text: &str) -> (Vec<String>, bool) {
    let text = text.trim().trim_end_matches([',', ';']).trim();
    let pieces: Vec<&str> = if text.contains(';') {
        text.split(';').collect()
    } else {
        let parts: Vec<&str> = text.split(',').map(str::trim).collect();
        let names = parts.iter().filter(|p| !is_et_al(p));
        let vancouver = parts.len() > 1
            && names.clone().count() > 0
            && names.clone().all(|p| VANCOUVER_NAME.is_match(p));
        if vancouver {
            parts
        } else {
            vec![text]
        }
    };
    let mut authors = Vec::new();
    let mut et_al = false;
    for piece in pieces {
        let mut name = piece.trim();
        if let Some(m) = ET_AL.find(name) {
            et_al = true;
            name = name[..m.start()].trim_end_matches(',').trim();
        }
        for marker in ["(ed.)", "(eds.)", "(ed)", "(eds)"] {
            if let Some(stripped) = name.strip_suffix(marker) {
                name = stripped.trim_end_matches(',').trim();
            }
        }
        if !name.is_empty() {
            authors.push(name.to_string());
        }
    }
    (authors, et_al)
}

/// Whether `text` is just "et al." (which the article writes with a no-break space).
fn is_et_al(text: &str) -> bool {
    ET_AL.find(text.trim()).is_some_and(|m| m.start() == 0)
}

/// Takes a title in straight (or curly) double quotes from the start of `text`.
///
/// A title may quote something itself (`"Osteoma Cutis and Calcinosis Cutis: "Similar but
/// Different""`), so the closing quote is the first one followed by what CS1 prints after a
/// title (`. `, `, `, a `(PDF)` note, or the end), not simply the next quote.
fn take_quoted_title(text: &str) -> Option<(&str, &str)> {
    let (open, close) = match text.chars().next()? {
        '"' => ('"', '"'),
        '“' => ('“', '”'),
        _ => return None,
    };
    let body = &text[open.len_utf8()..];
    let closes_title = |after: &str| {
        let mut chars = after.chars();
        match chars.next() {
            None => true,
            Some('.' | ',') => chars.next().is_none_or(char::is_whitespace),
            Some(_) => TITLE_SUFFIX.is_match(after),
        }
    };
    let end = body
        .char_indices()
        .filter(|&(_, c)| c == close)
        .map(|(i, _)| i)
        .find(|&i| closes_title(&body[i + close.len_utf8()..]))
        .or_else(|| body.rfind(close))?;
    let after = &body[end + close.len_utf8()..];
    let skip = AFTER_TITLE.find(after).map_or(0, |m| m.end());
    Some((body[..end].trim(), &after[skip..]))
}

/// Reads identifiers (doi, PMID, …) and the retrieval date wherever they appear in `text`.
fn take_identifiers(citation: &mut Citation, text: &str) {
    let first = |regex: &Regex| {
        regex
            .captures(text)
            .and_then(|caps| caps.get(1))
            .map(|m| trim_trailing_punctuation(m.as_str()).to_string())
            .filter(|value| !value.is_empty())
    };
    citation.doi = first(&DOI);
    citation.pmid = first(&PMID);
    citation.pmc = first(&PMC);
    citation.isbn = first(&ISBN).filter(|isbn| matches!(isbn_digits(isbn).len(), 10 | 13));
    citation.issn = first(&ISSN);
    citation.hdl = first(&HDL);
    citation.arxiv = first(&ARXIV);
    citation.s2cid = first(&S2CID);
    citation.oclc = first(&OCLC);
    citation.retrieved = first(&RETRIEVED);
    citation.url = URL
        .find(text)
        .map(|m| trim_trailing_punctuation(m.as_str()).to_string());
}

/// Drops the sentence's punctuation glued to an identifier (`doi: 10.1/x.`), and a closing
/// bracket only when the identifier did not open it (DOIs like `0190-9622(95)91803-5` do).
fn trim_trailing_punctuation(mut text: &str) -> &str {
    loop {
        let trimmed = text.trim_end_matches(['.', ',', ';', ':']);
        let trimmed = match trimmed.strip_suffix([')', ']']) {
            Some(shorter)
                if trimmed.matches(['(', '[']).count() < trimmed.matches([')', ']']).count() =>
            {
                shorter
            }
            _ => trimmed,
        };
        if trimmed.len() == text.len() {
            return text;
        }
        text = trimmed;
    }
}

/// Classifies the `. `-separated segments between the title and the identifiers: container,
/// volume (issue): pages, publisher, date, pages. An unquoted first segment is a book title.
fn take_segments(citation: &mut Citation, middle: &str, quoted_title: bool) {
    let middle = IN_EDITORS
        .find(middle)
        .map_or(middle, |m| &middle[m.end()..]);
    let mut segments = split_segments(middle).into_iter();
    if !quoted_title {
        if let Some(first) = segments.next() {
            let (title, edition) = split_edition(first);
            citation.title = Some(title.to_string());
            citation.edition = edition;
        }
    }
    // CS1 prints the publisher of a journal between `volume (issue).` and `: pages`.
    let mut pages_may_follow = false;
    for segment in segments {
        let had_volume = std::mem::take(&mut pages_may_follow);
        if segment.contains("://") {
            continue;
        }
        if let Some(caps) = PAGES_SEGMENT.captures(segment) {
            if citation.pages.is_none() {
                citation.pages = caps.name("pages").map(|m| m.as_str().to_string());
            }
            continue;
        }
        if citation.date.is_none() && DATE_SEGMENT.is_match(segment) {
            citation.date = Some(segment.to_string());
            continue;
        }
        if citation.volume.is_none() && citation.issue.is_none() {
            if let Some(caps) = VOLUME_ISSUE_PAGES.captures(segment) {
                let (volume, issue) = (caps.name("volume"), caps.name("issue"));
                if volume.is_some() || issue.is_some() {
                    let text = |m: Option<regex::Match>| m.map(|m| m.as_str().trim().to_string());
                    citation.volume = text(volume);
                    citation.issue = text(issue);
                    citation.pages = text(caps.name("pages")).or(citation.pages.take());
                    pages_may_follow = caps.name("pages").is_none();
                    continue;
                }
            }
        }
        if had_volume {
            if let Some(caps) = PUBLISHER_PAGES.captures(segment) {
                citation.publisher = caps.name("publisher").map(|m| m.as_str().to_string());
                citation.pages = caps.name("pages").map(|m| m.as_str().to_string());
                continue;
            }
        }
        if quoted_title && citation.container.is_none() && citation.volume.is_none() {
            let (container, edition) = split_edition(segment);
            citation.container = Some(container.to_string());
            citation.edition = citation.edition.take().or(edition);
            continue;
        }
        if citation.publisher.is_none() {
            citation.publisher = Some(segment.to_string());
        }
    }
}

/// `Title (2nd ed.)` → (`Title`, `2nd ed.`).
fn split_edition(text: &str) -> (&str, Option<String>) {
    match EDITION.captures(text) {
        Some(caps) => match (caps.name("text"), caps.name("edition")) {
            (Some(title), Some(edition)) if !title.as_str().is_empty() => {
                (title.as_str(), Some(edition.as_str().trim().to_string()))
            }
            _ => (text, None),
        },
        None => (text, None),
    }
}

/// Splits at each `. ` outside brackets, keeping the dots of abbreviations and initials
/// (`pp. 12`, `W. B. Saunders`, `Inc.`) which do not end a segment.
fn split_segments(text: &str) -> Vec<&str> {
    let mut segments = Vec::new();
    let mut depth = 0usize;
    let mut start = 0;
    for (i, ch) in text.char_indices() {
        match ch {
            '(' | '[' => depth += 1,
            ')' | ']' => depth = depth.saturating_sub(1),
            '.' if depth == 0 => {
                let after = &text[i + 1..];
                let at_break = after.chars().next().is_none_or(char::is_whitespace);
                if at_break && !keeps_dot(&text[start..i], after.trim_start()) {
                    segments.push(text[start..i].trim());
                    start = i + 1;
                }
            }
            _ => {}
        }
    }
    segments.push(text[start..].trim());
    segments.retain(|segment| !segment.is_empty());
    segments
}

/// Whether the `.` after `before` belongs to an abbreviation or initial rather than ending
/// a segment.
fn keeps_dot(before: &str, after: &str) -> bool {
    const ABBREVIATIONS: [&str; 16] = [
        "p", "pp", "vol", "Vol", "no", "No", "ed", "eds", "Ed", "Co", "Inc", "Ltd", "Jr", "Sr",
        "St", "al",
    ];
    let mut words = before.split_whitespace().rev();
    let Some(token) = words.next() else {
        return false;
    };
    if ABBREVIATIONS.contains(&token) {
        return true;
    }
    if !after.starts_with(char::is_uppercase) {
        return false;
    }
    let is_initials = |word: &str, trailing_dot: bool| {
        let letters = word.split('.').collect::<Vec<_>>();
        let (last, rest) = match letters.split_last() {
            Some(split) => split,
            None => return false,
        };
        let single_capital = |s: &&str| s.chars().count() == 1 && s.chars().all(char::is_uppercase);
        (if trailing_dot {
            last.is_empty()
        } else {
            single_capital(last)
        }) && rest.iter().all(single_capital)
    };
    // `W.B` (two initials) or a lone `B` right after another initial or opening the segment.
    (token.contains('.') && is_initials(token, false))
        || (is_initials(token, false) && words.next().is_none_or(|word| is_initials(word, true)))
}

fn year_in(text: &str) -> Option<u16> {
    YEAR.captures(text)?.get(1)?.as_str().parse().ok()
}

fn isbn_digits(isbn: &str) -> String {
    isbn.chars()
        .filter(|c| c.is_ascii_digit() || *c == 'X' || *c == 'x')
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

/// The ISBN-13 of an ISBN, so a book cited once by ISBN-10 and once by ISBN-13 is one work.
fn isbn13(isbn: &str) -> String {
    let digits = isbn_digits(isbn);
    if digits.len() != 10 {
        return digits;
    }
    let body = format!("978{}", &digits[..9]);
    let sum: u32 = body
        .chars()
        .filter_map(|c| c.to_digit(10))
        .enumerate()
        .map(|(i, d)| if i % 2 == 0 { d } else { 3 * d })
        .sum();
    format!("{body}{}", (10 - sum % 10) % 10)
}

/// Lowercased letters and digits only, so punctuation and case differences do not split a work.
fn normalize(text: &str) -> String {
    text.chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
}

/// Shortens to about `max` characters at a word boundary.
fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let cut: String = text.chars().take(max).collect();
    let cut = cut.rsplit_once(' ').map_or(cut.as_str(), |(head, _)| head);
    format!("{}…", cut.trim_end_matches([' ', ',', ';', ':', '.']))
}

impl Citation {
    fn empty(number: RefNumber, raw: &str) -> Self {
        Citation {
            number,
            authors: Vec::new(),
            et_al: false,
            date: None,
            year: None,
            title: None,
            container: None,
            volume: None,
            issue: None,
            pages: None,
            publisher: None,
            doi: None,
            pmid: None,
            pmc: None,
            isbn: None,
            issn: None,
            hdl: None,
            url: None,
            retrieved: None,
            raw: raw.to_string(),
            edition: None,
            arxiv: None,
            s2cid: None,
            oclc: None,
        }
    }

    /// A short citation for people: "Gutierrez & Wetter 2012, Dermatologic Therapy",
    /// "Reiter et al. 2011, …", or for works without authors their title and site.
    pub fn short(&self) -> String {
        let surnames: Vec<String> = self.authors.iter().map(|a| surname(a)).collect();
        let names = match surnames.as_slice() {
            [] => None,
            [one] if !self.et_al => Some(one.clone()),
            [one, two] if !self.et_al => Some(format!("{one} & {two}")),
            [first, ..] => Some(format!("{first} et al.")),
        };
        let title = self.title.as_deref().map(|t| truncate(t, 60));
        let with_year = |lead: String| match self.year {
            Some(year) => format!("{lead} {year}"),
            None => lead,
        };
        let (head, place) = match names {
            Some(names) => (with_year(names), self.container.clone().or(title)),
            None => {
                // Without authors the title leads, then the site unless it only repeats the
                // title ("UpToDate". UpToDate.).
                let site = self
                    .container
                    .clone()
                    .filter(|c| Some(c) != self.title.as_ref());
                match (title, site) {
                    (Some(title), site) => (with_year(title), site),
                    (None, Some(site)) => (with_year(site), None),
                    (None, None) if !self.raw.trim().is_empty() => {
                        return truncate(self.raw.trim(), 80)
                    }
                    (None, None) => return format!("[{}]", self.number),
                }
            }
        };
        match place {
            Some(place) => format!("{head}, {place}"),
            None => head,
        }
    }

    /// Links to the work, most stable first (a DOI outlives the URL it resolves to).
    pub fn links(&self) -> Vec<Link> {
        let mut links = Vec::new();
        let mut add = |label, value: &Option<String>, format: fn(&str) -> String| {
            if let Some(value) = value {
                links.push(Link {
                    label,
                    url: format(value),
                });
            }
        };
        add("doi", &self.doi, |v| format!("https://doi.org/{v}"));
        add("PubMed", &self.pmid, |v| {
            format!("https://pubmed.ncbi.nlm.nih.gov/{v}/")
        });
        add("PMC", &self.pmc, |v| {
            format!("https://www.ncbi.nlm.nih.gov/pmc/articles/PMC{v}/")
        });
        add("hdl", &self.hdl, |v| format!("https://hdl.handle.net/{v}"));
        add("arXiv", &self.arxiv, |v| {
            format!("https://arxiv.org/abs/{v}")
        });
        add("URL", &self.url, str::to_string);
        links
    }

    /// An identity for "the same work cited under several numbers": the first of
    /// [`identity_keys`](Self::identity_keys), i.e. doi, then PMID, then ISBN, else title and year.
    pub fn work_key(&self) -> String {
        self.identity_keys()
            .into_iter()
            .next()
            .unwrap_or_else(|| format!("ref:{}", self.number))
    }

    /// Every key that identifies the work; two citations sharing any key are the same work.
    ///
    /// Several keys are kept because one article may cite a paper once with its DOI and once
    /// with only its PMID. An ISBN names a whole book, so for a chapter (a title inside a
    /// container) the title is part of the key, lest two chapters of one book merge. Title and
    /// year are used only without identifiers: different papers do share titles.
    pub fn identity_keys(&self) -> Vec<String> {
        let mut keys = Vec::new();
        if let Some(doi) = &self.doi {
            keys.push(format!("doi:{}", doi.to_lowercase()));
        }
        if let Some(pmid) = &self.pmid {
            keys.push(format!("pmid:{pmid}"));
        }
        if let Some(pmc) = &self.pmc {
            keys.push(format!("pmc:{pmc}"));
        }
        if let Some(isbn) = &self.isbn {
            match (&self.container, &self.title) {
                (Some(_), Some(title)) => {
                    keys.push(format!("isbn:{}:{}", isbn13(isbn), normalize(title)))
                }
                _ => keys.push(format!("isbn:{}", isbn13(isbn))),
            }
        }
        if keys.is_empty() {
            let title = self.title.as_deref().map(normalize).unwrap_or_default();
            let raw = normalize(&self.raw);
            if !title.is_empty() {
                let year = self.year.map(|y| y.to_string()).unwrap_or_default();
                keys.push(format!("title:{title}:{year}"));
            } else if !raw.is_empty() {
                keys.push(format!("text:{raw}"));
            } else {
                keys.push(format!("ref:{}", self.number));
            }
        }
        keys
    }

    /// The full citation for display: the entry as Wikipedia printed it, whose wording no
    /// re-assembly from parsed fields could improve on, with runs of spaces collapsed. A run
    /// holding a no-break space (`PMID\u{a0} 123`) becomes one no-break space, so label and
    /// value still stay on one line.
    pub fn full(&self) -> String {
        let mut out = String::with_capacity(self.raw.len());
        let mut run: Option<bool> = None; // inside whitespace: whether it held a no-break space
        for ch in self.raw.trim().chars() {
            if ch.is_whitespace() {
                let nbsp = ch == '\u{a0}' || ch == '\u{202f}';
                run = Some(run.unwrap_or(false) || nbsp);
                continue;
            }
            if let Some(nbsp) = run.take() {
                out.push(if nbsp { '\u{a0}' } else { ' ' });
            }
            out.push(ch);
        }
        out
    }
}

/// The surname to show: before the comma of `Last, First`, before the initials of Vancouver
/// `Last AB`, without a generational suffix; an organisation's name whole.
fn surname(author: &str) -> String {
    let name = match author.split_once(',') {
        Some((last, _)) => last.trim(),
        None if VANCOUVER_NAME.is_match(author) => author
            .rsplit_once(char::is_whitespace)
            .map_or(author, |(last, _)| last)
            .trim(),
        None => author.trim(),
    };
    let name = [" Jr.", " Jr", " Sr.", " Sr", " III", " II"]
        .iter()
        .find_map(|suffix| name.strip_suffix(suffix))
        .unwrap_or(name);
    name.to_string()
}

/// Groups the reference numbers that cite the same work (see [`Citation::identity_keys`]);
/// only groups of two or more, each sorted, ordered by their first number.
pub fn group_same_works(citations: &[Citation]) -> Vec<Vec<RefNumber>> {
    fn root(parent: &mut [usize], mut i: usize) -> usize {
        while parent[i] != i {
            parent[i] = parent[parent[i]];
            i = parent[i];
        }
        i
    }
    let mut parent: Vec<usize> = (0..citations.len()).collect();
    let mut first_with_key: HashMap<String, usize> = HashMap::new();
    for (i, citation) in citations.iter().enumerate() {
        for key in citation.identity_keys() {
            let first = *first_with_key.entry(key).or_insert(i);
            let (a, b) = (root(&mut parent, first), root(&mut parent, i));
            parent[a.max(b)] = a.min(b);
        }
    }
    let mut groups: HashMap<usize, Vec<RefNumber>> = HashMap::new();
    for (i, citation) in citations.iter().enumerate() {
        let r = root(&mut parent, i);
        groups.entry(r).or_default().push(citation.number);
    }
    let mut groups: Vec<Vec<RefNumber>> = groups
        .into_values()
        .map(|mut numbers| {
            numbers.sort();
            numbers.dedup();
            numbers
        })
        .filter(|numbers| numbers.len() >= 2)
        .collect();
    groups.sort();
    groups
}

#[cfg(test)]
mod tests {
    use super::*;

    const ARTICLE: &str = include_str!("../../../corpus/calcinosis-cutis.txt");

    /// The lines strictly between the "References" and "Further reading" headings.
    fn reference_block() -> Vec<&'static str> {
        let lines: Vec<&str> = ARTICLE.split('\n').collect();
        let start = lines
            .iter()
            .position(|l| *l == "References")
            .expect("References heading");
        let end = lines
            .iter()
            .position(|l| *l == "Further reading")
            .expect("Further reading");
        lines[start + 1..end].to_vec()
    }

    fn article_citations() -> Vec<Citation> {
        reference_block()
            .into_iter()
            .filter_map(split_reference_line)
            .map(|(number, entry)| parse_entry(number, entry))
            .collect()
    }

    fn article_ref(n: u32) -> Citation {
        article_citations()
            .into_iter()
            .find(|c| c.number == RefNumber(n))
            .expect("reference")
    }

    fn s(value: &str) -> Option<String> {
        Some(value.to_string())
    }

    fn optional_fields(c: &Citation) -> Vec<(&'static str, &Option<String>)> {
        vec![
            ("date", &c.date),
            ("title", &c.title),
            ("container", &c.container),
            ("volume", &c.volume),
            ("issue", &c.issue),
            ("pages", &c.pages),
            ("publisher", &c.publisher),
            ("doi", &c.doi),
            ("pmid", &c.pmid),
            ("pmc", &c.pmc),
            ("isbn", &c.isbn),
            ("issn", &c.issn),
            ("hdl", &c.hdl),
            ("url", &c.url),
            ("retrieved", &c.retrieved),
            ("edition", &c.edition),
            ("arxiv", &c.arxiv),
            ("s2cid", &c.s2cid),
            ("oclc", &c.oclc),
        ]
    }

    #[test]
    fn article_file_layout() {
        assert!(
            !ARTICLE.ends_with('\n'),
            "the copied article has no final newline"
        );
        let block = reference_block();
        let entries: Vec<usize> = block
            .iter()
            .enumerate()
            .filter(|(_, line)| split_reference_line(line).is_some())
            .map(|(i, _)| i)
            .collect();
        assert_eq!(entries.len(), 21);
        // One entry per line, on consecutive lines: single newlines, no blank lines between.
        assert_eq!(entries.last().unwrap() - entries[0], 20);
        // Everything else in the block is blank.
        for (i, line) in block.iter().enumerate() {
            assert!(
                entries.contains(&i) || line.trim().is_empty(),
                "stray line {line:?}"
            );
        }
    }

    #[test]
    fn article_has_21_entries_in_order() {
        let numbers: Vec<u32> = article_citations().iter().map(|c| c.number.0).collect();
        assert_eq!(numbers, (1..=21).collect::<Vec<_>>());
    }

    #[test]
    fn article_raw_is_entry_text() {
        for line in reference_block() {
            if let Some((number, entry)) = split_reference_line(line) {
                let citation = parse_entry(number, entry);
                assert_eq!(citation.raw, entry);
                assert!(line.ends_with(entry));
                assert!(
                    !entry.starts_with("a b") && !entry.starts_with('^'),
                    "{entry}"
                );
            }
        }
    }

    #[test]
    fn article_ref_15_journal_article() {
        let c = article_ref(15);
        assert_eq!(c.authors, ["Grenader, Tal", "Shavit, Linda"]);
        assert!(!c.et_al);
        assert_eq!(c.date, s("Aug 18, 2011"));
        assert_eq!(c.year, Some(2011));
        assert_eq!(c.title, s("Scrotal Calcinosis"));
        assert_eq!(c.container, s("New England Journal of Medicine"));
        assert_eq!(c.volume, s("365"));
        assert_eq!(c.issue, s("7"));
        assert_eq!(c.pages, s("647"));
        assert_eq!(c.pmid, s("21848465"));
        assert_eq!(c.doi, s("10.1056/NEJMicm1013803"));
        assert_eq!(
            c.short(),
            "Grenader & Shavit 2011, New England Journal of Medicine"
        );
        assert_eq!(
            c.links(),
            vec![
                Link {
                    label: "doi",
                    url: "https://doi.org/10.1056/NEJMicm1013803".into()
                },
                Link {
                    label: "PubMed",
                    url: "https://pubmed.ncbi.nlm.nih.gov/21848465/".into()
                },
            ]
        );
    }

    #[test]
    fn article_ref_1() {
        let c = article_ref(1);
        assert_eq!(c.authors, ["Gutierrez Jr, Albert", "Wetter, David A."]);
        assert_eq!(c.short(), "Gutierrez & Wetter 2012, Dermatologic Therapy");
        assert_eq!(c.pages, s("195–206"));
        assert_eq!(c.volume, s("25"));
        assert_eq!(c.issue, s("2"));
        assert_eq!(c.doi, s("10.1111/j.1529-8019.2012.01492.x"));
        assert_eq!(c.pmid, s("22741938"));
        assert_eq!(
            c.title,
            s("Calcinosis cutis in autoimmune connective tissue diseases: Calcinosis cutis and connective tissue disease")
        );
    }

    #[test]
    fn article_ref_2_many_authors() {
        let c = article_ref(2);
        assert_eq!(c.authors.len(), 5);
        assert_eq!(
            c.short(),
            "Reiter et al. 2011, Journal of the American Academy of Dermatology"
        );
        assert_eq!(c.pages, s("1–12"));
    }

    #[test]
    fn article_ref_10_publisher_between_issue_and_pages() {
        let c = article_ref(10);
        assert_eq!(c.authors.len(), 5);
        assert_eq!(c.date, s("2015-04-08"));
        assert_eq!(c.container, s("Journal of Surgical Case Reports"));
        assert_eq!(c.volume, s("2015"));
        assert_eq!(c.issue, s("4"));
        assert_eq!(c.publisher, s("Oxford University Press (OUP)"));
        assert_eq!(c.pages, s("rjv036"));
        assert_eq!(c.doi, s("10.1093/jscr/rjv036"));
        assert_eq!(c.hdl, s("11586/171759"));
        assert_eq!(c.issn, s("2042-8812"));
        assert_eq!(c.pmc, s("4390718"));
        assert_eq!(c.pmid, s("25858267"));
        let labels: Vec<&str> = c.links().iter().map(|l| l.label).collect();
        assert_eq!(labels, ["doi", "PubMed", "PMC", "hdl"]);
        assert!(c
            .links()
            .iter()
            .any(|l| l.url == "https://www.ncbi.nlm.nih.gov/pmc/articles/PMC4390718/"));
        assert!(c
            .links()
            .iter()
            .any(|l| l.url == "https://hdl.handle.net/11586/171759"));
    }

    #[test]
    fn article_publishers_before_pages() {
        let c = article_ref(8);
        assert_eq!((c.volume, c.issue), (s("34"), s("6")));
        assert_eq!((c.publisher, c.pages), (s("Elsevier BV"), s("805–812")));
        let c = article_ref(20);
        assert_eq!(c.container, s("JCR: Journal of Clinical Rheumatology"));
        assert_eq!(c.publisher, s("Ovid Technologies (Wolters Kluwer Health)"));
        assert_eq!(c.pages, s("74–78"));
        assert_eq!(c.authors[2], "Navarra, Sandra T.G.V.");
        let c = article_ref(11);
        assert_eq!(c.title, s("Cutaneous deposition diseases. Part II"));
        assert_eq!(c.doi, s("10.1016/s0190-9622(98)70001-5"));
    }

    #[test]
    fn article_ref_5_book() {
        let c = article_ref(5);
        assert_eq!(c.authors, ["James, William D.", "Berger, Timothy G."]);
        assert!(c.et_al);
        assert_eq!(c.year, Some(2006));
        assert_eq!(
            c.title,
            s("Andrews' Diseases of the Skin: clinical Dermatology")
        );
        assert_eq!(c.publisher, s("Saunders Elsevier"));
        assert_eq!(c.container, None);
        assert_eq!(c.isbn, s("978-0-7216-2921-6"));
        assert_eq!(c.work_key(), "isbn:9780721629216");
        assert_eq!(
            c.short(),
            "James et al. 2006, Andrews' Diseases of the Skin: clinical Dermatology"
        );
    }

    #[test]
    fn article_only_group_is_andrews() {
        let groups = group_same_works(&article_citations());
        let expected: Vec<RefNumber> = [5, 12, 14, 17, 18].map(RefNumber).to_vec();
        assert_eq!(groups, vec![expected]);
    }

    #[test]
    fn article_ref_9_no_authors() {
        let c = article_ref(9);
        assert!(c.authors.is_empty());
        assert_eq!(c.title, s("UpToDate"));
        assert_eq!(c.container, s("UpToDate"));
        assert_eq!(c.retrieved, s("2024-02-29"));
        assert_eq!(c.year, None);
        assert_eq!(c.short(), "UpToDate");
        let c = article_ref(4);
        assert_eq!(
            c.title,
            s("CREST syndrome: MedlinePlus Medical Encyclopedia Image")
        );
        assert_eq!(c.container, s("medlineplus.gov"));
        assert_eq!(c.retrieved, s("2023-02-12"));
        assert_eq!(
            c.short(),
            "CREST syndrome: MedlinePlus Medical Encyclopedia Image, medlineplus.gov"
        );
    }

    #[test]
    fn article_ref_3_statpearls() {
        let c = article_ref(3);
        assert_eq!(c.authors, ["Le, Cuong", "Bedocs, Paul M."]);
        assert_eq!(c.date, s("2023-07-10"));
        assert_eq!(c.container, s("StatPearls Publishing"));
        assert_eq!(c.retrieved, s("2024-02-28"));
        assert_eq!(c.pmid, s("28846311"));
        assert_eq!(c.short(), "Le & Bedocs 2023, StatPearls Publishing");
    }

    #[test]
    fn article_ref_19_nested_quotes_and_mangled_name() {
        let c = article_ref(19);
        assert_eq!(
            c.title,
            s(r#"Osteoma Cutis and Calcinosis Cutis: "Similar but Different""#)
        );
        assert!(c.authors.contains(&"Wenzel, rg".to_string()));
        assert_eq!(
            c.container,
            s("The Journal of Clinical and Aesthetic Dermatology")
        );
        assert_eq!(c.publisher, s("Matrix Medical Communications"));
        assert_eq!(c.pages, s("28–31"));
        assert_eq!(c.pmc, s("7716738"));
    }

    #[test]
    fn article_ref_16_vancouver_authors() {
        let c = article_ref(16);
        assert_eq!(
            c.authors,
            [
                "Khallouk A",
                "Yazami OE",
                "Mellas S",
                "Tazi MF",
                "El Fassi J",
                "Farih MH"
            ]
        );
        assert_eq!(c.short(), "Khallouk et al. 2011, Reviews in Urology");
        assert_eq!(c.pages, s("95–7"));
    }

    #[test]
    fn article_ref_13_keeps_accent_and_21_month_date() {
        let c = article_ref(13);
        assert_eq!(
            c.authors.last().map(String::as_str),
            Some("Kérob, Delphine")
        );
        let c = article_ref(21);
        assert_eq!((c.date, c.year), (s("December 1986"), Some(1986)));
        assert_eq!(c.pmid, s("3816102"));
        let c = article_ref(6);
        assert_eq!((c.date, c.year), (s("1988-11-01"), Some(1988)));
        assert_eq!(c.issn, s("0003-987X"));
        let c = article_ref(7);
        assert_eq!(c.doi, s("10.1016/0190-9622(95)91803-5"));
        assert_eq!(c.authors, ["Walsh, John S", "Fairley, Janet A"]);
    }

    #[test]
    fn article_fields_are_clean() {
        let initial = Regex::new(r"(?:\b\p{Lu}\.)$").unwrap();
        for c in article_citations() {
            if let Some(pmid) = &c.pmid {
                assert!(pmid.chars().all(|ch| ch.is_ascii_digit()), "{pmid}");
            }
            for (name, value) in optional_fields(&c) {
                if let Some(value) = value {
                    assert!(!value.ends_with('.'), "ref {} {name} = {value:?}", c.number);
                    assert_eq!(value.trim(), value, "ref {} {name}", c.number);
                    assert!(!value.is_empty(), "ref {} {name}", c.number);
                }
            }
            for author in &c.authors {
                assert!(
                    !author.ends_with('.') || initial.is_match(author),
                    "{author}"
                );
            }
            // Only the two web pages (4, 9) are undated; only they and the book lack a PMID.
            assert_eq!(
                c.year.is_none(),
                [4, 9].contains(&c.number.0),
                "ref {}",
                c.number
            );
            let book = [5, 12, 14, 17, 18].contains(&c.number.0);
            assert_eq!(
                c.pmid.is_none(),
                book || c.year.is_none(),
                "ref {}",
                c.number
            );
            assert!(!c.short().contains("None"));
            assert!(!c.full().contains("  "));
        }
    }

    #[test]
    fn full_collapses_spaces_keeping_no_break() {
        let c = article_ref(15);
        assert!(c.full().ends_with("PMID\u{a0}21848465."));
        assert!(c
            .full()
            .starts_with("Grenader, Tal; Shavit, Linda (Aug 18, 2011)."));
    }

    #[test]
    fn splits_reference_lines() {
        let line = "  15. ^ a b Grenader, Tal; Shavit, Linda (2011).";
        assert_eq!(
            split_reference_line(line),
            Some((RefNumber(15), "Grenader, Tal; Shavit, Linda (2011)."))
        );
        assert_eq!(
            split_reference_line("4. ^ \"X\". Y.  "),
            Some((RefNumber(4), "\"X\". Y."))
        );
        // A one-letter first word is not a back-link: back-links start at `a` and come two or more.
        assert_eq!(
            split_reference_line("1. ^ a history"),
            Some((RefNumber(1), "a history"))
        );
        assert_eq!(
            split_reference_line("1. ^ b c d"),
            Some((RefNumber(1), "b c d"))
        );
        assert_eq!(
            split_reference_line("1. ^ A b c"),
            Some((RefNumber(1), "A b c"))
        );
        // The documented ambiguity: an entry starting "a b" loses those words.
        assert_eq!(
            split_reference_line("1. ^ a b c"),
            Some((RefNumber(1), "c"))
        );
        let long: Vec<String> = (0..30).map(backlink_label).collect();
        assert_eq!(long[26], "aa");
        assert_eq!(long[29], "ad");
        let line = format!("7. ^ {} Text", long.join(" "));
        assert_eq!(split_reference_line(&line), Some((RefNumber(7), "Text")));
        for not_entry in [
            "References",
            "",
            "   ",
            "15. Grenader",
            "15 ^ a b Grenader",
            "a. ^ note",
            "15. ^",
            "15. ^ a b ",
            "99999999999. ^ x",
            "Calcinosis cutis is an uncommon condition. [1]",
        ] {
            assert_eq!(split_reference_line(not_entry), None, "{not_entry:?}");
        }
    }

    #[test]
    fn splits_note_lines() {
        assert_eq!(
            split_note_line("  a. ^ Also called X."),
            Some(("a".to_string(), "Also called X."))
        );
        assert_eq!(
            split_note_line("b. ^ a b Cited twice."),
            Some(("b".to_string(), "Cited twice."))
        );
        assert_eq!(split_note_line("1. ^ Not a note"), None);
        assert_eq!(split_note_line("Notes"), None);
    }

    #[test]
    fn web_page_with_site_and_dates() {
        let c = parse_entry(
            RefNumber(1),
            "\"Calcinosis\". Mayo Clinic. Mayo Foundation. 5 March 2020. Retrieved 12 March 2023.",
        );
        assert!(c.authors.is_empty());
        assert_eq!(c.title, s("Calcinosis"));
        assert_eq!(c.container, s("Mayo Clinic"));
        assert_eq!(c.publisher, s("Mayo Foundation"));
        assert_eq!((c.date.clone(), c.year), (s("5 March 2020"), Some(2020)));
        assert_eq!(c.retrieved, s("12 March 2023"));
        assert_eq!(c.short(), "Calcinosis 2020, Mayo Clinic");

        let c = parse_entry(
            RefNumber(2),
            "Doe, Jane (February 3, 2021). \"Skin\" (PDF). Example Site. https://example.org/skin.pdf. Retrieved February 28, 2024.",
        );
        assert_eq!(c.title, s("Skin"));
        assert_eq!(c.container, s("Example Site"));
        assert_eq!(c.url, s("https://example.org/skin.pdf"));
        assert_eq!(c.retrieved, s("February 28, 2024"));
        assert_eq!(c.short(), "Doe 2021, Example Site");
        assert_eq!(
            c.links(),
            vec![Link {
                label: "URL",
                url: "https://example.org/skin.pdf".into()
            }]
        );
    }

    #[test]
    fn other_identifiers() {
        let c = parse_entry(
            RefNumber(3),
            "Smith J, Jones K, et al. (2019). \"Deep skin\". Nature. 12: 100–105. arXiv: 1901.01234. S2CID 12345. OCLC 987.",
        );
        assert_eq!(c.authors, ["Smith J", "Jones K"]);
        assert!(c.et_al);
        assert_eq!(c.volume, s("12"));
        assert_eq!(c.issue, None);
        assert_eq!(c.pages, s("100–105"));
        assert_eq!(c.arxiv, s("1901.01234"));
        assert_eq!(c.s2cid, s("12345"));
        assert_eq!(c.oclc, s("987"));
        assert_eq!(c.links()[0].url, "https://arxiv.org/abs/1901.01234");
        assert_eq!(c.short(), "Smith et al. 2019, Nature");
    }

    #[test]
    fn book_with_edition_and_isbn10() {
        let c = parse_entry(
            RefNumber(4),
            "Rook, Arthur (1998). Textbook of Dermatology (6th ed.). Oxford University Press. pp. 12–15. ISBN 0-19-262003-1.",
        );
        assert_eq!(c.title, s("Textbook of Dermatology"));
        assert_eq!(c.edition, s("6th ed."));
        assert_eq!(c.publisher, s("Oxford University Press"));
        assert_eq!(c.pages, s("12–15"));
        assert_eq!(c.isbn, s("0-19-262003-1"));
        // The same book by its ISBN-13 is the same work.
        let same = parse_entry(
            RefNumber(5),
            "Rook, A. (1998). Textbook. OUP. ISBN 978-0-19-262003-3.",
        );
        assert_eq!(c.work_key(), same.work_key());
        assert_eq!(
            group_same_works(&[c, same]),
            vec![vec![RefNumber(4), RefNumber(5)]]
        );
        // W. B. Saunders keeps its initials.
        let c = parse_entry(
            RefNumber(6),
            "Lever, W (1990). Histopathology. W. B. Saunders. ISBN 0-7216-5748-7.",
        );
        assert_eq!(c.publisher, s("W. B. Saunders"));
    }

    #[test]
    fn chapters_of_one_book_are_different_works() {
        let a = parse_entry(RefNumber(1), "Lee, A (2000). \"Chapter one\". In Roe, B (ed.). Big Book. Pub. ISBN 978-0-7216-2921-6.");
        let b = parse_entry(RefNumber(2), "Lee, A (2000). \"Chapter two\". In Roe, B (ed.). Big Book. Pub. ISBN 978-0-7216-2921-6.");
        assert_eq!(a.container, s("Big Book"));
        assert_eq!(a.publisher, s("Pub"));
        assert_ne!(a.work_key(), b.work_key());
        assert!(group_same_works(&[a, b]).is_empty());
    }

    #[test]
    fn shared_identifier_groups_across_keys() {
        let a = parse_entry(
            RefNumber(1),
            "A, B (2001). \"T\". J. 1 (2): 3. doi: 10.1/x. PMID 42.",
        );
        let b = parse_entry(RefNumber(7), "A B (2001). \"T\". J. PMID 42.");
        let c = parse_entry(RefNumber(3), "\"Other\". Site.");
        assert_eq!(a.work_key(), "doi:10.1/x");
        assert_eq!(b.work_key(), "pmid:42");
        assert_eq!(
            group_same_works(&[b, c, a]),
            vec![vec![RefNumber(1), RefNumber(7)]]
        );
    }

    #[test]
    fn free_text_keeps_raw_and_year() {
        let text = "Personal communication with the author, 1999, see talk page.";
        let c = parse_entry(RefNumber(8), text);
        assert_eq!(c.raw, text);
        assert_eq!(c.year, Some(1999));
        assert_eq!(
            (c.title.clone(), c.container.clone(), c.date.clone()),
            (None, None, None)
        );
        assert!(c.authors.is_empty());
        assert_eq!(
            c.short(),
            "Personal communication with the author, 1999, see talk page."
        );
        assert!(c.links().is_empty());
        let c = parse_entry(RefNumber(9), "");
        assert_eq!(c.short(), "[9]");
        assert_eq!(c.work_key(), "ref:9");
    }

    #[test]
    fn short_handles_one_author_and_no_year() {
        let c = parse_entry(
            RefNumber(1),
            "World Health Organization (n.d.). \"Skin\". WHO.",
        );
        assert_eq!(c.authors, ["World Health Organization"]);
        assert_eq!((c.date.clone(), c.year), (s("n.d."), None));
        assert_eq!(c.short(), "World Health Organization, WHO");
    }

    /// A small xorshift generator: enough variety for a fuzz loop without a dependency.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
    }

    fn exercise(entry: &str) {
        let c = parse_entry(RefNumber(1), entry);
        assert_eq!(c.raw, entry);
        let _ = (c.short(), c.links(), c.work_key(), c.full());
        let line = format!("  3. ^ a b {entry}");
        let _ = split_reference_line(&line).map(|(n, e)| parse_entry(n, e));
        let _ = split_note_line(entry);
        let _ = split_reference_line(entry);
    }

    #[test]
    fn never_panics_on_odd_input() {
        const PIECES: [&str; 40] = [
            "\"",
            "“",
            "”",
            "(",
            ")",
            "[",
            "]",
            ".",
            ". ",
            " ",
            "\u{a0}",
            ":",
            ": ",
            ";",
            ",",
            "é",
            "–",
            "ö",
            "𝔘",
            "^",
            "a",
            "b",
            "X",
            "7",
            "2011",
            "10.",
            "doi:",
            "doi: 10.1/",
            "PMID ",
            "PMC\u{a0}",
            "ISBN ",
            "ISBN 0-19-",
            "hdl:",
            "arXiv:",
            "Retrieved ",
            "(ed.)",
            "et al.",
            "https://",
            "pp. ",
            "In ",
        ];
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        for _ in 0..20_000 {
            let len = rng.below(24);
            let entry: String = (0..len).map(|_| PIECES[rng.below(PIECES.len())]).collect();
            exercise(&entry);
        }
        // Every prefix and suffix of the real entries, and random splices of them.
        let entries: Vec<&str> = reference_block()
            .into_iter()
            .filter_map(split_reference_line)
            .map(|(_, e)| e)
            .collect();
        for entry in &entries {
            for (i, _) in entry.char_indices() {
                exercise(&entry[..i]);
                exercise(&entry[i..]);
            }
        }
        for _ in 0..5_000 {
            let (a, b) = (
                entries[rng.below(entries.len())],
                entries[rng.below(entries.len())],
            );
            let cut_a = a
                .char_indices()
                .nth(rng.below(a.chars().count()))
                .map_or(0, |(i, _)| i);
            let cut_b = b
                .char_indices()
                .nth(rng.below(b.chars().count()))
                .map_or(0, |(i, _)| i);
            exercise(&format!("{}{}", &a[..cut_a], &b[cut_b..]));
        }
    }
}
