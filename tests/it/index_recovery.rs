//! The index heals itself: missing, stale or damaged, any command rebuilds it, and a rebuild
//! never leaves a half-written index where a reader would open it.

use citebot_test_support as common;

use common::Workspace;
use predicates::prelude::*;

fn live_generation(workspace: &Workspace) -> std::path::PathBuf {
    citebot_core::index::current_generation(&workspace.index_dir()).expect("a live generation")
}

#[test]
fn fresh_clone_needs_no_index_step() {
    let workspace = Workspace::shipped();
    assert!(!workspace.index_dir().exists());
    workspace
        .citebot(&["search", "--json", "diltiazem"])
        .assert()
        .success()
        .stdout(predicate::str::contains("\"answered\":true"));
    assert!(live_generation(&workspace).join("manifest.json").exists());
}

#[test]
fn deleting_the_index_recovers() {
    let workspace = Workspace::shipped();
    workspace.citebot(&["index"]).assert().success();
    std::fs::remove_dir_all(workspace.index_dir()).expect("delete index");
    workspace
        .citebot(&["refs", "15"])
        .assert()
        .success()
        .stdout(predicate::str::contains("21848465"));
}

#[test]
fn corrupting_the_index_recovers() {
    let workspace = Workspace::shipped();
    workspace.citebot(&["index"]).assert().success();
    let generation = live_generation(&workspace);
    // Damage every file of the generation: tantivy's meta.json, segments, the manifest.
    for entry in std::fs::read_dir(&generation).expect("generation") {
        let path = entry.expect("entry").path();
        std::fs::write(&path, b"garbage").expect("overwrite");
    }
    workspace
        .citebot(&["search", "--json", "venipuncture"])
        .assert()
        .success()
        .stdout(predicate::str::contains("Iatrogenic"));
}

#[test]
fn deleting_meta_json_recovers() {
    let workspace = Workspace::shipped();
    workspace.citebot(&["index"]).assert().success();
    std::fs::remove_file(live_generation(&workspace).join("meta.json")).expect("remove meta.json");
    workspace.citebot(&["ask", "diltiazem"]).assert().success();
}

#[test]
fn a_changed_corpus_makes_the_index_stale() {
    let workspace = Workspace::with_seed_corpus();
    workspace.citebot(&["index"]).assert().success();
    let before = live_generation(&workspace);
    let path = workspace.corpus_dir().join("calcinosis-cutis.txt");
    let mut text = std::fs::read_to_string(&path).expect("article");
    text = text.replace(
        "Colchicine is an antimicrotubule drug",
        "Colchicine, or zebrafruit, is an antimicrotubule drug",
    );
    std::fs::write(&path, text).expect("write");
    workspace
        .citebot(&["search", "--json", "zebrafruit"])
        .assert()
        .success()
        .stdout(predicate::str::contains("\"answered\":true"))
        .stderr(predicate::str::contains("stale"));
    assert_ne!(before, live_generation(&workspace));
}

