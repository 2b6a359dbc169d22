//! Understanding a question: which words carry its meaning, what else they may be called in
//! the article (synonyms and abbreviations, kept as data in `vocabulary.toml`), and whether it
//! asks about the cited works themselves.
//!
//! A question is never query syntax: it is cut into words by the same analyzer as the index,
//! so `C++?`, `"unbalanced`, `field:value` or `AND OR NOT` are just words (or nothing).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{LazyLock, OnceLock};

use regex::Regex;
use serde::Deserialize;
use tantivy::tokenizer::{SimpleTokenizer, TextAnalyzer, TokenStream, Tokenizer};

use crate::config::VocabularyFile;
use crate::error::{Error, Result};
use crate::index::stems;

/// Where a searched word comes from; expansions weigh less than the user's own words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// The user's word, as written.
    Asked,
    /// From the synonym table.
    Synonym,
    /// The closest word of the index to a word it does not contain (a misspelling).
    Correction,
}

/// The stems of a word or phrase, shared (synonym expansions are reused by every question).
pub type Stems = std::sync::Arc<[String]>;

/// One way a concept can appear in a passage: all of `stems` (a phrase's words).
#[derive(Debug, Clone, PartialEq)]
pub struct Variant {
    /// Shared with the vocabulary: a question copies no expansion.
    pub stems: Stems,
    pub origin: Origin,
}

/// A word of the question that carries meaning, with the forms it may take in the article.
#[derive(Debug, Clone, PartialEq)]
pub struct Concept {
    /// The word as the user wrote it (lowercased).
    pub word: String,
    /// Its stem, as the index stores words.
    pub stem: String,
    pub variants: Vec<Variant>,
    /// The word only says what kind of answer is wanted ("journal", "author"), not what about.
    pub is_cue: bool,
    /// A function word kept only for what the synonym table says it means ("why" → cause):
    /// it counts for less than a word of substance.
    pub is_stop: bool,
}

/// A question, analysed.
#[derive(Debug, Clone, PartialEq)]
pub struct AnalysedQuestion {
    pub concepts: Vec<Concept>,
    /// The question asks about the cited works (journal, authors, PMID, DOI…).
    pub wants_citation: bool,
    /// "reference 15", "ref 15", "[15]", "source 15": a reference named by number.
    pub reference_number: Option<u32>,
}

/// citebot's vocabulary (`vocabulary.toml`): lay and clinical synonyms (what people write →
/// what the article may say instead), and the specific terms a question can be about.
#[derive(Debug, Clone, Default)]
pub struct Vocabulary {
    /// Keyed by the first stem of the phrase a rule matches.
    rules: HashMap<String, Vec<SynonymRule>>,
    /// Treatments, products, doses and practical matters, as written in the table: named in
    /// a question but absent from the corpus, they mean the article does not cover the
    /// question.
    specific_terms: Vec<String>,
    /// The one-word specific terms as stems, made on first use.
    specific_stems: OnceLock<HashSet<String>>,
}

/// One synonym rule. Only the phrase is stemmed when the table is read: most rules never fire
/// in a one-off `citebot ask`, and stemming every expansion was most of reading the table.
#[derive(Debug, Clone)]
struct SynonymRule {
    phrase: Vec<String>,
    /// The expansions as written in the table.
    expansion_texts: Vec<String>,
    /// The expansions as stems, made the first time the rule fires.
    expansions: OnceLock<Vec<Stems>>,
}

impl SynonymRule {
    fn expansions(&self, analyzer: &mut TextAnalyzer) -> &[Stems] {
        self.expansions.get_or_init(|| {
            self.expansion_texts
                .iter()
                .map(|expansion| stems(analyzer, expansion))
                .filter(|expansion| !expansion.is_empty())
                .map(Stems::from)
                .collect()
        })
    }
}

/// The vocabulary file's TOML, as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct VocabularyToml {
    /// In key order: a hash map's order changes from process to process, and rules whose keys
    /// stem alike ("treat", "treated") are merged in this order.
    #[serde(default)]
    synonyms: BTreeMap<String, Vec<String>>,
    #[serde(default)]
    specific_terms: SpecificTerms,
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct SpecificTerms {
    terms: Vec<String>,
}

