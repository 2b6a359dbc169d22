//! The slash-command table: `/ask`, `/source`, `/about`, declared once with serenity's
//! builders. The gateway bot and `citebot register` register [`definitions`]; the dispatcher
//! ([`super::dispatch`]) reads an invocation back with [`Invocation::parse`]. Both use the
//! names below, so a renamed option cannot leave one surface behind.
//!
//! The option names and types are a contract (scripts and tests call them):
//! `/ask question:<string> [top:<integer 1–5>]`, `/source number:<integer>` (autocompleted).

use serenity::all::{
    CommandData, CommandDataOptionValue, CommandOptionType, CreateCommand, CreateCommandOption,
};

/// The command names.
pub const ASK: &str = "ask";
pub const SOURCE: &str = "source";
pub const ABOUT: &str = "about";

/// The option names, shared by the declarations and the dispatcher.
pub mod option {
    /// `/ask`'s question.
    pub const QUESTION: &str = "question";
    /// `/ask`'s number of passages per page.
    pub const TOP: &str = "top";
    /// `/source`'s reference number (autocompleted).
    pub const NUMBER: &str = "number";
}

/// The most passages `/ask top:` may ask for.
pub const TOP_MAX: u8 = 5;

/// The commands to register, in the order Discord lists them.
pub fn definitions() -> Vec<CreateCommand> {
    vec![
        CreateCommand::new(ASK)
            .description("Ask a question about the article; the answer quotes it, with its sources")
            .add_option(
                CreateCommandOption::new(
                    CommandOptionType::String,
                    option::QUESTION,
                    "Your question, e.g. how is calcinosis cutis treated?",
                )
                .required(true),
            )
            .add_option(
                CreateCommandOption::new(
                    CommandOptionType::Integer,
                    option::TOP,
                    "How many passages to show (1–5)",
                )
                .required(false)
                .min_int_value(1)
                .max_int_value(u64::from(TOP_MAX)),
            ),
        CreateCommand::new(SOURCE)
            .description(
                "Show one of the article's references in full, with DOI, PubMed and PMC links",
            )
            .add_option(
                CreateCommandOption::new(
                    CommandOptionType::Integer,
                    option::NUMBER,
                    "The reference number, as in [15]",
                )
                .required(true)
                .set_autocomplete(true)
                .min_int_value(1)
                .max_int_value(u64::from(u32::MAX)),
            ),
        CreateCommand::new(ABOUT).description(
            "What citebot answers from, the article's licence, and why it is not medical advice",
        ),
    ]
}

/// The command names, as registered.
pub fn names() -> Vec<String> {
    vec![ASK.to_string(), SOURCE.to_string(), ABOUT.to_string()]
}

/// A slash command as citebot reads it, whichever surface it came by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Invocation {
    /// `/ask question:… [top:…]`; a missing question reads as empty, `top` is clamped to 1–5.
    Ask { question: String, top: Option<u8> },
    /// `/source number:N`; a missing or impossible number reads as 0 (no such reference).
    Source { number: u32 },
    /// `/about`.
    About,
    /// A command citebot does not declare (registered by an older version, say).
    Unknown { name: String },
}

impl Invocation {
    /// Reads a command interaction's data by the table's names.
    pub fn parse(data: &CommandData) -> Invocation {
        match data.name.as_str() {
            ASK => Invocation::Ask {
                question: match value(data, option::QUESTION) {
                    Some(CommandDataOptionValue::String(text)) => text.clone(),
                    _ => String::new(),
                },
                top: match value(data, option::TOP) {
                    Some(CommandDataOptionValue::Integer(n)) => {
                        u8::try_from((*n).clamp(1, i64::from(TOP_MAX))).ok()
                    }
                    _ => None,
                },
            },
            SOURCE => Invocation::Source {
                number: match value(data, option::NUMBER) {
                    Some(CommandDataOptionValue::Integer(n)) => u32::try_from(*n).unwrap_or(0),
                    _ => 0,
                },
            },
            ABOUT => Invocation::About,
            other => Invocation::Unknown {
                name: other.to_string(),
            },
        }
    }
}

/// What is being typed into an autocompleted option: `/source number:` is the only one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Completion {
    SourceNumber {
        typed: String,
    },
    /// Nothing citebot completes: no choices.
    Nothing,
}

impl Completion {
    pub fn parse(data: &CommandData) -> Completion {
        match (data.name.as_str(), data.autocomplete()) {
            (SOURCE, Some(focused)) if focused.name == option::NUMBER => Completion::SourceNumber {
                typed: focused.value.to_string(),
            },
            _ => Completion::Nothing,
        }
    }
}

fn value<'a>(data: &'a CommandData, name: &str) -> Option<&'a CommandDataOptionValue> {
    data.options
        .iter()
        .find(|option| option.name == name)
        .map(|option| &option.value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn data(name: &str, options: Value) -> CommandData {
        serde_json::from_value(json!({"id": "5000", "name": name, "type": 1, "options": options}))
            .expect("command data")
    }

    #[test]
    fn the_table_declares_the_option_contract() {
        let json = serde_json::to_value(definitions()).unwrap();
        let names: Vec<&str> = json
            .as_array()
            .unwrap()
            .iter()
            .map(|command| command["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, names_as_str());
        let ask = &json[0];
        assert_eq!(ask["options"][0]["name"], option::QUESTION);
        assert_eq!(ask["options"][0]["type"], 3);
        assert_eq!(ask["options"][0]["required"], true);
        assert_eq!(ask["options"][1]["name"], option::TOP);
        assert_eq!(ask["options"][1]["type"], 4);
        assert_eq!(ask["options"][1]["min_value"], 1);
        assert_eq!(ask["options"][1]["max_value"], 5);
        let source = &json[1];
        assert_eq!(source["options"][0]["name"], option::NUMBER);
        assert_eq!(source["options"][0]["autocomplete"], true);
        assert_eq!(source["options"][0]["min_value"], 1);
    }

    fn names_as_str() -> Vec<&'static str> {
        vec![ASK, SOURCE, ABOUT]
    }

    #[test]
    fn invocations_are_read_by_the_table_names() {
        let ask = data(
            ASK,
            json!([
                {"name": option::QUESTION, "type": 3, "value": "is it rare?"},
                {"name": option::TOP, "type": 4, "value": 9}
            ]),
        );
        assert_eq!(
            Invocation::parse(&ask),
            Invocation::Ask {
                question: "is it rare?".into(),
                top: Some(5)
            }
        );
        let source = data(
            SOURCE,
            json!([{"name": option::NUMBER, "type": 4, "value": 15}]),
        );
        assert_eq!(
            Invocation::parse(&source),
            Invocation::Source { number: 15 }
        );
        let negative = data(
            SOURCE,
            json!([{"name": option::NUMBER, "type": 4, "value": -3}]),
        );
        assert_eq!(
            Invocation::parse(&negative),
            Invocation::Source { number: 0 }
        );
        assert_eq!(
            Invocation::parse(&data(ABOUT, json!([]))),
            Invocation::About
        );
        assert_eq!(
            Invocation::parse(&data("help", json!([]))),
            Invocation::Unknown {
                name: "help".into()
            }
        );
        let typing = data(
            SOURCE,
            json!([{"name": option::NUMBER, "type": 4, "value": "1", "focused": true}]),
        );
        assert_eq!(
            Completion::parse(&typing),
            Completion::SourceNumber { typed: "1".into() }
        );
    }
}
