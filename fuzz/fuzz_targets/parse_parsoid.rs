//! The Parsoid reader (fetched Wikipedia articles) on any bytes: no panic; every sentence is a
//! valid slice of its passage; every passage survives the JSON round trip the index stores it
//! through; the page checks `citebot add` runs before writing never panic either.

#![no_main]

use citebot_core::article::PassageLimits;
use citebot_core::passage::Passage;
use citebot_core::wikipedia::parsoid::{check_document, parse_parsoid};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (limit, rest) = match data.split_first() {
        Some((&first, rest)) => (200 + usize::from(first) * 8, rest),
        None => (PassageLimits::default().max_passage_bytes, data),
    };
    let html = String::from_utf8_lossy(rest);
    let limits = PassageLimits {
        max_passage_bytes: limit,
    };
    let _ = check_document(&html);
    let article = parse_parsoid("fuzz", "Fuzz", None, &html, None, limits);
    for passage in &article.passages {
        assert!(!passage.text.is_empty() || passage.kind != citebot_core::passage::PassageKind::Body);
        let mut previous_end = 0;
        for (index, sentence) in passage.sentences.iter().enumerate() {
            assert!(sentence.start < sentence.end && sentence.end <= passage.text.len());
            assert!(sentence.start >= previous_end, "sentences overlap");
            previous_end = sentence.end;
            let _ = passage.sentence_text(index);
        }
        let bytes = serde_json::to_vec(passage).expect("a passage serialises");
        let back: Passage = serde_json::from_slice(&bytes).expect("a passage deserialises");
        assert_eq!(&back, passage);
    }
    let _ = article.aliases();
});
