//! Synthetic articles for benchmarks: a corpus of any size in the shape of the real one.
//!
//! Each article looks like a Wikipedia article copied as plain text (header block with title and
//! infobox lines, lead, top-level and nested headings, paragraphs with `[n]` reference markers,
//! and a References list of `N. ^ Author, A. (2001). "Title". Journal. 1 (2): 3–4. PMID 123.`
//! lines), so it goes through the real parser and indexer. Words are drawn from a Zipf
//! distribution over the words of a seed article (most frequent first) followed by a generated
//! long tail of pseudo-words, so postings lists have the skew of real text: a few huge lists
//! (`the`, `of`, `calcium`), many tiny ones, and a vocabulary that keeps growing with the corpus.
//!
//! Generation is deterministic: the same [`SynthOptions`] give the same files byte for byte,
//! whatever the number of threads.
//!
//! ```
//! use citebot_bench::synth::{SynthOptions, WordDistribution, generate_article};
//! let words = WordDistribution::from_seed_text("calcium calcium salts in the skin", 1_000, 1.0);
//! let article = generate_article(&words, &SynthOptions::default(), 0, None);
//! assert!(article.text.contains("References"));
//! assert_eq!(article.passages(), article.body_paragraphs + article.references);
//! ```

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};

/// What to generate.
#[derive(Debug, Clone)]
pub struct SynthOptions {
    /// Seed of the pseudo-random generator: equal seeds give equal corpora.
    pub seed: u64,
    /// Generated words after the seed article's own (the long tail of the vocabulary).
    pub tail_words: usize,
    /// Exponent of the Zipf distribution of word ranks (1.0 is natural language's).
    pub zipf_exponent: f64,
    /// Threads writing files; the output does not depend on it.
    pub threads: usize,
    /// Where the seed article's content words go in the ranking. `true`: spread over ranks 30
    /// to ~30,000 among the generated words, as a topic's words are in a large corpus (common
    /// enough to be found, rare enough to be worth searching). `false`: all at the head, by
    /// their frequency in the seed article, so every question word is among the corpus's most
    /// common words (the worst case for a disjunctive query).
    pub spread_seed_words: bool,
}

impl Default for SynthOptions {
    fn default() -> Self {
        SynthOptions {
            seed: 0x00C1_7EB0,
            tail_words: 500_000,
            zipf_exponent: 1.0,
            threads: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1),
            spread_seed_words: true,
        }
    }
}

