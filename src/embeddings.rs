//! A generation's passage embeddings, the meaning step's half of the index: every passage's
//! sentence embedding (`src/meaning/`), computed when the index is rebuilt, stored beside
//! tantivy's files as `embeddings.bin`, and compared with a question's embedding when it is
//! asked. The result, [`QuestionMeaning`], is what ranking sees: the similarity of the
//! question to each passage and the passages nearest to it.
//!
//! The file is keyed by document ordinal (file order, fixed at rebuild), so it never depends
//! on how tantivy laid out its segments. Brute-force cosine over every passage is exact and
//! costs ~0.1 ms per thousand passages; a corpus of millions of passages would want an
//! approximate index instead, and turns the meaning step off (`[meaning] enabled = false`).

use std::io::Write;
use std::path::Path;

use tantivy::{DocAddress, Searcher, TantivyDocument};

use crate::error::{Error, Result};
use crate::index::Fields;
use crate::meaning::MeaningModel;
use crate::passage::{Passage, PassageKind};

/// The file's name inside a generation folder.
pub const FILE: &str = "embeddings.bin";

const MAGIC: &[u8; 8] = b"CBEMBED1";

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
}

/// What the meaning step says of one question.
#[derive(Debug, Clone)]
pub struct QuestionMeaning {
    /// Cosine similarity by ordinal; `None` where the ordinal is not a passage.
    similarity: Vec<Option<f32>>,
    /// Every passage's similarity, highest first: the rank of a value is a binary search.
    sorted: Vec<f32>,
    nearest: Vec<(DocAddress, f32)>,
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

/// Every passage of the index in `folder`, by ordinal.
fn passages_by_ordinal(searcher: &Searcher, fields: &Fields) -> Vec<(u64, DocAddress, Passage)> {
    let mut found = Vec::new();
    for (segment_ord, segment) in searcher.segment_readers().iter().enumerate() {
        let Ok(ordinals) = segment.fast_fields().u64("ordinal") else {
            continue;
        };
        for doc_id in 0..segment.max_doc() {
            let address = DocAddress::new(segment_ord as u32, doc_id);
            let Some(ordinal) = ordinals.first(doc_id) else {
                continue;
            };
            let Ok(document) = searcher.doc::<TantivyDocument>(address) else {
                continue;
            };
            if let Some(passage) = crate::index::stored_passage(fields, &document) {
                found.push((ordinal, address, passage));
            }
        }
    }
    found.sort_by_key(|(ordinal, _, _)| *ordinal);
    found
}

/// Embeds every passage of the freshly built index in `folder` and writes [`FILE`] there.
/// Returns how many passages it embedded.
pub fn write(
    folder: &Path,
    searcher: &Searcher,
    fields: &Fields,
    model: &MeaningModel,
) -> Result<usize> {
    let passages = passages_by_ordinal(searcher, fields);
    let count = passages
        .last()
        .map_or(0, |(ordinal, _, _)| *ordinal as usize + 1);
    let dimension = crate::meaning::DIMENSIONS;
    let mut vectors = vec![0f32; count * dimension];
    let mut present = vec![false; count];
    let cache = EmbeddingCache::for_model(model);
    let texts: Vec<String> = passages.iter().map(|(_, _, p)| passage_text(p)).collect();
    let mut missing: Vec<usize> = Vec::new();
    for (position, (ordinal, _, _)) in passages.iter().enumerate() {
        let at = *ordinal as usize;
        match cache.as_ref().and_then(|c| c.get(&texts[position])) {
            Some(found) => {
                vectors[at * dimension..(at + 1) * dimension].copy_from_slice(&found);
                present[at] = true;
            }
            None => missing.push(position),
        }
    }
    for chunk in missing.chunks(32) {
        let refs: Vec<&str> = chunk.iter().map(|&i| texts[i].as_str()).collect();
        let embedded = model.embed(&refs);
        for (&position, embedding) in chunk.iter().zip(embedded) {
            let at = passages[position].0 as usize;
            vectors[at * dimension..(at + 1) * dimension].copy_from_slice(embedding.as_slice());
            present[at] = true;
            if let Some(cache) = &cache {
                cache.put(&texts[position], embedding.as_slice());
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
    let path = folder.join(FILE);
    std::fs::File::create(&path)
        .and_then(|mut file| {
            file.write_all(&bytes)?;
            file.sync_all()
        })
        .map_err(|source| Error::IndexNotWritable { path, source })?;
    Ok(passages.len())
}

/// Passage embeddings kept between rebuilds, one small file per text under
/// `~/.cache/citebot/embeddings/<model fingerprint>/`: editing one article of a large corpus
/// re-embeds only its passages, and the many test indexes of one corpus embed it once. Keyed by
/// the text's SHA-256, so a changed passage is a new entry. Only a cache: any failure to read
/// or write it means embedding again, never an error.
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
        self.folder.join(name)
    }

    fn get(&self, text: &str) -> Option<Vec<f32>> {
        let bytes = std::fs::read(self.path(text)).ok()?;
        if bytes.len() != crate::meaning::DIMENSIONS * 4 {
            return None;
        }
        Some(
            bytes
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect(),
        )
    }

    fn put(&self, text: &str, values: &[f32]) {
        let path = self.path(text);
        let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
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
        Ok(Embeddings {
            dimension,
            vectors,
            present,
            addresses,
        })
    }

    /// Compares `question` (a normalised embedding) with every passage.
    pub fn for_question(&self, question: &[f32]) -> QuestionMeaning {
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
        QuestionMeaning {
            similarity,
            sorted,
            nearest,
        }
    }
}
