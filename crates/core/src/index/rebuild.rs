//! The rebuild: worker threads read and parse articles while tantivy's threads index them in
//! file order; then the passages' embeddings, the file table and the manifest, all under the
//! build lock, published by renaming `CURRENT`.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tantivy::{Index, IndexWriter, TantivyDocument};

use super::generations::{remove_leftovers, remove_old_generations, sync_dir, CURRENT};
use super::manifest::{Manifest, FILE_TABLE, MANIFEST};
use super::schema::{passage_document, record_document, stored_passage, Fields};
use super::{analyzer, INDEX_FORMAT, TOKENIZER};
use crate::config::Config;
use crate::corpus::{self, ArticleFile, FileDigest};
use crate::error::{Error, Result};
use crate::passage::Passage;

const LOCK: &str = ".build.lock";
/// Below this many corpus bytes (about 20,000 passages) one tantivy thread indexes into one
/// segment: it takes milliseconds either way, and one segment answers ~25% faster.
const ONE_SEGMENT_CORPUS_BYTES: u64 = 6_000_000;
/// tantivy's indexing memory per thread: a segment is flushed when it is full. Larger means
/// fewer segments (less merging, faster queries), smaller means a lower peak RSS.
const WRITER_HEAP_PER_THREAD: usize = 128_000_000;
/// Parsed articles a worker may run ahead of the one being added, so memory stays bounded
/// whatever the corpus size.
const PARSE_WINDOW: usize = 64;

/// What a rebuild did, for the `citebot index` summary.
#[derive(Debug, Clone)]
pub struct BuildReport {
    pub manifest: Manifest,
    pub generation: PathBuf,
    pub took: Duration,
}

/// Options for [`rebuild`].
#[derive(Debug, Clone, Copy, Default)]
pub struct RebuildOptions {
    /// Called with (passages indexed so far, passages in all) while indexing. Articles are
    /// parsed as they are indexed, so "in all" is an estimate from the bytes read so far until
    /// the last call, which is exact.
    pub progress: Option<fn(u64, u64)>,
}

/// Rebuilds the index from the corpus, atomically: the previous generation keeps serving
/// until the new one is complete. Holds the build lock, so two rebuilds run one after the other.
///
/// Articles are read and parsed by a pool of threads and added to the index as they come, in
/// file order (so ids and ordinals do not depend on timing): memory stays bounded by tantivy's
/// writer heap and a window of parsed articles, whatever the corpus size.
pub fn rebuild(config: &Config, options: RebuildOptions) -> Result<BuildReport> {
    let started = Instant::now();
    let index_dir = &config.index_dir;
    std::fs::create_dir_all(index_dir).map_err(|source| Error::IndexNotWritable {
        path: index_dir.clone(),
        source,
    })?;
    let lock = open_lock(index_dir)?;
    lock.lock().map_err(|source| Error::IndexNotWritable {
        path: index_dir.clone(),
        source,
    })?;
    remove_leftovers(index_dir);

    let files = corpus::list_articles(&config.corpus_dir)?;

    let generation_name = format!(
        "gen-{}-{}",
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_micros())
            .unwrap_or(0),
        std::process::id()
    );
    let temporary = index_dir.join(format!(".tmp-{generation_name}"));
    let result = write_generation(config, &files, &temporary, started, options);
    let manifest = match result {
        Ok(manifest) => manifest,
        Err(error) => {
            let _ = std::fs::remove_dir_all(&temporary);
            return Err(error);
        }
    };
    let generation = index_dir.join(&generation_name);
    let not_writable = |source| Error::IndexNotWritable {
        path: index_dir.clone(),
        source,
    };
    std::fs::rename(&temporary, &generation).map_err(not_writable)?;
    let pointer = index_dir.join(format!(".tmp-{CURRENT}"));
    let published = File::create(&pointer)
        .and_then(|mut file| {
            file.write_all(generation_name.as_bytes())?;
            file.sync_all()
        })
        .and_then(|()| std::fs::rename(&pointer, index_dir.join(CURRENT)));
    if let Err(source) = published {
        // The old generation keeps serving; leave nothing of the failed one behind.
        let _ = std::fs::remove_file(&pointer);
        let _ = std::fs::remove_dir_all(&generation);
        return Err(not_writable(source));
    }
    sync_dir(index_dir);
    remove_old_generations(index_dir, &generation_name);
    drop(lock);
    Ok(BuildReport {
        manifest,
        generation,
        took: started.elapsed(),
    })
}