/// A small, fast, deterministic generator (SplitMix64): benchmark data needs reproducibility,
/// not cryptographic quality.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator for stream `stream` of `seed` (one stream per article).
    pub fn new(seed: u64, stream: u64) -> Rng {
        let mut rng = Rng(seed ^ stream.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        rng.next_u64();
        rng
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in `low..=high`.
    pub fn range(&mut self, low: usize, high: usize) -> usize {
        low + (self.next_u64() % (high - low + 1) as u64) as usize
    }

    pub fn chance(&mut self, probability: f64) -> bool {
        self.unit() < probability
    }
}

/// Words ranked by frequency with a Zipf distribution over the ranks.
#[derive(Debug, Clone)]
pub struct WordDistribution {
    words: Vec<String>,
    /// Cumulative probability of ranks `0..=i`.
    cumulative: Vec<f64>,
    seed_words: usize,
}

impl WordDistribution {
    /// The words of `seed_text` by descending frequency, then `tail_words` generated words.
    pub fn from_seed_text(seed_text: &str, tail_words: usize, exponent: f64) -> WordDistribution {
        WordDistribution::build(seed_text, tail_words, exponent, false)
    }

    /// Like [`WordDistribution::from_seed_text`], but with the seed's content words spread
    /// among the generated ones (see [`SynthOptions::spread_seed_words`]); function words
    /// stay at the head.
    pub fn with_spread_seed_words(
        seed_text: &str,
        tail_words: usize,
        exponent: f64,
    ) -> WordDistribution {
        WordDistribution::build(seed_text, tail_words, exponent, true)
    }

    /// The distribution `options` asks for.
    pub fn for_options(seed_text: &str, options: &SynthOptions) -> WordDistribution {
        WordDistribution::build(
            seed_text,
            options.tail_words,
            options.zipf_exponent,
            options.spread_seed_words,
        )
    }

    fn build(seed_text: &str, tail_words: usize, exponent: f64, spread: bool) -> WordDistribution {
        let mut counts: HashMap<String, usize> = HashMap::new();
        for word in seed_text
            .split(|c: char| !c.is_alphabetic())
            .filter(|w| w.chars().count() >= 1 && w.is_ascii())
        {
            *counts.entry(word.to_ascii_lowercase()).or_default() += 1;
        }
        let mut ranked: Vec<(String, usize)> = counts.into_iter().collect();
        ranked.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        let seed_words = ranked.len();
        let mut words: Vec<String> = if spread {
            spread_content_words(ranked.into_iter().map(|(word, _)| word), tail_words)
        } else {
            let mut words: Vec<String> = ranked.into_iter().map(|(word, _)| word).collect();
            words.extend((0..tail_words).map(pseudo_word));
            words
        };
        words.shrink_to_fit();
        let mut cumulative = Vec::with_capacity(words.len());
        let mut total = 0.0;
        for rank in 0..words.len() {
            total += 1.0 / ((rank + 1) as f64).powf(exponent);
            cumulative.push(total);
        }
        for value in &mut cumulative {
            *value /= total;
        }
        WordDistribution {
            words,
            cumulative,
            seed_words,
        }
    }

    /// A word drawn from the distribution.
    pub fn sample<'a>(&'a self, rng: &mut Rng) -> &'a str {
        let target = rng.unit();
        let rank = self.cumulative.partition_point(|&c| c < target);
        &self.words[rank.min(self.words.len() - 1)]
    }

    /// A word of rank in `low..high` (for names: neither `the` nor a one-off).
    pub fn sample_between<'a>(&'a self, rng: &mut Rng, low: usize, high: usize) -> &'a str {
        let high = high.min(self.words.len()).max(low + 1);
        &self.words[rng.range(low, high - 1)]
    }

    /// Distinct words in all.
    pub fn len(&self) -> usize {
        self.words.len()
    }

    pub fn is_empty(&self) -> bool {
        self.words.is_empty()
    }

    /// How many of the words come from the seed text.
    pub fn seed_words(&self) -> usize {
        self.seed_words
    }
}

/// English function words: they head any corpus's ranking, whatever its topic.
const FUNCTION_WORDS: &[&str] = &[
    "the", "of", "and", "in", "a", "to", "is", "as", "by", "with", "or", "for", "are", "be",
    "that", "on", "an", "from", "can", "it", "which", "has", "this", "such", "may", "at", "also",
    "been", "its", "not", "but", "most", "there", "one", "other", "into", "than", "after",
];

/// Function words first (in seed order), then content words placed at ranks spread
/// log-uniformly over 30..30,000, generated words filling every other rank.
fn spread_content_words(ranked: impl Iterator<Item = String>, tail_words: usize) -> Vec<String> {
    let (function, content): (Vec<String>, Vec<String>) =
        ranked.partition(|word| FUNCTION_WORDS.contains(&word.as_str()));
    let total = function.len() + content.len() + tail_words;
    let mut slots: Vec<Option<String>> = vec![None; total];
    for (rank, word) in function.into_iter().enumerate() {
        slots[rank] = Some(word);
    }
    let mut rng = Rng::new(0x5_9EAD, 0);
    let (low, high) = (30f64.ln(), 30_000f64.ln());
    for word in content {
        let mut rank = (low + rng.unit() * (high - low)).exp() as usize;
        rank = rank.min(total - 1);
        while slots[rank].is_some() {
            rank = (rank + 1) % total;
        }
        slots[rank] = Some(word);
    }
    let mut generated = 0;
    slots
        .into_iter()
        .map(|slot| {
            slot.unwrap_or_else(|| {
                generated += 1;
                pseudo_word(generated - 1)
            })
        })
        .collect()
}

