//! The engine: one object that owns the index and answers questions. Surfaces (CLI, Discord,
//! benchmarks) hold an `Engine` and call [`Engine::ask`]; it is `Send + Sync` and picks up a
//! rebuilt index without a restart ([`Engine::reload_if_changed`]).

use std::sync::{Arc, RwLock};

use crate::answer::Answer;
use crate::citation::{Citation, RefNumber};
use crate::config::Config;
use crate::corpus::ArticleInfo;
use crate::error::{Error, Result};
use crate::index::{self, ArticleRecord, BuildReport, OpenIndex, RebuildOptions, Staleness};
use crate::meaning::{MeaningModel, Reader};
use crate::query::Vocabulary;
use crate::ranker::Ranker;
use crate::search::{self, SearchCache};

/// An opened index with its passage cache; replaced whole when the index is rebuilt.
struct Loaded {
    open: OpenIndex,
    cache: SearchCache,
}

/// Answers questions from the corpus through its index.
pub struct Engine {
    config: Config,
    synonyms: Vocabulary,
    ranker: Ranker,
    /// The sentence-embedding model, when installed and enabled: questions are embedded with
    /// it and compared with the generation's passage embeddings.
    meaning: Option<Arc<MeaningModel>>,
    /// The reader (a cross-encoder on the same model) that joins the decision to answer, when
    /// the model is installed and the reader is on.
    reader: Option<Arc<Reader>>,
    loaded: RwLock<Arc<Loaded>>,
}

/// A question's candidates with the inputs of the decision to answer (`citebot train-data`):
/// the ranker's logit, and the reader's scores of the first passages shown when it is on.
pub struct Described {
    pub candidates: search::Candidates,
    pub decision_logit: f32,
    pub reader_scores: Option<Vec<f32>>,
}

/// What [`Engine::open`] had to do to the index first.
#[derive(Debug, Clone)]
pub enum Preparation {
    /// The index matched the corpus.
    UpToDate,
    /// The index was built or rebuilt, and why.
    Rebuilt {
        reason: String,
        report: Box<BuildReport>,
    },
}

impl Engine {
    /// Opens the index, building it first when it is missing, stale or unreadable.
    pub fn open(config: &Config) -> Result<Engine> {
        Engine::open_reporting(config).map(|(engine, _)| engine)
    }

    /// [`Engine::open`], also saying whether the index had to be rebuilt.
    pub fn open_reporting(config: &Config) -> Result<(Engine, Preparation)> {
        Engine::open_with(config, RebuildOptions::default())
    }

    /// [`Engine::open_reporting`], with `options` for a rebuild it has to do (a progress
    /// callback: rebuilding a large corpus takes a while).
    pub fn open_with(config: &Config, options: RebuildOptions) -> Result<(Engine, Preparation)> {
        let synonyms = Vocabulary::load(&config.vocabulary_file)?;
        let ranker = match &config.ranker_file {
            Some(path) => Ranker::load(path)?,
            None => Ranker::builtin(),
        };
        let meaning = crate::meaning::shared(&config.meaning)?;
        let reader = match &meaning {
            Some(model) => crate::meaning::shared_reader(&config.meaning, model)?,
            None => None,
        };
        let mut preparation = Preparation::UpToDate;
        if let Err(staleness) = index::check(config) {
            if let Staleness::CorpusUnreadable(_) = staleness {
                // The corpus, not the index, is the problem: say what is wrong with it.
                crate::corpus::fingerprint(&config.corpus_dir)?;
            }
            tracing::info!(reason = %staleness, "rebuilding index");
            let report = index::rebuild(config, options)?;
            preparation = Preparation::Rebuilt {
                reason: staleness.to_string(),
                report: Box::new(report),
            };
        }
        let open = match index::open(&config.index_dir) {
            Ok(open) => open,
            Err(staleness) => {
                // Checked fine but does not open (a damaged segment file): rebuild once.
                tracing::warn!(reason = %staleness, "index unreadable, rebuilding");
                let report = index::rebuild(config, options)?;
                preparation = Preparation::Rebuilt {
                    reason: staleness.to_string(),
                    report: Box::new(report),
                };
                index::open(&config.index_dir).map_err(|staleness| Error::IndexCorrupt {
                    path: config.index_dir.clone(),
                    message: staleness.to_string(),
                })?
            }
        };
        let engine = Engine {
            config: config.clone(),
            synonyms,
            ranker,
            meaning,
            reader,
            loaded: RwLock::new(Arc::new(Loaded {
                open,
                cache: SearchCache::default(),
            })),
        };
        Ok((engine, preparation))
    }