#[test]
fn a_rebuild_swaps_generations_and_keeps_one() {
    let workspace = Workspace::shipped();
    workspace.citebot(&["index"]).assert().success();
    let first = live_generation(&workspace);
    workspace.citebot(&["index"]).assert().success();
    let second = live_generation(&workspace);
    assert_ne!(first, second);
    assert!(
        !first.exists(),
        "the old generation is removed after the swap"
    );
    let leftovers: Vec<_> = std::fs::read_dir(workspace.index_dir())
        .expect("index dir")
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with(".tmp-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn an_engine_picks_up_a_rebuilt_index_without_restart() {
    let workspace = Workspace::with_seed_corpus();
    let config = workspace.config();
    let engine = citebot_core::Engine::open(&config).expect("engine");
    assert!(!engine.ask("zebrafruit", 3).answered());
    let path = workspace.corpus_dir().join("calcinosis-cutis.txt");
    let text = std::fs::read_to_string(&path).expect("article");
    std::fs::write(
        &path,
        text.replace("Colchicine is an", "Colchicine, or zebrafruit, is an"),
    )
    .expect("write");
    citebot_core::index::rebuild(&config, Default::default()).expect("rebuild");
    assert!(engine.reload_if_changed().expect("reload"));
    assert!(engine.ask("zebrafruit", 3).answered());
    assert!(!engine.reload_if_changed().expect("nothing new"));
}

#[test]
fn an_unwritable_index_folder_is_a_clear_error() {
    let workspace = Workspace::shipped();
    // A regular file where the index folder should be: unwritable even for root.
    std::fs::write(workspace.index_dir(), b"not a folder").expect("file");
    let stderr = workspace.error_of(&["ask", "diltiazem"]);
    assert!(
        stderr.contains("index folder") && stderr.contains("index_dir"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"));
}

/// Sets every corpus file's modification time an hour back, so a rebuild records metadata
/// that can vouch for the files (a file modified just before it was read never can). Setting
/// the mtime moves the ctime to now, and that counts too: wait out the racy window.
fn backdate_corpus(corpus: &std::path::Path) {
    let an_hour_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
    for entry in std::fs::read_dir(corpus).expect("corpus") {
        let path = entry.expect("entry").path();
        if path.extension().and_then(|e| e.to_str()) == Some("txt") {
            let file = std::fs::File::options()
                .write(true)
                .open(&path)
                .expect("open");
            file.set_modified(an_hour_ago).expect("set mtime");
        }
    }
    let window = citebot_core::corpus::RACY_WINDOW_NS as u64;
    std::thread::sleep(std::time::Duration::from_nanos(window + 200_000_000));
}

fn rehashed(config: &citebot_core::Config) -> usize {
    citebot_core::index::check_reporting(config)
        .unwrap_or_else(|s| panic!("index should be up to date: {s}"))
        .rehashed
}

#[test]
fn an_unchanged_corpus_is_not_read_again() {
    let workspace = Workspace::with_seed_corpus();
    backdate_corpus(&workspace.corpus_dir());
    let config = workspace.config();
    citebot_core::index::rebuild(&config, Default::default()).expect("rebuild");
    assert_eq!(rehashed(&config), 0, "metadata vouches for every file");

    // Touched, content unchanged: re-read, still up to date.
    let path = workspace.corpus_dir().join("calcinosis-cutis.txt");
    std::fs::File::options()
        .write(true)
        .open(&path)
        .expect("open")
        .set_modified(std::time::SystemTime::now())
        .expect("touch");
    assert_eq!(rehashed(&config), 1, "the touched file is read again");
}

#[test]
fn freshly_written_files_are_always_rehashed() {
    // Written and indexed within the racy window: their metadata cannot vouch for them.
    let workspace = Workspace::with_seed_corpus();
    let config = workspace.config();
    citebot_core::index::rebuild(&config, Default::default()).expect("rebuild");
    let files = citebot_core::corpus::list_articles(&workspace.corpus_dir())
        .expect("list")
        .len();
    assert_eq!(rehashed(&config), files);
}

#[test]
fn a_change_that_keeps_size_and_mtime_is_still_seen() {
    let workspace = Workspace::with_seed_corpus();
    backdate_corpus(&workspace.corpus_dir());
    let config = workspace.config();
    citebot_core::index::rebuild(&config, Default::default()).expect("rebuild");
    assert!(citebot_core::index::check(&config).is_ok());

    let path = workspace.corpus_dir().join("calcinosis-cutis.txt");
    let before = std::fs::metadata(&path).expect("metadata");
    let text = std::fs::read_to_string(&path).expect("article");
    // Same length, same mtime (put back as `touch -d` or `rsync -t` would): the ctime moves.
    let changed = text.replacen("Colchicine", "Colchicinf", 1);
    assert_eq!(changed.len(), text.len());
    std::fs::write(&path, changed).expect("write");
    std::fs::File::options()
        .write(true)
        .open(&path)
        .expect("open")
        .set_modified(before.modified().expect("mtime"))
        .expect("restore mtime");
    assert_eq!(
        citebot_core::index::check(&config),
        Err(citebot_core::index::Staleness::Stale(
            citebot_core::index::StaleReason::InputsChanged
        ))
    );
}

#[test]
fn an_added_or_removed_article_makes_the_index_stale() {
    let workspace = Workspace::with_seed_corpus();
    backdate_corpus(&workspace.corpus_dir());
    let config = workspace.config();
    citebot_core::index::rebuild(&config, Default::default()).expect("rebuild");
    let original = workspace.corpus_dir().join("calcinosis-cutis.txt");
    let copy = workspace.corpus_dir().join("zz-copy.txt");
    std::fs::copy(&original, &copy).expect("copy");
    backdate_corpus(&workspace.corpus_dir());
    assert!(
        matches!(
            citebot_core::index::check(&config),
            Err(citebot_core::index::Staleness::Stale(_))
        ),
        "an added article"
    );
    citebot_core::index::rebuild(&config, Default::default()).expect("rebuild with two");
    assert!(citebot_core::index::check(&config).is_ok());
    std::fs::remove_file(&copy).expect("remove");
    assert!(
        matches!(
            citebot_core::index::check(&config),
            Err(citebot_core::index::Staleness::Stale(_))
        ),
        "a removed article"
    );
}

#[test]
fn a_damaged_file_table_means_reading_the_corpus_not_a_wrong_verdict() {
    let workspace = Workspace::with_seed_corpus();
    backdate_corpus(&workspace.corpus_dir());
    let config = workspace.config();
    citebot_core::index::rebuild(&config, Default::default()).expect("rebuild");
    let table = live_generation(&workspace).join("corpus-files.bin");
    let mut bytes = std::fs::read(&table).expect("file table");
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x55;
    std::fs::write(&table, bytes).expect("damage");
    assert_eq!(
        rehashed(&config),
        1,
        "every file is read, and the index is up to date"
    );
    std::fs::remove_file(&table).expect("remove");
    assert_eq!(rehashed(&config), 1);
}
