//! Answers, citations and notices as Discord messages: embeds and buttons described in plain
//! data ([`Reply`]), built by pure functions from the core's [`Answer`] and [`Citation`].
//!
//! Nothing here talks to Discord, so every message the bot can send is unit-tested and
//! snapshot-tested, and the limits Discord enforces are checked in one place
//! ([`Reply::check_limits`]). `mod.rs` turns a [`Reply`] into serenity builders.
//!
//! Invariants of every reply built here:
//! - article and user text is markdown-escaped and mass mentions are broken
//!   ([`super::safety::escape_markdown`]);
//! - a passage is shortened at sentence or word boundaries only, keeping the answering sentence;
//! - the answer's footer says it is the article's text and not medical advice;
//! - the bot's own words never diagnose or compute doses: they are the fixed texts below.

use std::collections::HashMap;

use serde::Serialize;

use super::safety::{escape_markdown, neutralise_mentions};
use citebot_core::answer::{Answer, Hit, Verdict};
use citebot_core::citation::{Citation, RefNumber};
use citebot_core::corpus::ArticleInfo;
use citebot_core::passage::{Passage, PassageKind};
use citebot_presentation::notices::{EMERGENCY_NOTICE, NOT_MEDICAL_ADVICE};

/// Discord's limits (https://discord.com/developers/docs/resources/message#embed-object-embed-limits).
pub mod limits {
    pub const CONTENT: usize = 2000;
    pub const EMBEDS: usize = 10;
    pub const TITLE: usize = 256;
    pub const DESCRIPTION: usize = 4096;
    pub const FIELDS: usize = 25;
    pub const FIELD_NAME: usize = 256;
    pub const FIELD_VALUE: usize = 1024;
    pub const FOOTER: usize = 2048;
    pub const AUTHOR: usize = 256;
    /// All titles, descriptions, field names and values, footers and authors of one message.
    pub const EMBEDS_TOTAL: usize = 6000;
    pub const ACTION_ROWS: usize = 5;
    pub const BUTTONS_PER_ROW: usize = 5;
    pub const CUSTOM_ID: usize = 100;
    pub const BUTTON_LABEL: usize = 80;
    pub const CHOICES: usize = 25;
    pub const CHOICE_NAME: usize = 100;
}

/// What the bot shows an answer from: the articles (with their sections) and their references.
/// Built from the engine at start-up and again whenever the index is reloaded.
#[derive(Debug, Clone, Default)]
pub struct Library {
    pub articles: Vec<ArticleInfo>,
    /// References by article slug, in list order.
    pub citations: HashMap<String, Vec<Citation>>,
}

impl Library {
    fn article(&self, slug: &str) -> Option<&ArticleInfo> {
        self.articles.iter().find(|article| article.slug == slug)
    }

    /// Reference `number` of article `slug`.
    pub fn citation(&self, slug: &str, number: RefNumber) -> Option<&Citation> {
        self.citations
            .get(slug)?
            .iter()
            .find(|citation| citation.number == number)
    }
}

/// A message to send: content, embeds and buttons. Serialises to readable JSON for snapshots.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Reply {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub embeds: Vec<Embed>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub rows: Vec<Vec<Button>>,
    /// Visible to the asker only (interactions only; ignored for channel messages).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub ephemeral: bool,
}

/// An embed, with Discord's field names.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Embed {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<Field>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub footer: Option<String>,
    pub color: u32,
}

/// An embed field.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Field {
    pub name: String,
    pub value: String,
    pub inline: bool,
}

/// A button.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Button {
    pub custom_id: String,
    pub label: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub emoji: Option<String>,
    pub style: ButtonStyle,
}

/// The button styles the bot uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ButtonStyle {
    Primary,
    Secondary,
}

/// Colours: answers blue, references teal, "no answer" grey, notices amber.
const ANSWER_COLOR: u32 = 0x3b82f6;
const REFERENCE_COLOR: u32 = 0x14b8a6;
const NO_ANSWER_COLOR: u32 = 0x9ca3af;
const NOTICE_COLOR: u32 = 0xf59e0b;

/// What a button does; its `custom_id` carries everything needed, so a press can be handled
/// by any running instance without shared state beyond the question log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ButtonAction {
    /// Show the passages from `offset` on.
    More { ask: u64, offset: usize },
    /// Show the full references of the passages `offset..offset + count`.
    References {
        ask: u64,
        offset: usize,
        count: usize,
    },
    /// 👍 (`up`) or 👎 on the answer.
    Vote { ask: u64, up: bool },
}

impl ButtonAction {
    /// The `custom_id` for this action (at most 100 characters).
    pub fn custom_id(self) -> String {
        match self {
            ButtonAction::More { ask, offset } => format!("cb:more:{ask}:{offset}"),
            ButtonAction::References { ask, offset, count } => {
                format!("cb:refs:{ask}:{offset}:{count}")
            }
            ButtonAction::Vote { ask, up: true } => format!("cb:vote:{ask}:up"),
            ButtonAction::Vote { ask, up: false } => format!("cb:vote:{ask}:down"),
        }
    }

    /// Parses a `custom_id`; `None` for anything this bot did not make.
    pub fn parse(custom_id: &str) -> Option<ButtonAction> {
        let parts: Vec<&str> = custom_id.split(':').collect();
        match parts.as_slice() {
            ["cb", "more", ask, offset] => Some(ButtonAction::More {
                ask: ask.parse().ok()?,
                offset: offset.parse().ok()?,
            }),
            ["cb", "refs", ask, offset, count] => Some(ButtonAction::References {
                ask: ask.parse().ok()?,
                offset: offset.parse().ok()?,
                count: count.parse().ok()?,
            }),
            ["cb", "vote", ask, vote @ ("up" | "down")] => Some(ButtonAction::Vote {
                ask: ask.parse().ok()?,
                up: *vote == "up",
            }),
            _ => None,
        }
    }
}

