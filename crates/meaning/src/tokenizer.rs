//! BERT's tokenizer, as the model's tokenizer.json describes it: the BERT normaliser (clean
//! the text, space out CJK ideographs, strip accents, lower-case), the BERT pre-tokenizer
//! (split at whitespace and punctuation), WordPiece (greedy longest match against the
//! vocabulary, "##" before a word's later pieces), and the [CLS] … [SEP] template.
//!
//! Why not Hugging Face's `tokenizers` crate, which reads the same file: it is general (a
//! dozen normalisers, models and templates, each behind serde's untagged enums), and reading
//! tokenizer.json through it took ~32 ms of every `citebot ask` (whose whole budget is 50 ms)
//! and a hundred crates of every build. This reads the one pipeline all-MiniLM-L6-v2 uses in
//! about a millisecond, refuses any other with a clear message, and is held to give the same
//! ids as `tokenizers` by `crates/meaning/tests/it/meaning.rs`, which replays ids that Hugging Face's
//! tokenizer gave for the corpus, every shared question and awkward text
//! (`tests/fixtures/wordpiece_ids.py` wrote them).

use std::collections::HashMap;

use rustc_hash::FxHashMap;
use serde::Deserialize;
use unicode_categories::UnicodeCategories;
use unicode_normalization::UnicodeNormalization;

/// A tokenizer.json of the BERT kind, ready to turn text into the model's token ids.
pub(super) struct WordPiece {
    /// Fx-hashed: the 30,522 entries are read on every start (SipHash made that ~5 ms of a
    /// one-off `citebot ask`), and the keys come from the model's own file.
    vocabulary: FxHashMap<String, u32>,
    unknown: u32,
    /// [CLS] and [SEP]: the template's first and last tokens.
    first: u32,
    last: u32,
    /// Added tokens matched in the raw text before anything else ("[SEP]" typed in a
    /// question is the separator, as in `tokenizers`), longest first.
    specials: Vec<(String, u32)>,
    continuation: String,
    max_word_chars: usize,
    normaliser: Normaliser,
}

/// A text's token ids, and for each whether it is a piece of a word.
#[derive(Debug, Default, Clone, PartialEq)]
pub(super) struct Encoding {
    pub(super) ids: Vec<u32>,
    pub(super) word: Vec<bool>,
}

/// The BERT normaliser's switches (tokenizer.json's `normalizer`).
#[derive(Debug, Clone, Copy)]
struct Normaliser {
    clean_text: bool,
    chinese_chars: bool,
    strip_accents: bool,
    lowercase: bool,
}

impl WordPiece {
    /// Reads tokenizer.json's text. The error says what part of the file is not the BERT
    /// pipeline this implements.
    pub(super) fn from_json(text: &str) -> Result<WordPiece, String> {
        let file: File =
            serde_json::from_str(text).map_err(|error| format!("not a tokenizer: {error}"))?;

        let normaliser = match file.normalizer {
            Some(NormaliserFile {
                kind,
                clean_text,
                handle_chinese_chars,
                strip_accents,
                lowercase,
            }) if kind == "BertNormalizer" => Normaliser {
                clean_text,
                chinese_chars: handle_chinese_chars,
                strip_accents: strip_accents.unwrap_or(lowercase),
                lowercase,
            },
            Some(other) => return Err(unsupported("normalizer", &other.kind)),
            None => return Err(unsupported("normalizer", "none")),
        };
        match file.pre_tokenizer {
            Some(Typed { kind }) if kind == "BertPreTokenizer" => {}
            Some(Typed { kind }) => return Err(unsupported("pre_tokenizer", &kind)),
            None => return Err(unsupported("pre_tokenizer", "none")),
        }
        let model = file.model;
        if model.kind != "WordPiece" {
            return Err(unsupported("model", &model.kind));
        }
        let unknown = *model.vocab.get(&model.unk_token).ok_or_else(|| {
            format!(
                "its unknown token {:?} is not in the vocabulary",
                model.unk_token
            )
        })?;

        let mut specials = Vec::new();
        for token in file.added_tokens {
            if token.normalized || token.single_word || token.lstrip || token.rstrip {
                return Err(format!(
                    "added token {:?} is matched with normalisation, whole words or stripping, \
                     which citebot's BERT tokenizer does not implement",
                    token.content
                ));
            }
            if !token.content.is_empty() {
                specials.push((token.content, token.id));
            }
        }
        // Leftmost-longest matching, as `tokenizers` does: at one place, the longest wins.
        specials.sort_by(|a, b| b.0.len().cmp(&a.0.len()).then_with(|| a.0.cmp(&b.0)));

        let (first, last) = template_ends(file.post_processor, &model.vocab)?;
        Ok(WordPiece {
            vocabulary: model.vocab,
            unknown,
            first,
            last,
            specials,
            continuation: model.continuing_subword_prefix,
            max_word_chars: model.max_input_chars_per_word,
            normaliser,
        })
    }

