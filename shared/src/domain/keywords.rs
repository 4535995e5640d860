//! What an inbound reply (an SMS, the first line of an email reply) means:
//! a confirmation, a cancellation, an opt-out, an opt-in, a request for help,
//! or anything else, which is a message for the practice's staff.
//!
//! Only the first line, and at most [`REPLY_READ_CHARS`] characters of it,
//! are read, so a huge body costs nothing. The line is compared after
//! Unicode case folding and compatibility decomposition with the accents
//! dropped ("SÍ" is "si", "ＹＥＳ" is "yes"), and with everything but letters
//! and digits taken as a word break, so "Yes!", " y. " and "Opt-Out" read as
//! "yes", "y" and "opt out".
//!
//! A keyword must be the whole reply: "no thanks" is not a cancellation and
//! "cancel my appointment" is not an opt-out, both go to staff. An opt-out is
//! the exception, because the FCC's revocation rule (47 CFR 64.1200(a)(10),
//! 2024) lets a patient revoke consent "by any reasonable means": an opt-out
//! word wrapped in politeness ("please stop", "STOP STOP") and a clear
//! free-text revocation anywhere in the line ("can you stop texting me")
//! are opt-outs too.
//!
//! Whether a cancellation is applied is the account's decision, not this
//! module's.

use serde::{Deserialize, Serialize};
use unicode_normalization::char::is_combining_mark;
use unicode_normalization::UnicodeNormalization;

/// Characters of the reply that are read; the rest is never looked at.
/// One SMS segment: a keyword reply is far shorter.
pub const REPLY_READ_CHARS: usize = 160;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReplyMeaning {
    /// The patient confirms the appointment.
    Confirm,
    /// The patient asks to cancel the appointment (the account decides
    /// whether that is applied).
    Cancel,
    /// The patient revokes consent to be messaged.
    OptOut,
    /// The patient consents again after an opt-out.
    OptIn,
    /// The patient asks who is writing and how to stop it.
    Help,
    /// Anything else: a message for the practice's staff.
    Other,
}

// Every list holds normalised forms: lower case, no accents, words
// separated by one space ("opt out" matches "OPT-OUT" and "opt out").

/// Opt-out keywords US carriers require to be honoured as the whole reply
/// (CTIA Messaging Principles and Best Practices; the FCC's 2024 revocation
/// rule names stop, quit, end, revoke, opt out, cancel and unsubscribe).
/// CANCEL is one of them, so it never cancels an appointment.
const OPT_OUT_KEYWORDS: &[&str] = &[
    "stop",
    "stopall",
    "stop all",
    "unsubscribe",
    "end",
    "quit",
    "cancel",
    "optout",
    "opt out",
    "revoke",
    "remove",
    "arret",
];

/// Words that revoke consent even with politeness around them ("please
/// stop", "stop it now", "basta ya"): the FCC lets a patient revoke by any
/// reasonable means. CANCEL is left out: with other words around it
/// ("please cancel") it is far likelier to be about the appointment, and
/// staff should read it.
const REVOCATION_WORDS: &[&str] =
    &["stop", "stopall", "unsubscribe", "end", "quit", "optout", "revoke", "remove", "arret", "basta"];

/// Words that add nothing to a revocation word around them.
const POLITENESS: &[&str] = &[
    "please",
    "pls",
    "plz",
    "now",
    "right",
    "immediately",
    "asap",
    "thanks",
    "thank",
    "you",
    "thx",
    "ty",
    "ok",
    "okay",
    "just",
    "all",
    "it",
    "me",
    "por",
    "favor",
    "gracias",
    "ya",
    "merci",
    "svp",
];

