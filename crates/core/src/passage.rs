//! Passages: the paragraph-sized units citebot retrieves and shows, with their citations.

use serde::{Deserialize, Serialize};

use crate::citation::RefNumber;

/// Where a passage sits in its article: the headings above it, outermost first.
/// The lead (text before the first heading) has an empty path.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SectionPath(pub Vec<String>);

impl SectionPath {
    /// The heading nearest the passage, or "Lead" for the lead.
    pub fn nearest(&self) -> &str {
        self.0.last().map(String::as_str).unwrap_or("Lead")
    }

    /// The path joined for display: "Diagnosis › Classification › Iatrogenic calcinosis cutis".
    pub fn display(&self) -> String {
        if self.0.is_empty() {
            "Lead".to_string()
        } else {
            self.0.join(" › ")
        }
    }
}

/// What a reference marker points at.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "label")]
pub enum MarkerTarget {
    /// `[15]`: an entry of the References list.
    Reference(RefNumber),
    /// `[a]`: an entry of the Notes list.
    Note(String),
    /// `[citation needed]` and the like: the article says the claim is unsourced.
    CitationNeeded,
}

/// One marker as it appears in the text, e.g. `[5]: 527–530`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Marker {
    pub target: MarkerTarget,
    /// The page locator after the marker ("527–530"), kept as written.
    pub locator: Option<String>,
}

/// A sentence of a passage, as a byte range of the passage text, with the markers that cite it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sentence {
    /// Byte offset of the sentence's first character in [`Passage::text`].
    pub start: usize,
    /// Byte offset just past the sentence, markers included.
    pub end: usize,
    /// Markers that cite this sentence: its own, or, when it has none, the next marker run in
    /// the same paragraph (Wikipedia puts one marker after several sentences it covers).
    pub markers: Vec<Marker>,
}

impl Sentence {
    /// Reference numbers citing this sentence, in order, without repeats.
    pub fn refs(&self) -> Vec<RefNumber> {
        let mut refs: Vec<RefNumber> = Vec::new();
        for marker in &self.markers {
            if let MarkerTarget::Reference(number) = marker.target {
                if !refs.contains(&number) {
                    refs.push(number);
                }
            }
        }
        refs
    }
}

/// What a passage is made of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PassageKind {
    /// A paragraph (or a flattened list) of the article's body.
    Body,
    /// An entry of the References list: searchable, so questions about the cited works find it.
    Reference(RefNumber),
    /// An entry of the Notes list (`a. ^ …`).
    Note,
}

/// A paragraph-sized piece of an article, with its exact text and its citations.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Passage {
    /// Stable id: `{article slug}#p{NN}` for body passages, `{slug}#ref{N}` for references,
    /// `{slug}#note-{label}` for notes.
    pub id: String,
    /// The article's slug (its file name without `.txt`).
    pub article: String,
    /// The article's title.
    pub article_title: String,
    pub section_path: SectionPath,
    pub kind: PassageKind,
    /// The text exactly as in the article, markers included.
    pub text: String,
    /// The sentences covering `text` from start to end, in order.
    pub sentences: Vec<Sentence>,
}

impl Passage {
    /// All reference numbers cited anywhere in the passage, in order of first appearance.
    /// For a References-list entry, its own number.
    pub fn refs(&self) -> Vec<RefNumber> {
        if let PassageKind::Reference(number) = self.kind {
            return vec![number];
        }
        let mut refs: Vec<RefNumber> = Vec::new();
        for sentence in &self.sentences {
            for number in sentence.refs() {
                if !refs.contains(&number) {
                    refs.push(number);
                }
            }
        }
        refs
    }

    /// The text of sentence `index`.
    pub fn sentence_text(&self, index: usize) -> &str {
        let sentence = &self.sentences[index];
        &self.text[sentence.start..sentence.end]
    }
}