    /// One past the largest id this can give: the model's embedding table must have at
    /// least this many rows.
    /// [CLS]: a sequence's first token.
    pub(super) fn first_id(&self) -> u32 {
        self.first
    }

    /// [SEP]: a sequence's last token, and the separator between a pair's two texts.
    pub(super) fn last_id(&self) -> u32 {
        self.last
    }

    pub(super) fn id_limit(&self) -> usize {
        let largest = self
            .vocabulary
            .values()
            .chain(self.specials.iter().map(|(_, id)| id))
            .chain([&self.unknown, &self.first, &self.last])
            .max()
            .copied()
            .unwrap_or(0);
        largest as usize + 1
    }

    /// The ids the model sees for `text`: [CLS], the text's pieces cut so that the whole is
    /// at most `max_tokens` long (`max_tokens` ≥ 2), [SEP]. Any text is accepted.
    pub(super) fn ids(&self, text: &str, max_tokens: usize) -> Vec<u32> {
        self.encode(text, max_tokens).ids
    }

    /// [`WordPiece::ids`], with which of them are pieces of a word: not [CLS] or [SEP], not
    /// an added token typed in the text, not a mark of punctuation (token matching compares
    /// words, and every passage has commas).
    pub(super) fn encode(&self, text: &str, max_tokens: usize) -> Encoding {
        let room = max_tokens.saturating_sub(2);
        let mut pieces = Encoding::default();
        let mut rest = text;
        while !rest.is_empty() && pieces.ids.len() < room {
            match self.next_special(rest) {
                Some((at, length, id)) => {
                    self.push_plain(&rest[..at], &mut pieces, room);
                    if pieces.ids.len() < room {
                        pieces.ids.push(id);
                        pieces.word.push(false);
                    }
                    rest = &rest[at + length..];
                }
                None => {
                    self.push_plain(rest, &mut pieces, room);
                    rest = "";
                }
            }
        }
        pieces.ids.truncate(room);
        pieces.word.truncate(room);
        let mut encoding = Encoding {
            ids: Vec::with_capacity(pieces.ids.len() + 2),
            word: Vec::with_capacity(pieces.ids.len() + 2),
        };
        encoding.ids.push(self.first);
        encoding.word.push(false);
        encoding.ids.extend(pieces.ids);
        encoding.word.extend(pieces.word);
        encoding.ids.push(self.last);
        encoding.word.push(false);
        encoding
    }

    /// The first added token in `text`: its byte offset, length and id.
    fn next_special(&self, text: &str) -> Option<(usize, usize, u32)> {
        let mut best: Option<(usize, usize, u32)> = None;
        for (content, id) in &self.specials {
            if let Some(at) = text.find(content.as_str()) {
                // Earlier wins; at the same place the longer (specials are longest first).
                if best.is_none_or(|(best_at, _, _)| at < best_at) {
                    best = Some((at, content.len(), *id));
                }
            }
        }
        best
    }

    /// Normalises a stretch of text holding no added token and appends its pieces' ids,
    /// stopping once `room` are there.
    fn push_plain(&self, text: &str, pieces: &mut Encoding, room: usize) {
        let normalised = self.normaliser.apply(text);
        for word in pre_tokenize(&normalised) {
            if pieces.ids.len() >= room {
                return;
            }
            self.push_word(word, &mut pieces.ids);
            let is_word = word.chars().any(char::is_alphanumeric);
            pieces.word.resize(pieces.ids.len(), is_word);
        }
    }

    /// WordPiece on one word: the longest vocabulary entry from the word's start, then the
    /// longest "##" entry from where it ended, and so on; a word with a part no entry covers,
    /// or longer than `max_word_chars`, is one unknown token.
    fn push_word(&self, word: &str, pieces: &mut Vec<u32>) {
        if word.chars().count() > self.max_word_chars {
            pieces.push(self.unknown);
            return;
        }
        let before = pieces.len();
        let mut start = 0;
        let mut candidate = String::new();
        while start < word.len() {
            let mut end = word.len();
            let mut found = None;
            while start < end {
                candidate.clear();
                if start > 0 {
                    candidate.push_str(&self.continuation);
                }
                candidate.push_str(&word[start..end]);
                if let Some(&id) = self.vocabulary.get(candidate.as_str()) {
                    found = Some(id);
                    break;
                }
                end -= word[start..end]
                    .chars()
                    .next_back()
                    .map_or(1, char::len_utf8);
            }
            match found {
                Some(id) => {
                    pieces.push(id);
                    start = end;
                }
                None => {
                    pieces.truncate(before);
                    pieces.push(self.unknown);
                    return;
                }
            }
        }
    }
}