/// Which part of an answer to show, and how.
#[derive(Debug, Clone, Copy)]
pub struct AnswerPage {
    /// Key of the question in the bot's question log, carried by the buttons.
    pub ask: u64,
    /// Index of the first hit to show.
    pub offset: usize,
    /// How many hits to show (1–5).
    pub count: usize,
    /// The person chose `count` (`/ask top:`), rather than it being the configured default.
    pub count_asked: bool,
    /// Whether hits exist past the shown ones ("More passages" button).
    pub has_more: bool,
    /// Put [`EMERGENCY_NOTICE`] first.
    pub emergency: bool,
}

/// Total characters of embeds the bot aims for, below Discord's 6000 for safety.
const EMBED_BUDGET: usize = 5800;
/// Longest passage text shown in one embed: a long passage is cut around its answer.
const PASSAGE_MAX: usize = 1800;

/// The reply to a question: one embed per shown passage, or the "no answer" embed.
pub fn render_answer(answer: &Answer, page: AnswerPage, library: &Library) -> Reply {
    let closest = (answer.answered() && answer.closest_only)
        .then_some(citebot_core::answer::CLOSEST_ONLY_NOTICE);
    let content = match (page.emergency.then_some(EMERGENCY_NOTICE), closest) {
        (Some(emergency), Some(closest)) => Some(format!("{emergency}\n{closest}")),
        (emergency, closest) => emergency.or(closest).map(str::to_string),
    };
    // Unasked, the first page shows only the passages worth showing next to the best one
    // (weak matches would read as answers); a person who asked for `top` passages gets them,
    // and "More passages" pages through the rest on request.
    let first_page_limit = if page.offset == 0 && !page.count_asked {
        answer.hits_worth_showing().len().max(1)
    } else {
        usize::MAX
    };
    let shown: Vec<&Hit> = answer
        .hits
        .iter()
        .skip(page.offset)
        .take(page.count.max(1).min(first_page_limit))
        .collect();
    if !answer.answered() || shown.is_empty() {
        return Reply {
            content,
            embeds: vec![no_answer_embed(answer, library)],
            rows: vec![vote_buttons(page.ask)],
            ephemeral: false,
        };
    }

    let footer = answer_footer(&shown, library);
    let author = question_author(&answer.question);
    let fixed = footer.chars().count() + author.chars().count();
    let share = EMBED_BUDGET.saturating_sub(fixed) / shown.len();
    let mut embeds: Vec<Embed> = shown
        .iter()
        .map(|hit| passage_embed(hit, library, share))
        .collect();
    if let Some(first) = embeds.first_mut() {
        first.author = Some(author);
    }
    if let Some(last) = embeds.last_mut() {
        last.footer = Some(footer);
    }

    let mut buttons = Vec::new();
    // Hits held back from a short first page are "more" too.
    if page.has_more || answer.hits.len() > page.offset + shown.len() {
        buttons.push(Button {
            custom_id: ButtonAction::More {
                ask: page.ask,
                offset: page.offset + shown.len(),
            }
            .custom_id(),
            label: "More passages".to_string(),
            emoji: None,
            style: ButtonStyle::Primary,
        });
    }
    buttons.push(Button {
        custom_id: ButtonAction::References {
            ask: page.ask,
            offset: page.offset,
            count: shown.len(),
        }
        .custom_id(),
        label: "Show references".to_string(),
        emoji: None,
        style: ButtonStyle::Secondary,
    });
    buttons.extend(vote_buttons(page.ask));
    Reply {
        content,
        embeds,
        rows: vec![buttons],
        ephemeral: false,
    }
}

fn vote_buttons(ask: u64) -> Vec<Button> {
    [(true, "👍", "Helpful"), (false, "👎", "Not helpful")]
        .into_iter()
        .map(|(up, emoji, label)| Button {
            custom_id: ButtonAction::Vote { ask, up }.custom_id(),
            label: label.to_string(),
            emoji: Some(emoji.to_string()),
            style: ButtonStyle::Secondary,
        })
        .collect()
}

/// "Q: how is it treated?" above the first embed, so an answer reads on its own in a busy
/// channel. Author names show no markdown, so the question is not escaped, only neutralised.
fn question_author(question: &str) -> String {
    let flat = question.split_whitespace().collect::<Vec<_>>().join(" ");
    truncate_at_word(
        &format!("Q: {}", neutralise_mentions(&flat)),
        limits::AUTHOR,
    )
}

/// The question as the bot printed it in an embed author line, if it was not shortened.
pub fn question_from_author(author: &str) -> Option<String> {
    let question = author.strip_prefix("Q: ")?;
    if question.ends_with('…') {
        return None;
    }
    Some(question.replace('\u{200B}', ""))
}

fn passage_embed(hit: &Hit, library: &Library, share: usize) -> Embed {
    let passage = &hit.passage;
    let title = truncate_at_word(
        &escape_markdown(&passage.section_path.display()),
        limits::TITLE.min(share / 8).max(16),
    );
    let sources_budget = limits::FIELD_VALUE.min(share * 3 / 10);
    let refs = shown_refs(hit);
    let sources = sources_field(&passage.article, &refs, library, sources_budget);
    let used = title.chars().count() + sources.name.chars().count() + sources.value.chars().count();
    let description_budget = share
        .saturating_sub(used)
        .min(PASSAGE_MAX)
        .min(limits::DESCRIPTION);
    let description = match passage.kind {
        PassageKind::Reference(_) => {
            truncate_at_word(&escape_markdown(passage.text.trim()), description_budget)
        }
        PassageKind::Body | PassageKind::Note => {
            passage_markdown(passage, &hit.best_sentences, description_budget)
        }
    };
    Embed {
        author: None,
        title: Some(title),
        url: section_url(passage, library),
        description: Some(description),
        fields: vec![sources],
        footer: None,
        color: ANSWER_COLOR,
    }
}

/// The references to list under a passage: those of its answering sentence first, then the
/// passage's others.
fn shown_refs(hit: &Hit) -> Vec<RefNumber> {
    let mut refs = hit.best_refs();
    for number in hit.passage.refs() {
        if !refs.contains(&number) {
            refs.push(number);
        }
    }
    refs
}

