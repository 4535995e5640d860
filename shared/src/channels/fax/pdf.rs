//! The fax document: a cover page, the message's text, then the pages of
//! every attached PDF, as one US Letter PDF.
//!
//! Text is set in the standard Courier font: every glyph is 600/1000 em
//! wide, so wrapping by character count is exact and needs no font metrics.
//! Standard fonts carry no Unicode mapping; they are declared with
//! WinAnsiEncoding, which covers Latin-1 (é, ñ, ü) and a few more; anything
//! else prints as `?`.

use lopdf::content::{Content, Operation};
use lopdf::{dictionary, Document, Encoding, Object, ObjectId, Stream, StringFormat};

use crate::domain::RenderedContent;

/// US Letter, in points.
const PAGE_WIDTH: f32 = 612.0;
const PAGE_HEIGHT: f32 = 792.0;
const MARGIN: f32 = 72.0;
const FONT_SIZE: f32 = 11.0;
/// Courier's advance width, as a fraction of the font size.
const COURIER_ADVANCE: f32 = 0.6;
const BODY_LEADING: f32 = 14.0;
/// The cover is sparse: more air between its lines.
const COVER_LEADING: f32 = 20.0;
const HEADING_SIZE: f32 = 32.0;
const LINE_CHARS: usize = ((PAGE_WIDTH - 2.0 * MARGIN) / (FONT_SIZE * COURIER_ADVANCE)) as usize;
const BODY_LINES: usize = ((PAGE_HEIGHT - 2.0 * MARGIN) / BODY_LEADING) as usize;
/// Cover lines start below the heading and its rule.
const COVER_TOP: f32 = PAGE_HEIGHT - MARGIN - HEADING_SIZE - 2.0 * COVER_LEADING;
const COVER_LINES: usize = ((COVER_TOP - MARGIN) / COVER_LEADING) as usize;

/// The rendered fax.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FaxDocument {
    pub bytes: Vec<u8>,
    /// Every page, the cover included: what the provider will transmit.
    pub pages: u32,
}

/// Why a message cannot be made into a fax. Attachments are named by their
/// position only: a file name may itself be PHI.
#[derive(Debug, thiserror::Error)]
pub enum FaxRenderError {
    #[error("attachment {index} is not a PDF document")]
    AttachmentNotPdf { index: usize },
    #[error("attachment {index} cannot be read as a PDF document")]
    AttachmentUnreadable { index: usize },
    #[error("the fax PDF could not be written")]
    Write(#[source] lopdf::Error),
}

impl FaxRenderError {
    /// A short code for logs and the message's failure: never PHI.
    pub fn code(&self) -> &'static str {
        match self {
            FaxRenderError::AttachmentNotPdf { .. } => "attachment_not_pdf",
            FaxRenderError::AttachmentUnreadable { .. } => "attachment_unreadable",
            FaxRenderError::Write(_) => "pdf_write_failed",
        }
    }
}

/// Renders the whole fax: cover, text, attached PDFs.
pub fn render(content: &RenderedContent) -> Result<FaxDocument, FaxRenderError> {
    let plan = Plan::new(content)?;
    let pages = plan.pages();
    let bytes = plan.build(content, pages).map_err(FaxRenderError::Write)?;
    Ok(FaxDocument { bytes, pages })
}

/// The number of pages [`render`] produces, without building the PDF (the
/// attachments are still parsed: their pages are counted).
pub fn page_count(content: &RenderedContent) -> Result<u32, FaxRenderError> {
    Ok(Plan::new(content)?.pages())
}

/// What the fax will hold, laid out but not yet written.
struct Plan {
    body_pages: Vec<Vec<String>>,
    /// Each parsed attachment with its page count.
    attachments: Vec<(Document, u32)>,
}