impl Normaliser {
    /// The BERT normaliser, in its order: clean, space out CJK, strip accents, lower-case.
    fn apply(&self, text: &str) -> String {
        let mut normalised = String::with_capacity(text.len() + 8);
        for c in text.chars() {
            if self.clean_text {
                if c == '\0' || c == '\u{fffd}' || is_control(c) {
                    continue;
                }
                if is_whitespace(c) {
                    normalised.push(' ');
                    continue;
                }
            }
            if self.chinese_chars && is_chinese_char(c) {
                normalised.push(' ');
                normalised.push(c);
                normalised.push(' ');
            } else {
                normalised.push(c);
            }
        }
        if self.strip_accents {
            normalised = normalised
                .nfd()
                .filter(|c| !c.is_mark_nonspacing())
                .collect();
        }
        if self.lowercase {
            normalised = normalised.chars().flat_map(char::to_lowercase).collect();
        }
        normalised
    }
}

/// The BERT pre-tokenizer: words split at whitespace (dropped) and punctuation (each mark a
/// word of its own).
fn pre_tokenize(text: &str) -> impl Iterator<Item = &str> {
    text.split(char::is_whitespace).flat_map(|chunk| {
        let mut words = Vec::new();
        let mut start = 0;
        for (at, c) in chunk.char_indices() {
            if is_punctuation(c) {
                if start < at {
                    words.push(&chunk[start..at]);
                }
                words.push(&chunk[at..at + c.len_utf8()]);
                start = at + c.len_utf8();
            }
        }
        if start < chunk.len() {
            words.push(&chunk[start..]);
        }
        words
    })
}

/// Tab, newline and carriage return count as whitespace, not control characters (BERT's
/// definitions, kept as `tokenizers` has them).
fn is_whitespace(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r') || c.is_whitespace()
}

fn is_control(c: char) -> bool {
    !matches!(c, '\t' | '\n' | '\r') && c.is_other()
}

fn is_punctuation(c: char) -> bool {
    c.is_ascii_punctuation() || c.is_punctuation()
}

/// The CJK Unified Ideographs blocks (not Hangul, Hiragana or Katakana, which are written
/// with spaces between words).
fn is_chinese_char(c: char) -> bool {
    matches!(
        u32::from(c),
        0x4E00..=0x9FFF
            | 0x3400..=0x4DBF
            | 0x20000..=0x2A6DF
            | 0x2A700..=0x2B73F
            | 0x2B740..=0x2B81F
            | 0x2B920..=0x2CEAF
            | 0xF900..=0xFAFF
            | 0x2F800..=0x2FA1F
    )
}

fn unsupported(part: &str, kind: &str) -> String {
    format!(
        "its {part} is {kind:?}; citebot reads BERT tokenizers only (BertNormalizer, \
         BertPreTokenizer, WordPiece, a [CLS] $A [SEP] template)"
    )
}

/// The ids of the template's first and last special tokens: TemplateProcessing's `single`
/// must be `[CLS] $A [SEP]` (any two special tokens), or BertProcessing's `cls` and `sep`.
fn template_ends(
    post_processor: Option<PostProcessorFile>,
    vocabulary: &FxHashMap<String, u32>,
) -> Result<(u32, u32), String> {
    let id_of = |name: &str| {
        vocabulary
            .get(name)
            .copied()
            .ok_or_else(|| format!("its template's token {name:?} is not in the vocabulary"))
    };
    match post_processor {
        Some(PostProcessorFile::TemplateProcessing {
            single,
            special_tokens,
        }) => match single.as_slice() {
            [TemplatePiece::SpecialToken { id: first }, TemplatePiece::Sequence { id: sequence }, TemplatePiece::SpecialToken { id: last }]
                if sequence == "A" =>
            {
                let special = |name: &String| match special_tokens.get(name) {
                    Some(SpecialTokenFile { ids }) if ids.len() == 1 => Ok(ids[0]),
                    Some(_) => Err(format!("its template's token {name:?} is not one id")),
                    None => id_of(name),
                };
                Ok((special(first)?, special(last)?))
            }
            _ => Err(
                "its post_processor's single template is not [CLS] $A [SEP], the BERT one"
                    .to_owned(),
            ),
        },
        Some(PostProcessorFile::BertProcessing { cls, sep }) => Ok((cls.1, sep.1)),
        Some(PostProcessorFile::Other) | None => Err(
            "its post_processor is not TemplateProcessing or BertProcessing with [CLS] … [SEP]"
                .to_owned(),
        ),
    }
}