/// Link to the article, at the passage's section: Wikipedia anchors are headings with spaces
/// as underscores.
fn section_url(passage: &Passage, library: &Library) -> Option<String> {
    let article = library.article(&passage.article)?;
    let mut url = url::Url::parse(article.link_url()).ok()?;
    if let Some(heading) = passage.section_path.0.last() {
        url.set_fragment(Some(&heading.replace(' ', "_")));
    }
    Some(url.to_string())
}

/// The "Sources" field: one line per reference, "**[3]** Short citation · [doi](…) · [PubMed](…)".
fn sources_field(slug: &str, refs: &[RefNumber], library: &Library, budget: usize) -> Field {
    if refs.is_empty() {
        return Field {
            name: "Sources".to_string(),
            value: "This passage cites no reference.".to_string(),
            inline: false,
        };
    }
    let numbers = refs
        .iter()
        .map(|n| format!("[{n}]"))
        .collect::<Vec<_>>()
        .join(" ");
    let name = format!("Sources {numbers}");
    let lines: Vec<String> = refs
        .iter()
        .map(|&number| match library.citation(slug, number) {
            Some(citation) => {
                let links = link_list(citation, LinkStyle::Short);
                let short = escape_markdown(&citation.short());
                if links.is_empty() {
                    format!("**\\[{number}\\]** {short}")
                } else {
                    format!("**\\[{number}\\]** {short} · {links}")
                }
            }
            None => format!("**\\[{number}\\]** (not in the References list)"),
        })
        .collect();
    Field {
        name: truncate_at_word(&name, limits::FIELD_NAME),
        value: join_lines_within(&lines, budget, |left| {
            format!("…and {left} more: press “Show references”")
        }),
        inline: false,
    }
}

/// Joins lines while they fit in `budget` characters; the rest is summarised by `more(n)`.
/// A single line longer than the budget is shortened at a word.
fn join_lines_within(lines: &[String], budget: usize, more: impl Fn(usize) -> String) -> String {
    let mut out = String::new();
    let mut used = 0;
    for (index, line) in lines.iter().enumerate() {
        let left_after = lines.len() - index - 1;
        let reserve = if left_after > 0 {
            more(left_after).chars().count() + 1
        } else {
            0
        };
        let cost = line.chars().count() + usize::from(!out.is_empty());
        if used + cost + reserve <= budget {
            if !out.is_empty() {
                out.push('\n');
            }
            out.push_str(line);
            used += cost;
            continue;
        }
        if out.is_empty() {
            // Not even the first line fits: shorten it rather than show nothing.
            let tail = more(lines.len() - 1);
            let room = budget.saturating_sub(tail.chars().count() + 1);
            out = truncate_at_word(&strip_links(line), room);
            if lines.len() > 1 {
                out.push('\n');
                out.push_str(&tail);
            }
            return out;
        }
        out.push('\n');
        out.push_str(&more(lines.len() - index));
        return out;
    }
    out
}

