//! A generation's passage embeddings, the meaning step's half of the index: every passage's
//! sentence embedding (`crates/meaning/`), computed when the index is rebuilt, stored beside
//! tantivy's files as `embeddings.bin`, and compared with a question's embedding when it is
//! asked. The result, [`QuestionMeaning`], is what ranking sees: the similarity of the
//! question to each passage and the passages nearest to it.
//!
//! Beside it, `tokens.bin` keeps every passage's [`TokenVectors`] (its word pieces in context,
//! 8 bits a value with a scale per piece): token matching compares them with the question's,
//! piece by piece, as features of the final ordering ([`crate::ranker::TokenMatch`]).
//!
//! The files are keyed by document ordinal (file order, fixed at rebuild), so they never depend
//! on how tantivy laid out its segments. Brute-force cosine over every passage is exact and
//! costs ~0.1 ms per thousand passages; a corpus of millions of passages would want an
//! approximate index instead, and turns the meaning step off (`[meaning] enabled = false`).

use std::io::Write;
use std::path::Path;

use tantivy::{DocAddress, Searcher};

use crate::error::{Error, Result};
use crate::meaning::{MeaningModel, TokenVectors, DIMENSIONS};
use crate::passage::{Passage, PassageKind};
use crate::ranker::TokenMatch;

/// The file's name inside a generation folder.
pub const FILE: &str = "embeddings.bin";
/// The passages' token vectors, inside a generation folder.
pub const TOKENS_FILE: &str = "tokens.bin";

const MAGIC: &[u8; 8] = b"CBEMBED1";
const TOKENS_MAGIC: &[u8; 8] = b"CBTOKEN2";

/// How many passages nearest in meaning join BM25's candidates.
pub const NEAREST: usize = 10;

/// The embeddings of one generation, by document ordinal.
pub struct Embeddings {
    dimension: usize,
    /// `dimension` values per ordinal; zeros where the ordinal is not a passage.
    vectors: Vec<f32>,
    present: Vec<bool>,
    /// Where each ordinal's document is in this generation's tantivy index.
    addresses: Vec<Option<DocAddress>>,
    tokens: TokenStore,
}

/// A text's [`TokenVectors`] in 8 bits a value: each piece's vector divided by its largest
/// magnitude and rounded to -127..=127, with that magnitude kept. A cosine computed from it is
/// within about 0.01 of the exact one, and a passage of 130 pieces takes 51 KB, not 200.
#[derive(Debug, Clone, Default, PartialEq)]
struct QuantisedTokens {
    ids: Vec<u32>,
    scales: Vec<f32>,
    values: Vec<i8>,
}

impl QuantisedTokens {
    fn of(tokens: &TokenVectors) -> QuantisedTokens {
        let mut out = QuantisedTokens::default();
        for index in 0..tokens.len() {
            let row = tokens.row(index);
            let largest = row.iter().fold(0.0f32, |m, v| m.max(v.abs()));
            out.ids.push(tokens.ids[index]);
            out.scales.push(largest);
            let factor = if largest > 0.0 { 127.0 / largest } else { 0.0 };
            out.values.extend(
                row.iter()
                    .map(|v| (v * factor).round().clamp(-127.0, 127.0) as i8),
            );
        }
        out
    }

    /// Appends the encoding used in the cache and in [`TOKENS_FILE`]: the count, then each
    /// piece's id, scale and values.
    fn encode(&self, bytes: &mut Vec<u8>) {
        bytes.extend_from_slice(&(self.ids.len() as u32).to_le_bytes());
        for (index, (id, scale)) in self.ids.iter().zip(&self.scales).enumerate() {
            bytes.extend_from_slice(&id.to_le_bytes());
            bytes.extend_from_slice(&scale.to_le_bytes());
            bytes.extend(
                self.values[index * DIMENSIONS..(index + 1) * DIMENSIONS]
                    .iter()
                    .map(|&v| v as u8),
            );
        }
    }

