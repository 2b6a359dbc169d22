//! The reader: a cross-encoder that reads a question and a passage together and says whether
//! the passage answers it ("the article says it"), where the bi-encoder's cosine can only say
//! that both are about the same thing ("the article talks about it").
//!
//! It is the same MiniLM encoder as the embeddings, run over the pair
//! `[CLS] question [SEP] passage window [SEP]` (token types 0 then 1, as BERT encodes pairs),
//! with the six linear maps of its upper layers fine-tuned, the second token type's embedding
//! replaced, and a linear head on the mean of the last layer's token vectors. They are trained
//! by `scripts/train_reader.py` from the tuning part of `eval/split.toml` only, and ship in
//! `data/reader.safetensors` as differences from the installed model's weights, quantized to
//! 4 bits in runs of 32 with a float16 scale each (about 4 MB; a low-rank adapter, the first try, learned too little: docs/quality.md), with the
//! answer decision they were calibrated with (its metadata). Joined to the installed model at
//! start ([`ReaderFile::on`]), the tuned maps cost what the base model's do; the embeddings,
//! the layer norms and the layers below stay the model's, memory-mapped and shared.
//!
//! What the reader reads is cut to fit [`PairShape`]: the question's first word pieces, then
//! a window of whole sentences around the sentence citebot found best (the sentences after
//! it first, then those before), without reference markers, which carry no meaning for it.
//! The training script encodes its pairs with this same code (`citebot reader-pairs`), so
//! the model is trained on exactly what it reads here.

use std::collections::HashMap;
use std::ops::Range;
use std::sync::OnceLock;

use memmap2::{Mmap, MmapMut};
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
/// off-topic abstention for the near misses; letting a high reader score overrule the ranker's
/// refusal was measured with the fine-tuned reader and never fired on a held-out question
/// (docs/quality.md).
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

/// The linear maps of a layer the reader fine-tunes, by their names in the reader file.
const LAYER_MAPS: [&str; 6] = [
    "query",
    "key",
    "value",
    "attention_output",
    "intermediate",
    "output",
];

/// Indexes into [`TunedLayer`]'s maps, named for the forward pass.
pub(super) mod map {
    pub const QUERY: usize = 0;
    pub const KEY: usize = 1;
    pub const VALUE: usize = 2;
    pub const ATTENTION_OUTPUT: usize = 3;
    pub const INTERMEDIATE: usize = 4;
    pub const OUTPUT: usize = 5;
}

/// One fine-tuned linear map as the forward pass uses it: where its weight (the base model's
/// plus the trained difference, outputs × inputs) lies in its layer's store, and the trained
/// bias.
struct Tuned {
    weight: Range<usize>,
    bias: Vec<f32>,
    inputs: usize,
}

/// One fine-tuned encoder layer's linear maps, in the order of [`LAYER_MAPS`], joined to the
/// model. Their weights (7 MB a layer) lie in one anonymous map asked of the kernel in huge
/// pages: written once at start, they would otherwise cost a page fault every 4 KB, which was
/// most of the reader's start-up (BENCHMARKS.md).
pub struct TunedLayer {
    weights: Mmap,
    maps: Vec<Tuned>,
}

impl TunedLayer {
    fn weight(&self, map: &Tuned) -> &[f32] {
        // The store is page-aligned and `on` sized it in whole f32s.
        &bytemuck::cast_slice(&self.weights[..])[map.weight.clone()]
    }
}

/// Weight differences sharing one scale in the file, along a row.
const QUANT_GROUP: usize = 32;

/// One fine-tuned map as the file holds it: the difference from the base weight, 4-bit
/// integers −7…7 stored +8, two to a byte (the even column in the low half), each run of
/// QUANT_GROUP in a row times its scale; as scripts/train_reader.py's `dequantize` reads it.
/// Kept packed until [`ReaderFile::on`] adds it to the base weight.
struct Delta {
    packed: Vec<u8>,
    scales: Vec<f32>,
    bias: Vec<f32>,
}

impl Delta {
    fn len(&self) -> usize {
        self.packed.len() * 2
    }

    /// Writes base + difference into `out`.
    fn add_to(&self, base: &[f32], out: &mut [f32]) {
        let pairs = base.chunks_exact(2).zip(out.chunks_exact_mut(2));
        for (index, (byte, (base, out))) in self.packed.iter().zip(pairs).enumerate() {
            let scale = self.scales[index * 2 / QUANT_GROUP];
            out[0] = base[0] + (f32::from(byte & 15) - 8.0) * scale;
            out[1] = base[1] + (f32::from(byte >> 4) - 8.0) * scale;
        }
    }
}

/// One fine-tuned encoder layer as the file holds it, in the order of [`LAYER_MAPS`].
pub struct DeltaLayer {
    maps: Vec<Delta>,
}