/// A line without its masked links, for when it has to be shortened: cutting inside a link
/// would leave broken markdown.
fn strip_links(line: &str) -> String {
    line.split(" · [").next().unwrap_or(line).to_string()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LinkStyle {
    /// "doi · PubMed · PMC"
    Short,
    /// "doi:10.1056/… · PMID 21848465 · PMC1234"
    WithIdentifiers,
}

/// The citation's links as masked links, joined with " · ".
fn link_list(citation: &Citation, style: LinkStyle) -> String {
    citation
        .links()
        .into_iter()
        .map(|link| {
            let text = match (style, link.label) {
                (LinkStyle::WithIdentifiers, "doi") => {
                    format!("doi:{}", citation.doi.as_deref().unwrap_or_default())
                }
                (LinkStyle::WithIdentifiers, "PubMed") => {
                    format!("PMID {}", citation.pmid.as_deref().unwrap_or_default())
                }
                (LinkStyle::WithIdentifiers, "PMC") => {
                    format!("PMC{}", citation.pmc.as_deref().unwrap_or_default())
                }
                (_, "URL") => "link".to_string(),
                (_, label) => label.to_string(),
            };
            masked_link(&text, &link.url)
        })
        .collect::<Vec<_>>()
        .join(" · ")
}

/// `[text](url)` that cannot break: brackets dropped from the text, parentheses and blanks
/// percent-encoded in the URL.
fn masked_link(text: &str, url: &str) -> String {
    let text: String = text.chars().filter(|c| !matches!(c, '[' | ']')).collect();
    let mut safe_url = String::with_capacity(url.len());
    for ch in url.trim().chars() {
        match ch {
            '(' => safe_url.push_str("%28"),
            ')' => safe_url.push_str("%29"),
            ' ' => safe_url.push_str("%20"),
            '<' => safe_url.push_str("%3C"),
            '>' => safe_url.push_str("%3E"),
            _ => safe_url.push(ch),
        }
    }
    format!("[{}]({safe_url})", escape_markdown(&text))
}

/// "Calcinosis cutis · Wikipedia, CC BY-SA 4.0 · This is the article's text, not medical advice."
fn answer_footer(shown: &[&Hit], library: &Library) -> String {
    let mut sources: Vec<String> = Vec::new();
    for hit in shown {
        let passage = &hit.passage;
        let article = library.article(&passage.article);
        let licence = article
            .map(|article| article.licence.as_str())
            .unwrap_or("CC BY-SA 4.0");
        // A fetched article names the revision quoted, as CC BY-SA attribution asks (the
        // title links to that revision).
        let revision = article
            .and_then(|article| article.revision.as_ref())
            .map(|revision| {
                format!(
                    " revision {} of {},",
                    revision.revision,
                    citebot_core::corpus::revision_date(&revision.timestamp)
                )
            })
            .unwrap_or_default();
        let source = format!("{} · Wikipedia,{revision} {licence}", passage.article_title);
        if !sources.contains(&source) {
            sources.push(source);
        }
    }
    truncate_at_word(
        &format!("{} · {NOT_MEDICAL_ADVICE}", sources.join(" · ")),
        limits::FOOTER,
    )
}

/// The passage as markdown: escaped, the answering sentence(s) in bold; when too long, the
/// sentences around the first answering one, with "…" where text was left out.
pub fn passage_markdown(passage: &Passage, best: &[usize], budget: usize) -> String {
    let sentences = &passage.sentences;
    if sentences.is_empty() {
        return truncate_at_word(&escape_markdown(passage.text.trim()), budget);
    }
    // Each piece is a sentence plus the blanks after it, so the pieces join back into the
    // passage exactly; text before the first sentence goes with the first.
    let text = passage.text.as_str();
    let rendered: Vec<String> = sentences
        .iter()
        .enumerate()
        .map(|(index, sentence)| {
            let piece_start = if index == 0 { 0 } else { sentence.start };
            let piece_end = sentences
                .get(index + 1)
                .map_or(text.len(), |next| next.start);
            let slice = |from: usize, to: usize| text.get(from..to.max(from)).unwrap_or_default();
            let before = escape_markdown(slice(piece_start, sentence.start));
            let own = slice(sentence.start, sentence.end);
            let after = escape_markdown(slice(sentence.end, piece_end));
            let own = if best.contains(&index) {
                bold(own)
            } else {
                escape_markdown(own)
            };
            format!("{before}{own}{after}")
        })
        .collect();
    let all = rendered.concat();
    if all.trim().chars().count() <= budget {
        return all.trim().to_string();
    }

    let anchor = best
        .first()
        .copied()
        .filter(|&index| index < sentences.len())
        .unwrap_or(0);
    let length = |index: usize| rendered[index].chars().count();
    const ELLIPSIS: usize = 2; // "… " or " …"
    let mut low = anchor;
    let mut high = anchor;
    let mut used = length(anchor) + 2 * ELLIPSIS;
    if used > budget {
        // The answering sentence alone is too long: cut it at a word, bold kept balanced.
        let text = passage.sentence_text(anchor).trim();
        let prefix = if anchor > 0 { "… " } else { "" };
        let room = budget.saturating_sub(prefix.chars().count() + 4);
        let cut = truncate_at_word(&escape_markdown(text), room);
        return if best.contains(&anchor) {
            format!("{prefix}**{cut}**")
        } else {
            format!("{prefix}{cut}")
        };
    }
    // Grow the window a sentence at a time, after the answer first (it usually continues the
    // thought), then before it.
    loop {
        let mut grew = false;
        if high + 1 < sentences.len() && used + length(high + 1) <= budget {
            high += 1;
            used += length(high);
            grew = true;
        }
        if low > 0 && used + length(low - 1) <= budget {
            low -= 1;
            used += length(low);
            grew = true;
        }
        if !grew {
            break;
        }
    }
    let mut out = String::new();
    if low > 0 {
        out.push_str("… ");
    }
    out.push_str(rendered[low..=high].concat().trim());
    if high + 1 < sentences.len() {
        out.push_str(" …");
    }
    out
}

/// `**sentence** [3]`: the sentence in bold, its reference markers and surrounding blanks kept
/// outside the markers (Discord does not bold `** text **`, and bold markers read as noise).
fn bold(sentence: &str) -> String {
    let markers_at = TRAILING_MARKERS
        .find(sentence)
        .map_or(sentence.len(), |found| found.start());
    let (body, markers) = sentence.split_at(markers_at);
    let core = body.trim();
    if core.is_empty() {
        return escape_markdown(sentence);
    }
    let start = body.len() - body.trim_start().len();
    let end = start + core.len();
    format!(
        "{}**{}**{}{}",
        escape_markdown(&body[..start]),
        escape_markdown(core),
        escape_markdown(&body[end..]),
        escape_markdown(markers)
    )
}

/// The run of reference markers ending a sentence: ` [3][4]`, ` [5]: 527–530`, ` [a]`.
static TRAILING_MARKERS: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
    regex::Regex::new(r"(?:\s*\[[^\[\]\n]{1,40}\](?::\s*[0-9\u{2013}\u{2014}\-, ]+)?)+\s*$")
        .unwrap_or_else(|error| panic!("bad built-in regex: {error}"))
});

/// Shortens `text` to at most `max` characters at a blank, ending with "…". Never cuts a word
/// unless the text has no blank before `max` at all (one very long token).
pub fn truncate_at_word(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    if max == 0 {
        return String::new();
    }
    let keep = max - 1; // room for "…"
    let byte_end = text
        .char_indices()
        .nth(keep)
        .map_or(text.len(), |(index, _)| index);
    let head = &text[..byte_end];
    // Cut at the last blank when the next character starts a new word anyway.
    let next_is_blank = text[byte_end..].starts_with(char::is_whitespace);
    let cut = if next_is_blank {
        head
    } else {
        head.rfind(char::is_whitespace)
            .map_or(head, |at| &head[..at])
    };
    let cut = cut.trim_end();
    // An escape at the very end would escape the ellipsis instead.
    let cut = cut.strip_suffix('\\').unwrap_or(cut);
    format!("{cut}…")
}

/// "No answer in the article": said plainly, with why and what the article does cover.
fn no_answer_embed(answer: &Answer, library: &Library) -> Embed {
    let reason = match &answer.verdict {
        Verdict::Abstained(reason) => reason.explain(),
        Verdict::Answered => "no passage could be shown",
    };
    let titles = article_links(library);
    let mut description = format!(
        "{titles} does not answer this question: {reason}.\n\ncitebot only quotes the article, so it will not guess.",
    );
    let covered = covered_sections(library);
    if !covered.is_empty() {
        description.push_str(&format!("\n\n**The article covers:** {covered}."));
    }
    description.push_str(
        "\n\nTry the words the article might use (a type, a cause, a treatment), or see `/about`.",
    );
    Embed {
        author: Some(question_author(&answer.question)),
        title: Some("No answer in the article".to_string()),
        url: None,
        description: Some(truncate_at_word(&description, limits::DESCRIPTION)),
        fields: Vec::new(),
        footer: Some(truncate_at_word(
            &format!("{} · {NOT_MEDICAL_ADVICE}", source_line(library)),
            limits::FOOTER,
        )),
        color: NO_ANSWER_COLOR,
    }
}

