//! The index heals itself: missing, stale or damaged, any command rebuilds it, and a rebuild
//! never leaves a half-written index where a reader would open it.

mod common;

use common::Workspace;
use predicates::prelude::*;

fn live_generation(workspace: &Workspace) -> std::path::PathBuf {
    citebot::index::current_generation(&workspace.index_dir()).expect("a live generation")
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
    let workspace = Workspace::copied();
    workspace.citebot(&["index"]).assert().success();
    let before = live_generation(&workspace);
    let path = workspace.corpus.join("calcinosis-cutis.txt");
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
    let workspace = Workspace::copied();
    let config = workspace.load_config();
    let engine = citebot::Engine::open(&config).expect("engine");
    assert!(!engine.ask("zebrafruit", 3).answered());
    let path = workspace.corpus.join("calcinosis-cutis.txt");
    let text = std::fs::read_to_string(&path).expect("article");
    std::fs::write(
        &path,
        text.replace("Colchicine is an", "Colchicine, or zebrafruit, is an"),
    )
    .expect("write");
    citebot::index::rebuild(&config, Default::default()).expect("rebuild");
    assert!(engine.reload_if_changed().expect("reload"));
    assert!(engine.ask("zebrafruit", 3).answered());
    assert!(!engine.reload_if_changed().expect("nothing new"));
}

#[test]
fn an_unwritable_index_folder_is_a_clear_error() {
    let workspace = Workspace::shipped();
    // A regular file where the index folder should be: unwritable even for root.
    std::fs::write(workspace.index_dir(), b"not a folder").expect("file");
    let output = workspace
        .citebot(&["ask", "diltiazem"])
        .output()
        .expect("runs");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8(output.stderr).expect("utf-8");
    assert!(
        stderr.contains("index folder") && stderr.contains("index_dir"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"));
}
