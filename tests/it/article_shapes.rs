//! Shapes of Wikipedia copies the seed lacks: adjacent markers, footnotes with a Notes list,
//! [citation needed], flattened lists, deeper headings, Further reading, CRLF and a BOM; and a
//! second article dropped into the corpus working with no other step.

use citebot_test_support as common;

use citebot_core::article::{parse_article, PassageLimits};
use citebot_core::passage::{MarkerTarget, PassageKind};
use predicates::prelude::*;

const SECOND: &str = "From Wikipedia, the free encyclopedia
Pseudogout
Other namesCalcium pyrophosphate deposition disease
Specialty Rheumatology\u{a0} Edit this on Wikidata

Pseudogout is a form of arthritis caused by calcium pyrophosphate crystals in joints.[1][2] It most often affects the knee.[3][a]

Signs and symptoms

Attacks come suddenly and may last days.[citation needed] Common findings include:
Joint swelling
Warmth over the joint
Fever in some people[2]

Diagnosis

Imaging

Radiography

X-rays may show chondrocalcinosis, thin lines of calcium in cartilage.[4]: 12–13 

Treatment

Colchicine and NSAIDs are used to reduce inflammation during attacks.[2][4]

Notes

a. ^ The wrist is the second most common site.

References

  1. ^ a b Rosenthal, Ann K.; Ryan, Lawrence M. (2016). \"Calcium Pyrophosphate Deposition Disease\". New England Journal of Medicine. 374 (26): 2575–2584. doi: 10.1056/NEJMra1511117. PMID 27355536.
  2. ^ a b c \"Pseudogout\". Mayo Clinic. Retrieved 12 March 2023.
  3. ^ Zhang, W. (2011). Rheumatology. Oxford University Press. ISBN 978-0-19-958866-1.
  4. ^ a b Smith, J (2010). \"Imaging of crystal arthritis\". Radiology Journal. 12 (3): 10–20. PMC 1234567. PMID 7654321.

Further reading

Doe, J. (2001). Crystals in joints. Example Press. ISBN 0-19-123456-7.

External links";

#[test]
fn other_wikipedia_shapes_parse() {
    let article = parse_article("pseudogout", SECOND, PassageLimits::default());
    assert_eq!(article.title, "Pseudogout");
    assert_eq!(article.references.len(), 4);
    assert!(article.warnings.is_empty(), "{:?}", article.warnings);

    let lead = &article.passages[0];
    assert_eq!(lead.section_path.display(), "Lead");
    // Adjacent markers [1][2] both cite the first sentence; [3][a] the second.
    assert_eq!(
        lead.sentences[0]
            .refs()
            .iter()
            .map(|n| n.0)
            .collect::<Vec<_>>(),
        [1, 2]
    );
    assert!(lead.sentences[1]
        .markers
        .iter()
        .any(|m| m.target == MarkerTarget::Note("a".to_string())));

    let signs = article
        .body_passages()
        .find(|p| p.text.starts_with("Attacks"))
        .expect("signs passage with its flattened list");
    assert!(
        signs.text.contains("Joint swelling\nWarmth over the joint"),
        "list lines kept together"
    );
    assert!(signs.sentences[0]
        .markers
        .iter()
        .any(|m| m.target == MarkerTarget::CitationNeeded));

    let xray = article
        .body_passages()
        .find(|p| p.text.starts_with("X-rays"))
        .expect("deep passage");
    assert_eq!(
        xray.section_path.display(),
        "Diagnosis › Imaging › Radiography"
    );
    assert_eq!(
        xray.sentences[0].markers[0].locator.as_deref(),
        Some("12–13")
    );

    let note = article
        .passages
        .iter()
        .find(|p| p.kind == PassageKind::Note)
        .expect("the Notes list becomes a note passage");
    assert!(note.text.starts_with("The wrist"));
    // Further reading is not body text.
    assert!(article
        .passages
        .iter()
        .all(|p| !p.text.contains("Crystals in joints")));
    let web = &article.references[1];
    assert_eq!(web.retrieved.as_deref(), Some("12 March 2023"));
    assert!(web.authors.is_empty());
    assert_eq!(
        article.references[2].isbn.as_deref(),
        Some("978-0-19-958866-1")
    );
}

#[test]
fn crlf_line_ends_and_a_bom_parse_like_the_original() {
    let plain = parse_article("x", SECOND, PassageLimits::default());
    let windows = format!("\u{FEFF}{}", SECOND.replace('\n', "\r\n"));
    let converted = parse_article("x", &windows, PassageLimits::default());
    assert_eq!(plain.title, converted.title);
    assert_eq!(plain.references, converted.references);
    let texts = |a: &citebot_core::article::Article| {
        a.passages
            .iter()
            .map(|p| p.text.replace('\r', ""))
            .collect::<Vec<_>>()
    };
    assert_eq!(texts(&plain), texts(&converted));
}