/// "The article [Calcinosis cutis](…)" or "The articles [A](…) and [B](…)".
fn article_links(library: &Library) -> String {
    let links: Vec<String> = library
        .articles
        .iter()
        .map(|article| masked_link(&article.title, &article.source_url))
        .collect();
    match links.as_slice() {
        [] => "The article".to_string(),
        [one] => format!("The article {one}"),
        [init @ .., last] => format!("The articles {} and {last}", init.join(", ")),
    }
}

/// The top-level headings of the articles, in reading order: "Signs and symptoms · Causes · …".
fn covered_sections(library: &Library) -> String {
    let mut sections: Vec<String> = Vec::new();
    for article in &library.articles {
        for path in &article.sections {
            let Some(top) = path.0.first() else {
                continue; // the lead
            };
            if !sections.contains(top) {
                sections.push(top.clone());
            }
        }
    }
    escape_markdown(&sections.join(" · "))
}

/// "Calcinosis cutis · Wikipedia, CC BY-SA 4.0" for every article.
fn source_line(library: &Library) -> String {
    let sources: Vec<String> = library
        .articles
        .iter()
        .map(|article| format!("{} · Wikipedia, {}", article.title, article.licence))
        .collect();
    if sources.is_empty() {
        "Wikipedia, CC BY-SA 4.0".to_string()
    } else {
        sources.join(" · ")
    }
}

/// The full references of the shown passages ("Show references"), ephemeral.
pub fn render_references(hits: &[Hit], library: &Library) -> Reply {
    let mut entries: Vec<String> = Vec::new();
    let mut seen: Vec<(String, RefNumber)> = Vec::new();
    for hit in hits {
        for number in shown_refs(hit) {
            let key = (hit.passage.article.clone(), number);
            if seen.contains(&key) {
                continue;
            }
            seen.push(key);
            entries.push(reference_entry(&hit.passage.article, number, library));
        }
    }
    if entries.is_empty() {
        return notice("These passages cite no reference.");
    }
    // Several embeds when one description cannot hold them all, within the message total.
    let mut embeds: Vec<Embed> = Vec::new();
    let mut total = 0;
    let mut current = String::new();
    let mut left_out = 0;
    for entry in entries {
        let entry = truncate_at_word(&entry, limits::DESCRIPTION);
        let cost = entry.chars().count() + 2;
        if total + cost > EMBED_BUDGET - 200 || embeds.len() == limits::EMBEDS {
            left_out += 1;
            continue;
        }
        if current.chars().count() + cost > limits::DESCRIPTION {
            embeds.push(reference_embed(std::mem::take(&mut current)));
        }
        if !current.is_empty() {
            current.push_str("\n\n");
        }
        current.push_str(&entry);
        total += cost;
    }
    if left_out > 0 {
        current.push_str(&format!("\n\n…and {left_out} more: use `/source number:`"));
    }
    if !current.is_empty() {
        embeds.push(reference_embed(current));
    }
    if let Some(first) = embeds.first_mut() {
        first.title = Some("References cited in these passages".to_string());
    }
    if let Some(last) = embeds.last_mut() {
        last.footer = Some(format!("From the References list · {NOT_MEDICAL_ADVICE}"));
    }
    Reply {
        content: None,
        embeds,
        rows: Vec::new(),
        ephemeral: true,
    }
}

fn reference_embed(description: String) -> Embed {
    Embed {
        description: Some(description),
        color: REFERENCE_COLOR,
        ..Embed::default()
    }
}

/// "**[15]** Grenader, Tal; … PMID 21848465.\n[doi:…](…) · [PMID 21848465](…)"
fn reference_entry(slug: &str, number: RefNumber, library: &Library) -> String {
    match library.citation(slug, number) {
        Some(citation) => {
            let links = link_list(citation, LinkStyle::WithIdentifiers);
            let full = escape_markdown(&citation.full());
            if links.is_empty() {
                format!("**\\[{number}\\]** {full}")
            } else {
                format!("**\\[{number}\\]** {full}\n{links}")
            }
        }
        None => format!("**\\[{number}\\]** is not in the References list."),
    }
}

/// `/source number:` — one reference in full, with its links.
pub fn render_source(citation: &Citation, article: Option<&ArticleInfo>) -> Reply {
    let links = link_list(citation, LinkStyle::WithIdentifiers);
    let mut description = escape_markdown(&citation.full());
    if !links.is_empty() {
        description.push_str("\n\n");
        description.push_str(&links);
    }
    let from = match article {
        Some(article) => format!(
            "Reference {} of {} · Wikipedia, {}",
            citation.number, article.title, article.licence
        ),
        None => format!("Reference {}", citation.number),
    };
    Reply {
        content: None,
        embeds: vec![Embed {
            author: None,
            title: Some(truncate_at_word(
                &escape_markdown(&format!(
                    "Reference {} · {}",
                    citation.number,
                    citation.short()
                )),
                limits::TITLE,
            )),
            url: citation.links().first().map(|link| link.url.clone()),
            description: Some(truncate_at_word(&description, limits::DESCRIPTION)),
            fields: Vec::new(),
            footer: Some(truncate_at_word(
                &format!("{from} · {NOT_MEDICAL_ADVICE}"),
                limits::FOOTER,
            )),
            color: REFERENCE_COLOR,
        }],
        rows: Vec::new(),
        ephemeral: false,
    }
}

/// One `/source` autocomplete choice: "15 · Grenader & Shavit 2011, New England Journal of
/// Medicine" (at most 100 characters) for the value 15.
pub fn source_choice(citation: &Citation) -> (String, u32) {
    let name = truncate_at_word(
        &format!("{} · {}", citation.number, citation.short()),
        limits::CHOICE_NAME,
    );
    (name, citation.number.0)
}

