//! The index's fields and the documents written in them: one record per article, one
//! document per passage, and reading a stored passage back.

use serde::{Deserialize, Serialize};
use tantivy::schema::{
    Field, IndexRecordOption, Schema, TextFieldIndexing, TextOptions, Value, FAST, STORED, STRING,
};
use tantivy::{doc, TantivyDocument};

use super::codec::{decode_passage, encode_passage};
use super::TOKENIZER;
use crate::article::Article;
use crate::citation::Citation;
use crate::corpus::ArticleInfo;
use crate::passage::{Passage, PassageKind};

/// The index's fields.
#[derive(Debug, Clone, Copy)]
pub struct Fields {
    /// Passage id (`slug#p03`), exact.
    pub id: Field,
    /// Article slug, exact: filters by article.
    pub article: Field,
    /// "body", "note", "reference" or "article" (one record per article with its citations).
    pub kind: Field,
    /// The passage text without reference markers, analysed.
    pub text: Field,
    /// The section path's headings, analysed.
    pub section: Field,
    /// The article's title and other names, analysed.
    pub title: Field,
    /// The serialized passage (or article record), stored only.
    pub payload: Field,
    /// Reading order, for stable tie-breaking (a fast field, not searchable).
    pub ordinal: Field,
    /// On article records only: the title, ASCII-lowercased, exact (finds an article by title
    /// without loading every record).
    pub title_key: Field,
}

impl Fields {
    pub(super) fn schema() -> (Schema, Fields) {
        let mut builder = Schema::builder();
        // Frequencies, no positions: every query is a term query scored by BM25 (nothing
        // reads positions). Dropping them (with indexing `ordinal`) took a 1M-passage build
        // from 95 to 81 CPU-seconds and its index from 579 to 513 MB.
        let analysed = TextOptions::default().set_indexing_options(
            TextFieldIndexing::default()
                .set_tokenizer(TOKENIZER)
                .set_index_option(IndexRecordOption::WithFreqs),
        );
        let fields = Fields {
            id: builder.add_text_field("id", STRING | STORED),
            article: builder.add_text_field("article", STRING),
            kind: builder.add_text_field("kind", STRING),
            text: builder.add_text_field("text", analysed.clone()),
            section: builder.add_text_field("section", analysed.clone()),
            title: builder.add_text_field("title", analysed),
            payload: builder.add_bytes_field("payload", STORED),
            // Only sorted on (a fast field), never searched: indexing it added one unique term
            // per document to the term dictionary.
            ordinal: builder.add_u64_field("ordinal", FAST),
            title_key: builder.add_text_field("title_key", STRING),
        };
        (builder.build(), fields)
    }

    pub(super) fn from_schema(schema: &Schema) -> Result<Fields, String> {
        let field = |name: &str| {
            schema
                .get_field(name)
                .map_err(|_| format!("field {name} missing"))
        };
        Ok(Fields {
            id: field("id")?,
            article: field("article")?,
            kind: field("kind")?,
            text: field("text")?,
            section: field("section")?,
            title: field("title")?,
            payload: field("payload")?,
            ordinal: field("ordinal")?,
            title_key: field("title_key")?,
        })
    }
}

/// Everything about an article that is not a passage: stored once per article.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ArticleRecord {
    pub info: ArticleInfo,
    pub aliases: Vec<String>,
    pub specialty: Option<String>,
    pub citations: Vec<Citation>,
}

pub(super) fn record_document(
    fields: &Fields,
    article: &Article,
    aliases: Vec<String>,
) -> TantivyDocument {
    let record = ArticleRecord {
        info: ArticleInfo::for_article(article),
        aliases,
        specialty: article.infobox_value("Specialty").map(str::to_string),
        citations: article.references.clone(),
    };
    let record_bytes = serde_json::to_vec(&record).unwrap_or_default();
    doc!(
        fields.id => format!("{}#article", article.slug),
        fields.article => article.slug.clone(),
        fields.kind => "article",
        fields.title_key => article.title.to_ascii_lowercase(),
        fields.payload => record_bytes,
    )
}

pub(super) fn passage_document(
    fields: &Fields,
    passage: &Passage,
    title_text: &str,
) -> TantivyDocument {
    let kind = match passage.kind {
        PassageKind::Body => "body",
        PassageKind::Note => "note",
        PassageKind::Reference(_) => "reference",
    };
    doc!(
        fields.id => passage.id.clone(),
        fields.article => passage.article.clone(),
        fields.kind => kind,
        fields.text => searchable_text(passage),
        fields.section => passage.section_path.0.join(". "),
        fields.title => title_text.to_string(),
        fields.payload => encode_passage(passage),
    )
}

/// The passage a document stores (what [`passage_document`] wrote), or `None` when the stored
/// bytes cannot be read back.
pub fn stored_passage(fields: &Fields, document: &TantivyDocument) -> Option<Passage> {
    let bytes = document.get_first(fields.payload)?.as_bytes()?;
    decode_passage(bytes)
}

/// The ordinal of the document at `address`: its place in file order, fixed at rebuild, which
/// keys what a generation stores beside tantivy (the passage embeddings).
pub fn ordinal_of(searcher: &tantivy::Searcher, address: tantivy::DocAddress) -> Option<u64> {
    searcher
        .segment_reader(address.segment_ord)
        .fast_fields()
        .u64("ordinal")
        .ok()?
        .first(address.doc_id)
}

/// The passage text with its reference markers blanked out: `[3]` and `527–530` are not words
/// a question would match.
pub fn searchable_text(passage: &Passage) -> String {
    if !matches!(passage.kind, PassageKind::Body | PassageKind::Note) {
        return passage.text.clone();
    }
    crate::article::strip_markers(&passage.text)
}