impl Vocabulary {
    /// Reads the table from where the config says ([`VocabularyFile`]). The default file may
    /// be absent (no synonyms, no specific terms: synonyms are an aid, not a need); a file the
    /// config names must exist.
    pub fn load(file: &VocabularyFile) -> Result<Vocabulary> {
        let path = file.path();
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                return match file {
                    VocabularyFile::Default(_) => Ok(Vocabulary::default()),
                    VocabularyFile::Named(_) => Err(Error::VocabularyMissing {
                        path: path.to_path_buf(),
                    }),
                };
            }
            Err(source) => {
                return Err(Error::Read {
                    path: path.to_path_buf(),
                    source,
                })
            }
        };
        Vocabulary::parse(&text).map_err(|message| Error::Config {
            path: path.to_path_buf(),
            message,
        })
    }

    /// Parses the TOML tables `[synonyms] "what people say" = ["what the article says", …]`
    /// and `[specific_terms] terms = [...]`.
    pub fn parse(text: &str) -> std::result::Result<Vocabulary, String> {
        let file: VocabularyToml = toml::from_str(text).map_err(|e| e.message().to_string())?;
        let mut synonyms = Vocabulary {
            specific_terms: file.specific_terms.terms,
            ..Vocabulary::default()
        };
        with_analyzer(|analyzer| {
            for (phrase, expansions) in file.synonyms {
                let phrase_stems = stems(analyzer, &phrase);
                let Some(first) = phrase_stems.first().cloned() else {
                    return Err(format!("synonym key {phrase:?} has no word"));
                };
                let rules = synonyms.rules.entry(first).or_default();
                // Keys that stem alike ("drug", "drugs") are one rule: their expansions are
                // merged, in key order, instead of one of them silently never firing.
                match rules.iter_mut().find(|rule| rule.phrase == phrase_stems) {
                    Some(rule) => {
                        for expansion in expansions {
                            if !rule.expansion_texts.contains(&expansion) {
                                rule.expansion_texts.push(expansion);
                            }
                        }
                    }
                    None => rules.push(SynonymRule {
                        phrase: phrase_stems,
                        expansion_texts: expansions,
                        expansions: OnceLock::new(),
                    }),
                }
            }
            Ok(())
        })?;
        for rules in synonyms.rules.values_mut() {
            // Longest phrase first: "kidney failure" wins over "kidney". Phrases are distinct
            // after merging, so this order is total.
            rules.sort_by(|a, b| {
                b.phrase
                    .len()
                    .cmp(&a.phrase.len())
                    .then(a.phrase.cmp(&b.phrase))
            });
        }
        Ok(synonyms)
    }

    /// Whether `stem` is (the first word of) a specific term.
    pub fn is_specific_term(&self, stem: &str) -> bool {
        self.specific_stems
            .get_or_init(|| {
                with_analyzer(|analyzer| {
                    self.specific_terms
                        .iter()
                        .map(|term| stems(analyzer, term))
                        .filter(|term| term.len() == 1)
                        .flatten()
                        .collect()
                })
            })
            .contains(stem)
    }

    pub fn len(&self) -> usize {
        self.rules.values().map(Vec::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }
}

thread_local! {
    /// One analyzer a thread, kept between questions: it remembers the normal form of every
    /// word it has seen (stemming is most of analysing a question), and questions repeat words.
    static ANALYZER: std::cell::RefCell<TextAnalyzer> =
        std::cell::RefCell::new(crate::index::analyzer());
}

/// Runs `f` with this thread's analyzer (the index's own: the same stems as the index).
pub(crate) fn with_analyzer<R>(f: impl FnOnce(&mut TextAnalyzer) -> R) -> R {
    ANALYZER.with(|cell| match cell.try_borrow_mut() {
        Ok(mut analyzer) => f(&mut analyzer),
        // Re-entered from inside `f`: a fresh analyzer gives the same stems, only slower.
        Err(_) => f(&mut crate::index::analyzer()),
    })
}