fn open_lock(index_dir: &Path) -> Result<File> {
    File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(index_dir.join(LOCK))
        .map_err(|source| Error::IndexNotWritable {
            path: index_dir.to_path_buf(),
            source,
        })
}

/// One article, read, parsed and turned into documents by a worker thread; the documents get
/// their ordinals when they are added, in file order.
struct PreparedArticle {
    digest: FileDigest,
    /// The article record, then the passages in reading order.
    documents: Vec<TantivyDocument>,
    warnings: Vec<String>,
    body_passages: usize,
    references: usize,
}

fn prepare_article(
    fields: &Fields,
    file: &ArticleFile,
    limits: crate::article::PassageLimits,
) -> Result<PreparedArticle> {
    let (article, digest) = corpus::read_article_digest(file, limits)?;
    let warnings = article
        .warnings
        .iter()
        .map(|warning| {
            format!(
                "{}.txt line {}: {}",
                article.slug, warning.line, warning.message
            )
        })
        .collect();
    let aliases = article.aliases();
    let title_text = std::iter::once(article.title.clone())
        .chain(aliases.iter().cloned())
        .collect::<Vec<_>>()
        .join(". ");
    let body_passages = article.body_passages().count();
    let references = article.references.len();
    let mut documents = Vec::with_capacity(article.passages.len() + 1);
    documents.push(record_document(fields, &article, aliases));
    for passage in &article.passages {
        documents.push(passage_document(fields, passage, &title_text));
    }
    Ok(PreparedArticle {
        digest,
        documents,
        warnings,
        body_passages,
        references,
    })
}

/// Hands out article numbers to workers, never more than [`PARSE_WINDOW`] ahead of the next
/// article to be added.
struct WorkQueue {
    next: AtomicUsize,
    added: Mutex<usize>,
    moved: Condvar,
    stop: AtomicBool,
}

impl WorkQueue {
    /// The next article to prepare, or `None` when there is none or the build stopped.
    fn take(&self, count: usize) -> Option<usize> {
        let number = self.next.fetch_add(1, Ordering::Relaxed);
        if number >= count {
            return None;
        }
        let mut added = self.added.lock().unwrap_or_else(|e| e.into_inner());
        while number >= *added + PARSE_WINDOW && !self.stop.load(Ordering::Relaxed) {
            added = self.moved.wait(added).unwrap_or_else(|e| e.into_inner());
        }
        (!self.stop.load(Ordering::Relaxed)).then_some(number)
    }

    fn set_added(&self, added: usize) {
        *self.added.lock().unwrap_or_else(|e| e.into_inner()) = added;
        self.moved.notify_all();
    }

    fn stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
        let _guard = self.added.lock().unwrap_or_else(|e| e.into_inner());
        self.moved.notify_all();
    }
}

/// What the adding loop counted.
#[derive(Default)]
struct Totals {
    digests: Vec<FileDigest>,
    warnings: Vec<String>,
    body_passages: usize,
    references: usize,
}