impl Plan {
    fn new(content: &RenderedContent) -> Result<Self, FaxRenderError> {
        let lines = wrap(content.body.trim_end(), LINE_CHARS);
        let body_pages = lines.chunks(BODY_LINES).map(<[String]>::to_vec).collect();
        let attachments = content
            .attachments
            .iter()
            .enumerate()
            .map(|(index, attachment)| {
                if !is_pdf(&attachment.content_type) {
                    return Err(FaxRenderError::AttachmentNotPdf { index });
                }
                let unreadable = || FaxRenderError::AttachmentUnreadable { index };
                let bytes = attachment.decoded().map_err(|_| unreadable())?;
                let document = Document::load_mem(&bytes).map_err(|_| unreadable())?;
                // An encrypted PDF whose password we lack can load with no pages.
                let pages = u32::try_from(document.get_pages().len()).map_err(|_| unreadable())?;
                if pages == 0 {
                    return Err(unreadable());
                }
                Ok((document, pages))
            })
            .collect::<Result<_, _>>()?;
        Ok(Self { body_pages, attachments })
    }

    fn pages(&self) -> u32 {
        let body = u32::try_from(self.body_pages.len()).unwrap_or(u32::MAX);
        self.attachments.iter().fold(body.saturating_add(1), |total, (_, pages)| total.saturating_add(*pages))
    }

    fn build(self, content: &RenderedContent, total_pages: u32) -> Result<Vec<u8>, lopdf::Error> {
        let mut doc = Document::with_version("1.5");
        let pages_id = doc.new_object_id();
        let courier = doc.add_object(standard_font("Courier"));
        let helvetica_bold = doc.add_object(standard_font("Helvetica-Bold"));
        let resources = doc.add_object(dictionary! {
            "Font" => dictionary! { "F1" => courier, "F2" => helvetica_bold },
        });

        let mut kids = Vec::new();
        let cover = cover_operations(&cover_lines(content, total_pages));
        kids.push(add_page(&mut doc, pages_id, resources, cover)?);
        for lines in &self.body_pages {
            let body = text_operations(lines, PAGE_HEIGHT - MARGIN - FONT_SIZE, BODY_LEADING);
            kids.push(add_page(&mut doc, pages_id, resources, body)?);
        }
        for (attachment, pages) in self.attachments {
            kids.push(append_document(&mut doc, pages_id, attachment, pages)?);
        }

        doc.objects.insert(
            pages_id,
            Object::Dictionary(dictionary! {
                "Type" => "Pages",
                "Kids" => kids.into_iter().map(Object::Reference).collect::<Vec<_>>(),
                "Count" => total_pages,
            }),
        );
        let catalog = doc.add_object(dictionary! { "Type" => "Catalog", "Pages" => pages_id });
        doc.trailer.set("Root", catalog);
        // The attachments' catalogs were left behind, and with them whatever
        // only they pointed at (outlines, forms, metadata).
        doc.prune_objects();
        doc.compress();
        let mut bytes = Vec::new();
        doc.save_to(&mut bytes)?;
        Ok(bytes)
    }
}

/// `application/pdf`, in any case, with or without parameters.
fn is_pdf(content_type: &str) -> bool {
    content_type.split(';').next().is_some_and(|essence| essence.trim().eq_ignore_ascii_case("application/pdf"))
}

fn standard_font(name: &str) -> lopdf::Dictionary {
    dictionary! {
        "Type" => "Font",
        "Subtype" => "Type1",
        "BaseFont" => name,
        "Encoding" => "WinAnsiEncoding",
    }
}

/// The cover's lines: only what is known is shown.
fn cover_lines(content: &RenderedContent, total_pages: u32) -> Vec<String> {
    let known = |value: &str| !value.trim().is_empty();
    let mut fields: Vec<(&str, &str)> = Vec::new();
    if let Some(letterhead) = &content.letterhead {
        fields.push(("From", &letterhead.practice_name));
        fields.push(("Phone", &letterhead.practice_phone));
        fields.push(("To", &letterhead.recipient_name));
    }
    fields.push(("Fax", &content.to));
    if let Some(subject) = &content.subject {
        fields.push(("Subject", subject));
    }
    let mut text: Vec<String> = fields
        .into_iter()
        .filter(|(_, value)| known(value))
        .map(|(label, value)| format!("{label}: {}", value.trim()))
        .collect();
    text.push(format!("Pages: {total_pages}"));
    let mut lines = wrap(&text.join("\n"), LINE_CHARS);
    // A cover runs onto no second page; an overlong subject is cut.
    lines.truncate(COVER_LINES);
    lines
}