    /// Reads [`QuantisedTokens::encode`]'s bytes from the start of `bytes`; returns them and
    /// how many bytes they took, or `None` when the bytes are cut short or malformed.
    fn decode(bytes: &[u8]) -> Option<(QuantisedTokens, usize)> {
        let count = u32::from_le_bytes(bytes.get(..4)?.try_into().ok()?) as usize;
        let piece = 8 + DIMENSIONS;
        let end = count.checked_mul(piece)?.checked_add(4)?;
        let body = bytes.get(4..end)?;
        let mut out = QuantisedTokens {
            ids: Vec::with_capacity(count),
            scales: Vec::with_capacity(count),
            values: Vec::with_capacity(count * DIMENSIONS),
        };
        for chunk in body.chunks_exact(piece) {
            out.ids
                .push(u32::from_le_bytes(chunk[..4].try_into().ok()?));
            let scale = f32::from_le_bytes(chunk[4..8].try_into().ok()?);
            if !scale.is_finite() || scale < 0.0 {
                return None;
            }
            out.scales.push(scale);
            out.values.extend(chunk[8..].iter().map(|&b| b as i8));
        }
        Some((out, end))
    }
}

/// Every passage's quantised token vectors by ordinal, and the rarity of each word piece
/// among the passages: a piece in every passage (the article's title) says nothing of which
/// passage answers.
///
/// [`TOKENS_FILE`] is memory-mapped, not read: a one-off `citebot ask` would otherwise copy
/// the whole file (25 KB a passage) into fresh pages, each a page fault, for the 20-odd
/// passages a question compares. The layout keeps opening to a header and an offset table:
///
/// ```text
/// "CBTOKEN2"  dimension u32  ordinals u64  pieces-with-a-rarity u32  passages u32
/// offsets     (ordinals + 1) × u64   where each ordinal's record starts; the last is the end
/// rarities    pieces × (id u32, idf f32), by id
/// records     per ordinal: n ids u32, n scales f32, n × dimension values i8
/// ```
struct TokenStore {
    bytes: StoreBytes,
    ordinals: usize,
    /// Where the offset table and the rarity table start.
    offsets_at: usize,
    rarities_at: usize,
    rarities: usize,
    /// ln(passages + 1): the rarity of a piece no passage holds.
    unseen_idf: f32,
}

/// The bytes of a token store: the generation's file, mapped, or (in tests) made in memory.
enum StoreBytes {
    Mapped(memmap2::Mmap),
    #[cfg(test)]
    Owned(Vec<u8>),
}

impl std::ops::Deref for StoreBytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            StoreBytes::Mapped(map) => map,
            #[cfg(test)]
            StoreBytes::Owned(bytes) => bytes,
        }
    }
}

const TOKENS_HEADER: usize = 28;
/// Bytes of one piece in a record: its id, scale and values.
const PIECE_BYTES: usize = 8 + DIMENSIONS;

/// One ordinal's pieces, borrowed from the store.
struct Record<'a> {
    ids: &'a [u8],
    scales: &'a [u8],
    values: &'a [u8],
}

impl Record<'_> {
    fn len(&self) -> usize {
        self.ids.len() / 4
    }

    fn id(&self, index: usize) -> u32 {
        u32::from_le_bytes(
            self.ids[index * 4..index * 4 + 4]
                .try_into()
                .unwrap_or([0; 4]),
        )
    }

    fn scale(&self, index: usize) -> f32 {
        let scale = f32::from_le_bytes(
            self.scales[index * 4..index * 4 + 4]
                .try_into()
                .unwrap_or([0; 4]),
        );
        if scale.is_finite() {
            scale
        } else {
            0.0
        }
    }

    /// Appends the pieces' vectors as f32 to `out`.
    fn dequantise_into(&self, out: &mut Vec<f32>) {
        for index in 0..self.len() {
            let scale = self.scale(index) / 127.0;
            out.extend(
                self.values[index * DIMENSIONS..(index + 1) * DIMENSIONS]
                    .iter()
                    .map(|&v| f32::from(v as i8) * scale),
            );
        }
    }
}

