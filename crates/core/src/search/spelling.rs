//! Spelling correction over the index's own term dictionary: the closest word within one edit
//! (two for long words), the most frequent among equals.

use std::sync::LazyLock;

use crate::index::Fields;

/// The closest word to `stem` in the index's text vocabulary: one edit for short words, two
/// for long ones; among equals, the most frequent.
pub(super) fn correct_spelling(
    searcher: &tantivy::Searcher,
    fields: &Fields,
    stem: &str,
) -> Option<String> {
    let length = stem.chars().count();
    if length < 4 || !stem.chars().all(char::is_alphabetic) {
        return None;
    }
    // One edit first: its automaton is small and most slips are one edit. Two edits turn too
    // many ordinary words into names ("weather" → "Wetter"): only for long words, where two
    // slips are common and collisions rare.
    closest_within(searcher, fields, stem, &ONE_EDIT).or_else(|| {
        (length >= 8)
            .then(|| closest_within(searcher, fields, stem, &TWO_EDITS))
            .flatten()
    })
}

fn closest_within(
    searcher: &tantivy::Searcher,
    fields: &Fields,
    stem: &str,
    builder: &levenshtein_automata::LevenshteinAutomatonBuilder,
) -> Option<String> {
    let dfa = builder.build_dfa(stem);
    let mut best: Option<(u8, u32, String)> = None;
    for segment in searcher.segment_readers() {
        let Ok(inverted) = segment.inverted_index(fields.text) else {
            continue;
        };
        let Ok(mut stream) = inverted.terms().search(DfaAutomaton(&dfa)).into_stream() else {
            continue;
        };
        while stream.advance() {
            let Ok(word) = std::str::from_utf8(stream.key()) else {
                continue;
            };
            let edits = match dfa.eval(word) {
                levenshtein_automata::Distance::Exact(edits) => edits,
                levenshtein_automata::Distance::AtLeast(_) => continue,
            };
            let frequency = stream.value().doc_freq;
            let better = match &best {
                None => true,
                Some((best_edits, best_frequency, _)) => {
                    edits < *best_edits || (edits == *best_edits && frequency > *best_frequency)
                }
            };
            if better {
                best = Some((edits, frequency, word.to_string()));
            }
        }
    }
    best.map(|(_, _, word)| word)
}

/// Building a Levenshtein automaton builder costs milliseconds; building a DFA from one is
/// cheap. So the builders are made once (transpositions count as one edit: "cuits" → "cutis").
static ONE_EDIT: LazyLock<levenshtein_automata::LevenshteinAutomatonBuilder> =
    LazyLock::new(|| levenshtein_automata::LevenshteinAutomatonBuilder::new(1, true));
static TWO_EDITS: LazyLock<levenshtein_automata::LevenshteinAutomatonBuilder> =
    LazyLock::new(|| levenshtein_automata::LevenshteinAutomatonBuilder::new(2, true));

/// A Levenshtein DFA walked over tantivy's term dictionary (the same wrapper tantivy's fuzzy
/// query uses internally, which is not public).
struct DfaAutomaton<'a>(&'a levenshtein_automata::DFA);

impl tantivy_fst::Automaton for DfaAutomaton<'_> {
    type State = u32;

    fn start(&self) -> u32 {
        self.0.initial_state()
    }

    fn is_match(&self, state: &u32) -> bool {
        matches!(
            self.0.distance(*state),
            levenshtein_automata::Distance::Exact(_)
        )
    }

    fn can_match(&self, state: &u32) -> bool {
        *state != levenshtein_automata::SINK_STATE
    }

    fn accept(&self, state: &u32, byte: u8) -> u32 {
        self.0.transition(*state, byte)
    }
}
