//! `GET /`: a small search page for people without Discord. Server-rendered HTML with its
//! style inline: no script, no external asset, no cookie, so it works in any browser and
//! behind a strict Content-Security-Policy. The passages come with the answering sentence
//! highlighted and their sources as links, and every page ends with the article's licence and
//! "not medical advice".

use std::fmt::Write as _;

use citebot_core::answer::{Answer, Hit, Verdict};
use citebot_core::corpus::ArticleInfo;
use citebot_discord::render::Library;
use citebot_presentation::json::CitationJson;

use citebot_presentation::notices::{EMERGENCY_NOTICE_PLAIN, NOT_MEDICAL_ADVICE};

/// The Content-Security-Policy sent with the page: nothing but its own inline style and a
/// form that submits to itself.
pub const CONTENT_SECURITY_POLICY: &str =
    "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

/// Text made safe inside HTML text and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// The page: the form, the answer to `question` when there is one, and the footer.
/// `problem` is a parameter error to show instead of an answer. `emergency`: the question
/// reads as an emergency, so the emergency notice comes first, as on Discord.
pub fn render(
    library: &Library,
    question: Option<&str>,
    answer: Option<&Answer>,
    problem: Option<&str>,
    emergency: bool,
) -> String {
    // The articles and their references as of the last index reload, gathered once by the
    // bot's state: a page view reads nothing from the index but the answer.
    let articles = &library.articles;
    let titles: Vec<String> = articles.iter().map(|a| escape(&a.title)).collect();
    let mut html = String::with_capacity(16 * 1024);
    let _ = write!(
        html,
        r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}citebot</title>
<style>{STYLE}</style>
</head>
<body>
<header><h1>citebot</h1><p>Answers quoted from the Wikipedia article{plural} {names}, with their sources. Nothing is made up: when the article does not say, citebot says so.</p></header>
<main>
<form method="get" action="/" role="search">
<label for="q">Your question</label>
<div class="row"><input id="q" name="q" type="search" maxlength="2000" value="{value}" placeholder="How is calcinosis cutis treated?" autofocus><button type="submit">Ask</button></div>
</form>
"#,
        title = question
            .map(|q| format!("{} · ", escape(&truncate(q, 60))))
            .unwrap_or_default(),
        plural = if articles.len() == 1 { "" } else { "s" },
        names = titles
            .iter()
            .map(|t| format!("<cite>{t}</cite>"))
            .collect::<Vec<_>>()
            .join(", "),
        value = escape(question.unwrap_or("")),
    );
    if emergency {
        let _ = writeln!(
            html,
            "<p class=\"emergency\" role=\"alert\">{}</p>",
            escape(EMERGENCY_NOTICE_PLAIN)
        );
    }
    if let Some(problem) = problem {
        let _ = writeln!(html, "<p class=\"problem\">{}</p>", escape(problem));
    } else if let Some(answer) = answer {
        write_answer(&mut html, library, answer);
    }
    html.push_str("</main>\n<footer>");
    for info in articles {
        write_attribution(&mut html, info);
    }
    let _ = write!(
        html,
        "<p><strong>{}</strong> For a diagnosis or treatment, ask a doctor; in an emergency, call your local emergency number.</p></footer>\n</body>\n</html>\n",
        escape(NOT_MEDICAL_ADVICE)
    );
    html
}

fn write_answer(html: &mut String, library: &Library, answer: &Answer) {
    match &answer.verdict {
        Verdict::Abstained(reason) => {
            let _ = write!(
                html,
                "<section class=\"none\"><h2>No answer in the article</h2><p>citebot found no answer to this question: {}.</p>",
                escape(reason.explain())
            );
            if !answer.not_in_article.is_empty() {
                let _ = write!(
                    html,
                    "<p>The article never mentions: {}.</p>",
                    answer
                        .not_in_article
                        .iter()
                        .map(|term| format!("<q>{}</q>", escape(term)))
                        .collect::<Vec<_>>()
                        .join(", ")
                );
            }
            html.push_str("</section>\n");
        }
        Verdict::Answered => {
            if answer.closest_only {
                let _ = write!(
                    html,
                    "<p class=\"closest\">{}</p>",
                    escape(citebot_core::answer::CLOSEST_ONLY_NOTICE)
                );
            }
            for hit in answer.hits_worth_showing() {
                write_hit(html, library, hit);
            }
        }
    }
}

fn write_hit(html: &mut String, library: &Library, hit: &Hit) {
    let passage = &hit.passage;
    let _ = write!(
        html,
        "<article class=\"hit\"><h2>{} <span class=\"from\">· {}</span></h2>\n<p>",
        escape(&passage.section_path.display()),
        escape(&passage.article_title)
    );
    // The passage with its best sentences marked, in text order.
    let mut best = hit.best_sentences.clone();
    best.sort_unstable();
    let mut cursor = 0;
    for index in best {
        let Some(sentence) = passage.sentences.get(index) else {
            continue;
        };
        if sentence.start < cursor || sentence.end > passage.text.len() {
            continue;
        }
        html.push_str(&escape(&passage.text[cursor..sentence.start]));
        html.push_str("<mark>");
        html.push_str(&escape(&passage.text[sentence.start..sentence.end]));
        html.push_str("</mark>");
        cursor = sentence.end;
    }
    html.push_str(&escape(&passage.text[cursor..]));
    html.push_str("</p>\n");
    // The answering sentence's sources first, then the rest the passage cites.
    let mut numbers = hit.best_refs();
    for number in passage.refs() {
        if !numbers.contains(&number) {
            numbers.push(number);
        }
    }
    let sources: Vec<CitationJson> = numbers
        .into_iter()
        .filter_map(|number| library.citation(&passage.article, number))
        .map(CitationJson::from)
        .collect();
    if !sources.is_empty() {
        html.push_str("<h3>Sources</h3><ol class=\"sources\">\n");
        for source in &sources {
            let _ = write!(
                html,
                "<li value=\"{}\"><span class=\"n\">[{}]</span> {}",
                source.number,
                source.number,
                escape(&source.raw)
            );
            for link in &source.links {
                let _ = write!(
                    html,
                    " <a href=\"{}\" rel=\"noopener noreferrer\">{}</a>",
                    escape(&link.url),
                    escape(link.label)
                );
            }
            html.push_str("</li>\n");
        }
        html.push_str("</ol>\n");
    }
    html.push_str("</article>\n");
}

