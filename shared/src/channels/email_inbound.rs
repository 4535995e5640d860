//! Email replies: an SES receipt rule stores each raw message in S3
//! ([`super::ses_receipt`]) and the ingest function reads it here into the
//! new text the patient wrote, without the history their mail program
//! quoted or the signature it added ([`strip_quoted`]), and the attachments
//! staff may open: PDFs and images, recognised by their bytes, bounded in
//! size and number. The reply is matched to the message it answers by the
//! `reply+TOKEN@` address that message carried ([`reply_token`]).
//!
//! Pure: no I/O and no logging. Errors never echo the message: it is PHI.

use std::borrow::Cow;

use mail_parser::{Message, MessageParser, MessagePart, MimeHeaders, PartType};

use crate::domain::EmailAddress;

/// The most characters of new text kept: a reply is a few lines, and the
/// body is stored with the reply.
pub const MAX_BODY_CHARS: usize = 10_000;
/// The most characters of subject kept (a header line's length).
const MAX_SUBJECT_CHARS: usize = 998;
/// Message-IDs are far shorter; a longer header is not one.
const MAX_MESSAGE_ID_CHARS: usize = 998;
/// The longest attachment name kept, extension included.
const MAX_FILENAME_CHARS: usize = 100;
/// Tokens are generated as 32 hex digits; the range leaves room for a
/// change of generator without accepting what cannot be one.
const TOKEN_CHARS: std::ops::RangeInclusive<usize> = 8..=64;

/// How much of a message's attachments is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AttachmentLimits {
    /// The largest attachment kept, in decoded bytes.
    pub max_bytes: usize,
    /// The most attachments kept from one message; later ones are refused.
    pub max_count: usize,
}

impl Default for AttachmentLimits {
    /// 10 MiB each, ten a message.
    fn default() -> Self {
        Self { max_bytes: 10 * 1024 * 1024, max_count: 10 }
    }
}

/// One email reply, read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboundEmail {
    /// The Message-ID header, without its angle brackets.
    pub message_id: Option<String>,
    /// The From address; `None` when there is none or it cannot be a
    /// patient's address (no dotted, routable domain).
    pub from: Option<EmailAddress>,
    pub subject: Option<String>,
    /// The new text only: quoted history and signature stripped, HTML-only
    /// messages read as text, at most [`MAX_BODY_CHARS`] characters. Empty
    /// when the reply is nothing but attachments.
    pub body: String,
    pub attachments: Vec<EmailAttachment>,
    /// Attachments not kept: too big, past the count, or not a PDF or an
    /// image (by their bytes as well as their declared type).
    pub refused_attachments: usize,
}

/// A kept attachment.
#[derive(Clone, PartialEq, Eq)]
pub struct EmailAttachment {
    /// The sender's name for it, made safe to save: no directories, control
    /// or direction-changing characters, at most 100 characters, always
    /// ending in an extension of its type (`attachment.pdf` when it had no
    /// name).
    pub filename: String,
    /// What its bytes are: `application/pdf`, `image/png`, `image/jpeg`,
    /// `image/gif`, `image/heic`, `image/webp` or `image/tiff`.
    pub content_type: String,
    pub bytes: Vec<u8>,
}

/// The bytes would flood a log or a failing test's output, and the name may
/// name the patient: neither is shown.
impl std::fmt::Debug for EmailAttachment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmailAttachment")
            .field("content_type", &self.content_type)
            .field("len", &self.bytes.len())
            .finish_non_exhaustive()
    }
}

/// Bytes that are not an email. Says nothing of what they were.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EmailParseError {
    #[error("the inbound email has no readable headers")]
    NoHeaders,
    /// The MIME parser gave up on the structure (it panicked; see
    /// [`parse_email`]).
    #[error("the inbound email's MIME structure could not be read")]
    Unreadable,
}

/// Reads a raw RFC 5322 message, as SES stored it.
///
/// mail-parser asserts its own invariants with `debug_assert!`, which some
/// malformed nestings of parts break, and its issue tracker lists crafted
/// messages that panic it in release builds too (stalwartlabs/mail-parser
/// #120, #145). Anyone can send the reply address anything, so a panic in
/// the parser is caught and refused as [`EmailParseError::Unreadable`]
/// rather than failing the invocation that SES would retry with the same
/// bytes. (Catching needs the default `panic = "unwind"`.)
pub fn parse_email(raw: &[u8], limits: &AttachmentLimits) -> Result<InboundEmail, EmailParseError> {
    let parsed = std::panic::catch_unwind(|| MessageParser::new().parse(raw));
    let message = parsed.map_err(|_| EmailParseError::Unreadable)?.ok_or(EmailParseError::NoHeaders)?;
    // A message from `parse` always has its root part, which the accessors
    // below index.
    if message.headers().is_empty() {
        return Err(EmailParseError::NoHeaders);
    }
    let message_id = message
        .message_id()
        .filter(|id| !id.is_empty() && id.chars().count() <= MAX_MESSAGE_ID_CHARS)
        .map(str::to_owned);
    let from =
        message.from().and_then(|from| from.first()).and_then(|from| from.address()).and_then(|a| a.parse().ok());
    let subject =
        message.subject().map(str::trim).filter(|subject| !subject.is_empty()).map(|s| truncated(s, MAX_SUBJECT_CHARS));
    let body = truncated(&strip_quoted(&body_text(&message)), MAX_BODY_CHARS);

    let mut attachments = Vec::new();
    let mut refused_attachments = 0;
    for part in message.attachments() {
        let kept = if attachments.len() < limits.max_count { attachment(part, limits) } else { None };
        match kept {
            Some(kept) => attachments.push(kept),
            None => refused_attachments += 1,
        }
    }
    Ok(InboundEmail { message_id, from, subject, body, attachments, refused_attachments })
}

/// The text of every inline text part, in order (a mail program may split
/// its text around an inline image); HTML where the message has no plain
/// text.
fn body_text(message: &Message<'_>) -> String {
    let mut text = String::new();
    for part in message.text_bodies() {
        let piece = match &part.body {
            PartType::Text(plain) => Cow::Borrowed(plain.as_ref()),
            PartType::Html(html) => Cow::Owned(html_to_text(html)),
            _ => continue,
        };
        if !text.is_empty() {
            text.push('\n');
        }
        text.push_str(&piece);
    }
    text
}

/// At most `max` characters of `text`, cut at a character boundary.
fn truncated(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((cut, _)) => text[..cut].to_owned(),
        None => text.to_owned(),
    }
}

/// The reply token of `address`, when it is `reply+TOKEN@reply_domain`
/// (the domain in any case; the token 8 to 64 letters and digits, returned
/// as written).
pub fn reply_token(address: &str, reply_domain: &str) -> Option<String> {
    let (local, domain) = address.rsplit_once('@')?;
    if reply_domain.is_empty() || !domain.eq_ignore_ascii_case(reply_domain) {
        return None;
    }
    // `get` refuses a cut inside a character, so a non-ASCII local part
    // simply does not match.
    let token = local.get(..6).filter(|prefix| prefix.eq_ignore_ascii_case("reply+")).and(local.get(6..))?;
    let valid = TOKEN_CHARS.contains(&token.len()) && token.bytes().all(|b| b.is_ascii_alphanumeric());
    valid.then(|| token.to_owned())
}