fn cover_operations(lines: &[String]) -> Vec<Operation> {
    let heading_baseline = PAGE_HEIGHT - MARGIN - HEADING_SIZE;
    let rule = heading_baseline - COVER_LEADING / 2.0;
    let mut operations = vec![
        Operation::new("BT", vec![]),
        Operation::new("Tf", vec!["F2".into(), HEADING_SIZE.into()]),
        Operation::new("Td", vec![MARGIN.into(), heading_baseline.into()]),
        Operation::new("Tj", vec![pdf_string("FAX")]),
        Operation::new("ET", vec![]),
        Operation::new("w", vec![1.into()]),
        Operation::new("m", vec![MARGIN.into(), rule.into()]),
        Operation::new("l", vec![(PAGE_WIDTH - MARGIN).into(), rule.into()]),
        Operation::new("S", vec![]),
    ];
    operations.extend(text_operations(lines, COVER_TOP, COVER_LEADING));
    operations
}

/// One text object: `lines` in Courier from the left margin, the first
/// baseline at `top`.
fn text_operations(lines: &[String], top: f32, leading: f32) -> Vec<Operation> {
    let mut operations = vec![
        Operation::new("BT", vec![]),
        Operation::new("Tf", vec!["F1".into(), FONT_SIZE.into()]),
        Operation::new("TL", vec![leading.into()]),
        Operation::new("Td", vec![MARGIN.into(), top.into()]),
    ];
    for line in lines {
        operations.push(Operation::new("Tj", vec![pdf_string(line)]));
        operations.push(Operation::new("T*", vec![]));
    }
    operations.push(Operation::new("ET", vec![]));
    operations
}

fn add_page(
    doc: &mut Document,
    pages_id: ObjectId,
    resources: ObjectId,
    operations: Vec<Operation>,
) -> Result<ObjectId, lopdf::Error> {
    let content = doc.add_object(Stream::new(dictionary! {}, Content { operations }.encode()?));
    Ok(doc.add_object(dictionary! {
        "Type" => "Page",
        "Parent" => pages_id,
        "MediaBox" => vec![0.into(), 0.into(), PAGE_WIDTH.into(), PAGE_HEIGHT.into()],
        "Resources" => resources,
        "Contents" => content,
    }))
}

/// Moves an attached document's objects into `doc` and hangs its page tree
/// under ours as one node, so the attributes its pages inherit (size,
/// resources, rotation) stay theirs. Returns that node.
fn append_document(
    doc: &mut Document,
    pages_id: ObjectId,
    mut attached: Document,
    pages: u32,
) -> Result<ObjectId, lopdf::Error> {
    attached.renumber_objects_with(doc.max_id + 1);
    let catalog = attached.trailer.get(b"Root")?.as_reference()?;
    let root = attached.catalog()?.get(b"Pages")?.as_reference()?;
    doc.max_id = attached.max_id;
    doc.objects.extend(attached.objects.into_iter().filter(|(id, _)| *id != catalog));
    let node = doc.get_dictionary_mut(root)?;
    node.set("Parent", pages_id);
    // Count as we counted: a damaged /Count would disagree with the pages
    // the fax was priced by.
    node.set("Count", pages);
    Ok(root)
}

/// A text string in WinAnsiEncoding, one byte per character.
fn pdf_string(text: &str) -> Object {
    let encoding = Encoding::SimpleEncoding(b"WinAnsiEncoding");
    let mut bytes = Vec::with_capacity(text.len());
    let mut utf8 = [0u8; 4];
    for character in text.chars() {
        let before = bytes.len();
        encoding.write_to_bytes(character.encode_utf8(&mut utf8), &mut bytes);
        // lopdf drops what the encoding lacks; a fax shows it was there.
        if bytes.len() == before {
            bytes.push(b'?');
        }
    }
    Object::String(bytes, StringFormat::Literal)
}