fn write_attribution(html: &mut String, info: &ArticleInfo) {
    let revision = info
        .revision
        .as_ref()
        .map(|revision| {
            format!(
                ", <a href=\"{}\">revision {} of {}</a>",
                escape(&revision.permalink),
                revision.revision,
                escape(citebot_core::corpus::revision_date(&revision.timestamp))
            )
        })
        .unwrap_or_default();
    let _ = write!(
        html,
        "<p>Text from the Wikipedia article <a href=\"{}\">{}</a>{revision}, licensed {}.</p>",
        escape(&info.source_url),
        escape(&info.title),
        licence_link(&info.licence)
    );
}

/// The licence, linked to its deed when it is the usual CC BY-SA 4.0.
fn licence_link(licence: &str) -> String {
    if licence.contains("CC BY-SA 4.0") {
        format!(
            "<a href=\"https://creativecommons.org/licenses/by-sa/4.0/\">{}</a>",
            escape(licence)
        )
    } else {
        escape(licence)
    }
}

fn truncate(text: &str, max_chars: usize) -> String {
    let mut out: String = text.chars().take(max_chars).collect();
    if text.chars().count() > max_chars {
        out.push('…');
    }
    out
}

const STYLE: &str = r#"
:root{color-scheme:light dark;--fg:#1b1f24;--muted:#5b636e;--bg:#fff;--card:#f6f8fa;--mark:#fff3a3;--accent:#0b5cad}
@media (prefers-color-scheme:dark){:root{--fg:#e6e8eb;--muted:#a0a8b3;--bg:#111418;--card:#1b2027;--mark:#5c4b00;--accent:#7cb7ff}}
*{box-sizing:border-box}
body{margin:0 auto;max-width:48rem;padding:1.5rem 1rem 3rem;font:1.05rem/1.55 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--fg);background:var(--bg)}
h1{margin:0 0 .25rem;font-size:1.6rem}
header p{margin:0 0 1.25rem;color:var(--muted)}
label{display:block;font-weight:600;margin-bottom:.35rem}
.row{display:flex;gap:.5rem}
input{flex:1;min-width:0;font:inherit;padding:.55rem .7rem;border:1px solid var(--muted);border-radius:.4rem;background:var(--bg);color:var(--fg)}
button{font:inherit;font-weight:600;padding:.55rem 1.1rem;border:0;border-radius:.4rem;background:var(--accent);color:#fff;cursor:pointer}
.hit,.none{margin-top:1.5rem;padding:1rem 1.1rem;background:var(--card);border-radius:.5rem}
.hit h2,.none h2{margin:0 0 .5rem;font-size:1.1rem}
.from{font-weight:400;color:var(--muted)}
mark{background:var(--mark);color:inherit;padding:0 .1em}
h3{font-size:.95rem;margin:1rem 0 .25rem}
.sources{margin:0;padding-left:0;list-style:none;font-size:.92rem}
.sources li{margin:.3rem 0}
.n{font-weight:600}
a{color:var(--accent)}
.problem{margin-top:1.5rem;color:#b3261e;font-weight:600}
.emergency{margin-top:1.5rem;padding:.75rem 1rem;border:2px solid #b3261e;border-radius:.5rem;color:#b3261e;font-weight:600}
footer{margin-top:2.5rem;font-size:.88rem;color:var(--muted);border-top:1px solid var(--card);padding-top:.75rem}
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_covers_text_and_attributes() {
        assert_eq!(
            escape(r#"<script>alert("x") & 'y'</script>"#),
            "&lt;script&gt;alert(&quot;x&quot;) &amp; &#39;y&#39;&lt;/script&gt;"
        );
    }

    #[test]
    fn a_fetched_article_is_attributed_to_its_revision() {
        let info = ArticleInfo {
            slug: "morphea".to_string(),
            title: "Morphea".to_string(),
            source_url: "https://en.wikipedia.org/wiki/Morphea".to_string(),
            licence: "CC BY-SA 4.0".to_string(),
            passages: 15,
            references: 7,
            sections: Vec::new(),
            revision: Some(citebot_core::article::ArticleSource {
                url: "https://en.wikipedia.org/wiki/Morphea".to_string(),
                licence: "CC BY-SA 4.0".to_string(),
                revision: 1201000001,
                timestamp: "2024-01-15T09:30:00Z".to_string(),
                permalink: "https://en.wikipedia.org/w/index.php?oldid=1201000001".to_string(),
            }),
        };
        let mut html = String::new();
        write_attribution(&mut html, &info);
        assert!(
            html.contains(
                "<a href=\"https://en.wikipedia.org/w/index.php?oldid=1201000001\">revision 1201000001 of 2024-01-15</a>"
            ),
            "{html}"
        );
        assert_eq!(
            info.attribution(),
            "From the Wikipedia article \"Morphea\", revision 1201000001 of 2024-01-15 (https://en.wikipedia.org/w/index.php?oldid=1201000001, CC BY-SA 4.0)."
        );
    }
}