/// Free-text revocations, matched as whole words anywhere in the line.
/// A reply that asks for no more messages (or says the number is not the
/// patient's) is a revocation under the FCC rule whatever words it uses.
const REVOCATION_PHRASES: &[&str] = &[
    // English
    "stop texting",
    "stop text",
    "stop txting",
    "stop texts",
    "stop sending",
    "stop messaging",
    "stop messages",
    "stop msgs",
    "stop contacting",
    "stop calling",
    "stop emailing",
    "stop the texts",
    "stop the messages",
    "stop these texts",
    "stop these messages",
    "stop all texts",
    "stop all messages",
    "no more texts",
    "no more text",
    "no more texting",
    "no more messages",
    "no more msgs",
    "no more reminders",
    "no more calls",
    "no more emails",
    "don t text",
    "dont text",
    "do not text",
    "don t message",
    "dont message",
    "do not message",
    "don t contact",
    "dont contact",
    "do not contact",
    "don t call me",
    "dont call me",
    "do not call me",
    "don t email me",
    "do not email me",
    "unsubscribe",
    "opt out",
    "optout",
    "opt me out",
    "remove me",
    "take me off",
    "leave me alone",
    "revoke",
    "wrong number",
    // Spanish
    "no mas mensajes",
    "no mas textos",
    "no mas sms",
    "no mas recordatorios",
    "no mas llamadas",
    "no me envien mas",
    "no me envies mas",
    "no me manden mas",
    "no me mandes mas",
    "no me escriban mas",
    "no me escribas mas",
    "no me envien mensajes",
    "no me manden mensajes",
    "no me contacten",
    "no me llamen mas",
    "no quiero mas mensajes",
    "no quiero recibir mas",
    "dejen de enviar",
    "deja de enviar",
    "dejen de enviarme",
    "deja de enviarme",
    "dejen de mandar",
    "deja de mandar",
    "dejen de mandarme",
    "deja de mandarme",
    "dejen de escribirme",
    "deja de escribirme",
    "darme de baja",
    "dar de baja",
    "dame de baja",
    "denme de baja",
    "numero equivocado",
];

/// Re-subscribe keywords (CTIA). YES is a confirmation here, not an opt-in.
const OPT_IN_KEYWORDS: &[&str] = &["start", "unstop"];

/// Help keywords (CTIA): answered with the practice, purpose and contact.
const HELP_KEYWORDS: &[&str] = &["help", "info"];

/// Confirmations, including the digit offered in reminders ("reply 1 to
/// confirm") and the usual Spanish and French.
const CONFIRM_KEYWORDS: &[&str] = &[
    "y",
    "yes",
    "yep",
    "yup",
    "yeah",
    "c",
    "confirm",
    "confirmed",
    "ok",
    "okay",
    "1",
    "si",
    "oui",
    "confirmo",
    "confirmado",
];

/// A reply of nothing but these (decoration aside) confirms.
const CONFIRM_EMOJI: &[char] = &['👍', '👌', '✅', '✔', '☑'];

/// With any of these, an emoji-only reply is not a confirmation.
const REFUSAL_EMOJI: &[char] = &['👎', '❌', '❎', '✖', '🚫', '⛔', '🛑'];

/// Cancellations, including the digit offered in reminders ("reply 2 to
/// cancel"). Never CANCEL, an opt-out keyword.
const CANCEL_KEYWORDS: &[&str] = &["n", "no", "x", "2"];

/// Keywords that must be the whole reply, by meaning; no word is in two lists.
const WHOLE_REPLY_KEYWORDS: &[(&[&str], ReplyMeaning)] = &[
    (OPT_OUT_KEYWORDS, ReplyMeaning::OptOut),
    (OPT_IN_KEYWORDS, ReplyMeaning::OptIn),
    (HELP_KEYWORDS, ReplyMeaning::Help),
    (CONFIRM_KEYWORDS, ReplyMeaning::Confirm),
    (CANCEL_KEYWORDS, ReplyMeaning::Cancel),
];

/// What the reply means.
pub fn interpret_reply(text: &str) -> ReplyMeaning {
    let line = FirstLine::of(text);
    let words = words(line.text);
    let phrase = words.join(" ");

    if line.whole {
        if let Some((_, meaning)) = WHOLE_REPLY_KEYWORDS.iter().find(|(list, _)| list.contains(&phrase.as_str())) {
            return *meaning;
        }
        if is_polite_revocation(&words) {
            return ReplyMeaning::OptOut;
        }
        if words.is_empty() && is_confirming_emoji(line.text) {
            return ReplyMeaning::Confirm;
        }
    }
    if contains_revocation_phrase(&words) {
        return ReplyMeaning::OptOut;
    }
    ReplyMeaning::Other
}

/// The part of the reply that is read.
struct FirstLine<'a> {
    text: &'a str,
    /// False when the line runs past the read limit: it cannot then be a
    /// keyword on its own, though it can still hold a revocation.
    whole: bool,
}

