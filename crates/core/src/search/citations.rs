//! Following citations: a question about a cited work gets the entries the best passage cites;
//! "reference 15" gets that entry.

use std::sync::Arc;

use tantivy::collector::TopDocs;
use tantivy::query::TermQuery;
use tantivy::schema::{IndexRecordOption, Value};
use tantivy::{DocAddress, TantivyDocument, Term};

use super::analysed::AnalysedPassage;
use super::cache::SearchCache;
use super::concepts::{passage_match, WeightedConcept};
use super::ranking::Ranked;
use crate::index::Fields;
use crate::passage::PassageKind;
use crate::ranker::CandidateFeatures;

/// For a question about a cited work ("which journal was the scrotal case in?"), the work is
/// one cited by the best body passage: its entries go first, the ones cited by the answering
/// sentence before the others, then the ones whose own text matches the question more. When
/// the ranker already put a reference entry above every body passage (the question named its
/// authors, title or journal), that entry stands.
pub(super) fn follow_citations(
    searcher: &tantivy::Searcher,
    fields: &Fields,
    cache: &SearchCache,
    ranked: &mut Vec<Ranked>,
    content: &[&WeightedConcept],
    total_weight: f32,
) {
    let Some(best_body) = ranked
        .iter()
        .position(|r| matches!(r.analysed.passage.kind, PassageKind::Body))
    else {
        return;
    };
    if ranked[..best_body]
        .iter()
        .any(|r| matches!(r.analysed.passage.kind, PassageKind::Reference(_)))
    {
        return;
    }
    let best_body = &ranked[best_body];
    let by_best_sentence: Vec<u32> = best_body
        .best_sentences
        .iter()
        .flat_map(|&i| best_body.analysed.passage.sentences[i].refs())
        .map(|n| n.0)
        .collect();
    let cited: Vec<u32> = best_body
        .analysed
        .passage
        .refs()
        .iter()
        .map(|n| n.0)
        .collect();
    let article = best_body.analysed.passage.article.clone();
    let body_features = best_body.features;
    let mut followed: Vec<(bool, f32, usize, Ranked)> = Vec::new();
    for (position, number) in cited.into_iter().enumerate() {
        let is_entry = |r: &Ranked| {
            r.analysed.passage.article == article
                && r.analysed.passage.kind
                    == PassageKind::Reference(crate::citation::RefNumber(number))
        };
        let entry = match ranked.iter().position(is_entry) {
            Some(index) => ranked.remove(index),
            None => match fetch_reference(searcher, fields, cache, &article, number) {
                Some((address, analysed)) => Ranked {
                    analysed,
                    address,
                    bm25: 0.0,
                    // What answers is the body passage that cites it.
                    features: body_features,
                    token_match: None,
                    score: 0.0,
                    best_sentences: vec![0],
                },
                None => continue,
            },
        };
        let own: f32 = content
            .iter()
            .map(|c| c.idf * passage_match(c, &entry.analysed))
            .sum::<f32>()
            / total_weight;
        followed.push((by_best_sentence.contains(&number), own, position, entry));
    }
    followed.sort_by(|a, b| b.0.cmp(&a.0).then(b.1.total_cmp(&a.1)).then(a.2.cmp(&b.2)));
    let top_score = ranked.first().map_or(0.0, |r| r.score);
    let count = followed.len();
    for (place, (_, _, _, mut entry)) in followed.into_iter().enumerate().rev() {
        // Scores stay in rank order: just above the rest, in the order chosen above.
        entry.score = top_score.max(entry.score) + (count - place) as f32 * 1e-3;
        ranked.insert(0, entry);
    }
}

fn fetch_reference(
    searcher: &tantivy::Searcher,
    fields: &Fields,
    cache: &SearchCache,
    article: &str,
    number: u32,
) -> Option<(DocAddress, Arc<AnalysedPassage>)> {
    let id = format!("{article}#ref{number}");
    let query = TermQuery::new(
        Term::from_field_text(fields.id, &id),
        IndexRecordOption::Basic,
    );
    let top = searcher.search(&query, &TopDocs::with_limit(1)).ok()?;
    let (_, address) = top.first()?;
    Some((*address, cache.get(searcher, fields, *address)?))
}

/// "reference 15": that entry first (of the best-ranked article, or the first article).
/// Returns whether the article has such a reference.
pub(super) fn promote_reference(
    searcher: &tantivy::Searcher,
    fields: &Fields,
    cache: &SearchCache,
    ranked: &mut Vec<Ranked>,
    number: u32,
) -> bool {
    let article = ranked
        .first()
        .map(|r| r.analysed.passage.article.clone())
        .or_else(|| first_article(searcher, fields));
    let Some(article) = article else {
        return false;
    };
    let Some((address, analysed)) = fetch_reference(searcher, fields, cache, &article, number)
    else {
        return false;
    };
    ranked.retain(|r| r.analysed.passage.id != analysed.passage.id);
    let score = ranked.first().map_or(0.0, |r| r.score) + 1.0;
    ranked.insert(
        0,
        Ranked {
            analysed,
            address,
            bm25: 0.0,
            features: CandidateFeatures {
                coverage: 1.0,
                ..CandidateFeatures::default()
            },
            token_match: None,
            score,
            best_sentences: vec![0],
        },
    );
    true
}

fn first_article(searcher: &tantivy::Searcher, fields: &Fields) -> Option<String> {
    let query = TermQuery::new(
        Term::from_field_text(fields.kind, "article"),
        IndexRecordOption::Basic,
    );
    let top = searcher.search(&query, &TopDocs::with_limit(1)).ok()?;
    let (_, address) = top.first()?;
    let document: TantivyDocument = searcher.doc(*address).ok()?;
    let id = document.get_first(fields.id)?.as_str()?;
    id.strip_suffix("#article").map(str::to_string)
}
