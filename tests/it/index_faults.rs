//! Index faults: damaged files, a killed rebuild, a folder that cannot be written, a full disk,
//! two rebuilds at once. The promise: the old index keeps serving, a rebuild fails with a clear
//! message or recovers, and nothing half-written is ever read.
//!
//! Some faults need root: mounting a small or read-only tmpfs, and running the child as an
//! unprivileged user so that folder permissions apply (CI runs as root). Where that is not
//! possible the test fails and says why; none of them passes without checking its fault.

use citebot_test_support as common;

use std::fs;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use citebot_core::index::{self, RebuildOptions};
use citebot_core::Engine;
use common::{
    assert_clear_error, assert_ok, citebot_std_command, copy_tree, json_lines, read_dir, run,
    shared_seed_env, stderr, Workspace, ANSWERED_QUESTION,
};

/// A copy of the seed corpus with a copy of the shared, already built index: saves a build.
fn env_with_built_index() -> Workspace {
    let env = Workspace::with_seed_corpus();
    copy_tree(&shared_seed_env().index_dir(), &env.index_dir());
    env
}

/// Asks through the binary and insists on an answer. Returns stderr.
fn assert_answers(env: &Workspace, what: &str) -> String {
    let output = run(env.command().args(["search", "--json", ANSWERED_QUESTION]));
    assert_ok(&output, what);
    let lines = json_lines(&output);
    assert_eq!(lines.len(), 1, "{what}");
    assert_eq!(
        lines[0]["answered"], true,
        "{what}: the question must be answered: {}",
        lines[0]
    );
    stderr(&output)
}

/// The files of the live generation with extension `ext` (tantivy segment components).
fn segment_files(generation: &Path, ext: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = read_dir(generation)
        .into_iter()
        .filter(|path| path.extension().and_then(|e| e.to_str()) == Some(ext))
        .collect();
    files.sort();
    files
}

/// The invariants of the index folder after any fault: `CURRENT` names a complete generation
/// (manifest and tantivy meta present), it is the only generation, and no `.tmp-*` is left
/// unless `allow_leftovers`.
fn assert_index_folder_sound(env: &Workspace, allow_leftovers: bool, what: &str) {
    let live = env.live_generation();
    assert!(
        live.join("manifest.json").is_file(),
        "{what}: live generation has its manifest"
    );
    assert!(
        live.join("meta.json").is_file(),
        "{what}: live generation has meta.json"
    );
    let entries = env.index_entries();
    let generations: Vec<&String> = entries.iter().filter(|n| n.starts_with("gen-")).collect();
    assert_eq!(
        generations.len(),
        1,
        "{what}: one generation left: {entries:?}"
    );
    if !allow_leftovers {
        assert!(
            !entries.iter().any(|n| n.starts_with(".tmp-")),
            "{what}: no temporary folder left: {entries:?}"
        );
    }
}

#[test]
fn deleted_meta_json_is_detected_and_rebuilt() {
    let env = env_with_built_index();
    fs::remove_file(env.live_generation().join("meta.json")).unwrap_or_else(|e| panic!("{e}"));
    let notice = assert_answers(&env, "meta.json deleted");
    assert!(
        notice.contains("index is unreadable") && notice.contains("built it"),
        "the rebuild is reported: {notice}"
    );
    assert_index_folder_sound(&env, false, "after rebuilding");
    let notice = assert_answers(&env, "next run");
    assert!(!notice.contains("built it"), "rebuilt only once: {notice}");
}

#[test]
fn truncated_segment_files_are_detected_and_rebuilt() {
    for ext in ["store", "idx", "term", "pos", "fast", "fieldnorm"] {
        for keep in [0.0, 0.5] {
            let env = env_with_built_index();
            let files = segment_files(&env.live_generation(), ext);
            assert!(!files.is_empty(), "the index has .{ext} files");
            for file in &files {
                let length = fs::metadata(file).map(|m| m.len()).unwrap_or(0);
                let handle = fs::OpenOptions::new()
                    .write(true)
                    .open(file)
                    .unwrap_or_else(|e| panic!("{e}"));
                handle
                    .set_len((length as f64 * keep) as u64)
                    .unwrap_or_else(|e| panic!("{e}"));
            }
            assert_answers(&env, &format!(".{ext} truncated to {keep}"));
            assert_index_folder_sound(&env, false, ext);
        }
    }
}