const SYLLABLES: &[&str] = &[
    "ba", "be", "bi", "bo", "ca", "ce", "ci", "co", "da", "de", "di", "do", "fa", "fe", "fi", "ga",
    "ge", "go", "ka", "ke", "ki", "la", "le", "li", "lo", "lu", "ma", "me", "mi", "mo", "na", "ne",
    "ni", "no", "pa", "pe", "pi", "po", "ra", "re", "ri", "ro", "sa", "se", "si", "so", "ta", "te",
    "ti", "to", "va", "ve", "vi", "xa", "za", "zo", "tor", "lin", "mus", "ter", "phos", "cal",
    "derm", "ost",
];

/// The `index`-th generated word: distinct for distinct indexes, at least two syllables, and
/// marked with a final consonant so it never equals an English word by accident.
pub fn pseudo_word(index: usize) -> String {
    let base = SYLLABLES.len();
    let mut word = String::new();
    let mut rest = index + base; // at least two syllables
    while rest > 0 {
        word.push_str(SYLLABLES[rest % base]);
        rest /= base;
    }
    word.push(['x', 'q', 'k', 'z'][index % 4]);
    word
}

/// Top-level headings of a medical article, in their usual order.
const SECTIONS: &[&str] = &[
    "Signs and symptoms",
    "Causes",
    "Pathophysiology",
    "Diagnosis",
    "Treatment",
    "Prognosis",
    "Epidemiology",
    "History",
];

/// One generated article.
#[derive(Debug, Clone)]
pub struct SynthArticle {
    pub text: String,
    pub body_paragraphs: usize,
    pub references: usize,
}

impl SynthArticle {
    /// Passages the parser makes of it: one per paragraph (all stay under the size limit) and
    /// one per reference entry.
    pub fn passages(&self) -> usize {
        self.body_paragraphs + self.references
    }
}

/// How many passages article `index` has, before its text is generated (so a corpus of N
/// passages can be cut into articles up front and written in parallel). Close to the seed
/// article's 17 paragraphs and 21 references on average.
pub fn planned_shape(options: &SynthOptions, index: u64) -> (usize, usize) {
    let mut rng = Rng::new(options.seed ^ 0x5EED_5EED, index);
    (rng.range(8, 26), rng.range(6, 36))
}

/// Generates article `index`. `budget`, for the last article of a corpus, sets its number of
/// passages instead of [`planned_shape`].
pub fn generate_article(
    words: &WordDistribution,
    options: &SynthOptions,
    index: u64,
    budget: Option<usize>,
) -> SynthArticle {
    let (mut paragraphs, mut references) = planned_shape(options, index);
    if let Some(budget) = budget {
        // The last article takes exactly what is left (at least a paragraph and a reference).
        let budget = budget.max(2);
        paragraphs = paragraphs.min(budget / 2).max(1);
        references = budget - paragraphs;
    }
    let mut rng = Rng::new(options.seed, index);
    let mut text = String::with_capacity(400 * paragraphs + 200 * references + 256);

    let title = capitalise(&format!(
        "{} {}",
        words.sample_between(&mut rng, 30, 5_000),
        words.sample_between(&mut rng, 30, 5_000)
    ));
    text.push_str("From Wikipedia, the free encyclopedia\n");
    text.push_str(&title);
    text.push('\n');
    text.push_str("Other names");
    text.push_str(&capitalise(words.sample_between(&mut rng, 100, 50_000)));
    text.push_str(" disease\n");
    text.push_str("Specialty Dermatology  Edit this on Wikidata\n\n");

    // Paragraphs go to the lead and to sections; a section gets subsections now and then.
    let lead = rng.range(1, 2).min(paragraphs);
    for _ in 0..lead {
        push_paragraph(&mut text, words, &mut rng, references);
    }
    let mut remaining = paragraphs - lead;
    let mut section_index = 0;
    while remaining > 0 {
        let heading = SECTIONS[section_index % SECTIONS.len()];
        section_index += 1;
        text.push_str(heading);
        text.push_str("\n\n");
        let in_section = rng.range(1, 4).min(remaining);
        for position in 0..in_section {
            if position > 0 && rng.chance(0.4) {
                let subheading = capitalise(&format!(
                    "{} {}",
                    words.sample_between(&mut rng, 50, 20_000),
                    words.sample_between(&mut rng, 50, 20_000)
                ));
                text.push_str(&subheading);
                text.push_str("\n\n");
            }
            push_paragraph(&mut text, words, &mut rng, references);
        }
        remaining -= in_section;
    }

    text.push_str("References\n\n");
    for number in 1..=references {
        push_reference(&mut text, words, &mut rng, number);
    }
    text.push('\n');
    SynthArticle {
        text,
        body_paragraphs: paragraphs,
        references,
    }
}