/// The autocomplete choices for what the user typed so far: digits match the start of reference
/// numbers, anything else the citation's text (authors, title, journal); at most 25.
pub fn source_choices(citations: &[Citation], typed: &str) -> Vec<(String, u32)> {
    let typed = typed.trim().trim_start_matches('[').to_lowercase();
    let is_number = !typed.is_empty() && typed.chars().all(|c| c.is_ascii_digit());
    citations
        .iter()
        .filter(|citation| {
            if is_number {
                return citation.number.to_string().starts_with(&typed);
            }
            typed.is_empty() || citation.full().to_lowercase().contains(&typed)
        })
        .take(limits::CHOICES)
        .map(source_choice)
        .collect()
}

/// `/about`: what the bot answers from, the licence and attribution, and that it is not
/// medical advice.
pub fn render_about(library: &Library) -> Reply {
    let mut sources = String::new();
    for article in &library.articles {
        // A fetched article says which revision it quotes, linked to that revision.
        let revision = article
            .revision
            .as_ref()
            .map(|revision| {
                format!(
                    " ({})",
                    masked_link(
                        &format!(
                            "revision {} of {}",
                            revision.revision,
                            citebot_core::corpus::revision_date(&revision.timestamp)
                        ),
                        &revision.permalink
                    )
                )
            })
            .unwrap_or_default();
        sources.push_str(&format!(
            "• {}{revision} — {} passages, {} references. Text by Wikipedia contributors ({}), licensed {}; shown unchanged except for formatting.\n",
            masked_link(&article.title, &article.source_url),
            article.passages,
            article.references,
            masked_link("history", &format!("{}?action=history", article.source_url)),
            licence_link(&article.licence),
        ));
    }
    if sources.is_empty() {
        sources.push_str("• No article is loaded.\n");
    }
    let description = format!(
        "citebot answers questions by quoting the article below: the passage that answers, with the answering sentence in bold, and the references the article cites for it. It writes no medical text of its own and uses no language model; when the article does not answer, it says so.\n\n\
         **Source**\n{sources}\n\
         **Not medical advice**\nAnswers are an encyclopaedia's text, not advice about anyone's health. For your own situation, talk to a health professional. In an emergency, call your local emergency number.\n\n\
         **How to ask**\n`/ask question:` (add `top:` for up to 5 passages), mention @citebot with a question, or send a direct message. `/source number:` shows a reference in full. 👍/👎 under an answer helps improve citebot; votes are stored with a hashed user id, never your name."
    );
    Reply {
        content: None,
        embeds: vec![Embed {
            author: None,
            title: Some("About citebot".to_string()),
            url: None,
            description: Some(truncate_at_word(&description, limits::DESCRIPTION)),
            fields: Vec::new(),
            footer: Some(NOT_MEDICAL_ADVICE.to_string()),
            color: NOTICE_COLOR,
        }],
        rows: Vec::new(),
        ephemeral: false,
    }
}

fn licence_link(licence: &str) -> String {
    match licence {
        "CC BY-SA 4.0" => masked_link(licence, "https://creativecommons.org/licenses/by-sa/4.0/"),
        "CC BY-SA 3.0" => masked_link(licence, "https://creativecommons.org/licenses/by-sa/3.0/"),
        other => escape_markdown(other),
    }
}

/// A short ephemeral text reply (cooldowns, thanks, errors).
pub fn notice(text: &str) -> Reply {
    Reply {
        content: Some(truncate_at_word(text, limits::CONTENT)),
        embeds: Vec::new(),
        rows: Vec::new(),
        ephemeral: true,
    }
}

/// Why a reply breaks one of Discord's limits.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what} is {actual} long, over Discord's limit of {limit}")]
pub struct LimitError {
    pub what: String,
    pub actual: usize,
    pub limit: usize,
}