    fn current(&self) -> Arc<Loaded> {
        match self.loaded.read() {
            Ok(guard) => Arc::clone(&guard),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    /// The configuration the engine was opened with.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Answers `question` with at most `top` passages. Never fails: a question that cannot be
    /// searched gets an abstention with its reason.
    pub fn ask(&self, question: &str, top: usize) -> Answer {
        let started = std::time::Instant::now();
        let loaded = self.current();
        // tantivy panics on some damaged files that pass every check at open; one question
        // must not take the process (or the bot) down with it.
        let answered = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let meaning = self.question_meaning(&loaded, question);
            search::answer(
                &self.context(&loaded, meaning.as_ref()),
                question,
                top.max(1),
            )
        }));
        answered.unwrap_or_else(|_| {
            tracing::error!(index = %loaded.open.generation.display(), "index unreadable while answering: run `citebot index`");
            Answer {
                question: question.to_string(),
                verdict: crate::answer::Verdict::Abstained(crate::answer::AbstainReason::IndexDamaged),
                hits: Vec::new(),
                not_in_article: Vec::new(),
                closest_only: false,
                took: started.elapsed(),
            }
        })
    }

    /// Every candidate passage of `question` with the features the ranker sees, answered or
    /// not: what scripts/train.py learns from (`citebot train-data`). `None` when the question
    /// has no searchable words.
    pub fn candidates(&self, question: &str) -> Option<Described> {
        let loaded = self.current();
        let meaning = self.question_meaning(&loaded, question);
        let context = self.context(&loaded, meaning.as_ref());
        let candidates = search::candidates(&context, question)?;
        let (decision_logit, reader_scores) = candidates.decision_inputs(&context, question);
        Some(Described {
            candidates,
            decision_logit,
            reader_scores,
        })
    }

    /// Whether answers use the reader (the model is installed, the reader is on and was
    /// trained on that model).
    pub fn uses_reader(&self) -> bool {
        self.reader.is_some() && self.uses_meaning()
    }

    /// Whether answers use the meaning step (the model is installed and the index holds
    /// passage embeddings).
    pub fn uses_meaning(&self) -> bool {
        self.meaning.is_some() && self.current().open.embeddings.is_some()
    }

    fn context<'a>(
        &'a self,
        loaded: &'a Loaded,
        meaning: Option<&'a crate::embeddings::QuestionMeaning>,
    ) -> search::Context<'a> {
        search::Context {
            open: &loaded.open,
            cache: &loaded.cache,
            vocabulary: &self.synonyms,
            settings: &self.config.search,
            ranker: &self.ranker,
            meaning,
            reader: match (&self.meaning, &self.reader, meaning) {
                (Some(model), Some(reader), Some(_)) => Some(search::Reading { model, reader }),
                _ => None,
            },
        }
    }

    /// The question's similarity to every passage, when the meaning step is on.
    fn question_meaning(
        &self,
        loaded: &Loaded,
        question: &str,
    ) -> Option<crate::embeddings::QuestionMeaning> {
        let model = self.meaning.as_ref()?;
        let embeddings = loaded.open.embeddings.as_ref()?;
        let text = crate::query::truncate_chars(question, self.config.search.max_question_chars);
        model
            .embed_with_tokens(&[text])
            .pop()
            .map(|(embedding, tokens)| embeddings.for_question(embedding.as_slice(), Some(tokens)))
    }

    /// The articles in the index. Reads every article's record: for a large corpus prefer
    /// [`Engine::article_count`] and [`Engine::article_info`].
    pub fn articles(&self) -> Vec<ArticleInfo> {
        self.current()
            .open
            .article_records()
            .iter()
            .map(|record| record.info.clone())
            .collect()
    }

    fn with_article<T>(
        &self,
        article: Option<&str>,
        f: impl FnOnce(&ArticleRecord) -> Result<T>,
    ) -> Result<T> {
        let loaded = self.current();
        let open = &loaded.open;
        let choices = || open.article_slugs().unwrap_or_default().join(", ");
        let record = match article {
            Some(name) => open
                .find_article(name)
                .ok_or_else(|| Error::UnknownArticle {
                    name: name.to_string(),
                    choices: choices(),
                })?,
            None if open.article_count() == 1 => open
                .article_slugs()
                .ok()
                .and_then(|slugs| slugs.first().and_then(|slug| open.article_record(slug)))
                .ok_or_else(|| Error::IndexCorrupt {
                    path: open.generation.clone(),
                    message: "the article record is unreadable".to_string(),
                })?,
            None => return Err(Error::AmbiguousArticle { choices: choices() }),
        };
        f(&record)
    }

    /// Reference `number` of `article` (the only article when `None`).
    pub fn citation(&self, article: Option<&str>, number: RefNumber) -> Result<Citation> {
        self.with_article(article, |record| {
            record
                .citations
                .iter()
                .find(|c| c.number == number)
                .cloned()
                .ok_or_else(|| Error::UnknownReference {
                    article: record.info.slug.clone(),
                    number: number.0,
                    last: record.citations.last().map(|c| c.number.0).unwrap_or(0),
                })
        })
    }

    /// Every reference of `article` (the only article when `None`).
    pub fn citations(&self, article: Option<&str>) -> Result<Vec<Citation>> {
        self.with_article(article, |record| Ok(record.citations.clone()))
    }

    /// The citations of the article a passage comes from, by article slug.
    pub fn citations_of(&self, article_slug: &str) -> Vec<Citation> {
        self.current()
            .open
            .article_record(article_slug)
            .map(|r| r.citations.clone())
            .unwrap_or_default()
    }

    /// Reference `number` of the article with slug `article_slug`, if it has one. Cheaper than
    /// [`Engine::citations_of`] when one is needed.
    pub fn citation_of(&self, article_slug: &str, number: RefNumber) -> Option<Citation> {
        self.current()
            .open
            .article_record(article_slug)
            .and_then(|r| r.citations.iter().find(|c| c.number == number).cloned())
    }

    /// What is known of one article, by slug.
    pub fn article_info(&self, article_slug: &str) -> Option<ArticleInfo> {
        self.current()
            .open
            .article_record(article_slug)
            .map(|r| r.info.clone())
    }

    /// How many articles the index holds.
    pub fn article_count(&self) -> usize {
        self.current().open.article_count()
    }

    /// Switches to a newer index generation when `citebot index` has built one. Returns whether
    /// it switched. On error the engine keeps serving the index it has.
    pub fn reload_if_changed(&self) -> Result<bool> {
        let live = index::current_generation(&self.config.index_dir);
        if live.as_ref() == Some(&self.current().open.generation) || live.is_none() {
            return Ok(false);
        }
        let open =
            index::open(&self.config.index_dir).map_err(|staleness| Error::IndexCorrupt {
                path: self.config.index_dir.clone(),
                message: staleness.to_string(),
            })?;
        let fresh = Arc::new(Loaded {
            open,
            cache: SearchCache::default(),
        });
        match self.loaded.write() {
            Ok(mut guard) => *guard = fresh,
            Err(poisoned) => *poisoned.into_inner() = fresh,
        }
        Ok(true)
    }

    /// The name of the index generation being served (its folder under `index_dir`), which
    /// changes with every rebuild: health checks and metrics report it.
    pub fn generation(&self) -> String {
        let loaded = self.current();
        loaded
            .open
            .generation
            .file_name()
            .map(|name| name.to_string_lossy().into_owned())
            .unwrap_or_else(|| loaded.open.generation.display().to_string())
    }

    /// The manifest of the index being served.
    pub fn manifest(&self) -> index::Manifest {
        self.current().open.manifest.clone()
    }
}
