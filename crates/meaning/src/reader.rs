//! The reader: a cross-encoder that reads a question and a passage together and says whether
//! the passage answers it ("the article says it"), where the bi-encoder's cosine can only say
//! that both are about the same thing ("the article talks about it").
//!
//! It is the same MiniLM encoder as the embeddings, run over the pair
//! `[CLS] question [SEP] passage window [SEP]` (token types 0 then 1, as BERT encodes pairs),
//! with a low-rank adapter (LoRA) added to every layer's six linear maps, the second token
//! type's embedding replaced, and a linear head on the mean of the last layer's token vectors.
//! Only the adapter, that row and the head are trained (`scripts/train_reader.py`, from the
//! tuning part of `eval/split.toml` only); they ship in `data/reader.safetensors` (about
//! 1.4 MB) with the answer decision they were calibrated with (its metadata). The base weights
//! stay the installed model's, memory-mapped and shared with the embeddings.
//!
//! What the reader reads is cut to fit [`PairShape`]: the question's first word pieces, then
//! a window of whole sentences around the sentence citebot found best (the sentences after
//! it first, then those before), without reference markers, which carry no meaning for it.
//! The training script encodes its pairs with this same code (`citebot reader-pairs`), so
//! the model is trained on exactly what it reads here.

use std::collections::HashMap;
use std::sync::OnceLock;

use regex::Regex;
use safetensors::tensor::{Dtype, SafeTensors};

use crate::products::{self, Threads};
use crate::{Linear, MeaningModel, DIMENSIONS};

/// How a (question, passage) pair is cut to fit the reader.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PairShape {
    /// Longest pair in tokens, [CLS] and both [SEP]s included.
    pub max_tokens: usize,
    /// Most word pieces kept of the question.
    pub question_tokens: usize,
}

/// A pair's token ids and token types (0: the question, 1: the passage).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Pair {
    pub ids: Vec<u32>,
    pub types: Vec<u8>,
}

/// How the reader joins the decision to answer, calibrated on tuning questions it was not
/// trained on: a veto. citebot answers when the ranker's decision answers *and* the best
/// reader score of the passages read is at least `veto_below`; so the reader can only add
/// refusals, and the ranker's refusals (off-topic questions, above all) stay as they are. A
/// learned combination of both (logistic regression) was tried first and gave up most of the
/// off-topic abstention for the near misses (docs/quality.md).
#[derive(Debug, Clone, Copy, PartialEq, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct ReaderDecision {
    /// Refuse when the best score read is below this (logits over "no passage answers").
    pub veto_below: f32,
    /// Below this (but at least `veto_below`) the answer is given as the closest passage,
    /// with the honest caveat that the article may not answer exactly.
    pub unsure_below: f32,
}

impl ReaderDecision {
    /// The best of the scores read (`-inf` when none was read).
    pub fn best(scores: &[f32]) -> f32 {
        scores.iter().copied().fold(f32::NEG_INFINITY, f32::max)
    }
}

/// One linear map's low-rank update: output += scale · (input · Aᵀ) · Bᵀ.
struct LowRank {
    /// rank × inputs
    a: Vec<f32>,
    /// outputs × rank
    b: Vec<f32>,
    rank: usize,
    inputs: usize,
    outputs: usize,
}

impl LowRank {
    fn add_to(&self, output: &mut [f32], input: &[f32], rows: usize, scale: f32, threads: Threads) {
        let zeros_rank = vec![0.0; self.rank];
        let zeros_out = vec![0.0; self.outputs];
        let down = products::linear(&self.a, &zeros_rank, input, rows, self.inputs, threads);
        let up = products::linear(&self.b, &zeros_out, &down, rows, self.rank, threads);
        for (value, delta) in output.iter_mut().zip(&up) {
            *value += scale * delta;
        }
    }
}

/// One encoder layer's updates, in the order of [`LAYER_MAPS`].
pub(super) struct LayerAdapter {
    maps: Vec<LowRank>,
}

/// The linear maps of a layer the adapter updates, by their names in the adapter file.
const LAYER_MAPS: [&str; 6] = [
    "query",
    "key",
    "value",
    "attention_output",
    "intermediate",
    "output",
];

impl LayerAdapter {
    /// The update of map `index` of [`LAYER_MAPS`] added to `output`.
    pub(super) fn add(
        &self,
        index: usize,
        output: &mut [f32],
        input: &[f32],
        rows: usize,
        scale: f32,
        threads: Threads,
    ) {
        self.maps[index].add_to(output, input, rows, scale, threads);
    }
}

/// Indexes into [`LayerAdapter`]'s maps, named for the forward pass.
pub(super) mod map {
    pub const QUERY: usize = 0;
    pub const KEY: usize = 1;
    pub const VALUE: usize = 2;
    pub const ATTENTION_OUTPUT: usize = 3;
    pub const INTERMEDIATE: usize = 4;
    pub const OUTPUT: usize = 5;
}