/// A trained reader: its fine-tuned layers (`Layer`: as the file holds them, or joined to the
/// model), the token type row, head and the decision it was calibrated with.
pub struct Trained<Layer> {
    /// The fine-tuned layers, from `first_layer` on; the layers below run as the base model.
    layers: Vec<Layer>,
    first_layer: usize,
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

/// A reader file, parsed and checked, before it is joined to the installed model
/// ([`ReaderFile::on`]).
pub type ReaderFile = Trained<DeltaLayer>;

/// The reader, joined to the installed model: what reads pairs.
pub type Reader = Trained<TunedLayer>;

/// The reader shipped in `data/reader.safetensors`.
const BUILTIN: &[u8] = include_bytes!("../../../data/reader.safetensors");

impl Trained<DeltaLayer> {
    /// The reader compiled into citebot.
    pub fn builtin() -> ReaderFile {
        ReaderFile::parse(BUILTIN).unwrap_or_else(|message| {
            panic!("data/reader.safetensors compiled into citebot is invalid: {message}")
        })
    }

    /// Reads a reader file; the error says what is wrong with it.
    pub fn parse(bytes: &[u8]) -> Result<ReaderFile, String> {
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
        let view = |name: &str, dtype: Dtype, shape: &[usize]| {
            let view = tensors
                .tensor(name)
                .map_err(|_| format!("it has no tensor `{name}`"))?;
            if view.dtype() != dtype || view.shape() != shape {
                return Err(format!(
                    "tensor `{name}` is {:?} {:?}, expected {dtype:?} {shape:?}",
                    view.dtype(),
                    view.shape()
                ));
            }
            Ok(view)
        };
        let floats = |name: &str, shape: &[usize]| -> Result<Vec<f32>, String> {
            Ok(view(name, Dtype::F32, shape)?
                .data()
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect())
        };
        // A weight difference (outputs × inputs), as [`Delta`] holds it.
        let delta =
            |name: &str, outputs: usize, inputs: usize, bias: Vec<f32>| -> Result<Delta, String> {
                if !inputs.is_multiple_of(QUANT_GROUP) {
                    return Err(format!(
                        "{inputs} inputs are not whole runs of {QUANT_GROUP}"
                    ));
                }
                let packed = view(name, Dtype::U8, &[outputs, inputs / 2])?;
                let scale_name = format!("{name}_scale");
                let scales = view(&scale_name, Dtype::F16, &[outputs, inputs / QUANT_GROUP])?;
                Ok(Delta {
                    packed: packed.data().to_vec(),
                    scales: scales
                        .data()
                        .chunks_exact(2)
                        .map(|b| half::f16::from_le_bytes([b[0], b[1]]).to_f32())
                        .collect(),
                    bias,
                })
            };
        if info.contains_key("rank") {
            return Err(
                "it is a low-rank adapter (the first reader's format), which this \
                        citebot no longer reads: train it again with scripts/train_reader.py"
                    .to_string(),
            );
        }
        let first_layer = number("first_layer")? as usize;
        let layer_count = number("layers")? as usize;
        let intermediate = number("intermediate")? as usize;
        if layer_count == 0 || first_layer + layer_count > 64 || intermediate > 1 << 16 {
            return Err(format!(
                "layers {first_layer}..{} or intermediate size {intermediate} out of range",
                first_layer + layer_count
            ));
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
                let bias = floats(&format!("layer.{layer}.{name}.bias"), &[outputs])?;
                maps.push(delta(
                    &format!("layer.{layer}.{name}.delta"),
                    outputs,
                    inputs,
                    bias,
                )?);
            }
            layers.push(DeltaLayer { maps });
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
        Ok(Trained {
            layers,
            first_layer,
            passage_type: floats("token_type.1", &[DIMENSIONS])?,
            head,
            offset: head_bias - no_answer,
            shape,
            reads: (number("reads")? as usize).clamp(1, 16),
            decision,
            base: field("base")?.clone(),
        })
    }