// ---------------------------------------------------------------------------
// Attachments

/// The kinds of attachment kept: what staff can open safely in a browser
/// or a PDF viewer, recognised by their first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Pdf,
    Png,
    Jpeg,
    Gif,
    Heic,
    Webp,
    Tiff,
}

/// HEIF brands of HEVC-coded images (ISO/IEC 23008-12): what iPhones send.
const HEIC_BRANDS: [&[u8]; 6] = [b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx"];

/// Declared types that say nothing about the content: mail programs send
/// PDFs and photos as these, so the bytes decide.
const GENERIC_TYPES: [&str; 2] = ["application/octet-stream", "binary/octet-stream"];

impl Kind {
    fn sniff(bytes: &[u8]) -> Option<Self> {
        let kind = if bytes.starts_with(b"%PDF-") {
            Self::Pdf
        } else if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
            Self::Png
        } else if bytes.starts_with(b"\xff\xd8\xff") {
            Self::Jpeg
        } else if bytes.starts_with(b"GIF87a") || bytes.starts_with(b"GIF89a") {
            Self::Gif
        } else if bytes.starts_with(b"RIFF") && bytes.get(8..12) == Some(&b"WEBP"[..]) {
            Self::Webp
        } else if bytes.starts_with(b"II*\0") || bytes.starts_with(b"MM\0*") {
            Self::Tiff
        } else if is_heic(bytes) {
            Self::Heic
        } else {
            return None;
        };
        Some(kind)
    }

    fn content_type(self) -> &'static str {
        match self {
            Self::Pdf => "application/pdf",
            Self::Png => "image/png",
            Self::Jpeg => "image/jpeg",
            Self::Gif => "image/gif",
            Self::Heic => "image/heic",
            Self::Webp => "image/webp",
            Self::Tiff => "image/tiff",
        }
    }

    /// The declared types that mean this kind: its own and the aliases
    /// mail programs use.
    fn declared_types(self) -> &'static [&'static str] {
        match self {
            Self::Pdf => &["application/pdf", "application/x-pdf"],
            Self::Png => &["image/png", "image/x-png"],
            Self::Jpeg => &["image/jpeg", "image/jpg", "image/pjpeg"],
            Self::Gif => &["image/gif"],
            Self::Heic => &["image/heic", "image/heif"],
            Self::Webp => &["image/webp"],
            Self::Tiff => &["image/tiff", "image/tif"],
        }
    }

    /// File extensions of this kind, the usual one first.
    fn extensions(self) -> &'static [&'static str] {
        match self {
            Self::Pdf => &["pdf"],
            Self::Png => &["png"],
            Self::Jpeg => &["jpg", "jpeg", "jpe", "jfif"],
            Self::Gif => &["gif"],
            Self::Heic => &["heic", "heif"],
            Self::Webp => &["webp"],
            Self::Tiff => &["tif", "tiff"],
        }
    }
}

/// An ISO base media file (a size, `ftyp`, the major brand, a version, the
/// compatible brands) whose brand is an HEVC-coded HEIF image, or generic
/// HEIF (`mif1`, `msf1`) listing one.
fn is_heic(bytes: &[u8]) -> bool {
    let (Some(&[a, b, c, d]), Some(b"ftyp"), Some(major)) = (bytes.get(0..4), bytes.get(4..8), bytes.get(8..12)) else {
        return false;
    };
    if HEIC_BRANDS.contains(&major) {
        return true;
    }
    let box_end = usize::try_from(u32::from_be_bytes([a, b, c, d])).unwrap_or(usize::MAX).min(bytes.len());
    let compatible = bytes.get(16..box_end).unwrap_or_default();
    (major == b"mif1" || major == b"msf1") && compatible.chunks_exact(4).any(|brand| HEIC_BRANDS.contains(&brand))
}

/// The part as a kept attachment, if it is one of the kinds kept, its
/// declared type does not contradict its bytes, and it is small enough.
fn attachment(part: &MessagePart<'_>, limits: &AttachmentLimits) -> Option<EmailAttachment> {
    // Text parts were decoded through their charset and are no longer the
    // sender's bytes; forwarded messages are not kept either.
    let (PartType::Binary(bytes) | PartType::InlineBinary(bytes)) = &part.body else {
        return None;
    };
    if bytes.len() > limits.max_bytes {
        return None;
    }
    let kind = Kind::sniff(bytes)?;
    let declared_agrees = match part.content_type() {
        None => true,
        Some(declared) => {
            let declared = format!("{}/{}", declared.ctype(), declared.subtype().unwrap_or_default());
            let is = |types: &[&str]| types.iter().any(|t| t.eq_ignore_ascii_case(&declared));
            is(kind.declared_types()) || is(&GENERIC_TYPES)
        }
    };
    declared_agrees.then(|| EmailAttachment {
        filename: attachment_filename(part.attachment_name(), kind),
        content_type: kind.content_type().to_owned(),
        bytes: bytes.to_vec(),
    })
}

/// Characters that change the direction or visibility of what follows:
/// `invoice\u{202E}fdp.exe` shows as `invoiceexe.pdf`.
fn is_invisible_format(c: char) -> bool {
    matches!(c, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2069}' | '\u{FEFF}')
}

/// The sender's name for an attachment, safe to save and to show: its last
/// path component, without control or invisible formatting characters, the
/// characters Windows refuses in names replaced, no leading or trailing dots
/// or spaces, bounded, and ending in an extension of what the bytes are (one
/// is added when it has another: `scan.exe` holding a PDF is `scan.exe.pdf`).
fn attachment_filename(declared: Option<&str>, kind: Kind) -> String {
    let last_component = declared.unwrap_or_default().rsplit(['/', '\\']).next().unwrap_or_default();
    let cleaned: String = last_component
        .chars()
        .filter(|&c| !c.is_control() && !is_invisible_format(c))
        .map(|c| if matches!(c, '<' | '>' | ':' | '"' | '|' | '?' | '*') { '_' } else { c })
        .collect();
    let trimmed = cleaned.trim_matches(|c: char| c == '.' || c.is_whitespace());
    let (stem, extension) = match trimmed.rsplit_once('.') {
        Some((stem, extension)) if kind.extensions().iter().any(|known| known.eq_ignore_ascii_case(extension)) => {
            (stem, extension)
        }
        _ => (trimmed, kind.extensions()[0]),
    };
    let stem_chars = MAX_FILENAME_CHARS - 1 - extension.chars().count();
    let stem = truncated(stem, stem_chars);
    let stem = stem.trim_end_matches(|c: char| c == '.' || c.is_whitespace());
    let stem = if stem.is_empty() { "attachment" } else { stem };
    format!("{stem}.{extension}")
}

// ---------------------------------------------------------------------------
// Quoted history and signatures