/// The trained reader: adapter, token type row, head and the decision it was calibrated with.
pub struct Reader {
    /// The adapted layers, from `first_layer` on; the layers below run as the base model.
    pub(super) layers: Vec<LayerAdapter>,
    pub(super) first_layer: usize,
    pub(super) scale: f32,
    /// The embedding of token type 1 (the passage), replacing the base model's.
    pub(super) passage_type: Vec<f32>,
    head: Vec<f32>,
    /// head bias minus the learned "no answer" score: a pair's score is its margin over "the
    /// passage does not answer".
    offset: f32,
    pub shape: PairShape,
    /// How many of the passages shown, best first, the reader reads.
    pub reads: usize,
    pub decision: ReaderDecision,
    /// The base model's fingerprint ([`MeaningModel::fingerprint`]) it was trained on.
    pub base: String,
}

/// The reader shipped in `data/reader.safetensors`.
const BUILTIN: &[u8] = include_bytes!("../../../data/reader.safetensors");

impl Reader {
    /// The reader compiled into citebot.
    pub fn builtin() -> Reader {
        Reader::parse(BUILTIN).unwrap_or_else(|message| {
            panic!("data/reader.safetensors compiled into citebot is invalid: {message}")
        })
    }

    /// Reads an adapter file; the error says what is wrong with it.
    pub fn parse(bytes: &[u8]) -> Result<Reader, String> {
        let (_, metadata) = SafeTensors::read_metadata(bytes)
            .map_err(|error| format!("not a safetensors file: {error}"))?;
        let tensors = SafeTensors::deserialize(bytes)
            .map_err(|error| format!("not a safetensors file: {error}"))?;
        let info: HashMap<String, String> = metadata.metadata().clone().unwrap_or_default();
        let field = |name: &str| {
            info.get(name)
                .ok_or_else(|| format!("its metadata has no `{name}`"))
        };
        let number = |name: &str| -> Result<f64, String> {
            field(name)?
                .parse::<f64>()
                .map_err(|error| format!("metadata `{name}` is not a number: {error}"))
        };
        let floats = |name: &str, shape: &[usize]| -> Result<Vec<f32>, String> {
            let view = tensors
                .tensor(name)
                .map_err(|_| format!("it has no tensor `{name}`"))?;
            if view.dtype() != Dtype::F32 || view.shape() != shape {
                return Err(format!(
                    "tensor `{name}` is {:?} {:?}, expected F32 {shape:?}",
                    view.dtype(),
                    view.shape()
                ));
            }
            Ok(view
                .data()
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect())
        };
        let rank = number("rank")? as usize;
        let first_layer = number("first_layer")? as usize;
        let layer_count = number("layers")? as usize;
        let intermediate = number("intermediate")? as usize;
        if rank == 0 || rank > 64 || layer_count == 0 || layer_count > 64 {
            return Err(format!("rank {rank} or layers {layer_count} out of range"));
        }
        let sizes = |map: &str| match map {
            "intermediate" => (DIMENSIONS, intermediate),
            "output" => (intermediate, DIMENSIONS),
            _ => (DIMENSIONS, DIMENSIONS),
        };
        let mut layers = Vec::with_capacity(layer_count);
        for layer in first_layer..first_layer + layer_count {
            let mut maps = Vec::with_capacity(LAYER_MAPS.len());
            for name in LAYER_MAPS {
                let (inputs, outputs) = sizes(name);
                maps.push(LowRank {
                    a: floats(&format!("layer.{layer}.{name}.a"), &[rank, inputs])?,
                    b: floats(&format!("layer.{layer}.{name}.b"), &[outputs, rank])?,
                    rank,
                    inputs,
                    outputs,
                });
            }
            layers.push(LayerAdapter { maps });
        }
        let head = floats("head.weight", &[DIMENSIONS])?;
        let head_bias = floats("head.bias", &[1])?[0];
        let no_answer = floats("no_answer", &[1])?[0];
        let decision: ReaderDecision = serde_json::from_str(field("decision")?)
            .map_err(|error| format!("metadata `decision` is not a decision: {error}"))?;
        let shape = PairShape {
            max_tokens: number("max_tokens")? as usize,
            question_tokens: number("question_tokens")? as usize,
        };
        if shape.max_tokens < 16
            || shape.max_tokens > crate::MAX_TOKENS
            || shape.question_tokens + 8 > shape.max_tokens
        {
            return Err(format!("pair shape {shape:?} out of range"));
        }
        Ok(Reader {
            layers,
            first_layer,
            scale: number("scale")? as f32,
            passage_type: floats("token_type.1", &[DIMENSIONS])?,
            head,
            offset: head_bias - no_answer,
            shape,
            reads: (number("reads")? as usize).clamp(1, 16),
            decision,
            base: field("base")?.clone(),
        })
    }

    /// The adapter of encoder layer `number`, if that layer is adapted.
    pub(super) fn layer(&self, number: usize) -> Option<&LayerAdapter> {
        number
            .checked_sub(self.first_layer)
            .and_then(|index| self.layers.get(index))
    }

