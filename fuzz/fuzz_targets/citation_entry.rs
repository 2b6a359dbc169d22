//! Reference-list lines on any text: splitting, parsing and every rendering of a citation.

#![no_main]

use citebot_core::citation::{self, RefNumber};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = citation::split_reference_line(&text);
    let _ = citation::split_note_line(&text);
    let parsed = citation::parse_entry(RefNumber(1), &text);
    let _ = parsed.short();
    let _ = parsed.full();
    let _ = parsed.links();
    let _ = parsed.work_key();
    let _ = parsed.identity_keys();
    let other = citation::parse_entry(RefNumber(2), &text);
    let _ = citation::group_same_works(&[parsed, other]);
});