fn write_generation(
    config: &Config,
    files: &[ArticleFile],
    folder: &Path,
    started: Instant,
    options: RebuildOptions,
) -> Result<Manifest> {
    let index_error = |source| Error::Index {
        path: folder.to_path_buf(),
        source,
    };
    std::fs::create_dir_all(folder).map_err(|source| Error::IndexNotWritable {
        path: folder.to_path_buf(),
        source,
    })?;
    let (schema, fields) = Fields::schema();
    let index = Index::create_in_dir(folder, schema).map_err(index_error)?;
    index.tokenizers().register(TOKENIZER, analyzer());
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .clamp(1, 8);
    let total_bytes: u64 = files.iter().map(|f| f.stat.len).sum();
    // One indexing thread writes one segment. A small corpus indexes in milliseconds either
    // way, and one segment answers ~25% faster (each term is looked up and scored once), so
    // parallel indexing is kept for corpora where it pays.
    let threads = if total_bytes < ONE_SEGMENT_CORPUS_BYTES {
        1
    } else {
        cores
    };
    let writer: IndexWriter = index
        .writer_with_num_threads(threads, WRITER_HEAP_PER_THREAD * threads)
        .map_err(index_error)?;
    let workers = cores.min(files.len()).max(1);
    let limits = config.passage_limits();

    let queue = WorkQueue {
        next: AtomicUsize::new(0),
        added: Mutex::new(0),
        moved: Condvar::new(),
        stop: AtomicBool::new(false),
    };
    let (sender, receiver) =
        std::sync::mpsc::sync_channel::<(usize, Result<PreparedArticle>)>(workers * 2);
    let mut writer = writer;
    let added = std::thread::scope(|scope| {
        for _ in 0..workers {
            let sender = sender.clone();
            let (queue, fields) = (&queue, &fields);
            scope.spawn(move || {
                while let Some(number) = queue.take(files.len()) {
                    let prepared = prepare_article(fields, &files[number], limits);
                    if sender.send((number, prepared)).is_err() {
                        break;
                    }
                }
            });
        }
        drop(sender);
        let added = add_in_order(
            &writer,
            &fields,
            files.len(),
            total_bytes,
            receiver,
            &queue,
            options,
        );
        if added.is_err() {
            queue.stop();
        }
        added
    });
    let totals = match added {
        Ok(totals) => totals,
        Err(Some(error)) => {
            // Stop tantivy's threads before the caller removes the folder.
            let _ = writer.rollback();
            return Err(error);
        }
        Err(None) => {
            let cause = writer.commit().err().unwrap_or_else(|| {
                tantivy::TantivyError::ErrorInThread("the indexing threads stopped".to_string())
            });
            return Err(index_error(cause));
        }
    };
    writer.commit().map_err(index_error)?;
    writer.wait_merging_threads().map_err(index_error)?;
    let meaning = embed_passages(config, &index, &fields, folder)?;

    let table_path = folder.join(FILE_TABLE);
    write_synced(&table_path, &corpus::encode_digests(&totals.digests))?;
    let manifest = Manifest {
        format: INDEX_FORMAT,
        program_version: env!("CARGO_PKG_VERSION").to_string(),
        sources_hash: env!("CITEBOT_INDEX_SOURCES_HASH").to_string(),
        corpus_fingerprint: corpus::combine(&totals.digests),
        max_passage_bytes: config.passages.max_passage_bytes,
        articles: totals.digests.len(),
        passages: totals.body_passages,
        references: totals.references,
        warnings: totals.warnings,
        build_millis: started.elapsed().as_millis() as u64,
        meaning,
    };
    let bytes = serde_json::to_vec_pretty(&manifest).unwrap_or_default();
    write_synced(&folder.join(MANIFEST), &bytes)?;
    Ok(manifest)
}

fn write_synced(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut file = File::create(path).map_err(|source| Error::IndexNotWritable {
        path: path.to_path_buf(),
        source,
    })?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .map_err(|source| Error::IndexNotWritable {
            path: path.to_path_buf(),
            source,
        })
}

