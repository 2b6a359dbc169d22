//! The stored passage's compact binary form, written in the `payload` field and read back
//! when a passage is fetched.

use crate::citation::RefNumber;
use crate::passage::{Marker, MarkerTarget, Passage, PassageKind, SectionPath, Sentence};

// The stored passage: a compact binary form (a JSON payload was a tenth of the build's CPU and
// most of the doc store). Varint lengths and numbers, UTF-8 strings; the first byte is the
// payload's version.

const PASSAGE_PAYLOAD_VERSION: u8 = 1;

fn put_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

fn put_str(out: &mut Vec<u8>, text: &str) {
    put_varint(out, text.len() as u64);
    out.extend_from_slice(text.as_bytes());
}

pub(super) fn encode_passage(passage: &Passage) -> Vec<u8> {
    let mut out = Vec::with_capacity(passage.text.len() + 128);
    out.push(PASSAGE_PAYLOAD_VERSION);
    put_str(&mut out, &passage.id);
    put_str(&mut out, &passage.article);
    put_str(&mut out, &passage.article_title);
    put_varint(&mut out, passage.section_path.0.len() as u64);
    for heading in &passage.section_path.0 {
        put_str(&mut out, heading);
    }
    match passage.kind {
        PassageKind::Body => out.push(0),
        PassageKind::Note => out.push(1),
        PassageKind::Reference(number) => {
            out.push(2);
            put_varint(&mut out, u64::from(number.0));
        }
    }
    put_str(&mut out, &passage.text);
    put_varint(&mut out, passage.sentences.len() as u64);
    for sentence in &passage.sentences {
        put_varint(&mut out, sentence.start as u64);
        put_varint(&mut out, sentence.end as u64);
        put_varint(&mut out, sentence.markers.len() as u64);
        for marker in &sentence.markers {
            match &marker.target {
                MarkerTarget::Reference(number) => {
                    out.push(0);
                    put_varint(&mut out, u64::from(number.0));
                }
                MarkerTarget::Note(label) => {
                    out.push(1);
                    put_str(&mut out, label);
                }
                MarkerTarget::CitationNeeded => out.push(2),
            }
            match &marker.locator {
                Some(locator) => {
                    out.push(1);
                    put_str(&mut out, locator);
                }
                None => out.push(0),
            }
        }
    }
    out
}

struct PayloadReader<'a>(&'a [u8]);

impl<'a> PayloadReader<'a> {
    fn byte(&mut self) -> Option<u8> {
        let (&first, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(first)
    }

    fn varint(&mut self) -> Option<u64> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = self.byte()?;
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Some(value);
            }
        }
        None
    }

    fn count(&mut self) -> Option<usize> {
        let count = usize::try_from(self.varint()?).ok()?;
        // Every element takes at least a byte: a count beyond that is damage.
        (count <= self.0.len()).then_some(count)
    }

    fn string(&mut self) -> Option<String> {
        let len = self.count()?;
        let (text, rest) = self.0.split_at_checked(len)?;
        self.0 = rest;
        std::str::from_utf8(text).ok().map(str::to_string)
    }

    fn ref_number(&mut self) -> Option<RefNumber> {
        u32::try_from(self.varint()?).ok().map(RefNumber)
    }
}

pub(super) fn decode_passage(bytes: &[u8]) -> Option<Passage> {
    let mut input = PayloadReader(bytes);
    if input.byte()? != PASSAGE_PAYLOAD_VERSION {
        return None;
    }
    let id = input.string()?;
    let article = input.string()?;
    let article_title = input.string()?;
    let headings = input.count()?;
    let section_path = SectionPath(
        (0..headings)
            .map(|_| input.string())
            .collect::<Option<Vec<_>>>()?,
    );
    let kind = match input.byte()? {
        0 => PassageKind::Body,
        1 => PassageKind::Note,
        2 => PassageKind::Reference(input.ref_number()?),
        _ => return None,
    };
    let text = input.string()?;
    let count = input.count()?;
    let mut sentences = Vec::with_capacity(count);
    for _ in 0..count {
        let start = usize::try_from(input.varint()?).ok()?;
        let end = usize::try_from(input.varint()?).ok()?;
        if start > end
            || end > text.len()
            || !text.is_char_boundary(start)
            || !text.is_char_boundary(end)
        {
            return None;
        }
        let markers = input.count()?;
        let mut list = Vec::with_capacity(markers);
        for _ in 0..markers {
            let target = match input.byte()? {
                0 => MarkerTarget::Reference(input.ref_number()?),
                1 => MarkerTarget::Note(input.string()?),
                2 => MarkerTarget::CitationNeeded,
                _ => return None,
            };
            let locator = match input.byte()? {
                0 => None,
                1 => Some(input.string()?),
                _ => return None,
            };
            list.push(Marker { target, locator });
        }
        sentences.push(Sentence {
            start,
            end,
            markers: list,
        });
    }
    if !input.0.is_empty() {
        return None;
    }
    Some(Passage {
        id,
        article,
        article_title,
        section_path,
        kind,
        text,
        sentences,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample_passage() -> Passage {
        Passage {
            id: "some-article#p03".to_string(),
            article: "some-article".to_string(),
            article_title: "Some article — é".to_string(),
            section_path: SectionPath(vec!["Treatment".to_string(), "Drugs".to_string()]),
            kind: PassageKind::Body,
            text: "Colchicine helps.[3][a]: 45 It is cheap.[citation needed]".to_string(),
            sentences: vec![
                Sentence {
                    start: 0,
                    end: 25,
                    markers: vec![
                        Marker {
                            target: MarkerTarget::Reference(RefNumber(3)),
                            locator: None,
                        },
                        Marker {
                            target: MarkerTarget::Note("a".to_string()),
                            locator: Some("45".to_string()),
                        },
                    ],
                },
                Sentence {
                    start: 26,
                    end: 57,
                    markers: vec![Marker {
                        target: MarkerTarget::CitationNeeded,
                        locator: None,
                    }],
                },
            ],
        }
    }

    #[test]
    fn stored_passages_read_back_as_written() {
        let mut passage = sample_passage();
        assert_eq!(
            decode_passage(&encode_passage(&passage)),
            Some(passage.clone())
        );
        passage.kind = PassageKind::Reference(RefNumber(300_000));
        passage.section_path = SectionPath::default();
        passage.sentences.clear();
        assert_eq!(
            decode_passage(&encode_passage(&passage)),
            Some(passage.clone())
        );
        passage.kind = PassageKind::Note;
        assert_eq!(decode_passage(&encode_passage(&passage)), Some(passage));
    }

    #[test]
    fn damaged_payloads_are_refused_not_misread() {
        let bytes = encode_passage(&sample_passage());
        for cut in 0..bytes.len() {
            assert_eq!(decode_passage(&bytes[..cut]), None, "cut at {cut}");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert_eq!(decode_passage(&longer), None);
        for at in 0..bytes.len() {
            let mut flipped = bytes.clone();
            flipped[at] ^= 0xff;
            // Any result but a panic; a decoded passage keeps its sentence ranges valid.
            if let Some(passage) = decode_passage(&flipped) {
                for sentence in &passage.sentences {
                    let _ = &passage.text[sentence.start..sentence.end];
                }
            }
        }
    }
}