/// Phrases that introduce the quoted message, as `(start, verb)`: the line
/// starts with `start` and ends with `verb` and a colon ("On Thu, Dec 3,
/// 2026 at 9:00 AM Clinic <x@y> wrote:", Apple's "On 3 Dec 2026, at 10:00,
/// X <x@y> wrote:", "Le 3 déc. 2026 à 09:00, X a écrit :", "El jue, 3 dic
/// 2026 a las 9:00, X escribió:").
const ATTRIBUTIONS: [(&str, &str); 3] = [("On ", "wrote"), ("Le ", "a écrit"), ("El ", "escribió")];
/// Gmail wraps a long attribution: it is looked for over this many lines.
const ATTRIBUTION_LINES: usize = 3;
/// Separators above a quoted or forwarded message, between dashes.
const ORIGINAL_MESSAGE: [&str; 5] =
    ["original message", "forwarded message", "mensaje original", "message d'origine", "message transféré"];
/// Header labels that open a quoted message's header block (Outlook writes
/// them in the sender's language).
const FROM_LABELS: [&str; 3] = ["from", "de", "von"];
/// Labels of the block's other lines.
const HEADER_LABELS: [&str; 13] =
    ["sent", "date", "to", "cc", "subject", "envoyé", "à", "objet", "enviado", "fecha", "para", "asunto", "gesendet"];
/// The longest label, in bytes ("gesendet", "enviado", "envoyé").
const MAX_LABEL_BYTES: usize = 12;
/// A header block is From and at least two of the others within this many
/// lines (Outlook wraps long recipient lists).
const HEADER_BLOCK_LINES: usize = 6;
/// Lines a mail program adds under the text, matched at their start.
const MOBILE_SIGNATURES: [&str; 8] = [
    "sent from my ",
    "sent from mail for windows",
    "sent from yahoo mail",
    "sent from outlook",
    "get outlook for ",
    "enviado desde mi ",
    "envoyé de mon ",
    "envoyé depuis mon ",
];
/// A mobile signature is a short line; a longer one starting alike is
/// the patient's text.
const MAX_SIGNATURE_LINE_CHARS: usize = 80;

/// Where the new text ends.
enum Cut {
    /// A signature starts: what follows is not the reply.
    Signature,
    /// A quoted or forwarded message starts, with its own header block.
    History,
    /// An attribution ("On … wrote:") over this many lines; the quoted
    /// message follows, usually as `>` lines.
    Attribution(usize),
}

/// The new text of a reply: everything before the first quoted-message
/// header (an attribution such as "On … wrote:", Outlook's rule and
/// From/Sent/To/Subject block, "-----Original Message-----") or signature
/// ("-- ", "Sent from my iPhone" and its like), without `>` quoted lines
/// before or after it, trimmed. A reply written under the quote (nothing
/// but quoted lines above the attribution) is read from below it.
pub fn strip_quoted(text: &str) -> String {
    let lines: Vec<&str> = text.lines().map(str::trim_end).collect();
    let mut kept: Vec<&str> = Vec::new();
    let mut written = false;
    let mut rest = lines.as_slice();
    while let Some((&line, after)) = rest.split_first() {
        match cut_at(rest) {
            None => {
                kept.push(line);
                written |= !is_filler(line);
                rest = after;
            }
            Some(Cut::Signature | Cut::History) => break,
            Some(Cut::Attribution(_)) if written => break,
            // Nothing written above the quote: the reply, if any, is below.
            Some(Cut::Attribution(length)) => rest = rest.get(length..).unwrap_or_default(),
        }
    }
    let first = kept.iter().position(|line| !is_filler(line)).unwrap_or(kept.len());
    let last = kept.iter().rposition(|line| !is_filler(line)).map_or(first, |last| last + 1);
    kept.get(first..last).unwrap_or_default().join("\n").trim().to_owned()
}

/// A line that is not new text: blank, quoted, or a separator rule.
fn is_filler(line: &str) -> bool {
    let line = line.trim();
    line.is_empty() || line.starts_with('>') || is_rule(line)
}

/// Outlook's rule above a quoted message.
fn is_rule(line: &str) -> bool {
    line.len() >= 10 && line.bytes().all(|b| b == b'_')
}

/// Whether the new text ends at the first of `lines`.
fn cut_at(lines: &[&str]) -> Option<Cut> {
    let line = lines.first()?.trim();
    if is_signature(line) {
        return Some(Cut::Signature);
    }
    let ruled_headers = is_rule(line)
        && lines
            .iter()
            .skip(1)
            .map(|line| line.trim())
            .find(|line| !line.is_empty())
            .is_some_and(|next| is_label(next, &FROM_LABELS));
    if is_original_message(line) || ruled_headers || is_header_block(lines) {
        return Some(Cut::History);
    }
    attribution_lines(lines).map(Cut::Attribution)
}

fn is_signature(line: &str) -> bool {
    // "-- " is the standard delimiter; many programs drop its space.
    line == "--"
        || line.chars().count() <= MAX_SIGNATURE_LINE_CHARS
            && MOBILE_SIGNATURES.iter().any(|start| starts_with_ignoring_case(line, start))
}

/// `-----Original Message-----`, `---------- Forwarded message ---------`.
fn is_original_message(line: &str) -> bool {
    let words = line.trim_matches(|c: char| c == '-' || c.is_whitespace());
    line.starts_with("--") && ORIGINAL_MESSAGE.iter().any(|phrase| words.eq_ignore_ascii_case(phrase))
}

/// A `From:` line followed closely by at least two other header lines.
fn is_header_block(lines: &[&str]) -> bool {
    let Some((first, following)) = lines.split_first() else { return false };
    if !is_label(first, &FROM_LABELS) {
        return false;
    }
    following.iter().take(HEADER_BLOCK_LINES - 1).filter(|line| is_label(line, &HEADER_LABELS)).count() >= 2
}

/// Whether `line` starts with one of `labels` and a colon, as a header
/// line, bold (`*From:*`) or with French spacing (`De :`).
fn is_label(line: &str, labels: &[&str]) -> bool {
    let Some((label, _)) = line.trim().trim_start_matches('*').split_once(':') else { return false };
    let label = label.trim_end_matches('*').trim();
    // Labels are one short word: a longer text before a colon is not one.
    if label.len() > MAX_LABEL_BYTES {
        return false;
    }
    let label = label.to_lowercase();
    labels.contains(&label.as_str())
}

/// How many lines the attribution starting at the first of `lines` takes.
/// It names a date, so its first line has a digit; it is never broken by a
/// blank or quoted line.
fn attribution_lines(lines: &[&str]) -> Option<usize> {
    let first = lines.first()?.trim();
    let (_, verb) = ATTRIBUTIONS.iter().find(|(start, _)| first.starts_with(start))?;
    if !first.chars().any(|c| c.is_ascii_digit()) {
        return None;
    }
    let mut joined = String::new();
    for (count, line) in lines.iter().take(ATTRIBUTION_LINES).enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('>') {
            return None;
        }
        if count > 0 {
            joined.push(' ');
        }
        joined.push_str(line);
        // French puts a (no-break) space before the colon.
        let ends_with_verb = joined.strip_suffix(':').is_some_and(|head| head.trim_end().ends_with(verb));
        if ends_with_verb {
            return Some(count + 1);
        }
    }
    None
}