impl<'a> FirstLine<'a> {
    fn of(text: &'a str) -> Self {
        let (window, cut) = match text.char_indices().nth(REPLY_READ_CHARS) {
            Some((end, _)) => (&text[..end], true),
            None => (text, false),
        };
        let window = window.trim_start();
        match window.find(['\n', '\r']) {
            Some(end) => FirstLine { text: &window[..end], whole: true },
            None => FirstLine { text: window, whole: !cut },
        }
    }
}

/// Lower-case words of letters and digits, accents dropped; anything else
/// separates words.
fn words(line: &str) -> Vec<String> {
    let folded: String = line.to_lowercase().nfkd().filter(|c| !is_combining_mark(*c)).collect();
    folded.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).map(str::to_owned).collect()
}

/// Revocation words and politeness only, at least one revocation word.
fn is_polite_revocation(words: &[String]) -> bool {
    let meaningful: Vec<&str> = words.iter().map(String::as_str).filter(|w| !POLITENESS.contains(w)).collect();
    !meaningful.is_empty() && meaningful.iter().all(|w| REVOCATION_WORDS.contains(w))
}

fn contains_revocation_phrase(words: &[String]) -> bool {
    REVOCATION_PHRASES.iter().any(|phrase| {
        let length = phrase.split(' ').count();
        words.windows(length).any(|run| run.iter().map(String::as_str).eq(phrase.split(' ')))
    })
}