/// Greedy word wrap at `width` characters. Line breaks and blank lines are
/// kept; runs of spaces and tabs collapse; a word longer than a line is cut.
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    for paragraph in text.lines() {
        let mut line = String::new();
        let mut line_chars = 0;
        for word in paragraph.split_whitespace() {
            let chars: Vec<char> = word.chars().collect();
            for piece in chars.chunks(width) {
                let needed = if line_chars == 0 { piece.len() } else { line_chars + 1 + piece.len() };
                if needed > width {
                    lines.push(std::mem::take(&mut line));
                    line_chars = 0;
                }
                if line_chars > 0 {
                    line.push(' ');
                    line_chars += 1;
                }
                line.extend(piece);
                line_chars += piece.len();
            }
        }
        lines.push(line);
    }
    lines
}

#[cfg(test)]
mod tests {
    use base64::Engine as _;

    use super::*;
    use crate::domain::{Attachment, Letterhead};

    fn content(body: &str) -> RenderedContent {
        RenderedContent {
            to: "+13125550199".into(),
            subject: Some("Appointment reminder".into()),
            body: body.into(),
            letterhead: Some(Letterhead {
                practice_name: "Clínica Señora Müller".into(),
                practice_phone: "+1 312 555 0100".into(),
                recipient_name: "Dr. José Núñez".into(),
            }),
            ..RenderedContent::default()
        }
    }

    /// A PDF of `pages` pages, each saying which one it is.
    fn attachment_pdf(pages: u32) -> Vec<u8> {
        let mut doc = Document::with_version("1.5");
        let pages_id = doc.new_object_id();
        let font = doc.add_object(standard_font("Helvetica"));
        let kids: Vec<Object> = (1..=pages)
            .map(|number| {
                let operations = vec![
                    Operation::new("BT", vec![]),
                    Operation::new("Tf", vec!["F9".into(), 20.into()]),
                    Operation::new("Td", vec![100.into(), 700.into()]),
                    Operation::new("Tj", vec![pdf_string(&format!("Lab result page {number}"))]),
                    Operation::new("ET", vec![]),
                ];
                let stream = Stream::new(dictionary! {}, Content { operations }.encode().unwrap());
                let content = doc.add_object(stream);
                doc.add_object(dictionary! {
                    "Type" => "Page",
                    "Parent" => pages_id,
                    "Contents" => content,
                })
                .into()
            })
            .collect();
        // Size and fonts on the tree node: the pages inherit them.
        doc.objects.insert(
            pages_id,
            Object::Dictionary(dictionary! {
                "Type" => "Pages",
                "Kids" => kids,
                "Count" => pages,
                "MediaBox" => vec![0.into(), 0.into(), 595.into(), 842.into()],
                "Resources" => dictionary! { "Font" => dictionary! { "F9" => font } },
            }),
        );
        let catalog = doc.add_object(dictionary! { "Type" => "Catalog", "Pages" => pages_id });
        doc.trailer.set("Root", catalog);
        let mut bytes = Vec::new();
        doc.save_to(&mut bytes).unwrap();
        bytes
    }

    fn attach(content: &mut RenderedContent, content_type: &str, bytes: &[u8]) {
        content.attachments.push(Attachment {
            filename: "results.pdf".into(),
            content_type: content_type.into(),
            data_base64: base64::engine::general_purpose::STANDARD.encode(bytes),
        });
    }

    fn reload(document: &FaxDocument) -> Document {
        Document::load_mem(&document.bytes).unwrap()
    }

    /// The width of a page's MediaBox, its own or the one it inherits.
    fn page_width(pdf: &Document, mut node: ObjectId) -> f32 {
        loop {
            let dictionary = pdf.get_dictionary(node).unwrap();
            if let Ok(media_box) = dictionary.get(b"MediaBox") {
                return media_box.as_array().unwrap()[2].as_float().unwrap();
            }
            node = dictionary.get(b"Parent").unwrap().as_reference().unwrap();
        }
    }