/// Words that carry no meaning in a question: function words, question words, chat.
#[rustfmt::skip]
const STOP_WORDS: &[&str] = &[
    "a", "about", "above", "after", "again", "against", "all", "also", "am", "an", "and", "any",
    "anyone", "anything", "are", "as", "at", "be", "because", "been", "before", "being", "below",
    "between", "both", "but", "by", "can", "could", "did", "do", "does", "doing", "don", "down",
    "during", "each", "else", "ever", "every", "few", "for", "from", "further", "get", "gets",
    "getting", "go", "goes", "going", "got", "had", "has", "have", "having", "he", "her", "here",
    "hers", "herself", "him", "himself", "his", "how", "i", "if", "im", "in", "into", "is", "isn",
    "it", "its", "itself", "just", "know", "let", "like", "ll", "lot", "lots", "loads", "me",
    "might", "more", "most", "much", "must", "my", "myself", "no", "nor", "not", "now", "of",
    "off", "often", "on", "once", "one", "only", "or", "other", "our", "ours", "ourselves", "out",
    "over", "own", "please", "pls", "plz", "pretty", "quite", "re", "really", "s", "same", "she",
    "should", "so", "some", "something", "still", "such", "t", "tell", "than", "thanks", "that",
    "thats", "the", "their", "theirs", "them", "themselves", "then", "there", "these", "they",
    "thing", "things", "this", "those", "through", "to", "too", "totally", "under", "until", "up",
    "us", "usually", "ve", "very", "was", "wasn", "way", "we", "were", "what", "whats", "when",
    "where", "which", "while", "who", "whom", "why", "will", "with", "would", "you", "your",
    "yours", "yourself", "hi", "hello", "hey", "ok", "okay", "yes", "yeah", "anybody", "someone",
    "somebody", "mean", "means", "there's", "it's", "what's", "i'm", "can't", "don't", "doesn't",
    "isn't", "wanna", "gonna", "u", "ur", "y", "d", "m",
];

/// Words that say the question is about the cited works.
#[rustfmt::skip]
const CITATION_CUES: &[&str] = &[
    "journal", "journals", "author", "authors", "authored", "wrote", "written", "writer",
    "publish", "published", "publisher", "publication", "paper", "papers", "cite", "cited",
    "cites", "citation", "citations", "reference", "references", "ref", "refs", "source",
    "sources", "pmid", "pubmed", "doi", "pmc", "isbn", "issn", "chapter", "book", "textbook",
    "edition", "retrieved",
];

/// Stems of the stop words, sorted for binary search.
static STOP_STEMS: LazyLock<Vec<String>> = LazyLock::new(|| {
    let mut analyzer = crate::index::analyzer();
    let mut out: Vec<String> = STOP_WORDS
        .iter()
        .flat_map(|word| stems(&mut analyzer, word))
        .collect();
    out.sort();
    out.dedup();
    out
});

static CUE_STEMS: LazyLock<Vec<String>> = LazyLock::new(|| {
    let mut analyzer = crate::index::analyzer();
    let mut out: Vec<String> = CITATION_CUES
        .iter()
        .flat_map(|word| stems(&mut analyzer, word))
        .collect();
    out.sort();
    out.dedup();
    out
});

/// Things in a chat message that are not words of the question: Discord mentions, channel
/// and emoji tags, links, `@bot` prefixes, HTML tags (`<b>`) and what a script or style
/// element holds (code, never words of the question), and the field name
/// of search syntax glued to a word (`text:` in `text:diltiazem`; the word is kept, as
/// group 2), and terminal escape sequences (`ESC[31m`, `ESC]0;title BEL`). ASCII classes: Discord ids and emoji names are ASCII, and Unicode `\d`/`\w`
/// tables were most of the cost of compiling the pattern.
static NOISE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(concat!(
        r"<(?:@[!&]?|#)[0-9]+>|<a?:[A-Za-z0-9_]+:[0-9]+>|https?://\S+|(?:^|\s)@\S+",
        r"|(?is:<(script|style)\b[^>]*>.*?</(?:script|style)\s*>)",
        r"|</?[A-Za-z][A-Za-z0-9]*(?:\s[^<>]*)?/?>|(?:^|\s)[A-Za-z_]+:([^\s:/])",
        r"|\x1b\[[0-9:;<=>?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?",
    ))
    .expect("noise regex is valid")
});

static REFERENCE_BY_NUMBER: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\b(?:ref(?:erence)?s?|source|citation|footnote)\s*(?:no\.?|number|#)?\s*\[?([0-9]{1,4})\]?|\[([0-9]{1,4})\]")
        .expect("reference regex is valid")
});

/// The question without characters that are part of no word's spelling: Unicode format
/// characters (zero-width space and joiners, soft hyphen, byte-order mark, bidirectional
/// controls), which text pasted from a web page or a chat carries inside words, and combining
/// diacritical marks, which the index folds away (`AsciiFoldingFilter` turns "ç" into "c").
/// Left in, the tokenizer splits a word at each of them: "dil\u{200b}tiazem" would be searched
/// as "dil" and "tiazem".
fn remove_invisible_marks(question: &str) -> std::borrow::Cow<'_, str> {
    fn is_invisible(c: char) -> bool {
        matches!(c,
            // Format characters (general category Cf) found in text.
            '\u{ad}' | '\u{61c}' | '\u{180e}' | '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}'
            | '\u{2060}'..='\u{2064}' | '\u{2066}'..='\u{206f}' | '\u{feff}' | '\u{fff9}'..='\u{fffb}'
            | '\u{e0001}' | '\u{e0020}'..='\u{e007f}'
            // Combining diacritical marks (the blocks for Latin, Greek and Cyrillic letters).
            | '\u{300}'..='\u{36f}' | '\u{1ab0}'..='\u{1aff}' | '\u{1dc0}'..='\u{1dff}'
            | '\u{20d0}'..='\u{20ff}' | '\u{fe20}'..='\u{fe2f}')
    }
    if question.contains(is_invisible) {
        std::borrow::Cow::Owned(question.chars().filter(|&c| !is_invisible(c)).collect())
    } else {
        std::borrow::Cow::Borrowed(question)
    }
}

