//! Articles straight from Wikipedia: `citebot add`, the Parsoid reader, `citebot refresh`,
//! against a fake Wikipedia on 127.0.0.1 serving the fixtures in tests/fixtures/wikipedia/.

use citebot_test_support as common;
use citebot_test_support::fake_wikipedia;

use std::path::{Path, PathBuf};
use std::time::Duration;

use citebot_core::article::{parse_article, Article, PassageLimits};
use citebot_core::passage::{MarkerTarget, PassageKind};
use citebot_wikipedia::fetch::{self, AddError, RefreshOutcome, Target};
use citebot_wikipedia::WikipediaSettings;

use common::{run, stderr, stdout, Workspace};
use fake_wikipedia::{bare_path, html_fixture, html_path, json_fixture, FakeWikipedia, Reply};

const SEED_REVISION: u64 = 1_190_000_001;
const MORPHEA_REV1: u64 = 1_201_000_001;
const MORPHEA_REV2: u64 = 1_215_000_002;

/// Settings for the fake: a contact, no pause between requests, short waits.
fn settings(fake: &FakeWikipedia) -> WikipediaSettings {
    WikipediaSettings {
        origin: fake.origin().to_string(),
        user_agent: "citebot-tests (tests@example.org)".to_string(),
        timeout_seconds: 5.0,
        min_request_interval_seconds: 0.0,
        max_retries: 2,
        max_retry_after_seconds: 5.0,
    }
}

fn temp_corpus() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("citebot-wiki-")
        .tempdir()
        .expect("a temporary folder")
}

/// Every file in a folder with its bytes, to show that a failure wrote nothing.
fn snapshot(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut files: Vec<(PathBuf, Vec<u8>)> = std::fs::read_dir(dir)
        .expect("readable folder")
        .flatten()
        .map(|entry| {
            let path = entry.path();
            let bytes = std::fs::read(&path).unwrap_or_default();
            (path, bytes)
        })
        .collect();
    files.sort();
    files
}

fn add(fake: &FakeWikipedia, corpus: &Path, title: &str) -> Result<fetch::Added, AddError> {
    fetch::add(
        corpus,
        &settings(fake),
        &Target::parse(title).expect("a title"),
        None,
        None,
        PassageLimits::default(),
    )
}

fn read_fetched(corpus: &Path, slug: &str) -> Article {
    let files = citebot_core::corpus::list_articles(corpus).expect("a corpus");
    let file = files
        .iter()
        .find(|file| file.slug == slug)
        .unwrap_or_else(|| panic!("{slug} is in the corpus"));
    citebot_core::corpus::read_article(file, PassageLimits::default()).expect("the article reads")
}

/// The seed page, reached through its redirect as the shipped copy was
/// ("(Redirected from Iatrogenic calcinosis cutis)").
fn seed_fake() -> FakeWikipedia {
    let fake = FakeWikipedia::with_page(
        "Calcinosis_cutis",
        "calcinosis-cutis.bare.json",
        "calcinosis-cutis.html",
    );
    fake.route(
        &bare_path("Iatrogenic_calcinosis_cutis"),
        Reply::Redirect {
            status: 307,
            location: "/w/rest.php/v1/page/Calcinosis_cutis/bare".to_string(),
        },
    );
    fake
}