/// [`TOKENS_FILE`]'s bytes for `by_ordinal`, rarities computed over its passages.
fn encode_store(by_ordinal: &[QuantisedTokens]) -> Vec<u8> {
    let mut holding: std::collections::BTreeMap<u32, u32> = std::collections::BTreeMap::new();
    let mut passages = 0u32;
    for tokens in by_ordinal {
        if tokens.ids.is_empty() {
            continue;
        }
        passages += 1;
        let mut distinct = tokens.ids.clone();
        distinct.sort_unstable();
        distinct.dedup();
        for id in distinct {
            *holding.entry(id).or_default() += 1;
        }
    }
    let total = f64::from(passages) + 1.0;
    let mut bytes = Vec::new();
    bytes.extend_from_slice(TOKENS_MAGIC);
    bytes.extend_from_slice(&(DIMENSIONS as u32).to_le_bytes());
    bytes.extend_from_slice(&(by_ordinal.len() as u64).to_le_bytes());
    bytes.extend_from_slice(&(holding.len() as u32).to_le_bytes());
    bytes.extend_from_slice(&passages.to_le_bytes());
    let records_at = TOKENS_HEADER + (by_ordinal.len() + 1) * 8 + holding.len() * 8;
    let mut at = records_at;
    for tokens in by_ordinal {
        bytes.extend_from_slice(&(at as u64).to_le_bytes());
        at += tokens.ids.len() * PIECE_BYTES;
    }
    bytes.extend_from_slice(&(at as u64).to_le_bytes());
    for (id, count) in &holding {
        let idf = (total / (f64::from(*count) + 1.0)).ln() as f32;
        bytes.extend_from_slice(&id.to_le_bytes());
        bytes.extend_from_slice(&idf.to_le_bytes());
    }
    for tokens in by_ordinal {
        tokens
            .ids
            .iter()
            .for_each(|id| bytes.extend_from_slice(&id.to_le_bytes()));
        tokens
            .scales
            .iter()
            .for_each(|s| bytes.extend_from_slice(&s.to_le_bytes()));
        bytes.extend(tokens.values.iter().map(|&v| v as u8));
    }
    bytes
}

impl TokenStore {
    /// Checks the header and both tables of `bytes` (every record inside the file, in order,
    /// a whole number of pieces long; rarities by id) for `ordinals` ordinals.
    fn parse(bytes: StoreBytes, ordinals: usize) -> std::result::Result<TokenStore, &'static str> {
        let u32_at = |at: usize| -> Option<u32> {
            Some(u32::from_le_bytes(bytes.get(at..at + 4)?.try_into().ok()?))
        };
        let u64_at = |at: usize| -> Option<u64> {
            Some(u64::from_le_bytes(bytes.get(at..at + 8)?.try_into().ok()?))
        };
        if bytes.get(..8) != Some(TOKENS_MAGIC.as_slice()) {
            return Err("not a token file");
        }
        if u32_at(8) != Some(DIMENSIONS as u32) || u64_at(12) != Some(ordinals as u64) {
            return Err("made for another index");
        }
        let rarities = u32_at(20).ok_or("cut short")? as usize;
        let passages = u32_at(24).ok_or("cut short")?;
        let offsets_at = TOKENS_HEADER;
        let rarities_at = offsets_at + (ordinals + 1) * 8;
        let records_at = rarities_at + rarities * 8;
        let mut previous = records_at;
        for ordinal in 0..=ordinals {
            let offset = u64_at(offsets_at + ordinal * 8).ok_or("cut short")?;
            let offset = usize::try_from(offset).map_err(|_| "an offset past the file")?;
            if offset < previous || !(offset - previous).is_multiple_of(PIECE_BYTES) {
                return Err("records out of order");
            }
            previous = offset;
        }
        if previous != bytes.len() {
            return Err("its length is not the records' end");
        }
        let mut last_id = None;
        for index in 0..rarities {
            let id = u32_at(rarities_at + index * 8).ok_or("cut short")?;
            if last_id.is_some_and(|last| id <= last) {
                return Err("rarities out of order");
            }
            last_id = Some(id);
            let idf = f32::from_bits(u32_at(rarities_at + index * 8 + 4).ok_or("cut short")?);
            if !idf.is_finite() || idf < 0.0 {
                return Err("a rarity that is not a number");
            }
        }
        Ok(TokenStore {
            bytes,
            ordinals,
            offsets_at,
            rarities_at,
            rarities,
            unseen_idf: (f64::from(passages) + 1.0).ln() as f32,
        })
    }

    fn record(&self, ordinal: usize) -> Option<Record<'_>> {
        if ordinal >= self.ordinals {
            return None;
        }
        let offset = |index: usize| -> Option<usize> {
            let at = self.offsets_at + index * 8;
            usize::try_from(u64::from_le_bytes(
                self.bytes.get(at..at + 8)?.try_into().ok()?,
            ))
            .ok()
        };
        let (start, end) = (offset(ordinal)?, offset(ordinal + 1)?);
        let pieces = (end - start) / PIECE_BYTES;
        let ids_end = start + pieces * 4;
        let scales_end = ids_end + pieces * 4;
        Some(Record {
            ids: self.bytes.get(start..ids_end)?,
            scales: self.bytes.get(ids_end..scales_end)?,
            values: self.bytes.get(scales_end..end)?,
        })
    }

    /// The piece's rarity: a binary search of the rarity table.
    fn idf(&self, id: u32) -> f32 {
        let entry = |index: usize| -> (u32, f32) {
            let at = self.rarities_at + index * 8;
            let word = |at: usize| {
                self.bytes
                    .get(at..at + 4)
                    .and_then(|b| b.try_into().ok())
                    .map_or(0, u32::from_le_bytes)
            };
            (word(at), f32::from_bits(word(at + 4)))
        };
        let (mut low, mut high) = (0, self.rarities);
        while low < high {
            let middle = (low + high) / 2;
            match entry(middle).0.cmp(&id) {
                std::cmp::Ordering::Less => low = middle + 1,
                std::cmp::Ordering::Greater => high = middle,
                std::cmp::Ordering::Equal => return entry(middle).1,
            }
        }
        self.unseen_idf
    }
}

