//! What citebot sends Discord, checked against Discord's own description of its API:
//! `../shared/discord-api-spec/openapi.json` (Discord's official OpenAPI 3.1 document, MIT).
//! The fake Discord is ours; this spec is Discord's, so a body the fake accepts but the spec
//! does not is a real finding.
//!
//! The spec is loaded once per test binary. A request body is validated against the schema of
//! its operation, found by HTTP method and path template (`POST /channels/{channel_id}/messages`
//! for `/api/v10/channels/3000/messages`); an interaction response (what `citebot serve`
//! answers to `POST /interactions`) against the request body of
//! `POST /interactions/{interaction_id}/{interaction_token}/callback`, which is the same shape.
//!
//! The schemas are JSON Schema 2020-12 with `$ref`s into `#/components/schemas`. They are
//! compiled by `boon` from the spec document itself, so every reference resolves where the
//! spec put it. (`jsonschema`, the other well-kept validator, turns on serde_json's
//! `float_roundtrip` for every crate in a test build, which would change how the tests parse
//! `data/ranker.json`'s weights; boon changes nothing in the build but itself.)
//!
//! A missing spec fails the check with what is missing, unless `CITEBOT_SKIP_SHARED=1` is set
//! on purpose: then nothing is checked.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::OnceLock;

use serde_json::Value;

use super::SKIP_SHARED as SKIP_SHARED_ENV;

/// The prefix of every REST path the bot calls.
const API_PREFIX: &str = "/api/v10";

/// The route whose request body is an interaction response.
const CALLBACK: (&str, &str) = (
    "post",
    "/interactions/{interaction_id}/{interaction_token}/callback",
);

/// Where the spec lives.
pub fn spec_path() -> PathBuf {
    super::repo_root()
        .join("../shared/discord-api-spec")
        .join("openapi.json")
}

/// Discord's API description, compiled.
pub struct DiscordSpec {
    /// The path templates, split into segments (`{…}` matches any one segment).
    templates: Vec<(String, Vec<String>)>,
    /// The spec document with every JSON request body schema copied under
    /// `x-citebot-bodies`, by (method, template): compiled from there, so that the schemas'
    /// `#/components/…` references resolve in the spec itself.
    bodies: HashMap<(String, String), usize>,
    schemas: boon::Schemas,
    /// Each body's compiled schema, or why it does not compile.
    compiled: Vec<Result<boon::SchemaIndex, String>>,
}

const RESOURCE: &str = "https://discord.com/api/v10/openapi.json";

impl DiscordSpec {
    /// Loads and prepares the spec at `path`.
    pub fn load(path: &std::path::Path) -> Result<DiscordSpec, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|error| format!("cannot read {}: {error}", path.display()))?;
        let mut spec: Value = serde_json::from_str(&text)
            .map_err(|error| format!("{} is not JSON: {error}", path.display()))?;
        let paths = spec["paths"]
            .as_object()
            .ok_or_else(|| format!("{} has no paths", path.display()))?;
        let mut templates = Vec::new();
        let mut bodies = HashMap::new();
        let mut copied = Vec::new();
        for (template, item) in paths {
            templates.push((
                template.clone(),
                template
                    .trim_start_matches('/')
                    .split('/')
                    .map(str::to_string)
                    .collect(),
            ));
            for method in ["get", "put", "post", "patch", "delete"] {
                let schema = &item[method]["requestBody"]["content"]["application/json"]["schema"];
                if schema.is_object() {
                    bodies.insert((method.to_string(), template.clone()), copied.len());
                    copied.push(schema.clone());
                }
            }
        }
        let count = copied.len();
        spec["x-citebot-bodies"] = Value::Array(copied);
        // boon's compiler is not Send, so every body is compiled now, once per test binary.
        let mut compiler = boon::Compiler::new();
        compiler.set_default_draft(boon::Draft::V2020_12);
        compiler
            .add_resource(RESOURCE, spec)
            .map_err(|error| format!("cannot load the spec as a schema resource: {error}"))?;
        let mut schemas = boon::Schemas::new();
        let compiled = (0..count)
            .map(|index| {
                compiler
                    .compile(
                        &format!("{RESOURCE}#/x-citebot-bodies/{index}"),
                        &mut schemas,
                    )
                    .map_err(|error| format!("the spec's schema does not compile: {error:#}"))
            })
            .collect();
        Ok(DiscordSpec {
            templates,
            bodies,
            schemas,
            compiled,
        })
    }

    /// The spec's path template for a concrete path: the matching template with the most
    /// literal segments (`/webhooks/{id}/{token}/messages/@original` over
    /// `…/messages/{message_id}`).
    pub fn template(&self, path: &str) -> Option<&str> {
        let path = path.split('?').next().unwrap_or(path);
        let path = path.strip_prefix(API_PREFIX).unwrap_or(path);
        let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        self.templates
            .iter()
            .filter(|(_, template)| {
                template.len() == segments.len()
                    && template.iter().zip(&segments).all(|(want, got)| {
                        (want.starts_with('{') && want.ends_with('}') && !got.is_empty())
                            || want == got
                    })
            })
            .max_by_key(|(_, template)| template.iter().filter(|s| !s.starts_with('{')).count())
            .map(|(name, _)| name.as_str())
    }

    /// Checks the JSON body of `method path` (a body of `null` means none was sent).
    pub fn check_request(&self, method: &str, path: &str, body: &Value) -> Result<(), String> {
        let method = method.to_ascii_lowercase();
        let Some(template) = self.template(path) else {
            return Err(format!(
                "{} {path}: no such route in Discord's API",
                method.to_uppercase()
            ));
        };
        let key = (method.clone(), template.to_string());
        match self.bodies.get(&key) {
            Some(&index) if !body.is_null() => self.validate(index, body).map_err(|why| {
                format!("{} {template}: {why}\nbody: {body}", method.to_uppercase())
            }),
            Some(_) => Ok(()),
            None if body.is_null() => Ok(()),
            None => Err(format!(
                "{} {template}: Discord takes no JSON body here, but one was sent: {body}",
                method.to_uppercase()
            )),
        }
    }

    /// Checks an interaction response (the body `citebot serve` answers `POST /interactions`
    /// with, or the gateway bot posts to the callback route).
    pub fn check_interaction_response(&self, body: &Value) -> Result<(), String> {
        let index = self
            .bodies
            .get(&(CALLBACK.0.to_string(), CALLBACK.1.to_string()))
            .copied()
            .ok_or("the spec has no interaction callback body")?;
        self.validate(index, body)
            .map_err(|why| format!("interaction response: {why}\nbody: {body}"))
    }

    fn validate(&self, index: usize, body: &Value) -> Result<(), String> {
        let schema = self.compiled[index].as_ref().map_err(String::clone)?;
        self.schemas
            .validate(body, *schema)
            .map_err(|error| format!("not valid by Discord's spec: {error:#}"))
    }
}