/// Whitespace as the browser copy has it: the copy puts a space before each marker and turns
/// runs of spaces (hair, no-break) into its own; the text itself is the same.
fn normalise(text: &str) -> String {
    text.split(char::is_whitespace)
        .filter(|word| !word.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
        .replace(" [", "[")
}

/// Each sentence's markers: what it cites and the page locator.
fn sentence_markers(passage: &citebot_core::Passage) -> Vec<Vec<(MarkerTarget, Option<String>)>> {
    passage
        .sentences
        .iter()
        .map(|sentence| {
            sentence
                .markers
                .iter()
                .map(|marker| (marker.target.clone(), marker.locator.clone()))
                .collect()
        })
        .collect()
}

/// What the browser copy lost and the fetched article has, one entry per passage: the list of
/// causes the copy flattened into "…causes such as: [3]".
const KNOWN_IMPROVEMENTS: &[(&str, &str)] = &[
    (
        "Causes",
        "Connective tissue diseases, such as systemic sclerosis and dermatomyositis",
    ),
    ("Causes", "Hypercalcemia or hyperphosphatemia"),
    ("Causes", "Tissue injury, infection or tumors"),
];

/// References whose web address only the links give (the copy's text has none).
const URLS_ONLY_LINKS_GIVE: &[(u32, &str)] = &[
    (3, "https://www.ncbi.nlm.nih.gov/books/NBK448127/"),
    (4, "https://medlineplus.gov/ency/imagepages/17175.htm"),
    (9, "https://www.uptodate.com/contents/calcinosis-cutis"),
];

#[test]
fn the_seed_fetched_gives_the_passages_and_references_of_the_browser_copy() {
    let fake = seed_fake();
    let corpus = temp_corpus();
    let added = add(&fake, corpus.path(), "Iatrogenic calcinosis cutis").expect("add works");
    assert_eq!(
        added.path,
        corpus.path().join("calcinosis-cutis.wikipedia.json")
    );
    let fetched = read_fetched(corpus.path(), "calcinosis-cutis");
    let copy = parse_article(
        "calcinosis-cutis",
        &common::seed_article(),
        PassageLimits::default(),
    );

    assert_eq!(fetched.title, copy.title);
    assert_eq!(
        fetched.aliases(),
        copy.aliases(),
        "other names and redirect"
    );
    assert_eq!(
        fetched.infobox_value("Specialty"),
        copy.infobox_value("Specialty")
    );

    // Body passages: the same sections, text and per-sentence citations, plus what the copy lost.
    let fetched_body: Vec<&citebot_core::Passage> = fetched
        .body_passages()
        .filter(|p| {
            !KNOWN_IMPROVEMENTS
                .iter()
                .any(|(section, text)| p.section_path.display() == *section && p.text == *text)
        })
        .collect();
    let improvements = fetched.body_passages().count() - fetched_body.len();
    assert_eq!(
        improvements,
        KNOWN_IMPROVEMENTS.len(),
        "each list item is a passage"
    );
    let copy_body: Vec<&citebot_core::Passage> = copy.body_passages().collect();
    assert_eq!(fetched_body.len(), copy_body.len());
    for (got, want) in fetched_body.iter().zip(&copy_body) {
        assert_eq!(got.section_path, want.section_path, "{}", want.text);
        assert_eq!(normalise(&got.text), normalise(&want.text));
        assert_eq!(
            sentence_markers(got),
            sentence_markers(want),
            "sentences of {:?}",
            want.text
        );
        assert_eq!(got.refs(), want.refs());
    }
    // The iatrogenic passage sits where the README says, with its real heading levels.
    assert!(fetched
        .body_passages()
        .any(|p| p.section_path.display()
            == "Diagnosis › Classification › Iatrogenic calcinosis cutis"));

    // References: the same numbers and the same identifiers, now read from the links.
    assert_eq!(fetched.references.len(), copy.references.len());
    for (got, want) in fetched.references.iter().zip(&copy.references) {
        assert_eq!(got.number, want.number);
        assert_eq!(got.doi, want.doi, "doi of [{}]", want.number);
        assert_eq!(got.pmid, want.pmid, "PMID of [{}]", want.number);
        assert_eq!(got.pmc, want.pmc, "PMC of [{}]", want.number);
        assert_eq!(got.isbn, want.isbn, "ISBN of [{}]", want.number);
        assert_eq!(got.issn, want.issn, "ISSN of [{}]", want.number);
        assert_eq!(got.hdl, want.hdl, "hdl of [{}]", want.number);
        assert_eq!(got.title, want.title, "title of [{}]", want.number);
        assert_eq!(got.year, want.year, "year of [{}]", want.number);
        match URLS_ONLY_LINKS_GIVE
            .iter()
            .find(|(number, _)| *number == want.number.0)
        {
            Some((_, url)) => assert_eq!(got.url.as_deref(), Some(*url)),
            None => assert_eq!(got.url, want.url, "URL of [{}]", want.number),
        }
    }
    // The same work cited under several numbers is still recognised.
    assert_eq!(
        citebot_core::citation::group_same_works(&fetched.references),
        citebot_core::citation::group_same_works(&copy.references)
    );

    let source = fetched
        .source
        .expect("a fetched article knows its revision");
    assert_eq!(source.revision, SEED_REVISION);
    assert_eq!(
        source.permalink,
        format!("https://en.wikipedia.org/w/index.php?oldid={SEED_REVISION}")
    );
    assert_eq!(source.url, "https://en.wikipedia.org/wiki/Calcinosis_cutis");
    assert_eq!(source.licence, "CC BY-SA 4.0");
    assert_eq!(
        fake.requests(),
        vec![
            bare_path("Iatrogenic_calcinosis_cutis"),
            bare_path("Calcinosis_cutis"),
            html_path(SEED_REVISION)
        ]
    );
}

#[test]
fn harder_articles_keep_levels_list_items_notes_and_locators() {
    let fake = FakeWikipedia::with_page("Morphea", "morphea.rev1.bare.json", "morphea.rev1.html");
    fake.serve_page(
        "Dermatomyositis",
        "dermatomyositis.bare.json",
        "dermatomyositis.html",
    );
    let corpus = temp_corpus();
    add(&fake, corpus.path(), "Morphea").expect("Morphea is added");
    // An article's URL works too: its site is the one asked.
    add(
        &fake,
        corpus.path(),
        &format!("{}/wiki/Dermatomyositis", fake.origin()),
    )
    .expect("a URL works too");

    let morphea = read_fetched(corpus.path(), "morphea");
    let body: Vec<(String, String)> = morphea
        .body_passages()
        .map(|p| (p.section_path.display(), p.text.clone()))
        .collect();
    let sections: Vec<&str> = body.iter().map(|(s, _)| s.as_str()).collect();
    // Real levels: h4 under h3 under h2, and a section ends where Parsoid's <section> ends.
    assert!(sections.contains(&"Treatment › Systemic › Methotrexate"));
    assert!(sections.contains(&"Treatment › Systemic › Phototherapy"));
    assert!(sections.contains(&"Signs and symptoms › Complications"));
    assert!(sections.contains(&"Diagnosis › Differential diagnosis"));
    assert!(sections.contains(&"Prognosis"));
    // Lists: each item, nested ones too, is a passage of its own.
    let types: Vec<&str> = body
        .iter()
        .filter(|(s, _)| s == "Signs and symptoms › Types")
        .map(|(_, t)| t.as_str())
        .collect();
    assert_eq!(types.len(), 5, "{types:?}");
    assert!(types[2].starts_with("Guttate morphea consists of many small lesions.[3]"));
    // Infobox, navbox, hatnote, table, figure and link lists are not passages.
    for (_, text) in &body {
        for furniture in [
            "Connective tissue diseases",
            "Eosinophilic fasciitis",
            "Not to be confused",
            "Usual age",
            "Skin biopsy of morphea showing",
            "at NORD",
            "Skin condition",
        ] {
            assert!(!text.contains(furniture), "{furniture:?} in {text:?}");
        }
    }
    assert_eq!(
        morphea.aliases(),
        vec!["Localized scleroderma", "circumscribed scleroderma"]
    );
    // A reused reference with a page locator where it stands.
    let methotrexate = morphea
        .body_passages()
        .find(|p| p.section_path.display() == "Treatment › Systemic › Methotrexate")
        .unwrap();
    assert_eq!(
        sentence_markers(methotrexate),
        vec![vec![
            (MarkerTarget::Reference(citebot_core::RefNumber(7)), None),
            (
                MarkerTarget::Reference(citebot_core::RefNumber(3)),
                Some("174".to_string())
            )
        ]]
    );
    // Notes groups: [a] and [b] point into the Notes list, whose entries are passages.
    let lead = morphea.body_passages().next().unwrap();
    assert!(lead.sentences.iter().any(|s| s
        .markers
        .iter()
        .any(|m| m.target == MarkerTarget::Note("a".into()))));
    let notes: Vec<&str> = morphea
        .passages
        .iter()
        .filter(|p| p.kind == PassageKind::Note)
        .map(|p| p.id.as_str())
        .collect();
    assert_eq!(notes, vec!["morphea#note-a", "morphea#note-b"]);
    assert!(morphea.warnings.is_empty(), "{:?}", morphea.warnings);
    // Identifiers from links: PMC, S2CID, hdl, ISBN; a reference used four times is one entry.
    assert_eq!(morphea.references.len(), 7);
    assert_eq!(morphea.references[4].pmc.as_deref(), Some("5657466"));
    assert_eq!(morphea.references[3].s2cid.as_deref(), Some("20346563"));
    assert_eq!(morphea.references[6].hdl.as_deref(), Some("11577/2486551"));
    assert_eq!(morphea.references[2].isbn.as_deref(), Some("0-7216-2921-0"));
    assert_eq!(
        morphea.references[1].doi.as_deref(),
        Some("10.1016/j.jaad.2010.05.045")
    );

    // Older Parsoid output: headings in <div class="mw-heading">, "[lower-alpha 1]" labels, the
    // group named only in data-mw, a definition list, a quotation, an inline tag, math.
    let derm = read_fetched(corpus.path(), "dermatomyositis");
    let body: Vec<(String, String)> = derm
        .body_passages()
        .map(|p| (p.section_path.display(), p.text.clone()))
        .collect();
    assert!(body[0].1.ends_with("over time.[1][a]"), "{:?}", body[0]);
    assert!(body.contains(&("Signs and symptoms".into(), "Gottron's papules".into())));
    assert!(body.contains(&(
        "Signs and symptoms › Muscle".into(),
        "Calcinosis of the skin is common in the juvenile form.[3]".into()
    )));
    let heliotrope = derm
        .body_passages()
        .find(|p| p.text.starts_with("A violet rash"))
        .unwrap();
    assert_eq!(
        heliotrope.sentences[0].markers[0].target,
        MarkerTarget::CitationNeeded
    );
    assert!(body
        .iter()
        .any(|(_, t)| t.contains("the creatine kinase level CK guides the dose.[1][b]")));
    assert!(body
        .iter()
        .any(|(s, t)| s == "Treatment" && t == "Prednisone by mouth, tapered over months.[3]"));
    assert!(derm.warnings.is_empty(), "{:?}", derm.warnings);
    assert_eq!(derm.references.len(), 3);
    assert_eq!(
        derm.references[0].url.as_deref(),
        Some("https://rarediseases.info.nih.gov/diseases/6243/dermatomyositis"),
        "the work's own address, not the archive copy"
    );
    assert_eq!(
        derm.references[1].isbn.as_deref(),
        Some("978-1-4160-2999-1")
    );
    assert_eq!(derm.references[1].oclc.as_deref(), Some("212399895"));
    assert_eq!(
        derm.references[2].doi.as_deref(),
        Some("10.1016/S0140-6736(08)60955-1")
    );
    assert_eq!(derm.references[2].pmid.as_deref(), Some("18586175"));
}

/// Runs `add` expecting an error, and checks the corpus folder is as it was.
fn add_fails(settings: &WikipediaSettings, title: &str) -> String {
    let corpus = temp_corpus();
    std::fs::write(corpus.path().join("existing.txt"), common::seed_article()).unwrap();
    let before = snapshot(corpus.path());
    let error = fetch::add(
        corpus.path(),
        settings,
        &Target::parse(title).unwrap(),
        None,
        None,
        PassageLimits::default(),
    )
    .expect_err("add must fail");
    assert_eq!(
        snapshot(corpus.path()),
        before,
        "nothing written for {title}"
    );
    let message = error.to_string();
    assert!(!message.contains('\n'), "one line: {message}");
    message
}

#[test]
fn a_missing_page_a_disambiguation_page_and_a_broken_site_change_nothing() {
    let fake = FakeWikipedia::with_page("Mercury", "mercury.bare.json", "mercury.html");
    let settings = settings(&fake);

    let message = add_fails(&settings, "No such article");
    assert!(
        message.contains("no article titled \"No such article\""),
        "{message}"
    );

    let message = add_fails(&settings, "Mercury");
    assert!(message.contains("disambiguation page"), "{message}");
    assert!(
        message.contains("citebot add \"Mercury (planet)\""),
        "{message}"
    );

    // Malformed: an error page where Parsoid HTML should be.
    fake.serve_page("Broken", "morphea.rev1.bare.json", "morphea.rev1.html");
    fake.route(
        &html_path(MORPHEA_REV1),
        Reply::Ok {
            content_type: "text/html",
            body: b"<!DOCTYPE html><html><body><h1>Wikimedia Error</h1><p>Our servers are busy.</p></body></html>".to_vec(),
        },
    );
    let message = add_fails(&settings, "Broken");
    assert!(message.contains("not Parsoid"), "{message}");

    // Not JSON where the page's metadata should be.
    fake.route(
        &bare_path("Garbled"),
        Reply::Ok {
            content_type: "application/json",
            body: b"{\"id\": 1, \"key\":".to_vec(),
        },
    );
    let message = add_fails(&settings, "Garbled");
    assert!(message.contains("metadata"), "{message}");

    // A network failure: nothing listens there.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let origin = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let unreachable = WikipediaSettings {
        origin,
        ..settings.clone()
    };
    let message = add_fails(&unreachable, "Morphea");
    assert!(message.contains("cannot reach"), "{message}");

    // No contact address: refused before any request.
    let requests = fake.requests().len();
    let anonymous = WikipediaSettings {
        user_agent: String::new(),
        ..settings
    };
    let message = add_fails(&anonymous, "Mercury");
    assert!(message.contains("user_agent"), "{message}");
    assert_eq!(fake.requests().len(), requests);
}