fn capitalise(word: &str) -> String {
    let mut chars = word.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// 2 to 6 sentences of 6 to 28 words; most sentences end with one or two markers. Stays well
/// under the 1,500-byte passage limit, so one paragraph is one passage.
fn push_paragraph(text: &mut String, words: &WordDistribution, rng: &mut Rng, references: usize) {
    let start = text.len();
    let sentences = rng.range(2, 6);
    for sentence in 0..sentences {
        if text.len() - start > 900 {
            break;
        }
        if sentence > 0 {
            text.push(' ');
        }
        let length = rng.range(6, 28);
        for position in 0..length {
            let word = words.sample(rng);
            if position == 0 {
                text.push_str(&capitalise(word));
            } else {
                text.push(' ');
                text.push_str(word);
                if position + 1 < length && rng.chance(0.06) {
                    text.push(',');
                }
            }
        }
        text.push('.');
        if rng.chance(0.7) {
            let cited = rng.range(1, references.max(1));
            text.push_str(&format!(" [{cited}]"));
            if rng.chance(0.2) {
                text.push_str(&format!("[{}]", rng.range(1, references.max(1))));
            }
        }
    }
    text.push_str("\n\n");
}

/// `  3. ^ Surname, A.; Other, B. (2004). "Title". Journal. 12 (3): 45–67. doi: …. PMID  …`
fn push_reference(text: &mut String, words: &WordDistribution, rng: &mut Rng, number: usize) {
    let authors = rng.range(1, 4);
    let names: Vec<String> = (0..authors)
        .map(|_| {
            let surname = capitalise(words.sample_between(rng, 200, 400_000));
            let initial = (b'A' + (rng.next_u64() % 26) as u8) as char;
            format!("{surname}, {initial}.")
        })
        .collect();
    let title_length = rng.range(3, 10);
    let title_words: Vec<&str> = (0..title_length).map(|_| words.sample(rng)).collect();
    let journal = format!(
        "Journal of {} {}",
        capitalise(words.sample_between(rng, 20, 3_000)),
        capitalise(words.sample_between(rng, 20, 3_000))
    );
    let year = rng.range(1950, 2024);
    let volume = rng.range(1, 120);
    let issue = rng.range(1, 12);
    let first_page = rng.range(1, 900);
    let last_page = first_page + rng.range(1, 40);
    let pmid = rng.range(1_000_000, 39_999_999);
    text.push_str(&format!(
        "  {number}. ^ {} ({year}). \"{}\". {journal}. {volume} ({issue}): {first_page}–{last_page}. doi: 10.{}/j.{}.{year}.{pmid}. PMID\u{a0} {pmid}.\n",
        names.join("; "),
        capitalise(&title_words.join(" ")),
        rng.range(1000, 9999),
        words.sample_between(rng, 20, 3_000),
    ));
}

/// What [`write_corpus`] wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CorpusStats {
    pub articles: usize,
    pub body_paragraphs: usize,
    pub references: usize,
    pub bytes: u64,
}

impl CorpusStats {
    /// Passages in all: paragraphs and reference entries.
    pub fn passages(&self) -> usize {
        self.body_paragraphs + self.references
    }
}

/// The file name of article `index`.
pub fn article_path(corpus_dir: &Path, index: usize) -> PathBuf {
    corpus_dir.join(format!("synth-{index:07}.txt"))
}

