//! The shipped article, parsed: what the article says must come out of the parser intact,
//! with the right sections and citations.

use citebot_test_support as common;

use citebot_core::article::{parse_article, PassageLimits};
use citebot_core::citation::RefNumber;
use citebot_core::passage::PassageKind;

const SEED: &str = include_str!("../../../../corpus/calcinosis-cutis.txt");

fn seed() -> citebot_core::article::Article {
    parse_article("calcinosis-cutis", SEED, PassageLimits::default())
}

#[test]
fn shipped_article_is_the_seed_byte_for_byte() {
    let Some(shared) = common::shared() else {
        return;
    };
    let path = shared.join("seeds/000_126c43ddf3344257.txt");
    let seed = std::fs::read(&path)
        .unwrap_or_else(|error| panic!("cannot read {}: {error}", path.display()));
    assert_eq!(seed, SEED.as_bytes());
}

#[test]
fn header_and_infobox_are_metadata_not_passages() {
    let article = seed();
    assert_eq!(article.title, "Calcinosis cutis");
    assert_eq!(
        article.redirected_from.as_deref(),
        Some("Iatrogenic calcinosis cutis")
    );
    assert_eq!(
        article.infobox_value("Other names"),
        Some("Cutaneous calcification")
    );
    assert_eq!(article.infobox_value("Specialty"), Some("Dermatology"));
    assert!(article
        .aliases()
        .contains(&"Cutaneous calcification".to_string()));
    for passage in &article.passages {
        for header in [
            "From Wikipedia",
            "Other names",
            "Edit this on Wikidata",
            "Micrograph of",
        ] {
            assert!(
                !passage.text.starts_with(header),
                "{header} became a passage"
            );
        }
    }
}

#[test]
fn every_body_paragraph_is_in_exactly_one_passage() {
    let article = seed();
    let body_start = SEED.find("Calcinosis cutis is an uncommon").expect("lead");
    let body_end = SEED.find("\nReferences\n").expect("references");
    let headings = [
        "Signs and symptoms",
        "Causes",
        "Diagnosis",
        "Classification",
        "Dystrophic calcinosis cutis",
        "Metastatic calcinosis cutis",
        "Iatrogenic calcinosis cutis",
        "Traumatic calcinosis cutis",
        "Idiopathic calcinosis cutis",
        "Idiopathic scrotal calcinosis",
        "Subepidermal calcified nodule",
        "Tumoral calcinosis",
        "Osteoma cutis",
        "Treatment",
        "Gallery",
        "See also",
    ];
    let paragraphs: Vec<&str> = SEED[body_start..body_end]
        .split('\n')
        .filter(|line| !line.trim().is_empty() && !headings.contains(&line.trim()))
        .collect();
    assert_eq!(paragraphs.len(), 17);
    for paragraph in paragraphs {
        let holders = article
            .body_passages()
            .filter(|p| p.text == paragraph)
            .count();
        assert_eq!(
            holders, 1,
            "paragraph not in exactly one passage: {paragraph:.60}"
        );
    }
    assert_eq!(article.body_passages().count(), 17);
}

#[test]
fn sections_rebuild_the_heading_tree() {
    let article = seed();
    let path_of = |start: &str| {
        article
            .body_passages()
            .find(|p| p.text.starts_with(start))
            .map(|p| p.section_path.display())
            .expect("passage exists")
    };
    assert_eq!(path_of("Calcinosis cutis is an uncommon"), "Lead");
    assert_eq!(path_of("Lesions might be"), "Signs and symptoms");
    assert_eq!(path_of("Calcinosis may result"), "Causes");
    assert_eq!(
        path_of("Calcinosis cutis may be divided"),
        "Diagnosis › Classification"
    );
    assert_eq!(
        path_of("Iatrogenic calcinosis cutis is characterized"),
        "Diagnosis › Classification › Iatrogenic calcinosis cutis"
    );
    assert_eq!(
        path_of("Idiopathic scrotal calcinosis is"),
        "Diagnosis › Classification › Idiopathic scrotal calcinosis"
    );
    assert_eq!(path_of("Diltiazem, a calcium"), "Treatment");
    // Empty sections produce nothing.
    assert!(article.passages.iter().all(|p| ![
        "Gallery",
        "See also",
        "Further reading",
        "External links"
    ]
    .contains(&p.section_path.nearest())));
}