#[test]
fn a_cut_off_body_or_a_stall_is_an_error_and_nothing_is_written() {
    let fake = FakeWikipedia::with_page("Morphea", "morphea.rev1.bare.json", "morphea.rev1.html");
    let html = fake_wikipedia::fixture("morphea.rev1.html");
    // Shorter than its Content-Length.
    fake.route(
        &html_path(MORPHEA_REV1),
        Reply::Truncated {
            sent: html.len() / 2,
            body: html.clone(),
        },
    );
    let message = add_fails(&settings(&fake), "Morphea");
    assert!(message.contains("cut off"), "{message}");
    // Whole as far as HTTP knows, but ending mid-document.
    fake.route(
        &html_path(MORPHEA_REV1),
        Reply::Ok {
            content_type: "text/html",
            body: html[..html.len() * 2 / 3].to_vec(),
        },
    );
    let message = add_fails(&settings(&fake), "Morphea");
    assert!(message.contains("ends before </html>"), "{message}");
    // A server that stalls past the timeout.
    fake.route(
        &html_path(MORPHEA_REV1),
        Reply::Stall {
            wait: Duration::from_secs(3),
            then: Box::new(html_fixture("morphea.rev1.html")),
        },
    );
    let impatient = WikipediaSettings {
        timeout_seconds: 0.5,
        ..settings(&fake)
    };
    let message = add_fails(&impatient, "Morphea");
    assert!(message.contains("did not answer within 0.5 s"), "{message}");
}