/// Bytes changed inside segment files (size and footer intact: a bad disk block, a bit flip).
/// tantivy trusts its files and can panic on them (overflow in the FST, out-of-bounds reads)
/// or return nothing, so the index must be verified (`Index::validate_checksum`) on open.
#[test]
fn corrupted_bytes_in_segment_files_never_panic_or_mislead() {
    let shared = shared_seed_env();
    let mut failures = Vec::new();
    let mut trials = 0;
    for ext in ["term", "idx", "pos", "fast", "fieldnorm", "store"] {
        for fraction in [0.1, 0.3, 0.5, 0.7, 0.85] {
            trials += 1;
            let env = Workspace::with_seed_corpus();
            copy_tree(&shared.index_dir(), &env.index_dir());
            for file in segment_files(&env.live_generation(), ext) {
                let mut bytes = fs::read(&file).unwrap_or_else(|e| panic!("{e}"));
                // Leave the 16-byte tantivy footer alone, so only the checksum can tell.
                let body = bytes.len().saturating_sub(16);
                let start = (body as f64 * fraction) as usize;
                for byte in bytes.iter_mut().take(body).skip(start).take(6) {
                    *byte ^= 0xA5;
                }
                fs::write(&file, bytes).unwrap_or_else(|e| panic!("{e}"));
            }
            let config = env.config();
            let outcome = catch_unwind(AssertUnwindSafe(|| {
                let engine = Engine::open(&config).map_err(|e| e.to_string())?;
                let answer = engine.ask(ANSWERED_QUESTION, 3);
                Ok::<bool, String>(answer.answered())
            }));
            match outcome {
                Err(_) => failures.push(format!(".{ext} at {fraction}: panicked")),
                Ok(Err(error)) => failures.push(format!(".{ext} at {fraction}: error {error}")),
                Ok(Ok(false)) => failures.push(format!(".{ext} at {fraction}: no answer")),
                Ok(Ok(true)) => {}
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {trials} corruptions went wrong:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn damaged_manifest_and_current_pointer_are_rebuilt() {
    type Damage = fn(&Workspace);
    let cases: [(&str, Damage); 6] = [
        ("manifest deleted", |env| {
            let _ = fs::remove_file(env.live_generation().join("manifest.json"));
        }),
        ("manifest garbage", |env| {
            let _ = fs::write(env.live_generation().join("manifest.json"), "{\"format\": ");
        }),
        ("CURRENT empty", |env| {
            let _ = fs::write(env.index_dir().join("CURRENT"), "");
        }),
        ("CURRENT names a missing generation", |env| {
            let _ = fs::write(env.index_dir().join("CURRENT"), "gen-0-0");
        }),
        ("CURRENT points outside", |env| {
            let _ = fs::write(env.index_dir().join("CURRENT"), "../../../etc");
        }),
        ("live generation deleted", |env| {
            let _ = fs::remove_dir_all(env.live_generation());
        }),
    ];
    for (what, damage) in cases {
        let env = env_with_built_index();
        damage(&env);
        assert_answers(&env, what);
        assert_index_folder_sound(&env, false, what);
    }
}

/// The meaning step's files of a generation (passage embeddings and token vectors) damaged in
/// the ways a disk or a copy damages them: the index is rebuilt and answers, never read half.
#[test]
fn damaged_embedding_and_token_files_are_rebuilt() {
    type Damage = fn(&Path);
    let cases: [(&str, Damage); 5] = [
        ("tokens.bin deleted", |generation| {
            let _ = fs::remove_file(generation.join("tokens.bin"));
        }),
        ("tokens.bin cut short", |generation| {
            let path = generation.join("tokens.bin");
            let bytes = fs::read(&path).expect("tokens.bin");
            fs::write(&path, &bytes[..bytes.len() / 2]).expect("cut");
        }),
        ("tokens.bin with a byte more", |generation| {
            let path = generation.join("tokens.bin");
            let mut bytes = fs::read(&path).expect("tokens.bin");
            bytes.push(0);
            fs::write(&path, bytes).expect("grow");
        }),
        ("tokens.bin's first count a billion", |generation| {
            let path = generation.join("tokens.bin");
            let mut bytes = fs::read(&path).expect("tokens.bin");
            bytes[20..24].copy_from_slice(&1_000_000_000u32.to_le_bytes());
            fs::write(&path, bytes).expect("write");
        }),
        ("embeddings.bin garbage", |generation| {
            let _ = fs::write(generation.join("embeddings.bin"), b"CBEMBED1 not a header");
        }),
    ];
    for (what, damage) in cases {
        let env = env_with_built_index();
        assert!(
            env.live_generation().join("tokens.bin").is_file(),
            "the shared index was built with the meaning step"
        );
        damage(&env.live_generation());
        let stderr = assert_answers(&env, what);
        assert!(
            stderr.contains("rebuil") || stderr.contains("built it"),
            "{what}: the damage must be noticed and the index rebuilt: {stderr}"
        );
        assert_index_folder_sound(&env, false, what);
    }
}

/// A corpus large enough that a debug build of its index takes a noticeable time, so a
/// rebuild can be killed in the middle.
fn large_corpus_env() -> Workspace {
    let article = common::seed_article();
    let files: Vec<(String, Vec<u8>)> = (0..40)
        .map(|i| (format!("copy-{i:02}.txt"), article.clone().into_bytes()))
        .collect();
    let borrowed: Vec<(&str, &[u8])> = files
        .iter()
        .map(|(name, bytes)| (name.as_str(), bytes.as_slice()))
        .collect();
    Workspace::with_articles(&borrowed)
}

/// A rebuild killed at various points (SIGKILL: no cleanup runs) leaves at most a `.tmp-*`
/// folder and an unlocked `.build.lock`: the live index keeps answering without a rebuild,
/// and the next rebuild is not blocked and removes the leftovers.
#[test]
fn killed_rebuild_leaves_nothing_that_blocks_the_next() {
    let env = large_corpus_env();
    env.build_index();
    let mut saw_leftover = false;
    let mut saw_held_lock = false;
    // None: kill at once; Some(ms): kill that long after the temporary generation appears.
    for kill_point in [None, Some(0u64), Some(40), Some(120), Some(300)] {
        let mut child = Command::new(assert_cmd::cargo::cargo_bin("citebot"))
            .arg("--config")
            .arg(env.config_path())
            .arg("index")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("{e}"));
        if let Some(after_ms) = kill_point {
            let started = Instant::now();
            while started.elapsed() < Duration::from_secs(20) {
                if env
                    .index_entries()
                    .iter()
                    .any(|n| n.starts_with(".tmp-gen-"))
                {
                    break;
                }
                if child.try_wait().ok().flatten().is_some() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(1));
            }
            std::thread::sleep(Duration::from_millis(after_ms));
        }
        let still_running = child.try_wait().ok().flatten().is_none();
        let lock_was_held = if still_running {
            lock_is_held(&env)
        } else {
            None
        };
        let _ = child.kill();
        let _ = child.wait();
        saw_held_lock |= lock_was_held == Some(true);
        assert_ne!(
            lock_is_held(&env),
            Some(true),
            "the kernel releases the build lock of a killed process"
        );
        saw_leftover |= env.index_entries().iter().any(|n| n.starts_with(".tmp-"));

        let notice = assert_answers(&env, &format!("after a rebuild killed at {kill_point:?}"));
        assert!(
            !notice.contains("built it"),
            "the old index served: {notice}"
        );
        let live = env.live_generation();
        assert!(live.join("manifest.json").is_file() && live.join("meta.json").is_file());
    }
    eprintln!(
        "killed rebuilds: a .tmp-* folder left: {saw_leftover}; lock seen held while running: {saw_held_lock}"
    );
    assert!(env.index_dir().join(".build.lock").exists());
    // Whatever the kills left, add the remains of a rebuild killed while writing.
    let remains = env.index_dir().join(".tmp-gen-1-1");
    fs::create_dir_all(&remains).unwrap_or_else(|e| panic!("{e}"));
    fs::write(remains.join("half-written.store"), [0u8; 4096]).unwrap_or_else(|e| panic!("{e}"));

    let started = Instant::now();
    env.build_index();
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "the next rebuild was not blocked"
    );
    assert_index_folder_sound(&env, false, "after the next rebuild");
}

/// Whether another process holds the build lock, asked with util-linux `flock -n` (the same
/// OS lock citebot takes); `None` when `flock` is not installed.
fn lock_is_held(env: &Workspace) -> Option<bool> {
    let status = Command::new("flock")
        .args(["--nonblock", "--conflict-exit-code", "75"])
        .arg(env.index_dir().join(".build.lock"))
        .arg("true")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .ok()?;
    match status.code() {
        Some(75) => Some(true),
        Some(0) => Some(false),
        _ => None,
    }
}

/// Two (three) `citebot index` at once: they take turns on the build lock, all succeed, and
/// the folder ends with one complete generation; a search meanwhile always answers.
#[test]
fn concurrent_rebuilds_through_the_binary() {
    let env = large_corpus_env();
    env.build_index();
    let children: Vec<_> = (0..3)
        .map(|_| {
            Command::new(assert_cmd::cargo::cargo_bin("citebot"))
                .arg("--config")
                .arg(env.config_path())
                .arg("index")
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap_or_else(|e| panic!("{e}"))
        })
        .collect();
    // A search that opens a generation just as the next rebuild deletes it falls back to a
    // rebuild of its own (a wasted build, but a right answer): only the answer is checked.
    for round in 0..3 {
        assert_answers(&env, &format!("search during rebuilds, round {round}"));
    }
    for child in children {
        let output = child.wait_with_output().unwrap_or_else(|e| panic!("{e}"));
        assert_ok(&output, "concurrent citebot index");
    }
    assert_index_folder_sound(&env, false, "after concurrent rebuilds");
}

/// The same in one process: rebuilds from several threads serialise on the OS lock.
#[test]
fn concurrent_rebuilds_in_one_process() {
    let env = env_with_built_index();
    let config = env.config();
    let results: Vec<_> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..3)
            .map(|_| scope.spawn(|| index::rebuild(&config, RebuildOptions::default())))
            .collect();
        handles.into_iter().map(|h| h.join()).collect()
    });
    for result in results {
        match result {
            Ok(Ok(_)) => {}
            Ok(Err(error)) => panic!("a concurrent rebuild failed: {error}"),
            Err(_) => panic!("a concurrent rebuild panicked"),
        }
    }
    assert_index_folder_sound(&env, false, "after threads");
    assert_answers(&env, "after threads");
}