/// A question's token vectors with each piece's rarity in this generation.
#[derive(Debug, Clone)]
struct QuestionTokens {
    vectors: Vec<f32>,
    weights: Vec<f32>,
}

/// What the meaning step says of one question.
#[derive(Debug, Clone)]
pub struct QuestionMeaning {
    /// Cosine similarity by ordinal; `None` where the ordinal is not a passage.
    similarity: Vec<Option<f32>>,
    /// Every passage's similarity, highest first: the rank of a value is a binary search.
    sorted: Vec<f32>,
    nearest: Vec<(DocAddress, f32)>,
    tokens: Option<QuestionTokens>,
}

impl QuestionMeaning {
    /// The similarity of the passage with `ordinal`, and its rank among all passages (0 best).
    pub fn similarity(&self, ordinal: u64) -> Option<(f32, usize)> {
        let value = (*self.similarity.get(usize::try_from(ordinal).ok()?)?)?;
        let rank = self.sorted.partition_point(|&other| other > value);
        Some((value, rank))
    }

    /// The passages nearest in meaning, nearest first.
    pub fn nearest(&self) -> &[(DocAddress, f32)] {
        &self.nearest
    }

    /// The highest similarity of any passage.
    pub fn best(&self) -> f32 {
        self.sorted.first().copied().unwrap_or(0.0)
    }
}

/// The text a passage is embedded from: where it sits (title, section) and what it says, its
/// markers blanked (numbers in brackets mean nothing to the model).
pub fn passage_text(passage: &Passage) -> String {
    let text = match passage.kind {
        PassageKind::Body | PassageKind::Note => crate::article::blank_markers(&passage.text),
        PassageKind::Reference(_) => passage.text.clone(),
    };
    let section = passage.section_path.0.join(", ");
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if section.is_empty() {
        format!("{}. {text}", passage.article_title)
    } else {
        format!("{}, {section}. {text}", passage.article_title)
    }
}

