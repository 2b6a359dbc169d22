//! The analyzer every text field and every question goes through (words, lowercased, accents
//! folded, English stems), with the cached normal form that makes indexing cheap.

use rustc_hash::FxHashMap;
use tantivy::tokenizer::{
    AsciiFoldingFilter, Language, LowerCaser, RawTokenizer, RemoveLongFilter, SimpleTokenizer,
    Stemmer, TextAnalyzer, Token, TokenFilter, TokenStream, Tokenizer,
};

/// The analyzer every text field and every question goes through: words, lowercased, accents
/// folded ("Kérob" → "kerob"), English stems ("nodules" → "nodul").
pub const TOKENIZER: &str = "citebot_en";

/// Words whose normal form an analyzer remembers (per field and indexing thread): Zipf's law
/// makes most tokens repeats, and stemming is the costliest step of analysis.
const NORMAL_FORM_CACHE: usize = 16_384;

/// Builds the analyzer registered as [`TOKENIZER`].
pub fn analyzer() -> TextAnalyzer {
    TextAnalyzer::builder(SimpleTokenizer::default())
        .filter(RemoveLongFilter::limit(40))
        .filter(NormalForm)
        .build()
}

/// The stems of `text`, in order, as `analyzer` makes them.
pub(crate) fn stems(analyzer: &mut TextAnalyzer, text: &str) -> Vec<String> {
    let mut stream = analyzer.token_stream(text);
    let mut out = Vec::new();
    while stream.advance() {
        out.push(stream.token().text.clone());
    }
    out
}

/// What one token becomes in general: lowercased, accents folded, stemmed. [`NormalForm`]
/// uses it for words with non-ASCII letters; applied to a single token it gives exactly what
/// these filters give in a token chain.
fn normal_form_analyzer() -> TextAnalyzer {
    TextAnalyzer::builder(RawTokenizer::default())
        .filter(LowerCaser)
        .filter(AsciiFoldingFilter)
        .filter(Stemmer::new(Language::English))
        .build()
}

/// `LowerCaser`, `AsciiFoldingFilter` and the English `Stemmer`, with the same output, made
/// cheaper for indexing: an ASCII word is lowercased in place (folding leaves ASCII alone)
/// and stemmed through a cache of the words already seen (Zipf's law makes most tokens
/// repeats, and stemming was a fifth of the build's CPU).
#[derive(Clone, Copy)]
struct NormalForm;

impl TokenFilter for NormalForm {
    type Tokenizer<T: Tokenizer> = NormalFormFilter<T>;

    fn transform<T: Tokenizer>(self, inner: T) -> NormalFormFilter<T> {
        NormalFormFilter {
            inner,
            cache: FxHashMap::default(),
            general: normal_form_analyzer(),
        }
    }
}

struct NormalFormFilter<T> {
    inner: T,
    /// Lowercase ASCII word → its stem.
    cache: FxHashMap<Box<str>, Box<str>>,
    general: TextAnalyzer,
}

impl<T: Clone> Clone for NormalFormFilter<T> {
    fn clone(&self) -> Self {
        // A clone serves another field or thread: it starts with its own, empty, cache.
        NormalFormFilter {
            inner: self.inner.clone(),
            cache: FxHashMap::default(),
            general: self.general.clone(),
        }
    }
}

impl<T: Tokenizer> Tokenizer for NormalFormFilter<T> {
    type TokenStream<'a> = NormalFormStream<'a, T::TokenStream<'a>>;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> Self::TokenStream<'a> {
        NormalFormStream {
            tail: self.inner.token_stream(text),
            cache: &mut self.cache,
            general: &mut self.general,
        }
    }
}

struct NormalFormStream<'a, T> {
    tail: T,
    cache: &'a mut FxHashMap<Box<str>, Box<str>>,
    general: &'a mut TextAnalyzer,
}

impl<T: TokenStream> TokenStream for NormalFormStream<'_, T> {
    fn advance(&mut self) -> bool {
        if !self.tail.advance() {
            return false;
        }
        let token = self.tail.token_mut();
        if !token.text.is_ascii() {
            let mut stream = self.general.token_stream(&token.text);
            let normal = if stream.advance() {
                Some(std::mem::take(&mut stream.token_mut().text))
            } else {
                None
            };
            drop(stream);
            if let Some(normal) = normal {
                token.text = normal;
            }
            return true;
        }
        token.text.make_ascii_lowercase();
        if let Some(stem) = self.cache.get(token.text.as_str()) {
            token.text.clear();
            token.text.push_str(stem);
            return true;
        }
        let stemmed: String = english_stemmer().stem(&token.text).into_owned();
        if self.cache.len() < NORMAL_FORM_CACHE {
            self.cache
                .insert(token.text.as_str().into(), stemmed.as_str().into());
        }
        token.text = stemmed;
        true
    }

    fn token(&self) -> &Token {
        self.tail.token()
    }

    fn token_mut(&mut self) -> &mut Token {
        self.tail.token_mut()
    }
}

fn english_stemmer() -> &'static rust_stemmers::Stemmer {
    static STEMMER: std::sync::OnceLock<rust_stemmers::Stemmer> = std::sync::OnceLock::new();
    STEMMER.get_or_init(|| rust_stemmers::Stemmer::create(rust_stemmers::Algorithm::English))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cached_analyzer_gives_what_the_filter_chain_gives() {
        let mut chain = TextAnalyzer::builder(SimpleTokenizer::default())
            .filter(RemoveLongFilter::limit(40))
            .filter(LowerCaser)
            .filter(AsciiFoldingFilter)
            .filter(Stemmer::new(Language::English))
            .build();
        let mut cached = analyzer();
        let text = "Nodules NODULES nodules nodule Kérob Æsthetic naïve ÉCOLE Straße İstanbul \
                    calcinosis Calcinosis CUTIS 2004 x9 running Runner's diltiazem's \
                    antimicrotubule Colchicine colchicine ﬁnal supercalifragilisticexpialidocious-words";
        // Twice: the second pass is served by the cache.
        for _ in 0..2 {
            assert_eq!(stems(&mut cached, text), stems(&mut chain, text));
        }
        let mut clone = cached.clone();
        assert_eq!(stems(&mut clone, text), stems(&mut chain, text));
    }
}