#[test]
fn too_many_requests_waits_for_retry_after_then_gives_up_politely() {
    let fake = FakeWikipedia::start();
    fake.route(
        &bare_path("Morphea"),
        Reply::TooMany {
            retry_after: 1,
            times: 1,
            then: Box::new(json_fixture("morphea.rev1.bare.json")),
        },
    );
    fake.route(&html_path(MORPHEA_REV1), html_fixture("morphea.rev1.html"));
    let corpus = temp_corpus();
    let started = std::time::Instant::now();
    add(&fake, corpus.path(), "Morphea").expect("the second try succeeds");
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "waited Retry-After"
    );
    assert_eq!(
        fake.requests(),
        vec![
            bare_path("Morphea"),
            bare_path("Morphea"),
            html_path(MORPHEA_REV1)
        ]
    );

    // Refused every time: bounded tries, then a clear error.
    fake.route(
        &bare_path("Dermatomyositis"),
        Reply::TooMany {
            retry_after: 0,
            times: 100,
            then: Box::new(json_fixture("dermatomyositis.bare.json")),
        },
    );
    let message = add_fails(&settings(&fake), "Dermatomyositis");
    assert!(
        message.contains("429 Too Many Requests 3 times"),
        "{message}"
    );
    // Asked to wait longer than we would: reported at once.
    fake.route(
        &bare_path("Mercury"),
        Reply::TooMany {
            retry_after: 3600,
            times: 1,
            then: Box::new(json_fixture("mercury.bare.json")),
        },
    );
    fake.clear_requests();
    let message = add_fails(&settings(&fake), "Mercury");
    assert!(message.contains("wait 3600 s"), "{message}");
    assert_eq!(fake.requests().len(), 1);
}