    #[test]
    fn the_cover_names_sender_recipient_number_subject_and_page_total() {
        let mut message = content("Your appointment is on Monday at 9:00.");
        attach(&mut message, "application/pdf", &attachment_pdf(1));
        let fax = render(&message).unwrap();
        assert_eq!(fax.pages, 3);
        let pdf = reload(&fax);
        assert_eq!(pdf.get_pages().len(), 3);
        let cover = pdf.extract_text(&[1]).unwrap();
        for expected in [
            "FAX",
            "From: Clínica Señora Müller",
            "Phone: +1 312 555 0100",
            "To: Dr. José Núñez",
            "Fax: +13125550199",
            "Subject: Appointment reminder",
            "Pages: 3",
        ] {
            assert!(cover.contains(expected), "cover lacks {expected:?}: {cover:?}");
        }
        assert!(!cover.contains("Monday"), "the body is not on the cover");
        assert!(pdf.extract_text(&[2]).unwrap().contains("Your appointment is on Monday at 9:00."));
    }

    #[test]
    fn pages_are_us_letter() {
        let pdf = reload(&render(&content("Hello")).unwrap());
        for page_id in pdf.get_pages().into_values() {
            let media_box = pdf.get_dictionary(page_id).unwrap().get(b"MediaBox").unwrap();
            let numbers: Vec<f32> = media_box.as_array().unwrap().iter().map(|n| n.as_float().unwrap()).collect();
            assert_eq!(numbers, [0.0, 0.0, 612.0, 792.0]);
            assert_eq!(page_width(&pdf, page_id), 612.0);
        }
    }

    #[test]
    fn a_cover_without_letterhead_shows_what_is_known() {
        let message = RenderedContent { to: "+13125550199".into(), body: "Hi".into(), ..Default::default() };
        let fax = render(&message).unwrap();
        let cover = reload(&fax).extract_text(&[1]).unwrap();
        assert!(cover.contains("Fax: +13125550199"));
        assert!(cover.contains("Pages: 2"));
        assert!(!cover.contains("From:"));
        assert!(!cover.contains("Subject:"));
    }

    #[test]
    fn latin_1_prints_and_other_characters_become_question_marks() {
        let fax = render(&content("Cita confirmada: señor Müller, café à 10 h — 日本 😀 (ok) \\ done")).unwrap();
        let text = reload(&fax).extract_text(&[2]).unwrap();
        assert!(text.contains("Cita confirmada: señor Müller, café à 10 h — ?? ? (ok) \\ done"), "{text:?}");
    }

    #[test]
    fn long_bodies_wrap_within_the_margins_and_paginate() {
        let paragraph = "The quick brown fox jumps over the lazy dog again and again. ".repeat(40);
        let body = [paragraph.as_str(); 5].join("\n\n");
        let message = content(&body);
        let fax = render(&message).unwrap();
        let pdf = reload(&fax);
        let expected_lines = wrap(body.trim_end(), LINE_CHARS).len();
        let expected_pages = 1 + expected_lines.div_ceil(BODY_LINES);
        assert!(expected_pages >= 3, "the body should need several pages");
        assert_eq!(fax.pages as usize, expected_pages);
        assert_eq!(pdf.get_pages().len(), expected_pages);
        assert_eq!(page_count(&message).unwrap(), fax.pages);
        // A full page: every line shown, none wider than the text block.
        let page_two = pdf.get_page_content(pdf.get_pages()[&2]);
        let shown: Vec<Vec<u8>> = Content::decode(&page_two)
            .unwrap()
            .operations
            .into_iter()
            .filter(|operation| operation.operator == "Tj")
            .map(|operation| operation.operands[0].as_str().unwrap().to_vec())
            .collect();
        assert_eq!(shown.len(), BODY_LINES);
        assert!(shown.iter().all(|line| line.len() <= LINE_CHARS));
        assert!(shown.iter().any(|line| line.len() > LINE_CHARS - 10), "lines are filled");
        // Nothing is lost between pages.
        let all: String = (2..=expected_pages as u32).map(|n| pdf.extract_text(&[n]).unwrap()).collect();
        assert_eq!(all.split_whitespace().collect::<Vec<_>>(), body.split_whitespace().collect::<Vec<_>>());
    }

    #[test]
    fn wrapping_keeps_line_breaks_and_cuts_overlong_words() {
        assert_eq!(wrap("one two three", 7), ["one two", "three"]);
        assert_eq!(wrap("a\n\nb", 10), ["a", "", "b"]);
        assert_eq!(wrap("abcdefghij", 4), ["abcd", "efgh", "ij"]);
        assert_eq!(wrap("x abcdefgh", 4), ["x", "abcd", "efgh"]);
        assert_eq!(wrap("a\tb", 10), ["a b"]);
        // 468pt of text at 6.6pt a character, 648pt at 14pt a line.
        assert_eq!((LINE_CHARS, BODY_LINES), (70, 46));
    }

