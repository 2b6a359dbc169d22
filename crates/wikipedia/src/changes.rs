//! What changed between two revisions of an article, in the terms people use answers in:
//! passages added, removed or edited, and references added or removed.
//!
//! Passages are matched by text first (a passage whose text is unchanged is unchanged, even
//! when it moved); of the rest, a new passage in the same section as an old one that shares
//! most of its words is that passage edited. References are matched by the work they cite
//! (DOI, PMID, ISBN, else title and year), because inserting one renumbers all after it.

use std::collections::BTreeSet;

use citebot_core::article::Article;
use citebot_core::passage::Passage;

/// A body passage, as a change report names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PassageRef {
    pub id: String,
    pub section: String,
    pub text: String,
}

impl PassageRef {
    fn of(passage: &Passage) -> PassageRef {
        PassageRef {
            id: passage.id.clone(),
            section: passage.section_path.display(),
            text: passage.text.clone(),
        }
    }
}

/// The difference between two revisions of one article.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Changes {
    pub added: Vec<PassageRef>,
    pub removed: Vec<PassageRef>,
    /// (before, after)
    pub edited: Vec<(PassageRef, PassageRef)>,
    /// Short citations of the works cited now and not before.
    pub references_added: Vec<String>,
    pub references_removed: Vec<String>,
}

impl Changes {
    /// Whether the passages and references are the same (the revision may still differ in
    /// what citebot does not index: an infobox, a navigation box, formatting).
    pub fn is_empty(&self) -> bool {
        self.added.is_empty()
            && self.removed.is_empty()
            && self.edited.is_empty()
            && self.references_added.is_empty()
            && self.references_removed.is_empty()
    }

    /// "2 passages edited, 1 added, 0 removed; 1 reference added, 0 removed".
    pub fn summary(&self) -> String {
        format!(
            "{} passage{} edited, {} added, {} removed; {} reference{} added, {} removed",
            self.edited.len(),
            if self.edited.len() == 1 { "" } else { "s" },
            self.added.len(),
            self.removed.len(),
            self.references_added.len(),
            if self.references_added.len() == 1 {
                ""
            } else {
                "s"
            },
            self.references_removed.len(),
        )
    }

    /// One line per change, for a terminal.
    pub fn lines(&self) -> Vec<String> {
        let mut lines = Vec::new();
        for (before, after) in &self.edited {
            lines.push(format!(
                "edited   {}: {} → {}",
                after.section,
                excerpt(&before.text),
                excerpt(&after.text)
            ));
        }
        for passage in &self.added {
            lines.push(format!(
                "added    {}: {}",
                passage.section,
                excerpt(&passage.text)
            ));
        }
        for passage in &self.removed {
            lines.push(format!(
                "removed  {}: {}",
                passage.section,
                excerpt(&passage.text)
            ));
        }
        for reference in &self.references_added {
            lines.push(format!("reference added:   {reference}"));
        }
        for reference in &self.references_removed {
            lines.push(format!("reference removed: {reference}"));
        }
        lines
    }
}

/// The first words of a passage, quoted.
fn excerpt(text: &str) -> String {
    const MAX_CHARS: usize = 70;
    match text.char_indices().nth(MAX_CHARS) {
        Some((cut, _)) => format!("\"{}…\"", &text[..cut]),
        None => format!("\"{text}\""),
    }
}

fn words(text: &str) -> BTreeSet<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|word| !word.is_empty())
        .map(str::to_lowercase)
        .collect()
}

/// Shared words over all words (Jaccard), 0 to 1.
fn similarity(a: &BTreeSet<String>, b: &BTreeSet<String>) -> f64 {
    let union = a.union(b).count();
    if union == 0 {
        return 1.0;
    }
    a.intersection(b).count() as f64 / union as f64
}

/// A new passage this similar to an old one in the same section is an edit of it.
const EDIT_SIMILARITY: f64 = 0.5;

/// What changed from `before` to `after`.
pub fn compare(before: &Article, after: &Article) -> Changes {
    let old: Vec<&Passage> = before.body_passages().collect();
    let new: Vec<&Passage> = after.body_passages().collect();
    let mut old_left: Vec<Option<&Passage>> = old.iter().copied().map(Some).collect();
    let mut new_left: Vec<&Passage> = Vec::new();
    for passage in &new {
        match old_left
            .iter()
            .position(|o| o.is_some_and(|o| o.text == passage.text))
        {
            Some(at) => old_left[at] = None,
            None => new_left.push(passage),
        }
    }
    let mut changes = Changes::default();
    for passage in new_left {
        let new_words = words(&passage.text);
        let best = old_left
            .iter()
            .enumerate()
            .filter_map(|(at, o)| o.map(|o| (at, o)))
            .filter(|(_, o)| o.section_path == passage.section_path)
            .map(|(at, o)| (at, similarity(&words(&o.text), &new_words)))
            .filter(|(_, score)| *score >= EDIT_SIMILARITY)
            .max_by(|a, b| a.1.total_cmp(&b.1));
        match best {
            Some((at, _)) => {
                let old_passage = old_left[at].take().expect("matched passage is still left");
                changes
                    .edited
                    .push((PassageRef::of(old_passage), PassageRef::of(passage)));
            }
            None => changes.added.push(PassageRef::of(passage)),
        }
    }
    changes.removed = old_left.into_iter().flatten().map(PassageRef::of).collect();

    let old_works: Vec<String> = before.references.iter().map(|c| c.work_key()).collect();
    let new_works: Vec<String> = after.references.iter().map(|c| c.work_key()).collect();
    changes.references_added = after
        .references
        .iter()
        .filter(|c| !old_works.contains(&c.work_key()))
        .map(|c| format!("[{}] {}", c.number, c.short()))
        .collect();
    changes.references_removed = before
        .references
        .iter()
        .filter(|c| !new_works.contains(&c.work_key()))
        .map(|c| format!("[{}] {}", c.number, c.short()))
        .collect();
    changes
}

#[cfg(test)]
mod tests {
    use super::*;
    use citebot_core::article::{parse_article, PassageLimits};

    const BEFORE: &str = "From Wikipedia, the free encyclopedia\nTopic\n\nOne sentence about the lead here. [1]\n\nTreatment\n\nDrugs such as diltiazem are used for this condition. [1]\n\nSurgery removes the deposits. [1]\n\nReferences\n\n1. ^ Smith, J. (2001). \"A title\". J. PMID 42.\n";

    #[test]
    fn edits_additions_and_removals_are_told_apart() {
        let after = BEFORE
            .replace(
                "Drugs such as diltiazem are used for this condition.",
                "Drugs such as diltiazem and colchicine are used for this condition.",
            )
            .replace("Surgery removes the deposits. [1]\n\n", "")
            .replace(
                "References",
                "Prognosis\n\nMost people recover within years. [2]\n\nReferences",
            )
            + "2. ^ Doe, A. (2020). \"Another\". K. PMID 43.\n";
        let before = parse_article("t", BEFORE, PassageLimits::default());
        let after = parse_article("t", &after, PassageLimits::default());
        let changes = compare(&before, &after);
        assert_eq!(changes.edited.len(), 1, "{changes:?}");
        assert!(changes.edited[0].1.text.contains("colchicine"));
        assert_eq!(changes.added.len(), 1);
        assert_eq!(changes.added[0].section, "Prognosis");
        assert_eq!(changes.removed.len(), 1);
        assert_eq!(changes.references_added.len(), 1);
        assert!(changes.references_removed.is_empty());
        assert!(compare(&before, &before).is_empty());
    }
}