fn starts_with_ignoring_case(text: &str, start: &str) -> bool {
    text.get(..start.len()).is_some_and(|head| head.to_lowercase() == start)
}

// ---------------------------------------------------------------------------
// HTML

/// Elements whose content is not text the sender wrote.
const HIDDEN_ELEMENTS: [&str; 6] = ["head", "style", "script", "title", "template", "noscript"];
/// Elements that start a new line.
const BLOCK_ELEMENTS: [&str; 25] = [
    "address", "article", "aside", "dd", "div", "dl", "dt", "figure", "footer", "form", "h1", "h2", "h3", "h4", "h5",
    "h6", "header", "hr", "li", "ol", "p", "pre", "section", "table", "tr",
];
/// Deeper quotes are shown as this deep: enough to tell a quote, and a
/// line's prefix stays short however deep the nesting.
const MAX_QUOTE_DEPTH: usize = 8;
/// Named character references mail programs write; others stay as written.
const ENTITIES: [(&str, char); 24] = [
    ("amp", '&'),
    ("lt", '<'),
    ("gt", '>'),
    ("quot", '"'),
    ("apos", '\''),
    ("nbsp", ' '),
    ("rsquo", '\u{2019}'),
    ("lsquo", '\u{2018}'),
    ("rdquo", '\u{201D}'),
    ("ldquo", '\u{201C}'),
    ("ndash", '\u{2013}'),
    ("mdash", '\u{2014}'),
    ("hellip", '\u{2026}'),
    ("aacute", 'á'),
    ("eacute", 'é'),
    ("iacute", 'í'),
    ("oacute", 'ó'),
    ("uacute", 'ú'),
    ("ntilde", 'ñ'),
    ("uuml", 'ü'),
    ("agrave", 'à'),
    ("egrave", 'è'),
    ("ccedil", 'ç'),
    ("iexcl", '¡'),
];
/// The longest character reference looked for (`&#x10FFFF;`).
const MAX_ENTITY_CHARS: usize = 10;

/// The text of an HTML body, a line per block and `<br>`, with blockquotes
/// as `>` quoted lines so that [`strip_quoted`] reads it as it reads plain
/// text. Not a browser: enough for what mail programs write.
fn html_to_text(html: &str) -> String {
    let mut text = HtmlText::default();
    let mut rest = html;
    while let Some(open) = rest.find('<') {
        text.push_text(&rest[..open]);
        rest = text.tag(&rest[open..]);
    }
    text.push_text(rest);
    text.finish()
}

#[derive(Default)]
struct HtmlText {
    /// Finished lines and their quote depth.
    lines: Vec<(usize, String)>,
    line: String,
    depth: usize,
    /// Whitespace was seen since the line's last character.
    space: bool,
}

impl HtmlText {
    /// Reads the tag (or comment, or stray `<`) `html` starts with; returns
    /// what follows it.
    fn tag<'h>(&mut self, html: &'h str) -> &'h str {
        if let Some(comment) = html.strip_prefix("<!--") {
            return comment.find("-->").map_or("", |end| &comment[end + 3..]);
        }
        let after_lt = &html[1..];
        let (closing, inner) = match after_lt.strip_prefix('/') {
            Some(inner) => (true, inner),
            None => (false, after_lt),
        };
        // As in a browser, a tag's name starts with a letter: "a < b" and
        // "I <3 you" are text.
        let is_tag = inner.starts_with(|c: char| c.is_ascii_alphabetic()) || !closing && inner.starts_with(['!', '?']);
        if !is_tag {
            self.push_text("<");
            return after_lt;
        }
        let name_end = inner.find(|c: char| !c.is_ascii_alphanumeric()).unwrap_or(inner.len());
        let name = inner[..name_end].to_ascii_lowercase();
        let Some(end) = tag_end(inner) else { return "" };
        let after = &inner[end + 1..];
        if !closing && HIDDEN_ELEMENTS.contains(&name.as_str()) && !inner[..end].ends_with('/') {
            return skip_element(after, &name);
        }
        match (name.as_str(), closing) {
            ("br", _) => self.end_line(),
            ("blockquote", false) => {
                self.end_block();
                self.depth += 1;
            }
            ("blockquote", true) => {
                self.end_block();
                self.depth = self.depth.saturating_sub(1);
            }
            ("td" | "th", false) => self.space = !self.line.is_empty(),
            (name, _) if BLOCK_ELEMENTS.contains(&name) => self.end_block(),
            _ => {}
        }
        after
    }

    fn push_text(&mut self, text: &str) {
        let mut rest = text;
        while let Some(amp) = rest.find('&') {
            rest[..amp].chars().for_each(|c| self.push_char(c));
            let after = &rest[amp + 1..];
            match entity(after) {
                Some((c, length)) => {
                    self.push_char(c);
                    rest = &after[length..];
                }
                None => {
                    self.push_char('&');
                    rest = after;
                }
            }
        }
        rest.chars().for_each(|c| self.push_char(c));
    }

    /// Runs of whitespace are one space, and none starts a line.
    fn push_char(&mut self, c: char) {
        if c.is_whitespace() {
            self.space = !self.line.is_empty();
        } else if !c.is_control() {
            if std::mem::take(&mut self.space) {
                self.line.push(' ');
            }
            self.line.push(c);
        }
    }

    fn end_line(&mut self) {
        self.lines.push((self.depth, std::mem::take(&mut self.line)));
        self.space = false;
    }

    /// A block ends the line it is on, if any.
    fn end_block(&mut self) {
        if self.line.is_empty() {
            self.space = false;
        } else {
            self.end_line();
        }
    }

    fn finish(mut self) -> String {
        self.end_block();
        let lines: Vec<String> = self
            .lines
            .into_iter()
            .map(|(depth, line)| {
                let quote = ">".repeat(depth.min(MAX_QUOTE_DEPTH));
                match (quote.is_empty(), line.is_empty()) {
                    (true, _) => line,
                    (false, true) => quote,
                    (false, false) => format!("{quote} {line}"),
                }
            })
            .collect();
        lines.join("\n")
    }
}

/// Where the tag whose inside is `inner` ends (its `>`), with quoted
/// attribute values skipped.
fn tag_end(inner: &str) -> Option<usize> {
    let mut quote = None;
    for (at, c) in inner.char_indices() {
        match (quote, c) {
            (None, '>') => return Some(at),
            (None, '"' | '\'') => quote = Some(c),
            (Some(open), c) if c == open => quote = None,
            _ => {}
        }
    }
    None
}

/// What follows the end tag of the hidden element `name` (nothing when it
/// is never closed).
fn skip_element<'h>(html: &'h str, name: &str) -> &'h str {
    for (at, _) in html.match_indices("</") {
        let after = &html[at + 2..];
        if after.get(..name.len()).is_some_and(|found| found.eq_ignore_ascii_case(name)) {
            return after.find('>').map_or("", |end| &after[end + 1..]);
        }
    }
    ""
}