/// Cuts `question` to at most `max_chars` characters, on a character boundary.
pub fn truncate_chars(question: &str, max_chars: usize) -> &str {
    match question.char_indices().nth(max_chars) {
        Some((cut, _)) => &question[..cut],
        None => question,
    }
}

/// Analyses a question. `max_terms` bounds the work a pasted wall of text can cause.
pub fn analyse(question: &str, synonyms: &Vocabulary, max_terms: usize) -> AnalysedQuestion {
    let visible = remove_invisible_marks(question);
    let question = visible.as_ref();
    // Both patterns need a character most questions lack; checking for it first spares a
    // one-off `citebot ask` compiling them (about a millisecond together).
    let reference_number = if question.bytes().any(|b| b.is_ascii_digit()) {
        REFERENCE_BY_NUMBER.captures(question).and_then(|captures| {
            captures
                .get(1)
                .or_else(|| captures.get(2))
                .and_then(|m| m.as_str().parse().ok())
        })
    } else {
        None
    };
    let cleaned = if question.contains(['<', '@', ':', '\u{1b}']) {
        NOISE.replace_all(question, " ${2}")
    } else {
        std::borrow::Cow::Borrowed(question)
    };
    with_analyzer(|analyzer| {
        analyse_cleaned(&cleaned, reference_number, synonyms, max_terms, analyzer)
    })
}

fn analyse_cleaned(
    cleaned: &str,
    reference_number: Option<u32>,
    synonyms: &Vocabulary,
    max_terms: usize,
    analyzer: &mut TextAnalyzer,
) -> AnalysedQuestion {
    let mut words: Vec<(String, String)> = Vec::new();
    // "pre-existing" is one word in the article ("preexisting"): keep the joined form too.
    let mut joined: Vec<Vec<Stems>> = Vec::new();
    let mut previous_end: Option<usize> = None;
    let mut tokenizer = SimpleTokenizer::default();
    let mut raw_stream = tokenizer.token_stream(cleaned);
    while raw_stream.advance() {
        let token = raw_stream.token();
        let word = token.text.to_lowercase();
        let hyphenated =
            previous_end.is_some_and(|end| cleaned.get(end..token.offset_from) == Some("-"));
        previous_end = Some(token.offset_to);
        let Some(stem) = stems(analyzer, &word).into_iter().next() else {
            continue;
        };
        joined.push(Vec::new());
        if hyphenated {
            if let Some((previous_word, _)) = words.last() {
                let together = Stems::from(stems(analyzer, &format!("{previous_word}{word}")));
                let last = joined.len() - 1;
                joined[last].push(together.clone());
                joined[last - 1].push(together);
            }
        }
        words.push((word, stem));
    }

    let mut concepts: Vec<Concept> = Vec::new();
    let mut wants_citation = reference_number.is_some();
    let mut covered_by_phrase: Vec<Vec<Stems>> = vec![Vec::new(); words.len()];
    for start in 0..words.len() {
        let Some(rules) = synonyms.rules.get(&words[start].1) else {
            continue;
        };
        for rule in rules {
            let end = start + rule.phrase.len();
            if end <= words.len()
                && words[start..end]
                    .iter()
                    .zip(&rule.phrase)
                    .all(|((_, stem), wanted)| stem == wanted)
            {
                // The phrase's meaning goes to its meaningful words ("under the skin" →
                // "skin"), or to its first word when it has none ("why").
                let mut targets: Vec<usize> = (start..end)
                    .filter(|&i| !is_stop_word(&words[i].0, &words[i].1))
                    .collect();
                if targets.is_empty() {
                    targets.push(start);
                }
                for target in targets {
                    covered_by_phrase[target].extend(rule.expansions(analyzer).iter().cloned());
                }
                break;
            }
        }
    }
    for (position, (word, stem)) in words.iter().enumerate() {
        let is_stop = is_stop_word(word, stem);
        let expansions = &covered_by_phrase[position];
        if is_stop && expansions.is_empty() {
            continue;
        }
        let is_cue = CUE_STEMS.binary_search(stem).is_ok();
        wants_citation |= is_cue;
        if let Some(existing) = concepts.iter_mut().find(|c| &c.stem == stem) {
            for expansion in expansions {
                push_variant(existing, expansion.clone(), Origin::Synonym);
            }
            continue;
        }
        if concepts.len() >= max_terms {
            break;
        }
        let mut concept = Concept {
            word: word.clone(),
            stem: stem.clone(),
            variants: Vec::new(),
            is_cue,
            is_stop,
        };
        if !is_stop {
            push_variant(&mut concept, Stems::from([stem.clone()]), Origin::Asked);
            for together in &joined[position] {
                push_variant(&mut concept, together.clone(), Origin::Asked);
            }
        }
        for expansion in expansions {
            push_variant(&mut concept, expansion.clone(), Origin::Synonym);
        }
        concepts.push(concept);
    }
    AnalysedQuestion {
        concepts,
        wants_citation,
        reference_number,
    }
}

