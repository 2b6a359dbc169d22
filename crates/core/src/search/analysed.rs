//! A passage as ranking reads it: the stems of its words (whole, per sentence, in its headings
//! and title, adjacent pairs) as hashed ids.

use std::sync::Arc;

use tantivy::tokenizer::TokenStream;

use crate::passage::{Passage, PassageKind};
use crate::query;

/// A stem as a number: a 64-bit hash of its text. Re-ranking compares every word of the
/// question with every sentence of twenty passages; numbers make that cheap. Two different
/// stems sharing a hash (odds about 1 in 10¹⁹ a pair) would at worst make one word count as
/// the other in the ranking.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(super) struct StemId(pub(super) u64);

impl StemId {
    pub(super) fn of(stem: &str) -> StemId {
        use std::hash::{Hash, Hasher};
        // SipHash with fixed keys: stable for the life of the process, and not easy to
        // collide on purpose (the question is user input).
        let mut hasher = std::hash::DefaultHasher::new();
        stem.hash(&mut hasher);
        StemId(hasher.finish())
    }
}

/// A set of stems, as sorted ids: compact, and a lookup is a short binary search.
#[derive(Default)]
pub(super) struct StemSet(pub(super) Box<[StemId]>);

impl StemSet {
    pub(super) fn contains(&self, id: StemId) -> bool {
        self.0.binary_search(&id).is_ok()
    }
}

impl FromIterator<StemId> for StemSet {
    fn from_iter<I: IntoIterator<Item = StemId>>(iter: I) -> StemSet {
        let mut ids: Vec<StemId> = iter.into_iter().collect();
        ids.sort_unstable();
        ids.dedup();
        StemSet(ids.into_boxed_slice())
    }
}

/// A passage and the stems of its words, whole and per sentence.
pub struct AnalysedPassage {
    pub passage: Arc<Passage>,
    /// Stems of the text.
    pub(super) stems: StemSet,
    /// Stems of the section headings and the title, which name a topic without saying
    /// anything about it: a match there counts for less than one in the text.
    pub(super) heading_stems: StemSet,
    /// Stems of each sentence.
    pub(super) sentence_stems: Vec<StemSet>,
    /// The passage only introduces a list that the plain-text copy lost ("such as: [3]").
    pub(super) is_lost_list_intro: bool,
    /// Stems of the article's title.
    pub(super) title_stems: StemSet,
    /// Adjacent pairs of informative words (stop words skipped), as ids: a question's
    /// "renal failure" held as a phrase says more than both words somewhere in the passage.
    pub(super) bigrams: StemSet,
    /// Words in the text.
    pub(super) words: usize,
    /// The passage's place in the index (its document ordinal), which keys its embedding.
    pub(super) ordinal: Option<u64>,
}

/// Calls `each` with every stem of `text`, with the index's own analyzer.
fn for_each_stem(text: &str, mut each: impl FnMut(&str)) {
    query::with_analyzer(|analyzer| {
        let mut stream = analyzer.token_stream(text);
        while stream.advance() {
            each(&stream.token().text);
        }
    });
}

pub(super) fn stem_set(texts: &[&str]) -> StemSet {
    let mut ids = Vec::new();
    for text in texts {
        for_each_stem(text, |stem| ids.push(StemId::of(stem)));
    }
    ids.into_iter().collect()
}

/// The id of an adjacent pair of stems.
pub(super) fn bigram_id(first: StemId, second: StemId) -> StemId {
    StemId(first.0.rotate_left(21) ^ second.0.wrapping_mul(0x9E37_79B9_7F4A_7C15))
}

pub(super) fn analyse_passage(passage: Passage, ordinal: Option<u64>) -> AnalysedPassage {
    // One pass over the text: each word goes to the text's set and to its sentence's set.
    // References keep their text as is (as the index does: see `index::searchable_text`).
    let text = match passage.kind {
        PassageKind::Body | PassageKind::Note => crate::article::blank_markers(&passage.text),
        PassageKind::Reference(_) => passage.text.clone(),
    };
    let mut text_ids = Vec::new();
    let mut bigram_ids = Vec::new();
    let mut previous: Option<StemId> = None;
    let mut sentence_ids: Vec<Vec<StemId>> = vec![Vec::new(); passage.sentences.len()];
    let mut sentence = 0;
    query::with_analyzer(|analyzer| {
        let mut stream = analyzer.token_stream(&text);
        while stream.advance() {
            let token = stream.token();
            let id = StemId::of(&token.text);
            text_ids.push(id);
            if !query::is_stop_stem(&token.text) {
                if let Some(before) = previous {
                    bigram_ids.push(bigram_id(before, id));
                }
                previous = Some(id);
            }
            while passage
                .sentences
                .get(sentence)
                .is_some_and(|s| token.offset_from >= s.end)
            {
                sentence += 1;
            }
            if let Some(ids) = sentence_ids.get_mut(sentence) {
                if token.offset_from >= passage.sentences[sentence].start {
                    ids.push(id);
                }
            }
        }
    });
    let headings = passage.section_path.0.join(" ");
    let is_lost_list_intro = text.trim_end().ends_with(':');
    AnalysedPassage {
        words: text_ids.len(),
        bigrams: bigram_ids.into_iter().collect(),
        ordinal,
        stems: text_ids.into_iter().collect(),
        heading_stems: stem_set(&[&headings, &passage.article_title]),
        title_stems: stem_set(&[&passage.article_title]),
        sentence_stems: sentence_ids.into_iter().map(StemSet::from_iter).collect(),
        is_lost_list_intro,
        passage: Arc::new(passage),
    }
}