#[test]
fn add_refuses_to_replace_an_article_already_there() {
    let fake = seed_fake();
    let corpus = temp_corpus();
    std::fs::write(
        corpus.path().join("calcinosis-cutis.txt"),
        common::seed_article(),
    )
    .unwrap();
    let before = snapshot(corpus.path());
    let error = add(&fake, corpus.path(), "Calcinosis cutis").unwrap_err();
    assert!(error.to_string().contains("--name"), "{error}");
    assert_eq!(snapshot(corpus.path()), before);
    // Under another name both live in one corpus.
    fetch::add(
        corpus.path(),
        &settings(&fake),
        &Target::parse("Calcinosis cutis").unwrap(),
        None,
        Some("calcinosis-cutis-wikipedia"),
        PassageLimits::default(),
    )
    .expect("added under another name");
    let error = fetch::add(
        corpus.path(),
        &settings(&fake),
        &Target::parse("Calcinosis cutis").unwrap(),
        None,
        Some("calcinosis-cutis-wikipedia"),
        PassageLimits::default(),
    )
    .unwrap_err();
    assert!(error.to_string().contains("citebot refresh"), "{error}");
    let slugs: Vec<String> = citebot_core::corpus::list_articles(corpus.path())
        .unwrap()
        .into_iter()
        .map(|file| file.slug)
        .collect();
    assert_eq!(
        slugs,
        vec!["calcinosis-cutis", "calcinosis-cutis-wikipedia"]
    );
}

