//! The query path on any text: the engine over the seed corpus answers (or abstains) without
//! panicking, and the JSON of `search --json` is valid and echoes the question.

#![no_main]

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use citebot_presentation::json::SearchResponse;
use citebot_core::Engine;
use libfuzzer_sys::fuzz_target;

/// A copy of the seed corpus with its own index, built once per fuzzing process.
fn engine() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(|| {
        let seed = Path::new(env!("CARGO_MANIFEST_DIR")).join("../corpus");
        // scripts/fuzz-smoke.sh names a folder it removes afterwards.
        let base = std::env::var_os("CITEBOT_FUZZ_WORKDIR")
            .map(PathBuf::from)
            .unwrap_or_else(std::env::temp_dir);
        let root = base.join(format!("citebot-fuzz-{}", std::process::id()));
        let corpus = root.join("corpus");
        std::fs::create_dir_all(&corpus).expect("temporary corpus folder");
        for entry in std::fs::read_dir(&seed).expect("seed corpus").flatten() {
            if entry.path().is_file() {
                std::fs::copy(entry.path(), corpus.join(entry.file_name())).expect("copy");
            }
        }
        let config_path = root.join("config.toml");
        std::fs::write(
            &config_path,
            "corpus_dir = \"corpus\"\nindex_dir = \"index\"\n",
        )
        .expect("config");
        let config = citebot_core::Config::load(&config_path).expect("config loads");
        Engine::open(&config).expect("engine opens")
    })
}

fuzz_target!(|data: &[u8]| {
    let (top, rest) = match data.split_first() {
        Some((&first, rest)) => (usize::from(first % 10) + 1, rest),
        None => (3, data),
    };
    let question = String::from_utf8_lossy(rest);
    let answer = engine().ask(&question, top);
    assert!(answer.hits.len() <= top);
    assert_eq!(answer.answered(), !answer.hits.is_empty());
    for hit in &answer.hits {
        let _ = hit.best_sentence();
        let _ = hit.best_refs();
    }
    let json = serde_json::to_string(&SearchResponse::from_answer(&answer)).expect("serialises");
    let value: serde_json::Value = serde_json::from_str(&json).expect("valid JSON");
    assert_eq!(value["query"].as_str(), Some(question.as_ref()));
});