// tokenizer.json, the parts this reads (serde ignores the rest: truncation and padding are
// citebot's own, see MeaningModel).

#[derive(Deserialize)]
struct File {
    #[serde(default)]
    added_tokens: Vec<AddedTokenFile>,
    normalizer: Option<NormaliserFile>,
    pre_tokenizer: Option<Typed>,
    #[serde(default, deserialize_with = "post_processor_or_other")]
    post_processor: Option<PostProcessorFile>,
    model: ModelFile,
}

#[derive(Deserialize)]
struct AddedTokenFile {
    id: u32,
    content: String,
    #[serde(default)]
    single_word: bool,
    #[serde(default)]
    lstrip: bool,
    #[serde(default)]
    rstrip: bool,
    #[serde(default)]
    normalized: bool,
}

#[derive(Deserialize)]
struct Typed {
    #[serde(rename = "type")]
    kind: String,
}

#[derive(Deserialize)]
struct NormaliserFile {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    clean_text: bool,
    #[serde(default)]
    handle_chinese_chars: bool,
    #[serde(default)]
    strip_accents: Option<bool>,
    #[serde(default)]
    lowercase: bool,
}

#[derive(Deserialize)]
#[serde(tag = "type")]
enum PostProcessorFile {
    TemplateProcessing {
        single: Vec<TemplatePiece>,
        #[serde(default)]
        special_tokens: HashMap<String, SpecialTokenFile>,
    },
    BertProcessing {
        cls: (String, u32),
        sep: (String, u32),
    },
    #[serde(other)]
    Other,
}

/// A post_processor of an unknown shape reads as `Other` (refused with a message) rather
/// than failing the whole file with serde's.
fn post_processor_or_other<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<PostProcessorFile>, D::Error> {
    let value = Option::<serde_json::Value>::deserialize(deserializer)?;
    Ok(value.map(|value| serde_json::from_value(value).unwrap_or(PostProcessorFile::Other)))
}

#[derive(Deserialize)]
enum TemplatePiece {
    SpecialToken { id: String },
    Sequence { id: String },
}

#[derive(Deserialize)]
struct SpecialTokenFile {
    ids: Vec<u32>,
}

#[derive(Deserialize)]
struct ModelFile {
    #[serde(rename = "type")]
    kind: String,
    unk_token: String,
    #[serde(default = "default_continuation")]
    continuing_subword_prefix: String,
    #[serde(default = "default_max_word_chars")]
    max_input_chars_per_word: usize,
    #[serde(deserialize_with = "vocabulary")]
    vocab: FxHashMap<String, u32>,
}

/// The vocabulary as a map sized for BERT's 30,522 entries from the start. Why: serde fills a
/// map from JSON without knowing its length, so the default grows it from nothing, rehashing
/// every key a dozen times: a fifth of the model's load time (perf, 2.6 ms a process).
fn vocabulary<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<FxHashMap<String, u32>, D::Error> {
    struct Entries;
    impl<'de> serde::de::Visitor<'de> for Entries {
        type Value = FxHashMap<String, u32>;

        fn expecting(&self, formatter: &mut std::fmt::Formatter) -> std::fmt::Result {
            formatter.write_str("an object of tokens and their ids")
        }

        fn visit_map<A: serde::de::MapAccess<'de>>(
            self,
            mut map: A,
        ) -> Result<Self::Value, A::Error> {
            const BERT_VOCABULARY: usize = 30_522;
            let capacity = map.size_hint().unwrap_or(BERT_VOCABULARY);
            let mut entries = FxHashMap::with_capacity_and_hasher(capacity, Default::default());
            while let Some((token, id)) = map.next_entry::<String, u32>()? {
                entries.insert(token, id);
            }
            Ok(entries)
        }
    }
    deserializer.deserialize_map(Entries)
}

fn default_continuation() -> String {
    "##".to_owned()
}