/// Writes articles into `corpus_dir` until they hold `passages` passages in all (the last one
/// is cut to fit), on `options.threads` threads. Existing `synth-*.txt` files are replaced.
pub fn write_corpus(
    corpus_dir: &Path,
    passages: usize,
    words: &WordDistribution,
    options: &SynthOptions,
) -> std::io::Result<CorpusStats> {
    std::fs::create_dir_all(corpus_dir)?;
    // Plan the articles first: their shapes decide how many are needed.
    let mut budgets: Vec<Option<usize>> = Vec::new();
    let mut planned = 0;
    while planned < passages {
        let (paragraphs, references) = planned_shape(options, budgets.len() as u64);
        let left = passages - planned;
        // Never leave a single passage over: an article needs a paragraph and a reference.
        if paragraphs + references + 1 >= left {
            budgets.push(Some(left));
            planned = passages;
        } else {
            budgets.push(None);
            planned += paragraphs + references;
        }
    }
    let threads = options.threads.clamp(1, 64);
    let results: Vec<std::io::Result<CorpusStats>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|thread| {
                let budgets = &budgets;
                scope.spawn(move || -> std::io::Result<CorpusStats> {
                    let mut stats = CorpusStats::default();
                    for index in (thread..budgets.len()).step_by(threads) {
                        let article =
                            generate_article(words, options, index as u64, budgets[index]);
                        let mut file = std::io::BufWriter::new(std::fs::File::create(
                            article_path(corpus_dir, index),
                        )?);
                        file.write_all(article.text.as_bytes())?;
                        file.flush()?;
                        stats.articles += 1;
                        stats.body_paragraphs += article.body_paragraphs;
                        stats.references += article.references;
                        stats.bytes += article.text.len() as u64;
                    }
                    Ok(stats)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|handle| handle.join().expect("generator thread panicked"))
            .collect()
    });
    let mut total = CorpusStats::default();
    for result in results {
        let stats = result?;
        total.articles += stats.articles;
        total.body_paragraphs += stats.body_paragraphs;
        total.references += stats.references;
        total.bytes += stats.bytes;
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;
    use citebot_core::article::{parse_article, PassageLimits};

    fn words() -> WordDistribution {
        WordDistribution::from_seed_text(
            "Calcinosis cutis is an uncommon condition marked by calcium buildup in the skin",
            2_000,
            1.0,
        )
    }

    #[test]
    fn generated_articles_parse_into_the_planned_passages_without_warnings() {
        let words = words();
        let options = SynthOptions::default();
        for index in 0..20 {
            let article = generate_article(&words, &options, index, None);
            let parsed = parse_article("synth", &article.text, PassageLimits::default());
            assert_eq!(parsed.warnings, Vec::new(), "{}", article.text);
            assert_eq!(parsed.references.len(), article.references);
            assert_eq!(parsed.body_passages().count(), article.body_paragraphs);
            assert!(parsed.references.iter().all(|c| c.pmid.is_some()));
        }
    }

    #[test]
    fn the_same_options_give_the_same_text() {
        let words = words();
        let options = SynthOptions::default();
        let first = generate_article(&words, &options, 7, None);
        let second = generate_article(&words, &options, 7, None);
        assert_eq!(first.text, second.text);
    }

    #[test]
    fn pseudo_words_are_distinct() {
        let generated: std::collections::HashSet<String> = (0..50_000).map(pseudo_word).collect();
        assert_eq!(generated.len(), 50_000);
    }

    #[test]
    fn a_corpus_holds_exactly_the_passages_asked_for() {
        let folder = tempfile::tempdir().unwrap();
        let options = SynthOptions {
            threads: 2,
            ..SynthOptions::default()
        };
        let stats = write_corpus(folder.path(), 500, &words(), &options).unwrap();
        assert_eq!(stats.passages(), 500);
        let files = std::fs::read_dir(folder.path()).unwrap().count();
        assert_eq!(files, stats.articles);
    }
}