/// The spec, loaded once. `None` only when it is missing and `CITEBOT_SKIP_SHARED=1`; a
/// missing spec otherwise panics, saying what is missing.
pub fn spec() -> Option<&'static DiscordSpec> {
    static SPEC: OnceLock<Result<DiscordSpec, String>> = OnceLock::new();
    let path = spec_path();
    match SPEC.get_or_init(|| DiscordSpec::load(&path)) {
        Ok(spec) => Some(spec),
        Err(_) if std::env::var(SKIP_SHARED_ENV).is_ok_and(|value| value == "1") => None,
        Err(error) => panic!(
            "Discord's API description is needed to check what citebot sends: {error}. \
             Put Discord's openapi.json (github.com/discord/discord-api-spec, specs/openapi.json) \
             at {}, or set {SKIP_SHARED_ENV}=1 to skip this check on purpose",
            path.display()
        ),
    }
}

/// [`DiscordSpec::check_request`] on the shared spec (nothing when skipped).
pub fn check_request(method: &str, path: &str, body: &Value) -> Result<(), String> {
    spec().map_or(Ok(()), |spec| spec.check_request(method, path, body))
}

/// [`DiscordSpec::check_interaction_response`] on the shared spec (nothing when skipped).
pub fn check_interaction_response(body: &Value) -> Result<(), String> {
    spec().map_or(Ok(()), |spec| spec.check_interaction_response(body))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn loaded() -> Option<&'static DiscordSpec> {
        spec()
    }

    #[test]
    fn paths_find_their_templates() {
        let Some(spec) = loaded() else { return };
        assert_eq!(
            spec.template("/api/v10/channels/3000/messages"),
            Some("/channels/{channel_id}/messages")
        );
        assert_eq!(
            spec.template("/api/v10/webhooks/1000/token-1/messages/@original"),
            Some("/webhooks/{webhook_id}/{webhook_token}/messages/@original")
        );
        assert_eq!(
            spec.template("/api/v10/applications/1000/guilds/2000/commands?x=1"),
            Some("/applications/{application_id}/guilds/{guild_id}/commands")
        );
        assert_eq!(spec.template("/api/v10/nowhere/at/all"), None);
    }

    #[test]
    fn the_spec_accepts_a_message_and_rejects_a_wrong_one() {
        let Some(spec) = loaded() else { return };
        let good = json!({"content": "hello", "allowed_mentions": {"parse": []}});
        spec.check_request("POST", "/api/v10/channels/3000/messages", &good)
            .unwrap();
        let bad = json!({"content": 12, "embeds": "not a list"});
        let error = spec
            .check_request("POST", "/api/v10/channels/3000/messages", &bad)
            .unwrap_err();
        assert!(
            error.contains("POST /channels/{channel_id}/messages"),
            "{error}"
        );
        let response = json!({"type": 4, "data": {"content": "hi", "flags": 64}});
        spec.check_interaction_response(&response).unwrap();
        assert!(spec
            .check_interaction_response(&json!({"type": "four"}))
            .is_err());
        assert!(spec
            .check_request("GET", "/api/v10/gateway/bot", &Value::Null)
            .is_ok());
    }

    #[test]
    fn a_missing_spec_says_what_is_missing() {
        let missing = std::path::Path::new("/nonexistent/discord-api-spec/openapi.json");
        let error = DiscordSpec::load(missing).err().expect("no spec there");
        assert!(
            error.contains("/nonexistent/discord-api-spec/openapi.json"),
            "{error}"
        );
    }

    /// The checks reach into nested components: an embed, a button, a command option.
    #[test]
    fn nested_mistakes_are_found() {
        let Some(spec) = loaded() else { return };
        for wrong in [
            json!({"type": 4, "data": {"embeds": [{"color": "red"}]}}),
            json!({"type": 4, "data": {"content": "x".repeat(2001)}}),
            json!({"type": 4, "data": {"components": [{"type": 1, "components": [
                {"type": 2, "style": 1, "label": "x".repeat(200), "custom_id": "a"}
            ]}]}}),
        ] {
            assert!(spec.check_interaction_response(&wrong).is_err(), "{wrong}");
        }
        let option = json!([{"name": "ask", "description": "d", "options": [
            {"type": 4, "name": "top", "description": "d", "min_value": "1"}
        ]}]);
        assert!(spec
            .check_request("PUT", "/api/v10/applications/1/guilds/2/commands", &option)
            .is_err());
        assert!(spec
            .check_request("POST", "/api/v10/gateway/bot", &json!({"a": 1}))
            .is_err());
    }
}