impl Reply {
    /// Checks every Discord limit on the reply.
    pub fn check_limits(&self) -> Result<(), LimitError> {
        fn check(what: &str, actual: usize, limit: usize) -> Result<(), LimitError> {
            if actual > limit {
                return Err(LimitError {
                    what: what.to_string(),
                    actual,
                    limit,
                });
            }
            Ok(())
        }
        let length = |text: &Option<String>| text.as_deref().map_or(0, |t| t.chars().count());
        check("content", length(&self.content), limits::CONTENT)?;
        check("embed count", self.embeds.len(), limits::EMBEDS)?;
        let mut total = 0;
        for embed in &self.embeds {
            check("title", length(&embed.title), limits::TITLE)?;
            check(
                "description",
                length(&embed.description),
                limits::DESCRIPTION,
            )?;
            check("author", length(&embed.author), limits::AUTHOR)?;
            check("footer", length(&embed.footer), limits::FOOTER)?;
            check("field count", embed.fields.len(), limits::FIELDS)?;
            total += length(&embed.title)
                + length(&embed.description)
                + length(&embed.author)
                + length(&embed.footer);
            for field in &embed.fields {
                check("field name", field.name.chars().count(), limits::FIELD_NAME)?;
                check(
                    "field value",
                    field.value.chars().count(),
                    limits::FIELD_VALUE,
                )?;
                total += field.name.chars().count() + field.value.chars().count();
            }
        }
        check("all embeds", total, limits::EMBEDS_TOTAL)?;
        check("action rows", self.rows.len(), limits::ACTION_ROWS)?;
        for row in &self.rows {
            check("buttons in a row", row.len(), limits::BUTTONS_PER_ROW)?;
            for button in row {
                check("custom_id", button.custom_id.len(), limits::CUSTOM_ID)?;
                check(
                    "button label",
                    button.label.chars().count(),
                    limits::BUTTON_LABEL,
                )?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use citebot_core::answer::AbstainReason;
    use citebot_core::article::{parse_article, Article, PassageLimits};
    use citebot_core::passage::{Marker, MarkerTarget, SectionPath, Sentence};

    /// A passage from sentences, each with the reference numbers that cite it.
    fn passage(
        id: &str,
        section: &[&str],
        sentences: &[(&str, &[u32])],
    ) -> std::sync::Arc<Passage> {
        let mut text = String::new();
        let mut spans = Vec::new();
        for (index, (sentence, refs)) in sentences.iter().enumerate() {
            if index > 0 {
                text.push(' ');
            }
            let start = text.len();
            text.push_str(sentence);
            for number in refs.iter() {
                text.push_str(&format!(" [{number}]"));
            }
            spans.push(Sentence {
                start,
                end: text.len(),
                markers: refs
                    .iter()
                    .map(|&number| Marker {
                        target: MarkerTarget::Reference(RefNumber(number)),
                        locator: None,
                    })
                    .collect(),
            });
        }
        std::sync::Arc::new(Passage {
            id: format!("calcinosis-cutis#{id}"),
            article: "calcinosis-cutis".to_string(),
            article_title: "Calcinosis cutis".to_string(),
            section_path: SectionPath(section.iter().map(|s| s.to_string()).collect()),
            kind: PassageKind::Body,
            text,
            sentences: spans,
        })
    }

    /// The shipped article through the real parser, so that every snapshot shows the
    /// article's own text, sections and references, never a made-up claim.
    fn article() -> &'static Article {
        static ARTICLE: std::sync::LazyLock<Article> = std::sync::LazyLock::new(|| {
            parse_article(
                "calcinosis-cutis",
                include_str!("../../../corpus/calcinosis-cutis.txt"),
                PassageLimits::default(),
            )
        });
        &ARTICLE
    }

    /// What the bot builds at start-up from an index of the shipped article.
    fn library() -> Library {
        let article = article();
        Library {
            articles: vec![ArticleInfo::for_article(article)],
            citations: HashMap::from([(article.slug.clone(), article.references.clone())]),
        }
    }

    fn answer(question: &str, hits: Vec<Hit>) -> Answer {
        Answer {
            question: question.to_string(),
            verdict: Verdict::Answered,
            hits,
            not_in_article: Vec::new(),
            closest_only: false,
            took: Duration::from_micros(120),
        }
    }

    fn page(count: usize, has_more: bool) -> AnswerPage {
        AnswerPage {
            ask: 42,
            offset: 0,
            count,
            // As the bot does for a count other than its default (1).
            count_asked: count > 1,
            has_more,
            emergency: false,
        }
    }

    /// The article's body passage holding `words`, as a hit answered by the sentence that
    /// holds them.
    fn hit_of(words: &str) -> Hit {
        let passage = article()
            .body_passages()
            .find(|passage| passage.text.contains(words))
            .unwrap_or_else(|| panic!("no passage of the article holds {words:?}"));
        let best = passage
            .sentences
            .iter()
            .position(|sentence| passage.text[sentence.start..sentence.end].contains(words))
            .unwrap_or_else(|| panic!("no sentence holds {words:?}"));
        Hit {
            coverage: 1.0,
            passage: std::sync::Arc::new(passage.clone()),
            score: 1.0,
            best_sentences: vec![best],
            answers_too: false,
        }
    }

    /// The Treatment paragraph on colchicine: three sentences citing [1], [21] and [1] again,
    /// the middle one answering.
    fn treatment_hit() -> Hit {
        hit_of("foreign body-like response")
    }

    #[test]
    fn answer_embed_bolds_the_answer_and_lists_sources() {
        let reply = render_answer(
            &answer("why is colchicine used? @everyone", vec![treatment_hit()]),
            page(1, true),
            &library(),
        );
        reply.check_limits().unwrap();
        insta::assert_json_snapshot!(reply);
    }

    #[test]
    fn no_answer_says_so_and_what_is_covered() {
        let abstained = Answer {
            question: "what is the capital of **France**?".to_string(),
            verdict: Verdict::Abstained(AbstainReason::NoMatch),
            hits: Vec::new(),
            not_in_article: Vec::new(),
            closest_only: false,
            took: Duration::from_micros(80),
        };
        let reply = render_answer(&abstained, page(1, false), &library());
        reply.check_limits().unwrap();
        insta::assert_json_snapshot!(reply);
    }

    #[test]
    fn emergency_notice_comes_first() {
        let reply = render_answer(
            &answer("chest pain and calcium deposits", vec![treatment_hit()]),
            AnswerPage {
                emergency: true,
                ..page(1, false)
            },
            &library(),
        );
        assert_eq!(reply.content.as_deref(), Some(EMERGENCY_NOTICE));
        assert!(reply.rows[0].iter().all(|b| b.label != "More passages"));
    }

    #[test]
    fn source_reply_shows_the_full_citation_and_identifiers() {
        let library = library();
        let citation = library.citation("calcinosis-cutis", RefNumber(15)).unwrap();
        let reply = render_source(citation, library.articles.first());
        reply.check_limits().unwrap();
        insta::assert_json_snapshot!(reply);
    }

    #[test]
    fn references_reply_lists_each_reference_once() {
        let reply = render_references(&[treatment_hit(), treatment_hit()], &library());
        reply.check_limits().unwrap();
        let text = reply.embeds[0].description.clone().unwrap();
        assert_eq!(text.matches("**\\[1\\]**").count(), 1, "{text}");
        assert_eq!(text.matches("**\\[21\\]**").count(), 1, "{text}");
        assert!(
            text.contains("[PMID 3816102](https://pubmed.ncbi.nlm.nih.gov/3816102/)"),
            "{text}"
        );
    }

    #[test]
    fn about_names_source_licence_and_not_medical_advice() {
        let reply = render_about(&library());
        reply.check_limits().unwrap();
        insta::assert_json_snapshot!(reply);
    }

    #[test]
    fn choices_filter_by_number_and_words() {
        let library = library();
        let citations = &library.citations["calcinosis-cutis"];
        let by_number = source_choices(citations, "15");
        assert_eq!(
            by_number,
            vec![(
                "15 · Grenader & Shavit 2011, New England Journal of Medicine".to_string(),
                15
            )]
        );
        assert_eq!(source_choices(citations, "colchicine").len(), 1);
        assert_eq!(source_choices(citations, "").len(), citations.len());
    }

    #[test]
    fn button_ids_round_trip() {
        for action in [
            ButtonAction::More {
                ask: u64::MAX,
                offset: 3,
            },
            ButtonAction::References {
                ask: 1,
                offset: 0,
                count: 5,
            },
            ButtonAction::Vote { ask: 9, up: true },
            ButtonAction::Vote { ask: 9, up: false },
        ] {
            let id = action.custom_id();
            assert!(id.len() <= limits::CUSTOM_ID);
            assert_eq!(ButtonAction::parse(&id), Some(action));
        }
        assert_eq!(ButtonAction::parse("cb:vote:1:maybe"), None);
        assert_eq!(ButtonAction::parse("other"), None);
    }

    #[test]
    fn question_survives_the_author_line() {
        let author = question_author("is it  @everyone contagious?");
        assert_eq!(
            question_from_author(&author).as_deref(),
            Some("is it @everyone contagious?")
        );
        let long = question_author(&"word ".repeat(100));
        assert_eq!(question_from_author(&long), None);
    }

    #[test]
    fn truncation_never_cuts_a_word() {
        assert_eq!(
            truncate_at_word("calcium deposits in skin", 100),
            "calcium deposits in skin"
        );
        assert_eq!(truncate_at_word("calcium deposits in skin", 12), "calcium…");
        assert_eq!(
            truncate_at_word("calcium deposits in skin", 17),
            "calcium deposits…"
        );
        assert_eq!(truncate_at_word("a \\* b", 4), "a…");
    }

    #[test]
    fn long_passage_keeps_the_answer_in_view() {
        let filler: Vec<String> = (0..40)
            .map(|i| format!("Filler sentence number {i} about other things."))
            .collect();
        let mut sentences: Vec<(&str, &[u32])> =
            filler.iter().map(|s| (s.as_str(), &[][..])).collect();
        sentences.insert(30, ("Sodium thiosulfate is used for calciphylaxis.", &[3]));
        let long = passage("p9", &["Treatment"], &sentences);
        let markdown = passage_markdown(&long, &[30], 400);
        assert!(
            markdown.chars().count() <= 400,
            "{}",
            markdown.chars().count()
        );
        assert!(
            markdown.contains("**Sodium thiosulfate is used for calciphylaxis.** \\[3\\]"),
            "{markdown}"
        );
        assert!(
            markdown.starts_with("… ") && markdown.ends_with(" …"),
            "{markdown}"
        );
    }

    #[test]
    fn five_long_passages_fit_one_message() {
        let long_sentence =
            "Calcium salts deposit in the dermis and subcutis over months ".repeat(20);
        let hits: Vec<Hit> = (0..5)
            .map(|i| Hit {
                coverage: 1.0,
                passage: passage(
                    &format!("p{i}"),
                    &["Diagnosis", "Classification", "Dystrophic calcinosis cutis"],
                    &[(&long_sentence, &[3, 15]), (&long_sentence, &[15])],
                ),
                score: 1.0,
                best_sentences: vec![0],
                // All five answer equally well, so all five are on the first page.
                answers_too: true,
            })
            .collect();
        let reply = render_answer(&answer("deposits?", hits), page(5, true), &library());
        reply.check_limits().unwrap();
        assert_eq!(reply.embeds.len(), 5);
    }

    #[test]
    fn a_fetched_article_names_its_revision_and_links_it() {
        let mut library = library();
        library.articles[0].revision = Some(citebot_core::article::ArticleSource {
            url: "https://en.wikipedia.org/wiki/Calcinosis_cutis".to_string(),
            licence: "CC BY-SA 4.0".to_string(),
            revision: 1190000001,
            timestamp: "2023-12-12T08:14:03Z".to_string(),
            permalink: "https://en.wikipedia.org/w/index.php?oldid=1190000001".to_string(),
        });
        let reply = render_answer(
            &answer(
                "diltiazem?",
                vec![hit_of("Diltiazem, a calcium channel blocker")],
            ),
            page(1, false),
            &library,
        );
        let embed = &reply.embeds[0];
        assert_eq!(
            embed.url.as_deref(),
            Some("https://en.wikipedia.org/w/index.php?oldid=1190000001#Treatment")
        );
        let footer = embed.footer.as_deref().unwrap_or_default();
        assert!(
            footer.starts_with(
                "Calcinosis cutis · Wikipedia, revision 1190000001 of 2023-12-12, CC BY-SA 4.0"
            ),
            "{footer}"
        );
        let about = render_about(&library);
        let description = about.embeds[0].description.as_deref().unwrap_or_default();
        assert!(
            description.contains(
                "[revision 1190000001 of 2023-12-12](https://en.wikipedia.org/w/index.php?oldid=1190000001)"
            ),
            "{description}"
        );
    }

    mod properties {
        use proptest::prelude::*;

        use super::*;

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(64))]

            /// Whatever the text, question and page size, every reply fits Discord's limits and
            /// pings no one.
            #[test]
            fn replies_fit_discord(
                sentences in proptest::collection::vec("[a-zA-Z*_~`|@<>#\\[\\] ]{1,400}", 1..12),
                question in "\\PC{0,3000}",
                count in 1usize..=5,
                best in 0usize..12,
            ) {
                let pairs: Vec<(&str, &[u32])> = sentences.iter().map(|s| (s.as_str(), &[3u32][..])).collect();
                let best = best % sentences.len();
                let hits: Vec<Hit> = (0..count)
                    .map(|i| Hit {
                        coverage: 1.0,
                        passage: passage(&format!("p{i}"), &["Treatment"], &pairs),
                        score: 1.0,
                        best_sentences: vec![best],
                        answers_too: false,
                    })
                    .collect();
                let reply = render_answer(&answer(&question, hits), page(count, true), &library());
                prop_assert!(reply.check_limits().is_ok(), "{:?}", reply.check_limits());
                for embed in &reply.embeds {
                    let description = embed.description.as_deref().unwrap_or_default();
                    prop_assert!(!description.contains("@everyone"));
                }
            }
        }
    }
}