fn is_confirming_emoji(line: &str) -> bool {
    line.chars().any(|c| CONFIRM_EMOJI.contains(&c)) && !line.chars().any(|c| REFUSAL_EMOJI.contains(&c))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::time::{Duration, Instant};
    use ReplyMeaning::*;

    const TABLE: &[(&str, ReplyMeaning)] = &[
        // Confirm
        ("Y", Confirm),
        ("YES", Confirm),
        ("C", Confirm),
        ("CONFIRM", Confirm),
        ("OK", Confirm),
        ("1", Confirm),
        ("SI", Confirm),
        ("SÍ", Confirm),
        ("sí", Confirm),
        ("¡Sí!", Confirm),
        ("OUI", Confirm),
        ("yep", Confirm),
        ("Yeah", Confirm),
        ("Confirmed", Confirm),
        ("okay", Confirm),
        ("Confirmo", Confirm),
        ("Yes!", Confirm),
        ("y.", Confirm),
        (" yes ", Confirm),
        ("yEs", Confirm),
        ("\"yes\"", Confirm),
        ("...YES...", Confirm),
        ("Yes 👍", Confirm),
        ("👍", Confirm),
        ("👍🏽", Confirm),
        ("✅", Confirm),
        ("✔️", Confirm),
        ("👍👎", Other),
        ("ＹＥＳ", Confirm),
        ("1️⃣", Confirm),
        ("Yes\nsee you then", Confirm),
        ("\n\n  yes\r\n", Confirm),
        // Cancel
        ("N", Cancel),
        ("NO", Cancel),
        ("X", Cancel),
        ("2", Cancel),
        ("no.", Cancel),
        ("No!", Cancel),
        // Opt-out keywords (CTIA)
        ("STOP", OptOut),
        ("STOPALL", OptOut),
        ("stop all", OptOut),
        ("UNSUBSCRIBE", OptOut),
        ("END", OptOut),
        ("QUIT", OptOut),
        ("CANCEL", OptOut),
        ("cancel", OptOut),
        ("Cancel.", OptOut),
        ("OPTOUT", OptOut),
        ("OPT-OUT", OptOut),
        ("opt out", OptOut),
        ("REVOKE", OptOut),
        ("REMOVE", OptOut),
        ("ARRET", OptOut),
        ("ARRÊT", OptOut),
        ("Stop!", OptOut),
        ("STOP 🛑", OptOut),
        // Revocation wrapped in politeness
        ("please stop", OptOut),
        ("Stop please!!", OptOut),
        ("stop it", OptOut),
        ("STOP STOP STOP", OptOut),
        ("stop now thank you", OptOut),
        ("basta", OptOut),
        ("¡Basta ya!", OptOut),
        // Free-text revocations
        ("Stop texting me", OptOut),
        ("stop texting me please", OptOut),
        ("Can you please stop sending me these", OptOut),
        ("no more messages", OptOut),
        ("No more texts!", OptOut),
        ("don't text me", OptOut),
        ("Don’t text me again", OptOut),
        ("do not contact me", OptOut),
        ("unsubscribe me", OptOut),
        ("Please remove me from your list", OptOut),
        ("I want to opt out", OptOut),
        ("Wrong number", OptOut),
        ("no más mensajes", OptOut),
        ("No mas mensajes por favor", OptOut),
        ("no me envíen más mensajes", OptOut),
        ("Dejen de enviarme mensajes", OptOut),
        ("quiero darme de baja", OptOut),
        // Opt-in
        ("START", OptIn),
        ("start", OptIn),
        ("UNSTOP", OptIn),
        ("Start.", OptIn),
        // Help
        ("HELP", Help),
        ("INFO", Help),
        ("help?", Help),
        // Other
        ("no thanks", Other),
        ("please cancel", Other),
        ("cancel my appointment", Other),
        ("Can I cancel my appointment?", Other),
        ("running 10 minutes late", Other),
        ("yes but can we move it to 3pm", Other),
        ("I'll stop by the front desk", Other),
        ("10", Other),
        ("12", Other),
        ("1 2", Other),
        ("yes no", Other),
        ("S.T.O.P", Other),
        ("😀", Other),
        ("👎", Other),
        ("", Other),
        ("   ", Other),
        ("\n\t \r\n", Other),
        ("!!!", Other),
    ];

    #[test]
    fn table() {
        for (text, expected) in TABLE {
            assert_eq!(interpret_reply(text), *expected, "{text:?}");
        }
    }

    #[test]
    fn no_keyword_has_two_meanings() {
        let all: Vec<&str> = WHOLE_REPLY_KEYWORDS.iter().flat_map(|(list, _)| list.iter().copied()).collect();
        for word in &all {
            assert_eq!(all.iter().filter(|other| *other == word).count(), 1, "{word}");
        }
        assert!(!CANCEL_KEYWORDS.contains(&"cancel"), "CANCEL is an opt-out keyword");
    }

    #[test]
    fn a_huge_reply_costs_nothing() {
        let huge = "yes ".repeat(25_000);
        let started = Instant::now();
        assert_eq!(interpret_reply(&huge), Other);
        assert_eq!(interpret_reply(&"x".repeat(100_000)), Other);
        assert_eq!(interpret_reply(&" ".repeat(100_000)), Other);
        assert!(started.elapsed() < Duration::from_millis(50), "took {:?}", started.elapsed());
    }

    #[test]
    fn only_the_read_limit_counts() {
        let padded = format!("{}{}", " ".repeat(REPLY_READ_CHARS), "STOP");
        assert_eq!(interpret_reply(&padded), Other, "STOP lies past the read limit");
        let long = format!("please stop texting me {}", "a".repeat(500));
        assert_eq!(interpret_reply(&long), OptOut, "a revocation within the limit counts");
        let long_yes = format!("yes{}", " ".repeat(REPLY_READ_CHARS));
        assert_eq!(interpret_reply(&long_yes), Other, "a line longer than the limit is no keyword");
    }

    /// Every keyword as a patient might type it.
    fn keyword() -> impl Strategy<Value = (&'static str, ReplyMeaning)> {
        proptest::sample::select(
            TABLE
                .iter()
                .copied()
                .filter(|(text, meaning)| {
                    *meaning != Other && text.chars().all(|c| c.is_alphanumeric() || c == ' ' || c == '-')
                })
                .collect::<Vec<_>>(),
        )
    }

    proptest! {
        #[test]
        fn never_panics(text in any::<String>()) {
            let _ = interpret_reply(&text);
        }

        #[test]
        fn never_panics_on_long_mixed_text(text in "[a-zA-Z0-9 \n\r.!¡¿ÍÊí👍😀\u{301}]{0,400}") {
            let _ = interpret_reply(&text);
        }

        #[test]
        fn whitespace_and_case_do_not_change_a_keyword(
            (word, meaning) in keyword(),
            upper in proptest::collection::vec(any::<bool>(), 32),
            before in "[ \t\n\r]{0,20}",
            after in "[ \t\n\r]{0,20}",
            decoration in "[.!?\"']{0,3}",
        ) {
            let cased: String = word
                .chars()
                .zip(upper.iter().cycle())
                .map(|(c, &up)| if up { c.to_uppercase().collect::<String>() } else { c.to_lowercase().collect() })
                .collect();
            let reply = format!("{before}{decoration}{cased}{decoration}{after}");
            prop_assert_eq!(interpret_reply(&reply), meaning, "{:?}", reply);
        }
    }
}