#[test]
fn refresh_reports_changes_in_passage_terms_and_asks_nothing_more_when_current() {
    let fake = FakeWikipedia::with_page("Morphea", "morphea.rev1.bare.json", "morphea.rev1.html");
    let corpus = temp_corpus();
    add(&fake, corpus.path(), "Morphea").unwrap();
    let stored = corpus.path().join("morphea.wikipedia.json");
    let rev1_bytes = std::fs::read(&stored).unwrap();

    // Current: one request for the metadata, nothing fetched.
    fake.clear_requests();
    let reports = fetch::refresh(
        corpus.path(),
        &settings(&fake),
        &[],
        false,
        PassageLimits::default(),
    )
    .unwrap();
    assert!(matches!(
        reports[0].outcome,
        RefreshOutcome::Current {
            revision: MORPHEA_REV1,
            ..
        }
    ));
    assert_eq!(fake.requests(), vec![bare_path("Morphea")]);
    assert_eq!(std::fs::read(&stored).unwrap(), rev1_bytes);

    // A new revision: --check reports it and changes nothing.
    fake.serve_page("Morphea", "morphea.rev2.bare.json", "morphea.rev2.html");
    fake.clear_requests();
    let reports = fetch::refresh(
        corpus.path(),
        &settings(&fake),
        &["morphea".to_string()],
        true,
        PassageLimits::default(),
    )
    .unwrap();
    assert!(matches!(
        reports[0].outcome,
        RefreshOutcome::OutOfDate {
            from: (MORPHEA_REV1, _),
            to: (MORPHEA_REV2, _)
        }
    ));
    assert_eq!(fake.requests(), vec![bare_path("Morphea")]);
    assert_eq!(std::fs::read(&stored).unwrap(), rev1_bytes);

    // Refreshed: edited, added and removed passages and the added reference are named.
    let reports = fetch::refresh(
        corpus.path(),
        &settings(&fake),
        &[],
        false,
        PassageLimits::default(),
    )
    .unwrap();
    let RefreshOutcome::Updated { changes, to, .. } = &reports[0].outcome else {
        panic!("updated: {:?}", reports[0].outcome);
    };
    assert_eq!(to.0, MORPHEA_REV2);
    assert_eq!(changes.edited.len(), 1, "{changes:?}");
    assert_eq!(changes.edited[0].1.section, "Treatment › Topical");
    assert!(changes.edited[0].1.text.contains("tacrolimus"));
    assert_eq!(changes.added.len(), 1);
    assert!(changes.added[0].text.starts_with("Relapse after treatment"));
    assert_eq!(changes.removed.len(), 1);
    assert_eq!(
        changes.removed[0].section,
        "Signs and symptoms › Complications"
    );
    assert_eq!(changes.references_added.len(), 1);
    assert!(
        changes.references_added[0].contains("Kunzler"),
        "{changes:?}"
    );
    assert!(changes.references_removed.is_empty());
    assert_eq!(
        changes.summary(),
        "1 passage edited, 1 added, 1 removed; 1 reference added, 0 removed"
    );
    let article = read_fetched(corpus.path(), "morphea");
    assert_eq!(article.source.unwrap().revision, MORPHEA_REV2);
    // No temporary file is left beside it.
    let names: Vec<String> = std::fs::read_dir(corpus.path())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, vec!["morphea.wikipedia.json"]);

    // A failure on the way leaves the stored revision as it was.
    fake.route(
        &bare_path("Morphea"),
        json_fixture("morphea.rev1.bare.json"),
    );
    let before = std::fs::read(&stored).unwrap();
    fake.route(
        &html_path(MORPHEA_REV1),
        Reply::Truncated {
            body: fake_wikipedia::fixture("morphea.rev1.html"),
            sent: 100,
        },
    );
    let reports = fetch::refresh(
        corpus.path(),
        &settings(&fake),
        &[],
        false,
        PassageLimits::default(),
    )
    .unwrap();
    assert!(matches!(reports[0].outcome, RefreshOutcome::Failed(_)));
    assert_eq!(std::fs::read(&stored).unwrap(), before);
}