#[test]
fn markers_to_missing_references_are_reported() {
    let text = SECOND.replace(
        "reduce inflammation during attacks.[2][4]",
        "reduce inflammation during attacks.[2][9]",
    );
    let article = parse_article("x", &text, PassageLimits::default());
    assert!(
        article.warnings.iter().any(|w| w.message.contains("[9]")),
        "{:?}",
        article.warnings
    );
}

#[test]
fn long_paragraphs_are_cut_between_sentences() {
    let sentence = "Calcium deposits form slowly in the skin over many years of disease. ";
    let text = format!(
        "Title\n\n{}[1]\n\nReferences\n\n  1. ^ A. (2000). \"T\". J.",
        sentence.repeat(60)
    );
    let article = parse_article(
        "x",
        &text,
        PassageLimits {
            max_passage_bytes: 600,
        },
    );
    let bodies: Vec<_> = article.body_passages().collect();
    assert!(bodies.len() > 1);
    for passage in bodies {
        assert!(passage.text.len() <= 600 + sentence.len());
        assert!(text.contains(&passage.text), "passage text is exact");
        assert!(passage.text.ends_with('.') || passage.text.ends_with(']'));
    }
}

#[test]
fn a_second_article_dropped_in_just_works() {
    let workspace = common::Workspace::with_seed_corpus();
    workspace
        .citebot(&["search", "--json", "diltiazem"])
        .assert()
        .success();
    std::fs::write(workspace.corpus_dir().join("pseudogout.txt"), SECOND).expect("write article");
    workspace
        .citebot(&["search", "--json", "pyrophosphate crystals knee"])
        .assert()
        .success()
        .stdout(predicate::str::contains("\"article\":\"pseudogout\""))
        .stderr(predicate::str::contains("rebuil").or(predicate::str::contains("built")));
    // With two articles, refs asks which one, then answers for the one chosen.
    workspace
        .citebot(&["refs", "1"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--article").and(predicate::str::contains("pseudogout")));
    workspace
        .citebot(&["refs", "1", "--article", "pseudogout"])
        .assert()
        .success()
        .stdout(predicate::str::contains("Rosenthal"));
}

/// A paragraph as real articles have them: a quotation with editorial brackets, and the
/// footnotes of a Notes list, one of them glued to a word.
const QUOTATIONS: &str = "From Wikipedia, the free encyclopedia
Hartwell chronicle

The Hartwell chronicle is a fifteenth-century record of the abbey of Hartwell.[a] Its last scribe wrote that it was \"a duty for [me] to record it\", and that he had work[ed] on it \"until my eyes fail[ed] me\".[1] A later hand adds that the abbots \"implore[s] the reader to forgive the spelling [sic]\".[2]: 14 

The abbey's Latin name, Abbatia Hertwellensis[b], appears only in the chronicle itself.[c][2]

Notes

a. ^ Some historians date it to the fourteenth century.
b. ^ Also spelled Hertwellensis in later charters.

References

  1. ^ Ward, Anne (1998). The Hartwell Chronicle. Example Press. ISBN 0-19-123456-7.
  2. ^ Ward, Anne (2001). \"Scribes of Hartwell\". Journal of Abbey Studies. 4 (2): 10–20.
";

fn markers_of(article: &citebot_core::article::Article, starts: &str) -> Vec<MarkerTarget> {
    let passage = article
        .body_passages()
        .find(|p| p.text.starts_with(starts))
        .unwrap_or_else(|| panic!("a passage starting {starts:?}"));
    let mut targets: Vec<MarkerTarget> = passage
        .sentences
        .iter()
        .flat_map(|s| s.markers.iter().map(|m| m.target.clone()))
        .collect();
    targets.dedup();
    targets
}

#[test]
fn editorial_brackets_in_quotations_are_text() {
    let article = parse_article("hartwell", QUOTATIONS, PassageLimits::default());
    // `[me]`, `work[ed]`, `fail[ed]`, `implore[s]` and `[sic]` are the quotation's own words;
    // `[a]` and the glued `Hertwellensis[b]` are labels of the Notes list; `[c]` looks like a
    // footnote the Notes list lost, so it is one, and reported.
    assert_eq!(
        markers_of(&article, "The Hartwell chronicle"),
        [
            MarkerTarget::Note("a".to_string()),
            MarkerTarget::Reference(citebot_core::citation::RefNumber(1)),
            MarkerTarget::Reference(citebot_core::citation::RefNumber(2)),
        ]
    );
    assert_eq!(
        markers_of(&article, "The abbey's Latin name"),
        [
            MarkerTarget::Note("b".to_string()),
            MarkerTarget::Note("c".to_string()),
            MarkerTarget::Reference(citebot_core::citation::RefNumber(2)),
        ]
    );
    let messages: Vec<&str> = article
        .warnings
        .iter()
        .map(|w| w.message.as_str())
        .collect();
    assert_eq!(messages.len(), 1, "{messages:?}");
    assert!(messages[0].starts_with("marker [c] points to no entry of the Notes list"));
    // Text is never rewritten: the brackets stay in the passage, and its sentences still end
    // where the markers do.
    let lead = &article.passages[0];
    assert!(QUOTATIONS.contains(&lead.text));
    assert!(lead.text.contains("\"a duty for [me] to record it\""));
    let sentence_texts: Vec<&str> = lead
        .sentences
        .iter()
        .map(|s| &lead.text[s.start..s.end])
        .collect();
    assert_eq!(sentence_texts.len(), 3, "{sentence_texts:?}");
    assert!(sentence_texts[1].ends_with("fail[ed] me\".[1]"));
    assert!(sentence_texts[2].ends_with("[sic]\".[2]: 14"));
}

/// Footnotes keep working: `[note 1]`, `[nb 2]` resolve or are reported like `[a]`, and
/// `[citation needed]` marks a claim without a source.
#[test]
fn footnote_markers_and_inline_tags_keep_working() {
    let text = "Title\n\nA first claim.[note 1] A second claim.[nb 2] A third.[citation needed] \
                A fourth.[a]\n\nReferences\n\n  1. ^ A. (2000). \"T\". J.\n";
    let article = parse_article("x", text, PassageLimits::default());
    let targets = markers_of(&article, "A first claim");
    assert_eq!(
        targets,
        [
            MarkerTarget::Note("note 1".to_string()),
            MarkerTarget::Note("nb 2".to_string()),
            MarkerTarget::CitationNeeded,
            MarkerTarget::Note("a".to_string()),
        ]
    );
    let messages: Vec<&str> = article
        .warnings
        .iter()
        .map(|w| w.message.as_str())
        .collect();
    for label in ["[note 1]", "[nb 2]", "[a]"] {
        assert_eq!(
            messages
                .iter()
                .filter(|m| m.starts_with(&format!("marker {label} ")))
                .count(),
            1,
            "{label} is reported once: {messages:?}"
        );
    }
}

/// A marker lent backwards to every sentence before it is still one problem: one warning, on
/// the line the marker is on, with the words before it.
#[test]
fn a_missing_marker_is_reported_once_where_it_stands() {
    let text = "Title\n\n\
        Deposits form in the skin. They are firm. They may be painful. They may ulcerate.\n\
        Most are found on the hands. Some heal without treatment.[9]\n\n\
        References\n\n  1. ^ A. (2000). \"T\". J.\n";
    let article = parse_article("x", text, PassageLimits::default());
    let lent_to = article.passages[0]
        .sentences
        .iter()
        .filter(|s| {
            s.markers
                .iter()
                .any(|m| m.target == MarkerTarget::Reference(citebot_core::citation::RefNumber(9)))
        })
        .count();
    assert_eq!(
        lent_to, 6,
        "the marker covers every sentence of the paragraph"
    );
    assert_eq!(article.warnings.len(), 1, "{:?}", article.warnings);
    let warning = &article.warnings[0];
    assert_eq!(
        warning.line, 4,
        "the marker's own line, not the paragraph's first"
    );
    assert_eq!(
        warning.message,
        "marker [9] points to no entry of the References list, after \
         \"…the hands. Some heal without treatment.[9]\""
    );
}

/// `citebot index`, and a command that rebuilds a stale index on its own, print each problem
/// once, naming the article and the line.
#[test]
fn build_warnings_are_printed_once() {
    let workspace = common::Workspace::with_seed_corpus();
    std::fs::write(workspace.corpus_dir().join("hartwell.txt"), QUOTATIONS).expect("write article");
    let expected = "hartwell.txt line 6: marker [c] points to no entry of the Notes list, after \
                    \"…appears only in the chronicle itself.[c]\"";

    let rebuilt = workspace
        .citebot(&["search", "--json", "Hartwell chronicle scribe"])
        .output()
        .expect("citebot runs");
    assert!(rebuilt.status.success());
    let stderr = String::from_utf8_lossy(&rebuilt.stderr);
    assert_eq!(stderr.matches(expected).count(), 1, "{stderr}");
    assert_eq!(stderr.matches("warning:").count(), 1, "{stderr}");

    let indexed = common::stdout_of(&mut workspace.citebot(&["index"]));
    assert_eq!(indexed.matches(expected).count(), 1, "{indexed}");
    assert_eq!(indexed.matches("warning:").count(), 1, "{indexed}");
}
