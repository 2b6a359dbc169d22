//! Shapes of Wikipedia copies the seed lacks: adjacent markers, footnotes with a Notes list,
//! [citation needed], flattened lists, deeper headings, Further reading, CRLF and a BOM; and a
//! second article dropped into the corpus working with no other step.

mod common;

use citebot::article::{parse_article, PassageLimits};
use citebot::passage::{MarkerTarget, PassageKind};
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
    let texts = |a: &citebot::article::Article| {
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