    /// A pair's score from the encoder's last hidden states (tokens × 384): how far "this
    /// passage answers" is above "no passage answers", in logits.
    pub(super) fn score(&self, hidden: &[f32], tokens: usize) -> f32 {
        let mut mean = [0.0f32; DIMENSIONS];
        for row in hidden.chunks_exact(DIMENSIONS) {
            mean.iter_mut().zip(row).for_each(|(m, v)| *m += v);
        }
        let dot: f32 = mean.iter().zip(&self.head).map(|(m, w)| m * w).sum();
        dot / tokens as f32 + self.offset
    }
}

/// Reference markers (`[3]`, `[5]: 527–530`) as they stand in a passage's text.
fn markers() -> &'static Regex {
    static MARKERS: OnceLock<Regex> = OnceLock::new();
    MARKERS.get_or_init(|| {
        Regex::new(r"\[[0-9]{1,4}\](?::\s?[0-9ivxlcdmp.–—\-]+(?:,\s?[0-9ivxlcdmp.–—\-]+)*)?")
            .expect("the marker pattern is valid")
    })
}

impl MeaningModel {
    /// The pair the reader reads for `question` and a passage given as its sentences, cut to
    /// `shape` around sentence `focus` (the one citebot found best; 0 when out of range).
    pub fn pair(&self, question: &str, sentences: &[&str], focus: usize, shape: PairShape) -> Pair {
        let pieces = |text: &str, most: usize| -> Vec<u32> {
            let mut ids = self.tokenizer.ids(text, most + 2);
            ids.pop();
            ids.remove(0);
            ids
        };
        let question = pieces(question, shape.question_tokens);
        let room = shape.max_tokens.saturating_sub(question.len() + 3);
        let sentence_pieces: Vec<Vec<u32>> = sentences
            .iter()
            .map(|sentence| pieces(&markers().replace_all(sentence, ""), room.max(1)))
            .collect();
        let focus = if focus < sentences.len() { focus } else { 0 };
        // Whole sentences around the focus, after it first, while they fit.
        let (mut first, mut last) = (focus, focus);
        let mut used = sentence_pieces.get(focus).map_or(0, Vec::len).min(room);
        let (mut forward, mut backward) = (true, true);
        while forward || backward {
            if forward {
                match sentence_pieces.get(last + 1) {
                    Some(next) if used + next.len() <= room => {
                        used += next.len();
                        last += 1;
                    }
                    _ => forward = false,
                }
            }
            if backward {
                match first.checked_sub(1).map(|index| &sentence_pieces[index]) {
                    Some(previous) if used + previous.len() <= room => {
                        used += previous.len();
                        first -= 1;
                    }
                    _ => backward = false,
                }
            }
        }
        let mut passage: Vec<u32> = sentence_pieces
            .get(first..=last)
            .unwrap_or_default()
            .iter()
            .flatten()
            .copied()
            .collect();
        passage.truncate(room);
        let (cls, sep) = (self.tokenizer.first_id(), self.tokenizer.last_id());
        let mut ids = Vec::with_capacity(question.len() + passage.len() + 3);
        ids.push(cls);
        ids.extend(&question);
        ids.push(sep);
        let types_question = ids.len();
        ids.extend(&passage);
        ids.push(sep);
        let mut types = vec![0u8; types_question];
        types.resize(ids.len(), 1);
        Pair { ids, types }
    }

    /// The reader's score of each pair, in order: spread over the machine's cores as
    /// embeddings are, and the same bits whatever a pair is batched with.
    pub fn read(&self, reader: &Reader, pairs: &[Pair]) -> Vec<f32> {
        self.spread(pairs, |pair, threads| {
            let hidden = self.encode_with(&pair.ids, Some(&pair.types), Some(reader), threads);
            reader.score(&hidden, pair.ids.len())
        })
    }
}

/// Where a linear map of the base model takes its low-rank update from.
pub(super) fn apply_with(
    linear: &Linear,
    floats: &[f32],
    input: &[f32],
    rows: usize,
    threads: Threads,
    update: Option<(&LayerAdapter, usize, f32)>,
) -> Vec<f32> {
    let mut output = linear.apply(floats, input, rows, threads);
    if let Some((layer, index, scale)) = update {
        layer.add(index, &mut output, input, rows, scale, threads);
    }
    output
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_reader_parses_with_a_calibrated_veto() {
        let reader = Reader::builtin();
        assert_eq!(reader.reads, 3);
        assert!(reader.shape.max_tokens <= crate::MAX_TOKENS);
        assert!(reader.decision.veto_below <= reader.decision.unsure_below);
        assert!(reader.decision.veto_below.is_finite());
    }

    #[test]
    fn a_broken_reader_file_says_what_is_wrong() {
        let message = Reader::parse(b"not a safetensors file")
            .err()
            .expect("refused");
        assert!(message.contains("not a safetensors file"), "{message}");
    }

    #[test]
    fn the_best_score_of_none_read_never_passes_a_veto() {
        assert_eq!(ReaderDecision::best(&[]), f32::NEG_INFINITY);
        assert_eq!(ReaderDecision::best(&[-1.0, 2.0, 0.5]), 2.0);
    }
}