/// Whether `stem` is the stem of a stop word.
pub(crate) fn is_stop_stem(stem: &str) -> bool {
    STOP_STEMS
        .binary_search_by(|s| s.as_str().cmp(stem))
        .is_ok()
}

fn is_stop_word(word: &str, stem: &str) -> bool {
    STOP_STEMS
        .binary_search_by(|s| s.as_str().cmp(stem))
        .is_ok()
        || word.chars().count() < 2
}

fn push_variant(concept: &mut Concept, stems: Stems, origin: Origin) {
    if !concept.variants.iter().any(|v| v.stems == stems) {
        concept.variants.push(Variant { stems, origin });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> Vocabulary {
        Vocabulary::parse(
            r#"[synonyms]
            "lump" = ["nodule"]
            "kidney failure" = ["renal failure"]
            "kidney" = ["renal"]
            "ssc" = ["systemic sclerosis"]"#,
        )
        .expect("valid table")
    }

    #[test]
    fn stop_words_go_and_meaningful_words_stay() {
        let analysed = analyse("what is the treatment for it?", &Vocabulary::default(), 10);
        let words: Vec<&str> = analysed.concepts.iter().map(|c| c.word.as_str()).collect();
        assert_eq!(words, ["treatment"]);
    }

    #[test]
    fn longest_synonym_phrase_wins_and_covers_each_word() {
        let analysed = analyse("kidney failure and lumps", &table(), 10);
        let kidney = &analysed.concepts[0];
        assert!(kidney
            .variants
            .iter()
            .any(|v| *v.stems == ["renal", "failur"] && v.origin == Origin::Synonym));
        assert!(!kidney.variants.iter().any(|v| *v.stems == ["renal"]));
        let lump = analysed
            .concepts
            .iter()
            .find(|c| c.word == "lumps")
            .expect("lumps kept");
        assert!(lump.variants.iter().any(|v| *v.stems == ["nodul"]));
    }

    #[test]
    fn query_syntax_is_only_words() {
        for question in [
            "C++?",
            "\"unbalanced",
            "field:value",
            "AND OR NOT",
            "(",
            "*",
            "\\",
        ] {
            let analysed = analyse(question, &Vocabulary::default(), 10);
            assert!(analysed
                .concepts
                .iter()
                .all(|c| c.stem.chars().all(char::is_alphanumeric)));
        }
    }

    #[test]
    fn mentions_and_links_are_not_words() {
        let analysed = analyse(
            "<@123> @citebot <@&456> see https://example.com/x?q=1 diltiazem",
            &Vocabulary::default(),
            10,
        );
        let words: Vec<&str> = analysed.concepts.iter().map(|c| c.word.as_str()).collect();
        assert_eq!(words, ["see", "diltiazem"]);
    }

    #[test]
    fn citation_questions_are_recognised() {
        assert!(analyse("which journal published it", &Vocabulary::default(), 10).wants_citation);
        assert_eq!(
            analyse("show me reference 15", &Vocabulary::default(), 10).reference_number,
            Some(15)
        );
        assert!(!analyse("how is it treated", &Vocabulary::default(), 10).wants_citation);
    }

    #[test]
    fn term_budget_bounds_long_questions() {
        let long = (0..500)
            .map(|i| format!("word{i}"))
            .collect::<Vec<_>>()
            .join(" ");
        assert_eq!(
            analyse(&long, &Vocabulary::default(), 48).concepts.len(),
            48
        );
    }
}