fn refs_of_sentence(article: &citebot_core::article::Article, sentence: &str) -> Vec<u32> {
    for passage in article.body_passages() {
        for index in 0..passage.sentences.len() {
            if passage.sentence_text(index).starts_with(sentence) {
                return passage.sentences[index]
                    .refs()
                    .iter()
                    .map(|n| n.0)
                    .collect();
            }
        }
    }
    panic!("sentence not found: {sentence}");
}

#[test]
fn known_sentences_carry_their_reference_numbers() {
    let article = seed();
    assert_eq!(
        refs_of_sentence(
            &article,
            "Chronic renal failure is the most frequent underlying cause."
        ),
        [9]
    );
    // A sentence without a marker is covered by the next marker of its paragraph.
    assert_eq!(
        refs_of_sentence(&article, "Metastatic calcification can result from"),
        [9]
    );
    // A marker in mid-sentence belongs to the sentence it sits in.
    assert_eq!(
        refs_of_sentence(&article, "This occurrence typically manifests"),
        [2, 10]
    );
    // Page locators stay with their marker.
    assert_eq!(
        refs_of_sentence(&article, "Idiopathic scrotal calcinosis is a cutaneous"),
        [14]
    );
    assert_eq!(
        refs_of_sentence(&article, "Calcinosis cutis may be divided"),
        [5]
    );
    // One marker at the end of a paragraph covers all its sentences.
    assert_eq!(
        refs_of_sentence(&article, "Lesions might be more severe"),
        [3]
    );
    assert_eq!(
        refs_of_sentence(&article, "Tumoral calcinosis is distinguished"),
        [2]
    );
}

#[test]
fn page_locators_are_kept_as_written() {
    let article = seed();
    let classification = article
        .body_passages()
        .find(|p| p.text.starts_with("Calcinosis cutis may be divided"))
        .expect("classification passage");
    let marker = &classification.sentences[0].markers[0];
    assert_eq!(marker.locator.as_deref(), Some("527–530"));
    assert!(
        classification.text.ends_with("[5]:\u{200A}527–530\u{200A}"),
        "text kept exactly"
    );
}

#[test]
fn twenty_one_references_with_their_identifiers() {
    let article = seed();
    assert_eq!(article.references.len(), 21);
    let numbers: Vec<u32> = article.references.iter().map(|c| c.number.0).collect();
    assert_eq!(numbers, (1..=21).collect::<Vec<_>>());
    let nejm = &article.references[14];
    assert_eq!(nejm.number, RefNumber(15));
    assert_eq!(nejm.authors, ["Grenader, Tal", "Shavit, Linda"]);
    assert_eq!(nejm.year, Some(2011));
    assert_eq!(
        nejm.container.as_deref(),
        Some("New England Journal of Medicine")
    );
    assert_eq!(nejm.pmid.as_deref(), Some("21848465"));
    assert_eq!(nejm.doi.as_deref(), Some("10.1056/NEJMicm1013803"));
    let groups = citebot_core::citation::group_same_works(&article.references);
    assert_eq!(
        groups,
        vec![vec![
            RefNumber(5),
            RefNumber(12),
            RefNumber(14),
            RefNumber(17),
            RefNumber(18)
        ]]
    );
    // Reference entries are passages too, so questions about the cited works find them.
    let entries = article
        .passages
        .iter()
        .filter(|p| matches!(p.kind, PassageKind::Reference(_)))
        .count();
    assert_eq!(entries, 21);
}

#[test]
fn every_marker_resolves_in_the_seed() {
    let article = seed();
    assert!(
        article.warnings.is_empty(),
        "unexpected warnings: {:?}",
        article.warnings
    );
}

#[test]
fn oddities_are_kept_verbatim() {
    let article = seed();
    let all: String = article.passages.iter().map(|p| p.text.as_str()).collect();
    for oddity in [
        "calcium chloridecalcium gluconate",
        "calcineuris",
        "1\u{a0}mm",
        "Wenzel, rg",
    ] {
        assert!(all.contains(oddity), "{oddity} was rewritten");
    }
}