    /// The reader on `model`: each tuned weight is the base weight plus its difference, added
    /// once here so that reading costs what the base model costs. The error says when the
    /// file does not fit the model (another architecture).
    pub fn on(self, model: &MeaningModel) -> Result<Reader, String> {
        let layers = self
            .layers
            .into_iter()
            .enumerate()
            .map(|(offset, deltas)| {
                let number = self.first_layer + offset;
                let mut bases = Vec::with_capacity(deltas.maps.len());
                for (index, delta) in deltas.maps.iter().enumerate() {
                    let (base, inputs) = model.base_weight(number, index).ok_or_else(|| {
                        format!(
                            "it tunes {} of layer {number}, which the model does not have \
                             in that size",
                            LAYER_MAPS[index]
                        )
                    })?;
                    if base.len() != delta.len() {
                        return Err(format!(
                            "its {} of layer {number} has {} weights, the model's {}",
                            LAYER_MAPS[index],
                            delta.len(),
                            base.len()
                        ));
                    }
                    bases.push((base, inputs));
                }
                let total: usize = bases.iter().map(|(base, _)| base.len()).sum();
                let mut store = MmapMut::map_anon(total * size_of::<f32>())
                    .map_err(|error| format!("no memory for its weights: {error}"))?;
                // Advice only: where huge pages are off, the kernel gives small ones.
                #[cfg(target_os = "linux")]
                let _ = store.advise(memmap2::Advice::HugePage);
                let floats: &mut [f32] = bytemuck::cast_slice_mut(&mut store[..]);
                let mut start = 0;
                let mut maps = Vec::with_capacity(deltas.maps.len());
                for (delta, (base, inputs)) in deltas.maps.into_iter().zip(bases) {
                    let weight = start..start + base.len();
                    delta.add_to(base, &mut floats[weight.clone()]);
                    start = weight.end;
                    maps.push(Tuned {
                        weight,
                        bias: delta.bias,
                        inputs,
                    });
                }
                let weights = store
                    .make_read_only()
                    .map_err(|error| format!("could not seal its weights: {error}"))?;
                Ok(TunedLayer { weights, maps })
            })
            .collect::<Result<Vec<_>, String>>()?;
        Ok(Trained {
            layers,
            first_layer: self.first_layer,
            passage_type: self.passage_type,
            head: self.head,
            offset: self.offset,
            shape: self.shape,
            reads: self.reads,
            decision: self.decision,
            base: self.base,
        })
    }
}

impl Trained<TunedLayer> {
    /// The fine-tuned maps of encoder layer `number`, if that layer is tuned.
    pub(super) fn layer(&self, number: usize) -> Option<&TunedLayer> {
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

/// A linear map of the forward pass: the reader's fine-tuned one where it has one, else the
/// base model's.
pub(super) fn apply_with(
    linear: &Linear,
    floats: &[f32],
    input: &[f32],
    rows: usize,
    threads: Threads,
    tuned: Option<(&TunedLayer, usize)>,
) -> Vec<f32> {
    match tuned {
        Some((layer, index)) => {
            let map = &layer.maps[index];
            products::linear(
                layer.weight(map),
                &map.bias,
                input,
                rows,
                map.inputs,
                threads,
            )
        }
        None => linear.apply(floats, input, rows, threads),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_reader_parses_with_a_calibrated_veto() {
        let reader = ReaderFile::builtin();
        assert_eq!(reader.reads, 3);
        assert!(reader.shape.max_tokens <= crate::MAX_TOKENS);
        assert!(reader.decision.veto_below <= reader.decision.unsure_below);
        assert!(reader.decision.veto_below.is_finite());
    }

    #[test]
    fn a_broken_reader_file_says_what_is_wrong() {
        let message = ReaderFile::parse(b"not a safetensors file")
            .err()
            .expect("refused");
        assert!(message.contains("not a safetensors file"), "{message}");
    }

    #[test]
    fn a_low_rank_adapter_of_the_first_reader_is_refused_with_what_to_do() {
        let zeros = [0u8; 4];
        let tensor = safetensors::tensor::TensorView::new(Dtype::F32, vec![1], &zeros)
            .expect("a one-float tensor");
        let metadata = HashMap::from([("rank".to_string(), "8".to_string())]);
        let bytes =
            safetensors::serialize([("head.bias", tensor)], Some(metadata)).expect("serialised");
        let message = ReaderFile::parse(&bytes).err().expect("refused");
        assert!(message.contains("low-rank adapter"), "{message}");
        assert!(message.contains("scripts/train_reader.py"), "{message}");
    }

    #[test]
    fn the_shipped_reader_tunes_whole_maps_stored_as_four_bit_differences() {
        let (_, metadata) = SafeTensors::read_metadata(BUILTIN).expect("header");
        let tensors = SafeTensors::deserialize(BUILTIN).expect("tensors");
        let first: usize = metadata.metadata().as_ref().expect("metadata")["first_layer"]
            .parse()
            .expect("a number");
        let delta = tensors
            .tensor(&format!("layer.{first}.query.delta"))
            .expect("a delta");
        assert_eq!(delta.dtype(), Dtype::U8);
        assert_eq!(delta.shape(), [DIMENSIONS, DIMENSIONS / 2]);
        let scale = tensors
            .tensor(&format!("layer.{first}.query.delta_scale"))
            .expect("its scales");
        assert_eq!(scale.dtype(), Dtype::F16);
        assert_eq!(scale.shape(), [DIMENSIONS, DIMENSIONS / QUANT_GROUP]);
        // Trained: not every difference is 0 (stored as 8 in both halves of a byte).
        assert!(delta.data().iter().any(|&byte| byte != 0x88));
    }

    #[test]
    fn the_best_score_of_none_read_never_passes_a_veto() {
        assert_eq!(ReaderDecision::best(&[]), f32::NEG_INFINITY);
        assert_eq!(ReaderDecision::best(&[-1.0, 2.0, 0.5]), 2.0);
    }
}