/// Embeds `passages` (every passage of a freshly built generation with its document ordinal,
/// in ordinal order, as the index builder hands them over) and writes [`FILE`] and
/// [`TOKENS_FILE`] into its `folder`. Returns how many passages it embedded.
pub fn write(folder: &Path, passages: &[(u64, Passage)], model: &MeaningModel) -> Result<usize> {
    let count = passages
        .last()
        .map_or(0, |(ordinal, _)| *ordinal as usize + 1);
    let dimension = DIMENSIONS;
    let mut vectors = vec![0f32; count * dimension];
    let mut present = vec![false; count];
    let mut tokens = vec![QuantisedTokens::default(); count];
    let cache = EmbeddingCache::for_model(model);
    let texts: Vec<String> = passages.iter().map(|(_, p)| passage_text(p)).collect();
    let mut missing: Vec<usize> = Vec::new();
    for (position, (ordinal, _)) in passages.iter().enumerate() {
        let at = *ordinal as usize;
        match cache.as_ref().and_then(|c| c.get(&texts[position])) {
            Some((found, found_tokens)) => {
                vectors[at * dimension..(at + 1) * dimension].copy_from_slice(&found);
                present[at] = true;
                tokens[at] = found_tokens;
            }
            None => missing.push(position),
        }
    }
    for chunk in missing.chunks(32) {
        let refs: Vec<&str> = chunk.iter().map(|&i| texts[i].as_str()).collect();
        let embedded = model.embed_with_tokens(&refs);
        for (&position, (embedding, words)) in chunk.iter().zip(embedded) {
            let at = passages[position].0 as usize;
            vectors[at * dimension..(at + 1) * dimension].copy_from_slice(embedding.as_slice());
            present[at] = true;
            tokens[at] = QuantisedTokens::of(&words);
            if let Some(cache) = &cache {
                cache.put(&texts[position], embedding.as_slice(), &tokens[at]);
            }
        }
    }
    let mut bytes = Vec::with_capacity(20 + count + vectors.len() * 4);
    bytes.extend_from_slice(MAGIC);
    bytes.extend_from_slice(&(dimension as u32).to_le_bytes());
    bytes.extend_from_slice(&(count as u64).to_le_bytes());
    bytes.extend(present.iter().map(|&p| u8::from(p)));
    for value in &vectors {
        bytes.extend_from_slice(&value.to_le_bytes());
    }
    write_file(&folder.join(FILE), &bytes)?;
    write_file(&folder.join(TOKENS_FILE), &encode_store(&tokens))?;
    Ok(passages.len())
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<()> {
    std::fs::File::create(path)
        .and_then(|mut file| {
            file.write_all(bytes)?;
            file.sync_all()
        })
        .map_err(|source| Error::IndexNotWritable {
            path: path.to_path_buf(),
            source,
        })
}

/// Passage embeddings kept between rebuilds, one small file per text under
/// `~/.cache/citebot/embeddings/<model fingerprint>/`: editing one article of a large corpus
/// re-embeds only its passages, and the many test indexes of one corpus embed it once. Keyed by
/// the text's SHA-256, so a changed passage is a new entry. An entry holds the sentence
/// embedding and the quantised token vectors. Only a cache: any failure to read or write it
/// (or an entry of an older layout) means embedding again, never an error.
struct EmbeddingCache {
    folder: std::path::PathBuf,
}

impl EmbeddingCache {
    fn for_model(model: &MeaningModel) -> Option<EmbeddingCache> {
        let root = match std::env::var_os("CITEBOT_EMBEDDING_CACHE") {
            Some(folder) if folder.is_empty() => return None,
            Some(folder) => std::path::PathBuf::from(folder),
            None => std::path::PathBuf::from(std::env::var_os("HOME")?)
                .join(".cache/citebot/embeddings"),
        };
        let folder = root.join(model.fingerprint());
        std::fs::create_dir_all(&folder).ok()?;
        Some(EmbeddingCache { folder })
    }

    fn path(&self, text: &str) -> std::path::PathBuf {
        use sha2::{Digest, Sha256};
        let digest = Sha256::digest(text.as_bytes());
        let name: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        // ".t": entries that hold token vectors too; the older sentence-only entries beside
        // them are never read.
        self.folder.join(format!("{name}.t"))
    }

    fn get(&self, text: &str) -> Option<(Vec<f32>, QuantisedTokens)> {
        let bytes = std::fs::read(self.path(text)).ok()?;
        let sentence = DIMENSIONS * 4;
        let vector = bytes
            .get(..sentence)?
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        let (tokens, used) = QuantisedTokens::decode(&bytes[sentence..])?;
        (sentence + used == bytes.len()).then_some((vector, tokens))
    }

    fn put(&self, text: &str, values: &[f32], tokens: &QuantisedTokens) {
        let path = self.path(text);
        let mut bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        tokens.encode(&mut bytes);
        // Written aside and renamed: a reader never sees half an entry.
        let temporary = path.with_extension(format!("tmp-{}", std::process::id()));
        if std::fs::write(&temporary, bytes).is_ok() && std::fs::rename(&temporary, &path).is_err()
        {
            let _ = std::fs::remove_file(&temporary);
        }
    }
}

impl Embeddings {
    /// Reads [`FILE`] of `generation`; `Err` with what is wrong when it is damaged.
    pub fn read(generation: &Path, searcher: &Searcher) -> std::result::Result<Embeddings, String> {
        let path = generation.join(FILE);
        let bytes = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        let damaged = || format!("{} is damaged", path.display());
        if bytes.len() < 20 || &bytes[..8] != MAGIC {
            return Err(damaged());
        }
        let dimension = u32::from_le_bytes(bytes[8..12].try_into().map_err(|_| damaged())?);
        let count = u64::from_le_bytes(bytes[12..20].try_into().map_err(|_| damaged())?);
        let (dimension, count) = (dimension as usize, count as usize);
        if dimension != crate::meaning::DIMENSIONS
            || bytes.len() != 20 + count + count * dimension * 4
        {
            return Err(damaged());
        }
        let present: Vec<bool> = bytes[20..20 + count].iter().map(|&b| b == 1).collect();
        let vectors: Vec<f32> = bytes[20 + count..]
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        let mut addresses = vec![None; count];
        for (segment_ord, segment) in searcher.segment_readers().iter().enumerate() {
            let ordinals = segment
                .fast_fields()
                .u64("ordinal")
                .map_err(|e| format!("ordinals: {e}"))?;
            for doc_id in 0..segment.max_doc() {
                if let Some(slot) = ordinals
                    .first(doc_id)
                    .and_then(|o| addresses.get_mut(o as usize))
                {
                    *slot = Some(DocAddress::new(segment_ord as u32, doc_id));
                }
            }
        }
        let tokens = read_tokens(&generation.join(TOKENS_FILE), count)?;
        Ok(Embeddings {
            dimension,
            vectors,
            present,
            addresses,
            tokens,
        })
    }

    /// The token match of the question with the passage of each ordinal; `None` when the
    /// question's token vectors were not given or the ordinal is not a passage. One call for
    /// all of a question's candidates, so their vectors share one buffer.
    pub fn token_matches(
        &self,
        meaning: &QuestionMeaning,
        ordinals: &[u64],
    ) -> Vec<Option<TokenMatch>> {
        let Some(question) = meaning.tokens.as_ref() else {
            return vec![None; ordinals.len()];
        };
        let mut passage = Vec::new();
        ordinals
            .iter()
            .map(|&ordinal| {
                let record = self.tokens.record(usize::try_from(ordinal).ok()?)?;
                passage.clear();
                record.dequantise_into(&mut passage);
                Some(self.match_record(question, &record, &passage))
            })
            .collect()
    }

    fn match_record(
        &self,
        question: &QuestionTokens,
        record: &Record<'_>,
        passage: &[f32],
    ) -> TokenMatch {
        let columns = record.len();
        if columns == 0 || question.weights.is_empty() {
            return TokenMatch::default();
        }
        let cosines = crate::meaning::cosines(&question.vectors, passage);
        // For each question piece its best match in the passage, and the reverse.
        let mut best_of_question = vec![f32::MIN; question.weights.len()];
        let mut best_of_passage = vec![f32::MIN; columns];
        for (row, values) in cosines.chunks_exact(columns).enumerate() {
            for (column, &value) in values.iter().enumerate() {
                best_of_question[row] = best_of_question[row].max(value);
                best_of_passage[column] = best_of_passage[column].max(value);
            }
        }
        let weight_sum: f32 = question.weights.iter().sum();
        let recall = best_of_question
            .iter()
            .zip(&question.weights)
            .fold(0.0f32, |sum, (value, weight)| sum + value * weight)
            / weight_sum;
        // Recall is summed above; the order of the best matches is free to change now.
        let mut sorted = best_of_question;
        sorted.sort_by(f32::total_cmp);
        let weakest_two = sorted.iter().take(2).sum::<f32>() / sorted.len().min(2) as f32;
        let (mut precision, mut passage_weight) = (0.0f32, 0.0f32);
        for (index, value) in best_of_passage.iter().enumerate() {
            let weight = self.tokens.idf(record.id(index));
            precision += value * weight;
            passage_weight += weight;
        }
        TokenMatch {
            recall,
            weakest: sorted[0],
            weakest_two,
            precision: precision / passage_weight.max(1e-9),
        }
    }

    /// Compares `question` (a normalised embedding) with every passage; with the question's
    /// token vectors (kept, not copied), token matching is ready too
    /// ([`Embeddings::token_matches`]).
    pub fn for_question(&self, question: &[f32], tokens: Option<TokenVectors>) -> QuestionMeaning {
        let similarity: Vec<Option<f32>> = self
            .vectors
            .chunks_exact(self.dimension)
            .zip(&self.present)
            .map(|(vector, &present)| {
                present.then(|| {
                    vector
                        .iter()
                        .zip(question)
                        .fold(0.0f32, |sum, (a, b)| sum + a * b)
                })
            })
            .collect();
        let mut order: Vec<(usize, f32)> = similarity
            .iter()
            .enumerate()
            .filter_map(|(ordinal, value)| value.map(|v| (ordinal, v)))
            .collect();
        // Highest first; equal values in ordinal order, so every process picks the same. One
        // sort gives both the ranks (`sorted`) and the nearest passages.
        order.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        let sorted: Vec<f32> = order.iter().map(|&(_, value)| value).collect();
        let nearest = order
            .into_iter()
            .filter_map(|(ordinal, value)| Some((self.addresses[ordinal]?, value)))
            .take(NEAREST)
            .collect();
        let tokens = tokens.map(|tokens| QuestionTokens {
            // Never zero, so a question of common pieces still averages them all.
            weights: tokens
                .ids
                .iter()
                .map(|&id| self.tokens.idf(id) + 1e-6)
                .collect(),
            vectors: tokens.vectors,
        });
        QuestionMeaning {
            similarity,
            sorted,
            nearest,
            tokens,
        }
    }
}

/// Maps [`TOKENS_FILE`]: `count` ordinals' quantised token vectors.
fn read_tokens(path: &Path, count: usize) -> std::result::Result<TokenStore, String> {
    let file = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    // SAFETY: the map is read-only, and a generation's files are never written again once it
    // is live (a rebuild writes a new generation folder); the same holds for tantivy's maps of
    // its segment files in the same folder.
    let map =
        unsafe { memmap2::Mmap::map(&file) }.map_err(|e| format!("{}: {e}", path.display()))?;
    TokenStore::parse(StoreBytes::Mapped(map), count)
        .map_err(|why| format!("{} is damaged: {why}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A unit vector along axis `axis`, a little of axis `axis + 1` mixed in.
    fn unit(axis: usize, mix: f32) -> Vec<f32> {
        let mut row = vec![0.0f32; DIMENSIONS];
        row[axis] = 1.0;
        row[axis + 1] = mix;
        let length = (1.0 + mix * mix).sqrt();
        row.iter_mut().for_each(|v| *v /= length);
        row
    }

    fn tokens(rows: &[(u32, Vec<f32>)]) -> TokenVectors {
        TokenVectors {
            ids: rows.iter().map(|(id, _)| *id).collect(),
            vectors: rows.iter().flat_map(|(_, row)| row.clone()).collect(),
        }
    }

    #[test]
    fn quantised_tokens_round_trip_and_keep_cosines_close() {
        let words = tokens(&[(7, unit(0, 0.3)), (9, unit(5, -0.8))]);
        let quantised = QuantisedTokens::of(&words);
        let mut bytes = Vec::new();
        quantised.encode(&mut bytes);
        assert_eq!(bytes.len(), 4 + 2 * (8 + DIMENSIONS));
        let (decoded, used) = QuantisedTokens::decode(&bytes).expect("decodes");
        assert_eq!((decoded, used), (quantised.clone(), bytes.len()));
        // Cut short or with a negative scale: refused, never a panic.
        assert!(QuantisedTokens::decode(&bytes[..bytes.len() - 1]).is_none());
        let mut bad = bytes.clone();
        bad[8..12].copy_from_slice(&(-1.0f32).to_le_bytes());
        assert!(QuantisedTokens::decode(&bad).is_none());
        // The dequantised rows keep their cosines with the originals to within 0.01.
        for index in 0..2 {
            let scale = quantised.scales[index] / 127.0;
            let back: Vec<f32> = quantised.values[index * DIMENSIONS..(index + 1) * DIMENSIONS]
                .iter()
                .map(|&v| f32::from(v) * scale)
                .collect();
            let cosine: f32 = back.iter().zip(words.row(index)).map(|(a, b)| a * b).sum();
            assert!((cosine - 1.0).abs() < 0.01, "{cosine}");
        }
    }

    /// Embeddings of three passages with the given token vectors (sentence vectors unused).
    fn embeddings(passages: &[TokenVectors]) -> Embeddings {
        Embeddings {
            dimension: DIMENSIONS,
            vectors: vec![0.0; passages.len() * DIMENSIONS],
            present: vec![true; passages.len()],
            addresses: vec![None; passages.len()],
            tokens: {
                let quantised: Vec<QuantisedTokens> =
                    passages.iter().map(QuantisedTokens::of).collect();
                TokenStore::parse(StoreBytes::Owned(encode_store(&quantised)), passages.len())
                    .expect("a store")
            },
        }
    }

    #[test]
    fn token_match_rewards_the_passage_holding_each_piece_asked() {
        // Pieces 1 and 2 are asked; passage 0 holds both (in other vectors, close), passage 1
        // only the first, passage 2 neither. Piece 5 is in every passage: it weighs nothing.
        let both = tokens(&[(1, unit(0, 0.1)), (2, unit(2, 0.1)), (5, unit(10, 0.0))]);
        let one = tokens(&[(1, unit(0, 0.1)), (3, unit(20, 0.0)), (5, unit(10, 0.0))]);
        let neither = tokens(&[(4, unit(30, 0.0)), (5, unit(10, 0.0))]);
        let store = embeddings(&[both, one, neither]);
        let question = tokens(&[(1, unit(0, 0.0)), (2, unit(2, 0.0))]);
        let meaning = store.for_question(&vec![0.0; DIMENSIONS], Some(question));
        let matched: Vec<TokenMatch> = store
            .token_matches(&meaning, &[0, 1, 2])
            .into_iter()
            .map(|matched| matched.expect("a passage"))
            .collect();
        assert!(matched[0].recall > 0.98, "{:?}", matched[0]);
        assert!(matched[0].weakest > 0.98);
        // Rarer pieces weigh more: piece 1 is in two of the three passages, piece 2 in one.
        let (common, rare) = ((4.0f32 / 3.0).ln(), 2.0f32.ln());
        let expected = common / (common + rare);
        assert!(
            (matched[1].recall - expected).abs() < 0.02,
            "{:?}",
            matched[1]
        );
        assert!(matched[1].weakest.abs() < 0.02);
        assert!(matched[2].recall.abs() < 0.02, "{:?}", matched[2]);
        assert!(matched[0].precision > matched[1].precision);
        // Past the last ordinal, or without the question's pieces: nothing to match.
        assert_eq!(store.token_matches(&meaning, &[3]), [None]);
        let without = store.for_question(&vec![0.0; DIMENSIONS], None);
        assert_eq!(store.token_matches(&without, &[0]), [None]);
    }
}