/// An index folder that cannot be created (its parent is a regular file): one line naming the
/// folder, the cause and the setting to change. This works as root too, unlike permissions.
#[test]
fn index_folder_that_cannot_be_created() {
    let env = Workspace::with_seed_corpus();
    fs::write(env.root().join("a-file"), "not a folder").unwrap_or_else(|e| panic!("{e}"));
    env.write_config("");
    let config = fs::read_to_string(env.config_path()).unwrap_or_default();
    fs::write(
        env.config_path(),
        config.replace("index_dir = \"index\"", "index_dir = \"a-file/index\""),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    for args in [vec!["index"], vec!["search", "x"], vec!["ask", "x"]] {
        let output = run(env.command().args(&args));
        assert_clear_error(
            &output,
            &args.join(" "),
            &["a-file/index", "cannot be written", "index_dir"],
        );
    }
}

/// A folder without write permission: one line naming the cause and the setting. Root ignores
/// permissions, so as root (CI) the child runs as `nobody`; as another user it runs as that
/// user, whom the permissions stop.
#[test]
fn index_folder_without_write_permission() {
    use std::os::unix::fs::PermissionsExt;
    let env = Workspace::with_seed_corpus();
    fs::create_dir_all(env.index_dir()).unwrap_or_else(|e| panic!("{e}"));
    fs::set_permissions(env.index_dir(), fs::Permissions::from_mode(0o555))
        .unwrap_or_else(|e| panic!("{e}"));
    let output = run(&mut unprivileged_citebot(&env, &["index"]));
    let _ = fs::set_permissions(env.index_dir(), fs::Permissions::from_mode(0o755));
    assert!(
        !output.status.success(),
        "citebot wrote into a folder of mode 0555: it still ran with root's rights\nstderr: {}",
        stderr(&output)
    );
    assert_clear_error(
        &output,
        "index in a read-only folder",
        &["cannot be written", "index_dir"],
    );
}

/// The user id and group id of `nobody` on Debian and most Linux systems.
const NOBODY: u32 = 65534;

/// `citebot --config <env> ARGS…` run without root's rights: as `nobody` when the tests run as
/// root (the kernel ignores folder permissions for root), else as the current user. `nobody`
/// must reach the binary and the workspace, so the workspace is opened to others (mode 0755)
/// and the binary is linked (or copied) into it: cargo's target folder is often under /root,
/// which only root may enter.
fn unprivileged_citebot(env: &Workspace, args: &[&str]) -> assert_cmd::Command {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    use std::os::unix::process::CommandExt;
    // A file this process created is owned by its effective user id.
    let running_as_root = fs::metadata(env.config_path())
        .unwrap_or_else(|e| panic!("{e}"))
        .uid()
        == 0;
    let built = assert_cmd::cargo::cargo_bin("citebot");
    if !running_as_root {
        return env.citebot(args);
    }
    fs::set_permissions(env.root(), fs::Permissions::from_mode(0o755))
        .unwrap_or_else(|e| panic!("cannot open {} to others: {e}", env.root().display()));
    let reachable = env.root().join("citebot");
    if fs::hard_link(&built, &reachable).is_err() {
        fs::copy(&built, &reachable).unwrap_or_else(|e| {
            panic!(
                "cannot copy {} where nobody can run it: {e}",
                built.display()
            )
        });
    }
    let mut command = citebot_std_command(&reachable);
    command
        .uid(NOBODY)
        .gid(NOBODY)
        .arg("--config")
        .arg(env.config_path())
        .args(args);
    assert_cmd::Command::from_std(command)
}

/// A tmpfs mounted over a folder for the length of a test (needs root); unmounted on drop.
struct TmpfsMount {
    path: PathBuf,
}

impl TmpfsMount {
    /// Mounts a tmpfs of `size_kib` KiB on `path`. Panics with the reason when it cannot: the
    /// fault is not checked otherwise, and CI (root) can always mount.
    fn mount(path: &Path, size_kib: u64) -> TmpfsMount {
        fs::create_dir_all(path).unwrap_or_else(|e| panic!("{e}"));
        run_mount(
            &["-t", "tmpfs", "-o", &format!("size={size_kib}k"), "tmpfs"],
            path,
        );
        TmpfsMount {
            path: path.to_path_buf(),
        }
    }

    fn remount_read_only(&self) {
        run_mount(&["-o", "remount,ro"], &self.path);
    }
}

impl Drop for TmpfsMount {
    fn drop(&mut self) {
        let unmounted = Command::new("umount")
            .arg(&self.path)
            .status()
            .is_ok_and(|s| s.success());
        if !unmounted {
            let _ = Command::new("umount").arg("-l").arg(&self.path).status();
        }
    }
}

/// `mount ARGS… PATH`, or a panic saying why this fault test cannot run here.
fn run_mount(args: &[&str], path: &Path) {
    let why = match Command::new("mount").args(args).arg(path).output() {
        Ok(output) if output.status.success() => return,
        Ok(output) => String::from_utf8_lossy(&output.stderr).trim().to_string(),
        Err(error) => format!("cannot run mount: {error}"),
    };
    panic!(
        "mount {} {} failed ({why}): this fault test mounts a tmpfs and needs root (CI runs as root); run it as root or in a container with CAP_SYS_ADMIN",
        args.join(" "),
        path.display()
    );
}

fn disk_usage_kib(path: &Path) -> u64 {
    let output = Command::new("du")
        .arg("-sk")
        .arg(path)
        .output()
        .unwrap_or_else(|e| panic!("du: {e}"));
    String::from_utf8_lossy(&output.stdout)
        .split_whitespace()
        .next()
        .and_then(|kib| kib.parse().ok())
        .unwrap_or_else(|| panic!("du printed no size"))
}

/// tmpfs sizes, in KiB above what one generation needs, from "no room for one more file" to
/// "room for everything"; the failure moves through tantivy's segment writes, the manifest and
/// the `CURRENT` pointer (how many segments a build makes varies, so the sizes are many).
const EXTRA_KIB: [u64; 12] = [4, 12, 24, 40, 56, 62, 64, 66, 68, 70, 72, 200];

/// Runs `citebot index` on a copy of the seed index in a tmpfs `extra_kib` larger than the
/// index; `check` looks at the outcome.
fn with_full_disk(extra_kib: u64, check: impl FnOnce(&Workspace, &std::process::Output)) {
    let pristine = shared_seed_env().index_dir();
    let env = Workspace::with_seed_corpus();
    let mount = TmpfsMount::mount(&env.index_dir(), disk_usage_kib(&pristine) + extra_kib);
    copy_tree(&pristine, &env.index_dir());
    let output = run(env.command().arg("index"));
    check(&env, &output);
    drop(mount);
}

/// A full disk during a rebuild: the rebuild fails with one line saying the disk is full, and
/// the old index keeps answering, complete, without a rebuild.
#[test]
fn full_disk_during_rebuild() {
    let mut failed_for_space = 0;
    for extra_kib in EXTRA_KIB {
        with_full_disk(extra_kib, |env, output| {
            let what = format!("full disk (+{extra_kib} KiB)");
            if output.status.success() {
                assert_ok(output, &what);
            } else {
                failed_for_space += 1;
                let line = assert_clear_error(output, &what, &[]);
                assert!(
                    line.contains("No space left") || line.contains("StorageFull"),
                    "the message says the disk is full: {line}"
                );
            }
            let live = env.live_generation();
            assert!(live.join("manifest.json").is_file() && live.join("meta.json").is_file());
            let notice = assert_answers(env, &what);
            assert!(!notice.contains("built it"), "{notice}");
        });
    }
    eprintln!(
        "full disk: {failed_for_space} of {} sizes made the rebuild fail",
        EXTRA_KIB.len()
    );
    assert!(
        failed_for_space > 0,
        "some sizes must be too small for a second generation"
    );
}

/// After a rebuild that failed for space, nothing of it should stay on the (full) disk.
#[test]
fn full_disk_during_rebuild_leaves_nothing_behind() {
    let mut leftovers = Vec::new();
    for extra_kib in (40..=100).step_by(2) {
        with_full_disk(extra_kib, |env, output| {
            let entries = env.index_entries();
            let generations = entries.iter().filter(|n| n.starts_with("gen-")).count();
            let temporary = entries.iter().any(|n| n.starts_with(".tmp-"));
            if generations != 1 || temporary {
                leftovers.push(format!(
                    "+{extra_kib} KiB (exit {:?}): {entries:?}",
                    output.status.code()
                ));
            }
        });
    }
    assert!(
        leftovers.is_empty(),
        "left behind:\n{}",
        leftovers.join("\n")
    );
}

/// The same fault seen by a long-running engine (the Discord bot): the failed rebuild changes
/// nothing it serves, and a reload finds nothing new.
#[test]
fn full_disk_during_rebuild_while_an_engine_serves() {
    let pristine = shared_seed_env().index_dir();
    let env = Workspace::with_seed_corpus();
    let mount = TmpfsMount::mount(&env.index_dir(), disk_usage_kib(&pristine) + 12);
    copy_tree(&pristine, &env.index_dir());
    let config = env.config();
    let engine = Engine::open(&config).unwrap_or_else(|e| panic!("{e}"));
    let error = match index::rebuild(&config, RebuildOptions::default()) {
        Ok(_) => panic!("a rebuild cannot fit"),
        Err(error) => error.to_string(),
    };
    assert!(
        error.contains("No space left") || error.contains("StorageFull"),
        "{error}"
    );
    assert!(engine.ask(ANSWERED_QUESTION, 3).answered());
    assert!(matches!(engine.reload_if_changed(), Ok(false)));
    assert!(engine.ask(ANSWERED_QUESTION, 3).answered());
    drop(engine);
    drop(mount);
}

/// A read-only file system (needs root to mount): `citebot index` fails with one clear line.
#[test]
fn rebuild_on_a_read_only_file_system() {
    let pristine = shared_seed_env().index_dir();
    let env = Workspace::with_seed_corpus();
    let mount = TmpfsMount::mount(&env.index_dir(), disk_usage_kib(&pristine) + 256);
    copy_tree(&pristine, &env.index_dir());
    mount.remount_read_only();
    let output = run(env.command().arg("index"));
    assert_clear_error(
        &output,
        "index on a read-only FS",
        &["cannot be written", "Read-only"],
    );
    drop(mount);
}

/// An up-to-date index on a read-only file system (a read-only volume or image) should be
/// served as it is: nothing needs writing to answer.
#[test]
fn up_to_date_index_on_a_read_only_file_system_is_served() {
    let pristine = shared_seed_env().index_dir();
    let env = Workspace::with_seed_corpus();
    let mount = TmpfsMount::mount(&env.index_dir(), disk_usage_kib(&pristine) + 256);
    copy_tree(&pristine, &env.index_dir());
    mount.remount_read_only();
    let notice = assert_answers(&env, "search on a read-only FS");
    assert!(!notice.contains("built it"), "{notice}");
    drop(mount);
}