/// The character reference `text` starts with (after its `&`), and its
/// length with the `;`.
fn entity(text: &str) -> Option<(char, usize)> {
    let (end, _) = text.char_indices().take(MAX_ENTITY_CHARS + 1).find(|&(_, c)| c == ';')?;
    let name = &text[..end];
    let c = if let Some(hex) = name.strip_prefix("#x").or_else(|| name.strip_prefix("#X")) {
        char::from_u32(u32::from_str_radix(hex, 16).ok()?)?
    } else if let Some(decimal) = name.strip_prefix('#') {
        char::from_u32(decimal.parse().ok()?)?
    } else {
        ENTITIES.iter().find(|(known, _)| *known == name)?.1
    };
    // "&#0;" is no text anyone wrote: it stays as written.
    (!c.is_control()).then_some((c, end + 1))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    const REPLY: &str = "reply+7f3c9a2e5b1d4086a9e2c71b3f5d8e04@replies.example.com";

    fn parse(raw: &[u8]) -> InboundEmail {
        parse_email(raw, &AttachmentLimits::default()).unwrap()
    }

    /// The message's HTML alternative, read as the body would be.
    fn html_alternative(raw: &[u8]) -> String {
        let message = MessageParser::new().parse(raw).unwrap();
        strip_quoted(&html_to_text(&message.body_html(0).unwrap()))
    }

    #[test]
    fn a_gmail_reply_keeps_the_text_above_a_wrapped_attribution() {
        let raw = include_bytes!("../../tests/fixtures/mime/gmail_reply.eml");
        let email = parse(raw);
        let body =
            "Yes, I'll be there. Could you remind me whether I need to bring my insurance card?\n\nThanks,\nMaria";
        assert_eq!(email.body, body);
        assert_eq!(
            email.message_id.as_deref(),
            Some("CAF3kq7YwR2xN8vLp0mZt5Hs9cQe4uJ1oBn6dGa+Xr7Vf2TkWy@mail.gmail.com")
        );
        assert_eq!(email.from.as_ref().map(EmailAddress::as_str), Some("maria.lopez@example.com"));
        assert_eq!(email.subject.as_deref(), Some("Re: Your appointment at Riverside Clinic on Friday, December 4"));
        assert_eq!((email.attachments.len(), email.refused_attachments), (0, 0));
        assert_eq!(html_alternative(raw), body);
    }

    #[test]
    fn an_outlook_reply_ends_at_the_rule_and_header_block_and_reads_windows_1252() {
        let raw = include_bytes!("../../tests/fixtures/mime/outlook_reply.eml");
        let email = parse(raw);
        let body = "I\u{2019}m running about 15 minutes late on Friday \u{2013} is that still OK?\n\nJordan";
        assert_eq!(email.body, body);
        assert_eq!(
            email.message_id.as_deref(),
            Some("BY5PR11MB4186C0D2A7E3F1B9E8A6D5C4F3B2A1909@BY5PR11MB4186.namprd11.prod.outlook.com")
        );
        assert_eq!(email.from.as_ref().map(EmailAddress::as_str), Some("jordan.ellis@example.net"));
        assert_eq!(email.subject.as_deref(), Some("RE: Your appointment at Riverside Clinic on Friday, December 4"));
        assert_eq!(html_alternative(raw), body);
    }

    #[test]
    fn an_iphone_reply_ends_at_sent_from_my_iphone() {
        let raw = include_bytes!("../../tests/fixtures/mime/apple_iphone_reply.eml");
        let email = parse(raw);
        let body = "Could we move it to the afternoon? Anytime after 2 works for me.";
        assert_eq!(email.body, body);
        assert_eq!(email.message_id.as_deref(), Some("5C9E1B7A-3F2D-4A8E-B6C1-0D9F8E7A6B5C@example.org"));
        assert_eq!(email.from.as_ref().map(EmailAddress::as_str), Some("sam.patel@example.org"));
        assert_eq!(html_alternative(raw), body);
    }

    #[test]
    fn a_pdf_and_a_photo_are_kept_with_their_names_and_bytes() {
        let email = parse(include_bytes!("../../tests/fixtures/mime/attachments_reply.eml"));
        assert_eq!(email.body, "Here are my lab results from last week and a photo of my insurance card.");
        let kept: Vec<_> =
            email.attachments.iter().map(|a| (a.filename.as_str(), a.content_type.as_str(), a.bytes.len())).collect();
        assert_eq!(
            kept,
            [("lab-results.pdf", "application/pdf", 618), ("Tarjeta de seguro \u{b7} frente.jpg", "image/jpeg", 159),]
        );
        assert_eq!(email.refused_attachments, 0);
        let pdf = lopdf::Document::load_mem(&email.attachments[0].bytes).unwrap();
        assert_eq!(pdf.get_pages().len(), 1);
        assert!(email.attachments[1].bytes.ends_with(b"\xff\xd9"));
    }

    #[test]
    fn attachments_past_the_size_or_the_count_are_refused_and_counted() {
        let raw = include_bytes!("../../tests/fixtures/mime/attachments_reply.eml");
        let small = parse_email(raw, &AttachmentLimits { max_bytes: 617, max_count: 10 }).unwrap();
        assert_eq!(small.attachments.iter().map(|a| a.content_type.as_str()).collect::<Vec<_>>(), ["image/jpeg"]);
        assert_eq!(small.refused_attachments, 1);
        let exact = parse_email(raw, &AttachmentLimits { max_bytes: 618, max_count: 10 }).unwrap();
        assert_eq!((exact.attachments.len(), exact.refused_attachments), (2, 0));
        let one = parse_email(raw, &AttachmentLimits { max_bytes: 1 << 20, max_count: 1 }).unwrap();
        assert_eq!(one.attachments.iter().map(|a| a.filename.as_str()).collect::<Vec<_>>(), ["lab-results.pdf"]);
        assert_eq!(one.refused_attachments, 1);
        let none = parse_email(raw, &AttachmentLimits { max_bytes: 1 << 20, max_count: 0 }).unwrap();
        assert_eq!((none.attachments.len(), none.refused_attachments), (0, 2));
        assert_eq!(none.body, "Here are my lab results from last week and a photo of my insurance card.");
    }

    #[test]
    fn an_executable_and_a_pdf_that_is_not_one_are_refused() {
        let email = parse(include_bytes!("../../tests/fixtures/mime/refused_attachments.eml"));
        assert_eq!(email.body, "Please see the attached forms and a picture of my insurance card.");
        let kept: Vec<_> =
            email.attachments.iter().map(|a| (a.filename.as_str(), a.content_type.as_str(), a.bytes.len())).collect();
        assert_eq!(kept, [("insurance card.png", "image/png", 74)]);
        assert_eq!(email.refused_attachments, 2);
    }

    #[test]
    fn latin1_quoted_printable_and_encoded_headers_are_decoded() {
        let email = parse(include_bytes!("../../tests/fixtures/mime/latin1_reply.eml"));
        assert_eq!(email.body, "Sí, confirmo. Nos vemos el viernes a las 10:30.\n\nGracias,\nLucía");
        assert_eq!(email.subject.as_deref(), Some("Re: Confirmación de su cita"));
        assert_eq!(email.from.as_ref().map(EmailAddress::as_str), Some("lucia.fernandez@example.com"));
    }

    #[test]
    fn an_html_only_reply_is_read_as_text() {
        let email = parse(include_bytes!("../../tests/fixtures/mime/html_only_reply.eml"));
        assert_eq!(email.body, "Confirmed, thank you! See you on Friday & I\u{2019}ll bring the forms.\n\nAna");
        assert_eq!(email.message_id.as_deref(), Some("qv7f2k-9x3m1p-a8c4e2f0b6d1@email.android.com"));
    }

    #[test]
    fn a_plain_message_without_structure_is_its_text() {
        let raw = b"From: Ann <ann@example.com>\r\nSubject: hi\r\n\r\nYES\r\n";
        let email = parse(raw);
        assert_eq!((email.body.as_str(), email.message_id, email.subject.as_deref()), ("YES", None, Some("hi")));
        assert_eq!(email.from.as_ref().map(EmailAddress::as_str), Some("ann@example.com"));
    }

    #[test]
    fn an_unroutable_sender_has_no_address_and_a_blank_subject_none() {
        let raw = b"From: Ann <ann@localhost>\r\nSubject:   \r\n\r\nYES\r\n";
        let email = parse(raw);
        assert_eq!((email.from, email.subject, email.body.as_str()), (None, None, "YES"));
    }

    #[test]
    fn the_body_is_capped_at_a_character_boundary() {
        let text = "é".repeat(MAX_BODY_CHARS + 5);
        let raw = format!("From: ann@example.com\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{text}\r\n");
        let email = parse(raw.as_bytes());
        assert_eq!(email.body, "é".repeat(MAX_BODY_CHARS));
    }

    #[test]
    fn what_has_no_headers_is_not_an_email() {
        for raw in [&b""[..], b"\r\n\r\n", b"\r\n\r\njust a body"] {
            assert_eq!(parse_email(raw, &AttachmentLimits::default()), Err(EmailParseError::NoHeaders), "{raw:?}");
        }
        assert_eq!(EmailParseError::NoHeaders.to_string(), "the inbound email has no readable headers");
    }

    #[test]
    fn a_structure_the_parser_gives_up_on_is_refused_not_a_panic() {
        // Found by the property below: two empty message/rfc822 parts in a
        // multipart trip mail-parser's debug assertions.
        let raw = "From: a@example.com\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\
                   Content-Type: message/rfc822\r\n\r\nContent-Type: message/rfc822\r\n\r\n\r\n--b--\r\n";
        let result = parse_email(raw.as_bytes(), &AttachmentLimits::default());
        assert!(matches!(result, Ok(_) | Err(EmailParseError::Unreadable)), "{result:?}");
    }

    #[test]
    fn strip_quoted_keeps_only_the_new_text() {
        let cases: &[(&str, &str, &str)] = &[
            ("plain", "Yes", "Yes"),
            ("trimmed", "\n\n  Yes please  \n\n", "Yes please"),
            ("gmail", "Yes\n\nOn Thu, Dec 3, 2026 at 9:00 AM Clinic <r@x.com> wrote:\n\n> Hi\n", "Yes"),
            (
                "gmail wrapped",
                "Yes\n\nOn Thu, Dec 3, 2026 at 9:00 AM Riverside Clinic <\nreply+abc@x.com> wrote:\n> Hi",
                "Yes",
            ),
            ("apple", "Yes\n\nOn 3 Dec 2026, at 10:00, Clinic <x@y.com> wrote:\n\n> Hi", "Yes"),
            ("french", "Oui\n\nLe jeu. 3 déc. 2026 à 09:00, Clinique <x@y.fr> a écrit :\n> Bonjour", "Oui"),
            ("french no-break space", "Oui\nLe 3 déc. 2026 à 09:00, X <x@y.fr> a écrit\u{a0}:\n> B", "Oui"),
            ("french wrapped", "Oui\nLe jeu. 3 déc. 2026 à 09:00, Clinique <x@y.fr> a\nécrit :\n> Bonjour", "Oui"),
            ("spanish", "Sí\n\nEl jue, 3 dic 2026 a las 9:00, Clínica (<x@y.es>) escribió:\n> Hola", "Sí"),
            ("original message", "No\n\n-----Original Message-----\nFrom: Clinic\nSent: today\n\nHi", "No"),
            ("spaced original message", "No\n----- Original Message -----\nFrom: x", "No"),
            ("forwarded", "See below\n\n---------- Forwarded message ---------\nFrom: Clinic <x@y.com>", "See below"),
            (
                "outlook rule",
                "Late\n\n________________________________\nFrom: Clinic <x@y.com>\nSent: Thursday\nTo: me\nSubject: Hi\n\nHi",
                "Late",
            ),
            ("outlook block", "Late\n\nFrom: Clinic <x@y.com>\nSent: Thursday\nTo: me\nSubject: Hi\n\nHi", "Late"),
            ("outlook bold block", "Late\n*From:* Clinic\n*Sent:* Thursday\n*To:* me\n*Subject:* Hi", "Late"),
            ("outlook french block", "Oui\nDe : Clinique\nEnvoyé : jeudi\nÀ : moi\nObjet : Rappel", "Oui"),
            ("outlook spanish block", "Sí\nDe: Clínica\nEnviado: jueves\nPara: yo\nAsunto: Cita", "Sí"),
            ("signature delimiter", "Yes\n\n-- \nMaria Lopez\n555-0100", "Yes"),
            ("signature delimiter without its space", "Yes\n--\nMaria", "Yes"),
            ("iphone", "Yes\n\nSent from my iPhone", "Yes"),
            ("iphone then quote", "Yes\n\nSent from my iPhone\n\n> On 3 Dec 2026, at 09:00, X <x@y.com> wrote:\n> Hi", "Yes"),
            ("outlook mobile", "Yes\n\nGet Outlook for iOS<https://aka.ms/o0ukef>\n____\nFrom: x", "Yes"),
            ("outlook android", "Yes\nGet Outlook for Android", "Yes"),
            ("windows mail", "Yes\n\nSent from Mail for Windows\n\nFrom: Clinic", "Yes"),
            ("spanish mobile", "Sí\n\nEnviado desde mi iPhone", "Sí"),
            ("trailing quote", "Yes\n\n> Reply YES to confirm\n>\n> Clinic", "Yes"),
            ("leading quote", "> Reply YES to confirm\n\nYES", "YES"),
            ("interleaved quote kept", "> Can you come at 10?\nYes\n> Bring your card.\nI will", "Yes\n> Bring your card.\nI will"),
            ("bottom posted", "On Thu, Dec 3, 2026 at 9:00 AM Clinic <x@y.com> wrote:\n> Reply YES\n\nYES\n", "YES"),
            ("bottom posted with signature", "On 3 Dec 2026, X <x@y.com> wrote:\n> Hi\nYes\n-- \nAnn", "Yes"),
            ("only a quote", "On Thu, Dec 3, 2026 at 9:00 AM Clinic <x@y.com> wrote:\n> Reply YES\n", ""),
            ("only history", "________________________________\nFrom: Clinic\nSent: Thursday\nTo: me\n\nReply YES", ""),
            ("empty", "", ""),
            ("crlf", "Yes\r\n\r\nOn Thu, Dec 3, 2026 at 9:00 AM Clinic <x@y.com> wrote:\r\n> Hi\r\n", "Yes"),
            ("on without a date is text", "On Monday my husband wrote:\nthat he can drive me", "On Monday my husband wrote:\nthat he can drive me"),
            ("wrote after a blank line is text", "On the 3rd I can come\n\nas my sister wrote:", "On the 3rd I can come\n\nas my sister wrote:"),
            ("a long sentence is no signature", "Sent from my iPhone because my laptop is broken, sorry for the typos in this message", "Sent from my iPhone because my laptop is broken, sorry for the typos in this message"),
            ("a from line alone is text", "Yes\nFrom: now on call me", "Yes\nFrom: now on call me"),
            ("a short rule is text", "Yes\n_____\nNo", "Yes\n_____\nNo"),
        ];
        for (name, text, expected) in cases {
            assert_eq!(strip_quoted(text), *expected, "{name}");
        }
    }

    #[test]
    fn html_is_read_as_lines_with_blockquotes_quoted() {
        let cases: &[(&str, &str)] = &[
            ("<div>Yes</div><div><br></div><div>Ann</div>", "Yes\n\nAnn"),
            ("Yes<br>Ann", "Yes\nAnn"),
            ("<p>a  \n b</p><p>c</p>", "a b\nc"),
            ("<html><head><title>t</title><style>p > a { }</style></head><body>x</body></html>", "x"),
            ("<script type='text/javascript'>if (a < b) {}</script>ok", "ok"),
            ("<STYLE>x</STYLE >ok", "ok"),
            ("a<!-- <b>not</b> -->b", "ab"),
            ("<!DOCTYPE html><p>x</p>", "x"),
            ("1 < 2 &amp; 3 &gt; 2", "1 < 2 & 3 > 2"),
            ("I <3 you</ b>", "I <3 you</ b>"),
            ("caf&eacute; &#233; &#xE9; &unknown; &amp", "café é é &unknown; &amp"),
            ("&#0; &#xD800; x", "&#0; &#xD800; x"),
            ("<a href=\"x>y\" title='a>b'>link</a> text", "link text"),
            (
                "Yes<blockquote>Hi<blockquote>Deep</blockquote>Hi again</blockquote>Bye",
                "Yes\n> Hi\n>> Deep\n> Hi again\nBye",
            ),
            ("<blockquote><br></blockquote>", ">"),
            ("</blockquote></blockquote>x", "x"),
            ("<table><tr><td>a</td><td>b</td></tr></table>", "a b"),
            ("<div>unclosed <b", "unclosed"),
            ("<style>never closed", ""),
            ("", ""),
        ];
        for (html, expected) in cases {
            assert_eq!(html_to_text(html), *expected, "{html}");
        }
        let deep = format!("{}x", "<blockquote>".repeat(1000));
        assert_eq!(html_to_text(&deep), format!("{} x", ">".repeat(MAX_QUOTE_DEPTH)));
    }

    #[test]
    fn a_reply_token_is_read_from_the_reply_address_only() {
        let domain = "replies.example.com";
        assert_eq!(reply_token(REPLY, domain).as_deref(), Some("7f3c9a2e5b1d4086a9e2c71b3f5d8e04"));
        assert_eq!(reply_token("reply+Tok3n123@REPLIES.Example.COM", domain).as_deref(), Some("Tok3n123"));
        assert_eq!(reply_token("Reply+abcdefgh@replies.example.com", domain).as_deref(), Some("abcdefgh"));
        let at_most = format!("reply+{}@{domain}", "a".repeat(64));
        assert_eq!(reply_token(&at_most, domain), Some("a".repeat(64)));
        for address in [
            "reply+abcdefg@replies.example.com",
            &format!("reply+{}@{domain}", "a".repeat(65)),
            "reply+abc-defgh@replies.example.com",
            "reply+abcdefgh@other.example.com",
            "reply+abcdefgh@replies.example.com.evil.com",
            "reply+abcdefgh@sub.replies.example.com",
            "replies+abcdefgh@replies.example.com",
            "reply-abcdefgh@replies.example.com",
            "reply+@replies.example.com",
            "reply+abcdefgh",
            "abcdefgh@replies.example.com",
            "reply+abcdéfgh@replies.example.com",
            "ré+abcdefgh@replies.example.com",
            "\"reply+abcdefgh@x\"@replies.example.com",
            "Clinic <reply+abcdefgh@replies.example.com>",
            "",
        ] {
            assert_eq!(reply_token(address, domain), None, "{address}");
        }
        assert_eq!(reply_token("reply+abcdefgh@", ""), None);
    }

    #[test]
    fn attachment_types_are_recognised_by_their_bytes() {
        let heic = b"\0\0\0\x18ftypheic\0\0\0\0mif1heic....";
        let heif_listing_heic = b"\0\0\0\x18ftypmif1\0\0\0\0mif1heic....";
        let avif = b"\0\0\0\x18ftypavif\0\0\0\0mif1miaf....";
        let mif1_alone = b"\0\0\0\x14ftypmif1\0\0\0\0mif1heic"; // heic lies past the box
        let cases: &[(&[u8], Option<Kind>)] = &[
            (b"%PDF-1.7\n", Some(Kind::Pdf)),
            (b"\x89PNG\r\n\x1a\n\0\0", Some(Kind::Png)),
            (b"\xff\xd8\xff\xe0", Some(Kind::Jpeg)),
            (b"GIF89a..", Some(Kind::Gif)),
            (b"GIF87a..", Some(Kind::Gif)),
            (b"RIFF\0\0\0\0WEBPVP8 ", Some(Kind::Webp)),
            (b"RIFF\0\0\0\0WAVEfmt ", None),
            (b"II*\0\x08\0\0\0", Some(Kind::Tiff)),
            (b"MM\0*\0\0\0\x08", Some(Kind::Tiff)),
            (heic, Some(Kind::Heic)),
            (heif_listing_heic, Some(Kind::Heic)),
            (avif, None),
            (mif1_alone, None),
            (b"\xff\xff\xff\xffftypmif1", None),
            (b"MZ\x90\0", None),
            (b"<html>", None),
            (b"%PD", None),
            (b"", None),
        ];
        for (bytes, expected) in cases {
            assert_eq!(Kind::sniff(bytes), *expected, "{bytes:?}");
        }
    }

    fn mixed(parts: &[(&str, &str, &[u8])]) -> Vec<u8> {
        use base64::Engine;
        let mut raw = String::from("From: a@example.com\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n");
        raw.push_str("Content-Type: text/plain\r\n\r\nSee attached\r\n");
        for (content_type, name, bytes) in parts {
            let encoded = base64::engine::general_purpose::STANDARD.encode(bytes);
            raw.push_str(&format!(
                "--b\r\nContent-Type: {content_type}\r\nContent-Disposition: attachment; filename=\"{name}\"\r\n\
                 Content-Transfer-Encoding: base64\r\n\r\n{encoded}\r\n"
            ));
        }
        raw.push_str("--b--\r\n");
        raw.into_bytes()
    }

    #[test]
    fn a_declared_type_must_agree_with_the_bytes_unless_it_is_generic() {
        let pdf: &[u8] = b"%PDF-1.4\n%%EOF\n";
        let png: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR";
        let raw = mixed(&[
            ("application/pdf", "a.pdf", pdf),
            ("application/octet-stream", "b.pdf", pdf),
            ("image/jpg", "c.png", png),
            ("IMAGE/PNG", "d.png", png),
            ("image/png", "e.pdf", pdf),
            ("application/pdf", "f.pdf", b"not a pdf"),
            ("text/plain", "g.txt", b"%PDF-1.4 but a text part"),
            ("application/zip", "h.zip", pdf),
        ]);
        let email = parse(&raw);
        let kept: Vec<_> = email.attachments.iter().map(|a| (a.filename.as_str(), a.content_type.as_str())).collect();
        assert_eq!(
            kept,
            [("a.pdf", "application/pdf"), ("b.pdf", "application/pdf"), ("d.png", "image/png")],
            "a PNG declared as JPEG, a PDF declared as PNG or zip, bytes that are no PDF, and text are refused"
        );
        assert_eq!(email.refused_attachments, 5);
        assert_eq!(email.body, "See attached");
    }

    #[test]
    fn attachment_names_are_made_safe_to_save() {
        let long = format!("{}.pdf", "x".repeat(300));
        let cases: &[(Option<&str>, Kind, &str)] = &[
            (Some("lab-results.pdf"), Kind::Pdf, "lab-results.pdf"),
            (Some("IMG_0001.JPG"), Kind::Jpeg, "IMG_0001.JPG"),
            (Some("photo.jpeg"), Kind::Jpeg, "photo.jpeg"),
            (None, Kind::Pdf, "attachment.pdf"),
            (Some(""), Kind::Png, "attachment.png"),
            (Some("..."), Kind::Heic, "attachment.heic"),
            (Some("../../etc/passwd"), Kind::Pdf, "passwd.pdf"),
            (Some("C:\\Users\\ann\\scan.pdf"), Kind::Pdf, "scan.pdf"),
            (Some("scan"), Kind::Tiff, "scan.tif"),
            (Some("scan.exe"), Kind::Pdf, "scan.exe.pdf"),
            (Some("invoice\u{202E}fdp.exe"), Kind::Pdf, "invoicefdp.exe.pdf"),
            (Some("zero\u{200B}width\u{FEFF}.png"), Kind::Png, "zerowidth.png"),
            (Some("a\0b\r\n\tc.png"), Kind::Png, "abc.png"),
            (Some("what?<is>:this*|\".gif"), Kind::Gif, "what__is__this___.gif"),
            (Some("  .hidden.webp. "), Kind::Webp, "hidden.webp"),
            (Some("Lab results 12.03.2026"), Kind::Pdf, "Lab results 12.03.2026.pdf"),
            (Some("résumé médical.pdf"), Kind::Pdf, "résumé médical.pdf"),
            (Some(".pdf"), Kind::Pdf, "pdf.pdf"),
        ];
        for (declared, kind, expected) in cases {
            assert_eq!(attachment_filename(*declared, *kind), *expected, "{declared:?}");
        }
        let bounded = attachment_filename(Some(&long), Kind::Pdf);
        assert_eq!(bounded.chars().count(), MAX_FILENAME_CHARS);
        assert!(bounded.ends_with("x.pdf"));
        let wide = attachment_filename(Some(&"é".repeat(300)), Kind::Jpeg);
        assert_eq!(wide.chars().count(), MAX_FILENAME_CHARS);
        assert!(wide.ends_with("é.jpg"));
    }

    #[test]
    fn an_attachment_is_shown_without_its_name_or_bytes() {
        let attachment =
            EmailAttachment { filename: "maria.pdf".into(), content_type: "application/pdf".into(), bytes: vec![1; 3] };
        let shown = format!("{attachment:?}");
        assert!(!shown.contains("maria"), "{shown}");
        assert!(shown.contains("len: 3"), "{shown}");
    }

    /// Pieces of MIME and HTML, so that random messages reach the parser's
    /// and the readers' deeper paths.
    fn mime_piece() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("--b\r\n".to_owned()),
            Just("--b--\r\n".to_owned()),
            Just("Content-Type: multipart/alternative; boundary=b\r\n".to_owned()),
            Just("Content-Type: text/html; charset=windows-1252\r\n".to_owned()),
            Just("Content-Type: application/pdf; name=\"x.pdf\"\r\n".to_owned()),
            Just("Content-Type: message/rfc822\r\n".to_owned()),
            Just("Content-Transfer-Encoding: base64\r\n".to_owned()),
            Just("Content-Transfer-Encoding: quoted-printable\r\n".to_owned()),
            Just("Content-Disposition: attachment; filename*=UTF-8''%C3%A9.pdf\r\n".to_owned()),
            Just("\r\n".to_owned()),
            Just("JVBERi0xLjQK\r\n".to_owned()),
            Just("<blockquote><div>On 3 Dec 2026, X wrote:<br>".to_owned()),
            Just("&#x1F600;&amp&nbsp;<!--".to_owned()),
            Just("> quoted =E9=\r\n".to_owned()),
            "[ -~\u{e9}\u{202e}]{0,40}",
        ]
    }

    proptest! {
        #[test]
        fn parse_email_never_panics_on_bytes(raw in proptest::collection::vec(any::<u8>(), 0..2048)) {
            let _ = parse_email(&raw, &AttachmentLimits::default());
        }

        #[test]
        fn parse_email_never_panics_on_broken_mime(pieces in proptest::collection::vec(mime_piece(), 0..40)) {
            let raw = format!("From: a@example.com\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n{}", pieces.concat());
            let email = parse_email(raw.as_bytes(), &AttachmentLimits { max_bytes: 64, max_count: 2 });
            if let Ok(email) = email {
                prop_assert!(email.attachments.len() <= 2);
                prop_assert!(email.attachments.iter().all(|a| a.bytes.len() <= 64));
                prop_assert!(email.body.chars().count() <= MAX_BODY_CHARS);
            }
        }

        #[test]
        fn strip_quoted_and_html_to_text_never_panic(text in any::<String>()) {
            let _ = strip_quoted(&text);
            let _ = html_to_text(&text);
        }

        #[test]
        fn a_sanitised_name_has_no_separator_or_control_and_keeps_its_type(name in any::<String>()) {
            let filename = attachment_filename(Some(&name), Kind::Pdf);
            prop_assert!(filename.chars().count() <= MAX_FILENAME_CHARS);
            prop_assert!(!filename.chars().any(|c| c == '/' || c == '\\' || c.is_control() || is_invisible_format(c)));
            prop_assert!(filename.to_lowercase().ends_with(".pdf"));
            prop_assert!(!filename.starts_with('.'));
        }
    }
}