/// Writes the passages' sentence embeddings into the generation when the meaning model is
/// installed (and enabled); returns the model's fingerprint for the manifest.
fn embed_passages(
    config: &Config,
    index: &Index,
    fields: &Fields,
    folder: &Path,
) -> Result<Option<String>> {
    let Some(model) = crate::meaning::shared(&config.meaning)? else {
        return Ok(None);
    };
    let reader: tantivy::IndexReader = index
        .reader_builder()
        .reload_policy(tantivy::ReloadPolicy::Manual)
        .try_into()
        .map_err(|source| Error::Index {
            path: folder.to_path_buf(),
            source,
        })?;
    let passages = passages_by_ordinal(&reader.searcher(), fields);
    crate::embeddings::write(folder, &passages, &model)?;
    Ok(Some(model.fingerprint().to_string()))
}

/// Every passage of a freshly built index with its document ordinal, in ordinal order: what
/// the embeddings writer is fed.
fn passages_by_ordinal(searcher: &tantivy::Searcher, fields: &Fields) -> Vec<(u64, Passage)> {
    let mut found = Vec::new();
    for (segment_ord, segment) in searcher.segment_readers().iter().enumerate() {
        let Ok(ordinals) = segment.fast_fields().u64("ordinal") else {
            continue;
        };
        for doc_id in 0..segment.max_doc() {
            let address = tantivy::DocAddress::new(segment_ord as u32, doc_id);
            let Some(ordinal) = ordinals.first(doc_id) else {
                continue;
            };
            let Ok(document) = searcher.doc::<TantivyDocument>(address) else {
                continue;
            };
            if let Some(passage) = stored_passage(fields, &document) {
                found.push((ordinal, passage));
            }
        }
    }
    found.sort_by_key(|(ordinal, _)| *ordinal);
    found
}

/// Receives prepared articles in any order and adds them to the index in file order, giving
/// every document its ordinal. The first failing article (in file order) stops the build.
/// `Err(None)` means tantivy refused a document: its indexing threads stopped, and committing
/// says why (a full disk, typically).
fn add_in_order(
    writer: &IndexWriter,
    fields: &Fields,
    count: usize,
    total_bytes: u64,
    receiver: std::sync::mpsc::Receiver<(usize, Result<PreparedArticle>)>,
    queue: &WorkQueue,
    options: RebuildOptions,
) -> Result<Totals, Option<Error>> {
    let mut totals = Totals {
        digests: Vec::with_capacity(count),
        ..Totals::default()
    };
    let mut waiting: BTreeMap<usize, Result<PreparedArticle>> = BTreeMap::new();
    let mut next = 0usize;
    let mut ordinal = 0u64;
    let (mut passages_done, mut bytes_done, mut reported) = (0u64, 0u64, 0u64);
    while next < count {
        let prepared = match waiting.remove(&next) {
            Some(prepared) => prepared,
            None => match receiver.recv() {
                Ok((number, prepared)) => {
                    waiting.insert(number, prepared);
                    continue;
                }
                // Every worker has gone: one panicked (the scope re-raises it).
                Err(_) => break,
            },
        };
        let prepared = prepared.map_err(Some)?;
        let passages = prepared.documents.len() as u64 - 1;
        // One document at a time: tantivy's queue holds at most 10,000 operations, and that
        // bounds memory only if an operation is one document.
        for mut document in prepared.documents {
            document.add_u64(fields.ordinal, ordinal);
            ordinal += 1;
            writer.add_document(document).map_err(|_| None)?;
        }
        bytes_done += prepared.digest.len;
        totals.digests.push(prepared.digest);
        totals.warnings.extend(prepared.warnings);
        totals.body_passages += prepared.body_passages;
        totals.references += prepared.references;
        next += 1;
        queue.set_added(next);
        passages_done += passages;
        if let Some(progress) = options.progress {
            if next == count {
                progress(passages_done, passages_done);
            } else if passages_done >= reported + 10_000 {
                reported = passages_done;
                let estimate =
                    (passages_done as f64 * total_bytes as f64 / bytes_done.max(1) as f64) as u64;
                progress(passages_done, estimate.max(passages_done));
            }
        }
    }
    Ok(totals)
}