fn default_max_word_chars() -> usize {
    100
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small BERT tokenizer.json: the model's own is checked by
    /// tests/it/meaning.rs (against the ids Hugging Face's tokenizer gives).
    fn small() -> WordPiece {
        let vocabulary = [
            "[PAD]", "[UNK]", "[CLS]", "[SEP]", "the", "cal", "##cin", "##osis", "skin", ",", "!",
            "cafe", "a", "##b", "中",
        ];
        let vocab: serde_json::Map<String, serde_json::Value> = vocabulary
            .iter()
            .enumerate()
            .map(|(id, token)| (token.to_string(), serde_json::json!(id)))
            .collect();
        let file = serde_json::json!({
            "added_tokens": [
                {"id": 0, "content": "[PAD]", "special": true, "single_word": false, "lstrip": false, "rstrip": false, "normalized": false},
                {"id": 3, "content": "[SEP]", "special": true, "single_word": false, "lstrip": false, "rstrip": false, "normalized": false}
            ],
            "normalizer": {"type": "BertNormalizer", "clean_text": true, "handle_chinese_chars": true, "strip_accents": null, "lowercase": true},
            "pre_tokenizer": {"type": "BertPreTokenizer"},
            "post_processor": {"type": "TemplateProcessing",
                "single": [{"SpecialToken": {"id": "[CLS]", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}, {"SpecialToken": {"id": "[SEP]", "type_id": 0}}],
                "special_tokens": {"[CLS]": {"id": "[CLS]", "ids": [2], "tokens": ["[CLS]"]}, "[SEP]": {"id": "[SEP]", "ids": [3], "tokens": ["[SEP]"]}}},
            "model": {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##", "max_input_chars_per_word": 12, "vocab": vocab}
        });
        WordPiece::from_json(&file.to_string()).expect("the small tokenizer reads")
    }

    #[test]
    fn words_split_into_the_longest_pieces_with_accents_case_and_punctuation_handled() {
        let tokenizer = small();
        // calcinosis → cal ##cin ##osis; "Café" → cafe; "," and "!" alone; abb → a ##b ##b.
        assert_eq!(
            tokenizer.ids("The CALCINOSIS, Café skin! abb", 64),
            [2, 4, 5, 6, 7, 9, 11, 8, 10, 12, 13, 13, 3]
        );
    }

    #[test]
    fn pieces_of_words_are_told_from_marks_separators_and_added_tokens() {
        let tokenizer = small();
        let encoding = tokenizer.encode("Calcinosis, skin! [SEP]the", 64);
        assert_eq!(encoding.ids, [2, 5, 6, 7, 9, 8, 10, 3, 4, 3]);
        assert_eq!(
            encoding.word,
            [false, true, true, true, false, true, false, false, true, false]
        );
    }

    #[test]
    fn a_word_with_an_uncovered_part_or_too_long_is_one_unknown_token() {
        let tokenizer = small();
        assert_eq!(tokenizer.ids("calx the", 64), [2, 1, 4, 3]);
        assert_eq!(tokenizer.ids("abbbbbbbbbbbbbbb", 64), [2, 1, 3]);
    }

    #[test]
    fn control_characters_go_cjk_is_spaced_out_and_added_tokens_match_raw_text() {
        let tokenizer = small();
        assert_eq!(tokenizer.ids("the\u{0}\u{200b}skin", 64), [2, 1, 3]);
        assert_eq!(tokenizer.ids("the中skin", 64), [2, 4, 14, 8, 3]);
        assert_eq!(
            tokenizer.ids("the[SEP]skin[sep]", 64),
            [2, 4, 3, 8, 1, 1, 1, 3]
        );
    }

    #[test]
    fn long_texts_are_cut_to_the_limit_with_the_template_kept() {
        let tokenizer = small();
        let ids = tokenizer.ids(&"the skin ".repeat(100), 10);
        assert_eq!(ids.len(), 10);
        assert_eq!((ids[0], ids[9]), (2, 3));
        assert_eq!(tokenizer.ids("", 10), [2, 3]);
    }

    #[test]
    fn other_pipelines_are_refused_by_name() {
        let file = r#"{"normalizer": {"type": "NFKC"}, "pre_tokenizer": {"type": "ByteLevel"},
            "model": {"type": "BPE", "unk_token": "<unk>", "vocab": {}}}"#;
        let message = WordPiece::from_json(file).err().expect("refused");
        assert!(message.contains("normalizer is \"NFKC\""), "{message}");
        assert!(WordPiece::from_json("{").is_err());
    }
}
