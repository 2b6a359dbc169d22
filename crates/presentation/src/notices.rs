//! The words every surface says the same way: the emergency notice and the phrases that call
//! for it, and the "not medical advice" disclaimer.

/// The notice sent before anything else when a question reads as an emergency. Fixed text: the
/// bot never tries to judge how serious a situation is.
pub const EMERGENCY_NOTICE: &str = "⚠️ **If this is an emergency, call your local emergency number or go to the nearest emergency department now.** If you are thinking about ending your life, contact a local crisis line. citebot only quotes an encyclopaedia article and cannot help in an emergency.";

/// [`EMERGENCY_NOTICE`] as plain text, for the JSON API and the search page.
pub const EMERGENCY_NOTICE_PLAIN: &str = "If this is an emergency, call your local emergency number or go to the nearest emergency department now. If you are thinking about ending your life, contact a local crisis line. citebot only quotes an encyclopaedia article and cannot help in an emergency.";

/// The fixed disclaimer in every answer's footer.
pub const NOT_MEDICAL_ADVICE: &str = "This is the article's text, not medical advice.";

/// Finds emergency phrases in questions, on word boundaries and ignoring case, so "overdose"
/// matches "Overdose?" but "stroke" does not match "strokes of luck" … nor "heatstroke".
#[derive(Debug, Clone)]
pub struct EmergencyDetector {
    /// Normalised phrases, each padded with one space on both sides.
    phrases: Vec<String>,
}

impl EmergencyDetector {
    pub fn new(phrases: &[String]) -> EmergencyDetector {
        let phrases = phrases
            .iter()
            .map(|phrase| normalise_for_matching(phrase))
            .filter(|phrase| !phrase.trim().is_empty())
            .collect();
        EmergencyDetector { phrases }
    }

    /// Whether `question` contains one of the phrases.
    pub fn is_emergency(&self, question: &str) -> bool {
        let text = normalise_for_matching(question);
        self.phrases.iter().any(|phrase| text.contains(phrase))
    }
}

/// Lowercase words separated by single spaces, with a space at both ends. Curly apostrophes
/// become straight ones and apostrophes are kept, so "can’t" and "can't" both match "can't",
/// and "cant" stays a different word (the default list spells it out).
fn normalise_for_matching(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push(' ');
    for ch in text.chars().flat_map(char::to_lowercase) {
        let ch = if matches!(ch, '\u{2019}' | '\u{2018}' | '`') {
            '\''
        } else {
            ch
        };
        if ch.is_alphanumeric() || ch == '\'' {
            out.push(ch);
        } else if !out.ends_with(' ') {
            out.push(' ');
        }
    }
    if !out.ends_with(' ') {
        out.push(' ');
    }
    out
}

/// Phrases that suggest someone may need urgent care now rather than an encyclopaedia.
pub fn default_emergency_phrases() -> Vec<String> {
    [
        "chest pain",
        "chest pains",
        "can't breathe",
        "cannot breathe",
        "cant breathe",
        "can not breathe",
        "struggling to breathe",
        "difficulty breathing",
        "trouble breathing",
        "not breathing",
        "short of breath",
        "overdose",
        "overdosed",
        "overdosing",
        "suicidal",
        "suicide",
        "kill myself",
        "end my life",
        "want to die",
        "self harm",
        "self-harm",
        "unconscious",
        "passed out",
        "seizure",
        "stroke",
        "heavy bleeding",
        "anaphylaxis",
    ]
    .into_iter()
    .map(String::from)
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_plain_emergency_notice_is_the_markdown_one_without_its_markup() {
        let plain = EMERGENCY_NOTICE.trim_start_matches("⚠️ ").replace("**", "");
        assert_eq!(plain, EMERGENCY_NOTICE_PLAIN);
    }

    fn detector() -> EmergencyDetector {
        EmergencyDetector::new(&default_emergency_phrases())
    }

    #[test]
    fn emergencies_are_found_on_word_boundaries() {
        let detector = detector();
        assert!(detector.is_emergency("I have CHEST PAIN and lumps on my elbow"));
        assert!(detector.is_emergency("i can’t breathe properly"));
        assert!(detector.is_emergency("what if someone overdosed on vitamin D?"));
        assert!(detector.is_emergency("feeling suicidal because of the pain"));
        assert!(!detector.is_emergency("how is calcinosis cutis treated?"));
        assert!(!detector.is_emergency("is heatstroke related?"));
        assert!(!detector.is_emergency("chest painting class"));
    }

    #[test]
    fn custom_phrases_replace_the_defaults() {
        let detector = EmergencyDetector::new(&["Blue Lips".to_string(), "  ".to_string()]);
        assert!(detector.is_emergency("my child has blue lips!"));
        assert!(!detector.is_emergency("chest pain"));
        assert!(!detector.is_emergency(""));
    }
}