    #[test]
    fn an_empty_body_leaves_only_the_cover() {
        let fax = render(&content("  \n ")).unwrap();
        assert_eq!(fax.pages, 1);
        assert_eq!(reload(&fax).get_pages().len(), 1);
    }

    #[test]
    fn attached_pdfs_are_appended_page_by_page_in_order() {
        let mut message = content("See the attached results.");
        attach(&mut message, "application/pdf", &attachment_pdf(2));
        attach(&mut message, "Application/PDF; name=more.pdf", &attachment_pdf(1));
        let fax = render(&message).unwrap();
        assert_eq!(fax.pages, 5);
        assert_eq!(page_count(&message).unwrap(), 5);
        let pdf = reload(&fax);
        assert_eq!(pdf.get_pages().len(), 5);
        assert!(pdf.extract_text(&[1]).unwrap().contains("Pages: 5"));
        assert!(pdf.extract_text(&[3]).unwrap().contains("Lab result page 1"));
        assert!(pdf.extract_text(&[4]).unwrap().contains("Lab result page 2"));
        assert!(pdf.extract_text(&[5]).unwrap().contains("Lab result page 1"));
        // The attachment keeps the A4 size its pages inherit.
        assert_eq!(page_width(&pdf, pdf.get_pages()[&3]), 595.0);
    }

    fn encrypted(bytes: &[u8], user_password: &str) -> Vec<u8> {
        let mut doc = Document::load_mem(bytes).unwrap();
        doc.trailer.set("ID", vec![Object::string_literal("tidings-test"), Object::string_literal("tidings-test")]);
        let version = lopdf::EncryptionVersion::V2 {
            document: &doc,
            owner_password: "owner",
            user_password,
            key_length: 128,
            permissions: lopdf::Permissions::all(),
        };
        let state = lopdf::EncryptionState::try_from(version).unwrap();
        doc.encrypt(&state).unwrap();
        let mut out = Vec::new();
        doc.save_to(&mut out).unwrap();
        out
    }

    #[test]
    fn an_attachment_locked_with_a_password_is_refused_and_one_without_is_merged() {
        let mut message = content("Hi");
        attach(&mut message, "application/pdf", &encrypted(&attachment_pdf(1), "secret"));
        assert_eq!(render(&message).unwrap_err().code(), "attachment_unreadable");

        let mut message = content("Hi");
        attach(&mut message, "application/pdf", &encrypted(&attachment_pdf(2), ""));
        let fax = render(&message).unwrap();
        assert_eq!(fax.pages, 4);
        let pdf = reload(&fax);
        assert!(!pdf.is_encrypted());
        assert!(pdf.extract_text(&[4]).unwrap().contains("Lab result page 2"));
    }

    #[test]
    fn a_non_pdf_attachment_is_refused() {
        let mut message = content("Hi");
        attach(&mut message, "image/png", b"\x89PNG\r\n");
        let error = render(&message).unwrap_err();
        assert_eq!(error.code(), "attachment_not_pdf");
        assert_eq!(page_count(&message).unwrap_err().code(), "attachment_not_pdf");
    }

    #[test]
    fn an_attachment_that_does_not_parse_is_refused() {
        let mut message = content("Hi");
        attach(&mut message, "application/pdf", &attachment_pdf(1));
        attach(&mut message, "application/pdf", b"this is not a PDF at all");
        let error = render(&message).unwrap_err();
        assert_eq!(error.code(), "attachment_unreadable");
        assert_eq!(error.to_string(), "attachment 1 cannot be read as a PDF document");

        let mut message = content("Hi");
        message.attachments.push(Attachment {
            filename: "x.pdf".into(),
            content_type: "application/pdf".into(),
            data_base64: "not base64!".into(),
        });
        assert_eq!(page_count(&message).unwrap_err().code(), "attachment_unreadable");
    }
}
