//! What every surface shows the same way, so the terminal, the JSON API, the search page and
//! Discord cannot drift apart: the notices ([`notices`]: the emergency check and notice, the
//! "not medical advice" disclaimer), the JSON contract of `search --json`, `ask --json` and
//! `/v1/*` ([`json`]), and the text a terminal shows ([`terminal`]).

pub mod json;
pub mod notices;
pub mod terminal;