// ----- the command line, as a moderator uses it -----

fn workspace_for(fake: &FakeWikipedia) -> Workspace {
    let env = Workspace::with_articles(&[]);
    env.write_config(
        "[wikipedia]\nuser_agent = \"citebot-tests (tests@example.org)\"\nmin_request_interval_seconds = 0\ntimeout_seconds = 10\n",
    );
    let _ = fake;
    env
}

fn citebot(env: &Workspace, fake: &FakeWikipedia, args: &[&str]) -> std::process::Output {
    run(env
        .citebot(args)
        .env("CITEBOT_WIKIPEDIA_API_BASE", fake.origin()))
}

#[test]
fn a_moderator_adds_morphea_asks_about_it_and_a_timer_checks_for_changes() {
    let fake = FakeWikipedia::with_page("Morphea", "morphea.rev1.bare.json", "morphea.rev1.html");
    let env = workspace_for(&fake);

    let output = citebot(&env, &fake, &["add", "Morphea"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let printed = stdout(&output);
    assert!(
        printed.contains(&format!(
            "added \"Morphea\", revision {MORPHEA_REV1} of 2024-01-15 (https://en.wikipedia.org/w/index.php?oldid={MORPHEA_REV1})"
        )),
        "{printed}"
    );
    assert!(printed.contains("indexed 1 article"), "{printed}");
    let first_generation = env.live_generation();

    let output = citebot(&env, &fake, &["ask", "How is linear morphea treated?"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let answer = stdout(&output);
    assert!(
        answer.contains(&format!("From the Wikipedia article \"Morphea\", revision {MORPHEA_REV1} of 2024-01-15 (https://en.wikipedia.org/w/index.php?oldid={MORPHEA_REV1}, CC BY-SA 4.0).")),
        "{answer}"
    );

    let output = citebot(
        &env,
        &fake,
        &["refs", "3", "--json", "--article", "morphea"],
    );
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let reference: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(reference["isbn"], "0-7216-2921-0", "{reference}");

    // The timer's check: up to date → 0.
    let output = citebot(&env, &fake, &["refresh", "--check"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(stdout(&output).contains("morphea: up to date"));

    // The article changes on Wikipedia: --check → 1, and nothing else happens.
    fake.serve_page("Morphea", "morphea.rev2.bare.json", "morphea.rev2.html");
    let output = citebot(&env, &fake, &["refresh", "--check"]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert!(
        stdout(&output).contains(&format!(
            "morphea: out of date: revision {MORPHEA_REV1} of 2024-01-15 → {MORPHEA_REV2} of 2024-06-02"
        )),
        "{}",
        stdout(&output)
    );
    assert_eq!(env.live_generation(), first_generation);

    // refresh fetches it, says what changed, and the index switches generation.
    let output = citebot(&env, &fake, &["refresh"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let report = stdout(&output);
    assert!(
        report.contains("1 passage edited, 1 added, 1 removed; 1 reference added, 0 removed"),
        "{report}"
    );
    assert!(report.contains("edited   Treatment › Topical"), "{report}");
    assert_ne!(env.live_generation(), first_generation);
    let output = citebot(
        &env,
        &fake,
        &["ask", "Is tacrolimus used for morphea plaques?"],
    );
    let answer = stdout(&output);
    assert!(
        answer.contains(&format!("revision {MORPHEA_REV2} of 2024-06-02")),
        "{answer}"
    );

    let output = citebot(&env, &fake, &["refresh", "--check"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
}

#[test]
fn add_errors_are_one_line_with_exit_status_2() {
    let fake = FakeWikipedia::with_page("Mercury", "mercury.bare.json", "mercury.html");
    let env = workspace_for(&fake);
    for (title, expected) in [
        ("Nothing here", "no article titled"),
        ("Mercury", "disambiguation page"),
    ] {
        let output = citebot(&env, &fake, &["add", title]);
        assert_eq!(output.status.code(), Some(2), "{output:?}");
        let message = stderr(&output);
        assert!(message.starts_with("citebot: "), "{message}");
        assert!(message.contains(expected), "{message}");
        assert_eq!(message.trim_end().lines().count(), 1, "{message}");
    }
    let output = citebot(&env, &fake, &["refresh", "nothing"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("no fetched article named"));
    // Nothing was written: no article, no temporary file.
    let names: Vec<String> = std::fs::read_dir(env.corpus_dir())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".json") || name.starts_with('.'))
        .collect();
    assert!(names.is_empty(), "{names:?}");
}

#[test]
fn a_fetched_article_dropped_into_the_corpus_is_seen_by_the_staleness_check() {
    let fake = FakeWikipedia::with_page("Morphea", "morphea.rev1.bare.json", "morphea.rev1.html");
    let fetched = temp_corpus();
    add(&fake, fetched.path(), "Morphea").unwrap();
    let bytes = std::fs::read(fetched.path().join("morphea.wikipedia.json")).unwrap();

    // A corpus of the browser copy, indexed; then the fetched file appears beside it.
    let env = Workspace::with_seed_corpus();
    env.build_index();
    let before = env.live_generation();
    env.write_article("morphea.wikipedia.json", &bytes);
    let output = run(&mut env.citebot(&["ask", "Is methotrexate used for linear morphea?"]));
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("built it in"),
        "{}",
        stderr(&output)
    );
    assert_ne!(env.live_generation(), before);
    let answer = stdout(&output);
    assert!(answer.contains("(Morphea)"), "{answer}");
    assert!(
        answer.contains(&format!("revision {MORPHEA_REV1} of 2024-01-15")),
        "{answer}"
    );
    // Both kinds answer from one corpus: the copy's attribution is as it always was.
    let output = run(&mut env.citebot(&["ask", "How is calcinosis cutis treated?"]));
    let answer = stdout(&output);
    assert!(
        answer.contains("From the Wikipedia article \"Calcinosis cutis\" (https://en.wikipedia.org/wiki/Calcinosis_cutis, CC BY-SA 4.0)."),
        "{answer}"
    );
}

#[test]
fn a_revision_that_changes_no_passage_is_still_taken_and_said_so() {
    let fake = FakeWikipedia::with_page("Morphea", "morphea.rev1.bare.json", "morphea.rev1.html");
    let env = workspace_for(&fake);
    let output = citebot(&env, &fake, &["add", "Morphea"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    // A new revision whose text citebot reads is the same (an edit to the infobox, say).
    fake.route(
        &bare_path("Morphea"),
        json_fixture("morphea.rev2.bare.json"),
    );
    fake.route(&html_path(MORPHEA_REV2), html_fixture("morphea.rev1.html"));
    let output = citebot(&env, &fake, &["refresh", "morphea"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let report = stdout(&output);
    assert!(
        report.contains(&format!(
            "morphea: updated revision {MORPHEA_REV1} of 2024-01-15 → {MORPHEA_REV2} of 2024-06-02: no passage or reference changed"
        )),
        "{report}"
    );
    let output = citebot(&env, &fake, &["refresh", "--check"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
}
